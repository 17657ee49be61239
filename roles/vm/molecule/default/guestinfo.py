"""Lab helper of the vm role's molecule scenario (not part of the collection's content).

Prints, as JSON, the guestinfo.* keys of a VM in the vSphere simulator as the environment that
cloud-init's VMware datasource reads: VMX_GUESTINFO=1, VMX_GUESTINFO_USERDATA, ..._ENCODING.
With --keys, prints only the names of the VM's guestinfo keys (a JSON list), whatever they are.
Usage: guestinfo.py [--keys] URL USER PASSWORD VM_NAME
"""

import json
import ssl
import sys
import urllib.parse

from pyVim.connect import Disconnect, SmartConnect
from pyVmomi import vim


def main(url, user, password, name, keys_only=False):
    parts = urllib.parse.urlsplit(url)
    si = SmartConnect(host=parts.hostname, port=parts.port or 443, user=user, pwd=password,
                      sslContext=ssl._create_unverified_context())  # the simulator's own certificate
    try:
        content = si.RetrieveContent()
        view = content.viewManager.CreateContainerView(content.rootFolder, [vim.VirtualMachine], True)
        vms = [vm for vm in view.view if vm.name == name]
        view.DestroyView()
        if len(vms) != 1:
            sys.exit("expected one VM named %s, found %d" % (name, len(vms)))
        if keys_only:
            print(json.dumps(sorted(o.key for o in vms[0].config.extraConfig or [] if o.key.startswith("guestinfo."))))
            return
        env = {"VMX_GUESTINFO": "1"}
        for opt in vms[0].config.extraConfig or []:
            if opt.key.startswith("guestinfo."):
                env["VMX_" + opt.key.replace(".", "_").upper()] = opt.value
        if "VMX_GUESTINFO_USERDATA" not in env:
            sys.exit("VM %s has no guestinfo.userdata" % name)
        print(json.dumps(env))
    finally:
        Disconnect(si)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--keys"]:
        main(*sys.argv[2:6], keys_only=True)
    else:
        main(*sys.argv[1:5])
