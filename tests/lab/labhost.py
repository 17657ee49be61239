"""Start and stop lab hosts: systemd containers from the lab image that stand in for Photon OS.

Used by the integration tests, the benchmarks and the demo. Every container carries the label
``homelab-photon-lab`` so that ``tests/lab/bin/lab-down`` can find whatever a crashed run left.
"""

import os
import shlex
import subprocess
import time
import uuid

LAB_IMAGE = os.environ.get("LAB_IMAGE", "homelab-photon-lab:latest")
LAB_NETWORK = "homelab-lab"
LAB_LABEL = "homelab-photon-lab"

# The settings LAB.md found to boot systemd in a container here (no --privileged).
RUN_ARGS = [
    "--cap-add", "SYS_ADMIN", "--cap-add", "NET_ADMIN", "--cap-add", "NET_RAW",
    "--cap-add", "SYS_PTRACE", "--cap-add", "MKNOD",
    "--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined",
    "--tmpfs", "/run", "--tmpfs", "/run/lock",
    "--cgroupns=host", "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw",
]


def docker(*args, check=True, input=None, timeout=300):
    return subprocess.run(["docker", *args], check=check, capture_output=True, text=True,
                          input=input, timeout=timeout)


class LabHost:
    def __init__(self, name, ssh_key=None):
        self.name = name
        self.ssh_key = ssh_key

    @property
    def ip(self):
        out = docker("inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}",
                     self.name).stdout.split()
        return out[0] if out else None

    def exec(self, *argv, check=True, input=None, env=None, timeout=300):
        opts = ["-i"] if input is not None else []
        for key, value in (env or {}).items():
            opts += ["-e", "%s=%s" % (key, value)]
        return docker("exec", *opts, self.name, *argv, check=check, input=input, timeout=timeout)

    def sh(self, script, check=True, timeout=300):
        return self.exec("/bin/sh", "-c", script, check=check, timeout=timeout)

    def wait_booted(self, timeout=120):
        deadline = time.monotonic() + timeout
        state = ""
        while time.monotonic() < deadline:
            state = self.exec("systemctl", "is-system-running", check=False).stdout.strip()
            if state in ("running", "degraded"):
                return state
            time.sleep(0.5)
        raise RuntimeError("lab host %s did not finish booting: %r" % (self.name, state))

    def authorize(self, public_key, clear_expiry=True):
        """Let root in by SSH key. The image's root password is expired (as in the Photon OVA),
        which makes PAM refuse even a key login: clear_expiry does what first boot would."""
        self.exec("sh", "-c", "install -d -m 0700 /root/.ssh && cat >> /root/.ssh/authorized_keys"
                  " && chmod 0600 /root/.ssh/authorized_keys", input=public_key + "\n")
        if clear_expiry:
            self.exec("chage", "-d", time.strftime("%Y-%m-%d"), "-M", "-1", "root")

    def inventory_line(self, address=None):
        args = {
            "ansible_host": address or self.ip,
            "ansible_user": "root",
            "ansible_python_interpreter": "/usr/bin/python3",
            "ansible_ssh_common_args": "'-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null'",
        }
        if self.ssh_key:
            args["ansible_ssh_private_key_file"] = self.ssh_key
        return self.name + " " + " ".join("%s=%s" % kv for kv in args.items())

    def remove(self):
        docker("rm", "-f", "-v", self.name, check=False)


LAB_SUBNET = "172.30.99.0/24"
# Docker hands out addresses from the lower half only; tests and the demo give lab hosts fixed
# addresses from the upper half (.128 to .254), which Docker never assigns on its own.
LAB_IP_RANGE = "172.30.99.0/25"


def ensure_network():
    """Create the lab network, or re-create one left by an older recipe (when nothing uses it)."""
    found = docker("network", "inspect", "-f", "{{range .IPAM.Config}}{{.Subnet}} {{.IPRange}}{{end}}",
                   LAB_NETWORK, check=False)
    if found.returncode == 0:
        if found.stdout.split() == [LAB_SUBNET, LAB_IP_RANGE]:
            return
        if docker("network", "rm", LAB_NETWORK, check=False).returncode != 0:
            print("lab: network %s is in use; keeping it as it is" % LAB_NETWORK)
            return
    docker("network", "create", "--subnet", LAB_SUBNET, "--ip-range", LAB_IP_RANGE,
           "--label", LAB_LABEL + "=1", LAB_NETWORK)


def start(prefix="lab", image=LAB_IMAGE, ssh_key=None, extra_args=(), wait=True, name=None):
    ensure_network()
    name = name or "%s-%s" % (prefix, uuid.uuid4().hex[:8])
    docker("run", "-d", "--name", name, "--hostname", name, "--network", LAB_NETWORK,
           "--label", LAB_LABEL + "=1", *RUN_ARGS, *extra_args, image, "/sbin/init")
    host = LabHost(name, ssh_key=ssh_key)
    if wait:
        host.wait_booted()
    return host


def make_ssh_key(directory):
    """A fresh ed25519 key pair in DIRECTORY (the caller owns and removes it); returns
    (private key path, public key text)."""
    path = os.path.join(directory, "id_ed25519")
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "homelab-lab", "-f", path],
                   check=True)
    with open(path + ".pub") as handle:
        return path, handle.read().strip()


def quote(argv):
    return " ".join(shlex.quote(a) for a in argv)


if __name__ == "__main__":
    import sys

    if sys.argv[1:] != ["ensure-network"]:
        sys.exit("usage: labhost.py ensure-network")
    ensure_network()
