# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Where the real lab's pinned versions and built binaries are.

``tests/lab/versions.env`` pins every version (shell syntax, read here and sourced by the build
scripts). Binaries are built once into ``${XDG_CACHE_HOME:-~/.cache}/netpol-aks/lab/<component>-
<version>/bin/`` (``NETPOL_LAB_CACHE`` overrides the root), outside the git tree.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

LAB_DIR = Path(__file__).resolve().parent
ROOT = LAB_DIR.parents[1]
VERSIONS_FILE = LAB_DIR / "versions.env"
BUILD_SCRIPT = LAB_DIR / "build" / "build.sh"

_ASSIGNMENT = re.compile(r"^([A-Z][A-Z0-9_]*)=(\S*)$")


def versions(path: Path = VERSIONS_FILE) -> dict[str, str]:
    """The pins of ``versions.env``: ``{"KUBERNETES_VERSION": "v1.37.2", ...}``."""
    pins: dict[str, str] = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = _ASSIGNMENT.match(line)
        if match is None:
            raise ValueError(f"{path}:{number}: expected KEY=value (no spaces, no quotes), got {line!r}")
        pins[match.group(1)] = match.group(2)
    return pins


def cache_root() -> Path:
    if os.environ.get("NETPOL_LAB_CACHE"):
        return Path(os.environ["NETPOL_LAB_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "netpol-aks" / "lab"


def component_bin(component: str, version: str) -> Path:
    """``<cache root>/<component>-<version>/bin``."""
    return cache_root() / f"{component}-{version}" / "bin"


def control_plane_binaries() -> dict[str, Path]:
    """The control plane's binaries (as ``tests/lab/build/build.sh --print`` names them)."""
    pins = versions()
    kube = component_bin("kubernetes", pins["KUBERNETES_VERSION"])
    binaries = {name: kube / name for name in ("kube-apiserver", "kube-controller-manager", "kube-scheduler")}
    binaries["kube-proxy"] = kube / "kube-proxy"
    binaries["etcd"] = component_bin("etcd", pins["ETCD_VERSION"]) / "etcd"
    return binaries
