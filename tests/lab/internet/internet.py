"""The lab's small internet: DNS (53/udp, 53/tcp), HTTP (80) and HTTPS (443) in one program.

It runs in the container `homelab-lab-internet` at a fixed address on the lab network (see
README.md beside it, and `labhost.py ensure-internet`). Python 3 standard library only.

DNS: every name listed in the zone file answers A with this service's own address (so a
connection to any "public" name lands here, never on a real public address); AAAA and other
types of a known name are an empty NOERROR; a name that only exists as a parent of known names
(`com`, `githubusercontent.com`) is an empty NOERROR too; names without a dot (the lab's container
names) are relayed to Docker's embedded resolver; everything else is NXDOMAIN. Nothing is ever
sent to a real resolver.

HTTP and HTTPS: static files from WWW/<host>/<path>, the host taken from the Host header (else
from the TLS server name); 404 for anything else. One certificate (SANs for every zone name)
signed by the lab CA serves all names.

Each DNS question and HTTP request is logged as one line on stdout.
"""

import argparse
import email.utils
import hashlib
import http.server
import ipaddress
import os
import posixpath
import signal
import socket
import socketserver
import ssl
import struct
import sys
import threading
import urllib.parse

TTL = 300
RCODE_NAMES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}
TYPE_NAMES = {1: "A", 2: "NS", 5: "CNAME", 6: "SOA", 12: "PTR", 15: "MX", 16: "TXT", 28: "AAAA",
              33: "SRV", 65: "HTTPS", 255: "ANY"}
FORWARD_TIMEOUT = 2.0
# The lab network: Docker's resolver answers a container as NAME and as NAME.homelab-lab.
LAB_DOMAIN = "homelab-lab"
_log_lock = threading.Lock()


def log(*parts):
    line = " ".join(str(part) for part in parts)
    with _log_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def read_zone(path):
    """The names of the zone file: one per line, `#` starts a comment; lower case, no final dot."""
    names = set()
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            name = line.split("#", 1)[0].strip().rstrip(".").lower()
            if name:
                names.add(name)
    return names


class Zone:
    def __init__(self, names, address):
        self.names = frozenset(names)
        self.address = ipaddress.IPv4Address(address)
        parents = set()
        for name in self.names:
            labels = name.split(".")
            for start in range(1, len(labels)):
                parents.add(".".join(labels[start:]))
        # Empty non-terminals: they exist (NOERROR) but hold no records.
        self.parents = frozenset(parents - self.names)


# ---------------------------------------------------------------- DNS

class Question:
    def __init__(self, message):
        """Read the header and the one question of a query; raise ValueError when it cannot be read."""
        if len(message) < 12:
            raise ValueError("short message")
        self.id, self.flags, qdcount = struct.unpack("!HHH", message[:6])
        self.opcode = (self.flags >> 11) & 0xF
        self.name = ""
        self.qtype = self.qclass = 0
        self.end = 12
        if self.flags & 0x8000:
            raise ValueError("not a query")
        if qdcount != 1:
            raise ValueError("%d questions" % qdcount)
        labels = []
        offset = 12
        while True:
            if offset >= len(message):
                raise ValueError("name past the end")
            length = message[offset]
            offset += 1
            if length == 0:
                break
            if length & 0xC0 or offset + length > len(message):
                raise ValueError("bad label")
            labels.append(message[offset:offset + length].decode("ascii", "replace"))
            offset += length
        if offset + 4 > len(message):
            raise ValueError("truncated question")
        self.qtype, self.qclass = struct.unpack("!HH", message[offset:offset + 4])
        self.name = ".".join(labels)
        self.end = offset + 4

    @property
    def type_name(self):
        return TYPE_NAMES.get(self.qtype, "TYPE%d" % self.qtype)


def reply(message, question, rcode, answers=()):
    """An answer to QUESTION: the header, the question as it was asked, and A records (addresses)
    whose owner name points back at the question's name (0xC00C)."""
    flags = 0x8000 | (question.opcode << 11) | (question.flags & 0x0100) | 0x0080 | rcode
    qdcount = 1 if question.end > 12 else 0
    out = struct.pack("!HHHHHH", question.id, flags, qdcount, len(answers), 0, 0)
    if qdcount:
        out += message[12:question.end]
    for address in answers:
        out += struct.pack("!HHHIH", 0xC00C, 1, 1, TTL, 4) + address.packed
    return out


def error_reply(message, rcode):
    """FORMERR-style answer to a message whose question could not be read: the header only."""
    qid, flags = struct.unpack("!HH", message[:4])
    flags = 0x8000 | (flags & 0x7900) | 0x0080 | rcode
    return struct.pack("!HHHHHH", qid, flags, 0, 0, 0, 0)


class DNS:
    def __init__(self, zone, forward, own_addresses):
        self.zone = zone
        self.forward = forward
        self.own = own_addresses

    def is_own(self, client):
        try:
            address = ipaddress.ip_address(client)
        except ValueError:
            return False
        return address.is_loopback or address in self.own

    def answer(self, message, client, transport):
        """The bytes to send back for MESSAGE (None: send nothing)."""
        try:
            question = Question(message)
        except ValueError as exc:
            if len(message) < 12 or message[2] & 0x80:
                return None
            log("dns", transport, client, "unreadable:", exc, "FORMERR")
            return error_reply(message, 1)
        name = question.name.lower()
        what = "%s %s" % (question.type_name, question.name or ".")
        if question.opcode != 0:
            log("dns", transport, client, what, "NOTIMP (opcode %d)" % question.opcode)
            return reply(message, question, 4)
        if question.qclass not in (1, 255):
            log("dns", transport, client, what, "REFUSED (class %d)" % question.qclass)
            return reply(message, question, 5)
        if name in self.zone.names:
            if question.qtype in (1, 255):
                log("dns", transport, client, what, "NOERROR", self.zone.address)
                return reply(message, question, 0, [self.zone.address])
            log("dns", transport, client, what, "NOERROR (no data)")
            return reply(message, question, 0)
        if name == "" or name in self.zone.parents:
            log("dns", transport, client, what, "NOERROR (no data)")
            return reply(message, question, 0)
        if ("." not in name or name.endswith("." + LAB_DOMAIN)) and not self.is_own(client):
            # A lab container name (NAME, or NAME.homelab-lab as Docker also answers it): Docker's
            # embedded resolver knows it.
            relayed = self.relay(message, transport)
            if relayed is None:
                log("dns", transport, client, what, "forwarded, no answer: SERVFAIL")
                return reply(message, question, 2)
            rcode = relayed[3] & 0x0F if len(relayed) >= 4 else 2
            log("dns", transport, client, what, "forwarded:", RCODE_NAMES.get(rcode, rcode))
            return relayed
        # Unknown, or a lab name that Docker's resolver handed back to us (its only upstream
        # is this service): the internet has no such name.
        log("dns", transport, client, what, "NXDOMAIN")
        return reply(message, question, 3)

    def relay(self, message, transport):
        """Ask Docker's embedded resolver (inside this container) and return its answer as is."""
        qid = message[:2]
        try:
            if transport == "tcp":
                with socket.create_connection((self.forward, 53), timeout=FORWARD_TIMEOUT) as sock:
                    sock.sendall(struct.pack("!H", len(message)) + message)
                    size = struct.unpack("!H", recv_exact(sock, 2))[0]
                    answer = recv_exact(sock, size)
                    return answer if answer[:2] == qid else None
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                sock.settimeout(FORWARD_TIMEOUT)
                for _attempt in range(2):
                    sock.sendto(message, (self.forward, 53))
                    try:
                        while True:
                            answer, _peer = sock.recvfrom(65535)
                            if answer[:2] == qid:
                                return answer
                    except socket.timeout:
                        continue
        except (OSError, ValueError):
            return None
        return None


def recv_exact(sock, size):
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ValueError("connection closed")
        data += chunk
    return data


def serve_udp(dns, sock):
    while True:
        try:
            message, peer = sock.recvfrom(65535)
        except OSError:
            continue
        threading.Thread(target=udp_one, args=(dns, sock, message, peer), daemon=True).start()


def udp_one(dns, sock, message, peer):
    answer = dns.answer(message, peer[0], "udp")
    if answer is not None:
        try:
            sock.sendto(answer, peer)
        except OSError:
            pass


class DNSOverTCP(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    dns = None


class DNSOverTCPHandler(socketserver.BaseRequestHandler):
    def handle(self):
        self.request.settimeout(10)
        while True:
            try:
                size = struct.unpack("!H", recv_exact(self.request, 2))[0]
                message = recv_exact(self.request, size)
            except (OSError, ValueError, struct.error):
                return
            answer = self.server.dns.answer(message, self.client_address[0], "tcp")
            if answer is None:
                return
            try:
                self.request.sendall(struct.pack("!H", len(answer)) + answer)
            except OSError:
                return


# ---------------------------------------------------------------- HTTP and HTTPS

class WebServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    www = None
    scheme = "http"

    def handle_error(self, request, client_address):
        log(self.scheme, client_address[0], "error:", sys.exc_info()[1])


class StaticHandler(http.server.BaseHTTPRequestHandler):
    server_version = "lab-internet/1"
    sys_version = ""
    timeout = 30

    def handle(self):
        if isinstance(self.connection, ssl.SSLSocket):
            try:
                self.connection.do_handshake()
            except (OSError, ssl.SSLError) as exc:
                log(self.server.scheme, self.client_address[0], "TLS handshake failed:", exc)
                return
        try:
            super().handle()
        except (OSError, ssl.SSLError):
            pass

    def host(self):
        headers = getattr(self, "headers", None)
        host = ((headers.get("Host") if headers else None) or "").strip().lower()
        if host.startswith("["):
            host = host.split("]", 1)[0] + "]"
        else:
            host = host.rsplit(":", 1)[0] if ":" in host else host
        if not host and isinstance(self.connection, ssl.SSLSocket):
            host = (getattr(self.connection, "lab_server_name", None) or "").lower()
        return host.rstrip(".")

    def find(self, host):
        """The file to serve for this request, or None."""
        if not host or "/" in host or host.startswith("."):
            return None
        path = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path)
        parts = [part for part in posixpath.normpath("/" + path).split("/") if part]
        if any(part in (".", "..") for part in parts):
            return None
        root = os.path.realpath(self.server.www)
        candidate = os.path.realpath(os.path.join(root, host, *parts))
        if not candidate.startswith(root + os.sep):
            return None
        if os.path.isdir(candidate):
            candidate = os.path.join(candidate, "index.html")
        return candidate if os.path.isfile(candidate) else None

    def respond(self, body_wanted):
        host = self.host()
        path = self.find(host)
        if path is None:
            self.send_plain(404, b"404 Not Found\n", body_wanted)
            return
        with open(path, "rb") as handle:
            body = handle.read()
        modified = int(os.stat(path).st_mtime)
        # Validators as a static web server sends them (raw.githubusercontent.com sends an ETag,
        # which Pi-hole's gravity stores and sends back; older servers answer If-Modified-Since).
        etag = '"%s"' % hashlib.sha256(body).hexdigest()[:32]
        last_modified = email.utils.formatdate(modified, usegmt=True)
        if self.not_modified(etag, modified):
            self.send_response(304)
            self.send_header("ETag", etag)
            self.send_header("Last-Modified", last_modified)
            self.end_headers()
            return
        self.send_response(200)
        ctype = "text/html; charset=utf-8" if path.endswith(".html") else "text/plain; charset=utf-8"
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("ETag", etag)
        self.send_header("Last-Modified", last_modified)
        self.end_headers()
        if body_wanted:
            self.wfile.write(body)

    def not_modified(self, etag, modified):
        """If-None-Match decides when present (RFC 9110, 13.2.2); else If-Modified-Since."""
        match = self.headers.get("If-None-Match")
        if match is not None:
            tags = [tag.strip() for tag in match.split(",")]
            return "*" in tags or etag in [tag[2:] if tag.startswith("W/") else tag for tag in tags]
        since = self.headers.get("If-Modified-Since")
        if since:
            try:
                return int(email.utils.parsedate_to_datetime(since).timestamp()) >= modified
            except (TypeError, ValueError, OverflowError):
                return False
        return False

    def send_plain(self, code, body, body_wanted):
        self.send_response(code)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body_wanted:
            self.wfile.write(body)

    def do_GET(self):  # noqa: N802 (http.server's naming)
        self.respond(True)

    def do_HEAD(self):  # noqa: N802
        self.respond(False)

    def log_request(self, code="-", size="-"):
        code = getattr(code, "value", code)
        log(self.server.scheme, self.client_address[0], self.command, (self.host() or "-") + self.path, code)

    def log_error(self, format, *args):  # pylint: disable=redefined-builtin
        log(self.server.scheme, self.client_address[0], "error:", format % args)


def tls_context(cert, key):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)

    def remember_name(sock, server_name, _context):
        sock.lab_server_name = server_name

    context.sni_callback = remember_name
    return context


# ---------------------------------------------------------------- main

def main(argv=None):
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--address", required=True, help="this service's address: every zone name answers it")
    parser.add_argument("--zone", default=os.path.join(here, "zone.txt"))
    parser.add_argument("--www", default=os.path.join(here, "www"))
    parser.add_argument("--cert", help="server certificate (PEM); without it, no HTTPS")
    parser.add_argument("--key", help="server key (PEM)")
    parser.add_argument("--forward", default="127.0.0.11", help="Docker's embedded resolver, for dotless names")
    parser.add_argument("--bind", default="0.0.0.0")
    parser.add_argument("--dns-port", type=int, default=53)
    parser.add_argument("--http-port", type=int, default=80)
    parser.add_argument("--https-port", type=int, default=443)
    args = parser.parse_args(argv)

    zone = Zone(read_zone(args.zone), args.address)
    dns = DNS(zone, args.forward, {ipaddress.ip_address(args.address)})

    # Bind everything first, so that once DNS answers, HTTP and HTTPS accept connections too.
    servers = []
    web = WebServer((args.bind, args.http_port), StaticHandler)
    web.www = args.www
    servers.append(web)
    if args.cert:
        secure = WebServer((args.bind, args.https_port), StaticHandler, bind_and_activate=False)
        secure.socket = tls_context(args.cert, args.key or args.cert).wrap_socket(
            secure.socket, server_side=True, do_handshake_on_connect=False)
        secure.server_bind()
        secure.server_activate()
        secure.www = args.www
        secure.scheme = "https"
        servers.append(secure)
    tcp = DNSOverTCP((args.bind, args.dns_port), DNSOverTCPHandler)
    tcp.dns = dns
    servers.append(tcp)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind((args.bind, args.dns_port))

    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))  # PID 1 in its container
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    log("internet: %d names at %s; dns %d/udp+tcp, http %d%s; dotless names to %s" % (
        len(zone.names), zone.address, args.dns_port, args.http_port,
        ", https %d" % args.https_port if args.cert else "", args.forward))
    serve_udp(dns, udp)


if __name__ == "__main__":
    main()
