# -*- coding: utf-8 -*-
"""Unit tests of the pure planning of homelab.photon.pihole_config (plugins/module_utils/_pihole_plan.py).

The config fixture is what GET /api/config?detailed=true of the lab's real FTL v6.3.3 returned
(fixtures/pihole-config-detailed.json: container env FTLCONF_dns_upstreams, FTLCONF_dns_listeningMode
and FTLCONF_ntp_sync_active; descriptions dropped, password hash blanked). The rows of lists,
domains, groups and clients have the shape the same FTL answered.
"""

import copy
import json
import os

import pytest

from ansible_collections.homelab.photon.plugins.module_utils import _pihole_plan as p

FIXTURE = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'fixtures', 'pihole-config-detailed.json')


@pytest.fixture(name='flat')
def flat_fixture():
    with open(FIXTURE) as handle:  # a missing fixture fails the tests, never skips
        return p.flatten_config(json.load(handle)['config'])


def decl(**parts):
    names = ('local_records', 'cnames', 'upstreams', 'lists', 'domains', 'groups', 'clients', 'dhcp', 'settings')
    params = dict((name, None) for name in names)
    params['purge'] = []
    params.update(parts)
    return p.normalize_declaration(params)


def problems_of(**parts):
    with pytest.raises(p.DeclarationError) as info:
        decl(**parts)
    return info.value.problems


# -- values -----------------------------------------------------------------------------------

@pytest.mark.parametrize('name, ok', [
    ('nas.home.arpa', True), ('nas', True), ('_srv.example', True), ('a-b.c', True),
    ('bad..example', False), ('.lead', False), ('x y', False), ('tld.-x', False), ('end-', False),
    ('a' * 64 + '.example', False), ('a' * 63 + '.example', True), ('', False), (None, False),
])
def test_valid_domain_mirrors_ftl(name, ok):
    assert p.valid_domain(name) is ok


def test_exact_domains_are_compared_as_ftl_stores_them():
    assert p.exact_domain('Ads.Example.COM') == 'ads.example.com'
    assert p.exact_domain('bücher.example') == 'xn--bcher-kva.example'
    assert p.exact_domain(' padded.example') is None
    assert p.exact_domain('bad..example') is None


@pytest.mark.parametrize('regex, bad', [
    (r'(^|\.)ads\.example$', None),
    (r'^ads[0-9]+\.example$;querytype=A', None),
    (r'^x\.example$;querytype=!AAAA;invert', None),
    ('(ab', 'missing )'),
    ('[a-', 'unterminated character set'),
    ('(?=lookahead)x', 'Perl extensions'),
    ('', 'empty'),
])
def test_regex_problems(regex, bad):
    problem = p.regex_problem(regex)
    if bad is None:
        assert problem is None
    else:
        assert bad in problem


@pytest.mark.parametrize('upstream, ok', [
    ('9.9.9.9', True), ('127.0.0.1#5335', True), ('fd00::53', True), ('fd00::53#53', True),
    ('docker-resolver', True), ('9.9.9.9#0', False), ('9.9.9.9#x', False), ('bad host', False), ('', False),
])
def test_upstreams(upstream, ok):
    assert (p.upstream_problem(upstream) is None) is ok


@pytest.mark.parametrize('client, key', [
    ('192.168.0.5', '192.168.0.5'), ('10.0.0.1/24', '10.0.0.0/24'), ('AA:BB:CC:DD:EE:FF', 'aa:bb:cc:dd:ee:ff'),
    (':eth0', ':eth0'), ('Laptop.home', 'laptop.home'), ('fe80::0001', 'fe80::1'),
    ('10.0.0.0/33', None), ('not a client', None), ('', None),
])
def test_client_keys(client, key):
    assert p.client_key(client) == key


def test_env_var_names_and_message():
    assert p.env_var_name('dns.reply.host.IPv4') == 'FTLCONF_dns_reply_host_IPv4'
    message = p.env_var_message('dns.upstreams', ['172.30.99.250'])
    assert 'FTLCONF_dns_upstreams' in message and '["172.30.99.250"]' in message
    assert 'recreate the container' in message and p.ENV_MESSAGE in message


# -- the declaration ------------------------------------------------------------------------------

def test_every_invalid_input_is_reported_at_once():
    problems = problems_of(
        local_records=[{'name': 'x y', 'ip': '1.2.3'}],
        cnames=[{'name': 'alias.home', 'target': 'bad..target', 'ttl': None}],
        upstreams=['not an upstream'],
        lists=[{'address': 'notaurl', 'type': 'block', 'enabled': True, 'comment': None, 'groups': None}],
        domains=[{'domain': '(ab', 'type': 'deny', 'kind': 'regex', 'enabled': True, 'comment': None, 'groups': None},
                 {'domain': 'bad..example', 'type': 'deny', 'kind': 'exact', 'enabled': True, 'comment': None,
                  'groups': None}],
        clients=[{'client': '10.0.0.0/33', 'comment': None, 'groups': None}],
        dhcp={'active': True, 'start': '192.168.0.200', 'end': '192.168.0.100', 'router': '300.1.1.1',
              'netmask': None, 'lease_time': 'soon', 'leases': [{'mac': 'zz', 'ip': '192.168.0.5', 'name': None}]},
        settings={'dns': {'dnssec': True}, 'webserver.api.password': 'x'},
    )
    text = '\n'.join(problems)
    for expected in ("local_records[0]: 'x y' is not a valid host name", "'1.2.3' (for x y) is not an IPv4",
                     "cnames[0]: target 'bad..target'", 'upstreams[0]:', "lists[0]: 'notaurl' is not a list address",
                     "domains[0]: invalid regex '(ab'", "domains[1]: 'bad..example' is not a valid domain",
                     "clients[0]: '10.0.0.0/33' is not a client", "dhcp.router: '300.1.1.1'",
                     'start 192.168.0.200 is after end 192.168.0.100', "dhcp.lease_time: 'soon'",
                     "dhcp.leases[0]: 'zz' is not a MAC", 'settings: dns has a mapping',
                     'webserver.api.password is a password setting'):
        assert expected in text, text


def test_duplicates_and_purge_of_undeclared_parts_are_refused():
    problems = problems_of(
        lists=[{'address': 'https://l.example/a', 'type': 'block', 'enabled': True, 'comment': None, 'groups': None}] * 2,
        cnames=[{'name': 'a.home', 'target': 'b.home', 'ttl': None}, {'name': 'A.home', 'target': 'c.home', 'ttl': None}],
        purge=['domains'])
    assert any('block list https://l.example/a is declared twice' in x for x in problems)
    assert any('A.home is declared twice' in x for x in problems)
    assert any('purge: domains is listed but not declared' in x for x in problems)


# -- records, CNAMEs, upstreams ---------------------------------------------------------------------

CURRENT_HOSTS = ['172.30.99.50 nas.home.arpa', 'fd00::50 nas.home.arpa', '10.1.1.1 a.home.arpa b.home.arpa',
                 '# a comment line']


def test_records_converged_in_any_order():
    lines, changes = p.plan_local_records(CURRENT_HOSTS, [('nas.home.arpa', 'fd00::50'), ('NAS.home.arpa', '172.30.99.50')],
                                          purge=False)
    assert lines == CURRENT_HOSTS
    assert not any(changes.values())


def test_record_added_changed_and_others_kept():
    declared = [('b.home.arpa', '10.1.1.2'), ('new.home.arpa', '10.1.1.9')]
    lines, changes = p.plan_local_records(CURRENT_HOSTS, declared, purge=False)
    assert lines == ['172.30.99.50 nas.home.arpa', 'fd00::50 nas.home.arpa', '10.1.1.1 a.home.arpa',
                     '# a comment line', '10.1.1.2 b.home.arpa', '10.1.1.9 new.home.arpa']
    assert changes == {'added': ['new.home.arpa 10.1.1.9'], 'updated': ['b.home.arpa 10.1.1.1 -> 10.1.1.2'],
                       'removed': []}


def test_records_purge_keeps_only_the_declared():
    lines, changes = p.plan_local_records(CURRENT_HOSTS, [('nas.home.arpa', '172.30.99.50')], purge=True)
    assert lines == ['172.30.99.50 nas.home.arpa']
    assert changes['updated'] == ['nas.home.arpa 172.30.99.50, fd00::50 -> 172.30.99.50']
    assert sorted(changes['removed']) == ['# a comment line', 'a.home.arpa 10.1.1.1', 'b.home.arpa 10.1.1.1']


def test_cnames_owned_by_name_multi_alias_lines_split():
    current = ['files.home.arpa,nas.home.arpa', 'x.home,y.home,target.home,300']
    lines, changes = p.plan_cnames(current, [('y.home', 'other.home', None), ('files.home.arpa', 'NAS.home.arpa', None)],
                                   purge=False)
    assert lines == ['files.home.arpa,nas.home.arpa', 'x.home,target.home,300', 'y.home,other.home']
    assert changes['updated'] == ['y.home,target.home,300 -> y.home,other.home']
    lines, changes = p.plan_cnames(current, [('files.home.arpa', 'nas.home.arpa', 60)], purge=True)
    assert lines == ['files.home.arpa,nas.home.arpa,60']
    assert sorted(changes['removed']) == ['x.home,target.home,300', 'y.home,target.home,300']


def test_upstreams_added_or_exact():
    assert p.plan_upstreams(['1.1.1.1'], ['9.9.9.9'], purge=False)[0] == ['1.1.1.1', '9.9.9.9']
    assert p.plan_upstreams(['1.1.1.1', '9.9.9.9'], ['9.9.9.9', '1.1.1.1'], purge=True)[0] == ['1.1.1.1', '9.9.9.9']
    lines, changes = p.plan_upstreams(['1.1.1.1'], ['9.9.9.9'], purge=True)
    assert lines == ['9.9.9.9'] and changes['removed'] == ['1.1.1.1']


def test_leases_by_mac():
    current = ['AA:BB:CC:DD:EE:01,192.168.0.10,printer', 'id:client,192.168.0.11']
    declared = {'aa:bb:cc:dd:ee:01': ('aa:bb:cc:dd:ee:01', '192.168.0.10', 'printer'),
                'aa:bb:cc:dd:ee:02': ('aa:bb:cc:dd:ee:02', '192.168.0.12', None)}
    lines, changes = p.plan_leases(current, declared, purge=False)
    assert lines == current + ['aa:bb:cc:dd:ee:02,192.168.0.12']
    lines, changes = p.plan_leases(current, declared, purge=True)
    assert lines == ['AA:BB:CC:DD:EE:01,192.168.0.10,printer', 'aa:bb:cc:dd:ee:02,192.168.0.12']
    assert changes['removed'] == ['id:client,192.168.0.11']


# -- the whole config plan against the real FTL's answer ---------------------------------------------

def test_config_plan_one_patch_for_every_part(flat):
    d = decl(local_records=[{'name': 'new.home.arpa', 'ip': '172.30.99.60'}],
             cnames=[{'name': 'files.home.arpa', 'target': 'nas.home.arpa', 'ttl': None}],
             dhcp={'active': None, 'start': '192.168.0.100', 'end': None, 'router': None, 'netmask': None,
                   'lease_time': '12h', 'leases': None},
             settings={'dns.dnssec': 'true', 'dns.cache.size': '20000', 'dns.blocking.mode': 'nx',
                       'webserver.api.temp.limit': 70})
    plan = p.plan_config(d, flat)
    assert plan.body() == {'config': {
        'dns': {'hosts': ['172.30.99.50 nas.home.arpa', 'fd00::50 nas.home.arpa', '172.30.99.51 printer.home.arpa',
                          '10.1.1.1 a.home.arpa b.home.arpa', '172.30.99.60 new.home.arpa'],
                'dnssec': True, 'cache': {'size': 20000}, 'blocking': {'mode': 'NX'}},
        'dhcp': {'start': '192.168.0.100', 'leaseTime': '12h'},
        'webserver': {'api': {'temp': {'limit': 70.0}}}}}
    assert list(plan.parts) == ['local_records', 'dhcp', 'settings']   # cnames converged
    assert plan.restart is True   # dns.dnssec and the DHCP range need FTL to restart; dns.hosts alone does not
    assert plan.before['local_records'][-1] == '10.1.1.1 a.home.arpa b.home.arpa'
    assert plan.after['local_records'][-1] == '172.30.99.60 new.home.arpa'


def test_records_alone_restart_nothing(flat):
    plan = p.plan_config(decl(local_records=[{'name': 'new.home.arpa', 'ip': '172.30.99.60'}]), flat)
    assert plan.restart is False and list(plan.patch) == ['dns.hosts']


def test_converged_config_patches_nothing(flat):
    plan = p.plan_config(decl(local_records=[{'name': 'nas.home.arpa', 'ip': '172.30.99.50'},
                                             {'name': 'nas.home.arpa', 'ip': 'fd00:0::50'}],
                              upstreams=['172.30.99.250'],
                              settings={'dns.listeningMode': 'all', 'misc.privacylevel': 0}), flat)
    assert plan.patch == {} and plan.parts == {}


def test_ftlconf_settings_are_refused_naming_the_variable(flat):
    with pytest.raises(p.DeclarationError) as info:
        p.plan_config(decl(upstreams=['9.9.9.9'], purge=['upstreams'],
                           settings={'dns.listeningMode': 'local', 'ntp.sync.active': False}), flat)
    problems = info.value.problems
    assert len(problems) == 2   # ntp.sync.active already is false: no change, no problem
    assert problems[0].startswith('dns.upstreams is set by the environment variable FTLCONF_dns_upstreams')
    assert '["172.30.99.250"]' in problems[0]
    assert 'FTLCONF_dns_listeningMode' in problems[1] and '"ALL"' in problems[1]


def test_unknown_paths_wrong_types_and_owned_paths(flat):
    with pytest.raises(p.DeclarationError) as info:
        p.plan_config(decl(local_records=[], settings={
            'dns.dnsec': True, 'dns.cache.size': 'abc', 'dns.blocking.mode': 'loud', 'dns.hosts': [],
            'dns.port': 70000, 'dns.reply.host.IPv4': 'fd00::1', 'misc.privacylevel': 9}), flat)
    text = '\n'.join(info.value.problems)
    assert 'dns.dnsec is not a setting of this Pi-hole (did you mean dns.dnssec' in text
    assert "dns.cache.size takes an integer (unsigned integer), not 'abc'" in text
    assert "dns.blocking.mode takes one of NULL, IP_NODATA_AAAA, IP, NX, NODATA, not 'loud'" in text
    assert 'dns.hosts is managed by its own part' in text
    assert 'dns.port takes 0-65535' in text
    assert "dns.reply.host.IPv4 takes an IPv4 address, not 'fd00::1'" in text
    assert 'misc.privacylevel takes one of 0, 1, 2, 3, not 9' in text


def test_dhcp_active_needs_a_range(flat):
    with pytest.raises(p.DeclarationError) as info:
        p.plan_config(decl(dhcp={'active': True, 'start': '192.168.0.100', 'end': None, 'router': None,
                                 'netmask': None, 'lease_time': None, 'leases': None}), flat)
    assert info.value.problems == ['dhcp: active needs end (declare dhcp.end; the Pi-hole has none)',
                                   'dhcp: active needs router (declare dhcp.router; the Pi-hole has none)']


def test_dhcp_leases_and_fields(flat):
    d = decl(dhcp={'active': False, 'start': None, 'end': None, 'router': None, 'netmask': None,
                   'lease_time': None, 'leases': [{'mac': 'AA:BB:CC:DD:EE:01', 'ip': '192.168.0.10', 'name': 'printer'}]})
    plan = p.plan_config(d, flat)
    assert plan.patch == {'dhcp.hosts': ['aa:bb:cc:dd:ee:01,192.168.0.10,printer']}
    assert plan.parts['dhcp']['added'] == ['lease aa:bb:cc:dd:ee:01,192.168.0.10,printer']
    assert plan.before['dhcp'] == ['active: false'] and plan.after['dhcp'][-1] == 'lease: aa:bb:cc:dd:ee:01,192.168.0.10,printer'


# -- gravity.db items ---------------------------------------------------------------------------------

GROUP_ROWS = [{'name': 'Default', 'comment': 'The default group', 'enabled': True, 'id': 0},
              {'name': 'kids', 'comment': None, 'enabled': True, 'id': 3}]
LIST_ROWS = [{'address': 'https://raw.githubusercontent.com/StevenBlack/hosts/master/hosts', 'type': 'block',
              'comment': 'Migrated from /etc/pihole/adlists.list', 'groups': [0], 'enabled': True, 'id': 1},
             {'address': 'https://lists.lab.example/blocklist-2.txt', 'type': 'block', 'comment': None, 'groups': [0, 3],
              'enabled': False, 'id': 2}]
DOMAIN_ROWS = [{'domain': 'ads.example.com', 'unicode': 'ads.example.com', 'type': 'deny', 'kind': 'exact',
                'comment': 'c1', 'groups': [0], 'enabled': True, 'id': 1},
               {'domain': r'(^|\.)tracker\.example$', 'type': 'deny', 'kind': 'regex', 'comment': None, 'groups': [3],
                'enabled': True, 'id': 2}]
CLIENT_ROWS = [{'client': 'AA:BB:CC:DD:EE:01', 'name': '', 'comment': None, 'groups': [0], 'id': 1}]
ID_TO_NAME = {0: 'Default', 3: 'kids'}


def items(part, **kwargs):
    entry = {'lists': {'type': 'block', 'enabled': True, 'comment': None, 'groups': None},
             'domains': {'type': 'deny', 'kind': 'exact', 'enabled': True, 'comment': None, 'groups': None},
             'groups': {'enabled': True, 'comment': None},
             'clients': {'comment': None, 'groups': None}}[part]
    entry = dict(entry)
    entry.update(kwargs)
    return entry


def test_items_converged_unmanaged_fields_kept():
    d = decl(lists=[items('lists', address=LIST_ROWS[0]['address']),
                    items('lists', address=LIST_ROWS[1]['address'], enabled=False, groups=['kids', 'Default'])],
             domains=[items('domains', domain='ADS.example.com'),
                      items('domains', domain=r'(^|\.)tracker\.example$', kind='regex', groups=['kids'])],
             clients=[items('clients', client='aa:bb:cc:dd:ee:01')])
    for part, rows in (('lists', LIST_ROWS), ('domains', DOMAIN_ROWS), ('clients', CLIENT_ROWS)):
        plan = p.plan_items(part, d[part], p.current_items(part, rows), purge=False, id_to_name=ID_TO_NAME)
        assert not plan.changed, part


def test_items_added_updated_removed_and_gravity():
    d = decl(lists=[items('lists', address=LIST_ROWS[1]['address'], comment='second'),
                    items('lists', address='https://lists.lab.example/3.txt', groups=['kids']),
                    items('lists', address='https://lists.lab.example/allow.txt', type='allow')])
    plan = p.plan_items('lists', d['lists'], p.current_items('lists', LIST_ROWS), purge=True, id_to_name=ID_TO_NAME)
    assert [item['address'] for item in plan.adds] == ['https://lists.lab.example/3.txt',
                                                       'https://lists.lab.example/allow.txt']
    (old, new), = plan.updates
    assert (old['enabled'], new['enabled'], new['comment'], new['group_ids']) == (False, True, 'second', (0, 3))
    assert [item['address'] for item in plan.deletes] == [LIST_ROWS[0]['address']]
    assert plan.gravity_needed()
    changes = plan.changes(ID_TO_NAME)
    assert changes['updated'] == [
        'block https://lists.lab.example/blocklist-2.txt (disabled, groups [Default, kids]) -> '
        'block https://lists.lab.example/blocklist-2.txt (enabled, comment "second", groups [Default, kids])']
    assert 'allow https://lists.lab.example/allow.txt (enabled, groups [Default])' in changes['added']
    assert plan.after == sorted(plan.after) and len(plan.after) == 3


def test_comment_only_change_needs_no_gravity():
    d = decl(lists=[items('lists', address=LIST_ROWS[0]['address'], comment='renamed')])
    plan = p.plan_items('lists', d['lists'], p.current_items('lists', LIST_ROWS), purge=False, id_to_name=ID_TO_NAME)
    assert len(plan.updates) == 1 and not plan.gravity_needed()


def test_default_group_is_never_purged_and_unknown_groups_named():
    d = decl(groups=[items('groups', name='adults')],
             domains=[items('domains', domain='x.example', groups=['kids', 'teens'])])
    plan = p.plan_items('groups', d['groups'], p.current_items('groups', GROUP_ROWS), purge=True, id_to_name=ID_TO_NAME)
    assert [g['name'] for g in plan.deletes] == ['kids']
    assert [g['name'] for g in plan.adds] == ['adults']
    problems = p.unknown_groups(d, {'Default', 'kids'})
    assert problems == ['domains: deny exact x.example uses group teens, which the Pi-hole does not have; '
                        'declare it under groups']


def test_add_batches_share_fields():
    d = decl(domains=[items('domains', domain='a.example'), items('domains', domain='b.example'),
                      items('domains', domain='c.example', comment='x'),
                      items('domains', domain='^d$', kind='regex'), items('domains', domain='e.example', type='allow')])
    batches = p.add_batches('domains', list(d['domains'].values()))
    assert [[item['domain'] for item in batch] for batch in batches] == [
        ['a.example', 'b.example'], ['c.example'], ['^d$'], ['e.example']]


def test_gravity_summary_reads_the_real_output():
    output = ('  [i] Target: https://lists.lab.example/blocklist-2.txt\n  [i] Status: Pending...\x1b[K  [\x1b[91m\u2717'
              '\x1b[0m] Status: Connection Refused\n  [\x1b[91m\u2717\x1b[0m] List download failed: no cached list\n'
              '  [i] Number of gravity domains: 4 (\x1b[1m4 unique domains\x1b[0m)\n  [\x1b[32m\u2713\x1b[0m] Done.\n')
    summary = p.gravity_summary(output)
    assert summary['done'] is True
    assert summary['domains'] == 'Number of gravity domains: 4 (4 unique domains)'
    assert summary['failures'] == ['https://lists.lab.example/blocklist-2.txt: Status: Connection Refused',
                                   'https://lists.lab.example/blocklist-2.txt: List download failed: no cached list']


def test_flatten_keeps_flags(flat):
    assert flat['dns.upstreams']['flags']['env_var'] is True
    assert flat['dns.hosts']['flags'] == {'restart_dnsmasq': False, 'session_reset': False, 'env_var': False}
    assert flat['dns.cnameRecords']['flags']['restart_dnsmasq'] is True
    assert copy.deepcopy(flat['dns.port'])['type'] == 'unsigned integer (16 bit)'
