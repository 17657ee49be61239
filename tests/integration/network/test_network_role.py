"""homelab.photon.networkd, networkd_rollback and the network role against the real
systemd-networkd of lab hosts, driven over SSH (ansible-playbook from the venv), never docker exec.

docker exec is only used to look at a host from the side (its files and addresses), the way one
would on the ESXi console. The lab host is a Debian 13 container standing in for Photon OS 5; its
eth0 starts out configured by /run/systemd/network/90-lab-eth0.network (the stand-in for Photon's
DHCP lease), and /etc/systemd/network/99-dhcp-en.network is Photon's.
"""

import hashlib
import ipaddress
import json
import os
import socket
import subprocess
import textwrap
import time

import pytest

LAB_SUBNET = ipaddress.ip_network("172.30.99.0/24")
UNREACHABLE = "10.213.77.10/24"  # another subnet: the controller has no route to it


def run_ansible(repo_root, tmp_path, argv, inventory_lines, timeout=240):
    """Run an ansible command with the JSON callback; returns (rc, parsed output, raw text)."""
    inventory = tmp_path / "inventory"
    inventory.write_text("[lab]\n" + "\n".join(inventory_lines) + "\n")
    env = dict(os.environ)
    env.update(
        PATH=os.path.join(repo_root, ".venv", "bin") + os.pathsep + env.get("PATH", ""),
        ANSIBLE_COLLECTIONS_PATH=os.path.join(repo_root, "tests", "output", "collections"),
        ANSIBLE_HOST_KEY_CHECKING="False",
        ANSIBLE_STDOUT_CALLBACK="ansible.posix.json",
        ANSIBLE_LOAD_CALLBACK_PLUGINS="1",
        ANSIBLE_RETRY_FILES_ENABLED="False",
        ANSIBLE_NOCOLOR="1",
    )
    proc = subprocess.run(argv + ["-i", str(inventory)], cwd=str(tmp_path), env=env,
                          capture_output=True, text=True, timeout=timeout, check=False)
    start = proc.stdout.find("{")
    data = json.loads(proc.stdout[start:]) if start >= 0 else {}
    return proc.returncode, data, proc.stdout + proc.stderr


def playbook(repo_root, tmp_path, host, text, address=None, name="play.yml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return run_ansible(repo_root, tmp_path, ["ansible-playbook", str(path)],
                       [host.inventory_line(address)])


def task_results(data, host_name):
    """{task name: that host's result} from the JSON callback's output."""
    results = {}
    for play in data.get("plays", []):
        for task in play.get("tasks", []):
            result = task.get("hosts", {}).get(host_name)
            if result is not None:
                # Role tasks are named "ROLE : NAME" by the callback.
                results[task["task"]["name"].split(" : ", 1)[-1]] = result
    return results


def taken_addresses():
    out = subprocess.run(["docker", "network", "inspect", "homelab-lab", "-f",
                          "{{range .Containers}}{{.IPv4Address}} {{end}}"],
                         capture_output=True, text=True, check=True).stdout
    return {str(ipaddress.ip_interface(item).ip) for item in out.split()}


def answers(address, port=22, timeout=2.0):
    try:
        with socket.create_connection((address, port), timeout=timeout):
            return True
    except OSError:
        return False


def free_address(host, exclude=()):
    """An address in .200-.249 derived from the host's name, that no lab container has and that
    nothing answers on (another helper's host may have moved there), and not in EXCLUDE."""
    taken = taken_addresses() | set(exclude)
    start = int(hashlib.sha256(host.name.encode()).hexdigest(), 16) % 50
    for step in range(50):
        candidate = str(LAB_SUBNET[200 + (start + step) % 50])
        if candidate not in taken and not answers(candidate, timeout=0.5):
            return candidate
    pytest.fail("no free address in 172.30.99.200-249")


def network_files(host):
    """Names, modes and sha256 of the host's networkd files, read from the side."""
    return host.sh("cd /etc/systemd/network && for f in *; do stat -c '%n %a %U' \"$f\";"
                   " sha256sum \"$f\"; done").stdout


def eth0_addresses(host):
    out = host.exec("ip", "-4", "-o", "addr", "show", "dev", "eth0").stdout
    return [line.split()[3] for line in out.splitlines()]


def role_play(address, **variables):
    extra = "".join("            %s: %s\n" % (k, json.dumps(v)) for k, v in variables.items())
    return """\
    - name: Move the host
      hosts: all
      gather_facts: false
      roles:
        - role: homelab.photon.network
          vars:
            network_address: %s
            network_gateway: 172.30.99.1
            network_dns: [127.0.0.11]
%s
    - name: A later play, on the connection the role left
      hosts: all
      gather_facts: false
      tasks:
        - name: Read the SSH connection's server address
          ansible.builtin.command: printenv SSH_CONNECTION
          register: where
          changed_when: false
    """ % (json.dumps(address), extra)


BAD_INPUTS = [
    # (case, module options, option named in the error, words of the error)
    ("missing prefix", {"address": ["172.30.99.240"]}, "address", "has no prefix length"),
    ("unparsable address", {"address": ["172.30.99.300/24"]}, "address",
     "is not an IP address with a prefix"),
    ("broadcast address", {"address": ["172.30.99.255/24"]}, "address",
     "is the broadcast address of 172.30.99.0/24, not a host address"),
    ("gateway outside every subnet", {"address": ["172.30.99.240/24"], "gateway": "10.9.8.1"},
     "gateway", "is not in the subnet of any address (172.30.99.0/24): the host could not reach it"),
    ("interface name with /", {"match_name": "eth0/1", "address": ["172.30.99.240/24"]},
     "match_name", "cannot contain '/' or '..'"),
    ("interface name with ..", {"match_name": "..", "address": ["172.30.99.240/24"]},
     "match_name", "cannot contain '/' or '..'"),
    ("file name with ..", {"name": "../../../tmp/evil", "address": ["172.30.99.240/24"]},
     "name", "(no '/' and no '..')"),
    ("empty DNS entry", {"address": ["172.30.99.240/24"], "dns": ["172.30.99.1", ""]},
     "dns", "is empty"),
]


def test_bad_inputs_fail_clearly_and_change_nothing(lab_host, repo_root, tmp_path):
    before_files, before_addr = network_files(lab_host), eth0_addresses(lab_host)
    cases = [dict(dict(name="10-static-en", match_name="eth0"), **options)
             for options in (case[1] for case in BAD_INPUTS)]
    rc, data, text = playbook(repo_root, tmp_path, lab_host, """\
    - name: Bad inputs
      hosts: all
      gather_facts: false
      tasks:
        - name: Try each bad input
          homelab.photon.networkd:
            name: "{{ item.name }}"
            match_name: "{{ item.match_name }}"
            address: "{{ item.address }}"
            gateway: "{{ item.gateway | default(omit) }}"
            dns: "{{ item.dns | default(omit) }}"
            apply: changed
          loop: %s
          register: bad
          failed_when: false
    """ % json.dumps(cases))
    assert rc == 0, text
    results = task_results(data, lab_host.name)["Try each bad input"]["results"]
    assert len(results) == len(BAD_INPUTS)
    for spec, result in zip(BAD_INPUTS, results):
        case, option, words = spec[0], spec[2], spec[3]
        assert result.get("msg", "").startswith("homelab.photon.networkd: invalid %s: " % option), (case, result)
        assert words in result["msg"], (case, result["msg"])
        assert result.get("changed") is False, case
    # The role stops at its first (check mode) task on a bad value, before arming anything.
    rc, data, text = playbook(repo_root, tmp_path, lab_host, role_play("172.30.99.240"),
                              name="role.yml")
    assert rc != 0
    failed = task_results(data, lab_host.name)["Predict the static .network file"]
    assert "address: '172.30.99.240' has no prefix length" in failed["msg"]
    assert network_files(lab_host) == before_files
    assert eth0_addresses(lab_host) == before_addr
    assert lab_host.exec("test", "-e", "/var/lib/homelab-photon", check=False).returncode == 1


def test_module_applies_with_the_real_networkd(lab_host, repo_root, tmp_path):
    """apply=changed writes the file and runs `networkctl reload` (systemd 257 here): networkd
    puts the address on a veth link; the same task again changes nothing and applies nothing."""
    lab_host.sh("ip link add vnet0 type veth peer name vnet1 && ip link set vnet1 up")
    version = int(lab_host.exec("systemctl", "--version").stdout.split()[1])
    task = """\
    - name: Module
      hosts: all
      gather_facts: false
      tasks:
        - name: Static address on vnet0
          homelab.photon.networkd:
            name: 50-vnet0
            match_name: vnet0
            address: [10.231.0.1/24, "fd00:231::1/64"]
            routes: [{destination: 10.232.0.0/16, gateway: 10.231.0.254}]
            settings: {Network: {IPv6AcceptRA: false}}
            apply: changed
    """
    # Check mode predicts the apply and touches nothing.
    (tmp_path / "m.yml").write_text(textwrap.dedent(task))
    rc, data, text = run_ansible(repo_root, tmp_path, ["ansible-playbook", "--check",
                                 str(tmp_path / "m.yml")], [lab_host.inventory_line()])
    assert rc == 0, text
    predicted = task_results(data, lab_host.name)["Static address on vnet0"]
    assert predicted["changed"] and predicted["applied"] and predicted["apply_action"] == "reload"
    assert lab_host.exec("test", "-e", "/etc/systemd/network/50-vnet0.network",
                         check=False).returncode == 1

    rc, data, text = playbook(repo_root, tmp_path, lab_host, task, name="m.yml")
    assert rc == 0, text
    first = task_results(data, lab_host.name)["Static address on vnet0"]
    assert first["changed"] and first["applied"]
    assert first["apply_action"] == ("reload" if version >= 244 else "restart")
    assert first["systemd_version"] == version
    assert lab_host.sh("stat -c '%a %U' /etc/systemd/network/50-vnet0.network").stdout.split() == ["644", "root"]
    state = lab_host.exec("networkctl", "status", "vnet0", "--no-pager").stdout
    assert "/etc/systemd/network/50-vnet0.network" in state
    assert "10.231.0.1/24" in lab_host.exec("ip", "-4", "-o", "addr", "show", "dev", "vnet0").stdout
    assert "10.232.0.0/16 via 10.231.0.254" in lab_host.exec("ip", "-4", "route").stdout

    rc, data, text = playbook(repo_root, tmp_path, lab_host, task, name="m.yml")
    assert rc == 0, text
    second = task_results(data, lab_host.name)["Static address on vnet0"]
    assert second["changed"] is False and second["applied"] is False

    # networkd_rollback by hand: confirm with nothing armed, arm, refuse a second arming,
    # change two files, restore at once (the timer is still minutes away).
    applied_files = network_files(lab_host)
    rc, data, text = playbook(repo_root, tmp_path, lab_host, """\
    - name: Rollback
      hosts: all
      gather_facts: false
      tasks:
        - name: Confirm with nothing armed
          homelab.photon.networkd_rollback: {state: confirmed}
        - name: Arm
          homelab.photon.networkd_rollback:
            state: armed
            paths: [/etc/systemd/network/50-vnet0.network, /etc/systemd/network/60-new.network]
            timeout: 300
        - name: Arm again
          homelab.photon.networkd_rollback:
            state: armed
            paths: [/etc/systemd/network/50-vnet0.network]
          failed_when: false
        - name: Change vnet0
          homelab.photon.networkd:
            name: 50-vnet0
            match_name: vnet0
            address: [10.231.0.2/24]
            apply: changed
        - name: Add a file
          homelab.photon.networkd: {name: 60-new, match_name: vnet1, dhcp: "no"}
        - name: Restore now
          homelab.photon.networkd_rollback: {state: restored}
    """, name="r.yml")
    assert rc == 0, text
    results = task_results(data, lab_host.name)
    assert results["Confirm with nothing armed"]["changed"] is False
    assert [item["existed"] for item in results["Arm"]["snapshot"]] == [True, False]
    assert "a rollback is already armed" in results["Arm again"]["msg"]
    assert results["Change vnet0"]["changed"] is True
    restored = results["Restore now"]
    assert restored["changed"] and restored["rolled_back"] and restored["rolled_back_by"] == "module"
    assert network_files(lab_host) == applied_files
    deadline = time.monotonic() + 20
    while "10.231.0.1/24" not in lab_host.exec("ip", "-4", "-o", "addr", "show", "dev", "vnet0").stdout:
        assert time.monotonic() < deadline, "networkd did not put 10.231.0.1 back on vnet0"
        time.sleep(0.5)
    assert lab_host.exec("systemctl", "is-active", "homelab-networkd-rollback.timer",
                         check=False).stdout.strip() != "active"

    # The restart path (what systemd older than 244 gets), forced here on the real networkd.
    pid = lab_host.exec("systemctl", "show", "-p", "MainPID", "--value", "systemd-networkd").stdout
    rc, data, text = playbook(repo_root, tmp_path, lab_host, task.replace(
        "10.231.0.1/24", "10.231.0.3/24").replace("apply: changed", "apply: changed\n"
                                                  "            apply_method: restart"), name="m.yml")
    assert rc == 0, text
    restarted = task_results(data, lab_host.name)["Static address on vnet0"]
    assert restarted["applied"] and restarted["apply_action"] == "restart"
    assert lab_host.exec("systemctl", "show", "-p", "MainPID", "--value",
                         "systemd-networkd").stdout != pid
    deadline = time.monotonic() + 20
    while "10.231.0.3/24" not in lab_host.exec("ip", "-4", "-o", "addr", "show", "dev", "vnet0").stdout:
        assert time.monotonic() < deadline, "the restarted networkd did not put 10.231.0.3 on vnet0"
        time.sleep(0.5)


DHCP_FILE = "/etc/systemd/network/99-dhcp-en.network"


def dhcp_client_runs(host, link):
    """Whether networkd runs a DHCPv4 client on LINK (networkctl's JSON names it only then)."""
    out = host.exec("networkctl", "status", link, "--json=short", "--no-pager").stdout
    return "DHCPv4Client" in json.loads(out)


def wait_for(condition, what, timeout=20):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.5)


def test_module_turns_dhcp_off_in_photons_file(lab_host_factory, repo_root, tmp_path):
    """dhcp_off_file: DHCP=no (mode 0644) in Photon's catch-all file in the same run as the static
    file and one apply of both, from DHCP=yes and from a file without DHCP=; check mode predicts
    it exactly and writes nothing; a missing file stays missing; reruns change nothing."""
    host = lab_host_factory(prefix="net-dhcpoff")
    # edhcp0 is configured by Photon's file (Name=e*), so networkd runs a DHCP client on it;
    # vstatic0 gets the static file.
    host.sh("ip link add edhcp0 type veth peer name xdhcp0 && ip link add vstatic0 type veth peer"
            " name vstatic1 && for l in edhcp0 xdhcp0 vstatic0 vstatic1; do ip link set $l up; done")
    wait_for(lambda: dhcp_client_runs(host, "edhcp0"), "networkd runs no DHCP client on edhcp0")
    original = host.exec("cat", DHCP_FILE).stdout
    assert "\n[Network]\nDHCP=yes\n" in original
    expected = original.replace("\nDHCP=yes\n", "\nDHCP=no\n")
    host.exec("chmod", "0600", DHCP_FILE)
    play = tmp_path / "dhcp.yml"
    play.write_text(textwrap.dedent("""\
        - name: DHCP off
          hosts: all
          gather_facts: false
          tasks:
            - name: Static file and DHCP off
              homelab.photon.networkd:
                name: 50-vstatic
                match_name: vstatic0
                address: [10.233.0.1/24]
                dhcp_off_file: %s
                backup: "{{ dhcp_backup | default(false) }}"
                state: "{{ static_state | default('present') }}"
                apply: changed
        """ % DHCP_FILE))

    def run(*options):
        rc, data, text = run_ansible(repo_root, tmp_path, ["ansible-playbook", str(play)] + list(options),
                                     [host.inventory_line()])
        return rc, task_results(data, host.name).get("Static file and DHCP off", {}), text

    def dhcp_file():
        return host.sh("stat -c '%%a %%U' %s && cat %s" % (DHCP_FILE, DHCP_FILE)).stdout

    # Check mode (with --diff): both files predicted, the DHCP file's diff exact, nothing written.
    rc, result, text = run("--check", "--diff")
    assert rc == 0, text
    assert result["changed"] and result["dhcp_off_file_changed"] and result["dhcp_off_file_existed"]
    assert result["applied"] and result["apply_action"] == "reload"
    assert isinstance(result["diff"], list) and len(result["diff"]) == 2
    assert result["diff"][1] == dict(before=original, after=expected, before_header=DHCP_FILE,
                                     after_header=DHCP_FILE)
    assert dhcp_file() == "600 root\n" + original
    assert host.exec("test", "-e", "/etc/systemd/network/50-vstatic.network", check=False).returncode == 1
    assert dhcp_client_runs(host, "edhcp0")

    # The real run: both files written (the DHCP file 0644, its old content backed up), then one
    # reload that takes both: the DHCP client stops and vstatic0 gets its address.
    rc, result, text = run("-e", "dhcp_backup=true")
    assert rc == 0, text
    assert result["changed"] and result["dhcp_off_file_changed"] and result["dhcp_off_file_existed"]
    assert result["applied"] and result["apply_action"] == "reload"
    assert dhcp_file() == "644 root\n" + expected
    assert host.exec("cat", result["dhcp_off_file_backup"]).stdout == original
    assert "backup_file" not in result  # the static file is new: nothing to back up
    wait_for(lambda: not dhcp_client_runs(host, "edhcp0"), "the DHCP client still runs on edhcp0")
    wait_for(lambda: "10.233.0.1/24" in host.exec("ip", "-4", "-o", "addr", "show", "dev", "vstatic0").stdout,
             "networkd did not put 10.233.0.1/24 on vstatic0")
    assert DHCP_FILE in host.exec("networkctl", "status", "edhcp0", "--no-pager").stdout

    # Converged: nothing to change, nothing applied.
    rc, result, text = run()
    assert rc == 0, text
    assert result["changed"] is False and result["dhcp_off_file_changed"] is False
    assert result["dhcp_off_file_existed"] is True and result["applied"] is False

    # A file without DHCP= (and a mode that hides it from networkd): DHCP=no goes right after
    # [Network], predicted exactly (only this file changes: the diff is one entry).
    host.sh("sed -i '/^DHCP=/d' %s && chmod 0640 %s" % (DHCP_FILE, DHCP_FILE))
    without = host.exec("cat", DHCP_FILE).stdout
    assert "DHCP" not in without.replace("[DHCPv4]", "")
    rc, result, text = run("--check", "--diff")
    assert rc == 0, text
    assert result["changed"] and result["dhcp_off_file_changed"]
    assert result["diff"] == dict(before=without, after=expected, before_header=DHCP_FILE,
                                  after_header=DHCP_FILE)
    assert dhcp_file() == "640 root\n" + without
    rc, result, text = run()
    assert rc == 0, text
    assert result["changed"] and result["dhcp_off_file_changed"] and result["applied"]
    assert dhcp_file() == "644 root\n" + expected
    rc, result, text = run()
    assert rc == 0, text
    assert result["changed"] is False and result["dhcp_off_file_changed"] is False

    # Only the mode differs: fixed, and no content diff.
    host.exec("chmod", "0664", DHCP_FILE)
    rc, result, text = run("--diff")
    assert rc == 0, text
    assert result["changed"] and result["dhcp_off_file_changed"] and "diff" not in result
    assert dhcp_file() == "644 root\n" + expected

    # A missing file stays missing, in check mode and for real.
    host.exec("rm", DHCP_FILE)
    for options in (["--check"], []):
        rc, result, text = run(*options)
        assert rc == 0, text
        assert result["changed"] is False and result["dhcp_off_file_changed"] is False
        assert result["dhcp_off_file_existed"] is False
    assert host.exec("test", "-e", DHCP_FILE, check=False).returncode == 1

    # state=absent with dhcp_off_file is refused, before anything is removed.
    rc, result, text = run("-e", "static_state=absent")
    assert rc != 0
    assert "dhcp_off_file goes only with state=present" in result["msg"]
    assert host.exec("test", "-e", "/etc/systemd/network/50-vstatic.network", check=False).returncode == 0


def rollback_timer_starts(host):
    out = host.exec("journalctl", "--no-pager", "-o", "cat", "-u",
                    "homelab-networkd-rollback.timer", check=False).stdout
    return sum(1 for line in out.splitlines() if line.startswith("Started"))


def test_role_moves_the_host_and_the_play_continues_there(lab_host, repo_root, tmp_path):
    old = lab_host.ip
    new = free_address(lab_host)
    play = role_play(new + "/24", network_rollback_timeout=60, network_connect_timeout=30)
    rc, data, text = playbook(repo_root, tmp_path, lab_host, play)
    assert rc == 0, text
    results = task_results(data, lab_host.name)
    # The later play ran over SSH to the new address.
    assert results["Read the SSH connection's server address"]["stdout"].split()[2] == new
    assert results["Confirm the change (cancels the rollback)"]["changed"] is True
    assert eth0_addresses(lab_host) == [new + "/24"]
    assert answers(new) and not answers(old)
    static = lab_host.exec("cat", "/etc/systemd/network/10-static-en.network").stdout
    assert "Name=eth0\n" in static and "Address=%s/24\n" % new in static
    dhcp = lab_host.exec("cat", "/etc/systemd/network/99-dhcp-en.network").stdout
    assert "DHCP=no\n" in dhcp and "DHCP=yes" not in dhcp and "SendRelease=no" in dhcp
    assert lab_host.exec("stat", "-c", "%a", "/etc/systemd/network/99-dhcp-en.network").stdout.strip() == "644"
    # One module run predicted both files; the change wrote both with one more.
    plan = results["Predict the static .network file"]
    assert plan["dhcp_off_file_changed"] is True and plan["dhcp_off_file_existed"] is True
    written = results["Write the static .network file and turn DHCP off in Photon's DHCP file"]
    assert written["changed"] and written["dhcp_off_file_changed"]
    assert not [name for name in results if "DHCP file" in name and not name.startswith("Write the static")]
    assert "/etc/systemd/network/10-static-en.network" in lab_host.exec(
        "networkctl", "status", "eth0", "--no-pager").stdout
    assert lab_host.exec("systemctl", "is-active", "homelab-networkd-rollback.timer",
                         check=False).stdout.strip() != "active"
    armed = rollback_timer_starts(lab_host)
    assert armed == 1
    # Then homelab.photon.resolved (network_resolved_mode no_stub): port 53 free, resolv.conf on
    # resolved's upstream list, and the host resolves a lab name through the link's DNS server.
    resolved = results["Set up systemd-resolved"]
    assert resolved["port53_free"] is True and resolved["mode"] == "no_stub"
    assert lab_host.exec("readlink", "/etc/resolv.conf").stdout.strip() == "/run/systemd/resolve/resolv.conf"
    answer = lab_host.exec("dig", "+short", "+time=2", "+tries=2", lab_host.name).stdout.split()
    assert answer and ipaddress.ip_address(answer[-1]) in LAB_SUBNET

    # Second run, on the new address the inventory now names: nothing changes, nothing is armed.
    files = network_files(lab_host)
    rc, data, text = playbook(repo_root, tmp_path, lab_host, play, address=new)
    assert rc == 0, text
    assert data["stats"][lab_host.name]["changed"] == 0, text
    assert data["stats"][lab_host.name]["failures"] == 0
    results = task_results(data, lab_host.name)
    assert results["Change the address with a rollback armed, one host at a time"].get("skipped") is True
    plan = results["Predict the static .network file"]
    assert plan["changed"] is False and plan["dhcp_off_file_changed"] is False and plan["dhcp_off_file_existed"]
    assert "Arm the rollback that restores the current files unless confirmed in time, timeout (s) 60" not in results
    assert rollback_timer_starts(lab_host) == armed
    assert network_files(lab_host) == files
    assert eth0_addresses(lab_host) == [new + "/24"]


def test_two_hosts_move_one_at_a_time(lab_host_factory, repo_root, tmp_path):
    """Two hosts (two Pi-holes) never change their addresses at once: the whole change of one (arm,
    write, apply, reconnect, confirm) is over before the other's rollback is armed. The second host
    has no Photon DHCP file (a host set up without it): it moves all the same and none is created."""
    hosts = [lab_host_factory(prefix="net-serial"), lab_host_factory(prefix="net-serial")]
    hosts[1].exec("rm", "/etc/systemd/network/99-dhcp-en.network")
    first = free_address(hosts[0])
    new = {hosts[0].name: first, hosts[1].name: free_address(hosts[1], exclude=[first])}
    play = tmp_path / "two.yml"
    play.write_text(textwrap.dedent("""\
        - name: Move both hosts
          hosts: all
          gather_facts: false
          roles:
            - role: homelab.photon.network
              vars:
                network_gateway: 172.30.99.1
                network_dns: [127.0.0.11]
                network_rollback_timeout: 60
                network_connect_timeout: 30
        """))
    rc, data, text = run_ansible(repo_root, tmp_path, ["ansible-playbook", str(play)], [
        host.inventory_line() + " network_address=%s/24" % new[host.name] for host in hosts])
    assert rc == 0, text
    # The tasks in the order they ran, with the hosts each ran on (skipped ones left out).
    order = []
    for task in data["plays"][0]["tasks"]:
        name = task["task"]["name"].split(" : ", 1)[-1]
        for host, result in task["hosts"].items():
            if not result.get("skipped"):
                order.append((name.split(",")[0], host))
    arm = "Arm the rollback that restores the current files unless confirmed in time"
    confirm = "Confirm the change (cancels the rollback)"
    steps = [(name, host) for name, host in order if name in (arm, confirm)]
    firsts = steps[0][1]
    other = [h.name for h in hosts if h.name != firsts][0]
    assert steps == [(arm, firsts), (confirm, firsts), (arm, other), (confirm, other)], order
    for host in hosts:
        assert eth0_addresses(host) == [new[host.name] + "/24"] and answers(new[host.name])
    assert hosts[0].exec("grep", "-x", "DHCP=no", "/etc/systemd/network/99-dhcp-en.network").returncode == 0
    assert hosts[1].exec("test", "-e", "/etc/systemd/network/99-dhcp-en.network", check=False).returncode == 1


def test_unreachable_address_rolls_back_and_fails_clearly(lab_host, repo_root, tmp_path):
    old = lab_host.ip
    before_files = network_files(lab_host)
    play = role_play(UNREACHABLE, network_gateway="10.213.77.1", network_rollback_timeout=20,
                     network_connect_timeout=5)
    rc, data, text = playbook(repo_root, tmp_path, lab_host, play)
    assert rc != 0
    results = task_results(data, lab_host.name)
    # The change really was applied (the host left the controller's reach) before it came back.
    assert results["Wait for the host on its new address"]["failed"] is True
    message = results["Fail, saying the host is back on its old address"]["msg"]
    assert "moving %s to %s failed" % (lab_host.name, UNREACHABLE) in message
    assert "Its rollback timer put back the previous network files" in message
    assert "answers again on its old address %s" % old in message
    assert "Read the SSH connection's server address" not in results
    # Back on its old address, reachable over SSH, with its old files, nothing left armed.
    assert eth0_addresses(lab_host) == [old + "/24"]
    assert network_files(lab_host) == before_files
    rc, data, text = run_ansible(repo_root, tmp_path, ["ansible", "all", "-m", "ansible.builtin.ping"],
                                 [lab_host.inventory_line()])
    assert rc == 0, text
    assert lab_host.exec("test", "-e", "/var/lib/homelab-photon/networkd-rollback/"
                         "homelab-networkd-rollback", check=False).returncode == 1
    assert rollback_timer_starts(lab_host) == 1
