"""Fixtures for the tests of the role homelab.photon.vm (helpers are in vmrole_helpers.py)."""

import os

import pytest

from vmrole_helpers import COLLECTIONS, ROOT, vsphere

vcsim_factory = vsphere.vcsim_factory  # the simulator fixture of tests/integration/vsphere


@pytest.fixture(scope="session", autouse=True)
def collection_link():
    """`make collection` makes this link; make it when the test runs on its own."""
    link = os.path.join(COLLECTIONS, "ansible_collections", "homelab", "photon")
    if not os.path.exists(link):
        os.makedirs(os.path.dirname(link), exist_ok=True)
        os.symlink(ROOT, link)
