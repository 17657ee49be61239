"""Unit tests of homelab.photon's OVA and OVF readers (plugins/module_utils/_ovasource.py).

Real files in a temporary directory: tar archives written by Python's tarfile, read back through
the module's own one-pass readers, from a regular file (the mmap hashing path) and as a stream
(the piped path a URL takes)."""

import hashlib
import io
import re
import tarfile

import pytest

from ansible_collections.homelab.photon.plugins.module_utils import _ovasource as s  # noqa: E402
from ansible_collections.homelab.photon.plugins.module_utils._ova import OvaError  # noqa: E402

DISK = bytes(range(256)) * 12289  # about 3 MiB, not a multiple of the chunk or of 512
MEMBERS = [("photon.ovf", b"<Envelope/>"), ("photon.mf", b"SHA1(photon.ovf)= 00\n"),
           ("photon-disk1.vmdk", DISK)]


def write_tar(path, members, fmt=tarfile.USTAR_FORMAT):
    with tarfile.open(path, mode="w", format=fmt) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


@pytest.fixture(name="ova_path")
def fixture_ova_path(tmp_path):
    return write_tar(str(tmp_path / "photon.ova"), MEMBERS)


def read_all_entries(source, how):
    """[(name, size, bytes read, digests)] of every entry, the disk read as `how` says."""
    out = []
    while True:
        entry = source.next_entry(("sha1", "sha256"))
        if entry is None:
            break
        if how == "chunks":
            data = b"".join(bytes(view) for view in entry.chunks(size=65536, depth=2))
        elif how == "skip":
            entry.skip()
            data = None
        else:
            data = entry.read_all(len(DISK))
        out.append((entry.name, entry.size, data, entry.digests()))
    source.finish()
    return out


def expected_digests(data):
    return {"sha1": hashlib.sha1(data).hexdigest(), "sha256": hashlib.sha256(data).hexdigest()}


@pytest.mark.parametrize("how", ["chunks", "skip", "read_all"])
@pytest.mark.parametrize("local", [True, False], ids=["regular-file", "stream"])
def test_ova_entries_in_order_with_their_digests(ova_path, how, local):
    source = s.OvaSource(ova_path, True, "md5")
    assert source.stream.local is True
    source.stream.local = local  # False: read as from a URL (a second thread reads and hashes)
    try:
        entries = read_all_entries(source, how)
        with open(ova_path, "rb") as f:
            whole = f.read()
        assert source.digest("md5") == hashlib.md5(whole).hexdigest()
    finally:
        source.close()
    assert [(name, size) for name, size, _data, _digests in entries] == [(n, len(d)) for n, d in MEMBERS]
    for (name, _size, data, digests), (_name, member) in zip(entries, MEMBERS):
        assert digests == expected_digests(member), name
        if data is not None:
            assert data == member


def test_long_names_and_directories_give_the_base_name(tmp_path):
    long_name = "sub/" + "d" * 120 + ".vmdk"
    path = write_tar(str(tmp_path / "pax.ova"), [("x.ovf", b"<a/>"), (long_name, b"abc")], tarfile.PAX_FORMAT)
    source = s.OvaSource(path, True, None)
    try:
        assert [e[0] for e in read_all_entries(source, "read_all")] == ["x.ovf", "d" * 120 + ".vmdk"]
    finally:
        source.close()


@pytest.mark.parametrize("local", [True, False], ids=["regular-file", "stream"])
def test_truncated_disk_fails_naming_the_file(tmp_path, ova_path, local):
    cut = str(tmp_path / "cut.ova")
    with open(ova_path, "rb") as f:
        blob = f.read()
    with open(cut, "wb") as f:
        f.write(blob[:len(blob) // 2])
    source = s.OvaSource(cut, True, None)
    source.stream.local = local
    try:
        with pytest.raises(OvaError, match=r"photon-disk1.vmdk ends after \d+ of its %d bytes" % len(DISK)):
            read_all_entries(source, "chunks")
    finally:
        source.close()


def test_missing_end_marker_is_a_truncated_archive(tmp_path):
    path = str(tmp_path / "nomarker.ova")
    with open(write_tar(str(tmp_path / "x.ova"), [("x.ovf", b"<a/>")]), "rb") as f:
        blob = f.read()
    with open(path, "wb") as f:
        f.write(blob[:1024])  # the header and the data, without the two zero blocks
    source = s.OvaSource(path, True, None)
    try:
        with pytest.raises(OvaError, match="without the tar end marker"):
            read_all_entries(source, "read_all")
    finally:
        source.close()


def test_descriptor_limit(ova_path):
    source = s.OvaSource(ova_path, True, None)
    try:
        with pytest.raises(OvaError, match="photon.ovf is 11 bytes, more than the 10 allowed"):
            source.next_entry(()).read_all(10)
    finally:
        source.close()


def test_unreadable_source_is_named(tmp_path):
    missing = str(tmp_path / "none.ova")
    with pytest.raises(OvaError, match="cannot read %s" % re.escape(missing)):
        s.OvaSource(missing, True, None)


def test_ovf_with_its_files_beside_it(tmp_path):
    for name, data in MEMBERS:
        if not name.endswith(".mf"):
            (tmp_path / name).write_bytes(data)
    source = s.OvfSource(str(tmp_path / "photon.ovf"), True, "sha256")
    try:
        first = source.next_entry(())
        assert (first.name, first.read_all(100)) == ("photon.ovf", b"<Envelope/>")
        source.set_files(["photon-disk1.vmdk"])
        rest = read_all_entries(source, "chunks")
        assert source.digest("sha256") == hashlib.sha256(b"<Envelope/>").hexdigest()
    finally:
        source.close()
    assert [(e[0], e[2], e[3]) for e in rest] == [("photon-disk1.vmdk", DISK, expected_digests(DISK))]


def test_ovf_reads_the_manifest_beside_it(tmp_path):
    """A .mf named after the .ovf is read before the disks (so the import can check the sums);
    it was silently skipped once, looked up as '.mf'."""
    for name, data in MEMBERS:
        (tmp_path / name).write_bytes(data)
    source = s.OvfSource(str(tmp_path / "photon.ovf"), True, None)
    try:
        source.next_entry(()).read_all(100)
        source.set_files(["photon-disk1.vmdk"])
        names = [e[0] for e in read_all_entries(source, "chunks")]
    finally:
        source.close()
    assert names == ["photon.mf", "photon-disk1.vmdk"]


def test_ovf_referencing_a_missing_file(tmp_path):
    (tmp_path / "photon.ovf").write_bytes(b"<Envelope/>")
    source = s.OvfSource(str(tmp_path / "photon.ovf"), True, None)
    try:
        source.next_entry(()).read_all(100)
        source.set_files(["photon-disk1.vmdk"])
        with pytest.raises(OvaError, match="cannot read .*photon-disk1.vmdk"):
            source.next_entry(())
    finally:
        source.close()


def test_size_of_a_response_without_content_length():
    class Response(io.BytesIO):
        def getheader(self, name):
            return None

    with pytest.raises(OvaError, match="http://lab/x.vmdk: the server sent no Content-Length"):
        s._size_of(s.Stream(Response(b"x"), "http://lab/x.vmdk"))  # pylint: disable=protected-access


def test_stream_reads_and_hashes_exactly():
    stream = s.Stream(io.BufferedReader(io.BytesIO(DISK)), "x", ["sha1"])
    assert stream.read_exact(1000) == DISK[:1000]
    buf = memoryview(bytearray(5000))
    assert stream.readinto(buf) == 5000 and bytes(buf) == DISK[1000:6000]
    stream.drain()
    assert stream.digest("sha1") == hashlib.sha1(DISK).hexdigest()
