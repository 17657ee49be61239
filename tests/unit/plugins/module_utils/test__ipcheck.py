"""Unit tests of homelab.photon's one address validator (plugins/module_utils/_ipcheck.py), and
that its two users (the networkd modules and the vm role's first-boot checks) word a bad address,
gateway or DNS server the same way."""

import ipaddress

import pytest

from ansible_collections.homelab.photon.plugins.module_utils import _ipcheck as ip  # noqa: E402
from ansible_collections.homelab.photon.plugins.module_utils._firstboot import parse_static_network  # noqa: E402
from ansible_collections.homelab.photon.plugins.module_utils._networkd import NetworkdError, build_sections  # noqa: E402


@pytest.mark.parametrize("value, expected", [
    ("192.168.0.235/24", "192.168.0.235/24"),
    ("  10.0.0.2/8 ", "10.0.0.2/8"),
    ("192.168.0.235/255.255.255.0", "192.168.0.235/24"),
    ("10.0.0.0/31", "10.0.0.0/31"),
    ("10.0.0.1/31", "10.0.0.1/31"),
    ("10.0.0.5/32", "10.0.0.5/32"),
    ("fd00::5/64", "fd00::5/64"),
    ("fd00::/127", "fd00::/127"),
])
def test_host_addresses(value, expected):
    assert str(ip.parse_interface(value)) == expected


@pytest.mark.parametrize("value, version, reason", [
    ("", None, "is empty: give an IP address with its prefix, such as 192.168.0.235/24"),
    (None, 4, "is empty: give an IPv4 address with its prefix"),
    ("192.168.0.235", None, "has no prefix length: write it in CIDR notation, such as 192.168.0.235/24"),
    ("192.168.0.300/24", None, "is not an IP address with a prefix (Octet 300 (> 255) not permitted in '192.168.0.300')"),
    ("192.168.0.235/33", 4, "is not an IPv4 address with a prefix ('33' is not a valid netmask)"),
    ("fd00::zz/64", None, "is not an IP address with a prefix"),
    ("fd00::5/64", 4, "is an IPv6 address: only IPv4 addresses are taken here"),
    ("192.168.0.0/24", None, "is the network address of 192.168.0.0/24, not a host address"),
    ("192.168.0.255/24", None, "is the broadcast address of 192.168.0.0/24, not a host address"),
    ("fd00::/64", None, "is the network address of fd00::/64, not a host address"),
])
def test_bad_addresses(value, version, reason):
    with pytest.raises(ip.InvalidValue) as info:
        ip.parse_interface(value, "opt", version)
    assert (info.value.option, info.value.value) == ("opt", value)
    assert info.value.reason.startswith(reason), info.value.reason
    assert str(info.value) == "opt: %r %s" % (value, info.value.reason)


@pytest.mark.parametrize("value, version, reason", [
    ("", None, "is empty: give an IP address"),
    ("10.0.0.1/24", 4, "must be a plain IPv4 address, without a prefix"),
    ("gateway", None, "is not an IP address ("),
    ("fd00::1", 4, "is an IPv6 address: only IPv4 addresses are taken here"),
])
def test_bad_plain_addresses(value, version, reason):
    with pytest.raises(ip.InvalidValue) as info:
        ip.parse_ip(value, "opt", version)
    assert info.value.reason.startswith(reason), info.value.reason


def test_gateway():
    ifaces = [ip.parse_interface("192.168.0.235/24"), ip.parse_interface("fd00::5/64")]
    assert ip.check_gateway("192.168.0.1", ifaces) == ipaddress.ip_address("192.168.0.1")
    assert ip.check_gateway("fd00::1", ifaces) == ipaddress.ip_address("fd00::1")
    with pytest.raises(ip.InvalidValue, match=r"is not in the subnet of any address \(192.168.0.0/24, fd00::/64\)"):
        ip.check_gateway("10.0.0.1", ifaces)
    with pytest.raises(ip.InvalidValue, match="is the host's own address 192.168.0.235/24"):
        ip.check_gateway("192.168.0.235", ifaces)
    with pytest.raises(ip.InvalidValue, match="needs an address"):
        ip.check_gateway("192.168.0.1", [])
    with pytest.raises(ip.InvalidValue, match="only IPv4"):
        ip.check_gateway("fd00::1", ifaces, version=4)


def test_dns():
    assert [str(a) for a in ip.parse_dns(["192.168.0.100", " fd00::1 "])] == ["192.168.0.100", "fd00::1"]
    assert ip.parse_dns(None) == []
    with pytest.raises(ip.InvalidValue, match="'192.168.0.100' is listed twice"):
        ip.parse_dns(["192.168.0.100", "192.168.0.100"])
    with pytest.raises(ip.InvalidValue, match="is empty"):
        ip.parse_dns(["192.168.0.100", ""])


# (networkd options, vm_network, what both must say after "OPTION: 'VALUE' ")
SAME_WORDS = [
    ({"addresses": ["192.168.0.235"]}, {"address": "192.168.0.235"}, "has no prefix length"),
    ({"addresses": ["192.168.0.300/24"]}, {"address": "192.168.0.300/24"}, "with a prefix (Octet 300"),
    ({"addresses": ["192.168.0.0/24"]}, {"address": "192.168.0.0/24"}, "is the network address"),
    ({"addresses": ["192.168.0.255/24"]}, {"address": "192.168.0.255/24"}, "is the broadcast address"),
    ({"addresses": ["192.168.0.235/24"], "gateway": "10.0.0.1"},
     {"address": "192.168.0.235/24", "gateway": "10.0.0.1"},
     "is not in the subnet of any address (192.168.0.0/24): the host could not reach it"),
    ({"addresses": ["192.168.0.235/24"], "gateway": "192.168.0.235"},
     {"address": "192.168.0.235/24", "gateway": "192.168.0.235"}, "is the host's own address 192.168.0.235/24"),
    ({"addresses": ["192.168.0.235/24"], "dns": ["resolver"]},
     {"address": "192.168.0.235/24", "dns": ["resolver"]}, "is not an IP address ("),
    ({"addresses": ["192.168.0.235/24"], "dns": ["10.0.0.1", "10.0.0.1"]},
     {"address": "192.168.0.235/24", "dns": ["10.0.0.1", "10.0.0.1"]}, "is listed twice"),
]


@pytest.mark.parametrize("options, vm_network, words", SAME_WORDS)
def test_networkd_and_the_vm_role_word_it_the_same(options, vm_network, words):
    with pytest.raises(NetworkdError) as networkd:
        build_sections(match_name="eth0", **options)
    with pytest.raises(ValueError) as firstboot:
        parse_static_network(vm_network)
    reason = networkd.value.reason
    assert words in reason
    # The same words; the vm role takes only IPv4 addresses and says so where networkd says IP.
    said = str(firstboot.value).replace("an IPv4 address with a prefix", "an IP address with a prefix")
    assert said == "vm_network.%s: %r %s" % (networkd.value.option, networkd.value.value, reason)
