#!/usr/bin/env python
# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark of reachability_info and its engine (module_utils/netpol): the module process as Ansible runs
it, equivalence classes, and the pairwise reference (pod by pod) in the same run.

    .venv/bin/python benchmarks/bench_reachability.py            # 1,000 / 5,000 / 20,000 pods
    .venv/bin/python benchmarks/bench_reachability.py --quick    # 1,000 / 5,000, short naive budget

Synthetic clusters: 50 namespaces; pods whose labels fall into ~1.5% distinct sets (a set is a
workload: it lives in one namespace, with its own labels and container ports); 200 policies for
1,000 pods, 1,000 policies for the larger sizes, mixing every selector kind (matchLabels,
In/NotIn/Exists/DoesNotExist, empty, namespaceSelector alone, both, ipBlock with except) and
every port kind (number, name, endPort range, protocol only, UDP, SCTP, none), on ingress, egress
and both. The generator is seeded, so every run measures the same clusters.

Each size runs in its own child process, so "peak RSS" is that size's own high-water mark.
Per size it prints:
  module    the reachability_info module process exactly as Ansible runs it: the AnsiballZ wrapper that
            ansible-playbook builds for the module (kept with ANSIBLE_KEEP_REMOTE_FILES from a one-task
            play), with the size's cluster as its arguments and the default options, run --repeat times;
            the median CPU time (user + system) and wall time, peak RSS, and the bytes of its result (the
            JSON it prints). Targets: 5,000 pods / 1,000 policies under 1 s with a result under 1 MB;
            20,000 pods under 3 s.
  floor     the same module process on a cluster of one pod: what any run costs (Python, the imports of
            ansible's module_utils from the AnsiballZ payload; an offline run does not import the kubernetes
            client library)
  spec      Ansible's argument spec check (with its deep copy of the arguments) in this process: of what the
            module hands it (a one-item stand-in for each of namespaces, pods and policies: the engine checks
            their items), of the lists themselves as raw items (the module before), and of the lists against the
            per-item suboption spec of version 0.1.0
  scrub     Ansible's no_log scrubbing (remove_values, with one secret) of the module's result
  (live mode, reading the cluster from the real lab's API server: benchmarks/bench_reachability_live.py)
  build     Cluster(...) incl. validation of every policy (own checks + strict JSON schema)
  classes   grouping the pods into equivalence classes
  matrix    every ordered class pair on one port (8080/TCP), bitset evaluation
  total     build + classes + matrix (the figure the 2 s target is about)
            every step is shown as wall time and as CPU time of the process (the CPU figure does
            not depend on what else the machine runs; the load average is printed with the target)
  peak      peak RSS of the child process, and tracemalloc's peak during classes + matrix
  naive     the reference evaluator (Cluster.evaluate) on every ordered pod pair, capped by a time
            budget (default 60 s): if the budget runs out, the pairs done so far are timed and the
            full run is extrapolated, and the output says so. Same run, same cluster.
  ratio     naive / (classes + matrix), and naive / module process (CPU)
The machine may be shared: the load average is printed before each size; compare the ratios, which
are measured in the same run, rather than absolute times.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / ".collections"))

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator  # noqa: E402
from ansible.module_utils.common.parameters import remove_values  # noqa: E402

from ansible_collections.netpol.aks.plugins.module_utils import netpol  # noqa: E402
from ansible_collections.netpol.aks.plugins.modules import reachability_info  # noqa: E402

# The argument spec of namespaces and pods in version 0.1.0 (suboptions checked item by item): the baseline
# of the "spec" figure.
BASELINE_SPEC = {
    **reachability_info.ARGUMENT_SPEC,
    "namespaces": {
        "type": "list",
        "elements": "dict",
        "options": {"name": {"type": "str", "required": True}, "labels": {"type": "dict", "default": {}}},
    },
    "pods": {
        "type": "list",
        "elements": "dict",
        "options": {
            "namespace": {"type": "str", "required": True},
            "name": {"type": "str", "required": True},
            "labels": {"type": "dict", "default": {}},
            "ip": {"type": "str"},
            "ports": {
                "type": "list",
                "elements": "dict",
                "default": [],
                "options": {
                    "name": {"type": "str"},
                    "port": {"type": "int", "required": True},
                    "protocol": {"type": "str", "default": "TCP"},
                },
            },
        },
    },
    "policies": {"type": "list", "elements": "dict", "default": []},
}

NAMESPACES = 50
TIERS = ("web", "api", "db", "cache", "worker")
TEAMS = ("red", "blue", "green", "gold")
PORT = 8080
PROTOCOL = "TCP"


def build_cluster_input(pod_count: int, policy_count: int, seed: int = 7) -> dict:
    rng = random.Random(seed)
    namespaces = [
        {"name": f"ns-{i:02d}", "labels": {"team": TEAMS[i % len(TEAMS)], "env": "prod" if i % 3 else "staging"}}
        for i in range(NAMESPACES)
    ]
    workloads = []
    for w in range(max(NAMESPACES, round(pod_count * 0.015))):
        ns = namespaces[w % NAMESPACES]["name"]
        labels = {"app": f"app-{w}", "tier": TIERS[w % len(TIERS)]}
        if w % 4 == 0:
            labels["release"] = "canary" if w % 8 == 0 else "stable"
        ports = [{"name": "http", "port": 8080 if w % 3 else 8000, "protocol": "TCP"}]
        if w % 2:
            ports.append({"name": "metrics", "port": 9090, "protocol": "TCP"})
        if w % 5 == 0:
            ports.append({"name": "dns", "port": 53, "protocol": "UDP"})
        if w % 7 == 0:
            ports.append({"name": "sig", "port": 3868, "protocol": "SCTP"})
        workloads.append((ns, labels, ports))
    pods = []
    for i in range(pod_count):
        ns, labels, ports = workloads[i % len(workloads)]
        # Pod IPs come from per-namespace ranges (10.<ns>.x.y), like node pod CIDRs in spirit.
        ns_index = int(ns.split("-")[1])
        pods.append(
            {
                "namespace": ns,
                "name": f"pod-{i}",
                "labels": dict(labels),
                "ip": f"10.{ns_index}.{(i // 250) % 250}.{i % 250 + 1}",
                "ports": ports,
            }
        )

    def selector():
        kind = rng.randrange(7)
        if kind == 0:
            return {}
        if kind == 1:
            return {"matchLabels": {"tier": rng.choice(TIERS)}}
        if kind == 2:
            return {"matchLabels": {"app": f"app-{rng.randrange(len(workloads))}"}}
        if kind == 3:
            return {"matchExpressions": [{"key": "tier", "operator": "In", "values": rng.sample(TIERS, 2)}]}
        if kind == 4:
            return {"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": [rng.choice(TIERS)]}]}
        if kind == 5:
            return {"matchExpressions": [{"key": "release", "operator": "Exists"}]}
        return {"matchExpressions": [{"key": "release", "operator": "DoesNotExist"}]}

    def ns_selector():
        kind = rng.randrange(3)
        if kind == 0:
            return {"matchLabels": {"team": rng.choice(TEAMS)}}
        if kind == 1:
            return {"matchLabels": {"kubernetes.io/metadata.name": rng.choice(namespaces)["name"]}}
        return {"matchExpressions": [{"key": "env", "operator": "In", "values": ["prod"]}]}

    def peer():
        kind = rng.randrange(4)
        if kind == 0:
            return {"podSelector": selector()}
        if kind == 1:
            return {"namespaceSelector": ns_selector()}
        if kind == 2:
            return {"namespaceSelector": ns_selector(), "podSelector": selector()}
        block = rng.randrange(3)
        if block == 0:
            return {"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8", "169.254.169.254/32"]}}
        if block == 1:
            k = rng.randrange(NAMESPACES)
            return {"ipBlock": {"cidr": f"10.{k}.0.0/16"}}
        return {"ipBlock": {"cidr": "10.0.0.0/8", "except": [f"10.{rng.randrange(NAMESPACES)}.0.0/16"]}}

    def ports():
        kind = rng.randrange(8)
        if kind == 0:
            return None
        if kind == 1:
            return [{"port": 8080}]
        if kind == 2:
            return [{"port": "http"}]
        if kind == 3:
            return [{"port": 8000, "endPort": 8100, "protocol": "TCP"}]
        if kind == 4:
            return [{"protocol": "TCP"}]
        if kind == 5:
            return [{"port": "dns", "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]
        if kind == 6:
            return [{"port": 3868, "protocol": "SCTP"}]
        return [{"port": "metrics"}, {"port": 9000, "endPort": 9999}]

    def rule(key):
        out = {}
        if rng.random() < 0.85:
            out[key] = [peer() for _unused in range(rng.randrange(1, 4))]
        p = ports()
        if p is not None:
            out["ports"] = p
        return out

    policies = []
    for i in range(policy_count):
        ns = namespaces[i % NAMESPACES]["name"]
        kind = rng.randrange(10)
        spec: dict = {"podSelector": selector()}
        if kind == 0:
            spec["policyTypes"] = ["Ingress"]  # default deny ingress for the selected pods
        elif kind == 1:
            spec["policyTypes"] = ["Egress"]  # default deny egress
        elif kind < 6:
            spec["ingress"] = [rule("from") for _unused in range(rng.randrange(1, 4))]
        elif kind < 8:
            spec["policyTypes"] = ["Egress"]
            spec["egress"] = [rule("to") for _unused in range(rng.randrange(1, 4))]
        else:
            spec["policyTypes"] = ["Ingress", "Egress"]
            spec["ingress"] = [rule("from") for _unused in range(rng.randrange(1, 3))]
            spec["egress"] = [rule("to") for _unused in range(rng.randrange(1, 3))]
        policies.append(
            {
                "apiVersion": "networking.k8s.io/v1",
                "kind": "NetworkPolicy",
                "metadata": {"name": f"policy-{i}", "namespace": ns},
                "spec": spec,
            }
        )
    return {"namespaces": namespaces, "pods": pods, "policies": policies}


def run_size(pod_count: int, policy_count: int, naive_budget: float) -> dict:
    data = build_cluster_input(pod_count, policy_count)
    c0, t0 = time.process_time(), time.perf_counter()
    cluster = netpol.Cluster(**data)
    c1, t1 = time.process_time(), time.perf_counter()
    classes = cluster.classes()
    c2, t2 = time.process_time(), time.perf_counter()
    matrix = cluster.evaluate_classes(PORT, PROTOCOL)
    allowed_class_pairs = matrix.count_allowed()
    c3, t3 = time.process_time(), time.perf_counter()

    # Allowed pod pairs follow from the class matrix without touching pod pairs one by one.
    sizes = [len(c.pods) for c in classes]
    allowed_pod_pairs = 0
    for i in range(len(classes)):
        row = matrix.allowed_targets(i)
        for j in range(len(classes)):
            if (row >> j) & 1:
                allowed_pod_pairs += sizes[i] * (sizes[j] - (1 if i == j else 0))

    # Memory of the class evaluation, measured in a separate pass (tracemalloc slows code down).
    fresh = netpol.Cluster(**data, validate=False)
    tracemalloc.start()
    fresh.evaluate_classes(PORT, PROTOCOL).count_allowed()
    _unused, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    # Naive: the reference evaluator on every ordered pod pair, within the budget.
    names = list(cluster.pods)
    total_pairs = len(names) * (len(names) - 1)
    rng = random.Random(1)
    order = list(range(len(names)))
    rng.shuffle(order)
    done = 0
    naive_allowed = 0
    mismatches = 0
    start = time.perf_counter()
    cpu_start = time.process_time()
    deadline = start + naive_budget
    finished = True
    for a in order:
        src = names[a]
        ci = cluster.class_of(src).index
        row = matrix.allowed_targets(ci)
        for dst in names:
            if dst == src:
                continue
            verdict = cluster.evaluate(src, dst, PORT, PROTOCOL).allowed
            naive_allowed += verdict
            if verdict != bool((row >> cluster.class_of(dst).index) & 1):
                mismatches += 1
            done += 1
        if time.perf_counter() > deadline:
            finished = done == total_pairs
            break
    naive_elapsed = time.perf_counter() - start
    naive_cpu = time.process_time() - cpu_start
    naive_full = naive_elapsed if finished else naive_elapsed * total_pairs / done
    naive_full_cpu = naive_cpu if finished else naive_cpu * total_pairs / done
    peak_rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "pods": pod_count,
        "policies": policy_count,
        "namespaces": NAMESPACES,
        "label_sets": len({(p["namespace"], tuple(sorted(p["labels"].items()))) for p in data["pods"]}),
        "classes": len(classes),
        "class_pairs": len(classes) ** 2,
        "allowed_class_pairs": allowed_class_pairs,
        "allowed_pod_pairs": allowed_pod_pairs,
        "pod_pairs": total_pairs,
        "build_s": t1 - t0,
        "classes_s": t2 - t1,
        "matrix_s": t3 - t2,
        "total_s": t3 - t0,
        "build_cpu_s": c1 - c0,
        "classes_cpu_s": c2 - c1,
        "matrix_cpu_s": c3 - c2,
        "total_cpu_s": c3 - c0,
        "load_before": os.getloadavg()[0],
        "peak_rss_mib": peak_rss_kib / 1024,
        "traced_peak_mib": traced_peak / 2**20,
        "naive_pairs_done": done,
        "naive_finished": finished,
        "naive_elapsed_s": naive_elapsed,
        "naive_full_s": naive_full,
        "naive_full_cpu_s": naive_full_cpu,
        "naive_mismatches": mismatches,
        "naive_allowed_sampled": naive_allowed,
    }


# ---------------------------------------------------------------------------------------------
# The module process, as Ansible runs it
# ---------------------------------------------------------------------------------------------

PARAMS_LINE = re.compile(r"^params=(.*),$", re.MULTILINE)


def build_ansiballz(workdir: Path) -> tuple[str, dict]:
    """The AnsiballZ wrapper ansible-playbook sends for reachability_info, and the parameters it embedded."""
    play = workdir / "tiny.yml"
    play.write_text(
        "- hosts: localhost\n  gather_facts: false\n  tasks:\n    - netpol.aks.reachability_info:\n"
        "        pods: [{namespace: x, name: a, ports: [{port: 80}]}]\n"
    )
    keep = workdir / "remote"
    env = dict(
        os.environ,
        ANSIBLE_KEEP_REMOTE_FILES="1",
        ANSIBLE_REMOTE_TMP=str(keep),
        ANSIBLE_LOCALHOST_WARNING="0",
        ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
    )
    playbook = Path(sys.executable).with_name("ansible-playbook")
    run = subprocess.run(
        [
            str(playbook),
            "-i",
            "localhost,",
            "-c",
            "local",
            "-e",
            f"ansible_python_interpreter={sys.executable}",
            str(play),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        check=False,
    )
    found = sorted(keep.glob("*/AnsiballZ_reachability_info.py"))
    if run.returncode != 0 or not found:
        raise SystemExit(f"could not build the module's AnsiballZ wrapper:\n{run.stdout[-2000:]}{run.stderr[-2000:]}")
    text = found[0].read_text()
    match = PARAMS_LINE.search(text)
    if match is None:
        raise SystemExit("the AnsiballZ wrapper has no params= line: the benchmark needs updating for this Ansible")
    params = json.loads(eval(match.group(1), {}))
    return text, params


def module_run(wrapper: str, base: dict, args: dict, workdir: Path, repeat: int) -> dict:
    """Median CPU and wall time of the module process over ``repeat`` runs, its peak RSS and result bytes."""
    params = {
        "ANSIBLE_MODULE_ARGS": {**args, **{k: v for k, v in base["ANSIBLE_MODULE_ARGS"].items() if k.startswith("_")}}
    }
    script = workdir / "AnsiballZ_reachability_info.py"
    script.write_text(PARAMS_LINE.sub(lambda _m: f"params={json.dumps(params)!r},", wrapper, count=1))
    cpu, wall, rss = [], [], 0
    out = workdir / "result.json"
    for _unused in range(repeat):
        with out.open("wb") as stdout:
            start = time.perf_counter()
            proc = subprocess.Popen([sys.executable, str(script)], stdout=stdout, stderr=subprocess.PIPE, cwd=workdir)
            _pid, status, usage = os.wait4(proc.pid, 0)
            wall.append(time.perf_counter() - start)
        cpu.append(usage.ru_utime + usage.ru_stime)
        rss = max(rss, usage.ru_maxrss)
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"the module failed: {out.read_text()[-2000:]}")
    result = json.loads(out.read_text())
    if result.get("failed"):
        raise SystemExit(f"the module failed: {result.get('msg')}")
    return {
        "cpu_s": statistics.median(cpu),
        "wall_s": statistics.median(wall),
        "rss_mib": rss / 1024,
        "bytes": out.stat().st_size,
        "result": result,
    }


def spec_times(args: dict) -> tuple[float, float, float]:
    """CPU seconds of Ansible's argument spec check (its deep copy of the arguments included): of what the module
    hands it (a one-item stand-in for each large list, EngineCheckedInputs), of the lists themselves against the
    module's spec (lists of raw items), and of the lists against the 0.1.0 per-item spec."""
    stand_ins = {
        k: [f"({len(v)} items, checked by the engine)"] if k in reachability_info.OFFLINE_INPUTS and v else v
        for k, v in args.items()
    }
    times = []
    for spec, given in (
        (reachability_info.ARGUMENT_SPEC, stand_ins),
        (reachability_info.ARGUMENT_SPEC, args),
        (BASELINE_SPEC, args),
    ):
        start = time.process_time()
        checked = ArgumentSpecValidator(spec).validate(given)
        times.append(time.process_time() - start)
        if checked.error_messages:
            raise SystemExit(f"argument spec errors: {checked.error_messages[:3]}")
    return times[0], times[1], times[2]


def scrub_time(result: dict) -> float:
    start = time.process_time()
    remove_values(result, {"an-api-key-3f9a1c77"})
    return time.process_time() - start


def report(r: dict) -> str:
    engine = r["classes_s"] + r["matrix_s"]
    ratio = r["naive_full_s"] / engine if engine else float("inf")
    engine_cpu = r["classes_cpu_s"] + r["matrix_cpu_s"]
    ratio_cpu = r["naive_full_cpu_s"] / engine_cpu if engine_cpu else float("inf")
    extrapolated = "" if r["naive_finished"] else " (extrapolated)"
    if r["naive_finished"]:
        naive = f"{r['naive_full_s']:.1f} s for all {r['pod_pairs']:,} pod pairs (finished within the budget)"
    else:
        naive = (
            f"> budget: {r['naive_pairs_done']:,} of {r['pod_pairs']:,} pod pairs in {r['naive_elapsed_s']:.1f} s, "
            f"full run extrapolated to {r['naive_full_s']:,.0f} s (NOT measured to the end)"
        )
    m = r["module"]
    lines = [
        f"{r['pods']:,} pods, {r['policies']:,} policies, {r['namespaces']} namespaces: "
        f"{r['label_sets']} label sets -> {r['classes']} classes ({r['class_pairs']:,} class pairs, port {PORT}/{PROTOCOL}); "
        f"load average {r['load_before']:.1f} on {os.cpu_count()} CPUs",
        f"  module  {m['cpu_s']:7.3f} s cpu {m['wall_s']:7.3f} s wall (median of {r['repeat']}), {m['rss_mib']:.0f} MiB RSS, "
        f"result {m['bytes']:,} bytes ({len(m['result']['summary']['ports'])} ports, "
        f"{m['result']['summary']['evaluated']:,} pod pairs)   {_target(r)}",
        f"          {m['cpu_s'] - r['floor_s']:7.3f} s cpu above the floor (what grows with the cluster)",
        f"  spec    {r['stand_in_spec_s']:7.3f} s cpu with the module's stand-ins for the lists; the lists themselves "
        f"{r['spec_s']:.3f} s as raw items, {r['baseline_spec_s']:.3f} s with 0.1.0's per-item spec",
        f"  scrub   {r['scrub_s']:7.3f} s cpu (Ansible's remove_values on the module's result, one no_log value)",
        "          wall      cpu   (engine, in process)",
        f"  build   {r['build_s']:7.3f} s {r['build_cpu_s']:7.3f} s   (validation incl. strict schema, compile)",
        f"  classes {r['classes_s']:7.3f} s {r['classes_cpu_s']:7.3f} s",
        f"  matrix  {r['matrix_s']:7.3f} s {r['matrix_cpu_s']:7.3f} s   "
        f"({r['allowed_class_pairs']:,} class pairs allowed = {r['allowed_pod_pairs']:,} pod pairs)",
        f"  total   {r['total_s']:7.3f} s {r['total_cpu_s']:7.3f} s",
        f"  peak    {r['peak_rss_mib']:7.1f} MiB RSS (whole child process), {r['traced_peak_mib']:.1f} MiB traced during classes + matrix",
        f"  naive   {naive}",
        f"  ratio   naive / classes+matrix = {ratio:,.0f}x wall, {ratio_cpu:,.0f}x cpu{extrapolated}; "
        f"naive / module process = {r['naive_full_cpu_s'] / m['cpu_s']:,.0f}x cpu{extrapolated}; "
        f"naive and class verdicts disagreed on {r['naive_mismatches']} of the {r['naive_pairs_done']:,} pairs compared",
    ]
    return "\n".join(lines)


TARGETS = {5000: (1.0, 1_000_000), 20000: (3.0, None)}


def _target(r: dict) -> str:
    if r["pods"] not in TARGETS:
        return ""
    seconds, size = TARGETS[r["pods"]]
    m = r["module"]
    verdict = "met" if m["cpu_s"] < seconds and (size is None or m["bytes"] < size) else "MISSED"
    what = f"< {seconds:g} s cpu" + (f", result < {size / 1e6:g} MB" if size else "")
    return f"(target {what}: {verdict})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="sizes 1,000 and 5,000 only, 10 s naive budget")
    parser.add_argument(
        "--naive-budget", type=float, default=None, help="seconds for the naive run per size (default 60)"
    )
    parser.add_argument("--sizes", default=None, help="comma-separated pod counts")
    parser.add_argument("--repeat", type=int, default=3, help="module process runs per size (the median is shown)")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        pods, policies, budget = args.child.split(",")
        print(json.dumps(run_size(int(pods), int(policies), float(budget))))
        return 0
    sizes = (
        [int(s) for s in args.sizes.split(",")] if args.sizes else ([1000, 5000] if args.quick else [1000, 5000, 20000])
    )
    budget = args.naive_budget if args.naive_budget is not None else (10.0 if args.quick else 60.0)
    print(f"reachability_info benchmark (Python {sys.version.split()[0]}; naive budget {budget:.0f} s per size)")
    failures = 0
    with tempfile.TemporaryDirectory(prefix="bench-reachability-") as tmp:
        workdir = Path(tmp)
        wrapper, base = build_ansiballz(workdir)
        tiny = {"pods": [{"namespace": "x", "name": "a", "ports": [{"port": PORT}]}]}
        floor = module_run(wrapper, base, tiny, workdir, args.repeat)
        print(
            f"floor: the module process on one pod takes {floor['cpu_s']:.3f} s cpu, {floor['wall_s']:.3f} s wall "
            f"(median of {args.repeat}; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)"
        )
        for size in sizes:
            policies = 200 if size <= 1000 else 1000
            load = os.getloadavg()[0]
            data = build_cluster_input(size, policies)
            module = module_run(wrapper, base, data, workdir, args.repeat)
            stand_in_spec_s, spec_s, baseline_spec_s = spec_times(data)
            scrub_s = scrub_time(module["result"])
            proc = subprocess.run(
                [sys.executable, __file__, "--child", f"{size},{policies},{budget}"],
                capture_output=True,
                text=True,
                check=False,
            )
            if proc.returncode != 0:
                print(f"{size} pods: FAILED\n{proc.stderr}")
                failures += 1
                continue
            result = json.loads(proc.stdout.strip().splitlines()[-1])
            result.update(
                module=module,
                repeat=args.repeat,
                stand_in_spec_s=stand_in_spec_s,
                spec_s=spec_s,
                baseline_spec_s=baseline_spec_s,
                scrub_s=scrub_s,
                load_before=load,
                floor_s=floor["cpu_s"],
            )
            failures += result["naive_mismatches"] > 0
            print(report(result), flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
