#!/usr/bin/env python
# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark of reachability_info's live mode on the real lab: a real kube-apiserver (and etcd) holding 5,000 pods
and 1,000 NetworkPolicies, read in pages (``limit``/``continue``) by the module.

    .venv/bin/python benchmarks/bench_reachability_live.py                 # 5,000 pods, 1,000 policies
    .venv/bin/python benchmarks/bench_reachability_live.py --pods 1000 --policies 200

Needs root and ``make lab-build`` (tests/lab). It starts a lab of its own (control plane, node, network;
tests/lab/real_lab.py), switches NetworkPolicy enforcement off (kube-router would otherwise turn every policy into
iptables rules while the module reads, on the same two cores), creates the cluster of benchmarks/
bench_reachability.py (seeded: the same namespaces, pods and policies as its offline run) through the API, measures,
and stops the lab.

The pods must exist in the API server without 5,000 containers and network namespaces being made: each names a
scheduler that does not exist (``spec.schedulerName``), so no scheduler binds it and no kubelet starts it; it stays
Pending, without an IP address, as a pod waiting for a node does. A pod bound to a node that does not exist
(``spec.nodeName``) would not do: the controller-manager's pod garbage collector deletes pods bound to a missing
node after 40 s, so the cluster would shrink while it is measured.

It prints:
  created  the objects created through the API (namespaces, pods, policies), the time and the rate
  read     _kube.read_cluster - the module's own read - in this process: wall time (median of --repeat) and the
           LIST requests it made (pages of at most 500 items) per kind
  module   the reachability_info module process as Ansible runs it (the AnsiballZ wrapper of bench_reachability.py)
           with ``kubeconfig`` and the default options: median CPU and wall time, peak RSS, result bytes
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / ".collections"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_reachability as bench  # noqa: E402
import kubernetes  # noqa: E402

from ansible_collections.netpol.aks.plugins.module_utils import _kube  # noqa: E402
from tests.lab import real_lab  # noqa: E402

SCHEDULER = "netpol-bench-nobody"  # no such scheduler: the pods stay unbound and Pending


def _enforcement(lab: real_lab.RealLab, value: str) -> None:
    request = urllib.request.Request(
        lab.enforcement_url, data=json.dumps({"enforcement": value}).encode(), method="POST"
    )
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=real_lab.START_TIMEOUT) as response:
        response.read()


def _api(kubeconfig: str, workers: int) -> kubernetes.client.ApiClient:
    configuration = kubernetes.client.Configuration()
    kubernetes.config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)
    configuration.connection_pool_maxsize = workers
    return kubernetes.client.ApiClient(configuration)


def pod_body(pod: dict) -> dict:
    ports = [{"name": p["name"], "containerPort": p["port"], "protocol": p["protocol"]} for p in pod["ports"]]
    return {
        "metadata": {"name": pod["name"], "labels": pod["labels"]},
        "spec": {
            "schedulerName": SCHEDULER,
            "automountServiceAccountToken": False,
            "containers": [{"name": "main", "image": "busybox:1.36", "command": ["sleep", "3600"], "ports": ports}],
        },
    }


def create(api: kubernetes.client.ApiClient, data: dict, workers: int) -> dict:
    """The namespaces (waiting for their default ServiceAccount, which pod admission needs), then pods and
    policies in parallel; returns the counts and the time taken."""
    core = kubernetes.client.CoreV1Api(api)
    networking = kubernetes.client.NetworkingV1Api(api)
    start = time.perf_counter()
    for ns in data["namespaces"]:
        core.create_namespace({"metadata": {"name": ns["name"], "labels": ns["labels"]}})
    names = {ns["name"] for ns in data["namespaces"]}
    deadline = time.monotonic() + 120
    while True:
        ready = {sa.metadata.namespace for sa in core.list_service_account_for_all_namespaces().items}
        if names <= ready:
            break
        if time.monotonic() > deadline:
            raise SystemExit(f"no default ServiceAccount in {sorted(names - ready)[:5]} after 120 s")
        time.sleep(0.5)
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(lambda p: core.create_namespaced_pod(p["namespace"], pod_body(p)), data["pods"]))
        list(
            pool.map(
                lambda p: networking.create_namespaced_network_policy(p["metadata"]["namespace"], p), data["policies"]
            )
        )
    elapsed = time.perf_counter() - start
    return {
        "namespaces": len(data["namespaces"]),
        "pods": len(data["pods"]),
        "policies": len(data["policies"]),
        "seconds": elapsed,
    }


def read(api: kubernetes.client.ApiClient, repeat: int) -> dict:
    """The module's read (_kube.read_cluster) in this process: wall time and the LIST pages per kind."""
    pages: dict[str, int] = {}
    request = _kube.KubeClient.request

    def counting(self, what, call, *args, **kwargs):
        if "limit" in kwargs:
            kind = what.removeprefix("list ").split()[0]
            pages[kind] = pages.get(kind, 0) + 1
        return request(self, what, call, *args, **kwargs)

    times = []
    _kube.KubeClient.request = counting
    try:
        for _unused in range(repeat):
            start = time.perf_counter()
            out = _kube.read_cluster(api)
            times.append(time.perf_counter() - start)
    finally:
        _kube.KubeClient.request = request
    return {
        "seconds": statistics.median(times),
        "pages": {kind: count // repeat for kind, count in pages.items()},
        "pods": len(out["pods"]),
        "policies": len(out["policies"]),
        "namespaces": len(out["namespaces"]),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pods", type=int, default=5000)
    parser.add_argument("--policies", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3, help="reads and module runs (the median is shown)")
    parser.add_argument("--workers", type=int, default=8, help="parallel create requests")
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("the real lab needs root (network namespaces, iptables)")
    data = bench.build_cluster_input(args.pods, args.policies)
    print(
        f"reachability_info live on the real lab: {args.pods:,} pods, {args.policies:,} policies, "
        f"{len(data['namespaces'])} namespaces (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="bench-reachability-live-") as tmp:
        workdir = Path(tmp)
        wrapper, base = bench.build_ansiballz(workdir)
        start = time.perf_counter()
        lab = real_lab.start(workdir / "lab")
        print(f"  lab     started in {time.perf_counter() - start:.0f} s (control plane, node, network)", flush=True)
        try:
            _enforcement(lab, "none")
            kubeconfig = lab.infos["kube"]["kubeconfig"]
            api = _api(kubeconfig, args.workers)
            made = create(api, data, args.workers)
            total = made["namespaces"] + made["pods"] + made["policies"]
            print(
                f"  created {made['namespaces']} namespaces, {made['pods']:,} pods (Pending: scheduler "
                f"{SCHEDULER!r} does not exist), {made['policies']:,} policies in {made['seconds']:.0f} s "
                f"({total / made['seconds']:.0f} objects/s, {args.workers} at a time)",
                flush=True,
            )
            got = read(api, args.repeat)
            pages = ", ".join(f"{count} {kind}" for kind, count in got["pages"].items())
            print(
                f"  read    {got['seconds']:7.3f} s wall (median of {args.repeat}) for {got['namespaces']} namespaces, "
                f"{got['pods']:,} pods, {got['policies']:,} policies in LIST pages of at most {_kube._PAGE}: {pages}",
                flush=True,
            )
            module = bench.module_run(wrapper, base, {"kubeconfig": kubeconfig}, workdir, args.repeat)
            summary = module["result"]["summary"]
            print(
                f"  module  {module['cpu_s']:7.3f} s cpu {module['wall_s']:7.3f} s wall (median of {args.repeat}), "
                f"{module['rss_mib']:.0f} MiB RSS, result {module['bytes']:,} bytes: {summary['pods']:,} pods, "
                f"{summary['policies']:,} policies, {summary['classes']} classes, source {module['result']['source']}",
                flush=True,
            )
            if summary["pods"] < args.pods or summary["policies"] != args.policies:
                print("  MISMATCH: the module did not read every object created", flush=True)
                return 1
        finally:
            left = real_lab.stop(lab)
            print(f"  lab     stopped{'; swept up: ' + ', '.join(left) if left else ''}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
