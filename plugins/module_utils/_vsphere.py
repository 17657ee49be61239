# -*- coding: utf-8 -*-
# Copyright: homelab.photon contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared vSphere helpers of homelab.photon (private): connect, find objects, wait for tasks.

Objects are always found through a ContainerView. Besides being one round trip, that is what
works on a standalone ESXi: the govmomi simulator (and hosts seen in the field) can list a
datastore id under Datacenter.datastore that does not exist, while the view is consistent.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
import traceback

from ansible.module_utils.basic import env_fallback

PYVMOMI_IMPORT_ERROR = None
try:
    from pyVim.connect import Disconnect, SmartConnect
    from pyVmomi import vim, vmodl
except ImportError:  # pragma: no cover - reported by the module through missing_required_lib
    PYVMOMI_IMPORT_ERROR = traceback.format_exc()
    vim = vmodl = None


class VsphereError(Exception):
    """An error with a message meant for the user (the module turns it into fail_json)."""


def vsphere_argument_spec():
    """argument_spec entries of the connection options (see doc fragment homelab.photon.vsphere)."""
    return dict(
        hostname=dict(type="str", required=True, fallback=(env_fallback, ["VMWARE_HOST"])),
        port=dict(type="int", default=443, fallback=(env_fallback, ["VMWARE_PORT"])),
        username=dict(type="str", required=True, aliases=["user"],
                      fallback=(env_fallback, ["VMWARE_USER"])),
        password=dict(type="str", required=True, aliases=["pass", "pwd"], no_log=True,
                      fallback=(env_fallback, ["VMWARE_PASSWORD"])),
        validate_certs=dict(type="bool", default=True,
                            fallback=(env_fallback, ["VMWARE_VALIDATE_CERTS"])),
    )


def ssl_context(validate_certs):
    """The TLS context for the API and for uploads."""
    if validate_certs:
        return ssl.create_default_context()
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def fault_message(exc):
    """A readable one-line message from a vmodl fault or any exception."""
    msg = getattr(exc, "msg", None) or getattr(exc, "localizedMessage", None)
    if not msg and getattr(exc, "faultMessage", None):
        msg = "; ".join(str(m.message) for m in exc.faultMessage if getattr(m, "message", None))
    name = type(exc).__name__
    return "%s: %s" % (name, msg) if msg else (str(exc) or name)


class Connection:
    """A logged-in ServiceInstance with the helpers the modules need."""

    def __init__(self, hostname, port, username, password, validate_certs):
        self.hostname = hostname
        self.port = port
        self.username = username
        self.validate_certs = validate_certs
        self.ssl_context = ssl_context(validate_certs)
        where = "%s:%d" % (hostname, port)
        try:
            self.si = SmartConnect(host=hostname, port=port, user=username, pwd=password,
                                   sslContext=self.ssl_context, connectionPoolTimeout=-1)
        except vim.fault.InvalidLogin as exc:
            raise VsphereError("login to %s as %s failed: the user name or password is wrong (%s)"
                               % (where, username, fault_message(exc)))
        except ssl.SSLError as exc:
            raise VsphereError("TLS to %s failed: %s (set validate_certs=false for a self-signed "
                               "lab host)" % (where, exc))
        except (socket.error, OSError) as exc:
            raise VsphereError("cannot reach the vSphere API at %s: %s" % (where, exc))
        except vmodl.MethodFault as exc:
            raise VsphereError("login to %s failed: %s" % (where, fault_message(exc)))
        except Exception as exc:  # pylint: disable=broad-except
            raise VsphereError("cannot connect to %s: %s" % (where, exc))
        self.content = self.si.RetrieveContent()
        self.about = self.content.about

    @property
    def is_vcenter(self):
        return self.about.apiType == "VirtualCenter"

    def close(self):
        try:
            Disconnect(self.si)
        except Exception:  # pylint: disable=broad-except
            pass

    def objects(self, vimtype, root=None):
        """Every object of a type below root (default: the root folder), through a ContainerView."""
        view = self.content.viewManager.CreateContainerView(
            root or self.content.rootFolder, [vimtype], True)
        try:
            return list(view.view)
        finally:
            view.DestroyView()

    def properties(self, obj, paths):
        """Selected (possibly nested) properties of one object in one round trip: dict path -> value.

        Reading `obj.config` through pyVmomi fetches the whole (large) config; this fetches only
        what is asked. Unset properties are missing from the result.
        """
        pc = vmodl.query.PropertyCollector
        spec = pc.FilterSpec(objectSet=[pc.ObjectSpec(obj=obj, skip=False)],
                             propSet=[pc.PropertySpec(type=type(obj), pathSet=list(paths), all=False)])
        result = self.content.propertyCollector.RetrievePropertiesEx([spec], pc.RetrieveOptions())
        out = {}
        for content in (result.objects if result else []):
            for prop in content.propSet or []:
                out[prop.name] = prop.val
        return out

    def properties_of(self, objs, paths):
        """{moid: {path: value}} of selected properties of several objects of one type, in one round trip."""
        if not objs:
            return {}
        pc = vmodl.query.PropertyCollector
        spec = pc.FilterSpec(objectSet=[pc.ObjectSpec(obj=o, skip=False) for o in objs],
                             propSet=[pc.PropertySpec(type=type(objs[0]), pathSet=list(paths), all=False)])
        out = dict((o._moId, {}) for o in objs)  # pylint: disable=protected-access
        result = self.content.propertyCollector.RetrievePropertiesEx([spec], pc.RetrieveOptions())
        while result:
            for content in result.objects or []:
                out[content.obj._moId] = dict((p.name, p.val) for p in content.propSet or [])  # pylint: disable=protected-access
            if not result.token:
                break
            result = self.content.propertyCollector.ContinueRetrievePropertiesEx(result.token)
        return out

    def collect(self, vimtype, paths, root=None):
        """[(object, {path: value})] of every object of a type below root, in one round trip.

        A ContainerView traversed by the PropertyCollector: what reading each property through
        pyVmomi would ask object by object. Unset properties are missing from the dicts.
        """
        pc = vmodl.query.PropertyCollector
        view = self.content.viewManager.CreateContainerView(root or self.content.rootFolder, [vimtype], True)
        try:
            traversal = pc.TraversalSpec(name="view", path="view", skip=False, type=vim.view.ContainerView)
            spec = pc.FilterSpec(objectSet=[pc.ObjectSpec(obj=view, skip=True, selectSet=[traversal])],
                                 propSet=[pc.PropertySpec(type=vimtype, pathSet=list(paths), all=False)])
            out = []
            result = self.content.propertyCollector.RetrievePropertiesEx([spec], pc.RetrieveOptions())
            while result:
                for content in result.objects or []:
                    out.append((content.obj, dict((p.name, p.val) for p in content.propSet or [])))
                if not result.token:
                    break
                result = self.content.propertyCollector.ContinueRetrievePropertiesEx(result.token)
            return out
        finally:
            view.DestroyView()

    def find(self, vimtype, name, root=None):
        """The object of that type and name below root, or None."""
        for obj in self.objects(vimtype, root):
            if obj.name == name:
                return obj
        return None


# What homelab.photon.ova_import returns of a VM (its `vm`) and vsphere_placement of an existing VM
# of the play: the properties read in one round trip, and the dict built from them.
VM_FACT_PATHS = ("name", "config.uuid", "config.version", "config.guestId", "runtime.powerState", "runtime.host",
                 "guest.ipAddress", "guest.net", "config.hardware.numCPU", "config.hardware.memoryMB")


def vm_facts(moid, props, esxi_hostname):
    """The facts of a VM from its VM_FACT_PATHS properties (unset ones missing): name, moid, uuid,
    hw_version, guest_id, power_state, ip_addresses (the NICs' addresses in order; VMware Tools' main address
    first when no NIC lists it), esxi_hostname,
    hardware {num_cpus, memory_mb}."""
    ips = []
    for nic in props.get("guest.net") or []:
        ips.extend(a for a in getattr(nic, "ipAddress", None) or [] if a not in ips)
    first = props.get("guest.ipAddress")
    if first and first not in ips:
        ips.insert(0, first)
    return {
        "name": props.get("name"), "moid": moid,
        "uuid": props.get("config.uuid"), "hw_version": props.get("config.version"),
        "guest_id": props.get("config.guestId"),
        "power_state": str(props.get("runtime.powerState")), "ip_addresses": ips,
        "esxi_hostname": esxi_hostname,
        "hardware": {"num_cpus": props.get("config.hardware.numCPU"),
                     "memory_mb": props.get("config.hardware.memoryMB")},
    }


def wait_for_task(task, timeout=3600, poll=0.1):
    """Wait for a vSphere task; return its result or raise VsphereError with the fault."""
    deadline = time.monotonic() + timeout
    while True:
        info = task.info
        if info.state == vim.TaskInfo.State.success:
            return info.result
        if info.state == vim.TaskInfo.State.error:
            raise VsphereError(fault_message(info.error) if info.error else "task failed")
        if time.monotonic() > deadline:
            raise VsphereError("task %s did not finish within %d s" % (info.key, timeout))
        time.sleep(poll)


def wait_for_lease(lease, timeout=600, poll=0.05):
    """Wait until an HttpNfcLease is ready and return its info.

    A lease in `error` fails at once with the fault's message (it never becomes ready); `done`
    before the upload and a timeout fail too.
    """
    deadline = time.monotonic() + timeout
    while True:
        state = lease.state
        if state == "ready":
            return lease.info
        if state == "error":
            raise VsphereError("the import lease failed: %s"
                               % (fault_message(lease.error) if lease.error else "no reason given"))
        if state == "done":
            raise VsphereError("the import lease ended before the upload")
        if time.monotonic() > deadline:
            raise VsphereError("the import lease was not ready within %d s (state %s)" % (timeout, state))
        time.sleep(poll)


class LeaseProgress:
    """Report an import lease's progress from a background thread, every `interval` seconds.

    The ESXi and vCenter task views show the percentage, and the reports keep the lease from
    timing out. The thread reports even while a send blocks on a slow network. Use as a context
    manager; `add(n)` counts bytes sent (of `total`).
    """

    def __init__(self, lease, total, interval=4.0):
        self.lease = lease
        self.total = total
        self.sent = 0
        self.interval = interval
        self.reports = []
        self.error = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lease-progress", daemon=True)

    def percent(self):
        if self.total <= 0:
            return 100
        return max(0, min(99, int(100 * self.sent / self.total)))

    def add(self, count):
        self.sent += count

    def report(self, percent=None):
        value = self.percent() if percent is None else percent
        self.lease.HttpNfcLeaseProgress(value)
        self.reports.append(value)

    def _run(self):
        while not self._stop.wait(self.interval):
            try:
                self.report()
            except Exception as exc:  # pylint: disable=broad-except
                self.error = exc  # the upload itself will fail or finish; keep the first error
                return

    def __enter__(self):
        self.report(0)
        self._thread.start()
        return self

    def __exit__(self, *exc_info):
        self._stop.set()
        self._thread.join()
        return False
