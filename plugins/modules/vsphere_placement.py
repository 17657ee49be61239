#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: homelab.photon contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: vsphere_placement
short_description: Plan the ESXi host of each VM of a fleet on one ESXi host or vCenter (read-only)
version_added: 0.1.0
description:
  - Reads the ESXi hosts of a vSphere endpoint (datacenter, cluster, connection state, maintenance mode,
    the datastores and networks each one sees, how many VMs it runs) and its VMs, and chooses the host of
    every VM in O(vms). Changes nothing.
  - Returns, for each VM of O(vms) that exists, what M(homelab.photon.ova_import) returns of an existing VM
    (moid, power state, size, IP addresses, ...) and which of O(guestinfo_keys) its extraConfig holds, read in
    the same session; a rerun knows what is there without another module run.
  - A VM that already exists keeps its host (a rerun plans the same, and nothing is moved).
  - An explicit O(vms[].esxi_hostname) is honoured; it must exist in the VM's datacenter, be connected
    and not in maintenance mode (and be in O(vms[].cluster) when both are given).
  - VMs that share an O(vms[].anti_affinity_group) land on distinct hosts (for example a primary and a
    secondary Pi-hole never on the same box). Each is given a host that is connected, not in maintenance
    mode, in its datacenter (and cluster), and sees its datastore and networks; the least loaded first.
  - Other VMs go to the least loaded such host; with O(vms[].cluster) and no group the cluster chooses.
  - Fails, naming the VMs and the hosts, when a plan cannot be met (an unknown or unusable explicit
    host, a group with more VMs than qualifying hosts, a VM no host can take, an unknown datacenter).
  - Used by the role C(homelab.photon.vm) once per endpoint, before anything is downloaded or imported;
    the planned host goes to O(homelab.photon.ova_import#module:esxi_hostname) of M(homelab.photon.ova_import).
author:
  - homelab.photon contributors (@homelab-photon)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - homelab.photon.vsphere
attributes:
  check_mode:
    support: full
    details: Read-only; the same plan in check mode.
  diff_mode:
    support: none
  platform:
    platforms: posix
options:
  vms:
    description:
      - The VMs to place on this endpoint.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: VM name (unique on the endpoint).
        type: str
        required: true
      datacenter:
        description: Datacenter of the VM; empty means the only one (an error when there are several).
        type: str
        default: ""
      esxi_hostname:
        description: ESXi host the VM must be on (as vCenter names it).
        type: str
        default: ""
      cluster:
        description: Cluster the VM must be in (vCenter).
        type: str
        default: ""
      datastore:
        description: Datastore the VM's files go to; the host must see it.
        type: str
        default: ""
      networks:
        description: Networks (port groups) the VM's NICs are mapped to; the host must see each.
        type: list
        elements: str
        default: []
      anti_affinity_group:
        description: VMs sharing a value land on distinct ESXi hosts. Empty for none.
        type: str
        default: ""
  guestinfo_keys:
    description:
      - C(guestinfo.*) keys (names or shell-style patterns, as O(homelab.photon.vm_guestinfo#module:keys) takes
        them) to look for in the extraConfig of each VM of O(vms) that exists; the
        keys found are returned in RV(placement.guestinfo_keys), their names only, never their values.
      - Empty reads no extraConfig.
    type: list
    elements: str
    default: []
notes:
  - Proven in the lab against the govmomi vSphere simulator in vCenter mode (a cluster of three hosts and a
    standalone host) and in ESXi mode.
"""

EXAMPLES = r"""
- name: Two Pi-holes never on the same ESXi host
  homelab.photon.vsphere_placement:
    hostname: vcenter.lan
    username: administrator@vsphere.local
    password: "{{ vault_vcenter_password }}"
    vms:
      - name: pihole01
        datastore: datastore1
        networks: [VM Network]
        anti_affinity_group: dns
      - name: pihole02
        datastore: datastore1
        networks: [VM Network]
        anti_affinity_group: dns
  delegate_to: localhost
  register: plan

- name: Show where each goes
  ansible.builtin.debug:
    msg: "{{ plan.placement }}"
"""

RETURN = r"""
placement:
  description: The host of each VM, by VM name.
  returned: success
  type: dict
  sample: {"pihole01": {"esxi_hostname": "esxi01.lan", "datacenter": "DC0", "exists": false,
           "reason": "anti-affinity group dns", "vm": {}, "guestinfo_keys": []}}
  contains:
    esxi_hostname:
      description: The planned ESXi host; null when the VM's cluster chooses (a cluster and no group).
      type: str
    datacenter:
      description: The VM's datacenter.
      type: str
    exists:
      description: Whether the VM exists already (then it keeps its host).
      type: bool
    reason:
      description: Why that host (C(exists on HOST (kept)), C(vm_esxi_hostname), C(anti-affinity group G), C(least loaded)).
      type: str
    vm:
      description:
        - The VM when it exists, as RV(homelab.photon.ova_import#module:vm) of M(homelab.photon.ova_import)
          returns it (name, moid, uuid, hw_version, guest_id, power_state, ip_addresses, esxi_hostname,
          hardware with num_cpus and memory_mb); empty when it does not exist.
      type: dict
      sample: {"name": "pihole01", "moid": "vm-42", "uuid": "4216c8e1-5c2f-8b7f-2c1e-3f7c1a0b9d11", "hw_version": "vmx-11",
               "guest_id": "vmwarePhoton64Guest", "power_state": "poweredOn", "ip_addresses": ["192.168.1.50"],
               "esxi_hostname": "esxi01.lan", "hardware": {"num_cpus": 2, "memory_mb": 2048}}
    guestinfo_keys:
      description: The keys of O(guestinfo_keys) the existing VM's extraConfig holds (names only); empty otherwise.
      type: list
      elements: str
      sample: ["guestinfo.userdata", "guestinfo.userdata.encoding"]
hosts:
  description: The endpoint's ESXi hosts as read.
  returned: success
  type: list
  elements: dict
  sample: [{"name": "esxi01.lan", "datacenter": "ha-datacenter", "cluster": null, "usable": true, "state": "connected",
            "datastores": ["datastore1"], "networks": ["VM Network"], "vms": 3}]
"""

import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.homelab.photon.plugins.module_utils._guestinfo import GuestinfoError, key_patterns, selected
from ansible_collections.homelab.photon.plugins.module_utils._placement import plan
from ansible_collections.homelab.photon.plugins.module_utils._vsphere import (
    PYVMOMI_IMPORT_ERROR, VM_FACT_PATHS, Connection, VsphereError, fault_message, vim, vm_facts, vsphere_argument_spec,
)


def read_endpoint(conn):
    """(hosts for plan(), {datacenter: {vm name: (VM object, host name)}}, [datacenter names])."""
    names = dict((obj._moId, props.get("name")) for vimtype in (vim.Datastore, vim.Network)  # pylint: disable=protected-access
                 for obj, props in conn.collect(vimtype, ["name"]))
    hosts, vms, dcs = [], {}, []
    for dc in conn.objects(vim.Datacenter):
        dcs.append(dc.name)
        host_names = {}
        host_props = ["name", "parent", "runtime.connectionState", "runtime.inMaintenanceMode", "datastore", "network", "vm"]
        for obj, props in conn.collect(vim.HostSystem, host_props, dc):
            parent = props.get("parent")
            state = str(props.get("runtime.connectionState") or "connected")
            maintenance = bool(props.get("runtime.inMaintenanceMode"))
            host_names[obj._moId] = props.get("name")  # pylint: disable=protected-access
            hosts.append({
                "name": props.get("name"), "datacenter": dc.name,
                "cluster": parent.name if isinstance(parent, vim.ClusterComputeResource) else None,
                "usable": state == "connected" and not maintenance,
                "state": "in maintenance mode" if maintenance else state,
                "datastores": sorted(names.get(d._moId) for d in props.get("datastore") or []),  # pylint: disable=protected-access
                "networks": sorted(names.get(n._moId) for n in props.get("network") or []),  # pylint: disable=protected-access
                "vms": len(props.get("vm") or []),
            })
        vms[dc.name] = {}
        for obj, props in conn.collect(vim.VirtualMachine, ["name", "runtime.host"], dc):
            host = props.get("runtime.host")
            vms[dc.name][props.get("name")] = (obj, host_names.get(host._moId) if host is not None else None)  # pylint: disable=protected-access
    return hosts, vms, dcs


def resolve(vms, existing, dcs, where):
    """(the VMs with their datacenter resolved and the VM object and host of those that exist, errors)."""
    errors, out = [], []
    for vm in vms:
        dc = vm["datacenter"]
        if not dc:
            if len(dcs) != 1:
                errors.append("VM %s: %s has %d datacenters (%s): set vm_datacenter"
                              % (vm["name"], where, len(dcs), ", ".join(sorted(dcs)) or "none"))
                continue
            dc = dcs[0]
        elif dc not in dcs:
            errors.append("VM %s: datacenter %s not found on %s (datacenters: %s)"
                          % (vm["name"], dc, where, ", ".join(sorted(dcs)) or "none"))
            continue
        obj, host = existing.get(dc, {}).get(vm["name"], (None, None))
        out.append(dict(vm, datacenter=dc, existing_host=host, existing=obj))
    return out, errors


def read_existing(conn, vms, patterns):
    """{vm name: (facts, guestinfo keys the patterns select)} of the VMs that exist, in one round trip."""
    objs = [vm["existing"] for vm in vms if vm["existing"] is not None]
    paths = VM_FACT_PATHS + (("config.extraConfig",) if patterns else ())
    props = conn.properties_of(objs, paths)
    out = {}
    for vm in vms:
        if vm["existing"] is None:
            continue
        moid = vm["existing"]._moId  # pylint: disable=protected-access
        options = [(o.key, o.value) for o in props[moid].get("config.extraConfig") or []]
        out[vm["name"]] = (vm_facts(moid, props[moid], vm["existing_host"]),
                           selected(options, patterns) if patterns else [])
    return out


def main():
    argument_spec = vsphere_argument_spec()
    argument_spec.update(
        vms=dict(type="list", elements="dict", required=True, options=dict(
            name=dict(type="str", required=True),
            datacenter=dict(type="str", default=""),
            esxi_hostname=dict(type="str", default=""),
            cluster=dict(type="str", default=""),
            datastore=dict(type="str", default=""),
            networks=dict(type="list", elements="str", default=[]),
            anti_affinity_group=dict(type="str", default=""),
        )),
        guestinfo_keys=dict(type="list", elements="str", default=[], no_log=False),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    if PYVMOMI_IMPORT_ERROR:
        module.fail_json(msg=missing_required_lib("pyvmomi"), exception=PYVMOMI_IMPORT_ERROR)
    p = module.params
    where = "%s:%d" % (p["hostname"], p["port"])
    names = [vm["name"] for vm in p["vms"]]
    twice = sorted(set(n for n in names if names.count(n) > 1))
    if twice:
        module.fail_json(msg="vms names %s more than once: a VM name must be unique on %s" % (", ".join(twice), where))
    try:
        patterns = key_patterns(p["guestinfo_keys"]) if p["guestinfo_keys"] else []
    except GuestinfoError as exc:
        module.fail_json(msg="guestinfo_keys: %s" % exc)
    conn = None
    try:
        conn = Connection(p["hostname"], p["port"], p["username"], p["password"], p["validate_certs"])
        hosts, existing, dcs = read_endpoint(conn)
        vms, errors = resolve(p["vms"], existing, dcs, where)
        known = read_existing(conn, vms, patterns) if not errors else {}
    except VsphereError as exc:
        module.fail_json(msg=str(exc))
    except Exception as exc:  # pylint: disable=broad-except
        module.fail_json(msg="reading the hosts of %s failed: %s" % (where, fault_message(exc)),
                         exception=traceback.format_exc())
    finally:
        if conn is not None:
            conn.close()

    if errors:
        module.fail_json(msg="placement on %s: %s" % (where, "; ".join(errors)), hosts=hosts)
    placement, errors, warnings = plan(hosts, vms, endpoint=where)
    if errors:
        module.fail_json(msg="placement on %s: %s" % (where, "; ".join(errors)), hosts=hosts)
    for w in warnings:
        module.warn(w)
    for vm in vms:
        facts, keys = known.get(vm["name"], ({}, []))
        placement[vm["name"]].update(datacenter=vm["datacenter"], exists=vm["name"] in known, vm=facts,
                                     guestinfo_keys=keys)
    module.exit_json(changed=False, placement=placement, hosts=hosts)


if __name__ == "__main__":
    main()
