"""After `make test`: the lab left no container, network, simulator process or temporary directory.

`check-clean --mark` (first step of `make test`) records when the run started; the check then
counts only what was made after that, so that leftovers of an earlier, interrupted run on the
same machine are reported as a warning and do not fail this one.
"""

import datetime
import glob
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MARK = os.path.join(ROOT, "tests", "output", "lab-run-started")
sys.path.insert(0, os.path.join(ROOT, "tests", "lab"))
import labhost  # noqa: E402  pylint: disable=wrong-import-position


def docker_objects():
    """[(kind, name, created datetime)] of the lab's containers and networks."""
    found = []
    for kind, ls in (("container", ["ps", "-aq"]), ("network", ["network", "ls", "-q"])):
        # This checkout's only: another clone's lab on the same machine is not this run's business.
        ids = subprocess.run(["docker", *ls, "--filter", "label=%s=%s" % (labhost.CHECKOUT_LABEL, labhost.CHECKOUT)],
                             capture_output=True, text=True, check=False).stdout.split()
        if not ids:
            continue
        out = subprocess.run(["docker", kind, "inspect", *ids], capture_output=True, text=True, check=False).stdout
        for obj in json.loads(out or "[]"):
            created = datetime.datetime.fromisoformat(obj["Created"][:26].rstrip("Z")).replace(
                tzinfo=datetime.timezone.utc)
            found.append((kind, obj["Name"].lstrip("/"), created))
    return found


def main(argv):
    if argv == ["--mark"]:
        os.makedirs(os.path.dirname(MARK), exist_ok=True)
        with open(MARK, "w") as handle:
            handle.write(datetime.datetime.now(datetime.timezone.utc).isoformat())
        return 0
    try:
        with open(MARK) as handle:
            since = datetime.datetime.fromisoformat(handle.read().strip())
    except OSError:
        since = datetime.datetime.fromtimestamp(0, datetime.timezone.utc)
    problems, older = [], []
    if subprocess.run(["docker", "info"], capture_output=True, check=False).returncode == 0:
        for kind, name, created in docker_objects():
            if (kind, name) in (("network", "homelab-lab"), ("container", "homelab-lab-internet")):
                continue  # the lab network and its small internet are kept between runs, like the image
            (problems if created >= since else older).append("%s %s" % (kind, name))
    vcsim = "^%s( |$)" % os.path.join(ROOT, "tests", "lab", "vcsim", "vcsim")
    if subprocess.run(["pgrep", "-f", vcsim], capture_output=True, check=False).returncode == 0:
        problems.append("a simulator process")
    for path in glob.glob("/tmp/homelab-*"):
        mtime = datetime.datetime.fromtimestamp(os.stat(path).st_mtime, datetime.timezone.utc)
        (problems if mtime >= since else older).append("temporary directory " + path)
    # Nothing may install the collection outside the checkout (molecule's prerun did, once).
    # Nor write into the user's home: the demo's Pi-hole backups go to its own state.
    for outside, what in (("~/.ansible/collections/ansible_collections/homelab/photon", "a copy of the collection in "),
                          ("~/.homelab-photon", "files of the collection's roles in ")):
        path = os.path.expanduser(outside)
        if os.path.exists(path):
            mtime = datetime.datetime.fromtimestamp(os.stat(path).st_mtime, datetime.timezone.utc)
            (problems if mtime >= since else older).append(what + path)
    if older:
        print("lab: left by an earlier run (not this one): " + ", ".join(older))
    if problems:
        print("lab: left behind by this run: " + ", ".join(problems), file=sys.stderr)
        return 1
    print("lab: nothing left behind")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
