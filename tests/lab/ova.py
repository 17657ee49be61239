"""Generate Photon-like test OVAs for the lab (importable module and command line).

The descriptor is modelled on Photon OS's ``photon-hw11`` OVA: virtual hardware ``vmx-11``, guest
``vmwarePhoton64Guest``, a paravirtual SCSI controller, one vmxnet3 NIC on the OVF network
``None`` and one streamOptimized disk made by ``qemu-img convert -O vmdk -o
subformat=streamOptimized`` from a raw image of the requested size. A ``.mf`` manifest lists the
SHA1 (or SHA256) sum of every file and ``tar -cf`` packs the ``.ovf`` first and the ``.mf``
second, as ovftool does (``manifest_last=True`` puts the manifest at the end).

A streamOptimized VMDK compresses its grains, so a disk of zeros is a few KiB whatever its size.
To make "an 8 MB OVA" whose disk really carries 8 MB of bytes the raw image is filled with random
(incompressible) data by default (``fill="random"``): the VMDK is then slightly larger than the
raw image, and the bytes an import uploads are about the disk size. The 1 GB and 4 GB benchmark
OVAs use the same random fill (cached under tests/lab/.cache/ova/ because qemu-img deflates at
about 60 MB/s here); ``fill="zero"`` gives a tiny disk when only the descriptor matters.

Ways to make a bad OVA for failure tests: ``corrupt_manifest`` (the disk's digest in the ``.mf``
is wrong), ``truncate_to`` (the tar is cut after that many bytes), ``vmx`` newer than the host
supports, ``network`` of a name the target does not have, ``properties`` that are not
user-configurable.

Command line: ``python3 tests/lab/ova.py --size-mb 8 --out DIR [--vmx vmx-11] ...``
prints the OVA's path and the disk's byte count as JSON.
"""

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from xml.sax.saxutils import escape, quoteattr

HERE = os.path.dirname(os.path.abspath(__file__))
CACHE = os.path.join(HERE, ".cache", "ova")
MIB = 1024 * 1024

OVF_TEMPLATE = """<?xml version="1.0" encoding="UTF-8"?>
<Envelope vmw:buildId="build-homelab-lab"
    xmlns="http://schemas.dmtf.org/ovf/envelope/1"
    xmlns:cim="http://schemas.dmtf.org/wbem/wscim/1/common"
    xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1"
    xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData"
    xmlns:vmw="http://www.vmware.com/schema/ovf"
    xmlns:vssd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <References>
    <File ovf:href={disk_href} ovf:id="file1" ovf:size="{disk_size}"/>
  </References>
  <DiskSection>
    <Info>Virtual disk information</Info>
    <Disk ovf:capacity="{capacity_mb}" ovf:capacityAllocationUnits="byte * 2^20"
        ovf:diskId="vmdisk1" ovf:fileRef="file1" ovf:populatedSize="{populated}"
        ovf:format="http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized"/>
  </DiskSection>
  <NetworkSection>
    <Info>The list of logical networks</Info>
    <Network ovf:name={network}>
      <Description>The {network_text} network</Description>
    </Network>
  </NetworkSection>
  <VirtualSystem ovf:id={name}>
    <Info>A virtual machine</Info>
    <Name>{name_text}</Name>
    <OperatingSystemSection ovf:id="36" vmw:osType="vmwarePhoton64Guest">
      <Info>The kind of installed guest operating system</Info>
      <Description>VMware Photon OS (64-bit)</Description>
    </OperatingSystemSection>
    <VirtualHardwareSection>
      <Info>Virtual hardware requirements</Info>
      <System>
        <vssd:ElementName>Virtual Hardware Family</vssd:ElementName>
        <vssd:InstanceID>0</vssd:InstanceID>
        <vssd:VirtualSystemIdentifier>{name_text}</vssd:VirtualSystemIdentifier>
        <vssd:VirtualSystemType>{vmx}</vssd:VirtualSystemType>
      </System>
      <Item>
        <rasd:AllocationUnits>hertz * 10^6</rasd:AllocationUnits>
        <rasd:Description>Number of Virtual CPUs</rasd:Description>
        <rasd:ElementName>2 virtual CPU(s)</rasd:ElementName>
        <rasd:InstanceID>1</rasd:InstanceID>
        <rasd:ResourceType>3</rasd:ResourceType>
        <rasd:VirtualQuantity>2</rasd:VirtualQuantity>
      </Item>
      <Item>
        <rasd:AllocationUnits>byte * 2^20</rasd:AllocationUnits>
        <rasd:Description>Memory Size</rasd:Description>
        <rasd:ElementName>2048MB of memory</rasd:ElementName>
        <rasd:InstanceID>2</rasd:InstanceID>
        <rasd:ResourceType>4</rasd:ResourceType>
        <rasd:VirtualQuantity>2048</rasd:VirtualQuantity>
      </Item>
      <Item>
        <rasd:Address>0</rasd:Address>
        <rasd:Description>SCSI Controller</rasd:Description>
        <rasd:ElementName>SCSI Controller 0</rasd:ElementName>
        <rasd:InstanceID>3</rasd:InstanceID>
        <rasd:ResourceSubType>VirtualSCSI</rasd:ResourceSubType>
        <rasd:ResourceType>6</rasd:ResourceType>
      </Item>
      <Item>
        <rasd:AddressOnParent>0</rasd:AddressOnParent>
        <rasd:ElementName>Hard Disk 1</rasd:ElementName>
        <rasd:HostResource>ovf:/disk/vmdisk1</rasd:HostResource>
        <rasd:InstanceID>4</rasd:InstanceID>
        <rasd:Parent>3</rasd:Parent>
        <rasd:ResourceType>17</rasd:ResourceType>
      </Item>
      <Item>
        <rasd:AddressOnParent>7</rasd:AddressOnParent>
        <rasd:AutomaticAllocation>true</rasd:AutomaticAllocation>
        <rasd:Connection>{network_text}</rasd:Connection>
        <rasd:Description>VmxNet3 ethernet adapter on &quot;{network_text}&quot;</rasd:Description>
        <rasd:ElementName>Ethernet 1</rasd:ElementName>
        <rasd:InstanceID>5</rasd:InstanceID>
        <rasd:ResourceSubType>VmxNet3</rasd:ResourceSubType>
        <rasd:ResourceType>10</rasd:ResourceType>
      </Item>
    </VirtualHardwareSection>
{product_section}  </VirtualSystem>
</Envelope>
"""


def _product_section(properties):
    """OVF ProductSection for a list of property dicts (key, value, user_configurable, type)."""
    if not properties:
        return ""
    lines = ["    <ProductSection>", "      <Info>Information about the installed software</Info>",
             "      <Product>Photon OS (lab stand-in)</Product>"]
    for prop in properties:
        lines.append(
            "      <Property ovf:key=%s ovf:type=%s ovf:userConfigurable=%s ovf:value=%s>"
            % (quoteattr(prop["key"]), quoteattr(prop.get("type", "string")),
               quoteattr("true" if prop.get("user_configurable", True) else "false"),
               quoteattr(str(prop.get("value", ""))))
        )
        lines.append("        <Label>%s</Label>" % escape(prop.get("label", prop["key"])))
        lines.append("      </Property>")
    lines.append("    </ProductSection>")
    return "\n".join(lines) + "\n"


def ovf_descriptor(name, disk_href, disk_size, capacity_mb, vmx="vmx-11", network="None",
                   properties=None, populated=None):
    """The OVF descriptor text (a pure function: tests and the generator share it)."""
    return OVF_TEMPLATE.format(
        disk_href=quoteattr(disk_href), disk_size=int(disk_size), capacity_mb=int(capacity_mb),
        populated=int(populated if populated is not None else capacity_mb * MIB),
        network=quoteattr(network), network_text=escape(network), name=quoteattr(name),
        name_text=escape(name), vmx=escape(vmx), product_section=_product_section(properties),
    )


def _digest(path, algorithm):
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(4 * MIB), b""):
            h.update(chunk)
    return h.hexdigest()


def ensure_qemu_img():
    if shutil.which("qemu-img"):
        return
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "install", "-y", "qemu-utils"], check=True, env=env,
                   stdout=subprocess.DEVNULL)


def make_raw(path, size_mb, fill="random"):
    """A raw image of size_mb MiB: random (incompressible) bytes, or a sparse file of zeros."""
    with open(path, "wb") as f:
        if fill == "zero":
            f.truncate(size_mb * MIB)
            return
        if fill != "random":
            raise ValueError("fill must be 'random' or 'zero'")
        for dummy in range(size_mb):
            f.write(os.urandom(MIB))


def make_vmdk(raw, vmdk):
    ensure_qemu_img()
    subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", "vmdk", "-o",
                    "subformat=streamOptimized", raw, vmdk], check=True)


def build(out_dir, size_mb=8, name="photon-lab", fill="random", vmx="vmx-11", network="None",
          properties=None, manifest="sha1", corrupt_manifest=False, truncate_to=None,
          package="ova", manifest_last=False, capacity_mb=None):
    """Build a test OVA (package="ova") or an OVF directory (package="ovf") in out_dir.

    capacity_mb overrides the disk capacity the descriptor claims (default: size_mb).
    Returns a dict: path (the .ova or the .ovf), ovf, disk (file names), disk_bytes (size of the
    VMDK, i.e. what an import uploads), capacity_bytes, size (of the .ova), sha1/sha256/md5 (of
    the .ova or the .ovf file), manifest (dict file -> digest as written).
    """
    os.makedirs(out_dir, exist_ok=True)
    ovf_name = name + ".ovf"
    disk_name = name + "-disk1.vmdk"
    mf_name = name + ".mf"
    work = tempfile.mkdtemp(prefix="homelab-ova-", dir=out_dir)
    try:
        raw = os.path.join(work, "disk.raw")
        vmdk = os.path.join(work, disk_name)
        make_raw(raw, size_mb, fill)
        make_vmdk(raw, vmdk)
        os.unlink(raw)
        disk_bytes = os.path.getsize(vmdk)
        with open(os.path.join(work, ovf_name), "w", encoding="utf-8") as f:
            # capacity_mb: what the descriptor claims (a failure test can claim more than is there)
            f.write(ovf_descriptor(name, disk_name, disk_bytes, capacity_mb or size_mb, vmx=vmx,
                                   network=network, properties=properties))
        files = [ovf_name, disk_name]
        sums = {}
        if manifest:
            lines = []
            for fname in files:
                digest = _digest(os.path.join(work, fname), manifest)
                if corrupt_manifest and fname == disk_name:
                    digest = ("0" if digest[0] != "0" else "1") + digest[1:]
                sums[fname] = digest
                lines.append("%s(%s)= %s\n" % (manifest.upper(), fname, digest))
            with open(os.path.join(work, mf_name), "w", encoding="ascii") as f:
                f.writelines(lines)
            # ovftool's order: descriptor, manifest, disks (manifest_last: at the end instead).
            if manifest_last:
                files.append(mf_name)
            else:
                files.insert(1, mf_name)
        if package == "ovf":
            for fname in files:
                os.replace(os.path.join(work, fname), os.path.join(out_dir, fname))
            path = os.path.join(out_dir, ovf_name)
        else:
            path = os.path.join(out_dir, name + ".ova")
            # tar -cf with the .ovf first, as the OVF specification requires for an OVA.
            subprocess.run(["tar", "-cf", path, "--format=ustar", "-C", work] + files, check=True)
            if truncate_to is not None:
                with open(path, "r+b") as f:
                    f.truncate(truncate_to)
        return {
            "path": path, "ovf": ovf_name, "disk": disk_name, "disk_bytes": disk_bytes,
            "capacity_bytes": size_mb * MIB, "size": os.path.getsize(path),
            "sha1": _digest(path, "sha1"), "sha256": _digest(path, "sha256"),
            "md5": _digest(path, "md5"), "manifest": sums, "vmx": vmx, "network": network,
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)


def cached(size_mb, **kwargs):
    """build() once per parameter set under tests/lab/.cache/ova/ (for the 1 GB and 4 GB OVAs)."""
    key = hashlib.sha1(json.dumps(dict(kwargs, size_mb=size_mb), sort_keys=True).encode()).hexdigest()[:12]
    directory = os.path.join(CACHE, "%dM-%s" % (size_mb, key))
    meta = os.path.join(directory, "info.json")
    if os.path.exists(meta):
        with open(meta, encoding="utf-8") as f:
            info = json.load(f)
        if os.path.exists(info["path"]) and os.path.getsize(info["path"]) == info["size"]:
            return info
    shutil.rmtree(directory, ignore_errors=True)
    info = build(directory, size_mb=size_mb, **kwargs)
    with open(meta, "w", encoding="utf-8") as f:
        json.dump(info, f)
    return info


def tar_members(path):
    """(name, offset_of_data, size) of every member of a (possibly truncated) tar, in order."""
    out = []
    with tarfile.open(path, "r:") as tar:
        for member in tar:
            out.append((member.name, member.offset_data, member.size))
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--size-mb", type=int, default=8)
    p.add_argument("--name", default="photon-lab")
    p.add_argument("--fill", choices=["random", "zero"], default="random")
    p.add_argument("--vmx", default="vmx-11")
    p.add_argument("--network", default="None")
    p.add_argument("--property", action="append", default=[],
                   help="KEY=VALUE (user-configurable) or KEY=VALUE:fixed (not user-configurable)")
    p.add_argument("--manifest", choices=["sha1", "sha256", "none"], default="sha1")
    p.add_argument("--corrupt-manifest", action="store_true")
    p.add_argument("--truncate-to", type=int)
    p.add_argument("--package", choices=["ova", "ovf"], default="ova")
    a = p.parse_args(argv)
    props = []
    for item in a.property:
        key, dummy, value = item.partition("=")
        fixed = value.endswith(":fixed")
        props.append({"key": key, "value": value[:-6] if fixed else value,
                      "user_configurable": not fixed})
    info = build(a.out, size_mb=a.size_mb, name=a.name, fill=a.fill, vmx=a.vmx, network=a.network,
                 properties=props, manifest=None if a.manifest == "none" else a.manifest,
                 corrupt_manifest=a.corrupt_manifest, truncate_to=a.truncate_to, package=a.package)
    print(json.dumps(info, indent=2))


if __name__ == "__main__":
    main()
