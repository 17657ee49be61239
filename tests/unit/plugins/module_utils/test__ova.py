"""Unit tests of homelab.photon's private OVA logic (plugins/module_utils/_ova.py)."""

import base64
import gzip
import hashlib
import io
import tarfile

import pytest
from hypothesis import given, strategies as st

from ansible_collections.homelab.photon.plugins.module_utils import _ova as o  # noqa: E402
import ova as generator  # noqa: E402  (tests/lab/ova.py: the lab's OVF template)


def _tar_bytes(members, fmt=tarfile.USTAR_FORMAT):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _walk(blob):
    """Members of a tar blob through the module's parser: [(name, data)]."""
    out, pos, long_name = [], 0, None
    while pos < len(blob):
        header = o.parse_tar_header(blob[pos:pos + 512])
        pos += 512
        if header is None:
            break
        data = blob[pos:pos + header["size"]]
        pos += o.padded(header["size"])
        if header["type"] == "x":
            long_name = o.parse_pax(data).get("path")
            continue
        out.append((long_name or header["name"], data))
        long_name = None
    return out


def test_tar_headers_round_trip_ustar_and_pax():
    members = [("a.ovf", b"<x/>"), ("disk.vmdk", b"\1" * 1500), ("e.mf", b"")]
    assert _walk(_tar_bytes(members)) == members
    long = "d" * 120 + ".vmdk"
    assert _walk(_tar_bytes([(long, b"abc")], tarfile.PAX_FORMAT)) == [(long, b"abc")]


@given(st.lists(st.tuples(st.text(st.characters(min_codepoint=97, max_codepoint=122), min_size=1,
                                  max_size=40), st.binary(max_size=2000)), max_size=4,
                unique_by=lambda m: m[0]))
def test_tar_parser_matches_tarfile(members):
    assert _walk(_tar_bytes(members)) == members


def test_tar_header_errors():
    assert o.parse_tar_header(b"\0" * 512) is None
    with pytest.raises(o.OvaError, match="not a tar archive"):
        o.parse_tar_header(b"x" * 512)
    good = bytearray(_tar_bytes([("a", b"1")])[:512])
    good[0] = ord("b")  # the name changed, the checksum did not
    with pytest.raises(o.OvaError, match="checksum mismatch"):
        o.parse_tar_header(bytes(good))
    with pytest.raises(o.OvaError, match="truncated tar header"):
        o.parse_tar_header(b"\0" * 100)


def test_tar_base256_size():
    field = bytes([0x80]) + (5 * 2 ** 32).to_bytes(11, "big")
    assert o._tar_number(field) == 5 * 2 ** 32
    assert o._tar_number(b"0000644\0") == 0o644


def test_parse_checksum():
    assert o.parse_checksum(None) is None
    assert o.parse_checksum("SHA1:" + "A" * 40) == ("sha1", "a" * 40)
    assert o.parse_checksum("md5:" + "0" * 32) == ("md5", "0" * 32)
    for bad in ("abc", "crc32:1234", "sha1:123", "sha256:" + "g" * 64):
        with pytest.raises(o.OvaError):
            o.parse_checksum(bad)


def test_parse_manifest():
    text = "SHA1(photon.ovf)= %s\nSHA256(photon-disk1.vmdk) = %s\n\n" % ("a" * 40, "B" * 64)
    assert o.parse_manifest(text) == {"photon.ovf": ("sha1", "a" * 40),
                                      "photon-disk1.vmdk": ("sha256", "b" * 64)}
    with pytest.raises(o.OvaError, match="line 1"):
        o.parse_manifest("photon.ovf abc")
    with pytest.raises(o.OvaError, match="40 hex digits"):
        o.parse_manifest("SHA1(x)= abcd")


def _descriptor(**kw):
    return generator.ovf_descriptor("photon", "photon-disk1.vmdk", 123456, 16, **kw)


def test_parse_ovf_of_the_photon_like_descriptor():
    props = [{"key": "ip", "value": "1.2.3.4"}, {"key": "build", "value": "5", "user_configurable": False}]
    ovf = o.parse_ovf(_descriptor(properties=props))
    assert ovf["name"] == "photon"
    assert ovf["vmx"] == ["vmx-11"]
    assert ovf["guest_id"] == "vmwarePhoton64Guest"
    assert ovf["files"] == [{"id": "file1", "href": "photon-disk1.vmdk", "size": 123456}]
    assert ovf["disks"] == [{"id": "vmdisk1", "file_ref": "file1", "capacity": 16 * 2 ** 20}]
    assert ovf["networks"] == ["None"]
    assert ovf["nics"] == [{"connection": "None", "subtype": "VmxNet3"}]
    assert ovf["properties"] == {
        "ip": {"value": "1.2.3.4", "type": "string", "user_configurable": True},
        "build": {"value": "5", "type": "string", "user_configurable": False}}


def test_parse_ovf_errors():
    with pytest.raises(o.OvaError, match="not valid XML"):
        o.parse_ovf("<Envelope")
    with pytest.raises(o.OvaError, match="not an OVF Envelope"):
        o.parse_ovf("<a/>")


def test_href_must_stay_beside_the_descriptor():
    assert o.check_href("photon-disk1.vmdk") == "photon-disk1.vmdk"
    for bad in ("../etc/passwd", "/etc/passwd", "http://x/disk.vmdk", "a/../../b", "", None, "a\\..\\b"):
        with pytest.raises(o.OvaError, match="only files beside the descriptor"):
            o.check_href(bad)
    with pytest.raises(o.OvaError, match="'../x.vmdk'"):
        o.parse_ovf(generator.ovf_descriptor("p", "../x.vmdk", 1, 1))


def test_capacity_units():
    assert o.capacity_bytes("8", "byte * 2^30") == 8 * 2 ** 30
    assert o.capacity_bytes("1024", None) == 1024
    assert o.capacity_bytes("3", "byte * 1024") == 3072
    with pytest.raises(o.OvaError):
        o.capacity_bytes("1", "kilobyte")


def test_check_hardware():
    assert o.check_hardware(["vmx-11"], ["vmx-13"], "esx1", "6.5.0") is None
    assert o.check_hardware(["vmx-13"], ["vmx-13"], "esx1", "6.5.0") is None
    msg = o.check_hardware(["vmx-14"], ["vmx-13"], "esx1", "6.5.0")
    assert msg == ("the OVF asks for virtual hardware vmx-14 (needs ESXi 6.7 or later); host esx1 "
                   "(ESXi 6.5.0) supports up to vmx-13")
    assert "needs ESXi 7.0.1" in o.check_hardware(["vmx-18"], ["vmx-13", "vmx-17"], "h", "7.0.0")
    assert o.check_hardware(["vmx-14", "vmx-11"], ["vmx-13"], "h", "6.5") is None  # one fits
    assert o.check_hardware([], ["vmx-13"], "h", "6.5") is None


def test_map_networks():
    assert o.map_networks(["None"], {"None": "VM Network"}, ["VM Network"]) == {"None": "VM Network"}
    assert o.map_networks(["VM Network"], {}, ["VM Network"]) == {"VM Network": "VM Network"}
    with pytest.raises(o.OvaError, match=r"OVF network 'None' has no mapping .*available: VM Network"):
        o.map_networks(["None"], {}, ["VM Network"])
    with pytest.raises(o.OvaError, match=r"maps OVF network 'None' to 'lan'.*available: VM Network"):
        o.map_networks(["None"], {"None": "lan"}, ["VM Network"])
    with pytest.raises(o.OvaError, match="'Other', which the OVF does not have"):
        o.map_networks(["None"], {"None": "VM Network", "Other": "VM Network"}, ["VM Network"])


def test_check_properties():
    props = {"ip": {"user_configurable": True}, "build": {"user_configurable": False}}
    assert o.check_properties(props, {"ip": "10.0.0.1"}) == [("ip", "10.0.0.1")]
    assert o.check_properties(props, {"ip": True}) == [("ip", "True")]
    with pytest.raises(o.OvaError, match="'build' is not user-configurable"):
        o.check_properties(props, {"build": "6"})
    with pytest.raises(o.OvaError, match=r"'x' is not in the OVF \(its properties: build, ip\)"):
        o.check_properties(props, {"x": "1"})


def test_space():
    disks = [{"capacity": 10 * 2 ** 30}]
    files = [{"size": 200 * 2 ** 20}]
    assert o.required_space(disks, files, "thin") == 200 * 2 ** 20
    assert o.required_space(disks, files, "thick") == 10 * 2 ** 30
    assert o.check_space(100, 200, "ds") is None
    assert o.check_space(3 * 2 ** 20, 2 ** 20, "ds1") == "datastore ds1 has 1 MiB free; the import needs 3 MiB"


def test_guestinfo_extra_config():
    entries = dict(o.guestinfo_extra_config({"guestinfo.hostname": "p1", "role": 5, "on": True},
                                            {"userdata": "#cloud-config\n", "metadata": None}))
    assert entries["guestinfo.hostname"] == "p1"
    assert entries["guestinfo.role"] == "5"
    assert entries["guestinfo.on"] == "true"
    assert entries["guestinfo.userdata.encoding"] == "gzip+base64"
    assert gzip.decompress(base64.b64decode(entries["guestinfo.userdata"])) == b"#cloud-config\n"
    assert "guestinfo.metadata" not in entries
    # reproducible: the same text gives the same value (gzip mtime fixed)
    assert o.gzip_base64("x") == o.gzip_base64("x")
    with pytest.raises(o.OvaError, match="give it in cloud_init"):
        o.guestinfo_extra_config({"userdata": "x"}, None)
    with pytest.raises(o.OvaError, match="plain text"):
        o.guestinfo_extra_config({"a": {"b": 1}}, None)
    with pytest.raises(o.OvaError, match="use letters"):
        o.guestinfo_extra_config({"a b": "1"}, None)


def test_device_url():
    url = "https://*/nfc/52a1/disk-0.vmdk"
    assert o.device_url(url, "esx.lan", 443) == "https://esx.lan:443/nfc/52a1/disk-0.vmdk"
    assert o.device_url(url, "127.0.0.1", 8989) == "https://127.0.0.1:8989/nfc/52a1/disk-0.vmdk"
    assert o.device_url(url, "fe80::1", 443) == "https://[fe80::1]:443/nfc/52a1/disk-0.vmdk"
    assert o.device_url("https://10.0.0.2/nfc/x", "vc", 443) == "https://10.0.0.2/nfc/x"
    with pytest.raises(o.OvaError):
        o.device_url("ftp:/x", "h", 1)


def test_transfer_stats():
    assert o.transfer_stats(10 ** 9, 2.0) == {"bytes": 10 ** 9, "seconds": 2.0, "mb_per_s": 500.0}
    assert o.transfer_stats(0, 0) == {"bytes": 0, "seconds": 0, "mb_per_s": 0.0}


def test_new_hashers():
    h = o.new_hashers(["sha256", "sha1", "sha1"])
    assert sorted(h) == ["sha1", "sha256"]
    h["sha1"].update(b"abc")
    assert h["sha1"].hexdigest() == hashlib.sha1(b"abc").hexdigest()


# --- hash_span: hashing a span of a local file through mmap windows ---------------------------

@pytest.fixture
def blob_file(tmp_path):
    data = bytes(range(256)) * 4099 + b"tail"  # not a multiple of the page size
    path = tmp_path / "blob"
    path.write_bytes(data)
    with open(path, "rb") as f:
        yield f.fileno(), data


@pytest.mark.parametrize("start,length,window", [
    (0, 4096, 4096), (1, 10000, 4096), (4095, 300000, 8192), (5000, 0, 4096), (12345, 700000, 65536),
])
def test_hash_span_equals_hashing_the_slice(blob_file, start, length, window):
    fd, data = blob_file
    length = min(length, len(data) - start)
    hashers = [hashlib.sha1(), hashlib.md5()]
    o.hash_span(fd, start, length, hashers, window=window)
    assert [h.hexdigest() for h in hashers] == [hashlib.sha1(data[start:start + length]).hexdigest(),
                                                hashlib.md5(data[start:start + length]).hexdigest()]


def test_hash_span_reads_when_the_file_cannot_be_mapped(blob_file, monkeypatch):
    fd, data = blob_file

    def refuse(*args, **kwargs):
        raise OSError(19, "No such device")

    monkeypatch.setattr(o.mmap, "mmap", refuse)
    h = hashlib.sha256()
    o.hash_span(fd, 100, 50000, [h], window=4096)
    assert h.hexdigest() == hashlib.sha256(data[100:50100]).hexdigest()
    with pytest.raises(o.OvaError, match="ends at"):
        o.hash_span(fd, len(data) - 10, 20, [hashlib.sha1()], window=4096)


def test_hash_span_stops_when_asked(blob_file):
    import threading

    fd, data = blob_file
    stop = threading.Event()
    stop.set()
    h = hashlib.sha1()
    o.hash_span(fd, 0, len(data), [h], stop=stop, window=4096)
    assert h.hexdigest() == hashlib.sha1(b"").hexdigest()
