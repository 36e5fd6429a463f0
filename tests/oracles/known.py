"""The known ways cyclonus departs from the NetworkPolicy spec, each written as an input rewrite.

Each rewrite turns a cluster into one whose *spec* meaning is what cyclonus computes for the
original. So "the engine on the rewritten cluster agrees with cyclonus" proves that a disagreement
comes from that known departure and from nothing else, without touching the engine or modelling
cyclonus's code. Each rewrite has a minimised regression case in tests/oracles/cases/ that names
the sentence of the Kubernetes API documentation cyclonus departs from.
"""

from __future__ import annotations

import copy
from collections.abc import Callable


def notin_requires_key(cluster: dict) -> dict:
    """cyclonus reads ``key NotIn (v)`` as ``key Exists, key NotIn (v)``: a missing label never matches."""
    out = copy.deepcopy(cluster)

    def fix(selector: dict | None) -> None:
        if not selector:
            return
        exprs = selector.get("matchExpressions") or []
        extra = [{"key": e["key"], "operator": "Exists"} for e in exprs if e["operator"] == "NotIn"]
        if extra:
            selector["matchExpressions"] = exprs + extra

    for policy in out["policies"]:
        spec = policy["spec"]
        fix(spec.get("podSelector"))
        for key, peers_key in (("ingress", "from"), ("egress", "to")):
            for rule in spec.get(key) or ():
                for peer in rule.get(peers_key) or ():
                    fix(peer.get("podSelector"))
                    fix(peer.get("namespaceSelector"))
    return out


def port_name_ignores_protocol(cluster: dict) -> dict:
    """cyclonus names a probed port after the target's first container port with that number, whatever
    its protocol (``Pod.ResolveNumberedPort``): 53/TCP on a pod serving only 53/UDP as ``dns`` is probed,
    and named ``dns``. In spec terms: the pod serves each of its numbers on every protocol, under that name.

    Only pod-to-pod probes are built this way; the traffic queries carry the name they are given.
    """
    out = copy.deepcopy(cluster)
    for pod in out["pods"]:
        first: dict[int, str | None] = {}
        for port in pod["ports"]:
            first.setdefault(port["port"], port.get("name"))
        # Every number the pod serves, on every protocol, under the name of its first container port.
        pod["ports"] = [
            {"port": number, "protocol": proto} | ({} if name is None else {"name": name})
            for number, name in first.items()
            for proto in ("TCP", "UDP", "SCTP")
        ]
    return out


REWRITES: dict[str, Callable[[dict], dict]] = {
    "notin-requires-key": notin_requires_key,
    "port-name-ignores-protocol": port_name_ignores_protocol,
}
# Which rewrites apply to which cells: the port-name one only to pod-to-pod probes.
POD_TO_POD = ("notin-requires-key", "port-name-ignores-protocol")
WITH_EXTERNAL = ("notin-requires-key",)


def combinations(names: tuple[str, ...]) -> list[tuple[str, ...]]:
    """Every non-empty subset, smallest first: a disagreement is put down to the fewest departures."""
    out: list[tuple[str, ...]] = []
    for mask in range(1, 1 << len(names)):
        out.append(tuple(n for i, n in enumerate(names) if mask >> i & 1))
    return sorted(out, key=len)


def apply(cluster: dict, names: tuple[str, ...]) -> dict:
    for name in names:
        cluster = REWRITES[name](cluster)
    return cluster
