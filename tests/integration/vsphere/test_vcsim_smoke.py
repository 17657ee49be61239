"""Smoke test of the lab's vSphere simulator: pyvmomi imports a generated 8 MB OVA and the
launcher's log shows exactly the disk's bytes arriving; a truncated disk is reported as an error.

The upload code here is deliberately tiny and independent of the ova_import module: it proves
the lab (launcher, OVA generator, log) before the module is tested on it.
"""

import http.client
import os
import ssl
import tarfile
import time

import pytest
from pyVim.connect import Disconnect, SmartConnect
from pyVmomi import vim

import ova  # tests/lab/ova.py (conftest puts tests/lab on sys.path)


class UploadError(Exception):
    pass


def _connect(sim):
    ctx = ssl._create_unverified_context()  # the simulator's certificate is self-signed
    return SmartConnect(host=sim.host, port=sim.port, user=sim.username, pwd=sim.password,
                        sslContext=ctx)


def _first(content, kind):
    view = content.viewManager.CreateContainerView(content.rootFolder, [kind], True)
    try:
        return view.view[0]
    finally:
        view.DestroyView()


def _vm_names(content):
    view = content.viewManager.CreateContainerView(content.rootFolder, [vim.VirtualMachine], True)
    try:
        return sorted(vm.name for vm in view.view)
    finally:
        view.DestroyView()


def _import(sim, si, info, name):
    """CreateImportSpec + ImportVApp + upload of the disk read from the OVA; returns the VM."""
    content = si.RetrieveContent()
    with tarfile.open(info["path"]) as tar:
        first = tar.next()  # the .ovf comes first in an OVA
        descriptor = tar.extractfile(first).read().decode()
    datacenter = _first(content, vim.Datacenter)
    datastore = _first(content, vim.Datastore)  # container view: see tests/lab/vcsim/main.go
    host = _first(content, vim.HostSystem)
    pool = host.parent.resourcePool
    network = _first(content, vim.Network)
    params = vim.OvfManager.CreateImportSpecParams(
        entityName=name, diskProvisioning="thin",
        networkMapping=[vim.OvfManager.NetworkMapping(name="None", network=network)])
    result = content.ovfManager.CreateImportSpec(descriptor, pool, datastore, params)
    assert not result.error, result.error
    lease = pool.ImportVApp(result.importSpec, datacenter.vmFolder, host)
    while lease.state == vim.HttpNfcLease.State.initializing:
        time.sleep(0.05)
    assert lease.state == vim.HttpNfcLease.State.ready, lease.error
    try:
        item = result.fileItem[0]
        device = [d for d in lease.info.deviceUrl if d.importKey == item.deviceId][0]
        url = device.url.replace("*", "%s:%d" % (sim.host, sim.port))
        _upload(url, info["path"], info["disk"], item.size, lease)
    except Exception:
        lease.HttpNfcLeaseAbort()
        raise
    vm = lease.info.entity
    lease.HttpNfcLeaseComplete()
    return vm


def _upload(url, ova_path, member, size, lease):
    """POST `size` bytes of the tar member to the device URL; fail when fewer are there."""
    hostport = url.split("//", 1)[1].split("/", 1)[0]
    path = "/" + url.split("//", 1)[1].split("/", 1)[1]
    conn = http.client.HTTPSConnection(hostport, context=ssl._create_unverified_context())
    sent = 0
    with tarfile.open(ova_path) as tar:
        entry = tar.next()
        while entry is not None and entry.name != member:
            entry = tar.next()  # headers are read in order: a truncated tail is not reached
        if entry is None:
            raise UploadError("%s: not in the OVA" % member)
        src = tar.extractfile(entry)
        conn.putrequest("POST", path)
        conn.putheader("Content-Type", "application/x-vnd.vmware-streamVmdk")
        conn.putheader("Content-Length", str(size))
        conn.endheaders()
        while sent < size:
            try:
                chunk = src.read(min(1 << 20, size - sent))
            except tarfile.ReadError:
                chunk = b""
            if not chunk:
                conn.close()
                raise UploadError("%s: the OVA ends after %d of %d bytes" % (member, sent, size))
            conn.send(chunk)
            sent += len(chunk)
            lease.HttpNfcLeaseProgress(int(100 * sent / size))
    response = conn.getresponse()
    response.read()
    conn.close()
    if response.status != 200:
        raise UploadError("%s: HTTP %d" % (member, response.status))


def assert_disk_arrived(sim, disk_bytes):
    """The smoke test's check: one NFC upload, and it carried exactly the disk's bytes."""
    lines = sim.wait_for_nfc_lines(1)
    assert len(lines) == 1, lines
    assert lines[0][2] == "transferred %d bytes" % disk_bytes, lines


def test_import_8mb_ova(vcsim, tmp_path):
    info = ova.build(str(tmp_path), size_mb=8)
    assert info["disk_bytes"] >= 8 * 1024 * 1024  # random fill: the VMDK carries the 8 MiB
    si = _connect(vcsim)
    try:
        vm = _import(vcsim, si, info, "smoke-%s" % vcsim.mode)
        assert_disk_arrived(vcsim, info["disk_bytes"])
        assert vm.config.version == "vmx-11"
        assert vm.config.guestId == "vmwarePhoton64Guest"
        kinds = sorted(type(d).__name__ for d in vm.config.hardware.device
                       if isinstance(d, (vim.vm.device.ParaVirtualSCSIController,
                                         vim.vm.device.VirtualVmxnet3, vim.vm.device.VirtualDisk)))
        assert kinds == ["vim.vm.device.ParaVirtualSCSIController", "vim.vm.device.VirtualDisk",
                         "vim.vm.device.VirtualVmxnet3"]
    finally:
        Disconnect(si)


def test_truncated_disk_is_an_error(vcsim_esx, tmp_path):
    # The tar is cut in the middle of the disk: the upload must fail, and the smoke test's own
    # check must reject what the simulator logged (proof that the smoke test can fail).
    full = ova.build(str(tmp_path / "full"), size_mb=8)
    members = dict((n, (off, size)) for n, off, size in ova.tar_members(full["path"]))
    offset, size = members[full["disk"]]
    info = ova.build(str(tmp_path / "cut"), size_mb=8, truncate_to=offset + size // 2)
    si = _connect(vcsim_esx)
    try:
        before = _vm_names(si.RetrieveContent())
        with pytest.raises(UploadError, match=full["disk"]):
            _import(vcsim_esx, si, info, "smoke-truncated")
        lines = vcsim_esx.wait_for_nfc_lines(1)
        assert lines and "transferred %d bytes" % info["disk_bytes"] not in [line[2] for line in lines]
        with pytest.raises(AssertionError):
            assert_disk_arrived(vcsim_esx, info["disk_bytes"])
        # The simulator's Abort leaves the VM behind (LAB.md); the module must destroy it.
        assert "smoke-truncated" in _vm_names(si.RetrieveContent())
        assert "smoke-truncated" not in before
    finally:
        Disconnect(si)
    assert os.path.exists(vcsim_esx.log_path)
