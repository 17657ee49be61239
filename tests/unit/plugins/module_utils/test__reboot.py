"""Unit tests for plugins/module_utils/_reboot.py: which transactions need a reboot."""

import pytest

from ansible_collections.homelab.photon.plugins.module_utils import _reboot as r
from ansible_collections.homelab.photon.plugins.module_utils import _tdnf as t


def pkg(name, evr="1.0-1.ph5", arch="x86_64"):
    return t.package_from_evr(name, arch, evr, "photon-updates")


def transaction(**fields):
    base = t.empty_transaction()
    for field, names in fields.items():
        getattr(base, field).extend(pkg(name) for name in names)
    return base


@pytest.mark.parametrize("name", ["linux", "linux-esx", "linux-secure", "linux-rt", "linux-aws", "linux-firmware",
                                  "glibc", "systemd", "systemd-libs", "systemd-udev", "dbus", "openssl",
                                  "openssl-libs", "gnutls"])
def test_default_patterns_name_what_needs_a_reboot(name):
    assert r.reboot_suggested(transaction(upgrade=[name]))


@pytest.mark.parametrize("name", ["curl", "tzdata", "docker", "docker-compose", "nfs-utils", "linux-api-headers",
                                  "linux-devel", "linux-esx-devel", "linux-tools", "glibc-devel", "glibc-i18n",
                                  "systemd-devel", "openssl-devel", "openssh", "python3", "Linux", "xlinux"])
def test_default_patterns_leave_the_rest(name):
    assert not r.reboot_suggested(transaction(upgrade=[name]))


@pytest.mark.parametrize("field", ["install", "upgrade", "downgrade", "reinstall"])
def test_every_kind_of_new_files_counts(field):
    assert r.reboot_packages(transaction(**{field: ["linux"]})) == [pkg("linux")]


def test_a_removal_never_needs_a_reboot():
    assert not r.reboot_suggested(transaction(remove=["linux", "glibc", "systemd"]))


def test_matched_packages_in_transaction_order_each_once():
    done = transaction(install=["linux-esx"], upgrade=["curl", "glibc", "tzdata", "systemd"])
    done.upgrade.append(pkg("glibc"))
    assert [p.name for p in r.reboot_packages(done)] == ["linux-esx", "glibc", "systemd"]


def test_patterns_override_the_default():
    done = transaction(upgrade=["linux-devel", "glibc", "docker"])
    assert [p.name for p in r.reboot_packages(done, ["linux*", "docker"])] == ["linux-devel", "docker"]
    assert not r.reboot_suggested(done, [])
    assert not r.reboot_suggested(done, None)
    assert r.reboot_suggested(transaction(upgrade=["linux-esx"]), ["linux-[er]*"])


def test_names_work_as_well_as_packages():
    done = t.empty_transaction()
    done.upgrade.extend(["linux", "curl"])
    assert r.reboot_packages(done) == ["linux"]


def test_empty_transaction():
    assert r.reboot_packages(t.empty_transaction()) == []
    assert not r.reboot_suggested(t.empty_transaction())
