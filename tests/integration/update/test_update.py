"""The playbook homelab.photon.update on a Photon lab host that runs the real Pi-hole, with the real tdnf.

The host (tests/lab/image/, homelab-photon-lab) gets Docker and Pi-hole from the docker and pihole roles
(the real pihole/pihole image, tests/lab/pihole/build.sh, loaded into the host's Docker as a pull would
have), then the lab's update set: the test drops a .repo file for the repository lab-update-set (built
into the image, no .repo file there) and installs the old versions of its three marker packages, curl
8.7.1-1 (its 8.7.1-2 is a security update), tzdata 2024a (2025a: an ordinary update) and linux 6.1.83
(6.1.90: a kernel, an ordinary update that needs a reboot).

Proved, in order, on the one host:
- security only: only curl is updated, no reboot, a Teleporter backup saved first;
- check mode (everything): the report lists tzdata and linux with their versions and a reboot, and the
  host is unchanged (packages, boots, backups);
- everything: exactly what check mode listed is updated; the host is rebooted exactly once (Docker's
  restart count and PID 1's start both change once) and comes back with networkd, resolved and Docker
  running and Pi-hole answering DNS from the lab network; the report file says so;
- a second run: nothing changed (0 changed in the recap), no reboot, no backup.

Stand-in: a lab host is a systemd container. A reboot makes its PID 1 exit and Docker's restart policy
(unless-stopped, set here) starts it again, on its fixed address. It shares the machine's kernel, so
/proc/sys/kernel/random/boot_id (ansible.builtin.reboot's way to see the new boot, the role's default
update_reboot_boot_time_command) never changes: the test sets update_reboot_boot_time_command to PID 1's
start time (field 22 of /proc/1/stat, in clock ticks since the machine booted), which changes with each
container start.
"""

import glob
import json
import os
import stat
import subprocess
import sys

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
sys.path.insert(0, os.path.join(ROOT, "tests", "lab"))

import labhost  # noqa: E402

COLLECTIONS = os.path.join(ROOT, "tests", "output", "collections")
PIHOLE_BUILD = os.path.join(ROOT, "tests", "lab", "pihole", "build.sh")
# A fixed address from the upper half of the lab network (Docker never hands those out), so that the
# host comes back on the same address after its reboot.
ADDRESS = "172.30.99.223"
PASSWORD = "lab-update-Pw-5c1e"
REPO = """# tests/integration/update/: the lab's update set (tests/lab/image/photon/markers.txt)
[lab-update-set]
name=homelab.photon lab update set
baseurl=file:///usr/share/homelab-lab/repos/photon/5.0/lab_update_set_5.0_$basearch
gpgcheck=0
enabled=1
"""
OLD = ["curl-8.7.1-1.ph5.noarch", "tzdata-2024a-1.ph5.noarch", "linux-6.1.83-1.ph5.noarch"]
# The stand-in for boot_id (see above).
BOOT_TIME_COMMAND = "awk '{print $22}' /proc/1/stat"


def pihole_image():
    with open(os.path.join(ROOT, "roles", "pihole", "defaults", "main.yml"), encoding="utf-8") as handle:
        return yaml.safe_load(handle)["pihole_image"]


def prepare_update_set(host):
    """The update set's repository on the host and the old versions of its packages installed."""
    host.exec("sh", "-c", "cat > /etc/yum.repos.d/lab-update-set.repo", input=REPO)
    host.exec("tdnf", "-y", "-q", "install", *[name.rsplit(".", 1)[0] for name in OLD])
    assert installed(host) == OLD


def installed(host):
    return host.sh("rpm -q --qf '%{NAME}-%{VERSION}-%{RELEASE}.%{ARCH}\\n' curl tzdata linux").stdout.split()


def boots(host):
    """(Docker's restart count, PID 1's start): both change when the host reboots."""
    count = labhost.docker("inspect", "-f", "{{.RestartCount}}", host.name).stdout.strip()
    return int(count), host.exec("sh", "-c", BOOT_TIME_COMMAND).stdout.strip()


class Lab:
    """An inventory of lab hosts (groups photon and pihole) and ansible-playbook runs against it."""

    def __init__(self, workdir, photon, pihole=(), extra_vars=None):
        self.workdir = workdir
        self.backups = os.path.join(workdir, "backups")
        self.inventory = os.path.join(workdir, "inventory.yml")
        self.data = None
        self.printed = None

        def hostvars(host):
            return {
                "ansible_host": host.ip, "ansible_user": "root", "ansible_python_interpreter": "/usr/bin/python3",
                "ansible_ssh_private_key_file": host.ssh_key,
                "ansible_ssh_common_args": "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null",
            }
        inventory = {"all": {
            "children": {"photon": {"hosts": {host.name: hostvars(host) for host in photon}},
                         "pihole": {"hosts": {host.name: {} for host in pihole}}},
            "vars": dict({"pihole_backup_dir": self.backups, "update_reboot_boot_time_command": BOOT_TIME_COMMAND},
                         **(extra_vars or {})),
        }}
        with open(self.inventory, "w", encoding="utf-8") as handle:
            json.dump(inventory, handle)

    def playbook(self, playbook, *args):
        """ansible-playbook over SSH with the JSON callback; (rc, its JSON, stderr)."""
        env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS, ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
                   ANSIBLE_HOST_KEY_CHECKING="False", ANSIBLE_NOCOLOR="1", ANSIBLE_PIPELINING="True")
        binary = os.path.join(ROOT, ".venv", "bin", "ansible-playbook")
        argv = [binary if os.path.exists(binary) else "ansible-playbook", "-i", self.inventory, playbook, *args]
        proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=1200, check=False)
        try:
            data = json.loads(proc.stdout)
        except ValueError:
            raise AssertionError("ansible-playbook printed no JSON (rc %s)\n%s\n%s"
                                 % (proc.returncode, proc.stdout[-3000:], proc.stderr[-3000:]))
        return proc.returncode, data, proc.stderr

    def update(self, *args, report=None):
        """The playbook homelab.photon.update; (its stats per host, the report file's entries)."""
        extra = ["-e", "update_report_file=%s" % report] if report else []
        rc, data, err = self.playbook(os.path.join(ROOT, "playbooks", "update.yml"), *extra, *args)
        assert rc == 0, failures(data, err)
        self.data = data
        # The report as the play printed it (tasks_from report).
        self.printed = [result["msg"] for result in self.results("Print what changed per host").values()]
        entries = None
        if report:
            with open(report, encoding="utf-8") as handle:
                entries = yaml.safe_load(handle)
            assert stat.S_IMODE(os.stat(report).st_mode) == 0o600
        return data["stats"], entries

    def results(self, task_name):
        """{host: result} of the last run's task(s) whose name ends with TASK_NAME."""
        return dict((host, result) for play in self.data["plays"] for task in play["tasks"]
                    if task["task"]["name"].endswith(task_name) for host, result in task["hosts"].items())

    def backup_files(self):
        return sorted(glob.glob(os.path.join(self.backups, "*.zip")))


def failures(data, err):
    """The failed tasks of a run, for an assertion message."""
    lines = []
    for play in data.get("plays", []):
        for task in play.get("tasks", []):
            for host, result in task.get("hosts", {}).items():
                if result.get("failed") or result.get("unreachable"):
                    lines.append("%s %s: %s" % (host, task["task"]["name"], result.get("msg")))
    return "\n".join(lines) or err[-3000:]


def package_lines(entry):
    return sorted("%s %s -> %s" % (c["name"], c["before"], c["after"]) for c in entry["packages"])


@pytest.fixture
def pihole_host(lab_host_factory, tmp_path):
    """A Photon lab host with Docker's restart policy and a fixed address, the real Pi-hole deployed by the
    docker and pihole roles, and the update set's old packages installed; (host, Lab)."""
    image = pihole_image()
    subprocess.run([PIHOLE_BUILD, image], check=True, capture_output=True, text=True, timeout=1800)
    host = lab_host_factory(prefix="update", extra_args=["--restart", "unless-stopped", "--ip", ADDRESS])
    # The image into the host's Docker (no registry answers in the lab), and the lab CA (the block
    # lists come from the lab's small internet over HTTPS); Docker stopped again, as on Photon.
    host.exec("systemctl", "start", "docker.service")
    subprocess.run("set -o pipefail; docker save %s | docker exec -i %s docker load" % (image, host.name),
                   shell=True, executable="/bin/bash", check=True, capture_output=True, timeout=600)
    host.exec("systemctl", "stop", "docker.service", "docker.socket")
    bundle = labhost.lab_ca_bundle(str(tmp_path / "ca-bundle.crt"))
    host.exec("install", "-d", "-m", "0755", "/opt/lab")
    labhost.docker("cp", bundle, "%s:/opt/lab/ca-bundle.crt" % host.name)
    lab = Lab(str(tmp_path), [host], pihole=[host], extra_vars={
        "pihole_web_password": PASSWORD,
        "pihole_dns_upstreams": [labhost.INTERNET_IP],
        "pihole_extra_volumes": ["/opt/lab/ca-bundle.crt:/etc/ssl/certs/ca-certificates.crt:ro"],
        "pihole_healthcheck_interval": "2s",
    })
    deploy = tmp_path / "deploy.yml"
    deploy.write_text(yaml.safe_dump([{"name": "Docker and Pi-hole", "hosts": "pihole", "gather_facts": False,
                                       "roles": ["homelab.photon.docker", "homelab.photon.pihole"]}]))
    rc, data, err = lab.playbook(str(deploy))
    assert rc == 0, failures(data, err)
    prepare_update_set(host)
    return host, lab


def test_update_security_check_mode_everything_then_converged(pihole_host, tmp_path):
    host, lab = pihole_host
    assert host.ip == ADDRESS
    assert labhost.dns_ask("pi.hole", server=ADDRESS)["answers"][0]["data"] == ADDRESS
    start = boots(host)
    assert start[0] == 0
    image = host.exec("docker", "inspect", "--format", "{{.Config.Image}}@{{.Image}}", "pihole").stdout.strip()

    # Security updates only: curl, nothing else; no reboot; a backup first.
    stats, report = lab.update("-e", "update_packages_mode=security", report=str(tmp_path / "security.yml"))
    entry = report[host.name]
    assert installed(host) == ["curl-8.7.1-2.ph5.noarch", "tzdata-2024a-1.ph5.noarch", "linux-6.1.83-1.ph5.noarch"]
    assert package_lines(entry) == ["curl 8.7.1-1.ph5 -> 8.7.1-2.ph5"]
    assert entry["rebooted"] is False and entry["reboot_needed_by"] == []
    assert boots(host) == start
    backups = lab.backup_files()
    assert len(backups) == 1 and entry["pihole_backup"] == backups[0]
    assert stat.S_IMODE(os.stat(backups[0]).st_mode) == 0o600
    assert entry["pihole_image_before"] == entry["pihole_image_after"] == image
    assert stats[host.name]["changed"] > 0

    # Check mode, everything: what would change, and nothing changes.
    stats, report = lab.update("--check", report=str(tmp_path / "check.yml"))
    predicted = report[host.name]
    assert predicted["check_mode"] is True
    assert package_lines(predicted) == ["linux 6.1.83-1.ph5 -> 6.1.90-1.ph5", "tzdata 2024a-1.ph5 -> 2025a-1.ph5"]
    assert predicted["rebooted"] is True and predicted["reboot_needed_by"] == ["linux-6.1.90-1.ph5.noarch"]
    assert installed(host) == ["curl-8.7.1-2.ph5.noarch", "tzdata-2024a-1.ph5.noarch", "linux-6.1.83-1.ph5.noarch"]
    assert boots(host) == start
    assert lab.backup_files() == backups

    # Everything: exactly what check mode listed, one reboot, DNS back.
    stats, report = lab.update(report=str(tmp_path / "all.yml"))
    entry = report[host.name]
    assert entry["check_mode"] is False
    assert entry["packages"] == predicted["packages"]
    assert installed(host) == ["curl-8.7.1-2.ph5.noarch", "tzdata-2025a-1.ph5.noarch", "linux-6.1.90-1.ph5.noarch"]
    assert entry["rebooted"] is True and entry["reboot_needed_by"] == ["linux-6.1.90-1.ph5.noarch"]
    count, pid1 = boots(host)
    assert count == 1 and pid1 != start[1], "rebooted exactly once"
    assert host.ip == ADDRESS
    assert entry["dns_after_reboot"] == [ADDRESS]
    assert len(lab.backup_files()) == 2
    states = host.exec("systemctl", "is-active", "systemd-networkd", "systemd-resolved", "docker", "ssh",
                       check=False).stdout.split()
    assert states == ["active"] * 4
    assert host.exec("docker", "inspect", "-f", "{{.State.Status}} {{.State.Health.Status}}",
                     "pihole").stdout.split() == ["running", "healthy"]
    assert labhost.dns_ask("pi.hole", server=ADDRESS)["answers"][0]["data"] == ADDRESS
    assert labhost.dns_ask("example.com", server=ADDRESS)["answers"][0]["data"] == labhost.INTERNET_IP
    assert entry["pihole_image_before"] == entry["pihole_image_after"] == image
    assert lab.printed == [[
        "%s: 2 package(s) changed (all)" % host.name,
        "  linux: 6.1.83-1.ph5 -> 6.1.90-1.ph5",
        "  tzdata: 2024a-1.ph5 -> 2025a-1.ph5",
        "  rebooted: yes (for linux-6.1.90-1.ph5.noarch)",
        "  pihole image: %s (unchanged)" % image,
        "  pihole backup: %s" % lab.backup_files()[1],
    ]], lab.printed
    # Figures, not asserted: the reboot until SSH answered, then until Pi-hole answered DNS.
    print("\nreboot until SSH: %s s; DNS answered at try %s (2 s apart) after it"
          % (lab.results("Reboot for the updated packages (SSH awaited)")[host.name].get("elapsed"),
             lab.results("Wait until the Pi-hole answers DNS on the host again")[host.name].get("tries")))

    # Nothing new: nothing changes, no reboot, no backup.
    stats, report = lab.update()
    assert stats[host.name]["changed"] == 0 and stats[host.name]["failures"] == 0, stats
    assert boots(host) == (1, pid1)
    assert len(lab.backup_files()) == 2


def test_order_list_exclude_and_no_reboot(lab_host_factory, tmp_path):
    """Three hosts: one outside the pihole group, two in it. The outside one goes first, alone; then the
    two Pi-hole hosts one at a time (a batch each), in inventory order. Mode list with an exclusion, and
    update_reboot=never: a kernel update leaves a pending reboot in the report and reboots nothing.
    (The two hosts of the pihole group run no Pi-hole here: the order is what is proved, so their backup
    and image upgrade are off; the Pi-hole path is the test above.)"""
    other, dns1, dns2 = [lab_host_factory(prefix="update-%s" % role) for role in ("other", "dns1", "dns2")]
    for host in (other, dns1, dns2):
        prepare_update_set(host)
    start = dict((host.name, boots(host)) for host in (other, dns1, dns2))
    lab = Lab(str(tmp_path), [other, dns1, dns2], pihole=[dns1, dns2], extra_vars={
        "pihole_web_password": PASSWORD, "update_pihole_backup": False, "update_pihole_upgrade": False})
    stats, report = lab.update("-e", json.dumps({"update_packages_mode": "list",
                                                 "update_packages_list": ["curl", "tzdata", "linux"],
                                                 "update_exclude": ["tzdata"], "update_reboot": "never"}),
                               report=str(tmp_path / "report.yml"))
    # One play entry per batch: the others' play, then one batch per Pi-hole host, then the report.
    batches = [sorted(set(host for task in play["tasks"] for host in task["hosts"])) for play in lab.data["plays"]]
    assert batches[:3] == [[other.name], [dns1.name], [dns2.name]], batches
    for host in (other, dns1, dns2):
        assert installed(host) == ["curl-8.7.1-2.ph5.noarch", "tzdata-2024a-1.ph5.noarch",
                                   "linux-6.1.90-1.ph5.noarch"], host.name
        entry = report[host.name]
        assert package_lines(entry) == ["curl 8.7.1-1.ph5 -> 8.7.1-2.ph5", "linux 6.1.83-1.ph5 -> 6.1.90-1.ph5"]
        assert entry["rebooted"] is False and entry["reboot_pending"] is True
        assert entry["reboot_needed_by"] == ["linux-6.1.90-1.ph5.noarch"]
        assert entry["pihole"] is (host is not other)
        assert boots(host) == start[host.name]
        assert stats[host.name]["changed"] > 0
    assert lab.backup_files() == []
    printed = lab.printed[0]
    assert "  rebooted: no - a reboot is pending for linux-6.1.90-1.ph5.noarch (update_reboot=never)" in printed
