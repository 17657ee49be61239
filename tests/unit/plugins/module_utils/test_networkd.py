"""Unit tests of the pure parts of homelab.photon.networkd: validation, rendering, the
reload-or-restart decision and the rollback's restore script (run for real in a temp dir)."""

import os
import subprocess

import pytest

# The collection is importable through the link tree `make collection` builds (the Makefile's
# unit target depends on it).

from ansible_collections.homelab.photon.plugins.module_utils._networkd import (  # noqa: E402
    HEADER,
    NetworkdError,
    apply_decision,
    build_sections,
    dhcp_off,
    normalize_dhcp,
    parse_addresses,
    parse_systemd_version,
    render,
    render_restore_script,
    validate_file_name,
    validate_gateway,
    validate_match_name,
    validate_unit_name,
)


def recipe_sections(**overrides):
    options = dict(match_name="eth0", addresses=["192.168.0.235/24"], gateway="192.168.0.1",
                   dns=["192.168.0.100"])
    options.update(overrides)
    return build_sections(**options)


def test_renders_the_recipe_file():
    assert render(recipe_sections()) == HEADER + (
        "[Match]\nName=eth0\n\n"
        "[Network]\nAddress=192.168.0.235/24\nGateway=192.168.0.1\nDNS=192.168.0.100\n"
    )


def test_renders_every_option_in_a_fixed_order():
    text = render(build_sections(
        match_name="eth0", match={"MACAddress": "00:50:56:aa:bb:cc"},
        addresses=["192.168.0.235/24", "fd00::5/64"], gateway="192.168.0.1",
        dns=["192.168.0.100", "fd00::1"], domains=["lan", "~home.arpa"], dhcp=False,
        routes=[{"destination": "10.0.0.0/8", "gateway": "192.168.0.254", "metric": 50}],
        settings={"Network": {"IPv6AcceptRA": False, "NTP": ["192.168.0.1", "192.168.0.2"]},
                  "DHCPv4": {"SendRelease": "no"}, "Link": {"MTUBytes": 9000}},
    ))
    assert text == HEADER + (
        "[Match]\nName=eth0\nMACAddress=00:50:56:aa:bb:cc\n\n"
        "[Network]\nDHCP=no\nAddress=192.168.0.235/24\nAddress=fd00::5/64\nGateway=192.168.0.1\n"
        "DNS=192.168.0.100\nDNS=fd00::1\nDomains=lan ~home.arpa\nIPv6AcceptRA=no\n"
        "NTP=192.168.0.1\nNTP=192.168.0.2\n\n"
        "[Route]\nDestination=10.0.0.0/8\nGateway=192.168.0.254\nMetric=50\n\n"
        "[DHCPv4]\nSendRelease=no\n\n"
        "[Link]\nMTUBytes=9000\n"
    )


def test_equal_options_render_equal_text():
    assert render(recipe_sections()) == render(recipe_sections())


def test_dhcp_only_file():
    assert render(build_sections(match_name="e*", dhcp="yes")) == HEADER + (
        "[Match]\nName=e*\n\n[Network]\nDHCP=yes\n")


@pytest.mark.parametrize("value, expected", [
    (True, "yes"), (False, "no"), ("yes", "yes"), ("No", "no"), ("ipv4", "ipv4"),
    ("ipv6", "ipv6"), ("true", "yes"), (None, None),
])
def test_dhcp_values(value, expected):
    assert normalize_dhcp(value) == expected


def test_dhcp_bad_value():
    with pytest.raises(NetworkdError, match="dhcp: 'both' must be one of yes, no, ipv4, ipv6"):
        normalize_dhcp("both")


@pytest.mark.parametrize("value, message", [
    ("192.168.0.235", "has no prefix length"),
    ("192.168.0.300/24", "is not an IP address with a prefix"),
    ("not-an-address/24", "is not an IP address with a prefix"),
    ("192.168.0.235/33", "is not an IP address with a prefix"),
    ("", "is empty"),
    ("192.168.0.0/24", "is the network address"),
    ("192.168.0.255/24", "is the broadcast address of 192.168.0.0/24"),
])
def test_bad_addresses(value, message):
    with pytest.raises(NetworkdError) as info:
        parse_addresses([value])
    assert info.value.option == "address"
    assert message in str(info.value)
    assert repr(value) in str(info.value)


def test_duplicate_address_even_with_another_prefix():
    with pytest.raises(NetworkdError, match="repeats the address"):
        parse_addresses(["192.168.0.235/24", "192.168.0.235/16"])


def test_point_to_point_prefixes_are_host_addresses():
    assert [str(a) for a in parse_addresses(["10.0.0.0/31", "10.0.0.5/32"])] == [
        "10.0.0.0/31", "10.0.0.5/32"]


@pytest.mark.parametrize("gateway, message", [
    ("10.0.0.1", "is not in the subnet of any address (192.168.0.0/24): the host could not reach it"),
    ("fd00::1", "is not in the subnet of any address"),
    ("192.168.0.235", "is the host's own address"),
    ("192.168.0.1/24", "without a prefix"),
    ("gateway", "is not an IP address"),
])
def test_bad_gateways(gateway, message):
    with pytest.raises(NetworkdError) as info:
        recipe_sections(gateway=gateway)
    assert info.value.option == "gateway"
    assert message in str(info.value)


def test_gateway_in_the_second_subnet():
    addresses = parse_addresses(["192.168.0.235/24", "10.1.0.5/16"])
    assert str(validate_gateway("10.1.255.254", addresses)) == "10.1.255.254"


def test_gateway_without_address():
    with pytest.raises(NetworkdError, match="needs an address"):
        build_sections(match_name="eth0", gateway="192.168.0.1")


@pytest.mark.parametrize("dns, message", [
    ([""], "is empty"), (["  "], "is empty"), (["192.168.0.100", ""], "is empty"),
    (["dns.example"], "is not an IP address"), (["1.1.1.1", "1.1.1.1"], "is listed twice"),
])
def test_bad_dns(dns, message):
    with pytest.raises(NetworkdError) as info:
        recipe_sections(dns=dns)
    assert info.value.option == "dns"
    assert message in str(info.value)


@pytest.mark.parametrize("name", ["eth0/1", "../eth0", "eth..0", "", " ", "eth 0\n", "eth:0",
                                  "averyveryverylongname0"])
def test_bad_interface_names(name):
    with pytest.raises(NetworkdError) as info:
        validate_match_name(name)
    assert info.value.option == "match_name"


@pytest.mark.parametrize("name", ["eth0", "e*", "en[op]*", "eth0 eth1", "ens160"])
def test_good_interface_names(name):
    assert validate_match_name(name) == name


def test_no_match_at_all():
    with pytest.raises(NetworkdError, match="would apply to every interface"):
        build_sections(addresses=["192.168.0.235/24"])


@pytest.mark.parametrize("name", ["../10-static-en", "sub/10-static", "..", "10-static-en.network",
                                  ".hidden", "", "a b"])
def test_bad_file_names(name):
    with pytest.raises(NetworkdError) as info:
        validate_file_name(name)
    assert info.value.option == "name"


def test_file_name():
    assert validate_file_name("10-static-en") == "10-static-en.network"


@pytest.mark.parametrize("settings, message", [
    ({"Network": {"Address": "10.0.0.1/24"}}, "is set by a structured option"),
    ({"Match": {"Name": "eth1"}}, "is set by a structured option"),
    ({"Network": {"NTP": "a\nDNS=1.2.3.4"}}, "cannot span lines"),
    ({"Net work": {"A": "b"}}, "is not a section name"),
    ({"Network": {"Bad-Key": "b"}}, "is not a key name"),
    ({"Network": "DHCP=yes"}, "must be a dictionary"),
    ({"Network": {"NTP": {"a": 1}}}, "must be a string"),
])
def test_bad_settings(settings, message):
    with pytest.raises(NetworkdError, match=message):
        recipe_sections(settings=settings)


@pytest.mark.parametrize("routes, message", [
    ([{"destination": "10.0.0.0"}], "has no prefix length"),
    ([{"destination": "10.0.0.1/8"}], "is not a network"),
    ([{}], "needs a destination, a gateway, or both"),
    ([{"gateway": "x"}], "is not an IP address"),
    ([{"gateway": "10.0.0.1", "metric": -1}], "non-negative"),
])
def test_bad_routes(routes, message):
    with pytest.raises(NetworkdError, match=message):
        recipe_sections(routes=routes)


@pytest.mark.parametrize("text, version", [
    ("systemd 257 (257.13-1~deb13u1)\n+PAM +AUDIT", 257),
    ("systemd 239 (239-45.ph3)\n+PAM", 239),
    ("systemd 253 (253.19+)\n", 253),
    ("", None),
    ("something else", None),
])
def test_parse_systemd_version(text, version):
    assert parse_systemd_version(text) == version


@pytest.mark.parametrize("version, method, action", [
    (239, "auto", "restart"),   # Photon OS 3
    (243, "auto", "restart"),
    (244, "auto", "reload"),    # networkctl reload appeared in 244
    (247, "auto", "reload"),    # Photon OS 4
    (253, "auto", "reload"),    # Photon OS 5
    (257, "auto", "reload"),    # the lab host
    (257, "restart", "restart"),
    (239, "reload", "reload"),
    (None, "restart", "restart"),
])
def test_apply_decision(version, method, action):
    decided, argv = apply_decision(version, method)
    assert decided == action
    assert argv == (["networkctl", "reload"] if action == "reload"
                    else ["systemctl", "restart", "systemd-networkd.service"])


def test_apply_decision_without_version():
    with pytest.raises(NetworkdError, match="needs the systemd version"):
        apply_decision(None, "auto")


@pytest.mark.parametrize("unit", ["a/b", "x..y", "rollback.timer", "", "-x", "a b"])
def test_bad_unit_names(unit):
    with pytest.raises(NetworkdError):
        validate_unit_name(unit)


def test_restore_script_restores_and_removes(tmp_path):
    """Run the generated script for real: files come back byte for byte with their mode, the
    file that did not exist goes, the apply command runs, the marker is written."""
    existing = tmp_path / "99 dhcp 'en'.network"
    existing.write_text("[Match]\nName=e*\n\n[Network]\nDHCP=yes\n")
    existing.chmod(0o644)
    backup = tmp_path / "backup-0"
    backup.write_bytes(existing.read_bytes())
    backup.chmod(0o644)
    created = tmp_path / "10-static-en.network"
    # The change the rollback must undo.
    existing.write_text("[Match]\nName=e*\n\n[Network]\nDHCP=no\n")
    existing.chmod(0o600)
    created.write_text("[Match]\nName=eth0\n")
    applied = tmp_path / "applied"
    marker = tmp_path / "rolled-back"
    script = render_restore_script([(str(existing), str(backup)), (str(created), None)],
                                   ["touch", str(applied)], str(marker))
    run = subprocess.run(["/bin/sh", "-c", script], capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr
    assert existing.read_text() == "[Match]\nName=e*\n\n[Network]\nDHCP=yes\n"
    assert os.stat(existing).st_mode & 0o777 == 0o644
    assert not created.exists()
    assert applied.exists()
    assert marker.read_text().strip().endswith("Z")
    assert not (tmp_path / (existing.name + ".homelab-rollback")).exists()


def test_restore_script_reports_a_failed_apply(tmp_path):
    marker = tmp_path / "rolled-back"
    script = render_restore_script([(str(tmp_path / "gone.network"), None)], ["false"], str(marker))
    run = subprocess.run(["/bin/sh", "-c", script], capture_output=True, text=True, check=False)
    assert run.returncode == 1
    assert marker.exists()


# Photon OS 5's catch-all file, as the lab host has it.
PHOTON_DHCP = ("[Match]\nName=e*\n\n[Network]\nDHCP=yes\nIPv6AcceptRA=no\n\n"
               "[DHCPv4]\nSendRelease=no\n")


@pytest.mark.parametrize("before, after", [
    # DHCP=yes becomes DHCP=no, in place; every other line is kept.
    (PHOTON_DHCP, PHOTON_DHCP.replace("DHCP=yes", "DHCP=no")),
    ("[Network]\n  DHCP = ipv4\n", "[Network]\nDHCP=no\n"),
    # No DHCP= line: inserted right after the first [Network] header.
    ("[Match]\nName=e*\n\n[Network]\nIPv6AcceptRA=no\n",
     "[Match]\nName=e*\n\n[Network]\nDHCP=no\nIPv6AcceptRA=no\n"),
    ("[Match]\nName=e*\n[Network]", "[Match]\nName=e*\n[Network]\nDHCP=no\n"),
    ("[Match]\nName=e*\n  [Network]  \nIPv6AcceptRA=no\n[Network]\nLLMNR=no\n",
     "[Match]\nName=e*\n  [Network]  \nDHCP=no\nIPv6AcceptRA=no\n[Network]\nLLMNR=no\n"),
    # Every DHCP= of [Network] (systemd takes the last), also in a second [Network] section.
    ("[Network]\nDHCP=yes\nDHCP=ipv6\n[Route]\nGateway=1.2.3.4\n[Network]\nDHCP=yes",
     "[Network]\nDHCP=no\nDHCP=no\n[Route]\nGateway=1.2.3.4\n[Network]\nDHCP=no"),
    # CRLF endings are kept.
    ("[Network]\r\nDHCP=yes\r\nLLMNR=no\r\n", "[Network]\r\nDHCP=no\r\nLLMNR=no\r\n"),
    # Comments, other sections' DHCP= and assignments before any section are not touched.
    ("DHCP=yes\n[Match]\nName=e*\n# DHCP=yes\n[Network]\n;DHCP=yes\n#DHCP=yes\n"
     "[DHCPv4]\nDHCP=yes\n",
     "DHCP=yes\n[Match]\nName=e*\n# DHCP=yes\n[Network]\nDHCP=no\n;DHCP=yes\n#DHCP=yes\n"
     "[DHCPv4]\nDHCP=yes\n"),
    # A key that only starts with DHCP is another key.
    ("[Network]\nDHCPServer=yes\n", "[Network]\nDHCP=no\nDHCPServer=yes\n"),
    # Section names are case-sensitive: [network] is not [Network].
    ("[network]\nDHCP=yes\n", "[network]\nDHCP=yes\n"),
])
def test_dhcp_off_edits(before, after):
    assert dhcp_off(before) == after
    # Once off, stays as it is.
    assert dhcp_off(after) == after


@pytest.mark.parametrize("text", [
    PHOTON_DHCP.replace("DHCP=yes", "DHCP=no"),
    "[Network]\nDHCP = no  \n",
    # Without a [Network] section DHCP is off already (DHCP= defaults to no): left alone,
    # an empty file too (networkd skips it; with a section it would match every link).
    "",
    "\n",
    "[Match]\nName=e*\n",
    "[Match]\nName=e*\n[DHCPv4]\nDHCP=yes\n",
    "# only a comment",
])
def test_dhcp_off_leaves_files_that_are_off(text):
    assert dhcp_off(text) == text


def test_dhcp_off_keeps_other_bytes():
    text = "[Match]\nName=e*\t# caf\udce9\n\n[Network]\nDHCP=yes\nDescription=\u00e9\u00e9 \\\n"
    assert dhcp_off(text) == text.replace("DHCP=yes", "DHCP=no")
