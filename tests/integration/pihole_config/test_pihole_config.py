"""homelab.photon.pihole_config and pihole_teleporter against the real Pi-hole (pihole/pihole:2025.11.0,
FTL v6.3.3, built by tests/lab/pihole/build.sh) on the lab network.

The Pi-hole runs as a container on the controller's Docker, on `homelab-lab`, with the lab's small
internet (172.30.99.250) as its only DNS server and upstream and its CA trusted (block lists are
downloaded from it over HTTPS); the modules run on the controller (ansible-playbook, localhost) and
reach the container's address directly. Nothing here reaches a public address.

Proved here:
- every part applied; check mode predicts exactly what the real run does and writes nothing; the
  diff; a rerun changes nothing and costs one login, one read per part and one logout, counted by
  the module and independently by a counting proxy in front of the API;
- purge of items the declaration does not name;
- a new record without outage: DNS asked every 20 ms during the task never fails, the record is
  answered right after the task, the container's start time is unchanged;
- a block list of the lab's internet added, gravity run, a listed domain blocked;
- every bad input fails with its message and leaves the Pi-hole's state unchanged;
- wrong password, no free API session, unreachable URL, a URL that is not a Pi-hole, TLS;
- a failure half-way (injected by the proxy) names what was applied and what not; a rerun completes;
- FTLCONF_ settings are read-only through the API (the message names the variable);
- backup, a wiped /etc/pihole, restore: records and lists back; upstreams changed live.
"""

import http.server
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
import zipfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
sys.path.insert(0, os.path.join(ROOT, "tests", "lab"))

import labhost  # noqa: E402

COLLECTIONS = os.path.join(ROOT, "tests", "output", "collections")
BUILD = os.path.join(ROOT, "tests", "lab", "pihole", "build.sh")
PASSWORD = "lab-pihole-cfg-%s" % uuid.uuid4().hex[:8]
INTERNET = labhost.INTERNET_IP
LIST_2 = "https://lists.lab.example/blocklist-2.txt"
LISTED_2 = "malware.lab-badsite.example"
CONVERGED_READS = ["POST /api/auth", "GET /api/config?detailed=true", "GET /api/groups", "GET /api/domains",
                   "GET /api/lists", "GET /api/clients", "DELETE /api/auth"]


# -- the lab ----------------------------------------------------------------------------------

class Pihole:
    """One Pi-hole container on the lab network, /etc/pihole a directory of the test."""

    def __init__(self, image, workdir, ca_bundle):
        self.image, self.workdir, self.ca_bundle = image, workdir, ca_bundle
        self.name = None
        self.address = None
        self.etc = os.path.join(workdir, "etc-pihole")
        secrets = os.path.join(workdir, "secrets")
        os.makedirs(secrets, exist_ok=True)
        self.secret = os.path.join(secrets, "webpassword")
        with open(self.secret, "w", encoding="utf-8") as handle:
            handle.write(PASSWORD)
        os.chmod(self.secret, 0o444)

    def start(self, env_upstreams=True):
        """A new container; with env_upstreams the upstream is FTLCONF_dns_upstreams (read-only through
        the API), else seeded in pihole.toml before the first start, as the pihole role does."""
        os.makedirs(self.etc, exist_ok=True)
        env = ["-e", "TZ=UTC", "-e", "WEBPASSWORD_FILE=webpassword", "-e", "FTLCONF_dns_listeningMode=all",
               "-e", "FTLCONF_ntp_sync_active=false"]
        if env_upstreams:
            env += ["-e", "FTLCONF_dns_upstreams=%s" % INTERNET]
        elif not os.path.exists(os.path.join(self.etc, "pihole.toml")):
            with open(os.path.join(self.etc, "pihole.toml"), "w", encoding="utf-8") as handle:
                handle.write('[dns]\n  upstreams = ["%s"]\n' % INTERNET)
        self.name = "homelab-pihole-cfg-%s" % uuid.uuid4().hex[:8]
        labhost.ensure_network()
        labhost.docker("run", "-d", "--name", self.name, *labhost.LABELS, "--network", labhost.LAB_NETWORK,
                       "--dns", INTERNET, "--health-interval", "2s", *env,
                       "-v", "%s:/run/secrets/webpassword:ro" % self.secret,
                       "-v", "%s:/etc/ssl/certs/ca-certificates.crt:ro" % self.ca_bundle,
                       "-v", "%s:/etc/pihole" % self.etc, self.image)
        self.address = labhost.docker("inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
                                      self.name).stdout.strip()
        self.wait_ready()

    def wait_ready(self, timeout=120):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            health = labhost.docker("inspect", "-f", "{{.State.Health.Status}}", self.name, check=False).stdout.strip()
            if health == "healthy":
                try:
                    with self.session():
                        return
                except (OSError, AssertionError):
                    pass
            time.sleep(1)
        logs = labhost.docker("logs", "--tail", "40", self.name, check=False)
        raise AssertionError("Pi-hole %s not ready\n%s%s" % (self.name, logs.stdout, logs.stderr))

    def remove(self):
        if self.name:
            labhost.docker("rm", "-f", "-v", self.name, check=False)
            self.name = None

    def wipe(self):
        """The container gone and /etc/pihole empty."""
        self.remove()
        shutil.rmtree(self.etc, ignore_errors=True)

    @property
    def url(self):
        return "http://%s" % self.address

    def started_at(self):
        return labhost.docker("inspect", "-f", "{{.Id}} {{.State.StartedAt}}", self.name).stdout.strip()

    # A session of the test itself, to read the state independently of the module.
    def session(self):
        return _Session(self.url)

    def state(self):
        """Everything the declarations touch, without counters that change on their own."""
        with self.session() as api:
            config = api.get("/api/config")["config"]
            state = {"config": config}
            list_volatile = ("date_updated", "number", "invalid_domains", "abp_entries", "status")
            for part, volatile in (("groups", ()), ("lists", list_volatile), ("domains", ()), ("clients", ("name",))):
                rows = api.get("/api/" + part)[part]
                state[part] = sorted(json.dumps(dict((k, v) for k, v in row.items() if k not in volatile),
                                                sort_keys=True) for row in rows)
            return state

    def dns(self, name, qtype="A", timeout=2.0):
        answer = labhost.dns_ask(name, qtype, server=self.address, timeout=timeout)
        return [record["data"] for record in answer["answers"] if record["type"] == qtype]


def _json(raw):
    """JSON answers parsed; others (gravity's streamed text) as text."""
    try:
        return json.loads(raw) if raw.strip() else None
    except ValueError:
        return raw.decode("utf-8", "replace")


class _Session:
    def __init__(self, url):
        self.url = url
        self.sid = None

    def call(self, method, path, body=None):
        request = urllib.request.Request(self.url + path, method=method,
                                         data=json.dumps(body).encode() if body is not None else None,
                                         headers={"Content-Type": "application/json", "X-FTL-SID": self.sid or ""})
        try:
            with urllib.request.urlopen(request, timeout=300) as response:
                return response.status, _json(response.read())
        except urllib.error.HTTPError as error:
            return error.code, _json(error.read())

    def get(self, path):
        for dummy in range(120):   # gravity.db is briefly unavailable after a gravity run
            status, data = self.call("GET", path)
            if not (status == 400 and (data or {}).get("error", {}).get("hint") == "Database not available"):
                break
            time.sleep(0.25)
        assert status == 200, (path, status, data)
        return data

    def __enter__(self):
        status, data = self.call("POST", "/api/auth", {"password": PASSWORD})
        assert status == 200, data
        self.sid = data["session"]["sid"]
        return self

    def __exit__(self, *exc):
        self.call("DELETE", "/api/auth")


# -- a counting proxy in front of the API -------------------------------------------------------

class CountingProxy:
    """Forwards HTTP to the Pi-hole, records every request; `fail` maps 'METHOD /path' prefixes to an
    injected answer (status, body) instead of forwarding."""

    def __init__(self, target):
        self.target = target
        self.requests = []
        self.fail = {}
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def handle_one(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                entry = "%s %s" % (self.command, self.path)
                proxy.requests.append(entry)
                for prefix, (status, answer) in proxy.fail.items():
                    if entry.startswith(prefix):
                        return self.reply(status, answer.encode(), "application/json")
                headers = dict((k, v) for k, v in self.headers.items() if k.lower() not in ("host", "content-length"))
                request = urllib.request.Request(proxy.target + self.path, data=body, method=self.command,
                                                 headers=headers)
                try:
                    with urllib.request.urlopen(request, timeout=600) as response:
                        return self.reply(response.status, response.read(), response.headers.get("Content-Type"))
                except urllib.error.HTTPError as error:
                    return self.reply(error.code, error.read(), error.headers.get("Content-Type"))

            def reply(self, status, data, content_type):
                self.send_response(status)
                self.send_header("Content-Type", content_type or "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = handle_one

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


# -- running the modules ------------------------------------------------------------------------

def play(tasks, workdir, diff=True):
    """Tasks on localhost with ansible-playbook (failures do not stop the play); the results."""
    playbook = os.path.join(workdir, "play-%s.json" % uuid.uuid4().hex[:6])
    with open(playbook, "w", encoding="utf-8") as handle:
        json.dump([{"name": "pihole_config", "hosts": "localhost", "gather_facts": False,
                    "tasks": [dict(task, ignore_errors=True) for task in tasks]}], handle)
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS, ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
               ANSIBLE_NOCOLOR="1", ANSIBLE_LOCALHOST_WARNING="False", ANSIBLE_INVENTORY_UNPARSED_WARNING="False",
               ANSIBLE_PYTHON_INTERPRETER=sys.executable)
    binary = os.path.join(ROOT, ".venv", "bin", "ansible-playbook")
    argv = [binary if os.path.exists(binary) else "ansible-playbook", "-i", "localhost,", "-c", "local", playbook]
    if diff:
        argv.append("--diff")
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=900, check=False)
    try:
        return [task["hosts"]["localhost"] for task in json.loads(proc.stdout)["plays"][0]["tasks"]]
    except (ValueError, KeyError, IndexError):
        raise AssertionError("no result (rc=%d)\n%s\n%s" % (proc.returncode, proc.stdout[-3000:], proc.stderr[-3000:]))


def config_task(pihole, args, check=False, url=None):
    full = {"url": url or pihole.url, "password": PASSWORD}
    full.update(args)
    return {"homelab.photon.pihole_config": full, "check_mode": check}


def check_then_run(pihole, workdir, args):
    """ARGS in check mode, then for real, then again: check mode predicted the real run exactly and
    wrote nothing; the rerun is converged. Returns the real run's result."""
    before = pihole.state()
    check, = play([config_task(pihole, args, check=True)], workdir)
    assert not check.get("failed"), check
    assert pihole.state() == before, "check mode changed the Pi-hole"
    real, again = play([config_task(pihole, args), config_task(pihole, args)], workdir)
    assert not real.get("failed"), real
    for key in ("changed", "changes", "diff", "ftl_restart"):
        assert check[key] == real[key], (key, check[key], real[key])
    assert check["gravity"]["needed"] == real["gravity"]["needed"] == real["gravity"]["ran"]
    assert check["msg"].replace("would change", "changed").replace("would run", "ran").replace(
        "would restart", "restarted") == real["msg"]
    assert not again.get("failed") and again["changed"] is False and again["changes"] == {}, again
    return real


@pytest.fixture(scope="module")
def image():
    result = subprocess.run([BUILD], capture_output=True, text=True, check=False, timeout=3600)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def pihole(image):
    workdir = tempfile.mkdtemp(prefix="homelab-pihole-cfg-")
    node = Pihole(image, workdir, labhost.lab_ca_bundle(os.path.join(workdir, "ca-bundle.crt")))
    try:
        node.start()
        yield node
    finally:
        node.wipe()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(name="workdir")
def workdir_fixture(tmp_path):
    return str(tmp_path)


# -- the tests ----------------------------------------------------------------------------------

def test_each_part_applied_predicted_and_converged(pihole, workdir):
    declaration = {
        "local_records": [{"name": "nas.home.arpa", "ip": "172.30.99.50"}, {"name": "nas.home.arpa", "ip": "fd00::50"}],
        "cnames": [{"name": "files.home.arpa", "target": "nas.home.arpa"}],
        "upstreams": [INTERNET],   # the container's FTLCONF_dns_upstreams: declared as it is, nothing to change
        "groups": [{"name": "kids", "comment": "Children's devices"}],
        "lists": [{"address": LIST_2, "comment": "second lab list", "groups": ["Default", "kids"]}],
        "domains": [{"domain": "denied.lab.example"},
                    {"domain": r"(^|\.)regex-denied\.lab\.example$", "kind": "regex", "comment": "regex"},
                    {"domain": LISTED_2, "type": "allow", "enabled": False}],
        "clients": [{"client": "10.99.0.0/28", "comment": "tablets", "groups": ["kids"]}],
        "dhcp": {"active": False, "leases": [{"mac": "aa:bb:cc:dd:ee:01", "ip": "172.30.99.201", "name": "printer"}]},
        "settings": {"dns.blockTTL": 5, "misc.privacylevel": "0", "dns.queryLogging": "true"},
    }
    real = check_then_run(pihole, workdir, declaration)
    assert sorted(real["changes"]) == ["clients", "cnames", "dhcp", "domains", "groups", "lists", "local_records",
                                       "settings"]
    assert real["changes"]["local_records"]["added"] == ["nas.home.arpa 172.30.99.50, fd00::50"]
    assert real["gravity"]["ran"] and real["gravity"]["failures"] == []
    assert real["ftl_restart"] is True   # the CNAME and the DHCP lease need FTL to restart
    assert "ftl_restart_seconds" in real
    diff = dict((d["after_header"], d) for d in real["diff"])
    assert diff["lists"]["after"].count(LIST_2) == 1 and LIST_2 not in diff["lists"]["before"]
    assert "dns.blockTTL: 2" in diff["settings"]["before"] and "dns.blockTTL: 5" in diff["settings"]["after"]
    # Calls: login, one read per part, the writes (adds batched), gravity and the wait for FTL to load its
    # result, one PATCH, the wait for FTL's restart, logout.
    writes = [r for r in real["api_requests"] if not r.startswith(("GET /api/info/ftl", "GET /api/stats/summary"))]
    assert writes == CONVERGED_READS[:-1] + [
        "POST /api/groups", "GET /api/groups", "POST /api/domains/deny/exact", "POST /api/domains/deny/regex",
        "POST /api/domains/allow/exact", "POST /api/lists?type=block", "POST /api/clients",
        "POST /api/action/gravity", "GET /api/groups", "PATCH /api/config", "DELETE /api/auth"]
    assert real["gravity"]["reloaded"] is True

    # What DNS answers right after the task.
    assert pihole.dns("nas.home.arpa") == ["172.30.99.50"]
    assert pihole.dns("nas.home.arpa", "AAAA") == ["fd00::50"]
    assert pihole.dns("files.home.arpa") == ["172.30.99.50"]
    assert pihole.dns("denied.lab.example") == ["0.0.0.0"]
    assert pihole.dns("x.regex-denied.lab.example") == ["0.0.0.0"]
    assert pihole.dns(LISTED_2) == ["0.0.0.0"]   # the new list's domain; the disabled allow entry does not help
    assert pihole.dns("example.com") == [INTERNET]   # forwarded to the lab's internet


def test_converged_run_costs_login_one_read_per_part_logout_counted_by_a_proxy(pihole, workdir):
    declaration = {"local_records": [{"name": "nas.home.arpa", "ip": "172.30.99.50"},
                                     {"name": "nas.home.arpa", "ip": "fd00::50"}],
                   "groups": [{"name": "kids", "comment": "Children's devices"}],
                   "lists": [{"address": LIST_2, "comment": "second lab list", "groups": ["Default", "kids"]}],
                   "domains": [{"domain": "denied.lab.example"}],
                   "clients": [{"client": "10.99.0.0/28", "comment": "tablets", "groups": ["kids"]}]}
    proxy = CountingProxy(pihole.url)
    try:
        result, = play([config_task(pihole, declaration, url=proxy.url)], workdir)
    finally:
        proxy.close()
    assert result["changed"] is False, result
    assert result["api_calls"] == 7 and result["api_requests"] == CONVERGED_READS
    assert proxy.requests == CONVERGED_READS   # counted outside the module


def test_ftlconf_settings_are_exactly_the_read_only_ones(pihole):
    """Which settings FTLCONF_ makes read-only: exactly those the container's environment sets (the
    web password too, from WEBPASSWORD_FILE), whatever their type; PATCH and PUT are refused with
    FTL's message, and a PATCH with the value they already have is accepted."""
    env = labhost.docker("inspect", "-f", "{{json .Config.Env}}", pihole.name).stdout
    with pihole.session() as api:
        detailed = api.get("/api/config?detailed=true")["config"]
        flagged = []

        def walk(node, prefix):
            for key, value in node.items():
                if isinstance(value, dict) and "flags" in value and "value" in value:
                    if value["flags"]["env_var"]:
                        flagged.append(prefix + key)
                elif isinstance(value, dict):
                    walk(value, prefix + key + ".")
        walk(detailed, "")
        expected = sorted(["webserver.api.password"] + [
            name.split("=", 1)[0][len("FTLCONF_"):].replace("_", ".", 2) for name in json.loads(env)
            if name.startswith("FTLCONF_")])
        assert sorted(flagged) == expected == ["dns.listeningMode", "dns.upstreams", "ntp.sync.active",
                                               "webserver.api.password"]
        refused = [
            api.call("PATCH", "/api/config", {"config": {"dns": {"upstreams": ["9.9.9.9"]}}}),
            api.call("PATCH", "/api/config", {"config": {"dns": {"listeningMode": "LOCAL"}}}),
            api.call("PATCH", "/api/config", {"config": {"ntp": {"sync": {"active": True}}}}),
            api.call("PUT", "/api/config/dns/upstreams/9.9.9.9"),
        ]
        for status, answer in refused:
            assert status == 400, answer
            assert answer["error"]["message"] == "Config items set via environment variables cannot be changed via the API"
        assert [answer["error"]["hint"] for dummy, answer in refused] == [
            "dns.upstreams", "dns.listeningMode", "ntp.sync.active", "dns.upstreams"]
        same = api.call("PATCH", "/api/config", {"config": {"dns": {"listeningMode": "ALL"}}})
        assert same[0] == 200


def test_purge_removes_what_the_declaration_does_not_name(pihole, workdir):
    with pihole.session() as api:   # items the declaration will not name, added behind its back
        assert api.call("POST", "/api/domains/deny/exact", {"domain": ["stray-1.lab.example", "stray-2.lab.example"]})[0] == 201
        assert api.call("POST", "/api/groups", {"name": "stray-group"})[0] == 201
        assert api.call("POST", "/api/clients", {"client": "10.98.0.1"})[0] == 201
    base = {"local_records": [{"name": "only.home.arpa", "ip": "172.30.99.60"}],
            "cnames": [{"name": "only-alias.home.arpa", "target": "only.home.arpa", "ttl": 60}],
            "domains": [{"domain": "denied.lab.example"}],
            "groups": [{"name": "kids", "comment": "Children's devices"}],
            "clients": [{"client": "10.99.0.0/28", "comment": "tablets", "groups": ["kids"]}],
            "dhcp": {"leases": []}}
    kept = check_then_run(pihole, workdir, base)   # without purge: the others stay
    assert all(not change["removed"] for change in kept["changes"].values()), kept["changes"]
    purged = check_then_run(pihole, workdir, dict(base, purge=["local_records", "cnames", "domains", "groups",
                                                               "clients", "dhcp_leases"]))
    changes = purged["changes"]
    assert sorted(changes["local_records"]["removed"]) == ["nas.home.arpa 172.30.99.50, fd00::50"]
    assert changes["cnames"]["removed"] == ["files.home.arpa,nas.home.arpa"]
    assert changes["dhcp"]["removed"] == ["lease aa:bb:cc:dd:ee:01,172.30.99.201,printer"]
    assert set(line.rsplit(" (", 1)[0] for line in changes["domains"]["removed"]) == {
        "allow exact " + LISTED_2, r"deny regex (^|\.)regex-denied\.lab\.example$", "deny exact stray-1.lab.example",
        "deny exact stray-2.lab.example"}
    assert [line.rsplit(" (", 1)[0] for line in changes["groups"]["removed"]] == ["stray-group"]
    assert [line.rsplit(" (", 1)[0] for line in changes["clients"]["removed"]] == ["10.98.0.1"]
    state = pihole.state()
    assert state["config"]["dns"]["hosts"] == ["172.30.99.60 only.home.arpa"]
    assert state["config"]["dns"]["cnameRecords"] == ["only-alias.home.arpa,only.home.arpa,60"]
    assert sorted(json.loads(g)["name"] for g in state["groups"]) == ["Default", "kids"]   # Default is never removed
    assert pihole.dns("nas.home.arpa") == [] and pihole.dns("only-alias.home.arpa") == ["172.30.99.60"]


def test_new_record_without_outage(pihole, workdir):
    steady = play([config_task(pihole, {"local_records": [{"name": "only.home.arpa", "ip": "172.30.99.60"}]})], workdir)
    assert not steady[0].get("failed"), steady
    before = pihole.started_at()
    failures, answered = [], []
    stop = threading.Event()

    def probe():
        while not stop.is_set():
            try:
                if pihole.dns("only.home.arpa", timeout=0.5) == ["172.30.99.60"]:
                    answered.append(time.monotonic())
                else:
                    failures.append(("wrong", time.monotonic()))
            except Exception as exc:  # pylint: disable=broad-except
                failures.append((repr(exc), time.monotonic()))
            time.sleep(0.02)

    thread = threading.Thread(target=probe)
    thread.start()
    try:
        time.sleep(0.5)
        records = [{"name": "new-%s.home.arpa" % uuid.uuid4().hex[:4], "ip": "172.30.99.61"},
                   {"name": "live.home.arpa", "ip": "172.30.99.62"}]
        result, = play([config_task(pihole, {"local_records": records})],
                       workdir)
        right_after = pihole.dns("live.home.arpa", timeout=1.0)   # no retry
        time.sleep(0.5)
    finally:
        stop.set()
        thread.join()
    assert result["changed"] and not result["ftl_restart"], result
    assert right_after == ["172.30.99.62"]
    assert failures == [] and len(answered) > 20, failures
    assert pihole.started_at() == before


def test_every_bad_input_fails_with_its_message_and_changes_nothing(pihole, workdir):
    cases = [
        ({"local_records": [{"name": "bad name", "ip": "172.30.99.70"}]}, "'bad name' is not a valid host name"),
        ({"local_records": [{"name": "ok.home.arpa", "ip": "172.30.99.300"}]}, "'172.30.99.300' (for ok.home.arpa) is not"),
        ({"cnames": [{"name": "alias.home.arpa", "target": "bad..target"}]}, "target 'bad..target' is not a valid host"),
        ({"domains": [{"domain": "bad..example"}]}, "'bad..example' is not a valid domain"),
        ({"domains": [{"domain": "(unclosed", "kind": "regex"}]}, "invalid regex '(unclosed'"),
        ({"lists": [{"address": "notaurl"}]}, "'notaurl' is not a list address"),
        ({"clients": [{"client": "10.0.0.0/33"}]}, "'10.0.0.0/33' is not a client"),
        ({"upstreams": ["not an upstream"]}, "upstreams[0]: 'not an upstream' is neither an IP address nor a host name"),
        ({"dhcp": {"leases": [{"mac": "zz", "ip": "172.30.99.9"}]}}, "'zz' is not a MAC address"),
        ({"settings": {"dns.dnsec": True}}, "dns.dnsec is not a setting of this Pi-hole (did you mean dns.dnssec"),
        ({"settings": {"dns.cache.size": "lots"}}, "dns.cache.size takes an integer"),
        ({"settings": {"dns.listeningMode": "local"}},
         "dns.listeningMode is set by the environment variable FTLCONF_dns_listeningMode"),
        ({"upstreams": ["9.9.9.9"]}, "dns.upstreams is set by the environment variable FTLCONF_dns_upstreams"),
        ({"domains": [{"domain": "g.lab.example", "groups": ["no-such-group"]}]}, "uses group no-such-group"),
        # Good items next to a bad one: nothing at all is written.
        ({"local_records": [{"name": "good.home.arpa", "ip": "172.30.99.71"}],
          "domains": [{"domain": "good.lab.example"}, {"domain": "[a-", "kind": "regex"}]}, "invalid regex '[a-'"),
    ]
    before = pihole.state()
    results = play([config_task(pihole, args) for args, dummy in cases], workdir)
    for (args, expected), result in zip(cases, results):
        assert result.get("failed"), (args, result)
        assert expected in result["msg"], (expected, result["msg"])
        assert "nothing was changed" in result["msg"]
        assert not any(r.split()[0] in ("POST", "PUT", "PATCH") for r in result["api_requests"][1:-1]), result
        if result["api_requests"]:
            assert result["api_requests"][-1] == "DELETE /api/auth"   # logged out after the failure too
    assert pihole.state() == before
    # The env-var message tells what to do.
    env_message = results[12]["msg"]
    assert "Remove FTLCONF_dns_upstreams from the container's environment" in env_message
    assert '["%s"]' % INTERNET in env_message


def test_login_and_connection_failures(pihole, workdir):
    with pihole.session() as api:
        max_sessions = api.get("/api/config/webserver/api/max_sessions")["config"]["webserver"]["api"]["max_sessions"]
    sessions = []
    for dummy in range(max_sessions):   # every seat taken
        status, data = _Session(pihole.url).call("POST", "/api/auth", {"password": PASSWORD})
        if status != 200:
            break
        sessions.append(data["session"]["sid"])
    try:
        seats, = play([config_task(pihole, {"settings": {}})], workdir)
    finally:
        for sid in sessions:
            session = _Session(pihole.url)
            session.sid = sid
            session.call("DELETE", "/api/auth")
    assert seats["failed"] and seats["msg"].startswith("No free API session on the Pi-hole at %s" % pihole.url)
    assert "webserver.api.max_sessions" in seats["msg"]

    results = play([
        {"homelab.photon.pihole_config": {"url": pihole.url, "password": "not-the-password", "settings": {}}},
        {"homelab.photon.pihole_config": {"url": "http://%s:81" % pihole.address, "password": PASSWORD, "settings": {},
                                          "timeout": 5}},
        {"homelab.photon.pihole_config": {"url": "http://%s" % INTERNET, "password": PASSWORD, "settings": {}}},
        {"homelab.photon.pihole_config": {"url": "https://%s" % pihole.address, "password": PASSWORD, "settings": {}}},
        # Pi-hole's own certificate is self-signed for pi.hole: verification off is the user's explicit choice.
        {"homelab.photon.pihole_config": {"url": "https://%s" % pihole.address, "password": PASSWORD, "settings": {},
                                          "validate_certs": False}},
    ], workdir)
    wrong, unreachable, not_pihole, tls, tls_off = results
    assert wrong["msg"].startswith("Wrong password: the Pi-hole at %s refused the login (HTTP 401" % pihole.url)
    assert "Cannot reach the Pi-hole at http://%s:81: connection refused" % pihole.address in unreachable["msg"]
    assert not_pihole["msg"].startswith("http://%s does not answer as a Pi-hole v6 API: POST /api/auth gave HTTP" % INTERNET)
    assert "TLS certificate of https://%s could not be verified" % pihole.address in tls["msg"]
    assert "ca_path" in tls["msg"]
    assert not tls_off.get("failed") and tls_off["changed"] is False
    for result in results:
        assert result["api_requests"][0] == "POST /api/auth"
    with pihole.session() as api:   # no session left behind by the module
        left = [s for s in api.get("/api/auth/sessions")["sessions"]
                if s["valid"] and not s["current_session"] and not s.get("cli")]
    assert left == []


def test_block_list_added_gravity_runs_and_the_listed_domain_is_blocked(pihole, workdir):
    with pihole.session() as api:   # start without the second list
        api.call("POST", "/api/lists:batchDelete", [{"item": LIST_2, "type": "block"}])
        api.call("POST", "/api/action/gravity")
    assert pihole.dns(LISTED_2) == [INTERNET]
    real = check_then_run(pihole, workdir, {"lists": [{"address": LIST_2, "comment": "second lab list"}]})
    assert real["gravity"]["ran"] and real["gravity"]["failures"] == []
    assert "Number of gravity domains" in real["gravity"]["domains"]
    assert pihole.dns(LISTED_2) == ["0.0.0.0"]
    # A comment change needs no gravity run.
    comment = check_then_run(pihole, workdir, {"lists": [{"address": LIST_2, "comment": "renamed"}]})
    assert comment["changes"]["lists"]["updated"] and not comment["gravity"]["needed"]
    assert "POST /api/action/gravity" not in comment["api_requests"]


def test_failure_half_way_says_what_was_applied_and_a_rerun_completes(pihole, workdir):
    tag = uuid.uuid4().hex[:6]
    declaration = {"groups": [{"name": "half-%s" % tag}],
                   "domains": [{"domain": "half-%s.lab.example" % tag, "groups": ["half-%s" % tag]}],
                   "lists": [{"address": "https://lists.lab.example/half-%s.txt" % tag, "enabled": False}],
                   "local_records": [{"name": "half-%s.home.arpa" % tag, "ip": "172.30.99.80"}]}
    proxy = CountingProxy(pihole.url)
    proxy.fail["POST /api/lists"] = (400, json.dumps({"error": {"key": "database_error", "message":
                                                                "Could not add to gravity database",
                                                                "hint": "injected by the test's proxy"}}))
    try:
        failed, = play([config_task(pihole, declaration, url=proxy.url)], workdir)
    finally:
        proxy.close()
    assert failed["failed"]
    assert failed["applied"] == ["add groups: half-%s" % tag, "read the new groups' ids",
                                 "add domains: deny exact half-%s.lab.example" % tag]
    assert failed["not_applied"] == ["add lists: block https://lists.lab.example/half-%s.txt" % tag,
                                     "run gravity (lists changed)", "change settings: dns.hosts"]
    assert "injected by the test's proxy" in failed["msg"] and "a rerun applies only what is still missing" in failed["msg"]
    assert failed["api_requests"][-1] == "DELETE /api/auth"
    state = pihole.state()
    assert any('"half-%s.lab.example"' % tag in row for row in state["domains"])
    assert not any("half-%s.txt" % tag in row for row in state["lists"])
    rerun, again = play([config_task(pihole, declaration), config_task(pihole, declaration)], workdir)
    assert sorted(rerun["changes"]) == ["lists", "local_records"], rerun["changes"]
    assert again["changed"] is False


def test_backup_wipe_restore_then_upstreams_live(pihole, workdir):
    archive = os.path.join(workdir, "backup.zip")
    tag = uuid.uuid4().hex[:6]
    declaration = {"local_records": [{"name": "kept-%s.home.arpa" % tag, "ip": "172.30.99.90"}],
                   "lists": [{"address": LIST_2, "comment": "renamed"}],
                   "domains": [{"domain": "kept-%s.lab.example" % tag}]}
    applied, backup = play([config_task(pihole, declaration),
                            {"homelab.photon.pihole_teleporter": {"url": pihole.url, "password": PASSWORD,
                                                                  "path": archive}}], workdir)
    assert not applied.get("failed") and not backup.get("failed"), (applied, backup)
    assert oct(os.stat(archive).st_mode & 0o777) == "0o600"
    assert backup["api_requests"] == ["POST /api/auth", "GET /api/teleporter", "DELETE /api/auth"]
    with zipfile.ZipFile(archive) as handle:
        assert {"etc/pihole/pihole.toml", "etc/pihole/gravity.db"} <= set(handle.namelist())

    pihole.wipe()   # the container and everything under /etc/pihole gone
    pihole.start(env_upstreams=False)   # a fresh Pi-hole, upstream seeded as the role does
    assert pihole.dns("kept-%s.home.arpa" % tag) == []
    assert pihole.dns(LISTED_2) == [INTERNET]   # its default list only

    check, restored = play([
        {"homelab.photon.pihole_teleporter": {"url": pihole.url, "password": PASSWORD, "path": archive,
                                              "state": "restore"}, "check_mode": True},
        {"homelab.photon.pihole_teleporter": {"url": pihole.url, "password": PASSWORD, "path": archive,
                                              "state": "restore"}}], workdir)
    assert check["changed"] and check["api_requests"] == ["POST /api/auth", "DELETE /api/auth"]
    assert not restored.get("failed"), restored
    assert "etc/pihole/pihole.toml" in restored["imported"] and "etc/pihole/gravity.db->adlist" in restored["imported"]
    assert restored["gravity"]["ran"]
    assert pihole.dns("kept-%s.home.arpa" % tag) == ["172.30.99.90"]   # records back
    assert pihole.dns("kept-%s.lab.example" % tag) == ["0.0.0.0"]       # domains back
    assert pihole.dns(LISTED_2) == ["0.0.0.0"]                          # lists back, downloaded again
    converged, = play([config_task(pihole, declaration)], workdir)
    assert converged["changed"] is False, converged

    # Without FTLCONF_dns_upstreams, the API keeps the upstreams: changed live, FTL restarts itself.
    before = pihole.started_at()
    upstreams = check_then_run(pihole, workdir, {"upstreams": ["%s#53" % INTERNET], "purge": ["upstreams"]})
    assert upstreams["changes"]["upstreams"] == {"added": ["%s#53" % INTERNET], "removed": [INTERNET], "updated": []}
    assert upstreams["ftl_restart"] and upstreams["ftl_restart_seconds"] < 30
    assert pihole.dns("example.com") == [INTERNET]
    assert pihole.started_at() == before

    bad, = play([{"homelab.photon.pihole_teleporter": {"url": pihole.url, "password": PASSWORD,
                                                       "path": os.path.join(workdir, "play-none.zip"),
                                                       "state": "restore"}}], workdir)
    assert bad["failed"] and "No archive at" in bad["msg"]
    not_zip = os.path.join(workdir, "not.zip")
    with open(not_zip, "w", encoding="utf-8") as handle:
        handle.write("not a zip")
    bad, = play([{"homelab.photon.pihole_teleporter": {"url": pihole.url, "password": PASSWORD, "path": not_zip,
                                                       "state": "restore"}}], workdir)
    assert bad["failed"] and "is not a Teleporter archive (not a ZIP file" in bad["msg"]
