"""Unit tests for plugins/module_utils/_tdnf.py, fed with what a real tdnf 3.6.0 printed.

The outputs come from tests/unit/fixtures/tdnf-transcripts/tdnf-3.6.0/transcript.json (an unedited
copy of the project's shared record ../shared/tdnf-transcripts/);
a missing transcript fails these tests.
"""

import json
import os

import pytest
from hypothesis import assume, given, settings, strategies as st

_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", ".."))

from ansible_collections.homelab.photon.plugins.module_utils import _tdnf as t  # noqa: E402

TRANSCRIPT = os.path.join(_ROOT, "tests", "unit", "fixtures", "tdnf-transcripts", "tdnf-3.6.0",
                          "transcript.json")


@pytest.fixture(scope="module")
def steps():
    with open(TRANSCRIPT) as handle:  # a missing transcript is a failure, never a skip
        data = json.load(handle)
    return {step["note"]: step for step in data}


def names(packages):
    return [t.nevra(pkg) for pkg in packages]


# -- versions ----------------------------------------------------------------------------------

def test_version_text(steps):
    assert t.parse_tdnf_version(steps["version, text"]["stdout"]) == "3.6.0"
    assert t.has_json("3.6.0") and t.has_json("3.3.2") and t.has_json("3.5.8")
    assert not t.has_json("3.1.13") and not t.has_json("2.1.2")
    assert t.parse_tdnf_version("") is None


@pytest.mark.parametrize("left,right,expected", [
    ("2.33.1", "2.20.2", 1), ("2.20.2", "2.20.2", 0), ("1.0", "1.0.1", -1), ("1.0a", "1.0", 1),
    ("1.0~rc1", "1.0", -1), ("1.0^git1", "1.0", 1), ("1.0^git1", "1.0.1", -1), ("10", "9", 1),
    ("1.ph5", "1.ph4", 1), ("2.ph5", "10.ph5", -1), ("a", "1", -1),
])
def test_rpmvercmp(left, right, expected):
    assert t.rpmvercmp(left, right) == expected
    pair = [left, right]
    pair.reverse()
    assert t.rpmvercmp(pair[0], pair[1]) == -expected


# -- specs -------------------------------------------------------------------------------------

@pytest.mark.parametrize("raw,expected", [
    ("nfs-utils", ("nfs-utils", None, None, None)),
    ("docker-compose-2.20.2", ("docker-compose", None, "2.20.2", None)),
    ("docker-compose-2.20.2-1.ph5", ("docker-compose", None, "2.20.2", "1.ph5")),
    ("docker-compose-1:2.20.2-1.ph5", ("docker-compose", "1", "2.20.2", "1.ph5")),
    ("389-ds-base", ("389-ds-base", None, None, None)),
    ("python3-pip", ("python3-pip", None, None, None)),
    ("*", ("*", None, None, None)),
])
def test_parse_spec(raw, expected):
    spec = t.parse_spec(raw)
    assert (spec.name, spec.epoch, spec.version, spec.release) == expected
    assert spec.arch is None


@pytest.mark.parametrize("raw,expected", [
    # tdnf and rpm read a trailing .ARCH (seen with tdnf 3.6.0 and rpm 4.20 in the lab).
    ("htop.noarch", ("htop", None, None, None, "noarch")),
    ("docker-compose-2.20.2-1.ph5.noarch", ("docker-compose", None, "2.20.2", "1.ph5", "noarch")),
    ("docker-compose-2.20.2.x86_64", ("docker-compose", None, "2.20.2", None, "x86_64")),
    ("docker-compose-1:2.20.2-1.ph5.aarch64", ("docker-compose", "1", "2.20.2", "1.ph5", "aarch64")),
    # Not an architecture: part of the name or release.
    ("python3-ruamel.yaml", ("python3-ruamel.yaml", None, None, None, None)),
    ("foo-1.0-1.ph5", ("foo", None, "1.0", "1.ph5", None)),
])
def test_parse_spec_with_an_arch(raw, expected):
    spec = t.parse_spec(raw)
    assert (spec.name, spec.epoch, spec.version, spec.release, spec.arch) == expected
    assert spec.raw == raw
    assert t.format_spec(spec.name, spec.version, spec.release, spec.epoch, spec.arch) == raw


def test_an_arch_decides_what_matches():
    installed = {"htop": [t.Package("htop", "0", "3.2.2", "1.ph5", "noarch", "@System")]}
    for raw in ("htop.noarch", "htop-3.2.2.noarch", "htop-3.2.2-1.ph5.noarch"):
        assert [s.raw for s in t.installed_for_absent([t.parse_spec(raw)], installed)] == [raw]
        assert t.unsatisfied_present([t.parse_spec(raw)], installed) == []
    assert t.installed_for_absent([t.parse_spec("htop.x86_64")], installed) == []
    assert t.query_names([t.parse_spec("htop.noarch"), t.parse_spec("htop")]) == ["htop"]


@pytest.mark.parametrize("raw", ["", "-y", "--nogpgcheck", "a b", "foo;rm", "x:y", "pkg-1:2:3"])
def test_parse_spec_refuses(raw):
    with pytest.raises(t.SpecError):
        t.parse_spec(raw)


_ALNUM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_name_part = st.text(alphabet=_ALNUM + "_+.", min_size=1, max_size=8).filter(lambda s: not s[0].isdigit())
_first_part = st.text(alphabet=_ALNUM + "_+", min_size=1, max_size=8)
_version = st.builds(lambda d, rest: d + rest, st.sampled_from("0123456789"),
                     st.text(alphabet=_ALNUM + "._+~^", max_size=8))
_names = st.builds(lambda first, rest: "-".join([first] + rest), _first_part, st.lists(_name_part, max_size=3))


@settings(max_examples=300, deadline=None)
@given(name=_names, version=st.none() | _version, release=_version, epoch=st.none() | st.integers(0, 99).map(str),
       with_release=st.booleans())
def test_parse_spec_roundtrip(name, version, release, epoch, with_release):
    """parse_spec(format_spec(...)) gives back what was formatted, for every name whose dash
    parts after the first do not begin with a digit."""
    if version is None:
        epoch = None
    release = release if (version is not None and with_release) else None
    raw = t.format_spec(name, version, release, epoch)
    assume(not t._ARCH_SUFFIX_RE.search(raw))  # a trailing .noarch etc. is an architecture
    spec = t.parse_spec(raw)
    assert (spec.name, spec.version, spec.release, spec.epoch) == (name, version, release, epoch)
    assert spec.raw == raw


@settings(max_examples=200, deadline=None)
@given(a=_version, b=_version, c=_version)
def test_rpmvercmp_is_an_order(a, b, c):
    assert t.rpmvercmp(a, a) == 0
    assert t.rpmvercmp(a, b) == -t.rpmvercmp(b, a)
    if t.rpmvercmp(a, b) <= 0 and t.rpmvercmp(b, c) <= 0:
        assert t.rpmvercmp(a, c) <= 0


def test_spec_matches():
    installed = t.Package("docker-compose", "0", "2.20.2", "1.ph5", "noarch", "@System")
    assert t.spec_matches(t.parse_spec("docker-compose"), installed)
    assert t.spec_matches(t.parse_spec("docker-compose-2.20.2"), installed)
    assert t.spec_matches(t.parse_spec("docker-compose-2.20.2-1.ph5"), installed)
    assert t.spec_matches(t.parse_spec("docker-compose-0:2.20.2-1.ph5"), installed)
    assert not t.spec_matches(t.parse_spec("docker-compose-2.33.1"), installed)
    assert not t.spec_matches(t.parse_spec("docker-compose-2.20.2-2.ph5"), installed)
    assert not t.spec_matches(t.parse_spec("docker-compose-1:2.20.2"), installed)
    assert not t.spec_matches(t.parse_spec("htop"), installed)


# -- argv ------------------------------------------------------------------------------------

def test_argv_order_matches_the_transcript(steps):
    """Option order is fixed; these are argv lists of real tdnf calls."""
    assert t.tdnf_argv("tdnf", "install", ["wget"], json_output=True, assume="no", enablerepo=["photon-extras"]) \
        == steps["dry run install with --enablerepo, json"]["argv"]
    assert t.tdnf_argv("tdnf", "install", ["htop"], assume="yes", disablerepo=["broken"]) \
        == steps["install while an enabled repo is unreachable, but it is disabled on the command line"]["argv"]
    assert t.tdnf_argv("tdnf", ["repolist", "all"], json_output=True) == steps["repolist all, json"]["argv"]
    assert t.tdnf_argv("tdnf", ["list", "available"]) == steps["list available, text"]["argv"]
    assert t.rpm_query_argv("rpm", ["nfs-utils", "rpcbind", "htop"]) == steps["rpm query of installed packages"]["argv"]


def test_argv_all_options():
    assert t.tdnf_argv("/usr/bin/tdnf", "upgrade", ["a", "b"], assume="yes", enablerepo=["x"], disablerepo=["y", "z"],
                       disable_gpg_check=True, exclude=["k1", "k2"], releasever="5.0", security=True) == [
        "/usr/bin/tdnf", "-y", "--enablerepo=x", "--disablerepo=y", "--disablerepo=z", "--nogpgcheck",
        "--exclude=k1,k2", "--releasever=5.0", "--security", "upgrade", "a", "b"]


# -- parsing ---------------------------------------------------------------------------------

def test_rpm_query(steps):
    installed = t.parse_rpm_query(steps["rpm query of installed packages"]["stdout"])
    assert sorted(installed) == ["nfs-utils", "rpcbind"]
    assert names(installed["nfs-utils"]) == ["nfs-utils-2.5.4-1.ph5.noarch"]


def test_errors_are_read_with_their_real_number(steps):
    for note, number in [
        ("install of an unknown package, text", 1011), ("install of an unknown package, json", 1011),
        ("dry run install, text (no json)", 1032), ("install without -y and no stdin", 1033),
        ("makecache with an unreachable enabled repo (no skip_if_unavailable)", 1238),
        ("erase a package that is not installed, json", 1011),
    ]:
        step = steps[note]
        error = t.parse_tdnf_error(step["rc"], step["stdout"], step["stderr"])
        assert error.number == number, note
        assert error.number % 256 == step["rc"], note
    ok = steps["install with dependency, text"]
    assert t.parse_tdnf_error(ok["rc"], ok["stdout"], ok["stderr"]) is None


def test_not_found_and_unreachable(steps):
    assert t.parse_not_found(steps["install of one known and one unknown package, text"]["stderr"]) == ["no-such-package"]
    assert t.parse_not_found(steps["install from a disabled repo without enabling it, text"]["stderr"]) == ["wget"]
    assert t.parse_unreachable_repos(steps["install while an enabled repo is unreachable, text"]["stderr"]) == ["Unreachable repo"]
    message = t.unreachable_repo_message(["Unreachable repo"], t.TdnfError(1238, "Couldn't read a file:// file"))
    assert "'Unreachable repo'" in message and "disablerepo" in message and "skip_if_unavailable" in message


def test_json_previews(steps):
    install = t.parse_json_preview(steps["dry run install with dependency, json"]["stdout"])
    assert names(install.install) == ["rpcbind-1.2.6-1.ph5.noarch", "nfs-utils-2.5.4-1.ph5.noarch"]
    upgrade = t.parse_json_preview(
        steps["dry run plain install of an installed package with a newer version available, json"]["stdout"])
    assert names(upgrade.upgrade) == ["docker-compose-2.33.1-1.ph5.noarch"] and not upgrade.install
    remove = t.parse_json_preview(steps["dry run erase with dependent package, json"]["stdout"])
    assert names(remove.remove) == ["rpcbind-1.2.6-1.ph5.noarch", "nfs-utils-2.5.4-1.ph5.noarch"]
    assert t.transaction_is_empty(t.parse_json_preview(steps["dry run install when already installed, json"]["stdout"]))


def test_text_transactions(steps):
    assert names(t.parse_text_transaction(steps["install with dependency, text"]["stdout"]).install) == [
        "rpcbind-1.2.6-1.ph5.noarch", "nfs-utils-2.5.4-1.ph5.noarch"]
    upgrade = t.parse_text_transaction(steps["upgrade, text"]["stdout"])
    assert names(upgrade.upgrade) == ["docker-compose-2.33.1-1.ph5.noarch"] and not upgrade.remove
    assert names(t.parse_text_transaction(steps["erase, text"]["stdout"]).remove) == ["wget-1.21.4-2.ph5.noarch"]
    refreshed = t.parse_text_transaction(steps["install an unsigned package from a repo with gpgcheck=1, text"]["stdout"])
    assert names(refreshed.install) == ["rpcbind-1.2.6-1.ph5.noarch"]
    assert t.transaction_is_empty(t.parse_text_transaction(steps["upgrade again when at latest, text"]["stdout"]))
    # The text dry run (rc 8) prints the same table: parsed the same way.
    assert names(t.parse_text_transaction(steps["dry run install, text (no json)"]["stdout"]).install) == [
        "rpcbind-1.2.6-1.ph5.noarch", "nfs-utils-2.5.4-1.ph5.noarch"]


def test_lists_and_repolists(steps):
    available = t.parse_list_text(steps["list available, text"]["stdout"])
    assert len(available) == 5
    assert t.nevra(t.newest_available(available)["docker-compose"]) == "docker-compose-2.33.1-1.ph5.noarch"
    assert t.parse_repolist_json(steps["repolist all, json"]["stdout"]) == [
        ("photon-extras", "VMware Photon Extras 5.0 (x86_64)", False),
        ("photon-updates", "VMware Photon Linux 5.0 (x86_64) Updates", True)]
    assert t.parse_repolist_text(steps["repolist, text"]["stdout"]) == [
        ("photon-updates", "VMware Photon Linux 5.0 (x86_64) Updates", True)]


# -- decisions -------------------------------------------------------------------------------

def _installed(*evrs):
    result = {}
    for name, evr in evrs:
        result.setdefault(name, []).append(t.package_from_evr(name, "noarch", evr, "@System"))
    return result


def test_present_never_passes_an_installed_package():
    installed = _installed(("docker-compose", "2.20.2-1.ph5"))
    specs = [t.parse_spec("docker-compose"), t.parse_spec("htop"), t.parse_spec("docker-compose-2.20.2")]
    assert [s.raw for s in t.unsatisfied_present(specs, installed)] == ["htop"]
    assert [s.raw for s in t.unsatisfied_present([t.parse_spec("docker-compose-2.33.1")], installed)] == [
        "docker-compose-2.33.1"]
    assert [s.raw for s in t.installed_for_absent(specs, installed)] == ["docker-compose", "docker-compose-2.20.2"]


def test_predict_from_lists(steps):
    available = t.parse_list_text(steps["list available, text"]["stdout"])
    installed = _installed(("docker-compose", "2.20.2-1.ph5"))
    specs = [t.parse_spec("docker-compose"), t.parse_spec("htop")]
    present, missing = t.predict_from_lists("present", specs, installed, available)
    assert names(present.install) == ["htop-3.2.2-1.ph5.noarch"] and not present.upgrade and not missing
    latest, missing = t.predict_from_lists("latest", specs, installed, available)
    assert names(latest.upgrade) == ["docker-compose-2.33.1-1.ph5.noarch"]
    current = _installed(("docker-compose", "2.33.1-1.ph5"))
    latest, missing = t.predict_from_lists("latest", [specs[0]], current, available)
    assert t.transaction_is_empty(latest) and not missing
    down, missing = t.predict_from_lists("present", [t.parse_spec("docker-compose-2.20.2")], current, available)
    assert names(down.downgrade) == ["docker-compose-2.20.2-1.ph5.noarch"]
    unknown, missing = t.predict_from_lists("present", [t.parse_spec("no-such-package")], {}, available)
    assert missing == ["no-such-package"] and t.transaction_is_empty(unknown)


def test_diff_lines():
    installed = _installed(("docker-compose", "2.20.2-1.ph5"), ("wget", "1.21.4-2.ph5"))
    transaction = t.empty_transaction()
    transaction.upgrade.append(t.package_from_evr("docker-compose", "noarch", "2.33.1-1.ph5"))
    transaction.remove.append(t.package_from_evr("wget", "noarch", "1.21.4-2.ph5"))
    transaction.install.append(t.package_from_evr("htop", "noarch", "3.2.2-1.ph5"))
    before, after = t.diff_lines(installed, transaction)
    assert before == ["docker-compose-2.20.2-1.ph5", "wget-1.21.4-2.ph5"]
    assert after == ["docker-compose-2.33.1-1.ph5", "htop-3.2.2-1.ph5"]


def test_messages():
    message = t.not_found_message(["wget", "no-such-package"], {"wget": "photon-extras"})
    assert "no-such-package" in message and "enablerepo: [photon-extras]" in message
    assert "skip_if_unavailable" not in message
    skipped = t.not_found_message(["nfs-utils"], {}, ["Photon 4.0", "Photon 4.0 Updates"])
    assert "no package matches nfs-utils" in skipped
    assert "could not read and skipped (skip_if_unavailable) repositories 'Photon 4.0', 'Photon 4.0 Updates'." in skipped
    assert "skipped (skip_if_unavailable) repository 'A'." in t.not_found_message(["x"], {}, ["A"])
    assert t.summary(t.empty_transaction()) == "nothing to do"
    one = t.unreachable_repo_message(["A"], t.TdnfError(1238, "Could not read a file:// file"))
    two = t.unreachable_repo_message(["A", "B"], None)
    assert one.startswith("tdnf could not read repository 'A' (Error(1238)") and "add its repo id to disablerepo" in one
    assert two.startswith("tdnf could not read repositories 'A', 'B'. ") and "add their repo ids to disablerepo" in two
    named = t.unreachable_repo_message(["A", "B"], None, {"A": "a", "B": "b", "C": "c"})
    assert named.startswith("tdnf could not read repositories 'A' (repo id a), 'B' (repo id b). Fix their baseurl")
    assert "add disablerepo: [a, b] to this task" in named and "their .repo files" in named


# What tdnf 3.6.0 printed in the lab (tests/integration/tdnf/) for an unknown package while its
# repositories (skip_if_unavailable=True) could not be read: one Error(1238) per skipped repository,
# then the command's own error, 1011 (exit code 243).
_SKIPPED_ERR = ("Error(1238) : Could not read a file:// file\n"
                "Error: Failed to synchronize cache for repo 'VMware Photon Linux 4.0 (x86_64)'\n"
                "Error(1238) : Could not read a file:// file\n"
                "Error: Failed to synchronize cache for repo 'VMware Photon Linux 4.0 (x86_64) Updates'\n"
                "nfs-utils package not found or not installed\n")


def test_the_commands_own_error_wins_over_skipped_repositories():
    json_run = t.parse_tdnf_error(243, '{"Error":1011,"ErrorMessage":"No matching packages"}', _SKIPPED_ERR)
    assert json_run == t.TdnfError(1011, "No matching packages")
    text_run = t.parse_tdnf_error(243, "", _SKIPPED_ERR + "Error(1011) : No matching packages\n")
    assert text_run == t.TdnfError(1011, "No matching packages")
    # The repositories' read errors are still found, as the hint they are.
    assert t.parse_unreachable_repos(_SKIPPED_ERR) == [
        "VMware Photon Linux 4.0 (x86_64)", "VMware Photon Linux 4.0 (x86_64) Updates"]
    # A run that succeeded while skipping repositories has no error.
    assert t.parse_tdnf_error(0, "", "Error(1238) : Could not read a file:// file\n") is None
    # No number matches the exit code: the JSON one, else the last line.
    assert t.parse_tdnf_error(1, "", "Error(1238) : a\nError(1011) : b\n") == t.TdnfError(1011, "b")
    assert t.parse_tdnf_error(1, "", "") == t.TdnfError(None, "")


def test_rpm_query_exit_codes(steps):
    step = steps["rpm query of installed packages"]
    assert not t.rpm_query_failed(step["rc"], step["stdout"], step["stderr"], step["argv"][4:])
    assert t.rpm_query_failed(1, "", "error: cannot open Packages database\n", ["htop"])
    assert t.rpm_query_failed(2, "package htop is not installed\n", "", ["htop", "x"])
    # rpm 4.20 with an unreadable database: "not installed" AND an error (the lab test shows it).
    assert t.rpm_query_failed(1, "package htop is not installed\n",
                              "error: cannot open Packages database in /var/lib/rpm\n", ["htop"])
    assert t.rpm_query_argv("rpm", []) == ["rpm", "-qa", "--qf", t.RPM_QUERY_FORMAT]


# -- changes (the report of homelab.photon.update) ------------------------------------------------

def test_package_changes_before_and_after():
    installed = {
        "curl": [t.Package("curl", "0", "8.7.1", "1.ph5", "noarch", "@System")],
        "linux": [t.Package("linux", "0", "6.1.75", "1.ph5", "noarch", "@System"),
                  t.Package("linux", "0", "6.1.83", "1.ph5", "noarch", "@System")],
        "tzdata": [t.Package("tzdata", "0", "2025a", "1.ph5", "noarch", "@System")],
        "wget": [t.Package("wget", "0", "1.21.4", "2.ph5", "noarch", "@System")],
    }
    done = t.empty_transaction()
    done.upgrade.extend([t.package_from_evr("linux", "noarch", "6.1.90-1.ph5"),
                         t.package_from_evr("curl", "noarch", "8.7.1-2.ph5"),
                         t.package_from_evr("openssl", "x86_64", "3.0.15-1.ph5")])
    done.downgrade.append(t.package_from_evr("tzdata", "noarch", "2024a-1.ph5"))
    done.install.append(t.package_from_evr("htop", "noarch", "1:3.2.2-1.ph5"))
    done.remove.append(t.package_from_evr("wget", "noarch", "1.21.4-2.ph5"))
    done.reinstall.append(t.package_from_evr("rpcbind", "noarch", "1.2.6-1.ph5"))
    assert t.package_changes(installed, done) == [
        {"name": "curl", "arch": "noarch", "before": "8.7.1-1.ph5", "after": "8.7.1-2.ph5"},
        {"name": "htop", "arch": "noarch", "before": None, "after": "1:3.2.2-1.ph5"},
        # the newest installed one when several are (an install-only kernel)
        {"name": "linux", "arch": "noarch", "before": "6.1.83-1.ph5", "after": "6.1.90-1.ph5"},
        # not in the query: unknown rather than wrong
        {"name": "openssl", "arch": "x86_64", "before": None, "after": "3.0.15-1.ph5"},
        {"name": "rpcbind", "arch": "noarch", "before": "1.2.6-1.ph5", "after": "1.2.6-1.ph5"},
        {"name": "tzdata", "arch": "noarch", "before": "2025a-1.ph5", "after": "2024a-1.ph5"},
        {"name": "wget", "arch": "noarch", "before": "1.21.4-2.ph5", "after": None},
    ]
    assert t.package_changes({}, t.empty_transaction()) == []
