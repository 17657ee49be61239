# -*- coding: utf-8 -*-
# Copyright: homelab.photon contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The files of an OVA or OVF, read once and in order, for homelab.photon.ova_import (private).

An OVA is read as a tar stream (`OvaSource`), an .ovf with the files beside it (a directory or
a URL) one file after the other (`OvfSource`). Every byte is hashed as it is read: per file for
the manifest (`Entry`), and for the whole source file for the optional checksum (`Stream`).
A disk's bytes are handed out as reused memoryview chunks (`Entry.chunks`), hashed by a second
thread. Nothing here talks to vSphere; the unit tests read real tar files through these classes.
"""

from __future__ import annotations

import os
import queue
import stat
import threading
from urllib.parse import urljoin, urlsplit

from ansible_collections.homelab.photon.plugins.module_utils._ova import (
    BLOCK, OvaError, hash_span, new_hashers, padded, parse_pax, parse_tar_header,
)

CHUNK = 1024 * 1024
PIPELINE_DEPTH = 4  # chunks read and hashed ahead of the one being sent: memory stays flat


class Stream:
    """A sequential reader of one source file (local or HTTP) that hashes every byte it reads."""

    def __init__(self, fileobj, name, algos=(), local=False):
        self.fileobj = fileobj
        self.name = name
        self.hashers = new_hashers(algos)
        self.local = local  # a regular local file: spans of it can be hashed through mmap

    def read(self, size):
        data = self.fileobj.read(size)
        if data:
            for h in self.hashers.values():
                h.update(data)
        return data

    def readinto(self, view):
        """Read into a memoryview (no new buffer per chunk); returns the count, 0 at the end."""
        n = self.fileobj.readinto(view)
        if n:
            part = view[:n]
            for h in self.hashers.values():
                h.update(part)
        return n or 0

    def read_exact(self, size):
        data = self.read(size)
        while len(data) < size:
            more = self.read(size - len(data))
            if not more:
                break
            data += more
        return data

    def drain(self):
        while self.read(CHUNK):
            pass

    def digest(self, algo):
        return self.hashers[algo].hexdigest()

    def close(self):
        self.fileobj.close()


class Entry:
    """One file of the package, read once and in order. `read` hashes with the given algorithms."""

    def __init__(self, name, size, stream, algos):
        self.name = name
        self.size = size
        self._stream = stream
        self._reader = stream.read
        self.remaining = size
        self.hashers = new_hashers(algos)

    def read(self, size):
        if self.remaining <= 0:
            return b""
        data = self._reader(min(size, self.remaining))
        if not data:
            raise self._truncated(0)
        self.remaining -= len(data)
        for h in self.hashers.values():
            h.update(data)
        return data

    def read_all(self, limit):
        if self.size > limit:
            raise OvaError("%s is %d bytes, more than the %d allowed" % (self.name, self.size, limit))
        parts = []
        while self.remaining > 0:
            parts.append(self.read(self.remaining))
        return b"".join(parts)

    def skip(self):
        span = self._local_span()
        if span is not None:
            hash_span(span[0], span[1], self.remaining, self._all_hashers())
            self._stream.fileobj.seek(span[1] + self.remaining)
            self.remaining = 0
        while self.remaining > 0:
            self.read(CHUNK)

    def digests(self):
        return dict((a, h.hexdigest()) for a, h in self.hashers.items())

    def read_into(self, view):
        """Fill view (a memoryview) from the entry; returns the count. Truncation is an error."""
        want = min(len(view), self.remaining)
        got = 0
        while got < want:
            n = self._stream.readinto(view[got:want])
            if not n:
                raise self._truncated(got)
            got += n
        part = view[:got]
        for h in self.hashers.values():
            h.update(part)
        self.remaining -= got
        return got

    def _truncated(self, got):
        return OvaError("%s ends after %d of its %d bytes (truncated download or archive)"
                        % (self.name, self.size - self.remaining + got, self.size))

    def _local_span(self):
        """(fd, offset) of the rest of the entry when it lies in a regular local file, else None.

        A span shorter than the entry is a truncated archive: that fails before any byte of it
        is sent.
        """
        if not self._stream.local or self.remaining <= 0:
            return None
        fileobj = self._stream.fileobj
        fd = fileobj.fileno()
        start = fileobj.tell()  # the buffered reader's logical position
        have = max(os.fstat(fd).st_size - start, 0)
        if have < self.remaining:
            raise self._truncated(have)
        return fd, start

    def _all_hashers(self):
        """The entry's hashers (manifest), then the whole file's (checksum)."""
        return list(self.hashers.values()) + list(self._stream.hashers.values())

    def chunks(self, size=CHUNK, depth=PIPELINE_DEPTH):
        """Yield the rest of the entry as memoryviews; every byte is hashed by a second thread.

        From a local file the sending thread only reads, and the second thread hashes the same
        bytes on its own through mmap windows (no copy, no hand-off per chunk). From a stream
        (a URL) the second thread reads and hashes, and hands the chunks over.
        """
        span = self._local_span()
        if span is not None:
            return self._chunks_local(span, size)
        return self._chunks_piped(size, depth)

    def _chunks_local(self, span, size):
        fd, start = span
        length = self.remaining
        stop = threading.Event()
        failure = []

        def digest():
            try:
                hash_span(fd, start, length, self._all_hashers(), stop)
            except BaseException as exc:  # pylint: disable=broad-except
                failure.append(exc)

        worker = threading.Thread(target=digest, name="ova-hash", daemon=True)
        worker.start()
        buf = memoryview(bytearray(size))
        try:
            while self.remaining > 0:
                try:
                    n = self._stream.fileobj.readinto(buf[:min(size, self.remaining)])
                except OSError as exc:
                    raise OvaError("cannot read %s: %s" % (self._stream.name, exc))
                if not n:
                    raise self._truncated(0)
                self.remaining -= n
                yield buf[:n]
        except BaseException:
            stop.set()
            raise
        finally:
            worker.join()
        if failure:
            raise OvaError("cannot read %s: %s" % (self._stream.name, failure[0]))

    def _chunks_piped(self, size, depth):
        """Yield the rest of the entry as memoryviews, read and hashed by a second thread.

        Hashing (the manifest, the checksum) and TLS encryption then run on two cores at once
        (hashlib and ssl release the GIL on large buffers). depth+1 buffers of `size` bytes are
        allocated once and reused, so memory stays flat whatever the disk's size. A yielded view
        is valid until the next one is asked for.
        """
        free = queue.Queue()
        for dummy in range(depth + 1):
            free.put(memoryview(bytearray(size)))
        full = queue.Queue()
        stop = threading.Event()

        def produce():
            try:
                while self.remaining > 0:
                    buf = free.get()
                    if stop.is_set():
                        return
                    n = self.read_into(buf)
                    full.put(buf[:n])
                full.put(None)
            except BaseException as exc:  # pylint: disable=broad-except
                full.put(exc)

        worker = threading.Thread(target=produce, name="ova-reader", daemon=True)
        worker.start()
        try:
            while True:
                item = full.get()
                if item is None:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
                free.put(_base(item))
        finally:
            stop.set()
            free.put(memoryview(bytearray(0)))  # wake the reader if it waits for a buffer
            worker.join()


def _base(view):
    """The full-size buffer a chunk view was cut from (memoryview slices share .obj)."""
    return memoryview(view.obj)


def _open(src, validate_certs, algos):
    if src.startswith(("http://", "https://")):
        from ansible.module_utils.urls import open_url  # only for URLs: a slow import

        try:
            resp = open_url(src, validate_certs=validate_certs, timeout=60)
        except Exception as exc:  # pylint: disable=broad-except
            raise OvaError("cannot download %s: %s" % (src, exc))
        return Stream(resp, src, algos)
    try:
        fileobj = open(src, "rb")  # pylint: disable=consider-using-with
        local = stat.S_ISREG(os.fstat(fileobj.fileno()).st_mode)
    except OSError as exc:
        raise OvaError("cannot read %s: %s" % (src, exc))
    return Stream(fileobj, src, algos, local=local)


class OvaSource:
    """The files of an OVA (a tar), in archive order, read in one pass."""

    def __init__(self, src, validate_certs, checksum_algo):
        self.src = src
        self.stream = _open(src, validate_certs, [checksum_algo] if checksum_algo else [])
        self.current = None
        self.done = False

    def next_entry(self, algos):
        if self.current is not None:
            self.current.skip()
            self.stream.read_exact(padded(self.current.size) - self.current.size)
            self.current = None
        if self.done:
            return None
        long_name = None
        while True:
            block = self.stream.read_exact(BLOCK)
            if not block:
                raise OvaError("%s ends without the tar end marker (truncated archive)" % self.src)
            try:
                header = parse_tar_header(block)
            except OvaError as exc:
                raise OvaError("%s: %s" % (self.src, exc))
            if header is None:
                self.done = True
                return None
            if header["type"] in ("x", "g", "L"):
                data = self.stream.read_exact(padded(header["size"]))[:header["size"]]
                if header["type"] == "x":
                    long_name = parse_pax(data).get("path", long_name)
                elif header["type"] == "L":
                    long_name = data.rstrip(b"\0").decode("utf-8", "replace")
                continue
            name = long_name or header["name"]
            if header["type"] not in ("0", "7"):
                self.stream.read_exact(padded(header["size"]))
                long_name = None
                continue
            self.current = Entry(os.path.basename(name), header["size"], self.stream, algos)
            return self.current

    def finish(self):
        """Read to the end (the whole-file checksum covers every byte)."""
        if self.current is not None:
            self.current.skip()
            self.current = None
        self.stream.drain()

    def digest(self, algo):
        return self.stream.digest(algo)

    def close(self):
        self.stream.close()


class OvfSource:
    """An .ovf with its files beside it (a directory or a URL), read one file after the other."""

    def __init__(self, src, validate_certs, checksum_algo):
        self.src = src
        self.validate_certs = validate_certs
        self.checksum_algo = checksum_algo
        self.name = os.path.basename(urlsplit(src).path) if "://" in src else os.path.basename(src)
        self.queue = [self.name]
        self.first = True
        self.stream = None
        self.ovf_stream = None
        self.current = None

    def set_files(self, names):
        # The manifest is named after the .ovf (the queue is already empty here: the .ovf was read).
        base = os.path.splitext(self.name)[0]
        self.queue = [base + ".mf"] + list(names)
        self.optional = base + ".mf"

    def _location(self, name):
        if "://" in self.src:
            return urljoin(self.src, name)
        return os.path.join(os.path.dirname(self.src), name)

    def next_entry(self, algos):
        if self.current is not None:
            self.current.skip()
            self.current = None
            if self.stream is not self.ovf_stream:
                self.stream.close()
        while self.queue:
            name = self.queue.pop(0)
            location = self._location(name)
            if not self.first and name == getattr(self, "optional", None):
                if "://" not in self.src and not os.path.exists(location):
                    continue
                try:
                    self.stream = _open(location, self.validate_certs, [])
                except OvaError:
                    continue
            else:
                self.stream = _open(location, self.validate_certs,
                                    [self.checksum_algo] if self.first and self.checksum_algo else [])
            size = _size_of(self.stream)
            if self.first:
                self.ovf_stream = self.stream
                self.first = False
            self.current = Entry(name, size, self.stream, algos)
            return self.current
        return None

    def finish(self):
        if self.ovf_stream is not None:
            self.ovf_stream.drain()

    def digest(self, algo):
        return self.ovf_stream.digest(algo)

    def close(self):
        for s in (self.stream, self.ovf_stream):
            if s is not None:
                s.close()


def _size_of(stream):
    f = stream.fileobj
    if hasattr(f, "fileno") and not hasattr(f, "getheader"):
        return os.fstat(f.fileno()).st_size
    length = f.getheader("Content-Length") if hasattr(f, "getheader") else None
    if length is None:
        raise OvaError("%s: the server sent no Content-Length" % stream.name)
    return int(length)
