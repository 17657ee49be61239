# -*- coding: utf-8 -*-
# Copyright: homelab.photon contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The logic of homelab.photon.vm_guestinfo (private): which guestinfo keys of a VM's extraConfig
a list of names and patterns selects, the change that removes them, and what the module reports.

Nothing here talks to vSphere: the module hands in a reader of the VM's extraConfig and a
reconfigure function, so the decisions are tested without a server.

Facts this relies on:
- On ESXi and vCenter, VirtualMachineConfigSpec.extraConfig is a list of changes: a key that
  is there gets the new value, a key given with an empty value is removed.
- Keys of a .vmx file compare without regard to case (guestinfo.UserData is guestinfo.userdata
  to VMware Tools), so names and patterns match case-insensitively here too.
- Values are never reported, only their length: they may be secrets (cloud-init user-data with
  password hashes), and a hash of a short secret could be guessed offline.
"""

from __future__ import annotations

import fnmatch
import re

PREFIX = "guestinfo."
NAME = re.compile(r"[A-Za-z0-9_.*?-]+")


class GuestinfoError(Exception):
    """An error with a message meant for the user."""


def key_patterns(keys):
    """The module's `keys` as lower-case `guestinfo.` glob patterns, in order, without repeats.

    `userdata`, `guestinfo.userdata` and `GuestInfo.UserData` name the same key; `*` and `?` are
    shell-style wildcards (`vendordata*`). A pattern can only ever select guestinfo keys.
    """
    out = []
    for raw in keys or []:
        key = (raw or "").strip()
        if key.lower().startswith(PREFIX):
            key = key[len(PREFIX):]
        if not key or not NAME.fullmatch(key):
            raise GuestinfoError("guestinfo key %r: use letters, digits, '.', '_', '-' and the wildcards '*' "
                                 "and '?'" % raw)
        pattern = PREFIX + key.lower()
        if pattern not in out:
            out.append(pattern)
    if not out:
        raise GuestinfoError("keys must name at least one guestinfo key")
    return out


def guestinfo_items(options):
    """(key, value) of the guestinfo.* entries of an extraConfig list of (key, value), in order."""
    return [(k, v) for k, v in options if k.lower().startswith(PREFIX)]


def selected(options, patterns):
    """The guestinfo keys of `options` ((key, value) pairs) that any pattern matches, in order."""
    return [k for k, dummy in guestinfo_items(options)
            if any(fnmatch.fnmatchcase(k.lower(), p) for p in patterns)]


def describe(value):
    """What is shown of a value: its length only."""
    length = len("" if value is None else str(value))
    return "(%d character%s)" % (length, "" if length == 1 else "s")


def removal_diff(options, removed):
    """Ansible diff (before/after) of the VM's guestinfo keys, with value lengths only."""
    items = guestinfo_items(options)
    gone = set(k.lower() for k in removed)
    before = dict((k, describe(v)) for k, v in items)
    after = dict((k, describe(v)) for k, v in items if k.lower() not in gone)
    return {"before": before, "after": after}


def remove(read, reconfigure, patterns, check_mode=False):
    """Remove the guestinfo keys the patterns select; return the module's result fields.

    read() returns the VM's extraConfig as (key, value) pairs; reconfigure(changes) applies a
    list of (key, value) extraConfig changes. After a reconfiguration the VM is read again: a key
    still there is an error (a host that did not apply the change), never a silent success.
    """
    before = read()
    keys = selected(before, patterns)
    result = {
        "changed": bool(keys),
        "removed": keys,
        "guestinfo_keys": [k for k, dummy in guestinfo_items(before) if k not in keys],
        "diff": removal_diff(before, keys),
    }
    if not keys or check_mode:
        return result
    reconfigure([(k, "") for k in keys])
    after = read()
    left = selected(after, patterns)
    if left:
        raise GuestinfoError("the host kept %s after the reconfiguration that removes %s"
                             % (", ".join(left), "it" if len(left) == 1 else "them"))
    result["guestinfo_keys"] = [k for k, dummy in guestinfo_items(after)]
    return result
