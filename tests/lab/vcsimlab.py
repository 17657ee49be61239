"""Start and stop the lab's vSphere simulator launcher (tests/lab/vcsim) from Python.

Used by the pytest fixtures (tests/integration/vsphere/conftest.py) and the benchmarks. The
launcher listens on a free loopback port, logs to a file in a temporary directory, and removes
its datastore folders when stopped; `Vcsim.stop()` waits for it to exit.
"""

import os
import re
import select
import shutil
import subprocess
import tempfile
import time

LAB = os.path.dirname(os.path.abspath(__file__))
VCSIM = os.path.join(LAB, "vcsim", "vcsim")
NFC_LINE = re.compile(r"nfc (PUT|POST) (\S+): (.*)$")


class Vcsim:
    """A running launcher: url, host, port, username, password, mode, log_path."""

    def __init__(self, proc, url, mode, username, password, log_path, workdir):
        self.proc = proc
        self.url = url
        self.mode = mode
        self.username = username
        self.password = password
        self.log_path = log_path
        self.workdir = workdir
        hostport = url.split("//", 1)[1].split("/", 1)[0]
        self.host, port = hostport.rsplit(":", 1)
        self.port = int(port)

    @property
    def module_args(self):
        """Connection options of homelab.photon.ova_import for this simulator."""
        return {"hostname": self.host, "port": self.port, "username": self.username,
                "password": self.password, "validate_certs": False}

    def log(self):
        with open(self.log_path, encoding="utf-8", errors="replace") as f:
            return f.read()

    def nfc_transfers(self):
        """[(method, path, message)] of every NFC upload the simulator logged, in order."""
        out = []
        for line in self.log().splitlines():
            m = NFC_LINE.search(line)
            if m:
                out.append(m.groups())
        return out

    def transferred_bytes(self):
        """[N] for each 'transferred N bytes' upload line (failed uploads are left out)."""
        out = []
        for _method, _path, msg in self.nfc_transfers():
            m = re.fullmatch(r"transferred (\d+) bytes", msg)
            if m:
                out.append(int(m.group(1)))
        return out

    def wait_for_nfc_lines(self, count, timeout=10.0):
        """Wait until the log holds at least `count` NFC lines (the server logs after the body)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            lines = self.nfc_transfers()
            if len(lines) >= count:
                return lines
            time.sleep(0.05)
        return self.nfc_transfers()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout:
            self.proc.stdout.close()


def start_vcsim(mode="esx", username="homelab", password="lab-secret", workdir=None,
                listen="127.0.0.1:0", datastore_root=None, own_session=False):
    """Start the launcher and wait for its ready line. The caller must stop() it.

    datastore_root: the directory the simulator makes its datastore folders in (TMPDIR of the
    launcher; the system's temporary directory when None). The launcher removes them on stop.
    own_session: start the launcher in a session of its own, as a server daemon runs. With the
    kernel's autogroup scheduling a session is a CPU-sharing group, so a client in the caller's
    session would otherwise share the simulator's group and its CPU share (the benchmarks set it).
    """
    if not os.access(VCSIM, os.X_OK) or os.path.getmtime(VCSIM) < os.path.getmtime(
            os.path.join(LAB, "vcsim", "main.go")):
        subprocess.run([os.path.join(LAB, "vcsim", "build.sh")], check=True,
                       stdout=subprocess.DEVNULL)
    own_dir = workdir is None
    workdir = workdir or tempfile.mkdtemp(prefix="homelab-vcsim-")
    log_path = os.path.join(workdir, "vcsim-%s.log" % mode)
    argv = [VCSIM, "-mode", mode, "-listen", listen, "-log", log_path]
    if username:
        argv += ["-username", username, "-password", password]
    env = dict(os.environ, TMPDIR=datastore_root) if datastore_root else None
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                            start_new_session=own_session)
    url = None
    deadline = time.monotonic() + 30
    seen = []
    while time.monotonic() < deadline and url is None:
        ready = select.select([proc.stdout], [], [], 0.5)[0]
        if ready:
            line = proc.stdout.readline()
            if not line:
                break
            seen.append(line)
            if line.startswith("VCSIM_URL="):
                url = line.strip().split("=", 1)[1]
    if url is None:
        proc.kill()
        proc.wait()
        if own_dir:
            shutil.rmtree(workdir, ignore_errors=True)
        raise RuntimeError("vcsim did not start: %s" % "".join(seen))
    sim = Vcsim(proc, url, mode, username, password, log_path, workdir)
    sim.own_dir = own_dir
    return sim


def stop_vcsim(sim):
    """Stop the launcher and remove the temporary directory start_vcsim made."""
    sim.stop()
    if sim.own_dir:
        shutil.rmtree(sim.workdir, ignore_errors=True)
