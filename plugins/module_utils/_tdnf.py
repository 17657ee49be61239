# -*- coding: utf-8 -*-
# Copyright: homelab.photon contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure helpers of the tdnf module: argv building, output parsing and decisions.

Nothing here runs a command; the module hands the output of each command to these functions,
so every decision is unit-tested against what a real tdnf printed (tests/unit/...).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import re
from collections import namedtuple

# tdnf and rpm output is parsed: always run them in the C locale.
TDNF_ENV = {'LC_ALL': 'C', 'LANGUAGE': 'C'}

# One rpm query reads the installed state of every requested package.
RPM_QUERY_FORMAT = '%{NAME}\t%{EPOCHNUM}\t%{VERSION}\t%{RELEASE}\t%{ARCH}\n'

# `-j/--json` exists from tdnf 3.3.0 on (Photon 4); Photon 3's tdnf 3.1 has no JSON output.
JSON_MIN_VERSION = (3, 3, 0)

# tdnf error numbers the module reacts to (the exit code is the number cut to 8 bits).
ERROR_NO_MATCHING_PACKAGES = 1011
ERROR_OPERATION_ABORTED = 1032

Package = namedtuple('Package', ['name', 'epoch', 'version', 'release', 'arch', 'repo'])
Spec = namedtuple('Spec', ['raw', 'name', 'epoch', 'version', 'release', 'arch'])
Transaction = namedtuple('Transaction', ['install', 'upgrade', 'downgrade', 'remove', 'reinstall'])
TdnfError = namedtuple('TdnfError', ['number', 'message'])

# Sections of tdnf's text transaction table, and the transaction list each one fills.
_TEXT_SECTIONS = {
    'Installing:': 'install',
    'Upgrading:': 'upgrade',
    'Downgrading:': 'downgrade',
    'Removing:': 'remove',
    'Obsoleting:': 'remove',
    'Reinstalling:': 'reinstall',
}
# Keys of the JSON transaction preview (`tdnf -j --assumeno CMD`).
_JSON_KEYS = {
    'Install': 'install',
    'Upgrade': 'upgrade',
    'Downgrade': 'downgrade',
    'Remove': 'remove',
    'Obsolete': 'remove',
    'Reinstall': 'reinstall',
}

_SPEC_RE = re.compile(r'^[A-Za-z0-9_+.][A-Za-z0-9_+.~^\-]*$')
_NAME_RE = re.compile(r'^[A-Za-z0-9_+.][A-Za-z0-9_+.\-]*$')
_VERSION_PART_RE = re.compile(r'^(?:[0-9]+:)?[0-9][A-Za-z0-9_.+~^]*$')
_ERROR_RE = re.compile(r'Error\((\d+)\)\s*:\s*(.*)')
_NOT_FOUND_RE = re.compile(r'^(\S+) package not found or not installed\s*$', re.M)
_SYNC_RE = re.compile(r"Failed to synchronize cache for repo '([^']+)'")
_VERSION_OUTPUT_RE = re.compile(r'tdnf:?\s+(?:version\s+)?(\d+(?:\.\d+)*)')
# Architectures a package spec may end with (`htop.noarch`, `docker-compose-2.20.2-1.ph5.x86_64`),
# as tdnf and rpm read them.
ARCHES = ('noarch', 'x86_64', 'aarch64', 'i686', 'i586', 'i386', 'armv7hl', 'ppc64le', 's390x')
_ARCH_SUFFIX_RE = re.compile(r'\.(%s)$' % '|'.join(re.escape(arch) for arch in ARCHES))


class SpecError(ValueError):
    """A package name the module refuses before running anything."""


def empty_transaction():
    return Transaction([], [], [], [], [])


# --------------------------------------------------------------------------------------------
# Versions
# --------------------------------------------------------------------------------------------

def parse_tdnf_version(stdout):
    """`tdnf --version` prints `tdnf: 3.6.0` (3.x); return '3.6.0' or None."""
    match = _VERSION_OUTPUT_RE.search(stdout or '')
    return match.group(1) if match else None


def version_tuple(version):
    parts = []
    for part in (version or '').split('.'):
        digits = re.match(r'\d+', part)
        parts.append(int(digits.group(0)) if digits else 0)
    return tuple(parts)


def has_json(version):
    return version_tuple(version) >= JSON_MIN_VERSION


def _rpm_segments(text):
    return re.findall(r'~|\^|[0-9]+|[A-Za-z]+', text)


def rpmvercmp(left, right):
    """Compare two version (or release) strings the way rpm does: -1, 0 or 1."""
    if left == right:
        return 0
    a_parts = _rpm_segments(left)
    b_parts = _rpm_segments(right)
    while a_parts or b_parts:
        a = a_parts.pop(0) if a_parts else None
        b = b_parts.pop(0) if b_parts else None
        # A tilde sorts before anything, even the end of the string.
        if a == '~' or b == '~':
            if a != '~':
                return 1
            if b != '~':
                return -1
            continue
        # A caret sorts after the end of the string, but before anything else.
        if a == '^' or b == '^':
            if a is None:
                return -1
            if b is None:
                return 1
            if a != '^':
                return 1
            if b != '^':
                return -1
            continue
        if a is None:
            return -1
        if b is None:
            return 1
        a_num = a.isdigit()
        b_num = b.isdigit()
        if a_num != b_num:
            return 1 if a_num else -1
        if a_num:
            a_int, b_int = int(a), int(b)
            if a_int != b_int:
                return 1 if a_int > b_int else -1
        elif a != b:
            return 1 if a > b else -1
    return 0


def split_evr(evr):
    """'1:2.0-3.ph5' -> ('1', '2.0', '3.ph5'); epoch defaults to '0', release may be None."""
    epoch = '0'
    if ':' in evr:
        epoch, evr = evr.split(':', 1)
    if '-' in evr:
        version, release = evr.rsplit('-', 1)
    else:
        version, release = evr, None
    return epoch, version, release


def evr_compare(left, right):
    """Compare (epoch, version, release) triples; a None release matches any release."""
    for index, (a, b) in enumerate(zip(left, right)):
        if index == 2 and (a is None or b is None):
            return 0
        result = rpmvercmp(a or '0', b or '0')
        if result:
            return result
    return 0


# --------------------------------------------------------------------------------------------
# Package specs: name, name-version, name-version-release, optional epoch
# --------------------------------------------------------------------------------------------

def parse_spec(raw):
    """Split a requested package into name, epoch, version and release.

    A dash-separated part is read as the start of the version when it begins with a digit
    (optionally `EPOCH:`), as in `docker-compose-2.20.2` or `docker-compose-1:2.20.2-1.ph5`.
    `*` is accepted (only meaningful with state=latest). Anything that could be read as an
    option by tdnf, or holds characters a package name never has, raises SpecError.
    """
    if not isinstance(raw, str):
        raise SpecError('package names must be strings, got %r' % (raw,))
    text = raw.strip()
    if text == '*':
        return Spec(raw=text, name='*', epoch=None, version=None, release=None, arch=None)
    if not text or text.startswith('-') or not _SPEC_RE.match(text.replace(':', '')) or text.count(':') > 1:
        raise SpecError('invalid package name %r: expected NAME, NAME-VERSION or NAME-VERSION-RELEASE' % (raw,))
    # A trailing `.ARCH` names the architecture, as for tdnf and rpm (`htop.noarch`).
    arch = None
    match = _ARCH_SUFFIX_RE.search(text)
    if match and match.start() > 0:
        arch = match.group(1)
        text_without_arch = text[:match.start()]
    else:
        text_without_arch = text
    parts = text_without_arch.split('-')
    cut = len(parts)
    # The version starts at the first part (after the first) that looks like a version, and
    # at most two parts (version, release) may follow the name.
    for index in range(max(1, len(parts) - 2), len(parts)):
        if _VERSION_PART_RE.match(parts[index]) and all(re.match(r'^[0-9]', p) for p in parts[index + 1:]):
            cut = index
            break
    name = '-'.join(parts[:cut])
    tail = parts[cut:]
    if not _NAME_RE.match(name):
        raise SpecError('invalid package name %r: expected NAME, NAME-VERSION or NAME-VERSION-RELEASE'
                        ' (an epoch belongs to the version: NAME-EPOCH:VERSION)' % (raw,))
    epoch = version = release = None
    if tail:
        version = tail[0]
        if ':' in version:
            epoch, version = version.split(':', 1)
        if len(tail) > 1:
            release = tail[1]
            if ':' in release:
                raise SpecError('invalid package name %r: an epoch belongs to the version' % (raw,))
    return Spec(raw=text, name=name, epoch=epoch, version=version, release=release, arch=arch)


def format_spec(name, version=None, release=None, epoch=None, arch=None):
    """Inverse of parse_spec (used by the property test and in messages)."""
    text = name
    if version is not None:
        text += '-' + ('%s:' % epoch if epoch is not None else '') + version
        if release is not None:
            text += '-' + release
    if arch is not None:
        text += '.' + arch
    return text


def spec_matches(spec, package):
    """Does an installed package satisfy a requested spec?"""
    if spec.name != package.name:
        return False
    if spec.arch is not None and spec.arch != package.arch:
        return False
    if spec.version is None:
        return True
    if spec.epoch is not None and spec.epoch != package.epoch:
        return False
    if spec.version != package.version:
        return False
    return spec.release is None or spec.release == package.release


def nevra(package):
    epoch = '' if package.epoch in (None, '0') else '%s:' % package.epoch
    return '%s-%s%s-%s.%s' % (package.name, epoch, package.version, package.release, package.arch)


def name_evr(package):
    epoch = '' if package.epoch in (None, '0') else '%s:' % package.epoch
    return '%s-%s%s-%s' % (package.name, epoch, package.version, package.release)


def package_from_evr(name, arch, evr, repo=None):
    epoch, version, release = split_evr(evr)
    return Package(name=name, epoch=epoch, version=version, release=release or '', arch=arch, repo=repo)


# --------------------------------------------------------------------------------------------
# argv
# --------------------------------------------------------------------------------------------

def tdnf_argv(tdnf, command, names=(), json_output=False, assume=None, enablerepo=(), disablerepo=(),
              disable_gpg_check=False, exclude=(), releasever=None, security=False, extra=()):
    """The argv of one tdnf call, options in a fixed order.

    assume is 'yes' (-y), 'no' (--assumeno) or None (read-only commands). The package names
    come last; parse_spec() has already refused anything starting with '-'.
    """
    argv = [tdnf]
    if json_output:
        argv.append('-j')
    if assume == 'yes':
        argv.append('-y')
    elif assume == 'no':
        argv.append('--assumeno')
    argv.extend('--enablerepo=%s' % repo for repo in enablerepo)
    argv.extend('--disablerepo=%s' % repo for repo in disablerepo)
    if disable_gpg_check:
        argv.append('--nogpgcheck')
    if exclude:
        argv.append('--exclude=%s' % ','.join(exclude))
    if releasever:
        argv.append('--releasever=%s' % releasever)
    if security:
        argv.append('--security')
    argv.extend(command if isinstance(command, (list, tuple)) else [command])
    argv.extend(extra)
    argv.extend(names)
    return argv


def rpm_query_argv(rpm, names):
    """One query for the named packages, or for all installed packages (`-qa`) without names."""
    if not names:
        return [rpm, '-qa', '--qf', RPM_QUERY_FORMAT]
    return [rpm, '-q', '--qf', RPM_QUERY_FORMAT] + list(names)


# --------------------------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------------------------

def parse_rpm_query(stdout):
    """Installed packages from `rpm -q --qf RPM_QUERY_FORMAT NAMES` -> {name: [Package, ...]}.

    rpm exits 1 when some name is not installed and prints `package X is not installed`: those
    names are simply absent from the result.
    """
    installed = {}
    for line in (stdout or '').splitlines():
        fields = line.split('\t')
        if len(fields) != 5:
            continue
        name, epoch, version, release, arch = fields
        installed.setdefault(name, []).append(
            Package(name=name, epoch=epoch, version=version, release=release, arch=arch, repo='@System'))
    return installed


def rpm_query_failed(rc, stdout, stderr, names):
    """rpm -q exits with the number of names that are not installed, printing `package X is not
    installed` for each; any other exit code is a real failure, and so is any `error:` line: with an
    unreadable database rpm 4.20 prints `error: cannot open Packages database` on stderr, yet still
    says `package X is not installed` and exits 1 (seen in the lab, tests/integration/tdnf/)."""
    if re.search(r'^error:', stderr or '', re.M):
        return True
    if rc == 0:
        return False
    missing = re.findall(r'^package (\S+) is not installed$', stdout or '', re.M)
    return rc != len(missing) or not set(missing) <= set(names)


def parse_tdnf_error(rc, stdout, stderr):
    """The real error number and message of the tdnf command (its exit code is that number cut to
    8 bits).

    tdnf also prints an `Error(N)` line for every repository it could not read, including those it
    then skips (skip_if_unavailable) before failing for another reason, such as 1011 for a package
    that is in none of the repositories left. The command's own error is the one of its JSON output
    (-j), else its last `Error(N)` line; of those, the one whose number matches the exit code wins.
    """
    found = []
    data = _load_json(stdout)
    if isinstance(data, dict) and 'Error' in data:
        found.append(TdnfError(int(data['Error']), str(data.get('ErrorMessage') or '').strip()))
    if not rc:
        return found[0] if found else None
    found.extend(TdnfError(int(number), message.strip())
                 for number, message in reversed(_ERROR_RE.findall(stderr or '')))
    for error in found:
        if error.number % 256 == rc % 256:
            return error
    return found[0] if found else TdnfError(None, '')


def parse_not_found(stderr):
    """Names tdnf reported as `NAME package not found or not installed`, in order."""
    return _NOT_FOUND_RE.findall(stderr or '')


def parse_unreachable_repos(stderr):
    """Names of repositories tdnf could not synchronize (repository *names*, not ids)."""
    seen = []
    for repo in _SYNC_RE.findall(stderr or ''):
        if repo not in seen:
            seen.append(repo)
    return seen


def _load_json(stdout):
    text = (stdout or '').strip()
    if not text:
        return None
    starts = [i for i in (text.find('{'), text.find('[')) if i >= 0]
    if not starts:
        return None
    try:
        return json.loads(text[min(starts):])
    except ValueError:
        return None


def parse_json_preview(stdout):
    """A `tdnf -j --assumeno CMD` preview -> Transaction. A no-op dry run prints nothing."""
    transaction = empty_transaction()
    data = _load_json(stdout)
    if not isinstance(data, dict):
        return transaction
    for key, field in _JSON_KEYS.items():
        for item in data.get(key) or []:
            getattr(transaction, field).append(
                package_from_evr(item['Name'], item.get('Arch', ''), item['Evr'], item.get('Repo')))
    return transaction


def parse_text_transaction(stdout):
    """The transaction table tdnf prints before running it (text output) -> Transaction.

    Rows are `name arch evr repo installsize downloadsize` under `Installing:`, `Upgrading:`,
    `Removing:`... headers, each section ending at a blank line.
    """
    transaction = empty_transaction()
    field = None
    for line in (stdout or '').splitlines():
        stripped = line.strip()
        if stripped in _TEXT_SECTIONS:
            field = _TEXT_SECTIONS[stripped]
            continue
        if not stripped:
            field = None
            continue
        if field is None:
            continue
        parts = stripped.split()
        if len(parts) < 4:
            field = None
            continue
        getattr(transaction, field).append(package_from_evr(parts[0], parts[1], parts[2], parts[3]))
    return transaction


def parse_list_text(stdout):
    """`tdnf list available` text: `name.arch  evr  repo` lines -> [Package]."""
    packages = []
    for line in (stdout or '').splitlines():
        parts = line.split()
        if len(parts) != 3 or '.' not in parts[0]:
            continue
        name, arch = parts[0].rsplit('.', 1)
        packages.append(package_from_evr(name, arch, parts[1], parts[2]))
    return packages


def parse_repolist_json(stdout):
    """`tdnf -j repolist all` -> [(repo id, repo name, enabled)], without tdnf's @ pseudo repos."""
    data = _load_json(stdout)
    repos = []
    for item in data if isinstance(data, list) else []:
        repo_id = item.get('Repo', '')
        if repo_id.startswith('@'):
            continue
        repos.append((repo_id, item.get('RepoName', repo_id), bool(item.get('Enabled'))))
    return repos


def parse_repolist_text(stdout):
    """`tdnf repolist all` text: `id  name...  enabled|disabled` -> [(id, name, enabled)]."""
    repos = []
    for line in (stdout or '').splitlines():
        parts = line.split()
        if len(parts) < 2 or (parts[0] == 'repo' and parts[1] == 'id'):
            continue
        status = parts[-1]
        if status not in ('enabled', 'disabled') or parts[0].startswith('@'):
            continue
        repos.append((parts[0], ' '.join(parts[1:-1]), status == 'enabled'))
    return repos


# --------------------------------------------------------------------------------------------
# Decisions
# --------------------------------------------------------------------------------------------

def query_names(specs):
    """The names to ask rpm about, each once, in request order."""
    names = []
    for spec in specs:
        if spec.name not in names:
            names.append(spec.name)
    return names


def unsatisfied_present(specs, installed):
    """Specs that state=present must install: never one that is installed (or installed at the
    pinned version), because `tdnf install NAME` upgrades an installed package."""
    return [spec for spec in specs if not any(spec_matches(spec, pkg) for pkg in installed.get(spec.name, []))]


def installed_for_absent(specs, installed):
    """Specs that state=absent must remove: only those installed (at the pinned version)."""
    return [spec for spec in specs if any(spec_matches(spec, pkg) for pkg in installed.get(spec.name, []))]


def newest_available(available):
    """{name: newest Package} from a list of available packages."""
    newest = {}
    for pkg in available:
        current = newest.get(pkg.name)
        if current is None or evr_compare((pkg.epoch, pkg.version, pkg.release),
                                          (current.epoch, current.version, current.release)) > 0:
            newest[pkg.name] = pkg
    return newest


def _find_available(spec, available):
    matching = [pkg for pkg in available if spec_matches(spec, pkg)]
    return newest_available(matching).get(spec.name)


def predict_from_lists(state, specs, installed, available):
    """tdnf 3.1 (no JSON preview): predict the transaction of the requested packages from the
    rpm query and `tdnf list available`. Dependencies tdnf would add are not predicted.

    Returns (transaction, missing names).
    """
    transaction = empty_transaction()
    missing = []
    for spec in specs:
        have = installed.get(spec.name, [])
        if state == 'absent':
            transaction.remove.extend(pkg for pkg in have if spec_matches(spec, pkg))
            continue
        candidate = _find_available(spec, available)
        if state == 'present' and any(spec_matches(spec, pkg) for pkg in have):
            continue
        if candidate is None:
            if not have or spec.version is not None:
                missing.append(spec.raw)
            continue
        if not have:
            transaction.install.append(candidate)
            continue
        newest_installed = newest_available(have)[spec.name]
        order = evr_compare((candidate.epoch, candidate.version, candidate.release),
                            (newest_installed.epoch, newest_installed.version, newest_installed.release))
        if order > 0:
            transaction.upgrade.append(candidate)
        elif order < 0 and spec.version is not None:
            transaction.downgrade.append(candidate)
    return transaction, missing


def transaction_is_empty(transaction):
    return not any(transaction)


def transaction_names(transaction):
    names = []
    for field in transaction:
        for pkg in field:
            if pkg.name not in names:
                names.append(pkg.name)
    return names


def diff_lines(installed, transaction):
    """Sorted `name-version-release` lines before and after the transaction, over the packages
    it touches. `installed` must hold every touched package that is installed."""
    touched = transaction_names(transaction)
    before = {}
    for name in touched:
        for pkg in installed.get(name, []):
            before[(pkg.name, pkg.arch, name_evr(pkg))] = pkg
    # Packages removed are installed by definition (tdnf names dependents the query did not cover).
    for pkg in transaction.remove:
        before[(pkg.name, pkg.arch, name_evr(pkg))] = pkg
    after = dict(before)
    for pkg in transaction.remove:
        after.pop((pkg.name, pkg.arch, name_evr(pkg)), None)
    for pkg in transaction.upgrade + transaction.downgrade:
        for key in [k for k in after if k[0] == pkg.name and k[1] == pkg.arch]:
            del after[key]
    for pkg in transaction.install + transaction.upgrade + transaction.downgrade + transaction.reinstall:
        after[(pkg.name, pkg.arch, name_evr(pkg))] = pkg
    return (sorted(set(key[2] for key in before)), sorted(set(key[2] for key in after)))


def package_changes(installed, transaction):
    """What the transaction does to each package it touches, for a report: [{name, arch, before,
    after}], `before` and `after` the EVR (`[EPOCH:]VERSION-RELEASE`) or None (not installed). An
    upgrade's `before` is the newest installed EVR of its name and arch, read from `installed`
    ({name: [Package]}); None when `installed` does not hold it."""
    def evr(package):
        epoch = '' if package.epoch in (None, '0') else '%s:' % package.epoch
        return '%s%s-%s' % (epoch, package.version, package.release)

    def installed_evr(package):
        have = [pkg for pkg in installed.get(package.name, []) if pkg.arch == package.arch]
        newest = newest_available(have).get(package.name)
        return evr(newest) if newest is not None else None

    changes = []
    for pkg in transaction.install:
        changes.append(dict(name=pkg.name, arch=pkg.arch, before=None, after=evr(pkg)))
    for pkg in transaction.upgrade + transaction.downgrade:
        changes.append(dict(name=pkg.name, arch=pkg.arch, before=installed_evr(pkg), after=evr(pkg)))
    for pkg in transaction.reinstall:
        changes.append(dict(name=pkg.name, arch=pkg.arch, before=evr(pkg), after=evr(pkg)))
    for pkg in transaction.remove:
        changes.append(dict(name=pkg.name, arch=pkg.arch, before=evr(pkg), after=None))
    return sorted(changes, key=lambda change: (change['name'], change['arch']))


def transaction_result(transaction):
    """The module's result lists (name-version-release.arch)."""
    return {
        'installed': [nevra(pkg) for pkg in transaction.install],
        'upgraded': [nevra(pkg) for pkg in transaction.upgrade],
        'downgraded': [nevra(pkg) for pkg in transaction.downgrade],
        'removed': [nevra(pkg) for pkg in transaction.remove],
        'reinstalled': [nevra(pkg) for pkg in transaction.reinstall],
    }


def summary(transaction):
    counts = [(len(getattr(transaction, field)), word) for field, word in (
        ('install', 'installed'), ('upgrade', 'upgraded'), ('downgrade', 'downgraded'),
        ('remove', 'removed'), ('reinstall', 'reinstalled'))]
    parts = ['%d %s' % (count, word) for count, word in counts if count]
    return ', '.join(parts) if parts else 'nothing to do'


def unreachable_repo_message(repos, error, repo_ids=None):
    """Message for repositories tdnf could not read. tdnf names them by their *names*; repo_ids maps
    a name to its repo id (from `repolist all`), which is what disablerepo takes."""
    repo_ids = repo_ids or {}
    labels = ', '.join("'%s' (repo id %s)" % (repo, repo_ids[repo]) if repo in repo_ids else "'%s'" % repo
                       for repo in repos)
    detail = ' (Error(%s): %s)' % (error.number, error.message) if error and error.number else ''
    one = len(repos) == 1
    if all(repo in repo_ids for repo in repos):
        skip = 'add disablerepo: [%s] to this task' % ', '.join(repo_ids[repo] for repo in repos)
    else:
        skip = 'add %s to disablerepo for this task' % ('its repo id' if one else 'their repo ids')
    return ('tdnf could not read %s %s%s. Fix %s baseurl, or skip %s: %s, or set skip_if_unavailable=1 in %s '
            'in /etc/yum.repos.d.' % ('repository' if one else 'repositories', labels, detail, 'its' if one else 'their',
                                      'it' if one else 'them', skip, 'its .repo file' if one else 'their .repo files'))


def not_found_message(not_found, repo_hints, skipped=()):
    """Message for packages tdnf cannot find; repo_hints maps a name to the disabled repo id that
    has it; skipped names the repositories tdnf could not read and skipped (skip_if_unavailable),
    which may be where the package is."""
    hinted = ['%s (in disabled repository %s: add enablerepo: [%s])' % (name, repo_hints[name], repo_hints[name])
              for name in not_found if name in repo_hints]
    unknown = [name for name in not_found if name not in repo_hints]
    parts = []
    if unknown:
        parts.append('no package matches %s in the enabled repositories' % ', '.join(unknown))
    if hinted:
        parts.append('; '.join(hinted))
    message = 'Nothing was installed: ' + '; '.join(parts) + '.'
    if skipped:
        message += (' tdnf could not read and skipped (skip_if_unavailable) %s %s.'
                    % ('repository' if len(skipped) == 1 else 'repositories', ', '.join("'%s'" % repo for repo in skipped)))
    return message
