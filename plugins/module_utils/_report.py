# -*- coding: utf-8 -*-
# Copyright: homelab.photon contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The host report: what homelab.photon.host_info reads on a host (parsers) and how
homelab.photon.host_report shows it (one row per host, a Markdown table, a JSON document).

Pure functions only: the unit tests feed them what the real programs printed.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

# The report's columns, in order: (key, heading).
COLUMNS = (
    ('address', 'Address'),
    ('vm', 'VM'),
    ('os', 'OS'),
    ('kernel', 'Kernel'),
    ('rpm_packages', 'RPM packages'),
    ('memory', 'Memory'),
    ('disk', 'Disk'),
    ('docker', 'Docker'),
    ('compose', 'Compose'),
    ('pihole', 'Pi-hole'),
    ('admin_url', 'Admin URL'),
    ('dns', 'DNS check'),
)

NONE = '-'


# -- parsers (host side) --------------------------------------------------------------------

def parse_os_release(text):
    """KEY=value lines of os-release(5), quotes removed."""
    result = {}
    for line in (text or '').splitlines():
        line = line.strip()
        if not line or line.startswith('#') or '=' not in line:
            continue
        key, value = line.split('=', 1)
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in '"\'':
            value = value[1:-1].replace('\\"', '"').replace('\\\\', '\\')
        result[key.strip()] = value
    return result


def parse_photon_release(text):
    """/etc/photon-release: a title line (VMware Photon OS 5.0) and PHOTON_BUILD_NUMBER=..."""
    lines = [line.strip() for line in (text or '').splitlines() if line.strip()]
    result = {'title': None, 'build': None}
    for line in lines:
        if line.startswith('PHOTON_BUILD_NUMBER='):
            result['build'] = line.split('=', 1)[1].strip() or None
        elif result['title'] is None and '=' not in line:
            result['title'] = line
    return result


def parse_meminfo(text):
    """MemTotal and MemAvailable of /proc/meminfo, in bytes (None when missing)."""
    values = {}
    for line in (text or '').splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0].endswith(':') and parts[1].isdigit():
            factor = 1024 if len(parts) > 2 and parts[2].lower() == 'kb' else 1
            values[parts[0][:-1]] = int(parts[1]) * factor
    return {'total': values.get('MemTotal'), 'available': values.get('MemAvailable')}


def count_lines(text):
    """How many non-empty lines (rpm -qa prints one package a line)."""
    return len([line for line in (text or '').splitlines() if line.strip()])


def parse_docker_version(text):
    """`docker version --format '{{json .}}'`: the client's and the engine's version (None when the
    engine did not answer, then Docker prints Server as null)."""
    try:
        data = json.loads(text)
    except (ValueError, TypeError):
        return {'client': None, 'server': None}
    if not isinstance(data, dict):
        return {'client': None, 'server': None}
    client = data.get('Client') or {}
    server = data.get('Server') or {}
    return {'client': client.get('Version') if isinstance(client, dict) else None,
            'server': server.get('Version') if isinstance(server, dict) else None}


def parse_compose_version(text):
    """`docker compose version --short` prints 2.26.1 (some builds v2.26.1)."""
    text = (text or '').strip().splitlines()
    if not text:
        return None
    version = text[0].strip()
    return version[1:] if version[:1] == 'v' and version[1:2].isdigit() else version


def pihole_versions(data):
    """What GET /api/info/version answered, as {core, web, ftl, docker} local versions."""
    version = (data or {}).get('version') or {}
    result = {}
    for part in ('core', 'web', 'ftl'):
        local = ((version.get(part) or {}).get('local') or {})
        result[part] = local.get('version') if isinstance(local, dict) else None
    docker = version.get('docker') or {}
    result['docker'] = docker.get('local') if isinstance(docker, dict) else None
    return result


def disk_usage(path, statvfs):
    """A file system's size and use from os.statvfs() of a path in it (bytes; percent used as df
    counts it: used / (used + available to users))."""
    total = statvfs.f_blocks * statvfs.f_frsize
    free = statvfs.f_bfree * statvfs.f_frsize
    available = statvfs.f_bavail * statvfs.f_frsize
    used = total - free
    base = used + available
    percent = int(-(-used * 100 // base)) if base else 0
    return {'path': path, 'total': total, 'used': used, 'available': available, 'percent': percent}


# -- formatting (controller side) ------------------------------------------------------------

def human_bytes(value):
    """1536 -> 1.5 KiB; None -> '-'."""
    if value is None:
        return NONE
    value = float(value)
    for unit in ('B', 'KiB', 'MiB', 'GiB', 'TiB'):
        if abs(value) < 1024 or unit == 'TiB':
            if unit == 'B':
                return '%d B' % value
            return ('%.1f %s' % (value, unit)).replace('.0 ', ' ')
        value /= 1024.0
    return NONE  # pragma: no cover


def _os_text(info):
    osr = info.get('os') or {}
    photon = osr.get('photon') or {}
    if osr.get('id') == 'photon' or photon.get('title'):
        text = 'Photon OS %s' % (osr.get('version_id') or (photon.get('title') or '').split()[-1])
        if photon.get('build'):
            text += ' (build %s)' % photon['build']
        return text
    return osr.get('pretty_name') or osr.get('name') or NONE


def _memory_text(info):
    memory = info.get('memory') or {}
    if not memory.get('total'):
        return NONE
    if memory.get('available') is None:
        return '%s total' % human_bytes(memory['total'])
    return '%s of %s used' % (human_bytes(memory['total'] - memory['available']), human_bytes(memory['total']))


def _disk_text(info):
    parts = []
    for disk in info.get('disks') or []:
        parts.append('%s %d%% (%s of %s)' % (disk['path'], disk['percent'], human_bytes(disk['used']),
                                             human_bytes(disk['total'])))
    for size in info.get('sizes') or []:
        parts.append('%s %s' % (size['path'], human_bytes(size['bytes']) if size.get('bytes') is not None
                                else 'missing'))
    return ', '.join(parts) or NONE


def _docker_text(info):
    docker = info.get('docker') or {}
    if docker.get('server'):
        return docker['server']
    if docker.get('client'):
        return '%s (engine not running)' % docker['client']
    return NONE


def _pihole_text(info):
    pihole = info.get('pihole')
    if not pihole:
        return NONE
    if pihole.get('error'):
        return 'error: %s' % pihole['error']
    parts = ['%s %s' % (label, pihole[key]) for key, label in
             (('ftl', 'FTL'), ('core', 'core'), ('web', 'web'), ('docker', 'docker')) if pihole.get(key)]
    return ', '.join(parts) or NONE


def dns_failed(dns):
    """Whether a DNS check (dns_query's result, registered with failed_when false) got no address."""
    if not dns or dns.get('skipped'):
        return False
    return bool(dns.get('failed')) or dns.get('rcode') != 'NOERROR' or not dns.get('addresses')


def _dns_text(dns):
    if not dns or dns.get('skipped'):
        return NONE
    if dns_failed(dns):
        return 'FAILED: %s' % (dns.get('msg') or 'no answer')
    return '%s -> %s (%s from %s)' % (dns.get('name') or 'pi.hole', ', '.join(dns.get('addresses') or []) or NONE,
                                      dns.get('rcode') or '?', dns.get('server') or '?')


def _vm_text(vm):
    if not vm or not vm.get('moid'):
        return NONE
    return '%s (%s), %s' % (vm.get('name') or '?', vm['moid'], ', '.join(
        str(vm[key]) for key in ('hw_version', 'guest_id', 'power_state') if vm.get(key)))


def host_row(name, entry):
    """One host's line of the report: {host, <column key>: text, ...}. ENTRY: info (host_info's
    result; missing or failed: '-' in its columns, the failure in the OS column), dns (dns_query's),
    admin_url, address, vm (the vm stage's vm_info)."""
    entry = entry or {}
    info = entry.get('info') or {}
    dns = entry.get('dns') or {}
    admin_url = entry.get('admin_url')
    row = {'host': name}
    if info.get('failed') or info.get('unreachable'):
        row.update(dict((key, NONE) for key, dummy in COLUMNS))
        row['os'] = 'FAILED: %s' % (info.get('msg') or 'no data')
    elif not info.get('kernel'):
        row.update(dict((key, NONE) for key, dummy in COLUMNS))
        row['os'] = 'no data (the host was not reached in this run)'
    else:
        rpm = info.get('rpm_packages')
        compose = info.get('compose')
        row.update({
            'os': _os_text(info),
            'kernel': info.get('kernel') or NONE,
            'rpm_packages': NONE if rpm is None else str(rpm),
            'memory': _memory_text(info),
            'disk': _disk_text(info),
            'docker': _docker_text(info),
            'compose': compose or NONE,
            'pihole': _pihole_text(info),
        })
    row['address'] = entry.get('address') or NONE
    row['vm'] = _vm_text(entry.get('vm'))
    row['admin_url'] = admin_url or NONE
    row['dns'] = _dns_text(dns)
    return row


def _cell(text):
    """A Markdown table cell: pipes escaped, one line."""
    return ' '.join(str(text).split()).replace('|', '\\|')


def markdown_table(rows):
    """The report as a Markdown table, one column per host and one line per item (hosts side by side
    read better than a dozen columns), padded so that it also reads as plain text. A list of lines."""
    header = [''] + [_cell(row['host']) for row in rows]
    body = [[heading] + [_cell(row.get(key, NONE)) for row in rows] for key, heading in COLUMNS]
    widths = [max(len(line[i]) for line in [header] + body) for i in range(len(header))]
    widths = [max(width, 3) for width in widths]

    def line(cells):
        return '| ' + ' | '.join(cell.ljust(width) for cell, width in zip(cells, widths)) + ' |'

    return [line(header), '|' + '|'.join('-' * (width + 2) for width in widths) + '|'] + [line(cells) for cells in body]


def markdown_document(rows, generated):
    """The Markdown file: a title, when, the table."""
    return '\n'.join(['# Host report', '', 'Generated %s by homelab.photon.host_report.' % generated, '']
                     + markdown_table(rows)) + '\n'


def json_document(rows, details, generated):
    """The JSON file: when, and per host the report's texts and the raw values they came from."""
    hosts = []
    for row in rows:
        entry = dict(row)
        entry['details'] = details.get(row['host'], {})
        hosts.append(entry)
    return json.dumps({'generated': generated, 'columns': [dict(key=k, heading=h) for k, h in COLUMNS],
                       'hosts': hosts}, indent=2, sort_keys=True) + '\n'
