"""The role's rendered cloud-init documents, checked by the real cloud-init.

The role renders user-data and meta-data (tasks_from: render); `cloud-init schema --config-file`
validates the user-data with two real cloud-inits inside a lab host: its own 25.1 (Debian 13),
and Debian 12's 22.4.2 (the version Photon OS 3.0 ships), fetched with `apt-get download`, unpacked
and run from PYTHONPATH. A deliberately broken document is shown to fail the same checks, so the
checks themselves can fail.

`cloud-init schema` has no schema for meta-data: the meta-data goes through the VMware datasource's
own reading instead (DataSourceVMware._get_data of each version), encoded as homelab.photon.ova_import
writes it, on both transports of the datasource: VMware Tools (the lab's stand-in for vmware-rpctool,
tests/lab/vmtools/) and the VMX_GUESTINFO* variables.
"""

import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile

import pytest
import yaml

import guestboot  # tests/lab
import labhost  # tests/lab
from vmrole_helpers import COLLECTIONS, run_playbook

if COLLECTIONS not in sys.path:
    sys.path.insert(0, COLLECTIONS)
from ansible_collections.homelab.photon.plugins.module_utils._ova import guestinfo_extra_config  # noqa: E402

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
    "keep-firstboot-data": {"vm_root_password_hash": HASH, "vm_firstboot_cleanup": False},
}
REDACT = ["userdata", "vendordata"]


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
    expected = {"instance-id": "photon-1", "local-hostname": extravars.get("vm_hostname", "photon-1")}
    if extravars.get("vm_firstboot_cleanup", True):
        expected["redact"] = REDACT
    assert meta == expected
    assert HASH not in metadata

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


# Run inside the lab host with a cloud-init on its python3 path: the datasource's own reading of the
# guestinfo (DataSourceVMware._get_data), its log on stderr, what it read as JSON on stdout.
DATASOURCE_PROBE = r"""
import json, logging, os, sys, tempfile
from cloudinit import helpers, version
from cloudinit.sources import DataSourceVMware as vmware
# After the imports: cloud-init 22.4's log module resets the root logger when it is imported.
logging.basicConfig(level=logging.DEBUG, stream=sys.stderr, format="%(name)s[%(levelname)s]: %(message)s", force=True)
work = tempfile.mkdtemp()
ds = vmware.DataSourceVMware({}, None, helpers.Paths({"cloud_dir": work + "/lib", "run_dir": work + "/run"}))
found = ds._get_data()
userdata = ds.userdata_raw.decode() if isinstance(ds.userdata_raw, bytes) else ds.userdata_raw
print(json.dumps({"version": version.version_string(), "found": found, "method": ds.data_access_method,
                  "metadata": ds.metadata, "userdata": userdata,
                  "env_userdata_left": os.environ.get("VMX_GUESTINFO_USERDATA", "") != ""}))
"""

# cloud-init 22.4's DataSourceVMware imports netifaces at the top; the lab host (Debian 13) has no
# netifaces for its python3. Only the datasource's setup() uses it (the host's addresses), which
# the probe does not call, so an empty module stands in for the import.
NETIFACES_STUB = "# Lab stand-in: imported by cloud-init 22.4's DataSourceVMware, used only by setup().\n"


@pytest.fixture(scope="module")
def datasource_runners(schema_host, cloud_init_22):
    """argv prefixes that run a Python snippet with cloud-init 25.1 (the host's) and 22.4.2."""
    guestboot.install_vmtools(schema_host)
    schema_host.exec("sh", "-c", "mkdir -p /opt/ci22-stubs && cat > /opt/ci22-stubs/netifaces.py", input=NETIFACES_STUB)
    return {"25.1": ["python3", "-c", DATASOURCE_PROBE],
            "22.4.2": ["env", "PYTHONPATH=/opt/ci22:/opt/ci22-stubs", "python3", "-c", DATASOURCE_PROBE]}


def probe(host, argv, transport, keys):
    """The datasource's reading of `keys` on `transport`: (what it read, its log)."""
    if transport == "vmware-tools":
        env = {"PATH": guestboot.VMTOOLS_BIN + ":" + guestboot.HOST_PATH}
    else:
        env = guestboot.guestinfo_env(keys)
    result = host.exec(*argv, env=env, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout), result.stderr


@pytest.mark.parametrize("transport", ["vmware-tools", "envvar"])
@pytest.mark.parametrize("version", ["22.4.2", "25.1"])
def test_metadata_asks_the_vmware_datasource_to_redact(tmp_path, schema_host, datasource_runners, version, transport):
    """Both cloud-init versions read the role's meta-data and user-data as ova_import encodes them, and take
    the meta-data's `redact` list. On the VMware Tools transport they overwrite the listed keys with "---" (and
    their .encoding with " ") through vmware-rpctool; a later read finds no user-data. On the VMX_GUESTINFO*
    transport nothing is redacted: the datasource redacts only on the guestinfo transport (redact_keys), and a
    process cannot change the environment it was started with anyway."""
    extravars, userdata, metadata, dummy = render(tmp_path, CASES["full"])
    keys = dict(guestinfo_extra_config({}, {"metadata": metadata, "userdata": userdata}))
    assert set(keys) == {"guestinfo.metadata", "guestinfo.metadata.encoding", "guestinfo.userdata",
                         "guestinfo.userdata.encoding"}
    if transport == "vmware-tools":
        guestboot.load_guestinfo(schema_host, keys)
    read, log = probe(schema_host, datasource_runners[version], transport, keys)

    assert read["version"].startswith(version), read["version"]
    assert read["found"] is True
    assert read["method"] == ("guestinfo" if transport == "vmware-tools" else "envvar")
    assert read["metadata"] == {"instance-id": "photon-1", "local-hostname": "photon-1.home.lan", "redact": REDACT}
    assert read["userdata"] == userdata
    if transport == "envvar":
        assert "clearing" not in log, log
        assert read["env_userdata_left"] is True
        return
    for key in ("guestinfo.userdata", "guestinfo.userdata.encoding", "guestinfo.vendordata",
                "guestinfo.vendordata.encoding"):
        assert "clearing %s" % key in log, log
    assert guestboot.guestinfo_calls(schema_host)[-4:] == [
        "info-set guestinfo.userdata ---", "info-set guestinfo.userdata.encoding  ",
        "info-set guestinfo.vendordata ---", "info-set guestinfo.vendordata.encoding  "]
    store = guestboot.read_guestinfo(schema_host)
    assert store["guestinfo.userdata"] == "---" and store["guestinfo.userdata.encoding"] == " "
    assert store["guestinfo.metadata"] == keys["guestinfo.metadata"]  # the meta-data stays
    assert HASH not in json.dumps(store)
    # What the next read (a later boot) gets: the same instance, no user-data.
    again, dummy = probe(schema_host, datasource_runners[version], transport, keys)
    assert again["found"] is True and again["metadata"]["instance-id"] == "photon-1"
    assert again["userdata"] is None


def test_without_any_guestinfo_a_reboot_is_a_new_instance(tmp_path, lab_host_factory):
    """Why the role keeps the meta-data in guestinfo: cloud-init reads the datasource again at every boot.
    With the meta-data left (the role's removal) a reboot is the same instance; with nothing left it falls
    back to the None datasource, a new instance: new SSH host keys, per-instance modules again."""
    extravars, userdata, metadata, dummy = render(tmp_path, {})
    keys = dict(guestinfo_extra_config({}, {"metadata": metadata, "userdata": userdata}))
    host = lab_host_factory(prefix="vm-reboot", authorize=False)
    state = "cat /etc/ssh/ssh_host_ed25519_key.pub /var/lib/cloud/data/instance-id"
    guestboot.run_cloud_init(host, keys, transport="vmware-tools")
    first = host.sh(state).stdout
    assert first.splitlines()[-1] == "photon-1"
    guestboot.run_cloud_init(host, {k: v for k, v in keys.items() if k.startswith("guestinfo.metadata")},
                             transport="vmware-tools", boot="reboot")
    assert host.sh(state).stdout == first
    guestboot.run_cloud_init(host, {}, transport="vmware-tools", boot="reboot")
    after = host.sh(state).stdout.splitlines()
    assert after[-1] == "iid-datasource-none"
    assert after[0] != first.splitlines()[0]  # the SSH host key was made again
    assert "DataSourceNone" in host.exec("cloud-init", "status", "--long", check=False).stdout
