"""Unit tests of plugins/module_utils/_upload.py: the batched HTTPS upload used for NFC disks.

The parsing helpers are tested as functions; HttpsUpload talks to a real TLS server on loopback
(Python's ssl with a certificate made by the openssl command for the test).
"""

import hashlib
import os
import socket
import ssl
import subprocess
import threading

import pytest

from ansible_collections.homelab.photon.plugins.module_utils import _upload as u  # noqa: E402

MIB = 1024 * 1024


def test_parse_response_head():
    status, reason, headers = u.parse_response_head(
        b"HTTP/1.1 403 Forbidden\r\nContent-Length: 6\r\nX-Thing:  a: b ")
    assert (status, reason, headers) == (403, "Forbidden", {"content-length": "6", "x-thing": "a: b"})
    assert u.parse_response_head(b"HTTP/1.0 200") == (200, "", {})
    with pytest.raises(ValueError, match="not an HTTP/1.x response"):
        u.parse_response_head(b"SSH-2.0-OpenSSH_9.6")
    with pytest.raises(ValueError, match="not an HTTP/1.x response"):
        u.parse_response_head(b"HTTP/1.1 OK fine")
    with pytest.raises(ValueError, match="malformed header line"):
        u.parse_response_head(b"HTTP/1.1 200 OK\r\nno colon here")


def test_body_complete():
    assert u.body_complete({"content-length": "3"}, b"abc")
    assert not u.body_complete({"content-length": "4"}, b"abc")
    assert u.body_complete({"transfer-encoding": "chunked"}, b"3\r\nabc\r\n0\r\n\r\n")
    assert not u.body_complete({"transfer-encoding": "chunked"}, b"3\r\nabc\r\n")
    assert not u.body_complete({}, b"anything")  # read to the end of the stream


@pytest.fixture(scope="module")
def cert(tmp_path_factory):
    d = tmp_path_factory.mktemp("tls")
    key, crt = str(d / "key.pem"), str(d / "cert.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", crt,
                    "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost"],
                   check=True, capture_output=True)
    return key, crt


class Server:
    """A one-connection TLS server: reads one request (head and Content-Length body), answers."""

    def __init__(self, cert, answer, host="127.0.0.1"):
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(cert[1], cert[0])
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.listener = socket.create_server((host, 0), family=family)
        self.port = self.listener.getsockname()[1]
        self.answer = answer
        self.head = None
        self.body_sha1 = None
        self.body_len = 0
        self.error = None
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        try:
            conn, dummy = self.listener.accept()
            with self.ctx.wrap_socket(conn, server_side=True) as tls:
                data = b""
                while b"\r\n\r\n" not in data:
                    data += tls.recv(65536)
                head, dummy, body = data.partition(b"\r\n\r\n")
                self.head = head.decode()
                length = int([v for k, v in (line.split(": ", 1) for line in self.head.split("\r\n")[1:])
                              if k.lower() == "content-length"][0])
                digest = hashlib.sha1(body)
                got = len(body)
                while got < length:
                    more = tls.recv(min(MIB, length - got))
                    if not more:
                        break
                    digest.update(more)
                    got += len(more)
                self.body_len, self.body_sha1 = got, digest.hexdigest()
                if self.answer is not None:
                    tls.sendall(self.answer)
        except Exception as exc:  # pylint: disable=broad-except
            self.error = exc
        finally:
            self.listener.close()

    def join(self):
        self.thread.join(10)
        assert not self.thread.is_alive()


def trusting(cert):
    ctx = ssl.create_default_context(cafile=cert[1])
    return ctx


def send(port, ctx, body, chunk=MIB, host="localhost"):
    up = u.HttpsUpload(host, port, ctx, timeout=10)
    try:
        up.start("POST", "/nfc/disk-0.vmdk", [("Content-Type", "application/x-vnd.vmware-streamVmdk"),
                                              ("Content-Length", str(len(body)))])
        for pos in range(0, len(body), chunk):
            up.write(body[pos:pos + chunk])
        return up.finish(), up.sent
    finally:
        up.close()


def test_body_arrives_whole_and_verified(cert):
    body = os.urandom(3 * MIB + 12345)
    server = Server(cert, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
    (status, reason, rbody), sent = send(server.port, trusting(cert), body)
    server.join()
    assert server.error is None
    assert (status, reason, rbody, sent) == (200, "OK", b"", len(body))
    assert server.head.startswith("POST /nfc/disk-0.vmdk HTTP/1.1\r\nHost: localhost:%d\r\n" % server.port)
    assert (server.body_len, server.body_sha1) == (len(body), hashlib.sha1(body).hexdigest())


def test_ciphertext_goes_out_in_batches(cert, monkeypatch):
    """3 MiB of body in 64 KiB writes: a handful of socket writes, not one per TLS record (192+)."""
    writes = []
    real = socket.create_connection

    class Counting:
        def __init__(self, sock):
            self.sock = sock

        def sendall(self, data):
            writes.append(len(data))
            return self.sock.sendall(data)

        def __getattr__(self, name):
            return getattr(self.sock, name)

    monkeypatch.setattr(u.socket, "create_connection", lambda *a, **k: Counting(real(*a, **k)))
    body = os.urandom(3 * MIB)
    server = Server(cert, b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n")
    (status, dummy, dummy2), dummy3 = send(server.port, trusting(cert), body, chunk=64 * 1024)
    server.join()
    assert status == 201 and server.body_len == len(body)
    big = [n for n in writes if n >= u.BATCH]
    assert len(big) == 3 and len(writes) <= 6, writes  # the handshake, 3 batches (body + framing)
    assert sum(writes) > len(body)  # ciphertext: the body and its TLS framing


def test_error_answer_is_returned_with_its_body(cert):
    server = Server(cert, b"HTTP/1.1 403 Forbidden\r\nContent-Length: 14\r\n\r\nlease expired.")
    (status, reason, rbody), dummy = send(server.port, trusting(cert), b"x" * 1000)
    server.join()
    assert (status, reason, rbody) == (403, "Forbidden", b"lease expired.")


def test_chunked_answer_and_long_body_is_cut(cert):
    answer = b"HTTP/1.1 500 Internal Server Error\r\nTransfer-Encoding: chunked\r\n\r\n"
    answer += b"1388\r\n" + b"e" * 5000 + b"\r\n0\r\n\r\n"
    server = Server(cert, answer)
    (status, dummy, rbody), dummy2 = send(server.port, trusting(cert), b"x")
    server.join()
    assert status == 500 and len(rbody) == u.RESPONSE_BODY_LIMIT


def test_untrusted_certificate_is_refused(cert):
    server = Server(cert, None)
    with pytest.raises(u.UploadError, match="CERTIFICATE_VERIFY_FAILED"):
        send(server.port, ssl.create_default_context(), b"x")
    server.join()


def test_wrong_host_name_is_refused(cert):
    server = Server(cert, None)
    with pytest.raises(u.UploadError, match="CERTIFICATE_VERIFY_FAILED|match"):
        send(server.port, trusting(cert), b"x", host="127.0.0.1")
    server.join()


def test_no_answer_is_an_error(cert):
    server = Server(cert, None)
    with pytest.raises(u.UploadError, match="closed the connection without a response"):
        send(server.port, trusting(cert), b"x" * 100)
    server.join()
    assert server.body_len == 100


def test_ipv6_literal_host_header(cert):
    """An IPv6 literal goes into the Host header in brackets (RFC 7230); here over ::1 when the
    machine has it, with the certificate check off since the test certificate names localhost."""
    try:
        listener = socket.create_server(("::1", 0), family=socket.AF_INET6)
    except OSError:
        pytest.skip("this machine has no IPv6 loopback")
    listener.close()
    server = Server(cert, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", host="::1")
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    (status, dummy, dummy2), dummy3 = send(server.port, ctx, b"abc", host="::1")
    server.join()
    assert status == 200
    assert "\r\nHost: [::1]:%d\r\n" % server.port in server.head + "\r\n"


def test_nothing_listening_is_an_error():
    with socket.create_server(("127.0.0.1", 0)) as s:
        port = s.getsockname()[1]
    with pytest.raises(u.UploadError):
        send(port, ssl.create_default_context(), b"x")
