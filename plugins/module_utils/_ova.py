# -*- coding: utf-8 -*-
# Copyright: homelab.photon contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure parsing and decision logic of homelab.photon.ova_import (private, unit-tested).

Nothing here talks to vSphere or the network: tar headers, OVF descriptors, manifests,
checksums, hardware versions, network and property checks, guestinfo encoding.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import mmap
import os
import re
import xml.etree.ElementTree as ET

BLOCK = 512

NS = {
    "ovf": "http://schemas.dmtf.org/ovf/envelope/1",
    "rasd": "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData",
    "vssd": "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData",
    "vmw": "http://www.vmware.com/schema/ovf",
}
OVF_NS = "{%s}" % NS["ovf"]

# Oldest ESXi that creates each virtual hardware version (VMware KB 2007240).
VMX_MIN_ESXI = {
    4: "3.5", 7: "4.0", 8: "5.0", 9: "5.1", 10: "5.5", 11: "6.0", 13: "6.5", 14: "6.7",
    15: "6.7.2", 17: "7.0", 18: "7.0.1", 19: "7.0.2", 20: "8.0", 21: "8.0.2",
}

CHECKSUM_ALGORITHMS = {"md5": 32, "sha1": 40, "sha256": 64, "sha512": 128}


class OvaError(Exception):
    """A problem with the source or the options, with a message for the user."""


# --- tar -------------------------------------------------------------------------------------

def _tar_number(field):
    """A numeric tar header field: octal text, or GNU base-256 when the high bit is set."""
    if field and field[0] & 0x80:
        value = 0
        for byte in field[1:]:
            value = (value << 8) | byte
        return value
    text = field.replace(b"\0", b" ").strip()
    try:
        return int(text, 8) if text else 0
    except ValueError:
        raise OvaError("not a tar archive (bad number field %r in a header)" % text[:12])


def parse_tar_header(block):
    """Parse one 512-byte tar header block.

    Returns None for an all-zero block (end of archive), else a dict with name, size and type
    (the typeflag as a one-character string). Raises OvaError on a bad checksum.
    """
    if len(block) != BLOCK:
        raise OvaError("truncated tar header (%d of 512 bytes)" % len(block))
    if block == b"\0" * BLOCK:
        return None
    stored = _tar_number(block[148:156])
    computed = sum(block[:148]) + 8 * 32 + sum(block[156:])
    if stored != computed:
        raise OvaError("not a tar archive (header checksum mismatch)")
    name = block[0:100].split(b"\0", 1)[0]
    prefix = block[345:500].split(b"\0", 1)[0] if block[257:262] == b"ustar" else b""
    if prefix:
        name = prefix + b"/" + name
    typeflag = block[156:157].decode("ascii", "replace") or "0"
    if typeflag == "\0":
        typeflag = "0"
    return {"name": name.decode("utf-8", "replace"), "size": _tar_number(block[124:136]),
            "type": typeflag}


def parse_pax(data):
    """Records of a pax extended header ('x'): dict of keyword -> value."""
    out = {}
    pos = 0
    while pos < len(data):
        space = data.index(b" ", pos)
        length = int(data[pos:space])
        record = data[space + 1:pos + length - 1]
        key, dummy, value = record.partition(b"=")
        out[key.decode("utf-8")] = value.decode("utf-8", "replace")
        pos += length
    return out


def padded(size):
    """Bytes a tar member of `size` occupies (data rounded up to 512)."""
    return (size + BLOCK - 1) // BLOCK * BLOCK


# --- checksums and manifest ------------------------------------------------------------------

def parse_checksum(value):
    """'algo:hex' -> (algo, hex). Raises OvaError for anything else."""
    if value is None:
        return None
    algo, sep, digest = value.strip().partition(":")
    algo = algo.lower()
    digest = digest.strip().lower()
    if not sep or algo not in CHECKSUM_ALGORITHMS:
        raise OvaError("checksum must be md5:HEX, sha1:HEX or sha256:HEX, got %r" % value)
    if len(digest) != CHECKSUM_ALGORITHMS[algo] or not re.fullmatch(r"[0-9a-f]+", digest):
        raise OvaError("checksum %r: a %s digest has %d hex digits"
                       % (value, algo, CHECKSUM_ALGORITHMS[algo]))
    return algo, digest


_MF_LINE = re.compile(r"^\s*(MD5|SHA1|SHA256|SHA512)\s*\((.+)\)\s*=\s*([0-9a-fA-F]+)\s*$")


def parse_manifest(text):
    """An OVF manifest ('SHA1(file)= hex' lines) -> dict file -> (algo, hex)."""
    out = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        m = _MF_LINE.match(line)
        if not m:
            raise OvaError("manifest line %d is not 'ALGO(file)= digest': %r" % (number, line))
        algo = m.group(1).lower()
        digest = m.group(3).lower()
        if len(digest) != CHECKSUM_ALGORITHMS[algo]:
            raise OvaError("manifest line %d: a %s digest has %d hex digits"
                           % (number, algo, CHECKSUM_ALGORITHMS[algo]))
        out[m.group(2)] = (algo, digest)
    return out


def new_hashers(algos):
    return dict((a, hashlib.new(a)) for a in sorted(set(algos)))


HASH_WINDOW = 4 * 1024 * 1024  # bytes of a file mapped at a time by hash_span


def hash_span(fd, start, length, hashers, stop=None, window=HASH_WINDOW):
    """Feed length bytes of the file fd from offset start to every hasher, in order.

    The bytes are read through read-only mmap windows of `window` bytes, each unmapped once
    hashed, so the process maps at most one window of the file at a time whatever its size.
    Where the file cannot be mapped, the bytes are read with pread instead.
    """
    pos, end = start, start + length
    while pos < end:
        if stop is not None and stop.is_set():
            return
        base = pos - pos % mmap.ALLOCATIONGRANULARITY
        span = min(base + window, end) - base
        try:
            mapped = mmap.mmap(fd, span, access=mmap.ACCESS_READ, offset=base)
        except (OSError, ValueError):
            data = os.pread(fd, min(window, end - pos), pos)
            if not data:
                raise OvaError("the file ends at %d, before %d" % (pos, end))
            for h in hashers:
                h.update(data)
            pos += len(data)
            continue
        with mapped, memoryview(mapped) as view, view[pos - base:] as part:
            for h in hashers:
                h.update(part)
        pos = base + span


# --- OVF descriptor --------------------------------------------------------------------------

def _attr(elem, name):
    return elem.get(OVF_NS + name) if elem is not None else None


def _int_or_none(text):
    try:
        return int(text)
    except (TypeError, ValueError):
        return None


def check_href(href):
    """A File href must name a file beside the descriptor: no scheme, no absolute path, no '..'."""
    if not href or "://" in href or href.startswith(("/", "\\")) or ".." in re.split(r"[/\\]", href):
        raise OvaError("the OVF references %r: only files beside the descriptor are supported" % href)
    return href


def capacity_bytes(capacity, units):
    """Disk capacity in bytes from ovf:capacity and ovf:capacityAllocationUnits ('byte * 2^20')."""
    value = int(capacity)
    if not units:
        return value
    m = re.fullmatch(r"\s*byte\s*(?:\*\s*(\d+)\s*(?:\^\s*(\d+))?)?\s*", units)
    if not m:
        raise OvaError("unsupported disk capacity unit %r" % units)
    base = int(m.group(1) or 1)
    exp = int(m.group(2) or 1) if m.group(1) else 1
    return value * base ** exp


def parse_ovf(text):
    """The parts of an OVF descriptor the import checks.

    Returns dict: name, vmx (list of 'vmx-N'), guest_id, files (list of {id, href, size}),
    disks (list of {id, file_ref, capacity}), networks (list of names), nics (list of
    {connection, subtype}), properties (dict key -> {value, type, user_configurable}).
    """
    try:
        root = ET.fromstring(text.encode("utf-8") if isinstance(text, str) else text)
    except ET.ParseError as exc:
        raise OvaError("the OVF descriptor is not valid XML: %s" % exc)
    if root.tag != OVF_NS + "Envelope":
        raise OvaError("the OVF descriptor's root is %s, not an OVF Envelope" % root.tag)
    out = {"files": [], "disks": [], "networks": [], "nics": [], "properties": {}, "vmx": [],
           "guest_id": None, "name": None}
    for f in root.findall("ovf:References/ovf:File", NS):
        out["files"].append({"id": _attr(f, "id"), "href": check_href(_attr(f, "href")),
                             "size": _int_or_none(_attr(f, "size"))})
    for d in root.findall("ovf:DiskSection/ovf:Disk", NS):
        cap = _attr(d, "capacity")
        out["disks"].append({
            "id": _attr(d, "diskId"), "file_ref": _attr(d, "fileRef"),
            "capacity": capacity_bytes(cap, _attr(d, "capacityAllocationUnits")) if cap else 0,
        })
    for n in root.findall("ovf:NetworkSection/ovf:Network", NS):
        out["networks"].append(_attr(n, "name"))
    vs = root.find("ovf:VirtualSystem", NS)
    if vs is None:
        raise OvaError("the OVF descriptor has no VirtualSystem (a vApp of several VMs is not supported)")
    out["name"] = _attr(vs, "id")
    os_section = vs.find("ovf:OperatingSystemSection", NS)
    if os_section is not None:
        out["guest_id"] = os_section.get("{%s}osType" % NS["vmw"])
    hw = vs.find("ovf:VirtualHardwareSection", NS)
    if hw is not None:
        vst = hw.find("ovf:System/vssd:VirtualSystemType", NS)
        if vst is not None and vst.text:
            out["vmx"] = vst.text.split()
        for item in hw.findall("ovf:Item", NS):
            if (item.findtext("rasd:ResourceType", "", NS) or "").strip() == "10":
                out["nics"].append({
                    "connection": (item.findtext("rasd:Connection", "", NS) or "").strip(),
                    "subtype": (item.findtext("rasd:ResourceSubType", "", NS) or "").strip(),
                })
    for ps in vs.findall("ovf:ProductSection", NS):
        klass = _attr(ps, "class")
        instance = _attr(ps, "instance")
        for p in ps.findall("ovf:Property", NS):
            key = ".".join(x for x in (klass, _attr(p, "key"), instance) if x)
            out["properties"][key] = {
                "value": _attr(p, "value"), "type": _attr(p, "type"),
                "user_configurable": (_attr(p, "userConfigurable") or "false").lower() == "true",
            }
    return out


# --- checks before the upload ----------------------------------------------------------------

def vmx_number(key):
    m = re.fullmatch(r"vmx-(\d+)", key or "")
    return int(m.group(1)) if m else None


def check_hardware(ovf_vmx, supported, host_name, host_version):
    """Error message if none of the OVF's hardware versions can be created on the host, else None.

    ovf_vmx: the OVF's VirtualSystemType list ('vmx-11'); supported: the host's creatable keys
    from EnvironmentBrowser.QueryConfigOptionDescriptor (a real ESXi lists every version it can
    create; the simulator lists only its own).
    """
    wanted = [n for n in (vmx_number(k) for k in ovf_vmx) if n is not None]
    if not wanted:
        return None  # no vmx family given: the host picks its default
    creatable = sorted(n for n in (vmx_number(k) for k in supported) if n is not None)
    if not creatable:
        return None
    newest = creatable[-1]
    if min(wanted) <= newest:
        return None
    need = min(wanted)
    esxi = VMX_MIN_ESXI.get(need)
    return ("the OVF asks for virtual hardware %s (needs ESXi %s or later); host %s (ESXi %s) "
            "supports up to vmx-%d" % (" ".join(ovf_vmx), esxi or "newer than %s" % host_version,
                                       host_name, host_version, newest))


def map_networks(ovf_networks, mapping, available):
    """OVF network name -> target network name. Raises OvaError naming both sides.

    Every OVF network must be in `mapping` unless the target has a network of the same name;
    every mapped target must exist; a mapping for a network the OVF lacks is an error too.
    """
    available = list(available)
    result = {}
    for src in ovf_networks:
        if src in mapping:
            dst = mapping[src]
            if dst not in available:
                raise OvaError("networks maps OVF network %r to %r, which the target does not have "
                               "(available: %s)" % (src, dst, ", ".join(sorted(available)) or "none"))
            result[src] = dst
        elif src in available:
            result[src] = src
        else:
            raise OvaError("OVF network %r has no mapping in networks and the target has no network "
                           "of that name (available: %s); add networks: {%r: TARGET}"
                           % (src, ", ".join(sorted(available)) or "none", src))
    extra = sorted(set(mapping) - set(ovf_networks))
    if extra:
        raise OvaError("networks maps %s, which the OVF does not have (its networks: %s)"
                       % (", ".join(repr(x) for x in extra), ", ".join(ovf_networks) or "none"))
    return result


def check_properties(ovf_properties, given):
    """Values for OVF properties -> list of (key, str value). Raises OvaError for bad keys."""
    out = []
    for key in sorted(given):
        if key not in ovf_properties:
            raise OvaError("property %r is not in the OVF (its properties: %s)"
                           % (key, ", ".join(sorted(ovf_properties)) or "none"))
        if not ovf_properties[key]["user_configurable"]:
            raise OvaError("OVF property %r is not user-configurable (userConfigurable is not "
                           "true in the OVF), so it cannot be set" % key)
        value = given[key]
        if isinstance(value, bool):
            value = "True" if value else "False"
        out.append((key, "" if value is None else str(value)))
    return out


def required_space(disks, files, provisioning):
    """Bytes the datastore needs: the file sizes for thin disks, the capacities otherwise."""
    if provisioning == "thin":
        return sum(f["size"] or 0 for f in files)
    return sum(d["capacity"] for d in disks)


def check_space(required, free, datastore):
    if required > free:
        return ("datastore %s has %d MiB free; the import needs %d MiB"
                % (datastore, free // 1048576, (required + 1048575) // 1048576))
    return None


# --- guestinfo -------------------------------------------------------------------------------

def gzip_base64(text):
    """gzip (with a fixed mtime, so the value is reproducible) then base64."""
    raw = gzip.compress(text.encode("utf-8"), mtime=0)
    return base64.b64encode(raw).decode("ascii")


CLOUD_INIT_PARTS = ("metadata", "userdata", "vendordata")


def guestinfo_extra_config(guestinfo, cloud_init):
    """extraConfig entries (sorted list of (key, value)) for guestinfo and cloud-init data."""
    entries = {}
    for key, value in (guestinfo or {}).items():
        plain = key[len("guestinfo."):] if key.startswith("guestinfo.") else key
        if not plain or not re.fullmatch(r"[A-Za-z0-9_.-]+", plain):
            raise OvaError("guestinfo key %r: use letters, digits, '.', '_' or '-'" % key)
        base = plain.split(".")[0]
        if base in CLOUD_INIT_PARTS:
            raise OvaError("guestinfo key %r is cloud-init's: give it in cloud_init instead" % key)
        if isinstance(value, (dict, list)):
            raise OvaError("guestinfo %r: the value must be plain text, not a %s"
                           % (key, type(value).__name__))
        if isinstance(value, bool):
            value = "true" if value else "false"
        entries["guestinfo." + plain] = "" if value is None else str(value)
    for part in CLOUD_INIT_PARTS:
        text = (cloud_init or {}).get(part)
        if text is None:
            continue
        entries["guestinfo." + part] = gzip_base64(text)
        entries["guestinfo.%s.encoding" % part] = "gzip+base64"
    return sorted(entries.items())


# --- upload ----------------------------------------------------------------------------------

def device_url(url, hostname, port):
    """The lease's device URL with a '*' host (standalone ESXi) replaced by host:port."""
    m = re.match(r"^(https?://)([^/]+)(/.*)?$", url)
    if not m:
        raise OvaError("unexpected device URL %r" % url)
    host = m.group(2)
    if host == "*" or host.startswith("*:"):
        bracket = "[%s]" % hostname if ":" in hostname and not hostname.startswith("[") else hostname
        host = "%s:%d" % (bracket, port)
    return m.group(1) + host + (m.group(3) or "/")


def transfer_stats(sent, seconds):
    rate = sent / seconds / 1e6 if seconds > 0 else 0.0
    return {"bytes": int(sent), "seconds": round(seconds, 3), "mb_per_s": round(rate, 1)}
