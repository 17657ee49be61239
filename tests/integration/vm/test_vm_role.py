"""End to end: the role homelab.photon.vm, from the OVA download to an SSH-ready host.

What is real: the role, homelab.photon.ova_import and homelab.photon.vm_guestinfo,
ansible-playbook, the govmomi vSphere simulator (ESX mode) that receives the import and keeps the
VM's extraConfig, the lab host's cloud-init 25.1 (VMware datasource), sshd, PAM and shadow.
Stand-ins: the generated OVA (tests/lab/ova.py) stands in for Photon's OVA, the lab host (a
Debian 13 systemd container, root's password `changeme` and EXPIRED as in the OVA) stands in for
the VM's guest, and the test plays the hypervisor's part between the two: it reads the guestinfo
keys the import wrote into the VM's extraConfig and hands them to cloud-init, stage by stage
(the simulator runs no guest and reports no IP, so the role waits on the static address, which is
the lab host's own). The static case hands them over as VMware Tools does (the lab's stand-in for
vmware-rpctool, tests/lab/vmtools/), so cloud-init's own redaction runs; the other case as
VMX_GUESTINFO_* variables, where cloud-init redacts nothing.
"""

import hashlib
import json
import os
import re
import subprocess
import time

import pytest
import yaml
from pyVim.task import WaitForTask
from pyVmomi import vim

import ova  # tests/lab/ova.py (on sys.path through tests/integration/vsphere/conftest.py)
from guestboot import decode_guestinfo, guestinfo, read_guestinfo, run_cloud_init  # tests/lab
from vmrole_helpers import OvaServer, ansible_env, connect, fleet_argv, find_vms, module_counts, run_fleet_playbook, \
    run_json, stage_seconds, task_runs, vsphere

GROUP = "photon_lab"
VM = "photon-e2e"
HOSTNAME = "photon-first-boot"

PLAYBOOK = """
- name: First boot of a Photon OS VM without a console
  hosts: %(group)s
  gather_facts: false
  roles:
    - role: homelab.photon.vm

- name: The next play reaches the host the role logged in to
  hosts: %(group)s
  gather_facts: false
  tasks:
    # A check run of a VM that does not exist yet imports nothing: there is no host to reach.
    - name: Stop when the role recorded no VM
      ansible.builtin.meta: end_host
      when: vm_info is not defined
    - name: Read root's password ageing
      ansible.builtin.command: chage -l root
      register: e2e_chage
      changed_when: false
    - name: Read the host name
      ansible.builtin.command: hostname
      register: e2e_hostname
      changed_when: false
    - name: Report to the test
      ansible.builtin.copy:
        content: "{{ {'chage': e2e_chage.stdout, 'hostname': e2e_hostname.stdout, 'ansible_host': ansible_host,
                      'user': ansible_user, 'vm_info': vm_info} | to_json }}"
        dest: "{{ report }}"
        mode: "0600"
      delegate_to: localhost
      changed_when: false  # test scaffolding, rewritten on every run
""" % {"group": GROUP}


@pytest.fixture(scope="module")
def sim():
    sim = vsphere.start_vcsim("esx")
    try:
        yield sim
    finally:
        sim.stop()
        if sim.own_dir:
            import shutil
            shutil.rmtree(sim.workdir, ignore_errors=True)


@pytest.fixture(scope="module")
def served_ova(tmp_path_factory):
    directory = str(tmp_path_factory.mktemp("ova"))
    info = ova.build(directory, size_mb=4, name="photon-lab")
    with open(info["path"], "rb") as handle:
        assert hashlib.md5(handle.read()).hexdigest() == info["md5"]
    server = OvaServer(directory)
    info["url"] = server.url + "/" + os.path.basename(info["path"])
    info["server"] = server
    try:
        yield info
    finally:
        server.close()


def role_vars(tmp_path, sim, served_ova, ssh_keypair, address, **over):
    values = {
        "vm_name": VM,
        "vm_hostname": HOSTNAME,
        "vm_ova_src": served_ova["url"],
        "vm_ova_checksum": "md5:" + served_ova["md5"],
        "vm_ova_cache_dir": str(tmp_path / "cache"),
        "vm_vsphere_hostname": sim.host,
        "vm_vsphere_port": sim.port,
        "vm_vsphere_username": sim.username,
        "vm_vsphere_password": sim.password,
        "vm_vsphere_validate_certs": False,
        "vm_networks": {"None": "VM Network"},
        "vm_ssh_public_key": ssh_keypair[1],
        "vm_network": {"address": address + "/24", "gateway": "172.30.99.1", "dns": ["127.0.0.11"]},
        # The Photon host's connection, in the inventory (no ansible_host: the role sets it to the
        # address the VM answers on, vm_network's or the one VMware Tools reports).
        "ansible_user": "root",
        "ansible_ssh_private_key_file": ssh_keypair[0],
        "ansible_ssh_common_args": "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null",
        "ansible_python_interpreter": "/usr/bin/python3",
        "vm_ssh_timeout": 180,
        "report": str(tmp_path / "report.json"),
    }
    values.update(over)
    return values


def recap(stdout, host):
    match = re.search(r"^%s\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)" % re.escape(host),
                      stdout, re.M)
    assert match, stdout
    return dict(zip(("ok", "changed", "unreachable", "failed"), map(int, match.groups())))


def task_status(stdout, task):
    """The first result word (ok, changed, skipping, fatal) printed for the task whose name contains `task`."""
    match = re.search(r"^TASK \[[^\]]*%s[^\]]*\] \**\n(?:.*\n)*?(ok|changed|skipping|fatal):" % re.escape(task),
                      stdout, re.M)
    assert match, "no task %r in:\n%s" % (task, stdout)
    return match.group(1)


REMOVE_TASK = "Remove the first-boot user-data and vendor-data from the VM's guestinfo"
FIRSTBOOT_KEYS = ("guestinfo.userdata", "guestinfo.userdata.encoding")


def secrets_on_disk(host, secret):
    """Files of cloud-init (and its logs) on the guest that hold `secret`, with their mode and owner."""
    found = host.exec("grep", "-rlF", "--", secret, "/var/lib/cloud", "/run/cloud-init", "/var/log", check=False)
    files = sorted(found.stdout.split())
    return {f: host.exec("stat", "-c", "%a %U", f).stdout.strip() for f in files}


def metadata_of(keys):
    return yaml.safe_load(decode_guestinfo(keys, "metadata"))


def wait_for_guestinfo(si, proc, name, timeout=300):
    """The role imports and powers on; meanwhile poll the simulator for the VM's guestinfo."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        vms = find_vms(si, name)
        if vms and str(vms[0].runtime.powerState) == "poweredOn":
            keys = guestinfo(vms[0])
            if "guestinfo.userdata" in keys and "guestinfo.metadata" in keys:
                return vms[0], keys
        if proc.poll() is not None:
            pytest.fail("the play ended before the VM had its guestinfo:\n" + proc.stdout.read())
        time.sleep(0.5)
    proc.kill()
    pytest.fail("no powered-on VM %s with guestinfo after %d s:\n%s" % (name, timeout, proc.communicate()[0]))


@pytest.mark.parametrize("address_from", ["static", "tools"])
def test_first_boot_end_to_end(tmp_path, sim, served_ova, lab_host_factory, ssh_keypair, address_from):
    """static: vm_network gives the address (written as a networkd file at first boot).
    tools: no vm_network; the test stands in for VMware Tools and reports the guest's IP through
    the simulator's SET.guest.ipAddress hook once the VM is on, and the role waits for it."""
    name = "%s-%s" % (VM, address_from)
    host = lab_host_factory(prefix="vm-e2e", authorize=False)
    # The lab host is the Photon OVA's guest: changeme, expired; no key for root.
    assert "password must be changed" in host.exec("chage", "-l", "root").stdout
    assert host.exec("test", "-e", "/root/.ssh/authorized_keys", check=False).returncode != 0
    served_ova["server"].requests.clear()

    extravars = role_vars(tmp_path, sim, served_ova, ssh_keypair, host.ip, vm_name=name)
    password_hash = ""
    # The static case boots through the VMware Tools transport (cloud-init redacts), the other through
    # VMX_GUESTINFO* variables (cloud-init cannot redact): the role removes the keys in vSphere on both.
    transport = "vmware-tools" if address_from == "static" else "envvar"
    if address_from == "static":
        # A sudo admin with a password hash: the static case's user-data carries a hash too.
        admin_hash = subprocess.run(["openssl", "passwd", "-6", "-salt", "homelabops", "ops-secret"],
                                    check=True, capture_output=True, text=True).stdout.strip()
        extravars.update(vm_admin_user="ops", vm_admin_password_hash=admin_hash)
        secret = admin_hash
    if address_from == "tools":
        # Also root's password from a hash: chpasswd runs on the root whose expiry bootcmd cleared.
        password_hash = subprocess.run(["openssl", "passwd", "-6", "-salt", "homelabvm", "not-changeme"],
                                       check=True, capture_output=True, text=True).stdout.strip()
        extravars.update(vm_network={}, vm_wait_for_ip_timeout=120, vm_root_password_hash=password_hash)
        secret = password_hash
    if address_from == "static":
        # Check mode first: nothing downloaded, nothing imported, and it says what a real run does.
        dry = run_fleet_playbook(tmp_path, PLAYBOOK, extravars, GROUP, name="firstboot", check_mode=True)
        assert dry.returncode == 0, dry.stdout + dry.stderr
        assert "is not downloaded yet; a real run downloads it and imports %s" % name in dry.stdout, dry.stdout
        assert not os.path.exists(os.path.join(extravars["vm_ova_cache_dir"], "photon-lab.ova"))
        assert find_vms(connect(sim), name) == []
        assert served_ova["server"].requests == []
    proc = subprocess.Popen(fleet_argv(tmp_path, PLAYBOOK, extravars, GROUP, name="firstboot"), env=ansible_env(tmp_path),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=str(tmp_path))
    si = connect(sim)
    vm, keys = wait_for_guestinfo(si, proc, name)
    if address_from == "tools":
        vm.ReconfigVM_Task(vim.vm.ConfigSpec(extraConfig=[vim.option.OptionValue(
            key="SET.guest.ipAddress", value=host.ip)]))

    # What the import wrote: gzip+base64 user-data and meta-data, the role's documents.
    assert keys["guestinfo.userdata.encoding"] == "gzip+base64"
    assert keys["guestinfo.metadata.encoding"] == "gzip+base64"
    userdata = decode_guestinfo(keys, "userdata")
    assert userdata.startswith("#cloud-config\n") and ssh_keypair[1] in userdata
    assert secret in userdata
    assert metadata_of(keys) == {"instance-id": name, "local-hostname": HOSTNAME, "redact": ["userdata", "vendordata"]}

    # The guest's first boot: the real cloud-init on those keys, stage by stage.
    run_cloud_init(host, keys, transport=transport)
    status = host.exec("cloud-init", "status", "--long", check=False).stdout
    seed = "guestinfo" if transport == "vmware-tools" else "envvar"
    assert "DataSourceVMware [seed=%s]" % seed in status, status
    cloud_init_log = host.exec("cat", "/var/log/cloud-init.log").stdout
    if transport == "vmware-tools":
        # cloud-init redacted what the meta-data lists, through VMware Tools: the guest reads "---" now.
        assert "clearing guestinfo.userdata\n" in cloud_init_log and "clearing guestinfo.vendordata\n" in cloud_init_log
        store = read_guestinfo(host)
        assert store["guestinfo.userdata"] == "---" and store["guestinfo.userdata.encoding"] == " "
        assert secret not in "".join(store.values())
    else:
        assert "clearing guestinfo" not in cloud_init_log  # nothing to redact in an environment
    # What cloud-init keeps on the guest after the first boot: root-only files.
    iid_dir = "/var/lib/cloud/instances/%s/" % name
    assert secrets_on_disk(host, secret) == {
        iid_dir + "cloud-config.txt": "600 root", iid_dir + "obj.pkl": "400 root",
        iid_dir + "user-data.txt": "600 root", iid_dir + "user-data.txt.i": "600 root",
        "/run/cloud-init/combined-cloud-config.json": "600 root"}

    out = proc.communicate(timeout=600)[0]
    assert proc.returncode == 0, out
    first = recap(out, name)
    assert first["changed"] >= 3 and first["failed"] == 0, out  # download + import + first-boot data removed
    assert task_status(out, REMOVE_TASK) == "changed"

    # vSphere no longer holds the user-data, nor the hash anywhere; the meta-data (no secret) stays.
    vm = find_vms(si, name)[0]
    left = guestinfo(vm)
    assert sorted(left) == ["guestinfo.metadata", "guestinfo.metadata.encoding"], sorted(left)
    assert metadata_of(left)["instance-id"] == name
    for opt in vm.config.extraConfig:
        assert secret not in str(opt.value), opt.key
    assert secret not in decode_guestinfo(left, "metadata")
    assert served_ova["server"].requests == ["/photon-lab.ova"]
    assert os.path.exists(os.path.join(extravars["vm_ova_cache_dir"], "photon-lab.ova"))

    # The next play reached the VM by SSH with the injected key, as root, on the static address.
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["ansible_host"] == host.ip and report["user"] == "root"
    assert re.search(r"Password expires\s*:\s*never", report["chage"]), report["chage"]
    assert "must be changed" not in report["chage"]
    assert report["hostname"] == HOSTNAME
    # Checked again without Ansible, from the guest itself.
    assert host.exec("hostname").stdout.strip() == HOSTNAME
    shadow = host.exec("getent", "shadow", "root").stdout.split(":")
    if password_hash:
        assert shadow[1] == password_hash and host.exec("passwd", "-S", "root").stdout.split()[1] == "P"
    else:
        assert host.exec("passwd", "-S", "root").stdout.split()[1] == "L"  # no hash given: locked
    assert shadow[2] != "0"  # not "must change at next login"
    if address_from == "static":
        network_file = host.exec("stat", "-c", "%a", "/etc/systemd/network/10-static-en.network").stdout.strip()
        assert network_file == "644"
        assert "10-static-en.network" in host.exec("networkctl", "status", "eth0", "--no-pager", check=False).stdout
    else:
        assert "write_files" not in userdata
        assert "IP %s" % host.ip in out  # the role showed the address VMware Tools reported

    if transport == "vmware-tools":
        # A later boot, handed what the VM's guestinfo holds now (the meta-data alone): cloud-init
        # reads the datasource again, finds the same instance, and nothing of the first boot runs
        # again (same SSH host key, host name, root's key). The cached user-data is rewritten from
        # the now empty user-data; that boot's obj.pkl and instance-data-sensitive.json still carry
        # the old cloud-config (read at start from the instance's cloud-config.txt), the boot after
        # it nothing at all.
        booted = host.sh("cat /etc/ssh/ssh_host_ed25519_key.pub /var/lib/cloud/data/instance-id; hostname").stdout
        run_cloud_init(host, left, transport=transport, boot="reboot")
        assert host.sh("cat /etc/ssh/ssh_host_ed25519_key.pub /var/lib/cloud/data/instance-id; hostname").stdout == booted
        reboot_log = host.exec("cat", "/var/log/cloud-init.log").stdout
        assert "[local] init will now be targeting instance id: %s. new=False" % name in reboot_log
        assert secrets_on_disk(host, secret) == {iid_dir + "obj.pkl": "400 root",
                                                 "/run/cloud-init/instance-data-sensitive.json": "600 root"}
        assert host.exec("wc", "-c", iid_dir + "user-data.txt").stdout.split()[0] == "0"
        run_cloud_init(host, left, transport=transport, boot="reboot")
        assert secrets_on_disk(host, secret) == {}

    # Second run: the VM is there, running, with nothing left to remove. The plan read all of that: the
    # vm stage runs no other module (no OVA read, no import, no wait, no guestinfo look-up), and the
    # next play reaches the host on the same address, with the same vm_info the import recorded.
    (tmp_path / "report.json").unlink()
    again, doc = run_json(tmp_path, fleet_argv(tmp_path, PLAYBOOK, extravars, GROUP, name="firstboot"))
    assert again.returncode == 0, again.stdout + again.stderr
    assert doc["stats"][name]["changed"] == 0 and doc["stats"][name]["failures"] == 0, doc["stats"]
    counts = module_counts(doc)
    print("converged vm stage (%s): module runs %s, %.2f s" % (address_from, counts, stage_seconds(doc)))
    assert counts == {"homelab.photon.vsphere_placement": 1}, counts
    assert served_ova["server"].requests == ["/photon-lab.ova"]
    assert len(find_vms(si, name)) == 1
    again_report = json.loads((tmp_path / "report.json").read_text())
    assert again_report["ansible_host"] == host.ip and again_report["hostname"] == HOSTNAME
    assert again_report["vm_info"] == report["vm_info"] and again_report["vm_info"]["moid"] == vm._moId
    assert again_report["vm_info"]["power_state"] == "poweredOn"
    # Check mode on the existing VM: the import's checks run, nothing would change.
    dry = run_fleet_playbook(tmp_path, PLAYBOOK, extravars, GROUP, name="firstboot", check_mode=True)
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert recap(dry.stdout, name)["changed"] == 0, dry.stdout
    assert "already there" in dry.stdout
    assert json.loads((tmp_path / "report.json").read_text())["hostname"] == HOSTNAME
    outputs = [out, again.stdout, dry.stdout]

    if address_from == "static":
        # A VM that still holds its first-boot data (imported by an earlier version of the role, or a
        # run without the login): check mode says the role would remove it, and changes nothing.
        WaitForTask(vm.ReconfigVM_Task(vim.vm.ConfigSpec(extraConfig=[
            vim.option.OptionValue(key=k, value=keys[k]) for k in FIRSTBOOT_KEYS])))
        dry, doc = run_json(tmp_path, fleet_argv(tmp_path, PLAYBOOK, extravars, GROUP, name="firstboot",
                                                 check_mode=True))
        assert dry.returncode == 0, dry.stdout + dry.stderr
        assert doc["stats"][name]["changed"] == 1, doc["stats"]
        # The import's path: the OVA checked, the import asked (the VM is there), the first-boot data found.
        counts = module_counts(doc)
        assert counts.get("homelab.photon.ova_import") == 1 and counts.get("ansible.builtin.get_url") == 1, counts
        looked = [n.split(" : ", 1)[-1] for a, n, _h, _s in task_runs(doc) if a == "homelab.photon.vm_guestinfo"]
        assert len(looked) == 2 and looked[0] == "Look for first-boot data left in the VM's guestinfo", looked
        assert looked[1].startswith(REMOVE_TASK), looked
        assert set(FIRSTBOOT_KEYS) <= set(guestinfo(vm))
        # A host at the VM's address that did not boot from the VM's data keeps the role from removing it.
        host.exec("sh", "-c", "cp /var/lib/cloud/data/instance-id /root/iid && echo other-instance > "
                  "/var/lib/cloud/data/instance-id")
        refused = run_fleet_playbook(tmp_path, PLAYBOOK, extravars, GROUP, name="firstboot")
        assert refused.returncode != 0
        assert "reports the cloud-init instance 'other-instance' (/var/lib/cloud/data/instance-id), not '%s'" % name \
            in refused.stdout, refused.stdout
        assert set(FIRSTBOOT_KEYS) <= set(guestinfo(vm))
        host.exec("mv", "/root/iid", "/var/lib/cloud/data/instance-id")
        fixed = run_fleet_playbook(tmp_path, PLAYBOOK, extravars, GROUP, name="firstboot")
        assert fixed.returncode == 0, fixed.stdout + fixed.stderr
        assert recap(fixed.stdout, name)["changed"] == 1, fixed.stdout
        assert sorted(guestinfo(vm)) == ["guestinfo.metadata", "guestinfo.metadata.encoding"]
        outputs += [dry.stdout, refused.stdout, fixed.stdout]

    # No secret in the output of any run.
    for text in outputs:
        assert sim.password not in text
        assert secret not in text


BAD_INPUTS = {
    "no-key-no-hash": ({"vm_ssh_public_key": ""}, "give vm_ssh_public_key"),
    "malformed-key": ({"vm_ssh_public_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBroken user@lab"},
                      "vm_ssh_public_key is not an OpenSSH public key"),
    "plain-password": ({"vm_ssh_public_key": "", "vm_root_password_hash": "changeme2"}, "not a crypt(3) hash"),
    # The static network is checked by the same validator as the networkd module, in the same words.
    "network-broadcast": ({"vm_network": {"address": "172.30.99.255/24", "gateway": "172.30.99.1"}},
                          "vm_network.address: '172.30.99.255/24' is the broadcast address of 172.30.99.0/24"),
    # The quick start's key file: a missing one is named by the role, not by a lookup error.
    "missing-key-file": ({"vm_ssh_public_key": "", "vm_ssh_public_key_file": "/nonexistent/id_ed25519.pub"},
                         "vm_ssh_public_key_file /nonexistent/id_ed25519.pub does not exist on the controller"),
    "key-and-key-file": ({"vm_ssh_public_key_file": "/nonexistent/id_ed25519.pub"},
                         "set vm_ssh_public_key or vm_ssh_public_key_file (/nonexistent/id_ed25519.pub), not both"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_inputs_stop_before_anything(tmp_path, sim, served_ova, ssh_keypair, case):
    over, message = BAD_INPUTS[case]
    served_ova["server"].requests.clear()
    extravars = role_vars(tmp_path, sim, served_ova, ssh_keypair, "172.30.99.250", vm_name="photon-bad-" + case,
                          **over)
    result = run_fleet_playbook(tmp_path, PLAYBOOK, extravars, GROUP, name="bad")
    assert result.returncode != 0
    assert message in result.stdout, result.stdout
    assert "changeme2" not in result.stdout
    assert served_ova["server"].requests == []  # nothing downloaded
    assert not (tmp_path / "cache").exists()
    assert find_vms(connect(sim), "photon-bad-" + case) == []  # nothing imported


def test_key_file_is_read_in_check_mode(tmp_path, sim, served_ova, ssh_keypair):
    """vm_ssh_public_key_file (the quick start's ~/.ssh/id_ed25519.pub) gives root's key; a check
    run reads it, passes the input checks (which refuse a VM with neither a key nor a password
    hash) and changes nothing."""
    name = "photon-key-file"
    extravars = role_vars(tmp_path, sim, served_ova, ssh_keypair, "172.30.99.251", vm_name=name,
                          vm_ssh_public_key="", vm_root_password_hash="",
                          vm_ssh_public_key_file=ssh_keypair[0] + ".pub")
    result = run_fleet_playbook(tmp_path, PLAYBOOK, extravars, GROUP, name="keyfile", check_mode=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"TASK \[homelab.photon.vm : Refuse unusable inputs[^\]]*\] \*+\nok: ", result.stdout), result.stdout
    assert find_vms(connect(sim), name) == []


def test_local_ova_with_a_wrong_checksum_is_not_imported(tmp_path, sim, served_ova, ssh_keypair):
    name = "photon-bad-local"
    wrong = "sha1:" + ("0" if served_ova["sha1"][0] != "0" else "1") + served_ova["sha1"][1:]
    extravars = role_vars(tmp_path, sim, served_ova, ssh_keypair, "172.30.99.250", vm_name=name,
                          vm_ova_src=served_ova["path"], vm_ova_checksum=wrong)
    result = run_fleet_playbook(tmp_path, PLAYBOOK, extravars, GROUP, name="bad")
    assert result.returncode != 0
    assert "has sha1 %s, not %s; nothing was imported" % (served_ova["sha1"], wrong) in result.stdout, result.stdout
    assert os.path.exists(served_ova["path"])  # the user's own file is left alone
    assert find_vms(connect(sim), name) == []


def test_missing_local_ova_is_reported(tmp_path, sim, served_ova, ssh_keypair):
    name = "photon-bad-missing"
    missing = str(tmp_path / "no-such.ova")
    extravars = role_vars(tmp_path, sim, served_ova, ssh_keypair, "172.30.99.250", vm_name=name,
                          vm_ova_src=missing, vm_ova_checksum="")
    result = run_fleet_playbook(tmp_path, PLAYBOOK, extravars, GROUP, name="bad")
    assert result.returncode != 0
    assert "%s does not exist or is not a file; nothing was imported" % missing in result.stdout, result.stdout
    assert find_vms(connect(sim), name) == []


def test_checksum_mismatch_discards_the_cached_file(tmp_path, sim, served_ova, ssh_keypair):
    served_ova["server"].requests.clear()
    name = "photon-bad-checksum"
    wrong = "md5:" + ("0" if served_ova["md5"][0] != "0" else "1") + served_ova["md5"][1:]
    extravars = role_vars(tmp_path, sim, served_ova, ssh_keypair, "172.30.99.250", vm_name=name, vm_ova_checksum=wrong)
    cached = tmp_path / "cache" / "photon-lab.ova"
    cached.parent.mkdir()
    cached.write_bytes(b"a stale, partial download\n")  # what a previous run left
    result = run_fleet_playbook(tmp_path, PLAYBOOK, extravars, GROUP, name="bad")
    assert result.returncode != 0
    assert "did not match" in result.stdout and "was removed and nothing was imported" in result.stdout, result.stdout
    assert served_ova["server"].requests == ["/photon-lab.ova"]  # downloaded, then refused
    assert not cached.exists()
    assert os.listdir(str(cached.parent)) == []
    assert find_vms(connect(sim), name) == []
