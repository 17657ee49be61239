"""The embedded lab of `make demo`: the main job, `playbooks/site.yml`, from ESXi to Pi-hole.

    demo.py up      start the simulator (ESXi mode), make the SSH key and the OVA, get the real
                    Pi-hole image (tests/lab/pihole/build.sh); kept in tests/lab/.cache/demo/
    demo.py run     run site.yml with inventories/lab/ while the boot daemon plays the hypervisor
    demo.py down    stop and remove all of it

What is real: ansible-playbook and the collection, the govmomi vSphere API (simulator), pyvmomi,
cloud-init 25 with the VMware datasource, sshd, systemd-networkd, systemd-resolved, Docker and
compose v2 inside the lab host, tdnf 3.6 and rpm, the Pi-hole image (pulled where a registry answers,
else built from the pinned upstream sources). Stand-ins: the simulator for ESXi, the generated OVA for
Photon's, the Photon lab host (a Debian 13 systemd container that is Photon OS 5.0 to Ansible, with
tdnf and marker packages) for the VM's guest, and the lab's small internet (tests/lab/internet/) for
Pi-hole's upstream DNS and block-list server.

The simulator runs no guest. The boot daemon (`demo.py bootd`, started by `run`) plays the
hypervisor's part: when a VM is powered on with cloud-init guestinfo, it starts a lab host on the
address the VM's first-boot network file names (no DHCP server on the lab network), preloads the
Pi-hole image into its Docker store (the lab's stand-in for a registry pull) with the lab CA bundle
that lets Pi-hole trust the lab's small internet, and runs
cloud-init's stages on the VM's guestinfo, as the VM's own boot would. VMs powered on together
(the two Pi-holes of inventories/lab/) boot in parallel, each in a thread of its own.
"""

import json
import os
import re
import signal
import ssl
import subprocess
import sys
import threading
import time

LAB = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(LAB))
STATE = os.path.join(LAB, ".cache", "demo")
sys.path.insert(0, LAB)

import labhost  # noqa: E402
from guestboot import decode_guestinfo, guestinfo, run_cloud_init  # noqa: E402

VCSIM = os.path.join(LAB, "vcsim", "vcsim")
VCSIM_LISTEN = "127.0.0.1:18443"  # inventories/lab/group_vars/vsphere.yml
VCSIM_USER, VCSIM_PASSWORD = "homelab", "lab-secret"
OVA_NAME = "photon-hw11-lab"
OVA_SIZE_MB = 16
# The pihole role's own default image, the real Pi-hole (tests/lab/pihole/build.sh gets it).
PIHOLE_IMAGE = re.search(r"^pihole_image:\s*(\S+)", open(os.path.join(ROOT, "roles", "pihole", "defaults", "main.yml")).read(),
                         re.M).group(1)
# The lab's CA bundle (tests/lab/internet/), and where inventories/lab mounts it from on the host.
CA_BUNDLE = os.path.join(LAB, ".cache", "internet", "ca-bundle.crt")
HOST_CA_BUNDLE = "/opt/lab/ca-bundle.crt"
DEMO_LABEL = "homelab-photon-demo"


def path(*parts):
    return os.path.join(STATE, *parts)


def log(message):
    print("demo: " + message, flush=True)


def pid_alive(pid_file):
    try:
        with open(pid_file) as handle:
            pid = int(handle.read().strip())
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError):
        return None


def spawn(argv, name):
    """Start a process that outlives this one, its output in STATE/NAME.log, its pid in NAME.pid."""
    with open(path(name + ".log"), "ab") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True, cwd=ROOT)
    with open(path(name + ".pid"), "w") as handle:
        handle.write(str(proc.pid))
    return proc


def stop(name):
    pid = pid_alive(path(name + ".pid"))
    if pid:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except OSError:
                break
            time.sleep(0.1)
    if os.path.exists(path(name + ".pid")):
        os.unlink(path(name + ".pid"))


# -- up ---------------------------------------------------------------------------------------

def up():
    os.makedirs(STATE, exist_ok=True)
    if not os.path.exists(path("id_ed25519")):
        labhost.make_ssh_key(STATE)
    if not os.path.exists(path(OVA_NAME + ".ova.md5")):
        import ova

        log("generating the stand-in OVA (%d MB disk of random bytes)" % OVA_SIZE_MB)
        info = ova.build(STATE, size_mb=OVA_SIZE_MB, name=OVA_NAME)
        with open(path(OVA_NAME + ".ova.md5"), "w") as handle:
            handle.write(info["md5"])
    subprocess.run([os.path.join(LAB, "vcsim", "build.sh")], check=True, stdout=subprocess.DEVNULL)
    if pid_alive(path("vcsim.pid")):
        log("simulator already running on %s" % VCSIM_LISTEN)
    else:
        if os.path.exists(path("vcsim.log")):
            os.unlink(path("vcsim.log"))
        spawn([VCSIM, "-mode", "esx", "-listen", VCSIM_LISTEN, "-username", VCSIM_USER,
               "-password", VCSIM_PASSWORD, "-log", path("vcsim-api.log")], "vcsim")
        deadline = time.monotonic() + 30
        while "VCSIM_URL=" not in open(path("vcsim.log")).read():
            if time.monotonic() > deadline or not pid_alive(path("vcsim.pid")):
                sys.exit("demo: the simulator did not start:\n" + open(path("vcsim.log")).read())
            time.sleep(0.2)
        log("simulator (ESXi mode) on %s" % VCSIM_LISTEN)
    log("getting the Pi-hole image %s (built from the pinned sources when no registry answers)" % PIHOLE_IMAGE)
    subprocess.run([os.path.join(LAB, "pihole", "build.sh"), PIHOLE_IMAGE], check=True, stdout=subprocess.DEVNULL)


# -- the boot daemon --------------------------------------------------------------------------

def first_boot_address(userdata):
    """The address of the networkd file the user-data writes at first boot (no DHCP in the lab)."""
    match = re.search(r"^\s*Address\s*=\s*([0-9.]+)/\d+\s*$", userdata, re.M)
    return match.group(1) if match else None


def container_name(vm_name):
    return "demo-" + re.sub(r"[^a-zA-Z0-9_.-]", "-", vm_name)


def boot(vm_name, keys):
    name = container_name(vm_name)
    address = first_boot_address(decode_guestinfo(keys, "userdata"))
    extra = ["--label", DEMO_LABEL + "=1"] + (["--ip", address] if address else [])
    log("booting %s as lab host %s on %s" % (vm_name, name, address or "a Docker address"))
    host = labhost.start(name=name, extra_args=extra)
    # The lab's stand-in for a registry pull: the Pi-hole image in the host's store, with Docker
    # stopped again as on a fresh Photon OS host; and the lab CA that the small internet's HTTPS uses.
    with open(CA_BUNDLE) as handle:
        host.exec("sh", "-c", "install -d -m 0755 %s && cat > %s" % (os.path.dirname(HOST_CA_BUNDLE), HOST_CA_BUNDLE),
                  input=handle.read())
    host.exec("systemctl", "start", "docker.service")
    with open(image_archive(), "rb") as archive:
        subprocess.run(["docker", "exec", "-i", name, "docker", "load"], stdin=archive, check=True,
                       stdout=subprocess.DEVNULL)
    host.exec("systemctl", "stop", "docker.service", "docker.socket")
    try:
        run_cloud_init(host, keys)
    except RuntimeError as exc:
        log(str(exc))
        return
    log("%s booted: %s" % (vm_name, host.exec("cloud-init", "status", check=False).stdout.strip()))


def image_archive():
    """The Pi-hole image saved once (docker save) for every lab host's load, named by the image's id."""
    image_id = labhost.docker("image", "inspect", "-f", "{{.Id}}", PIHOLE_IMAGE).stdout.strip().split(":")[-1]
    archive = path("pihole-image-%s.tar" % image_id[:12])
    if not os.path.exists(archive):
        for old in os.listdir(STATE):
            if old.startswith("pihole-image-"):
                os.unlink(path(old))
        labhost.docker("save", "-o", archive + ".part", PIHOLE_IMAGE)
        os.rename(archive + ".part", archive)
    return archive


def boot_logged(vm_name, keys):
    try:
        boot(vm_name, keys)
    except Exception as exc:  # a failed boot leaves the VM unanswered; the playbook's wait reports it
        log("booting %s failed: %s" % (vm_name, exc))


def bootd():
    from pyVim.connect import Disconnect, SmartConnect
    from pyVmomi import vim

    image_archive()
    booting = {}

    host, port = VCSIM_LISTEN.rsplit(":", 1)
    while True:
        try:
            si = SmartConnect(host=host, port=int(port), user=VCSIM_USER, pwd=VCSIM_PASSWORD,
                              sslContext=ssl._create_unverified_context())
        except Exception as exc:  # the simulator may still be starting
            log("waiting for the simulator: %s" % exc)
            time.sleep(1)
            continue
        try:
            content = si.RetrieveContent()
            view = content.viewManager.CreateContainerView(content.rootFolder, [vim.VirtualMachine], True)
            for vm in view.view:
                if vm.runtime.powerState != "poweredOn":
                    continue
                keys = guestinfo(vm)
                if "guestinfo.userdata" not in keys:
                    continue
                if vm.name in booting or labhost.docker("inspect", container_name(vm.name),
                                                        check=False).returncode == 0:
                    continue
                booting[vm.name] = threading.Thread(target=boot_logged, args=(vm.name, keys), daemon=True)
                booting[vm.name].start()
            view.DestroyView()
        finally:
            Disconnect(si)
        time.sleep(0.5)


# -- run --------------------------------------------------------------------------------------

def recap(text):
    totals = {}
    for match in re.finditer(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", text, re.M):
        totals[match.group(1)] = {"ok": int(match.group(2)), "changed": int(match.group(3)),
                                  "unreachable": int(match.group(4)), "failed": int(match.group(5))}
    return totals


def ansible_env():
    """The environment ansible-playbook runs in against the demo's lab (also used by the benchmark)."""
    return dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, "tests", "output", "collections"),
                ANSIBLE_SSH_CONTROL_PATH_DIR=path("cp"), ANSIBLE_HOST_KEY_CHECKING="False",
                ANSIBLE_RETRY_FILES_ENABLED="False", ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1")


def run(extra_args=()):
    if not pid_alive(path("vcsim.pid")):
        sys.exit("demo: the lab is not up (tests/lab/demo.py up)")
    stop("bootd")
    spawn([sys.executable, os.path.abspath(__file__), "bootd"], "bootd")
    env = ansible_env()
    argv = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i",
            os.path.join(ROOT, "inventories", "lab"), os.path.join(ROOT, "playbooks", "site.yml")]
    argv += list(extra_args)
    runs = len([n for n in os.listdir(STATE) if n.startswith("site-run-")]) + 1
    log_path = path("site-run-%d.log" % runs)
    log("ansible-playbook playbooks/site.yml -i inventories/lab/ (run %d, log %s)" % (runs, log_path))
    output = []
    try:
        with open(log_path, "w") as out:
            proc = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    text=True)
            for line in proc.stdout:
                sys.stdout.write(line)
                out.write(line)
                output.append(line)
            proc.wait()
    finally:
        stop("bootd")
    totals = recap("".join(output))
    changed = sum(t["changed"] for t in totals.values())
    log("run %d: %s; %d change(s) in all" % (runs, ", ".join(
        "%s changed=%d failed=%d" % (h, t["changed"], t["failed"]) for h, t in sorted(totals.items())), changed))
    with open(path("last-run.json"), "w") as handle:
        json.dump({"run": runs, "rc": proc.returncode, "recap": totals}, handle)
    return proc.returncode


# -- down -------------------------------------------------------------------------------------

def down():
    stop("bootd")
    stop("vcsim")
    if labhost.docker("info", check=False).returncode == 0:
        names = labhost.docker("ps", "-aq", "--filter", "label=" + DEMO_LABEL).stdout.split()
        if names:
            labhost.docker("rm", "-f", "-v", *names)
    if os.path.isdir(STATE):
        subprocess.run(["rm", "-rf", STATE], check=True)
    log("removed the demo's simulator, lab host and state")


def main(argv):
    if not argv or argv[0] not in ("up", "run", "down", "bootd"):
        sys.exit(__doc__)
    if argv[0] == "up":
        up()
    elif argv[0] == "run":
        sys.exit(run(argv[1:]))
    elif argv[0] == "bootd":
        bootd()
    else:
        down()


if __name__ == "__main__":
    main(sys.argv[1:])
