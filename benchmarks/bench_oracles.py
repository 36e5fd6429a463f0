#!/usr/bin/env python
# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The engine and the oracles side by side, as whole processes, on the same clusters.

    .venv/bin/python benchmarks/bench_oracles.py                # 100 / 1,000 / 5,000 pods, budget 300 s
    .venv/bin/python benchmarks/bench_oracles.py --quick        # 100 and 1,000 pods, budget 120 s

The clusters are bench_reachability.py's (50 namespaces, every selector and port kind, seeded):
100 pods with 10 policies, 1,000 pods with 100 and with 1,000 policies, 5,000 pods with 1,000
policies. The question is the same for every tool: every ordered pod pair on 8080/TCP. Each tool
runs the way its users run it, one process per run, reading its input from files and writing its
answer to a file:

  engine (classes)  reachability_info offline, granularity=classes, as Ansible runs a module
                    (python -m ... args.json): one verdict per equivalence class pair, with its reason
  engine (pods)     the same with granularity=pods: one result per pod pair, with its reason, and the
                    pod truth table (the same answer cyclonus prints)
  cyclonus          `cyclonus analyze --mode probe` on the manifests and a probe model of the pods
                    (tests/oracles; built by `make oracles`): the ingress, egress and combined tables

Printed per run: wall time, CPU time (user + system) of the process, peak RSS, output size. A run
that exceeds the budget is stopped and shown as "> budget"; ratios with it are lower bounds.
The oracles that could not be built (Policy Assistant, netpol-analyzer: tests/oracles/README.md)
are listed as such.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
PYTHON = Path(sys.executable).absolute()  # the venv's python, not the interpreter it links to

from tests.oracles import cyclonus  # noqa: E402

PORT, PROTOCOL = 8080, "TCP"
SIZES = ((100, 10), (1000, 100), (1000, 1000), (5000, 1000))
QUICK_SIZES = ((100, 10), (1000, 100))
PODS_GRANULARITY_MAX = 1000  # beyond this the per-pair result list of the module is N² dicts
NOT_BUILT = {
    "Policy Assistant": "sigs.k8s.io/network-policy-api/policy-assistant: 404 Not Found from the module proxy",
    "netpol-analyzer": "github.com/np-guard/netpol-analyzer: 403 Forbidden from the module proxy",
}


def _bench_reachability():
    spec = importlib.util.spec_from_file_location("bench_reachability", ROOT / "benchmarks" / "bench_reachability.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass
class Run:
    wall: float
    cpu: float
    rss_mb: float
    out_mb: float
    finished: bool

    def cell(self) -> str:
        if not self.finished:
            return f">{self.wall:7.1f} s wall >{self.cpu:6.1f} s cpu (stopped at the budget)"
        return f"{self.wall:7.1f} s wall {self.cpu:7.1f} s cpu {self.rss_mb:6.0f} MB rss {self.out_mb:7.1f} MB out"


def run_process(cmd: list[str], out: Path, budget: float) -> Run:
    """Run one process with stdout to a file; wall, CPU and peak RSS from wait4; killed at the budget."""
    with out.open("wb") as stdout, out.with_suffix(".err").open("wb") as stderr:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=stdout, stderr=stderr)
        killed = threading.Event()

        def stop():
            killed.set()
            proc.kill()

        timer = threading.Timer(budget, stop)
        timer.start()
        try:
            _pid, status, usage = os.wait4(proc.pid, 0)
        except BaseException:  # interrupted: do not leave the child running
            proc.kill()
            raise
        finally:
            timer.cancel()
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
    if not killed.is_set() and proc.returncode != 0:
        raise SystemExit(f"{cmd[0]} failed ({proc.returncode}):\n{out.with_suffix('.err').read_text()[-2000:]}")
    cpu = usage.ru_utime + usage.ru_stime
    return Run(wall, cpu, usage.ru_maxrss / 1024, out.stat().st_size / 1e6, not killed.is_set())


def engine(data: dict, workdir: Path, granularity: str, budget: float) -> Run:
    args = {
        "ANSIBLE_MODULE_ARGS": {
            "namespaces": data["namespaces"],
            "pods": data["pods"],
            "policies": data["policies"],
            "ports": [{"port": PORT, "protocol": PROTOCOL}],
            "granularity": granularity,
            "pairs": "all",
        }
    }
    path = workdir / f"args-{granularity}.json"
    path.write_text(json.dumps(args))
    cmd = [str(PYTHON), "-m", "ansible_collections.netpol.aks.plugins.modules.reachability_info", str(path)]
    run = run_process(cmd, workdir / f"engine-{granularity}.json", budget)
    if run.finished:
        result = json.loads((workdir / f"engine-{granularity}.json").read_text())
        if result.get("failed"):
            raise SystemExit(f"reachability_info failed: {result.get('msg')}")
    return run


def oracle(data: dict, workdir: Path, budget: float) -> Run:
    cyclonus.write_inputs(data | {"externals": []}, workdir, [(PORT, PROTOCOL)])
    cmd = [
        str(cyclonus.binary()),
        "analyze",
        "--mode",
        "probe",
        "--policy-path",
        str(workdir / "policies"),
        "--probe-path",
        str(workdir / "model.json"),
    ]
    run = run_process(cmd, workdir / "cyclonus.txt", budget)
    if run.finished and "Combined:" not in (workdir / "cyclonus.txt").read_text():
        raise SystemExit("cyclonus printed no truth table")
    return run


def ratio(slow: Run, fast: Run | None) -> str:
    """wall ratio / CPU ratio; for a run stopped at the budget both are lower bounds."""
    if fast is None or not fast.finished:
        return "n/a"
    wall = slow.wall / max(fast.wall, 1e-9)
    cpu = slow.cpu / max(fast.cpu, 1e-9)
    bound = "" if slow.finished else ">"
    return f"{bound}{wall:.1f}x / {bound}{cpu:.1f}x"


def main() -> None:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the running child too (run_process)
    parser = argparse.ArgumentParser(description="engine vs oracles, whole processes")
    parser.add_argument("--quick", action="store_true", help="100 and 1,000 pods only, budget 120 s")
    parser.add_argument("--budget", type=float, help="seconds before a run is stopped (default 300, quick 120)")
    args = parser.parse_args()
    budget = args.budget or (120.0 if args.quick else 300.0)
    sizes = QUICK_SIZES if args.quick else SIZES
    build = _bench_reachability().build_cluster_input
    cyclonus.binary()  # build it first if missing, outside the timings
    print(f"every ordered pod pair on {PORT}/{PROTOCOL}; one process per run; budget {budget:.0f} s per run")
    print(f"load average at start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    for name, why in NOT_BUILT.items():
        print(f"  {name}: not run ({why})")
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-oracles-") as tmp:
        for pods, policies in sizes:
            data = build(pods, policies)
            workdir = Path(tmp) / f"{pods}-{policies}"
            workdir.mkdir()
            print(f"\n{pods} pods, {policies} policies ({pods * pods:,} pairs)")
            classes = engine(data, workdir, "classes", budget)
            print(f"  engine (classes)  {classes.cell()}")
            by_pod = None
            if pods <= PODS_GRANULARITY_MAX:
                by_pod = engine(data, workdir, "pods", budget)
                print(f"  engine (pods)     {by_pod.cell()}")
            else:
                print(f"  engine (pods)     not run: {pods * pods:,} result dicts (use granularity=classes)")
            oracle_run = oracle(data, workdir, budget)
            print(f"  cyclonus          {oracle_run.cell()}")
            rows.append((pods, policies, ratio(oracle_run, classes), ratio(oracle_run, by_pod)))
            shutil.rmtree(workdir)  # outputs reach hundreds of MB
    print("\nratios cyclonus / engine, wall / CPU ('>' = cyclonus stopped at the budget: a lower bound)")
    print(f"  {'pods':>6} {'policies':>8}  {'vs engine classes':>20}  {'vs engine pods':>20}")
    for pods, policies, vs_classes, vs_pods in rows:
        print(f"  {pods:>6} {policies:>8}  {vs_classes:>20}  {vs_pods:>20}")


if __name__ == "__main__":
    main()
