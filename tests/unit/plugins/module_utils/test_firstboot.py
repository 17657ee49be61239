"""Unit tests for plugins/module_utils/_firstboot.py (inputs of the role homelab.photon.vm).

Public keys are made by the real ssh-keygen, so the parser is checked against what OpenSSH writes.
"""

import base64
import os
import subprocess

import pytest
from hypothesis import given, settings, strategies as st

# The collection is importable through the link tree `make collection` writes (tests/output/collections).

from ansible_collections.homelab.photon.plugins.module_utils import _firstboot as fb  # noqa: E402


def keygen(tmp_path, *args):
    path = os.path.join(str(tmp_path), "key%d" % len(os.listdir(str(tmp_path))))
    subprocess.run(["ssh-keygen", "-q", "-N", "", "-C", "me@lab", "-f", path] + list(args), check=True)
    with open(path + ".pub") as handle:
        return handle.read().strip()


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("keys")
    return {
        "ed25519": keygen(tmp, "-t", "ed25519"),
        "rsa3072": keygen(tmp, "-t", "rsa", "-b", "3072"),
        "rsa1024": keygen(tmp, "-t", "rsa", "-b", "1024"),
        "ecdsa384": keygen(tmp, "-t", "ecdsa", "-b", "384"),
    }


GOOD_HASH = "$6$rounds=5000$saltsalt$" + "a" * 86


def base(keys, **over):
    params = {"name": "photon1", "hostname": "photon1", "ova_src": "/srv/photon.ova", "ova_checksum": "",
              "ssh_public_key": keys["ed25519"], "root_password_hash": ""}
    params.update(over)
    return params


class TestPublicKey:
    def test_real_keys_parse(self, keys):
        assert fb.parse_ssh_public_key(keys["ed25519"]) == {"type": "ssh-ed25519", "comment": "me@lab"}
        assert fb.parse_ssh_public_key(keys["rsa3072"])["bits"] == 3072
        assert fb.parse_ssh_public_key(keys["ecdsa384"])["type"] == "ecdsa-sha2-nistp384"
        for key in keys.values():
            assert fb.parse_ssh_public_key(key + "\n")

    def test_key_without_comment(self, keys):
        assert fb.parse_ssh_public_key(" ".join(keys["ed25519"].split()[:2]))["comment"] == ""

    def test_small_rsa_refused(self, keys):
        assert "1024 bits" in fb.ssh_public_key_error(keys["rsa1024"])
        assert fb.ssh_public_key_error(keys["rsa3072"]) == ""

    @pytest.mark.parametrize("mangle, reason", [
        (lambda k: "", "empty"),
        (lambda k: k.split()[0], "no base64 body"),
        (lambda k: "ssh-foo " + k.split()[1], "unknown key type"),
        (lambda k: k.replace("AAAA", "A!AA", 1), "not valid base64"),
        (lambda k: k.split()[0] + " " + k.split()[1][:30], "not valid base64"),
        (lambda k: k + "\n" + k, "single line"),
        (lambda k: "-----BEGIN OPENSSH PRIVATE KEY-----", "private key"),
    ])
    def test_malformed(self, keys, mangle, reason):
        with pytest.raises(ValueError, match=reason):
            fb.parse_ssh_public_key(mangle(keys["ed25519"]))

    def test_type_does_not_match_body(self, keys):
        body = keys["ed25519"].split()[1]
        with pytest.raises(ValueError, match="does not belong to a ssh-rsa key"):
            fb.parse_ssh_public_key("ssh-rsa " + body)

    def test_truncated_body(self, keys):
        blob = base64.b64decode(keys["rsa3072"].split()[1])
        cut = base64.b64encode(blob[:40]).decode()
        with pytest.raises(ValueError, match="truncated"):
            fb.parse_ssh_public_key("ssh-rsa " + cut)

    @settings(max_examples=300, deadline=None)
    @given(st.text(max_size=200))
    def test_random_text_never_crashes(self, text):
        assert isinstance(fb.ssh_public_key_error(text), str)

    @settings(max_examples=200, deadline=None)
    @given(st.binary(max_size=120), st.sampled_from(fb.SSH_KEY_TYPES))
    def test_random_body_accepted_only_if_it_names_the_type(self, blob, kind):
        line = kind + " " + base64.b64encode(blob).decode()
        error = fb.ssh_public_key_error(line)
        prefix = len(kind).to_bytes(4, "big") + kind.encode()
        if not blob.startswith(prefix):
            assert error


class TestChecksum:
    def test_recipe_md5(self):
        assert fb.parse_checksum("md5:BA52ABD88C5B22CD4498CF0E88457F28") == ("md5", "ba52abd88c5b22cd4498cf0e88457f28")

    @pytest.mark.parametrize("text", ["ba52abd88c5b22cd4498cf0e88457f28", "md5:123", "crc32:deadbeef",
                                      "sha256:" + "g" * 64, "", None])
    def test_bad(self, text):
        with pytest.raises(ValueError):
            fb.parse_checksum(text)


class TestPasswordHash:
    @pytest.mark.parametrize("value", [GOOD_HASH, "$y$j9T$abcdefghijklmnop$" + "b" * 43, "$1$salt$" + "c" * 22])
    def test_good(self, value):
        assert fb.password_hash_error(value) == ""

    @pytest.mark.parametrize("value, reason", [("changeme", "plain password"), ("!", "locked marker"),
                                               ("*", "locked marker"), ("$6$salt with space$x", "crypt"),
                                               ("$6$salt:x$y", "crypt"), ("", "empty")])
    def test_bad(self, value, reason):
        error = fb.password_hash_error(value)
        assert reason in error
        if value not in ("", "!", "*"):
            assert value not in error


class TestNetwork:
    def test_full(self):
        net = fb.parse_static_network({"address": "192.168.0.235/24", "gateway": "192.168.0.1",
                                       "dns": ["192.168.0.100"], "domains": ["lan"]})
        assert net == {"address": "192.168.0.235/24", "host": "192.168.0.235", "prefix": 24,
                       "gateway": "192.168.0.1", "dns": ["192.168.0.100"], "domains": ["lan"], "interface": "eth0"}

    def test_single_dns_string(self):
        assert fb.parse_static_network({"address": "10.0.0.2/8", "dns": "10.0.0.1"})["dns"] == ["10.0.0.1"]

    @pytest.mark.parametrize("net, reason", [
        ({}, "vm_network.address is required"),
        ({"address": "192.168.0.235"}, "vm_network.address: '192.168.0.235' has no prefix length"),
        ({"address": "192.168.0.300/24"}, "vm_network.address: '192.168.0.300/24' is not an IPv4 address with a prefix"),
        ({"address": "192.168.0.235/33"}, "is not an IPv4 address with a prefix"),
        ({"address": "fd00::5/64"}, "is an IPv6 address: only IPv4 addresses are taken here"),
        ({"address": "192.168.0.0/24"}, "is the network address of 192.168.0.0/24"),
        ({"address": "192.168.0.255/24"}, "is the broadcast address of 192.168.0.0/24"),
        ({"address": "192.168.0.235/24", "gateway": "192.168.1.1"},
         r"vm_network.gateway: '192.168.1.1' is not in the subnet of any address \(192.168.0.0/24\)"),
        ({"address": "192.168.0.235/24", "gateway": "192.168.0.235"}, "is the host's own address"),
        ({"address": "192.168.0.235", "gateway": "gw"}, "vm_network.gateway: 'gw' is not an IPv4 address"),
        ({"address": "192.168.0.235/24", "dns": ["resolver"]}, "vm_network.dns: 'resolver' is not an IP address"),
        ({"address": "192.168.0.235/24", "dns": ["10.0.0.1", "10.0.0.1"]}, "vm_network.dns: '10.0.0.1' is listed twice"),
        ({"address": "192.168.0.235/24", "gw": "192.168.0.1"}, "unknown keys"),
        ({"address": "192.168.0.235/24", "interface": "eth0; rm"}, "interface"),
        ("192.168.0.235/24", "dictionary"),
    ])
    def test_bad(self, net, reason):
        with pytest.raises(ValueError, match=reason):
            fb.parse_static_network(net)


class TestFirstbootErrors:
    def test_all_good(self, keys):
        assert fb.firstboot_errors(base(keys)) == []
        assert fb.firstboot_errors(base(keys, ssh_public_key="", root_password_hash=GOOD_HASH)) == []

    def test_no_key_no_hash(self, keys):
        errors = fb.firstboot_errors(base(keys, ssh_public_key=""))
        assert len(errors) == 1 and "vm_ssh_public_key" in errors[0] and "vm_root_password_hash" in errors[0]

    def test_malformed_key(self, keys):
        errors = fb.firstboot_errors(base(keys, ssh_public_key=keys["ed25519"][:-20]))
        assert errors and errors[0].startswith("vm_ssh_public_key is not an OpenSSH public key")

    def test_url_needs_checksum(self, keys):
        errors = fb.firstboot_errors(base(keys, ova_src="https://example.invalid/photon.ova"))
        assert errors == [e for e in errors if "vm_ova_checksum is required" in e] and errors
        assert fb.firstboot_errors(base(keys, ova_src="https://example.invalid/photon.ova",
                                        ova_checksum="md5:ba52abd88c5b22cd4498cf0e88457f28")) == []

    def test_hash_never_echoed(self, keys):
        secret = "$6$this is:not$valid"
        errors = fb.firstboot_errors(base(keys, root_password_hash=secret, admin_user="ops", admin_password_hash=secret))
        assert len(errors) == 2
        assert not any(secret in e for e in errors)

    def test_admin_user(self, keys):
        assert fb.firstboot_errors(base(keys, admin_user="ops", admin_ssh_public_key=keys["ecdsa384"])) == []
        assert "vm_admin_user" in fb.firstboot_errors(base(keys, admin_user="root"))[0]
        assert "vm_admin_user" in fb.firstboot_errors(base(keys, admin_user="Bad User"))[0]
        assert "vm_admin_ssh_public_key" in fb.firstboot_errors(base(keys, admin_user="ops", admin_ssh_public_key="x"))[0]

    def test_every_problem_reported(self, keys):
        errors = fb.firstboot_errors({"hostname": "-bad-", "ova_src": "", "ova_checksum": "md5:1",
                                      "ssh_public_key": "", "root_password_hash": "",
                                      "network": {"address": "10.0.0.1"}})
        assert len(errors) == 6, errors

    @pytest.mark.parametrize("name", ["photon1", "photon-1.lan", "a" * 63])
    def test_hostnames(self, keys, name):
        assert fb.firstboot_errors(base(keys, hostname=name)) == []

    @pytest.mark.parametrize("name", ["", "-x", "x_y", "a" * 64, "a..b"])
    def test_bad_hostnames(self, keys, name):
        assert fb.firstboot_errors(base(keys, hostname=name))[0].startswith("vm_hostname")
