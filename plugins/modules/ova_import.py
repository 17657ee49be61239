#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: homelab.photon contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: ova_import
short_description: Import an OVA or OVF (the Photon OS OVA) into ESXi or vCenter, verified and streamed
version_added: 0.1.0
description:
  - Imports a local C(.ova) or C(.ovf), or one at a URL streamed through the host that runs the
    module, into a standalone ESXi host or a vCenter Server with pyvmomi.
  - Verifies the OVA's C(.mf) manifest for every file while it streams, and optionally a
    O(checksum) of the whole file. A mismatch aborts the import, removes the VM and names the file.
  - Before any upload, checks the OVF's virtual hardware version against what the target host
    supports, the errors of C(CreateImportSpec), the network mappings, the OVF properties and
    the datastore's free space.
  - Each disk is read straight out of the tar in large chunks (memory stays flat whatever its
    size) and sent to the device URL of the import lease, with lease progress at least every 5 s.
  - On any failure after the import started, the lease is aborted and the partial VM destroyed.
author:
  - homelab.photon contributors (@homelab-photon)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - homelab.photon.vsphere
attributes:
  check_mode:
    support: full
    details: Connects, runs every check (manifest and checksum included) and uploads nothing.
  diff_mode:
    support: none
  platform:
    platforms: posix
options:
  name:
    description:
      - Name of the virtual machine to create (or to remove with O(state=absent)).
    type: str
    required: true
  state:
    description:
      - V(present) imports the OVA unless a VM of that name already exists in the datacenter
        (then nothing changes, whatever the other options say, but O(hardware)).
      - V(absent) powers off and destroys the VM of that name if it exists.
    type: str
    choices: [present, absent]
    default: present
  src:
    description:
      - Path of a C(.ova) or C(.ovf) file on the host that runs the module, or an C(http://) or
        C(https://) URL of one. A URL is streamed; with a C(.ovf) URL the files it references are
        fetched relative to it. O(validate_certs) applies to an C(https://) URL too.
      - Required with O(state=present).
    type: str
  checksum:
    description:
      - Checksum of the whole O(src) file, as C(md5:HEX), C(sha1:HEX) or C(sha256:HEX).
      - Verified while the file streams; a mismatch fails the import and removes the VM.
    type: str
  datacenter:
    description:
      - Datacenter to import into. Defaults to the only one (a standalone ESXi has one,
        C(ha-datacenter)); required when there are several.
    type: str
  datastore:
    description:
      - Datastore for the VM's files. Defaults to the one with the most free space among those
        the target host (or cluster) can reach.
    type: str
  esxi_hostname:
    description:
      - ESXi host (as vCenter names it) to place the VM on. Mutually exclusive with O(cluster).
      - Defaults to the only host, or the cluster's choice with O(cluster).
    type: str
  cluster:
    description:
      - Cluster to place the VM in (vCenter). Mutually exclusive with O(esxi_hostname).
    type: str
  resource_pool:
    description:
      - Resource pool (by name) below the host or cluster. Defaults to its root pool.
    type: str
  folder:
    description:
      - VM folder to create the VM in, as a path below the datacenter's VM folder
        (for example C(homelab/photon)). Defaults to the datacenter's VM folder.
    type: str
  networks:
    description:
      - Mapping of OVF network names to networks (port groups) of the target.
      - The Photon OS OVA's NIC is on the OVF network C(None); map it, for example to C(VM Network).
      - Every network of the OVF must be mapped unless the target has a network of that name.
    type: dict
    default: {}
  disk_provisioning:
    description:
      - How the disks are provisioned on the datastore.
    type: str
    choices: [thin, thick, eagerZeroedThick]
    default: thin
  properties:
    description:
      - Values of OVF properties (vApp options) by key. Each key must be a property of the OVF
        that is user-configurable.
    type: dict
    default: {}
  guestinfo:
    description:
      - Plain C(guestinfo.*) keys written into the VM's extraConfig. The key C(hostname) becomes
        C(guestinfo.hostname); a leading C(guestinfo.) in a key is accepted.
      - Keys of O(cloud_init) must not be given here.
    type: dict
    default: {}
  cloud_init:
    description:
      - cloud-init data for the VMware guestinfo datasource, given as text. Each part is written
        gzip+base64 into C(guestinfo.<part>) with C(guestinfo.<part>.encoding=gzip+base64).
    type: dict
    suboptions:
      userdata:
        description: User data (for example a C(#cloud-config) document).
        type: str
      metadata:
        description: Meta data (for example C(instance-id), C(local-hostname), network config).
        type: str
      vendordata:
        description: Vendor data.
        type: str
  hardware:
    description:
      - The VM's size, instead of the OVA's. Unset or V(0) values keep the OVA's.
      - Applied in the import spec, before the VM is first powered on.
      - A VM that exists with another size is reconfigured when it is powered off (changed); a
        powered-on VM keeps its size and the module warns (power it off and run again).
    type: dict
    suboptions:
      num_cpus:
        description: Number of virtual CPUs.
        type: int
      memory_mb:
        description: Memory in MB.
        type: int
  power_on:
    description:
      - Power the VM on after the import.
    type: bool
    default: false
  wait_for_ip:
    description:
      - After powering on, wait until VMware Tools reports an IP address. Needs O(power_on).
      - With a VM that already exists and is powered on, waits for its address too (no change).
      - If no address comes within O(wait_for_ip_timeout) the module fails; the imported VM is
        kept (the import itself succeeded).
    type: bool
    default: false
  wait_for_ip_timeout:
    description:
      - Seconds to wait for an IP address with O(wait_for_ip).
    type: int
    default: 300
seealso:
  - module: community.vmware.vmware_deploy_ovf
notes:
  - The device URL's C(*) host (standalone ESXi) is replaced by the O(hostname) and O(port)
    connected to.
  - A VM that already exists is not compared with the options (but O(hardware)); remove it first to re-import.
  - Proven in the lab against the govmomi vSphere simulator in ESXi and vCenter modes.
"""

EXAMPLES = r"""
- name: Import the Photon OS OVA into a standalone ESXi
  homelab.photon.ova_import:
    hostname: esxi.lan
    username: root
    password: "{{ esxi_password }}"
    src: /srv/images/photon-hw11-5.0-dde71ec57.x86_64.ova
    checksum: "md5:0123456789abcdef0123456789abcdef"
    name: photon-1
    datastore: datastore1
    networks:
      "None": VM Network
    cloud_init:
      metadata: |
        instance-id: photon-1
        local-hostname: photon-1
      userdata: |
        #cloud-config
        ssh_authorized_keys:
          - "{{ lookup('ansible.builtin.file', '~/.ssh/id_ed25519.pub') }}"
    power_on: true
    wait_for_ip: true
  delegate_to: localhost

- name: Remove it
  homelab.photon.ova_import:
    hostname: esxi.lan
    username: root
    password: "{{ esxi_password }}"
    name: photon-1
    state: absent
  delegate_to: localhost
"""

RETURN = r"""
vm:
  description: The VM (after the import, or the one that was already there). Empty when absent.
  returned: always
  type: dict
  contains:
    name:
      description: VM name.
      type: str
      sample: photon-1
    moid:
      description: Managed object id.
      type: str
      sample: vm-42
    uuid:
      description: BIOS UUID.
      type: str
      sample: 4216c8e1-5c2f-8b7f-2c1e-3f7c1a0b9d11
    hw_version:
      description: Virtual hardware version.
      type: str
      sample: vmx-11
    guest_id:
      description: Guest OS id.
      type: str
      sample: vmwarePhoton64Guest
    power_state:
      description: Power state.
      type: str
      sample: poweredOn
    ip_addresses:
      description: IP addresses VMware Tools reports.
      type: list
      elements: str
      sample: ["192.168.1.50"]
    esxi_hostname:
      description: The ESXi host the VM runs on (as vCenter names it).
      type: str
      sample: esxi01.lan
    hardware:
      description: The VM's size.
      type: dict
      contains:
        num_cpus:
          description: Number of virtual CPUs.
          type: int
          sample: 2
        memory_mb:
          description: Memory in MB.
          type: int
          sample: 2048
would_upload_bytes:
  description: In check mode, the bytes a real run would upload (the disks' sizes).
  returned: check mode, when the VM would be imported
  type: int
  sample: 197132288
transfer:
  description: What was uploaded. Zero when nothing was.
  returned: always
  type: dict
  contains:
    bytes:
      description: Bytes sent to the host.
      type: int
      sample: 197132288
    seconds:
      description: Seconds from the start of the first upload to the end of the last.
      type: float
      sample: 2.5
    mb_per_s:
      description: Rate in MB/s (10^6 bytes per second).
      type: float
      sample: 78.9
"""

import gc
import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.homelab.photon.plugins.module_utils._ova import OvaError
from ansible_collections.homelab.photon.plugins.module_utils._ovaimport import Importer
from ansible_collections.homelab.photon.plugins.module_utils._vsphere import (
    PYVMOMI_IMPORT_ERROR, VsphereError, fault_message, vsphere_argument_spec,
)

# The steps are in module_utils: _ovaimport (placement, checks, lease, upload, clean-up),
# _ovasource (reading the OVA or OVF once, hashing every byte), _ova (pure parsing and checks),
# _upload (the TLS upload of a disk) and _vsphere (connection, tasks, lease progress).


def main():
    # What is loaded by now (basic, pyVmomi's type registry: some 35,000 objects) lives until the
    # process ends. Freezing it spares the collector scanning it again, during the import and in
    # the interpreter's teardown (measured: 40 ms of teardown down to 14 ms).
    gc.freeze()
    argument_spec = vsphere_argument_spec()
    argument_spec.update(
        name=dict(type="str", required=True),
        state=dict(type="str", default="present", choices=["present", "absent"]),
        src=dict(type="str"),
        checksum=dict(type="str"),
        datacenter=dict(type="str"),
        datastore=dict(type="str"),
        esxi_hostname=dict(type="str"),
        cluster=dict(type="str"),
        resource_pool=dict(type="str"),
        folder=dict(type="str"),
        networks=dict(type="dict", default={}),
        disk_provisioning=dict(type="str", default="thin", choices=["thin", "thick", "eagerZeroedThick"]),
        properties=dict(type="dict", default={}),
        guestinfo=dict(type="dict", default={}),
        cloud_init=dict(type="dict", options=dict(
            userdata=dict(type="str"), metadata=dict(type="str"), vendordata=dict(type="str"))),
        hardware=dict(type="dict", options=dict(num_cpus=dict(type="int"), memory_mb=dict(type="int"))),
        power_on=dict(type="bool", default=False),
        wait_for_ip=dict(type="bool", default=False),
        wait_for_ip_timeout=dict(type="int", default=300),
    )
    module = AnsibleModule(
        argument_spec=argument_spec,
        supports_check_mode=True,
        mutually_exclusive=[("esxi_hostname", "cluster")],
        required_if=[("state", "present", ("src",))],
    )
    if module.params["wait_for_ip"] and not module.params["power_on"]:
        module.fail_json(msg="wait_for_ip needs power_on=true")
    if PYVMOMI_IMPORT_ERROR:
        module.fail_json(msg=missing_required_lib("pyvmomi"), exception=PYVMOMI_IMPORT_ERROR)
    importer = Importer(module)
    try:
        if module.params["state"] == "absent":
            result = importer.absent()
        else:
            result = importer.present()
    except (OvaError, VsphereError) as exc:
        module.fail_json(msg=str(exc), warnings=importer.warnings)
    except Exception as exc:  # pylint: disable=broad-except
        module.fail_json(msg="ova_import failed: %s" % fault_message(exc),
                         exception=traceback.format_exc())
    finally:
        if importer.conn is not None:
            importer.conn.close()
    for w in importer.warnings:
        module.warn(w)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
