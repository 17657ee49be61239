"""_report: the host report's parsers (fed what the real programs print) and its formatting."""

import json
import os

from ansible_collections.homelab.photon.plugins.module_utils import _report as r

# The lab's Photon OS 5.0 release files (tests/lab/image/photon/), as on Photon OS.
OS_RELEASE = '''NAME="VMware Photon OS"
VERSION="5.0"
ID=photon
VERSION_ID=5.0
PRETTY_NAME="VMware Photon OS/Linux"
ANSI_COLOR="1;34"
HOME_URL="https://vmware.github.io/photon/"
'''
PHOTON_RELEASE = "VMware Photon OS 5.0\nPHOTON_BUILD_NUMBER=dde71ec57\n"
MEMINFO = """MemTotal:        2030520 kB
MemFree:          240448 kB
MemAvailable:    1475036 kB
Buffers:           62252 kB
HugePages_Total:       0
"""
# docker version --format '{{json .}}' of Docker 26.1 (trimmed), engine up and engine down.
DOCKER_UP = json.dumps({"Client": {"Version": "26.1.5+dfsg1", "ApiVersion": "1.45"},
                        "Server": {"Version": "26.1.5+dfsg1", "Components": []}})
DOCKER_DOWN = json.dumps({"Client": {"Version": "26.1.5+dfsg1"}, "Server": None})
# GET /api/info/version of the lab's Pi-hole (FTL v6.3.3), trimmed.
VERSION = {"version": {
    "core": {"local": {"branch": "master", "version": "v6.2.2", "hash": "1a2b3c4"}, "remote": {"version": None}},
    "web": {"local": {"branch": "master", "version": "v6.3", "hash": "5d6e7f8"}, "remote": {"version": None}},
    "ftl": {"local": {"branch": "master", "version": "v6.3.3", "hash": "9a8b7c6", "date": "2025-11-01"},
            "remote": {"version": None}},
    "docker": {"local": "2025.11.0", "remote": None}}, "took": 0.0001}


class Statvfs(object):
    f_frsize = 4096
    f_blocks = 1000
    f_bfree = 300
    f_bavail = 250


def test_os_release_quotes_and_comments():
    parsed = r.parse_os_release(OS_RELEASE + "# a comment\nBAD LINE\nX='single'\n")
    assert parsed["ID"] == "photon" and parsed["VERSION_ID"] == "5.0"
    assert parsed["PRETTY_NAME"] == "VMware Photon OS/Linux" and parsed["X"] == "single"
    assert r.parse_os_release(None) == {}


def test_photon_release():
    assert r.parse_photon_release(PHOTON_RELEASE) == {"title": "VMware Photon OS 5.0", "build": "dde71ec57"}
    assert r.parse_photon_release(None) == {"title": None, "build": None}


def test_meminfo_in_bytes():
    assert r.parse_meminfo(MEMINFO) == {"total": 2030520 * 1024, "available": 1475036 * 1024}
    assert r.parse_meminfo("") == {"total": None, "available": None}


def test_count_lines():
    assert r.count_lines("bash\nrpm\n\nphoton-release\n") == 3
    assert r.count_lines("") == 0


def test_docker_version_up_down_garbage():
    assert r.parse_docker_version(DOCKER_UP) == {"client": "26.1.5+dfsg1", "server": "26.1.5+dfsg1"}
    assert r.parse_docker_version(DOCKER_DOWN) == {"client": "26.1.5+dfsg1", "server": None}
    assert r.parse_docker_version("Cannot connect") == {"client": None, "server": None}
    assert r.parse_docker_version("[1]") == {"client": None, "server": None}


def test_compose_version():
    assert r.parse_compose_version("2.26.1\n") == "2.26.1"
    assert r.parse_compose_version("v2.33.1\n") == "2.33.1"
    assert r.parse_compose_version("") is None


def test_pihole_versions():
    assert r.pihole_versions(VERSION) == {"core": "v6.2.2", "web": "v6.3", "ftl": "v6.3.3", "docker": "2025.11.0"}
    assert r.pihole_versions({}) == {"core": None, "web": None, "ftl": None, "docker": None}


def test_disk_usage_as_df():
    disk = r.disk_usage("/", Statvfs())
    assert disk == {"path": "/", "total": 4096000, "used": 700 * 4096, "available": 250 * 4096, "percent": 74}


def test_disk_usage_of_this_machine_matches_df():
    stat = os.statvfs("/")
    disk = r.disk_usage("/", stat)
    assert 0 <= disk["percent"] <= 100 and disk["used"] + stat.f_bfree * stat.f_frsize == disk["total"]


def test_human_bytes():
    assert r.human_bytes(None) == "-"
    assert r.human_bytes(512) == "512 B"
    assert r.human_bytes(1536) == "1.5 KiB"
    assert r.human_bytes(2 * 1024 ** 3) == "2 GiB"
    assert r.human_bytes(5 * 1024 ** 5) == "5120 TiB"


def info():
    return {"os": {"id": "photon", "version_id": "5.0", "pretty_name": "VMware Photon OS/Linux",
                   "photon": {"title": "VMware Photon OS 5.0", "build": "dde71ec57"}},
            "kernel": "6.1.0-13-amd64", "rpm_packages": 5,
            "memory": {"total": 2 * 1024 ** 3, "available": 1024 ** 3},
            "disks": [{"path": "/", "total": 40 * 1024 ** 3, "used": 10 * 1024 ** 3, "available": 30 * 1024 ** 3,
                       "percent": 25}],
            "sizes": [{"path": "/opt/docker/pihole", "bytes": 50 * 1024 ** 2}],
            "docker": {"client": "26.1.5", "server": "26.1.5"}, "compose": "2.26.1",
            "pihole": {"ftl": "v6.3.3", "core": "v6.2.2", "web": "v6.3", "docker": "2025.11.0", "api_calls": 3}}


DNS = {"changed": False, "rcode": "NOERROR", "addresses": ["172.30.99.150"], "server": "172.30.99.150#53",
       "name": "pi.hole"}


def test_host_row():
    vm = {"name": "photon-lab", "moid": "vm-53", "hw_version": "vmx-11", "guest_id": "vmwarePhoton64Guest",
          "power_state": "poweredOn"}
    row = r.host_row("photon-lab", dict(info=info(), dns=DNS, admin_url="http://172.30.99.150/admin/", vm=vm,
                                        address="172.30.99.150"))
    assert row == {
        "host": "photon-lab", "address": "172.30.99.150", "vm": "photon-lab (vm-53), vmx-11, vmwarePhoton64Guest, poweredOn",
        "os": "Photon OS 5.0 (build dde71ec57)", "kernel": "6.1.0-13-amd64",
        "rpm_packages": "5", "memory": "1 GiB of 2 GiB used", "disk": "/ 25% (10 GiB of 40 GiB), /opt/docker/pihole 50 MiB",
        "docker": "26.1.5", "compose": "2.26.1", "pihole": "FTL v6.3.3, core v6.2.2, web v6.3, docker 2025.11.0",
        "admin_url": "http://172.30.99.150/admin/", "dns": "pi.hole -> 172.30.99.150 (NOERROR from 172.30.99.150#53)"}


def test_host_row_other_os_no_pihole_no_engine():
    data = info()
    data["os"] = {"id": "debian", "pretty_name": "Debian GNU/Linux 13 (trixie)", "photon": {"title": None}}
    data.update(pihole=None, rpm_packages=None, docker={"client": "26.1.5", "server": None}, compose=None, sizes=[])
    data["memory"]["available"] = None
    row = r.host_row("deb", {"info": data, "vm": {"name": "deb"}})
    assert row["os"] == "Debian GNU/Linux 13 (trixie)" and row["rpm_packages"] == "-"
    assert row["docker"] == "26.1.5 (engine not running)" and row["compose"] == "-" and row["pihole"] == "-"
    assert row["memory"] == "2 GiB total" and row["dns"] == "-" and row["admin_url"] == "-"
    assert row["disk"] == "/ 25% (10 GiB of 40 GiB)" and row["vm"] == "-" and row["address"] == "-"


def test_host_row_failures():
    data = info()
    data["pihole"] = {"error": "Wrong password: ...", "api_calls": 1}
    assert r.host_row("a", {"info": data})["pihole"] == "error: Wrong password: ..."
    failed = r.host_row("b", {"info": {"failed": True, "msg": "Timeout"}, "dns": {"skipped": True}})
    assert failed["os"] == "FAILED: Timeout" and failed["kernel"] == "-" and failed["dns"] == "-"
    missing = r.host_row("c", None)
    assert missing["os"].startswith("no data")


def test_dns_failed():
    assert not r.dns_failed({}) and not r.dns_failed({"skipped": True}) and not r.dns_failed(DNS)
    assert r.dns_failed({"failed": True, "msg": "no answer from 10.0.0.1#53 over udp"})
    assert r.dns_failed(dict(DNS, rcode="NXDOMAIN", addresses=[]))
    assert r.dns_failed(dict(DNS, addresses=[]))
    assert r.host_row("x", {"info": info(), "dns": {"msg": "no answer after 6 tries"}})["dns"] == "FAILED: no answer after 6 tries"


def test_markdown_table_one_column_per_host_aligned():
    rows = [r.host_row("pihole01", {"info": info(), "dns": DNS, "admin_url": "http://a/admin/"}), r.host_row("pihole|02", {})]
    lines = r.markdown_table(rows)
    assert len(lines) == 2 + len(r.COLUMNS)
    assert lines[0].split("|")[2].strip() == "pihole01" and "pihole\\|02" in lines[0]
    assert set(lines[1]) == {"|", "-"}
    assert len(set(len(line) for line in lines)) == 1  # padded: reads as plain text too
    assert lines[4].startswith("| OS ") and "Photon OS 5.0 (build dde71ec57)" in lines[4]
    assert [line.split("|")[1].strip() for line in lines[2:]] == [h for k, h in r.COLUMNS]


def test_documents():
    rows = [r.host_row("pihole01", {"info": info(), "dns": DNS, "admin_url": "http://a/admin/"})]
    text = r.markdown_document(rows, "2026-01-01T00:00:00Z")
    assert text.startswith("# Host report\n") and "2026-01-01T00:00:00Z" in text and text.endswith("|\n")
    doc = json.loads(r.json_document(rows, {"pihole01": {"info": {"kernel": "k"}}}, "2026-01-01T00:00:00Z"))
    assert doc["generated"] == "2026-01-01T00:00:00Z" and doc["hosts"][0]["host"] == "pihole01"
    assert doc["hosts"][0]["details"] == {"info": {"kernel": "k"}} and doc["columns"][2] == {"key": "os", "heading": "OS"}
