# -*- coding: utf-8 -*-
# Copyright: homelab.photon contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: vm_fleet
short_description: Check the VMs of a play of the vm role and group them by vSphere endpoint
version_added: 0.1.0
author: homelab.photon contributors
description:
  - Used by the role C(homelab.photon.vm) once per play, before anything is downloaded or imported.
  - Checks the inventory's shape. Each Photon host carries its own VM (C(vm_name), the OVA, datastore, networks,
    first-boot address, size); the vSphere endpoint, a host of the group C(vsphere), only its connection
    (C(vm_vsphere_hostname), C(vm_vsphere_port), C(vm_vsphere_username), C(vm_vsphere_password),
    C(vm_vsphere_validate_certs)). An inventory in the old shape (the endpoint defines the VM) is refused with
    what to move where.
  - Resolves each host's endpoint (C(vm_vsphere_endpoint), or the only host of the group), and refuses an
    unknown endpoint, an endpoint without its connection, two hosts claiming one VM name on one endpoint, and
    two OVAs that would be cached in one file.
  - Returns the errors, the endpoint of each host and the VMs of each endpoint.
positional: _input
options:
  _input:
    description:
      - V(hosts) (by inventory name, each with V(vars), the C(vm_*) variables its inventory defines, and V(vm), its
        VM), V(endpoints) (the hosts of the group, each with V(vars), V(hostname), V(username), V(password_set)),
        V(group) and V(inventory_hosts).
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Check the fleet once
  ansible.builtin.set_fact:
    fleet: "{{ {'hosts': my_hosts, 'endpoints': my_endpoints, 'group': 'vsphere', 'inventory_hosts': groups['all']}
               | homelab.photon.vm_fleet }}"
  run_once: true
"""

RETURN = r"""
_value:
  description: V(errors) (a list of messages), V(endpoint) (host to endpoint) and V(vms) (endpoint to its VMs, as
    the O(homelab.photon.vsphere_placement#module:vms) option of M(homelab.photon.vsphere_placement) takes them).
  type: dict
"""

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError
from ansible_collections.homelab.photon.plugins.module_utils._placement import fleet


def _plain(value):
    if isinstance(value, Mapping):
        return dict((str(k), _plain(v)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def vm_fleet(data):
    if not isinstance(data, Mapping):
        raise AnsibleFilterError("vm_fleet expects a dictionary, got %s" % type(data).__name__)
    data = _plain(data)
    return fleet(data.get("hosts") or {}, data.get("endpoints") or {}, data.get("group") or "vsphere",
                 data.get("inventory_hosts") or [])


class FilterModule(object):
    def filters(self):
        return {"vm_fleet": vm_fleet}
