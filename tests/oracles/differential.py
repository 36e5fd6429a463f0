"""Differential testing of the NetworkPolicy engine against cyclonus on random clusters.

    python -m tests.oracles.differential --seed 1 --clusters 500 [--save DIR]

Each random cluster (tests/oracles/generate.py) goes to the engine (``netpol.Cluster`` with the
manifests as written) and to cyclonus (manifests on disk, its truth tables parsed). Every cell
cyclonus decides -- pod to pod on each port some pod serves, a pod to itself, non-pod addresses to
pods and back -- is compared. A disagreement is minimised (policies, pods, namespaces, rules, peers,
ports, selector terms and labels removed while it persists) and printed, or saved as a case with
``--save``. Exit status 1 when a disagreement is not already a known case (tests/oracles/cases).
"""

from __future__ import annotations

import argparse
import copy
import random
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

import yaml

from ansible_collections.netpol.aks.plugins.module_utils import netpol
from tests.oracles import cyclonus
from tests.oracles import known
from tests.oracles.generate import random_cluster

CASES = Path(__file__).resolve().parent / "cases"
Cell = tuple[str, str, int, str]


def engine_verdicts(cluster: dict, cells: list[Cell]) -> dict[Cell, bool]:
    """The engine's verdict on each cell; for a pod and itself, what the policies alone say."""
    model = netpol.Cluster(cluster["namespaces"], cluster["pods"], cluster["policies"])
    pods = set(model.pods)
    out = {}
    for src, dst, port, proto in cells:
        s = src if src in pods else {"ip": src}
        d = dst if dst in pods else {"ip": dst}
        decision = model.evaluate(s, d, port, proto)
        out[(src, dst, port, proto)] = decision.policy_allowed
    return out


def compare(cluster: dict, workdir: Path) -> tuple[int, list[tuple[Cell, bool, bool]]]:
    """(cells compared, [(cell, engine verdict, cyclonus verdict)] where they differ)."""
    oracle = cyclonus.run(cluster, workdir)
    engine = engine_verdicts(cluster, sorted(oracle))
    diffs = [(cell, engine[cell], oracle[cell]) for cell in sorted(oracle) if engine[cell] != oracle[cell]]
    return len(oracle), diffs


# -- minimisation ------------------------------------------------------------------------------


def _candidates(cluster: dict, cell: Cell) -> Iterator[dict]:
    """Smaller clusters, one removal each, biggest removals first."""
    keep_pods = {cell[0], cell[1]}
    for i in range(len(cluster["policies"])):
        c = copy.deepcopy(cluster)
        del c["policies"][i]
        yield c
    for i, pod in enumerate(cluster["pods"]):
        if f"{pod['namespace']}/{pod['name']}" not in keep_pods:
            c = copy.deepcopy(cluster)
            del c["pods"][i]
            yield c
    used = {p["namespace"] for p in cluster["pods"]} | {p["metadata"]["namespace"] for p in cluster["policies"]}
    for i, ns in enumerate(cluster["namespaces"]):
        if ns["name"] not in used:
            c = copy.deepcopy(cluster)
            del c["namespaces"][i]
            yield c
    for i, ext in enumerate(cluster["externals"]):
        if ext not in keep_pods:
            c = copy.deepcopy(cluster)
            del c["externals"][i]
            yield c
    for path in _paths(cluster):
        c = copy.deepcopy(cluster)
        if _remove(c, path):
            yield c


_KEEP = {"apiVersion", "kind", "metadata", "podSelector", "cidr", "key", "operator"}


def _paths(cluster: dict) -> Iterator[tuple]:
    """Every removable part: pod and namespace labels, pod ports, and any field or item of a policy spec
    (the spec's own podSelector, a CIDR and an expression's key and operator stay; validation rejects
    what the API server would)."""
    for i, pod in enumerate(cluster["pods"]):
        yield from (("pods", i, "labels", k) for k in pod["labels"])
        yield from (("pods", i, "ports", j) for j in range(len(pod["ports"])))
    for i, ns in enumerate(cluster["namespaces"]):
        yield from (("namespaces", i, "labels", k) for k in ns["labels"])
    for i, policy in enumerate(cluster["policies"]):
        yield from _walk(policy["spec"], ("policies", i, "spec"))


def _walk(node, prefix: tuple) -> Iterator[tuple]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key not in _KEEP or (key == "podSelector" and len(prefix) > 3):
                yield (*prefix, key)
            yield from _walk(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield (*prefix, i)
            yield from _walk(value, (*prefix, i))


def _remove(cluster: dict, path: tuple) -> bool:
    node = cluster
    for key in path[:-1]:
        node = node[key]
    last = path[-1]
    if isinstance(node, list):
        del node[last]
    elif isinstance(node, dict) and last in node:
        if last == "endPort" or (last == "port" and "endPort" in node):
            node.pop("endPort", None)
            if last == "endPort":
                return True
        del node[last]
    else:
        return False
    return True


def _valid(cluster: dict) -> bool:
    try:
        netpol.Cluster(cluster["namespaces"], cluster["pods"], cluster["policies"], schema=False)
    except netpol.NetpolError:
        return False
    return all(pod["ports"] for pod in cluster["pods"])


def minimise(cluster: dict, cell: Cell, still_differs: Callable[[dict], bool]) -> dict:
    """Greedy reduction: keep any single removal after which the cell still differs, until none does."""
    current = cluster
    progress = True
    while progress:
        progress = False
        for candidate in _candidates(current, cell):
            if _valid(candidate) and still_differs(candidate):
                current = candidate
                progress = True
                break
    return current


def cell_differs(cell: Cell, workdir: Path) -> Callable[[dict], bool]:
    counter = iter(range(10**9))

    def check(candidate: dict) -> bool:
        try:
            oracle = cyclonus.run(candidate, workdir / f"m{next(counter)}")
        except cyclonus.OracleError:
            return False
        if cell not in oracle:
            return False
        return engine_verdicts(candidate, [cell])[cell] != oracle[cell]

    return check


# -- explaining disagreements -----------------------------------------------------------------


def explain(cluster: dict, diffs: list[tuple[Cell, bool, bool]]) -> list[tuple[Cell, bool, bool, str | None]]:
    """Each disagreement with the known departure(s) of cyclonus that reproduce it, or None."""
    externals = set(cluster["externals"])
    cache: dict[tuple[str, ...], dict[Cell, bool]] = {}
    out = []
    for cell, engine, oracle in diffs:
        names = known.WITH_EXTERNAL if {cell[0], cell[1]} & externals else known.POD_TO_POD
        reason = None
        for combo in known.combinations(names):
            if combo not in cache:
                cache[combo] = engine_verdicts(known.apply(cluster, combo), [c for c, _engine, _oracle in diffs])
            if cache[combo][cell] == oracle:
                reason = "+".join(combo)
                break
        out.append((cell, engine, oracle, reason))
    return out


@dataclass
class Report:
    clusters: int = 0
    cells: int = 0
    disagreements: int = 0
    clusters_with_disagreements: int = 0
    by_reason: Counter = field(default_factory=Counter)
    unexplained: list[dict] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> str:
        reasons = ", ".join(f"{n} {r}" for r, n in sorted(self.by_reason.items())) or "none"
        return (
            f"{self.clusters} random clusters, {self.cells} cells compared with cyclonus in {self.seconds:.1f} s: "
            f"{self.disagreements} disagreement(s) in {self.clusters_with_disagreements} cluster(s); "
            f"known departures of cyclonus: {reasons}; unexplained: {len(self.unexplained)}"
        )


def run(seed: int, clusters: int, workdir: Path, *, minimise_limit: int = 3, progress: bool = False) -> Report:
    """Compare `clusters` random clusters from `seed`; minimise up to `minimise_limit` unexplained ones."""
    rng = random.Random(seed)
    report = Report()
    start = time.monotonic()
    for n in range(clusters):
        cluster = random_cluster(rng)
        compared, diffs = compare(cluster, workdir / f"c{n}")
        shutil.rmtree(workdir / f"c{n}", ignore_errors=True)
        if progress and n and n % 100 == 0:
            print(f"  {n} clusters, {report.disagreements} disagreement(s) so far", flush=True)
        report.clusters += 1
        report.cells += compared
        if not diffs:
            continue
        report.disagreements += len(diffs)
        report.clusters_with_disagreements += 1
        for cell, engine, oracle, reason in explain(cluster, diffs):
            if reason is not None:
                report.by_reason[reason] += 1
                continue
            case = {"seed": seed, "cluster_index": n, "cell": list(cell), "engine": engine, "oracle": oracle}
            if len(report.unexplained) < minimise_limit:
                check = cell_differs(cell, workdir / f"min{n}")
                case["cluster"] = minimise(cluster, cell, check)
            else:
                case["cluster"] = cluster
            report.unexplained.append(case)
            break  # one unexplained cell per cluster is enough to look at
    report.seconds = time.monotonic() - start
    return report


def load_cases() -> list[dict]:
    """The regression cases: minimised disagreements, each with the spec's verdict."""
    return [yaml.safe_load(p.read_text()) | {"file": p.name} for p in sorted(CASES.glob("*.yaml"))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--clusters", type=int, default=200)
    parser.add_argument("--save", type=Path, help="write each unexplained minimised disagreement here as YAML")
    parser.add_argument("--minimise", type=int, default=5, help="minimise at most this many disagreements")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="netpol-differential-") as tmp:
        report = run(args.seed, args.clusters, Path(tmp), minimise_limit=args.minimise, progress=True)
    print(report.summary())
    for i, case in enumerate(report.unexplained):
        print(f"--- unexplained disagreement {i}:\n{yaml.safe_dump(case, sort_keys=False)}")
        if args.save:
            args.save.mkdir(parents=True, exist_ok=True)
            (args.save / f"seed{args.seed}-cluster{case['cluster_index']}.yaml").write_text(
                yaml.safe_dump(case, sort_keys=False)
            )
    return 1 if report.unexplained else 0


if __name__ == "__main__":
    sys.exit(main())
