"""The lab's small internet (tests/lab/internet): DNS, HTTP and HTTPS as Pi-hole will meet them.

From the controller, which reaches the internet's fixed address on the lab network directly.
The internet is lab infrastructure, like the lab network: the test starts it when it is absent
(and then removes it at the end), and leaves one that was already running alone.
"""

import http.client
import os
import socket
import ssl
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
sys.path.insert(0, os.path.join(ROOT, "tests", "output", "collections"))
sys.path.insert(0, os.path.join(ROOT, "tests", "lab"))

import labhost  # noqa: E402
from ansible_collections.homelab.photon.plugins.module_utils import _dnsquery as dq  # noqa: E402

IP = labhost.INTERNET_IP
DEFAULT_LIST = "/StevenBlack/hosts/master/hosts"
DEFAULT_LIST_DOMAINS = ["ads.lab-tracker.example", "telemetry.lab-tracker.example",
                        "pixel.lab-tracker.example", "popup.lab-adnetwork.example"]
SECOND_LIST_DOMAINS = ["malware.lab-badsite.example", "phishing.lab-badsite.example"]

pytestmark = pytest.mark.usefixtures("internet")


@pytest.fixture(scope="module", name="internet")
def internet_fixture():
    was_running = labhost.internet_running()
    labhost.ensure_internet()
    try:
        yield labhost.internet_certs()
    finally:
        if not was_running:
            labhost.remove_internet()


def ask(name, qtype="A", tcp=False):
    """One question to the lab internet with the collection's DNS helpers."""
    query_id = int.from_bytes(os.urandom(2), "big")
    query = dq.build_query(query_id, name, qtype)
    if tcp:
        with socket.create_connection((IP, 53), timeout=5) as sock:
            sock.sendall(dq.tcp_frame(query))
            data = b""
            while len(data) < 2 or len(data) < 2 + int.from_bytes(data[:2], "big"):
                chunk = sock.recv(4096)
                assert chunk, "the server closed the connection"
                data += chunk
            return dq.parse_response(data[2:], query_id)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(5)
        sock.sendto(query, (IP, 53))
        return dq.parse_response(sock.recv(4096), query_id)


class LabHTTPS(http.client.HTTPConnection):
    """HTTPS to the lab internet's address, with HOST as the TLS server name and Host header."""
    default_port = 443

    def __init__(self, host, context):
        super().__init__(host, 443, timeout=10)
        self.context = context

    def connect(self):
        raw = socket.create_connection((IP, 443), timeout=self.timeout)
        try:
            self.sock = self.context.wrap_socket(raw, server_hostname=self.host)
        except Exception:
            raw.close()
            raise


def https_get(host, path, context, headers=None, full=False):
    conn = LabHTTPS(host, context)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        body = response.read().decode()
        return (response.status, body, response) if full else (response.status, body)
    finally:
        conn.close()


def http_get(host, path):
    conn = http.client.HTTPConnection(IP, 80, timeout=10)
    try:
        conn.request("GET", path, headers={"Host": host})
        response = conn.getresponse()
        return response.status, response.read().decode()
    finally:
        conn.close()


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
@pytest.mark.parametrize("name", ["example.com", "raw.githubusercontent.com", "RAW.GitHubUserContent.com."])
def test_public_names_answer_the_internet_itself(name, tcp):
    result = ask(name, tcp=tcp)
    assert result["rcode_name"] == "NOERROR"
    assert dq.addresses(result, "A") == [IP]


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
def test_every_zone_name_answers(tcp):
    for name in labhost.internet_names():
        assert dq.addresses(ask(name, tcp=tcp), "A") == [IP], name


def test_aaaa_of_a_known_name_is_empty_noerror():
    result = ask("example.com", "AAAA")
    assert result["rcode_name"] == "NOERROR"
    assert result["answers"] == []


def test_parent_of_a_known_name_exists_without_data():
    result = ask("githubusercontent.com")
    assert (result["rcode_name"], result["answers"]) == ("NOERROR", [])


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
@pytest.mark.parametrize("name", ["nothing.invalid", "no-such-host.example.org", "unknown.lab-tracker.example"])
def test_unknown_names_are_nxdomain(name, tcp):
    result = ask(name, tcp=tcp)
    assert result["rcode_name"] == "NXDOMAIN"
    assert result["answers"] == []


def test_lab_container_names_are_relayed_to_docker():
    host = labhost.start(prefix="inet", wait=False)
    try:
        address = host.ip
        assert address
        for tcp in (False, True):
            assert dq.addresses(ask(host.name, tcp=tcp), "A") == [address]
            # The same in the lab network's domain, as Docker also answers it.
            assert dq.addresses(ask(host.name + "." + labhost.LAB_NETWORK, tcp=tcp), "A") == [address]
            assert dq.addresses(ask(labhost.INTERNET_NAME, tcp=tcp), "A") == [IP]
    finally:
        host.remove()
    # A container name that does not exist: Docker's resolver hands it back to the internet,
    # whose answer is NXDOMAIN (no loop, no real resolver).
    for name in (host.name, host.name + "." + labhost.LAB_NETWORK):
        result = ask(name)
        assert result["rcode_name"] == "NXDOMAIN"


def test_https_serves_the_default_list_under_the_lab_ca(internet):
    context = ssl.create_default_context(cafile=internet["ca.crt"])
    status, body = https_get("raw.githubusercontent.com", DEFAULT_LIST, context)
    assert status == 200
    for domain in DEFAULT_LIST_DOMAINS:
        assert "0.0.0.0 " + domain in body.splitlines()
    # Every listed domain resolves while nothing blocks it.
    for domain in DEFAULT_LIST_DOMAINS + SECOND_LIST_DOMAINS:
        assert dq.addresses(ask(domain), "A") == [IP], domain


def test_the_ca_bundle_trusts_the_lab_internet(internet):
    # What a Pi-hole container gets mounted over /etc/ssl/certs/ca-certificates.crt.
    context = ssl.create_default_context(cafile=internet["ca-bundle.crt"])
    status, body = https_get("lists.lab.example", "/blocklist-2.txt", context)
    assert status == 200
    for domain in SECOND_LIST_DOMAINS:
        assert domain in body.splitlines()


def test_conditional_requests_as_gravity_makes_them(internet):
    # gravity sends back the ETag it saved (--etag-compare) and the list's time (curl -z).
    context = ssl.create_default_context(cafile=internet["ca.crt"])
    status, _body, response = https_get("raw.githubusercontent.com", DEFAULT_LIST, context, full=True)
    etag, modified = response.getheader("ETag"), response.getheader("Last-Modified")
    assert status == 200 and etag and modified
    assert https_get("raw.githubusercontent.com", DEFAULT_LIST, context, {"If-None-Match": etag})[:2] == (304, "")
    assert https_get("raw.githubusercontent.com", DEFAULT_LIST, context, {"If-None-Match": '"other"'})[0] == 200
    assert https_get("raw.githubusercontent.com", DEFAULT_LIST, context, {"If-Modified-Since": modified})[0] == 304
    old = "Thu, 01 Jan 1970 00:00:00 GMT"
    assert https_get("raw.githubusercontent.com", DEFAULT_LIST, context, {"If-Modified-Since": old})[0] == 200


def test_unknown_path_and_host_are_404(internet):
    context = ssl.create_default_context(cafile=internet["ca.crt"])
    assert https_get("raw.githubusercontent.com", "/StevenBlack/hosts/master/no-such-list", context)[0] == 404
    assert https_get("github.com", "/", context)[0] == 404
    assert http_get("raw.githubusercontent.com", "/../../internet.py")[0] == 404
    assert http_get("not-in-the-zone.example", "/")[0] == 404


def test_plain_http_serves_by_host_header():
    status, body = http_get("lists.lab.example", "/blocklist-2.txt")
    assert status == 200
    assert SECOND_LIST_DOMAINS[0] in body
    status, body = http_get("www.example.com", "/")
    assert status == 200 and "Example Domain" in body


def test_verification_fails_without_the_lab_ca():
    with pytest.raises(ssl.SSLCertVerificationError):
        https_get("raw.githubusercontent.com", DEFAULT_LIST, ssl.create_default_context())


def test_verification_fails_for_a_name_outside_the_zone(internet):
    context = ssl.create_default_context(cafile=internet["ca.crt"])
    with pytest.raises(ssl.SSLCertVerificationError):
        https_get("not-in-the-zone.example", "/", context)


def test_requests_are_logged():
    ask("logged.invalid")
    http_get("lists.lab.example", "/blocklist-2.txt")
    logs = labhost.docker("logs", labhost.INTERNET_NAME).stdout
    assert "A logged.invalid NXDOMAIN" in logs
    assert "GET lists.lab.example/blocklist-2.txt 200" in logs


def test_ensure_again_keeps_the_running_container():
    before = labhost.docker("inspect", "-f", "{{.Id}}", labhost.INTERNET_NAME).stdout
    assert labhost.ensure_internet() is False
    assert labhost.docker("inspect", "-f", "{{.Id}}", labhost.INTERNET_NAME).stdout == before
