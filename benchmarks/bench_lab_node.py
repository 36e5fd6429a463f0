# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Measure the real lab's node (figures are printed, not asserted): node start to Ready, N busybox pods
from create to all Ready, exec round trips through kube-apiserver, pod deletion, node stop.

.venv/bin/python benchmarks/bench_lab_node.py [--pods N]     (root; `make lab-node` first)

The control plane is the one tests/lab/control_plane.py starts, or a running one given by
NETPOL_LAB_CONTROL_PLANE_INFO=<its info.json>.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kubernetes import client  # noqa: E402
from kubernetes import config as kube_config  # noqa: E402
from kubernetes.client.rest import ApiException  # noqa: E402
from kubernetes.stream import stream  # noqa: E402

from tests.lab import lab_node  # noqa: E402


@contextlib.contextmanager
def control_plane(tmp: Path):
    given = os.environ.get("NETPOL_LAB_CONTROL_PLANE_INFO")
    if given:
        yield json.loads(Path(given).read_text())
        return
    if importlib.util.find_spec("tests.lab.control_plane") is None:
        print("bench_lab_node: skipped: no control plane (set NETPOL_LAB_CONTROL_PLANE_INFO)")
        yield None
        return
    from tests.lab.control_plane import ControlPlane

    with ControlPlane(tmp / "cp") as plane:
        yield plane.info


def wait(check, timeout=120.0):
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError("timed out")
        time.sleep(0.1)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pods", type=int, default=10)
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("bench_lab_node: skipped: needs root (network namespaces)")
        return 0
    with tempfile.TemporaryDirectory() as tmp, control_plane(Path(tmp)) as info:
        if info is None:
            return 0
        node = lab_node.LabNode(Path(tmp) / "node", info)
        t0 = time.monotonic()
        node.start()
        core = client.CoreV1Api(kube_config.new_client_from_config(config_file=info["kubeconfig"]))
        name = info["node"]["name"]

        def node_ready():
            with contextlib.suppress(ApiException):
                n = core.read_node(name)
                return any(c.type == "Ready" and c.status == "True" for c in n.status.conditions or [])
            return False

        wait(node_ready)
        print(f"node start to Ready in the API:        {time.monotonic() - t0:6.2f} s")
        ns = f"bench-{uuid.uuid4().hex[:6]}"
        core.create_namespace({"metadata": {"name": ns}})
        wait(lambda: bool(core.list_namespaced_service_account(ns).items))
        t0 = time.monotonic()
        for i in range(args.pods):
            core.create_namespaced_pod(
                ns,
                {
                    "metadata": {"name": f"p{i}"},
                    "spec": {
                        "terminationGracePeriodSeconds": 0,
                        "containers": [{"name": "c", "image": "busybox:1.36", "command": ["sleep", "3600"]}],
                    },
                },
            )

        def all_ready():
            pods = core.list_namespaced_pod(ns).items
            return len(pods) == args.pods and all(
                p.status.container_statuses and all(c.ready for c in p.status.container_statuses) for p in pods
            )

        wait(all_ready)
        print(f"{args.pods} busybox pods, create to all Ready:   {time.monotonic() - t0:6.2f} s")
        times = []
        for _round in range(10):
            t1 = time.monotonic()
            stream(core.connect_get_namespaced_pod_exec, "p0", ns, command=["true"], stderr=True, stdout=True)
            times.append(time.monotonic() - t1)
        print(f"exec round trip (median of 10):         {statistics.median(times) * 1000:6.0f} ms")
        t0 = time.monotonic()
        core.delete_collection_namespaced_pod(ns)
        wait(lambda: not core.list_namespaced_pod(ns).items)
        wait(lambda: len(lab_node.leftovers(node.lab_id)["namespaces"]) == 1)
        print(f"{args.pods} pods deleted and torn down:         {time.monotonic() - t0:6.2f} s")
        core.delete_namespace(ns)
        t0 = time.monotonic()
        left = node.stop()
        print(f"node stop (everything removed):         {time.monotonic() - t0:6.2f} s, left: {left}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
