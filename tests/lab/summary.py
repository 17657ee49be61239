"""The end of `make test`: one summary of every stage's counts, and the verdict.

Reads what tests/lab/bin/test-all left in tests/output/reports/: stages.jsonl (each stage's exit
code and time), the pytest stages' JUnit XML (unit.xml, integration.xml), molecule.jsonl (one line
per scenario) and sanity.log. Fails when a stage failed or when a test was skipped for a reason
that the allowed-skips file does not list: a skip is a lab bug unless it is on that list, with a
comment saying why.

    summary.py REPORTS_DIR ALLOWED_SKIPS_FILE
"""

import json
import os
import re
import sys
import xml.etree.ElementTree as ET


def read_allowed(path):
    """[(regex, comment)] from lines 'REGEX  # why'; blank lines and comment lines are ignored."""
    allowed = []
    with open(path) as handle:
        for line in handle:
            text = line.strip()
            if not text or text.startswith("#"):
                continue
            pattern, _sep, comment = text.partition(" #")
            if not comment.strip():
                raise SystemExit("%s: every allowed skip needs a comment saying why: %r" % (path, text))
            allowed.append((re.compile(pattern.strip()), comment.strip()))
    return allowed


def junit_counts(path):
    """{'passed', 'failed', 'skipped': [(test id, reason)]} of a pytest JUnit XML file."""
    counts = {"passed": 0, "failed": 0, "skipped": []}
    if not os.path.exists(path):
        return None
    for case in ET.parse(path).getroot().iter("testcase"):
        test_id = "%s::%s" % (case.get("classname", ""), case.get("name", ""))
        if case.find("failure") is not None or case.find("error") is not None:
            counts["failed"] += 1
        elif case.find("skipped") is not None:
            counts["skipped"].append((test_id, case.find("skipped").get("message", "")))
        else:
            counts["passed"] += 1
    return counts


def molecule_counts(path):
    counts = {"passed": 0, "failed": 0, "skipped": []}
    if not os.path.exists(path):
        return None
    with open(path) as handle:
        for line in handle:
            record = json.loads(line)
            counts["passed" if record["rc"] == 0 else "failed"] += 1
    return counts


def sanity_counts(path):
    if not os.path.exists(path):
        return None
    with open(path) as handle:
        text = handle.read()
    run = len(re.findall(r"^Running sanity test [\"']([^\"']+)[\"']", text, re.M))
    failed = len(set(re.findall(r"^ERROR: Found \d+ ([\w-]+) issue", text, re.M)))
    return {"passed": run - failed, "failed": failed, "skipped": []}


def main(argv):
    reports, allowed_file = argv
    allowed = read_allowed(allowed_file)
    stages = []
    with open(os.path.join(reports, "stages.jsonl")) as handle:
        for line in handle:
            stages.append(json.loads(line))
    readers = {
        "unit": lambda: junit_counts(os.path.join(reports, "unit.xml")),
        "integration": lambda: junit_counts(os.path.join(reports, "integration.xml")),
        "molecule": lambda: molecule_counts(os.path.join(reports, "molecule.jsonl")),
        "sanity": lambda: sanity_counts(os.path.join(reports, "sanity.log")),
    }
    totals = {"passed": 0, "failed": 0, "skipped": 0}
    problems = []
    print("\n=== make test: summary")
    print("%-12s %-6s %7s %7s %8s %8s" % ("stage", "result", "passed", "failed", "skipped", "seconds"))
    for stage in stages:
        counts = readers.get(stage["stage"], lambda: None)()
        if counts is None:  # a stage that is one check (lint, check-clean), or left no report
            counts = {"passed": int(stage["rc"] == 0), "failed": int(stage["rc"] != 0), "skipped": []}
        if stage["rc"] != 0 and counts["failed"] == 0:
            counts["failed"] = 1  # failed before its tests could report (collection error, set-up)
        result = "ok" if stage["rc"] == 0 else "FAILED"
        print("%-12s %-6s %7d %7d %8d %8d" % (stage["stage"], result, counts["passed"], counts["failed"],
                                              len(counts["skipped"]), stage["seconds"]))
        for key in ("passed", "failed"):
            totals[key] += counts[key]
        totals["skipped"] += len(counts["skipped"])
        if stage["rc"] != 0:
            problems.append("stage %s failed (exit %d; its log: tests/output/reports/%s.log)"
                            % (stage["stage"], stage["rc"], stage["stage"]))
        for test_id, reason in counts["skipped"]:
            why = next((comment for pattern, comment in allowed if pattern.search(test_id + " " + reason)), None)
            if why:
                print("    skipped, allowed: %s: %s (%s)" % (test_id, reason, why))
            else:
                print("    skipped, NOT ALLOWED: %s: %s" % (test_id, reason))
                problems.append("skip not on %s: %s (%s)" % (os.path.basename(allowed_file), test_id, reason))
    for problem in problems:
        print("make test: " + problem, file=sys.stderr)
    print("total: %d passed, %d failed, %d skipped" % (totals["passed"], totals["failed"], totals["skipped"]))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
