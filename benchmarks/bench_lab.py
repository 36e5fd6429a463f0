# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Measure the real lab (figures are printed, not asserted): its build, its start, and a probe matrix.

.venv/bin/python benchmarks/bench_lab.py            # everything below but a cold build (root)
.venv/bin/python benchmarks/bench_lab.py --cold     # also a cold build: empty Go build and module
                                                    # caches and lab cache, as on a fresh machine (long)
.venv/bin/python benchmarks/bench_lab.py --only lab-up --only matrix

build: `make lab-build` cold: the time the cached build recorded when it was made (tests/lab/build/build.sh
writes it next to the binaries), and with --cold a fresh measurement. Warm: `make lab-build` with the
binaries in the cache.
start: tests/lab/control_plane.py from nothing (TLS, etcd, API server /readyz, controller-manager and
scheduler, the default ServiceAccount) to ready, three times.
lab-up: `make lab-up` cold (the lab down, a fresh state directory, the build cache warm: `make
lab-build` runs and finds everything built) and warm (the lab already up: it says so and does
nothing), then `make lab-down` (every process, namespace and rule removed).
reset: the `kube_lab` fixture's clean-up between two tests (tests/lab/pytest_plugin.py), after the probe
tests' usual seed (a restricted namespace, an nginx Deployment, its Service, a client pod), five times.
matrix: on a real lab (control plane, node, kube-proxy/CoreDNS/kube-router, started here), 10 busybox
client pods x 10 busybox httpd target pods, probe_connectivity's TCP matrix (one exec per client, `nc
-vv -z -w 1` to every target in parallel inside it), all allowed, then all blocked by a deny-all
ingress policy that kube-router enforces. The module runs in this process (as benchmarks/bench_probe.py
runs it), so the figures are the prober's and the lab's, without ansible-playbook's start-up.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / ".collections"))

from kubernetes import client as k8s_client  # noqa: E402
from kubernetes import config as kube_config  # noqa: E402

from ansible_collections.netpol.aks.plugins.module_utils import _kube  # noqa: E402
from ansible_collections.netpol.aks.plugins.modules import probe_connectivity  # noqa: E402
from tests.lab import paths  # noqa: E402
from tests.lab import real_lab  # noqa: E402
from tests.lab.control_plane import ControlPlane  # noqa: E402

PARTS = ("build", "start", "lab-up", "matrix", "reset")
NAMESPACE = "bench"
SOURCES = 10
TARGETS = 10
TIMEOUT = 1
RUNS = 3


def make_lab_build(env: dict[str, str] | None = None) -> float:
    began = time.monotonic()
    subprocess.run(["make", "--no-print-directory", "lab-build"], cwd=ROOT, check=True, env=env)
    return time.monotonic() - began


def recorded_builds() -> None:
    pins = paths.versions()
    for component, version in (("etcd", pins["ETCD_VERSION"]), ("kubernetes", pins["KUBERNETES_VERSION"])):
        record = paths.component_bin(component, version).parent / "build-seconds"
        try:
            seconds, when, packages = record.read_text().split()
        except (OSError, ValueError):
            print(f"  {component} {version}: no build record ({record})")
            continue
        print(f"  {component} {version}: built in {int(seconds) / 60:.1f} min on {when} ({packages} packages compiled)")


def bench_build(cold: bool) -> None:
    print("make lab-build, as recorded by the build that filled the cache:")
    recorded_builds()
    if cold:
        # As on a fresh machine: no Go build cache, no downloaded modules, no lab cache.
        with tempfile.TemporaryDirectory() as fresh:
            caches = {name: os.path.join(fresh, name) for name in ("GOCACHE", "GOMODCACHE", "NETPOL_LAB_CACHE")}
            env = {**os.environ, **caches}
            try:
                took = make_lab_build(env)
            finally:
                # The module cache is read-only by design; Go empties it.
                subprocess.run(["go", "clean", "-modcache"], env=env, check=False)
            print(f"make lab-build, cold (empty Go build and module caches, empty lab cache): {took:.0f} s")
    warm = [make_lab_build() for _run in range(3)]
    print(f"make lab-build, warm (binaries cached): median {statistics.median(warm):.2f} s over {len(warm)} runs")


def bench_start(starts: int) -> None:
    times = []
    for _start in range(starts):
        with tempfile.TemporaryDirectory() as state:
            began = time.monotonic()
            plane = ControlPlane(Path(state) / "cp")
            plane.start()
            times.append(time.monotonic() - began)
            plane.stop()
    print(
        f"control plane start to ready: median {statistics.median(times):.1f} s, "
        f"min {min(times):.1f} s, max {max(times):.1f} s over {len(times)} starts"
    )


def _make(target: str, env: dict[str, str]) -> tuple[float, str]:
    began = time.monotonic()
    proc = subprocess.run(
        ["make", "--no-print-directory", target], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    took = time.monotonic() - began
    if proc.returncode != 0:
        raise SystemExit(f"make {target} failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}")
    return took, proc.stdout + proc.stderr


def bench_lab_up() -> None:
    """`make lab-up`: cold (fresh state directory), warm (already up), then `make lab-down`."""
    with tempfile.TemporaryDirectory(prefix="bench-lab-up-") as state:
        env = {**os.environ, "NETPOL_LAB_STATE_DIR": str(Path(state) / "lab")}
        cold, out = _make("lab-up", env)
        try:
            started = sorted(p.name for p in (Path(state) / "lab").iterdir() if p.is_dir())
            print(
                f"make lab-up, cold (fresh state dir, build cache warm): {cold:.1f} s (started: {', '.join(started)})"
            )
            warm, out = _make("lab-up", env)
            said = next((line for line in out.splitlines() if "already" in line.lower()), out.strip()[-120:])
            print(f"make lab-up, warm (lab already up): {warm:.1f} s ({said.strip()})")
        finally:
            down, _out = _make("lab-down", env)
        print(f"make lab-down: {down:.1f} s")


# -- the 10 x 10 matrix on the real lab -----------------------------------------------------------------


@contextlib.contextmanager
def lab_started_here(tmp: Path):
    """Control plane, node and enforcing network (tests/lab/real_lab.py, as the lab and the tests start
    them), started here and stopped at the end."""
    began = time.monotonic()
    lab = real_lab.start(tmp / "lab")
    try:
        print(f"real lab (control plane, node, kube-proxy/CoreDNS/kube-router) up in {time.monotonic() - began:.1f} s")
        yield lab.infos["kube"]
    finally:
        left = real_lab.stop(lab)
        if left:
            print(f"  the lab left {', '.join(left)} (swept)")


def run_module(kubeconfig: str, **params: object) -> dict:
    spec = probe_connectivity.argument_spec()
    full = {name: option.get("default") for name, option in spec.items()}
    full.update(kubeconfig=kubeconfig, namespace=NAMESPACE, timeout=TIMEOUT, parallelism=SOURCES, protocol="tcp")
    full.update(params)
    module = SimpleNamespace(
        params=full,
        check_mode=False,
        warn=lambda msg: print("warning:", msg),
        api_client_factory=lambda: _kube.api_client_factory(full),
    )
    try:
        return probe_connectivity.run(module)
    except probe_connectivity.ProbeFailure as failure:
        raise SystemExit(f"probe failed: {failure.message}") from failure


def _pod(name: str, labels: dict[str, str], command: list[str]) -> dict:
    return {
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "terminationGracePeriodSeconds": 0,
            "containers": [{"name": "main", "image": "busybox:1.36", "command": command}],
        },
    }


def _workload(core: k8s_client.CoreV1Api) -> tuple[list[str], list[str], float]:
    core.create_namespace({"metadata": {"name": NAMESPACE}})
    deadline = time.monotonic() + 60
    while not core.list_namespaced_service_account(NAMESPACE).items:
        if time.monotonic() > deadline:
            raise SystemExit("no default ServiceAccount in the bench namespace")
        time.sleep(0.2)
    clients = [f"client-{i}" for i in range(SOURCES)]
    targets = [f"target-{i}" for i in range(TARGETS)]
    began = time.monotonic()
    for name in clients:
        core.create_namespaced_pod(NAMESPACE, _pod(name, {"role": "client"}, ["sleep", "86400"]))
    for name in targets:
        core.create_namespaced_pod(NAMESPACE, _pod(name, {"role": "target"}, ["httpd", "-f", "-p", "80"]))
    pending = set(clients + targets)
    while pending:
        for name in list(pending):
            status = core.read_namespaced_pod(name, NAMESPACE).status
            if status.phase == "Running" and all(c.ready for c in status.container_statuses or []):
                pending.discard(name)
        if pending and time.monotonic() - began > 180:
            raise SystemExit(f"pods not ready: {sorted(pending)}")
        time.sleep(0.2)
    return clients, targets, time.monotonic() - began


def _timed_matrix(kubeconfig: str, clients: list[str], targets: list[str], expect: str) -> tuple[list[float], dict]:
    """Settle first (kube-router takes a moment to enforce a new policy), then time RUNS single rounds."""
    settle = run_module(
        kubeconfig,
        sources=[{"pod": n} for n in clients],
        targets=[{"pod": n} for n in targets],
        port=80,
        expect=expect,
        retries=30,
        delay=0.5,
    )
    times = []
    for _run in range(RUNS):
        began = time.monotonic()
        out = run_module(
            kubeconfig,
            sources=[{"pod": n} for n in clients],
            targets=[{"pod": n} for n in targets],
            port=80,
            expect=expect,
        )
        times.append(time.monotonic() - began)
        if out["verdict"] != "match" or len(out["results"]) != SOURCES * TARGETS:
            raise SystemExit(f"{expect} matrix: {out['verdict_msg']}")
    return times, settle


def bench_matrix() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-lab-matrix-") as tmp, lab_started_here(Path(tmp)) as info:
        kubeconfig = info["kubeconfig"]
        api = kube_config.new_client_from_config(config_file=kubeconfig)
        core = k8s_client.CoreV1Api(api)
        clients, targets, startup = _workload(core)
        print(f"  {SOURCES} busybox clients + {TARGETS} busybox httpd targets created to Ready: {startup:.1f} s")
        allowed, _settle = _timed_matrix(kubeconfig, clients, targets, "allowed")
        k8s_client.NetworkingV1Api(api).create_namespaced_network_policy(
            NAMESPACE,
            {
                "metadata": {"name": "deny-all"},
                "spec": {"podSelector": {"matchLabels": {"role": "target"}}, "policyTypes": ["Ingress"], "ingress": []},
            },
        )
        began = time.monotonic()
        blocked, settle = _timed_matrix(kubeconfig, clients, targets, "blocked")
        enforced = max(r["stable_after"] for r in settle["results"])
        print(
            f"  deny-all enforced by kube-router (every cell blocked) {enforced:.1f} s after the first probe "
            f"({settle['rounds']} rounds, {time.monotonic() - began:.1f} s including the timed runs)"
        )
        for what, times in (("allowed", allowed), ("blocked", blocked)):
            print(
                f"  {SOURCES} x {TARGETS} matrix, all {what} (TCP, timeout {TIMEOUT} s): median {statistics.median(times):.2f} s, "
                f"min {min(times):.2f} s, max {max(times):.2f} s over {len(times)} runs"
            )
        elapsed = sorted(r["elapsed"] for r in settle["results"])
        print(f"  blocked: slowest exec {elapsed[-1]:.2f} s (each client's exec waits one {TIMEOUT} s timeout)")


def bench_reset(resets: int = 5) -> None:
    from tests.integration.probe import cluster
    from tests.lab.pytest_plugin import clean_cluster

    with tempfile.TemporaryDirectory(prefix="bench-lab-reset-") as tmp, lab_started_here(Path(tmp)) as info:
        api = kube_config.new_client_from_config(config_file=info["kubeconfig"])
        handle = SimpleNamespace(client=lambda: api)
        seeds, cleans = [], []
        for _reset in range(resets):
            began = time.monotonic()
            cluster.seed(handle)
            seeds.append(time.monotonic() - began)
            began = time.monotonic()
            clean_cluster(api)
            cleans.append(time.monotonic() - began)
        for what, times in (("seed (namespace, Deployment, Service, client, reachable)", seeds), ("reset", cleans)):
            print(
                f"  {what}: median {statistics.median(times):.2f} s, min {min(times):.2f} s, "
                f"max {max(times):.2f} s over {len(times)} runs"
            )


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cold", action="store_true", help="also time a build with empty Go and lab caches")
    parser.add_argument("--starts", type=int, default=3, help="control-plane starts to time (default 3)")
    parser.add_argument("--only", action="append", choices=PARTS, help="run only these parts (repeatable)")
    args = parser.parse_args()
    parts = args.only or list(PARTS)
    if "build" in parts:
        bench_build(args.cold)
    if "start" in parts:
        bench_start(args.starts)
    if "lab-up" in parts:
        bench_lab_up()
    if "matrix" in parts:
        print("probe matrix on the real lab:")
        bench_matrix()
    if "reset" in parts:
        print("the kube_lab fixture's reset between tests:")
        bench_reset()
    return 0


if __name__ == "__main__":
    sys.exit(main())
