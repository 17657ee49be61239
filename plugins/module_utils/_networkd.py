# -*- coding: utf-8 -*-
# Copyright: homelab.photon maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Pure helpers of homelab.photon.networkd and homelab.photon.networkd_rollback.

Validation of the options, rendering of a systemd.network(5) file, the decision between
``networkctl reload`` and a restart of systemd-networkd, and the restore script that a rollback
timer runs. Nothing here touches the host: the modules do, and the unit tests call these directly.
"""

from __future__ import annotations

import ipaddress
import re
import shlex

from ansible_collections.homelab.photon.plugins.module_utils._ipcheck import (
    InvalidValue, check_gateway, parse_dns, parse_interface, parse_ip,
)

HEADER = "# Managed by Ansible (homelab.photon.networkd): local changes are overwritten.\n"

# networkctl reload appeared in systemd 244; Photon OS 3 ships 239.
RELOAD_MIN_VERSION = 244

# Keys the structured options own: passing them through `settings` as well is an error.
MANAGED_KEYS = {
    "Match": ("Name",),
    "Network": ("Address", "Gateway", "DNS", "Domains", "DHCP"),
}

DHCP_VALUES = ("yes", "no", "ipv4", "ipv6")

_FILE_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_@+.-]*$")
_SECTION_RE = re.compile(r"^[A-Za-z][A-Za-z0-9]*$")
_KEY_RE = re.compile(r"^[A-Za-z][A-Za-z0-9]*$")
_UNIT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]*$")
# Linux interface names are at most 15 bytes (IFNAMSIZ - 1).
IFNAME_MAX = 15


# Every bad option value raises this one class: the shared address validator (_ipcheck) too.
NetworkdError = InvalidValue


def validate_file_name(name):
    """The file stem of a .network file: a plain name, no directory part, no traversal."""
    if not isinstance(name, str) or not name:
        raise NetworkdError("name", name, "must be a non-empty file stem such as 10-static-en")
    if "/" in name or ".." in name or "\0" in name:
        raise NetworkdError("name", name, "must be a plain file name in the network directory"
                            " (no '/' and no '..')")
    if name.endswith(".network"):
        raise NetworkdError("name", name, "is the file stem: leave out the .network suffix")
    if not _FILE_NAME_RE.match(name):
        raise NetworkdError("name", name, "may only contain letters, digits and _ @ + . -"
                            " and must start with a letter or digit")
    return name + ".network"


def validate_match_name(value):
    """A [Match] Name= value: interface names or shell globs, separated by spaces."""
    if not isinstance(value, str) or not value.strip():
        raise NetworkdError("match_name", value, "must be a non-empty interface name or glob")
    if any(char.isspace() and char != " " for char in value):
        raise NetworkdError("match_name", value, "may only separate names with spaces")
    for item in value.split():
        if "/" in item or ".." in item:
            raise NetworkdError("match_name", value, "is not a valid interface name:"
                                " interface names cannot contain '/' or '..'")
        if any(ord(char) < 33 or ord(char) == 127 or char in ":\"'\\" for char in item):
            raise NetworkdError("match_name", value, "contains a character that an interface"
                                " name cannot have")
        globbing = any(char in item for char in "*?[]!")
        if not globbing and len(item.encode("utf-8")) > IFNAME_MAX:
            raise NetworkdError("match_name", value, "is longer than %d bytes, the longest"
                                " interface name Linux allows" % IFNAME_MAX)
    return " ".join(value.split())


def parse_addresses(values, option="address"):
    """Each address in CIDR notation (a host address with its prefix), parsed, none given twice."""
    result = []
    seen = {}
    for value in values or []:
        iface = parse_interface(value, option)
        key = iface.ip
        if key in seen:
            raise NetworkdError(option, value, "repeats the address of %r" % seen[key])
        seen[key] = value
        result.append(iface)
    return result


def validate_gateway(value, addresses):
    """The gateway parses and lies in the subnet of one of the addresses (same IP version)."""
    return check_gateway(value, addresses)


def validate_dns(values):
    """DNS servers: plain IP addresses, none empty, none twice."""
    return parse_dns(values)


def validate_domains(values):
    result = []
    for value in values or []:
        text = value.strip() if isinstance(value, str) else value
        if not isinstance(text, str) or not text:
            raise NetworkdError("domains", value, "is empty: give a search domain such as lan"
                                " (or ~. for a routing-only domain)")
        if any(char.isspace() for char in text) or not re.match(r"^~?[A-Za-z0-9_.-]+$", text):
            raise NetworkdError("domains", value, "is not a domain name")
        result.append(text)
    return result


def normalize_dhcp(value):
    """DHCP= accepts yes, no, ipv4 and ipv6; YAML booleans are taken as yes and no."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "yes" if value else "no"
    text = str(value).strip().lower()
    text = {"true": "yes", "false": "no"}.get(text, text)
    if text not in DHCP_VALUES:
        raise NetworkdError("dhcp", value, "must be one of %s" % ", ".join(DHCP_VALUES))
    return text


def validate_routes(routes):
    """Each route: a destination in CIDR notation and/or a gateway, and an optional metric."""
    result = []
    for index, route in enumerate(routes or []):
        option = "routes[%d]" % index
        if not isinstance(route, dict):
            raise NetworkdError(option, route, "must be a dictionary")
        destination = route.get("destination")
        gateway = route.get("gateway")
        metric = route.get("metric")
        if not destination and not gateway:
            raise NetworkdError(option, route, "needs a destination, a gateway, or both")
        entry = []
        if destination:
            if "/" not in str(destination):
                raise NetworkdError(option + ".destination", destination,
                                    "has no prefix length: write it in CIDR notation")
            try:
                network = ipaddress.ip_network(str(destination), strict=True)
            except ValueError as exc:
                raise NetworkdError(option + ".destination", destination,
                                    "is not a network in CIDR notation (%s)" % exc)
            entry.append(("Destination", str(network)))
        if gateway:
            entry.append(("Gateway", str(parse_ip(gateway, option + ".gateway"))))
        if metric is not None:
            if isinstance(metric, bool) or not isinstance(metric, int) or metric < 0:
                raise NetworkdError(option + ".metric", metric, "must be a non-negative integer")
            entry.append(("Metric", str(metric)))
        result.append(entry)
    return result


def _render_value(option, value):
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        return str(value)
    if not isinstance(value, str):
        raise NetworkdError(option, value, "must be a string, a number or a boolean")
    if "\n" in value or "\r" in value or "\0" in value:
        raise NetworkdError(option, value, "cannot span lines")
    return value.strip()


def validate_settings(settings, option="settings"):
    """Pass-through keys: {Section: {Key: value or [values]}}, checked for shape and for keys
    that the structured options own. Returns [(section, [(key, value), ...]), ...]."""
    result = []
    for section, keys in (settings or {}).items():
        if not isinstance(section, str) or not _SECTION_RE.match(section):
            raise NetworkdError(option, section, "is not a section name of systemd.network(5)")
        if not isinstance(keys, dict):
            raise NetworkdError("%s.%s" % (option, section), keys,
                                "must be a dictionary of keys and values")
        lines = []
        for key, value in keys.items():
            where = "%s.%s.%s" % (option, section, key)
            if not isinstance(key, str) or not _KEY_RE.match(key):
                raise NetworkdError(where, key, "is not a key name of systemd.network(5)")
            if key in MANAGED_KEYS.get(section, ()):
                raise NetworkdError(where, value, "is set by a structured option of the module;"
                                    " use that option instead")
            values = value if isinstance(value, list) else [value]
            for item in values:
                lines.append((key, _render_value(where, item)))
        result.append((section, lines))
    return result


def build_sections(match_name=None, match=None, addresses=None, gateway=None, dns=None,
                   domains=None, dhcp=None, routes=None, settings=None):
    """Validate every option and return the file's sections in order, or raise NetworkdError.

    The order is fixed (Match, Network, then each Route, then the other sections in the order
    given), so equal options always render equal files.
    """
    match_lines = []
    if match_name is not None:
        match_lines.append(("Name", validate_match_name(match_name)))
    extra = validate_settings(settings)
    for section, lines in validate_settings({"Match": match} if match else {}, option="match"):
        match_lines.extend(lines)
    for section, lines in extra:
        if section == "Match":
            match_lines.extend(lines)
    if not match_lines:
        raise NetworkdError("match_name", match_name, "is required: without a [Match] section"
                            " the file would apply to every interface")

    parsed = parse_addresses(addresses)
    network_lines = []
    dhcp_value = normalize_dhcp(dhcp)
    if dhcp_value is not None:
        network_lines.append(("DHCP", dhcp_value))
    network_lines.extend(("Address", str(iface)) for iface in parsed)
    if gateway:
        network_lines.append(("Gateway", str(validate_gateway(gateway, parsed))))
    network_lines.extend(("DNS", str(address)) for address in validate_dns(dns))
    checked_domains = validate_domains(domains)
    if checked_domains:
        network_lines.append(("Domains", " ".join(checked_domains)))
    for section, lines in extra:
        if section == "Network":
            network_lines.extend(lines)

    sections = [("Match", match_lines)]
    if network_lines:
        sections.append(("Network", network_lines))
    for entry in validate_routes(routes):
        sections.append(("Route", entry))
    for section, lines in extra:
        if section not in ("Match", "Network"):
            sections.append((section, lines))
    return sections


def render(sections):
    """The text of a .network file."""
    chunks = []
    for section, lines in sections:
        chunks.append("[%s]\n" % section + "".join("%s=%s\n" % kv for kv in lines))
    return HEADER + "\n".join(chunks)


_SECTION_HEADER_RE = re.compile(r"^\[(.*)\]$")
_DHCP_LINE_RE = re.compile(r"^\s*DHCP\s*=(.*)$")


def dhcp_off(text):
    """The text of a .network file with DHCP turned off (the networkd module's dhcp_off_file).

    Only DHCP= of the [Network] section is touched; every other byte is kept:
    - each DHCP= line of a [Network] section that does not already say "no" becomes DHCP=no
      (systemd takes the last assignment, so none may be left saying yes);
    - without such a line, DHCP=no goes right after the first [Network] header (the manual
      recipe's edit, lineinfile's insertafter);
    - a file without a [Network] section is left as it is: DHCP is off there already (DHCP=
      defaults to no), and adding the section to an empty file would make networkd read a file
      it skips now, one that matches every link. lineinfile would append the bare line at the
      end, in whatever section comes last.
    Comments, DHCP= in other sections and assignments before the first section (which systemd
    ignores) are left alone. Returns the new text, equal to TEXT when nothing is to change.
    """
    # Lines as systemd splits them (on \n only), each with its line ending.
    lines = re.findall(r"[^\n]*\n|[^\n]+\Z", text)
    section = None
    first_network = None
    found = False
    for index, line in enumerate(lines):
        stripped = line.strip()
        header = _SECTION_HEADER_RE.match(stripped)
        if header:
            section = header.group(1)
            if section == "Network" and first_network is None:
                first_network = index
            continue
        if section != "Network":
            continue
        assignment = _DHCP_LINE_RE.match(line.rstrip("\r\n"))
        if assignment is None:
            continue
        found = True
        if assignment.group(1).strip() != "no":
            ending = line[len(line.rstrip("\r\n")):]
            lines[index] = "DHCP=no" + ending
    if not found and first_network is not None:
        header_line = lines[first_network]
        if not header_line.endswith("\n"):
            lines[first_network] = header_line + "\n"
        lines.insert(first_network + 1, "DHCP=no\n")
    return "".join(lines)


def parse_systemd_version(text):
    """The version number from `systemctl --version` ("systemd 257 (257.13-1~deb13u1)")."""
    for line in (text or "").splitlines():
        found = re.match(r"^\s*systemd\s+(\d+)\b", line)
        if found:
            return int(found.group(1))
    return None


def apply_decision(version, method="auto"):
    """How to make systemd-networkd apply changed files: (action, argv).

    `networkctl reload` (systemd 244 and newer) re-reads the files and reconfigures the links
    whose configuration changed; older systemd (Photon OS 3 has 239) needs a restart.
    """
    if method not in ("auto", "reload", "restart"):
        raise NetworkdError("apply_method", method, "must be auto, reload or restart")
    if method == "auto":
        if version is None:
            raise NetworkdError("apply_method", method, "needs the systemd version, which"
                                " `systemctl --version` did not report; choose reload or restart")
        method = "reload" if version >= RELOAD_MIN_VERSION else "restart"
    if method == "reload":
        return "reload", ["networkctl", "reload"]
    return "restart", ["systemctl", "restart", "systemd-networkd.service"]


def validate_unit_name(unit):
    if not isinstance(unit, str) or not _UNIT_RE.match(unit) or ".." in unit:
        raise NetworkdError("unit", unit, "is not a valid systemd unit name (letters, digits"
                            " and _ . @ -, no suffix)")
    if unit.endswith((".service", ".timer")):
        raise NetworkdError("unit", unit, "is the unit's base name: leave out the suffix")
    return unit


def render_restore_script(entries, apply_argv, marker):
    """The script a rollback timer runs: put back every snapshotted file, remove the files that
    did not exist, re-apply, and leave a marker saying when it ran.

    entries: [(path, backup path or None when the file did not exist)].
    """
    lines = [
        "#!/bin/sh",
        "# Written by homelab.photon.networkd_rollback: restores the network files below as",
        "# they were when the rollback was armed, then makes systemd-networkd apply them.",
        "rc=0",
    ]
    for path, backup in entries:
        target = shlex.quote(path)
        if backup is None:
            lines.append("rm -f -- %s || rc=1" % target)
        else:
            temp = shlex.quote(path + ".homelab-rollback")
            lines.append("{ cp -p -- %s %s && mv -f -- %s %s; } || rc=1"
                         % (shlex.quote(backup), temp, temp, target))
    lines.append(" ".join(shlex.quote(arg) for arg in apply_argv) + " || rc=1")
    lines.append("date -u +%%Y-%%m-%%dT%%H:%%M:%%SZ > %s" % shlex.quote(marker))
    lines.append("exit $rc")
    return "\n".join(lines) + "\n"
