# -*- coding: utf-8 -*-
# Copyright: homelab.photon contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    """Connection options shared by the collection's vSphere modules."""

    DOCUMENTATION = r"""
options:
  hostname:
    description:
      - Name or address of the ESXi host or vCenter Server to connect to.
      - If not set, the value of the E(VMWARE_HOST) environment variable is used.
    type: str
    required: true
  port:
    description:
      - TCP port of the vSphere API (HTTPS). Uploads go to the same host and port.
      - If not set, the value of the E(VMWARE_PORT) environment variable is used.
    type: int
    default: 443
  username:
    description:
      - User name to log in with.
      - If not set, the value of the E(VMWARE_USER) environment variable is used.
    type: str
    required: true
    aliases: [user]
  password:
    description:
      - Password of O(username).
      - If not set, the value of the E(VMWARE_PASSWORD) environment variable is used.
    type: str
    required: true
    aliases: [pass, pwd]
  validate_certs:
    description:
      - Whether the server's TLS certificate must be valid and match O(hostname).
      - Set to V(false) only for self-signed lab hosts.
      - If not set, the value of the E(VMWARE_VALIDATE_CERTS) environment variable is used.
    type: bool
    default: true
requirements:
  - pyvmomi >= 8.0.1.0 on the host that runs the module (usually the controller)
notes:
  - Objects are found through container views, which works on a standalone ESXi and on vCenter.
"""
