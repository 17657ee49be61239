"""Fixtures for tests against the govmomi vSphere simulator (the lab's launcher, tests/lab/vcsim).

`vcsim_factory` starts the launcher on a free loopback port in ESX or VPX mode, with its log in a
temporary directory, and yields an object with the URL, credentials and log; everything it started
is stopped and removed after the test (the launcher removes its own datastore folders on SIGTERM).
"""

import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
LAB = os.path.join(ROOT, "tests", "lab")
if LAB not in sys.path:
    sys.path.insert(0, LAB)

from vcsimlab import start_vcsim, stop_vcsim  # noqa: E402


@pytest.fixture
def vcsim_factory():
    started = []

    def factory(mode="esx", **kwargs):
        sim = start_vcsim(mode, **kwargs)
        started.append(sim)
        return sim

    yield factory
    for sim in started:
        stop_vcsim(sim)


@pytest.fixture(params=["esx", "vpx"])
def vcsim(request, vcsim_factory):
    """One simulator per test, in ESX and in VPX mode."""
    return vcsim_factory(request.param)


@pytest.fixture
def vcsim_esx(vcsim_factory):
    return vcsim_factory("esx")


@pytest.fixture
def vcsim_vpx(vcsim_factory):
    return vcsim_factory("vpx")


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "slow: 1 GB / 4 GB imports; run with HOMELAB_SLOW_TESTS=1 (make bench covers them)")


def pytest_collection_modifyitems(config, items):
    if os.environ.get("HOMELAB_SLOW_TESTS") == "1":
        return
    skip = pytest.mark.skip(reason="slow: set HOMELAB_SLOW_TESTS=1 (the benchmark imports 1 GB and 4 GB)")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
