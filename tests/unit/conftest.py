"""Unit tests import the collection as ansible_collections.homelab.photon, through the link tree
that `make collection` lays under tests/output/collections, and the lab's helpers from tests/lab."""

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
for _path in (os.path.join(ROOT, "tests", "output", "collections"), os.path.join(ROOT, "tests", "lab")):
    if _path not in sys.path:
        sys.path.insert(0, _path)
