"""Unit tests of the DNS query helpers (plugins/module_utils/_dnsquery.py)."""

import struct

import pytest
from hypothesis import given, strategies as st

from ansible_collections.homelab.photon.plugins.module_utils import _dnsquery as dq  # noqa: E402


def answer_for(query, records, rcode=0, flags=0x8180, compress=True):
    """An answer to query (bytes) carrying records [(type, rdata bytes)] for the question's name."""
    qend = len(query)
    header = struct.pack("!HHHHHH", struct.unpack("!H", query[:2])[0], flags | rcode, 1, len(records), 0, 0)
    body = query[12:qend]
    name = b"\xc0\x0c" if compress else query[12:qend - 4]
    for rtype, rdata in records:
        body += name + struct.pack("!HHIH", rtype, 1, 60, len(rdata)) + rdata
    return header + body


def test_build_query_layout():
    query = dq.build_query(0x1234, "pi.hole")
    assert query[:12] == struct.pack("!HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0)
    assert query[12:] == b"\x02pi\x04hole\x00" + struct.pack("!HH", 1, 1)


def test_build_query_trailing_dot_and_type():
    assert dq.build_query(1, "pi.hole.", "AAAA") == dq.build_query(1, "pi.hole", "AAAA")
    assert dq.build_query(1, "pi.hole", "AAAA")[-4:] == struct.pack("!HH", 28, 1)


@pytest.mark.parametrize("name, fragment", [
    ("", "empty"),
    ("a..b", "empty label"),
    ("x" * 64 + ".home", "longer than 63"),
    (".".join(["abcdefghij"] * 24), "longer than 253"),
    ("caf\u00e9.home", "not ASCII"),
])
def test_validate_name_rejects(name, fragment):
    with pytest.raises(dq.DNSError, match=fragment):
        dq.validate_name(name)


def test_unsupported_type():
    with pytest.raises(dq.DNSError, match="unsupported"):
        dq.build_query(1, "pi.hole", "SRV")


def test_parse_a_answer_with_compression():
    query = dq.build_query(7, "pi.hole")
    result = dq.parse_response(answer_for(query, [(1, bytes([172, 30, 99, 5]))]), 7)
    assert result["rcode_name"] == "NOERROR"
    assert result["question"] == {"name": "pi.hole", "type": "A"}
    assert result["answers"] == [{"name": "pi.hole", "type": "A", "ttl": 60, "data": "172.30.99.5"}]
    assert dq.addresses(result, "A") == ["172.30.99.5"]


def test_parse_uncompressed_aaaa_and_cname():
    query = dq.build_query(9, "nas.home.arpa", "AAAA")
    target = b"\x03box\xc0\x10"  # box.home.arpa, pointing into the question name
    records = [(5, target), (28, bytes(15) + b"\x01")]
    result = dq.parse_response(answer_for(query, records, compress=False), 9)
    assert [a["type"] for a in result["answers"]] == ["CNAME", "AAAA"]
    assert result["answers"][0]["data"] == "box.home.arpa"
    assert dq.addresses(result, "AAAA") == ["::1"]
    assert dq.addresses(result, "A") == []


def test_parse_nxdomain_and_flags():
    query = dq.build_query(3, "nothing.invalid")
    result = dq.parse_response(answer_for(query, [], rcode=3, flags=0x8580), 3)
    assert result["rcode_name"] == "NXDOMAIN"
    assert result["authoritative"] is True
    assert result["answers"] == []


def test_parse_txt_and_mx():
    query = dq.build_query(4, "home.arpa", "TXT")
    result = dq.parse_response(answer_for(query, [(16, b"\x05hello\x06 world"), (15, b"\x00\x0a\xc0\x0c")]), 4)
    assert result["answers"][0]["data"] == "hello world"
    assert result["answers"][1]["data"] == "10 home.arpa"


def test_parse_rejects_wrong_id_query_and_short():
    query = dq.build_query(5, "pi.hole")
    with pytest.raises(dq.DNSError, match="does not match"):
        dq.parse_response(answer_for(query, []), 6)
    with pytest.raises(dq.DNSError, match="is a query"):
        dq.parse_response(query, 5)
    with pytest.raises(dq.DNSError, match="shorter"):
        dq.parse_response(b"\x00\x05\x81", 5)


def test_parse_rejects_truncated_record_and_pointer_loop():
    query = dq.build_query(5, "pi.hole")
    full = answer_for(query, [(1, bytes([1, 2, 3, 4]))])
    with pytest.raises(dq.DNSError):
        dq.parse_response(full[:-2], 5)
    loop = struct.pack("!HHHHHH", 5, 0x8180, 1, 0, 0, 0) + b"\xc0\x0c" + struct.pack("!HH", 1, 1)
    with pytest.raises(dq.DNSError, match="pointer"):
        dq.parse_response(loop, 5)


def test_tcp_frame():
    assert dq.tcp_frame(b"abc") == b"\x00\x03abc"


LABEL = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=63)


@given(labels=st.lists(LABEL, min_size=1, max_size=4), qid=st.integers(0, 0xFFFF),
       ip=st.tuples(*[st.integers(0, 255)] * 4))
def test_round_trip(labels, qid, ip):
    name = ".".join(labels)
    query = dq.build_query(qid, name)
    result = dq.parse_response(answer_for(query, [(1, bytes(ip))]), qid)
    assert result["question"]["name"] == name
    assert dq.addresses(result, "A") == [".".join(str(part) for part in ip)]
