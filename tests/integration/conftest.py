"""Fixtures for tests that run against the lab: lab hosts (systemd containers) and SSH keys.

`make integration` starts the lab first (tests/lab/bin/lab-up); these fixtures start and remove
the hosts a test needs, and nothing is left behind when they finish.
"""

import os
import shutil
import sys
import tempfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "lab"))

import labhost  # noqa: E402


@pytest.fixture(scope="session")
def repo_root():
    return ROOT


@pytest.fixture(scope="session")
def ssh_keypair():
    directory = tempfile.mkdtemp(prefix="homelab-ssh-")
    try:
        yield labhost.make_ssh_key(directory)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def lab_host_factory(ssh_keypair):
    """Start lab hosts reachable over SSH as root with the session's key; remove them after."""
    hosts = []

    def factory(prefix="lab", authorize=True, **kwargs):
        host = labhost.start(prefix=prefix, ssh_key=ssh_keypair[0], **kwargs)
        hosts.append(host)
        if authorize:
            host.authorize(ssh_keypair[1])
        return host

    yield factory
    for host in hosts:
        host.remove()


@pytest.fixture
def lab_host(lab_host_factory):
    return lab_host_factory()
