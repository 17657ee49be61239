# -*- coding: utf-8 -*-
"""Unit tests of the homelab.photon.resolved module's flow: what it runs, in which order, what it
writes, and what it reports. systemctl and ss are a small simulation of resolved (its stub
listens unless a drop-in says DNSStubListener=no); the files live in a temporary directory.
The real programs are exercised by tests/integration/resolved/test_resolved.py."""

import json
import os

import pytest

from ansible.module_utils import basic  # noqa: E402
from ansible.module_utils.testing import patch_module_args  # noqa: E402

from ansible_collections.homelab.photon.plugins.module_utils import _resolved  # noqa: E402
from ansible_collections.homelab.photon.plugins.modules import resolved  # noqa: E402

SYSTEMCTL = "/usr/bin/systemctl"
SS = "/usr/sbin/ss"
STUB_SS = (
    'udp UNCONN 0 0 127.0.0.53%lo:53 0.0.0.0:* users:(("systemd-resolve",pid={pid},fd=17))\n'
    'tcp LISTEN 0 4096 127.0.0.53%lo:53 0.0.0.0:* users:(("systemd-resolve",pid={pid},fd=18))\n'
)
OTHER_SS = 'tcp LISTEN 0 128 0.0.0.0:22 0.0.0.0:* users:(("sshd",pid=124,fd=6))\n'


class FakeHost:
    """resolved as systemctl and ss show it, with its files under ``root``."""

    def __init__(self, root, active=True, enabled="enabled", stub_broken=False):
        self.root = root
        self.active = active
        self.enabled = enabled
        self.pid = 93
        self.stub_broken = stub_broken
        self.calls = []
        self.resolv_conf_at_stop = None
        self.paths = {
            "dropin_dir": os.path.join(root, "etc/systemd/resolved.conf.d"),
            "resolv": os.path.join(root, "etc/resolv.conf"),
            "uplink": os.path.join(root, "run/systemd/resolve/resolv.conf"),
            "stub": os.path.join(root, "run/systemd/resolve/stub-resolv.conf"),
        }
        os.makedirs(os.path.dirname(self.paths["uplink"]))
        os.makedirs(os.path.dirname(self.paths["resolv"]))
        if active:
            self.write_runtime_files()

    def write_runtime_files(self):
        with open(self.paths["uplink"], "w") as handle:
            handle.write("# uplink\nnameserver 10.0.0.1\nsearch .\n")
        with open(self.paths["stub"], "w") as handle:
            handle.write("nameserver 127.0.0.53\n")

    def stub_on(self):
        if not self.active or self.stub_broken:
            return False
        dropin_dir = self.paths["dropin_dir"]
        for name in sorted(os.listdir(dropin_dir)) if os.path.isdir(dropin_dir) else []:
            with open(os.path.join(dropin_dir, name)) as handle:
                if "DNSStubListener=no" in handle.read():
                    return False
        return True

    def run_command(self, argv, **kwargs):
        assert isinstance(argv, list), "commands must be argv lists"
        self.calls.append(argv)
        if argv[0] == SS:
            return 0, (STUB_SS.format(pid=self.pid) if self.stub_on() else "") + OTHER_SS, ""
        assert argv[0] == SYSTEMCTL
        verb = argv[1]
        if verb == "--version":
            return 0, "systemd 253 (253.19-1.ph5)\n+PAM\n", ""
        if verb == "is-active":
            return (0, "active\n", "") if self.active else (3, "inactive\n", "")
        if verb == "is-enabled":
            return (0 if self.enabled == "enabled" else 1), self.enabled + "\n", ""
        if verb in ("start", "restart"):
            self.active = True
            self.pid += 1
            self.write_runtime_files()
        elif verb == "stop":
            self.active = False
            self.resolv_conf_at_stop = (os.path.islink(self.paths["resolv"]),
                                        open(self.paths["resolv"]).read())
        elif verb == "enable":
            self.enabled = "enabled"
        elif verb == "disable":
            self.enabled = "disabled"
        elif verb == "unmask":
            self.enabled = "disabled"
        else:
            raise AssertionError("unexpected %r" % argv)
        return 0, "", ""

    def actions(self):
        return [c[1] for c in self.calls if c[0] == SYSTEMCTL
                and c[1] not in ("is-active", "is-enabled", "--version")]


@pytest.fixture
def host(tmp_path, monkeypatch):
    fake = FakeHost(str(tmp_path))
    return install(fake, monkeypatch)


def install(fake, monkeypatch):
    paths = fake.paths
    for mod in (resolved, _resolved):
        monkeypatch.setattr(mod, "RESOLV_CONF", paths["resolv"], raising=False)
        monkeypatch.setattr(mod, "UPLINK_RESOLV_CONF", paths["uplink"], raising=False)
        monkeypatch.setattr(mod, "DROP_IN_DIR", paths["dropin_dir"], raising=False)
    monkeypatch.setattr(_resolved, "STUB_RESOLV_CONF", paths["stub"])
    monkeypatch.setattr(resolved, "DROP_IN_DIRS", (paths["dropin_dir"],))
    monkeypatch.setattr(resolved, "SETTLE_SECONDS", 0.5)
    monkeypatch.setattr(basic.AnsibleModule, "run_command",
                        lambda self, argv, **kw: fake.run_command(argv, **kw))
    monkeypatch.setattr(basic.AnsibleModule, "get_bin_path",
                        lambda self, name, required=False, opt_dirs=None:
                        {"systemctl": SYSTEMCTL, "ss": SS}.get(name))
    os.symlink(paths["stub"], paths["resolv"])
    return fake


def run_module(args, capsys, check=False):
    if check:
        args = dict(args, _ansible_check_mode=True)
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            resolved.main()
    return json.loads(capsys.readouterr().out)


def test_bad_options_fail_before_anything_runs(host, capsys):
    result = run_module({"mode": "disabled", "dns": ["1.2.3"], "domains": [""]}, capsys)
    assert result["failed"] is True
    assert "dns: '1.2.3'" in result["msg"] and "domains: an empty entry" in result["msg"]
    assert host.calls == []


def test_check_mode_no_stub_predicts_and_touches_nothing(host, capsys):
    result = run_module({"mode": "no_stub"}, capsys, check=True)
    assert result["changed"] is True
    assert result["port53_free"] is True and result["port53_holders"] == []
    assert result["resolv_conf"] == host.paths["uplink"]
    assert result["upstream_dns"] == ["10.0.0.1"]
    assert host.actions() == []
    assert os.readlink(host.paths["resolv"]) == host.paths["stub"]
    assert not os.path.exists(host.paths["dropin_dir"])
    assert result["diff"][0]["after"].endswith("DNSStubListener=no\n")


def test_no_stub_writes_restarts_links_then_unchanged(host, capsys):
    result = run_module({"mode": "no_stub", "dns": ["192.168.0.1"]}, capsys)
    assert result["changed"] is True
    assert host.actions() == ["restart"]
    drop_in = os.path.join(host.paths["dropin_dir"], "homelab.conf")
    assert oct(os.stat(drop_in).st_mode & 0o777) == "0o644"
    with open(drop_in) as handle:
        assert handle.read() == _resolved.HEADER + "[Resolve]\nDNS=192.168.0.1\nDNSStubListener=no\n"
    assert os.readlink(host.paths["resolv"]) == host.paths["uplink"]
    assert result["port53_free"] is True
    host.calls.clear()
    again = run_module({"mode": "no_stub", "dns": ["192.168.0.1"]}, capsys)
    assert again["changed"] is False and again["actions"] == [] and host.actions() == []


def test_disabled_writes_resolv_conf_before_stopping(host, capsys):
    result = run_module({"mode": "disabled", "domains": ["home.arpa"]}, capsys)
    assert result["changed"] is True
    assert host.actions() == ["stop", "disable"]
    is_link, content = host.resolv_conf_at_stop
    assert not is_link and "nameserver 10.0.0.1\n" in content and "search home.arpa\n" in content
    assert result["resolv_conf"] == "file" and result["upstream_dns"] == ["10.0.0.1"]
    assert oct(os.stat(host.paths["resolv"]).st_mode & 0o777) == "0o644"
    # resolved gone, its runtime files gone (as after a reboot): the file names the servers.
    os.unlink(host.paths["uplink"])
    host.calls.clear()
    again = run_module({"mode": "disabled", "domains": ["home.arpa"]}, capsys)
    assert again["changed"] is False and host.actions() == []
    assert again["upstream_dns"] == ["10.0.0.1"]


def test_disabled_without_any_known_upstream_fails_unchanged(tmp_path, monkeypatch, capsys):
    fake = install(FakeHost(str(tmp_path), active=False, enabled="disabled"), monkeypatch)
    result = run_module({"mode": "disabled"}, capsys)
    assert result["failed"] is True and "give them in 'dns'" in result["msg"]
    assert fake.actions() == []


def test_stub_from_disabled_starts_then_links(tmp_path, monkeypatch, capsys):
    fake = install(FakeHost(str(tmp_path), active=False, enabled="masked"), monkeypatch)
    os.unlink(fake.paths["resolv"])
    with open(fake.paths["resolv"], "w") as handle:
        handle.write("nameserver 10.0.0.1\n")
    predicted = run_module({"mode": "stub"}, capsys, check=True)
    result = run_module({"mode": "stub"}, capsys)
    assert fake.actions() == ["unmask", "enable", "start"]
    assert os.readlink(fake.paths["resolv"]) == fake.paths["stub"]
    assert result["port53_free"] is False and predicted["port53_free"] is False
    assert [(h["proto"], h["address"], h["process"]) for h in result["port53_holders"]] == \
        [(h["proto"], h["address"], h["process"]) for h in predicted["port53_holders"]
         if h["address"] == "127.0.0.53"]
    assert {h["pid"] for h in result["port53_holders"]} == {fake.pid}


def test_stub_that_cannot_listen_fails_clearly(tmp_path, monkeypatch, capsys):
    fake = install(FakeHost(str(tmp_path), stub_broken=True), monkeypatch)
    result = run_module({"mode": "stub"}, capsys)
    assert result["failed"] is True
    assert "stub listener is not on 127.0.0.53:53" in result["msg"]
    assert fake.actions() == ["restart"]


def test_later_drop_in_turning_stub_on_fails_before_any_change(host, capsys):
    os.makedirs(host.paths["dropin_dir"])
    with open(os.path.join(host.paths["dropin_dir"], "zz-vendor.conf"), "w") as handle:
        handle.write("[Resolve]\nDNSStubListener=yes\n")
    result = run_module({"mode": "no_stub"}, capsys)
    assert result["failed"] is True
    assert "zz-vendor.conf (DNSStubListener=yes)" in result["msg"]
    assert host.actions() == []
    assert sorted(os.listdir(host.paths["dropin_dir"])) == ["zz-vendor.conf"]
    assert os.readlink(host.paths["resolv"]) == host.paths["stub"]


def test_disabled_warns_about_more_than_three_servers(host, capsys, monkeypatch):
    # Where module warnings end up depends on whether the controller side of ansible-core was
    # imported in this process (other test files do): record what the module warns instead.
    warned = []
    monkeypatch.setattr(basic.AnsibleModule, "warn", lambda self, warning: warned.append(warning))
    result = run_module({"mode": "disabled", "dns": ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"]},
                        capsys)
    assert result["changed"] is True
    assert any("only the first three" in w for w in warned), warned


def test_resolved_still_listening_after_run_is_reported(host, capsys, monkeypatch):
    monkeypatch.setattr(host, "stub_on", lambda: host.active)
    result = run_module({"mode": "no_stub"}, capsys)
    assert result["failed"] is True
    assert "still holds port 53" in result["msg"]


def test_failed_systemctl_reports_rc_and_output(host, capsys, monkeypatch):
    original = host.run_command

    def failing(argv, **kwargs):
        if argv[:2] == [SYSTEMCTL, "restart"]:
            host.calls.append(argv)
            return 1, "", "Job for systemd-resolved.service failed.\n"
        return original(argv, **kwargs)

    monkeypatch.setattr(basic.AnsibleModule, "run_command", lambda self, argv, **kw: failing(argv, **kw))
    result = run_module({"mode": "no_stub"}, capsys)
    assert result["failed"] is True and result["rc"] == 1
    assert "Job for systemd-resolved.service failed." in result["msg"]
    assert result["stderr"] == "Job for systemd-resolved.service failed.\n"
    # resolv.conf was not relinked after the failure.
    assert os.readlink(host.paths["resolv"]) == host.paths["stub"]


def test_unwritable_drop_in_dir_fails_with_a_message(host, capsys, monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError(13, "Permission denied", host.paths["dropin_dir"])

    monkeypatch.setattr(resolved.os, "makedirs", refuse)
    result = run_module({"mode": "no_stub"}, capsys)
    assert result["failed"] is True
    assert "Permission denied" in result["msg"] and "become: true" in result["msg"]
    assert host.actions() == []
