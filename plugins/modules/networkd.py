#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: homelab.photon maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: networkd
short_description: Manage one systemd-networkd .network file and apply it
version_added: 0.1.0
description:
  - Writes (or removes) one C(.network) file of systemd-networkd from structured options -
    the C([Match]) keys, addresses, gateway, DNS servers, search domains, DHCP mode and routes,
    plus any other key of systemd.network(5) passed through O(settings).
  - Every value is validated before anything on the host is touched; a bad value fails naming
    the option and the value.
  - The file is written atomically, mode C(0644) and owned by root (systemd-networkd ignores
    files it cannot read); nothing is written when the content is already equal.
  - On request it makes systemd-networkd apply the change, with C(networkctl reload) on systemd
    244 and newer and a restart of C(systemd-networkd) on older systemd (Photon OS 3 has 239).
  - With O(dhcp_off_file) it also turns DHCP off in another C(.network) file, such as the
    distribution's catch-all one, in the same run (and the same apply).
  - To change the address of a host over the connection the play runs on, use the
    M(homelab.photon.networkd_rollback) module or the C(homelab.photon.network) role, which arm a
    rollback before applying.
author:
  - homelab.photon contributors (@homelab-photon)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  platform:
    platforms: posix
options:
  name:
    description:
      - File stem of the C(.network) file, such as V(10-static-en); the module adds C(.network).
      - A plain name inside O(directory); C(/) and C(..) are refused.
    type: str
    required: true
  directory:
    description: Directory of the file.
    type: path
    default: /etc/systemd/network
  state:
    description:
      - Whether the file should exist.
      - V(absent) does not go with O(dhcp_off_file).
    type: str
    choices: [present, absent]
    default: present
  match_name:
    description:
      - Value of C(Name=) in C([Match]) (interface names or globs separated by spaces, such
        as V(eth0) or V(e*)).
      - Interface names with C(/) or C(..), control characters or longer than 15 bytes are
        refused.
      - O(match_name) or O(match) is required with O(state=present).
    type: str
    aliases: [interface]
  match:
    description: Other C([Match]) keys, such as C(MACAddress) or C(Driver).
    type: dict
  address:
    description:
      - Static addresses in CIDR notation (with the prefix length), such as V(192.168.0.235/24).
      - Each must parse, have a prefix and be a host address of its subnet (not the network
        address, nor an IPv4 subnet's broadcast address); none may be given twice.
      - The C(vm_network) input of the role C(homelab.photon.vm) is checked by the same code, in
        the same words.
    type: list
    elements: str
    aliases: [addresses]
  gateway:
    description: Default gateway; must lie in the subnet of one of O(address).
    type: str
  dns:
    description: DNS servers (IP addresses) for the link. No entry may be empty or given twice.
    type: list
    elements: str
  domains:
    description: Search domains for the link (C(~) prefix for routing-only domains).
    type: list
    elements: str
  dhcp:
    description:
      - Value of C(DHCP=) in C([Network]) - V(yes), V(no), V(ipv4) or V(ipv6) (YAML booleans
        are taken as V(yes) and V(no)). Left out of the file when not given.
    type: raw
  routes:
    description: Static routes, each written as its own C([Route]) section.
    type: list
    elements: dict
    suboptions:
      destination:
        description: Destination network in CIDR notation.
        type: str
      gateway:
        description: Gateway of the route.
        type: str
      metric:
        description: Route metric.
        type: int
  settings:
    description:
      - Other keys of systemd.network(5), as a dictionary of sections, each a dictionary of
        keys and values; a list value repeats the key. C([Match]) and C([Network]) keys are appended to those sections, other
        sections follow the routes.
      - Keys owned by the options above (C(Name), C(Address), C(Gateway), C(DNS), C(Domains),
        C(DHCP)) are refused here.
    type: dict
    default: {}
  dhcp_off_file:
    description:
      - Another C(.network) file in which to turn DHCP off, typically the distribution's catch-all
        file (Photon OS matches every C(e*) NIC with C(DHCP=yes) in
        C(/etc/systemd/network/99-dhcp-en.network)), so that no DHCP client keeps running on the
        interface that the static file takes over.
      - Only C(DHCP=) of the C([Network]) section is touched; every other line is kept as it is.
        Each C(DHCP=) line there that does not already say C(no) becomes C(DHCP=no); without one,
        C(DHCP=no) is inserted right after the first C([Network]) line (the edit of the manual
        recipe). C(DHCP=) in other sections and commented-out lines are left alone.
      - A file without a C([Network]) section is left as it is - its DHCP is off already (C(DHCP=)
        defaults to C(no)); adding the section to an empty file would make systemd-networkd read
        a file it skips now, one without C([Match]) that applies to every link.
      - Drop-ins in a C(.network.d) directory of the file are not looked at.
      - The file gets mode C(0644) (systemd-networkd ignores files it cannot read); its owner is
        kept. It is written atomically, only when its content or mode differs. A symbolic link is
        followed and its target is edited.
      - A missing file is left missing (there is no DHCP to turn off), and so is a file masked by
        a link to C(/dev/null); RV(dhcp_off_file_existed) tells a missing file apart.
      - Only with O(state=present), and not the module's own file.
      - With O(apply), systemd-networkd applies both files at once, after both are written.
    type: path
  backup:
    description:
      - Keep a timestamped copy of the previous file when it changes or is removed, and of
        O(dhcp_off_file) when its content changes.
    type: bool
    default: false
  apply:
    description:
      - V(never) only writes the file.
      - V(changed) makes systemd-networkd apply it when this task changed the file (or
        O(dhcp_off_file)).
      - V(always) applies even when the file was already as wanted (for a role that wrote
        several files in earlier tasks); the task then reports a change.
    type: str
    choices: [never, changed, always]
    default: never
  apply_method:
    description:
      - V(auto) chooses C(networkctl reload) on systemd 244 and newer and a restart of
        systemd-networkd on older systemd; V(reload) and V(restart) force one.
    type: str
    choices: [auto, reload, restart]
    default: auto
  apply_delay:
    description:
      - Seconds to wait before applying. With C(async) and C(poll=0), lets the task's own
        connection return before the apply takes its address away.
    type: int
    default: 0
notes:
  - A file whose name sorts first wins for an interface; Photon OS matches every C(e*) NIC in
    C(99-dhcp-en.network), so a V(10-static-en) file takes precedence.
seealso:
  - module: homelab.photon.networkd_rollback
  - name: systemd.network(5)
    description: The keys of a .network file.
    link: https://www.freedesktop.org/software/systemd/man/latest/systemd.network.html
"""

EXAMPLES = r"""
- name: Static address, DHCP off in Photon's catch-all file, both applied with one reload
  homelab.photon.networkd:
    name: 10-static-en
    match_name: eth0
    address: [192.168.0.235/24]
    gateway: 192.168.0.1
    dns: [192.168.0.100]
    dhcp_off_file: /etc/systemd/network/99-dhcp-en.network
    apply: changed
  register: static

- name: Say whether Photon's DHCP file was there to turn off
  ansible.builtin.debug:
    msg: "{{ 'DHCP turned off' if static.dhcp_off_file_changed else 'DHCP already off'
             if static.dhcp_off_file_existed else 'no DHCP file' }}"

- name: A second NIC (written, not yet applied)
  homelab.photon.networkd:
    name: 20-storage
    match_name: eth1
    address: [10.0.10.5/24]
    routes:
      - destination: 10.0.20.0/24
        gateway: 10.0.10.1
    settings:
      Link:
        MTUBytes: 9000
    dhcp: "no"

- name: Remove the file and let networkd forget it
  homelab.photon.networkd:
    name: 20-storage
    state: absent
    apply: changed
"""

RETURN = r"""
path:
  description: Path of the .network file.
  returned: always
  type: str
  sample: /etc/systemd/network/10-static-en.network
content:
  description: Content the file has after the run (empty when absent).
  returned: always
  type: str
backup_file:
  description: The backup copy of the previous file.
  returned: when a backup was made
  type: str
dhcp_off_file_changed:
  description:
    - Whether O(dhcp_off_file) was (in check mode, would be) changed, in content or mode.
    - C(changed) covers both files (and an apply).
  returned: when O(dhcp_off_file) is given
  type: bool
  sample: true
dhcp_off_file_existed:
  description:
    - Whether O(dhcp_off_file) existed (a link to C(/dev/null) counts as existing, and is left
      alone); a missing file is left missing.
  returned: when O(dhcp_off_file) is given
  type: bool
  sample: true
dhcp_off_file_backup:
  description: The backup copy of O(dhcp_off_file) before its change.
  returned: when O(backup) is on and O(dhcp_off_file)'s content changed
  type: str
applied:
  description: Whether systemd-networkd was told to apply the files (in check mode, whether it would be).
  returned: always
  type: bool
apply_action:
  description: V(reload) or V(restart), what was (or in check mode would be) done; null when nothing was applied.
  returned: always
  type: str
  sample: reload
systemd_version:
  description: The host's systemd version, read when an apply was requested.
  returned: when O(apply) is not V(never)
  type: int
  sample: 257
"""

import os
import stat
import tempfile
import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_bytes, to_native

from ansible_collections.homelab.photon.plugins.module_utils._networkd import (
    NetworkdError,
    apply_decision,
    build_sections,
    dhcp_off,
    parse_systemd_version,
    render,
    validate_file_name,
)

FILE_MODE = 0o644


def read_file(path):
    try:
        with open(path, "rb") as handle:
            return handle.read().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return None


def read_dhcp_file(module, path):
    """(real path, text, mode) of the DHCP file; text None when it does not exist, and also when
    it is masked (a link to /dev/null), where there is nothing to edit. Undecodable bytes are
    kept through surrogateescape."""
    real = os.path.realpath(path)
    try:
        info = os.stat(real)
        if real == os.devnull:
            return real, None, None
        if not stat.S_ISREG(info.st_mode):
            module.fail_json(msg="homelab.photon.networkd: invalid dhcp_off_file: %s is not a"
                             " regular file" % path, option="dhcp_off_file", value=path)
        with open(real, "rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        return real, None, None
    except OSError as exc:
        module.fail_json(msg="homelab.photon.networkd: cannot read dhcp_off_file %s: %s"
                         % (path, to_native(exc)))
    return real, data.decode("utf-8", errors="surrogateescape"), info.st_mode & 0o7777


def attributes_differ(path):
    info = os.stat(path)
    return (info.st_mode & 0o7777) != FILE_MODE or info.st_uid != 0 or info.st_gid != 0


def write_atomically(module, path, content, owner_root=True):
    """Write CONTENT to PATH through a temporary file in the same directory, mode 0644; owned by
    root (OWNER_ROOT) or by the replaced file's owner."""
    directory = os.path.dirname(path)
    fd, temp = tempfile.mkstemp(prefix=".homelab-networkd-", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(to_bytes(content, errors="surrogateescape"))
        os.chmod(temp, FILE_MODE)
        if owner_root and os.geteuid() == 0:
            os.chown(temp, 0, 0)
        # atomic_move gives the new file the owner of the file it replaces.
        module.atomic_move(temp, path)
    finally:
        if os.path.exists(temp):
            os.unlink(temp)
    # atomic_move keeps the mode of the file it replaces: set it again.
    os.chmod(path, FILE_MODE)


def systemd_version(module):
    rc, out, err = module.run_command(["systemctl", "--version"])
    if rc != 0:
        module.fail_json(msg="`systemctl --version` failed: is this a systemd host?",
                         rc=rc, stdout=out, stderr=err)
    return parse_systemd_version(out)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            directory=dict(type="path", default="/etc/systemd/network"),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            match_name=dict(type="str", aliases=["interface"]),
            match=dict(type="dict"),
            address=dict(type="list", elements="str", aliases=["addresses"]),
            gateway=dict(type="str"),
            dns=dict(type="list", elements="str"),
            domains=dict(type="list", elements="str"),
            dhcp=dict(type="raw"),
            routes=dict(type="list", elements="dict", options=dict(
                destination=dict(type="str"),
                gateway=dict(type="str"),
                metric=dict(type="int"),
            )),
            settings=dict(type="dict", default={}),
            dhcp_off_file=dict(type="path"),
            backup=dict(type="bool", default=False),
            apply=dict(type="str", choices=["never", "changed", "always"], default="never"),
            apply_method=dict(type="str", choices=["auto", "reload", "restart"], default="auto"),
            apply_delay=dict(type="int", default=0),
        ),
        supports_check_mode=True,
    )
    params = module.params
    result = dict(changed=False, applied=False, apply_action=None)

    # Validate everything before touching the host.
    if params["apply_delay"] < 0:
        module.fail_json(msg="homelab.photon.networkd: invalid apply_delay: %d is negative"
                         % params["apply_delay"])
    try:
        file_name = validate_file_name(params["name"])
        wanted = None
        if params["state"] == "present":
            wanted = render(build_sections(
                match_name=params["match_name"], match=params["match"],
                addresses=params["address"], gateway=params["gateway"], dns=params["dns"],
                domains=params["domains"], dhcp=params["dhcp"], routes=params["routes"],
                settings=params["settings"],
            ))
    except NetworkdError as exc:
        module.fail_json(msg="homelab.photon.networkd: invalid %s" % exc, option=exc.option,
                         value=to_native(exc.value))

    directory = params["directory"]
    if not os.path.isdir(directory):
        module.fail_json(msg="homelab.photon.networkd: directory %s does not exist; is"
                         " systemd-networkd installed?" % directory)
    path = os.path.join(directory, file_name)
    result["path"] = path
    dhcp_path = params["dhcp_off_file"]
    if dhcp_path is not None:
        if params["state"] != "present":
            module.fail_json(msg="homelab.photon.networkd: dhcp_off_file goes only with"
                             " state=present: removing %s while turning DHCP off in %s could leave"
                             " the interface without any configuration" % (path, dhcp_path))
        if os.path.realpath(dhcp_path) == os.path.realpath(path):
            module.fail_json(msg="homelab.photon.networkd: invalid dhcp_off_file: %s is the file"
                             " this task writes; name the other (DHCP) file" % dhcp_path,
                             option="dhcp_off_file", value=dhcp_path)
    current = read_file(path)

    if params["state"] == "present":
        content_changed = current != wanted
        fix_attributes = not content_changed and attributes_differ(path)
        changed = content_changed or fix_attributes
        result["content"] = wanted
    else:
        content_changed = changed = current is not None
        fix_attributes = False
        result["content"] = ""
    diffs = []
    if content_changed:
        diffs.append(dict(before=current or "", after=wanted or "",
                          before_header=path if current is not None else "/dev/null",
                          after_header=path if wanted is not None else "/dev/null"))

    # The DHCP file: edited when it exists, left missing when it does not.
    dhcp_current = dhcp_wanted = None
    dhcp_content_changed = dhcp_changed = False
    if dhcp_path is not None:
        dhcp_real, dhcp_current, dhcp_mode = read_dhcp_file(module, dhcp_path)
        result["dhcp_off_file_existed"] = os.path.exists(dhcp_path)
        if dhcp_current is not None:
            dhcp_wanted = dhcp_off(dhcp_current)
            dhcp_content_changed = dhcp_wanted != dhcp_current
            dhcp_changed = dhcp_content_changed or dhcp_mode != FILE_MODE
        result["dhcp_off_file_changed"] = dhcp_changed
        if dhcp_content_changed:
            diffs.append(dict(before=dhcp_current, after=dhcp_wanted,
                              before_header=dhcp_path, after_header=dhcp_path))
    if diffs:
        result["diff"] = diffs[0] if len(diffs) == 1 else diffs
    changed = changed or dhcp_changed
    result["changed"] = changed

    apply_mode = params["apply"]
    do_apply = apply_mode == "always" or (apply_mode == "changed" and changed)
    if apply_mode != "never":
        result["systemd_version"] = systemd_version(module)
    if do_apply:
        try:
            action, argv = apply_decision(result["systemd_version"], params["apply_method"])
        except NetworkdError as exc:
            module.fail_json(msg="homelab.photon.networkd: %s" % exc)
        result["applied"] = True
        result["apply_action"] = action
        # Telling networkd to re-read its files is a change of the host's state in itself.
        result["changed"] = True

    if module.check_mode:
        module.exit_json(**result)

    if content_changed and current is not None and params["backup"]:
        result["backup_file"] = module.backup_local(path)
    if dhcp_content_changed and params["backup"]:
        result["dhcp_off_file_backup"] = module.backup_local(dhcp_real)
    if params["state"] == "present":
        if content_changed:
            write_atomically(module, path, wanted)
        elif fix_attributes:
            os.chmod(path, FILE_MODE)
            if os.geteuid() == 0:
                os.chown(path, 0, 0)
    elif current is not None:
        os.unlink(path)
    if dhcp_content_changed:
        write_atomically(module, dhcp_real, dhcp_wanted, owner_root=False)
    elif dhcp_changed:
        os.chmod(dhcp_real, FILE_MODE)

    if do_apply:
        if params["apply_delay"] > 0:
            time.sleep(params["apply_delay"])
        rc, out, err = module.run_command(argv)
        if rc != 0:
            module.fail_json(msg="homelab.photon.networkd: `%s` failed after %s %s; the %s"
                             " written but not applied" % (" ".join(argv),
                                                           "writing" if params["state"] == "present" else "removing", path,
                                                           "files are" if dhcp_path else "file is"),
                             rc=rc, stdout=out, stderr=err, **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
