#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) homelab.photon contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: pihole_teleporter
short_description: Back up a Pi-hole v6 to a Teleporter archive, or restore one
version_added: 0.1.0
description:
  - O(state=backup) saves Pi-hole's Teleporter archive (C(GET /api/teleporter)) to O(path), readable by
    its owner only (mode C(0600)). It holds C(pihole.toml) with every setting and the password hash, the groups,
    lists, domains and clients of C(gravity.db), the DHCP leases, C(/etc/hosts) and C(/etc/dnsmasq.d).
  - O(state=restore) uploads an archive (C(POST /api/teleporter)); Pi-hole replaces what it imports,
    FTL restarts itself, and the module waits until it answers again. The archive holds the lists but
    not the domains downloaded from them, so gravity runs afterwards (O(gravity)) and blocking works
    again at once.
  - One login per task and always a logout.
  - Settings fixed by C(FTLCONF_) environment variables of the container (such as the web password set
    by the pihole role) keep the environment's value after a restore.
author:
  - homelab.photon contributors (@homelab-photon)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - homelab.photon.pihole
options:
  timeout:
    description: Seconds to wait for each API answer.
    type: int
    default: 60
  state:
    description:
      - V(backup) writes the archive to O(path) (always a new archive, so always changed).
      - V(restore) imports the archive at O(path) into the Pi-hole.
    type: str
    choices: [backup, restore]
    default: backup
  path:
    description:
      - The archive on the machine the module runs on (a C(.zip) file). A backup replaces a file of
        that name atomically; its directory must exist.
    type: path
    required: true
  parts:
    description:
      - With O(state=restore), what to import; every part by default. V(config) is C(pihole.toml) (settings,
        local records, CNAMEs, upstreams, DHCP), V(dhcp_leases) the current leases, and V(groups),
        V(lists), V(domains), V(clients) the tables of C(gravity.db) with their group assignments.
    type: list
    elements: str
    choices: [config, dhcp_leases, groups, lists, domains, clients]
    default: [config, dhcp_leases, groups, lists, domains, clients]
  gravity:
    description: With O(state=restore), run gravity after the import when lists were imported.
    type: bool
    default: true
  gravity_timeout:
    description: Seconds the gravity run may take.
    type: int
    default: 900
  restart_timeout:
    description: Seconds to wait for FTL to answer again after the import's restart.
    type: int
    default: 90
attributes:
  check_mode:
    support: full
    details:
      - A backup in check mode logs in and out but neither downloads nor writes the archive.
      - A restore in check mode checks the archive and logs in and out, and imports nothing.
  diff_mode:
    support: none
  platform:
    support: full
    platforms: posix
notes:
  - The pihole role backs the Pi-hole up to the controller before it changes anything through the API,
    and restores with C(tasks_from=restore); see its README.
  - The archive holds the password hash and the settings; keep it private.
seealso:
  - module: homelab.photon.pihole_config
"""

EXAMPLES = r"""
- name: Back up the Pi-hole on its host
  homelab.photon.pihole_teleporter:
    url: http://127.0.0.1:80
    password: "{{ vault_pihole_password }}"
    state: backup
    path: /root/pihole-teleporter.zip

- name: Restore the lists and domains only
  homelab.photon.pihole_teleporter:
    password: "{{ vault_pihole_password }}"
    state: restore
    path: /root/pihole-teleporter.zip
    parts: [groups, lists, domains]
"""

RETURN = r"""
path:
  description: The archive.
  returned: always
  type: str
  sample: /root/pihole-teleporter.zip
size:
  description: Size of the archive in bytes (of the one written, or of the one restored).
  returned: success and not check mode for a backup
  type: int
  sample: 22615
sha256:
  description: SHA-256 of the archive.
  returned: success and not check mode for a backup
  type: str
members:
  description: The files in the archive.
  returned: success and not check mode for a backup
  type: list
  elements: str
  sample: [etc/pihole/pihole.toml, etc/hosts, etc/pihole/dhcp.leases, etc/pihole/gravity.db, etc/pihole/pihole-FTL.db]
imported:
  description: What Pi-hole imported, as it reported it.
  returned: restore, not in check mode
  type: list
  elements: str
  sample: [etc/pihole/pihole.toml, etc/pihole/gravity.db->group, etc/pihole/gravity.db->adlist]
gravity:
  description: Whether gravity ran after the restore, its domain count and the lists it could not download.
  returned: restore
  type: dict
api_calls:
  description: Number of HTTP requests the task made, login and logout included.
  returned: always
  type: int
api_requests:
  description: The requests, as C(METHOD /api/path) in order.
  returned: always
  type: list
  elements: str
"""

import hashlib
import io
import os
import tempfile
import time
import zipfile

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.homelab.photon.plugins.module_utils._pihole_api import CONNECTION_SPEC, PiholeApi, PiholeError
from ansible_collections.homelab.photon.plugins.module_utils._pihole_plan import gravity_summary

IMPORT_PARTS = ['config', 'dhcp_leases', 'groups', 'lists', 'domains', 'clients']
# The gravity.db tables of each part (FTL's names in the import request).
GRAVITY_TABLES = {
    'groups': ['group'],
    'lists': ['adlist', 'adlist_by_group'],
    'domains': ['domainlist', 'domainlist_by_group'],
    'clients': ['client', 'client_by_group'],
}


def import_spec(parts):
    """The `import` field of POST /api/teleporter; None (= everything) when every part is asked for."""
    if sorted(parts) == sorted(IMPORT_PARTS):
        return None
    spec = {'config': 'config' in parts, 'dhcp_leases': 'dhcp_leases' in parts, 'gravity': {}}
    for part, tables in GRAVITY_TABLES.items():
        for table in tables:
            spec['gravity'][table] = part in parts
    return spec


def archive_members(data, path):
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = archive.namelist()
            broken = archive.testzip()
    except zipfile.BadZipfile as exc:
        raise PiholeError('%s is not a Teleporter archive (not a ZIP file: %s).' % (path, exc))
    if broken:
        raise PiholeError('%s is damaged: %s fails its CRC check.' % (path, broken))
    if 'etc/pihole/pihole.toml' not in names and 'etc/pihole/gravity.db' not in names:
        raise PiholeError('%s is not a Pi-hole v6 Teleporter archive (no etc/pihole/pihole.toml nor '
                          'etc/pihole/gravity.db in it; v5 archives are .tar.gz).' % path)
    return names


def write_private(path, data):
    """Write the archive atomically with mode 0600 (it holds the password hash)."""
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise PiholeError('The directory of path %s does not exist; create it first.' % path)
    handle, temp = tempfile.mkstemp(prefix='.pihole-teleporter-', dir=directory)
    try:
        os.fchmod(handle, 0o600)
        with os.fdopen(handle, 'wb') as out:
            out.write(data)
        os.rename(temp, path)
    except Exception:
        if os.path.exists(temp):
            os.unlink(temp)
        raise
    os.chmod(path, 0o600)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            CONNECTION_SPEC,
            timeout=dict(type='int', default=60),
            state=dict(type='str', choices=['backup', 'restore'], default='backup'),
            path=dict(type='path', required=True),
            gravity=dict(type='bool', default=True),
            gravity_timeout=dict(type='int', default=900),
            restart_timeout=dict(type='int', default=90),
            parts=dict(type='list', elements='str', choices=IMPORT_PARTS, default=list(IMPORT_PARTS)),
        ),
        supports_check_mode=True,
    )
    params = module.params
    path = params['path']
    api = PiholeApi(params['url'], params['password'], validate_certs=params['validate_certs'],
                    ca_path=params['ca_path'], timeout=params['timeout'], use_proxy=params['use_proxy'])
    result = dict(changed=True, path=path)
    archive = None
    if params['state'] == 'restore':
        if not os.path.isfile(path):
            module.fail_json(msg='No archive at %s to restore.' % path, api_calls=0, api_requests=[], **result)
        with open(path, 'rb') as handle:
            archive = handle.read()
        try:
            result['members'] = archive_members(archive, path)
        except PiholeError as exc:
            module.fail_json(msg=exc.msg, api_calls=0, api_requests=[], **result)
        result.update(size=len(archive), sha256=hashlib.sha256(archive).hexdigest())
    failure = None
    try:
        api.login()
        if params['state'] == 'backup':
            if not module.check_mode:
                data = api.teleporter_export(timeout=params['timeout'])
                members = archive_members(data, 'The archive Pi-hole sent')
                write_private(path, data)
                result.update(size=len(data), sha256=hashlib.sha256(data).hexdigest(), members=members,
                              msg='Teleporter archive written to %s (%d bytes)' % (path, len(data)))
            else:
                result['msg'] = 'would write a Teleporter archive to %s' % path
        else:
            parts = params['parts']
            lists = 'lists' in parts
            result['gravity'] = {'needed': bool(params['gravity'] and lists), 'ran': False}
            if module.check_mode:
                result['msg'] = 'would restore %s from %s' % (', '.join(parts), path)
            else:
                since = time.time()
                answer = api.teleporter_import(archive, import_spec(parts), timeout=params['timeout'])
                result['imported'] = answer.get('files') or answer.get('processed') or []
                # An import always makes FTL restart itself.
                api.wait_restart(since, params['restart_timeout'])
                if result['gravity']['needed']:
                    started = time.time()
                    output, reloaded = api.gravity(params['gravity_timeout'])
                    summary = gravity_summary(output)
                    result['gravity'].update(ran=True, seconds=round(time.time() - started, 2), reloaded=reloaded,
                                             failures=summary['failures'], domains=summary['domains'])
                    if summary['failures']:
                        module.warn('gravity could not download: %s' % '; '.join(summary['failures']))
                result['msg'] = 'restored %s from %s' % (', '.join(parts), path)
    except PiholeError as exc:
        failure = dict(msg=exc.msg, **exc.details)
    finally:
        api.logout()
    result.update(api_calls=len(api.calls), api_requests=list(api.calls))
    if failure is not None:
        result.update(failure)
        result['changed'] = False
        module.fail_json(**result)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
