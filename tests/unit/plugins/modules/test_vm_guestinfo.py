# -*- coding: utf-8 -*-
"""Unit tests of the homelab.photon.vm_guestinfo module's flow: finding the VM, the ConfigSpec it
sends, check and diff mode, and what it reports. The vSphere connection is a small fake; the
simulator and the role run it for real in tests/integration/vm/test_vm_role.py."""

import json

import pytest
from pyVmomi import vim

from ansible.module_utils.testing import patch_module_args  # noqa: E402

from ansible_collections.homelab.photon.plugins.modules import vm_guestinfo  # noqa: E402

HASH = "$6$homelabsalt$" + "Ab1./" * 17 + "C"


class Named:
    def __init__(self, name):
        self.name = name


class FakeTask:
    class info:  # noqa: N801 (pyVmomi's shape)
        state = "success"
        result = None


class FakeVm(Named):
    def __init__(self, name, options, moid="vm-42"):
        super().__init__(name)
        self.options = [vim.option.OptionValue(key=k, value=v) for k, v in options]
        self._moId = moid
        self.specs = []

    def ReconfigVM_Task(self, spec):  # noqa: N802 (the vSphere method's name)
        self.specs.append(spec)
        for change in spec.extraConfig:
            self.options = [o for o in self.options if o.key.lower() != change.key.lower()]
            if change.value != "":
                self.options.append(change)
        return FakeTask()


class FakeConnection:
    instances = []
    inventory = {}

    def __init__(self, hostname, port, username, password, validate_certs):
        self.hostname = hostname
        self.args = (hostname, port, username, password, validate_certs)
        self.closed = False
        FakeConnection.instances.append(self)

    def objects(self, vimtype, root=None):
        if vimtype is vim.Datacenter:
            return [Named(n) for n in self.inventory]
        names = [root.name] if root is not None else list(self.inventory)
        return [vm for n in names for vm in self.inventory[n]]

    def properties(self, obj, paths):
        assert paths == ["config.extraConfig"]
        return {"config.extraConfig": list(obj.options)}

    def close(self):
        self.closed = True


@pytest.fixture
def inventory(monkeypatch):
    vm = FakeVm("photon-1", [("guestinfo.metadata", "meta"), ("guestinfo.metadata.encoding", "gzip+base64"),
                             ("guestinfo.userdata", "ud-" + HASH), ("guestinfo.userdata.encoding", "gzip+base64")])
    FakeConnection.instances = []
    FakeConnection.inventory = {"ha-datacenter": [vm], "lab": [FakeVm("other", []), FakeVm("twin", [])],
                                "lab2": [FakeVm("twin", [], moid="vm-7")]}
    monkeypatch.setattr(vm_guestinfo, "Connection", FakeConnection)
    return vm


ARGS = {"hostname": "esxi.lan", "username": "root", "password": "s3cret-pw", "validate_certs": False,
        "name": "photon-1", "keys": ["userdata", "userdata.*", "vendordata*"]}


def run_module(args, capsys, check=False, diff=False):
    extra = {}
    if check:
        extra["_ansible_check_mode"] = True
    if diff:
        extra["_ansible_diff"] = True
    with patch_module_args(dict(args, **extra)):
        with pytest.raises(SystemExit):
            vm_guestinfo.main()
    return json.loads(capsys.readouterr().out)


def test_removes_the_user_data_then_reports_ok(inventory, capsys):
    result = run_module(ARGS, capsys)
    assert result["changed"] is True
    assert result["removed"] == ["guestinfo.userdata", "guestinfo.userdata.encoding"]
    assert result["guestinfo_keys"] == ["guestinfo.metadata", "guestinfo.metadata.encoding"]
    assert result["vm"] == {"name": "photon-1", "moid": "vm-42"}
    assert "diff" not in result
    (spec,) = inventory.specs
    assert [(o.key, o.value) for o in spec.extraConfig] == [("guestinfo.userdata", ""),
                                                            ("guestinfo.userdata.encoding", "")]
    assert FakeConnection.instances[0].args == ("esxi.lan", 443, "root", "s3cret-pw", False)
    assert FakeConnection.instances[0].closed

    again = run_module(ARGS, capsys)
    assert again["changed"] is False and again["removed"] == []
    assert len(inventory.specs) == 1


def test_check_and_diff_mode(inventory, capsys):
    result = run_module(ARGS, capsys, check=True, diff=True)
    assert result["changed"] is True
    assert result["removed"] == ["guestinfo.userdata", "guestinfo.userdata.encoding"]
    assert inventory.specs == []
    assert result["diff"]["before"]["guestinfo.userdata"] == "(%d characters)" % len("ud-" + HASH)
    assert set(result["diff"]["after"]) == {"guestinfo.metadata", "guestinfo.metadata.encoding"}
    assert HASH not in json.dumps(result)


def test_the_password_is_never_printed(inventory, capsys):
    result = run_module(dict(ARGS, name="no-such-vm"), capsys)
    assert result["failed"] is True
    assert result["msg"] == "VM 'no-such-vm' not found on esxi.lan"
    assert "s3cret-pw" not in json.dumps(result)


def test_two_vms_of_one_name_need_the_datacenter(inventory, capsys):
    result = run_module(dict(ARGS, name="twin"), capsys)
    assert result["failed"] is True and "2 VMs are named 'twin' on esxi.lan: set datacenter" in result["msg"]
    result = run_module(dict(ARGS, name="twin", datacenter="lab2"), capsys)
    assert result["changed"] is False and result["vm"]["moid"] == "vm-7"
    result = run_module(dict(ARGS, datacenter="nowhere"), capsys)
    assert result["failed"] is True and result["msg"] == "datacenter 'nowhere' not found on esxi.lan"


def test_bad_key_names_fail_before_connecting(inventory, capsys):
    result = run_module(dict(ARGS, keys=["user data"]), capsys)
    assert result["failed"] is True and "guestinfo key 'user data'" in result["msg"]
    assert FakeConnection.instances == []
