"""Benchmark of homelab.photon.pihole_config on the real Pi-hole, against references measured in the same run.

One Pi-hole container (the lab's pihole/pihole:2025.11.0, FTL v6.3.3) on the lab network, its
upstream the lab's small internet; 10 block lists served as file:// lists from a read-only mount
in the container (100 domains each). The declaration: 200 local records, 20 CNAMEs, the 10 lists
and 50 domains (40 exact, 10 regex). Timed, interleaved:

- converged (REPS times): a playbook with one pihole_config task holding the whole declaration on
  the Pi-hole that already matches it (it must report changed=0 and make exactly one login, one read
  per part and one logout: config, lists, domains), against a playbook with one ansible.builtin.ping
  task (what Ansible costs for any one-task playbook);
- first apply (APPLY_REPS times, the Pi-hole emptied before each run through its API): the same
  one-task playbook, against a playbook that loops the same module over one item per task (200 +
  20 + 10 + 50 tasks; gravity only with the last list, so that both end with one gravity run), which
  is how the item-per-task collections work (one login, read and write per item).

Targets (exit status 1 when one is missed):
- converged run <= 2 x the ping playbook, with login + one read per part + logout (5 API calls);
- first apply of the whole declaration >= 20 x faster than the item-per-task playbook.

Environment: BENCH_REPS (default 5), BENCH_APPLY_REPS (default 3). Results also go to
benchmarks/output/bench_pihole_config.json. The container is removed afterwards.
"""

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "lab"))

import labhost  # noqa: E402

BIN = os.path.join(ROOT, ".venv", "bin")
COLLECTIONS = os.path.join(ROOT, "tests", "output", "collections")
OUT = os.path.join(ROOT, "benchmarks", "output")
BUILD = os.path.join(ROOT, "tests", "lab", "pihole", "build.sh")
REPS = int(os.environ.get("BENCH_REPS", "5"))
APPLY_REPS = int(os.environ.get("BENCH_APPLY_REPS", "3"))
PASSWORD = "bench-pihole-%s" % uuid.uuid4().hex[:8]
LISTS_MOUNT = "/srv/bench-lists"
CONVERGED_CALLS = ["POST /api/auth", "GET /api/config?detailed=true", "GET /api/domains", "GET /api/lists",
                   "DELETE /api/auth"]


def declaration():
    records = [{"name": "host-%03d.bench.home.arpa" % i, "ip": "10.77.%d.%d" % (i // 250, i % 250 + 1)}
               for i in range(200)]
    cnames = [{"name": "alias-%02d.bench.home.arpa" % i, "target": "host-%03d.bench.home.arpa" % i}
              for i in range(20)]
    lists = [{"address": "file://%s/list-%02d.txt" % (LISTS_MOUNT, i), "comment": "bench list %d" % i}
             for i in range(10)]
    domains = [{"domain": "denied-%02d.bench.example" % i} for i in range(40)]
    domains += [{"domain": r"(^|\.)regex-%02d\.bench\.example$" % i, "kind": "regex"} for i in range(10)]
    return {"local_records": records, "cnames": cnames, "lists": lists, "domains": domains}


def ansible_env():
    return dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS, ANSIBLE_LOCALHOST_WARNING="0",
                ANSIBLE_INVENTORY_UNPARSED_WARNING="0", ANSIBLE_NOCOLOR="1",
                ANSIBLE_PYTHON_INTERPRETER=os.path.join(BIN, "python"),
                PATH=BIN + os.pathsep + os.environ.get("PATH", ""))


def write_play(path, tasks):
    with open(path, "w", encoding="utf-8") as handle:
        json.dump([{"name": "bench", "hosts": "localhost", "gather_facts": False, "tasks": tasks}], handle)
    return path


def run(playbook, json_output=False):
    env = ansible_env()
    if json_output:
        env["ANSIBLE_STDOUT_CALLBACK"] = "ansible.posix.json"
    start = time.monotonic()
    proc = subprocess.run([os.path.join(BIN, "ansible-playbook"), "-i", "localhost,", "-c", "local", playbook],
                          env=env, capture_output=True, text=True, check=False, timeout=3600)
    elapsed = time.monotonic() - start
    if proc.returncode != 0:
        sys.exit("bench_pihole_config: %s failed:\n%s%s" % (playbook, proc.stdout[-4000:], proc.stderr[-2000:]))
    return elapsed, proc.stdout


class Api:
    """The benchmark's own API session, to empty the Pi-hole between first-apply runs."""

    def __init__(self, url):
        self.url, self.sid = url, None

    def call(self, method, path, body=None, timeout=120):
        request = urllib.request.Request(self.url + path, method=method,
                                         data=json.dumps(body).encode() if body is not None else None,
                                         headers={"Content-Type": "application/json", "X-FTL-SID": self.sid or ""})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                raw = response.read()
                return response.status, (json.loads(raw) if raw.strip() and path != "/api/action/gravity" else None)
        except urllib.error.HTTPError as error:
            return error.code, None

    def __enter__(self):
        status, data = self.call("POST", "/api/auth", {"password": PASSWORD})
        assert status == 200, status
        self.sid = data["session"]["sid"]
        return self

    def __exit__(self, *exc):
        self.call("DELETE", "/api/auth")


def start_pihole(workdir):
    build = subprocess.run([BUILD], capture_output=True, text=True, check=False, timeout=3600)
    if build.returncode != 0:
        sys.exit("bench_pihole_config: the Pi-hole image: %s" % build.stderr[-2000:])
    image = build.stdout.strip().splitlines()[-1]
    lists = os.path.join(workdir, "lists")
    os.makedirs(lists)
    for i in range(10):
        with open(os.path.join(lists, "list-%02d.txt" % i), "w", encoding="utf-8") as handle:
            handle.write("".join("ads-%02d-%03d.bench.example\n" % (i, n) for n in range(100)))
        os.chmod(os.path.join(lists, "list-%02d.txt" % i), 0o644)
    os.chmod(lists, 0o755)
    secret = os.path.join(workdir, "webpassword")
    with open(secret, "w", encoding="utf-8") as handle:
        handle.write(PASSWORD)
    os.chmod(secret, 0o444)
    name = "homelab-bench-pihole-%s" % uuid.uuid4().hex[:8]
    labhost.ensure_network()
    labhost.docker("run", "-d", "--name", name, *labhost.LABELS, "--network", labhost.LAB_NETWORK,
                   "--dns", labhost.INTERNET_IP, "--health-interval", "2s",
                   "-e", "TZ=UTC", "-e", "WEBPASSWORD_FILE=webpassword", "-e", "FTLCONF_dns_listeningMode=all",
                   "-e", "FTLCONF_ntp_sync_active=false", "-e", "FTLCONF_dns_upstreams=%s" % labhost.INTERNET_IP,
                   "-v", "%s:/run/secrets/webpassword:ro" % secret,
                   "-v", "%s:/etc/ssl/certs/ca-certificates.crt:ro" % labhost.lab_ca_bundle(os.path.join(workdir, "ca-bundle.crt")),
                   "-v", "%s:%s:ro" % (lists, LISTS_MOUNT), image)
    address = labhost.docker("inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
                             name).stdout.strip()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if labhost.docker("inspect", "-f", "{{.State.Health.Status}}", name, check=False).stdout.strip() == "healthy":
            try:
                with Api("http://" + address):
                    return name, "http://" + address
            except (OSError, AssertionError):
                pass
        time.sleep(1)
    labhost.docker("rm", "-f", "-v", name, check=False)
    sys.exit("bench_pihole_config: the Pi-hole did not come up")


def empty(url):
    """No local records, CNAMEs, lists or domains (the state before a first apply)."""
    with Api(url) as api:
        for part, key in (("lists", "address"), ("domains", "domain")):
            rows = api.call("GET", "/api/" + part)[1][part]
            if rows:
                entries = [{"item": r[key], "type": r["type"], **({"kind": r["kind"]} if part == "domains" else {})}
                           for r in rows]
                api.call("POST", "/api/%s:batchDelete" % part, entries)
        api.call("PATCH", "/api/config", {"config": {"dns": {"hosts": [], "cnameRecords": []}}})
    # The CNAME change restarts FTL: wait until it answers again.
    time.sleep(1)
    for _try in range(120):
        try:
            with Api(url) as api:
                if api.call("GET", "/api/config/dns/cnameRecords")[0] == 200:
                    return
        except (OSError, AssertionError, TypeError):
            pass
        time.sleep(0.25)


def main():
    os.makedirs(OUT, exist_ok=True)
    workdir = tempfile.mkdtemp(prefix="homelab-bench-pihole-")
    name = None
    decl = declaration()
    try:
        name, url = start_pihole(workdir)
        whole = {"homelab.photon.pihole_config": dict(decl, url=url, password=PASSWORD)}
        loop = [
            {"homelab.photon.pihole_config": {"url": url, "password": PASSWORD, "local_records": ["{{ item }}"]},
             "loop": decl["local_records"]},
            {"homelab.photon.pihole_config": {"url": url, "password": PASSWORD, "cnames": ["{{ item }}"]},
             "loop": decl["cnames"]},
            # Gravity only with the last list: both playbooks end with one gravity run.
            {"homelab.photon.pihole_config": {"url": url, "password": PASSWORD, "lists": ["{{ item }}"],
                                              "gravity": "{{ 'on_change' if item.address == last_address else 'never' }}"},
             "loop": decl["lists"], "vars": {"last_address": decl["lists"][-1]["address"]}},
            {"homelab.photon.pihole_config": {"url": url, "password": PASSWORD, "domains": ["{{ item }}"]},
             "loop": decl["domains"]},
        ]
        whole_play = write_play(os.path.join(workdir, "whole.json"), [whole])
        loop_play = write_play(os.path.join(workdir, "loop.json"), loop)
        ping_play = write_play(os.path.join(workdir, "ping.json"), [{"ansible.builtin.ping": {}}])
        converged_play = write_play(os.path.join(workdir, "converged.json"),
                                    [dict(whole, register="bench"), {"ansible.builtin.debug": {"var": "bench"}}])

        # First apply: the whole declaration in one task, against one item per task.
        times = {"apply_whole": [], "apply_loop": [], "converged": [], "ping": []}
        for _rep in range(APPLY_REPS):
            empty(url)
            times["apply_whole"].append(run(whole_play)[0])
            empty(url)
            times["apply_loop"].append(run(loop_play)[0])
        # The loop applied everything too: the Pi-hole matches the declaration now.
        report = json.loads(run(converged_play, json_output=True)[1])
        result = report["plays"][0]["tasks"][0]["hosts"]["localhost"]
        if result.get("changed") or result.get("failed"):
            sys.exit("bench_pihole_config: not converged after the runs: %s" % json.dumps(result)[:2000])
        calls = result["api_requests"]
        for _rep in range(REPS):
            times["converged"].append(run(whole_play)[0])
            times["ping"].append(run(ping_play)[0])
    finally:
        if name:
            labhost.docker("rm", "-f", "-v", name, check=False)
        shutil.rmtree(workdir, ignore_errors=True)

    medians = dict((key, statistics.median(values)) for key, values in times.items())
    converged_ratio = medians["converged"] / medians["ping"]
    apply_speedup = medians["apply_loop"] / medians["apply_whole"]
    print("pihole_config on the real Pi-hole (200 records, 20 CNAMEs, 10 lists, 50 domains):")
    print("  converged run, one task (changed=0):  %6.2f s   median of %d, %d API calls: %s"
          % (medians["converged"], REPS, len(calls), ", ".join(calls)))
    print("  one ansible.builtin.ping task:        %6.2f s   median of %d" % (medians["ping"], REPS))
    print("  ratio converged / ping:               %6.2f   (target <= 2)" % converged_ratio)
    print("  first apply, one task:                %6.2f s   median of %d" % (medians["apply_whole"], APPLY_REPS))
    print("  first apply, one item per task (280): %6.2f s   median of %d" % (medians["apply_loop"], APPLY_REPS))
    print("  speed-up one task / item per task:    %6.1f x (target >= 20)" % apply_speedup)
    with open(os.path.join(OUT, "bench_pihole_config.json"), "w", encoding="utf-8") as handle:
        json.dump({"times": times, "medians": medians, "converged_ratio": converged_ratio,
                   "apply_speedup": apply_speedup, "converged_api_calls": calls}, handle, indent=2)
    failed = []
    if converged_ratio > 2:
        failed.append("converged run %.2f x the ping playbook (target <= 2)" % converged_ratio)
    if calls != CONVERGED_CALLS:
        failed.append("converged run made %s, not one login, one read per part and one logout" % calls)
    if apply_speedup < 20:
        failed.append("first apply only %.1f x faster than one item per task (target >= 20)" % apply_speedup)
    for line in failed:
        print("  MISSED: " + line)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
