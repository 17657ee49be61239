# -*- coding: utf-8 -*-
# Copyright: homelab.photon contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""homelab.photon.host_report: the host report printed and written on the controller (no module run);
the DNS check of every host asked from the controller at once, with dns_query's own code (_dnsquery).

The documentation is in plugins/modules/host_report.py."""

from __future__ import annotations

import datetime
import ipaddress
import os
import socket
import struct
import tempfile
import threading
import time

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.text.converters import to_bytes, to_native
from ansible.plugins.action import ActionBase

from ansible_collections.homelab.photon.plugins.module_utils._dnsquery import (
    DNSError,
    addresses,
    build_query,
    exchange,
    parse_response,
)
from ansible_collections.homelab.photon.plugins.module_utils._report import (
    dns_failed,
    host_row,
    json_document,
    markdown_document,
    markdown_table,
)

ARGUMENT_SPEC = dict(
    dir=dict(type='path', required=True),
    name=dict(type='str', default='hosts'),
    hosts=dict(type='list', elements='str', required=True),
    data=dict(type='dict', default={}),
    dns_name=dict(type='str', default='pi.hole'),
    dns_port=dict(type='int', default=53),
    dns_retries=dict(type='int', default=5),
    dns_delay=dict(type='float', default=2.0),
    fail_on_dns=dict(type='bool', default=True),
    print=dict(type='bool', default=True),
)


def _write(path, text, mode=0o644):
    """Replace PATH with TEXT at once (a temporary file renamed over it)."""
    directory = os.path.dirname(path)
    handle, temp = tempfile.mkstemp(prefix='.' + os.path.basename(path) + '.', dir=directory)
    try:
        with os.fdopen(handle, 'wb') as out:
            out.write(to_bytes(text))
        os.chmod(temp, mode)
        os.rename(temp, path)
    except BaseException:
        if os.path.exists(temp):
            os.unlink(temp)
        raise


def ask(server, port, name, retries, delay, timeout=2.0):
    """NAME's A records from SERVER:PORT over UDP, asked from the controller, as dns_query returns them
    (a `msg` instead when no answer came after RETRIES more tries)."""
    errors = []
    target = '%s#%d' % (server, port)
    try:
        ipaddress.ip_address(server)
    except ValueError:
        return {'name': name, 'server': target, 'msg': '%r is not an IP address (set report_dns_server)' % server}
    for attempt in range(retries + 1):
        if attempt:
            time.sleep(delay)
        query_id = struct.unpack('!H', os.urandom(2))[0]
        try:
            reply = parse_response(exchange(server, port, 'udp', build_query(query_id, name), timeout), query_id)
        except (socket.error, socket.timeout) as exc:
            errors.append('try %d: %s' % (attempt + 1, exc))
            continue
        except DNSError as exc:
            errors.append('try %d: unreadable answer: %s' % (attempt + 1, exc))
            continue
        return {'name': name, 'server': target, 'rcode': reply['rcode_name'], 'addresses': addresses(reply, 'A'),
                'tries': attempt + 1}
    return {'name': name, 'server': target, 'tries': retries + 1,
            'msg': 'no answer from %s for %s after %d tries: %s' % (target, name, retries + 1, '; '.join(errors))}


def ask_all(servers, port, name, retries, delay):
    """ask() of every {host: server} at once (one thread each): {host: result}."""
    results = {}

    def one(host, server):
        results[host] = ask(server, port, name, retries, delay)

    threads = [threading.Thread(target=one, args=item) for item in servers.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


class ActionModule(ActionBase):

    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        dummy, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        if not args['name'] or '/' in args['name'] or args['name'].startswith('.'):
            raise AnsibleActionFail('name must be a plain file name stem such as "hosts" (given %r)' % args['name'])

        if args['dns_retries'] < 0 or args['dns_delay'] < 0 or not 0 < args['dns_port'] < 65536:
            raise AnsibleActionFail('dns_retries and dns_delay must not be negative, dns_port must be 1-65535')
        servers = dict((name, (args['data'].get(name) or {}).get('dns_server')) for name in args['hosts'])
        answers = ask_all(dict((k, v) for k, v in servers.items() if v), args['dns_port'], args['dns_name'],
                          args['dns_retries'], args['dns_delay'])
        rows = []
        details = {}
        failed_dns = []
        for name in args['hosts']:
            entry = dict(args['data'].get(name) or {}, dns=answers.get(name) or {})
            info = entry.get('info') or {}
            dns = entry['dns']
            rows.append(host_row(name, entry))
            details[name] = {'info': dict((k, v) for k, v in info.items() if not k.startswith('_') and k not in
                                          ('invocation', 'changed', 'failed')),
                             'dns': dict((k, v) for k, v in dns.items() if k in
                                         ('name', 'rcode', 'addresses', 'server', 'tries', 'msg')),
                             'vm': entry.get('vm') or {}}
            if dns_failed(dns):
                failed_dns.append(name)

        generated = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat().replace('+00:00', 'Z')
        directory = os.path.normpath(args['dir'])
        files = {'markdown': os.path.join(directory, args['name'] + '.md'),
                 'json': os.path.join(directory, args['name'] + '.json')}
        result.update(changed=False, files=files, msg=markdown_table(rows))
        if self._task.check_mode:
            result['files_written'] = False
        else:
            try:
                os.makedirs(directory, exist_ok=True)
                _write(files['markdown'], markdown_document(rows, generated))
                _write(files['json'], json_document(rows, details, generated))
            except (IOError, OSError) as exc:
                raise AnsibleActionFail('Cannot write the host report into %s: %s; set report_dir to a directory '
                                        'the controller user may write.' % (directory, to_native(exc)))
            result['files_written'] = True
        # Show the table as debug does (the report is the point of this task).
        if args['print']:
            result['_ansible_verbose_always'] = True
        if failed_dns and args['fail_on_dns']:
            result['failed'] = True
            result['msg'] = (['DNS check failed for %s (see the DNS check line); the report was still written.'
                              % ', '.join(failed_dns)] + result['msg'])
        return result
