"""Helpers for the tests of the role homelab.photon.vm: run ansible-playbook on the collection
(with an inventory of the role's shape: a vSphere endpoint and a Photon host carrying its VM), and
load the simulator helpers of tests/integration/vsphere/conftest.py (under a unique name)."""

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


def ansible_env(tmp_path=None):
    env = dict(os.environ)
    if tmp_path is not None:
        # Lab hosts come and go on the same addresses, and other tests share this machine: an SSH
        # master left in the shared ~/.ansible/cp by an earlier run would answer for a removed host.
        env["ANSIBLE_SSH_CONTROL_PATH_DIR"] = os.path.join(str(tmp_path), "cp")
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


def playbook_argv(tmp_path, playbook, extravars, name="play", check_mode=False):
    """Write the playbook and its extra vars into tmp_path; return the ansible-playbook argv."""
    play_path = os.path.join(str(tmp_path), name + ".yml")
    vars_path = os.path.join(str(tmp_path), name + "-vars.json")
    with open(play_path, "w") as handle:
        handle.write(playbook)
    inventory_path = os.path.join(str(tmp_path), name + "-inventory.ini")
    with open(vars_path, "w") as handle:
        json.dump(extravars, handle)
    # Only localhost is local: the hosts the role adds are reached by SSH (no -c local here).
    with open(inventory_path, "w") as handle:
        handle.write("localhost ansible_connection=local ansible_python_interpreter=%s\n" % sys.executable)
    return [os.path.join(BIN, "ansible-playbook"), "-i", inventory_path, "-e", "@" + vars_path, play_path] + (
        ["--check"] if check_mode else [])


def run_playbook(tmp_path, playbook, extravars, name="play", timeout=900, check_mode=False):
    return subprocess.run(playbook_argv(tmp_path, playbook, extravars, name, check_mode), env=ansible_env(tmp_path),
                          capture_output=True, text=True, timeout=timeout, cwd=str(tmp_path), check=False)


ENDPOINT = "vcsim"


def fleet_argv(tmp_path, playbook, values, group, name="play", check_mode=False):
    """The role's shape of inventory: one Photon host, named values["vm_name"], in `group`, with its VM's
    variables and its connection (vm_* and ansible_* of `values`); the vSphere endpoint ENDPOINT in the
    group vsphere with the connection (vm_vsphere_*). Other values are extra vars (test scaffolding)."""
    endpoint = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    photon, extra = {}, {}
    for key, value in values.items():
        if key.startswith("vm_vsphere_") and key not in ("vm_vsphere_endpoint", "vm_vsphere_group"):
            endpoint[key] = value
        elif key.startswith(("vm_", "ansible_")):
            photon[key] = value
        else:
            extra[key] = value
    inventory = {"all": {"children": {"vsphere": {"hosts": {ENDPOINT: endpoint}},
                                      group: {"hosts": {values["vm_name"]: photon}}}}}
    play_path = os.path.join(str(tmp_path), name + ".yml")
    inventory_path = os.path.join(str(tmp_path), name + "-inventory.json")
    vars_path = os.path.join(str(tmp_path), name + "-vars.json")
    with open(play_path, "w") as handle:
        handle.write(playbook)
    with open(inventory_path, "w") as handle:
        json.dump(inventory, handle)
    with open(vars_path, "w") as handle:
        json.dump(extra, handle)
    return [os.path.join(BIN, "ansible-playbook"), "-i", inventory_path, "-e", "@" + vars_path, play_path] + (
        ["--check"] if check_mode else [])


def run_fleet_playbook(tmp_path, playbook, values, group, name="play", timeout=900, check_mode=False):
    return subprocess.run(fleet_argv(tmp_path, playbook, values, group, name, check_mode), env=ansible_env(tmp_path),
                          capture_output=True, text=True, timeout=timeout, cwd=str(tmp_path), check=False)


def connect(sim):
    """pyvmomi session on the simulator (its certificate is self-signed)."""
    import ssl

    from pyVim.connect import SmartConnect

    return SmartConnect(host=sim.host, port=sim.port, user=sim.username, pwd=sim.password,
                        sslContext=ssl._create_unverified_context())


def find_vms(si, name=None):
    from pyVmomi import vim

    content = si.RetrieveContent()
    view = content.viewManager.CreateContainerView(content.rootFolder, [vim.VirtualMachine], True)
    try:
        return [vm for vm in view.view if name is None or vm.name == name]
    finally:
        view.DestroyView()


class OvaServer:
    """A plain HTTP server for one directory on loopback, counting the GET requests per path."""

    def __init__(self, directory):
        import functools
        import http.server
        import threading

        self.requests = []
        server = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's naming)
                server.requests.append(self.path)
                super().do_GET()

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                                     functools.partial(Handler, directory=directory))
        self.url = "http://127.0.0.1:%d" % self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


# --- what ran: ansible-playbook with the ansible.posix.json callback -------------------------------

# Actions that run no module: the controller decides (facts, checks, messages, includes).
CONTROLLER_ACTIONS = {
    "ansible.builtin.set_fact", "ansible.builtin.assert", "ansible.builtin.debug", "ansible.builtin.fail",
    "ansible.builtin.meta", "ansible.builtin.include_tasks", "ansible.builtin.import_tasks",
    "ansible.builtin.include_role", "ansible.builtin.add_host", "ansible.builtin.group_by",
    "set_fact", "assert", "debug", "fail", "meta",
}


def _when(stamp):
    """A time stamp of the json callback (UTC, ISO 8601 with a Z)."""
    from datetime import datetime

    return datetime.strptime(stamp.rstrip("Z"), "%Y-%m-%dT%H:%M:%S.%f")


def run_json(tmp_path, argv, timeout=900):
    """Run an ansible-playbook argv with the ansible.posix.json callback; (process, parsed output)."""
    env = ansible_env(tmp_path)
    env["ANSIBLE_STDOUT_CALLBACK"] = "ansible.posix.json"
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout, cwd=str(tmp_path),
                          check=False)
    start = proc.stdout.find("{")
    assert start >= 0, proc.stdout + proc.stderr
    return proc, json.loads(proc.stdout[start:])


def task_runs(doc, path_part="/roles/vm/"):
    """[(action, task name, host, seconds)] of every module run (a loop counts each item that ran) of the
    tasks whose file path contains path_part; skipped tasks and controller actions are left out."""
    def seconds(duration):
        return (_when(duration["end"]) - _when(duration["start"])).total_seconds() if "end" in duration else 0.0

    out = []
    for play in doc["plays"]:
        for task in play["tasks"]:
            if path_part not in (task["task"].get("path") or ""):
                continue
            for host, result in task["hosts"].items():
                if result.get("action") in CONTROLLER_ACTIONS or result.get("skipped"):
                    continue
                items = result.get("results")
                count = len([r for r in items if not r.get("skipped")]) if isinstance(items, list) else 1
                out.extend([(result["action"], task["task"]["name"], host, seconds(task["task"]["duration"]))] * count)
    return out


def module_counts(doc, path_part="/roles/vm/", host=None):
    """{action: number of module runs} of the role's tasks (of one host, or all)."""
    counts = {}
    for action, _name, on, _secs in task_runs(doc, path_part):
        if host is None or on == host:
            counts[action] = counts.get(action, 0) + 1
    return counts


def stage_seconds(doc, path_part="/roles/vm/"):
    """Seconds from the start of the role's first task to the end of its last (any host)."""
    times = []
    for play in doc["plays"]:
        for task in play["tasks"]:
            if path_part in (task["task"].get("path") or "") and "end" in task["task"]["duration"]:
                times += [task["task"]["duration"]["start"], task["task"]["duration"]["end"]]
    return (_when(max(times)) - _when(min(times))).total_seconds() if times else 0.0


def host_messages(doc, host):
    """The messages the debug tasks showed for a host, in order."""
    return [t["hosts"][host]["msg"] for play in doc["plays"] for t in play["tasks"]
            if host in t["hosts"] and t["hosts"][host].get("action") == "ansible.builtin.debug"
            and "msg" in t["hosts"][host]]
