# -*- coding: utf-8 -*-
# Copyright: homelab.photon contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    """Connection options shared by the collection's Pi-hole v6 API modules."""

    DOCUMENTATION = r"""
options:
  url:
    description:
      - Base URL of the Pi-hole's web server, without C(/api) or C(/admin).
      - The pihole role runs these modules on the Pi-hole's host against V(http://127.0.0.1:PORT), so the
        password never crosses the network.
    type: str
    default: http://127.0.0.1
  password:
    description:
      - The web interface password (or an app password, needed when two-factor authentication is on).
    type: str
    required: true
  validate_certs:
    description:
      - Verify the TLS certificate of an V(https://) O(url).
    type: bool
    default: true
  ca_path:
    description:
      - A PEM file with the CA certificate(s) that signed the Pi-hole's certificate (Pi-hole makes a
        self-signed one for C(pi.hole), C(/etc/pihole/tls_ca.crt) in the container).
    type: path
  use_proxy:
    description:
      - Send the requests through the proxy of the environment (C(https_proxy), ...). Off by default, as
        a Pi-hole is a LAN service.
    type: bool
    default: false
"""
