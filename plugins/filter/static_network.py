# -*- coding: utf-8 -*-
# Copyright: homelab.photon contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: static_network
short_description: Check and normalise a static IPv4 network for a systemd-networkd file
version_added: 0.1.0
author: homelab.photon contributors
description:
  - Takes the static network of a host (address with prefix, gateway, DNS servers, search domains,
    interface) and returns it normalised, with the address without its prefix as RV(_value.host).
  - Fails with every problem found (address without prefix or not a host address of its subnet, gateway
    outside the subnet, bad or repeated DNS address).
  - The address, gateway and DNS checks are the code of the C(homelab.photon.networkd) module, and word
    a bad value as it does.
positional: _input
options:
  _input:
    description: The network.
    type: dict
    required: true
    suboptions:
      address:
        description: IPv4 address with its prefix length, for example V(192.168.0.235/24).
        type: str
        required: true
      gateway:
        description: Default gateway, inside the address's subnet.
        type: str
      dns:
        description: DNS servers.
        type: list
        elements: str
      domains:
        description: Search domains.
        type: list
        elements: str
      interface:
        description: Interface name for the C([Match]) section.
        type: str
        default: eth0
"""

EXAMPLES = r"""
- name: Address to wait on
  ansible.builtin.debug:
    msg: "{{ ({'address': '192.168.0.235/24', 'gateway': '192.168.0.1'} | homelab.photon.static_network).host }}"
"""

RETURN = r"""
_value:
  description: The normalised network.
  type: dict
  contains:
    address:
      description: Address with prefix.
      type: str
    host:
      description: Address without prefix.
      type: str
    prefix:
      description: Prefix length.
      type: int
    gateway:
      description: Gateway, empty when none.
      type: str
    dns:
      description: DNS servers.
      type: list
      elements: str
    domains:
      description: Search domains.
      type: list
      elements: str
    interface:
      description: Interface name.
      type: str
"""

from ansible.errors import AnsibleFilterError
from ansible_collections.homelab.photon.plugins.module_utils._firstboot import parse_static_network


def static_network(net):
    try:
        return parse_static_network(net)
    except ValueError as exc:
        raise AnsibleFilterError("static_network: %s" % exc)


class FilterModule(object):
    def filters(self):
        return {"static_network": static_network}
