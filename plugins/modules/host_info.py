#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: homelab.photon contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: host_info
short_description: What a Photon OS host runs, in one read (for the host report)
version_added: 0.1.0
description:
  - Reads, in one module run, what the host report (role homelab.photon.report) shows of a host
    (the "system info" at the end of the manual recipe) - the OS release (C(/etc/os-release) and
    C(/etc/photon-release)), the kernel, the number of installed RPM packages (C(rpm -qa)), memory
    (C(/proc/meminfo)), file system use of O(paths), the size of the trees in O(size_paths), the
    Docker engine's and compose's versions (through their commands).
  - With O(pihole_password), also the versions of the Pi-hole running on the host, from its API
    (C(GET /api/info/version), in one session - login, read, logout). The password goes to the
    Pi-hole on the host (O(pihole_url), by default C(http://127.0.0.1)), never across the LAN.
  - Reads only; never changes the host. A part that cannot be read (no C(rpm), Docker engine stopped,
    Pi-hole down) is returned as null or with an C(error), so that the report can say so; the module
    fails only on bad input.
author:
  - homelab.photon contributors (@homelab)
options:
  paths:
    description: File systems to report the use of, each by a path in it (like C(df PATH)).
    type: list
    elements: path
    default: [/]
  size_paths:
    description:
      - Directory trees whose size to report (like C(du -s PATH); one file system, links not followed),
        such as the Pi-hole project directory. A missing path is reported with C(bytes) null.
    type: list
    elements: path
    default: []
  pihole_url:
    description: The Pi-hole's web server as the host reaches it (scheme, address, port).
    type: str
    default: http://127.0.0.1
  pihole_password:
    description:
      - The Pi-hole web interface (or app) password. Without it, Pi-hole is not asked.
    type: str
  pihole_validate_certs:
    description: Verify the TLS certificate when O(pihole_url) is C(https://).
    type: bool
    default: true
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  platform:
    support: full
    platforms: posix
notes:
  - On Photon OS the package count is what C(rpm -qa) lists; on a host without C(rpm) it is null.
"""

EXAMPLES = r"""
- name: Read the host for the report, Pi-hole included
  homelab.photon.host_info:
    paths: [/]
    size_paths: [/opt/docker/pihole]
    pihole_url: http://127.0.0.1
    pihole_password: "{{ pihole_web_password }}"
  register: info

- name: Show the Photon version and the kernel
  ansible.builtin.debug:
    msg: "{{ info.os.version_id }} {{ info.kernel }}"
"""

RETURN = r"""
os:
  description: The OS release; C(photon) has the title and build number of C(/etc/photon-release) (nulls elsewhere).
  returned: always
  type: dict
  sample: {"id": "photon", "name": "VMware Photon OS", "version_id": "5.0", "pretty_name": "VMware Photon OS/Linux",
           "photon": {"title": "VMware Photon OS 5.0", "build": "dde71ec57"}}
kernel:
  description: The running kernel's release (C(uname -r)).
  returned: always
  type: str
  sample: 6.1.10-11.ph5
rpm_packages:
  description: How many packages C(rpm -qa) lists; null without C(rpm).
  returned: always
  type: int
  sample: 312
memory:
  description: Total and available memory, in bytes.
  returned: always
  type: dict
  sample: {"total": 2062745600, "available": 1510408192}
disks:
  description: Per path of O(paths), its file system's size, use and room left (bytes), and percent used as C(df) shows it.
  returned: always
  type: list
  elements: dict
  sample: [{"path": "/", "total": 16729894912, "used": 2001002496, "available": 13846609920, "percent": 13}]
sizes:
  description: Per path of O(size_paths), the bytes its files take (null when the path is missing).
  returned: always
  type: list
  elements: dict
  sample: [{"path": "/opt/docker/pihole", "bytes": 53477376}]
docker:
  description: The Docker client's and engine's versions (C(server) null when the engine does not answer, both without Docker).
  returned: always
  type: dict
  sample: {"client": "27.3.1", "server": "27.3.1"}
compose:
  description: The Docker compose v2 plugin's version; null without it.
  returned: always
  type: str
  sample: 2.33.1
pihole:
  description:
    - The Pi-hole's component versions (local), or C(error) when it could not be read; null without O(pihole_password).
  returned: always
  type: dict
  sample: {"ftl": "v6.3.3", "core": "v6.2.2", "web": "v6.3", "docker": "2025.11.0", "api_calls": 3}
"""

import os
import platform

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.homelab.photon.plugins.module_utils._pihole_api import PiholeApi, PiholeError
from ansible_collections.homelab.photon.plugins.module_utils._report import (
    count_lines,
    disk_usage,
    parse_compose_version,
    parse_docker_version,
    parse_meminfo,
    parse_os_release,
    parse_photon_release,
    pihole_versions,
)


def read_file(path):
    try:
        with open(path) as handle:
            return handle.read()
    except (IOError, OSError):
        return None


def read_os():
    release = parse_os_release(read_file('/etc/os-release') or read_file('/usr/lib/os-release'))
    photon = parse_photon_release(read_file('/etc/photon-release'))
    return {'id': release.get('ID'), 'name': release.get('NAME'), 'version_id': release.get('VERSION_ID'),
            'pretty_name': release.get('PRETTY_NAME'), 'photon': photon}


def tree_size(path):
    """Bytes taken by the files under PATH (allocated blocks, as du counts), on PATH's file system."""
    try:
        device = os.lstat(path).st_dev
    except OSError:
        return None
    total = 0
    seen = set()
    for top, dirs, files in os.walk(path):
        dirs[:] = [d for d in dirs if _same_device(os.path.join(top, d), device)]
        for name in dirs + files:
            try:
                stat = os.lstat(os.path.join(top, name))
            except OSError:
                continue
            if stat.st_nlink > 1:
                if (stat.st_dev, stat.st_ino) in seen:
                    continue
                seen.add((stat.st_dev, stat.st_ino))
            total += stat.st_blocks * 512
    return total + os.lstat(path).st_blocks * 512


def _same_device(path, device):
    try:
        return os.lstat(path).st_dev == device
    except OSError:
        return False


def run(module, argv):
    """stdout of ARGV when the program exists and succeeds, else None."""
    if not module.get_bin_path(argv[0]):
        return None
    rc, out, dummy = module.run_command(argv, environ_update={'LC_ALL': 'C'})
    return out if rc == 0 or out.strip() else None


def read_pihole(params):
    api = PiholeApi(params['pihole_url'], params['pihole_password'], validate_certs=params['pihole_validate_certs'],
                    timeout=15)
    try:
        api.login()
        dummy, data = api.call('GET', '/api/info/version')
        result = pihole_versions(data)
    except PiholeError as exc:
        result = {'error': exc.msg}
    finally:
        api.logout()
    result['api_calls'] = len(api.calls)
    return result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            paths=dict(type='list', elements='path', default=['/']),
            size_paths=dict(type='list', elements='path', default=[]),
            pihole_url=dict(type='str', default='http://127.0.0.1'),
            pihole_password=dict(type='str', no_log=True),
            pihole_validate_certs=dict(type='bool', default=True),
        ),
        supports_check_mode=True,
    )
    params = module.params
    relative = [p for p in params['paths'] + params['size_paths'] if not os.path.isabs(p)]
    if relative:
        module.fail_json(msg='paths and size_paths must be absolute: %s' % ', '.join(relative))
    if not params['pihole_url'].startswith(('http://', 'https://')):
        module.fail_json(msg='pihole_url must start with http:// or https:// (given %r)' % params['pihole_url'])

    disks = []
    for path in params['paths']:
        try:
            disks.append(disk_usage(path, os.statvfs(path)))
        except OSError as exc:
            module.fail_json(msg='paths: cannot read the file system of %s: %s' % (path, exc))

    rpm = run(module, ['rpm', '-qa', '--qf', '%{NAME}\\n'])
    docker = run(module, ['docker', 'version', '--format', '{{json .}}'])
    compose = run(module, ['docker', 'compose', 'version', '--short']) if docker is not None else None

    module.exit_json(
        changed=False,
        os=read_os(),
        kernel=platform.release(),
        rpm_packages=None if rpm is None else count_lines(rpm),
        memory=parse_meminfo(read_file('/proc/meminfo')),
        disks=disks,
        sizes=[{'path': path, 'bytes': tree_size(path)} for path in params['size_paths']],
        docker=parse_docker_version(docker) if docker is not None else {'client': None, 'server': None},
        compose=parse_compose_version(compose) if compose is not None else None,
        pihole=read_pihole(params) if params['pihole_password'] is not None else None,
    )


if __name__ == '__main__':
    main()
