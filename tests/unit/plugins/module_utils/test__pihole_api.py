# -*- coding: utf-8 -*-
"""Unit tests of the Pi-hole API client's error messages and of a whole run against a fake FTL.

The error bodies are what FTL v6.3.3 (the lab's real Pi-hole) answered; the fake FTL below answers
the way it did (batch POST with `processed`, PUT, :batchDelete, PATCH refusing FTLCONF_ settings),
so the runner's call counts, check mode and half-way failures are tested without a container.
"""

import copy
import io
import json
import os
import socket
import ssl
import time
from urllib.error import HTTPError, URLError
from urllib.parse import unquote, urlsplit, parse_qs

import pytest

from ansible_collections.homelab.photon.plugins.module_utils import _pihole_api as a
from ansible_collections.homelab.photon.plugins.module_utils import _pihole_config as c
from ansible_collections.homelab.photon.plugins.module_utils import _pihole_plan as p

URL = 'http://127.0.0.1:80'
FIXTURE = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'fixtures', 'pihole-config-detailed.json')

# Bodies FTL v6.3.3 answered in the lab.
WRONG_PASSWORD = b'{"session":{"valid":false,"totp":false,"sid":null,"validity":-1,"message":"password incorrect"},"took":0.05}'
NO_SEATS = b'{"error":{"key":"api_seats_exceeded","message":"API seats exceeded","hint":"increase webserver.api.max_sessions"}}'
ENV_REFUSED = (b'{"error":{"key":"bad_request","message":"Config items set via environment variables cannot be changed '
               b'via the API","hint":"dns.hosts"},"took":9.7e-05}')
BAD_REGEX = b'{"error":{"key":"regex_error","message":"Regex validation failed","hint":"Missing \')\'"},"took":4e-05}'
NOT_PIHOLE = b'<!DOCTYPE HTML><html><head><title>Error response</title></head><body><h1>Error response</h1></body></html>'


# -- messages -------------------------------------------------------------------------------------

def test_wrong_password():
    message = a.login_error_message(URL, 401, WRONG_PASSWORD)
    assert message.startswith('Wrong password: the Pi-hole at http://127.0.0.1:80 refused the login (HTTP 401')
    assert "'password incorrect'" in message


def test_no_free_session():
    message = a.login_error_message(URL, 429, NO_SEATS)
    assert message.startswith('No free API session on the Pi-hole at http://127.0.0.1:80')
    assert 'increase webserver.api.max_sessions' in message and 'log out other API clients' in message


def test_rate_limit_and_2fa():
    assert 'rate-limits logins' in a.login_error_message(
        URL, 429, b'{"error":{"key":"rate_limiting","message":"Rate-limiting login attempts","hint":null}}')
    assert 'app password' in a.login_error_message(
        URL, 400, b'{"error":{"key":"bad_request","message":"No 2FA token found in JSON payload","hint":null}}')


@pytest.mark.parametrize('status', [404, 501, 200])
def test_not_a_pihole(status):
    message = a.login_error_message('http://172.30.99.250', status, NOT_PIHOLE)
    assert message.startswith('http://172.30.99.250 does not answer as a Pi-hole v6 API: POST /api/auth gave HTTP %d'
                              % status)
    assert 'Error response' in message and 'Pi-hole v5 has no REST API' in message


def test_api_errors_name_the_cause():
    assert a.api_error_message('PATCH', '/api/config', 400, ENV_REFUSED).startswith(
        'dns.hosts is set by the environment variable FTLCONF_dns_hosts')
    assert a.api_error_message('POST', '/api/domains/deny/regex', 400, BAD_REGEX) == \
        "Pi-hole refused POST /api/domains/deny/regex: Regex validation failed (Missing ')')"
    assert 'session ended' in a.api_error_message('GET', '/api/lists', 401, b'{}')
    assert a.api_error_message('GET', '/api/x', 500, b'boom') == 'Pi-hole answered HTTP 500 to GET /api/x: boom'


@pytest.mark.parametrize('reason, expected', [
    (ConnectionRefusedError(111, 'Connection refused'), 'connection refused by 127.0.0.1:80'),
    (socket.timeout('timed out'), 'did not answer in time'),
    (socket.gaierror(-2, 'Name or service not known'), 'does not resolve'),
    (ssl.SSLCertVerificationError(1, '[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed'), 'ca_path'),
    (OSError(113, 'No route to host'), 'No route to host'),
])
def test_transport_errors(reason, expected):
    message = a.transport_error_message(URL, URLError(reason))
    assert expected in message
    assert message.startswith('Cannot reach') or 'TLS certificate' in message or 'did not answer' in message


def test_item_path_escapes_addresses_and_regexes():
    assert a.item_path('https://l.example/a.txt') == 'https%3A%2F%2Fl.example%2Fa.txt'
    assert a.item_path(r'(^|\.)x\.example$') == '%28%5E%7C%5C.%29x%5C.example%24'


# -- a fake FTL ---------------------------------------------------------------------------------

class _Response(object):
    def __init__(self, status, body):
        self.status, self.body = status, body

    def getcode(self):
        return self.status

    def read(self):
        return self.body


class FakeFtl(object):
    """An in-memory FTL v6 API: the endpoints the module uses, answering as FTL v6.3.3 did."""

    def __init__(self, password='pw'):
        with open(FIXTURE) as handle:
            self.config = json.load(handle)['config']
        self.password = password
        self.groups = [{'name': 'Default', 'comment': 'The default group', 'enabled': True, 'id': 0}]
        self.lists, self.domains, self.clients = [], [], []
        self.next_id = 10
        self.requests = []
        self.fail_on = None       # (method, path prefix): answer 400 there
        self.sessions = 0
        self.gravity_updated = 1000

    def leaf(self, path):
        node = self.config
        for key in path.split('.'):
            node = node[key]
        return node

    def __call__(self, url, data=None, headers=None, method=None, **kwargs):
        parts = urlsplit(url)
        path, qs = parts.path, parse_qs(parts.query)
        body = json.loads(data.decode()) if data else None
        self.requests.append('%s %s' % (method, path))
        if self.fail_on and method == self.fail_on[0] and path.startswith(self.fail_on[1]):
            return self.error(400, 'database_error', 'Could not add to gravity database', 'disk I/O error')
        if path == '/api/auth' and method == 'POST':
            if body.get('password') != self.password:
                return self.answer(401, json.loads(WRONG_PASSWORD))
            self.sessions += 1
            return self.answer(200, {'session': {'valid': True, 'sid': 'sid-1', 'csrf': 'x', 'validity': 1800}})
        if headers.get('X-FTL-SID') != 'sid-1':
            return self.answer(401, {'error': {'key': 'unauthorized', 'message': 'Unauthorized', 'hint': None}})
        if path == '/api/auth' and method == 'DELETE':
            self.sessions -= 1
            return _Response(204, b'')
        if path == '/api/config':
            if method == 'GET':
                return self.answer(200, {'config': self.config})
            return self.patch(body['config'], '')
        if path == '/api/action/gravity':
            self.gravity_updated += 1
            return _Response(200, '  [i] Number of gravity domains: 2\n  [\u2713] Done.\n'.encode())
        if path == '/api/stats/summary':
            return self.answer(200, {'gravity': {'last_update': self.gravity_updated}})
        if path == '/api/info/ftl':
            return self.answer(200, {'ftl': {'uptime': 5}})
        for part in ('groups', 'lists', 'domains', 'clients'):
            if path.startswith('/api/%s:batchDelete' % part):
                return self.batch_delete(part, body)
            if path.startswith('/api/' + part):
                return self.items(part, method, path[len('/api/' + part):], qs, body)
        return self.error(404, 'not_found', 'Not found', path)

    def answer(self, status, data):
        if status >= 400:
            raise HTTPError('http://x', status, 'x', {}, io.BytesIO(json.dumps(data).encode()))
        return _Response(status, json.dumps(data).encode())

    def error(self, status, key, message, hint):
        return self.answer(status, {'error': {'key': key, 'message': message, 'hint': hint}})

    def patch(self, tree, prefix):
        for key, value in tree.items():
            path = prefix + key
            if isinstance(value, dict):
                self.patch(value, path + '.')
                continue
            leaf = self.leaf(path)
            if leaf['flags']['env_var'] and leaf['value'] != value:
                return self.error(400, 'bad_request', p.ENV_MESSAGE, path)
            leaf['value'] = value
        return self.answer(200, {'config': {}})

    def table(self, part):
        return getattr(self, part)

    def items(self, part, method, rest, qs, body):
        rows = self.table(part)
        if method == 'GET':
            return self.answer(200, {part: rows})
        field = {'groups': 'name', 'lists': 'address', 'domains': 'domain', 'clients': 'client'}[part]
        if method == 'POST':
            names = body[field] if isinstance(body[field], list) else [body[field]]
            success, errors = [], []
            for name in names:
                row = {field: name, 'comment': body.get('comment'), 'id': self.next_id}
                self.next_id += 1
                if part != 'clients':
                    row['enabled'] = body.get('enabled', True)
                if part != 'groups':
                    row['groups'] = body.get('groups', [0])
                if part == 'lists':
                    row['type'] = qs['type'][0]
                if part == 'domains':
                    row['type'], row['kind'] = rest.strip('/').split('/')
                if any(r[field] == name and r.get('type') == row.get('type') and r.get('kind') == row.get('kind')
                       for r in rows):
                    errors.append({'item': name, 'error': 'UNIQUE constraint failed'})
                    continue
                rows.append(row)
                success.append({'item': name})
            return self.answer(201, {part: rows[-1:], 'processed': {'success': success, 'errors': errors}})
        if method == 'PUT':
            name = unquote(rest.strip('/').split('/')[-1])
            for row in rows:
                if row[field] == name:
                    row.update((k, v) for k, v in body.items() if k in ('comment', 'enabled', 'groups', 'name'))
                    return self.answer(200, {part: [row], 'processed': {'success': [{'item': name}], 'errors': []}})
            return self.error(404, 'not_found', 'Not found', name)
        return self.error(400, 'bad_request', 'unsupported', method)

    def batch_delete(self, part, entries):
        field = {'groups': 'name', 'lists': 'address', 'domains': 'domain', 'clients': 'client'}[part]
        names = set(entry['item'] for entry in entries)
        before = len(self.table(part))
        setattr(self, part, [row for row in self.table(part) if row[field] not in names])
        return _Response(204 if len(self.table(part)) < before else 404, b'{}')


def run(ftl, check_mode=False, **parts):
    names = ('local_records', 'cnames', 'upstreams', 'lists', 'domains', 'groups', 'clients', 'dhcp', 'settings')
    params = dict((name, None) for name in names)
    params['purge'] = parts.pop('purge', [])
    params.update(parts)
    decl = p.normalize_declaration(params)
    api = a.PiholeApi(URL, 'pw', opener=ftl)
    runner = c.ConfigRunner(api, decl, check_mode=check_mode, diff=True)
    try:
        api.login()
        return runner.run(), api.calls
    finally:
        api.logout()


DECLARATION = dict(
    local_records=[{'name': 'new.home.arpa', 'ip': '172.30.99.60'}],
    groups=[{'name': 'kids', 'enabled': True, 'comment': None}],
    lists=[{'address': 'https://lists.lab.example/blocklist-2.txt', 'type': 'block', 'enabled': True,
            'comment': 'second', 'groups': ['kids']}],
    domains=[{'domain': 'a.example', 'type': 'deny', 'kind': 'exact', 'enabled': True, 'comment': None, 'groups': None},
             {'domain': 'b.example', 'type': 'deny', 'kind': 'exact', 'enabled': True, 'comment': None, 'groups': None}],
)


def test_check_mode_reports_what_the_real_run_does_and_the_rerun_is_converged():
    ftl = FakeFtl()
    predicted, calls = run(ftl, check_mode=True, **copy.deepcopy(DECLARATION))
    assert calls == ['POST /api/auth', 'GET /api/config?detailed=true', 'GET /api/groups', 'GET /api/domains',
                     'GET /api/lists', 'DELETE /api/auth']
    assert ftl.lists == [] and ftl.domains == []   # check mode wrote nothing
    applied, calls = run(ftl, **copy.deepcopy(DECLARATION))
    assert applied['changes'] == predicted['changes'] and applied['diff'] == predicted['diff']
    assert calls[5:] == ['POST /api/groups', 'GET /api/groups', 'POST /api/domains/deny/exact',
                         'POST /api/lists?type=block', 'GET /api/stats/summary', 'POST /api/action/gravity',
                         'GET /api/stats/summary', 'GET /api/groups', 'PATCH /api/config', 'DELETE /api/auth']
    assert applied['gravity']['reloaded'] is True
    assert [d['domain'] for d in ftl.domains] == ['a.example', 'b.example']   # one call for both
    assert ftl.lists[0]['groups'] == [10]   # the new group's id, read after creating it
    again, calls = run(ftl, **copy.deepcopy(DECLARATION))
    assert again['changed'] is False and again['changes'] == {}
    # Converged: one login, one read per part (config, groups, domains, lists), one logout.
    assert calls == ['POST /api/auth', 'GET /api/config?detailed=true', 'GET /api/groups', 'GET /api/domains',
                     'GET /api/lists', 'DELETE /api/auth']
    assert ftl.sessions == 0


def test_failure_half_way_names_applied_and_not_applied_and_a_rerun_completes():
    ftl = FakeFtl()
    ftl.fail_on = ('POST', '/api/lists')
    with pytest.raises(a.PiholeError) as info:
        run(ftl, **copy.deepcopy(DECLARATION))
    error = info.value
    assert error.details['applied'] == ['add groups: kids', "read the new groups' ids",
                                        'add domains: deny exact a.example, deny exact b.example']
    assert error.details['not_applied'] == ['add lists: block https://lists.lab.example/blocklist-2.txt',
                                            'run gravity (lists changed)', 'change settings: dns.hosts']
    assert 'disk I/O error' in error.msg and 'a rerun applies only what is still missing' in error.msg
    assert ftl.sessions == 0   # logged out after the failure
    ftl.fail_on = None
    done, dummy = run(ftl, **copy.deepcopy(DECLARATION))
    assert list(done['changes']) == ['local_records', 'lists']


def test_env_var_setting_fails_before_any_write():
    ftl = FakeFtl()
    with pytest.raises(p.DeclarationError) as info:
        run(ftl, upstreams=['9.9.9.9'], domains=DECLARATION['domains'])
    assert 'FTLCONF_dns_upstreams' in info.value.problems[0]
    assert ftl.domains == [] and not any(r.startswith(('POST /api/domains', 'PATCH')) for r in ftl.requests)


def test_updates_keep_unmanaged_fields_and_purge_removes_the_rest():
    ftl = FakeFtl()
    ftl.domains = [{'domain': 'a.example', 'type': 'deny', 'kind': 'exact', 'comment': 'keep me', 'enabled': False,
                    'groups': [0], 'id': 1},
                   {'domain': 'old.example', 'type': 'deny', 'kind': 'exact', 'comment': None, 'enabled': True,
                    'groups': [0], 'id': 2}]
    result, calls = run(ftl, domains=[DECLARATION['domains'][0]], purge=['domains'])
    assert ftl.domains == [{'domain': 'a.example', 'type': 'deny', 'kind': 'exact', 'comment': 'keep me',
                            'enabled': True, 'groups': [0], 'id': 1}]
    assert calls[-3:] == ['PUT /api/domains/deny/exact/a.example', 'POST /api/domains:batchDelete', 'DELETE /api/auth']
    assert result['changes']['domains']['removed'] == ['deny exact old.example (enabled)']


def test_login_failures_raise_with_the_message():
    ftl = FakeFtl(password='other')
    api = a.PiholeApi(URL, 'pw', opener=ftl)
    with pytest.raises(a.PiholeError) as info:
        api.login()
    assert info.value.msg.startswith('Wrong password')
    assert api.logout() is True and api.calls == ['POST /api/auth']   # nothing to log out from

    def refused(url, **kwargs):
        raise URLError(ConnectionRefusedError(111, 'Connection refused'))
    api = a.PiholeApi(URL, 'pw', opener=refused)
    with pytest.raises(a.PiholeError) as info:
        api.login()
    assert 'connection refused' in info.value.msg


def test_database_unavailable_is_waited_for():
    """FTL v6.3.3 right after a gravity run: reads answer 400, adds 201 with every item refused."""
    read = b'{"error":{"key":"database_error","message":"Could not read domains from database table",' \
           b'"hint":"Database not available"},"took":7e-05}'
    add = b'{"domains":[],"processed":{"errors":[{"item":"a.example","error":"Database not available"}],"success":[]}}'
    assert a.database_unavailable(400, read) and a.database_unavailable(201, add)
    assert not a.database_unavailable(400, BAD_REGEX)
    assert not a.database_unavailable(201, b'{"processed":{"errors":[{"item":"a","error":"UNIQUE constraint failed"}]}}')
    answers = [(400, read), (400, read), (200, b'{"groups":[]}')]

    def opener(url, **kwargs):
        status, body = answers.pop(0)
        if status >= 400:
            raise HTTPError(url, status, 'x', {}, io.BytesIO(body))
        return _Response(status, body)
    api = a.PiholeApi(URL, 'pw', opener=opener)
    assert api.call('GET', '/api/groups') == (200, {'groups': []})
    assert api.calls == ['GET /api/groups'] * 3   # every try counted


def test_wait_restart_waits_for_an_ftl_younger_than_the_request():
    """The FTL that answered the PATCH (started long before) keeps answering for a moment, then the
    port is closed, then the restarted one answers with a small uptime (as FTL v6.3.3 did)."""
    answers = [b'{"ftl":{"uptime":2798490}}', b'{"ftl":{"uptime":1000}}',
               URLError(ConnectionRefusedError(111, 'Connection refused')), b'{"ftl":{"uptime":80}}']

    def opener(url, **kwargs):
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return _Response(200, answer)
    api = a.PiholeApi(URL, 'pw', opener=opener)
    # The previous FTL started 1 s before the request (uptime 1000 ms): still the old one.
    api.wait_restart(time.time() - 0.5, timeout=10)
    assert answers == [] and api.calls == ['GET /api/info/ftl'] * 4
