# -*- coding: utf-8 -*-
"""Unit tests of the pure helpers of homelab.photon.resolved (plugins/module_utils/_resolved.py).

The ss and /proc/net samples were captured on the lab host (Debian 13, systemd 257) with the
stub on, and with Docker publishing port 53.
"""

import os

import pytest

from ansible_collections.homelab.photon.plugins.module_utils import _resolved as r  # noqa: E402

SS_STUB = """\
udp UNCONN 0      0         127.0.0.54:53    0.0.0.0:* users:(("systemd-resolve",pid=93,fd=19))
udp UNCONN 0      0      127.0.0.53%lo:53    0.0.0.0:* users:(("systemd-resolve",pid=93,fd=17))
udp UNCONN 0      0            0.0.0.0:111   0.0.0.0:* users:(("rpcbind",pid=82,fd=5),("systemd",pid=1,fd=35))
udp UNCONN 0      0            0.0.0.0:5355  0.0.0.0:* users:(("systemd-resolve",pid=93,fd=11))
udp UNCONN 0      0         127.0.0.11:42377 0.0.0.0:*
udp UNCONN 0      0               [::]:5355     [::]:* users:(("systemd-resolve",pid=93,fd=24))
tcp LISTEN 0      128          0.0.0.0:22    0.0.0.0:* users:(("sshd",pid=124,fd=6))
tcp LISTEN 0      4096      127.0.0.11:40059 0.0.0.0:*
tcp LISTEN 0      4096   127.0.0.53%lo:53    0.0.0.0:* users:(("systemd-resolve",pid=93,fd=18))
tcp LISTEN 0      4096      127.0.0.54:53    0.0.0.0:* users:(("systemd-resolve",pid=93,fd=20))
tcp LISTEN 0      128             [::]:22       [::]:* users:(("sshd",pid=124,fd=7))
"""

SS_DOCKER = """\
udp UNCONN 0      0            0.0.0.0:53    0.0.0.0:* users:(("docker-proxy",pid=812,fd=7))
udp UNCONN 0      0               [::]:53       [::]:* users:(("docker-proxy",pid=820,fd=7))
tcp LISTEN 0      4096         0.0.0.0:53    0.0.0.0:* users:(("docker-proxy",pid=799,fd=7))
tcp LISTEN 0      4096            [::]:53       [::]:* users:(("docker-proxy",pid=806,fd=7))
udp UNCONN 0      0      [fe80::1]%eth0:53      [::]:*
tcp LISTEN 0      4096               *:5353        *:* users:(("a \\"quoted\\" name",pid=5,fd=3))
"""

PROC_UDP = """\
   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
 2300: 3600007F:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000   996        0 81925 2 000000006468fc02 0
 2300: 3500007F:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000   996        0 81923 2 00000000f459402b 0
 2358: 00000000:006F 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 68196 2 000000003eb78985 0
11856: 0B00007F:A589 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 68696 2 0000000006ebe7df 0
 9999: 3500007F:0035 0100007F:1234 01 00000000:00000000 00:00000000 00000000     0        0 77777 2 0000000006ebe7df 0
"""

# /proc/net/tcp6 as read on a lab host (its lines are longer than the style allows here).
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "proc_net_tcp6.txt")) as _handle:
    PROC_TCP6 = _handle.read()

UPLINK = """\
# This is /run/systemd/resolve/resolv.conf managed by man:systemd-resolved(8).
# Do not edit.
nameserver 127.0.0.11
nameserver 192.168.0.1
search .
"""


def holder(proto, address, pid, process):
    return {"proto": proto, "address": address, "pid": pid, "process": process}


RESOLVED_HOLDERS = [
    holder("tcp", "127.0.0.53", 93, "systemd-resolve"),
    holder("tcp", "127.0.0.54", 93, "systemd-resolve"),
    holder("udp", "127.0.0.53", 93, "systemd-resolve"),
    holder("udp", "127.0.0.54", 93, "systemd-resolve"),
]


# ----------------------------------------------------------------------------- sockets

def test_parse_ss_stub_keeps_only_port_53_holders():
    assert r.parse_ss(SS_STUB) == RESOLVED_HOLDERS


def test_parse_ss_docker_proxy_ipv6_and_unknown_owner():
    assert r.parse_ss(SS_DOCKER) == [
        holder("tcp", "0.0.0.0", 799, "docker-proxy"),
        holder("tcp", "::", 806, "docker-proxy"),
        holder("udp", "0.0.0.0", 812, "docker-proxy"),
        holder("udp", "::", 820, "docker-proxy"),
        holder("udp", "fe80::1", None, None),
    ]


def test_parse_ss_other_port_and_escaped_process_name():
    assert r.parse_ss(SS_DOCKER, port=5353) == [holder("tcp", "*", 5, 'a \\"quoted\\" name')]


def test_parse_ss_one_socket_shared_by_two_processes():
    text = 'udp UNCONN 0 0 0.0.0.0:53 0.0.0.0:* users:(("dnsmasq",pid=7,fd=4),("dnsmasq",pid=8,fd=4))\n'
    assert r.parse_ss(text) == [holder("udp", "0.0.0.0", 7, "dnsmasq"),
                                holder("udp", "0.0.0.0", 8, "dnsmasq")]


def test_parse_ss_skips_the_header_of_old_iproute2():
    header = "Netid State  Recv-Q Send-Q Local Address:Port  Peer Address:Port Process\n"
    assert r.parse_ss(header + SS_STUB) == RESOLVED_HOLDERS


def test_parse_ss_ignores_garbage_and_empty():
    assert r.parse_ss("") == []
    assert r.parse_ss("State Recv-Q\nnonsense\nraw UNCONN 0 0 *:53 *:*\n") == []


@pytest.mark.parametrize("text,expected", [
    ("127.0.0.53%lo:53", ("127.0.0.53", 53)),
    ("[::]:53", ("::", 53)),
    ("[fe80::1]%eth0:53", ("fe80::1", 53)),
    ("*:53", ("*", 53)),
    ("[::ffff:10.0.0.1]:5353", ("::ffff:10.0.0.1", 5353)),
    ("nonsense", (None, None)),
    ("1.2.3.4:*", (None, None)),
])
def test_split_host_port(text, expected):
    assert r.split_host_port(text) == expected


def test_parse_proc_net_udp4_unconnected_only():
    assert r.parse_proc_net(PROC_UDP, "udp") == [("127.0.0.54", 81925), ("127.0.0.53", 81923)]


def test_parse_proc_net_tcp6_listen_only():
    assert r.parse_proc_net(PROC_TCP6, "tcp") == [("::", 68199), ("::1", 68200)]


def test_holders_from_proc_joins_owners():
    tables = {"udp": r.parse_proc_net(PROC_UDP, "udp"), "tcp": r.parse_proc_net(PROC_TCP6, "tcp")}
    owners = {81925: [(93, "systemd-resolve")], 81923: [(93, "systemd-resolve")],
              68199: [(5, "dnsmasq"), (6, "dnsmasq")]}
    assert r.holders_from_proc(tables, owners) == [
        holder("tcp", "::", 5, "dnsmasq"),
        holder("tcp", "::", 6, "dnsmasq"),
        holder("tcp", "::1", None, None),
        holder("udp", "127.0.0.53", 93, "systemd-resolve"),
        holder("udp", "127.0.0.54", 93, "systemd-resolve"),
    ]


def test_stub_listening():
    assert r.stub_listening(RESOLVED_HOLDERS)
    assert not r.stub_listening(r.parse_ss(SS_DOCKER))
    assert not r.stub_listening([holder("udp", "127.0.0.54", 93, "systemd-resolve")])


def test_predict_holders_no_stub_drops_resolved_keeps_others():
    current = RESOLVED_HOLDERS + [holder("tcp", "10.0.0.2", 9, "named")]
    for mode in ("no_stub", "disabled"):
        assert r.predict_holders(mode, current, True, 257) == [holder("tcp", "10.0.0.2", 9, "named")]


def test_predict_holders_stub_started():
    predicted = r.predict_holders("stub", [], True, 257)
    assert predicted == [dict(h, pid=None) for h in RESOLVED_HOLDERS]
    old = r.predict_holders("stub", [], True, 239)
    assert old == [holder("tcp", "127.0.0.53", None, "systemd-resolve"),
                   holder("udp", "127.0.0.53", None, "systemd-resolve")]


def test_predict_holders_stub_untouched_keeps_pids():
    assert r.predict_holders("stub", RESOLVED_HOLDERS, False, 257) == RESOLVED_HOLDERS


# ----------------------------------------------------------------------------- validation

def params(**kwargs):
    base = {"mode": "no_stub", "dns": None, "fallback_dns": None, "domains": None,
            "drop_in": "homelab.conf"}
    base.update(kwargs)
    return base


@pytest.mark.parametrize("entry,expected", [
    ("192.168.0.1", ("192.168.0.1", None, None, None)),
    ("192.168.0.1:5353", ("192.168.0.1", 5353, None, None)),
    ("1.1.1.1#cloudflare-dns.com", ("1.1.1.1", None, None, "cloudflare-dns.com")),
    ("192.168.0.1%eth0", ("192.168.0.1", None, "eth0", None)),
    ("2001:db8::1", ("2001:db8::1", None, None, None)),
    ("[2001:db8::1]:53", ("2001:db8::1", 53, None, None)),
    ("[fe80::1]:53%eth0#dns.example", ("fe80::1", 53, "eth0", "dns.example")),
    ("fe80::1%eth0", ("fe80::1", None, "eth0", None)),
    ("[2001:DB8::1]", ("2001:db8::1", None, None, None)),
])
def test_parse_server(entry, expected):
    server = r.parse_server(entry)
    assert (server["address"], server["port"], server["interface"], server["name"]) == expected


@pytest.mark.parametrize("entry", [
    "", " ", "1.2.3", "1.2.3.4:0", "1.2.3.4:99999", "1.2.3.4:x", "dns.example", "[::1",
    "[::1]x", "1.2.3.4 5.6.7.8", "1.2.3.4#", "1.2.3.4%", "1.2.3.4%a/b", "[1.2.3.4]:53",
])
def test_parse_server_rejects(entry):
    with pytest.raises(ValueError):
        r.parse_server(entry)


def test_validate_ok():
    assert r.validate(params(dns=["192.168.0.1", "[2001:db8::1]:53"], fallback_dns=[],
                             domains=["home.arpa", "~.", "example.com."])) == []


@pytest.mark.parametrize("kwargs,fragment", [
    ({"dns": [""]}, "dns: an empty entry"),
    ({"dns": ["300.1.1.1"]}, "dns: '300.1.1.1': '300.1.1.1' is not an IP address"),
    ({"fallback_dns": ["127.0.0.53"]}, "fallback_dns: '127.0.0.53' is systemd-resolved's own stub"),
    ({"mode": "disabled", "dns": ["10.0.0.1:5353"]}, "dns: '10.0.0.1:5353' names port 5353"),
    ({"domains": [""]}, "domains: an empty entry"),
    ({"domains": ["bad domain"]}, "domains: 'bad domain' is not a domain name"),
    ({"domains": ["-x.example"]}, "is not a domain name"),
    ({"drop_in": "../x.conf"}, "drop_in: '../x.conf' must be a plain file name"),
    ({"drop_in": "a/b.conf"}, "drop_in: 'a/b.conf'"),
    ({"drop_in": "homelab"}, "ending in .conf"),
    ({"mode": "off"}, "mode: 'off' is not one of"),
])
def test_validate_errors_name_option_and_value(kwargs, fragment):
    errors = r.validate(params(**kwargs))
    assert len(errors) == 1, errors
    assert fragment in errors[0]


def test_validate_port_allowed_for_resolved_modes():
    assert r.validate(params(mode="no_stub", dns=["10.0.0.1:5353"])) == []


# ----------------------------------------------------------------------------- rendering

def test_render_drop_in_no_stub_minimal():
    assert r.render_drop_in("no_stub") == r.HEADER + "[Resolve]\nDNSStubListener=no\n"


def test_render_drop_in_all_keys():
    text = r.render_drop_in("disabled", ["10.0.0.1", "10.0.0.2"], [], ["home.arpa", "~lab"])
    assert text == (r.HEADER + "[Resolve]\nDNS=10.0.0.1 10.0.0.2\nFallbackDNS=\n"
                    "Domains=home.arpa ~lab\nDNSStubListener=no\n")


def test_render_drop_in_stub():
    assert r.render_drop_in("stub") is None
    assert r.render_drop_in("stub", dns=["9.9.9.9"]) == r.HEADER + "[Resolve]\nDNS=9.9.9.9\n"


def test_parse_resolv_conf():
    text = ("# comment\nnameserver 10.0.0.1 # trailing\n; semi\nnameserver fe80::1%eth0\n"
            "domain old.example\nsearch a.example b.example\noptions edns0 trust-ad\nnameserver\n")
    assert r.parse_resolv_conf(text) == {"nameservers": ["10.0.0.1", "fe80::1%eth0"],
                                         "search": ["a.example", "b.example"],
                                         "options": ["edns0", "trust-ad"]}
    assert r.parse_resolv_conf(UPLINK)["search"] == []
    assert r.parse_resolv_conf(None)["nameservers"] == []


def test_render_resolv_conf_round_trips():
    text = r.render_resolv_conf(["10.0.0.1", "fe80::1%eth0"], ["home.arpa.", "~routing", "."])
    assert r.parse_resolv_conf(text) == {"nameservers": ["10.0.0.1", "fe80::1%eth0"],
                                         "search": ["home.arpa"], "options": []}
    assert text.startswith(r.HEADER)


@pytest.mark.parametrize("entry,expected", [
    ("10.0.0.1", "10.0.0.1"),
    ("10.0.0.1:53#dns.example", "10.0.0.1"),
    ("[fe80::1]:53%eth0", "fe80::1%eth0"),
    ("2001:db8::1%eth0", "2001:db8::1"),
])
def test_resolv_conf_nameserver(entry, expected):
    assert r.resolv_conf_nameserver(entry) == expected


def test_systemd_version():
    assert r.systemd_version("systemd 257 (257.13-1~deb13u1)\n+PAM +AUDIT") == 257
    assert r.systemd_version("systemd 239\n") == 239
    assert r.systemd_version("") is None


# ----------------------------------------------------------------------------- plan

STUB_LINK = {"type": "link", "target": r.STUB_RESOLV_CONF, "content": None}
UPLINK_LINK = {"type": "link", "target": r.UPLINK_RESOLV_CONF, "content": None}


def photon_default(**kwargs):
    state = {"drop_in": None, "resolv_conf": STUB_LINK, "uplink_text": UPLINK, "active": True,
             "enabled": "enabled", "holders": list(RESOLVED_HOLDERS), "systemd_version": 257}
    state.update(kwargs)
    return state


NO_STUB_DROP_IN = r.HEADER + "[Resolve]\nDNSStubListener=no\n"


def test_plan_no_stub_from_photon_default():
    p = r.plan(params(), photon_default())
    assert p["drop_in_action"] == "write"
    assert p["drop_in"] == NO_STUB_DROP_IN
    assert p["service_steps"] == ["restart"]
    assert p["resolv_conf_action"] == "link"
    assert p["resolv_conf"]["target"] == r.UPLINK_RESOLV_CONF
    assert p["order"] == "service-first"
    assert r.changed(p)


def test_plan_no_stub_done_is_unchanged():
    state = photon_default(drop_in=NO_STUB_DROP_IN, resolv_conf=UPLINK_LINK, holders=[])
    p = r.plan(params(), state)
    assert (p["drop_in_action"], p["resolv_conf_action"], p["service_steps"]) == (None, None, [])
    assert not r.changed(p)


def test_plan_no_stub_restarts_when_drop_in_there_but_stub_still_listens():
    state = photon_default(drop_in=NO_STUB_DROP_IN, resolv_conf=UPLINK_LINK)
    p = r.plan(params(), state)
    assert p["drop_in_action"] is None
    assert p["service_steps"] == ["restart"]


def test_plan_no_stub_from_disabled_unmasks_enables_starts():
    state = photon_default(active=False, enabled="masked", holders=[],
                           resolv_conf={"type": "file", "target": None, "content": "nameserver 1.1.1.1\n"})
    p = r.plan(params(), state)
    assert p["service_steps"] == ["unmask", "enable", "start"]
    assert p["resolv_conf_action"] == "link"


def test_plan_disabled_from_photon_default_uses_resolved_upstream():
    p = r.plan(params(mode="disabled"), photon_default())
    assert p["upstream_dns"] == ["127.0.0.11", "192.168.0.1"]
    assert p["upstream_source"] == r.UPLINK_RESOLV_CONF
    assert p["resolv_conf"]["content"] == r.render_resolv_conf(["127.0.0.11", "192.168.0.1"])
    assert p["resolv_conf_action"] == "file"
    assert p["service_steps"] == ["stop", "disable"]
    assert p["order"] == "file-first"
    assert p["drop_in"] == NO_STUB_DROP_IN


def test_plan_disabled_second_run_reads_its_own_file():
    first = r.plan(params(mode="disabled"), photon_default())
    state = photon_default(active=False, enabled="disabled", holders=[], drop_in=first["drop_in"],
                           resolv_conf=first["resolv_conf"], uplink_text=None)
    second = r.plan(params(mode="disabled"), state)
    assert second["upstream_dns"] == first["upstream_dns"]
    assert second["upstream_source"] == r.RESOLV_CONF
    assert not r.changed(second)


def test_plan_disabled_given_dns_and_domains():
    p = r.plan(params(mode="disabled", dns=["10.0.0.1#x.example"], domains=["home.arpa"]),
               photon_default())
    assert p["upstream_dns"] == ["10.0.0.1"]
    assert p["resolv_conf"]["content"] == r.render_resolv_conf(["10.0.0.1"], ["home.arpa"])


def test_plan_disabled_never_writes_stub_as_upstream():
    state = photon_default(active=False, enabled="disabled", holders=[], uplink_text=None,
                           resolv_conf={"type": "file", "target": None,
                                        "content": "nameserver 127.0.0.53\n"})
    p = r.plan(params(mode="disabled"), state)
    assert p["error"] and "give them in 'dns'" in p["error"]


def test_plan_disabled_falls_back_to_stale_uplink_file():
    state = photon_default(active=False, enabled="enabled", holders=[], resolv_conf=STUB_LINK)
    p = r.plan(params(mode="disabled"), state)
    assert p["upstream_dns"] == ["127.0.0.11", "192.168.0.1"]
    assert p["service_steps"] == ["disable"]


def test_plan_stub_restores_photon_default():
    state = photon_default(active=False, enabled="disabled", holders=[], drop_in=NO_STUB_DROP_IN,
                           resolv_conf={"type": "file", "target": None, "content": "nameserver 1.1.1.1\n"})
    p = r.plan(params(mode="stub"), state)
    assert p["drop_in_action"] == "remove"
    assert p["drop_in"] is None
    assert p["service_steps"] == ["enable", "start"]
    assert p["resolv_conf"] == STUB_LINK
    assert p["resolv_conf_action"] == "link"


def test_plan_stub_restarts_when_stub_not_listening():
    p = r.plan(params(mode="stub"), photon_default(holders=[]))
    assert p["service_steps"] == ["restart"]
    assert p["drop_in_action"] is None


def test_plan_stub_on_photon_default_is_unchanged():
    assert not r.changed(r.plan(params(mode="stub"), photon_default()))


def test_plan_static_unit_is_not_enabled_again():
    p = r.plan(params(mode="stub"), photon_default(enabled="static"))
    assert p["service_steps"] == []


def test_describe_and_texts():
    assert r.describe_resolv_conf(UPLINK_LINK) == r.UPLINK_RESOLV_CONF
    assert r.describe_resolv_conf({"type": "file", "target": None, "content": ""}) == "file"
    assert r.resolv_conf_text(STUB_LINK) == "symlink -> %s\n" % r.STUB_RESOLV_CONF
    assert r.resolv_conf_text({"type": "missing", "target": None, "content": None}) == ""
    assert r.service_text(True, "enabled") == "systemd-resolved.service: active, enabled\n"


# ----------------------------------------------------------------------------- other drop-ins

def test_stub_listener_setting():
    assert r.stub_listener_setting("[Resolve]\nDNSStubListener=no\n") == "no"
    assert r.stub_listener_setting("[Resolve]\n# DNSStubListener=no\nDNS=1.1.1.1\n") is None
    assert r.stub_listener_setting("[Other]\nDNSStubListener=no\n") is None
    assert r.stub_listener_setting("[Resolve]\nDNSStubListener=no\nDNSStubListener = udp\n") == "udp"
    assert r.stub_listener_setting(None) is None


def test_overriding_drop_ins_follow_systemd_order():
    files = {
        "/etc/systemd/resolved.conf.d/00-early.conf": "[Resolve]\nDNSStubListener=yes\n",
        "/etc/systemd/resolved.conf.d/homelab.conf": r.render_drop_in("no_stub"),
        "/etc/systemd/resolved.conf.d/zz-dns.conf": "[Resolve]\nDNS=1.1.1.1\n",
        "/etc/systemd/resolved.conf.d/zz-masked.conf": "[Resolve]\nDNSStubListener=no\n",
        "/run/systemd/resolved.conf.d/zz-masked.conf": "[Resolve]\nDNSStubListener=yes\n",
        "/run/systemd/resolved.conf.d/zz-run.conf": "[Resolve]\nDNSStubListener=udp\n",
        "/usr/lib/systemd/resolved.conf.d/zz-vendor.conf": "[Resolve]\nDNSStubListener=false\n",
        "/usr/lib/systemd/resolved.conf.d/zz-vendor.conf.disabled": "[Resolve]\nDNSStubListener=yes\n",
    }
    assert r.overriding_drop_ins("no_stub", "homelab.conf", files) == [
        ("/run/systemd/resolved.conf.d/zz-run.conf", "udp")]
    assert r.overriding_drop_ins("stub", "homelab.conf", files) == [
        ("/etc/systemd/resolved.conf.d/zz-masked.conf", "no"),
        ("/usr/lib/systemd/resolved.conf.d/zz-vendor.conf", "false")]
    assert r.overriding_drop_ins("no_stub", "zzz.conf", files) == []


def test_plan_refuses_when_a_later_drop_in_wins():
    state = photon_default(drop_ins={"/etc/systemd/resolved.conf.d/zz.conf": "[Resolve]\nDNSStubListener=yes\n"})
    p = r.plan(params(), state)
    assert "zz.conf (DNSStubListener=yes)" in p["error"]
    assert "turn the stub listener on again" in p["error"]
    assert r.plan(params(mode="disabled"), state)["error"] is None


def test_plan_warns_about_more_than_three_servers():
    p = r.plan(params(mode="disabled", dns=["10.0.0.%d" % i for i in range(1, 5)]), photon_default())
    assert p["warnings"] and "only the first three (10.0.0.1, 10.0.0.2, 10.0.0.3)" in p["warnings"][0]


# ----------------------------------------------------------------------------- properties

from hypothesis import given, strategies as st  # noqa: E402


@given(st.ip_addresses(), st.one_of(st.none(), st.integers(1, 65535)),
       st.one_of(st.none(), st.sampled_from(["eth0", "ens192"])))
def test_parse_server_round_trip(address, port, iface):
    text = str(address)
    if port is not None:
        text = ("[%s]:%d" % (text, port)) if address.version == 6 else ("%s:%d" % (text, port))
    if iface:
        text += "%" + iface
    server = r.parse_server(text)
    assert (server["address"], server["port"], server["interface"]) == (str(address), port, iface)


@given(st.lists(st.ip_addresses().map(str), min_size=1, max_size=5),
       st.lists(st.from_regex(r"\A[a-z][a-z0-9]{0,8}(\.[a-z][a-z0-9]{0,8}){0,2}\Z"), max_size=3))
def test_resolv_conf_round_trip(servers, search):
    parsed = r.parse_resolv_conf(r.render_resolv_conf(servers, search))
    assert parsed["nameservers"] == servers
    assert parsed["search"] == search


def test_resolve_setting_and_predict_upstream():
    old = r.render_drop_in("no_stub", dns=["9.9.9.9#dns.quad9.net", "1.1.1.1"])
    assert r.resolve_setting(old, "DNS") == "9.9.9.9#dns.quad9.net 1.1.1.1"
    uplink = "nameserver 9.9.9.9\nnameserver 1.1.1.1\nnameserver 127.0.0.11\n"
    # DNS changed: the new servers first, the link's server kept, the old drop-in's gone.
    assert r.predict_upstream(["10.0.0.1", "127.0.0.11"], old, uplink) == ["10.0.0.1", "127.0.0.11"]
    # DNS dropped from the drop-in: only what did not come from it.
    assert r.predict_upstream(None, old, uplink) == ["127.0.0.11"]
    # No drop-in before: the given servers, then today's.
    assert r.predict_upstream(["10.0.0.1"], None, "nameserver 127.0.0.11\n") == ["10.0.0.1", "127.0.0.11"]
    assert r.predict_upstream(None, None, None) == []
