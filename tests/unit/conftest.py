"""Unit tests import the collection as ansible_collections.homelab.photon, through the link tree
that `make collection` lays under tests/output/collections, and the lab's helpers from tests/lab."""

import os
import socket
import struct
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
for _path in (os.path.join(ROOT, "tests", "output", "collections"), os.path.join(ROOT, "tests", "lab")):
    if _path not in sys.path:
        sys.path.insert(0, _path)


@pytest.fixture
def a_record_reply():
    """A function: the DNS reply (bytes) to QUERY with one A record ADDRESS for whatever was asked, for the
    small responders on loopback of the unit tests."""
    def reply(query, address):
        end = 12
        while query[end]:
            end += query[end] + 1
        end += 5
        header = struct.pack("!HHHHHH", struct.unpack("!H", query[:2])[0], 0x8580, 1, 1, 0, 0)
        return header + query[12:end] + b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 5, 4) + socket.inet_aton(address)
    return reply
