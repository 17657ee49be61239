# -*- coding: utf-8 -*-
# Copyright: homelab.photon contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Does a package transaction need a reboot? Pure functions, unit-tested (tests/unit/).

Photon OS has no `needs-restarting`: the decision is made from the names of the packages a
transaction installs, upgrades, downgrades or reinstalls, against shell-style patterns (fnmatch,
case-sensitive). A removal never asks for a reboot.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from fnmatch import fnmatchcase

# Packages whose new files only take effect at the next boot, named as on Photon OS 3 to 5: the
# kernel flavours and their firmware; glibc, systemd (PID 1 and udev) and dbus, which running
# processes keep loaded and which cannot all be restarted in place; the TLS libraries that every
# long-running daemon (sshd, dockerd, containerd) keeps mapped. The same idea as
# `dnf needs-restarting -r`, whose list (kernel, glibc, linux-firmware, systemd, udev, openssl-libs,
# gnutls, dbus) this follows with Photon's names. Docker restarts itself when updated (its package's
# scriptlet), so it needs no reboot.
DEFAULT_REBOOT_PATTERNS = (
    'linux',
    'linux-esx',
    'linux-secure',
    'linux-rt',
    'linux-aws',
    'linux-firmware',
    'glibc',
    'systemd',
    'systemd-libs',
    'systemd-udev',
    'dbus',
    'dbus-libs',
    'openssl',
    'openssl-libs',
    'gnutls',
)


def _name(package):
    """A package's name: the `name` of a package object, or a plain string."""
    return getattr(package, 'name', package)


def reboot_packages(transaction, patterns=DEFAULT_REBOOT_PATTERNS):
    """The packages of TRANSACTION whose new files need a reboot, in transaction order, each once.

    TRANSACTION has `install`, `upgrade`, `downgrade`, `reinstall` (and `remove`, ignored) lists of
    packages (objects with a `name`, or names); PATTERNS are fnmatch patterns matched against the
    whole name ('linux*' takes every kernel flavour, 'linux' only the generic kernel).
    """
    patterns = list(patterns or [])
    found = []
    for field in ('install', 'upgrade', 'downgrade', 'reinstall'):
        for package in getattr(transaction, field, None) or []:
            name = _name(package)
            if package not in found and any(fnmatchcase(name, pattern) for pattern in patterns):
                found.append(package)
    return found


def reboot_suggested(transaction, patterns=DEFAULT_REBOOT_PATTERNS):
    """True when TRANSACTION installs, upgrades, downgrades or reinstalls a package that PATTERNS name."""
    return bool(reboot_packages(transaction, patterns))
