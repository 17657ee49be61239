"""The tdnf transcripts under tests/unit/fixtures/ are an unedited copy of the project's shared
record (../shared/tdnf-transcripts/ beside the repository), kept in the repository so that a clone
anywhere runs its unit tests. Where the shared record is beside the clone, the copy must equal it."""

import filecmp
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COPY = os.path.join(ROOT, "tests", "unit", "fixtures", "tdnf-transcripts")
SHARED = os.path.join(ROOT, "..", "shared", "tdnf-transcripts")


def _files(top):
    return sorted(os.path.relpath(os.path.join(d, f), top) for d, dummy, fs in os.walk(top) for f in fs)


def test_copy_equals_the_shared_record():
    if not os.path.isdir(SHARED):
        pytest.skip("the shared record is not beside this clone")
    assert _files(COPY) == _files(SHARED)
    for name in _files(SHARED):
        assert filecmp.cmp(os.path.join(COPY, name), os.path.join(SHARED, name), shallow=False), name
