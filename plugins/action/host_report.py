# -*- coding: utf-8 -*-
# Copyright: homelab.photon contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""homelab.photon.host_report: the host report printed and written on the controller (no module run).

The documentation is in plugins/modules/host_report.py."""

from __future__ import annotations

import datetime
import os
import tempfile

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.text.converters import to_bytes, to_native
from ansible.plugins.action import ActionBase

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


class ActionModule(ActionBase):

    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        dummy, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        if not args['name'] or '/' in args['name'] or args['name'].startswith('.'):
            raise AnsibleActionFail('name must be a plain file name stem such as "hosts" (given %r)' % args['name'])

        rows = []
        details = {}
        failed_dns = []
        for name in args['hosts']:
            entry = args['data'].get(name) or {}
            info = entry.get('info') or {}
            dns = entry.get('dns') or {}
            rows.append(host_row(name, entry))
            details[name] = {'info': dict((k, v) for k, v in info.items() if not k.startswith('_') and k not in
                                          ('invocation', 'changed', 'failed')),
                             'dns': dict((k, v) for k, v in dns.items() if k in
                                         ('name', 'rcode', 'addresses', 'server', 'failed', 'msg')),
                             'vm': entry.get('vm') or {}}
            if dns_failed(dns):
                failed_dns.append(name)

        generated = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat().replace('+00:00', 'Z')
        files = {'markdown': os.path.join(args['dir'], args['name'] + '.md'),
                 'json': os.path.join(args['dir'], args['name'] + '.json')}
        result.update(changed=False, files=files, msg=markdown_table(rows))
        if self._task.check_mode:
            result['files_written'] = False
        else:
            try:
                os.makedirs(args['dir'], exist_ok=True)
                _write(files['markdown'], markdown_document(rows, generated))
                _write(files['json'], json_document(rows, details, generated))
            except (IOError, OSError) as exc:
                raise AnsibleActionFail('Cannot write the host report into %s: %s; set report_dir to a directory '
                                        'the controller user may write.' % (args['dir'], to_native(exc)))
            result['files_written'] = True
        # Show the table as debug does (the report is the point of this task).
        if args['print']:
            result['_ansible_verbose_always'] = True
        if failed_dns and args['fail_on_dns']:
            result['failed'] = True
            result['msg'] = (['DNS check failed for %s (see the DNS check line); the report was still written.'
                              % ', '.join(failed_dns)] + result['msg'])
        return result
