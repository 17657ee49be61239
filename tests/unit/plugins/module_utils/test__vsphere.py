"""Unit tests of homelab.photon's private vSphere helpers that decide without a server."""

import pytest

from ansible_collections.homelab.photon.plugins.module_utils import _vsphere as v  # noqa: E402


class FakeLease:
    """States in order; `error` carries a fault like pyVmomi's (a .msg)."""

    def __init__(self, states, error=None):
        self.states = list(states)
        self.error = error
        self.info = "lease-info"
        self.reads = 0

    @property
    def state(self):
        self.reads += 1
        return self.states.pop(0) if len(self.states) > 1 else self.states[0]


class Fault(Exception):
    def __init__(self, msg):
        super().__init__(msg)
        self.msg = msg


def test_lease_ready_after_initializing():
    lease = FakeLease(["initializing", "initializing", "ready"])
    assert v.wait_for_lease(lease, poll=0) == "lease-info"
    assert lease.reads == 3


def test_lease_error_fails_at_once_with_the_fault():
    lease = FakeLease(["initializing", "error"], error=Fault("Insufficient disk space on datastore"))
    with pytest.raises(v.VsphereError, match="the import lease failed: Fault: Insufficient disk space"):
        v.wait_for_lease(lease, timeout=3600, poll=0)
    assert lease.reads == 2  # no waiting for the timeout


def test_lease_done_and_timeout():
    with pytest.raises(v.VsphereError, match="ended before the upload"):
        v.wait_for_lease(FakeLease(["done"]), poll=0)
    with pytest.raises(v.VsphereError, match="not ready within 0 s"):
        v.wait_for_lease(FakeLease(["initializing"]), timeout=0, poll=0)


def test_fault_message():
    assert v.fault_message(Fault("Login failure")) == "Fault: Login failure"
    assert v.fault_message(ValueError("x")) == "x"
    assert v.fault_message(ValueError()) == "ValueError"


def test_argument_spec_has_env_fallbacks_and_no_log():
    spec = v.vsphere_argument_spec()
    assert spec["password"]["no_log"] is True
    assert spec["hostname"]["fallback"][1] == ["VMWARE_HOST"]
    assert spec["validate_certs"]["default"] is True


def test_ssl_context():
    assert v.ssl_context(True).check_hostname is True
    assert v.ssl_context(False).verify_mode == v.ssl.CERT_NONE


class ProgressLease:
    def __init__(self, fail_after=None):
        self.calls = []
        self.fail_after = fail_after

    def HttpNfcLeaseProgress(self, percent):  # noqa: N802 (the vSphere method's name)
        if self.fail_after is not None and len(self.calls) >= self.fail_after:
            raise Fault("lease gone")
        self.calls.append(percent)


def _wait_until(predicate, limit=2000):
    import time
    for dummy in range(limit):
        if predicate():
            return True
        time.sleep(0.005)
    return False


def test_lease_progress_reports_from_a_thread_while_bytes_are_counted():
    lease = ProgressLease()
    with v.LeaseProgress(lease, total=1000, interval=0.01) as progress:
        assert lease.calls == [0]  # reported at once
        progress.add(250)
        assert _wait_until(lambda: 25 in lease.calls)
        progress.add(750)
        assert _wait_until(lambda: 99 in lease.calls)  # 100 is for the caller, once complete
    count = len(lease.calls)
    progress.report(100)
    assert lease.calls[-1] == 100 and len(lease.calls) == count + 1
    assert lease.calls == sorted(lease.calls)


def test_lease_progress_keeps_the_first_error_and_stops():
    lease = ProgressLease(fail_after=1)
    with v.LeaseProgress(lease, total=10, interval=0.01) as progress:
        assert _wait_until(lambda: progress.error is not None)
    assert str(progress.error) == "lease gone" and lease.calls == [0]
    assert v.LeaseProgress(lease, total=0).percent() == 100


class Nic:
    def __init__(self, addresses):
        self.ipAddress = addresses


def test_vm_facts_shape_and_addresses():
    """The one builder of a VM's facts (ova_import's `vm`, vsphere_placement's `placement[].vm`)."""
    props = {"name": "pihole01", "config.uuid": "4216", "config.version": "vmx-11", "config.guestId": "vmwarePhoton64Guest",
             "runtime.powerState": "poweredOn", "guest.ipAddress": "192.168.1.50",
             "guest.net": [Nic(["fe80::1", "192.168.1.50"]), Nic(None), Nic(["10.0.0.5", "fe80::1"])],
             "config.hardware.numCPU": 2, "config.hardware.memoryMB": 2048}
    assert v.vm_facts("vm-42", props, "esxi01.lan") == {
        "name": "pihole01", "moid": "vm-42", "uuid": "4216", "hw_version": "vmx-11", "guest_id": "vmwarePhoton64Guest",
        "power_state": "poweredOn", "ip_addresses": ["fe80::1", "192.168.1.50", "10.0.0.5"],
        "esxi_hostname": "esxi01.lan", "hardware": {"num_cpus": 2, "memory_mb": 2048}}
    # Unset properties (a VM without Tools, no host): empty values, the same keys.
    bare = v.vm_facts("vm-7", {"name": "x", "runtime.powerState": "poweredOff"}, None)
    assert bare["ip_addresses"] == [] and bare["esxi_hostname"] is None and bare["power_state"] == "poweredOff"
    assert bare["hardware"] == {"num_cpus": None, "memory_mb": None}
    assert set(bare) == set(v.vm_facts("vm-42", props, "esxi01.lan"))
    assert set(v.VM_FACT_PATHS) >= set(k for k in props)
    assert v.vm_facts("vm-42", dict(props, **{"guest.net": []}), "h")["ip_addresses"] == ["192.168.1.50"]
