#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) homelab.photon contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: pihole_config
short_description: Make a Pi-hole v6 match a declared state through its REST API
version_added: 0.1.0
description:
  - Declares what a Pi-hole v6 holds, part by part, and changes only what differs, live, through
    FTL's REST API (C(/api)). DNS keeps answering; the container is never recreated.
  - Parts are local A/AAAA records (O(local_records)), CNAMEs (O(cnames)), upstream DNS servers
    (O(upstreams)), block and allow lists (O(lists)), exact and regex domains to allow or deny
    (O(domains)), groups (O(groups)), clients (O(clients)), the DHCP server and its static leases
    (O(dhcp)), and any other setting by its config path (O(settings)). A part that is not given is
    neither read nor changed.
  - Items the declaration does not name are kept, unless their part is listed in O(purge).
  - One login per task and always a logout, also after a failure (Pi-hole has a limited number of API
    sessions). Each declared part is read once (records, CNAMEs, upstreams, DHCP and settings together
    with one C(GET /api/config)); a converged Pi-hole costs one login, one read per part and one logout.
  - "Writes only what differs, in as few calls as the API allows. Every setting change goes into one
    C(PATCH /api/config). New groups, domains, lists and clients are added with one call per set of
    items that share their type, comment, enabled state and groups; removals use the API's batch
    delete. A changed item (its comment, enabled state or groups) takes one C(PUT) each, as the API has
    no batch update. Gravity runs (C(POST /api/action/gravity)) only when lists were added, removed or
    switched on or off."
  - Everything is checked before the first write, so an invalid input leaves the Pi-hole as it was
    (invalid records, domains, regular expressions, addresses, upstreams, leases, unknown setting paths,
    values of the wrong type, unknown group names, and settings that an C(FTLCONF_) environment variable
    of the container makes read-only; the message names the variable and what to do).
  - Should the Pi-hole refuse a write half-way anyway, the failure lists what was applied and what was
    not; a rerun applies only what is still missing.
  - Some settings (upstreams, CNAMEs, DHCP, ...) make FTL restart itself (about a second without DNS
    answers, the container keeps running); the task then waits until FTL answers again. Local records,
    lists, domains, groups and clients change without a restart.
author:
  - homelab.photon contributors (@homelab-photon)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - homelab.photon.pihole
options:
  timeout:
    description: Seconds to wait for each API answer.
    type: int
    default: 30
  local_records:
    description:
      - Local DNS records (C(dns.hosts)). A name with an IPv4 address is an A record, with an IPv6
        address an AAAA record. A name may be given more than once (A and AAAA, several addresses).
      - A declared name owns its addresses; other names on the Pi-hole are kept unless O(purge) lists
        V(local_records).
    type: list
    elements: dict
    suboptions:
      name:
        description: The host name.
        type: str
        required: true
      ip:
        description: Its IPv4 or IPv6 address.
        type: str
        required: true
        aliases: [address]
  cnames:
    description:
      - Local CNAME records (C(dns.cnameRecords)). A declared name owns its record.
    type: list
    elements: dict
    suboptions:
      name:
        description: The alias.
        type: str
        required: true
      target:
        description: The name it points to (Pi-hole answers only for targets it knows itself, such as a local record).
        type: str
        required: true
      ttl:
        description: TTL of the answer in seconds (Pi-hole's default when not given).
        type: int
  upstreams:
    description:
      - Upstream DNS servers (C(dns.upstreams)), each an IP address or host name, optionally C(#PORT).
      - Without V(upstreams) in O(purge) the declared ones are added to those the Pi-hole has; with it
        the list becomes exactly the declared one.
    type: list
    elements: str
  lists:
    description:
      - Block and allow lists (subscribed list URLs). A list is known by its address and type.
    type: list
    elements: dict
    suboptions:
      address:
        description: The list's URL (C(http://), C(https://), C(ftp://), C(ftps://), C(sftp://) or C(file://)).
        type: str
        required: true
      type:
        description: A block list or an allow list.
        type: str
        choices: [block, allow]
        default: block
      enabled:
        description: Whether the list is used.
        type: bool
        default: true
      comment:
        description: Its comment; not given keeps the comment the Pi-hole has, V("") removes it.
        type: str
      groups:
        description: Names of the groups it applies to; not given keeps the Pi-hole's (V(Default) for new items).
        type: list
        elements: str
  domains:
    description:
      - Domains to allow or deny, exactly or as a regular expression (POSIX extended, with Pi-hole's
        C(;querytype=) and similar options). A domain is known by its domain, type and kind.
      - Exact domains are compared as Pi-hole stores them (punycode, lower case).
    type: list
    elements: dict
    suboptions:
      domain:
        description: The domain or regular expression.
        type: str
        required: true
      type:
        description: Allow or deny.
        type: str
        choices: [allow, deny]
        default: deny
      kind:
        description: An exact domain or a regular expression.
        type: str
        choices: [exact, regex]
        default: exact
      enabled:
        description: Whether the entry is used.
        type: bool
        default: true
      comment:
        description: Its comment; not given keeps the Pi-hole's, V("") removes it.
        type: str
      groups:
        description: Names of the groups it applies to; not given keeps the Pi-hole's (V(Default) for new items).
        type: list
        elements: str
  groups:
    description:
      - Groups. The group V(Default) always exists and is never removed.
    type: list
    elements: dict
    suboptions:
      name:
        description: The group's name.
        type: str
        required: true
      enabled:
        description: Whether the group is used.
        type: bool
        default: true
      comment:
        description: Its comment; not given keeps the Pi-hole's, V("") removes it.
        type: str
  clients:
    description:
      - Clients known to group management, each an IP address, a subnet (CIDR), a MAC address,
        C(:interface) or a host name.
    type: list
    elements: dict
    suboptions:
      client:
        description: The client.
        type: str
        required: true
      comment:
        description: Its comment; not given keeps the Pi-hole's, V("") removes it.
        type: str
      groups:
        description: Names of its groups; not given keeps the Pi-hole's (V(Default) for new clients).
        type: list
        elements: str
  dhcp:
    description:
      - Pi-hole's DHCP server (C(dhcp.*)); only the given fields are managed. Other DHCP settings
        (C(dhcp.ipv6), C(dhcp.rapidCommit), ...) go into O(settings).
      - The container must be able to serve DHCP (host network or a DHCP relay, C(NET_ADMIN)); the
        pihole role publishes 67/udp and adds C(NET_ADMIN) with C(pihole_dhcp_enabled).
    type: dict
    suboptions:
      active:
        description: Whether the DHCP server runs (needs O(dhcp.start), O(dhcp.end) and O(dhcp.router)).
        type: bool
      start:
        description: First address of the range (IPv4).
        type: str
      end:
        description: Last address of the range (IPv4).
        type: str
      router:
        description: The gateway handed to clients (IPv4).
        type: str
      netmask:
        description: The netmask handed to clients; V("") lets Pi-hole derive it.
        type: str
      lease_time:
        description: Lease time, for example V(24h), V(3600) or V(infinite); V("") is Pi-hole's default.
        type: str
      leases:
        description:
          - Static leases (C(dhcp.hosts)), known by their MAC address. Entries of other forms are kept
            (removed with V(dhcp_leases) in O(purge)).
        type: list
        elements: dict
        suboptions:
          mac:
            description: The client's MAC address.
            type: str
            required: true
          ip:
            description: The IPv4 address it always gets.
            type: str
            required: true
          name:
            description: The host name it gets.
            type: str
  settings:
    description:
      - Any other setting by its config path and value, for example C(dns.dnssec) or
        C(webserver.api.max_sessions) (the paths of C(GET /api/config), the keys of C(pihole.toml)).
      - Values are converted to the setting's type (V("true") for a boolean, V("5") for an integer);
        enumerations are matched without regard to case.
      - An unknown path fails naming the closest known ones. Paths of the other parts
        (C(dns.hosts), C(dns.cnameRecords), C(dns.upstreams) and the O(dhcp) fields) and password
        settings are refused.
    type: dict
  purge:
    description:
      - Parts whose items the declaration does not name are removed, for example V([local_records, domains]).
        V(dhcp_leases) is the static leases of O(dhcp). A listed part must be declared (an empty list
        removes every item; the group V(Default) is never removed).
    type: list
    elements: str
    choices: [local_records, cnames, upstreams, lists, domains, groups, clients, dhcp_leases]
    default: []
  gravity:
    description:
      - V(on_change) runs gravity (downloads the lists and rebuilds the blocking database) when lists were
        added, removed, enabled or disabled; V(never) leaves it to Pi-hole's weekly run.
    type: str
    choices: [on_change, never]
    default: on_change
  gravity_timeout:
    description: Seconds a gravity run may take (it downloads every list).
    type: int
    default: 900
  restart_timeout:
    description: Seconds to wait for FTL to answer again after a change that restarts it.
    type: int
    default: 90
attributes:
  check_mode:
    support: full
    details:
      - Reads every declared part, computes the changes and writes nothing; it reports what a real run
        would do, with the same C(changes) and diff, and fails on the same invalid inputs.
  diff_mode:
    support: full
    details: One before/after text per changed part, one line per record, list, domain, group or client.
  platform:
    support: full
    platforms: posix
requirements:
  - Pi-hole v6 (FTL v6.0 or later) reachable at O(url).
notes:
  - Settings given to the container as C(FTLCONF_) environment variables are read-only through the
    API. The pihole role keeps only what must be fixed at container start in its compose file (web
    password, listening mode, the address for C(pi.hole)) and leaves the rest to this module.
  - The returned C(api_calls) counts every HTTP request of the task (login and logout included).
seealso:
  - module: homelab.photon.pihole_teleporter
  - name: Pi-hole v6 API
    description: FTL's REST API, also served by every Pi-hole at C(/api/docs).
    link: https://docs.pi-hole.net/api/
"""

EXAMPLES = r"""
- name: Keep the Pi-hole's names, lists and domains as code (on the Pi-hole's host)
  homelab.photon.pihole_config:
    url: http://127.0.0.1:80
    password: "{{ vault_pihole_password }}"
    local_records:
      - {name: nas.home.arpa, ip: 192.168.0.100}
      - {name: nas.home.arpa, ip: "fd00::100"}
    cnames:
      - {name: files.home.arpa, target: nas.home.arpa}
    upstreams: [9.9.9.9, 149.112.112.112]
    groups:
      - {name: kids, comment: Children's devices}
    lists:
      - address: https://raw.githubusercontent.com/StevenBlack/hosts/master/hosts
        comment: StevenBlack unified
      - address: https://example.org/kids-blocklist.txt
        groups: [kids]
    domains:
      - {domain: ads.example.com}
      - {domain: '(^|\.)tracker\.example$', kind: regex}
      - {domain: cdn.example.net, type: allow}
    clients:
      - {client: 192.168.0.0/28, comment: kids' tablets, groups: [kids]}
    purge: [local_records, cnames, upstreams]

- name: DHCP with static leases
  homelab.photon.pihole_config:
    password: "{{ vault_pihole_password }}"
    dhcp:
      active: true
      start: 192.168.0.100
      end: 192.168.0.199
      router: 192.168.0.1
      lease_time: 24h
      leases:
        - {mac: "aa:bb:cc:dd:ee:01", ip: 192.168.0.10, name: printer}

- name: Any other setting by its path
  homelab.photon.pihole_config:
    password: "{{ vault_pihole_password }}"
    settings:
      dns.dnssec: true
      dns.cache.size: 20000
      misc.privacylevel: 1

- name: From the controller over HTTPS, trusting Pi-hole's own CA
  homelab.photon.pihole_config:
    url: https://pihole.home.arpa
    ca_path: files/pihole-tls_ca.crt
    password: "{{ vault_pihole_password }}"
    domains:
      - {domain: telemetry.example.com}
  delegate_to: localhost
"""

RETURN = r"""
msg:
  description: What was changed (or would be in check mode), part by part.
  returned: always
  type: str
  sample: "changed: local_records (1 added); lists (1 added); gravity ran"
changes:
  description:
    - Per changed part, the items C(added), C(updated) (C(before -> after)) and C(removed); the same in
      check mode and in the real run.
  returned: success
  type: dict
  sample:
    local_records: {added: [nas.home.arpa 192.168.0.100], updated: [], removed: []}
    lists: {added: ["block https://lists.example/ads.txt (enabled, groups [Default])"], updated: [], removed: []}
gravity:
  description:
    - Whether gravity was needed and ran, how long it took, its domain count and the lists it could not download.
    - C(reloaded) tells whether FTL was seen using the new database before the task ended (the task waits up to 60 s
      for that, so that a domain of a new list is blocked right after the task).
  returned: success
  type: dict
  sample: {needed: true, ran: true, reloaded: true, seconds: 2.1, domains: "Number of gravity domains: 6 (6 unique domains)",
           failures: []}
ftl_restart:
  description: Whether the changed settings make FTL restart itself (the task waited until it answered again).
  returned: success
  type: bool
ftl_restart_seconds:
  description: Seconds waited for FTL after its restart.
  returned: when FTL restarted
  type: float
api_calls:
  description: Number of HTTP requests the task made, login and logout included.
  returned: always
  type: int
  sample: 5
api_requests:
  description: The requests, as C(METHOD /api/path) in order.
  returned: always
  type: list
  elements: str
  sample: ["POST /api/auth", "GET /api/config?detailed=true", "GET /api/lists", "DELETE /api/auth"]
applied:
  description: On a failure half-way, the writes that were applied before it.
  returned: failure
  type: list
  elements: str
not_applied:
  description: On a failure half-way, the writes that were not applied (a rerun applies them).
  returned: failure
  type: list
  elements: str
problems:
  description: Every invalid input found before any write, one message each.
  returned: failure
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.homelab.photon.plugins.module_utils._pihole_api import CONNECTION_SPEC, PiholeApi, PiholeError
from ansible_collections.homelab.photon.plugins.module_utils._pihole_config import ConfigRunner
from ansible_collections.homelab.photon.plugins.module_utils._pihole_plan import (
    PURGE_CHOICES,
    DeclarationError,
    normalize_declaration,
)

_GROUPS = dict(type='list', elements='str')
ARGUMENT_SPEC = dict(
    CONNECTION_SPEC,
    timeout=dict(type='int', default=30),
    local_records=dict(type='list', elements='dict', options=dict(
        name=dict(type='str', required=True),
        ip=dict(type='str', required=True, aliases=['address']),
    )),
    cnames=dict(type='list', elements='dict', options=dict(
        name=dict(type='str', required=True),
        target=dict(type='str', required=True),
        ttl=dict(type='int'),
    )),
    upstreams=dict(type='list', elements='str'),
    lists=dict(type='list', elements='dict', options=dict(
        address=dict(type='str', required=True),
        type=dict(type='str', choices=['block', 'allow'], default='block'),
        enabled=dict(type='bool', default=True),
        comment=dict(type='str'),
        groups=_GROUPS,
    )),
    domains=dict(type='list', elements='dict', options=dict(
        domain=dict(type='str', required=True),
        type=dict(type='str', choices=['allow', 'deny'], default='deny'),
        kind=dict(type='str', choices=['exact', 'regex'], default='exact'),
        enabled=dict(type='bool', default=True),
        comment=dict(type='str'),
        groups=_GROUPS,
    )),
    groups=dict(type='list', elements='dict', options=dict(
        name=dict(type='str', required=True),
        enabled=dict(type='bool', default=True),
        comment=dict(type='str'),
    )),
    clients=dict(type='list', elements='dict', options=dict(
        client=dict(type='str', required=True),
        comment=dict(type='str'),
        groups=_GROUPS,
    )),
    dhcp=dict(type='dict', options=dict(
        active=dict(type='bool'),
        start=dict(type='str'),
        end=dict(type='str'),
        router=dict(type='str'),
        netmask=dict(type='str'),
        lease_time=dict(type='str'),
        leases=dict(type='list', elements='dict', options=dict(
            mac=dict(type='str', required=True),
            ip=dict(type='str', required=True),
            name=dict(type='str'),
        )),
    )),
    settings=dict(type='dict'),
    purge=dict(type='list', elements='str', choices=list(PURGE_CHOICES), default=[]),
    gravity=dict(type='str', choices=['on_change', 'never'], default='on_change'),
    gravity_timeout=dict(type='int', default=900),
    restart_timeout=dict(type='int', default=90),
)


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    params = module.params
    api = PiholeApi(params['url'], params['password'], validate_certs=params['validate_certs'],
                    ca_path=params['ca_path'], timeout=params['timeout'], use_proxy=params['use_proxy'])

    def calls():
        return dict(api_calls=len(api.calls), api_requests=list(api.calls))

    try:
        decl = normalize_declaration(params)
    except DeclarationError as exc:
        module.fail_json(msg='Invalid declaration, nothing was changed: %s' % '; '.join(exc.problems),
                         problems=exc.problems, **calls())
    runner = ConfigRunner(api, decl, check_mode=module.check_mode, diff=module._diff, gravity=params['gravity'],
                          gravity_timeout=params['gravity_timeout'], restart_timeout=params['restart_timeout'])
    failure = None
    result = None
    try:
        api.login()
        result = runner.run()
    except DeclarationError as exc:
        failure = dict(msg='The declaration does not fit this Pi-hole, nothing was changed: %s' % '; '.join(exc.problems),
                       problems=exc.problems)
    except PiholeError as exc:
        failure = dict(msg=exc.msg, **exc.details)
    finally:
        logged_out = api.logout()
    if failure is not None:
        failure.update(calls())
        module.fail_json(**failure)
    if not logged_out:
        module.warn('The API session could not be ended (DELETE /api/auth failed); it expires after '
                    'webserver.session.timeout.')
    if runner.gravity.get('failures'):
        module.warn('gravity could not download: %s' % '; '.join(runner.gravity['failures']))
    result.update(calls())
    module.exit_json(**result)


if __name__ == '__main__':
    main()
