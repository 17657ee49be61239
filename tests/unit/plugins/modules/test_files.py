# -*- coding: utf-8 -*-
"""Unit tests of the homelab.photon.files module's flow on a temporary directory of this machine:
what it writes, with which modes, what check mode predicts, what it returns. The lab proof (a
Photon-identity host over SSH) is tests/integration/files/test_files.py."""

import grp
import json
import os
import pwd
import stat

import pytest

from ansible.module_utils import basic  # noqa: E402
from ansible.module_utils.testing import patch_module_args  # noqa: E402

from ansible_collections.homelab.photon.plugins.modules import files  # noqa: E402

SECRET = "s3cr3t-never-shown"
USER = pwd.getpwuid(os.geteuid()).pw_name
GROUP = grp.getgrgid(os.getegid()).gr_name


def run_module(args, capsys, check=False, diff=True):
    args = dict(args, _ansible_check_mode=check, _ansible_diff=diff)
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            files.main()
    return json.loads(capsys.readouterr().out)


def mode_of(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def read(path):
    with open(path, "rb") as handle:
        return handle.read()


def tree(root):
    found = {}
    for base, dirs, names in os.walk(root):
        for name in dirs + names:
            path = os.path.join(base, name)
            found[path] = (mode_of(path), read(path) if os.path.isfile(path) else None)
    return found


def declaration(root, compose="services: {}\n", mode="0640"):
    return {
        "directories": [{"path": "%s/docker/pihole" % root, "mode": "0750", "owner": USER},
                        {"path": "%s/docker/pihole/etc" % root}],
        "files": [
            {"path": "%s/docker/pihole/password" % root, "secret_content": SECRET, "mode": "0600",
             "group": GROUP},
            {"path": "%s/docker/pihole/compose.yaml" % root, "content": compose, "mode": mode,
             "validate": "cat %s"},
        ],
    }


def test_check_then_real_then_unchanged(tmp_path, capsys):
    root = str(tmp_path)
    args = declaration(root)
    predicted = run_module(args, capsys, check=True)
    assert tree(root) == {}
    applied = run_module(args, capsys)
    for key in ("changed", "changed_paths", "paths", "diff"):
        assert predicted[key] == applied[key], key
    assert applied["changed"] is True
    assert applied["changed_paths"] == ["%s/docker" % root, "%s/docker/pihole" % root,
                                        "%s/docker/pihole/etc" % root,
                                        "%s/docker/pihole/password" % root,
                                        "%s/docker/pihole/compose.yaml" % root]
    assert mode_of("%s/docker" % root) == 0o755
    assert mode_of("%s/docker/pihole" % root) == 0o750
    assert mode_of("%s/docker/pihole/etc" % root) == 0o755
    assert mode_of("%s/docker/pihole/password" % root) == 0o600
    assert read("%s/docker/pihole/password" % root) == SECRET.encode()
    assert read("%s/docker/pihole/compose.yaml" % root) == b"services: {}\n"
    assert mode_of("%s/docker/pihole/compose.yaml" % root) == 0o640
    assert SECRET not in json.dumps(applied)
    assert sorted(os.listdir("%s/docker/pihole" % root)) == ["compose.yaml", "etc", "password"]
    again = run_module(args, capsys)
    assert again["changed"] is False and again["changed_paths"] == [] and again["diff"] == []
    assert all(not entry["changed"] for entry in again["paths"].values())


def test_changed_declaration_predicted_exactly(tmp_path, capsys):
    root = str(tmp_path)
    run_module(declaration(root), capsys)
    changed = declaration(root, compose="services: {a: {}}\n", mode="0644")
    changed["files"][0]["secret_content"] = SECRET + "2"
    before = tree(root)
    predicted = run_module(changed, capsys, check=True)
    assert tree(root) == before
    applied = run_module(changed, capsys)
    assert predicted["paths"] == applied["paths"] and predicted["diff"] == applied["diff"]
    compose = "%s/docker/pihole/compose.yaml" % root
    assert applied["paths"][compose] == {"type": "file", "changed": True, "created": False,
                                         "content_changed": True, "attributes_changed": ["mode"],
                                         "skipped": False}
    assert mode_of(compose) == 0o644
    assert SECRET not in json.dumps(applied)


def test_create_only_and_backup(tmp_path, capsys):
    root = str(tmp_path)
    seed = os.path.join(root, "seed")
    conf = os.path.join(root, "conf.json")
    with open(seed, "w") as handle:
        handle.write("mine")
    os.chmod(seed, 0o600)
    with open(conf, "w") as handle:
        handle.write("{}")
    args = {"files": [{"path": seed, "content": "seeded", "mode": "0644", "create_only": True},
                      {"path": conf, "content": '{"a": 1}', "backup": True}]}
    result = run_module(args, capsys)
    assert result["paths"][seed]["skipped"] is True and result["paths"][seed]["changed"] is False
    assert read(seed) == b"mine" and mode_of(seed) == 0o600
    backup = result["paths"][conf]["backup_file"]
    assert read(backup) == b"{}" and read(conf) == b'{"a": 1}'
    assert result["changed_paths"] == [conf]


def test_failing_validate_leaves_the_file(tmp_path, capsys):
    root = str(tmp_path)
    conf = os.path.join(root, "conf.json")
    with open(conf, "w") as handle:
        handle.write("{}")
    args = {"files": [{"path": conf, "content": "{bad", "validate": "false %s"}]}
    result = run_module(args, capsys)
    assert result["failed"] is True
    assert result["msg"].startswith("validate of %s failed (rc=1)" % conf)
    assert read(conf) == b"{}"
    assert os.listdir(root) == ["conf.json"]


def test_bad_input_fails_before_anything(tmp_path, capsys):
    root = str(tmp_path)
    args = {"directories": [{"path": os.path.join(root, "made")}],
            "files": [{"path": os.path.join(root, "missing", "f"), "content": "x"},
                      {"path": os.path.join(root, "made", "g"), "content": "x",
                       "owner": "no-such-user-here"}]}
    result = run_module(args, capsys)
    assert result["failed"] is True
    assert "owner 'no-such-user-here' of %s/made/g does not exist" % root in result["msg"]
    assert os.listdir(root) == []
    del args["files"][1]["owner"]
    result = run_module(args, capsys)
    assert result["failed"] is True
    assert "the parent directory %s/missing of %s/missing/f does not exist" % (root, root) \
        in result["msg"]
    assert os.listdir(root) == []


def test_wrong_type_fails(tmp_path, capsys):
    root = str(tmp_path)
    os.mkdir(os.path.join(root, "adir"))
    result = run_module({"files": [{"path": os.path.join(root, "adir"), "content": "x"}]}, capsys)
    assert result["failed"] is True
    assert "%s/adir is a directory on the host but is declared as a file" % root in result["msg"]


def test_empty_lists(capsys):
    result = run_module({}, capsys)
    assert result["changed"] is False and result["paths"] == {} and result["changed_paths"] == []


def test_new_file_is_never_readable_by_others_before_its_mode(tmp_path, capsys, monkeypatch):
    """The temporary file gets its final mode before it is checked and renamed."""
    root = str(tmp_path)
    seen = []
    real_rename = os.rename

    def rename(src, dst):
        seen.append(mode_of(src))
        real_rename(src, dst)

    monkeypatch.setattr(files.os, "rename", rename)
    original = basic.AnsibleModule.run_command

    def run_command(self, argv, **kwargs):
        seen.append(mode_of(argv[-1]))
        return original(self, argv, **kwargs)

    monkeypatch.setattr(basic.AnsibleModule, "run_command", run_command)
    target = os.path.join(root, "secret")
    run_module({"files": [{"path": target, "secret_content": SECRET, "mode": "0640",
                           "validate": "true %s"}]}, capsys)
    assert seen == [0o640, 0o640]
    assert mode_of(target) == 0o640
