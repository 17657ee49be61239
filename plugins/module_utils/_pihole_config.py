# -*- coding: utf-8 -*-
# Copyright: homelab.photon contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The run of homelab.photon.pihole_config: read each declared part once, plan, write what differs.

Order of the writes (all checks, including FTLCONF_ read-only settings and unknown group names,
happen before the first one): groups added, domains, lists and clients added (batched), items
updated (one PUT each), items removed (batched), groups removed, gravity (when lists changed), and
last the one PATCH of /api/config (records, CNAMEs, upstreams, DHCP, settings), because some of
those make FTL restart itself; the run then waits until FTL answers again.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time
from collections import OrderedDict

from ansible_collections.homelab.photon.plugins.module_utils._pihole_api import PiholeError, item_path, query
from ansible_collections.homelab.photon.plugins.module_utils._pihole_plan import (
    DeclarationError,
    add_batches,
    current_items,
    flatten_config,
    gravity_summary,
    item_label,
    needs_groups,
    plan_config,
    plan_items,
    referenced_groups,
    unknown_groups,
)

CONFIG_PARTS = ('local_records', 'cnames', 'upstreams', 'dhcp', 'settings')
PART_ORDER = ('local_records', 'cnames', 'upstreams', 'dhcp', 'settings', 'groups', 'domains', 'lists', 'clients')
READ_PATHS = {'groups': '/api/groups', 'domains': '/api/domains', 'lists': '/api/lists', 'clients': '/api/clients'}


class Step(object):
    """One write: an API call (or gravity) and the items it applies."""

    def __init__(self, label, items, action):
        self.label = label
        self.items = items
        self.action = action


class ConfigRunner(object):
    def __init__(self, api, decl, check_mode=False, diff=False, gravity='on_change', gravity_timeout=900,
                 restart_timeout=90):
        self.api = api
        self.decl = decl
        self.check_mode = check_mode
        self.diff = diff
        self.gravity_mode = gravity
        self.gravity_timeout = gravity_timeout
        self.restart_timeout = restart_timeout
        self.flat = None
        self.current = {}
        self.id_to_name = None
        self.name_to_id = {}
        self.config_plan = None
        self.item_plans = OrderedDict()
        self.applied = []
        self.gravity = {'needed': False, 'ran': False}
        self.ftl_restart = False

    # -- reading ----------------------------------------------------------------------------

    def read(self):
        if any(self.decl.get(part) is not None for part in CONFIG_PARTS):
            dummy, data = self.api.call('GET', '/api/config' + query({'detailed': 'true'}))
            self.flat = flatten_config((data or {}).get('config') or {})
            if not self.flat:
                raise PiholeError('GET /api/config gave no settings: %s is not a Pi-hole v6 API' % self.api.url)
        if needs_groups(self.decl):
            self._read_groups()
        for part in ('domains', 'lists', 'clients'):
            if self.decl.get(part) is not None:
                dummy, data = self.api.call('GET', READ_PATHS[part])
                self.current[part] = current_items(part, (data or {}).get(part) or [])

    def _read_groups(self):
        dummy, data = self.api.call('GET', READ_PATHS['groups'])
        self.current['groups'] = current_items('groups', (data or {}).get('groups') or [])
        self.id_to_name = dict((item['id'], item['name']) for item in self.current['groups'].values())
        self.name_to_id = dict((item['name'], item['id']) for item in self.current['groups'].values())

    # -- planning ---------------------------------------------------------------------------

    def plan(self):
        problems = []
        if self.flat is not None:
            try:
                self.config_plan = plan_config(self.decl, self.flat)
            except DeclarationError as exc:
                problems.extend(exc.problems)
        if self.id_to_name is not None:
            problems.extend(unknown_groups(self.decl, set(self.name_to_id)))
        purge = self.decl.get('purge', set())
        for part in ('groups', 'domains', 'lists', 'clients'):
            if self.decl.get(part) is None:
                continue
            self.item_plans[part] = plan_items(part, self.decl[part], self.current.get(part) or {}, part in purge,
                                               self.id_to_name)
        groups_plan = self.item_plans.get('groups')
        if groups_plan is not None:
            removed = set(item['name'] for item in groups_plan.deletes)
            used = removed & referenced_groups(self.decl)
            if used:
                problems.append('groups: %s would be removed by the purge but items of the declaration use %s'
                                % (', '.join(sorted(used)), 'them' if len(used) > 1 else 'it'))
        if problems:
            raise DeclarationError(problems)
        lists_plan = self.item_plans.get('lists')
        self.gravity['needed'] = bool(lists_plan and lists_plan.gravity_needed()) and self.gravity_mode != 'never'
        self.ftl_restart = bool(self.config_plan and self.config_plan.patch and self.config_plan.restart)

    def changes(self):
        changes = OrderedDict()
        if self.config_plan is not None:
            changes.update(self.config_plan.parts)
        for part, plan in self.item_plans.items():
            if plan.changed:
                changes[part] = plan.changes(self.id_to_name)
        return OrderedDict((part, changes[part]) for part in PART_ORDER if part in changes)

    def diffs(self):
        out = []
        before, after = OrderedDict(), OrderedDict()
        if self.config_plan is not None:
            before.update(self.config_plan.before)
            after.update(self.config_plan.after)
        for part, plan in self.item_plans.items():
            if plan.changed:
                before[part], after[part] = plan.before, plan.after
        for part in PART_ORDER:
            if part in before:
                out.append({'before_header': part, 'after_header': part,
                            'before': '\n'.join(before[part]) + ('\n' if before[part] else ''),
                            'after': '\n'.join(after[part]) + ('\n' if after[part] else '')})
        return out

    @property
    def changed(self):
        return bool((self.config_plan and self.config_plan.patch) or
                    any(plan.changed for plan in self.item_plans.values()))

    # -- writing ----------------------------------------------------------------------------

    def _group_ids(self, names):
        return sorted(self.name_to_id[name] for name in names)

    def _body(self, part, item, for_update=False):
        body = {}
        if part in ('groups', 'domains', 'lists'):
            body['enabled'] = bool(item.get('enabled', True))
        comment = item.get('comment')
        if comment is not None or for_update:
            body['comment'] = comment or None
        if part != 'groups':
            if item.get('groups') is not None:
                body['groups'] = None  # group names become ids when the step runs (new groups exist then)
            elif for_update and item.get('group_ids') is not None:
                body['groups'] = list(item['group_ids'])
        return body

    def _post(self, path, body, labels):
        dummy, data = self.api.call('POST', path, body, ok=(201, 200))
        processed = (data or {}).get('processed') or {}
        errors = processed.get('errors') or []
        if errors:
            failed = ['%s (%s)' % (error.get('item'), error.get('error')) for error in errors]
            done = [entry.get('item') for entry in processed.get('success') or []]
            raise PiholeError('Pi-hole refused to add %s' % '; '.join(failed), partial_applied=done)
        return data

    def _put(self, path, body):
        dummy, data = self.api.call('PUT', path, body, ok=(200, 201))
        errors = ((data or {}).get('processed') or {}).get('errors') or []
        if errors:
            raise PiholeError('Pi-hole refused to change %s' % '; '.join(
                '%s (%s)' % (error.get('item'), error.get('error')) for error in errors))

    def _batch_delete(self, path, entries):
        self.api.call('POST', path, entries, ok=(204, 200), allow=(404,))

    def steps(self):
        steps = []
        groups_plan = self.item_plans.get('groups')
        if groups_plan is not None:
            for batch in add_batches('groups', groups_plan.adds):
                body = self._body('groups', batch[0])
                body['name'] = [item['name'] for item in batch]
                steps.append(Step('add groups', [item['name'] for item in batch],
                                  lambda body=body: self._post('/api/groups', body, body['name'])))
            new_names = set(item['name'] for item in groups_plan.adds)
            if new_names & referenced_groups(self.decl):
                steps.append(Step('read the new groups\' ids', [], self._read_groups))
            for old, new in groups_plan.updates:
                body = self._body('groups', new, for_update=True)
                body['name'] = new['name']
                steps.append(Step('change group', [new['name']],
                                  lambda old=old, body=body: self._put('/api/groups/' + item_path(old['name']), body)))
        for part in ('domains', 'lists', 'clients'):
            plan = self.item_plans.get(part)
            if plan is None:
                continue
            for batch in add_batches(part, plan.adds):
                steps.append(self._add_step(part, batch))
        for part in ('domains', 'lists', 'clients'):
            plan = self.item_plans.get(part)
            if plan is None:
                continue
            for old, new in plan.updates:
                steps.append(self._update_step(part, old, new))
        for part in ('domains', 'lists', 'clients'):
            plan = self.item_plans.get(part)
            if plan is None or not plan.deletes:
                continue
            if part == 'domains':
                entries = [{'item': item['domain'], 'type': item['type'], 'kind': item['kind']} for item in plan.deletes]
            elif part == 'lists':
                entries = [{'item': item['address'], 'type': item['type']} for item in plan.deletes]
            else:
                entries = [{'item': item['client']} for item in plan.deletes]
            steps.append(Step('remove %s' % part, [item_label(part, item) for item in plan.deletes],
                              lambda part=part, entries=entries: self._batch_delete('/api/%s:batchDelete' % part,
                                                                                    entries)))
        if groups_plan is not None and groups_plan.deletes:
            entries = [{'item': item['name']} for item in groups_plan.deletes]
            steps.append(Step('remove groups', [item['name'] for item in groups_plan.deletes],
                              lambda entries=entries: self._batch_delete('/api/groups:batchDelete', entries)))
        if self.gravity['needed']:
            steps.append(Step('run gravity (lists changed)', [], self._run_gravity))
        if self.config_plan is not None and self.config_plan.patch:
            steps.append(Step('change settings', list(self.config_plan.patch), self._patch_config))
        return steps

    def _add_step(self, part, batch):
        first = batch[0]
        body = self._body(part, first)
        labels = [item_label(part, item) for item in batch]
        if part == 'domains':
            body['domain'] = [item['domain'] for item in batch]
            path = '/api/domains/%s/%s' % (first['type'], first['kind'])
        elif part == 'lists':
            body['address'] = [item['address'] for item in batch]
            path = '/api/lists' + query({'type': first['type']})
        else:
            body['client'] = [item['client'] for item in batch]
            path = '/api/clients'

        def action():
            if first.get('groups') is not None:  # ids of groups created by this run are known only now
                body['groups'] = self._group_ids(first['groups'])
            self._post(path, body, labels)
        return Step('add %s' % part, labels, action)

    def _update_step(self, part, old, new):
        body = self._body(part, new, for_update=True)
        if part == 'domains':
            body.update(type=old['type'], kind=old['kind'])
            path = '/api/domains/%s/%s/%s' % (old['type'], old['kind'], item_path(old['domain']))
        elif part == 'lists':
            body['type'] = old['type']
            path = '/api/lists/%s%s' % (item_path(old['address']), query({'type': old['type']}))
        else:
            path = '/api/clients/' + item_path(old['client'])

        def action():
            if new.get('groups') is not None:
                body['groups'] = self._group_ids(new['groups'])
            self._put(path, body)
        return Step('change %s' % part, [item_label(part, old)], action)

    def _run_gravity(self):
        started = time.time()
        output, reloaded = self.api.gravity(self.gravity_timeout)
        summary = gravity_summary(output)
        self.gravity.update(ran=True, seconds=round(time.time() - started, 2), failures=summary['failures'],
                            domains=summary['domains'], reloaded=reloaded)
        if not summary['done']:
            raise PiholeError('gravity did not finish (its output ends without "Done."): %s'
                              % ' | '.join(output.strip().splitlines()[-5:]))

    def _patch_config(self):
        sent = time.time()
        self.api.call('PATCH', '/api/config', self.config_plan.body())
        if self.config_plan.restart:
            # FTL answered, then re-executes itself for the new dnsmasq settings: the FTL that answered
            # the PATCH started before it was sent, the restarted one after.
            self.restart_wait = round(self.api.wait_restart(sent, self.restart_timeout), 2)

    # -- the task ---------------------------------------------------------------------------

    def run(self):
        """Returns the result dict; raises PiholeError/DeclarationError (the caller adds api calls)."""
        self.restart_wait = None
        self.read()
        self.plan()
        result = OrderedDict()
        result['changed'] = self.changed
        result['changes'] = self.changes()
        if self.diff:
            result['diff'] = self.diffs()
        if self.changed and not self.check_mode:
            steps = self.steps()
            for index, step in enumerate(steps):
                try:
                    step.action()
                except PiholeError as exc:
                    partial = exc.details.pop('partial_applied', None) or []
                    applied = [self._describe(done) for done in steps[:index]]
                    if partial:
                        applied.append('%s: %s' % (step.label, ', '.join(partial)))
                    remaining = [self._describe(todo, skip=partial) for todo in steps[index:]]
                    exc.details.update(applied=applied, not_applied=remaining, changes=result['changes'])
                    exc.msg = '%s. Applied before the failure: %s. Not applied: %s. Fix the cause and run again: a ' \
                              'rerun applies only what is still missing.' % (
                                  exc.msg.rstrip('.'), '; '.join(applied) or 'nothing',
                                  '; '.join(remaining) or 'nothing')
                    raise
        result['gravity'] = dict(self.gravity)
        result['ftl_restart'] = self.ftl_restart
        if self.restart_wait is not None:
            result['ftl_restart_seconds'] = self.restart_wait
        result['msg'] = self.summary(result['changes'])
        return result

    @staticmethod
    def _describe(step, skip=()):
        items = [item for item in step.items if item not in skip]
        return '%s%s' % (step.label, (': ' + ', '.join(str(i) for i in items)) if items else '')

    def summary(self, changes):
        if not changes:
            return 'Pi-hole matches the declaration; nothing to change'
        parts = []
        for part, change in changes.items():
            counts = ['%d %s' % (len(change[key]), key) for key in ('added', 'updated', 'removed') if change[key]]
            parts.append('%s (%s)' % (part, ', '.join(counts)))
        prefix = 'would change' if self.check_mode else 'changed'
        text = '%s: %s' % (prefix, '; '.join(parts))
        if self.gravity['needed']:
            text += '; gravity %s' % ('would run' if self.check_mode else 'ran')
        if self.ftl_restart:
            text += '; FTL %s itself for the new DNS/DHCP settings' % ('would restart' if self.check_mode else 'restarted')
        return text
