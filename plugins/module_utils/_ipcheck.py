# -*- coding: utf-8 -*-
# Copyright: homelab.photon contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One validator for IP addresses, prefixes, gateways and DNS servers (private, pure).

Used by the networkd modules (through _networkd) and by the vm role's first-boot checks (through
_firstboot and its filters), so that both accept the same values and word a bad one the same
way: "OPTION: 'VALUE' REASON". Nothing here touches a host.
"""

from __future__ import annotations

import ipaddress

EXAMPLE = "192.168.0.235/24"


class InvalidValue(ValueError):
    """A bad option value: the message names the option and the value."""

    def __init__(self, option, value, reason):
        self.option = option
        self.value = value
        self.reason = reason
        super().__init__("%s: %r %s" % (option, value, reason))


def _kind(version):
    return "IPv%d" % version if version else "IP"


def _text(value):
    """The stripped text of a value, or None when it is empty or not text."""
    text = value.strip() if isinstance(value, str) else None
    return text or None


def _detail(text, v4, v6):
    """ipaddress's own reason for refusing text (it names the bad octet, netmask, ...)."""
    try:
        (v6 if ":" in text else v4)(text)
    except ValueError as exc:
        return str(exc)
    return "unsupported form"


def _check_version(option, value, found, version):
    if version and found.version != version:
        raise InvalidValue(option, value, "is an IPv%d address: only %s addresses are taken here"
                           % (found.version, _kind(version)))


def parse_interface(value, option="address", version=None):
    """An address with its prefix length (CIDR notation) -> ipaddress.IPv4Interface or IPv6Interface.

    It must be a host address of its subnet: not the subnet's network address nor, for IPv4, its
    broadcast address (a /31 or /32, /127 or /128 has no such addresses). version: 4 or 6 to take
    only that family.
    """
    kind = _kind(version)
    text = _text(value)
    if text is None:
        raise InvalidValue(option, value, "is empty: give an %s address with its prefix, such as %s"
                           % (kind, EXAMPLE))
    if "/" not in text:
        raise InvalidValue(option, value, "has no prefix length: write it in CIDR notation, such as %s/24"
                           % text)
    try:
        iface = ipaddress.ip_interface(text)
    except ValueError:
        raise InvalidValue(option, value, "is not an %s address with a prefix (%s)"
                           % (kind, _detail(text, ipaddress.IPv4Interface, ipaddress.IPv6Interface)))
    _check_version(option, value, iface, version)
    network = iface.network
    if network.num_addresses > 2:
        if iface.ip == network.network_address:
            raise InvalidValue(option, value, "is the network address of %s, not a host address" % network)
        if iface.version == 4 and iface.ip == network.broadcast_address:
            raise InvalidValue(option, value, "is the broadcast address of %s, not a host address" % network)
    return iface


def parse_ip(value, option, version=None):
    """A plain IP address (no prefix) -> ipaddress.IPv4Address or IPv6Address."""
    kind = _kind(version)
    text = _text(value)
    if text is None:
        raise InvalidValue(option, value, "is empty: give an %s address" % kind)
    if "/" in text:
        raise InvalidValue(option, value, "must be a plain %s address, without a prefix" % kind)
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        raise InvalidValue(option, value, "is not an %s address (%s)"
                           % (kind, _detail(text, ipaddress.IPv4Address, ipaddress.IPv6Address)))
    _check_version(option, value, address, version)
    return address


def check_gateway(value, interfaces, option="gateway", version=None):
    """The gateway parses and lies in the subnet of one of the interfaces (same IP version), and
    is not the host's own address. interfaces: what parse_interface returned."""
    gateway = parse_ip(value, option, version)
    if not interfaces:
        raise InvalidValue(option, value, "needs an address: without one the gateway cannot be"
                           " checked against a subnet")
    for iface in interfaces:
        if iface.version == gateway.version and gateway in iface.network:
            if gateway == iface.ip:
                raise InvalidValue(option, value, "is the host's own address %s" % iface)
            return gateway
    subnets = ", ".join(str(iface.network) for iface in interfaces)
    raise InvalidValue(option, value, "is not in the subnet of any address (%s): the host could not"
                       " reach it" % subnets)


def parse_dns(values, option="dns"):
    """DNS servers: plain IP addresses (IPv4 or IPv6), none empty, none twice."""
    result = []
    for value in values or []:
        address = parse_ip(value, option)
        if address in result:
            raise InvalidValue(option, value, "is listed twice")
        result.append(address)
    return result
