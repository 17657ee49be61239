#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: homelab.photon maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: dns_query
short_description: Ask a DNS server one question from the managed host
version_added: 0.1.0
description:
  - Sends one DNS query (UDP or TCP) from the managed host to a given server and port and returns the
    answer, without needing C(dig) or C(nslookup) on the host (Photon OS has neither by default).
  - Used by the homelab.photon.pihole role to prove that Pi-hole answers on port 53 of the host.
  - Retries until an answer arrives or O(retries) is used up. Reads only; never changes the host.
author:
  - homelab.photon maintainers (@homelab)
options:
  name:
    description: The name to ask for.
    type: str
    required: true
  type:
    description: The record type to ask for.
    type: str
    default: A
    choices: [A, AAAA, CNAME, MX, NS, PTR, TXT]
  server:
    description: The address (IPv4 or IPv6) of the DNS server.
    type: str
    default: 127.0.0.1
  port:
    description: The server's port.
    type: int
    default: 53
  protocol:
    description: UDP, or TCP (with the two-byte length prefix).
    type: str
    default: udp
    choices: [udp, tcp]
  timeout:
    description: Seconds to wait for each answer.
    type: float
    default: 2.0
  retries:
    description: How many more times to ask when no answer arrives (a timeout or a refused connection).
    type: int
    default: 0
  delay:
    description: Seconds between tries.
    type: float
    default: 1.0
  expect_answer:
    description:
      - Fail unless the answer is NOERROR with at least one record of O(type).
      - With V(false) any well-formed answer (NXDOMAIN included) is returned without failing.
    type: bool
    default: true
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  platform:
    support: full
    platforms: posix
notes:
  - Only the first question and the answer section are read; class IN only.
"""

EXAMPLES = r"""
- name: Pi-hole answers for pi.hole on the host's port 53
  homelab.photon.dns_query:
    name: pi.hole
    server: 127.0.0.1
    retries: 10

- name: Ask over TCP, and accept NXDOMAIN
  homelab.photon.dns_query:
    name: nothing.invalid
    protocol: tcp
    expect_answer: false
  register: lookup
"""

RETURN = r"""
rcode:
  description: The answer's response code name.
  returned: success
  type: str
  sample: NOERROR
addresses:
  description: The data of the answer records of the asked type (addresses for A and AAAA).
  returned: success
  type: list
  elements: str
  sample: ["172.30.99.5"]
answers:
  description: Every answer record of class IN.
  returned: success
  type: list
  elements: dict
  sample: [{"name": "pi.hole", "type": "A", "ttl": 2, "data": "172.30.99.5"}]
authoritative:
  description: Whether the server said it is authoritative.
  returned: success
  type: bool
tries:
  description: How many queries were sent.
  returned: always
  type: int
  sample: 1
server:
  description: The server and port asked, as C(address#port).
  returned: always
  type: str
  sample: "127.0.0.1#53"
"""

import ipaddress
import os
import socket
import struct
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.homelab.photon.plugins.module_utils._dnsquery import (
    DNSError,
    addresses,
    build_query,
    exchange,
    parse_response,
    validate_name,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            type=dict(type="str", default="A", choices=["A", "AAAA", "CNAME", "MX", "NS", "PTR", "TXT"]),
            server=dict(type="str", default="127.0.0.1"),
            port=dict(type="int", default=53),
            protocol=dict(type="str", default="udp", choices=["udp", "tcp"]),
            timeout=dict(type="float", default=2.0),
            retries=dict(type="int", default=0),
            delay=dict(type="float", default=1.0),
            expect_answer=dict(type="bool", default=True),
        ),
        supports_check_mode=True,
    )
    params = module.params
    server_text = "%s#%d" % (params["server"], params["port"])
    try:
        validate_name(params["name"])
        ipaddress.ip_address(params["server"])
    except DNSError as exc:
        module.fail_json(msg="name: %s" % exc, tries=0, server=server_text)
    except ValueError:
        module.fail_json(msg="server: %r is not an IP address" % params["server"], tries=0, server=server_text)
    if not 0 < params["port"] < 65536:
        module.fail_json(msg="port: %d is not between 1 and 65535" % params["port"], tries=0, server=server_text)
    if params["timeout"] <= 0 or params["retries"] < 0 or params["delay"] < 0:
        module.fail_json(msg="timeout must be positive, retries and delay not negative", tries=0, server=server_text)

    tries = 0
    errors = []
    result = None
    while result is None and tries <= params["retries"]:
        if tries:
            time.sleep(params["delay"])
        tries += 1
        query_id = struct.unpack("!H", os.urandom(2))[0]
        message = build_query(query_id, params["name"], params["type"])
        try:
            answer = exchange(params["server"], params["port"], params["protocol"], message, params["timeout"])
            result = parse_response(answer, query_id)
        except (socket.error, socket.timeout) as exc:
            errors.append("try %d: %s" % (tries, exc))
        except DNSError as exc:
            errors.append("try %d: unreadable answer: %s" % (tries, exc))

    if result is None:
        module.fail_json(msg="no answer from %s over %s for %s %s after %d tries: %s"
                         % (server_text, params["protocol"], params["type"], params["name"], tries, "; ".join(errors)),
                         tries=tries, server=server_text)

    found = addresses(result, params["type"])
    output = dict(changed=False, rcode=result["rcode_name"], addresses=found, answers=result["answers"],
                  authoritative=result["authoritative"], tries=tries, server=server_text)
    if params["expect_answer"] and (result["rcode_name"] != "NOERROR" or not found):
        module.fail_json(msg="%s answered %s for %s %s with %d %s records"
                         % (server_text, result["rcode_name"], params["type"], params["name"], len(found),
                            params["type"]), **output)
    module.exit_json(**output)


if __name__ == "__main__":
    main()
