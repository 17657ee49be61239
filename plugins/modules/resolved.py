#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) homelab.photon contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: resolved
short_description: Free port 53 from systemd-resolved without breaking the host's DNS
version_added: 0.1.0
description:
  - Photon OS runs C(systemd-resolved) with its stub listener on 127.0.0.53:53 and links
    C(/etc/resolv.conf) to the stub. A DNS server in a container (Pi-hole) cannot publish
    port 53 then. This module frees the port in one of two ways and keeps the host's own name
    resolution working, or puts Photon's default back.
  - C(no_stub) turns the stub listener off with a drop-in in C(/etc/systemd/resolved.conf.d/),
    restarts resolved and links C(/etc/resolv.conf) to C(/run/systemd/resolve/resolv.conf),
    the file that names the upstream servers directly.
  - C(disabled) writes C(/etc/resolv.conf) as a real file naming the upstream servers
    (O(dns) if given, else the ones resolved was using) before it stops and disables resolved,
    so the host is never left with a resolv.conf pointing at a stub nobody serves.
  - C(stub) restores Photon's default - stub on, resolved enabled and running,
    C(/etc/resolv.conf) linked to C(/run/systemd/resolve/stub-resolv.conf).
  - Whether port 53 is free is found by looking at the host's listening sockets (C(ss), or
    C(/proc/net) where C(ss) is missing), after the run.
author:
  - homelab.photon contributors (@homelab-photon)
options:
  mode:
    description:
      - How resolved should run. See the description.
    type: str
    choices: [no_stub, disabled, stub]
    default: no_stub
  dns:
    description:
      - Upstream DNS servers for resolved (C(DNS=) in the drop-in), in resolved's syntax
        C(ADDRESS[:PORT][%IFACE][#NAME]).
      - With O(mode=disabled) these are the servers written to C(/etc/resolv.conf) (port 53 only).
      - When not given, the drop-in has no C(DNS=) line and resolved keeps the servers it learns
        from networkd.
    type: list
    elements: str
  fallback_dns:
    description:
      - Fallback DNS servers for resolved (C(FallbackDNS=) in the drop-in). An empty list sets
        C(FallbackDNS=) empty, which turns resolved's compiled-in fallback servers off.
    type: list
    elements: str
  domains:
    description:
      - Search (and, with a leading C(~), routing-only) domains for resolved (C(Domains=) in the
        drop-in). With O(mode=disabled) the search domains go to C(/etc/resolv.conf).
    type: list
    elements: str
  drop_in:
    description:
      - The name of the module's drop-in file in C(/etc/systemd/resolved.conf.d/). The module
        owns this file; its content follows the options (an option not given is not in it).
    type: str
    default: homelab.conf
notes:
  - A drop-in that resolved reads after O(drop_in) (a later name in C(/etc), C(/run),
    C(/usr/local/lib) or C(/usr/lib) C(systemd/resolved.conf.d/)) and sets C(DNSStubListener=)
    against the mode makes the module fail before it changes anything, naming that file. If
    resolved still holds port 53 after the run anyway (C(DNSStubListenerExtra=)), it fails too.
  - With O(mode=disabled) the drop-in still carries C(DNSStubListener=no), so that anything
    that starts resolved again does not take port 53 back.
  - The module owns C(/etc/resolv.conf) in every mode; a file there is replaced (see the diff).
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Predicts the changes, the upstream servers and the holders of port 53.
  diff_mode:
    support: full
    details: Shows the drop-in, C(/etc/resolv.conf) and the service state before and after.
  platform:
    support: N/A
    platforms: posix
seealso:
  - name: systemd-resolved
    description: resolved.conf(5), the drop-in keys this module sets.
    link: https://www.freedesktop.org/software/systemd/man/latest/resolved.conf.html
"""

EXAMPLES = r"""
- name: Free port 53 for Pi-hole, keep resolved running (what Pi-hole recommends)
  homelab.photon.resolved:
    mode: no_stub

- name: Stop resolved as the manual recipe does, with the host's own DNS written out
  homelab.photon.resolved:
    mode: disabled
    dns:
      - 192.168.0.1
    domains:
      - home.arpa

- name: Give resolved other upstream servers and leave the stub on
  homelab.photon.resolved:
    mode: stub
    dns:
      - 1.1.1.1#cloudflare-dns.com
      - 9.9.9.9
    fallback_dns: []

- name: Put Photon's default back
  homelab.photon.resolved:
    mode: stub
  register: resolved

- name: Say who still holds port 53
  ansible.builtin.debug:
    var: resolved.port53_holders
"""

RETURN = r"""
mode:
  description: The mode asked for.
  returned: always
  type: str
  sample: no_stub
port53_free:
  description:
    - Whether no socket on the host listens on port 53 (TCP) or is bound to it (UDP), read from
      the sockets after the run. In check mode, the prediction.
  returned: always
  type: bool
  sample: true
port53_holders:
  description:
    - The sockets on port 53 after the run (in check mode the prediction; the pid of a process
      that the run would start is then null).
  returned: always
  type: list
  elements: dict
  contains:
    proto:
      description: C(tcp) or C(udp).
      type: str
      sample: udp
    address:
      description: The local address (without the interface suffix).
      type: str
      sample: 127.0.0.53
    pid:
      description: The process id, null when unknown.
      type: int
      sample: 93
    process:
      description: The process name, null when unknown.
      type: str
      sample: systemd-resolve
  sample:
    - {proto: udp, address: 0.0.0.0, pid: 2051, process: docker-proxy}
resolv_conf:
  description:
    - What C(/etc/resolv.conf) is after the run - the target of the link, C(file) for a real
      file, or C(missing).
  returned: always
  type: str
  sample: /run/systemd/resolve/resolv.conf
upstream_dns:
  description:
    - The upstream DNS servers the host uses after the run - those in resolved's uplink
      C(resolv.conf) while it runs, those written to C(/etc/resolv.conf) when it is disabled.
    - In check mode while resolved runs, the prediction - the given O(dns) first, then the servers
      resolved names now, less those that came only from the drop-in's previous C(DNS=).
  returned: always
  type: list
  elements: str
  sample: [192.168.0.1]
drop_in:
  description: The path of the module's drop-in.
  returned: always
  type: str
  sample: /etc/systemd/resolved.conf.d/homelab.conf
actions:
  description: What the run did (or, in check mode, would do), in order.
  returned: always
  type: list
  elements: str
  sample: [write /etc/systemd/resolved.conf.d/homelab.conf, restart systemd-resolved.service,
           link /etc/resolv.conf -> /run/systemd/resolve/resolv.conf]
"""

import errno
import os
import tempfile
import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.homelab.photon.plugins.module_utils._resolved import (
    DROP_IN_DIR,
    DROP_IN_DIRS,
    RESOLV_CONF,
    SERVICE,
    UPLINK_RESOLV_CONF,
    changed as plan_changed,
    describe_resolv_conf,
    holders_from_proc,
    is_resolved_holder,
    parse_proc_net,
    parse_resolv_conf,
    parse_ss,
    plan as make_plan,
    predict_holders,
    predict_upstream,
    resolv_conf_text,
    service_text,
    stub_listening,
    systemd_version as parse_systemd_version,
    validate,
)

SETTLE_SECONDS = 15


class Host:
    """Reads the host's state and carries the plan out; every command is an argv list."""

    def __init__(self, module):
        self.module = module
        self.systemctl = module.get_bin_path("systemctl", required=True)
        self.ss = module.get_bin_path("ss")

    def run(self, argv, check=True):
        rc, out, err = self.module.run_command(argv, environ_update={"LC_ALL": "C", "LANG": "C"})
        if check and rc != 0:
            self.module.fail_json(msg="%s failed (rc=%d): %s" % (" ".join(argv), rc,
                                                                 (err or out).strip()),
                                  rc=rc, stdout=out, stderr=err, cmd=argv)
        return rc, out, err

    @staticmethod
    def read(path):
        try:
            with open(path) as handle:
                return handle.read()
        except (IOError, OSError) as exc:
            if exc.errno == errno.ENOENT:
                return None
            raise

    @staticmethod
    def resolv_conf():
        try:
            if os.path.islink(RESOLV_CONF):
                target = os.readlink(RESOLV_CONF)
                if not os.path.isabs(target):
                    target = os.path.normpath(os.path.join(os.path.dirname(RESOLV_CONF), target))
                return {"type": "link", "target": target, "content": None}
            with open(RESOLV_CONF) as handle:
                return {"type": "file", "target": None, "content": handle.read()}
        except (IOError, OSError) as exc:
            if exc.errno == errno.ENOENT:
                return {"type": "missing", "target": None, "content": None}
            raise

    def holders(self):
        if self.ss:
            return parse_ss(self.run([self.ss, "-l", "-n", "-t", "-u", "-p"])[1])
        tables = {"tcp": [], "udp": []}
        for proto in ("tcp", "udp"):
            for suffix in ("", "6"):
                tables[proto].extend(parse_proc_net(self.read("/proc/net/%s%s" % (proto, suffix)),
                                                    proto))
        wanted = set(inode for sockets in tables.values() for _address, inode in sockets)
        owners = {}
        if wanted:
            for pid in (p for p in os.listdir("/proc") if p.isdigit()):
                fd_dir = "/proc/%s/fd" % pid
                try:
                    links = [os.readlink(os.path.join(fd_dir, fd)) for fd in os.listdir(fd_dir)]
                except OSError:
                    continue
                for link in links:
                    if link.startswith("socket:[") and int(link[8:-1]) in wanted:
                        comm = (self.read("/proc/%s/comm" % pid) or "").strip() or None
                        owners.setdefault(int(link[8:-1]), []).append((int(pid), comm))
        return holders_from_proc(tables, owners)

    def service(self):
        active = self.run([self.systemctl, "is-active", SERVICE], check=False)[1].strip()
        enabled = self.run([self.systemctl, "is-enabled", SERVICE], check=False)[1].strip()
        return active == "active", enabled

    def state(self, drop_in_path):
        active, enabled = self.service()
        version_text = self.run([self.systemctl, "--version"], check=False)[1]
        return {
            "drop_in": self.read(drop_in_path),
            "resolv_conf": self.resolv_conf(),
            "uplink_text": self.read(UPLINK_RESOLV_CONF),
            "active": active,
            "enabled": enabled,
            "holders": self.holders(),
            "systemd_version": parse_systemd_version(version_text),
            "drop_ins": self.drop_ins(),
        }

    def drop_ins(self):
        files = {}
        for directory in DROP_IN_DIRS:
            try:
                names = sorted(os.listdir(directory))
            except OSError:
                continue
            for name in names:
                path = os.path.join(directory, name)
                if name.endswith(".conf") and os.path.isfile(path):
                    files[path] = self.read(path)
        return files

    def _replace(self, path, make_temp):
        """Put a new file or link at ``path`` by renaming a temporary one over it."""
        directory = os.path.dirname(path)
        temp = make_temp(directory)
        try:
            os.rename(temp, path)
        except OSError as exc:
            try:
                os.unlink(temp)
            except OSError:
                pass
            hint = ""
            if exc.errno == errno.EBUSY:
                hint = (" (it is a mount point: a container runtime bind-mounts it; unmount it"
                        " first)")
            self.module.fail_json(msg="cannot replace %s: %s%s" % (path, to_native(exc), hint))

    def write_file(self, path, content):
        def make(directory):
            fd, temp = tempfile.mkstemp(prefix=".homelab-", dir=directory)
            with os.fdopen(fd, "w") as handle:
                handle.write(content)
            os.chmod(temp, 0o644)
            os.chown(temp, 0, 0)
            return temp
        if not os.path.isdir(os.path.dirname(path)):
            os.makedirs(os.path.dirname(path), 0o755)
        self._replace(path, make)

    def link(self, path, target):
        def make(directory):
            temp = os.path.join(directory, ".homelab-%d-resolv.conf" % os.getpid())
            if os.path.lexists(temp):
                os.unlink(temp)
            os.symlink(target, temp)
            return temp
        self._replace(path, make)

    def wait_for(self, predicate):
        deadline = time.time() + SETTLE_SECONDS
        while True:
            if predicate():
                return True
            if time.time() > deadline:
                return False
            time.sleep(0.2)


def diff_entries(drop_in_path, state, the_plan, predicted_service):
    wanted = the_plan["resolv_conf"]
    return [
        {"before_header": drop_in_path, "after_header": drop_in_path,
         "before": state["drop_in"] or "", "after": the_plan["drop_in"] or ""},
        {"before_header": RESOLV_CONF, "after_header": RESOLV_CONF,
         "before": resolv_conf_text(state["resolv_conf"]), "after": resolv_conf_text(wanted)},
        {"before_header": SERVICE, "after_header": SERVICE,
         "before": service_text(state["active"], state["enabled"]),
         "after": service_text(*predicted_service)},
    ]


def predicted_service(mode, state):
    if mode == "disabled":
        enabled = state["enabled"]
        if enabled.startswith("enabled") or enabled in ("alias", "linked", "linked-runtime"):
            enabled = "disabled"
        return False, enabled
    enabled = state["enabled"]
    if not (enabled.startswith("enabled") or enabled in ("static", "alias")):
        enabled = "enabled"
    return True, enabled


def describe_actions(drop_in_path, the_plan):
    actions = []
    file_actions = []
    if the_plan["drop_in_action"] == "write":
        actions.append("write %s" % drop_in_path)
    elif the_plan["drop_in_action"] == "remove":
        actions.append("remove %s" % drop_in_path)
    if the_plan["resolv_conf_action"] == "link":
        file_actions.append("link %s -> %s" % (RESOLV_CONF, the_plan["resolv_conf"]["target"]))
    elif the_plan["resolv_conf_action"] == "file":
        file_actions.append("write %s" % RESOLV_CONF)
    service_actions = ["%s %s" % (step, SERVICE) for step in the_plan["service_steps"]]
    if the_plan["order"] == "file-first":
        return actions + file_actions + service_actions
    return actions + service_actions + file_actions


def main():
    module = AnsibleModule(
        argument_spec=dict(
            mode=dict(type="str", default="no_stub", choices=["no_stub", "disabled", "stub"]),
            dns=dict(type="list", elements="str"),
            fallback_dns=dict(type="list", elements="str"),
            domains=dict(type="list", elements="str"),
            drop_in=dict(type="str", default="homelab.conf"),
        ),
        supports_check_mode=True,
    )
    params = module.params
    mode = params["mode"]
    errors = validate(params)
    if errors:
        module.fail_json(msg="invalid options: " + "; ".join(errors), errors=errors)

    host = Host(module)
    drop_in_path = os.path.join(DROP_IN_DIR, params["drop_in"])
    state = host.state(drop_in_path)
    if state["enabled"] in ("", "not-found") and mode != "disabled":
        module.fail_json(msg="%s is not installed on this host (systemctl is-enabled says %r);"
                             " mode=%s needs it" % (SERVICE, state["enabled"], mode))
    the_plan = make_plan(params, state)
    if the_plan["error"]:
        module.fail_json(msg=the_plan["error"])
    for warning in the_plan["warnings"]:
        module.warn(warning)
    changed = plan_changed(the_plan)
    actions = describe_actions(drop_in_path, the_plan)
    result = dict(changed=changed, mode=mode, drop_in=drop_in_path, actions=actions,
                  diff=diff_entries(drop_in_path, state, the_plan,
                                    predicted_service(mode, state)))

    if module.check_mode:
        holders = predict_holders(mode, state["holders"], bool(the_plan["service_steps"]),
                                  state["systemd_version"])
        if the_plan["upstream_dns"] is not None:
            upstream = the_plan["upstream_dns"]
        else:
            upstream = predict_upstream(params["dns"], state["drop_in"], state["uplink_text"])
        module.exit_json(port53_free=not holders, port53_holders=holders,
                         resolv_conf=describe_resolv_conf(the_plan["resolv_conf"]),
                         upstream_dns=upstream, **result)

    def apply_drop_in():
        if the_plan["drop_in_action"] == "write":
            host.write_file(drop_in_path, the_plan["drop_in"])
        elif the_plan["drop_in_action"] == "remove":
            os.unlink(drop_in_path)

    def apply_resolv_conf():
        wanted = the_plan["resolv_conf"]
        if the_plan["resolv_conf_action"] == "link":
            # Never link to a file that is not there: resolved writes it once it runs.
            if not host.wait_for(lambda: os.path.exists(wanted["target"])):
                module.fail_json(msg="%s did not appear after %s was started; /etc/resolv.conf"
                                     " was left as it was" % (wanted["target"], SERVICE),
                                 actions=actions)
            host.link(RESOLV_CONF, wanted["target"])
        elif the_plan["resolv_conf_action"] == "file":
            host.write_file(RESOLV_CONF, wanted["content"])

    def apply_service():
        for step in the_plan["service_steps"]:
            host.run([host.systemctl, step, SERVICE])

    try:
        apply_drop_in()
        if the_plan["order"] == "file-first":
            apply_resolv_conf()
            apply_service()
        else:
            apply_service()
            apply_resolv_conf()
    except (IOError, OSError) as exc:
        module.fail_json(msg="cannot change %s: %s (the module must run as root: become: true)"
                             % (getattr(exc, "filename", None) or "the host", to_native(exc)),
                         actions=actions)

    # What is true now, read from the host.
    if mode == "stub":
        host.wait_for(lambda: stub_listening(host.holders()))
    elif the_plan["service_steps"]:
        host.wait_for(lambda: not any(is_resolved_holder(h) for h in host.holders()))
    holders = host.holders()
    if mode == "stub" and not stub_listening(holders):
        others = [h for h in holders if not is_resolved_holder(h)]
        module.fail_json(msg="%s runs but its stub listener is not on 127.0.0.53:53; port 53 is"
                             " held by %s" % (SERVICE, others or "nobody (see the journal)"),
                         port53_holders=holders, actions=actions)
    if mode != "stub" and any(is_resolved_holder(h) for h in holders):
        module.fail_json(msg="%s still holds port 53 after the run: another resolved.conf"
                             " drop-in (in /etc, /run or /usr/lib systemd/resolved.conf.d, sorted"
                             " after %s) or DNSStubListenerExtra= keeps a listener on"
                         % (SERVICE, params["drop_in"]),
                         port53_holders=holders, actions=actions)
    final = host.resolv_conf()
    if mode == "disabled":
        upstream = parse_resolv_conf(final.get("content"))["nameservers"]
    else:
        upstream = parse_resolv_conf(host.read(UPLINK_RESOLV_CONF))["nameservers"]
    module.exit_json(port53_free=not holders, port53_holders=holders,
                     resolv_conf=describe_resolv_conf(final), upstream_dns=upstream, **result)


if __name__ == "__main__":
    main()
