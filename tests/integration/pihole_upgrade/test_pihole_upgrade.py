"""Pi-hole upgrades with a way back, on two Photon lab hosts with the real Pi-hole (the pihole role).

Two lab hosts each get Docker (homelab.photon.docker) and the real Pi-hole pihole/pihole:2025.11.0 through
the pihole role, with a local record, a second block list of the lab's internet and a denied domain
(pihole_local_records, pihole_config). The lab's registry pull is the image loaded into each host's
Docker store beforehand; tests/lab/pihole/upgrade-images.sh builds the two upgrade tags FROM it:
pihole/pihole:2025.11.0-lab2 (GOOD: the same Pi-hole, one layer more) and
pihole/pihole:2025.11.0-lab-broken (BAD: changes /etc/pihole at start, never healthy, never answers).

While each upgrade playbook runs, a thread on the controller asks both Pi-holes for the local record
every 0.1 s (a LAN client's view) and counts the rounds in which neither answered: zero, always.

1. The good tag through playbooks/update.yml (homelab.photon.update: Pi-hole hosts one at a time, its
   image upgrade is the pihole role's tasks_from upgrade; the lab hosts have no package update):
   both hosts on the new image, records and lists answered as before, a Teleporter backup and an
   archive of /etc/pihole made first, the DNS outage measured on the host (fact pihole_upgrade) and by
   the controller; the same run again changes nothing, and so does the role's own run.
2. The broken tag through the role's own run on both hosts at once (a site run with a new pihole_image):
   the first host is recreated on it, does not become healthy within pihole_upgrade_timeout, and is put
   back on the previous image with /etc/pihole restored (the broken version's marker gone, records and
   lists answered); the second host is not touched (the image failed on the first); the play fails
   naming the image; a rerun with the previous image changes nothing.
"""

import json
import os
import subprocess
import sys
import textwrap
import threading
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
sys.path.insert(0, os.path.join(ROOT, "tests", "lab"))

import labhost  # noqa: E402

BASE = "pihole/pihole:2025.11.0"
UPGRADE_IMAGES = os.path.join(ROOT, "tests", "lab", "pihole", "upgrade-images.sh")
PASSWORD = "lab-Pw-upgrade-5c1e"
RECORD, RECORD_IP = "nas.home.arpa", "172.30.99.50"
DENIED = "denied.lab.example"
LISTED_2 = "malware.lab-badsite.example"  # on lists.lab.example/blocklist-2.txt
HOST_CA_BUNDLE = "/opt/lab/ca-bundle.crt"
ROLE_VARS = {
    "pihole_web_password": PASSWORD,
    "pihole_local_records": [{"name": RECORD, "ip": RECORD_IP}],
    "pihole_config": {
        "lists": [{"address": "https://lists.lab.example/blocklist-2.txt", "comment": "second lab list"}],
        "domains": [{"domain": DENIED}],
    },
    "pihole_dns_upstreams": [labhost.INTERNET_IP],
    "pihole_extra_volumes": ["%s:/etc/ssl/certs/ca-certificates.crt:ro" % HOST_CA_BUNDLE],
    "pihole_healthcheck_interval": "2s",
    "pihole_resolved_mode": "disabled",
}


# -- the lab ------------------------------------------------------------------------------------

@pytest.fixture(scope="module", name="images")
def images_fixture():
    out = subprocess.run([UPGRADE_IMAGES], check=True, capture_output=True, text=True, timeout=3600)
    good, broken = out.stdout.split()[-2:]
    return {"base": BASE, "good": good, "broken": broken}


@pytest.fixture(scope="module", name="pair")
def pair_fixture(images, ssh_keypair, tmp_path_factory):
    """Two lab hosts with the three images in their Docker store and the lab CA, Pi-hole deployed."""
    work = tmp_path_factory.mktemp("pihole-upgrade")
    bundle = labhost.lab_ca_bundle(str(work / "ca-bundle.crt"))
    hosts = []
    try:
        for letter in "ab":
            host = labhost.start(prefix="pihole-upgrade-" + letter, ssh_key=ssh_keypair[0])
            hosts.append(host)
            host.authorize(ssh_keypair[1])
            with open(bundle, encoding="ascii") as handle:
                host.exec("sh", "-c", "install -d -m 0755 /opt/lab && cat > %s" % HOST_CA_BUNDLE, input=handle.read())
            host.exec("systemctl", "start", "docker.service")
            save = subprocess.Popen(["docker", "save", images["base"], images["good"], images["broken"]],
                                    stdout=subprocess.PIPE)
            subprocess.run(["docker", "exec", "-i", host.name, "docker", "load"], stdin=save.stdout, check=True,
                           stdout=subprocess.DEVNULL, timeout=900)
            assert save.wait() == 0
        lab = Lab(hosts, work)
        rc, data, text = lab.playbook("deploy.yml", """\
        - name: Docker and Pi-hole on both hosts (first deployment, in parallel)
          hosts: pihole
          gather_facts: false
          roles:
            - role: homelab.photon.docker
            - role: homelab.photon.pihole
        """, pihole_image=images["base"])
        assert rc == 0, text
        yield lab
    finally:
        for host in hosts:
            host.remove()


class Lab:
    def __init__(self, hosts, work):
        self.hosts = hosts
        self.work = work
        self.backups = work / "backups"
        self.inventory = work / "inventory"
        self.inventory.write_text("[pihole]\n" + "\n".join(h.inventory_line() for h in hosts) + "\n"
                                  "[photon:children]\npihole\n")

    def playbook(self, name, text, timeout=1800, **extra):
        """Run a playbook (TEXT, or the collection's playbook NAME when TEXT is None) with the JSON
        callback: (rc, parsed output, raw text)."""
        path = self.work / name
        if text is None:
            path = os.path.join(ROOT, "playbooks", name)
        else:
            path.write_text(textwrap.dedent(text))
        variables = dict(ROLE_VARS, pihole_backup_dir=str(self.backups), **extra)
        env = dict(os.environ)
        env.update(
            PATH=os.path.join(ROOT, ".venv", "bin") + os.pathsep + env.get("PATH", ""),
            ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, "tests", "output", "collections"),
            ANSIBLE_HOST_KEY_CHECKING="False",
            ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
            ANSIBLE_LOAD_CALLBACK_PLUGINS="1",
            ANSIBLE_RETRY_FILES_ENABLED="False",
            ANSIBLE_NOCOLOR="1",
        )
        proc = subprocess.run(["ansible-playbook", "-i", str(self.inventory), str(path),
                               "-e", json.dumps(variables)],
                              cwd=str(self.work), env=env, capture_output=True, text=True, timeout=timeout,
                              check=False)
        start = proc.stdout.find("{")
        data = json.loads(proc.stdout[start:]) if start >= 0 else {}
        return proc.returncode, data, proc.stdout[-20000:] + proc.stderr[-5000:]

    def image(self, host):
        """The running container's image: (reference, id)."""
        out = host.exec("docker", "container", "inspect", "--format", "{{.Config.Image}} {{.Image}}", "pihole").stdout
        ref, image_id = out.split()
        return ref, image_id


def results(data, task_suffix):
    """{host: result} of the tasks whose name ends with TASK_SUFFIX (the last such task per host)."""
    found = {}
    for play in data.get("plays", []):
        for task in play.get("tasks", []):
            if task["task"]["name"].endswith(task_suffix):
                found.update(task.get("hosts", {}))
    return found


def upgrade_facts(data):
    return {host: result["ansible_facts"]["pihole_upgrade"]
            for host, result in results(data, "Record the upgrade (fact pihole_upgrade)").items()}


def answers(server, name=RECORD):
    try:
        reply = labhost.dns_ask(name, server=server, timeout=0.5)
    except OSError:
        return []
    return [record["data"] for record in reply["answers"] if record["type"] == "A"]


class Watch:
    """Asks both Pi-holes for the record every 0.1 s from a thread, as a LAN client with two DNS servers."""

    def __init__(self, hosts):
        self.addresses = [host.ip for host in hosts]
        self.rounds = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            started = time.monotonic()
            self.rounds.append((started, [answers(address) == [RECORD_IP] for address in self.addresses]))
            self._stop.wait(max(0.0, 0.1 - (time.monotonic() - started)))

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def neither(self):
        """Rounds in which no Pi-hole answered."""
        return sum(1 for dummy, oks in self.rounds if not any(oks))

    def outage(self, index):
        """The longest time one Pi-hole did not answer, seen from here (first unanswered round to the
        next answered one), and its unanswered rounds."""
        longest, since, missed = 0.0, None, 0
        for when, oks in self.rounds:
            if not oks[index]:
                missed += 1
                since = when if since is None else since
            elif since is not None:
                longest, since = max(longest, when - since), None
        if since is not None:
            longest = max(longest, self.rounds[-1][0] - since)
        return round(longest, 2), missed


def assert_serves_the_declaration(lab, host):
    assert answers(host.ip) == [RECORD_IP]
    assert answers(host.ip, DENIED) == ["0.0.0.0"]
    assert answers(host.ip, LISTED_2) == ["0.0.0.0"]  # from the second list: gravity.db has it


def print_figures(title, lab, facts, watch):
    print("\n%s" % title)
    for index, host in enumerate(lab.hosts):
        fact = facts.get(host.name, {})
        seen, missed = watch.outage(index)
        print("  %s: on the host %s s without an answer (%s of %s probes); from the controller %s s (%d rounds)%s"
              % (host.name, fact.get("dns_outage_seconds"), fact.get("dns_unanswered"), fact.get("dns_probes"),
                 seen, missed, " - rolled back" if fact.get("rolled_back") else ""))
    print("  rounds: %d, in which neither Pi-hole answered: %d" % (len(watch.rounds), watch.neither()))


SITE_PLAY = """\
- name: The site run's Pi-hole stage, both hosts at once
  hosts: pihole
  gather_facts: false
  roles:
    - role: homelab.photon.pihole
"""


# -- the tests ----------------------------------------------------------------------------------

def test_good_upgrade_one_host_at_a_time_keeps_records_and_lists(pair, images):
    lab = pair
    for host in lab.hosts:
        assert lab.image(host)[0] == images["base"]
        assert_serves_the_declaration(lab, host)
    before_ids = {host.name: lab.image(host)[1] for host in lab.hosts}
    backups_before = set(os.listdir(lab.backups)) if lab.backups.exists() else set()

    with Watch(lab.hosts) as watch:
        rc, data, text = lab.playbook("update.yml", None, pihole_image=images["good"])
    facts = upgrade_facts(data)
    print_figures("good upgrade %s -> %s" % (images["base"], images["good"]), lab, facts, watch)

    assert rc == 0, text
    assert watch.neither() == 0
    good_id = subprocess.run(["docker", "image", "inspect", "-f", "{{.Id}}", images["good"]],
                             capture_output=True, text=True, check=True).stdout.strip()
    for index, host in enumerate(lab.hosts):
        fact = facts[host.name]
        assert lab.image(host) == (images["good"], good_id)
        assert fact["recreated"] and not fact["rolled_back"]
        assert fact["previous_image"] == images["base"]
        assert fact["previous_image_id"] == before_ids[host.name]
        # The recreate stopped the old container: the probe on the host and the controller both saw it.
        assert fact["dns_unanswered"] > 0 and fact["dns_probes"] > fact["dns_unanswered"]
        assert fact["dns_outage_seconds"] == max(seconds for dummy, seconds in fact["dns_outages"])
        assert watch.outage(index)[1] > 0
        assert_serves_the_declaration(lab, host)
        previous = json.loads(host.exec("cat", "/opt/docker/pihole/upgrade/previous.json").stdout)
        assert previous["ref"] == images["base"] and previous["id"] == before_ids[host.name]
        listed = host.exec("tar", "-tf", "/opt/docker/pihole/upgrade/etc-pihole.tar").stdout.split()
        assert "etc-pihole/pihole.toml" in listed and "etc-pihole/gravity.db" in listed
        assert host.exec("sh", "-c", "ls /opt/docker/pihole/*~ 2>/dev/null | wc -l").stdout.strip() == "0"
    new_backups = set(os.listdir(lab.backups)) - backups_before
    assert {name.split("-pihole-")[0] for name in new_backups} == {h.name for h in lab.hosts}

    # Nothing new: the upgrade again, and the role's own run with the new image, change nothing.
    for name, play in (("update.yml", None), ("site-again.yml", SITE_PLAY)):
        rc, data, text = lab.playbook(name, play, pihole_image=images["good"])
        assert rc == 0, text
        assert {host: stats["changed"] for host, stats in data["stats"].items()} == \
            {host.name: 0 for host in lab.hosts}, (name, text)
        assert all(not fact["recreated"] for fact in upgrade_facts(data).values())


def test_broken_image_is_rolled_back_and_the_other_pihole_untouched(pair, images):
    lab = pair
    before = {host.name: lab.image(host) for host in lab.hosts}
    started = {host.name: host.exec("docker", "inspect", "-f", "{{.State.StartedAt}}", "pihole").stdout.strip()
               for host in lab.hosts}

    with Watch(lab.hosts) as watch:
        rc, data, text = lab.playbook("site-broken.yml", SITE_PLAY, pihole_image=images["broken"],
                                      pihole_upgrade_timeout=40)
    facts = upgrade_facts(data)
    print_figures("broken upgrade %s -> %s" % (before[lab.hosts[0].name][0], images["broken"]), lab, facts, watch)

    assert rc != 0
    assert watch.neither() == 0
    # One host (the first whose turn came) was recreated on the broken image, rolled back to the previous
    # one, /etc/pihole restored; the other was not touched.
    tried = [host for host in lab.hosts if facts.get(host.name, {}).get("rolled_back")]
    assert len(tried) == 1, facts
    first = tried[0]
    second = [host for host in lab.hosts if host is not first][0]
    fact = facts[first.name]
    assert fact["rolled_back"] and fact["image"] == images["broken"]
    assert "not healthy within 40 s" in fact["reason"]
    assert "pihole.toml" in fact["restored_files"] and "gravity.db" in fact["restored_files"]
    assert "lab-broken-image.marker" in fact["restored_files"]
    assert lab.image(first) == before[first.name]
    assert first.exec("test", "-e", "/opt/docker/pihole/etc-pihole/lab-broken-image.marker",
                      check=False).returncode == 1
    assert_serves_the_declaration(lab, first)
    failed = results(data, "Fail, saying what happened (the previous Pi-hole answers DNS again)")[first.name]
    assert failed["failed"]
    for words in (images["broken"], "not healthy within 40 s", "Rolled back", before[first.name][0],
                  "restored from", "DNS answers again"):
        assert words in failed["msg"], (words, failed["msg"])
    # The second host was not touched: the image had failed on the first.
    refused = results(data, "Refuse an image that another Pi-hole of this play failed on (it was rolled back there)")
    assert refused[second.name]["failed"]
    assert images["broken"] in refused[second.name]["msg"] and first.name in refused[second.name]["msg"]
    assert lab.image(second) == before[second.name]
    assert second.exec("docker", "inspect", "-f", "{{.State.StartedAt}}", "pihole").stdout.strip() == started[second.name]
    assert watch.outage(lab.hosts.index(second))[1] == 0
    assert_serves_the_declaration(lab, second)

    # Nothing new: the role's run with the image that runs changes nothing on either host.
    rc, data, text = lab.playbook("site-after-rollback.yml", SITE_PLAY, pihole_image=before[first.name][0])
    assert rc == 0, text
    assert {host: stats["changed"] for host, stats in data["stats"].items()} == {h.name: 0 for h in lab.hosts}, text
