"""Unit tests of the fleet check and the placement planner (plugins/module_utils/_placement.py)."""

import pytest

from ansible_collections.homelab.photon.plugins.module_utils._placement import fleet, migration_errors, plan

from ansible_collections.homelab.photon.plugins.filter.vm_fleet import vm_fleet


# --- fleet: the inventory's shape, endpoints, names ----------------------------------------------

def vm(name, endpoint="", src="https://lab/photon.ova", checksum="md5:aa", dest="/c/photon.ova", **extra):
    out = {"name": name, "endpoint": endpoint, "ova": {"src": src, "checksum": checksum, "dest": dest},
           "datacenter": "", "esxi_hostname": "", "cluster": "", "datastore": "", "networks": [],
           "anti_affinity_group": ""}
    out.update(extra)
    return out


NEW_SHAPE_VARS = ("vm_ova_src", "vm_ova_checksum", "vm_networks", "vm_network", "vm_ssh_public_key")
ENDPOINT = {"vars": ["vm_vsphere_hostname", "vm_vsphere_username", "vm_vsphere_password"],
            "hostname": "esx.lan", "username": "root", "password_set": True}


def host(name, vars_=NEW_SHAPE_VARS, **extra):
    return {"vars": list(vars_), "vm": vm(name, **extra)}


def test_new_shape_one_endpoint_is_the_default():
    result = fleet({"pihole01": host("pihole01"), "pihole02": host("pihole02")}, {"esxi01": ENDPOINT}, "vsphere",
                   ["esxi01", "pihole01", "pihole02"])
    assert result["errors"] == []
    assert result["endpoint"] == {"pihole01": "esxi01", "pihole02": "esxi01"}
    assert [v["name"] for v in result["vms"]["esxi01"]] == ["pihole01", "pihole02"]
    # Only what homelab.photon.vsphere_placement takes.
    assert set(result["vms"]["esxi01"][0]) == {"name", "datacenter", "esxi_hostname", "cluster", "datastore",
                                               "networks", "anti_affinity_group"}


def test_old_shape_vm_on_the_endpoint_says_how_to_move():
    old_endpoint = dict(ENDPOINT, vars=ENDPOINT["vars"] + ["vm_name", "vm_ova_src", "vm_ova_checksum", "vm_datastore",
                                                           "vm_networks", "vm_network", "vm_group"])
    result = fleet({"pihole01": host("pihole01", vars_=[])}, {"esxi01": old_endpoint}, "vsphere", ["esxi01", "pihole01"])
    text = " | ".join(result["errors"])
    assert "the inventory is in the old shape: the vSphere endpoint esxi01 defines the VM (vm_datastore, vm_name, " \
           "vm_network, vm_networks, vm_ova_checksum, vm_ova_src)" in text
    assert "pihole01 lacks vm_datastore, vm_name, vm_network, vm_networks, vm_ova_checksum, vm_ova_src" in text
    assert "put the VM's variables on the Photon host (host_vars/HOST.yml, or group_vars/photon.yml" in text
    assert "keep only the connection (vm_vsphere_hostname, vm_vsphere_port, vm_vsphere_username, vm_vsphere_password, " \
           "vm_vsphere_validate_certs) on the vSphere endpoint" in text
    assert "esxi01 defines vm_group, which the vm role no longer reads" in text
    assert "vm_group -> the Photon host's own groups in the inventory" in text


def test_old_shape_without_vm_name_photon_host_lacks_the_vm():
    endpoint = dict(ENDPOINT, vars=ENDPOINT["vars"] + ["vm_ova_src"])
    errors = migration_errors({"p1": {"endpoint": "e", "vars": []}}, {"e": endpoint})
    assert len(errors) == 1 and "p1 lacks vm_ova_src" in errors[0]


def test_shared_variables_in_group_vars_all_are_not_the_old_shape():
    # group_vars/all gives the endpoint and the Photon host the same variable: the host has it.
    endpoint = dict(ENDPOINT, vars=ENDPOINT["vars"] + ["vm_ssh_public_key_file"])
    assert migration_errors({"p1": {"endpoint": "e", "vars": ["vm_ssh_public_key_file", "vm_ova_src"]}},
                            {"e": endpoint}) == []


def test_connection_on_the_photon_host_belongs_to_the_endpoint():
    errors = migration_errors({"p1": {"endpoint": "e", "vars": ["vm_ova_src", "vm_vsphere_password"]}},
                              {"e": {"vars": ["vm_vsphere_hostname"]}})
    assert errors == ["p1 defines vm_vsphere_password, which belong to its vSphere endpoint e (credentials stay per "
                      "endpoint): move them to group_vars/vsphere.yml or host_vars/e.yml"]


def test_removed_variables_name_their_replacement():
    errors = migration_errors({"p1": {"endpoint": "e", "vars": ["vm_ova_src", "vm_ssh_private_key_file"]}},
                              {"e": {"vars": []}})
    assert errors == ["p1 defines vm_ssh_private_key_file, which the vm role no longer reads (the Photon hosts are in "
                      "the inventory, no host is added): set vm_ssh_private_key_file -> ansible_ssh_private_key_file "
                      "on the Photon host instead"]


@pytest.mark.parametrize("endpoints,wanted,message", [
    ({}, "", "p1: the inventory's group vsphere has no host"),
    ({"a": ENDPOINT, "b": ENDPOINT}, "", "p1: set vm_vsphere_endpoint, the group vsphere has several hosts (a, b)"),
    ({"a": ENDPOINT}, "nas", "p1: vm_vsphere_endpoint nas is not a host of the group vsphere (its hosts: a)"),
    ({"a": ENDPOINT}, "esxi9", "p1: vm_vsphere_endpoint esxi9 is not in the inventory (hosts of the group vsphere: a)"),
])
def test_endpoint_resolution_errors(endpoints, wanted, message):
    result = fleet({"p1": host("p1", endpoint=wanted)}, endpoints, "vsphere", ["p1", "nas"] + list(endpoints))
    assert result["errors"] == [message + (": add the ESXi host or vCenter (with vm_vsphere_hostname, "
                                           "vm_vsphere_username, vm_vsphere_password) to it" if not endpoints else "")]
    assert result["endpoint"] == {}


def test_explicit_endpoint_among_several():
    result = fleet({"p1": host("p1", endpoint="b"), "p2": host("p2", endpoint="a")}, {"a": ENDPOINT, "b": ENDPOINT},
                   "vsphere", ["a", "b", "p1", "p2"])
    assert result["errors"] == [] and result["endpoint"] == {"p1": "b", "p2": "a"}
    assert sorted(result["vms"]) == ["a", "b"]


def test_same_vm_name_twice_on_one_endpoint_but_not_on_two():
    hosts = {"p1": host("p1"), "p2": host("p2")}
    hosts["p1"]["vm"]["name"] = hosts["p2"]["vm"]["name"] = "pihole"
    result = fleet(hosts, {"a": ENDPOINT}, "vsphere", ["a", "p1", "p2"])
    assert result["errors"] == ["p1 and p2 both declare the VM pihole on the vSphere endpoint a: give each Photon host "
                                "its own vm_name (it defaults to the inventory name)"]
    hosts["p1"]["vm"]["endpoint"], hosts["p2"]["vm"]["endpoint"] = "a", "b"
    result = fleet(hosts, {"a": ENDPOINT, "b": ENDPOINT}, "vsphere", ["a", "b", "p1", "p2"])
    assert result["errors"] == []


def test_endpoint_without_its_connection():
    result = fleet({"p1": host("p1")}, {"e": {"vars": [], "hostname": "", "username": "root", "password_set": False}},
                   "vsphere", ["e", "p1"])
    assert result["errors"] == ["the vSphere endpoint e has no vm_vsphere_hostname, vm_vsphere_password: set them in "
                                "its variables (group_vars/vsphere.yml or host_vars/e.yml)"]


def test_two_ovas_in_one_cached_file_and_one_ova_shared():
    hosts = {"p1": host("p1"), "p2": host("p2"), "p3": host("p3", src="https://other/photon.ova", checksum="md5:bb")}
    result = fleet(hosts, {"e": ENDPOINT}, "vsphere", ["e", "p1", "p2", "p3"])
    assert result["errors"] == ["p1 and p3 would download different OVAs (https://lab/photon.ova, https://other/photon.ova) "
                                "into the same cached file /c/photon.ova: give one of them another vm_ova_cache_dir"]
    hosts["p3"]["vm"]["ova"]["dest"] = "/d/photon.ova"
    assert fleet(hosts, {"e": ENDPOINT}, "vsphere", ["e", "p1", "p2", "p3"])["errors"] == []


def test_filter_takes_ansible_mappings():
    data = {"hosts": {"p1": host("p1")}, "endpoints": {"e": ENDPOINT}, "group": "vsphere", "inventory_hosts": ["e", "p1"]}
    assert vm_fleet(data)["endpoint"] == {"p1": "e"}


# --- plan: hosts of one endpoint --------------------------------------------------------------

def esx(name, cluster=None, vms=0, usable=True, state="connected", datastores=("ds1",), networks=("VM Network",),
        datacenter="DC0"):
    return {"name": name, "datacenter": datacenter, "cluster": cluster, "usable": usable, "state": state,
            "datastores": list(datastores), "networks": list(networks), "vms": vms}


def want(name, group="", esxi="", cluster="", existing=None, datastore="", networks=(), datacenter="DC0"):
    return {"name": name, "datacenter": datacenter, "esxi_hostname": esxi, "cluster": cluster, "datastore": datastore,
            "networks": list(networks), "anti_affinity_group": group, "existing_host": existing}


def hosts_of(placement):
    return dict((k, v["esxi_hostname"]) for k, v in placement.items())


def test_group_goes_to_distinct_hosts_least_loaded_first():
    hosts = [esx("h1", vms=3), esx("h2", vms=0), esx("h3", vms=1)]
    placement, errors, warnings = plan(hosts, [want("a", "dns"), want("b", "dns")])
    assert errors == [] and warnings == []
    assert hosts_of(placement) == {"a": "h2", "b": "h3"}
    assert placement["a"]["reason"] == "anti-affinity group dns"


def test_existing_vm_keeps_its_host_and_the_group_avoids_it():
    hosts = [esx("h1"), esx("h2", vms=5)]
    placement, errors, _warnings = plan(hosts, [want("a", "dns", existing="h1"), want("b", "dns")])
    assert errors == [] and hosts_of(placement) == {"a": "h1", "b": "h2"}
    assert placement["a"]["reason"] == "exists on h1 (kept)"


def test_rerun_plans_the_same():
    hosts = [esx("h1"), esx("h2"), esx("h3")]
    first, _errors, _warnings = plan(hosts, [want("a", "dns"), want("b", "dns"), want("c")])
    existing = [want(n, "dns" if n != "c" else "", existing=h) for n, h in hosts_of(first).items()]
    again, errors, _warnings = plan(hosts, existing)
    assert errors == [] and hosts_of(again) == hosts_of(first)


def test_explicit_host_honoured_and_counted_in_the_group():
    hosts = [esx("h1"), esx("h2")]
    placement, errors, _warnings = plan(hosts, [want("a", "dns", esxi="h2"), want("b", "dns")])
    assert errors == [] and hosts_of(placement) == {"a": "h2", "b": "h1"}


def test_explicit_host_unknown_or_in_maintenance_or_outside_the_cluster():
    hosts = [esx("h1", cluster="C1"), esx("h2", usable=False, state="in maintenance mode")]
    _placement, errors, _warnings = plan(hosts, [want("a", esxi="nope")], endpoint="vc:443")
    assert errors == ["VM a: the ESXi host nope (vm_esxi_hostname) is not in datacenter DC0 of vc:443 (its hosts: h1, h2)"]
    _placement, errors, _warnings = plan(hosts, [want("a", esxi="h2")])
    assert errors == ["VM a: the ESXi host h2 (vm_esxi_hostname) cannot take a VM: in maintenance mode"]
    _placement, errors, _warnings = plan(hosts + [esx("h3")], [want("a", esxi="h3", cluster="C1")])
    assert errors == ["VM a: the ESXi host h3 (vm_esxi_hostname) is not in cluster C1 (vm_cluster)"]


def test_group_larger_than_the_qualifying_hosts_cannot_be_met():
    hosts = [esx("h1"), esx("h2", datastores=["other"]), esx("h3", usable=False, state="disconnected")]
    placement, errors, _warnings = plan(hosts, [want("a", "dns", datastore="ds1"), want("b", "dns", datastore="ds1")],
                                        endpoint="vc:443")
    assert placement == {}
    assert len(errors) == 1
    assert errors[0].startswith("anti-affinity group dns on vc:443 cannot be met: a, b need distinct ESXi hosts, "
                                "but only 1 can be given one; qualifying hosts not yet taken by the group: h1")
    assert "a in datacenter DC0, seeing datastore ds1" in errors[0]


def test_two_explicit_members_on_one_host_is_an_error_two_existing_a_warning():
    hosts = [esx("h1"), esx("h2")]
    _placement, errors, _warnings = plan(hosts, [want("a", "dns", esxi="h1"), want("b", "dns", esxi="h1")])
    assert errors == ["anti-affinity group dns: VMs a and b are both placed on h1 (vm_esxi_hostname or an existing VM); "
                      "they must be on distinct hosts"]
    placement, errors, warnings = plan(hosts, [want("a", "dns", existing="h1"), want("b", "dns", existing="h1")])
    assert errors == [] and hosts_of(placement) == {"a": "h1", "b": "h1"}
    assert warnings == ["VMs a and b of anti-affinity group dns already run on the same host h1: they are not moved"]


def test_existing_vm_elsewhere_than_asked_is_not_moved():
    placement, errors, warnings = plan([esx("h1"), esx("h2")], [want("a", esxi="h2", existing="h1")])
    assert errors == [] and hosts_of(placement) == {"a": "h1"}
    assert warnings == ["VM a exists on h1, not on vm_esxi_hostname h2: it is not moved"]


def test_matching_finds_the_assignment_greedy_order_would_miss():
    # a can use h1 or h2, b only h1: a must take h2.
    hosts = [esx("h1", networks=["n1", "n2"]), esx("h2", networks=["n1"])]
    placement, errors, _warnings = plan(hosts, [want("a", "g", networks=["n1"]), want("b", "g", networks=["n2"])])
    assert errors == [] and hosts_of(placement) == {"a": "h2", "b": "h1"}


def test_cluster_chooses_without_a_group_and_group_stays_in_the_cluster():
    hosts = [esx("h0"), esx("c1", cluster="C"), esx("c2", cluster="C")]
    placement, errors, _warnings = plan(hosts, [want("x", cluster="C"), want("a", "g", cluster="C"), want("b", "g", cluster="C")])
    assert errors == []
    assert hosts_of(placement) == {"x": None, "a": "c1", "b": "c2"}
    assert placement["x"]["reason"] == "cluster C chooses"


def test_ungrouped_vm_least_loaded_and_none_qualifies():
    hosts = [esx("h1", vms=2), esx("h2", vms=1)]
    placement, errors, _warnings = plan(hosts, [want("x"), want("y")])
    assert errors == [] and hosts_of(placement) == {"x": "h2", "y": "h1"}
    _placement, errors, _warnings = plan(hosts, [want("z", datastore="nope")], endpoint="esx:443")
    assert errors == ["VM z: no ESXi host of esx:443 can take it (it needs one in datacenter DC0, seeing datastore nope; "
                      "hosts: h1; h2)"]


def test_other_datacenter_hosts_do_not_qualify():
    hosts = [esx("h1", datacenter="DC1"), esx("h2")]
    placement, errors, _warnings = plan(hosts, [want("a", "g"), want("b", "g", datacenter="DC1")])
    assert errors == [] and hosts_of(placement) == {"a": "h2", "b": "h1"}
