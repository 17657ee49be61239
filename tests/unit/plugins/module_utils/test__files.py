# -*- coding: utf-8 -*-
"""Unit tests of the pure helpers of homelab.photon.files: validation, the plan (which is also
the check-mode prediction), results and the diff."""

import pytest

from ansible_collections.homelab.photon.plugins.module_utils import _files
# Symbolic modes are evaluated by Ansible's own parser, as the module does.
from ansible_collections.homelab.photon.plugins.modules.files import symbolic


def directory(mode=0o755, uid=0, gid=0):
    return {"type": "directory", "mode": mode, "uid": uid, "gid": gid}


def regular(content=b"", mode=0o644, uid=0, gid=0):
    return {"type": "file", "mode": mode, "uid": uid, "gid": gid, "content": content}


MISSING = {"type": "missing"}


def dir_item(path, mode=None, uid=None, gid=None):
    return {"path": path, "mode": mode, "uid": uid, "gid": gid}


def file_item(path, data=b"x", mode=None, uid=None, gid=None, secret=False, create_only=False,
              backup=False, validate=None):
    return {"path": path, "mode": mode, "uid": uid, "gid": gid, "data": data, "secret": secret,
            "create_only": create_only, "backup": backup, "validate": validate}


def run_plan(directories, files, observed):
    steps, errors = _files.plan(directories, files, observed, symbolic, euid=0, egid=0)
    return steps, errors


# --------------------------------------------------------------------------- validation

def test_validate_accepts_good_items_and_empty_lists():
    assert _files.validate_items([], [], symbolic) == []
    errors = _files.validate_items(
        [{"path": "/opt/a", "mode": "0755"}, {"path": "/opt/a/b", "mode": "u=rwx,go=rx"}],
        [{"path": "/opt/a/f", "content": "x", "mode": "0600", "validate": "cat %s"},
         {"path": "/opt/a/g", "secret_content": "s", "mode": 0o600},
         {"path": "/opt/a/h", "content": "", "validate": "check --file=%s"}],
        symbolic)
    assert errors == []


@pytest.mark.parametrize("directories, files, fragment", [
    ([{"path": "opt/a"}], [], "directories[0]: path 'opt/a' is not absolute"),
    ([], [{"path": "relative", "content": "x"}], "files[0]: path 'relative' is not absolute"),
    ([{"path": "/"}], [], "is the root directory"),
    ([{"path": "/a"}, {"path": "/a/"}], [], "directories[1]: path /a is declared twice (also directories[0])"),
    ([{"path": "/a"}], [{"path": "/a", "content": "x"}], "files[0]: path /a is declared twice"),
    ([], [{"path": "/a/f"}], "files[0]: /a/f needs exactly one of content and secret_content"),
    ([], [{"path": "/a/f", "content": "x", "secret_content": "y"}], "needs exactly one of"),
    ([], [{"path": "/a/f", "content": "x", "validate": "cat"}], "validate of /a/f has no %s"),
    ([], [{"path": "/a/f", "content": "x", "validate": "cat '%s"}], "validate of /a/f cannot be split"),
    ([], [{"path": "/a/f", "content": "x", "validate": "  "}], "validate of /a/f is empty"),
    ([{"path": "/a", "mode": "rwxbad"}], [], "mode 'rwxbad' of /a is neither octal nor symbolic"),
    ([{"path": "/a", "mode": 0o17777}], [], "mode 8191 of /a is out of range"),
    ([], [{"path": "/a", "content": "x"}, {"path": "/a/b", "content": "y"}],
     "/a/b is inside /a, which is declared as a file"),
    ([{"path": "/a/b"}], [{"path": "/a", "content": "x"}], "/a/b is inside /a, which is declared as a file"),
    ([{"path": "/a/b/c"}, {"path": "/a"}], [], "directory /a is listed after /a/b/c, which is inside it"),
])
def test_validate_errors(directories, files, fragment):
    errors = _files.validate_items(directories, files, symbolic)
    assert any(fragment in error for error in errors), errors


def test_validate_reports_every_error():
    errors = _files.validate_items([{"path": "x"}], [{"path": "/f"}, {"path": "y", "content": "z"}],
                                   symbolic)
    assert len(errors) == 3


def test_validate_argv_replaces_every_placeholder():
    assert _files.validate_argv('python3 -c "import json" %s', "/d/.t") == [
        "python3", "-c", "import json", "/d/.t"]
    assert _files.validate_argv("check --file=%s --again %s", "/t") == [
        "check", "--file=/t", "--again", "/t"]


def test_modes():
    assert _files.octal_mode("0755") == 0o755
    assert _files.octal_mode("644") == 0o644
    assert _files.octal_mode(0o600) == 0o600
    assert _files.octal_mode("u=rw") is None
    assert _files.octal_mode(True) is None
    assert _files.resolve_mode(None, 0o644, False, symbolic) is None
    assert _files.resolve_mode("go-r", 0o644, False, symbolic) == 0o600
    assert _files.resolve_mode("a+X", 0o644, True, symbolic) == 0o755
    assert _files.resolve_mode("a+X", 0o644, False, symbolic) == 0o644
    assert _files.ancestors("/opt/docker/pihole") == ["/opt/docker", "/opt"]
    assert _files.normalize("/opt//x/") == "/opt/x"


# --------------------------------------------------------------------------- plan: directories

def test_missing_directory_is_created_with_its_missing_parents():
    observed = {"/opt/docker/pihole": MISSING, "/opt/docker": MISSING, "/opt": directory()}
    steps, errors = run_plan([dir_item("/opt/docker/pihole", mode="0750", uid=1000)], [], observed)
    assert errors == []
    assert [(s["path"], s["action"], s["mode"], s["uid"]) for s in steps] == [
        ("/opt/docker", "mkdir", 0o755, None),
        ("/opt/docker/pihole", "mkdir", 0o750, 1000),
    ]
    changed, changed_paths, paths = _files.results(steps)
    assert changed is True
    assert changed_paths == ["/opt/docker", "/opt/docker/pihole"]
    assert paths["/opt/docker/pihole"] == {"type": "directory", "changed": True, "created": True,
                                           "attributes_changed": []}


def test_new_directory_default_mode_and_symbolic_mode():
    observed = {"/a": MISSING, "/b": MISSING}
    steps, _errors = run_plan([dir_item("/a"), dir_item("/b", mode="g+w")], [], observed)
    assert [s["mode"] for s in steps] == [0o755, 0o775]


def test_existing_directory_attributes():
    observed = {"/a": directory(mode=0o700, uid=0, gid=0)}
    steps, _errors = run_plan([dir_item("/a", mode="0755", uid=0, gid=5)], [], observed)
    assert steps[0]["action"] == "attributes"
    assert steps[0]["result"] == {"type": "directory", "changed": True, "created": False,
                                  "attributes_changed": ["mode", "group"]}
    steps, _errors = run_plan([dir_item("/a", mode="0700", uid=0)], [], observed)
    assert steps[0]["action"] == "none" and steps[0]["result"]["changed"] is False
    assert _files.results(steps) == (False, [], {"/a": steps[0]["result"]})


def test_directory_where_a_file_is_fails():
    steps, errors = run_plan([dir_item("/a/b")], [], {"/a/b": regular(), "/a": directory()})
    assert errors == ["/a/b is a file on the host but is declared as a directory"]
    steps, errors = run_plan([dir_item("/a/b/c")], [], {"/a/b/c": MISSING, "/a/b": regular(),
                                                        "/a": directory()})
    assert errors == ["cannot make /a/b/c: /a/b is a file on the host but is declared as a directory"]
    _steps, errors = run_plan([dir_item("/a")], [], {"/a": {"type": "other"}})
    assert errors == ["/a exists but is neither a file nor a directory (declared as a directory)"]


# --------------------------------------------------------------------------- plan: files

def test_file_in_a_directory_made_in_this_run_is_predicted_created():
    observed = {"/opt/p": MISSING, "/opt": directory(), "/opt/p/f": MISSING}
    steps, errors = run_plan([dir_item("/opt/p")], [file_item("/opt/p/f", b"hello")], observed)
    assert errors == []
    assert steps[-1]["action"] == "write" and steps[-1]["mode"] == 0o644
    assert steps[-1]["result"] == {"type": "file", "changed": True, "created": True,
                                   "content_changed": True, "attributes_changed": [],
                                   "skipped": False}


def test_file_in_a_parent_made_for_a_listed_directory_is_fine():
    observed = {"/opt/p/q": MISSING, "/opt/p": MISSING, "/opt": directory(), "/opt/p/f": MISSING}
    _steps, errors = run_plan([dir_item("/opt/p/q")], [file_item("/opt/p/f")], observed)
    assert errors == []


def test_missing_parent_fails_before_anything():
    observed = {"/a": directory(), "/a/f": MISSING, "/nope": MISSING, "/nope/f": MISSING}
    _steps, errors = run_plan([dir_item("/a")], [file_item("/a/f"), file_item("/nope/f")], observed)
    assert errors == ["the parent directory /nope of /nope/f does not exist and is not in directories"]
    _steps, errors = run_plan([], [file_item("/x/f")], {"/x": regular(), "/x/f": MISSING})
    assert errors == ["the parent of /x/f: /x is a file on the host but is declared as a directory"]


def test_file_where_a_directory_is_fails():
    _steps, errors = run_plan([], [file_item("/a/f")], {"/a": directory(), "/a/f": directory()})
    assert errors == ["/a/f is a directory on the host but is declared as a file"]


def test_same_content_same_attributes_is_unchanged():
    observed = {"/a": directory(), "/a/f": regular(b"same", mode=0o600)}
    steps, _errors = run_plan([], [file_item("/a/f", b"same", mode="0600", uid=0, gid=0)], observed)
    assert steps[0]["action"] == "none"
    assert _files.results(steps)[0] is False
    assert _files.diff_entries(steps, {"/a/f": b"same"}) == []


def test_content_compared_by_bytes_no_newline_added():
    observed = {"/a": directory(), "/a/f": regular(b"line\n")}
    steps, _errors = run_plan([], [file_item("/a/f", b"line")], observed)
    assert steps[0]["action"] == "write"
    assert steps[0]["result"]["content_changed"] is True


def test_changed_content_keeps_old_attributes_unless_declared():
    observed = {"/a": directory(), "/a/f": regular(b"old", mode=0o640, uid=7, gid=8)}
    steps, _errors = run_plan([], [file_item("/a/f", b"new")], observed)
    assert (steps[0]["mode"], steps[0]["uid"], steps[0]["gid"]) == (0o640, 7, 8)
    assert steps[0]["result"]["attributes_changed"] == []
    steps, _errors = run_plan([], [file_item("/a/f", b"new", mode="0600", uid=0, backup=True)],
                              observed)
    assert (steps[0]["mode"], steps[0]["uid"], steps[0]["gid"]) == (0o600, 0, 8)
    assert steps[0]["backup"] is True
    assert steps[0]["result"]["attributes_changed"] == ["mode", "owner"]


def test_attribute_only_change():
    observed = {"/a": directory(), "/a/f": regular(b"same", mode=0o644)}
    steps, _errors = run_plan([], [file_item("/a/f", b"same", mode="go-r", backup=True)], observed)
    assert steps[0]["action"] == "attributes" and steps[0]["mode"] == 0o600
    assert steps[0]["backup"] is False  # no content replaced, no backup
    assert steps[0]["result"]["content_changed"] is False
    assert steps[0]["result"]["attributes_changed"] == ["mode"]


def test_create_only():
    observed = {"/a": directory(), "/a/f": dict(regular(mode=0o600), content=None),
                "/a/g": MISSING}
    items = [file_item("/a/f", b"seed", mode="0644", uid=5, create_only=True),
             file_item("/a/g", b"seed", create_only=True)]
    steps, errors = run_plan([], items, observed)
    assert errors == []
    assert steps[0]["action"] == "none"
    assert steps[0]["result"] == {"type": "file", "changed": False, "created": False,
                                  "content_changed": False, "attributes_changed": [],
                                  "skipped": True}
    assert steps[1]["action"] == "write" and steps[1]["result"]["created"] is True
    assert _files.results(steps)[1] == ["/a/g"]


def test_plan_is_the_same_prediction_for_check_and_real_runs():
    """The plan is computed once from the observed state; a second plan from the state the first
    one leaves behind changes nothing."""
    observed = {"/o": directory(), "/o/p": MISSING, "/o/p/f": MISSING, "/o/p/s": MISSING}
    items = [file_item("/o/p/f", b"a", mode="0640", gid=3), file_item("/o/p/s", b"s", secret=True, mode="0600")]
    steps, _errors = run_plan([dir_item("/o/p", mode="0750")], items, observed)
    after = {"/o": directory(), "/o/p": directory(mode=0o750),
             "/o/p/f": regular(b"a", mode=0o640, gid=3), "/o/p/s": regular(b"s", mode=0o600)}
    assert [s["mode"] for s in steps] == [0o750, 0o640, 0o600]
    again, _errors = run_plan([dir_item("/o/p", mode="0750")], items, after)
    assert _files.results(again)[:2] == (False, [])


# --------------------------------------------------------------------------- diff

def test_diff_of_created_directory_and_file_content():
    observed = {"/o": directory(), "/o/p": MISSING, "/o/p/f": MISSING, "/o/g": regular(b"old\n")}
    steps, _errors = run_plan([dir_item("/o/p", mode="0750")],
                              [file_item("/o/p/f", b"new\n"), file_item("/o/g", b"newer\n")],
                              observed)
    diff = _files.diff_entries(steps, {"/o/p/f": b"new\n", "/o/g": b"newer\n"},
                               {("uid", 0): "root"})
    assert diff == [
        {"before_header": "/o/p", "after_header": "/o/p", "before": "state: absent\n",
         "after": "state: directory\nmode: 0750\n"},
        {"before_header": "/o/p/f", "after_header": "/o/p/f", "before": "", "after": "new\n"},
        {"before_header": "/o/g", "after_header": "/o/g", "before": "old\n", "after": "newer\n"},
    ]


def test_secret_never_in_diff():
    observed = {"/o": directory(), "/o/s": regular(b"old-secret", mode=0o644), "/o/t": MISSING}
    items = [file_item("/o/s", b"new-secret", secret=True, mode="0600"),
             file_item("/o/t", b"other-secret", secret=True)]
    steps, _errors = run_plan([], items, observed)
    diff = _files.diff_entries(steps, {"/o/s": b"new-secret", "/o/t": b"other-secret"})
    text = repr(diff)
    for secret in ("old-secret", "new-secret", "other-secret"):
        assert secret not in text
    assert diff[0] == {"before_header": "/o/s", "after_header": "/o/s",
                       "before": "(secret content)\n", "after": "(secret content changed)\n"}
    assert diff[1]["before"] == "mode: 0644\n" and diff[1]["after"] == "mode: 0600\n"
    assert diff[2] == {"before_header": "/o/t", "after_header": "/o/t", "before": "",
                       "after": "(secret content changed)\n"}
    # Results carry no content at all.
    assert "secret" not in repr(_files.results(steps)).replace("secret_", "")


def test_diff_of_attributes_with_names():
    observed = {"/o": directory(mode=0o700, uid=0, gid=0)}
    steps, _errors = run_plan([dir_item("/o", mode="0755", uid=1000, gid=1000)], [], observed)
    owners = {("uid", 0): "root", ("gid", 0): "root", ("uid", 1000): "pi", ("gid", 1000): "pi"}
    assert _files.diff_entries(steps, {}, owners) == [
        {"before_header": "/o (attributes)", "after_header": "/o (attributes)",
         "before": "mode: 0700\nowner: root\ngroup: root\n",
         "after": "mode: 0755\nowner: pi\ngroup: pi\n"}]


def test_diff_of_binary_old_content():
    observed = {"/o": directory(), "/o/f": regular(b"\xff\xfe")}
    steps, _errors = run_plan([], [file_item("/o/f", b"text")], observed)
    diff = _files.diff_entries(steps, {"/o/f": b"text"})
    assert diff[0]["before"] == "(binary content, 2 bytes)\n"
