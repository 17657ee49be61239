#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) homelab.photon contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: files
short_description: Make several directories and write several files in one module run
version_added: 0.1.0
description:
  - Makes the directories and writes the files a role needs in one run of one module, where
    M(ansible.builtin.file), M(ansible.builtin.copy) and M(ansible.builtin.template) cost one or two
    module runs per path.
  - Every option is checked before the host is touched - absolute paths, no path twice, exactly
    one of O(files[].content) and O(files[].secret_content), a C(%s) in O(files[].validate), the
    owners and groups, a path of the wrong type on the host (a directory where a file is
    declared, or the reverse), and a file whose parent directory neither exists nor is made by
    this run. With any error nothing is changed and the module fails naming every error.
  - The directories are made first, in the order given, with their missing parents (those get
    mode C(0755) and the owner of the run). Mode, owner and group are set when they differ.
  - Then the files are written in the order given. A file whose content differs (compared byte by
    byte) or that is missing is written to a temporary file beside it (made C(0600)), given its
    mode, owner and group, checked with O(files[].validate), and renamed over the path, so
    the path always holds either the old or the whole new content with its final attributes.
    A file whose content is the same only gets its mode, owner and group set when they differ.
  - Symbolic links are followed - a declared path that is a link acts on what it points to.
author:
  - homelab.photon contributors (@homelab-photon)
options:
  directories:
    description:
      - The directories to make, in order. A directory must be listed before any directory
        inside it that is also listed.
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description:
          - The absolute path of the directory.
        type: path
        required: true
      mode:
        description:
          - The permissions of the directory, as in M(ansible.builtin.file) - an octal string
            such as C("0755") (quote it) or a symbolic mode such as C(u=rwx,g=rx,o=rx).
          - When not given, an existing directory keeps its mode and a new one gets C(0755).
        type: raw
      owner:
        description:
          - The user that owns the directory (name or uid). When not given, an existing
            directory keeps its owner and a new one belongs to the user the module runs as.
        type: str
      group:
        description:
          - The group of the directory (name or gid). When not given, an existing directory
            keeps its group and a new one gets the group the module runs as.
        type: str
  files:
    description:
      - The files to write, in order, after the directories. The parent directory of each must
        exist or be made by this run (listed in O(directories), or a parent of one listed there).
    type: list
    elements: dict
    default: []
    suboptions:
      path:
        description:
          - The absolute path of the file.
        type: path
        required: true
      content:
        description:
          - The content of the file, written exactly as given (UTF-8, no newline added). It shows
            in the diff.
          - Exactly one of O(files[].content) and O(files[].secret_content) is required.
        type: str
      secret_content:
        description:
          - The content of a file that holds a secret, written exactly as given (UTF-8, no newline
            added). It is never shown - the diff says only C((secret content changed)).
          - Exactly one of O(files[].content) and O(files[].secret_content) is required.
        type: str
      mode:
        description:
          - The permissions of the file, as in M(ansible.builtin.file) - an octal string such as
            C("0644") (quote it) or a symbolic mode such as C(u=rw,g=r,o=r).
          - When not given, an existing file keeps its mode and a new one gets C(0644).
        type: raw
      owner:
        description:
          - The user that owns the file (name or uid). When not given, an existing file keeps its
            owner and a new one belongs to the user the module runs as.
        type: str
      group:
        description:
          - The group of the file (name or gid). When not given, an existing file keeps its group
            and a new one gets the group the module runs as.
        type: str
      create_only:
        description:
          - Write the file only when the path does not exist; an existing file is left alone
            entirely - content, mode, owner and group (as M(ansible.builtin.copy) with
            C(force=false)). The path's result then says RV(paths.skipped=true).
        type: bool
        default: false
      backup:
        description:
          - Before the content of an existing file is replaced, keep a copy of it beside it, with
            a time stamp in its name (returned as RV(paths.backup_file)).
        type: bool
        default: false
      validate:
        description:
          - A command that checks the new content before it replaces the file. It is split like a
            shell would split it (no shell runs it) and every C(%s) in it is replaced by the path
            of the temporary file, which is in the same directory as the file.
          - It runs only when the content changes (not in check mode). When it exits non-zero the
            module fails naming the path, its exit code and output, and the file is left as it was.
            Paths handled before it in this run stay changed.
        type: str
notes:
  - Check mode predicts exactly what the run would do, path by path, and writes nothing; a file in
    a directory that the run would make is predicted as created. O(files[].validate) does not run
    in check mode, and RV(paths.backup_file) is only known after a real run.
  - The SELinux context of a replaced file is not kept.
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Predicts every path's result; validate commands do not run.
  diff_mode:
    support: full
    details: >-
      A list of entries, one per changed content or set of attributes - the old and new content
      of a file (never a secret's), C(mode:)/C(owner:)/C(group:) lines for attributes, and
      C(state: absent) to C(state: directory) for a directory made.
  platform:
    support: N/A
    platforms: posix
seealso:
  - module: ansible.builtin.copy
  - module: ansible.builtin.file
"""

EXAMPLES = r"""
- name: Pi-hole's directories, password file and compose file in one run
  homelab.photon.files:
    directories:
      - path: /opt/docker/pihole
        mode: "0755"
      - path: /opt/docker/pihole/etc-pihole
        mode: "0755"
    files:
      - path: /opt/docker/pihole/web_password
        secret_content: "{{ pihole_web_password }}"
        mode: "0600"
      - path: /opt/docker/pihole/compose.yaml
        content: "{{ lookup('ansible.builtin.template', 'compose.yaml.j2') }}"
        mode: "0644"
        validate: docker compose -f %s config --quiet
  register: pihole_files
  notify: Restart pihole

- name: Docker's daemon.json, checked as JSON, the old one kept
  homelab.photon.files:
    directories:
      - path: /etc/docker
        mode: "0755"
    files:
      - path: /etc/docker/daemon.json
        content: "{{ docker_daemon_json | to_nice_json }}"
        owner: root
        group: root
        backup: true
        validate: python3 -c "import json, sys; json.load(open(sys.argv[1]))" %s

- name: A seed file written once, never touched again
  homelab.photon.files:
    files:
      - path: /opt/docker/pihole/etc-pihole/custom.list
        content: ""
        create_only: true
"""

RETURN = r"""
changed_paths:
  description:
    - The paths the run changed (in check mode, would change), in the order handled. A missing
      parent of a listed directory comes before it.
  returned: always
  type: list
  elements: str
  sample: [/opt/docker/pihole, /opt/docker/pihole/compose.yaml]
paths:
  description:
    - What the run did (in check mode, would do) to each path - every listed path and every
      missing parent made for a listed directory. Never any content.
  returned: always
  type: dict
  contains:
    type:
      description: C(directory) or C(file).
      type: str
      sample: file
    changed:
      description: Whether the path changed.
      type: bool
      sample: true
    created:
      description: Whether the path was made (it did not exist).
      type: bool
      sample: false
    content_changed:
      description: Whether the file's content was written (always true for a file created).
      type: bool
      returned: for files
      sample: true
    attributes_changed:
      description:
        - Which of C(mode), C(owner) and C(group) were set on a path that existed (empty for a
          path created, which gets all of them).
      type: list
      elements: str
      sample: [mode]
    skipped:
      description: Whether the file existed and was left alone because of O(files[].create_only).
      type: bool
      returned: for files
      sample: false
    backup_file:
      description: The copy of the old content made with O(files[].backup).
      type: str
      returned: when a backup was made (not in check mode)
      sample: /etc/docker/daemon.json.2231.2025-01-31@10:00:01~
  sample:
    /opt/docker/pihole:
      type: directory
      changed: false
      created: false
      attributes_changed: []
    /opt/docker/pihole/compose.yaml:
      type: file
      changed: true
      created: false
      content_changed: true
      attributes_changed: []
      skipped: false
"""

import errno
import grp
import os
import pwd
import stat
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_bytes, to_native

from ansible_collections.homelab.photon.plugins.module_utils._files import (
    ancestors,
    diff_entries,
    normalize,
    plan as make_plan,
    results,
    validate_argv,
    validate_items,
)


class _Stat:
    def __init__(self, st_mode):
        self.st_mode = st_mode


def symbolic(base, is_dir, text):
    """A symbolic mode applied to ``base`` (Ansible's own parser); ValueError when it is bad."""
    kind = stat.S_IFDIR if is_dir else stat.S_IFREG
    try:
        return AnsibleModule._symbolic_mode_to_octal(_Stat(kind | base), text)
    except Exception as exc:  # the parser raises ValueError, and other errors on odd input
        raise ValueError(to_native(exc))


def observe(path, read_content):
    """The observation of ``path`` (links followed), as the plan wants it."""
    try:
        found = os.stat(path)
    except OSError as exc:
        if exc.errno not in (errno.ENOENT, errno.ENOTDIR):
            raise
        if os.path.lexists(path) and os.path.islink(path):
            return {"type": "other", "mode": None, "uid": None, "gid": None}
        return {"type": "missing"}
    seen = {"mode": stat.S_IMODE(found.st_mode), "uid": found.st_uid, "gid": found.st_gid}
    if stat.S_ISDIR(found.st_mode):
        seen["type"] = "directory"
    elif stat.S_ISREG(found.st_mode):
        seen["type"] = "file"
        seen["content"] = None
        if read_content:
            with open(path, "rb") as handle:
                seen["content"] = handle.read()
    else:
        seen["type"] = "other"
    return seen


def resolve_id(name, kind):
    """The uid (kind ``owner``) or gid (kind ``group``) of a name or number; None when unknown."""
    if name is None:
        return None
    if name.isdigit():
        return int(name)
    try:
        if kind == "owner":
            return pwd.getpwnam(name).pw_uid
        return grp.getgrnam(name).gr_gid
    except KeyError:
        return False


def id_names(steps):
    names = {}
    for step in steps:
        for key, lookup in (("uid", pwd.getpwuid), ("gid", grp.getgrgid)):
            values = [step.get(key)]
            if step.get("before"):
                values.append(step["before"].get(key))
            for value in values:
                if value is None or (key, value) in names:
                    continue
                try:
                    entry = lookup(value)
                    names[(key, value)] = entry[0]
                except KeyError:
                    names[(key, value)] = value
    return names


class Runner:
    """Carries the plan out, step by step."""

    def __init__(self, module, data):
        self.module = module
        self.data = data
        self.done = []
        self.backups = {}

    def fail(self, msg, **extra):
        self.module.fail_json(msg=msg, changed=bool(self.done), changed_paths=self.done, **extra)

    def apply(self, step):
        path = step["path"]
        real = os.path.realpath(path)
        action = step["action"]
        if action == "mkdir":
            os.mkdir(real, 0o700)
            self.chown(real, step["uid"], step["gid"])
            os.chmod(real, step["mode"])
        elif action == "write":
            self.write(path, real, step)
        elif action == "attributes":
            changed = False
            if step["uid"] is not None:
                changed = self.module.set_owner_if_different(real, step["uid"], changed)
            if step["gid"] is not None:
                changed = self.module.set_group_if_different(real, step["gid"], changed)
            if step["mode"] is not None:
                changed = self.module.set_mode_if_different(real, step["mode"], changed)
        if step["result"]["changed"]:
            self.done.append(path)

    @staticmethod
    def chown(path, uid, gid):
        if uid is not None or gid is not None:
            os.chown(path, -1 if uid is None else uid, -1 if gid is None else gid)

    def write(self, path, real, step):
        directory, name = os.path.split(real)
        handle, temp = tempfile.mkstemp(prefix=".homelab-", suffix="-" + name, dir=directory)
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(self.data[path])
            self.chown(temp, step["uid"], step["gid"])
            os.chmod(temp, step["mode"])
            if step["validate"]:
                argv = validate_argv(step["validate"], temp)
                rc, out, err = self.module.run_command(argv, cwd=directory)
                if rc != 0:
                    self.fail("validate of %s failed (rc=%d): %s; the file was left as it was"
                              % (path, rc, (err or out).strip()),
                              rc=rc, stdout=out, stderr=err, cmd=argv)
            if step["backup"]:
                backup = self.module.backup_local(real)
                if backup:
                    self.backups[path] = backup
            os.rename(temp, real)
        finally:
            if os.path.lexists(temp):
                os.unlink(temp)


def main():
    item_common = dict(
        path=dict(type="path", required=True),
        mode=dict(type="raw"),
        owner=dict(type="str"),
        group=dict(type="str"),
    )
    file_options = dict(
        item_common,
        content=dict(type="str"),
        secret_content=dict(type="str", no_log=True),
        create_only=dict(type="bool", default=False),
        backup=dict(type="bool", default=False),
        validate=dict(type="str"),
    )
    module = AnsibleModule(
        argument_spec=dict(
            directories=dict(type="list", elements="dict", default=[], options=item_common),
            files=dict(type="list", elements="dict", default=[], options=file_options),
        ),
        supports_check_mode=True,
    )
    directories = module.params["directories"]
    files = module.params["files"]
    errors = validate_items(directories, files, symbolic)

    # Owners and groups, resolved up front.
    items = {"directories": [], "files": []}
    data = {}
    for kind, given in (("directories", directories), ("files", files)):
        for item in given:
            norm = dict(item, path=normalize(item["path"]) if item.get("path") else item.get("path"))
            for attribute, key in (("owner", "uid"), ("group", "gid")):
                value = resolve_id(item.get(attribute), attribute)
                if value is False:
                    errors.append("%s %r of %s does not exist on the host"
                                  % (attribute, item[attribute], norm["path"]))
                    value = None
                norm[key] = value
            if kind == "files":
                secret = item.get("secret_content") is not None
                norm["secret"] = secret
                text = item["secret_content"] if secret else item.get("content")
                norm["data"] = to_bytes(text or "", errors="surrogate_or_strict")
                data[norm["path"]] = norm["data"]
            items[kind].append(norm)
    if errors:
        module.fail_json(msg="invalid options: " + "; ".join(errors), errors=errors)

    # What the host holds now: every listed path, the directories above a listed directory,
    # every file's parent.
    observed = {}
    try:
        for item in items["directories"]:
            for path in [item["path"]] + ancestors(item["path"]):
                if path not in observed:
                    observed[path] = observe(path, False)
        for item in items["files"]:
            parent = os.path.dirname(item["path"])
            if parent not in observed:
                observed[parent] = observe(parent, False)
            observed[item["path"]] = observe(item["path"], not item.get("create_only"))
    except (IOError, OSError) as exc:
        module.fail_json(msg="cannot read %s: %s" % (getattr(exc, "filename", None) or "a path", to_native(exc)))

    steps, errors = make_plan(items["directories"], items["files"], observed, symbolic,
                              euid=os.geteuid(), egid=os.getegid())
    if errors:
        module.fail_json(msg="cannot apply: " + "; ".join(errors), errors=errors)

    changed, changed_paths, paths = results(steps)
    result = dict(changed=changed, changed_paths=changed_paths, paths=paths)
    if module._diff:
        result["diff"] = diff_entries(steps, data, id_names(steps))
    if module.check_mode:
        module.exit_json(**result)

    runner = Runner(module, data)
    for step in steps:
        try:
            runner.apply(step)
        except (IOError, OSError) as exc:
            runner.fail("cannot change %s: %s (the module must run as a user that may: become:"
                        " true)" % (getattr(exc, "filename", None) or step["path"],
                                    to_native(exc)))
    for path, backup in runner.backups.items():
        paths[path]["backup_file"] = backup
    module.exit_json(**result)


if __name__ == "__main__":
    main()
