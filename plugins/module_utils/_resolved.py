# -*- coding: utf-8 -*-
# Copyright (c) homelab.photon contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure helpers of the homelab.photon.resolved module (private: no compatibility promise).

Everything here takes text or plain values and returns plain values: rendering the resolved
drop-in and a static resolv.conf, parsing resolv.conf, ``ss`` and ``/proc/net`` socket tables into
the holders of port 53, and the plan of what a run must change. The module only gathers state and
carries the plan out.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import re

MODES = ("no_stub", "disabled", "stub")
DROP_IN_DIR = "/etc/systemd/resolved.conf.d"
RESOLV_CONF = "/etc/resolv.conf"
UPLINK_RESOLV_CONF = "/run/systemd/resolve/resolv.conf"
STUB_RESOLV_CONF = "/run/systemd/resolve/stub-resolv.conf"
SERVICE = "systemd-resolved.service"
# The stub listener (127.0.0.53) and, from systemd 247 on, the proxy stub (127.0.0.54).
STUB_ADDRESS = "127.0.0.53"
PROXY_STUB_ADDRESS = "127.0.0.54"
STUB_ADDRESSES = (STUB_ADDRESS, PROXY_STUB_ADDRESS)
PROXY_STUB_MIN_SYSTEMD = 247
# The process name of systemd-resolved as the kernel shows it (comm is cut at 15 characters).
RESOLVED_PROCESS = "systemd-resolve"
HEADER = "# Managed by homelab.photon.resolved: do not edit by hand.\n"
_DROP_IN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@+-]*\.conf$")
_DOMAIN = re.compile(r"^~?(\.|[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?(\.[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?)*\.?)$")
_IFACE = re.compile(r"^[^\s/%#]{1,15}$")
_SERVER_NAME = re.compile(r"^[A-Za-z0-9.-]+$")


# --------------------------------------------------------------------------- validation

def parse_server(entry):
    """Split a resolved DNS= entry: ``ADDRESS[:PORT][%IFACE][#NAME]`` with IPv6 in brackets when a
    port is given. Returns a dict (address, port, interface, name) or raises ValueError."""
    if not isinstance(entry, str) or not entry.strip():
        raise ValueError("an empty entry")
    if entry != entry.strip() or any(c.isspace() for c in entry):
        raise ValueError("whitespace inside %r" % entry)
    rest = entry
    name = None
    if "#" in rest:
        rest, name = rest.split("#", 1)
        if not _SERVER_NAME.match(name or ""):
            raise ValueError("%r: the server name after '#' is not a host name" % entry)
    iface = None
    port = None
    if rest.startswith("["):
        close = rest.find("]")
        if close < 0:
            raise ValueError("%r: '[' without ']'" % entry)
        address, tail = rest[1:close], rest[close + 1:]
        if "%" in address:
            address, iface = address.split("%", 1)
        if tail.startswith(":"):
            port_text, _sep, after = tail[1:].partition("%")
            port = port_text
            if _sep:
                iface = after
        elif tail.startswith("%"):
            iface = tail[1:]
        elif tail:
            raise ValueError("%r: unexpected %r after ']'" % (entry, tail))
        version = 6
    else:
        if "%" in rest:
            rest, iface = rest.split("%", 1)
        if rest.count(":") == 1:
            address, port = rest.split(":")
            version = 4
        else:
            address = rest
            version = 6 if ":" in rest else 4
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        raise ValueError("%r: %r is not an IP address" % (entry, address))
    if parsed.version != version:
        raise ValueError("%r: an IPv6 address with a port must be written [ADDRESS]:PORT" % entry)
    if port is not None:
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError("%r: %r is not a port number" % (entry, port))
        port = int(port)
    if iface is not None and not _IFACE.match(iface):
        raise ValueError("%r: %r is not an interface name" % (entry, iface))
    return {"address": str(parsed), "port": port, "interface": iface, "name": name}


def validate(params):
    """Every problem with the module's options, as messages that name the option and the value.
    An empty list means the options are fine; nothing on the host has been looked at yet."""
    errors = []
    mode = params.get("mode")
    if mode not in MODES:
        errors.append("mode: %r is not one of %s" % (mode, ", ".join(MODES)))
    drop_in = params.get("drop_in")
    if not isinstance(drop_in, str) or not _DROP_IN_NAME.match(drop_in) or ".." in drop_in:
        errors.append("drop_in: %r must be a plain file name ending in .conf (no '/', no '..'),"
                      " such as homelab.conf" % (drop_in,))
    for option in ("dns", "fallback_dns"):
        for entry in params.get(option) or []:
            try:
                server = parse_server(entry)
            except ValueError as exc:
                errors.append("%s: %s" % (option, exc))
                continue
            if server["address"] in STUB_ADDRESSES:
                errors.append("%s: %r is systemd-resolved's own stub, not an upstream server"
                              % (option, entry))
            elif option == "dns" and mode == "disabled" and server["port"] not in (None, 53):
                errors.append("dns: %r names port %d; resolv.conf (used when mode=disabled) can"
                              " only name servers on port 53" % (entry, server["port"]))
    for entry in params.get("domains") or []:
        if not isinstance(entry, str) or not entry.strip():
            errors.append("domains: an empty entry")
        elif not _DOMAIN.match(entry):
            errors.append("domains: %r is not a domain name (optionally with a leading '~')"
                          % (entry,))
    return errors


# Where resolved reads drop-ins from (resolved.conf(5)); a later file name wins, whichever
# directory it is in, and a name in an earlier directory hides the same name in later ones.
DROP_IN_DIRS = ("/etc/systemd/resolved.conf.d", "/run/systemd/resolved.conf.d",
                "/usr/local/lib/systemd/resolved.conf.d", "/usr/lib/systemd/resolved.conf.d")
_FALSE = ("no", "false", "0", "off")


def resolve_setting(text, key):
    """The value of the last ``key=`` in the [Resolve] section of a config text, or None."""
    value = None
    section = None
    for raw in (text or "").splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            section = line
            continue
        name, sep, val = line.partition("=")
        if sep and section == "[Resolve]" and name.strip() == key:
            value = val.strip()
    return value


def stub_listener_setting(text):
    """The value of DNSStubListener= in a config text, or None."""
    return resolve_setting(text, "DNSStubListener")


def predict_upstream(dns, old_drop_in, uplink_text):
    """The servers resolved's uplink resolv.conf will name after the drop-in is rewritten (for
    check mode): the given ``dns`` first, then the servers it names now, less those that only
    came from the old drop-in's DNS=."""
    current = parse_resolv_conf(uplink_text)["nameservers"]
    old = [resolv_conf_nameserver(d) for d in (resolve_setting(old_drop_in, "DNS") or "").split()
           if _parses(d)]
    new = [resolv_conf_nameserver(d) for d in (dns or [])]
    predicted = []
    for server in new + [c for c in current if c not in old]:
        if server not in predicted:
            predicted.append(server)
    return predicted


def _parses(entry):
    try:
        parse_server(entry)
    except ValueError:
        return False
    return True


def overriding_drop_ins(mode, drop_in, files):
    """Drop-ins that resolved reads after the module's and that set the stub listener against
    ``mode``. ``files`` maps each drop-in path (in DROP_IN_DIRS order) to its text. Returns a
    list of (path, value)."""
    effective = {}
    for path in files:
        name = path.rsplit("/", 1)[-1]
        if name.endswith(".conf") and name not in effective:
            effective[name] = path
    against = []
    for name in sorted(effective):
        if name <= drop_in:
            continue
        value = stub_listener_setting(files[effective[name]])
        if value is None:
            continue
        stub_off = value.lower() in _FALSE
        if (mode == "stub") == stub_off:
            against.append((effective[name], value))
    return against


# --------------------------------------------------------------------------- rendering

def render_drop_in(mode, dns=None, fallback_dns=None, domains=None):
    """The text of the module's drop-in, or None when the file should not exist.

    ``no_stub`` and ``disabled`` turn the stub listener off (in ``disabled`` too, so that
    anything that starts resolved again does not take port 53 back); ``stub`` only carries the
    servers and domains, and with none of them given the drop-in is removed."""
    lines = []
    if dns is not None:
        lines.append("DNS=%s" % " ".join(dns))
    if fallback_dns is not None:
        lines.append("FallbackDNS=%s" % " ".join(fallback_dns))
    if domains is not None:
        lines.append("Domains=%s" % " ".join(domains))
    if mode in ("no_stub", "disabled"):
        lines.append("DNSStubListener=no")
    if not lines:
        return None
    return HEADER + "[Resolve]\n" + "\n".join(lines) + "\n"


def parse_resolv_conf(text):
    """Nameservers, search domains and options of a resolv.conf text, in order."""
    result = {"nameservers": [], "search": [], "options": []}
    for raw in (text or "").splitlines():
        line = raw.split("#", 1)[0].split(";", 1)[0].strip()
        if not line:
            continue
        words = line.split()
        key, values = words[0], words[1:]
        if key == "nameserver" and values:
            result["nameservers"].append(values[0])
        elif key in ("search", "domain"):
            # The last search/domain line wins (resolv.conf(5)).
            result["search"] = [v for v in values if v != "."]
        elif key == "options":
            result["options"].extend(values)
    return result


def resolv_conf_nameserver(entry):
    """A resolved DNS= entry as a resolv.conf ``nameserver`` value (address, with the interface
    only for an IPv6 link-local address)."""
    server = parse_server(entry)
    address = server["address"]
    if server["interface"] and ipaddress.ip_address(address).version == 6 \
            and ipaddress.ip_address(address).is_link_local:
        address = "%s%%%s" % (address, server["interface"])
    return address


def render_resolv_conf(nameservers, search=None):
    """The static /etc/resolv.conf written when resolved is disabled."""
    text = HEADER + "# systemd-resolved is disabled; these are the upstream DNS servers.\n"
    for server in nameservers:
        text += "nameserver %s\n" % server
    search = [d for d in (search or []) if not d.startswith("~") and d != "."]
    if search:
        text += "search %s\n" % " ".join(d.rstrip(".") for d in search)
    return text


# --------------------------------------------------------------------------- sockets

_SS_USER = re.compile(r'\("((?:[^"\\]|\\.)*)",pid=(\d+),fd=\d+\)')


def split_host_port(text):
    """``127.0.0.53%lo:53`` -> ("127.0.0.53", 53); ``[::]:53`` -> ("::", 53); ``*:53`` -> ("*", 53)."""
    host, _sep, port = text.rpartition(":")
    if not _sep or not port.isdigit():
        return None, None
    if host.startswith("["):
        host = host[1:].split("]", 1)[0]
    host = host.split("%", 1)[0]
    return host, int(port)


def parse_ss(text, port=53):
    """The holders of ``port`` in the output of ``ss -l -n -t -u -p`` (tcp LISTEN and bound
    udp sockets; a header line, which -H drops on newer iproute2, is skipped). One dict per
    (proto, address, process): proto, address, pid, process."""
    holders = []
    for line in (text or "").splitlines():
        fields = line.split()
        if len(fields) < 5 or fields[0] not in ("tcp", "udp"):
            continue
        address, local_port = split_host_port(fields[4])
        if local_port != port:
            continue
        users = _SS_USER.findall(" ".join(fields[6:])) if len(fields) > 6 else []
        if not users:
            holders.append({"proto": fields[0], "address": address, "pid": None, "process": None})
        for process, pid in users:
            holders.append({"proto": fields[0], "address": address, "pid": int(pid),
                            "process": process})
    return sort_holders(holders)


def _proc_address(hex_address):
    raw = bytes.fromhex(hex_address)
    if len(raw) == 4:
        return str(ipaddress.IPv4Address(raw[::-1]))
    # IPv6 in /proc/net is four 32-bit words, each in host (little-endian) order.
    words = b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4))
    return str(ipaddress.IPv6Address(words))


def parse_proc_net(text, proto, port=53):
    """Sockets bound to ``port`` in a /proc/net/{tcp,udp}{,6} table: a list of (address, inode).
    For tcp only LISTEN sockets (state 0A) count; for udp every unconnected one (state 07)."""
    wanted_state = "0A" if proto == "tcp" else "07"
    sockets = []
    for line in (text or "").splitlines()[1:]:
        fields = line.split()
        if len(fields) < 10 or ":" not in fields[1]:
            continue
        hex_address, hex_port = fields[1].rsplit(":", 1)
        if int(hex_port, 16) != port or fields[3].upper() != wanted_state:
            continue
        sockets.append((_proc_address(hex_address), int(fields[9])))
    return sockets


def holders_from_proc(tables, inode_owners):
    """Holders from /proc: ``tables`` maps proto ("tcp"/"udp") to a list of (address, inode),
    ``inode_owners`` maps a socket inode to a list of (pid, process)."""
    holders = []
    for proto, sockets in tables.items():
        for address, inode in sockets:
            owners = inode_owners.get(inode) or [(None, None)]
            for pid, process in owners:
                holders.append({"proto": proto, "address": address, "pid": pid, "process": process})
    return sort_holders(holders)


def _holder_key(holder):
    return (holder["proto"], holder["address"] or "", holder["process"] or "", holder["pid"] or 0)


def sort_holders(holders):
    unique = []
    for holder in sorted(holders, key=_holder_key):
        if holder not in unique:
            unique.append(holder)
    return unique


def is_resolved_holder(holder):
    return holder["process"] == RESOLVED_PROCESS


def stub_listening(holders):
    return any(is_resolved_holder(h) and h["address"] == STUB_ADDRESS for h in holders)


def predict_holders(mode, holders, will_restart, systemd_version):
    """The holders of port 53 after the run, for check mode: resolved's stub listeners go away
    in no_stub/disabled; in stub mode they are there (with an unknown pid when resolved is
    (re)started). Every other holder is left as it is."""
    others = [h for h in holders if not is_resolved_holder(h)]
    if mode != "stub":
        return sort_holders(others)
    current = [h for h in holders if is_resolved_holder(h)]
    if current and not will_restart:
        return sort_holders(others + current)
    addresses = [STUB_ADDRESS]
    if systemd_version is None or systemd_version >= PROXY_STUB_MIN_SYSTEMD:
        addresses.append(PROXY_STUB_ADDRESS)
    predicted = [{"proto": proto, "address": address, "pid": None, "process": RESOLVED_PROCESS}
                 for proto in ("tcp", "udp") for address in addresses]
    return sort_holders(others + predicted)


# --------------------------------------------------------------------------- decisions

def upstream_servers(dns, state):
    """The upstream servers for a static resolv.conf: ``dns`` when given, else the ones resolved
    is using (its uplink resolv.conf while it runs), else those of an existing static
    /etc/resolv.conf, else the uplink file a stopped resolved left behind. Stub addresses never
    count. Returns (servers, where they came from)."""
    if dns:
        return [resolv_conf_nameserver(d) for d in dns], "dns"
    candidates = []
    if state.get("active"):
        candidates.append((state.get("uplink_text"), UPLINK_RESOLV_CONF))
    if state.get("resolv_conf", {}).get("type") == "file":
        candidates.append((state["resolv_conf"].get("content"), RESOLV_CONF))
    candidates.append((state.get("uplink_text"), UPLINK_RESOLV_CONF))
    for text, source in candidates:
        servers = [s for s in parse_resolv_conf(text)["nameservers"]
                   if s.split("%", 1)[0] not in STUB_ADDRESSES]
        if servers:
            return servers, source
    return [], None


def search_domains(domains, state, source):
    if domains is not None:
        return domains
    if source == RESOLV_CONF:
        return parse_resolv_conf(state["resolv_conf"].get("content"))["search"]
    if source == UPLINK_RESOLV_CONF:
        return parse_resolv_conf(state.get("uplink_text"))["search"]
    return []


def describe_resolv_conf(resolv_conf):
    """What /etc/resolv.conf is, as returned by the module: a link's target, ``file`` or
    ``missing``."""
    if resolv_conf["type"] == "link":
        return resolv_conf["target"]
    return resolv_conf["type"]


def resolv_conf_text(resolv_conf):
    """/etc/resolv.conf as the diff shows it."""
    if resolv_conf["type"] == "link":
        return "symlink -> %s\n" % resolv_conf["target"]
    if resolv_conf["type"] == "file":
        return resolv_conf.get("content") or ""
    return ""


def service_text(active, enabled):
    return "%s: %s, %s\n" % (SERVICE, "active" if active else "inactive", enabled)


def plan(params, state):
    """Decide what a run changes. ``state`` holds: drop_in (text or None), resolv_conf (type
    link/file/missing, target, content), uplink_text, active (bool), enabled (the word of
    ``systemctl is-enabled``), holders, systemd_version, drop_ins (every resolved drop-in path,
    in DROP_IN_DIRS order, mapped to its text).

    Returns a dict: drop_in (new text or None), drop_in_action (None/write/remove),
    resolv_conf (wanted: type, target or content), resolv_conf_action (None/link/file),
    service_steps (systemctl verbs, in order), order ("service-first" or "file-first"),
    upstream_dns, upstream_source, warnings, error (a message when the run cannot go on)."""
    mode = params["mode"]
    result = {"error": None, "service_steps": [], "upstream_source": None, "warnings": []}
    if mode != "disabled":
        against = overriding_drop_ins(mode, params["drop_in"], state.get("drop_ins") or {})
        if against:
            result["error"] = (
                "mode=%s: %s, read after %s, would turn the stub listener %s again; remove that"
                " setting or give drop_in a name that sorts after it"
                % (mode, ", ".join("%s (DNSStubListener=%s)" % item for item in against),
                   params["drop_in"], "off" if mode == "stub" else "on"))
            return result
    drop_in = render_drop_in(mode, params.get("dns"), params.get("fallback_dns"),
                             params.get("domains"))
    result["drop_in"] = drop_in
    if drop_in == state.get("drop_in"):
        result["drop_in_action"] = None
    else:
        result["drop_in_action"] = "remove" if drop_in is None else "write"
    drop_in_changed = result["drop_in_action"] is not None
    current = state["resolv_conf"]
    enabled = state.get("enabled") or ""
    steps = result["service_steps"]

    if mode == "disabled":
        servers, source = upstream_servers(params.get("dns"), state)
        result["upstream_dns"] = servers
        result["upstream_source"] = source
        if not servers:
            result["error"] = ("mode=disabled: no upstream DNS server is known (resolved is not"
                               " running and /etc/resolv.conf names none); give them in 'dns'")
            return result
        if len(servers) > 3:
            result["warnings"].append(
                "mode=disabled: /etc/resolv.conf names %d servers; the C library uses only the"
                " first three (%s)" % (len(servers), ", ".join(servers[:3])))
        content = render_resolv_conf(servers, search_domains(params.get("domains"), state, source))
        wanted = {"type": "file", "target": None, "content": content}
        if state.get("active"):
            steps.append("stop")
        if enabled.startswith("enabled") or enabled in ("alias", "linked", "linked-runtime"):
            steps.append("disable")
        result["order"] = "file-first"
    else:
        target = UPLINK_RESOLV_CONF if mode == "no_stub" else STUB_RESOLV_CONF
        wanted = {"type": "link", "target": target, "content": None}
        if enabled.startswith("masked"):
            steps.append("unmask")
        if not (enabled.startswith("enabled") or enabled in ("static", "alias")):
            steps.append("enable")
        listening = stub_listening(state.get("holders") or [])
        if not state.get("active"):
            steps.append("start")
        elif drop_in_changed or (listening if mode == "no_stub" else not listening):
            steps.append("restart")
        result["order"] = "service-first"
        result["upstream_dns"] = None  # read from resolved after the run
    result["resolv_conf"] = wanted
    if wanted["type"] == "link":
        same = current["type"] == "link" and current["target"] == wanted["target"]
    else:
        same = current["type"] == "file" and current.get("content") == wanted["content"]
    result["resolv_conf_action"] = None if same else wanted["type"]
    return result


def changed(result_plan):
    return bool(result_plan["drop_in_action"] or result_plan["resolv_conf_action"]
                or result_plan["service_steps"])


def systemd_version(text):
    """The version number in the first line of ``systemctl --version``."""
    match = re.match(r"\s*systemd\s+(\d+)", text or "")
    return int(match.group(1)) if match else None
