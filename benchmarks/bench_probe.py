# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""probe_connectivity's matrix against a loop of single probes, on the real lab.

10 sources x 10 targets, every connection blocked by a deny-all policy, 2 s timeout:

- matrix (ephemeral): probe_connectivity with 10 `labels` sources (10 probe pods created, probed with
  one exec each, in parallel, and deleted), as one module call;
- matrix (existing pods): the same from 10 long-running client pods;
- loop: 100 single probes one after the other from those client pods - the walkthrough's way
  (`kubectl exec test-np -- wget -qO- --timeout=2 http://...` per pair).

Both run the module's own code in this process (module.run with a stand-in for AnsibleModule), so the
figures are the probe engine's, without ansible-playbook's per-task start-up. The real lab (control
plane, node, kube-proxy/CoreDNS/kube-router: tests/lab/real_lab.py) is started by this script and
stopped at the end; kube-router drops the blocked connections, so each blocked cell really waits out
the timeout. Needs root and `make lab-build`.

Target: matrix under 2.5 x the timeout plus pod start-up, at least 20x faster than the loop.

    .venv/bin/python benchmarks/bench_probe.py [--loop-cells N]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / ".collections"))

from kubernetes import client as k8s_client  # noqa: E402

from ansible_collections.netpol.aks.plugins.module_utils import _kube  # noqa: E402
from ansible_collections.netpol.aks.plugins.module_utils import _probe  # noqa: E402
from ansible_collections.netpol.aks.plugins.modules import probe_connectivity  # noqa: E402
from tests.lab import real_lab  # noqa: E402

JSON_BODY = {"Content-Type": "application/json"}
NAMESPACE = "bench"
SOURCES = 10
TARGETS = 10
TIMEOUT = 2


def module_params(kubeconfig: str, **overrides: object) -> dict:
    spec = probe_connectivity.argument_spec()
    params = {name: option.get("default") for name, option in spec.items()}
    params.update(kubeconfig=kubeconfig, namespace=NAMESPACE, timeout=TIMEOUT, parallelism=SOURCES)
    params.update(overrides)
    return params


def run_module(params: dict) -> dict:
    fake = SimpleNamespace(
        params=params,
        check_mode=False,
        warn=lambda msg: print("warning:", msg),
        api_client_factory=lambda: _kube.api_client_factory(params),
    )
    try:
        return probe_connectivity.run(fake)
    except probe_connectivity.ProbeFailure as failure:
        raise SystemExit(f"probe failed: {failure.message}") from failure


def pod(name: str, labels: dict, image: str, command: list[str] | None = None) -> dict:
    container: dict = {
        "name": "main",
        "image": image,
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "resources": {"limits": {"cpu": "100m", "memory": "64Mi"}},
    }
    if command:
        container["command"] = command
    else:
        container["ports"] = [{"containerPort": 8080, "name": "http"}]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "securityContext": {"runAsNonRoot": True, "runAsUser": 101, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [container],
        },
    }


def wait_ready(core: k8s_client.CoreV1Api, names: list[str]) -> float:
    begin = time.monotonic()
    pending = set(names)
    while pending:
        for name in list(pending):
            data = core.read_namespaced_pod(name, NAMESPACE, _preload_content=False)
            import json

            if _probe.pod_readiness(json.loads(data.data))[0]:
                pending.discard(name)
        if pending:
            if time.monotonic() - begin > 120:
                raise SystemExit(f"pods not ready: {sorted(pending)}")
            time.sleep(0.05)
    return time.monotonic() - begin


def setup(api_client: k8s_client.ApiClient) -> tuple[list[str], list[str], float]:
    core = k8s_client.CoreV1Api(api_client)
    net = k8s_client.NetworkingV1Api(api_client)
    core.create_namespace({"metadata": {"name": NAMESPACE}}, _preload_content=False, _headers=JSON_BODY)
    deadline = time.monotonic() + 60
    while not core.list_namespaced_service_account(NAMESPACE).items:  # the pods' ServiceAccount admission needs it
        if time.monotonic() > deadline:
            raise SystemExit(f"no default ServiceAccount in namespace {NAMESPACE}")
        time.sleep(0.2)
    targets = [f"target-{i}" for i in range(TARGETS)]
    clients = [f"client-{i}" for i in range(SOURCES)]
    for name in targets:
        core.create_namespaced_pod(
            NAMESPACE,
            pod(name, {"role": "target", "name": name}, "nginxinc/nginx-unprivileged:1.27"),
            _preload_content=False,
            _headers=JSON_BODY,
        )
    for name in clients:
        core.create_namespaced_pod(
            NAMESPACE,
            pod(name, {"role": "client", "name": name}, "busybox:1.36", ["sleep", "86400"]),
            _preload_content=False,
            _headers=JSON_BODY,
        )
    startup = wait_ready(core, targets + clients)
    net.create_namespaced_network_policy(
        NAMESPACE,
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": "deny-all"},
            "spec": {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": []},
        },
        _preload_content=False,
        _headers=JSON_BODY,
    )
    return clients, targets, startup


def matrix(clients: list[str], targets: list[str]) -> dict:
    return {
        "sources": [{"pod": name} for name in clients],
        "targets": [{"pod": name} for name in targets],
        "port": 8080,
        "protocol": "tcp",
        "expect": "blocked",
    }


def leftover_probe_pods(api_client: k8s_client.ApiClient) -> int:
    import json

    core = k8s_client.CoreV1Api(api_client)
    data = core.list_namespaced_pod(NAMESPACE, label_selector=f"{_probe.PROBE_LABEL}=true", _preload_content=False)
    return len(json.loads(data.data)["items"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument(
        "--loop-cells",
        type=int,
        default=SOURCES * TARGETS,
        help="how many of the 100 single probes the loop really runs (the rest is extrapolated); default all",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-probe-") as state:
        lab = real_lab.start(Path(state) / "lab")
        try:
            kubeconfig = lab.infos["kube"]["kubeconfig"]
            api_client = _kube.build_api_client({"kubeconfig": kubeconfig})
            clients, targets, startup = setup(api_client)
            print(f"real lab at {lab.infos['kube']['url']}: {SOURCES} clients, {TARGETS} targets, deny-all")
            print(f"  workload start-up (20 pods ready): {startup:.2f}s")
            # kube-router takes a moment to enforce the new policy: wait for it before timing anything.
            settled = run_module(module_params(kubeconfig, **matrix(clients, targets), retries=30, delay=0.5))
            assert settled["verdict"] == "match", settled["verdict_msg"]

            begin = time.monotonic()
            out = run_module(
                module_params(
                    kubeconfig,
                    sources=[{"labels": {"role": "probe", "n": str(i)}} for i in range(SOURCES)],
                    targets=[{"pod": name} for name in targets],
                    port=8080,
                    protocol="tcp",
                    expect="blocked",
                )
            )
            matrix_ephemeral = time.monotonic() - begin
            assert out["verdict"] == "match", out["verdict_msg"]
            assert len(out["results"]) == SOURCES * TARGETS
            assert leftover_probe_pods(api_client) == 0, "probe pods left behind"
            elapsed = sorted(r["elapsed"] for r in out["results"])

            begin = time.monotonic()
            out = run_module(module_params(kubeconfig, **matrix(clients, targets)))
            matrix_existing = time.monotonic() - begin
            assert out["verdict"] == "match", out["verdict_msg"]

            cells = [(c, t) for c in clients for t in targets][: args.loop_cells]
            begin = time.monotonic()
            for client_name, target in cells:
                single = run_module(
                    module_params(
                        kubeconfig,
                        **{"from": {"pod": client_name}, "to": {"pod": target}},
                        port=8080,
                        protocol="tcp",
                        expect="blocked",
                    )
                )
                assert single["result"] == "blocked"
            loop_ran = time.monotonic() - begin
            loop = loop_ran * (SOURCES * TARGETS) / len(cells)
        finally:
            real_lab.stop(lab)

    pod_startup = matrix_ephemeral - matrix_existing
    budget = 2.5 * TIMEOUT + max(pod_startup, 0.0)
    print(f"  {SOURCES} x {TARGETS} cells, timeout {TIMEOUT}s, all blocked")
    print(f"  matrix, ephemeral probe pods : {matrix_ephemeral:7.2f}s  (pods created, probed, deleted)")
    print(f"  matrix, existing client pods : {matrix_existing:7.2f}s")
    print(f"    per-cell exec time         : min {elapsed[0]:.2f}s  max {elapsed[-1]:.2f}s")
    print(f"    probe pod start-up + delete: {pod_startup:7.2f}s  (difference of the two matrices)")
    extrapolated = (
        "" if len(cells) == SOURCES * TARGETS else f"  (ran {len(cells)} of 100: {loop_ran:.2f}s, extrapolated)"
    )
    print(f"  loop of 100 single probes    : {loop:7.2f}s{extrapolated}")
    print(f"  ratio loop / matrix (ephemeral): {loop / matrix_ephemeral:6.1f}x   target >= 20x")
    print(f"  ratio loop / matrix (existing) : {loop / matrix_existing:6.1f}x")
    print(
        f"  matrix (ephemeral) / (2.5 x timeout + pod start-up = {budget:.2f}s): {matrix_ephemeral / budget:.2f}  target < 1"
    )


if __name__ == "__main__":
    main()
