"""A fleet: playbooks/vm.yml (the vm stage) for several Photon hosts against the simulator in vCenter mode.

What is real: ansible-playbook with playbooks/vm.yml and the role homelab.photon.vm, the fleet check
(filter homelab.photon.vm_fleet), homelab.photon.vsphere_placement and homelab.photon.ova_import, the
govmomi vSphere simulator in VPX mode (datacenter DC0: cluster DC0_C0 of three hosts and the standalone
host DC0_H0, datastore LocalDS_0, port group DC0_DVPG0), an HTTP server counting the OVA's downloads.
Stand-ins: the generated OVA (tests/lab/ova.py) for Photon's. No VM is powered on (vm_power_on: false):
the simulator runs no guest, and the first boot and login are proven in test_vm_role.py and the demo.
"""

import json
import os
import re
import subprocess
import sys

import pytest
import yaml

import ova  # tests/lab/ova.py (on sys.path through tests/integration/conftest.py)
from vmrole_helpers import ROOT, OvaServer, ansible_env, connect, find_vms, host_messages, module_counts, run_json, \
    stage_seconds, vsphere

GOOD = ("fleet-a", "fleet-b", "fleet-c")
CLUSTER_HOSTS = ("DC0_C0_H0", "DC0_C0_H1", "DC0_C0_H2")


@pytest.fixture(scope="module")
def sim():
    sim = vsphere.start_vcsim("vpx")
    try:
        yield sim
    finally:
        vsphere.stop_vcsim(sim)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    directory = str(tmp_path_factory.mktemp("fleet-ova"))
    info = ova.build(directory, size_mb=4, name="photon-lab")
    # A local OVA whose manifest does not match its disk: the import fails after its lease made the VM.
    info["corrupt"] = ova.build(str(tmp_path_factory.mktemp("fleet-corrupt")), size_mb=4, name="photon-bad",
                                corrupt_manifest=True)["path"]
    server = OvaServer(directory)
    info["url"] = server.url + "/photon-lab.ova"
    info["server"] = server
    try:
        yield info
    finally:
        server.close()


def inventory(tmp_path, sim, served, ssh_keypair, photon_hosts, endpoint_vars=None, photon_vars=None):
    endpoint = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                "vm_vsphere_hostname": sim.host, "vm_vsphere_port": sim.port, "vm_vsphere_username": sim.username,
                "vm_vsphere_password": sim.password, "vm_vsphere_validate_certs": False}
    endpoint.update(endpoint_vars or {})
    shared = {"vm_ova_src": served["url"], "vm_ova_checksum": "md5:" + served["md5"],
              "vm_ova_cache_dir": str(tmp_path / "cache"), "vm_datastore": "LocalDS_0",
              "vm_networks": {"None": "DC0_DVPG0"}, "vm_ssh_public_key": ssh_keypair[1], "vm_power_on": False}
    shared.update(photon_vars or {})
    doc = {"all": {"children": {
        "vsphere": {"hosts": {"vc": endpoint}},
        "photon": {"children": {"pihole": {"hosts": photon_hosts}}, "vars": shared}}}}
    path = tmp_path / "inventory.yml"
    path.write_text(yaml.safe_dump(doc))
    return str(path)


def vm_stage_argv(inventory_path, *extra):
    return [os.path.join(ROOT, ".venv", "bin", "ansible-playbook"), "-i", inventory_path,
            os.path.join(ROOT, "playbooks", "vm.yml")] + list(extra)


def run_vm_stage(tmp_path, inventory_path, *extra):
    argv = vm_stage_argv(inventory_path, *extra)
    return subprocess.run(argv, env=ansible_env(tmp_path), capture_output=True, text=True, timeout=900,
                          cwd=str(tmp_path), check=False)


def recap(stdout):
    out = {}
    for m in re.finditer(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", stdout, re.M):
        out[m.group(1)] = {"ok": int(m.group(2)), "changed": int(m.group(3)), "failed": int(m.group(5))}
    return out


def vms_by_name(si):
    out = {}
    for vm in find_vms(si):
        out[vm.name] = {"moid": vm._moId, "host": vm.runtime.host.name, "cpus": vm.config.hardware.numCPU,
                        "memory_mb": vm.config.hardware.memoryMB, "state": str(vm.runtime.powerState)}
    return out


FLEET = {
    # Primary and secondary of one anti-affinity group: a on the standalone host, b in the cluster
    # (the cluster's hosts are the only others); a with its own size.
    "fleet-a": {"vm_esxi_hostname": "DC0_H0", "vm_anti_affinity_group": "dns", "vm_num_cpus": 2, "vm_memory_mb": 1536},
    "fleet-b": {"vm_anti_affinity_group": "dns", "vm_cluster": "DC0_C0"},
    "fleet-c": {"vm_esxi_hostname": "DC0_H0"},
    # Its OVA is broken (a manifest mismatch found while its disk streams, after the lease made the VM).
    "fleet-bad": {"vm_esxi_hostname": "DC0_C0_H1", "vm_ova_checksum": ""},
}


def test_three_vms_two_hosts_one_download_one_failure(tmp_path, sim, served, ssh_keypair):
    hosts = json.loads(json.dumps(FLEET))
    hosts["fleet-bad"]["vm_ova_src"] = served["corrupt"]
    inv = inventory(tmp_path, sim, served, ssh_keypair, hosts)
    si = connect(sim)
    before = vms_by_name(si)
    served["server"].requests.clear()

    first = run_vm_stage(tmp_path, inv)
    out = first.stdout
    assert first.returncode != 0, out  # fleet-bad failed
    totals = recap(out)
    for name in GOOD:
        assert totals[name]["failed"] == 0 and totals[name]["changed"] >= 1, out
    assert totals["fleet-bad"]["failed"] == 1, out
    assert "homelab.photon.vm: importing fleet-bad failed: manifest mismatch for photon-bad-disk1.vmdk" in out, out
    # One download of the OVA the three VMs share, in one task run once; the failed VM's OVA is local.
    assert served["server"].requests == ["/photon-lab.ova"]
    assert os.listdir(str(tmp_path / "cache")) == ["photon-lab.ova"]

    after = vms_by_name(si)
    made = dict((k, v) for k, v in after.items() if k not in before)
    assert sorted(made) == list(GOOD)  # nothing of fleet-bad: its half-made VM was destroyed
    # Placement honoured, read back through the API: a and c where asked, b of a's group elsewhere,
    # in its cluster; three VMs on two ESXi hosts.
    assert made["fleet-a"]["host"] == "DC0_H0" and made["fleet-c"]["host"] == "DC0_H0"
    assert made["fleet-b"]["host"] in CLUSTER_HOSTS
    assert len(set(v["host"] for v in made.values())) == 2
    # The role reported where and why.
    assert re.search(r"fleet-b \(vm-\d+\)\s+on %s \(anti-affinity group dns\)" % made["fleet-b"]["host"], out), out
    assert re.search(r"fleet-a \(vm-\d+\)\s+on DC0_H0 \(vm_esxi_hostname\),\s+2 CPU, 1536 MB", out), out
    # Size: a's asked for, the others keep the OVA's (ova.py's descriptor: 1 CPU, 1024 MB... as read).
    assert (made["fleet-a"]["cpus"], made["fleet-a"]["memory_mb"]) == (2, 1536)
    ova_size = (made["fleet-c"]["cpus"], made["fleet-c"]["memory_mb"])
    assert ova_size != (2, 1536) and (made["fleet-b"]["cpus"], made["fleet-b"]["memory_mb"]) == ova_size
    assert all(v["state"] == "poweredOff" for v in made.values())
    assert sim.password not in out

    # A rerun changes nothing: no download, the same VMs on the same hosts; fleet-bad fails again, cleanly.
    again = run_vm_stage(tmp_path, inv)
    totals = recap(again.stdout)
    assert all(totals[name]["changed"] == 0 and totals[name]["failed"] == 0 for name in GOOD), again.stdout
    assert totals["fleet-bad"]["failed"] == 1
    assert re.search(r"fleet-b \(vm-\d+\)\s+on %s \(exists on %s \(kept\)\)" % ((made["fleet-b"]["host"],) * 2),
                     again.stdout), again.stdout
    assert served["server"].requests == ["/photon-lab.ova"]
    assert dict((k, v) for k, v in vms_by_name(si).items() if k not in before) == made

    # A new size for a powered-off VM: it takes the import's path (its OVA checked, ova_import reconfigures
    # it: one change); the others are already there as asked and take none of it.
    hosts["fleet-a"]["vm_memory_mb"] = 2048
    del hosts["fleet-bad"]
    inv = inventory(tmp_path, sim, served, ssh_keypair, hosts)
    resized, doc = run_json(tmp_path, vm_stage_argv(inv))
    assert resized.returncode == 0, resized.stdout
    assert {n: doc["stats"][n]["changed"] for n in GOOD} == {"fleet-a": 1, "fleet-b": 0, "fleet-c": 0}, resized.stdout
    assert module_counts(doc, host="fleet-a").get("homelab.photon.ova_import") == 1, module_counts(doc)
    assert [module_counts(doc, host=n).get("homelab.photon.ova_import") for n in ("fleet-b", "fleet-c")] == [None, None]
    now = vms_by_name(si)
    assert (now["fleet-a"]["cpus"], now["fleet-a"]["memory_mb"]) == (2, 2048)
    assert now["fleet-a"]["moid"] == made["fleet-a"]["moid"]

    # Converged: the plan (one module run for the endpoint) is the vm stage's only module run; no OVA
    # fetched or read, no import; each VM recorded from the plan, as the import returns it.
    again, doc = run_json(tmp_path, vm_stage_argv(inv))
    assert again.returncode == 0, again.stdout
    assert all(doc["stats"][n]["changed"] == 0 and doc["stats"][n]["failures"] == 0 for n in GOOD), doc["stats"]
    counts = module_counts(doc)
    print("converged vm stage, fleet of %d: module runs %s, %.2f s" % (len(GOOD), counts, stage_seconds(doc)))
    assert counts == {"homelab.photon.vsphere_placement": 1}, counts
    assert served["server"].requests == ["/photon-lab.ova"]
    for name in GOOD:
        shown = [m for m in host_messages(doc, name) if m.startswith(name + " (")]
        assert len(shown) == 1 and shown[0].startswith("%s (%s)" % (name, made[name]["moid"])), host_messages(doc, name)
        assert shown[0].endswith("already there: nothing to fetch, import, wait for or clean up"), shown
    assert "2 CPU, 2048 MB" in [m for m in host_messages(doc, "fleet-a") if m.startswith("fleet-a (")][0]


OLD_SHAPE_ENDPOINT = {"vm_name": "pihole01", "vm_ova_src": "https://example.invalid/photon.ova",
                      "vm_datastore": "LocalDS_0", "vm_group": "photon"}

BAD = {
    "same-name": ({"bad-x": {"vm_name": "bad-dup"}, "bad-y": {"vm_name": "bad-dup"}}, {}, {},
                  "bad-x and bad-y both declare the VM bad-dup on the vSphere endpoint vc"),
    "unknown-endpoint": ({"bad-ep": {"vm_vsphere_endpoint": "esxi99"}}, {}, {},
                         "bad-ep: vm_vsphere_endpoint esxi99 is not in the inventory (hosts of the group vsphere: vc)"),
    "group-too-big": (dict(("bad-g%d" % i, {"vm_anti_affinity_group": "big"}) for i in range(5)), {}, {},
                      "anti-affinity group big on 127.0.0.1:%(port)d cannot be met: bad-g0, bad-g1, bad-g2, bad-g3, "
                      "bad-g4 need distinct ESXi hosts, but only 4 can be given one"),
    "unknown-esxi-host": ({"bad-h": {"vm_esxi_hostname": "DC0_H9"}, "bad-ok": {}}, {}, {},
                          "VM bad-h: the ESXi host DC0_H9 (vm_esxi_hostname) is not in datacenter DC0 of "
                          "127.0.0.1:%(port)d (its hosts: DC0_C0_H0, DC0_C0_H1, DC0_C0_H2, DC0_H0)"),
    # Today's shape before this change: the VM in the endpoint's variables, nothing on the Photon host.
    "old-shape": ({"pihole01": {}}, OLD_SHAPE_ENDPOINT, {"vm_ova_src": None, "vm_datastore": None},
                  "the inventory is in the old shape: the vSphere endpoint vc defines the VM (vm_datastore, vm_name, "
                  "vm_ova_src); pihole01 lacks vm_datastore, vm_name, vm_ova_src. Now each Photon host carries its own VM"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_fleet_inputs_stop_before_anything(tmp_path, sim, served, ssh_keypair, case):
    hosts, endpoint_vars, photon_vars, message = BAD[case]
    shared = dict((k, v) for k, v in photon_vars.items() if v is not None)
    inv = inventory(tmp_path, sim, served, ssh_keypair, hosts, endpoint_vars, shared)
    if any(v is None for v in photon_vars.values()):  # the old shape: the Photon hosts lack these
        doc = yaml.safe_load(open(inv))
        for key, value in photon_vars.items():
            if value is None:
                doc["all"]["children"]["photon"]["vars"].pop(key, None)
        with open(inv, "w") as handle:
            yaml.safe_dump(doc, handle)
    si = connect(sim)
    before = sorted(vms_by_name(si))
    served["server"].requests.clear()
    result = run_vm_stage(tmp_path, inv)
    assert result.returncode != 0
    assert message % {"port": sim.port} in result.stdout, result.stdout
    totals = recap(result.stdout)
    # The check ran once for the play: its failure stops every host (the recap counts it on the first).
    assert sum(t["failed"] for t in totals.values()) == 1 and all(t["changed"] == 0 for t in totals.values()), \
        result.stdout
    assert "Download the OVAs" not in result.stdout and "TASK [homelab.photon.vm : Import the OVA" not in result.stdout
    assert sorted(vms_by_name(si)) == before  # no VM in the simulator afterwards
    assert served["server"].requests == []  # nothing downloaded
    assert not (tmp_path / "cache").exists()
    if case == "old-shape":
        assert "vc defines vm_group, which the vm role no longer reads" in result.stdout
        assert "keep only the connection (vm_vsphere_hostname" in result.stdout
