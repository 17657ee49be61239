# -*- coding: utf-8 -*-
# Copyright: homelab.photon contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure logic of homelab.photon.pihole_config: validate a declaration, compare it with what a
Pi-hole v6 holds, and plan the fewest API calls that make the Pi-hole match.

Nothing here talks to the network. The runner reads each part once, hands the answers to these
functions and executes the plan; every decision (what differs, what is kept, what a purge removes,
which FTLCONF_ variable blocks a change) is unit-tested on the answers a real FTL v6.3.3 gave.

Parts and where Pi-hole keeps them:
- local_records (dns.hosts), cnames (dns.cnameRecords), upstreams (dns.upstreams), dhcp (dhcp.*),
  settings (any config path): pihole.toml, read with one GET /api/config and written with one PATCH.
- lists, domains, groups, clients: gravity.db, one GET each; adds batched (POST with an array),
  deletes batched (:batchDelete), updates one PUT per item (the API has no batch update).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import difflib
import ipaddress
import json
import re
import warnings
from collections import OrderedDict

PURGE_CHOICES = ('local_records', 'cnames', 'upstreams', 'lists', 'domains', 'groups', 'clients', 'dhcp_leases')
ITEM_PARTS = ('groups', 'domains', 'lists', 'clients')
DEFAULT_GROUP_ID = 0

# Config paths each part owns (a `settings` entry may not set them too).
RECORDS_PATH = 'dns.hosts'
CNAMES_PATH = 'dns.cnameRecords'
UPSTREAMS_PATH = 'dns.upstreams'
DHCP_FIELDS = OrderedDict([
    ('active', 'dhcp.active'),
    ('start', 'dhcp.start'),
    ('end', 'dhcp.end'),
    ('router', 'dhcp.router'),
    ('netmask', 'dhcp.netmask'),
    ('lease_time', 'dhcp.leaseTime'),
])
LEASES_PATH = 'dhcp.hosts'
# Settings the module never writes: the password goes through the container's secret.
_SECRET_PATH_RE = re.compile(r'(password|pwhash|totp_secret)', re.I)

_MAC_RE = re.compile(r'^[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){5}$')
_LIST_URL_RE = re.compile(r'^(?:https?|ftps?|sftp|file)://\S+$')
_LEASE_TIME_RE = re.compile(r'^(?:|infinite|[0-9]+[smhdw]?)$')
_IFACE_RE = re.compile(r'^:[A-Za-z0-9_.:@-]{1,15}$')
# Pi-hole's own regex extensions, after the expression: ;querytype=A, ;invert, ;reply=...
_REGEX_OPTION_RE = re.compile(r';(?:querytype=[^;]*|invert|reply=[^;]*)$')
_ANSI_RE = re.compile(r'\x1b\[[0-9;]*[A-Za-z]')
# FTL's answer to a change of a setting that an environment variable fixes (src/api/config.c).
ENV_MESSAGE = 'Config items set via environment variables cannot be changed via the API'


class DeclarationError(ValueError):
    """Problems found before any write; each names the item and what is wrong."""

    def __init__(self, problems):
        super(DeclarationError, self).__init__('; '.join(problems))
        self.problems = list(problems)


def env_var_name(path):
    """The FTLCONF_ variable that sets a config path: dns.reply.host.IPv4 -> FTLCONF_dns_reply_host_IPv4."""
    return 'FTLCONF_' + path.replace('.', '_')


def env_var_message(path, value):
    """A setting that an FTLCONF_ environment variable of the container fixes: read-only through the API."""
    name = env_var_name(path)
    text = ('%s is set by the environment variable %s of the Pi-hole container, and FTL makes such settings '
            'read-only through the API ("%s"). Remove %s from the container\'s environment (with the pihole role: '
            'from pihole_ftlconf, or let the role declare it) and recreate the container, or declare the value it '
            'has' % (path, name, ENV_MESSAGE, name))
    if value is not None:
        text += ' (%s)' % json.dumps(value)
    return text + '.'


# --------------------------------------------------------------------------------------------
# Values
# --------------------------------------------------------------------------------------------

def valid_domain(name):
    """FTL's valid_domain(): [A-Za-z0-9._-], 1-255 characters, labels 1-63, TLD not starting or
    ending with a dash (tools/gravity-parseList.c)."""
    if not isinstance(name, str) or not 0 < len(name) <= 255:
        return False
    if re.search(r'[^A-Za-z0-9._-]', name):
        return False
    last_dot = -1
    for index, char in enumerate(name):
        if char == '.':
            if index - last_dot == 1 or index - last_dot > 64:
                return False
            last_dot = index
    tld = name[last_dot + 1:]
    return not (tld.startswith('-') or name.endswith('-'))


def ip_version(value):
    try:
        return ipaddress.ip_address(str(value)).version
    except ValueError:
        return None


def normalize_ip(value):
    return str(ipaddress.ip_address(str(value)))


def exact_domain(value):
    """An exact domain as FTL stores it: IDNA (punycode) and lower case; None when invalid."""
    if not isinstance(value, str) or not value or value != value.strip():
        return None
    try:
        ascii_name = value.encode('idna').decode('ascii') if any(ord(c) > 127 for c in value) else value
    except UnicodeError:
        return None
    ascii_name = ascii_name.lower()
    return ascii_name if valid_domain(ascii_name) else None


def regex_problem(value):
    """Why FTL would refuse a regex, as far as Python's engine tells; None when it compiles.

    FTL compiles with POSIX extended syntax (TRE); FTL itself validates again when the regex is
    added, so what slips through here is still refused there (and reported)."""
    if not isinstance(value, str) or not value.strip():
        return 'empty regex'
    if any(c in value for c in '\t\n'):
        return 'tabs and newlines are not allowed'
    expression = value
    while True:
        stripped = _REGEX_OPTION_RE.sub('', expression)
        if stripped == expression:
            break
        expression = stripped
    if '(?' in expression:
        return 'Perl extensions such as (?...) are not POSIX extended regular expressions'
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            re.compile(expression)
    except re.error as exc:
        return str(exc)
    return None


def upstream_problem(value):
    """An upstream as dns.upstreams takes it: IP or host name, optionally #PORT."""
    if not isinstance(value, str) or not value:
        return 'empty upstream'
    server, sep, port = value.partition('#')
    if sep and (not port.isdigit() or not 0 < int(port) < 65536):
        return 'port %r is not 1-65535' % port
    if ip_version(server) is None and not valid_domain(server):
        return '%r is neither an IP address nor a host name' % server
    return None


def client_key(value):
    """The identity of a client (IP, subnet, MAC, :interface or host name); None when invalid."""
    if not isinstance(value, str) or not value or value != value.strip() or ' ' in value:
        return None
    if _MAC_RE.match(value):
        return value.lower()
    if _IFACE_RE.match(value):
        return value
    if '/' in value:
        try:
            return str(ipaddress.ip_network(value, strict=False))
        except ValueError:
            return None
    if ip_version(value):
        return normalize_ip(value)
    if valid_domain(value):
        return value.lower()
    return None


def _blank(comment):
    return comment in (None, '')


def strip_ansi(text):
    return _ANSI_RE.sub('', text or '')


# --------------------------------------------------------------------------------------------
# The declaration
# --------------------------------------------------------------------------------------------

def normalize_declaration(params):
    """Validate the module's parameters; returns a dict of normalized parts (None = not declared).

    Raises DeclarationError with every problem at once, before anything is read or written."""
    problems = []
    decl = {}

    records = params.get('local_records')
    if records is not None:
        decl['local_records'] = []
        for index, record in enumerate(records):
            name, address = record.get('name'), record.get('ip')
            where = 'local_records[%d]' % index
            if not valid_domain(name):
                problems.append('%s: %r is not a valid host name' % (where, name))
            if ip_version(address) is None:
                problems.append('%s: %r (for %s) is not an IPv4 or IPv6 address' % (where, address, name))
            if valid_domain(name) and ip_version(address):
                decl['local_records'].append((name, normalize_ip(address)))

    cnames = params.get('cnames')
    if cnames is not None:
        decl['cnames'] = []
        seen = set()
        for index, cname in enumerate(cnames):
            where = 'cnames[%d]' % index
            name, target, ttl = cname.get('name'), cname.get('target'), cname.get('ttl')
            ok = True
            for label, value in (('name', name), ('target', target)):
                if not valid_domain(value):
                    problems.append('%s: %s %r is not a valid host name' % (where, label, value))
                    ok = False
            if ttl is not None and ttl < 0:
                problems.append('%s: ttl %r must be 0 or more' % (where, ttl))
                ok = False
            if ok and name.lower() in seen:
                problems.append('%s: %s is declared twice' % (where, name))
                ok = False
            if ok:
                seen.add(name.lower())
                decl['cnames'].append((name, target, ttl))

    upstreams = params.get('upstreams')
    if upstreams is not None:
        decl['upstreams'] = []
        for index, upstream in enumerate(upstreams):
            problem = upstream_problem(upstream)
            if problem:
                problems.append('upstreams[%d]: %s' % (index, problem))
            elif upstream not in decl['upstreams']:
                decl['upstreams'].append(upstream)

    for part, normalizer in (('groups', _norm_group), ('lists', _norm_list), ('domains', _norm_domain),
                             ('clients', _norm_client)):
        items = params.get(part)
        if items is None:
            continue
        decl[part] = OrderedDict()
        for index, item in enumerate(items):
            where = '%s[%d]' % (part, index)
            norm, problem = normalizer(item)
            if problem:
                problems.append('%s: %s' % (where, problem))
                continue
            if norm['key'] in decl[part]:
                problems.append('%s: %s is declared twice' % (where, norm['label']))
                continue
            decl[part][norm['key']] = norm

    dhcp = params.get('dhcp')
    if dhcp is not None:
        decl['dhcp'] = _norm_dhcp(dhcp, problems)

    settings = params.get('settings')
    if settings is not None:
        decl['settings'] = OrderedDict()
        for path in sorted(settings):
            if isinstance(settings[path], dict):
                problems.append('settings: %s has a mapping as value; give each leaf by its full path '
                                '(for example dns.cache.size)' % path)
            elif not isinstance(path, str) or not re.match(r'^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)+$', path):
                problems.append('settings: %r is not a config path such as dns.dnssec' % (path,))
            elif _SECRET_PATH_RE.search(path):
                problems.append('settings: %s is a password setting; the web password is the container\'s secret '
                                '(pihole_web_password), not a setting of this module' % path)
            else:
                decl['settings'][path] = settings[path]

    purge = list(params.get('purge') or [])
    for part in purge:
        if part not in PURGE_CHOICES:
            problems.append('purge: unknown part %r (one of %s)' % (part, ', '.join(PURGE_CHOICES)))
    decl['purge'] = set(purge)
    for part in purge:
        declared = 'dhcp' if part == 'dhcp_leases' else part
        if part in PURGE_CHOICES and params.get(declared) is None:
            problems.append('purge: %s is listed but not declared; declare it (an empty list removes every item) '
                            'or leave it out of purge' % declared)
        if part == 'dhcp_leases' and params.get('dhcp') is not None and params['dhcp'].get('leases') is None:
            problems.append('purge: dhcp_leases is listed but dhcp.leases is not declared')

    # Group names used by items must exist or be declared; checked against the Pi-hole later.
    if problems:
        raise DeclarationError(problems)
    return decl


def _groups_of(item):
    groups = item.get('groups')
    if groups is None:
        return None, None
    for name in groups:
        if not isinstance(name, str) or not name.strip():
            return None, 'group names must be non-empty strings (%r)' % (name,)
    return tuple(sorted(set(groups))), None


def _norm_group(item):
    name = item.get('name')
    if not isinstance(name, str) or not name.strip() or name != name.strip():
        return None, 'group name %r must be a non-empty string without leading or trailing spaces' % (name,)
    return {'key': name, 'label': 'group %s' % name, 'name': name, 'enabled': item.get('enabled', True),
            'comment': item.get('comment')}, None


def _norm_list(item):
    address, kind = item.get('address'), item.get('type') or 'block'
    if not isinstance(address, str) or not _LIST_URL_RE.match(address):
        return None, ('%r is not a list address: an http://, https://, ftp://, ftps://, sftp:// or file:// URL '
                      'without spaces' % (address,))
    groups, problem = _groups_of(item)
    if problem:
        return None, problem
    return {'key': (address, kind), 'label': '%s list %s' % (kind, address), 'address': address, 'type': kind,
            'enabled': item.get('enabled', True), 'comment': item.get('comment'), 'groups': groups}, None


def _norm_domain(item):
    raw, kind, typ = item.get('domain'), item.get('kind') or 'exact', item.get('type') or 'deny'
    if kind == 'exact':
        domain = exact_domain(raw)
        if domain is None:
            return None, '%r is not a valid domain (letters, digits, - and _, dot-separated labels of 1-63)' % (raw,)
    else:
        problem = regex_problem(raw)
        if problem:
            return None, 'invalid regex %r: %s' % (raw, problem)
        domain = raw
    groups, problem = _groups_of(item)
    if problem:
        return None, problem
    return {'key': (domain, typ, kind), 'label': '%s %s %s' % (typ, kind, domain), 'domain': domain, 'type': typ,
            'kind': kind, 'enabled': item.get('enabled', True), 'comment': item.get('comment'), 'groups': groups}, None


def _norm_client(item):
    client = item.get('client')
    key = client_key(client)
    if key is None:
        return None, ('%r is not a client: an IP address, a subnet (CIDR), a MAC address, :interface or a '
                      'host name' % (client,))
    groups, problem = _groups_of(item)
    if problem:
        return None, problem
    return {'key': key, 'label': 'client %s' % client, 'client': client, 'comment': item.get('comment'),
            'groups': groups}, None


def _norm_dhcp(dhcp, problems):
    out = OrderedDict()
    for field in DHCP_FIELDS:
        value = dhcp.get(field)
        if value is None:
            continue
        if field == 'active':
            out[field] = bool(value)
        elif field == 'lease_time':
            if not _LEASE_TIME_RE.match(str(value)):
                problems.append('dhcp.lease_time: %r is not a lease time such as 24h, 3600 or infinite' % value)
            out[field] = str(value)
        else:
            if value != '' and ip_version(value) != 4:
                problems.append('dhcp.%s: %r is not an IPv4 address' % (field, value))
            out[field] = str(value)
    if 'start' in out and 'end' in out and out['start'] and out['end'] and \
            ip_version(out['start']) == 4 and ip_version(out['end']) == 4 and \
            ipaddress.ip_address(out['start']) > ipaddress.ip_address(out['end']):
        problems.append('dhcp: start %s is after end %s' % (out['start'], out['end']))
    leases = dhcp.get('leases')
    if leases is not None:
        out['leases'] = OrderedDict()
        for index, lease in enumerate(leases):
            where = 'dhcp.leases[%d]' % index
            mac, address, name = lease.get('mac'), lease.get('ip'), lease.get('name')
            if not isinstance(mac, str) or not _MAC_RE.match(mac):
                problems.append('%s: %r is not a MAC address (aa:bb:cc:dd:ee:ff)' % (where, mac))
                continue
            if ip_version(address) != 4:
                problems.append('%s: %r is not an IPv4 address' % (where, address))
                continue
            if name is not None and name != '' and not valid_domain(name):
                problems.append('%s: %r is not a valid host name' % (where, name))
                continue
            if mac.lower() in out['leases']:
                problems.append('%s: %s is declared twice' % (where, mac))
                continue
            out['leases'][mac.lower()] = (mac.lower(), normalize_ip(address), name or None)
    return out


def referenced_groups(decl):
    """Group names the declared items use."""
    names = set()
    for part in ('lists', 'domains', 'clients'):
        for item in (decl.get(part) or {}).values():
            names.update(item.get('groups') or ())
    return names


def needs_groups(decl):
    return decl.get('groups') is not None or bool(referenced_groups(decl))


# --------------------------------------------------------------------------------------------
# Config (pihole.toml): records, CNAMEs, upstreams, DHCP, settings
# --------------------------------------------------------------------------------------------

def flatten_config(tree, prefix=''):
    """{path: leaf} of GET /api/config?detailed=true (leaf: value, type, allowed, flags)."""
    flat = OrderedDict()
    for key, value in tree.items():
        path = prefix + key
        if isinstance(value, dict) and 'value' in value and 'flags' in value and 'type' in value:
            flat[path] = value
        elif isinstance(value, dict):
            flat.update(flatten_config(value, path + '.'))
    return flat


def parse_hosts_line(line):
    """(ip, [names]) of a dns.hosts entry (HOSTS format, # starts a comment); None when unreadable."""
    fields = line.split('#', 1)[0].split()
    if len(fields) < 2 or ip_version(fields[0]) is None:
        return None
    return normalize_ip(fields[0]), fields[1:]


def plan_local_records(current, declared, purge):
    """New dns.hosts and the changes. A declared name owns its addresses: the entries for that name
    become exactly the declared ones; other names are kept (removed with purge)."""
    want = OrderedDict()
    for name, address in declared:
        entry = want.setdefault(name.lower(), (name, []))
        if address not in entry[1]:
            entry[1].append(address)
    have = OrderedDict()
    for line in current:
        parsed = parse_hosts_line(line)
        if parsed:
            for name in parsed[1]:
                have.setdefault(name.lower(), (name, []))[1].append(parsed[0])
    touched = [key for key in want if key not in have or sorted(set(have[key][1])) != sorted(want[key][1])]
    removed = [key for key in have if key not in want] if purge else []
    drop = set(touched) | set(removed)
    lines = []
    for line in current:
        parsed = parse_hosts_line(line)
        if parsed is None:
            if not purge:
                lines.append(line)
            continue
        kept = [name for name in parsed[1] if name.lower() not in drop]
        if len(kept) == len(parsed[1]):
            lines.append(line)
        elif kept:
            lines.append('%s %s' % (line.split()[0], ' '.join(kept)))
    for key in touched:
        name, addresses = want[key]
        lines.extend('%s %s' % (address, name) for address in addresses)
    changes = {
        'added': ['%s %s' % (want[k][0], ', '.join(want[k][1])) for k in touched if k not in have],
        'updated': ['%s %s -> %s' % (want[k][0], ', '.join(have[k][1]), ', '.join(want[k][1]))
                    for k in touched if k in have],
        'removed': ['%s %s' % (have[k][0], ', '.join(have[k][1])) for k in removed],
    }
    if purge:
        changes['removed'] += [line for line in current if parse_hosts_line(line) is None]
    return lines, changes


def parse_cname_line(line):
    """([names], target, ttl) of a dns.cnameRecords entry: <cname>[,<cname>...],<target>[,<ttl>]."""
    parts = [part.strip() for part in line.split(',')]
    ttl = None
    if len(parts) >= 3 and parts[-1].isdigit():
        ttl = int(parts.pop())
    if len(parts) < 2 or not all(parts):
        return None
    return parts[:-1], parts[-1], ttl


def _cname_line(name, target, ttl):
    return '%s,%s' % (name, target) + (',%d' % ttl if ttl is not None else '')


def plan_cnames(current, declared, purge):
    want = OrderedDict((name.lower(), (name, target, ttl)) for name, target, ttl in declared)
    have = OrderedDict()
    for line in current:
        parsed = parse_cname_line(line)
        if parsed:
            for name in parsed[0]:
                have.setdefault(name.lower(), []).append((name, parsed[1], parsed[2]))
    touched = []
    for key, (name, target, ttl) in want.items():
        entries = have.get(key, [])
        if len(entries) != 1 or entries[0][1].lower() != target.lower() or entries[0][2] != ttl:
            touched.append(key)
    removed = [key for key in have if key not in want] if purge else []
    drop = set(touched) | set(removed)
    lines = []
    for line in current:
        parsed = parse_cname_line(line)
        if parsed is None:
            if not purge:
                lines.append(line)
            continue
        kept = [name for name in parsed[0] if name.lower() not in drop]
        if len(kept) == len(parsed[0]):
            lines.append(line)
        elif kept:
            lines.append(','.join(kept + [parsed[1]]) + (',%d' % parsed[2] if parsed[2] is not None else ''))
    for key in touched:
        lines.append(_cname_line(*want[key]))

    def show(entries):
        return ', '.join(_cname_line(*entry) for entry in entries)

    changes = {
        'added': [_cname_line(*want[k]) for k in touched if k not in have],
        'updated': ['%s -> %s' % (show(have[k]), _cname_line(*want[k])) for k in touched if k in have],
        'removed': [show(have[k]) for k in removed],
    }
    if purge:
        changes['removed'] += [line for line in current if parse_cname_line(line) is None]
    return lines, changes


def plan_upstreams(current, declared, purge):
    if purge:
        if sorted(current) == sorted(declared):
            lines = list(current)
        else:
            lines = list(declared)
    else:
        lines = list(current) + [upstream for upstream in declared if upstream not in current]
    return lines, {'added': [u for u in lines if u not in current],
                   'removed': [u for u in current if u not in lines], 'updated': []}


def parse_lease_line(line):
    """(mac, ip, name) of a dhcp.hosts entry written as MAC,IP[,NAME]; None for other dhcp-host forms."""
    parts = [part.strip() for part in line.split(',')]
    if len(parts) < 2 or not _MAC_RE.match(parts[0]) or ip_version(parts[1]) != 4:
        return None
    name = parts[2] if len(parts) > 2 and parts[2] else None
    return parts[0].lower(), normalize_ip(parts[1]), name


def _lease_line(mac, address, name):
    return ','.join([mac, address] + ([name] if name else []))


def plan_leases(current, declared, purge):
    have = OrderedDict()
    for line in current:
        parsed = parse_lease_line(line)
        if parsed:
            have.setdefault(parsed[0], []).append(line)
    touched = [mac for mac, lease in declared.items()
               if len(have.get(mac, [])) != 1 or parse_lease_line(have[mac][0]) != lease]
    removed = [mac for mac in have if mac not in declared] if purge else []
    drop = set(touched) | set(removed)
    lines = []
    for line in current:
        parsed = parse_lease_line(line)
        if parsed is None:
            if not purge:
                lines.append(line)
        elif parsed[0] not in drop:
            lines.append(line)
    lines.extend(_lease_line(*declared[mac]) for mac in touched)
    changes = {
        'added': [_lease_line(*declared[m]) for m in touched if m not in have],
        'updated': ['%s -> %s' % (', '.join(have[m]), _lease_line(*declared[m])) for m in touched if m in have],
        'removed': [', '.join(have[m]) for m in removed],
    }
    if purge:
        changes['removed'] += [line for line in current if parse_lease_line(line) is None]
    return lines, changes


_BOOL_TRUE = ('true', 'yes', 'on', '1')
_BOOL_FALSE = ('false', 'no', 'off', '0')


def coerce_setting(path, value, leaf):
    """The value as FTL's type for the path wants it; raises ValueError with the reason."""
    kind = leaf.get('type') or ''
    if kind.startswith('password'):
        raise ValueError('%s is a password setting and is not managed by this module' % path)
    if kind == 'boolean':
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _BOOL_TRUE:
            return True
        if text in _BOOL_FALSE:
            return False
        raise ValueError('%s takes true or false, not %r' % (path, value))
    if kind in ('integer', 'unsigned integer', 'unsigned integer (16 bit)', 'long integer',
                'unsigned long integer', 'enum (unsigned integer)'):
        if isinstance(value, bool) or not re.match(r'^-?[0-9]+$', str(value).strip()):
            raise ValueError('%s takes an integer (%s), not %r' % (path, kind, value))
        number = int(str(value).strip())
        if kind.startswith('unsigned') and number < 0:
            raise ValueError('%s takes an integer of 0 or more, not %r' % (path, value))
        if kind == 'unsigned integer (16 bit)' and number > 65535:
            raise ValueError('%s takes 0-65535, not %r' % (path, value))
        allowed = _allowed_items(leaf)
        if kind.startswith('enum') and allowed and number not in allowed:
            raise ValueError('%s takes one of %s, not %r' % (path, ', '.join(str(a) for a in allowed), value))
        return number
    if kind == 'double':
        try:
            if isinstance(value, bool):
                raise ValueError()
            return float(value)
        except (TypeError, ValueError):
            raise ValueError('%s takes a number, not %r' % (path, value))
    if kind == 'string array':
        if isinstance(value, str) or not isinstance(value, (list, tuple)):
            raise ValueError('%s takes a list of strings, not %r' % (path, value))
        return [str(item) for item in value]
    if isinstance(value, (list, dict)):
        raise ValueError('%s takes a single value (%s), not %r' % (path, kind, value))
    text = str(value).lower() if isinstance(value, bool) else str(value)
    if kind == 'enum (string)':
        allowed = _allowed_items(leaf)
        for item in allowed:
            if str(item).lower() == text.lower():
                return item
        if allowed:
            raise ValueError('%s takes one of %s, not %r' % (path, ', '.join(str(a) for a in allowed), value))
    if kind == 'IPv4 address' and text and ip_version(text) != 4:
        raise ValueError('%s takes an IPv4 address, not %r' % (path, value))
    if kind == 'IPv6 address' and text and ip_version(text) != 6:
        raise ValueError('%s takes an IPv6 address, not %r' % (path, value))
    return text


def _allowed_items(leaf):
    allowed = leaf.get('allowed')
    if isinstance(allowed, list):
        return [entry.get('item') if isinstance(entry, dict) else entry for entry in allowed]
    return []


def same_setting(current, wanted, leaf):
    if (leaf.get('type') or '') == 'enum (string)':
        return str(current).lower() == str(wanted).lower()
    if isinstance(wanted, float) and isinstance(current, (int, float)) and not isinstance(current, bool):
        return float(current) == wanted
    return current == wanted


class ConfigPlan(object):
    """The PATCH for /api/config and what it changes, per part."""

    def __init__(self):
        self.patch = OrderedDict()      # path -> new value
        self.parts = OrderedDict()      # part -> {'added': [...], 'updated': [...], 'removed': [...]}
        self.before = OrderedDict()     # part -> diff lines
        self.after = OrderedDict()
        self.restart = False            # a changed setting makes FTL restart (flags.restart_dnsmasq)

    def body(self):
        tree = {}
        for path, value in self.patch.items():
            node = tree
            keys = path.split('.')
            for key in keys[:-1]:
                node = node.setdefault(key, {})
            node[keys[-1]] = value
        return {'config': tree}


def plan_config(decl, flat):
    """Plan every config-path part against GET /api/config?detailed=true (flattened).

    Returns a ConfigPlan; raises DeclarationError for unknown paths, bad values, settings that
    collide with a part, and changes FTLCONF_ environment variables forbid."""
    plan = ConfigPlan()
    problems = []
    purge = decl.get('purge', set())

    def value(path):
        return copy.deepcopy(flat[path]['value']) if path in flat else None

    def record(part, path, new, changes, before_lines=None, after_lines=None):
        old = value(path)
        if new != old:
            plan.patch[path] = new
        if any(changes.values()):
            plan.parts[part] = changes
            plan.before[part] = before_lines if before_lines is not None else list(old or [])
            plan.after[part] = after_lines if after_lines is not None else list(new or [])

    owned = set()
    if decl.get('local_records') is not None:
        owned.add(RECORDS_PATH)
        lines, changes = plan_local_records(value(RECORDS_PATH) or [], decl['local_records'],
                                            'local_records' in purge)
        record('local_records', RECORDS_PATH, lines, changes)
    if decl.get('cnames') is not None:
        owned.add(CNAMES_PATH)
        lines, changes = plan_cnames(value(CNAMES_PATH) or [], decl['cnames'], 'cnames' in purge)
        record('cnames', CNAMES_PATH, lines, changes)
    if decl.get('upstreams') is not None:
        owned.add(UPSTREAMS_PATH)
        lines, changes = plan_upstreams(value(UPSTREAMS_PATH) or [], decl['upstreams'], 'upstreams' in purge)
        record('upstreams', UPSTREAMS_PATH, lines, changes)
    if decl.get('dhcp') is not None:
        dhcp = decl['dhcp']
        changes = {'added': [], 'updated': [], 'removed': []}
        before, after = [], []
        for field, path in DHCP_FIELDS.items():
            if field not in dhcp:
                continue
            owned.add(path)
            old = value(path)
            before.append('%s: %s' % (field, json.dumps(old)))
            after.append('%s: %s' % (field, json.dumps(dhcp[field])))
            if old != dhcp[field]:
                plan.patch[path] = dhcp[field]
                changes['updated'].append('%s: %s -> %s' % (field, json.dumps(old), json.dumps(dhcp[field])))
        if 'leases' in dhcp:
            owned.add(LEASES_PATH)
            old_leases = value(LEASES_PATH) or []
            lines, lease_changes = plan_leases(old_leases, dhcp['leases'], 'dhcp_leases' in purge)
            if lines != old_leases:
                plan.patch[LEASES_PATH] = lines
            for key in ('added', 'removed'):
                changes[key].extend('lease ' + entry for entry in lease_changes[key])
            changes['updated'].extend('lease ' + entry for entry in lease_changes['updated'])
            before.extend('lease: ' + line for line in old_leases)
            after.extend('lease: ' + line for line in lines)
        active = dhcp.get('active', value('dhcp.active'))
        if active:
            for field in ('start', 'end', 'router'):
                if not dhcp.get(field, value(DHCP_FIELDS[field])):
                    problems.append('dhcp: active needs %s (declare dhcp.%s; the Pi-hole has none)' % (field, field))
        if any(changes.values()):
            plan.parts['dhcp'] = changes
            plan.before['dhcp'] = before
            plan.after['dhcp'] = after
    if decl.get('settings') is not None:
        changes = {'added': [], 'updated': [], 'removed': []}
        before, after = [], []
        for path, wanted in decl['settings'].items():
            if path not in flat:
                close = difflib.get_close_matches(path, list(flat), n=3, cutoff=0.6)
                problems.append('settings: %s is not a setting of this Pi-hole%s' % (
                    path, (' (did you mean %s?)' % ', '.join(close)) if close else
                    ' (GET /api/config lists them; paths are case-sensitive)'))
                continue
            if path in owned:
                problems.append('settings: %s is managed by its own part of the declaration; set it there' % path)
                continue
            try:
                wanted = coerce_setting(path, wanted, flat[path])
            except ValueError as exc:
                problems.append('settings: %s' % exc)
                continue
            old = value(path)
            if not same_setting(old, wanted, flat[path]):
                plan.patch[path] = wanted
                changes['updated'].append('%s: %s -> %s' % (path, json.dumps(old), json.dumps(wanted)))
                before.append('%s: %s' % (path, json.dumps(old)))
                after.append('%s: %s' % (path, json.dumps(wanted)))
        if any(changes.values()):
            plan.parts['settings'] = changes
            plan.before['settings'] = before
            plan.after['settings'] = after
    for path in plan.patch:
        leaf = flat.get(path)
        if leaf is None:
            problems.append('%s is not a setting of this Pi-hole (not a Pi-hole v6.x with this setting?)' % path)
            continue
        flags = leaf.get('flags') or {}
        if flags.get('env_var'):
            problems.append(env_var_message(path, leaf.get('value')))
        if flags.get('restart_dnsmasq'):
            plan.restart = True
    if problems:
        raise DeclarationError(problems)
    return plan


# --------------------------------------------------------------------------------------------
# gravity.db items: groups, domains, lists, clients
# --------------------------------------------------------------------------------------------

FIELDS = {
    'groups': ('enabled', 'comment'),
    'domains': ('enabled', 'comment', 'groups'),
    'lists': ('enabled', 'comment', 'groups'),
    'clients': ('comment', 'groups'),
}


def current_items(part, rows):
    """The API's rows of a part as {key: item} in the declaration's normalized form (groups as ids)."""
    items = OrderedDict()
    for row in rows:
        if part == 'groups':
            item = {'key': row['name'], 'name': row['name'], 'id': row.get('id'), 'enabled': bool(row.get('enabled')),
                    'comment': row.get('comment')}
        elif part == 'lists':
            item = {'key': (row['address'], row.get('type', 'block')), 'address': row['address'],
                    'type': row.get('type', 'block'), 'enabled': bool(row.get('enabled')), 'comment': row.get('comment'),
                    'group_ids': tuple(sorted(row.get('groups') or []))}
        elif part == 'domains':
            item = {'key': (row['domain'], row['type'], row['kind']), 'domain': row['domain'], 'type': row['type'],
                    'kind': row['kind'], 'enabled': bool(row.get('enabled')), 'comment': row.get('comment'),
                    'group_ids': tuple(sorted(row.get('groups') or []))}
        else:
            key = client_key(row['client']) or row['client']
            item = {'key': key, 'client': row['client'], 'comment': row.get('comment'),
                    'group_ids': tuple(sorted(row.get('groups') or []))}
        items[item['key']] = item
    return items


def group_names(ids, id_to_name):
    return tuple(sorted(id_to_name.get(gid, '#%s' % gid) for gid in ids))


def item_label(part, item):
    if part == 'groups':
        return item['name']
    if part == 'lists':
        return '%s %s' % (item['type'], item['address'])
    if part == 'domains':
        return '%s %s %s' % (item['type'], item['kind'], item['domain'])
    return item['client']


def item_line(part, item, id_to_name=None):
    """One line of the diff for an item, with every field that part has."""
    fields = []
    if 'enabled' in FIELDS[part]:
        fields.append('enabled' if item.get('enabled', True) else 'disabled')
    if not _blank(item.get('comment')):
        fields.append('comment %s' % json.dumps(item['comment']))
    if 'groups' in FIELDS[part]:
        if item.get('groups') is not None:
            fields.append('groups [%s]' % ', '.join(item['groups']))
        elif item.get('group_ids') is not None and id_to_name is not None:
            # Without the groups read (no declared item uses groups), groups are not shown at all.
            fields.append('groups [%s]' % ', '.join(group_names(item['group_ids'], id_to_name)))
    return '%s (%s)' % (item_label(part, item), ', '.join(fields))


class ItemPlan(object):
    def __init__(self, part):
        self.part = part
        self.adds = []        # desired items
        self.updates = []     # (current, desired)
        self.deletes = []     # current items
        self.before = []
        self.after = []

    @property
    def changed(self):
        return bool(self.adds or self.updates or self.deletes)

    def changes(self, id_to_name=None):
        return {
            'added': [item_line(self.part, item, id_to_name) for item in self.adds],
            'updated': ['%s -> %s' % (item_line(self.part, old, id_to_name), item_line(self.part, new, id_to_name))
                        for old, new in self.updates],
            'removed': [item_line(self.part, item, id_to_name) for item in self.deletes],
        }

    def gravity_needed(self):
        """Gravity must run when block/allow lists appear, go, or are switched on or off."""
        if self.part != 'lists':
            return False
        return bool(self.adds or self.deletes or any(old['enabled'] != new['enabled'] for old, new in self.updates))


def plan_items(part, declared, current, purge, id_to_name=None):
    """Compare a part's declared items with the Pi-hole's; unmanaged fields (None) keep their value."""
    plan = ItemPlan(part)
    for key, want in declared.items():
        have = current.get(key)
        if have is None:
            added = dict(want)
            if part != 'groups' and want.get('groups') is None:
                added['group_ids'] = (DEFAULT_GROUP_ID,)  # what Pi-hole gives a new item without groups
            plan.adds.append(added)
            continue
        desired = dict(have)
        differs = False
        for field in FIELDS[part]:
            if field == 'groups':
                if want.get('groups') is None:
                    continue
                have_names = group_names(have['group_ids'], id_to_name or {})
                if tuple(sorted(want['groups'])) != have_names:
                    desired['groups'] = tuple(sorted(want['groups']))
                    differs = True
            elif field == 'comment':
                if want.get('comment') is None:
                    continue
                if (have.get('comment') or '') != want['comment']:
                    desired['comment'] = want['comment']
                    differs = True
            elif have.get(field) != want.get(field):
                desired[field] = want[field]
                differs = True
        if differs:
            plan.updates.append((have, desired))
    if purge:
        for key, have in current.items():
            if key not in declared and not (part == 'groups' and have.get('id') == DEFAULT_GROUP_ID):
                plan.deletes.append(have)
    if plan.changed:
        updated = dict((old['key'], new) for old, new in plan.updates)
        deleted = set(item['key'] for item in plan.deletes)
        plan.before = sorted(item_line(part, item, id_to_name) for item in current.values())
        after_items = [updated.get(key, item) for key, item in current.items() if key not in deleted] + plan.adds
        plan.after = sorted(item_line(part, item, id_to_name) for item in after_items)
    return plan


def add_batches(part, items):
    """POST bodies that add the items, one per (type, kind, comment, enabled, groups): the API adds an
    array of names/domains/addresses/clients at once when they share those fields."""
    batches = OrderedDict()
    for item in items:
        route = None
        if part == 'lists':
            route = ('lists', item['type'])
        elif part == 'domains':
            route = ('domains', item['type'], item['kind'])
        signature = (route, item.get('comment'), item.get('enabled', True), item.get('groups'))
        batches.setdefault(signature, []).append(item)
    return list(batches.values())


def unknown_groups(decl, existing_names):
    """Group names used by items that neither exist on the Pi-hole nor are declared."""
    declared = set((decl.get('groups') or {}).keys())
    problems = []
    for part in ('lists', 'domains', 'clients'):
        for item in (decl.get(part) or {}).values():
            missing = [name for name in item.get('groups') or () if name not in existing_names and name not in declared]
            if missing:
                problems.append('%s: %s uses group%s %s, which the Pi-hole does not have; declare %s under groups'
                                % (part, item['label'], 's' if len(missing) > 1 else '', ', '.join(missing),
                                   'them' if len(missing) > 1 else 'it'))
    return problems


def gravity_summary(output):
    """What a gravity run said that matters: failures and the domain count (ANSI colours removed)."""
    # pihole -g overwrites a line with ESC[K (erase line): each overwrite is a new line here.
    text = (output or '').replace('\x1b[K', '\n').replace('\r', '\n')
    lines = [line.strip() for line in strip_ansi(text).splitlines()]
    failures = []
    target = None
    for line in lines:
        if line.startswith('[i] Target:'):
            target = line[len('[i] Target:'):].strip()
        elif line.startswith('[✗]') and target:
            failures.append('%s: %s' % (target, line[3:].strip()))
    count = [line for line in lines if 'Number of gravity domains' in line]
    return {'failures': failures, 'domains': count[-1][3:].strip() if count else None,
            'done': any(line.endswith('Done.') for line in lines)}
