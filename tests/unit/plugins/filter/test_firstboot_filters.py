"""The filters homelab.photon.firstboot_errors and homelab.photon.static_network (thin wrappers
around plugins/module_utils/_firstboot.py): what they return and how they fail."""

import pytest

from ansible.errors import AnsibleFilterError  # noqa: E402

from ansible_collections.homelab.photon.plugins.filter import firstboot_errors, static_network  # noqa: E402


def test_filters_are_registered_under_their_names():
    assert firstboot_errors.FilterModule().filters() == {"firstboot_errors": firstboot_errors.firstboot_errors}
    assert static_network.FilterModule().filters() == {"static_network": static_network.static_network}


def test_firstboot_errors_needs_a_dict():
    with pytest.raises(AnsibleFilterError, match="expects a dictionary"):
        firstboot_errors.firstboot_errors(["vm_name"])


def test_firstboot_errors_lists_problems():
    errors = firstboot_errors.firstboot_errors({"name": "", "hostname": "h", "ova_src": "/x.ova"})
    assert errors[0].startswith("vm_name is required")
    assert any("vm_ssh_public_key" in e for e in errors)


def test_static_network_normalises():
    net = static_network.static_network({"address": "10.1.2.3/16", "dns": "10.1.0.1"})
    assert (net["host"], net["prefix"], net["dns"], net["interface"]) == ("10.1.2.3", 16, ["10.1.0.1"], "eth0")


def test_static_network_fails_as_a_filter():
    with pytest.raises(AnsibleFilterError, match=r"static_network: .*is not in the subnet of any address \(10.1.0.0/16\)"):
        static_network.static_network({"address": "10.1.2.3/16", "gateway": "10.2.0.1"})
