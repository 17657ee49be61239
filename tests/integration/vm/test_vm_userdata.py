"""The role's rendered cloud-init documents, checked by the real cloud-init.

The role renders user-data and meta-data (tasks_from: render); `cloud-init schema --config-file`
validates the user-data with two real cloud-inits inside a lab host: its own 25.1 (Debian 13),
and Debian 12's 22.4.2 (the version Photon OS 3.0 ships), fetched with `apt-get download`, unpacked
and run from PYTHONPATH. A deliberately broken document is shown to fail the same checks, so the
checks themselves can fail.
"""

import glob
import os
import shutil
import subprocess
import tempfile

import pytest
import yaml

import labhost  # tests/lab
from vmrole_helpers import run_playbook

RENDER = """
- name: Render the first-boot documents of homelab.photon.vm
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Render
      ansible.builtin.include_role:
        name: homelab.photon.vm
        tasks_from: render
    - name: Keep the user-data
      ansible.builtin.copy:
        content: "{{ vm_rendered_userdata }}"
        dest: "{{ out }}/user-data"
        mode: "0600"
    - name: Keep the meta-data
      ansible.builtin.copy:
        content: "{{ vm_rendered_metadata }}"
        dest: "{{ out }}/meta-data"
        mode: "0600"
"""

HASH = "$6$homelabsalt$" + "Ab1./" * 17 + "C"


def keygen(tmp_path):
    return labhost.make_ssh_key(str(tmp_path))[1]


CASES = {
    "key-only": {},
    "hash-only": {"vm_ssh_public_key": "", "vm_root_password_hash": HASH},
    "full": {"vm_hostname": "photon-1.home.lan", "vm_root_password_hash": HASH, "vm_admin_user": "ops",
             "vm_admin_password_hash": HASH,
             "vm_network": {"address": "192.168.0.235/24", "gateway": "192.168.0.1", "dns": ["192.168.0.100"],
                            "domains": ["home.lan"]}},
}


def render(tmp_path, overrides):
    out = tmp_path / "out"
    out.mkdir()
    extravars = {"out": str(out), "vm_name": "photon-1", "vm_ssh_public_key": keygen(tmp_path)}
    extravars.update(overrides)
    result = run_playbook(tmp_path, RENDER, extravars, name="render")
    assert result.returncode == 0, result.stdout + result.stderr
    return extravars, (out / "user-data").read_text(), (out / "meta-data").read_text(), result.stdout


@pytest.fixture(scope="module")
def schema_host():
    """One lab host (Debian 13, cloud-init 25.1) for every schema check of this module."""
    import labhost  # tests/lab, put on sys.path by tests/integration/conftest.py
    host = labhost.start(prefix="vm-schema")
    try:
        yield host
    finally:
        host.remove()


ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
CI22_CACHE = os.path.join(ROOT, "tests", "lab", ".cache", "cloud-init-22.4")


def fetch_cloud_init_22():
    """Debian 12's cloud-init package (22.4.2, as in Photon OS 3.0), unpacked once into the lab cache."""
    package_dir = os.path.join(CI22_CACHE, "usr", "lib", "python3", "dist-packages")
    if os.path.isdir(os.path.join(package_dir, "cloudinit")):
        return package_dir
    work = tempfile.mkdtemp(prefix="homelab-ci22-")
    try:
        got = subprocess.run(["apt-get", "download", "cloud-init"], cwd=work, capture_output=True, text=True,
                             check=False)
        debs = glob.glob(os.path.join(work, "cloud-init_*.deb"))
        if got.returncode != 0 or not debs:
            pytest.skip("apt-get download cloud-init failed here: %s" % got.stderr.strip()[-300:])
        if not os.path.basename(debs[0]).startswith("cloud-init_22.4."):
            pytest.skip("this machine's apt offers %s, not Debian 12's 22.4" % os.path.basename(debs[0]))
        unpacked = os.path.join(work, "root")
        subprocess.run(["dpkg-deb", "-x", debs[0], unpacked], check=True)
        shutil.rmtree(CI22_CACHE, ignore_errors=True)
        os.makedirs(os.path.dirname(CI22_CACHE), exist_ok=True)
        shutil.move(unpacked, CI22_CACHE)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return package_dir


@pytest.fixture(scope="module")
def cloud_init_22(schema_host):
    """Put cloud-init 22.4.2's Python package into the lab host (its python3 has the dependencies)."""
    package_dir = fetch_cloud_init_22()
    tar = subprocess.run(["tar", "-C", package_dir, "-c", "cloudinit"], check=True, capture_output=True).stdout
    subprocess.run(["docker", "exec", "-i", schema_host.name, "sh", "-c", "mkdir -p /opt/ci22 && tar -C /opt/ci22 -x"],
                   input=tar, check=True)
    version = schema_host.exec("env", "PYTHONPATH=/opt/ci22", "python3", "-m", "cloudinit.cmd.main", "--version")
    assert version.stdout.split()[-1] == "22.4.2", version.stdout
    return ["env", "PYTHONPATH=/opt/ci22", "python3", "-m", "cloudinit.cmd.main"]


def schema(host, text, name, command=("cloud-init",)):
    path = "/tmp/%s.yaml" % name
    host.exec("sh", "-c", "cat > %s" % path, input=text)
    return host.exec(*command, "schema", "--config-file", path, "--annotate", check=False)


@pytest.mark.parametrize("case", sorted(CASES))
def test_rendered_userdata_passes_cloud_init_schema(tmp_path, schema_host, cloud_init_22, case):
    extravars, userdata, metadata, stdout = render(tmp_path, CASES[case])
    assert userdata.startswith("#cloud-config\n")
    result = schema(schema_host, userdata, case)
    assert result.returncode == 0 and "Valid schema" in result.stdout, result.stdout + result.stderr
    # Photon OS 3.0's cloud-init version (22.4.2) accepts it too: no error, no deprecation.
    result = schema(schema_host, userdata, case + "-22", cloud_init_22)
    assert result.returncode == 0 and "Valid cloud-config" in result.stdout, result.stdout + result.stderr
    assert "deprecat" not in (result.stdout + result.stderr).lower(), result.stdout + result.stderr
    # Secrets are not printed by the play that rendered them.
    assert HASH not in stdout

    doc = yaml.safe_load(userdata)
    root = [u for u in doc["users"] if u["name"] == "root"][0]
    assert "default" not in doc["users"]
    assert doc["disable_root"] is False
    assert doc["bootcmd"] == [["cloud-init-per", "once", "homelab-root-expiry", "chage", "-d", "-1", "-M", "-1",
                               "-E", "-1", "root"]]
    if extravars.get("vm_root_password_hash"):
        assert root["hashed_passwd"] == HASH and root["lock_passwd"] is False
    else:
        assert root["lock_passwd"] is True and "hashed_passwd" not in root
    if extravars["vm_ssh_public_key"]:
        assert root["ssh_authorized_keys"] == [extravars["vm_ssh_public_key"]]
    else:
        assert "ssh_authorized_keys" not in root

    meta = yaml.safe_load(metadata)
    assert meta == {"instance-id": "photon-1", "local-hostname": extravars.get("vm_hostname", "photon-1")}

    if case == "full":
        assert doc["hostname"] == "photon-1" and doc["fqdn"] == "photon-1.home.lan"
        admin = [u for u in doc["users"] if u["name"] == "ops"][0]
        assert admin["sudo"] == "ALL=(ALL) NOPASSWD:ALL" and admin["hashed_passwd"] == HASH
        assert admin["ssh_authorized_keys"] == [extravars["vm_ssh_public_key"]]
        (netfile,) = doc["write_files"]
        assert netfile["path"] == "/etc/systemd/network/10-static-en.network"
        assert netfile["permissions"] == "0644"
        assert netfile["content"].splitlines()[1:] == [
            "[Match]", "Name=eth0", "", "[Network]", "Address=192.168.0.235/24", "Gateway=192.168.0.1",
            "DNS=192.168.0.100", "Domains=home.lan"]
        assert doc["runcmd"] == [["systemctl", "restart", "systemd-networkd"]]
    else:
        assert "write_files" not in doc and "runcmd" not in doc


def test_schema_check_catches_a_broken_document(schema_host, cloud_init_22):
    """The same checks on a document with a wrong type fail: the schema test above can fail."""
    broken = "#cloud-config\nusers:\n  - name: root\n    lock_passwd: maybe\nbootcmd: 5\n"
    for command in (("cloud-init",), cloud_init_22):
        result = schema(schema_host, broken, "broken", command)
        assert result.returncode != 0, result.stdout
        assert "bootcmd" in result.stdout + result.stderr
