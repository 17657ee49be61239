"""The dns_query module's socket code against a small DNS responder on loopback (UDP and TCP).

The responder answers from _dnsquery itself; the module's proof against a real DNS server is the
pihole molecule scenario (roles/pihole/molecule/default), which asks the real Pi-hole.
"""

import socket
import struct
import threading

import pytest

from ansible_collections.homelab.photon.plugins.module_utils import _dnsquery as dq  # noqa: E402


@pytest.fixture
def responder(a_record_reply):
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    port = udp.getsockname()[1]
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    tcp.bind(("127.0.0.1", port))
    tcp.listen(1)

    def serve_udp():
        data, addr = udp.recvfrom(512)
        udp.sendto(a_record_reply(data, "10.0.0.7"), addr)

    def serve_tcp():
        conn, _addr = tcp.accept()
        size = struct.unpack("!H", conn.recv(2))[0]
        data = conn.recv(size)
        conn.sendall(dq.tcp_frame(a_record_reply(data, "10.0.0.7")))
        conn.close()

    threads = [threading.Thread(target=serve_udp, daemon=True), threading.Thread(target=serve_tcp, daemon=True)]
    for thread in threads:
        thread.start()
    yield port
    udp.close()
    tcp.close()


@pytest.mark.parametrize("protocol", ["udp", "tcp"])
def test_exchange(responder, protocol):
    query = dq.build_query(42, "nas.home.arpa")
    result = dq.parse_response(dq.exchange("127.0.0.1", responder, protocol, query, 2.0), 42)
    assert dq.addresses(result, "A") == ["10.0.0.7"]
    assert result["authoritative"]


def test_exchange_refused_tcp():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    with pytest.raises(socket.error):
        dq.exchange("127.0.0.1", port, "tcp", dq.build_query(1, "pi.hole"), 1.0)
