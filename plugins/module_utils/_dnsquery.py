# -*- coding: utf-8 -*-
# Copyright: homelab.photon maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Helpers of the dns_query module: build one DNS query and read the answer (RFC 1035), and
exchange() that sends it over UDP or TCP.

Everything but exchange() is pure and unit-tested on its own; exchange() is proven against real
servers (the lab's Pi-hole and its small internet).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import socket
import struct

QTYPES = {"A": 1, "NS": 2, "CNAME": 5, "PTR": 12, "MX": 15, "TXT": 16, "AAAA": 28}
QTYPE_NAMES = dict((value, key) for key, value in QTYPES.items())
RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}
CLASS_IN = 1


class DNSError(ValueError):
    """A name that cannot be asked, or an answer that cannot be read."""


def validate_name(name):
    """Return the name without a trailing dot; raise DNSError when it cannot be put in a query."""
    if not isinstance(name, str) or not name.strip():
        raise DNSError("the name to ask for is empty")
    stripped = name.strip()
    if stripped == ".":
        return ""
    stripped = stripped[:-1] if stripped.endswith(".") else stripped
    labels = stripped.split(".")
    for label in labels:
        if not label:
            raise DNSError("%r has an empty label" % name)
        try:
            raw = label.encode("ascii")
        except UnicodeEncodeError:
            raise DNSError("%r is not ASCII (give the IDNA form, xn--...)" % name)
        if len(raw) > 63:
            raise DNSError("%r has a label longer than 63 characters" % name)
    if len(stripped) > 253:
        raise DNSError("%r is longer than 253 characters" % name)
    return stripped


def encode_name(name):
    out = b""
    if name:
        for label in name.split("."):
            raw = label.encode("ascii")
            out += struct.pack("!B", len(raw)) + raw
    return out + b"\x00"


def build_query(query_id, name, qtype="A", recursion_desired=True):
    """The bytes of a query for one question (class IN)."""
    if qtype not in QTYPES:
        raise DNSError("unsupported query type %r" % qtype)
    if not 0 <= query_id <= 0xFFFF:
        raise DNSError("query id out of range")
    flags = 0x0100 if recursion_desired else 0
    header = struct.pack("!HHHHHH", query_id, flags, 1, 0, 0, 0)
    return header + encode_name(validate_name(name)) + struct.pack("!HH", QTYPES[qtype], CLASS_IN)


def tcp_frame(message):
    """DNS over TCP: the message preceded by its two-byte length."""
    return struct.pack("!H", len(message)) + message


def read_name(message, offset):
    """Read a (possibly compressed) name at offset; return (name, offset after it)."""
    labels = []
    end = None
    jumps = 0
    while True:
        if offset >= len(message):
            raise DNSError("name runs past the end of the message")
        length = message[offset]
        if length & 0xC0 == 0xC0:
            if offset + 1 >= len(message):
                raise DNSError("truncated compression pointer")
            pointer = ((length & 0x3F) << 8) | message[offset + 1]
            if end is None:
                end = offset + 2
            jumps += 1
            if jumps > 32 or pointer >= len(message):
                raise DNSError("bad compression pointer")
            offset = pointer
            continue
        if length & 0xC0:
            raise DNSError("unsupported label type")
        offset += 1
        if length == 0:
            break
        if offset + length > len(message):
            raise DNSError("label runs past the end of the message")
        labels.append(message[offset:offset + length].decode("ascii", "replace"))
        offset += length
    return ".".join(labels), (end if end is not None else offset)


def _rdata(message, rtype, start, length):
    data = message[start:start + length]
    if rtype == 1 and length == 4:
        return str(ipaddress.IPv4Address(data))
    if rtype == 28 and length == 16:
        return str(ipaddress.IPv6Address(data))
    if rtype in (2, 5, 12):
        return read_name(message, start)[0]
    if rtype == 15 and length >= 3:
        return "%d %s" % (struct.unpack("!H", data[:2])[0], read_name(message, start + 2)[0])
    if rtype == 16:
        parts = []
        pos = 0
        while pos < len(data):
            size = data[pos]
            parts.append(data[pos + 1:pos + 1 + size].decode("utf-8", "replace"))
            pos += 1 + size
        return "".join(parts)
    return data.hex()


def parse_response(message, query_id=None):
    """Read an answer. Returns a dict: id, rcode, rcode_name, authoritative, truncated,
    recursion_available, question (name, type) and answers (list of dicts name, type, ttl, data)."""
    if len(message) < 12:
        raise DNSError("answer shorter than a DNS header (%d bytes)" % len(message))
    qid, flags, qdcount, ancount, _nscount, _arcount = struct.unpack("!HHHHHH", message[:12])
    if not flags & 0x8000:
        raise DNSError("the message is a query, not an answer")
    if query_id is not None and qid != query_id:
        raise DNSError("answer id %d does not match query id %d" % (qid, query_id))
    offset = 12
    question = None
    for _index in range(qdcount):
        name, offset = read_name(message, offset)
        if offset + 4 > len(message):
            raise DNSError("truncated question")
        qtype, _qclass = struct.unpack("!HH", message[offset:offset + 4])
        offset += 4
        if question is None:
            question = {"name": name, "type": QTYPE_NAMES.get(qtype, str(qtype))}
    answers = []
    for _index in range(ancount):
        name, offset = read_name(message, offset)
        if offset + 10 > len(message):
            raise DNSError("truncated resource record")
        rtype, rclass, ttl, rdlength = struct.unpack("!HHIH", message[offset:offset + 10])
        offset += 10
        if offset + rdlength > len(message):
            raise DNSError("resource record data runs past the end of the message")
        if rclass == CLASS_IN:
            answers.append({"name": name, "type": QTYPE_NAMES.get(rtype, str(rtype)), "ttl": ttl,
                            "data": _rdata(message, rtype, offset, rdlength)})
        offset += rdlength
    rcode = flags & 0x000F
    return {
        "id": qid,
        "rcode": rcode,
        "rcode_name": RCODES.get(rcode, str(rcode)),
        "authoritative": bool(flags & 0x0400),
        "truncated": bool(flags & 0x0200),
        "recursion_available": bool(flags & 0x0080),
        "question": question,
        "answers": answers,
    }


def addresses(result, qtype):
    """The data of the answers of the asked type (for A/AAAA: the addresses)."""
    return [answer["data"] for answer in result["answers"] if answer["type"] == qtype]


def _recv_exact(sock, size):
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise socket.error("connection closed after %d of %d bytes" % (len(data), size))
        data += chunk
    return data


def exchange(server, port, protocol, message, timeout):
    """Send MESSAGE to SERVER:PORT over udp or tcp and return the answer's bytes (socket errors raise)."""
    family = socket.AF_INET6 if ipaddress.ip_address(server).version == 6 else socket.AF_INET
    if protocol == "tcp":
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.settimeout(timeout)
            sock.connect((server, port))
            sock.sendall(tcp_frame(message))
            size = struct.unpack("!H", _recv_exact(sock, 2))[0]
            return _recv_exact(sock, size)
        finally:
            sock.close()
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        sock.settimeout(timeout)
        sock.connect((server, port))
        sock.send(message)
        return sock.recv(65535)
    finally:
        sock.close()
