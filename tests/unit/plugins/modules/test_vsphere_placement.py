# -*- coding: utf-8 -*-
"""Unit tests of homelab.photon.vsphere_placement's reading of the VMs of the play: datacenters
resolved, existing VMs found, and what is returned of them (ova_import's facts, the guestinfo keys
left, names only). The connection is a small fake; tests/integration/vm runs the module on the
simulator."""

from pyVmomi import vim

from ansible_collections.homelab.photon.plugins.module_utils._guestinfo import key_patterns
from ansible_collections.homelab.photon.plugins.modules import vsphere_placement as vp

FIRSTBOOT = key_patterns(["userdata", "userdata.*", "vendordata", "vendordata.*"])


class FakeVm:
    def __init__(self, moid):
        self._moId = moid


class FakeConn:
    def __init__(self, props):
        self.props = props
        self.asked = []

    def properties_of(self, objs, paths):
        self.asked.append(([o._moId for o in objs], tuple(paths)))
        return dict((o._moId, self.props[o._moId]) for o in objs)


def vm(name, datacenter=""):
    return {"name": name, "datacenter": datacenter, "esxi_hostname": "", "cluster": "", "datastore": "",
            "networks": [], "anti_affinity_group": ""}


def test_resolve_datacenters_and_existing_vms():
    one = FakeVm("vm-1")
    existing = {"DC0": {"a": (one, "esxi01")}}
    vms, errors = vp.resolve([vm("a"), vm("b")], existing, ["DC0"], "vc:443")
    assert errors == []
    assert [(v["name"], v["datacenter"], v["existing_host"], v["existing"]) for v in vms] == [
        ("a", "DC0", "esxi01", one), ("b", "DC0", None, None)]
    vms, errors = vp.resolve([vm("a"), vm("c", "DC9")], existing, ["DC0", "DC1"], "vc:443")
    assert errors == ["VM a: vc:443 has 2 datacenters (DC0, DC1): set vm_datacenter",
                      "VM c: datacenter DC9 not found on vc:443 (datacenters: DC0, DC1)"]


def test_read_existing_returns_the_facts_and_the_first_boot_keys_left():
    options = [vim.option.OptionValue(key=k, value="secret-value") for k in
               ("guestinfo.metadata", "guestinfo.userdata", "guestinfo.UserData.encoding", "guestinfo.vendordata",
                "guestinfo.hostname", "svga.present")]
    conn = FakeConn({"vm-1": {"name": "a", "runtime.powerState": "poweredOn", "config.hardware.numCPU": 2,
                              "config.hardware.memoryMB": 2048, "config.extraConfig": options},
                     "vm-2": {"name": "c", "runtime.powerState": "poweredOff"}})
    vms, _errors = vp.resolve([vm("a"), vm("b"), vm("c")],
                              {"DC0": {"a": (FakeVm("vm-1"), "esxi01"), "c": (FakeVm("vm-2"), None)}}, ["DC0"], "vc")
    known = vp.read_existing(conn, vms, FIRSTBOOT)
    assert sorted(known) == ["a", "c"]  # b does not exist
    facts, keys = known["a"]
    assert facts["moid"] == "vm-1" and facts["power_state"] == "poweredOn" and facts["esxi_hostname"] == "esxi01"
    assert facts["hardware"] == {"num_cpus": 2, "memory_mb": 2048}
    assert keys == ["guestinfo.userdata", "guestinfo.UserData.encoding", "guestinfo.vendordata"]
    assert "secret-value" not in repr(known)  # names only
    assert known["c"][1] == [] and known["c"][0]["power_state"] == "poweredOff"
    # One round trip for the VMs of the play that exist, with their extraConfig.
    assert conn.asked == [(["vm-1", "vm-2"], vp.VM_FACT_PATHS + ("config.extraConfig",))]


def test_read_existing_without_keys_reads_no_extra_config():
    conn = FakeConn({"vm-1": {"name": "a"}})
    vms, _errors = vp.resolve([vm("a")], {"DC0": {"a": (FakeVm("vm-1"), "h")}}, ["DC0"], "vc")
    assert vp.read_existing(conn, vms, [])["a"][1] == []
    assert conn.asked == [(["vm-1"], vp.VM_FACT_PATHS)]
    assert vp.read_existing(FakeConn({}), vp.resolve([vm("b")], {}, ["DC0"], "vc")[0], FIRSTBOOT) == {}
