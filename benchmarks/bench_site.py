"""Benchmark of the site run on the embedded lab: two hosts against one, and converged against facts.

On the lab of `make demo` (tests/lab/demo.py: the simulator in ESXi mode, and a lab host for each of
the two Photon OS VMs of inventories/lab/, photon-lab and photon-lab2, both Pi-holes), this measures
the two targets of issue 14:

1. From nothing, two hosts against one: the demo's lab is removed and started again before each run;
   `playbooks/site.yml --limit photon-lab` (one VM, one Pi-hole) is timed, then, from nothing again,
   the whole site run (two VMs, two Pi-holes). Target: two hosts at most 1.3 x one host (the hosts'
   work runs in parallel; only the stages that could take DNS down go one Pi-hole at a time).
   BENCH_FRESH_REPS (default 1) pairs are run; the ratio of the medians is reported.
2. Converged, against facts: after one more run that must report changed=0 on every host, REPS times,
   interleaved, the converged site run (changed=0 checked each time) and a play that only gathers
   facts on the same hosts with the same inventory (the reference: Ansible's start-up, inventory and
   one fact-gathering round trip per host). Target: at most 6 x.

It also prints the number of tasks and of module runs (task results per host that were not skipped)
of the converged run, read from the ansible.posix.json callback. It exits non-zero when a target is
missed. The demo's lab is removed at the start (a run from nothing needs it) and left up at the end
only when it was up before (converged, as a second `make demo` leaves it).

Environment: BENCH_REPS (default 5), BENCH_FRESH_REPS (default 1). Results also go to
benchmarks/output/bench_site.json.
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
FRESH_REPS = int(os.environ.get("BENCH_FRESH_REPS", "1"))
STATE = demo_lab.STATE
INVENTORY = os.path.join(ROOT, "inventories", "lab")
ONE_HOST = "photon-lab"
TARGET_FRESH = 1.3
TARGET_CONVERGED = 6.0

FACTS_ONLY = """\
- name: Gather facts only, on the hosts of site.yml
  hosts: photon
  gather_facts: true
  tasks: []
"""


def demo(*args):
    """tests/lab/demo.py ARGS; the time it took (a run's own failure ends the benchmark)."""
    start = time.monotonic()
    proc = subprocess.run([os.path.join(BIN, "python"), os.path.join(LAB, "demo.py"), *args],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False)
    elapsed = time.monotonic() - start
    if proc.returncode != 0:
        sys.exit("bench_site: demo.py %s failed:\n%s" % (" ".join(args), proc.stdout[-6000:]))
    return elapsed


def from_nothing(*extra):
    """Remove the demo's lab, start it again (not timed), then time one site run on it."""
    demo("down")
    demo("up")
    return demo("run", *extra)


def run(playbook, json_output=False):
    env = demo_lab.ansible_env()
    if json_output:
        env["ANSIBLE_STDOUT_CALLBACK"] = "ansible.posix.json"
    start = time.monotonic()
    proc = subprocess.run([os.path.join(BIN, "ansible-playbook"), "-i", INVENTORY, playbook],
                          env=env, cwd=ROOT, capture_output=True, text=True, check=False)
    elapsed = time.monotonic() - start
    if proc.returncode != 0:
        sys.exit("bench_site: %s failed:\n%s%s" % (playbook, proc.stdout[-4000:], proc.stderr[-2000:]))
    return elapsed, proc.stdout


def changed_hosts(text):
    """The hosts whose PLAY RECAP line reports a change."""
    return {host: t["changed"] for host, t in demo_lab.recap(text).items() if t["changed"]}


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
    was_up = os.path.exists(os.path.join(STATE, "last-run.json"))
    site = os.path.join(ROOT, "playbooks", "site.yml")
    fresh = {"one": [], "two": []}
    times = {"site": [], "facts": []}
    try:
        for _rep in range(FRESH_REPS):
            fresh["one"].append(from_nothing("--limit", ONE_HOST))
            fresh["two"].append(from_nothing())
        # The lab now holds the two-host run's result: one more run must change nothing.
        report = json.loads(run(site, json_output=True)[1])
        tasks, runs, changed = count(report)
        stats = report["stats"]
        if changed or any(s.get("changed") for s in stats.values()):
            sys.exit("bench_site: the lab is not converged after two runs: %s" % json.dumps(stats))
        with tempfile.NamedTemporaryFile("w", suffix=".yml", dir=OUT, delete=False) as handle:
            handle.write(FACTS_ONLY)
            facts_play = handle.name
        try:
            for _rep in range(REPS):
                elapsed, text = run(site)
                if changed_hosts(text):
                    sys.exit("bench_site: a converged run changed something: %s" % changed_hosts(text))
                times["site"].append(elapsed)
                times["facts"].append(run(facts_play)[0])
        finally:
            os.unlink(facts_play)
    finally:
        if not was_up:
            demo("down")
    fresh_medians = {k: statistics.median(v) for k, v in fresh.items()}
    fresh_ratio = fresh_medians["two"] / fresh_medians["one"]
    medians = {k: statistics.median(v) for k, v in times.items()}
    ratio = medians["site"] / medians["facts"]
    print("site.yml on the lab from nothing (the demo removed and started again before each run), medians of %d:"
          % FRESH_REPS)
    print("  one host (--limit %s):      %7.1f s" % (ONE_HOST, fresh_medians["one"]))
    print("  two hosts:                       %7.1f s" % fresh_medians["two"])
    print("  ratio two / one:                 %7.2f   (target <= %.1f)" % (fresh_ratio, TARGET_FRESH))
    print("converged site.yml on the lab, medians of %d:" % REPS)
    print("  site.yml (changed=0):            %7.2f s   %d tasks, %d module runs on %d hosts"
          % (medians["site"], tasks, runs, len(stats)))
    print("  facts-only play:                 %7.2f s" % medians["facts"])
    print("  ratio site / facts-only:         %7.2f   (target <= %.1f)" % (ratio, TARGET_CONVERGED))
    with open(os.path.join(OUT, "bench_site.json"), "w") as handle:
        json.dump({"fresh": fresh, "fresh_medians": fresh_medians, "fresh_ratio": fresh_ratio,
                   "times": times, "medians": medians, "ratio": ratio, "tasks": tasks, "module_runs": runs,
                   "hosts": sorted(stats), "targets": {"fresh": TARGET_FRESH, "converged": TARGET_CONVERGED}},
                  handle, indent=2)
    missed = []
    if fresh_ratio > TARGET_FRESH:
        missed.append("two hosts from nothing %.2f x one host (target %.1f)" % (fresh_ratio, TARGET_FRESH))
    if ratio > TARGET_CONVERGED:
        missed.append("converged %.2f x facts-only (target %.1f)" % (ratio, TARGET_CONVERGED))
    if missed:
        print("bench_site: target missed: " + "; ".join(missed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
