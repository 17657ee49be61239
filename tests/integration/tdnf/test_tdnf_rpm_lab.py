"""homelab.photon.tdnf against the real tdnf 3.6.0 and rpm 4.20 on a Photon lab host.

The lab host (tests/lab/image/build.sh, homelab-photon-lab) is Photon OS 5.0 to Ansible, with tdnf
3.6.0 built from source and three local repositories of marker packages named as Photon's:
photon (photon-release), photon-updates (enabled: rpcbind, nfs-utils requiring rpcbind, docker,
docker-compose 2.20.2 and 2.33.1 with a security advisory for 2.33.1, htop) and photon-extras
(disabled: wget). Every test runs the module through ansible-playbook over SSH, as a user would,
on one host shared by this file; each test first puts it back (only photon-release installed).

A logging shim in front of tdnf (/usr/local/bin/tdnf, first on PATH) records the argv of every
tdnf call, and after each module task a probe reads the installed packages and the calls that task
made: that is how the tests prove that check mode runs only dry runs (--assumeno) and predicts the
real run exactly, that a real run is one transaction, and that a converged host runs no tdnf at all.
Several steps share one play, so a test costs one or two ansible-playbook runs.
"""

import collections
import json
import os
import subprocess
import sys
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
COLLECTIONS = os.path.join(ROOT, "tests", "output", "collections")
if COLLECTIONS not in sys.path:
    sys.path.insert(0, COLLECTIONS)
sys.path.insert(0, os.path.join(ROOT, "tests", "lab"))

import labhost  # noqa: E402
from ansible_collections.homelab.photon.plugins.module_utils import _tdnf  # noqa: E402

UPDATES = "/usr/share/homelab-lab/repos/photon/5.0/photon_updates_5.0_x86_64"
# The real tdnf, for the tests' own reads (the shim on PATH logs the module's calls only).
TDNF = "/usr/bin/tdnf"
CALLS_LOG = "/var/log/tdnf-calls.log"
SHIM = """#!/bin/sh
# Test shim (tests/integration/tdnf/): record the argv of every tdnf call, then run the real tdnf.
{ for arg in "$@"; do printf '%s\\001' "$arg"; done; printf '\\n'; } >> """ + CALLS_LOG + """
exec """ + TDNF + """ "$@"
"""
# After each module task: the installed packages (photon-release aside), then the tdnf calls.
PROBE = ("rpm -qa --qf '%{NAME}-%{VERSION}-%{RELEASE}.%{ARCH}\\n' | grep -v '^photon-release-' | sort;"
         " echo ---; cat " + CALLS_LOG + "; : > " + CALLS_LOG)
BROKEN_REPO = """[broken]
name=Unreachable repo
baseurl=file:///nonexistent/repo
gpgcheck=0
enabled=1
"""
RESULT_KEYS = ("changed", "installed", "upgraded", "downgraded", "removed", "reinstalled", "diff")
PROBE_SPEC = """Name: {name}
{epoch}Version: {version}
Release: {release}
Summary: Probe package for homelab.photon.tdnf's rpm query
License: MIT
BuildArch: noarch
%description
Probe package built in the lab.
%files
"""
PROBES = [
    {"name": "homelab-probe", "epoch": None, "version": "1.0", "release": "1.ph5"},
    {"name": "homelab-epoch", "epoch": "2", "version": "3.1", "release": "4.lab"},
]

# One module task's outcome: its result, the packages installed after it, the tdnf argv it ran
# (without the program name).
Step = collections.namedtuple("Step", ["result", "installed", "calls"])


def parse_calls(text):
    """The shim's log: one line per call, each argument ended by \\x01 (never whitespace, which
    Ansible strips from the end of a command's output)."""
    return [line.split("\x01")[:-1] for line in text.strip("\n").split("\n") if line]


def transactions(step):
    return [argv for argv in step.calls if "-y" in argv]


class Photon:
    """The shared lab host, and the ways the tests drive and read it."""

    def __init__(self, host, workdir):
        self.host = host
        self.workdir = workdir

    def installed(self):
        out = self.host.sh(PROBE.split("; echo ---", maxsplit=1)[0]).stdout
        return out.split()

    def reset(self, *packages):
        """Only photon-release installed (plus PACKAGES from photon-updates' files, with rpm, so
        without any tdnf call), no extra repository, an empty call log."""
        self.host.sh("rpm -qa --qf '%{NAME}\\n' | grep -vx photon-release | xargs -r rpm -e --nodeps;"
                     " rm -f /etc/yum.repos.d/broken.repo; : > " + CALLS_LOG)
        if packages:
            self.host.exec("rpm", "-i", *["%s/%s.noarch.rpm" % (UPDATES, name) for name in packages])

    def play(self, tasks, gather_facts=False):
        """Run tasks with ansible-playbook over SSH (--diff); the per-task results."""
        inventory = os.path.join(self.workdir, "inventory")
        with open(inventory, "w") as handle:
            handle.write("[lab]\n%s\n" % self.host.inventory_line())
        playbook = os.path.join(self.workdir, "play.yml")
        with open(playbook, "w") as handle:
            json.dump([{"name": "tdnf", "hosts": "lab", "gather_facts": gather_facts, "tasks": tasks}], handle)
        env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS, ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
                   ANSIBLE_HOST_KEY_CHECKING="False", ANSIBLE_NOCOLOR="1", ANSIBLE_PIPELINING="True",
                   ANSIBLE_GATHER_SUBSET="min")
        binary = os.path.join(ROOT, ".venv", "bin", "ansible-playbook")
        argv = [binary if os.path.exists(binary) else "ansible-playbook", "-i", inventory, playbook, "--diff"]
        proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300, check=False)
        try:
            return [task["hosts"][self.host.name] for task in json.loads(proc.stdout)["plays"][0]["tasks"]
                    if self.host.name in task["hosts"]]
        except (ValueError, KeyError, IndexError):
            raise AssertionError("no result (rc=%d)\n%s\n%s" % (proc.returncode, proc.stdout, proc.stderr))

    def run(self, *steps):
        """Module tasks in one play, each `args` or `(args, "check")`; a probe after each.
        Failing tasks do not stop the play. Returns one Step per task."""
        tasks = []
        for step in steps:
            args, mode = step if isinstance(step, tuple) else (step, None)
            tasks.append({"name": "tdnf", "homelab.photon.tdnf": args, "check_mode": mode == "check",
                          "ignore_errors": True})
            tasks.append({"name": "probe", "ansible.builtin.shell": PROBE, "check_mode": False, "changed_when": False})
        results = self.play(tasks)
        assert len(results) == 2 * len(steps), results
        outcome = []
        for result, probe in zip(results[::2], results[1::2]):
            packages, calls = probe["stdout"].split("---")
            outcome.append(Step(result, packages.split(), parse_calls(calls)))
        return outcome

    def check_then_run(self, args):
        """ARGS in check mode, then for real; proves that check mode changed nothing and ran only
        dry runs, and that the real run did what check mode said, with one tdnf transaction.
        Returns the real run's result."""
        before = self.installed()
        check, real = self.run((args, "check"), args)
        return prove_prediction(before, check, real)


def prove_prediction(before, check, real):
    assert not check.result.get("failed"), check.result
    assert check.installed == before, "check mode changed the host"
    for argv in check.calls:
        assert "-y" not in argv and ("--assumeno" in argv or argv == ["--version"]), argv
    assert not real.result.get("failed"), real.result
    for key in RESULT_KEYS:
        assert check.result.get(key) == real.result.get(key), (key, check.result, real.result)
    done = real.result
    assert check.result["msg"] == ("would be: " + done["msg"] if done["changed"] else done["msg"])
    assert len(transactions(real)) == (1 if done["changed"] else 0), real.calls
    if not done["changed"]:
        assert real.installed == before
    return done


def is_converged(step):
    """Unchanged, decided from rpm alone: tdnf never ran, not even --version."""
    result = step.result
    return (not result.get("failed") and result["changed"] is False and result["msg"] == "nothing to do"
            and result["tdnf_version"] is None and step.calls == [])


@pytest.fixture(scope="module")
def lab(ssh_keypair, tmp_path_factory):
    host = labhost.start(prefix="tdnf", ssh_key=ssh_keypair[0])
    try:
        host.authorize(ssh_keypair[1])
        host.exec("sh", "-c", "cat > /usr/local/bin/tdnf && chmod 0755 /usr/local/bin/tdnf", input=SHIM)
        yield Photon(host, str(tmp_path_factory.mktemp("tdnf")))
    finally:
        host.remove()


@pytest.fixture
def photon(lab):
    lab.reset()
    return lab


def test_the_host_is_photon_5_with_the_real_tdnf(photon):
    facts = photon.play([{"name": "facts", "ansible.builtin.setup": {"gather_subset": ["min"]}}])[0]["ansible_facts"]
    assert facts["ansible_distribution"] == "VMware Photon OS"
    assert facts["ansible_distribution_version"] == "5.0"
    assert facts["ansible_os_family"] == "VMware Photon OS"
    assert photon.host.exec(TDNF, "--version").stdout.strip() == "tdnf: 3.6.0"
    # tdnf reads $releasever from photon-release's provides (the repositories' paths hold it).
    repos = json.loads(photon.host.exec(TDNF, "-j", "repolist", "all").stdout)
    assert {r["Repo"]: (r["RepoName"], r["Enabled"]) for r in repos if not r["Repo"].startswith("@")} == {
        "photon": ("VMware Photon Linux 5.0 (x86_64)", True),
        "photon-updates": ("VMware Photon Linux 5.0 (x86_64) Updates", True),
        "photon-extras": ("VMware Photon Extras 5.0 (x86_64)", False),
    }
    assert photon.installed() == []


def test_rpm_query_against_the_real_rpm(photon):
    """The module's own rpm query and its parser on rpm 4.20's real output and exit codes."""
    host = photon.host
    for probe in PROBES:
        spec = PROBE_SPEC.format(name=probe["name"], version=probe["version"], release=probe["release"],
                                 epoch="Epoch: %s\n" % probe["epoch"] if probe["epoch"] else "")
        host.exec("sh", "-c", "mkdir -p /root/rb/SPECS && cat > /root/rb/SPECS/%s.spec" % probe["name"], input=spec)
        host.exec("rpmbuild", "-bb", "--quiet", "--define", "_topdir /root/rb", "/root/rb/SPECS/%s.spec" % probe["name"])
    host.sh("rpm -i /root/rb/RPMS/noarch/homelab-*.rpm && rm -rf /root/rb")
    names = ["homelab-probe", "homelab-epoch", "homelab-missing", "nfs-utils"]
    proc = host.exec(*_tdnf.rpm_query_argv("rpm", names), check=False)
    assert proc.returncode == 2  # rpm exits with the number of names that are not installed
    assert not _tdnf.rpm_query_failed(proc.returncode, proc.stdout, proc.stderr, names)
    installed = _tdnf.parse_rpm_query(proc.stdout)
    assert sorted(installed) == ["homelab-epoch", "homelab-probe"]
    assert [_tdnf.nevra(pkg) for pkg in installed["homelab-probe"]] == ["homelab-probe-1.0-1.ph5.noarch"]
    assert [_tdnf.nevra(pkg) for pkg in installed["homelab-epoch"]] == ["homelab-epoch-2:3.1-4.lab.noarch"]
    specs = [_tdnf.parse_spec(s) for s in ["homelab-probe-1.0", "homelab-epoch-2:3.1-4.lab", "homelab-missing"]]
    assert [s.raw for s in _tdnf.unsatisfied_present(specs, installed)] == ["homelab-missing"]
    # Every installed package at once (rpm -qa), as for name='*' on tdnf 3.1.
    everything = host.exec(*_tdnf.rpm_query_argv("rpm", []))
    assert sorted(_tdnf.parse_rpm_query(everything.stdout)) == ["homelab-epoch", "homelab-probe", "photon-release"]
    # A broken database is a failure, not "not installed".
    host.sh("mv /var/lib/rpm /var/lib/rpm.moved && mkdir /var/lib/rpm && chmod 000 /var/lib/rpm")
    broken = host.exec("su", "nobody", "-s", "/bin/sh", "-c", labhost.quote(_tdnf.rpm_query_argv("rpm", ["homelab-probe"])),
                       check=False)
    host.sh("rm -rf /var/lib/rpm && mv /var/lib/rpm.moved /var/lib/rpm")
    assert broken.returncode != 0
    assert _tdnf.rpm_query_failed(broken.returncode, broken.stdout, broken.stderr, ["homelab-probe"]), broken
    # Installed packages that no repository has: present decides from rpm alone.
    step, = photon.run({"name": ["homelab-probe", "homelab-epoch-2:3.1-4.lab"]})
    assert is_converged(step), step


def test_present_installs_with_dependency_and_a_converged_host_runs_no_tdnf(photon):
    check, real = photon.run(({"name": ["nfs-utils"], "state": "installed"}, "check"),
                             {"name": ["nfs-utils"], "state": "installed"})
    done = prove_prediction([], check, real)
    assert done["changed"] is True and done["msg"] == "2 installed" and done["tdnf_version"] == "3.6.0"
    assert done["installed"] == ["rpcbind-1.2.6-1.ph5.noarch", "nfs-utils-2.5.4-1.ph5.noarch"]
    assert done["diff"]["before"] == "" and done["diff"]["after"] == "nfs-utils-2.5.4-1.ph5\nrpcbind-1.2.6-1.ph5\n"
    assert transactions(real) == [["-y", "install", "nfs-utils"]]
    assert real.installed == ["nfs-utils-2.5.4-1.ph5.noarch", "rpcbind-1.2.6-1.ph5.noarch"]
    # Converged, in check mode and not: one rpm query decides; tdnf never starts, so no transaction
    # either (tdnf's history is unchanged too).
    converged = [{"name": ["nfs-utils", "rpcbind"]}, {"name": ["wget", "no-such-package"], "state": "absent"}]
    history = photon.host.exec(TDNF, "-j", "history", "list").stdout
    again = photon.run(*[(args, "check") for args in converged], *converged)
    assert all(is_converged(step) for step in again), again
    assert photon.host.exec(TDNF, "-j", "history", "list").stdout == history


def test_present_never_upgrades_and_latest_does(photon):
    photon.reset("docker-compose-2.20.2-1.ph5")
    present, check, latest, check_again, latest_again = photon.run(
        {"name": ["docker-compose"]},
        ({"name": ["docker-compose"], "state": "latest"}, "check"), {"name": ["docker-compose"], "state": "latest"},
        ({"name": ["docker-compose"], "state": "latest"}, "check"), {"name": ["docker-compose"], "state": "latest"})
    assert is_converged(present) and present.installed == ["docker-compose-2.20.2-1.ph5.noarch"]
    done = prove_prediction(["docker-compose-2.20.2-1.ph5.noarch"], check, latest)
    assert done["upgraded"] == ["docker-compose-2.33.1-1.ph5.noarch"] and done["msg"] == "1 upgraded"
    assert done["diff"]["before"] == "docker-compose-2.20.2-1.ph5\n"
    assert done["diff"]["after"] == "docker-compose-2.33.1-1.ph5\n"
    assert transactions(latest) == [["-y", "upgrade", "docker-compose"]]
    assert latest.installed == ["docker-compose-2.33.1-1.ph5.noarch"]
    # At the newest version: latest needs tdnf's dry run to know, and runs no transaction.
    done = prove_prediction(latest.installed, check_again, latest_again)
    assert done["changed"] is False and done["tdnf_version"] == "3.6.0"
    assert latest_again.calls == [["--version"], ["-j", "--assumeno", "install", "docker-compose"]]
    # latest installs what is missing and upgrades the rest in one transaction.
    photon.reset("docker-compose-2.20.2-1.ph5")
    done = photon.check_then_run({"name": ["docker-compose", "htop"], "state": "latest"})
    assert done["installed"] == ["htop-3.2.2-1.ph5.noarch"]
    assert done["upgraded"] == ["docker-compose-2.33.1-1.ph5.noarch"]


def test_pinned_versions(photon):
    photon.reset("docker-compose-2.33.1-1.ph5")
    pinned = ("docker-compose-2.20.2", "docker-compose-2.20.2-1.ph5", "docker-compose-0:2.20.2-1.ph5.noarch")
    pins = [{"name": [name]} for name in pinned]
    up = {"name": ["docker-compose-2.33.1-1.ph5.noarch"]}
    check, down, *same, check_up, real_up, unknown = photon.run(
        ({"name": ["docker-compose-2.20.2"]}, "check"), {"name": ["docker-compose-2.20.2"]}, *pins,
        (up, "check"), up, {"name": ["docker-compose-9.9.9"]})
    # present with another version installed moves it to the pinned one.
    done = prove_prediction(["docker-compose-2.33.1-1.ph5.noarch"], check, down)
    assert done["downgraded"] == ["docker-compose-2.20.2-1.ph5.noarch"] and done["msg"] == "1 downgraded"
    assert done["diff"]["before"] == "docker-compose-2.33.1-1.ph5\n"
    assert done["diff"]["after"] == "docker-compose-2.20.2-1.ph5\n"
    assert down.installed == ["docker-compose-2.20.2-1.ph5.noarch"]
    # Pinned at the installed version (version, release, epoch, arch): converged, no tdnf.
    assert all(is_converged(step) for step in same), same
    done = prove_prediction(down.installed, check_up, real_up)
    assert done["upgraded"] == ["docker-compose-2.33.1-1.ph5.noarch"]
    # A version no repository has fails, naming it, and changes nothing.
    result = unknown.result
    assert result.get("failed") and result["tdnf_error"] == 1011, result
    assert "no package matches docker-compose-9.9.9" in result["msg"]
    assert unknown.installed == real_up.installed and transactions(unknown) == []


def test_absent_removes_dependents_and_takes_an_arch(photon):
    photon.reset("rpcbind-1.2.6-1.ph5", "nfs-utils-2.5.4-1.ph5", "htop-3.2.2-1.ph5")
    before = photon.installed()
    check, real, other_arch, check_arch, real_arch = photon.run(
        ({"name": ["rpcbind"], "state": "absent"}, "check"), {"name": ["rpcbind"], "state": "absent"},
        {"name": ["htop.x86_64"], "state": "absent"},
        ({"name": ["htop.noarch"], "state": "removed"}, "check"), {"name": ["htop.noarch"], "state": "removed"})
    done = prove_prediction(before, check, real)
    assert sorted(done["removed"]) == ["nfs-utils-2.5.4-1.ph5.noarch", "rpcbind-1.2.6-1.ph5.noarch"]
    assert done["diff"]["before"] == "nfs-utils-2.5.4-1.ph5\nrpcbind-1.2.6-1.ph5\n" and done["diff"]["after"] == ""
    assert transactions(real) == [["-y", "erase", "rpcbind"]]
    assert real.installed == ["htop-3.2.2-1.ph5.noarch"]
    # Another architecture is not installed: nothing to do, no tdnf.
    assert is_converged(other_arch), other_arch
    done = prove_prediction(real.installed, check_arch, real_arch)
    assert done["removed"] == ["htop-3.2.2-1.ph5.noarch"] and done["msg"] == "1 removed"
    assert real_arch.installed == []


def test_enablerepo_and_disablerepo(photon):
    enabled = {"name": ["wget"], "enablerepo": ["photon-extras"]}
    disabled, check, real, without_updates = photon.run(
        {"name": ["wget", "htop"]}, (enabled, "check"), enabled, {"name": ["htop"], "disablerepo": ["photon-updates"]})
    # wget is only in the disabled photon-extras: the message names the repository to enable.
    result = disabled.result
    assert result.get("failed") and result["tdnf_error"] == 1011, result
    assert "wget (in disabled repository photon-extras: add enablerepo: [photon-extras])" in result["msg"]
    assert disabled.installed == [] and transactions(disabled) == []  # one transaction: no htop either
    done = prove_prediction([], check, real)
    assert done["installed"] == ["wget-1.21.4-2.ph5.noarch"]
    assert transactions(real) == [["-y", "--enablerepo=photon-extras", "install", "wget"]]
    # htop is only in photon-updates: disabled for the task, it is not found.
    result = without_updates.result
    assert result.get("failed") and "no package matches htop" in result["msg"], result
    assert "--disablerepo=photon-updates" in result["cmd"]
    assert without_updates.installed == ["wget-1.21.4-2.ph5.noarch"]


def test_an_unreachable_repository(photon):
    photon.host.exec("sh", "-c", "cat > /etc/yum.repos.d/broken.repo", input=BROKEN_REPO)
    skipping = {"name": ["htop"], "disablerepo": ["broken"]}
    install, cache, check, real, skipped = photon.run(
        {"name": ["htop"]}, {"update_cache": True}, (skipping, "check"), skipping,
        {"name": ["nfs-utils"], "releasever": "4.0", "disablerepo": ["broken"]})
    for step in (install, cache):
        result = step.result
        assert result.get("failed") and result["tdnf_error"] == 1238 and result["rc"] == 214, result
        assert result["msg"] == ("tdnf could not read repository 'Unreachable repo' (repo id broken) (Error(1238): "
                                 "Could not read a file:// file). Fix its baseurl, or skip it: add disablerepo: [broken] "
                                 "to this task, or set skip_if_unavailable=1 in its .repo file in /etc/yum.repos.d."), result
        assert result["cmd"][0] == "/usr/local/bin/tdnf"  # through the shim: the log has every call
        assert step.installed == [] and transactions(step) == []
    # Disabled on the command line, the broken repository is not read.
    done = prove_prediction([], check, real)
    assert done["installed"] == ["htop-3.2.2-1.ph5.noarch"]
    # Repositories with skip_if_unavailable that cannot be read (no 4.0 tree) are skipped: a package
    # then missing is reported as such, with the skipped repositories, not as an unreadable repository.
    result = skipped.result
    assert result.get("failed") and result["tdnf_error"] == 1011, result
    assert result["msg"].startswith("Nothing was installed: no package matches nfs-utils in the enabled repositories.")
    assert ("skipped (skip_if_unavailable) repositories 'VMware Photon Linux 4.0 (x86_64)', "
            "'VMware Photon Linux 4.0 (x86_64) Updates'") in result["msg"]


def test_an_unknown_package(photon):
    step, = photon.run({"name": ["htop", "no-such-package"]})
    result = step.result
    assert result.get("failed"), result
    assert result["msg"] == ("Nothing was installed: no package matches no-such-package in the enabled repositories. "
                             "(Error(1011): No matching packages)")
    assert result["rc"] == 243 and result["tdnf_error"] == 1011
    assert step.installed == [] and transactions(step) == []


def test_update_cache(photon):
    host = photon.host
    stamps = "stat -c '%n %Y' /var/cache/tdnf/*/lastrefresh 2>/dev/null || true"
    host.sh("rm -rf /var/cache/tdnf/*")
    check, real = photon.run(({"update_cache": True}, "check"), {"update_cache": True})
    assert check.result["changed"] is False and check.result["cache_updated"] is False and check.calls == []
    result = real.result
    assert result["changed"] is False and result["cache_updated"] is True and result["msg"] == "metadata cache refreshed"
    assert real.calls == [["--version"], ["makecache"]]
    first = dict(line.split() for line in host.sh(stamps).stdout.splitlines())
    # The enabled repositories' metadata, not the disabled photon-extras'.
    assert sorted(os.path.basename(os.path.dirname(path)).rsplit("-", 1)[0] for path in first) == ["photon", "photon-updates"]
    time.sleep(1.1)
    step, = photon.run({"name": ["htop"], "update_cache": True})
    assert step.result["cache_updated"] is True and step.result["installed"] == ["htop-3.2.2-1.ph5.noarch"]
    assert step.calls[:2] == [["--version"], ["makecache"]]
    second = dict(line.split() for line in host.sh(stamps).stdout.splitlines())
    assert sorted(second) == sorted(first) and all(int(second[p]) > int(first[p]) for p in first)


def test_security_updates_of_the_named_packages_only(photon):
    photon.reset("docker-compose-2.20.2-1.ph5", "htop-3.2.2-1.ph5")
    before = photon.installed()
    htop = {"name": ["htop"], "state": "latest", "security": True}
    compose = {"name": ["docker-compose"], "state": "latest", "security": True}
    check, real, check_compose, real_compose = photon.run((htop, "check"), htop, (compose, "check"), compose)
    # htop has no security update; docker-compose's (2.33.1, advisory PHSA-LAB-5.0-0001) is not
    # applied for it, although tdnf --security upgrade htop would apply it.
    done = prove_prediction(before, check, real)
    assert done["changed"] is False and done["upgraded"] == []
    done = prove_prediction(before, check_compose, real_compose)
    assert done["upgraded"] == ["docker-compose-2.33.1-1.ph5.noarch"]
    assert transactions(real_compose) == [["-y", "upgrade", "docker-compose-2.33.1-1.ph5.noarch"]]
    photon.reset("docker-compose-2.20.2-1.ph5")
    done = photon.check_then_run({"name": ["*"], "state": "latest", "security": True})
    assert done["upgraded"] == ["docker-compose-2.33.1-1.ph5.noarch"]


def test_latest_everything_and_exclude(photon):
    photon.reset("docker-compose-2.20.2-1.ph5", "htop-3.2.2-1.ph5")
    before = photon.installed()
    everything = {"name": ["*"], "state": "latest"}
    excluded, check, real = photon.run(dict(everything, exclude=["docker-compose"]), (everything, "check"), everything)
    assert excluded.result["changed"] is False and excluded.installed == before, excluded
    done = prove_prediction(before, check, real)
    assert done["upgraded"] == ["docker-compose-2.33.1-1.ph5.noarch"]
    assert transactions(real) == [["-y", "upgrade"]]


def test_base_role_and_the_docker_packages_through_tdnf(photon):
    """The base role takes its Photon path on this host (auto): its packages come through the
    module and tdnf, as do Docker's (the docker role's install task); a second run is converged
    without any tdnf call."""
    tasks = [
        {"name": "base", "ansible.builtin.include_role": {"name": "homelab.photon.base"},
         "vars": {"base_packages": ["htop"]}},
        {"name": "docker packages", "homelab.photon.tdnf": {"name": ["docker", "docker-compose"]}},
        {"name": "probe", "ansible.builtin.shell": PROBE, "changed_when": False},
    ]
    for run in (1, 2):
        results = photon.play(tasks, gather_facts=True)
        assert not any(r.get("failed") for r in results), results
        packages, calls = results[-1]["stdout"].split("---")
        assert packages.split() == ["docker-26.1.5-1.ph5.noarch", "docker-compose-2.33.1-1.ph5.noarch",
                                    "htop-3.2.2-1.ph5.noarch", "nfs-utils-2.5.4-1.ph5.noarch",
                                    "rpcbind-1.2.6-1.ph5.noarch"]
        calls = parse_calls(calls)
        if run == 1:
            assert [argv for argv in calls if "-y" in argv] == [["-y", "install", "htop", "nfs-utils"],
                                                                ["-y", "install", "docker", "docker-compose"]]
        else:
            assert not any(r.get("changed") for r in results), results
            assert calls == []
