# -*- coding: utf-8 -*-
"""Unit tests of homelab.photon.pihole_teleporter's helpers: the import request, archive checks, the
private write. The archive members are those FTL v6.3.3's GET /api/teleporter returned in the lab."""

import io
import os
import stat
import zipfile

import pytest

from ansible_collections.homelab.photon.plugins.module_utils._pihole_api import PiholeError
from ansible_collections.homelab.photon.plugins.modules import pihole_teleporter as t

MEMBERS = ['etc/pihole/pihole.toml', 'etc/hosts', 'etc/pihole/dhcp.leases', 'etc/pihole/gravity.db',
           'etc/pihole/pihole-FTL.db']


def archive(members=tuple(MEMBERS)):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, 'w') as handle:
        for name in members:
            handle.writestr(name, 'x')
    return buffer.getvalue()


def test_import_spec_everything_is_none_else_the_tables():
    assert t.import_spec(list(t.IMPORT_PARTS)) is None
    assert t.import_spec(['lists', 'groups']) == {
        'config': False, 'dhcp_leases': False,
        'gravity': {'group': True, 'adlist': True, 'adlist_by_group': True, 'domainlist': False,
                    'domainlist_by_group': False, 'client': False, 'client_by_group': False}}


def test_archive_checks():
    assert t.archive_members(archive(), 'a.zip') == MEMBERS
    with pytest.raises(PiholeError) as info:
        t.archive_members(b'not a zip', 'b.zip')
    assert 'b.zip is not a Teleporter archive (not a ZIP file' in info.value.msg
    with pytest.raises(PiholeError) as info:
        t.archive_members(archive(['etc/hosts']), 'c.zip')
    assert 'no etc/pihole/pihole.toml nor etc/pihole/gravity.db' in info.value.msg


def test_write_private_is_0600_and_atomic(tmp_path):
    target = tmp_path / 'backup.zip'
    target.write_bytes(b'old')
    os.chmod(str(target), 0o644)
    t.write_private(str(target), b'new archive')
    assert target.read_bytes() == b'new archive'
    assert stat.S_IMODE(os.stat(str(target)).st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ['backup.zip']   # no temporary file left
    with pytest.raises(PiholeError) as info:
        t.write_private(str(tmp_path / 'missing' / 'b.zip'), b'x')
    assert 'does not exist; create it first' in info.value.msg
