# -*- coding: utf-8 -*-
# Copyright: homelab.photon contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The steps of homelab.photon.ova_import (private): placement, checks, import, upload, clean-up.

`Importer(module).present()` finds the datacenter and an existing VM, reads the descriptor and
the manifest from the source (`_ovasource`), runs every check before the upload (`_ova`), asks
for an import lease, streams each disk to its device URL (`_upload`) while the lease's progress
is reported, and on any failure aborts the lease and destroys the partial VM.
`Importer(module).absent()` powers off and destroys the VM. Both return the module's result.
"""

from __future__ import annotations

import os
import time
from urllib.parse import urlsplit

from ansible_collections.homelab.photon.plugins.module_utils._ova import (
    OvaError, check_hardware, check_properties, check_space, device_url, guestinfo_extra_config,
    map_networks, parse_checksum, parse_manifest, parse_ovf, required_space, transfer_stats,
)
from ansible_collections.homelab.photon.plugins.module_utils._ovasource import OvaSource, OvfSource
from ansible_collections.homelab.photon.plugins.module_utils._upload import HttpsUpload, UploadError
from ansible_collections.homelab.photon.plugins.module_utils._vsphere import (
    VM_FACT_PATHS, Connection, LeaseProgress, VsphereError, fault_message, vim, vm_facts, wait_for_lease, wait_for_task,
)

PROGRESS_EVERY = 4.0  # seconds; the issue asks for at most 5
MAX_DESCRIPTOR = 32 * 1024 * 1024
MANIFEST_ALGOS_UNKNOWN = ("sha1", "sha256")  # what ovftool writes, used before the .mf is seen


class Importer:
    """One run of the module: `present()` or `absent()` returns its result; `conn` and
    `warnings` are left for `main` to close and report."""

    def __init__(self, module):
        self.module = module
        self.p = module.params
        self.conn = None
        self.warnings = []

    # --- placement ---------------------------------------------------------------------------

    def datacenter(self):
        dcs = self.conn.objects(vim.Datacenter)
        if self.p["datacenter"]:
            for dc in dcs:
                if dc.name == self.p["datacenter"]:
                    return dc
            raise VsphereError("datacenter %r not found on %s (datacenters: %s)"
                               % (self.p["datacenter"], self.p["hostname"],
                                  ", ".join(sorted(d.name for d in dcs)) or "none"))
        if len(dcs) != 1:
            raise VsphereError("%s has %d datacenters (%s): set datacenter"
                               % (self.p["hostname"], len(dcs), ", ".join(sorted(d.name for d in dcs))))
        return dcs[0]

    def find_vm(self, dc):
        return self.conn.find(vim.VirtualMachine, self.p["name"], dc)

    def placement(self, dc):
        """(compute resource, host or None, resource pool, folder, datastore)."""
        host = None
        if self.p["cluster"]:
            compute = self.conn.find(vim.ClusterComputeResource, self.p["cluster"], dc)
            if compute is None:
                raise VsphereError("cluster %r not found in datacenter %s (clusters: %s)"
                                   % (self.p["cluster"], dc.name, self._names(vim.ClusterComputeResource, dc)))
        else:
            hosts = self.conn.objects(vim.HostSystem, dc)
            if self.p["esxi_hostname"]:
                host = next((h for h in hosts if h.name == self.p["esxi_hostname"]), None)
                if host is None:
                    raise VsphereError("ESXi host %r not found in datacenter %s (hosts: %s)"
                                       % (self.p["esxi_hostname"], dc.name,
                                          ", ".join(sorted(h.name for h in hosts)) or "none"))
            elif len(hosts) == 1:
                host = hosts[0]
            else:
                raise VsphereError("datacenter %s has %d hosts (%s): set esxi_hostname or cluster"
                                   % (dc.name, len(hosts), ", ".join(sorted(h.name for h in hosts))))
            compute = host.parent
        pool = compute.resourcePool
        if self.p["resource_pool"]:
            pool = self.conn.find(vim.ResourcePool, self.p["resource_pool"], compute)
            if pool is None:
                raise VsphereError("resource pool %r not found below %s (pools: %s)"
                                   % (self.p["resource_pool"], compute.name,
                                      self._names(vim.ResourcePool, compute)))
        folder = dc.vmFolder
        if self.p["folder"]:
            for part in [x for x in self.p["folder"].strip("/").split("/") if x]:
                child = next((c for c in folder.childEntity
                              if isinstance(c, vim.Folder) and c.name == part), None)
                if child is None:
                    raise VsphereError("folder %r not found: %r has no subfolder %r"
                                       % (self.p["folder"], folder.name, part))
                folder = child
        all_ds = self.conn.objects(vim.Datastore, dc)
        reachable = set(d._moId for d in self._safe(lambda: compute.datastore) or [])
        candidates = [d for d in all_ds if not reachable or d._moId in reachable]
        if self.p["datastore"]:
            ds = next((d for d in candidates if d.name == self.p["datastore"]), None)
            if ds is None:
                raise VsphereError("datastore %r not found or not reachable from %s (datastores: %s)"
                                   % (self.p["datastore"], compute.name,
                                      ", ".join(sorted(d.name for d in candidates)) or "none"))
        else:
            if not candidates:
                raise VsphereError("no datastore is reachable from %s" % compute.name)
            ds = max(candidates, key=lambda d: d.summary.freeSpace)
        return compute, host, pool, folder, ds

    @staticmethod
    def _safe(fn):
        try:
            return fn()
        except Exception:  # pylint: disable=broad-except
            return None

    def _names(self, vimtype, root):
        return ", ".join(sorted(o.name for o in self.conn.objects(vimtype, root))) or "none"

    def host_versions(self, compute, host):
        hosts = [host] if host is not None else list(compute.host)
        versions = []
        for h in hosts:
            version = self.conn.properties(h, ["config.product.version"]).get("config.product.version")
            if version:
                versions.append(version)
        versions.sort(key=lambda v: [int(x) if x.isdigit() else 0 for x in v.split(".")])
        name = host.name if host is not None else compute.name
        return name, versions[0] if versions else self.conn.about.version

    def supported_vmx(self, compute, host):
        browser = compute.environmentBrowser
        try:
            descriptors = browser.QueryConfigOptionDescriptor()
        except Exception:  # pylint: disable=broad-except
            return []
        return [d.key for d in descriptors if d.createSupported]

    # --- present -----------------------------------------------------------------------------

    def present(self):
        p = self.p
        checksum = parse_checksum(p["checksum"])
        extra = guestinfo_extra_config(p["guestinfo"], p["cloud_init"])
        src = p["src"]
        is_url = src.startswith(("http://", "https://"))
        if not is_url and not os.path.isfile(src):
            raise OvaError("src %s is not a file" % src)
        kind = os.path.splitext(urlsplit(src).path if is_url else src)[1].lower()
        if kind not in (".ova", ".ovf"):
            raise OvaError("src must be a .ova or .ovf file or URL, got %s" % src)

        self.conn = self._connect()
        dc = self.datacenter()
        existing = self.find_vm(dc)
        if existing is not None:
            # Nothing is imported again, whatever the other options say; only the size (hardware)
            # is made what was asked, while the VM is off. A powered-on VM is still waited for.
            changed = self._resize(existing)
            if p["wait_for_ip"] and self.vm_facts(existing)["power_state"] == "poweredOn":
                self._wait_ip(existing)
            return dict(changed=changed, vm=self.vm_facts(existing), transfer=transfer_stats(0, 0))

        source_cls = OvaSource if kind == ".ova" else OvfSource
        source = source_cls(src, p["validate_certs"], checksum[0] if checksum else None)
        try:
            return self._import(dc, source, checksum, extra)
        finally:
            source.close()

    def _import(self, dc, source, checksum, extra):
        p = self.p
        first = source.next_entry(MANIFEST_ALGOS_UNKNOWN)
        if first is None or not first.name.lower().endswith(".ovf"):
            raise OvaError("%s: the first file must be the .ovf descriptor, found %s"
                           % (p["src"], first.name if first else "nothing"))
        descriptor = first.read_all(MAX_DESCRIPTOR).decode("utf-8-sig")
        ovf_name = first.name
        digests = {ovf_name: first.digests()}
        ovf = parse_ovf(descriptor)
        if isinstance(source, OvfSource):
            source.set_files([f["href"] for f in ovf["files"]])

        # Peek at the next file: ovftool puts the manifest right after the descriptor.
        manifest = None
        pending = source.next_entry(MANIFEST_ALGOS_UNKNOWN)
        if pending is not None and pending.name.lower().endswith(".mf"):
            manifest = parse_manifest(pending.read_all(MAX_DESCRIPTOR).decode("utf-8", "replace"))
            self._verify_one(manifest, ovf_name, digests[ovf_name])
            pending = None

        compute, host, pool, folder, ds = self.placement(dc)
        host_name, host_version = self.host_versions(compute, host)
        message = check_hardware(ovf["vmx"], self.supported_vmx(compute, host), host_name, host_version)
        if message:
            raise OvaError(message)
        available = dict((n.name, n) for n in self.conn.objects(vim.Network, dc))
        mapping = map_networks(ovf["networks"], p["networks"], available)
        props = check_properties(ovf["properties"], p["properties"])
        needed = required_space(ovf["disks"], ovf["files"], p["disk_provisioning"])
        message = check_space(needed, ds.summary.freeSpace, ds.name)
        if message:
            raise OvaError(message)

        params = vim.OvfManager.CreateImportSpecParams(
            entityName=p["name"], diskProvisioning=p["disk_provisioning"],
            networkMapping=[vim.OvfManager.NetworkMapping(name=k, network=available[v])
                            for k, v in sorted(mapping.items())],
            propertyMapping=[vim.KeyValue(key=k, value=v) for k, v in props])
        if host is not None:
            params.hostSystem = host
        result = self.conn.content.ovfManager.CreateImportSpec(descriptor, pool, ds, params)
        if result.error:
            raise OvaError("CreateImportSpec on %s rejected %s: %s"
                           % (host_name, ovf_name, "; ".join(fault_message(e) for e in result.error)))
        for w in result.warning or []:
            self.warnings.append("CreateImportSpec: %s" % fault_message(w))
        spec = result.importSpec
        self._adjust_spec(spec, extra)
        items = dict((f.path, f) for f in result.fileItem or [])
        for href in items:
            if href not in [f["href"] for f in ovf["files"]]:
                raise OvaError("CreateImportSpec asks for %s, which the OVF does not reference" % href)
        total = sum(f.size or 0 for f in items.values())

        if self.module.check_mode:
            self._consume(source, pending, manifest, digests, ovf_name, checksum, items, upload=None)
            return dict(changed=True, vm={"name": p["name"], "moid": None, "uuid": None,
                                          "hw_version": spec.configSpec.version,
                                          "guest_id": spec.configSpec.guestId,
                                          "power_state": "poweredOn" if p["power_on"] else "poweredOff",
                                          "ip_addresses": [], "esxi_hostname": p["esxi_hostname"],
                                          "hardware": {"num_cpus": spec.configSpec.numCPUs,
                                                       "memory_mb": spec.configSpec.memoryMB}},
                        transfer=transfer_stats(0, 0), would_upload_bytes=total)

        lease = pool.ImportVApp(spec, folder, host)
        vm = None
        try:
            info = wait_for_lease(lease)
            vm = info.entity
            urls = dict((d.importKey, d) for d in info.deviceUrl)
            state = {"start": None, "end": None, "sent": 0}

            def upload(entry):
                item = items[entry.name]
                dev = urls.get(item.deviceId)
                if dev is None:
                    raise OvaError("the lease has no device URL for %s (%s)" % (entry.name, item.deviceId))
                url = device_url(dev.url, p["hostname"], p["port"])
                self._upload(url, entry, item, state, progress)

            with LeaseProgress(lease, total, PROGRESS_EVERY) as progress:
                self._consume(source, pending, manifest, digests, ovf_name, checksum, items, upload)
            progress.report(100)
            lease.HttpNfcLeaseComplete()
        except BaseException as exc:
            self._cleanup(lease, vm, dc)
            if isinstance(exc, (OvaError, VsphereError)):
                raise
            if isinstance(exc, vim.fault.VimFault) or hasattr(exc, "msg"):
                raise VsphereError(fault_message(exc))
            raise

        seconds = (state["end"] or 0) - (state["start"] or 0)
        transfer = transfer_stats(state["sent"], seconds)
        if p["power_on"]:
            wait_for_task(vm.PowerOnVM_Task())
            if p["wait_for_ip"]:
                self._wait_ip(vm)
        return dict(changed=True, vm=self.vm_facts(vm), transfer=transfer)

    def _hardware(self):
        """{"num_cpus": N, "memory_mb": M} of what the hardware option asks (0 or unset: the OVA's)."""
        asked = self.p.get("hardware") or {}
        return dict((k, asked[k]) for k in ("num_cpus", "memory_mb") if asked.get(k))

    def _resize(self, vm):
        """Give an existing VM the asked size: reconfigured when powered off, a warning when on."""
        asked = self._hardware()
        if not asked:
            return False
        facts = self.vm_facts(vm)
        differ = dict((k, v) for k, v in asked.items() if facts["hardware"].get(k) != v)
        if not differ:
            return False
        now = ", ".join("%s %s" % (k, facts["hardware"].get(k)) for k in sorted(differ))
        want = ", ".join("%s %s" % (k, v) for k, v in sorted(differ.items()))
        if facts["power_state"] != "poweredOff":
            self.warnings.append("VM %s is %s with %s, not %s: the size is changed only while the VM is powered "
                                 "off (power it off and run again)" % (self.p["name"], facts["power_state"], now, want))
            return False
        if not self.module.check_mode:
            spec = vim.vm.ConfigSpec()
            if "num_cpus" in differ:
                spec.numCPUs = differ["num_cpus"]
            if "memory_mb" in differ:
                spec.memoryMB = differ["memory_mb"]
            wait_for_task(vm.ReconfigVM_Task(spec))
        return True

    def _adjust_spec(self, spec, extra):
        cfg = spec.configSpec
        asked = self._hardware()
        if "num_cpus" in asked:
            cfg.numCPUs = asked["num_cpus"]
        if "memory_mb" in asked:
            cfg.memoryMB = asked["memory_mb"]
        if extra:
            cfg.extraConfig = list(cfg.extraConfig or []) + [
                vim.option.OptionValue(key=k, value=v) for k, v in extra]
        thin = self.p["disk_provisioning"] == "thin"
        eager = self.p["disk_provisioning"] == "eagerZeroedThick"
        for change in cfg.deviceChange or []:
            backing = getattr(change.device, "backing", None)
            if isinstance(change.device, vim.vm.device.VirtualDisk) and hasattr(backing, "thinProvisioned"):
                backing.thinProvisioned = thin
                backing.eagerlyScrub = eager

    def _consume(self, source, pending, manifest, digests, ovf_name, checksum, items, upload):
        """Read every remaining file once: upload disks, verify the manifest and checksum."""
        entry = pending
        seen = set([ovf_name])
        while True:
            if entry is None:
                entry = source.next_entry(self._algos(manifest))
                if entry is None:
                    break
            if entry.name in seen:
                raise OvaError("%s holds %s twice" % (self.p["src"], entry.name))
            seen.add(entry.name)
            if entry.name.lower().endswith(".mf"):
                manifest = parse_manifest(entry.read_all(MAX_DESCRIPTOR).decode("utf-8", "replace"))
            elif entry.name in items:
                if entry.size != (items[entry.name].size or entry.size):
                    raise OvaError("%s is %d bytes in %s but the OVF says %d"
                                   % (entry.name, entry.size, self.p["src"], items[entry.name].size))
                if upload is not None:
                    upload(entry)
                else:
                    entry.skip()
            else:
                entry.skip()
            digests[entry.name] = entry.digests()
            if manifest is not None:
                self._verify_one(manifest, entry.name, digests[entry.name])
            entry = None
        source.finish()
        missing = sorted(set(items) - seen)
        if missing:
            raise OvaError("%s lacks %s, which the OVF references (truncated or incomplete package)"
                           % (self.p["src"], ", ".join(missing)))
        if manifest is not None:
            for name in sorted(manifest):
                if name not in digests:
                    raise OvaError("the manifest lists %s, which %s lacks" % (name, self.p["src"]))
                self._verify_one(manifest, name, digests[name])
        if checksum:
            actual = source.digest(checksum[0])
            if actual != checksum[1]:
                raise OvaError("checksum mismatch for %s: %s is %s, expected %s"
                               % (self.p["src"], checksum[0], actual, checksum[1]))

    @staticmethod
    def _algos(manifest):
        if manifest is None:
            return MANIFEST_ALGOS_UNKNOWN
        return sorted(set(algo for algo, dummy in manifest.values()))

    def _verify_one(self, manifest, name, digests):
        if name.lower().endswith((".mf", ".cert")):
            return
        if name not in manifest:
            raise OvaError("%s is not listed in the manifest of %s" % (name, self.p["src"]))
        algo, expected = manifest[name]
        actual = digests.get(algo)
        if actual is None:
            return  # checked at the end, once every file is read
        if actual != expected:
            raise OvaError("manifest mismatch for %s in %s: %s is %s, the manifest says %s"
                           % (name, self.p["src"], algo.upper(), actual, expected))

    def _upload(self, url, entry, item, state, progress):
        parts = urlsplit(url)
        upload = HttpsUpload(parts.hostname, parts.port or 443, self.conn.ssl_context, timeout=600)
        path = parts.path + ("?" + parts.query if parts.query else "")
        headers = [("Content-Type", "application/x-vnd.vmware-streamVmdk"),
                   ("Content-Length", str(entry.size)), ("Connection", "close")]
        cookie = getattr(self.conn.si._stub, "cookie", None)  # pylint: disable=protected-access
        if cookie:
            headers.append(("Cookie", cookie))
        if state["start"] is None:
            state["start"] = time.monotonic()
        try:
            upload.start("PUT" if item.create else "POST", path, headers)
            for data in entry.chunks():
                upload.write(data)
                state["sent"] += len(data)
                progress.add(len(data))
            status, reason, body = upload.finish()
        except UploadError as exc:
            raise VsphereError("upload of %s to %s failed: %s" % (entry.name, parts.netloc, exc))
        finally:
            upload.close()
        state["end"] = time.monotonic()
        if status not in (200, 201, 204):
            raise VsphereError("upload of %s to %s failed: HTTP %d %s %s"
                               % (entry.name, parts.netloc, status, reason,
                                  body.decode("utf-8", "replace")[:200]))

    def _cleanup(self, lease, vm, dc):
        """Abort the lease and destroy the partial VM (the simulator's abort leaves it)."""
        try:
            if lease.state in (vim.HttpNfcLease.State.ready, vim.HttpNfcLease.State.initializing):
                lease.HttpNfcLeaseAbort()
        except Exception:  # pylint: disable=broad-except
            pass
        try:
            if vm is None:
                vm = self.find_vm(dc)
            if vm is not None:
                wait_for_task(vm.Destroy_Task(), timeout=300)
        except Exception as exc:  # pylint: disable=broad-except
            self.warnings.append("could not destroy the partial VM %s: %s" % (self.p["name"], exc))

    def _wait_ip(self, vm):
        deadline = time.monotonic() + self.p["wait_for_ip_timeout"]
        while True:
            if self.vm_facts(vm)["ip_addresses"]:
                return
            if time.monotonic() > deadline:
                raise VsphereError("VM %s was powered on but reported no IP address within %d s "
                                   "(are VMware Tools running in the guest?)"
                                   % (self.p["name"], self.p["wait_for_ip_timeout"]))
            time.sleep(1)

    # --- absent ------------------------------------------------------------------------------

    def absent(self):
        self.conn = self._connect()
        dc = self.datacenter()
        vm = self.find_vm(dc)
        if vm is None:
            return dict(changed=False, vm={}, transfer=transfer_stats(0, 0))
        facts = self.vm_facts(vm)
        if not self.module.check_mode:
            if vm.runtime.powerState != vim.VirtualMachinePowerState.poweredOff:
                wait_for_task(vm.PowerOffVM_Task())
            wait_for_task(vm.Destroy_Task())
        return dict(changed=True, vm=facts, transfer=transfer_stats(0, 0))

    # --- common ------------------------------------------------------------------------------

    def _connect(self):
        p = self.p
        return Connection(p["hostname"], p["port"], p["username"], p["password"], p["validate_certs"])

    def vm_facts(self, vm):
        props = self.conn.properties(vm, VM_FACT_PATHS)
        host = props.get("runtime.host")
        return vm_facts(vm._moId, props,  # pylint: disable=protected-access
                        self.conn.properties(host, ["name"]).get("name") if host is not None else None)
