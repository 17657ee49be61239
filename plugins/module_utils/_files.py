# -*- coding: utf-8 -*-
# Copyright (c) homelab.photon contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure helpers of the homelab.photon.files module (private: no compatibility promise).

Everything here takes plain values and returns plain values: checking the declared directories
and files, the plan of what a run does to each path (from the observed state of the host, so
that check mode and the real run share one prediction), and the diff entries. The module only
observes the host, resolves owners and groups, and carries the plan out.

An observation of a path is a dict: ``type`` (``missing``, ``file``, ``directory`` or
``other``), and for an existing path ``mode`` (permission bits), ``uid``, ``gid`` and, for a
file, ``content`` (bytes, or None when not read).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import posixpath
import re
import shlex

DEFAULT_FILE_MODE = 0o644
DEFAULT_DIR_MODE = 0o755
SECRET_BEFORE = "(secret content)\n"
SECRET_AFTER = "(secret content changed)\n"
ATTRIBUTES = ("mode", "owner", "group")
_OCTAL = re.compile(r"^[0-7]{1,5}$")


# --------------------------------------------------------------------------- validation

def normalize(path):
    """The path as the module keys it: normalized, without a trailing slash."""
    return posixpath.normpath(path)


def ancestors(path):
    """The directories above ``path``, nearest first, up to and without ``/``."""
    found = []
    parent = posixpath.dirname(path)
    while parent not in ("/", "//", ""):
        found.append(parent)
        parent = posixpath.dirname(parent)
    return found


def octal_mode(raw):
    """The numeric mode of an octal ``raw`` (an int, or a string of octal digits); None when it is
    symbolic (or not a mode at all)."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return raw
    if isinstance(raw, str) and _OCTAL.match(raw):
        return int(raw, 8)
    return None


def resolve_mode(raw, base, is_dir, symbolic):
    """The permission bits ``raw`` asks for on a path whose mode is ``base`` now (for a path the
    run creates, the default). ``symbolic(base, is_dir, text)`` evaluates a symbolic mode and
    raises ValueError on a bad one. None when no mode is declared."""
    if raw is None:
        return None
    value = octal_mode(raw)
    if value is None:
        value = symbolic(base, is_dir, str(raw))
    return value


def validate_items(directories, files, symbolic):
    """All errors in the declared items (no host needed): a list of strings, empty when fine."""
    errors = []
    seen = {}
    declared = []
    for kind, items in (("directories", directories), ("files", files)):
        for index, item in enumerate(items):
            where = "%s[%d]" % (kind, index)
            path = item.get("path")
            if not isinstance(path, str) or not path:
                errors.append("%s: path is required" % where)
                continue
            if not posixpath.isabs(path):
                errors.append("%s: path %r is not absolute" % (where, path))
                continue
            key = normalize(path)
            if key == "/":
                errors.append("%s: path %r is the root directory" % (where, path))
                continue
            if key in seen:
                errors.append("%s: path %s is declared twice (also %s)" % (where, key, seen[key]))
                continue
            seen[key] = where
            declared.append((kind, key))
            raw = item.get("mode")
            if raw is not None:
                value = octal_mode(raw)
                if value is None:
                    try:
                        symbolic(0, kind == "directories", str(raw))
                    except ValueError:
                        errors.append("%s: mode %r of %s is neither octal nor symbolic"
                                      % (where, raw, key))
                elif value < 0 or value > 0o7777:
                    errors.append("%s: mode %r of %s is out of range" % (where, raw, key))
            if kind == "files":
                has_content = item.get("content") is not None
                has_secret = item.get("secret_content") is not None
                if has_content == has_secret:
                    errors.append("%s: %s needs exactly one of content and secret_content"
                                  % (where, key))
                validate = item.get("validate")
                if validate is not None:
                    try:
                        argv = shlex.split(validate)
                    except ValueError as exc:
                        argv = []
                        errors.append("%s: validate of %s cannot be split: %s" % (where, key, exc))
                    else:
                        if not argv:
                            errors.append("%s: validate of %s is empty" % (where, key))
                    if argv and not any("%s" in token for token in argv):
                        errors.append("%s: validate of %s has no %%s (the file to check)"
                                      % (where, key))
    # A declared file cannot be a directory above another declared path; a directory cannot come
    # after one of the directories inside it (it would be made as their parent first).
    files_declared = set(key for kind, key in declared if kind == "files")
    dirs_order = [key for kind, key in declared if kind == "directories"]
    for kind, key in declared:
        for parent in ancestors(key):
            if parent in files_declared:
                errors.append("%s is inside %s, which is declared as a file" % (key, parent))
    for position, key in enumerate(dirs_order):
        for later in dirs_order[position + 1:]:
            if later in ancestors(key):
                errors.append("directory %s is listed after %s, which is inside it: list parents"
                              " first" % (later, key))
    return errors


def validate_argv(validate, temp_path):
    """The argv of a validate command for the temporary file (every %s replaced)."""
    return [token.replace("%s", temp_path) for token in shlex.split(validate)]


# --------------------------------------------------------------------------- planning

def _attribute_changes(observed, mode, uid, gid):
    changes = []
    if mode is not None and mode != observed["mode"]:
        changes.append("mode")
    if uid is not None and uid != observed["uid"]:
        changes.append("owner")
    if gid is not None and gid != observed["gid"]:
        changes.append("group")
    return changes


def _wrong_type(path, observed, wanted):
    if observed["type"] == "other":
        return "%s exists but is neither a file nor a directory (declared as a %s)" % (path, wanted)
    return "%s is a %s on the host but is declared as a %s" % (path, observed["type"], wanted)


def plan(directories, files, observed, symbolic, euid=0, egid=0):
    """What a run does, path by path, from the observed state: ``(steps, errors)``.

    ``directories`` and ``files`` are normalized items: ``path`` (normalized), ``mode`` (raw),
    ``uid`` and ``gid`` (ints or None); files also ``data`` (bytes), ``secret`` (bool),
    ``create_only``, ``backup`` and ``validate``. ``observed`` maps every declared path, every
    ancestor of a declared directory and every file's parent to its observation.

    Each step is a dict with ``path``, ``action`` (``mkdir``, ``write``, ``attributes`` or
    ``none``), the values to apply (``mode``, ``uid``, ``gid``: None means leave as it is),
    ``backup``, ``validate``, and ``result`` (what the module returns for the path). Missing
    parents of a declared directory come first as steps of their own. Errors are strings; with
    any error nothing may be done.
    """
    state = dict(observed)
    steps = []
    errors = []

    def created_dir(path, mode, uid, gid):
        state[path] = {"type": "directory", "mode": mode,
                       "uid": euid if uid is None else uid, "gid": egid if gid is None else gid}

    for item in directories:
        path = item["path"]
        seen = state.get(path, {"type": "missing"})
        if seen["type"] == "missing":
            missing = []
            for parent in ancestors(path):
                parent_seen = state.get(parent, {"type": "missing"})
                if parent_seen["type"] == "directory":
                    break
                if parent_seen["type"] != "missing":
                    errors.append("cannot make %s: %s" % (path, _wrong_type(parent, parent_seen, "directory")))
                    break
                missing.append(parent)
            for parent in reversed(missing):
                steps.append({"path": parent, "action": "mkdir", "mode": DEFAULT_DIR_MODE,
                              "uid": None, "gid": None, "parent_of": path,
                              "result": {"type": "directory", "changed": True, "created": True,
                                         "attributes_changed": []}})
                created_dir(parent, DEFAULT_DIR_MODE, None, None)
            mode = resolve_mode(item.get("mode"), DEFAULT_DIR_MODE, True, symbolic)
            mode = DEFAULT_DIR_MODE if mode is None else mode
            steps.append({"path": path, "action": "mkdir", "mode": mode, "uid": item.get("uid"),
                          "gid": item.get("gid"),
                          "result": {"type": "directory", "changed": True, "created": True,
                                     "attributes_changed": []}})
            created_dir(path, mode, item.get("uid"), item.get("gid"))
            continue
        if seen["type"] != "directory":
            errors.append(_wrong_type(path, seen, "directory"))
            continue
        mode = resolve_mode(item.get("mode"), seen["mode"], True, symbolic)
        changes = _attribute_changes(seen, mode, item.get("uid"), item.get("gid"))
        steps.append({"path": path, "action": "attributes" if changes else "none",
                      "mode": mode, "uid": item.get("uid"), "gid": item.get("gid"),
                      "before": seen,
                      "result": {"type": "directory", "changed": bool(changes), "created": False,
                                 "attributes_changed": changes}})

    for item in files:
        path = item["path"]
        parent = posixpath.dirname(path)
        parent_seen = state.get(parent, {"type": "missing"})
        if parent_seen["type"] == "missing":
            errors.append("the parent directory %s of %s does not exist and is not in directories"
                          % (parent, path))
            continue
        if parent_seen["type"] != "directory":
            errors.append("the parent of %s: %s" % (path, _wrong_type(parent, parent_seen,
                                                                      "directory")))
            continue
        seen = state.get(path, {"type": "missing"})
        result = {"type": "file", "changed": False, "created": False, "content_changed": False,
                  "attributes_changed": [], "skipped": False}
        step = {"path": path, "action": "none", "mode": None, "uid": item.get("uid"),
                "gid": item.get("gid"), "secret": bool(item.get("secret")), "backup": False,
                "validate": item.get("validate"), "result": result}
        if seen["type"] == "missing":
            mode = resolve_mode(item.get("mode"), DEFAULT_FILE_MODE, False, symbolic)
            step.update(action="write", mode=DEFAULT_FILE_MODE if mode is None else mode,
                        before=None)
            result.update(changed=True, created=True, content_changed=True)
            steps.append(step)
            continue
        if seen["type"] != "file":
            errors.append(_wrong_type(path, seen, "file"))
            continue
        step["before"] = seen
        if item.get("create_only"):
            result["skipped"] = True
            step.update(uid=None, gid=None)
            steps.append(step)
            continue
        mode = resolve_mode(item.get("mode"), seen["mode"], False, symbolic)
        changes = _attribute_changes(seen, mode, item.get("uid"), item.get("gid"))
        content_changed = seen.get("content") != item["data"]
        result.update(changed=bool(changes) or content_changed, content_changed=content_changed,
                      attributes_changed=changes)
        if content_changed:
            # The new file replaces the old one: it keeps the old attributes unless declared.
            step.update(action="write", backup=bool(item.get("backup")),
                        mode=seen["mode"] if mode is None else mode,
                        uid=seen["uid"] if item.get("uid") is None else item.get("uid"),
                        gid=seen["gid"] if item.get("gid") is None else item.get("gid"))
        elif changes:
            step.update(action="attributes", mode=mode)
        steps.append(step)
    return steps, errors


def results(steps):
    """``(changed, changed_paths, paths)`` as the module returns them."""
    paths = {}
    changed_paths = []
    for step in steps:
        paths[step["path"]] = dict(step["result"])
        if step["result"]["changed"]:
            changed_paths.append(step["path"])
    return bool(changed_paths), changed_paths, paths


# --------------------------------------------------------------------------- diff

def _attribute_lines(mode, uid, gid, names, owners):
    """``mode: 0644`` / ``owner: root`` lines for the attributes named."""
    lines = []
    if "mode" in names and mode is not None:
        lines.append("mode: %04o" % mode)
    if "owner" in names and uid is not None:
        lines.append("owner: %s" % owners.get(("uid", uid), uid))
    if "group" in names and gid is not None:
        lines.append("group: %s" % owners.get(("gid", gid), gid))
    return "".join(line + "\n" for line in lines)


def _text(data):
    if data is None:
        return ""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return "(binary content, %d bytes)\n" % len(data)


def diff_entries(steps, data, owners=None):
    """The diff (a list of before/after dicts) of the changed steps. ``data`` maps a file's path to
    its new bytes (not needed for secrets: their content never shows). ``owners`` maps
    ``("uid", n)`` / ``("gid", n)`` to names for display."""
    owners = owners or {}
    entries = []
    for step in steps:
        result = step["result"]
        if not result["changed"]:
            continue
        path = step["path"]
        header = {"before_header": path, "after_header": path}
        if result["type"] == "directory" and result["created"]:
            after = "state: directory\n" + _attribute_lines(
                step["mode"], step["uid"], step["gid"], ATTRIBUTES, owners)
            entries.append(dict(header, before="state: absent\n", after=after))
            continue
        if result["type"] == "file" and result["content_changed"]:
            if step["secret"]:
                before = "" if result["created"] else SECRET_BEFORE
                after = SECRET_AFTER
            else:
                before = "" if result["created"] else _text(step["before"].get("content"))
                after = _text(data.get(path))
            entries.append(dict(header, before=before, after=after))
        names = result["attributes_changed"]
        if names:
            seen = step["before"]
            entries.append({
                "before_header": "%s (attributes)" % path,
                "after_header": "%s (attributes)" % path,
                "before": _attribute_lines(seen["mode"], seen["uid"], seen["gid"], names, owners),
                "after": _attribute_lines(step["mode"], step["uid"], step["gid"], names, owners),
            })
    return entries
