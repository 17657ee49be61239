"""The test run's own tooling: `make help` names every target, and the summary at the end of
`make test` counts each stage and fails on a failed stage or a skip that is not on the list."""

import json
import os
import re
import subprocess

import summary

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def test_make_help_lists_every_target():
    with open(os.path.join(ROOT, "Makefile")) as handle:
        phony = re.search(r"^\.PHONY:(.*)$", handle.read(), re.M).group(1).split()
    out = subprocess.run(["make", "-s", "-C", ROOT, "help"], capture_output=True, text=True, check=True).stdout
    listed = re.findall(r"^make (\S+)", out, re.M)
    assert sorted(listed) == sorted(phony)


JUNIT = """<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest">
<testcase classname="tests.a" name="test_ok"/>
<testcase classname="tests.a" name="test_slow"><skipped message="slow: set HOMELAB_SLOW_TESTS=1"/></testcase>
%s
</testsuite></testsuites>"""


def write_reports(tmp_path, extra_case="", unit_rc=0):
    reports = tmp_path / "reports"
    reports.mkdir()
    stages = [{"stage": "lint", "rc": 0, "seconds": 3}, {"stage": "unit", "rc": unit_rc, "seconds": 5},
              {"stage": "molecule", "rc": 0, "seconds": 60}]
    (reports / "stages.jsonl").write_text("".join(json.dumps(s) + "\n" for s in stages))
    (reports / "unit.xml").write_text(JUNIT % extra_case)
    (reports / "molecule.jsonl").write_text('{"scenario": "roles/base/molecule/default", "rc": 0, "seconds": 30}\n'
                                            '{"scenario": "roles/base/molecule/debian", "rc": 0, "seconds": 30}\n')
    allowed = tmp_path / "allowed.txt"
    allowed.write_text("# comment line\nHOMELAB_SLOW_TESTS  # the slow imports\n")
    return str(reports), str(allowed)


def test_summary_counts_and_accepts_a_listed_skip(tmp_path, capsys):
    assert summary.main(write_reports(tmp_path)) == 0
    out = capsys.readouterr().out
    assert re.search(r"^unit\s+ok\s+1\s+0\s+1\s+5$", out, re.M)
    assert re.search(r"^molecule\s+ok\s+2\s+0\s+0\s+60$", out, re.M)
    assert "skipped, allowed: tests.a::test_slow" in out
    assert out.rstrip().splitlines()[-1] == "total: 4 passed, 0 failed, 1 skipped"


def test_summary_fails_on_a_skip_not_listed(tmp_path, capsys):
    case = '<testcase classname="tests.b" name="test_tool"><skipped message="needs busybox"/></testcase>'
    assert summary.main(write_reports(tmp_path, case)) == 1
    captured = capsys.readouterr()
    assert "skipped, NOT ALLOWED: tests.b::test_tool: needs busybox" in captured.out
    assert "skip not on allowed.txt: tests.b::test_tool (needs busybox)" in captured.err


def test_summary_fails_on_a_failed_stage(tmp_path, capsys):
    case = '<testcase classname="tests.c" name="test_bad"><failure message="boom"/></testcase>'
    assert summary.main(write_reports(tmp_path, case, unit_rc=1)) == 1
    captured = capsys.readouterr()
    assert re.search(r"^unit\s+FAILED\s+1\s+1\s+1\s+5$", captured.out, re.M)
    assert "stage unit failed (exit 1" in captured.err


def test_sanity_counts_from_ansible_tests_output(tmp_path):
    log = tmp_path / "sanity.log"
    log.write_text('Running sanity test "pep8"\nRunning sanity test "pylint"\nERROR: Found 2 pylint issue(s) which need'
                   ' to be resolved:\nRunning sanity test "yamllint"\n')
    assert summary.sanity_counts(str(log)) == {"passed": 2, "failed": 1, "skipped": []}


def test_an_allowed_skip_needs_a_reason(tmp_path):
    allowed = tmp_path / "allowed.txt"
    allowed.write_text("HOMELAB_SLOW_TESTS\n")
    try:
        summary.read_allowed(str(allowed))
    except SystemExit as exc:
        assert "needs a comment" in str(exc)
    else:
        raise AssertionError("an allowed skip without a comment was accepted")


def test_the_projects_list_parses():
    assert [p.pattern for p, _why in summary.read_allowed(os.path.join(ROOT, "tests", "allowed-skips.txt"))] \
        == ["HOMELAB_SLOW_TESTS"]
