"""Unit tests of homelab.photon's guestinfo logic (module_utils/_guestinfo), without a server."""

import pytest

from ansible_collections.homelab.photon.plugins.module_utils import _guestinfo as g  # noqa: E402

HASH = "$6$homelabsalt$" + "Ab1./" * 17 + "C"
FIRST_BOOT = [
    ("govcsim", "TRUE"),
    ("guestinfo.metadata", "H4sIAAAA-metadata"),
    ("guestinfo.metadata.encoding", "gzip+base64"),
    ("guestinfo.userdata", "H4sIAAAA-" + HASH),
    ("guestinfo.userdata.encoding", "gzip+base64"),
    ("guestinfo.hostname", "photon-1"),
]
ROLE_KEYS = ["userdata", "userdata.*", "vendordata", "vendordata.*"]


class FakeVm:
    """A VM's extraConfig with a host's semantics: empty values remove, keys compare without case."""

    def __init__(self, options, keep=()):
        self.options = list(options)
        self.keep = set(keep)  # keys a broken host would ignore
        self.reconfigs = []

    def read(self):
        return list(self.options)

    def reconfigure(self, changes):
        self.reconfigs.append(changes)
        for key, value in changes:
            if key in self.keep:
                continue
            index = [k.lower() for k, dummy in self.options].index(key.lower())
            if value == "":
                del self.options[index]
            else:
                self.options[index] = (key, value)


def test_patterns_take_names_with_or_without_the_prefix_in_any_case():
    assert g.key_patterns(["userdata", "guestinfo.userdata", "GuestInfo.UserData.Encoding", "vendordata*"]) == [
        "guestinfo.userdata", "guestinfo.userdata.encoding", "guestinfo.vendordata*"]


@pytest.mark.parametrize("bad", ["", "guestinfo.", "user data", "userdata;rm", "../x", "[ab]"])
def test_patterns_refuse_what_is_not_a_key_name(bad):
    with pytest.raises(g.GuestinfoError, match="guestinfo key"):
        g.key_patterns([bad])


def test_patterns_need_one_key():
    with pytest.raises(g.GuestinfoError, match="at least one"):
        g.key_patterns([])


def test_selection_is_case_insensitive_and_never_leaves_guestinfo():
    options = [("GUESTINFO.UserData", "x"), ("guestinfo.userdata.encoding", "b64"), ("userdata", "not guestinfo"),
               ("guestinfo.userdata2", "y"), ("guestinfo.metadata", "m")]
    assert g.selected(options, g.key_patterns(["userdata", "userdata.*"])) == [
        "GUESTINFO.UserData", "guestinfo.userdata.encoding"]
    assert g.selected(options, g.key_patterns(["*"])) == [
        "GUESTINFO.UserData", "guestinfo.userdata.encoding", "guestinfo.userdata2", "guestinfo.metadata"]


def test_remove_the_first_boot_keys_then_nothing_to_do():
    vm = FakeVm(FIRST_BOOT)
    patterns = g.key_patterns(ROLE_KEYS)
    result = g.remove(vm.read, vm.reconfigure, patterns)
    assert result["changed"] is True
    assert result["removed"] == ["guestinfo.userdata", "guestinfo.userdata.encoding"]
    assert vm.reconfigs == [[("guestinfo.userdata", ""), ("guestinfo.userdata.encoding", "")]]
    assert result["guestinfo_keys"] == ["guestinfo.metadata", "guestinfo.metadata.encoding", "guestinfo.hostname"]
    assert [k for k, dummy in vm.options] == ["govcsim", "guestinfo.metadata", "guestinfo.metadata.encoding",
                                              "guestinfo.hostname"]
    again = g.remove(vm.read, vm.reconfigure, patterns)
    assert again["changed"] is False and again["removed"] == []
    assert len(vm.reconfigs) == 1  # the second run did not reconfigure


def test_check_mode_reports_and_changes_nothing():
    vm = FakeVm(FIRST_BOOT)
    result = g.remove(vm.read, vm.reconfigure, g.key_patterns(ROLE_KEYS), check_mode=True)
    assert result["changed"] is True
    assert result["removed"] == ["guestinfo.userdata", "guestinfo.userdata.encoding"]
    assert "guestinfo.userdata" not in result["guestinfo_keys"]
    assert vm.reconfigs == [] and vm.options == FIRST_BOOT


def test_diff_shows_lengths_never_values():
    result = g.remove(FakeVm(FIRST_BOOT).read, None, g.key_patterns(ROLE_KEYS), check_mode=True)
    diff = result["diff"]
    assert diff["before"]["guestinfo.userdata"] == "(%d characters)" % len("H4sIAAAA-" + HASH)
    assert "guestinfo.userdata" not in diff["after"]
    assert diff["after"]["guestinfo.metadata.encoding"] == "(11 characters)"
    assert "govcsim" not in diff["before"]  # not a guestinfo key
    assert HASH not in repr(result) and "gzip+base64" not in repr(result)
    assert g.describe("x") == "(1 character)" and g.describe(None) == "(0 characters)"


def test_a_host_that_keeps_a_key_is_an_error():
    vm = FakeVm(FIRST_BOOT, keep={"guestinfo.userdata"})
    with pytest.raises(g.GuestinfoError, match="the host kept guestinfo.userdata after the reconfiguration"):
        g.remove(vm.read, vm.reconfigure, g.key_patterns(ROLE_KEYS))


def test_no_guestinfo_at_all():
    vm = FakeVm([("govcsim", "TRUE")])
    result = g.remove(vm.read, vm.reconfigure, g.key_patterns(ROLE_KEYS))
    assert result == {"changed": False, "removed": [], "guestinfo_keys": [], "diff": {"before": {}, "after": {}}}
