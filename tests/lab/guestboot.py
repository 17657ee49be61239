"""The guest's side of a first boot on VMware, in the lab: cloud-init's VMware datasource fed with
the guestinfo keys an import wrote into a VM's extraConfig.

The simulator runs no guest, so the lab hands those keys to the real cloud-init of a lab host and
runs its stages one by one (variables given to `docker run` never reach cloud-init's boot units).
Two transports of the datasource, both real code paths of cloud-init:

- "envvar": the keys as VMX_GUESTINFO_* variables (the datasource reads them when VMX_GUESTINFO=1).
  cloud-init cannot change its own environment, so it never redacts anything on this transport.
- "vmware-tools": the keys in a guestinfo store that the lab's stand-in for VMware Tools'
  vmware-rpctool serves (tests/lab/vmtools/), the transport of a real VM. With the stand-ins for
  dmidecode and systemd-detect-virt the lab host looks like a VMware VM to cloud-init. The
  datasource reads the keys with "info-get" and redacts those the meta-data lists with "info-set",
  as on a real VM; the store shows the result and calls.log beside it every call.

Used by the vm role's tests and by the demo's boot daemon (envvar).
"""

import base64
import gzip
import os

CLOUD_INIT_STAGES = (["init", "--local"], ["init"], ["modules", "--mode", "config"],
                     ["modules", "--mode", "final"])


def guestinfo(vm):
    """The VM's guestinfo.* extraConfig keys (a pyvmomi VirtualMachine), as a dict."""
    return {opt.key: opt.value for opt in (vm.config.extraConfig or []) if opt.key.startswith("guestinfo.")}


def guestinfo_env(keys):
    """guestinfo.userdata.encoding becomes VMX_GUESTINFO_USERDATA_ENCODING, and so on."""
    env = {"VMX_GUESTINFO": "1"}
    for key, value in keys.items():
        env["VMX_" + key.replace(".", "_").upper()] = value
    return env


def decode_guestinfo(keys, part):
    """The text of guestinfo.PART (userdata, metadata, vendordata), decoded by its .encoding key."""
    data = keys.get("guestinfo." + part, "")
    encoding = keys.get("guestinfo.%s.encoding" % part, "")
    if encoding in ("gzip+base64", "gz+b64"):
        return gzip.decompress(base64.b64decode(data)).decode()
    if encoding in ("base64", "b64"):
        return base64.b64decode(data).decode()
    return data


VMTOOLS_SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "vmtools")
VMTOOLS_BIN = "/usr/local/lib/homelab-vmtools/bin"
GUESTINFO_STORE = "/run/homelab-vmtools/guestinfo"  # the stand-in's default (tests/lab/vmtools/vmware-rpctool)
GUESTINFO_CALLS = "/run/homelab-vmtools/calls.log"
HOST_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def install_vmtools(host):
    """Put the stand-ins for vmware-rpctool, dmidecode and systemd-detect-virt into VMTOOLS_BIN."""
    for name in sorted(os.listdir(VMTOOLS_SRC)):
        with open(os.path.join(VMTOOLS_SRC, name)) as handle:
            host.exec("sh", "-c", 'mkdir -p "$0" && cat > "$0/$1" && chmod 0755 "$0/$1"', VMTOOLS_BIN, name,
                      input=handle.read())


def load_guestinfo(host, keys):
    """Make the stand-in's guestinfo store hold exactly these guestinfo.* keys (what the VMX would hand
    the guest: the VM's extraConfig), and start a new calls.log."""
    host.exec("sh", "-c", 'rm -rf "$0" "$1" && mkdir -p -m 0700 "$0"', GUESTINFO_STORE, GUESTINFO_CALLS)
    for key, value in keys.items():
        if key.startswith("guestinfo."):
            host.exec("sh", "-c", 'cat > "$0/$1"', GUESTINFO_STORE, key.lower(), input=value)


def read_guestinfo(host):
    """The stand-in's guestinfo store now: {key: value} (after cloud-init's redaction, for example)."""
    names = host.exec("ls", "-1", GUESTINFO_STORE).stdout.split()
    return {name: host.exec("cat", "%s/%s" % (GUESTINFO_STORE, name)).stdout for name in names}


def guestinfo_calls(host):
    """The lines of calls.log: every info-get and info-set cloud-init sent to the stand-in."""
    return host.exec("sh", "-c", 'cat "$0" 2>/dev/null || true', GUESTINFO_CALLS).stdout.splitlines()


def run_cloud_init(host, keys, transport="envvar", boot="first"):
    """Every cloud-init stage on the guestinfo keys, on a labhost.LabHost.
    boot="first": `cloud-init clean --logs` first, a first boot. boot="reboot": a later boot of the
    same VM, cloud-init's state under /var/lib/cloud kept and its run-time state (/run/cloud-init,
    a tmpfs) gone, as after a restart.
    Raises RuntimeError naming the stage that failed, with its output."""
    if transport == "envvar":
        env = guestinfo_env(keys)
    elif transport == "vmware-tools":
        install_vmtools(host)
        load_guestinfo(host, keys)
        env = {"PATH": VMTOOLS_BIN + ":" + HOST_PATH}
    else:
        raise ValueError("transport must be envvar or vmware-tools, not %r" % transport)
    if boot == "first":
        host.exec("cloud-init", "clean", "--logs")
    elif boot == "reboot":
        host.exec("rm", "-rf", "/run/cloud-init")
    else:
        raise ValueError("boot must be first or reboot, not %r" % boot)
    for stage in CLOUD_INIT_STAGES:
        # The stand-ins make the platform a VMware VM for the local stage, where the datasource is
        # found (and redacts). The later stages use the datasource that stage cached (its rpctool
        # path is absolute); seeing a VM there, cloud-init would try to grow the container's root.
        stage_env = env if transport == "envvar" or stage == CLOUD_INIT_STAGES[0] else {}
        result = host.exec("cloud-init", *stage, env=stage_env, check=False)
        if result.returncode != 0:
            raise RuntimeError("cloud-init %s failed on %s (rc %d):\n%s%s" % (
                " ".join(stage), host.name, result.returncode, result.stdout, result.stderr))
