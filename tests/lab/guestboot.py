"""The guest's side of a first boot on VMware, in the lab: cloud-init's VMware datasource fed with
the guestinfo keys an import wrote into a VM's extraConfig.

The simulator runs no guest, so the lab hands those keys to the real cloud-init of a lab host as
VMX_GUESTINFO_* variables (the datasource reads them when VMX_GUESTINFO=1) and runs its stages one
by one: variables given to `docker run` never reach cloud-init's boot units.
Used by the vm role's end-to-end test and by the demo's boot daemon.
"""

import base64
import gzip

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


def run_cloud_init(host, keys):
    """cloud-init clean, then every stage on the guestinfo keys, on a labhost.LabHost.
    Raises RuntimeError naming the stage that failed, with its output."""
    env = guestinfo_env(keys)
    host.exec("cloud-init", "clean", "--logs")
    for stage in CLOUD_INIT_STAGES:
        result = host.exec("cloud-init", *stage, env=env, check=False)
        if result.returncode != 0:
            raise RuntimeError("cloud-init %s failed on %s (rc %d):\n%s%s" % (
                " ".join(stage), host.name, result.returncode, result.stdout, result.stderr))
