# -*- coding: utf-8 -*-
# Copyright: homelab.photon contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A fleet of Photon OS VMs (private, pure, unit-tested): inventory shape and host placement.

`fleet()` checks what the vm role's play declares before anything is downloaded or imported:
the inventory's shape (each Photon host carries its VM, the vSphere endpoint only its
connection), each VM's endpoint, VM names unique per endpoint, one cached file per OVA; it
returns the endpoint of each host, the VMs of each endpoint and the OVAs to download once.

`plan()` chooses the ESXi host of each VM of one endpoint (homelab.photon.vsphere_placement reads
the hosts and VMs, this decides): an existing VM keeps its host, an explicit host is honoured,
VMs of one anti-affinity group land on distinct hosts, the others on the least loaded host.
"""

from __future__ import annotations

# The VM's own variables: on the Photon host (host_vars, or group_vars of its group).
VM_VARIABLES = (
    "vm_name", "vm_hostname", "vm_instance_id", "vm_ova_src", "vm_ova_checksum", "vm_datacenter",
    "vm_datastore", "vm_esxi_hostname", "vm_cluster", "vm_resource_pool", "vm_folder", "vm_networks",
    "vm_disk_provisioning", "vm_num_cpus", "vm_memory_mb", "vm_anti_affinity_group", "vm_ssh_public_key",
    "vm_ssh_public_key_file", "vm_root_password_hash", "vm_admin_user", "vm_admin_ssh_public_key",
    "vm_admin_password_hash", "vm_admin_sudo", "vm_network", "vm_network_file", "vm_vsphere_endpoint",
)
# The endpoint's connection: on the host of the vsphere group (group_vars/vsphere.yml or host_vars).
CONNECTION_VARIABLES = (
    "vm_vsphere_hostname", "vm_vsphere_port", "vm_vsphere_username", "vm_vsphere_password",
    "vm_vsphere_validate_certs",
)
# What homelab.photon.vsphere_placement takes of each VM.
PLACEMENT_KEYS = ("name", "datacenter", "esxi_hostname", "cluster", "datastore", "networks", "anti_affinity_group")
# Variables of the old add_host step: the Photon host is in the inventory now.
REMOVED_VARIABLES = {
    "vm_group": "the Photon host's own groups in the inventory",
    "vm_ansible_user": "ansible_user",
    "vm_ssh_private_key_file": "ansible_ssh_private_key_file",
    "vm_ssh_common_args": "ansible_ssh_common_args",
    "vm_python_interpreter": "ansible_python_interpreter",
}


def _names(items):
    return ", ".join(sorted(items)) or "none"


def migration_errors(hosts, endpoints):
    """Messages for an inventory in the old shape (one VM in the endpoint's variables).

    hosts: {inventory name: {"endpoint": endpoint or "", "vars": [vm_* variables its inventory defines]}}
    endpoints: {inventory name: {"vars": [vm_* variables its inventory defines]}}
    """
    errors = []
    how = ("each Photon host carries its own VM: put the VM's variables on the Photon host (host_vars/HOST.yml, "
           "or group_vars/photon.yml for what all share; vm_name defaults to the inventory name), and keep only "
           "the connection (%s) on the vSphere endpoint (group_vars/vsphere.yml or host_vars/ENDPOINT.yml); "
           "see the changelog's porting guide" % ", ".join(CONNECTION_VARIABLES))
    for name in sorted(endpoints):
        own = set(endpoints[name].get("vars") or [])
        moved = sorted(own & set(VM_VARIABLES))
        users = sorted(h for h, info in hosts.items() if info.get("endpoint") in ("", name))
        missing = dict((h, sorted(set(moved) - set(hosts[h].get("vars") or []))) for h in users)
        if "vm_name" in own or any(missing.values()):
            lacking = ["%s lacks %s" % (h, ", ".join(v)) for h, v in sorted(missing.items()) if v]
            errors.append(
                "the inventory is in the old shape: the vSphere endpoint %s defines the VM (%s)%s. Now %s"
                % (name, ", ".join(moved), ("; " + "; ".join(lacking)) if lacking else "", how))
    for name in sorted(hosts):
        own = set(hosts[name].get("vars") or [])
        endpoint = hosts[name].get("endpoint") or ""
        ep_vars = set((endpoints.get(endpoint) or {}).get("vars") or [])
        misplaced = sorted(v for v in own & set(CONNECTION_VARIABLES) if v not in ep_vars)
        if misplaced and endpoint in endpoints:
            errors.append("%s defines %s, which belong to its vSphere endpoint %s (credentials stay per "
                          "endpoint): move them to group_vars/vsphere.yml or host_vars/%s.yml"
                          % (name, ", ".join(misplaced), endpoint, endpoint))
    for name in sorted(set(hosts) | set(endpoints)):
        info = hosts.get(name) or endpoints.get(name)
        gone = sorted(set(info.get("vars") or []) & set(REMOVED_VARIABLES))
        if gone:
            errors.append("%s defines %s, which the vm role no longer reads (the Photon hosts are in the inventory, "
                          "no host is added): set %s on the Photon host instead"
                          % (name, ", ".join(gone), "; ".join("%s -> %s" % (v, REMOVED_VARIABLES[v]) for v in gone)))
    return errors


def fleet(hosts, endpoints, group, inventory_hosts):
    """Check the VMs of a play and group them by endpoint.

    hosts: {inventory name: {"vars": [...], "vm": {"name", "endpoint" (may be ""), "ova": {"src",
        "checksum", "dest" ("" for a local file)}, and what plan() reads: "datacenter", "esxi_hostname",
        "cluster", "datastore", "networks", "anti_affinity_group"}}}
    endpoints: {inventory name of each host of `group`: {"vars": [...], "hostname", "username", "password_set"}}
    inventory_hosts: every host name of the inventory (to tell an unknown endpoint from one outside the group).

    Returns {"errors": [...], "endpoint": {host: endpoint}, "vms": {endpoint: [vm, ...]}}, each vm with
    the keys of homelab.photon.vsphere_placement's vms option.
    """
    errors = []
    resolved = {}
    members = sorted(endpoints)
    for name in sorted(hosts):
        wanted = (hosts[name].get("vm") or {}).get("endpoint") or ""
        if not wanted:
            if len(members) == 1:
                resolved[name] = members[0]
            elif not members:
                errors.append("%s: the inventory's group %s has no host: add the ESXi host or vCenter (with "
                              "vm_vsphere_hostname, vm_vsphere_username, vm_vsphere_password) to it" % (name, group))
            else:
                errors.append("%s: set vm_vsphere_endpoint, the group %s has several hosts (%s)"
                              % (name, group, _names(members)))
        elif wanted in endpoints:
            resolved[name] = wanted
        elif wanted in inventory_hosts:
            errors.append("%s: vm_vsphere_endpoint %s is not a host of the group %s (its hosts: %s)"
                          % (name, wanted, group, _names(members)))
        else:
            errors.append("%s: vm_vsphere_endpoint %s is not in the inventory (hosts of the group %s: %s)"
                          % (name, wanted, group, _names(members)))
    shape = migration_errors(
        dict((h, {"endpoint": resolved.get(h, ""), "vars": hosts[h].get("vars")}) for h in hosts),
        dict((e, {"vars": endpoints[e].get("vars")}) for e in endpoints))
    errors = shape + errors

    for name in sorted(set(resolved.values())):
        ep = endpoints[name]
        empty = [v for v, ok in (("vm_vsphere_hostname", ep.get("hostname")), ("vm_vsphere_username", ep.get("username")),
                                 ("vm_vsphere_password", ep.get("password_set"))) if not ok]
        if empty:
            errors.append("the vSphere endpoint %s has no %s: set them in its variables (group_vars/%s.yml or "
                          "host_vars/%s.yml)" % (name, ", ".join(empty), group, name))

    vms = {}
    claimed = {}
    for name in sorted(resolved):
        vm = dict((k, hosts[name]["vm"].get(k)) for k in PLACEMENT_KEYS if hosts[name]["vm"].get(k) is not None)
        key = (resolved[name], vm["name"])
        if key in claimed:
            errors.append("%s and %s both declare the VM %s on the vSphere endpoint %s: give each Photon host its "
                          "own vm_name (it defaults to the inventory name)" % (claimed[key], name, vm["name"], key[0]))
            continue
        claimed[key] = name
        vms.setdefault(resolved[name], []).append(vm)

    by_dest = {}
    for name in sorted(hosts):
        ova = (hosts[name].get("vm") or {}).get("ova") or {}
        if not ova.get("dest"):
            continue
        pair = (ova.get("src"), ova.get("checksum") or "")
        seen = by_dest.get(ova["dest"])
        if seen is None:
            by_dest[ova["dest"]] = (pair, name)
        elif seen[0] != pair:
            errors.append("%s and %s would download different OVAs (%s, %s) into the same cached file %s: give one of "
                          "them another vm_ova_cache_dir" % (seen[1], name, seen[0][0], pair[0], ova["dest"]))
    return {"errors": errors, "endpoint": resolved, "vms": vms}


# --- placement on one endpoint ---------------------------------------------------------------

def _candidates(vm, hosts):
    """Hosts that can run the VM: usable, in its datacenter (and cluster), seeing its datastore and networks."""
    out = []
    for h in hosts:
        if not h.get("usable", True) or h.get("datacenter") != vm.get("datacenter"):
            continue
        if vm.get("cluster") and h.get("cluster") != vm["cluster"]:
            continue
        if vm.get("datastore") and vm["datastore"] not in (h.get("datastores") or []):
            continue
        if any(n not in (h.get("networks") or []) for n in vm.get("networks") or []):
            continue
        out.append(h["name"])
    return out


def _needs(vm):
    parts = ["in datacenter %s" % vm.get("datacenter")]
    if vm.get("cluster"):
        parts.append("in cluster %s" % vm["cluster"])
    if vm.get("datastore"):
        parts.append("seeing datastore %s" % vm["datastore"])
    if vm.get("networks"):
        parts.append("with network %s" % ", ".join(sorted(vm["networks"])))
    return ", ".join(parts)


def _match(order, candidates):
    """A maximum matching of VMs to distinct hosts (augmenting paths); candidates in preference order."""
    owner = {}

    def assign(vm, seen):
        for host in candidates[vm]:
            if host not in owner:  # a free host first, in preference order
                owner[host] = vm
                return True
        for host in candidates[vm]:
            if host in seen:
                continue
            seen.add(host)
            if host not in owner or assign(owner[host], seen):
                owner[host] = vm
                return True
        return False

    for vm in order:
        assign(vm, set())
    return dict((vm, host) for host, vm in owner.items())


def plan(hosts, vms, endpoint="the endpoint"):
    """Choose the ESXi host of each VM of one endpoint.

    hosts: [{"name", "datacenter", "cluster" (or None), "usable" (connected, not in maintenance),
        "state" (why not usable), "datastores": [...], "networks": [...], "vms": number of VMs on it}]
    vms: [{"name", "datacenter" (resolved), "esxi_hostname", "cluster", "datastore", "networks": [target
        network names], "anti_affinity_group", "existing_host" (the host of the VM when it exists)}]

    Returns (placement, errors, warnings); placement: {vm name: {"esxi_hostname": host or None (the
    cluster chooses), "reason": text}}. Nothing is placed when there is an error.
    """
    by_name = dict((h["name"], h) for h in hosts)
    load = dict((h["name"], int(h.get("vms") or 0)) for h in hosts)
    placement, errors, warnings = {}, [], []
    free = []

    for vm in sorted(vms, key=lambda v: v["name"]):
        name, explicit, existing = vm["name"], vm.get("esxi_hostname") or "", vm.get("existing_host") or ""
        if existing:
            placement[name] = {"esxi_hostname": existing, "reason": "exists on %s (kept)" % existing}
            if explicit and explicit != existing:
                warnings.append("VM %s exists on %s, not on vm_esxi_hostname %s: it is not moved" % (name, existing, explicit))
            continue
        if explicit:
            host = by_name.get(explicit)
            if host is None or host.get("datacenter") != vm.get("datacenter"):
                errors.append("VM %s: the ESXi host %s (vm_esxi_hostname) is not in datacenter %s of %s (its hosts: %s)"
                              % (name, explicit, vm.get("datacenter"), endpoint,
                                 _names(h["name"] for h in hosts if h.get("datacenter") == vm.get("datacenter"))))
            elif not host.get("usable", True):
                errors.append("VM %s: the ESXi host %s (vm_esxi_hostname) cannot take a VM: %s"
                              % (name, explicit, host.get("state") or "not usable"))
            elif vm.get("cluster") and host.get("cluster") != vm["cluster"]:
                errors.append("VM %s: the ESXi host %s (vm_esxi_hostname) is not in cluster %s (vm_cluster)"
                              % (name, explicit, vm["cluster"]))
            else:
                placement[name] = {"esxi_hostname": explicit, "reason": "vm_esxi_hostname"}
                load[explicit] += 1
            continue
        free.append(vm)

    groups = {}
    for vm in vms:
        if vm.get("anti_affinity_group"):
            groups.setdefault(vm["anti_affinity_group"], []).append(vm)
    for group in sorted(groups):
        members = sorted(groups[group], key=lambda v: v["name"])
        taken = {}
        for vm in members:
            host = (placement.get(vm["name"]) or {}).get("esxi_hostname")
            if not host:
                continue
            if host in taken:
                if vm.get("existing_host") and (placement[taken[host]]["reason"].startswith("exists")):
                    warnings.append("VMs %s and %s of anti-affinity group %s already run on the same host %s: "
                                    "they are not moved" % (taken[host], vm["name"], group, host))
                else:
                    errors.append("anti-affinity group %s: VMs %s and %s are both placed on %s (vm_esxi_hostname "
                                  "or an existing VM); they must be on distinct hosts" % (group, taken[host], vm["name"], host))
            else:
                taken[host] = vm["name"]
        todo = [vm for vm in members if vm["name"] not in placement and vm in free]
        if not todo:
            continue
        candidates = {}
        for vm in todo:
            usable = [h for h in _candidates(vm, hosts) if h not in taken]
            candidates[vm["name"]] = sorted(usable, key=lambda h: (load[h], h))
        order = sorted(candidates, key=lambda n: (len(candidates[n]), n))
        matched = _match(order, candidates)
        missing = [n for n in order if n not in matched]
        if missing:
            qualify = sorted(set(h for n in candidates for h in candidates[n]))
            errors.append("anti-affinity group %s on %s cannot be met: %s need%s distinct ESXi hosts, %s; "
                          "qualifying hosts not yet taken by the group: %s%s (each VM needs a connected host, not in "
                          "maintenance, %s)"
                          % (group, endpoint, ", ".join(sorted(candidates)), "s" if len(candidates) == 1 else "",
                             "but only %d can be given one" % len(matched), _names(qualify),
                             ("; taken: %s" % ", ".join("%s by %s" % (h, v) for h, v in sorted(taken.items())))
                             if taken else "", "; ".join("%s %s" % (v["name"], _needs(v)) for v in todo)))
            continue
        for name in sorted(matched):
            placement[name] = {"esxi_hostname": matched[name], "reason": "anti-affinity group %s" % group}
            load[matched[name]] += 1

    for vm in free:
        if vm["name"] in placement or vm.get("anti_affinity_group"):
            continue
        if vm.get("cluster"):
            placement[vm["name"]] = {"esxi_hostname": None, "reason": "cluster %s chooses" % vm["cluster"]}
            continue
        candidates = sorted(_candidates(vm, hosts), key=lambda h: (load[h], h))
        if not candidates:
            errors.append("VM %s: no ESXi host of %s can take it (it needs one %s; hosts: %s)"
                          % (vm["name"], endpoint, _needs(vm),
                             "; ".join("%s%s" % (h["name"], "" if h.get("usable", True) else " (%s)" % h.get("state"))
                                       for h in sorted(hosts, key=lambda x: x["name"])) or "none"))
            continue
        placement[vm["name"]] = {"esxi_hostname": candidates[0], "reason": "least loaded"}
        load[candidates[0]] += 1

    if errors:
        return {}, errors, warnings
    return placement, errors, warnings
