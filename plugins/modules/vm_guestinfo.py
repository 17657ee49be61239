#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: homelab.photon contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: vm_guestinfo
short_description: Remove guestinfo keys (such as cloud-init's first-boot user-data) from a VM's extraConfig
version_added: 0.1.0
description:
  - Removes C(guestinfo.*) keys from the extraConfig (advanced settings) of a virtual machine on a
    standalone ESXi host or a vCenter Server, through the vSphere API with pyvmomi.
  - Made for the data of a first boot. cloud-init's VMware datasource reads its user-data from
    C(guestinfo.userdata); once the guest has booted, that user-data (which can hold password
    hashes) is no longer needed, but vSphere keeps it for the VM's whole life, readable by anyone
    who may read the VM's configuration, and by any local user of the guest through VMware Tools.
  - Works on a powered-on VM (guestinfo keys change at run time). The VM is read again after the
    change; a key the host kept fails the task.
  - Values are never returned or shown, not even in diff mode; only key names and value lengths.
author:
  - homelab.photon contributors (@homelab-photon)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - homelab.photon.vsphere
attributes:
  check_mode:
    support: full
    details: Reads the VM's extraConfig and reports the keys a real run would remove.
  diff_mode:
    support: full
    details: The VM's guestinfo keys before and after, each with the length of its value, never the value.
  platform:
    platforms: posix
options:
  name:
    description:
      - Name of the virtual machine.
      - When several VMs of the inventory have this name, set O(datacenter).
    type: str
    required: true
  datacenter:
    description:
      - Datacenter to look for the VM in. Defaults to the whole inventory.
    type: str
  keys:
    description:
      - Names of the guestinfo keys, with or without the C(guestinfo.) prefix (C(userdata) is
        C(guestinfo.userdata)). Names compare without regard to case, as in a C(.vmx) file.
      - C(*) and C(?) are shell-style wildcards, for example C(vendordata*) for
        C(guestinfo.vendordata) and C(guestinfo.vendordata.encoding). Only C(guestinfo.*) keys can
        be selected, never other settings of the VM.
      - Keys that are not there are fine (nothing changes for them).
    type: list
    elements: str
    required: true
  state:
    description:
      - V(absent) removes the keys. It is the only state; to write guestinfo keys at import use
        the O(homelab.photon.ova_import#module:guestinfo) and
        O(homelab.photon.ova_import#module:cloud_init) options of M(homelab.photon.ova_import).
    type: str
    choices: [absent]
    default: absent
seealso:
  - module: homelab.photon.ova_import
  - name: cloud-init's VMware datasource
    description: The guestinfo keys cloud-init reads, and its own C(redact) of them in the guest.
    link: https://cloudinit.readthedocs.io/en/latest/reference/datasources/vmware.html
notes:
  - Needs the privilege C(VirtualMachine.Config.AdvancedConfig) on the VM.
  - Removing the keys in vSphere does not touch copies in the guest. cloud-init keeps the user-data
    it read under C(/var/lib/cloud/instance/) (readable by root only).
  - Keep C(guestinfo.metadata) when it holds the C(instance-id). cloud-init reads the datasource
    again at every boot, and without any data it would take the next boot for a new instance.
  - Proven in the lab against the govmomi vSphere simulator (with the lab launcher's fix of its
    extraConfig handling, see C(tests/lab/vcsim/main.go)).
"""

EXAMPLES = r"""
- name: Remove the first-boot user-data and vendor-data once the VM has booted
  homelab.photon.vm_guestinfo:
    hostname: esxi.lan
    username: root
    password: "{{ esxi_password }}"
    name: photon-1
    keys:
      - userdata
      - userdata.encoding
      - vendordata*
    state: absent
  delegate_to: localhost

- name: Would anything be removed? (check mode, keys and value lengths in the diff)
  homelab.photon.vm_guestinfo:
    hostname: vcenter.lan
    username: administrator@vsphere.local
    password: "{{ vcenter_password }}"
    datacenter: home
    name: photon-1
    keys: [userdata*, vendordata*]
  check_mode: true
  diff: true
  delegate_to: localhost
"""

RETURN = r"""
removed:
  description: The keys removed (in check mode, the keys a real run would remove), as the VM named them.
  returned: success
  type: list
  elements: str
  sample: ["guestinfo.userdata", "guestinfo.userdata.encoding"]
guestinfo_keys:
  description: The VM's guestinfo keys after the change (in check mode, the keys that would be left).
  returned: success
  type: list
  elements: str
  sample: ["guestinfo.metadata", "guestinfo.metadata.encoding"]
vm:
  description: The VM.
  returned: success
  type: dict
  contains:
    name:
      description: VM name.
      type: str
      sample: photon-1
    moid:
      description: Managed object id.
      type: str
      sample: vm-42
"""

import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.homelab.photon.plugins.module_utils._guestinfo import GuestinfoError, key_patterns, remove
from ansible_collections.homelab.photon.plugins.module_utils._vsphere import (
    PYVMOMI_IMPORT_ERROR, Connection, VsphereError, fault_message, vim, vsphere_argument_spec, wait_for_task,
)


def find_vm(conn, name, datacenter):
    root = None
    if datacenter:
        dcs = [d for d in conn.objects(vim.Datacenter) if d.name == datacenter]
        if not dcs:
            raise VsphereError("datacenter %r not found on %s" % (datacenter, conn.hostname))
        root = dcs[0]
    vms = [v for v in conn.objects(vim.VirtualMachine, root) if v.name == name]
    if not vms:
        where = " in datacenter %s" % datacenter if datacenter else ""
        raise VsphereError("VM %r not found on %s%s" % (name, conn.hostname, where))
    if len(vms) > 1:
        raise VsphereError("%d VMs are named %r on %s: set datacenter" % (len(vms), name, conn.hostname))
    return vms[0]


def extra_config(conn, vm):
    options = conn.properties(vm, ["config.extraConfig"]).get("config.extraConfig") or []
    return [(o.key, o.value) for o in options]


def reconfigure(vm, changes):
    spec = vim.vm.ConfigSpec(extraConfig=[vim.option.OptionValue(key=k, value=v) for k, v in changes])
    wait_for_task(vm.ReconfigVM_Task(spec=spec), timeout=600)


def main():
    argument_spec = vsphere_argument_spec()
    argument_spec.update(
        name=dict(type="str", required=True),
        datacenter=dict(type="str"),
        keys=dict(type="list", elements="str", required=True, no_log=False),
        state=dict(type="str", default="absent", choices=["absent"]),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    if PYVMOMI_IMPORT_ERROR:
        module.fail_json(msg=missing_required_lib("pyvmomi"), exception=PYVMOMI_IMPORT_ERROR)
    p = module.params
    try:
        patterns = key_patterns(p["keys"])
    except GuestinfoError as exc:
        module.fail_json(msg=str(exc))
    conn = None
    try:
        conn = Connection(p["hostname"], p["port"], p["username"], p["password"], p["validate_certs"])
        vm = find_vm(conn, p["name"], p["datacenter"])
        result = remove(lambda: extra_config(conn, vm), lambda changes: reconfigure(vm, changes),
                        patterns, check_mode=module.check_mode)
        result["vm"] = {"name": vm.name, "moid": vm._moId}  # pylint: disable=protected-access
    except (GuestinfoError, VsphereError) as exc:
        module.fail_json(msg=str(exc))
    except Exception as exc:  # pylint: disable=broad-except
        module.fail_json(msg="vm_guestinfo failed: %s" % fault_message(exc), exception=traceback.format_exc())
    finally:
        if conn is not None:
            conn.close()
    if not module._diff:  # pylint: disable=protected-access
        result.pop("diff")
    module.exit_json(**result)


if __name__ == "__main__":
    main()
