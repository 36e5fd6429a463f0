"""Test-wide setup: make `ansible_collections.netpol.aks` importable without pytest-ansible.

`make venv` links ./.collections/ansible_collections/netpol/aks to the checkout and adds
./.collections to the venv's path; this repeats it for a plain `pytest` from any checkout.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COLLECTIONS = ROOT / ".collections"
_link = COLLECTIONS / "ansible_collections" / "netpol" / "aks"
if not _link.exists():
    _link.parent.mkdir(parents=True, exist_ok=True)
    _link.symlink_to(Path("../../.."))
if str(COLLECTIONS) not in sys.path:
    sys.path.insert(0, str(COLLECTIONS))
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("ANSIBLE_CONFIG", str(ROOT / "ansible.cfg"))

# The Azure double and the real lab ship their own pytest fixtures (azure_double, kube_lab).
pytest_plugins = ["tests.fakes.azure.pytest_plugin", "tests.lab.pytest_plugin"]
