# -*- coding: utf-8 -*-
# Copyright: homelab.photon contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: firstboot_errors
short_description: Problems with the inputs of a Photon OS VM's first boot
version_added: 0.1.0
author: homelab.photon contributors
description:
  - Checks the inputs of the role C(homelab.photon.vm) before anything touches vSphere or downloads an OVA.
  - Returns a list of messages, empty when every input is usable.
  - Checks that root can log in (an SSH public key or a password hash is given), that public keys are
    single OpenSSH key lines whose base64 body names the same key type, that password hashes are crypt(3)
    hashes (a plain password is refused), the host name, the checksum format (required for a URL), the admin
    user name, and the static network (address with prefix, gateway inside the subnet, DNS addresses).
  - Messages never contain a password hash.
positional: _input
options:
  _input:
    description:
      - The inputs, with the keys V(name), V(hostname), V(ova_src), V(ova_checksum), V(ssh_public_key),
        V(root_password_hash), V(admin_user), V(admin_ssh_public_key), V(admin_password_hash) and V(network).
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Refuse unusable inputs
  ansible.builtin.assert:
    that: _errors | length == 0
    fail_msg: "{{ _errors | join('; ') }}"
  vars:
    _errors: "{{ {'name': 'photon1', 'hostname': 'photon1', 'ova_src': '/srv/photon.ova',
                  'ssh_public_key': lookup('ansible.builtin.file', '~/.ssh/id_ed25519.pub')}
                 | homelab.photon.firstboot_errors }}"
"""

RETURN = r"""
_value:
  description: One message per problem; empty when all inputs are usable.
  type: list
  elements: str
"""

from ansible.errors import AnsibleFilterError
from ansible_collections.homelab.photon.plugins.module_utils._firstboot import firstboot_errors as _firstboot_errors


def firstboot_errors(params):
    if not isinstance(params, dict):
        raise AnsibleFilterError("firstboot_errors expects a dictionary of inputs, got %s" % type(params).__name__)
    return _firstboot_errors(params)


class FilterModule(object):
    def filters(self):
        return {"firstboot_errors": firstboot_errors}
