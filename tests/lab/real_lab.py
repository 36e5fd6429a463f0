# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The whole real lab under one state directory: the control plane (``kube/``), the node (``node/``) and
Services, DNS and NetworkPolicy enforcement (``net/``), each run by its launcher as a child process that
gets SIGTERM when the thread that started it ends, so a test session that dies takes its lab with it.

    lab = real_lab.start(root)      # blocks until every part wrote its info.json
    lab.infos["kube"]["kubeconfig"], lab.enforcement_url
    real_lab.stop(lab)              # reverse order; returns what had to be swept up
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any

from tests.lab import lab_node
from tests.lab import launcher

ROOT = Path(__file__).resolve().parents[2]
LAUNCHERS = {"kube": "tests.lab.control_plane", "node": "tests.lab.lab_node", "net": "tests.lab.lab_net"}
START_TIMEOUT = 240.0  # a cold control plane waits for its controllers; the node for its bridge
STOP_TIMEOUT = 60.0  # the node removes its pods and namespaces, the network its rules


@dataclass
class RealLab:
    root: Path
    lab_id: str
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)
    infos: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def enforcement_url(self) -> str:
        """The network's enforcement switch (``GET``/``POST {"enforcement": "full"|"none"}``)."""
        return self.infos["net"]["enforcement_url"]


def _args(lab: RealLab, name: str) -> list[str]:
    cp_info = str(lab.root / "kube" / "info.json")
    if name == "node":
        return ["--control-plane-info", cp_info, "--lab-id", lab.lab_id]
    if name == "net":
        return ["--control-plane-info", cp_info, "--node-info", str(lab.root / "node" / "info.json")]
    return []


def start(root: Path, lab_id: str | None = None) -> RealLab:
    """Start the three parts in order under ``root`` (made 0700); ``RuntimeError`` naming the part that
    failed, with the end of its log (what started is stopped again)."""
    lab = RealLab(Path(root).resolve(), lab_id or lab_node.new_lab_id())
    lab.root.mkdir(mode=0o700, parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    try:
        for name, module in LAUNCHERS.items():
            state_dir = lab.root / name
            state_dir.mkdir(mode=0o700)
            argv = [sys.executable, "-m", module, "--state-dir", str(state_dir), *_args(lab, name)]
            # SIGTERM, not SIGKILL, when we go: the launcher then removes what it made.
            proc = launcher.spawn(argv, state_dir / "log", cwd=ROOT, env=env, death_signal=signal.SIGTERM)
            lab.procs[name] = proc
            lab.infos[name] = launcher.wait_ready(proc, state_dir, timeout=START_TIMEOUT, what=f"lab {name} ({module})")
    except BaseException:
        stop(lab)
        raise
    return lab


def stop(lab: RealLab) -> list[str]:
    """Stop the parts in reverse order, then remove whatever a part that died left of the node (its
    namespaces and processes). Returns what had to be removed that way."""
    for name in reversed(list(lab.procs)):
        # Only the launcher itself: it stops its own components and removes their state.
        launcher.stop_group(lab.procs.pop(name), STOP_TIMEOUT, term_group=False)
    left = lab_node.sweep(lab.lab_id)
    return [*left["namespaces"], *(f"pid {pid}" for pid in left["pids"])]
