"""The main job on the embedded lab, as `make demo` runs it: playbooks/site.yml with
inventories/lab/, from the OVA imports into the simulator (ESXi mode) to two real Pi-holes answering
DNS on two Photon lab hosts, kept identical by one declaration, and the host report; the second run
changes nothing; a record added to the declaration is answered by both after one run; demo-clean
leaves nothing behind.

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
import yaml

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
        yield lambda *args: subprocess.run([os.path.join(bin_dir, "demo"), *args], capture_output=True, text=True,
                                           timeout=900, check=False)
    finally:
        subprocess.run([os.path.join(bin_dir, "demo-clean")], check=True, capture_output=True)


def last_run(repo_root):
    with open(os.path.join(repo_root, "tests", "lab", ".cache", "demo", "last-run.json")) as handle:
        return json.load(handle)


HOSTS = {"photon-lab": "172.30.99.150", "photon-lab2": "172.30.99.151"}


def task_runs(out):
    """[(task name, {host: status})] in the order the tasks ran (a task included per host runs again)."""
    runs = []
    for match in re.finditer(r"^TASK \[(.*?)\] \*+\n(.*?)(?=^(?:TASK|PLAY|RUNNING HANDLER) |\Z)", out, re.M | re.S):
        statuses = dict((host, status) for status, host in
                        re.findall(r"^(ok|changed|skipping|failed|fatal): \[([^\]\s]+)", match.group(2), re.M))
        runs.append((match.group(1).split(" : ", 1)[-1], statuses))
    return runs


def changed_hosts(out, task):
    return {host for name, statuses in task_runs(out) if name.startswith(task)
            for host, status in statuses.items() if status == "changed"}


def declaration(repo_root):
    with open(os.path.join(repo_root, "inventories", "lab", "group_vars", "pihole.yml")) as handle:
        return yaml.safe_load(handle)


def report_rows(repo_root):
    """The host report the run wrote (inventories/lab: report_dir in the demo's state), by host."""
    with open(os.path.join(repo_root, "tests", "lab", ".cache", "demo", "report", "hosts.json")) as handle:
        return {row["host"]: row for row in json.load(handle)["hosts"]}


def test_demo_twice_then_clean(repo_root, demo, tmp_path):
    first = demo()
    assert first.returncode == 0, first.stdout[-6000:] + first.stderr
    out = first.stdout
    # Every stage ran for real on this run, on both hosts.
    for task in ("Import the OVA, with user-data and meta-data as guestinfo, and power it on",
                 "Remove the first-boot user-data and vendor-data from the VM's guestinfo",
                 "Arm the rollback", "Confirm the change (cancels the rollback)",
                 "Set up systemd-resolved", "Enable and start docker.service",
                 "Deploy the project and wait until Pi-hole is healthy",
                 "Make the Pi-hole match the declaration through its API"):
        assert changed_hosts(out, task) == set(HOSTS), task
    # The vm stage runs on the Photon hosts (its vSphere work on the controller); the endpoint runs nothing.
    recap = last_run(repo_root)["recap"]
    assert set(recap) == set(HOSTS) and all(recap[h]["changed"] > 0 for h in HOSTS)
    # The network stage moved one host at a time: one host's change was confirmed before the other's was armed.
    steps = [(name.split(",")[0], host) for name, statuses in task_runs(out)
             for host, status in statuses.items() if status == "changed"
             and name.startswith(("Arm the rollback", "Confirm the change"))]
    assert [name for name, host in steps] == ["Arm the rollback that restores the current files unless confirmed in time",
                                              "Confirm the change (cancels the rollback)"] * 2, steps
    assert steps[0][1] == steps[1][1] != steps[2][1] == steps[3][1]

    # The host report: printed (a column per host) and written to the demo's state as Markdown and JSON.
    rows = report_rows(repo_root)
    assert list(rows) == ["photon-lab", "photon-lab2"]
    assert re.search(r"\|\s+\| photon-lab\s+\| photon-lab2\s+\|", out), out[-4000:]
    report_dir = os.path.join(repo_root, "tests", "lab", ".cache", "demo", "report")
    markdown = open(os.path.join(report_dir, "hosts.md")).read()
    assert "| Pi-hole " in out and "| Pi-hole " in markdown
    for name, address in HOSTS.items():
        row = rows[name]
        assert row["vm"].startswith(name + " (vm-") and row["vm"].endswith("vmx-11, vmwarePhoton64Guest, poweredOn")
        assert row["address"] == address and row["admin_url"] == "http://%s/admin/" % address
        # pi.hole is the host's own LAN address, not the container's bridge address.
        assert row["dns"] == "pi.hole -> %s (NOERROR from %s#53)" % (address, address), row
        assert row["pihole"] in out and row["pihole"] in markdown
    # The lab's web password is never printed nor written.
    assert "lab-demo-Pw-41c7" not in out + markdown + open(os.path.join(report_dir, "hosts.json")).read()

    # The hosts really are what the report says: booted by cloud-init from their VM's guestinfo, on their
    # static address, Photon OS to Ansible with Docker from tdnf, DNS answered by Pi-hole on port 53.
    for name, address in HOSTS.items():
        host = labhost.LabHost("demo-" + name)
        row = rows[name]
        assert host.exec("hostname").stdout.strip() == name
        assert "DataSourceVMware" in host.exec("cloud-init", "status", "--long", check=False).stdout
        assert host.ip == address
        assert host.exec("systemctl", "is-enabled", "docker").stdout.strip() == "enabled"
        assert 'ID=photon' in host.exec("cat", "/etc/os-release").stdout
        # The roles' Photon path: the packages came through tdnf into the rpm database.
        assert host.exec("rpm", "-q", "docker", "docker-compose", "nfs-utils", check=False).returncode == 0
        # The report's figures are the host's own.
        assert row["kernel"] == host.exec("uname", "-r").stdout.strip()
        assert row["rpm_packages"] == str(len(host.exec("rpm", "-qa").stdout.split()))
        assert row["docker"] == host.exec("docker", "version", "--format", "{{.Server.Version}}").stdout.strip()
        ftl = host.exec("docker", "exec", "pihole", "pihole-FTL", "-v").stdout.strip()
        tag = host.exec("docker", "inspect", "-f", "{{.Config.Image}}", "pihole").stdout.strip().rsplit(":", 1)[1]
        assert row["pihole"].startswith("FTL %s, core v" % ftl) and row["pihole"].endswith(", docker %s" % tag), row
        # A Pi-hole host resolves through the other Pi-hole first, then the LAN's DNS server, never itself.
        peer = [a for n, a in HOSTS.items() if n != name][0]
        upstreams = re.findall(r"^nameserver (\S+)", host.exec("cat", "/run/systemd/resolve/resolv.conf").stdout, re.M)
        assert upstreams == [peer, labhost.INTERNET_IP], upstreams
        # DHCP's DNS servers (option 6) name both Pi-holes, in Pi-hole's own dnsmasq configuration.
        assert "dhcp-option=option:dns-server,172.30.99.150,172.30.99.151" in host.exec(
            "docker", "exec", "pihole", "cat", "/etc/pihole/dnsmasq.conf").stdout

    # Both Pi-holes answer the same records, the declared ones; both forward to the lab's small internet
    # and block a domain of the default list.
    declared = declaration(repo_root)
    for record in declared["pihole_local_records"]:
        assert [ask(record["name"], a) for a in HOSTS.values()] == [[record["ip"]]] * 2, record
    for cname in declared.get("pihole_config", {}).get("cnames", []):
        target = [r["ip"] for r in declared["pihole_local_records"] if r["name"] == cname["target"]]
        assert [ask(cname["name"], a) for a in HOSTS.values()] == [target] * 2, cname
    for address in HOSTS.values():
        assert ask("example.com", address) == [labhost.INTERNET_IP]
        assert ask("ads.lab-tracker.example", address) == ["0.0.0.0"]

    second = demo()
    assert second.returncode == 0, second.stdout[-6000:] + second.stderr
    recap = last_run(repo_root)["recap"]
    assert {h: r["changed"] for h, r in recap.items()} == {"photon-lab": 0, "photon-lab2": 0}, second.stdout[-3000:]
    assert "demo: run 2: " in second.stdout and "0 change(s) in all" in second.stdout

    # A record added to the one declaration is answered by both Pi-holes after one run.
    extra = tmp_path / "more-records.yml"
    added = {"name": "printer.home.arpa", "ip": "172.30.99.161"}
    extra.write_text(yaml.safe_dump({"pihole_local_records": declared["pihole_local_records"] + [added]}))
    assert [ask(added["name"], a) for a in HOSTS.values()] == [[], []]
    third = demo("-e", "@%s" % extra)
    assert third.returncode == 0, third.stdout[-6000:] + third.stderr
    assert [ask(added["name"], a) for a in HOSTS.values()] == [[added["ip"]]] * 2
    assert changed_hosts(third.stdout, "Make the Pi-hole match the declaration through its API") == set(HOSTS)

    clean = subprocess.run([os.path.join(repo_root, "tests", "lab", "bin", "demo-clean")], capture_output=True,
                           text=True, check=True)
    assert "removed" in clean.stdout
    assert labhost.docker("ps", "-aq", "--filter", "label=homelab-photon-demo").stdout.strip() == ""
    assert not os.path.exists(os.path.join(repo_root, "tests", "lab", ".cache", "demo"))
    # The demo's simulator (its own listen address; other tests' simulators listen elsewhere) is gone.
    assert subprocess.run(["pgrep", "-f", "vcsim/vcsim .*-listen 127\\.0\\.0\\.1:18443"], capture_output=True,
                          check=False).returncode != 0
