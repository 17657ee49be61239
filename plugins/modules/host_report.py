#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: homelab.photon contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: host_report
short_description: Print the host report and write it as Markdown and JSON on the controller
version_added: 0.1.0
description:
  - Makes one table of all hosts of the play from what M(homelab.photon.host_info) read on each host
    and a DNS check asked from the controller - address, VM, OS (Photon version and build), kernel, RPM
    packages, memory, disk use, Docker and compose versions, Pi-hole versions, admin URL, DNS answer.
    The table has a column per host and a line per item.
  - The DNS check asks each host's C(dns_server) for O(dns_name) (A, over UDP, with the code of
    M(homelab.photon.dns_query)), all hosts at once, from the controller - the way a LAN client asks.
  - Prints the table (like M(ansible.builtin.debug)) and writes it to O(dir)/O(name)C(.md) (Markdown) and
    O(dir)/O(name)C(.json) (the same texts and the raw values per host), replacing the previous report.
  - An action that runs on the controller only (no module is sent to a host); run it once (C(run_once)).
    The role M(homelab.photon.report) calls it; see its README.
author:
  - homelab.photon contributors (@homelab)
options:
  dir:
    description: The directory on the controller for the files; created when missing.
    type: path
    required: true
  name:
    description: The files' name without extension.
    type: str
    default: hosts
  hosts:
    description: The hosts of the report, in order (one column each).
    type: list
    elements: str
    required: true
  data:
    description:
      - Per host name, what the report shows of it - C(info) (the registered result of M(homelab.photon.host_info)),
        C(dns_server) (the address to ask for the DNS check; none, no check), C(admin_url), C(address)
        and C(vm) (the vm role's C(vm_info)). A host without data gets a column that says so.
    type: dict
    default: {}
  dns_name:
    description: The name the DNS check asks for.
    type: str
    default: pi.hole
  dns_port:
    description: The port the DNS check asks on.
    type: int
    default: 53
  dns_retries:
    description: How many more times to ask a server that did not answer.
    type: int
    default: 5
  dns_delay:
    description: Seconds between tries.
    type: float
    default: 2.0
  fail_on_dns:
    description: Fail after writing the report when a host's DNS check got no address (no answer, an error code).
    type: bool
    default: true
  print:
    description: Show the table in the run's output (as M(ansible.builtin.debug) does); V(false) shows it with C(-v) only.
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
  - The task never reports a change - a report is output, so a converged run stays at 0 changed although
    the report's figures (memory, disk) and its time stamp differ from run to run.
  - The files are written with mode 0644; they hold no secret (no password, no key).
"""

EXAMPLES = r"""
- name: Print the report and write ~/.homelab-photon/reports/hosts.md and hosts.json
  homelab.photon.host_report:
    dir: "{{ lookup('ansible.builtin.env', 'HOME') }}/.homelab-photon/reports"
    hosts: "{{ ansible_play_hosts_all }}"
    data: "{{ dict(ansible_play_hosts_all | zip(ansible_play_hosts_all | map('extract', hostvars)
              | map(attribute='report_host', default={}))) }}"
    dns_name: pi.hole
  run_once: true
"""

RETURN = r"""
msg:
  description: The table's lines (Markdown, padded to read as plain text).
  returned: always
  type: list
  elements: str
files:
  description: The paths of the Markdown and JSON files.
  returned: always
  type: dict
  sample: {"markdown": "/home/me/.homelab-photon/reports/hosts.md", "json": "/home/me/.homelab-photon/reports/hosts.json"}
files_written:
  description: Whether the files were written (not in check mode).
  returned: always
  type: bool
"""
