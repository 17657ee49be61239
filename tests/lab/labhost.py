"""Start and stop lab hosts: systemd containers from the lab image that stand in for Photon OS.

Used by the integration tests, the benchmarks and the demo. Every container carries the label
``homelab-photon-lab`` so that ``tests/lab/bin/lab-down`` can find whatever a crashed run left.
"""

import contextlib
import fcntl
import hashlib
import importlib.util
import json
import os
import shlex
import socket
import subprocess
import time
import uuid

# The lab host image: Photon OS 5.0 to Ansible, with the real tdnf (tests/lab/image/build.sh).
ROOT = os.path.realpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
LAB_IMAGE = os.environ.get("LAB_IMAGE", "homelab-photon-lab:latest")
# The plain Debian 13 host from the same build, for the roles' non-Photon path.
LAB_DEBIAN_IMAGE = os.environ.get("LAB_DEBIAN_IMAGE", "homelab-photon-lab-debian:latest")
LAB_NETWORK = "homelab-lab"
LAB_LABEL = "homelab-photon-lab"
# Which checkout made a container or network: lab-down and check-clean touch only their own
# checkout's, so that they never stop another clone's lab (the Makefile exports the same id).
CHECKOUT_LABEL = LAB_LABEL + ".checkout"
CHECKOUT = hashlib.sha256(os.path.realpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
                          .encode()).hexdigest()[:12]
LABELS = ["--label", LAB_LABEL + "=1", "--label", "%s=%s" % (CHECKOUT_LABEL, CHECKOUT)]

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

    def module_play(self, workdir, module, args, options=(), callback="ansible.posix.json", timeout=180):
        """ansible-playbook of one task, MODULE with ARGS, on this host over SSH, as a user runs it (the
        checkout's collection, tests/output/collections); inventory and play are written to WORKDIR.
        The CompletedProcess; task_result() reads the task's result from the JSON callback's output."""
        inventory = os.path.join(workdir, "inventory")
        with open(inventory, "w") as handle:
            handle.write("[lab]\n%s\n" % self.inventory_line())
        playbook = os.path.join(workdir, "play.yml")
        with open(playbook, "w") as handle:
            json.dump([{"name": module, "hosts": "lab", "gather_facts": False,
                        "tasks": [{"name": module, module: args}]}], handle)
        env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, "tests", "output", "collections"),
                   ANSIBLE_STDOUT_CALLBACK=callback, ANSIBLE_HOST_KEY_CHECKING="False", ANSIBLE_NOCOLOR="1")
        venv_playbook = os.path.join(ROOT, ".venv", "bin", "ansible-playbook")
        argv = [venv_playbook if os.path.exists(venv_playbook) else "ansible-playbook", "-i", inventory, playbook]
        return subprocess.run(argv + list(options), env=env, capture_output=True, text=True, timeout=timeout,
                              check=False)

    def task_result(self, proc):
        """This host's result of the one task of a module_play() run with the JSON callback."""
        try:
            return json.loads(proc.stdout)["plays"][0]["tasks"][0]["hosts"][self.name]
        except (ValueError, KeyError, IndexError):
            raise AssertionError("ansible-playbook gave no result (rc=%d)\n%s\n%s"
                                 % (proc.returncode, proc.stdout, proc.stderr))

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
           *LABELS, LAB_NETWORK)


def start(prefix="lab", image=LAB_IMAGE, ssh_key=None, extra_args=(), wait=True, name=None):
    ensure_network()
    name = name or "%s-%s" % (prefix, uuid.uuid4().hex[:8])
    docker("run", "-d", "--name", name, "--hostname", name, "--network", LAB_NETWORK,
           *LABELS, *RUN_ARGS, *extra_args, image, "/sbin/init")
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


# ---------------------------------------------------------------- the lab's small internet
# One container at a fixed address plays the internet for the lab (DNS, HTTP, HTTPS; see
# tests/lab/internet/README.md). Lab hosts name INTERNET_IP as their only DNS server.
INTERNET_IP = "172.30.99.250"
INTERNET_NAME = "homelab-lab-internet"
LAB_DIR = os.path.dirname(os.path.abspath(__file__))
INTERNET_DIR = os.path.join(LAB_DIR, "internet")
INTERNET_CACHE = os.path.join(LAB_DIR, ".cache", "internet")
INTERNET_HASH_LABEL = LAB_LABEL + ".internet"
# Where the program, the certificate and the key appear inside the container.
_INTERNET_SRV = "/srv/internet"
_INTERNET_TLS = "/srv/internet-tls"
# Bumped when the way the container is run changes (part of the hash on its label).
_INTERNET_RECIPE = "1"
SYSTEM_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"


def internet_names():
    """The public names the lab internet answers (tests/lab/internet/zone.txt), in file order."""
    names = []
    with open(os.path.join(INTERNET_DIR, "zone.txt"), encoding="utf-8") as handle:
        for line in handle:
            name = line.split("#", 1)[0].strip().rstrip(".").lower()
            if name and name not in names:
                names.append(name)
    return names


def _openssl(*args, check=True):
    return subprocess.run(["openssl", *args], check=check, capture_output=True, text=True)


def _public_key(kind, path):
    """The PEM public key of a certificate ("x509") or of a private key ("pkey"), or None."""
    args = ["x509", "-noout", "-pubkey", "-in", path] if kind == "x509" else ["pkey", "-pubout", "-in", path]
    result = _openssl(*args, check=False)
    return result.stdout if result.returncode == 0 else None


def _cert_usable(cert, key, days=30):
    """CERT and KEY exist, belong together and stay valid for DAYS more days."""
    if not (os.path.isfile(cert) and os.path.isfile(key)):
        return False
    if _openssl("x509", "-noout", "-checkend", str(days * 86400), "-in", cert, check=False).returncode != 0:
        return False
    public = _public_key("x509", cert)
    return public is not None and public == _public_key("pkey", key)


def _cert_names(cert):
    """The DNS names and IP addresses of a certificate's subjectAltName."""
    out = _openssl("x509", "-noout", "-ext", "subjectAltName", "-in", cert, check=False).stdout
    names = set()
    for line in out.splitlines()[1:]:
        for item in line.split(","):
            kind, _sep, value = item.strip().partition(":")
            if kind == "DNS":
                names.add(value.lower())
            elif kind == "IP Address":
                names.add(value)
    return names


_CA_CONFIG = """[req]
prompt = no
distinguished_name = dn
x509_extensions = v3_ca
[dn]
O = homelab.photon lab
CN = homelab lab internet CA
[v3_ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
"""

_SERVER_CONFIG = """[req]
prompt = no
distinguished_name = dn
[dn]
O = homelab.photon lab
CN = %(cn)s
[v3_server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid, issuer
subjectAltName = %(san)s
"""


def internet_certs():
    """Make (once) the lab CA, the server certificate for every zone name, and ca-bundle.crt (this
    machine's CA bundle plus the lab CA); reuse what exists and is still valid. Returns the paths."""
    os.makedirs(INTERNET_CACHE, exist_ok=True)
    paths = {name: os.path.join(INTERNET_CACHE, name) for name in
             ("ca.crt", "ca.key", "server.crt", "server.key", "ca-bundle.crt")}
    ca_crt, ca_key, crt, key = paths["ca.crt"], paths["ca.key"], paths["server.crt"], paths["server.key"]
    work = os.path.join(INTERNET_CACHE, "work")
    os.makedirs(work, exist_ok=True)
    old_umask = os.umask(0o077)
    try:
        if not _cert_usable(ca_crt, ca_key):
            config = os.path.join(work, "ca.cnf")
            with open(config, "w", encoding="ascii") as handle:
                handle.write(_CA_CONFIG)
            _openssl("req", "-x509", "-new", "-config", config, "-newkey", "ec",
                     "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "3650",
                     "-keyout", ca_key + ".new", "-out", ca_crt + ".new")
            os.replace(ca_key + ".new", ca_key)
            os.replace(ca_crt + ".new", ca_crt)
        wanted = internet_names()
        if not (_cert_usable(crt, key)
                and _openssl("verify", "-CAfile", ca_crt, crt, check=False).returncode == 0
                and _cert_names(crt) == set(wanted) | {INTERNET_IP}):
            config = os.path.join(work, "server.cnf")
            san = ", ".join(["DNS:" + name for name in wanted] + ["IP:" + INTERNET_IP])
            with open(config, "w", encoding="ascii") as handle:
                handle.write(_SERVER_CONFIG % {"cn": wanted[0], "san": san})
            csr = os.path.join(work, "server.csr")
            _openssl("req", "-new", "-config", config, "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                     "-nodes", "-keyout", key + ".new", "-out", csr)
            _openssl("x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key,
                     "-set_serial", "0x" + uuid.uuid4().hex, "-days", "397",
                     "-extfile", config, "-extensions", "v3_server", "-out", crt + ".new")
            os.replace(key + ".new", key)
            os.replace(crt + ".new", crt)
    finally:
        os.umask(old_umask)
    os.chmod(ca_crt, 0o644)
    os.chmod(crt, 0o644)
    # Meant to be mounted over /etc/ssl/certs/ca-certificates.crt in a Pi-hole container: written
    # in place (same inode) and only when it changes, so that a running container sees the update.
    system = b""
    if os.path.isfile(SYSTEM_CA_BUNDLE):
        with open(SYSTEM_CA_BUNDLE, "rb") as handle:
            system = handle.read()
        if system and not system.endswith(b"\n"):
            system += b"\n"
    with open(ca_crt, "rb") as handle:
        bundle = system + b"# homelab lab internet CA (tests/lab/internet)\n" + handle.read()
    current = None
    if os.path.isfile(paths["ca-bundle.crt"]):
        with open(paths["ca-bundle.crt"], "rb") as handle:
            current = handle.read()
    if current != bundle:
        with open(paths["ca-bundle.crt"], "wb") as handle:
            handle.write(bundle)
        os.chmod(paths["ca-bundle.crt"], 0o644)
    return paths


def _internet_hash(image_id, certs):
    """What the running container must match: the recipe, the image, the program, the zone, the
    www tree, the certificate and its key."""
    digest = hashlib.sha256()
    digest.update(("recipe %s\nimage %s\nip %s\n" % (_INTERNET_RECIPE, image_id, INTERNET_IP)).encode())
    files = [os.path.join(INTERNET_DIR, "internet.py"), os.path.join(INTERNET_DIR, "zone.txt"),
             certs["server.crt"], certs["server.key"]]
    for top, dirs, names in os.walk(os.path.join(INTERNET_DIR, "www")):
        dirs.sort()
        for name in sorted(names + [d for d in dirs if os.path.islink(os.path.join(top, d))]):
            files.append(os.path.join(top, name))
    for path in files:
        digest.update(b"\0" + os.path.relpath(path, LAB_DIR).encode() + b"\0")
        if os.path.islink(path):
            digest.update(b"link " + os.readlink(path).encode())
        else:
            with open(path, "rb") as handle:
                digest.update(handle.read())
    return digest.hexdigest()[:16]


def _dnsquery():
    """The collection's own DNS helpers (plugins/module_utils/_dnsquery.py), loaded by path."""
    path = os.path.join(os.path.dirname(os.path.dirname(LAB_DIR)), "plugins", "module_utils", "_dnsquery.py")
    spec = importlib.util.spec_from_file_location("homelab_lab_dnsquery", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def dns_ask(name, qtype="A", server=INTERNET_IP, tcp=False, timeout=2.0):
    """One DNS question to SERVER (port 53); returns the parsed answer of _dnsquery.parse_response."""
    dq = _dnsquery()
    query_id = int.from_bytes(os.urandom(2), "big")
    query = dq.build_query(query_id, name, qtype)
    if tcp:
        with socket.create_connection((server, 53), timeout=timeout) as sock:
            sock.sendall(dq.tcp_frame(query))
            data = b""
            while len(data) < 2 or len(data) < 2 + int.from_bytes(data[:2], "big"):
                chunk = sock.recv(65535)
                if not chunk:
                    raise OSError("DNS server %s closed the connection" % server)
                data += chunk
            return dq.parse_response(data[2:2 + int.from_bytes(data[:2], "big")], query_id)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.sendto(query, (server, 53))
        while True:
            data, _peer = sock.recvfrom(65535)
            if data[:2] == query[:2]:
                return dq.parse_response(data, query_id)


def internet_running():
    found = docker("inspect", "-f", "{{.State.Running}}", INTERNET_NAME, check=False)
    return found.returncode == 0 and found.stdout.strip() == "true"


def _wait_internet_dns(timeout):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            answer = dns_ask("example.com", timeout=0.3)
            if answer["rcode"] == 0 and INTERNET_IP in [a["data"] for a in answer["answers"]]:
                return
            last = answer
        except OSError as exc:
            last = exc
        if not internet_running():
            break
        time.sleep(0.1)
    logs = docker("logs", "--tail", "30", INTERNET_NAME, check=False)
    raise RuntimeError("lab internet %s does not answer DNS (%s); its log:\n%s%s"
                       % (INTERNET_IP, last, logs.stdout, logs.stderr))


@contextlib.contextmanager
def _internet_lock():
    os.makedirs(INTERNET_CACHE, exist_ok=True)
    with open(os.path.join(INTERNET_CACHE, ".lock"), "w", encoding="ascii") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def ensure_internet(image=None, timeout=30):
    """Start the lab internet, or keep the running one when nothing it serves has changed.
    Returns True when it (re)created the container, False when the running one was kept."""
    image = image or LAB_IMAGE
    with _internet_lock():
        ensure_network()
        certs = internet_certs()
        found = docker("image", "inspect", "-f", "{{.Id}}", image, check=False)
        if found.returncode != 0:
            raise RuntimeError("lab internet: no image %s (tests/lab/image/build.sh makes it)" % image)
        image_id = found.stdout.strip()
        wanted = _internet_hash(image_id, certs)
        found = docker("inspect", "-f", '{{.State.Running}} {{index .Config.Labels "%s"}}' % INTERNET_HASH_LABEL,
                       INTERNET_NAME, check=False)
        if found.returncode == 0 and found.stdout.split() == ["true", wanted]:
            _wait_internet_dns(timeout)
            return False
        if found.returncode == 0:
            docker("rm", "-f", "-v", INTERNET_NAME)
        run_args = [
            "--name", INTERNET_NAME, "--hostname", INTERNET_NAME, "--network", LAB_NETWORK, "--ip", INTERNET_IP,
            # Docker's embedded resolver hands what it does not know to this service, never to
            # the machine's own resolver.
            "--dns", INTERNET_IP,
            *LABELS, "--label", "%s=%s" % (INTERNET_HASH_LABEL, wanted),
            "--read-only", "--tmpfs", "/tmp",
            "-v", "%s:%s:ro" % (INTERNET_DIR, _INTERNET_SRV),
            "-v", "%s:%s/server.crt:ro" % (certs["server.crt"], _INTERNET_TLS),
            "-v", "%s:%s/server.key:ro" % (certs["server.key"], _INTERNET_TLS),
        ]
        program = ["python3", "-u", "-B", _INTERNET_SRV + "/internet.py", "--address", INTERNET_IP,
                   "--cert", _INTERNET_TLS + "/server.crt", "--key", _INTERNET_TLS + "/server.key"]
        run = docker("run", "-d", *run_args, image, *program, check=False)
        if run.returncode != 0:
            docker("rm", "-f", "-v", INTERNET_NAME, check=False)
            raise RuntimeError("lab internet: docker run failed: %s" % run.stderr.strip())
        _wait_internet_dns(timeout)
        return True


def remove_internet():
    """Remove the lab internet container; True when there was one."""
    with _internet_lock():
        return docker("rm", "-f", "-v", INTERNET_NAME, check=False).returncode == 0


def lab_ca_bundle(path):
    """A CA bundle for the Pi-hole that trusts this checkout's lab CA and that of the small internet
    that runs now: another checkout's lab may run it (and each checkout makes its own CA), and either
    may re-create it meanwhile. Starts this checkout's internet when none runs. Returns PATH."""
    if not internet_running():
        ensure_internet()
    own = internet_certs()
    parts = [own["ca-bundle.crt"]]
    mounts = json.loads(docker("inspect", "--format", "{{json .Mounts}}", INTERNET_NAME).stdout)
    for mount in mounts:
        if mount["Destination"].endswith("/server.crt"):
            served = os.path.join(os.path.dirname(mount["Source"]), "ca.crt")
            if os.path.exists(served) and os.path.realpath(served) != os.path.realpath(own["ca.crt"]):
                parts.append(served)
    with open(path, "w", encoding="ascii") as out:
        for part in parts:
            with open(part, encoding="ascii") as handle:
                out.write(handle.read().rstrip("\n") + "\n")
    os.chmod(path, 0o644)
    return path


def own_objects(kind):
    """Ids of this checkout's lab containers or networks (kind: 'container' or 'network')."""
    ls = ["ps", "-aq"] if kind == "container" else ["network", "ls", "-q"]
    return docker(*ls, "--filter", "label=%s=%s" % (CHECKOUT_LABEL, CHECKOUT), check=False).stdout.split()


def down():
    """Remove this checkout's lab containers (its lab hosts, molecule instances, its internet) and
    networks; another clone's are left alone (a network another clone's containers use stays)."""
    containers = own_objects("container")
    if containers:
        docker("rm", "-f", "-v", *containers, check=False)
    for network in own_objects("network"):
        docker("network", "rm", network, check=False)
    return len(containers)


USAGE = "usage: labhost.py ensure-network | ensure-internet | remove-internet | down"


if __name__ == "__main__":
    import sys

    commands = {"ensure-network": ensure_network, "ensure-internet": None, "remove-internet": remove_internet,
                "down": down}
    if len(sys.argv) != 2 or sys.argv[1] not in commands:
        sys.exit(USAGE)
    if sys.argv[1] == "ensure-internet":
        started = time.monotonic()
        created = ensure_internet()
        outcome = "started" if created else "running, unchanged"
        print("lab: internet %s at %s %s (%.1f s)" % (INTERNET_NAME, INTERNET_IP, outcome, time.monotonic() - started))
    else:
        commands[sys.argv[1]]()
