"""The host_report action, run by ansible-playbook on the controller (it sends no module anywhere):
the table printed, both files written (and replaced), the DNS check asked of a small responder on
loopback, check mode writing nothing, a failed DNS check failing the task after the report is written,
a bad name refused, 0 changed. The real Pi-hole's answer: tests/integration/test_demo.py."""

import json
import os
import socket
import subprocess
import sys
import threading

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))

INFO = {"os": {"id": "photon", "version_id": "5.0", "photon": {"title": "VMware Photon OS 5.0", "build": "abc"}},
        "kernel": "6.1.0", "rpm_packages": 7, "memory": {"total": 2 ** 31, "available": 2 ** 30},
        "disks": [{"path": "/", "total": 2 ** 33, "used": 2 ** 32, "available": 2 ** 32, "percent": 50}],
        "sizes": [], "docker": {"client": "26.1.5", "server": "26.1.5"}, "compose": "2.26.1",
        "pihole": {"ftl": "v6.3.3", "core": "v6.2.2", "web": "v6.3", "docker": "2025.11.0"},
        "invocation": {"module_args": {"pihole_password": "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"}}}


@pytest.fixture
def responder(a_record_reply):
    """A DNS responder on 127.0.0.1 (a free UDP port) answering every query; its port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    asked = []

    def serve():
        while True:
            try:
                data, peer = sock.recvfrom(512)
            except OSError:
                return
            asked.append(data)
            sock.sendto(a_record_reply(data, "10.0.0.5"), peer)

    threading.Thread(target=serve, daemon=True).start()
    yield sock.getsockname()[1]
    sock.close()


def play(tmp_path, data, extra=None, check=False):
    playbook = tmp_path / "play.yml"
    playbook.write_text(json.dumps([{
        "name": "report", "hosts": "localhost", "gather_facts": False,
        "tasks": [dict({"name": "the report", "homelab.photon.host_report": dict(
            {"dir": str(tmp_path / "out"), "hosts": ["pihole01", "pihole02"], "data": data}, **(extra or {}))},
            **({"check_mode": True} if check else {}))]}]))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, "tests", "output", "collections"),
               ANSIBLE_NOCOLOR="1", ANSIBLE_LOCALHOST_WARNING="False", ANSIBLE_INVENTORY_UNPARSED_WARNING="False")
    return subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), str(playbook)],
                          env=env, capture_output=True, text=True, timeout=120, check=False)


def test_prints_and_writes_both_files(tmp_path, responder):
    data = {"pihole01": {"info": INFO, "dns_server": "127.0.0.1", "admin_url": "http://10.0.0.5/admin/"}}
    run = play(tmp_path, data, extra={"dns_port": responder})
    assert run.returncode == 0, run.stdout + run.stderr
    assert "changed=0" in run.stdout and "| OS " in run.stdout and "Photon OS 5.0 (build abc)" in run.stdout
    assert "pi.hole -> 10.0.0.5 (NOERROR from 127.0.0.1#%d)" % responder in run.stdout
    markdown = (tmp_path / "out" / "hosts.md").read_text()
    assert "| pihole01" in markdown and "no data (the host was not reached in this run)" in markdown
    doc = json.loads((tmp_path / "out" / "hosts.json").read_text())
    assert [h["host"] for h in doc["hosts"]] == ["pihole01", "pihole02"]
    assert doc["hosts"][0]["details"]["dns"] == {"name": "pi.hole", "rcode": "NOERROR", "addresses": ["10.0.0.5"],
                                                 "server": "127.0.0.1#%d" % responder, "tries": 1}
    assert doc["hosts"][1]["dns"] == "-"  # no data, no check
    assert doc["hosts"][0]["details"]["info"]["rpm_packages"] == 7
    assert "invocation" not in doc["hosts"][0]["details"]["info"]
    assert oct(os.stat(tmp_path / "out" / "hosts.json").st_mode & 0o777) == "0o644"
    # A second run replaces the files (no temporary file left).
    again = play(tmp_path, data, extra={"name": "hosts", "dns_port": responder})
    assert again.returncode == 0 and sorted(os.listdir(tmp_path / "out")) == ["hosts.json", "hosts.md"]


def test_check_mode_writes_nothing(tmp_path):
    run = play(tmp_path, {}, check=True)
    assert run.returncode == 0, run.stdout + run.stderr
    assert '"files_written": false' in run.stdout and not (tmp_path / "out").exists()


def test_failed_dns_check_fails_after_writing(tmp_path, responder):
    # Nothing listens on 127.0.0.2 at that port: refused, asked twice.
    data = {"pihole01": {"info": INFO, "dns_server": "127.0.0.2"}, "pihole02": {"info": INFO, "dns_server": "127.0.0.1"}}
    extra = {"dns_port": responder, "dns_retries": 1, "dns_delay": 0}
    run = play(tmp_path, data, extra=extra)
    assert run.returncode == 2 and "DNS check failed for pihole01" in run.stdout, run.stdout
    markdown = (tmp_path / "out" / "hosts.md").read_text()
    assert "FAILED: no answer from 127.0.0.2#%d for pi.hole after 2 tries: try 1: " % responder in markdown
    assert "pi.hole -> 10.0.0.5 (NOERROR" in markdown
    relaxed = play(tmp_path, data, extra=dict(extra, fail_on_dns=False))
    assert relaxed.returncode == 0, relaxed.stdout
    named = play(tmp_path, {"pihole01": {"info": INFO, "dns_server": "pihole01.lan"}}, extra=extra)
    assert named.returncode == 2 and "is not an IP address (set report_dns_server)" in named.stdout


@pytest.mark.parametrize("name", ["../x", ".hidden", ""])
def test_bad_name(tmp_path, name):
    run = play(tmp_path, {}, extra={"name": name})
    assert run.returncode == 2 and "plain file name stem" in run.stdout
