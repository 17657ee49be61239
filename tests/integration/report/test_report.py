"""The host report (playbooks/report.yml, role homelab.photon.report) against two Photon lab hosts over
SSH: every figure it shows is the one the host's own programs give (uname, rpm -qa, /proc/meminfo, df,
docker, docker compose); a host whose Pi-hole does not answer is reported as such and fails the run
after the report is written; 0 changed. The report of the real Pi-hole (its API versions and DNS
answer) is proven by the demo (tests/integration/test_demo.py), which runs it at the end of site.yml.
"""

import json
import os
import subprocess

import pytest


def run_report(repo_root, tmp_path, hosts, extra=(), pihole=()):
    inventory = tmp_path / "inventory"
    inventory.write_text("[photon]\n" + "\n".join(hosts) + "\n[pihole]\n" + "\n".join(pihole) + "\n")
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(repo_root, "tests", "output", "collections"),
               ANSIBLE_HOST_KEY_CHECKING="False", ANSIBLE_RETRY_FILES_ENABLED="False", ANSIBLE_NOCOLOR="1",
               ANSIBLE_PIPELINING="True")
    argv = [os.path.join(repo_root, ".venv", "bin", "ansible-playbook"), "-i", str(inventory),
            os.path.join(repo_root, "playbooks", "report.yml"), "-e", "report_dir=%s" % (tmp_path / "report")]
    return subprocess.run(argv + list(extra), env=env, cwd=str(tmp_path), capture_output=True, text=True,
                          timeout=300, check=False)


@pytest.fixture
def two_hosts(lab_host_factory):
    plain = lab_host_factory(prefix="report-plain")
    docker_host = lab_host_factory(prefix="report-docker")
    docker_host.exec("systemctl", "start", "docker.service")
    return plain, docker_host


def test_report_shows_what_the_hosts_say(repo_root, tmp_path, two_hosts):
    plain, docker_host = two_hosts
    # The plain host is said to run a Pi-hole that is not there: its API read and DNS check fail.
    run = run_report(repo_root, tmp_path, [plain.inventory_line() + " pihole_web_password=report-Pw-1",
                                           docker_host.inventory_line()], pihole=[plain.name])
    assert run.returncode == 2, run.stdout + run.stderr
    assert "DNS check failed for %s" % plain.name in run.stdout
    assert "changed=0" in run.stdout and "changed=1" not in run.stdout

    doc = json.loads((tmp_path / "report" / "hosts.json").read_text())
    rows = {row["host"]: row for row in doc["hosts"]}
    assert list(rows) == [plain.name, docker_host.name]
    markdown = (tmp_path / "report" / "hosts.md").read_text()
    assert plain.name in markdown.splitlines()[4] and docker_host.name in markdown.splitlines()[4]

    for host in (plain, docker_host):
        row, info = rows[host.name], rows[host.name]["details"]["info"]
        build = host.sh("sed -n 's/^PHOTON_BUILD_NUMBER=//p' /etc/photon-release").stdout.strip()
        assert row["os"] == "Photon OS 5.0 (build %s)" % build
        assert row["kernel"] == host.exec("uname", "-r").stdout.strip()
        assert info["rpm_packages"] == len(host.exec("rpm", "-qa").stdout.split())
        assert row["rpm_packages"] == str(info["rpm_packages"])
        total_kib = int(host.sh("awk '/^MemTotal:/ {print $2}' /proc/meminfo").stdout)
        assert info["memory"]["total"] == total_kib * 1024
        size_kib = int(host.sh("df -k --output=size / | tail -1").stdout)
        assert info["disks"][0]["path"] == "/" and info["disks"][0]["total"] == size_kib * 1024
        assert row["address"] == host.ip

    # Docker: the engine's own answer where it runs, "not running" where it does not.
    engine = docker_host.exec("docker", "version", "--format", "{{.Server.Version}}").stdout.strip()
    compose = docker_host.exec("docker", "compose", "version", "--short").stdout.strip().lstrip("v")
    assert rows[docker_host.name]["docker"] == engine and rows[docker_host.name]["compose"] == compose
    assert rows[plain.name]["docker"].endswith("(engine not running)")
    # No Pi-hole asked on the host without a password; the other's failure in its own words.
    assert rows[docker_host.name]["pihole"] == "-" and rows[docker_host.name]["dns"] == "-"
    assert rows[plain.name]["pihole"].startswith("error: Cannot reach the Pi-hole at http://127.0.0.1:80")
    assert rows[plain.name]["dns"].startswith("FAILED: ")
    assert rows[plain.name]["admin_url"] == "http://%s/admin/" % plain.ip
    # The Pi-hole host's data directory is measured (missing here).
    assert rows[plain.name]["details"]["info"]["sizes"] == [{"path": "/opt/docker/pihole", "bytes": None}]
    # The password is in neither file nor the output.
    assert "report-Pw-1" not in run.stdout + markdown + json.dumps(doc)


def test_check_mode_prints_and_writes_nothing(repo_root, tmp_path, lab_host):
    run = run_report(repo_root, tmp_path, [lab_host.inventory_line()], extra=["--check"])
    assert run.returncode == 0, run.stdout + run.stderr
    assert "| Kernel " in run.stdout and not (tmp_path / "report").exists()
