"""The lab's real Pi-hole image (tests/lab/pihole/build.sh, see the README there).

1. Bad sources stop the build before anything is built, naming the file, and leave no image:
   a copy of the sources with one tarball corrupted, or one missing.
2. No registry and no sources: the error names both ways to get the image.
   (These two skip the registry with HOMELAB_PIHOLE_PULL=0 and take well under a second.)
3. The real image (cached by lab-up's build; build.sh itself here, a no-op then) runs on a
   throw-away internal network and answers: DNS on 53 (UDP and TCP), /admin, POST /api/auth with
   the password from a Docker-secret-like file (200, and 401 for a wrong one), health, `pihole -v`.
   It never asks anything outside this machine: the network is internal, Docker's resolver
   forwards to the container itself, the names Pi-hole reaches for at start (gravity's list,
   the update checker) point at the container's loopback, FTL's upstream is 127.0.0.1#5353
   (which FTL ignores: no upstream at all), and its NTP client is off.
4. A stand-in under the image's name (no label of this recipe, no RepoDigest) is replaced by the
   lab's build, never taken for the official image.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
sys.path.insert(0, os.path.join(ROOT, "tests", "lab"))

import labhost  # noqa: E402

BUILD = os.path.join(ROOT, "tests", "lab", "pihole", "build.sh")
SOURCES = os.environ.get("HOMELAB_SOURCES", os.path.join(os.path.dirname(ROOT), "shared", "sources"))
PASSWORD = "lab-pihole-pw-%s" % uuid.uuid4().hex[:8]
# Names Pi-hole's start reaches for: gravity's default list, the update checker's API and git.
OFFLINE_NAMES = ["raw.githubusercontent.com", "api.github.com", "github.com"]


def build(*args, env=None, timeout=3600):
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run([BUILD, *args], check=False, capture_output=True, text=True,
                          env=full_env, timeout=timeout)


def image_refs(repository):
    listed = labhost.docker("images", "--format", "{{.Repository}}:{{.Tag}}", repository)
    return [line for line in listed.stdout.splitlines() if line.strip()]


@pytest.fixture(name="throwaway_ref")
def throwaway_ref_fixture():
    repository = "homelab-photon-test/pihole-image-%s" % uuid.uuid4().hex[:10]
    ref = repository + ":bad-sources"
    yield ref
    for found in image_refs(repository):  # a failing build must leave none; should one appear, remove it
        labhost.docker("rmi", "-f", found, check=False)


@pytest.mark.parametrize("damage", ["corrupt", "missing"])
def test_bad_tarball_stops_the_build_and_names_it(damage, throwaway_ref, tmp_path):
    copy = tmp_path / "sources"
    shutil.copytree(SOURCES, copy)
    victim = copy / "web-v6.3.tar.gz"
    victim.chmod(0o644)
    if damage == "corrupt":
        data = bytearray(victim.read_bytes())
        data[len(data) // 2] ^= 0xFF
        victim.write_bytes(bytes(data))
    else:
        victim.unlink()

    started = time.monotonic()
    result = build(throwaway_ref, env={"HOMELAB_SOURCES": str(copy), "HOMELAB_PIHOLE_PULL": "0"})

    assert result.returncode != 0, result.stdout + result.stderr
    assert str(victim) in result.stderr
    assert ("corrupt" if damage == "corrupt" else "missing") in result.stderr
    assert time.monotonic() - started < 10, "the sources are checked before anything is built"
    assert labhost.docker("image", "inspect", throwaway_ref, check=False).returncode != 0
    assert image_refs(throwaway_ref.split(":")[0]) == []


def test_no_registry_no_sources_names_both_ways(throwaway_ref, tmp_path):
    missing = tmp_path / "no-such-sources"
    result = build(throwaway_ref, env={"HOMELAB_SOURCES": str(missing), "HOMELAB_PIHOLE_PULL": "0"})

    assert result.returncode != 0
    message = result.stderr
    assert str(missing) in message
    assert "registry" in message and "pihole/pihole" in message
    assert "../shared/sources" in message and "SHA256SUMS" in message
    assert labhost.docker("image", "inspect", throwaway_ref, check=False).returncode != 0


@pytest.fixture(scope="module", name="pihole")
def pihole_fixture():
    result = build()
    assert result.returncode == 0, result.stderr[-3000:]
    image = result.stdout.strip().splitlines()[-1]
    tag = uuid.uuid4().hex[:10]
    network = "homelab-pihole-image-%s" % tag
    name = "homelab-pihole-image-%s" % tag
    secrets = tempfile.mkdtemp(prefix="homelab-pihole-secret-")
    with open(os.path.join(secrets, "webpassword"), "w", encoding="utf-8") as handle:
        handle.write(PASSWORD)
    os.chmod(os.path.join(secrets, "webpassword"), 0o444)
    hosts = []
    for host in OFFLINE_NAMES:
        # Both families: Debian's getent asks for IPv6 first, and nothing here answers DNS for it.
        hosts += ["--add-host", host + ":127.0.0.1", "--add-host", host + ":::1"]
    labhost.docker("network", "create", "--internal", *labhost.LABELS, network)
    try:
        labhost.docker(
            "run", "-d", "--name", name, *labhost.LABELS, "--network", network,
            "--dns", "127.0.0.1", "--dns-opt", "timeout:1", "--dns-opt", "attempts:1", *hosts,
            # The image's own health command, asked every 2 s instead of every 30 s.
            "--health-interval", "2s",
            "-e", "TZ=UTC", "-e", "WEBPASSWORD_FILE=webpassword",
            "-v", "%s/webpassword:/run/secrets/webpassword:ro" % secrets,
            "-e", "FTLCONF_dns_upstreams=127.0.0.1#5353", "-e", "FTLCONF_ntp_sync_active=false",
            image)
        address = labhost.docker("inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
                                 name).stdout.strip()
        yield {"image": image, "name": name, "address": address}
    finally:
        labhost.docker("rm", "-f", "-v", name, check=False)
        labhost.docker("network", "rm", network, check=False)
        shutil.rmtree(secrets, ignore_errors=True)


def wait_healthy(name, timeout=120):
    deadline = time.monotonic() + timeout
    state = {}
    while time.monotonic() < deadline:
        state = json.loads(labhost.docker("inspect", "-f", "{{json .State}}", name).stdout)
        if not state.get("Running"):
            break
        if (state.get("Health") or {}).get("Status") == "healthy":
            return state
        time.sleep(1)
    logs = labhost.docker("logs", "--tail", "40", name, check=False)
    raise AssertionError("%s not healthy: %s\n%s%s" % (name, state.get("Health"), logs.stdout, logs.stderr))


def http(method, url, body=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_real_image_answers_dns_web_and_api(pihole):
    wait_healthy(pihole["name"])
    address = pihole["address"]

    # DNS on 53, UDP and TCP: pi.hole is the container's own address behind Docker's bridge.
    for tcp in (False, True):
        answer = labhost.dns_ask("pi.hole", "A", server=address, tcp=tcp, timeout=5)
        assert answer["rcode"] == 0
        assert address in [record["data"] for record in answer["answers"]]
    assert labhost.dns_ask("nothing.invalid", "A", server=address, timeout=5)["rcode"] == 3

    status, page = http("GET", "http://%s/admin/" % address)
    assert status == 200 and b"Pi-hole" in page

    status, body = http("POST", "http://%s/api/auth" % address, {"password": PASSWORD})
    assert status == 200
    session = json.loads(body)["session"]
    assert session["valid"] is True and session["sid"]
    status = http("POST", "http://%s/api/auth" % address, {"password": PASSWORD + "-wrong"})[0]
    assert status == 401

    versions = labhost.docker("exec", pihole["name"], "pihole", "-v").stdout
    for expected in ("Core version is v6.2.2", "Web version is v6.3", "FTL version is v6.3.3"):
        assert expected in versions, versions


def test_image_carries_upstream_runtime_settings(pihole):
    """docker-pi-hole's ENTRYPOINT, HEALTHCHECK (no start period), ENV and EXPOSE: the official image's own."""
    config = json.loads(labhost.docker("image", "inspect", "-f", "{{json .Config}}", pihole["image"]).stdout)
    labels = config.get("Labels") or {}
    assert config["Entrypoint"] == ["start.sh"]
    assert config["Healthcheck"]["Test"] == [
        "CMD-SHELL", "dig -p $(pihole-FTL --config dns.port) +short +norecurse +retry=0 @127.0.0.1 pi.hole || exit 1"]
    assert "StartPeriod" not in config["Healthcheck"]
    assert {"DNSMASQ_USER=pihole", "FTL_CMD=no-daemon"} <= set(config["Env"])
    assert set(config["ExposedPorts"]) == {"53/tcp", "53/udp", "67/udp", "80/tcp", "123/udp", "443/tcp"}
    if "homelab-photon.source" in labels:  # the lab's build (a pulled official image has no such label)
        assert labels.get("homelab-photon.builder") == "tests/lab/pihole"
        assert "built from" in labels["org.opencontainers.image.description"]


def test_stand_in_under_the_name_is_replaced(pihole, throwaway_ref):
    """An image under IMAGE's name that is neither this recipe's build nor pulled (no RepoDigest) is replaced."""
    empty = subprocess.run(["tar", "-cf", "-", "-T", "/dev/null"], check=True, capture_output=True).stdout
    subprocess.run(["docker", "import", "-", throwaway_ref], check=True, capture_output=True, input=empty)
    real = json.loads(labhost.docker("image", "inspect", "-f", "{{json .Config.Labels}}", pihole["image"]).stdout) or {}

    result = build(throwaway_ref, env={"HOMELAB_PIHOLE_PULL": "0"})

    assert result.returncode == 0, result.stderr[-3000:]
    assert "neither this recipe's build nor pulled" in result.stderr
    assert result.stdout.strip().splitlines()[-1] == throwaway_ref
    labels = json.loads(labhost.docker("image", "inspect", "-f", "{{json .Config.Labels}}", throwaway_ref).stdout)
    assert labels["homelab-photon.builder"] == "tests/lab/pihole"
    if "homelab-photon.source" in real:  # the role's image is the lab's build too: the same recipe made both
        assert labels["homelab-photon.source"] == real["homelab-photon.source"]
