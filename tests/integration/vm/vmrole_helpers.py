"""Helpers for the tests of the role homelab.photon.vm: run ansible-playbook on the collection,
and load the simulator helpers of tests/integration/vsphere/conftest.py (under a unique name)."""

import importlib.util
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
BIN = os.path.join(ROOT, ".venv", "bin")
COLLECTIONS = os.path.join(ROOT, "tests", "output", "collections")

_spec = importlib.util.spec_from_file_location(
    "homelab_vsphere_fixtures", os.path.join(ROOT, "tests", "integration", "vsphere", "conftest.py"))
vsphere = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(vsphere)
sys.modules.setdefault("homelab_vsphere_fixtures", vsphere)


def ansible_env():
    env = dict(os.environ)
    env.update({
        "ANSIBLE_COLLECTIONS_PATH": COLLECTIONS,
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_HOST_KEY_CHECKING": "False",
        "ANSIBLE_RETRY_FILES_ENABLED": "False",
        "ANSIBLE_LOCALHOST_WARNING": "False",
        "ANSIBLE_INVENTORY_UNPARSED_WARNING": "False",
        "ANSIBLE_PYTHON_INTERPRETER": "auto_silent",
        "PATH": BIN + os.pathsep + env.get("PATH", ""),
    })
    return env


def playbook_argv(tmp_path, playbook, extravars, name="play"):
    """Write the playbook and its extra vars into tmp_path; return the ansible-playbook argv."""
    play_path = os.path.join(str(tmp_path), name + ".yml")
    vars_path = os.path.join(str(tmp_path), name + "-vars.json")
    with open(play_path, "w") as handle:
        handle.write(playbook)
    with open(vars_path, "w") as handle:
        json.dump(extravars, handle)
    return [os.path.join(BIN, "ansible-playbook"), "-i", "localhost,", "-c", "local",
            "-e", "ansible_python_interpreter=" + sys.executable, "-e", "@" + vars_path, play_path]


def run_playbook(tmp_path, playbook, extravars, name="play", timeout=900):
    return subprocess.run(playbook_argv(tmp_path, playbook, extravars, name), env=ansible_env(),
                          capture_output=True, text=True, timeout=timeout, cwd=str(tmp_path))
