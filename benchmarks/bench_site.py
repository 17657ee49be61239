"""Benchmark of the converged site run on the embedded lab, against a facts-only play.

On the lab of `make demo` (tests/lab/demo.py: the simulator in ESXi mode and the lab host that
stands in for the Photon OS VM), after one converging run of playbooks/site.yml, this times,
interleaved, REPS times:

- `ansible-playbook playbooks/site.yml -i inventories/lab/` on the converged lab (it must report
  changed=0 on every host, or the benchmark fails);
- a play that only gathers facts on the same hosts with the same inventory (the reference:
  Ansible's start-up, inventory and one fact-gathering round trip per host).

It prints the medians, their ratio, and the number of tasks and of module runs (task results
per host that were not skipped) of the converged run, read from the ansible.posix.json callback.
No target is set for the ratio; it is reported so that regressions show.

Environment: BENCH_REPS (default 5). Results also go to benchmarks/output/bench_site.json.
The demo lab is started when it is not up, and removed afterwards only if this run started it.
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LAB = os.path.join(ROOT, "tests", "lab")
sys.path.insert(0, LAB)

import demo as demo_lab  # noqa: E402  (tests/lab/demo.py)
BIN = os.path.join(ROOT, ".venv", "bin")
OUT = os.path.join(ROOT, "benchmarks", "output")
REPS = int(os.environ.get("BENCH_REPS", "5"))
STATE = demo_lab.STATE
INVENTORY = os.path.join(ROOT, "inventories", "lab")

FACTS_ONLY = """\
- name: Gather facts only, on the same hosts as site.yml
  hosts: vsphere:photon
  gather_facts: true
  tasks: []
"""


def demo(*args):
    subprocess.run([os.path.join(BIN, "python"), os.path.join(LAB, "demo.py"), *args], check=True,
                   stdout=subprocess.DEVNULL)


def ansible_env(json_output=False):
    env = demo_lab.ansible_env()
    if json_output:
        env["ANSIBLE_STDOUT_CALLBACK"] = "ansible.posix.json"
    return env


def run(playbook, json_output=False):
    start = time.monotonic()
    proc = subprocess.run([os.path.join(BIN, "ansible-playbook"), "-i", INVENTORY, playbook],
                          env=ansible_env(json_output), cwd=ROOT, capture_output=True, text=True, check=False)
    elapsed = time.monotonic() - start
    if proc.returncode != 0:
        sys.exit("bench_site: %s failed:\n%s%s" % (playbook, proc.stdout[-4000:], proc.stderr[-2000:]))
    return elapsed, proc.stdout


def count(report):
    """Tasks, module runs (results not skipped) and changes in an ansible.posix.json report."""
    tasks = runs = changed = 0
    for play in report["plays"]:
        for task in play["tasks"]:
            tasks += 1
            for result in task["hosts"].values():
                if not result.get("skipped"):
                    runs += 1
                if result.get("changed"):
                    changed += 1
    return tasks, runs, changed


def main():
    os.makedirs(OUT, exist_ok=True)
    started_here = not os.path.exists(os.path.join(STATE, "last-run.json"))
    site = os.path.join(ROOT, "playbooks", "site.yml")
    try:
        demo("up")
        if started_here:
            subprocess.run([os.path.join(BIN, "python"), os.path.join(LAB, "demo.py"), "run"], check=True,
                           stdout=subprocess.DEVNULL)
        report = json.loads(run(site, json_output=True)[1])
        tasks, runs, changed = count(report)
        stats = report["stats"]
        if changed or any(s.get("changed") for s in stats.values()):
            sys.exit("bench_site: the lab is not converged: %s" % json.dumps(stats))
        with tempfile.NamedTemporaryFile("w", suffix=".yml", dir=OUT, delete=False) as handle:
            handle.write(FACTS_ONLY)
            facts_play = handle.name
        times = {"site": [], "facts": []}
        for _rep in range(REPS):
            times["site"].append(run(site)[0])
            times["facts"].append(run(facts_play)[0])
        os.unlink(facts_play)
    finally:
        if started_here:
            demo("down")
    medians = {k: statistics.median(v) for k, v in times.items()}
    ratio = medians["site"] / medians["facts"]
    print("converged site.yml on the lab, medians of %d:" % REPS)
    print("  site.yml (changed=0):      %6.2f s   %d tasks, %d module runs on %d hosts"
          % (medians["site"], tasks, runs, len(stats)))
    print("  facts-only play:           %6.2f s" % medians["facts"])
    print("  ratio site / facts-only:   %6.2f" % ratio)
    with open(os.path.join(OUT, "bench_site.json"), "w") as handle:
        json.dump({"times": times, "medians": medians, "ratio": ratio, "tasks": tasks, "module_runs": runs,
                   "hosts": sorted(stats)}, handle, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
