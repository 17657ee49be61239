#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) homelab.photon contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: tdnf
short_description: Manage packages with tdnf, the package manager of VMware Photon OS
version_added: 0.1.0
description:
  - Installs, upgrades and removes packages on Photon OS 3 (tdnf 3.1), 4 (tdnf 3.3) and 5 (tdnf 3.5)
    with the option names of M(ansible.builtin.dnf).
  - The installed state of all requested packages is read with one C(rpm -q) query; on a host that
    already is in the requested state no tdnf transaction runs at all.
  - O(state=present) never passes an installed package to C(tdnf install), because tdnf upgrades an
    installed package that has a newer version available when it is named in C(tdnf install).
  - All requested packages go into one tdnf transaction. An unknown package makes the whole
    transaction fail before anything is installed; the message names it, and names the disabled
    repository that has it when there is one.
  - With tdnf 3.3 and later the transaction is first resolved with a JSON dry run
    (C(tdnf -j --assumeno)); that preview decides C(changed) and is what check mode reports, with
    dependencies. tdnf 3.1 has no JSON output; there the decision is made from the C(rpm) query and
    C(tdnf list available), and check mode does not predict the dependencies tdnf adds.
  - tdnf always runs with C(-y) or C(--assumeno), never reading a prompt, with C(LC_ALL=C). tdnf's
    exit code is its error number cut to 8 bits; the module reports the real C(Error(N)) number.
author:
  - homelab.photon contributors (@homelab-photon)
options:
  name:
    description:
      - Packages, each a name, C(NAME-VERSION) or C(NAME-VERSION-RELEASE) (with an optional
        C(EPOCH:) before the version), for example V(nfs-utils) or V(docker-compose-2.20.2).
      - A dash-separated part that begins with a digit starts the version.
      - Any of these may end with C(.ARCH), as for tdnf and rpm, for example V(htop.noarch) or
        V(docker-compose-2.20.2-1.ph5.noarch).
      - V(*) upgrades every installed package; only with O(state=latest).
    type: list
    elements: str
    aliases: [pkg]
  state:
    description:
      - V(present) (or V(installed)) installs missing packages and never upgrades installed ones.
        With a version, an installed package at another version is moved to that version.
      - V(latest) installs missing packages and upgrades installed ones that have an update.
      - V(absent) (or V(removed)) removes installed packages (with the packages that depend on
        them, as tdnf does); a package that is not installed is fine.
    type: str
    choices: [present, installed, latest, absent, removed]
    default: present
  update_cache:
    description:
      - Refresh the repository metadata (C(tdnf makecache)) first. Skipped in check mode.
      - Can be used without O(name).
    type: bool
    default: false
  enablerepo:
    description:
      - Repository ids to enable for this task only (C(--enablerepo)).
    type: list
    elements: str
    default: []
  disablerepo:
    description:
      - Repository ids to disable for this task only (C(--disablerepo)), for example an unreachable one.
    type: list
    elements: str
    default: []
  disable_gpg_check:
    description:
      - Do not check package signatures (C(--nogpgcheck)).
    type: bool
    default: false
  exclude:
    description:
      - Packages tdnf must leave alone in this transaction (C(--exclude)).
    type: list
    elements: str
    default: []
  releasever:
    description:
      - Photon release to resolve repositories for (C(--releasever)), instead of the installed one.
    type: str
  security:
    description:
      - With O(state=latest), only apply updates that fix security issues (C(--security)).
      - Named packages must be installed already (use O(state=present) first); with O(name=*) every
        installed package is considered.
      - With named packages, only their security updates are applied (and what those need). tdnf
        itself ignores package names with C(--security) and would apply every security update, so
        with tdnf 3.3 and later the module reads all security updates from a dry run and upgrades
        the named packages to exactly those versions.
      - With tdnf 3.1 the names and C(--security) are passed to tdnf as they are.
      - With tdnf 3.1, check mode predicts every available update, not only the security ones.
    type: bool
    default: false
  reboot_patterns:
    description:
      - Shell-style patterns (fnmatch, case-sensitive, the whole name) of the packages whose installation,
        upgrade, downgrade or reinstallation needs a reboot; the module returns RV(reboot_suggested) and
        RV(reboot_packages) from the transaction (Photon OS has no C(needs-restarting)). A removal never does.
      - The default names the kernel flavours (V(linux), V(linux-esx), V(linux-secure), V(linux-rt),
        V(linux-aws)), V(linux-firmware), V(glibc), V(systemd), V(systemd-libs), V(systemd-udev), V(dbus),
        V(dbus-libs), V(openssl), V(openssl-libs) and V(gnutls), after C(dnf needs-restarting -r).
      - The module never reboots; M(ansible.builtin.reboot) does, when the result says so (the
        homelab.photon.update role).
    type: list
    elements: str
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details:
      - With tdnf 3.3 and later the prediction is tdnf's own JSON dry run, dependencies included.
      - With tdnf 3.1 the prediction covers the requested packages, not the dependencies tdnf adds.
      - O(update_cache) is skipped in check mode.
  diff_mode:
    support: full
    details: Sorted C(name-version-release) lines of the packages the transaction touches, before and after.
  platform:
    support: full
    platforms: posix
requirements:
  - tdnf and rpm on the target (Photon OS).
notes:
  - ansible-core's M(ansible.builtin.package) cannot drive tdnf; use this module on Photon OS.
seealso:
  - module: ansible.builtin.dnf
  - module: ansible.builtin.yum_repository
"""

EXAMPLES = r"""
- name: Install the NFS client (state present never upgrades it later)
  homelab.photon.tdnf:
    name: nfs-utils
    state: present

- name: Install a pinned version
  homelab.photon.tdnf:
    name: docker-compose-2.20.2
    state: present

- name: Install a package from a repository that is disabled by default
  homelab.photon.tdnf:
    name: wget
    enablerepo: [photon-extras]

- name: Keep docker-compose and htop at their newest versions
  homelab.photon.tdnf:
    name: [docker-compose, htop]
    state: latest
    update_cache: true

- name: Apply security updates to every installed package
  homelab.photon.tdnf:
    name: '*'
    state: latest
    security: true

- name: Remove a package (fine when it is not installed)
  homelab.photon.tdnf:
    name: wget
    state: absent

- name: Install while a broken repository is skipped
  homelab.photon.tdnf:
    name: htop
    disablerepo: [broken]

- name: Refresh the metadata cache only
  homelab.photon.tdnf:
    update_cache: true

- name: Apply every update and reboot when one of them needs it (a kernel, glibc, systemd...)
  homelab.photon.tdnf:
    name: '*'
    state: latest
  register: updates

- name: Reboot for the updates that need it
  ansible.builtin.reboot:
  when: updates.reboot_suggested
"""

RETURN = r"""
msg:
  description: What was done (or would be done in check mode).
  returned: always
  type: str
  sample: 2 installed
installed:
  description: Packages installed (C(name-version-release.arch)), dependencies included.
  returned: always
  type: list
  elements: str
  sample: [rpcbind-1.2.6-1.ph5.noarch, nfs-utils-2.5.4-1.ph5.noarch]
upgraded:
  description: Packages upgraded, with their new version (C(name-version-release.arch)).
  returned: always
  type: list
  elements: str
  sample: [docker-compose-2.33.1-1.ph5.noarch]
downgraded:
  description: Packages moved to an older version (C(name-version-release.arch)).
  returned: always
  type: list
  elements: str
  sample: []
removed:
  description: Packages removed (C(name-version-release.arch)), dependent packages included.
  returned: always
  type: list
  elements: str
  sample: [wget-1.21.4-2.ph5.noarch]
reinstalled:
  description: Packages reinstalled (C(name-version-release.arch)).
  returned: always
  type: list
  elements: str
  sample: []
changes:
  description:
    - What the transaction does (or would do in check mode) to each package, sorted by name, each with its
      EVR (C([EPOCH:]VERSION-RELEASE)) before and after; V(null) means not installed.
  returned: success
  type: list
  elements: dict
  sample: [{name: linux, arch: x86_64, before: 6.1.83-1.ph5, after: 6.1.90-1.ph5}]
  contains:
    name:
      description: The package's name.
      type: str
    arch:
      description: The package's architecture.
      type: str
    before:
      description: The installed EVR before the transaction (the newest, when several are), or null.
      type: str
    after:
      description: The EVR after the transaction, or null when the package is removed.
      type: str
reboot_suggested:
  description:
    - Whether the transaction installs, upgrades, downgrades or reinstalls (or would, in check mode) a package
      that O(reboot_patterns) names.
  returned: success
  type: bool
  sample: true
reboot_packages:
  description: The packages (C(name-version-release.arch)) that make RV(reboot_suggested) true.
  returned: success
  type: list
  elements: str
  sample: [linux-6.1.90-1.ph5.x86_64]
tdnf_version:
  description: The version of tdnf on the target; null when tdnf was not needed (a converged host).
  returned: always
  type: str
  sample: 3.6.0
cache_updated:
  description: Whether C(tdnf makecache) ran.
  returned: always
  type: bool
  sample: false
tdnf_error:
  description: tdnf's own error number (C(Error(N))), when a tdnf command failed.
  returned: failure
  type: int
  sample: 1011
rc:
  description: Exit code of the failed command.
  returned: failure
  type: int
  sample: 243
stdout:
  description: Output of the failed command.
  returned: failure
  type: str
stderr:
  description: Error output of the failed command.
  returned: failure
  type: str
  sample: "no-such-package package not found or not installed\nError(1011) : No matching packages\n"
cmd:
  description: argv of the failed command.
  returned: failure
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.homelab.photon.plugins.module_utils._reboot import (
    DEFAULT_REBOOT_PATTERNS,
    reboot_packages,
)
from ansible_collections.homelab.photon.plugins.module_utils._tdnf import (
    ERROR_NO_MATCHING_PACKAGES,
    TDNF_ENV,
    SpecError,
    diff_lines,
    empty_transaction,
    has_json,
    installed_for_absent,
    nevra,
    not_found_message,
    package_changes,
    parse_json_preview,
    parse_list_text,
    parse_not_found,
    parse_repolist_json,
    parse_repolist_text,
    parse_rpm_query,
    parse_spec,
    parse_tdnf_error,
    parse_text_transaction,
    parse_tdnf_version,
    parse_unreachable_repos,
    predict_from_lists,
    query_names,
    rpm_query_argv,
    rpm_query_failed,
    summary,
    tdnf_argv,
    transaction_is_empty,
    transaction_names,
    transaction_result,
    unreachable_repo_message,
    unsatisfied_present,
)


class Tdnf(object):
    def __init__(self, module):
        self.module = module
        params = module.params
        self.state = {'installed': 'present', 'removed': 'absent'}.get(params['state'], params['state'])
        # Looked up when first needed: a converged host needs only rpm.
        self.tdnf = None
        self.rpm = None
        self.options = dict(
            enablerepo=params['enablerepo'],
            disablerepo=params['disablerepo'],
            disable_gpg_check=params['disable_gpg_check'],
            exclude=params['exclude'],
            releasever=params['releasever'],
            security=params['security'],
        )
        self.version = None
        self.json = False
        self.cache_updated = False

    # -- running commands -------------------------------------------------------------------

    def run(self, argv):
        rc, out, err = self.module.run_command(argv, check_rc=False, environ_update=TDNF_ENV)
        return rc, out, err

    def fail(self, msg, argv, rc, out, err, error=None):
        if error is None:
            error = parse_tdnf_error(rc, out, err)
        number = error.number if error else None
        if number is not None and '(Error(' not in msg:
            msg = '%s (Error(%s): %s)' % (msg, number, error.message)
        self.module.fail_json(msg=msg, cmd=argv, rc=rc, stdout=out, stderr=err, tdnf_error=number,
                              tdnf_version=self.version, **transaction_result(empty_transaction()))

    def tdnf_failed(self, argv, rc, out, err, action):
        """Turn a failed tdnf call into an actionable message."""
        error = parse_tdnf_error(rc, out, err)
        unreachable = parse_unreachable_repos(err)
        not_found = parse_not_found(err)
        # Unknown packages first: tdnf also names the repositories it could not read and skipped
        # (skip_if_unavailable) before it found no match; those are a hint, not the failure.
        if error and error.number == ERROR_NO_MATCHING_PACKAGES and not_found and self.state != 'absent':
            hints = self.find_in_disabled_repos(not_found)
            self.fail(not_found_message(not_found, hints, unreachable), argv, rc, out, err, error)
        if unreachable:
            self.fail(unreachable_repo_message(unreachable, error, self.repo_ids()), argv, rc, out, err, error)
        number = error.number if error and error.number is not None else 'unknown'
        message = error.message if error and error.message else (err or out).strip()
        self.fail('tdnf failed to %s: Error(%s): %s' % (action, number, message), argv, rc, out, err, error)

    def repo_ids(self):
        """{repository name: repo id} from `tdnf repolist all` (which reads no metadata, so it
        works while a repository is unreachable); {} if that fails."""
        rc, out, dummy = self.run(tdnf_argv(self.tdnf, ['repolist', 'all'], json_output=self.json))
        if rc != 0:
            return {}
        repos = parse_repolist_json(out) if self.json else parse_repolist_text(out)
        return dict((name, repo_id) for repo_id, name, dummy in repos)

    def find_in_disabled_repos(self, names):
        """For names tdnf could not find, ask once per name whether a disabled repository has it."""
        listing = tdnf_argv(self.tdnf, ['repolist', 'all'], json_output=self.json)
        rc, out, err = self.run(listing)
        if rc != 0:
            return {}
        repos = parse_repolist_json(out) if self.json else parse_repolist_text(out)
        disabled = [repo_id for repo_id, dummy, enabled in repos
                    if not enabled and repo_id not in self.options['enablerepo']]
        if not disabled:
            return {}
        options = dict(self.options)
        options['enablerepo'] = list(self.options['enablerepo']) + disabled
        options['security'] = False
        hints = {}
        for name in names:
            if self.json:
                argv = tdnf_argv(self.tdnf, 'install', [name], json_output=True, assume='no', **options)
                rc, out, err = self.run(argv)
                found = parse_json_preview(out).install if rc == 0 else []
            else:
                argv = tdnf_argv(self.tdnf, ['list', 'available'], **options)
                rc, out, err = self.run(argv)
                found = [pkg for pkg in parse_list_text(out) if rc == 0]
            for pkg in found:
                if pkg.name == name and pkg.repo in disabled:
                    hints[name] = pkg.repo
                    break
        return hints

    # -- steps ------------------------------------------------------------------------------

    def detect_version(self):
        if self.version is not None:
            return
        self.tdnf = self.module.get_bin_path('tdnf')
        if not self.tdnf:
            self.module.fail_json(msg='tdnf was not found on the target; homelab.photon.tdnf manages the packages of '
                                      'VMware Photon OS (use ansible.builtin.package elsewhere)',
                                  **transaction_result(empty_transaction()))
        argv = [self.tdnf, '--version']
        rc, out, err = self.run(argv)
        version = parse_tdnf_version(out)
        if rc != 0 or version is None:
            self.fail('could not read the tdnf version', argv, rc, out, err)
        self.version = version
        self.json = has_json(version)

    def makecache(self):
        argv = tdnf_argv(self.tdnf, 'makecache', enablerepo=self.options['enablerepo'],
                         disablerepo=self.options['disablerepo'], releasever=self.options['releasever'])
        rc, out, err = self.run(argv)
        if rc != 0:
            self.tdnf_failed(argv, rc, out, err, 'refresh the metadata cache')
        self.cache_updated = True

    def query_installed(self, names):
        """One rpm query for the given names; no names means every installed package (rpm -qa)."""
        if self.rpm is None:
            self.rpm = self.module.get_bin_path('rpm', required=True)
        argv = rpm_query_argv(self.rpm, names)
        rc, out, err = self.run(argv)
        if rpm_query_failed(rc, out, err, names):
            self.fail('rpm could not query the installed packages', argv, rc, out, err)
        return parse_rpm_query(out)

    def preview(self, command, names):
        """JSON dry run (tdnf 3.3+): the exact transaction a real run would do."""
        argv = tdnf_argv(self.tdnf, command, names, json_output=True, assume='no', **self.options)
        rc, out, err = self.run(argv)
        if rc != 0:
            self.tdnf_failed(argv, rc, out, err, 'resolve the transaction')
        return parse_json_preview(out)

    def security_targets(self, specs):
        """The security updates of the named packages, as exact NEVRAs (tdnf 3.3+).

        With --security, tdnf ignores the names given to `upgrade` (and `install`) and applies every
        security update of the host (seen with tdnf 3.6.0 in the lab, tests/integration/tdnf/). So
        the module asks tdnf for all security updates, keeps those of the named packages, and then
        upgrades exactly those versions without --security.
        """
        everything = self.preview('upgrade', [])
        targets = [nevra(pkg) for pkg in everything.upgrade
                   if any(spec.name == pkg.name and spec.arch in (None, pkg.arch) for spec in specs)]
        self.options['security'] = False
        return targets

    def predict_without_json(self, specs, installed):
        """tdnf 3.1: decide from the rpm query and `tdnf list available`."""
        if self.state == 'absent':
            transaction, dummy = predict_from_lists(self.state, specs, installed, [])
            return transaction
        options = dict(self.options)
        options['security'] = False
        argv = tdnf_argv(self.tdnf, ['list', 'available'], **options)
        rc, out, err = self.run(argv)
        if rc != 0:
            self.tdnf_failed(argv, rc, out, err, 'list the available packages')
        transaction, missing = predict_from_lists(self.state, specs, installed, parse_list_text(out))
        if missing:
            names = [spec.name for spec in specs if spec.raw in missing]
            self.fail(not_found_message(names, self.find_in_disabled_repos(names)), argv, rc, out, err)
        return transaction

    def execute(self, command, names):
        argv = tdnf_argv(self.tdnf, command, names, assume='yes', **self.options)
        rc, out, err = self.run(argv)
        if rc != 0:
            self.tdnf_failed(argv, rc, out, err, '%s %s' % (command, ' '.join(names)))
        return parse_text_transaction(out), 'Nothing to do' in out + err

    # -- the task ---------------------------------------------------------------------------

    def result(self, transaction, installed, changed, msg):
        result = dict(changed=changed, msg=msg, tdnf_version=self.version, cache_updated=self.cache_updated)
        result.update(transaction_result(transaction))
        patterns = self.module.params['reboot_patterns']
        rebooting = reboot_packages(transaction, DEFAULT_REBOOT_PATTERNS if patterns is None else patterns)
        result.update(changes=package_changes(installed, transaction), reboot_suggested=bool(rebooting),
                      reboot_packages=[nevra(pkg) for pkg in rebooting])
        if self.module._diff:
            before, after = diff_lines(installed, transaction)
            result['diff'] = dict(before='\n'.join(before) + ('\n' if before else ''),
                                  after='\n'.join(after) + ('\n' if after else ''),
                                  before_header='installed packages', after_header='installed packages')
        return result

    def complete_installed(self, installed, transaction, always=False):
        """Installed versions of packages the transaction touches that the first query did not
        cover (dependencies that are upgraded, every package of name=*), for the diff and for
        `changes` (always: before the transaction runs)."""
        extra = [name for name in transaction_names(transaction) if name not in installed
                 and any(pkg.name == name for pkg in transaction.upgrade + transaction.downgrade)]
        if extra and (always or self.module._diff):
            installed = dict(installed)
            installed.update(self.query_installed(extra))
        return installed

    def main(self):
        params = self.module.params
        try:
            specs = [parse_spec(raw) for raw in params['name'] or []]
        except SpecError as exc:
            self.module.fail_json(msg=str(exc))
        wildcard = any(spec.name == '*' for spec in specs)
        if wildcard and (self.state != 'latest' or len(specs) != 1):
            self.module.fail_json(msg="name '*' is only valid alone and with state=latest")
        if params['security'] and self.state != 'latest':
            self.module.fail_json(msg='security=true is only valid with state=latest')

        if params['update_cache'] and not self.module.check_mode:
            self.detect_version()
            self.makecache()
        if not specs:
            msg = 'metadata cache refreshed' if self.cache_updated else 'nothing to do'
            return self.result(empty_transaction(), {}, False, msg)

        if wildcard:
            installed = {}
            command, names = 'upgrade', []
        else:
            installed = self.query_installed(query_names(specs))
            if self.state == 'present':
                todo = unsatisfied_present(specs, installed)
                command = 'install'
            elif self.state == 'absent':
                todo = installed_for_absent(specs, installed)
                command = 'erase'
            elif params['security']:
                # Security updates of installed packages only: `tdnf --security upgrade NAMES`.
                missing = [spec.raw for spec in specs if spec.name not in installed]
                if missing:
                    self.module.fail_json(msg='security=true only upgrades installed packages; %s %s not installed '
                                              '(install with state=present first)'
                                              % (', '.join(missing), 'is' if len(missing) == 1 else 'are'),
                                          **transaction_result(empty_transaction()))
                todo = specs
                command = 'upgrade'
            else:
                todo = specs
                command = 'install'
            if not todo:
                # Converged: no tdnf call at all.
                return self.result(empty_transaction(), installed, False, 'nothing to do')
            names = [spec.raw for spec in todo]

        self.detect_version()

        if self.json:
            if params['security'] and not wildcard:
                names = self.security_targets(specs)
                if not names:
                    return self.result(empty_transaction(), installed, False, 'nothing to do')
            transaction = self.preview(command, names)
        else:
            if wildcard:
                # tdnf 3.1, everything: compare all installed packages with the available ones.
                installed = self.query_installed([])
                todo = [parse_spec(name) for name in sorted(installed)]
            transaction = self.predict_without_json(todo, installed)
        if transaction_is_empty(transaction):
            return self.result(transaction, installed, False, 'nothing to do')

        if self.state == 'latest' and not wildcard and not (transaction.install or transaction.downgrade):
            # Only upgrades: `tdnf upgrade` of the same names is the same transaction.
            command = 'upgrade'
        installed = self.complete_installed(installed, transaction, always=True)
        if self.module.check_mode:
            return self.result(transaction, installed, True, 'would be: ' + summary(transaction))

        done, nothing_to_do = self.execute(command, names)
        if transaction_is_empty(done):
            if nothing_to_do:
                return self.result(done, installed, False, 'nothing to do')
            # tdnf succeeded without a table this module can read: report what it resolved before.
            done = transaction
        installed = self.complete_installed(installed, done)
        return self.result(done, installed, True, summary(done))


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type='list', elements='str', aliases=['pkg']),
            state=dict(type='str', default='present', choices=['present', 'installed', 'latest', 'absent', 'removed']),
            update_cache=dict(type='bool', default=False),
            enablerepo=dict(type='list', elements='str', default=[]),
            disablerepo=dict(type='list', elements='str', default=[]),
            disable_gpg_check=dict(type='bool', default=False),
            exclude=dict(type='list', elements='str', default=[]),
            releasever=dict(type='str'),
            security=dict(type='bool', default=False),
            reboot_patterns=dict(type='list', elements='str'),
        ),
        required_one_of=[['name', 'update_cache']],
        supports_check_mode=True,
    )
    for option in ('enablerepo', 'disablerepo', 'exclude'):
        for value in module.params[option]:
            if not value or value.startswith('-') or any(char.isspace() or char == ',' for char in value):
                module.fail_json(msg='invalid %s entry %r' % (option, value))
    module.exit_json(**Tdnf(module).main())


if __name__ == '__main__':
    main()
