"""Lab proof of homelab.photon.files on a lab host (the Photon-identity systemd container), driven over
SSH with ansible-playbook as a user would: directories and files with their modes and owners as
``stat`` shows them, a secret that never shows in the output (-v, --diff), a second run that
changes nothing, check mode that predicts the real run exactly and writes nothing, create_only,
backup, a real validator (docker compose, python3's json) that refuses bad content and leaves the
old file, and bad declarations refused before anything is written."""

import shutil
import tempfile

import pytest

BASE = "/srv/homelab-files"
PIHOLE = BASE + "/docker/pihole"
SECRET = "pw-7f3a9c-never-in-output"
COMPOSE = "services:\n  pihole:\n    image: pihole/pihole:latest\n"
JSON_CHECK = 'python3 -c "import json, sys; json.load(open(sys.argv[1]))" %s'


class Runner:
    """Runs homelab.photon.files on the lab host with ansible-playbook over SSH."""

    def __init__(self, host, repo_root, workdir):
        self.host = host
        self.workdir = workdir

    def playbook(self, args, options, callback):
        return self.host.module_play(self.workdir, "homelab.photon.files", args, options, callback)

    def run(self, args, check=False, diff=True):
        options = (["--check"] if check else []) + (["--diff"] if diff else [])
        proc = self.playbook(args, options, "ansible.posix.json")
        result = self.host.task_result(proc)
        assert SECRET not in proc.stdout + proc.stderr
        return result

    def run_text(self, args, *options):
        """The default callback's output (what a user reads)."""
        return self.playbook(args, options, "default")


@pytest.fixture
def lab(lab_host, repo_root):
    workdir = tempfile.mkdtemp(prefix="homelab-files-")
    try:
        lab_host.exec("rm", "-rf", BASE)
        yield lab_host, Runner(lab_host, repo_root, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def stat(host, path):
    """``mode owner group type`` of a path, read with stat on the host."""
    return host.exec("stat", "-c", "%a %U %G %F", path).stdout.strip()


def snapshot(host):
    """Every path under BASE with its stat line and the checksum of each file."""
    out = host.sh("cd / && find %s -exec stat -c '%%n %%a %%U %%G %%F %%s' {} + | sort;"
                  " find %s -type f -exec sha256sum {} + | sort" % (BASE, BASE), check=False)
    return out.stdout


def cat(host, path):
    return host.exec("cat", path).stdout


def declaration(compose=COMPOSE, secret=SECRET, compose_mode="0644", daemon='{"log-driver": "local"}'):
    return {
        "directories": [
            {"path": PIHOLE, "mode": "0750", "owner": "nobody", "group": "daemon"},
            {"path": PIHOLE + "/etc-pihole", "mode": "0755"},
            {"path": BASE + "/etc/docker"},
        ],
        "files": [
            {"path": PIHOLE + "/web_password", "secret_content": secret, "mode": "0600",
             "owner": "root", "group": "root"},
            {"path": PIHOLE + "/compose.yaml", "content": compose, "mode": compose_mode,
             "validate": "docker compose -f %s config --quiet"},
            {"path": PIHOLE + "/etc-pihole/seed.list", "content": "seed\n", "create_only": True},
            {"path": BASE + "/etc/docker/daemon.json", "content": daemon, "backup": True,
             "validate": JSON_CHECK},
        ],
    }


def check_then_apply(host, runner, args):
    """Check mode predicts the real run that follows, path by path, and writes nothing."""
    before = snapshot(host)
    predicted = runner.run(args, check=True)
    assert not predicted.get("failed"), predicted
    assert snapshot(host) == before
    applied = runner.run(args)
    assert not applied.get("failed"), applied
    for key in ("changed", "changed_paths", "diff"):
        assert predicted[key] == applied[key], (key, predicted[key], applied[key])
    real_paths = {path: {k: v for k, v in entry.items() if k != "backup_file"}
                  for path, entry in applied["paths"].items()}
    assert predicted["paths"] == real_paths
    return predicted, applied


def test_files_on_the_lab_host(lab):
    host, runner = lab
    assert host.exec("test", "-e", BASE, check=False).returncode == 1

    # 1. First run: everything is made, as predicted.
    _predicted, applied = check_then_apply(host, runner, declaration())
    assert applied["changed"] is True
    assert applied["changed_paths"] == [
        BASE, BASE + "/docker", PIHOLE, PIHOLE + "/etc-pihole", BASE + "/etc", BASE + "/etc/docker",
        PIHOLE + "/web_password", PIHOLE + "/compose.yaml", PIHOLE + "/etc-pihole/seed.list",
        BASE + "/etc/docker/daemon.json"]
    assert all(entry["created"] for entry in applied["paths"].values())
    assert stat(host, BASE) == "755 root root directory"
    assert stat(host, PIHOLE) == "750 nobody daemon directory"
    assert stat(host, PIHOLE + "/etc-pihole") == "755 root root directory"
    assert stat(host, PIHOLE + "/web_password") == "600 root root regular file"
    assert stat(host, PIHOLE + "/compose.yaml") == "644 root root regular file"
    assert stat(host, BASE + "/etc/docker/daemon.json") == "644 root root regular file"
    assert cat(host, PIHOLE + "/web_password") == SECRET
    assert cat(host, PIHOLE + "/compose.yaml") == COMPOSE
    assert cat(host, BASE + "/etc/docker/daemon.json") == '{"log-driver": "local"}'
    assert host.exec("ls", "-A", PIHOLE).stdout.split() == ["compose.yaml", "etc-pihole", "web_password"]
    diff = {entry["before_header"]: entry for entry in applied["diff"]}
    assert diff[PIHOLE] == {"before_header": PIHOLE, "after_header": PIHOLE, "before": "state: absent\n",
                            "after": "state: directory\nmode: 0750\nowner: nobody\ngroup: daemon\n"}
    assert diff[PIHOLE + "/web_password"]["after"] == "(secret content changed)\n"
    assert diff[PIHOLE + "/compose.yaml"]["after"] == COMPOSE

    # 2. Second run: nothing to do.
    again = runner.run(declaration())
    assert again["changed"] is False and again["changed_paths"] == [] and again["diff"] == [], again
    assert again["paths"][PIHOLE + "/etc-pihole/seed.list"]["skipped"] is True

    # 3. A changed declaration: new secret, compose content and mode, daemon.json (backed up);
    # the seed file edited on the host stays as it is (create_only).
    host.sh("printf 'mine' > %s/etc-pihole/seed.list && chmod 0600 %s/etc-pihole/seed.list" % (PIHOLE, PIHOLE))
    new_secret = SECRET + "-2"
    changed = declaration(compose=COMPOSE + "    restart: unless-stopped\n", secret=new_secret,
                          compose_mode="0640", daemon='{"log-driver": "json-file"}')
    _predicted, applied = check_then_apply(host, runner, changed)
    assert applied["changed_paths"] == [PIHOLE + "/web_password", PIHOLE + "/compose.yaml",
                                        BASE + "/etc/docker/daemon.json"]
    assert applied["paths"][PIHOLE + "/compose.yaml"] == {
        "type": "file", "changed": True, "created": False, "content_changed": True,
        "attributes_changed": ["mode"], "skipped": False}
    assert applied["paths"][PIHOLE + "/etc-pihole/seed.list"]["skipped"] is True
    assert cat(host, PIHOLE + "/etc-pihole/seed.list") == "mine"
    assert stat(host, PIHOLE + "/etc-pihole/seed.list") == "600 root root regular file"
    assert stat(host, PIHOLE + "/compose.yaml") == "640 root root regular file"
    assert cat(host, PIHOLE + "/web_password") == new_secret
    backup = applied["paths"][BASE + "/etc/docker/daemon.json"]["backup_file"]
    assert backup.startswith(BASE + "/etc/docker/daemon.json.")
    assert cat(host, backup) == '{"log-driver": "local"}'
    assert cat(host, BASE + "/etc/docker/daemon.json") == '{"log-driver": "json-file"}'
    diff = {entry["before_header"]: entry for entry in applied["diff"]}
    assert diff[PIHOLE + "/web_password"] == {
        "before_header": PIHOLE + "/web_password", "after_header": PIHOLE + "/web_password",
        "before": "(secret content)\n", "after": "(secret content changed)\n"}
    assert diff[PIHOLE + "/compose.yaml (attributes)"]["after"] == "mode: 0640\n"

    # 4. What a user reads with -v and --diff: the diff, never the secret (old or new).
    third = SECRET + "-3"
    shown = runner.run_text(declaration(secret=third), "-v", "--diff")
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert "(secret content changed)" in shown.stdout
    for secret in (SECRET, new_secret, third):
        assert secret not in shown.stdout + shown.stderr
    assert cat(host, PIHOLE + "/web_password") == third


def test_files_refuses_bad_content_and_bad_declarations(lab):
    host, runner = lab
    host.sh("mkdir -p %s/etc/docker && printf '{}' > %s/etc/docker/daemon.json" % (BASE, BASE))
    before = snapshot(host)
    assert "%s/etc/docker/daemon.json 644 root root regular file 2" % BASE in before

    # A validator that refuses the content: the module fails naming the path, the file stays.
    bad = {"files": [{"path": BASE + "/etc/docker/daemon.json", "content": "{not json",
                      "validate": JSON_CHECK}]}
    result = runner.run(bad)
    assert result.get("failed") is True
    assert result["msg"].startswith("validate of %s/etc/docker/daemon.json failed (rc=1)" % BASE), result["msg"]
    assert "JSONDecodeError" in result["stderr"]
    assert snapshot(host) == before
    assert host.exec("ls", "-A", BASE + "/etc/docker").stdout.split() == ["daemon.json"]

    # A missing parent, an unknown owner and a directory where a file is declared: all named,
    # nothing written (not even the directory that was fine).
    result = runner.run({
        "directories": [{"path": BASE + "/new"}],
        "files": [{"path": BASE + "/missing/file", "content": "x"},
                  {"path": BASE + "/new/file", "content": "x", "owner": "no-such-user"}]})
    assert result.get("failed") is True
    assert "owner 'no-such-user' of %s/new/file does not exist on the host" % BASE in result["msg"]
    assert snapshot(host) == before
    result = runner.run({
        "directories": [{"path": BASE + "/new"}],
        "files": [{"path": BASE + "/missing/file", "content": "x"},
                  {"path": BASE + "/etc/docker", "content": "x"}]})
    assert result.get("failed") is True
    assert ("the parent directory %s/missing of %s/missing/file does not exist and is not in directories"
            % (BASE, BASE)) in result["msg"]
    assert "%s/etc/docker is a directory on the host but is declared as a file" % BASE in result["msg"]
    assert snapshot(host) == before
    assert host.exec("test", "-e", BASE + "/new", check=False).returncode == 1
