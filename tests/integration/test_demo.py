"""The main job on the embedded lab, as `make demo` runs it: playbooks/site.yml with
inventories/lab/, from the OVA import into the simulator (ESXi mode) to the real Pi-hole answering
DNS on the Photon lab host; the second run changes nothing; demo-clean leaves nothing behind.

Stand-ins (tests/lab/demo.py says what each stands in for): the simulator for ESXi, the generated
OVA for photon-hw11, the Photon lab host for the VM's guest, the lab's small internet for Pi-hole's
upstream and block-list server.
"""

import json
import os
import re
import subprocess
import sys

import pytest

import labhost

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                                "tests", "output", "collections"))

from ansible_collections.homelab.photon.plugins.module_utils import _dnsquery  # noqa: E402


def ask(name, server="172.30.99.150"):
    """The A records SERVER:53 answers for NAME, asked from the controller over UDP."""
    query_id = 0x4c61
    reply = _dnsquery.exchange(server, 53, "udp", _dnsquery.build_query(query_id, name), 5.0)
    return _dnsquery.addresses(_dnsquery.parse_response(reply, query_id), "A")


@pytest.fixture(scope="module")
def demo(repo_root):
    bin_dir = os.path.join(repo_root, "tests", "lab", "bin")
    subprocess.run([os.path.join(bin_dir, "demo-clean")], check=True, capture_output=True)
    try:
        yield lambda: subprocess.run([os.path.join(bin_dir, "demo")], capture_output=True, text=True,
                                     timeout=900, check=False)
    finally:
        subprocess.run([os.path.join(bin_dir, "demo-clean")], check=True, capture_output=True)


def last_run(repo_root):
    with open(os.path.join(repo_root, "tests", "lab", ".cache", "demo", "last-run.json")) as handle:
        return json.load(handle)


def test_demo_twice_then_clean(repo_root, demo):
    first = demo()
    assert first.returncode == 0, first.stdout[-6000:] + first.stderr
    out = first.stdout
    # Every stage ran for real on this run.
    for task in ("Import the OVA, with user-data and meta-data as guestinfo, and power it on",
                 "Arm the rollback", "Confirm the change (cancels the rollback)",
                 "Set up systemd-resolved", "Enable and start docker.service",
                 "Deploy the project and wait until Pi-hole is healthy"):
        assert re.search(r"TASK \[[^\]]*%s[^\]]*\] \*+\nchanged: " % re.escape(task), out), task
    # The summary: the VM's facts, the host's address, the admin URL and a DNS answer through it.
    assert "VM: photon-lab (vm-" in out and "vmx-11, vmwarePhoton64Guest, poweredOn" in out
    assert "Host: 172.30.99.150" in out
    assert "Pi-hole admin: http://172.30.99.150/admin/" in out
    # pi.hole is the host's own LAN address, not the container's bridge address.
    assert re.search(r"DNS: pi\.hole -> 172\.30\.99\.150 \(NOERROR from 172\.30\.99\.150#53\)", out), out[-3000:]
    assert "lab-demo-Pw-41c7" not in out  # the lab's web password is never printed
    recap = last_run(repo_root)["recap"]
    # The vm stage runs on the Photon host (its vSphere work on the controller): the import, then the
    # first-boot user-data removed from the VM's guestinfo; the endpoint vcsim-esx runs nothing.
    assert recap["photon-lab"]["changed"] > 0 and "vcsim-esx" not in recap
    for task in ("Import the OVA, with user-data and meta-data as guestinfo, and power it on",
                 "Remove the first-boot user-data and vendor-data from the VM's guestinfo"):
        assert re.search(r"TASK \[[^\]]*%s[^\]]*\] \*+\nchanged: \[photon-lab -> localhost\]" % re.escape(task), out), task

    # The host really is what the summary says: booted by cloud-init from the VM's guestinfo,
    # on its static address, Photon OS to Ansible with Docker from tdnf, DNS answered by Pi-hole on port 53.
    host = labhost.LabHost("demo-photon-lab")
    assert host.exec("hostname").stdout.strip() == "photon-lab"
    assert "DataSourceVMware" in host.exec("cloud-init", "status", "--long", check=False).stdout
    assert host.ip == "172.30.99.150"
    assert host.exec("systemctl", "is-enabled", "docker").stdout.strip() == "enabled"
    assert 'ID=photon' in host.exec("cat", "/etc/os-release").stdout
    # The roles' Photon path: the packages came through tdnf into the rpm database.
    assert host.exec("rpm", "-q", "docker", "docker-compose", "nfs-utils", check=False).returncode == 0
    # Pi-hole forwards to the lab's small internet and blocks a domain of its default list.
    assert ask("example.com") == [labhost.INTERNET_IP]
    assert ask("ads.lab-tracker.example") == ["0.0.0.0"]

    second = demo()
    assert second.returncode == 0, second.stdout[-6000:] + second.stderr
    recap = last_run(repo_root)["recap"]
    assert {h: r["changed"] for h, r in recap.items()} == {"photon-lab": 0}, second.stdout[-3000:]
    assert "demo: run 2: " in second.stdout and "0 change(s) in all" in second.stdout

    clean = subprocess.run([os.path.join(repo_root, "tests", "lab", "bin", "demo-clean")], capture_output=True,
                           text=True, check=True)
    assert "removed" in clean.stdout
    assert labhost.docker("ps", "-aq", "--filter", "label=homelab-photon-demo").stdout.strip() == ""
    assert not os.path.exists(os.path.join(repo_root, "tests", "lab", ".cache", "demo"))
    # The demo's simulator (its own listen address; other tests' simulators listen elsewhere) is gone.
    assert subprocess.run(["pgrep", "-f", "vcsim/vcsim .*-listen 127\\.0\\.0\\.1:18443"], capture_output=True,
                          check=False).returncode != 0
