"""lab-down and check-clean touch only what this checkout started: containers and networks carry a
checkout label, and simulator processes are matched by this checkout's own binary path."""

import os
import re
import subprocess
import uuid

import labhost


def test_own_objects_are_this_checkouts_only():
    ours, foreign = "scope-ours-" + uuid.uuid4().hex[:6], "scope-foreign-" + uuid.uuid4().hex[:6]
    try:
        labhost.docker("create", "--name", ours, *labhost.LABELS, labhost.LAB_IMAGE, "true")
        # Another clone's container: the lab label, another checkout id.
        labhost.docker("create", "--name", foreign, "--label", labhost.LAB_LABEL + "=1", "--label",
                       "%s=%s" % (labhost.CHECKOUT_LABEL, "0" * 12), labhost.LAB_IMAGE, "true")
        ids = labhost.own_objects("container")
        names = labhost.docker("inspect", "-f", "{{.Name}}", *ids).stdout.split() if ids else []
        assert "/" + ours in names
        assert "/" + foreign not in names
    finally:
        labhost.docker("rm", "-f", ours, foreign, check=False)


def test_checkout_id_is_the_makefiles(repo_root):
    out = subprocess.run(["make", "-s", "-C", repo_root, "-p", "-n", "help"], capture_output=True, text=True,
                         check=False).stdout
    assert re.search(r"^LAB_CHECKOUT := %s$" % labhost.CHECKOUT, out, re.M), labhost.CHECKOUT


def test_lab_down_matches_only_this_checkouts_simulator(repo_root):
    with open(os.path.join(repo_root, "tests", "lab", "bin", "lab-down")) as handle:
        script = handle.read()
    assert 'pkill -f "^$here/vcsim/vcsim( |\\$)"' in script
    here = os.path.join(repo_root, "tests", "lab")
    pattern = re.compile("^%s/vcsim/vcsim( |$)" % re.escape(here))
    assert pattern.search(here + "/vcsim/vcsim -mode esx -listen 127.0.0.1:0")
    assert not pattern.search("/elsewhere/clone/tests/lab/vcsim/vcsim -mode esx")
    assert "label=homelab-photon-lab\"" not in script and "--filter label=homelab-photon-lab " not in script
