"""Lab proof of the part of homelab.photon.tdnf that can run here: its rpm query, with the real rpm.

No tdnf exists on this machine or in the lab (the tdnf side is proven by the unit tests on a real
tdnf's transcripts, tests/unit/plugins/modules/test_tdnf.yaml). The lab host (Debian 13, standing
in for Photon OS) has the real rpm 4.20, the program the module reads the installed state with.
Two probe packages are built there with rpmbuild and installed with rpm; then:

1. the module's own query argv (rpm_query_argv) runs on the host and its real output and exit
   code go through the module's parser (parse_rpm_query, rpm_query_failed);
2. the module runs through ansible-playbook over SSH, as a user would: a converged host (every
   package installed, or absent ones absent) is decided from rpm alone, with no tdnf call, in check
   mode and not; a task that would need tdnf fails with a message that says so;
3. the base role's Photon branch (forced with base_package_manager=tdnf, the lab host being Debian)
   calls the module with its packages: converged, it changes nothing; with a missing package it
   fails at the tdnf module, which proves the branch is wired to it.
"""

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
COLLECTIONS = os.path.join(ROOT, "tests", "output", "collections")
if COLLECTIONS not in sys.path:
    sys.path.insert(0, COLLECTIONS)

from ansible_collections.homelab.photon.plugins.module_utils import _tdnf  # noqa: E402

SPEC = """Name: {name}
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


def build_and_install(host):
    for probe in PROBES:
        spec = SPEC.format(name=probe["name"], version=probe["version"], release=probe["release"],
                           epoch="Epoch: %s\n" % probe["epoch"] if probe["epoch"] else "")
        host.exec("sh", "-c", "mkdir -p /tmp/rb/SPECS && cat > /tmp/rb/SPECS/%s.spec" % probe["name"], input=spec)
        host.exec("rpmbuild", "-bb", "--quiet", "--define", "_topdir /tmp/rb", "/tmp/rb/SPECS/%s.spec" % probe["name"])
    host.sh("rpm -i /tmp/rb/RPMS/noarch/homelab-*.rpm")


def run_play(host, workdir, tasks, check=False):
    """Run tasks on the lab host with ansible-playbook over SSH; the per-task results."""
    inventory = os.path.join(workdir, "inventory")
    with open(inventory, "w") as handle:
        handle.write("[lab]\n%s\n" % host.inventory_line())
    playbook = os.path.join(workdir, "play.yml")
    with open(playbook, "w") as handle:
        json.dump([{"name": "tdnf", "hosts": "lab", "gather_facts": False, "tasks": tasks}], handle)
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS, ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
               ANSIBLE_HOST_KEY_CHECKING="False", ANSIBLE_NOCOLOR="1")
    binary = os.path.join(ROOT, ".venv", "bin", "ansible-playbook")
    argv = [binary if os.path.exists(binary) else "ansible-playbook", "-i", inventory, playbook, "--diff"]
    if check:
        argv.append("--check")
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=180, check=False)
    try:
        return [task["hosts"][host.name] for task in json.loads(proc.stdout)["plays"][0]["tasks"]
                if host.name in task["hosts"]]
    except (ValueError, KeyError, IndexError):
        raise AssertionError("no result (rc=%d)\n%s\n%s" % (proc.returncode, proc.stdout, proc.stderr))


def run_module(host, workdir, args, check=False):
    return run_play(host, workdir, [{"name": "tdnf", "homelab.photon.tdnf": args}], check=check)[0]


@pytest.fixture
def probe_host(lab_host):
    build_and_install(lab_host)
    assert lab_host.exec("sh", "-c", "command -v tdnf", check=False).returncode != 0, "the lab has no tdnf"
    return lab_host


def test_rpm_query_against_the_real_rpm(probe_host):
    names = ["homelab-probe", "homelab-epoch", "homelab-missing", "nfs-utils"]
    proc = probe_host.exec(*_tdnf.rpm_query_argv("rpm", names), check=False)
    assert proc.returncode == 2  # rpm exits with the number of names that are not installed
    assert not _tdnf.rpm_query_failed(proc.returncode, proc.stdout, proc.stderr, names)
    installed = _tdnf.parse_rpm_query(proc.stdout)
    assert sorted(installed) == ["homelab-epoch", "homelab-probe"]
    assert [_tdnf.nevra(pkg) for pkg in installed["homelab-probe"]] == ["homelab-probe-1.0-1.ph5.noarch"]
    assert [_tdnf.nevra(pkg) for pkg in installed["homelab-epoch"]] == ["homelab-epoch-2:3.1-4.lab.noarch"]
    # What the decisions make of it.
    specs = [_tdnf.parse_spec(s) for s in ["homelab-probe-1.0", "homelab-epoch-2:3.1-4.lab", "homelab-missing"]]
    assert [s.raw for s in _tdnf.unsatisfied_present(specs, installed)] == ["homelab-missing"]
    # Every installed package at once (rpm -qa), as for name='*' on tdnf 3.1.
    everything = probe_host.exec(*_tdnf.rpm_query_argv("rpm", []))
    assert sorted(_tdnf.parse_rpm_query(everything.stdout)) == ["homelab-epoch", "homelab-probe"]
    # A broken database is a failure, not "not installed".
    probe_host.exec("sh", "-c", "mv /var/lib/rpm /var/lib/rpm.moved && mkdir /var/lib/rpm && chmod 000 /var/lib/rpm")
    broken = probe_host.exec("su", "nobody", "-s", "/bin/sh", "-c", " ".join(
        "'%s'" % arg for arg in _tdnf.rpm_query_argv("rpm", ["homelab-probe"])), check=False)
    probe_host.exec("sh", "-c", "rm -rf /var/lib/rpm && mv /var/lib/rpm.moved /var/lib/rpm")
    assert broken.returncode != 0
    assert _tdnf.rpm_query_failed(broken.returncode, broken.stdout, broken.stderr, ["homelab-probe"]), broken


def test_module_on_a_converged_host_needs_only_rpm(probe_host, tmp_path):
    workdir = str(tmp_path)
    for check in (True, False):
        result = run_module(probe_host, workdir, {"name": ["homelab-probe", "homelab-epoch-2:3.1-4.lab"]}, check=check)
        assert not result.get("failed"), result
        assert result["changed"] is False and result["msg"] == "nothing to do"
        assert result["tdnf_version"] is None and result["installed"] == []
        result = run_module(probe_host, workdir, {"name": ["homelab-missing"], "state": "absent"}, check=check)
        assert not result.get("failed"), result
        assert result["changed"] is False and result["removed"] == []


def test_module_says_when_tdnf_is_needed_and_missing(probe_host, tmp_path):
    workdir = str(tmp_path)
    # Installed at another version: present must move it, which only tdnf can do.
    for args in ({"name": ["homelab-probe-2.0"]}, {"name": ["homelab-missing"]},
                 {"name": ["homelab-probe"], "state": "absent"}):
        result = run_module(probe_host, workdir, args)
        assert result.get("failed"), result
        assert "tdnf was not found on the target" in result["msg"]
    # Nothing was removed by the failed absent task.
    assert probe_host.exec("rpm", "-q", "homelab-probe").returncode == 0


def test_base_role_photon_branch_calls_the_module(probe_host, tmp_path):
    workdir = str(tmp_path)
    role = {"name": "base", "ansible.builtin.include_role": {"name": "homelab.photon.base"},
            "vars": {"base_package_manager": "tdnf", "base_nfs_client": False,
                     "base_packages": ["homelab-probe", "homelab-epoch"]}}
    for check in (True, False):
        results = run_play(probe_host, workdir, [role], check=check)
        tdnf = [r for r in results if "tdnf_version" in r]
        assert len(tdnf) == 1 and not tdnf[0].get("failed"), results
        assert tdnf[0]["changed"] is False and tdnf[0]["msg"] == "nothing to do"
        assert not any(r.get("failed") for r in results), results
    role["vars"]["base_packages"] = ["homelab-probe", "homelab-missing"]
    results = run_play(probe_host, workdir, [role])
    assert results[-1].get("failed") and "tdnf was not found on the target" in results[-1]["msg"], results
