# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The real lab's node (``tests/lab/node``, built by ``make lab-node``): start it against a running
control plane, stop it, and check that it left nothing behind.

    python -m tests.lab.lab_node --control-plane-info CP/info.json --state-dir DIR   # until SIGTERM

The node runs as root (it makes network namespaces). Its kubelet API listens on 127.0.0.1 only; its
pods live in network namespaces named ``netpol-lab-<lab id>-*`` (the bridge is inside
``netpol-lab-<lab id>-node``), and the host's own network is not touched. ``stop()`` sends SIGTERM
(the node removes every pod, process and namespace it made), then runs ``netpol-lab-node cleanup``
for anything a node that died could not remove, and returns what is still left (nothing, normally).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.lab import launcher

NODE_DIR = Path(__file__).resolve().parent / "node"
BUILD_SCRIPT = NODE_DIR / "build.sh"
DEFAULT_POD_CIDR = "10.244.0.0/24"
START_TIMEOUT = 120.0
STOP_TIMEOUT = 30.0


class LabNodeError(RuntimeError):
    pass


def built_paths() -> dict[str, Path]:
    """``{"node": <binary>, "images": <image roots>}`` as ``build.sh --print`` names them."""
    out = subprocess.run([str(BUILD_SCRIPT), "--print"], check=True, capture_output=True, text=True).stdout
    return {key: Path(value) for key, value in (line.split("=", 1) for line in out.splitlines() if "=" in line)}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def new_lab_id() -> str:
    return "n" + secrets.token_hex(3)


def leftovers(lab_id: str, binary: Path | None = None) -> dict[str, Any]:
    """What of the lab ``lab_id`` still exists: ``{"namespaces": [...], "pids": [...]}``."""
    binary = binary or built_paths()["node"]
    proc = subprocess.run([str(binary), "leftovers", "--lab-id", lab_id], capture_output=True, text=True, check=False)
    if proc.returncode not in (0, 1):
        raise LabNodeError(f"netpol-lab-node leftovers failed: {proc.stderr.strip()}")
    return json.loads(proc.stdout)


def sweep(lab_id: str, binary: Path | None = None) -> dict[str, Any]:
    """Remove whatever of the lab ``lab_id`` is left (a node that was killed cannot clean up after
    itself): ``netpol-lab-node cleanup`` when ``leftovers`` finds anything. Returns what was found."""
    binary = binary or built_paths()["node"]
    left = leftovers(lab_id, binary)
    if left["namespaces"] or left["pids"]:
        subprocess.run([str(binary), "cleanup", "--lab-id", lab_id], check=False, capture_output=True)
    return left


class LabNode:
    """One node, registered with the control plane described by ``control_plane_info``."""

    def __init__(
        self,
        state_dir: Path | str,
        control_plane_info: dict[str, Any],
        *,
        lab_id: str | None = None,
        pod_cidr: str = DEFAULT_POD_CIDR,
    ) -> None:
        self.dir = Path(state_dir).resolve()
        self.cp = control_plane_info
        self.lab_id = lab_id or new_lab_id()
        self.pod_cidr = pod_cidr
        self.paths = built_paths()
        self.proc: subprocess.Popen | None = None
        self.info: dict[str, Any] = {}

    @property
    def log_file(self) -> Path:
        return self.dir / "node.log"

    def _argv(self, port: int) -> list[str]:
        node = self.cp["node"]
        return [
            str(self.paths["node"]),
            "run",
            f"--kubeconfig={node['kubeconfig']}",
            f"--node-name={node['name']}",
            f"--lab-id={self.lab_id}",
            f"--pod-cidr={self.pod_cidr}",
            f"--cluster-dns={self.cp.get('cluster_dns_ip', '10.0.0.10')}",
            f"--cluster-domain={self.cp.get('cluster_domain', 'cluster.local')}",
            f"--listen=127.0.0.1:{port}",
            f"--tls-cert={node['serving_cert']}",
            f"--tls-key={node['serving_key']}",
            f"--client-ca={node['client_ca_file']}",
            f"--state-dir={self.dir / 'pods'}",
            f"--images-dir={self.paths['images']}",
            f"--info-file={self.dir / 'info.json'}",
        ]

    def log_tail(self, chars: int = 3000) -> str:
        with contextlib.suppress(OSError):
            return self.log_file.read_text(errors="replace")[-chars:]
        return ""

    def start(self, timeout: float = START_TIMEOUT) -> dict[str, Any]:
        if os.geteuid() != 0:
            raise LabNodeError("the lab node must run as root: it creates network namespaces")
        if not os.access(self.paths["node"], os.X_OK):
            raise LabNodeError(f"the lab node is not built ({self.paths['node']}): run `make lab-node`")
        self.dir.mkdir(parents=True, exist_ok=True)
        info_file = self.dir / "info.json"
        with contextlib.suppress(FileNotFoundError):
            info_file.unlink()
        # SIGTERM when the launcher dies: the node then removes its pods and namespaces itself.
        self.proc = launcher.spawn(self._argv(free_port()), self.log_file, cwd=self.dir, death_signal=signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while not info_file.exists():
            if self.proc.poll() is not None:
                self.stop()
                raise LabNodeError(f"the lab node exited with {self.proc.returncode}:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                self.stop()
                raise LabNodeError(f"the lab node was not ready within {timeout:.0f}s:\n{self.log_tail()}")
            time.sleep(0.2)
        self.info = json.loads(info_file.read_text())
        return self.info

    def stop(self) -> dict[str, Any]:
        """Stop the node; return what is left of it afterwards (empty lists when all is gone)."""
        if self.proc is not None:
            # The node removes its pods, processes and namespaces itself on SIGTERM.
            launcher.stop_group(self.proc, STOP_TIMEOUT, term_group=False)
        self.proc = None
        left = sweep(self.lab_id, self.paths["node"])
        with contextlib.suppress(OSError):
            (self.dir / "info.json").unlink()
        return left

    def __enter__(self) -> LabNode:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.lab.lab_node", description=__doc__.split("\n\n", maxsplit=1)[0]
    )
    parser.add_argument("--control-plane-info", type=Path, required=True, help="the control plane's info.json")
    parser.add_argument("--state-dir", type=Path, required=True, help="pods' files, logs and info.json")
    parser.add_argument("--pod-cidr", default=DEFAULT_POD_CIDR)
    parser.add_argument("--lab-id", help="network namespaces are netpol-lab-<lab id>-* (default: a random id)")
    args = parser.parse_args(argv)
    node = LabNode(
        args.state_dir, json.loads(args.control_plane_info.read_text()), pod_cidr=args.pod_cidr, lab_id=args.lab_id
    )

    def start() -> str:
        info = node.start()
        return f"REAL lab node {info['node']} up: pods in {info['pod_cidr']} (netns {info['node_netns']})"

    def stop() -> str | None:
        left = node.stop()
        if left["namespaces"] or left["pids"]:
            return f"left behind and removed by cleanup: {left}"
        return None

    return launcher.run_foreground(
        "lab node",
        start,
        lambda: ["netpol-lab-node"] if node.proc is None or node.proc.poll() is not None else [],
        stop,
        (LabNodeError,),
    )


if __name__ == "__main__":
    sys.exit(main())
