"""Lab proof of homelab.photon.resolved, against the real systemd-resolved and Docker of a lab host.

One lab host (the Photon lab host: a Debian 13 systemd container that is Photon OS 5.0 to Ansible), driven over SSH with
ansible-playbook, as a user would. Inside it Docker runs (as on Photon, started by hand) and a
container publishes 53/udp and 53/tcp as Pi-hole's does: a busybox image made on the lab host with
``docker import`` (from this machine's busybox-static, which tests/lab/bin/lab-up installs) whose
``nc`` answers on TCP 53 with a fixed word; this test is about the port conflict and the published
port, so no DNS server is needed in it (the pihole role's scenario runs the real Pi-hole).

The story:
1. Photon's default (stub on): the port-53 container fails to start with "address already in use".
2. For mode no_stub, then disabled: a check+diff run predicts; the real run does exactly that
   (changed, actions, port53_free, holders, resolv_conf, upstream servers); the container now
   starts and answers on 127.0.0.1:53; the host still resolves a lab name through its upstreams
   (Docker's embedded DNS, 127.0.0.11, which answers for ``<container>.homelab-lab``, and the
   lease's server, the lab's small internet, which relays such names to it); a second
   run changes nothing and reports docker-proxy as the holder of port 53, as ``ss`` shows.
3. mode stub puts Photon's default back, and the container fails to start again.
"""

import os
import re
import shutil
import subprocess
import tempfile

import pytest

BUSYBOX = "/bin/busybox"  # Debian's busybox-static on this machine: a static binary.
PORT53_IMAGE = "homelab-port53:lab"
PORT53 = "port53"
BIND_ERROR = "address already in use"
LAB_GATEWAY = "172.30.99.1"  # the lab network's gateway: reachable, serves no DNS
LINK_DNS = "172.30.99.250"  # the DNS server of the lab host's lease (the lab's small internet)
# What resolved then uses: the global servers the module sets, then the link's own.
UPSTREAM = ["127.0.0.11", LAB_GATEWAY, LINK_DNS]


class Runner:
    """Runs homelab.photon.resolved on the lab host with ansible-playbook over SSH."""

    def __init__(self, host, repo_root, workdir):
        self.host = host
        self.workdir = workdir

    def run(self, args, check=False, diff=True):
        options = (["--check"] if check else []) + (["--diff"] if diff else [])
        return self.host.task_result(self.host.module_play(self.workdir, "homelab.photon.resolved", args, options))


def port53_sockets(host):
    """What ``ss`` shows on port 53 right now: a sorted list of (proto, address, pid, process),
    read independently of the module's parser."""
    out = host.exec("ss", "-H", "-l", "-n", "-t", "-u", "-p").stdout
    found = []
    for line in out.splitlines():
        fields = line.split()
        if len(fields) < 5 or not fields[4].endswith(":53"):
            continue
        address = fields[4][:-3].strip("[]").split("%")[0].strip("[]")
        for process, pid in re.findall(r'\("([^"]+)",pid=(\d+)', line):
            found.append((fields[0], address, int(pid), process))
    return sorted(found)


def as_tuples(holders, with_pid=True):
    return sorted((h["proto"], h["address"], h["pid"] if with_pid else None, h["process"])
                  for h in holders)


def without_pid(tuples):
    return sorted((proto, address, None, process) for proto, address, _pid, process in tuples)


def start_port53(host):
    host.exec("docker", "rm", "-f", PORT53, check=False)
    return host.exec("docker", "run", "-d", "--name", PORT53, "-p", "53:53/udp", "-p", "53:53/tcp",
                     PORT53_IMAGE, "nc", "-ll", "-p", "53", "-e", "/bin/busybox", "echo",
                     "port53-answer", check=False)


def resolves(host):
    """The host resolves a lab name through DNS (not /etc/hosts): its own container name in the
    lab network's domain, answered by Docker's embedded DNS, directly or relayed by the lab's small
    internet (the DNS server of the host's lease)."""
    name = "%s.homelab-lab" % host.name
    out = host.exec("getent", "hosts", name, check=False)
    return out.returncode == 0 and out.stdout.split()[:1] == [host.ip]


@pytest.fixture
def lab(lab_host, repo_root):
    workdir = tempfile.mkdtemp(prefix="homelab-resolved-")
    host = lab_host
    assert os.path.exists(BUSYBOX), "no %s: tests/lab/bin/lab-up installs busybox-static" % BUSYBOX
    # Docker is installed but disabled on the host, as on Photon: start it by hand.
    subprocess.run(["docker", "cp", BUSYBOX, "%s:/usr/local/bin/busybox" % host.name], check=True,
                   capture_output=True)
    host.exec("systemctl", "start", "docker")
    host.sh("set -e; d=$(mktemp -d); mkdir $d/bin; cp /usr/local/bin/busybox $d/bin/busybox;"
            " tar -C $d -c . | docker import -c 'ENTRYPOINT [\"/bin/busybox\"]' - %s >/dev/null;"
            " rm -rf $d" % PORT53_IMAGE)
    try:
        yield host, Runner(host, repo_root, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def diff_by_header(result):
    entries = result.get("diff") or []
    if isinstance(entries, dict):
        entries = [entries]
    return {entry["before_header"]: entry for entry in entries}


def check_then_apply(host, runner, args):
    predicted = runner.run(args, check=True)
    assert not predicted.get("failed"), predicted
    applied = runner.run(args)
    assert not applied.get("failed"), applied
    # Check mode predicted exactly what the real run did and found.
    for key in ("changed", "actions", "port53_free", "resolv_conf", "upstream_dns", "drop_in"):
        assert predicted[key] == applied[key], (key, predicted[key], applied[key])
    assert as_tuples(predicted["port53_holders"], False) == as_tuples(applied["port53_holders"], False)
    assert predicted["diff"] == applied["diff"]
    # What the module reports is what the sockets say.
    real = port53_sockets(host)
    assert as_tuples(applied["port53_holders"]) == real
    assert applied["port53_free"] is (real == [])
    return predicted, applied


def test_resolved_frees_port53_and_keeps_dns(lab):
    host, runner = lab

    # 1. Photon's default: the stub holds port 53 and the port-53 container cannot publish it.
    assert host.exec("readlink", "/etc/resolv.conf").stdout.strip() == "/run/systemd/resolve/stub-resolv.conf"
    stub_sockets = port53_sockets(host)
    assert ("udp", "127.0.0.53", stub_sockets[0][2], "systemd-resolve") in stub_sockets
    refused = start_port53(host)
    assert refused.returncode != 0 and BIND_ERROR in refused.stderr, refused
    host.exec("docker", "rm", "-f", PORT53)
    assert resolves(host)

    # 2a. no_stub: stub listener off, resolved running, resolv.conf -> the uplink file; resolved
    # also gets global servers (the lab's upstream first; the gateway, which serves no DNS, only
    # as a second) and a search domain.
    no_stub = {"mode": "no_stub", "dns": ["127.0.0.11", LAB_GATEWAY], "domains": ["homelab-lab"]}
    predicted, applied = check_then_apply(host, runner, no_stub)
    assert applied["changed"] is True
    assert applied["actions"] == [
        "write /etc/systemd/resolved.conf.d/homelab.conf",
        "restart systemd-resolved.service",
        "link /etc/resolv.conf -> /run/systemd/resolve/resolv.conf",
    ]
    diff = diff_by_header(applied)
    assert diff["/etc/systemd/resolved.conf.d/homelab.conf"]["before"] == ""
    assert diff["/etc/systemd/resolved.conf.d/homelab.conf"]["after"].endswith(
        "[Resolve]\nDNS=127.0.0.11 %s\nDomains=homelab-lab\nDNSStubListener=no\n" % LAB_GATEWAY)
    assert diff["/etc/resolv.conf"]["before"] == "symlink -> /run/systemd/resolve/stub-resolv.conf\n"
    assert diff["/etc/resolv.conf"]["after"] == "symlink -> /run/systemd/resolve/resolv.conf\n"
    assert applied["port53_free"] is True and applied["port53_holders"] == []
    assert applied["upstream_dns"] == UPSTREAM
    assert "search homelab-lab" in host.exec("cat", "/etc/resolv.conf").stdout
    assert host.exec("readlink", "/etc/resolv.conf").stdout.strip() == "/run/systemd/resolve/resolv.conf"
    assert "DNSStubListener=no" in host.exec("cat", "/etc/systemd/resolved.conf.d/homelab.conf").stdout
    assert host.exec("systemctl", "is-active", "systemd-resolved").stdout.strip() == "active"
    assert resolves(host)
    started_no_stub = start_port53(host)
    assert started_no_stub.returncode == 0, started_no_stub.stderr
    assert host.exec("busybox", "nc", "127.0.0.1", "53").stdout.strip() == "port53-answer"
    again = runner.run(no_stub)
    assert again["changed"] is False and again["actions"] == [], again
    assert again["port53_free"] is False
    assert as_tuples(again["port53_holders"]) == port53_sockets(host)
    assert {h["process"] for h in again["port53_holders"]} == {"docker-proxy"}
    assert {(h["proto"], h["address"]) for h in again["port53_holders"]} >= {("udp", "0.0.0.0"),
                                                                             ("tcp", "0.0.0.0")}
    # Without ss the module reads /proc/net and /proc/*/fd: the same holders.
    host.exec("mv", "/usr/bin/ss", "/usr/bin/ss.hidden")
    try:
        from_proc = runner.run(no_stub, check=True)
    finally:
        host.exec("mv", "/usr/bin/ss.hidden", "/usr/bin/ss")
    assert from_proc["changed"] is False
    assert as_tuples(from_proc["port53_holders"]) == as_tuples(again["port53_holders"])
    assert resolves(host)
    host.exec("docker", "rm", "-f", PORT53)

    # 2b. disabled (the manual recipe's way): resolved stopped and disabled, a real resolv.conf
    # naming the upstream servers and search domain resolved was using, written before resolved
    # stopped. The module's drop-in loses DNS= and Domains= (not given) and keeps the stub off.
    predicted, applied = check_then_apply(host, runner, {"mode": "disabled"})
    assert applied["changed"] is True
    assert applied["actions"] == [
        "write /etc/systemd/resolved.conf.d/homelab.conf",
        "write /etc/resolv.conf",
        "stop systemd-resolved.service",
        "disable systemd-resolved.service",
    ]
    diff = diff_by_header(applied)
    assert diff["/etc/resolv.conf"]["before"] == "symlink -> /run/systemd/resolve/resolv.conf\n"
    assert "nameserver 127.0.0.11\nnameserver %s\nnameserver %s\nsearch homelab-lab\n" % (LAB_GATEWAY, LINK_DNS) \
        in diff["/etc/resolv.conf"]["after"]
    assert diff["systemd-resolved.service"]["after"] == "systemd-resolved.service: inactive, disabled\n"
    assert applied["resolv_conf"] == "file"
    assert applied["upstream_dns"] == UPSTREAM
    assert host.exec("test", "-L", "/etc/resolv.conf", check=False).returncode == 1
    assert "nameserver 127.0.0.11" in host.exec("cat", "/etc/resolv.conf").stdout
    assert host.exec("systemctl", "is-enabled", "systemd-resolved", check=False).stdout.strip() == "disabled"
    assert host.exec("systemctl", "is-active", "systemd-resolved", check=False).stdout.strip() == "inactive"
    assert applied["port53_free"] is True
    assert resolves(host)
    started_disabled = start_port53(host)
    assert started_disabled.returncode == 0, started_disabled.stderr
    assert host.exec("busybox", "nc", "127.0.0.1", "53").stdout.strip() == "port53-answer"
    again = runner.run({"mode": "disabled"})
    assert again["changed"] is False and again["actions"] == [], again
    assert again["upstream_dns"] == UPSTREAM
    assert as_tuples(again["port53_holders"]) == port53_sockets(host) != []
    assert resolves(host)
    host.exec("docker", "rm", "-f", PORT53)

    # 3. stub: Photon's default back; the conflict is back too.
    predicted, applied = check_then_apply(host, runner, {"mode": "stub"})
    assert applied["changed"] is True
    assert applied["actions"] == [
        "remove /etc/systemd/resolved.conf.d/homelab.conf",
        "enable systemd-resolved.service",
        "start systemd-resolved.service",
        "link /etc/resolv.conf -> /run/systemd/resolve/stub-resolv.conf",
    ]
    assert applied["resolv_conf"] == "/run/systemd/resolve/stub-resolv.conf"
    assert applied["port53_free"] is False
    assert {(h["address"], h["process"]) for h in applied["port53_holders"]} >= {
        ("127.0.0.53", "systemd-resolve")}
    assert host.exec("test", "-e", "/etc/systemd/resolved.conf.d/homelab.conf", check=False).returncode == 1
    assert resolves(host)
    refused = start_port53(host)
    assert refused.returncode != 0 and BIND_ERROR in refused.stderr, refused
    host.exec("docker", "rm", "-f", PORT53)
    again = runner.run({"mode": "stub"})
    assert again["changed"] is False and again["actions"] == [], again


def test_resolved_bad_input_changes_nothing(lab_host, repo_root):
    """Bad options are refused before the host is touched, naming the option and the value."""
    workdir = tempfile.mkdtemp(prefix="homelab-resolved-")
    try:
        runner = Runner(lab_host, repo_root, workdir)
        before = lab_host.exec("readlink", "/etc/resolv.conf").stdout
        result = runner.run({"mode": "disabled", "dns": ["192.168.0.300", ""],
                             "drop_in": "../evil.conf"})
        assert result.get("failed") is True
        for fragment in ("dns: '192.168.0.300'", "dns: an empty entry", "drop_in: '../evil.conf'"):
            assert fragment in result["msg"], result["msg"]
        assert lab_host.exec("readlink", "/etc/resolv.conf").stdout == before
        assert lab_host.exec("systemctl", "is-active", "systemd-resolved").stdout.strip() == "active"
        assert lab_host.exec("ls", "/etc/systemd").stdout.count("resolved.conf.d") == 0
        # A drop-in read after the module's that turns the stub on again: refused up front.
        lab_host.sh("mkdir -p /run/systemd/resolved.conf.d && printf '[Resolve]\\nDNSStubListener=yes\\n'"
                    " > /run/systemd/resolved.conf.d/zz-vendor.conf")
        result = runner.run({"mode": "no_stub"})
        assert result.get("failed") is True
        assert "/run/systemd/resolved.conf.d/zz-vendor.conf (DNSStubListener=yes)" in result["msg"]
        assert lab_host.exec("readlink", "/etc/resolv.conf").stdout == before
        assert lab_host.exec("test", "-e", "/etc/systemd/resolved.conf.d/homelab.conf",
                             check=False).returncode == 1
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
