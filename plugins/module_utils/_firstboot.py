# -*- coding: utf-8 -*-
# Copyright: homelab.photon contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure checks for the first boot of a Photon OS VM (role homelab.photon.vm).

Everything here is free of I/O so that it can be unit-tested: the role calls it through the
filters ``homelab.photon.firstboot_errors`` and ``homelab.photon.static_network``.
Error messages never repeat a password hash.
"""

from __future__ import annotations

import base64
import binascii
import re
import struct

from ansible_collections.homelab.photon.plugins.module_utils._ipcheck import (
    EXAMPLE, InvalidValue, check_gateway, parse_dns, parse_interface, parse_ip,
)

# Key types OpenSSH accepts in authorized_keys (DSA is gone from current OpenSSH).
SSH_KEY_TYPES = (
    "ssh-ed25519",
    "ssh-rsa",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
)

CHECKSUM_LENGTHS = {
    "md5": 32,
    "sha1": 40,
    "sha224": 56,
    "sha256": 64,
    "sha384": 96,
    "sha512": 128,
}

URL_SCHEMES = ("http", "https", "ftp", "file")

# crypt(3) formats that chpasswd -e and /etc/shadow understand: $id$[params$]salt$hash
_CRYPT_RE = re.compile(r"^\$(1|5|6|y|gy|7|2[abxy])\$[A-Za-z0-9./$=,+-]+$")
_USER_RE = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
_LABEL_RE = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")
_IFNAME_RE = re.compile(r"^[A-Za-z0-9_.*:-]{1,15}$")
_NETWORK_KEYS = ("address", "gateway", "dns", "domains", "interface")


def parse_ssh_public_key(text):
    """Parse one OpenSSH public key line ("TYPE BASE64 [COMMENT]").

    Returns a dict (type, comment, bits for RSA) or raises ValueError saying what is wrong.
    The base64 body must decode and name the same key type as the line (what sshd checks).
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError("the public key is empty")
    line = text.strip()
    if "\n" in line or "\r" in line:
        raise ValueError("the public key must be a single line (one key)")
    fields = line.split(None, 2)
    if fields[0] not in SSH_KEY_TYPES:
        if fields[0].startswith("-----BEGIN"):
            raise ValueError("this is a private key or a PEM key, not an OpenSSH public key line")
        raise ValueError("unknown key type %r (expected one of %s)" % (fields[0][:40], ", ".join(SSH_KEY_TYPES)))
    if len(fields) < 2:
        raise ValueError("the key has a type but no base64 body")
    try:
        blob = base64.b64decode(fields[1], validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("the key body is not valid base64")
    if len(blob) < 4:
        raise ValueError("the key body is truncated")
    (length,) = struct.unpack(">I", blob[:4])
    embedded = blob[4:4 + length]
    if length > len(blob) - 4 or embedded != fields[0].encode("ascii"):
        raise ValueError("the key body does not belong to a %s key (truncated or pasted from another key)" % fields[0])
    result = {"type": fields[0], "comment": fields[2] if len(fields) > 2 else ""}
    if fields[0] == "ssh-rsa":
        result["bits"] = _rsa_bits(blob[4 + length:])
    return result


def _rsa_bits(rest):
    """Size of the modulus of an ssh-rsa body after its type string (e, then n, as mpints)."""
    values = []
    for dummy in range(2):
        if len(rest) < 4:
            raise ValueError("the ssh-rsa key body is truncated")
        (length,) = struct.unpack(">I", rest[:4])
        if length > len(rest) - 4:
            raise ValueError("the ssh-rsa key body is truncated")
        values.append(rest[4:4 + length])
        rest = rest[4 + length:]
    return int.from_bytes(values[1], "big").bit_length()


def ssh_public_key_error(text):
    """'' when text is a usable public key, else the reason (for an assertion message)."""
    try:
        info = parse_ssh_public_key(text)
    except ValueError as exc:
        return str(exc)
    if info.get("bits", 2048) < 2048:
        return "the RSA key has %d bits; OpenSSH and Photon OS want at least 2048" % info["bits"]
    return ""


def parse_checksum(text):
    """'ALGORITHM:HEX' (the form ansible.builtin.get_url takes) -> (algorithm, lower-case hex)."""
    if not isinstance(text, str) or ":" not in text:
        raise ValueError("the checksum must look like 'md5:<hex>' or 'sha256:<hex>'")
    algorithm, digest = text.strip().split(":", 1)
    algorithm = algorithm.lower()
    if algorithm not in CHECKSUM_LENGTHS:
        raise ValueError("unsupported checksum algorithm %r (use one of %s)"
                         % (algorithm, ", ".join(sorted(CHECKSUM_LENGTHS))))
    digest = digest.strip().lower()
    if len(digest) != CHECKSUM_LENGTHS[algorithm] or not re.match(r"^[0-9a-f]+$", digest):
        raise ValueError("a %s checksum is %d hexadecimal digits" % (algorithm, CHECKSUM_LENGTHS[algorithm]))
    return algorithm, digest


def is_url(src):
    """True when the OVA source is a URL to download (not a path on the control node)."""
    return isinstance(src, str) and re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", src) is not None


def password_hash_error(text):
    """'' for a crypt(3) hash usable with chpasswd -e; the reason otherwise (never the value)."""
    if not isinstance(text, str) or not text:
        return "the password hash is empty"
    if text.startswith(("!", "*")):
        return "a locked marker is not a hash: leave the hash empty to lock the password"
    if not _CRYPT_RE.match(text):
        return ("the password hash is not a crypt(3) hash such as $6$... or $y$... "
                "(make one with: openssl passwd -6, or mkpasswd -m sha-512); a plain password is refused")
    return ""


def hostname_error(name):
    """'' for a valid host name (RFC 1123, optionally dotted); the reason otherwise."""
    if not isinstance(name, str) or not name:
        return "the host name is empty"
    if len(name) > 253:
        return "the host name is longer than 253 characters"
    for label in name.rstrip(".").split("."):
        if not _LABEL_RE.match(label):
            return ("%r is not a valid host name: labels of letters, digits and inner hyphens, "
                    "at most 63 characters each" % name)
    return ""


def parse_static_network(net):
    """Check and normalise the optional static network of the VM.

    Input: a dict with address (CIDR, required), gateway, dns (list), domains (list), interface.
    Returns a dict with the same keys plus host (the address without its prefix) and prefix;
    raises ValueError with every problem found. Addresses, the gateway and the DNS servers are
    checked by _ipcheck, as the networkd module checks them (IPv4 only here but for DNS).
    """
    if not isinstance(net, dict):
        raise ValueError("vm_network must be a dictionary")
    problems = []
    unknown = sorted(set(net) - set(_NETWORK_KEYS))
    if unknown:
        problems.append("unknown keys in vm_network: %s (allowed: %s)" % (", ".join(unknown), ", ".join(_NETWORK_KEYS)))
    result = {"interface": net.get("interface") or "eth0", "gateway": "", "dns": [], "domains": []}
    if not _IFNAME_RE.match(str(result["interface"])):
        problems.append("vm_network.interface %r is not an interface name" % result["interface"])
    interface = None
    address = net.get("address")
    if address is None or address == "":
        problems.append("vm_network.address is required: an IPv4 address with its prefix, such as %s" % EXAMPLE)
    else:
        try:
            interface = parse_interface(address, "vm_network.address", version=4)
        except InvalidValue as exc:
            problems.append(str(exc))
        else:
            result.update(address=str(interface), host=str(interface.ip), prefix=interface.network.prefixlen)
    gateway = net.get("gateway")
    if gateway:
        try:
            if interface is None:  # the address is wrong: check the gateway on its own
                gw = parse_ip(gateway, "vm_network.gateway", version=4)
            else:
                gw = check_gateway(gateway, [interface], "vm_network.gateway", version=4)
        except InvalidValue as exc:
            problems.append(str(exc))
        else:
            result["gateway"] = str(gw)
    dns = net.get("dns") or []
    if isinstance(dns, str):
        dns = [dns]
    try:
        result["dns"] = [str(server) for server in parse_dns(dns, "vm_network.dns")]
    except InvalidValue as exc:
        problems.append(str(exc))
    domains = net.get("domains") or []
    if isinstance(domains, str):
        domains = [domains]
    for domain in domains:
        reason = hostname_error(str(domain))
        if reason:
            problems.append("vm_network.domains: " + reason)
        else:
            result["domains"].append(str(domain))
    if problems:
        raise ValueError("; ".join(problems))
    return result


def firstboot_errors(params):
    """Every problem with the role's inputs, as a list of messages ([] when all is well).

    params keys: name, hostname, ova_src, ova_checksum, ssh_public_key, root_password_hash,
    admin_user, admin_ssh_public_key, admin_password_hash, network.
    """
    errors = []
    if not params.get("name"):
        errors.append("vm_name is required: the name of the VM in vSphere")
    reason = hostname_error(params.get("hostname") or "")
    if reason:
        errors.append("vm_hostname: " + reason)

    src = params.get("ova_src") or ""
    checksum = params.get("ova_checksum") or ""
    if not src:
        errors.append("vm_ova_src is required: a path on the control node or a URL of the OVA")
    if checksum:
        try:
            parse_checksum(checksum)
        except ValueError as exc:
            errors.append("vm_ova_checksum: %s" % exc)
    elif is_url(src):
        errors.append("vm_ova_checksum is required when vm_ova_src is a URL (for example md5:<hex> as published "
                      "next to the download)")

    key = params.get("ssh_public_key") or ""
    password_hash = params.get("root_password_hash") or ""
    if not key and not password_hash:
        errors.append("give vm_ssh_public_key (root's SSH login) or vm_root_password_hash, or both: "
                      "without either nobody could log in to the VM")
    if key:
        reason = ssh_public_key_error(key)
        if reason:
            errors.append("vm_ssh_public_key is not an OpenSSH public key: " + reason)
    if password_hash:
        reason = password_hash_error(password_hash)
        if reason:
            errors.append("vm_root_password_hash: " + reason)

    admin = params.get("admin_user") or ""
    if admin:
        if admin == "root" or not _USER_RE.match(admin):
            errors.append("vm_admin_user %r is not a valid non-root user name (lower-case letters, digits, _ and -, "
                          "at most 32 characters)" % admin)
        admin_key = params.get("admin_ssh_public_key") or ""
        if admin_key:
            reason = ssh_public_key_error(admin_key)
            if reason:
                errors.append("vm_admin_ssh_public_key is not an OpenSSH public key: " + reason)
        admin_hash = params.get("admin_password_hash") or ""
        if admin_hash:
            reason = password_hash_error(admin_hash)
            if reason:
                errors.append("vm_admin_password_hash: " + reason)

    network = params.get("network")
    if network:
        try:
            parse_static_network(network)
        except ValueError as exc:
            errors.append(str(exc))
    return errors
