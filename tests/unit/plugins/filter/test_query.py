"""homelab.photon.query: JMESPath with named parameters (needs jmespath: these tests fail without it)."""

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.homelab.photon.plugins.filter import query as q

HOSTS = [
    {"inventory_hostname": "esx1", "vm_info": {"name": "pihole01", "moid": "vm-1", "power_state": "poweredOn"}},
    {"inventory_hostname": "esx2"},
    {"inventory_hostname": "esx3", "vm_info": {"name": "it's `odd`", "moid": "vm-3"}},
]


def test_picks_the_vm_of_a_host():
    assert q.query(HOSTS, "[?vm_info.name == $name].vm_info | [0]", name="pihole01")["moid"] == "vm-1"


def test_a_value_with_quotes_and_backticks_is_a_literal():
    assert q.query(HOSTS, "[?vm_info.name == $name].vm_info.moid", name="it's `odd`") == ["vm-3"]


def test_nothing_matches_gives_null():
    assert q.query(HOSTS, "[?vm_info.name == $name].vm_info | [0]", name="nope") is None


def test_a_parameter_without_a_value_is_named():
    with pytest.raises(AnsibleFilterError, match=r"no value given for \$name"):
        q.query(HOSTS, "[?vm_info.name == $name]")


def test_a_bad_expression_is_named():
    with pytest.raises(AnsibleFilterError, match="not a valid JMESPath expression"):
        q.query(HOSTS, "[?vm_info.name ==")


def test_without_jmespath_the_message_says_what_to_install(monkeypatch):
    monkeypatch.setattr(q, "HAS_JMESPATH", False)
    with pytest.raises(AnsibleFilterError, match="needs the Python package jmespath"):
        q.query(HOSTS, "[0]")


def test_the_real_jmespath_is_used():
    import jmespath  # the collection's controller requirement; this test fails without it
    assert q.jmespath is jmespath and q.HAS_JMESPATH


def test_mappings_that_are_not_dicts_are_read():
    from collections.abc import Mapping

    class Vars(Mapping):  # a Mapping that is not a dict, as Ansible's hostvars are
        def __init__(self, data):
            self._data = data

        def __getitem__(self, key):
            return self._data[key]

        def __iter__(self):
            return iter(self._data)

        def __len__(self):
            return len(self._data)

    assert q.query([Vars({"name": "a", "moid": "vm-1"})], "[?name == $name].moid | [0]", name="a") == "vm-1"
