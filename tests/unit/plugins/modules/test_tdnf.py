"""YAML-driven tests of the tdnf module (test_tdnf.yaml), built on a real tdnf's transcript.

Each case gives the module's input, the exact argv of every command the module must run with
the output fed back, and the module's result. A call written `step: NOTE` takes argv, rc, stdout
and stderr verbatim from tests/unit/fixtures/tdnf-transcripts/tdnf-3.6.0/transcript.json (an
unedited copy of the project's shared record ../shared/tdnf-transcripts/); `like_step: NOTE` feeds that step's output to an argv that differs (the YAML says
why); literal `rc/out/err` are synthesized outputs, each with a `why`. The transcript must exist:
a missing file fails the tests. Every transcript step is either used by a case or listed under
`unreached` with the reason no path of the module runs it.
"""

import json
import os
from unittest import mock

import pytest
import yaml

_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", ".."))

from ansible.module_utils import basic  # noqa: E402
from ansible.module_utils.testing import patch_module_args  # noqa: E402

from ansible_collections.homelab.photon.plugins.modules import tdnf as tdnf_module  # noqa: E402

TRANSCRIPT = os.path.join(_ROOT, "tests", "unit", "fixtures", "tdnf-transcripts", "tdnf-3.6.0",
                          "transcript.json")
CASES_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "test_tdnf.yaml")

with open(CASES_FILE) as _handle:
    SPEC = yaml.safe_load(_handle)
CASES = SPEC["cases"]
MUTATING = {"install", "erase", "remove", "upgrade", "update", "downgrade", "reinstall", "distro-sync", "autoremove"}


@pytest.fixture(scope="module")
def steps():
    with open(TRANSCRIPT) as handle:  # a missing transcript is a failure, never a skip
        data = json.load(handle)
    by_note = {}
    for step in data:
        assert step["note"] not in by_note, "duplicate note %r" % step["note"]
        by_note[step["note"]] = step
    return by_note


class _Exit(Exception):
    def __init__(self, failed, result):
        super().__init__(result.get("msg"))
        self.failed = failed
        self.result = result


def _expected_calls(case, steps):
    calls = []
    for call in case.get("calls", []):
        if "step" in call:
            step = steps[call["step"]]
            assert "argv" not in call, "a `step` call takes its argv from the transcript"
            calls.append((step["argv"], step["rc"], step["stdout"], step["stderr"]))
        elif "like_step" in call:
            step = steps[call["like_step"]]
            assert call.get("why"), "like_step needs a why"
            assert call["argv"] != step["argv"], "use `step` when the argv is the transcript's"
            calls.append((call["argv"], step["rc"], step["stdout"], step["stderr"]))
        else:
            assert call.get("why"), "a synthesized output needs a why"
            calls.append((call["argv"], call["rc"], call.get("out", ""), call.get("err", "")))
    return calls


def run_case(case, steps):
    expected = _expected_calls(case, steps)
    seen = []

    def run_command(self, args, check_rc=False, environ_update=None, **kwargs):
        assert isinstance(args, list), "commands are argv lists, never strings"
        assert check_rc is False
        assert environ_update and environ_update.get("LC_ALL") == "C"
        assert not kwargs.get("use_unsafe_shell")
        index = len(seen)
        seen.append(args)
        assert index < len(expected), "unexpected command %r" % (args,)
        argv, rc, out, err = expected[index]
        assert args == argv, "call %d" % index
        if args[0] == "tdnf" and MUTATING & set(args):
            assert "-y" in args or "--assumeno" in args, "a transaction always runs with -y or --assumeno"
        return rc, out, err

    def get_bin_path(self, name, required=False, opt_dirs=None):
        if name in case.get("missing_programs", []):
            if required:
                self.fail_json(msg="Failed to find required executable %s" % name)
            return None
        return name

    def exit_json(self, **kwargs):
        raise _Exit(False, kwargs)

    def fail_json(self, **kwargs):
        raise _Exit(True, kwargs)

    args = dict(case["input"])
    args["_ansible_check_mode"] = bool(case.get("check_mode"))
    args["_ansible_diff"] = bool(case.get("diff"))
    with mock.patch.multiple(basic.AnsibleModule, run_command=run_command, get_bin_path=get_bin_path,
                             exit_json=exit_json, fail_json=fail_json):
        with patch_module_args(args):
            with pytest.raises(_Exit) as caught:
                tdnf_module.main()
    assert len(seen) == len(expected), "commands not run: %r" % (expected[len(seen):],)
    # One tdnf transaction per task at most, however many packages.
    assert sum(1 for argv in seen if argv[0] == "tdnf" and "-y" in argv) <= 1
    return caught.value


@pytest.mark.parametrize("case", CASES, ids=[case["id"] for case in CASES])
def test_case(case, steps):
    outcome = run_case(case, steps)
    assert outcome.failed == bool(case.get("failed")), outcome.result
    result = outcome.result
    for key, value in case.get("result", {}).items():
        assert result.get(key) == value, key
    for fragment in case.get("msg_contains", []):
        assert fragment in result["msg"]
    if "diff" in case.get("result", {}):
        assert case.get("diff")


def test_check_mode_predicts_the_real_run(steps):
    """Cases marked `same_result_as` must give the other case's result, msg and call list aside."""
    by_id = {case["id"]: case for case in CASES}
    pairs = [(case, by_id[case["same_result_as"]]) for case in CASES if "same_result_as" in case]
    assert len(pairs) >= 4
    for check, real in pairs:
        predicted = run_case(check, steps).result
        done = run_case(real, steps).result
        for key in ("changed", "installed", "upgraded", "downgraded", "removed", "diff"):
            assert predicted.get(key) == done.get(key), (check["id"], key)


def test_every_transcript_step_is_accounted_for(steps):
    used = set()
    for case in CASES:
        for call in case.get("calls", []):
            used.add(call.get("step") or call.get("like_step"))
    used.discard(None)
    unreached = SPEC["unreached"]
    assert not set(unreached) - set(steps), "unknown notes in unreached: %r" % (set(unreached) - set(steps))
    assert not used - set(steps), "unknown notes in cases"
    assert not used & set(unreached), "a step is both used and listed unreached: %r" % (used & set(unreached))
    assert set(steps) == used | set(unreached), "unaccounted steps: %r" % (set(steps) - used - set(unreached))
    assert all(reason for reason in unreached.values())


def test_upgrade_and_install_previews_agree(steps):
    """Why the module previews `latest` with `install` and may run `upgrade`: for an installed
    package with an update, tdnf resolves both to the same transaction."""
    install = steps["dry run plain install of an installed package with a newer version available, json"]
    upgrade = steps["dry run upgrade, json"]
    assert install["stdout"] == upgrade["stdout"] and install["rc"] == upgrade["rc"] == 0


def test_the_note_lists_every_step(steps, repo_notes=os.path.join(_ROOT, "docs", "tdnf.md")):
    """docs/tdnf.md lists which transcript steps the tests use: it must name all of them."""
    with open(repo_notes) as handle:
        text = handle.read()
    assert [note for note in steps if "| %s |" % note not in text] == []
