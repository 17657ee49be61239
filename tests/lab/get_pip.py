"""Stand-in for ansible-test's pip bootstrap script, which it downloads from a host that cannot be
reached here. ansible-test runs it as __main__ inside each new venv with pip's arguments
(``pip==X --no-setuptools --no-wheel ...``): bootstrap pip from the interpreter's own ensurepip,
then let pip install what was asked for from the package index this machine reaches.
tests/lab/bin/sanity copies it to ~/.ansible/test/cache/get_pip_<version>.py.
"""

import ensurepip
import os
import runpy
import sys

args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
ensurepip.bootstrap(upgrade=True)
cert = os.environ.get("PIP_CERT") or "/etc/ssl/certs/ca-certificates.crt"
if os.path.exists(cert):
    args = ["--cert", cert] + args
sys.argv = ["pip", "install"] + args
runpy.run_module("pip", run_name="__main__", alter_sys=True)
