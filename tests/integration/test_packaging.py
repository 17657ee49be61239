"""The collection as users get it: `ansible-galaxy collection build` and `install` of the tarball."""

import json
import os
import subprocess
import sys
import tarfile

import pytest

BIN = os.path.dirname(sys.executable)


def galaxy(*args, cwd=None, collections_path=None):
    env = dict(os.environ)
    if collections_path:
        # An empty collections path: nothing installed elsewhere may satisfy the install.
        env["ANSIBLE_COLLECTIONS_PATH"] = collections_path
    return subprocess.run([os.path.join(BIN, "ansible-galaxy"), "collection", *args], cwd=cwd,
                          env=env, check=True, capture_output=True, text=True)


@pytest.fixture(scope="module")
def tarball(repo_root, tmp_path_factory):
    out = tmp_path_factory.mktemp("build")
    galaxy("build", "--output-path", str(out), repo_root, cwd=repo_root)
    path = out / "homelab-photon-0.1.0.tar.gz"
    assert path.is_file(), os.listdir(out)
    return path


def test_build_leaves_out_lab_and_venv(tarball):
    with tarfile.open(tarball) as tar:
        names = tar.getnames()
    assert "MANIFEST.json" in names
    assert "galaxy.yml" not in names  # galaxy.yml becomes MANIFEST.json
    for unwanted in (".venv/", "tests/output/", "tests/lab/.cache/", ".git/"):
        assert not [n for n in names if n.startswith(unwanted)], unwanted
    assert "plugins/modules" in names or any(n.startswith("plugins/modules/") for n in names)


def test_tarball_holds_only_what_ships(repo_root, tarball):
    """Every file in the tarball is a file of the repository (git ls-files), whatever a test run
    left in the checkout (.hypothesis/, caches, reports): only MANIFEST.json and FILES.json are new."""
    tracked = set(subprocess.run(["git", "ls-files"], cwd=repo_root, capture_output=True, text=True,
                                 check=True).stdout.splitlines())
    with tarfile.open(tarball) as tar:
        files = {member.name for member in tar.getmembers() if member.isfile()}
    assert {"MANIFEST.json", "FILES.json"} <= files
    extra = sorted(files - tracked - {"MANIFEST.json", "FILES.json"})
    assert extra == [], extra[:20]


def test_install_no_deps(tarball, tmp_path):
    dest = tmp_path / "collections"
    galaxy("install", "--no-deps", "-p", str(dest), str(tarball), collections_path=str(dest))
    installed = dest / "ansible_collections" / "homelab" / "photon"
    manifest = json.loads((installed / "MANIFEST.json").read_text())
    info = manifest["collection_info"]
    assert (info["namespace"], info["name"], info["version"]) == ("homelab", "photon", "0.1.0")
    assert set(info["dependencies"]) == {"community.docker", "ansible.posix"}
    listed = json.loads(galaxy("list", "homelab.photon", "--format", "json",
                               collections_path=str(dest)).stdout)
    assert [coll for path in listed.values() for coll in path] == ["homelab.photon"]


def test_execution_environment_context(repo_root, tarball, tmp_path):
    """ansible-builder makes a build context that installs this collection's tarball, its
    collection dependencies and the Python packages the modules need."""
    for name in ("execution-environment.yml",):
        (tmp_path / name).write_text(open(os.path.join(repo_root, name)).read())
    (tmp_path / tarball.name).write_bytes(tarball.read_bytes())
    subprocess.run([os.path.join(BIN, "ansible-builder"), "create", "-f", "execution-environment.yml",
                    "-c", "context", "--output-filename", "Containerfile"], cwd=tmp_path,
                   check=True, capture_output=True, text=True)
    context = tmp_path / "context"
    containerfile = (context / "Containerfile").read_text()
    assert 'ARG EE_BASE_IMAGE="fedora:41"' in containerfile
    assert "COPY _build/collections/ /build/collections/" in containerfile
    assert (context / "_build" / "collections" / tarball.name).read_bytes() == tarball.read_bytes()
    galaxy_reqs = (context / "_build" / "requirements.yml").read_text()
    for wanted in ("collections/homelab-photon-0.1.0.tar.gz", "community.docker", "ansible.posix"):
        assert wanted in galaxy_reqs
    python_reqs = (context / "_build" / "requirements.txt").read_text()
    for wanted in ("pyvmomi", "jmespath", "docker"):
        assert wanted in python_reqs


def test_installed_site_playbook_syntax(tarball, tmp_path):
    """`ansible-playbook homelab.photon.site --syntax-check` from the installed tarball alone, against
    the example inventory that ships in it (community.docker and ansible.posix come from the
    `ansible` package, as on a user's controller)."""
    dest = tmp_path / "collections"
    galaxy("install", "--no-deps", "-p", str(dest), str(tarball), collections_path=str(dest))
    installed = dest / "ansible_collections" / "homelab" / "photon"
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(dest))
    for playbook in ("homelab.photon.site", "homelab.photon.vm", "homelab.photon.pihole"):
        result = subprocess.run([os.path.join(BIN, "ansible-playbook"), playbook, "--syntax-check",
                                 "-i", str(installed / "inventories" / "example")],
                                cwd=str(tmp_path), env=env, capture_output=True, text=True, check=False)
        assert result.returncode == 0, playbook + ":\n" + result.stdout + result.stderr
        assert "playbook: " in result.stdout
