#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: homelab.photon maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: networkd_rollback
short_description: Arm, confirm or run a timed rollback of systemd-networkd files
version_added: 0.1.0
description:
  - Protects a network change made over the connection it would cut. O(state=armed) copies the
    given files (or notes that they do not exist) and starts a transient systemd timer on the
    host; when it fires, a transient service puts the files back as they were, removes the ones
    that did not exist, and makes systemd-networkd apply them (C(networkctl reload) on systemd
    244 and newer, a restart of systemd-networkd on older systemd).
  - O(state=confirmed) cancels an armed timer once the new configuration has proven itself
    (the controller reached the host again). It fails, saying so, when the rollback already ran.
  - O(state=restored) rolls back now when the timer is still armed, and reports whether the
    timer already did it; either way it clears the rollback's records.
  - Use it around M(homelab.photon.networkd); the C(homelab.photon.network) role does.
author:
  - homelab.photon contributors (@homelab-photon)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  platform:
    platforms: posix
options:
  state:
    description: What to do with the rollback.
    type: str
    choices: [armed, confirmed, restored]
    required: true
  paths:
    description:
      - Absolute paths of the files to protect (they may not exist yet). Required with
        O(state=armed).
    type: list
    elements: path
  timeout:
    description: Seconds from arming until the rollback runs, at least 5.
    type: int
    default: 120
  unit:
    description: Base name of the transient C(.timer) and C(.service) units.
    type: str
    default: homelab-networkd-rollback
  state_dir:
    description: Where the copies, the restore script and the rollback's records are kept.
    type: path
    default: /var/lib/homelab-photon/networkd-rollback
  apply_method:
    description:
      - How the rollback makes systemd-networkd apply the restored files. V(auto) chooses
        C(networkctl reload) on systemd 244 and newer and a restart on older systemd.
    type: str
    choices: [auto, reload, restart]
    default: auto
notes:
  - Only one rollback per O(unit) can be armed; arming again while one is armed fails, because the
    second snapshot would hold the unconfirmed change.
seealso:
  - module: homelab.photon.networkd
"""

EXAMPLES = r"""
- name: Arm a rollback of the files the change touches
  homelab.photon.networkd_rollback:
    state: armed
    paths:
      - /etc/systemd/network/10-static-en.network
      - /etc/systemd/network/99-dhcp-en.network
    timeout: 120

- name: Confirm once the host answers on its new address
  homelab.photon.networkd_rollback:
    state: confirmed
"""

RETURN = r"""
unit:
  description: Base name of the transient units.
  returned: always
  type: str
  sample: homelab-networkd-rollback
armed:
  description: Whether the rollback timer is armed after the run.
  returned: always
  type: bool
snapshot:
  description: The protected files; C(existed) tells whether a copy was taken or the file will be removed.
  returned: when O(state=armed)
  type: list
  elements: dict
  sample: [{"path": "/etc/systemd/network/10-static-en.network", "existed": false}]
timeout:
  description: Seconds until the rollback runs.
  returned: when O(state=armed)
  type: int
apply_action:
  description: V(reload) or V(restart), how the rollback re-applies the files.
  returned: when O(state=armed)
  type: str
rolled_back:
  description: Whether the previous files are back (by the timer, or by this run with O(state=restored)).
  returned: when O(state=confirmed) or O(state=restored)
  type: bool
rolled_back_by:
  description: V(timer) when the timer had already run the rollback, V(module) when this run did, null otherwise.
  returned: when O(state=restored)
  type: str
rolled_back_at:
  description: UTC time the timer's rollback ran.
  returned: when the timer ran the rollback
  type: str
"""

import json
import os
import shutil
import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.homelab.photon.plugins.module_utils._networkd import (
    NetworkdError,
    apply_decision,
    parse_systemd_version,
    render_restore_script,
    validate_unit_name,
)


class Rollback:
    def __init__(self, module, unit, state_dir):
        self.module = module
        self.unit = unit
        self.dir = os.path.join(state_dir, unit)
        self.script = os.path.join(self.dir, "restore.sh")
        self.marker = os.path.join(self.dir, "rolled-back")
        self.manifest = os.path.join(self.dir, "manifest.json")

    def unit_state(self, suffix):
        rc, out, err = self.module.run_command(["systemctl", "is-active", self.unit + suffix])
        return out.strip()

    def timer_armed(self):
        return self.unit_state(".timer") in ("active", "activating")

    def wait_for_service(self, seconds=60):
        """The timer may have just fired: let its service finish before judging."""
        deadline = time.monotonic() + seconds
        while self.unit_state(".service") in ("active", "activating", "deactivating", "reloading"):
            if time.monotonic() > deadline:
                self.module.fail_json(msg="homelab.photon.networkd_rollback: the rollback service"
                                      " %s.service is still running after %d s" % (self.unit, seconds),
                                      unit=self.unit)
            time.sleep(0.5)

    def fired_at(self):
        try:
            with open(self.marker) as handle:
                return handle.read().strip() or "unknown time"
        except FileNotFoundError:
            return None

    def stop_timer(self):
        rc, out, err = self.module.run_command(["systemctl", "stop", self.unit + ".timer"])
        if rc != 0:
            self.module.fail_json(msg="homelab.photon.networkd_rollback: could not cancel %s.timer"
                                  % self.unit, rc=rc, stdout=out, stderr=err, unit=self.unit)

    def clear(self):
        shutil.rmtree(self.dir, ignore_errors=True)


def apply_argv(module, method):
    rc, out, err = module.run_command(["systemctl", "--version"])
    if rc != 0:
        module.fail_json(msg="`systemctl --version` failed: is this a systemd host?",
                         rc=rc, stdout=out, stderr=err)
    try:
        return apply_decision(parse_systemd_version(out), method)
    except NetworkdError as exc:
        module.fail_json(msg="homelab.photon.networkd_rollback: %s" % exc)


def arm(module, rollback, result):
    params = module.params
    paths = params["paths"] or []
    if not paths:
        module.fail_json(msg="homelab.photon.networkd_rollback: state=armed needs `paths`, the"
                         " files the change will touch")
    for path in paths:
        if not os.path.isabs(path) or os.path.isdir(path):
            module.fail_json(msg="homelab.photon.networkd_rollback: paths: %r is not an absolute"
                             " path of a file" % path)
    if params["timeout"] < 5:
        module.fail_json(msg="homelab.photon.networkd_rollback: timeout: %d is too short; give"
                         " at least 5 seconds" % params["timeout"])
    if rollback.timer_armed():
        module.fail_json(msg="homelab.photon.networkd_rollback: a rollback is already armed"
                         " (%s.timer): confirm it or let it run before arming another, since a"
                         " new snapshot would hold the unconfirmed change" % rollback.unit,
                         unit=rollback.unit, armed=True)
    action, argv = apply_argv(module, params["apply_method"])
    result.update(changed=True, armed=True, timeout=params["timeout"], apply_action=action,
                  snapshot=[dict(path=path, existed=os.path.exists(path)) for path in paths])
    if module.check_mode:
        return

    rollback.clear()
    files = os.path.join(rollback.dir, "files")
    os.makedirs(files, mode=0o700)
    entries = []
    for index, path in enumerate(paths):
        if os.path.exists(path):
            backup = os.path.join(files, str(index))
            shutil.copy2(path, backup)
            entries.append((path, backup))
        else:
            entries.append((path, None))
    with open(rollback.script, "w") as handle:
        handle.write(render_restore_script(entries, argv, rollback.marker))
    os.chmod(rollback.script, 0o700)
    with open(rollback.manifest, "w") as handle:
        json.dump(dict(unit=rollback.unit, timeout=params["timeout"], snapshot=result["snapshot"],
                       armed_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())), handle)

    rc, out, err = module.run_command([
        "systemd-run", "--unit", rollback.unit, "--collect", "--quiet",
        "--description", "homelab.photon: roll back network files unless confirmed",
        "--on-active", "%ds" % params["timeout"],
        "--timer-property", "AccuracySec=1s",
        "/bin/sh", rollback.script,
    ])
    if rc != 0:
        rollback.clear()
        module.fail_json(msg="homelab.photon.networkd_rollback: systemd-run could not arm the"
                         " rollback timer; nothing was changed", rc=rc, stdout=out, stderr=err,
                         unit=rollback.unit)


def confirm(module, rollback, result):
    if rollback.timer_armed():
        result.update(changed=True, armed=False, rolled_back=False)
        if not module.check_mode:
            rollback.stop_timer()
            rollback.clear()
        return
    rollback.wait_for_service()
    fired = rollback.fired_at()
    if fired is not None:
        module.fail_json(msg="homelab.photon.networkd_rollback: too late to confirm: the rollback"
                         " %s already ran at %s and put the previous network files back"
                         % (rollback.unit, fired), unit=rollback.unit, armed=False,
                         rolled_back=True, rolled_back_at=fired)
    result.update(armed=False, rolled_back=False)


def restore(module, rollback, result):
    result.update(armed=False, rolled_back=False, rolled_back_by=None)
    if rollback.timer_armed():
        result.update(changed=True, rolled_back=True, rolled_back_by="module")
        if module.check_mode:
            return
        rollback.stop_timer()
        rc, out, err = module.run_command(["/bin/sh", rollback.script])
        if rc != 0:
            module.fail_json(msg="homelab.photon.networkd_rollback: the restore script %s failed;"
                             " its records are kept in %s" % (rollback.script, rollback.dir),
                             rc=rc, stdout=out, stderr=err, **result)
        rollback.clear()
        return
    rollback.wait_for_service()
    fired = rollback.fired_at()
    if fired is not None:
        result.update(rolled_back=True, rolled_back_by="timer", rolled_back_at=fired)
        if not module.check_mode:
            rollback.clear()


def main():
    module = AnsibleModule(
        argument_spec=dict(
            state=dict(type="str", choices=["armed", "confirmed", "restored"], required=True),
            paths=dict(type="list", elements="path"),
            timeout=dict(type="int", default=120),
            unit=dict(type="str", default="homelab-networkd-rollback"),
            state_dir=dict(type="path", default="/var/lib/homelab-photon/networkd-rollback"),
            apply_method=dict(type="str", choices=["auto", "reload", "restart"], default="auto"),
        ),
        required_if=[("state", "armed", ["paths"])],
        supports_check_mode=True,
    )
    try:
        unit = validate_unit_name(module.params["unit"])
    except NetworkdError as exc:
        module.fail_json(msg="homelab.photon.networkd_rollback: invalid %s" % exc,
                         value=to_native(exc.value))
    rollback = Rollback(module, unit, module.params["state_dir"])
    result = dict(changed=False, unit=unit)
    state = module.params["state"]
    if state == "armed":
        arm(module, rollback, result)
    elif state == "confirmed":
        confirm(module, rollback, result)
    else:
        restore(module, rollback, result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
