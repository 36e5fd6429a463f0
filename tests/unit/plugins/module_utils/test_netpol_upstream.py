# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The upstream e2e NetworkPolicy suite as data, every cell of every truth table asserted.

Source: kubernetes/kubernetes test/e2e/network/netpol/network_policy.go (commit 9db638c0) and
policies.go (GenNetworkPolicyWithName*, SetSpecIngressRules/SetSpecEgressRules). The model is the
upstream one: namespaces x, y, z with pods a, b, c labelled pod=<name>, each serving ports 80 and 81
over TCP, UDP and SCTP with container ports named serve-<port>-<proto>; namespaces carry only
kubernetes.io/metadata.name.

Expectations use the upstream DSL: a default of "allowed" plus overrides applied in order:
    ("expect", "x/b", "x/a", True)          Expect(from, to, bool)
    ("ingress", "x/a", False)               ExpectAllIngress(pod, bool)
    ("egress", "x/a", False)                ExpectAllEgress(pod, bool)
    ("peer", "*", "x", False)               ExpectPeer(&Peer{}, &Peer{Namespace: x}, bool)
Peers are "*" (every pod), "x" (namespace x), "x/a" (one pod) or "*/a" (pod a in any namespace).
Upstream ignores loopback (kubernetes#95879); here the diagonal is asserted as self traffic
(allowed is None) whose policy-only verdict matches the DSL too.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field

import pytest

from ansible_collections.netpol.aks.plugins.module_utils import netpol

NAMESPACES = ("x", "y", "z")
PODS = ("a", "b", "c")
ALL = [f"{ns}/{p}" for ns in NAMESPACES for p in PODS]
IPS = {f"{ns}/{p}": f"10.{i + 1}.0.{j + 10}" for i, ns in enumerate(NAMESPACES) for j, p in enumerate(PODS)}
NS_KEY = "kubernetes.io/metadata.name"


def model(pod_labels: dict[str, dict] | None = None, ns_labels: dict[str, dict] | None = None) -> tuple[list, list]:
    namespaces = [{"name": ns, "labels": dict((ns_labels or {}).get(ns, {}))} for ns in NAMESPACES]
    pods = []
    for ident in ALL:
        ns, name = ident.split("/")
        labels = {"pod": name, **(pod_labels or {}).get(ident, {})}
        ports = [
            {"name": f"serve-{port}-{proto.lower()}", "port": port, "protocol": proto}
            for port in (80, 81)
            for proto in ("TCP", "UDP", "SCTP")
        ]
        pods.append({"namespace": ns, "name": name, "labels": labels, "ip": IPS[ident], "ports": ports})
    return namespaces, pods


def policy(name, selector=None, *, ingress=None, egress=None, ns="x", types=None):
    """GenNetworkPolicyWithNameAndPodSelector + SetSpecIngressRules/SetSpecEgressRules.

    ``ingress``/``egress`` given (even empty) adds that policy type, in call order ingress first.
    """
    spec: dict = {"podSelector": selector or {}}
    policy_types = []
    if ingress is not None:
        spec["ingress"] = ingress
        policy_types.append("Ingress")
    if egress is not None:
        spec["egress"] = egress
        policy_types.append("Egress")
    spec["policyTypes"] = types or policy_types
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": ns},
        "spec": spec,
    }


def labels(**kv):
    return {"matchLabels": {k.replace("__", "/").replace("_", "."): v for k, v in kv.items()}}


def pod_is(name):
    return {"matchLabels": {"pod": name}}


def ns_is(name):
    return {"matchLabels": {NS_KEY: name}}


def expr(key, op, *values):
    return {"matchExpressions": [{"key": key, "operator": op, **({"values": list(values)} if values else {})}]}


def _peer_matches(peer: str, pod: str) -> bool:
    if peer == "*":
        return True
    ns, _unused, name = peer.partition("/")
    pns, pname = pod.split("/")
    return (ns in ("*", pns)) and (not name or name == pname)


def expected_table(ops) -> dict[tuple[str, str], bool]:
    table = {(s, t): True for s in ALL for t in ALL}
    for op in ops:
        kind = op[0]
        if kind == "expect":
            table[(op[1], op[2])] = op[3]
        elif kind == "ingress":
            for s in ALL:
                table[(s, op[1])] = op[2]
        elif kind == "egress":
            for t in ALL:
                table[(op[1], t)] = op[2]
        elif kind == "peer":
            for s in ALL:
                for t in ALL:
                    if _peer_matches(op[1], s) and _peer_matches(op[2], t):
                        table[(s, t)] = op[3]
        else:  # pragma: no cover - a typo in the data
            raise ValueError(op)
    return table


@dataclass
class Step:
    policies: list
    checks: list  # [(port, protocol, ops)]
    pod_labels: dict = field(default_factory=dict)
    ns_labels: dict = field(default_factory=dict)


def case(name, *steps):
    return pytest.param(list(steps), id=name)


def _render(table):
    cells = {k: (None if k[0] == k[1] and v is None else v) for k, v in table.items()}
    return netpol.format_table(ALL, ALL, cells)


def assert_step(step: Step) -> None:
    namespaces, pods = model(step.pod_labels, step.ns_labels)
    cluster = netpol.Cluster(namespaces=namespaces, pods=pods, policies=step.policies)
    for port, protocol, ops in step.checks:
        expected = expected_table(ops)
        by_pod = {}
        for s in ALL:
            for t in ALL:
                d = cluster.evaluate(s, t, port, protocol)
                if s == t:
                    assert d.self_traffic, d
                    assert d.allowed is None, d
                by_pod[(s, t)] = d.policy_allowed
        matrix = cluster.evaluate_classes(port, protocol)
        by_class = {
            (s, t): matrix.allowed(cluster.class_of(s).index, cluster.class_of(t).index)
            for s in ALL
            for t in ALL
            if s != t
        }
        wrong = sorted(k for k in expected if by_pod[k] != expected[k])
        assert not wrong, (
            f"port {port}/{protocol}: wrong cells {wrong}\nexpected:\n{_render(expected)}\npredicted:\n{_render(by_pod)}"
        )
        wrong_class = sorted(k for k in by_class if by_class[k] != expected[k])
        assert not wrong_class, f"class engine disagrees on {wrong_class}"


# ---------------------------------------------------------------------------------------------
# The cases, in the order of network_policy.go
# ---------------------------------------------------------------------------------------------

ANY_NS_ANY_POD = {"podSelector": {}, "namespaceSelector": {}}

TCP_CASES = [
    case(
        "default-deny-ingress",
        Step([policy("deny-ingress", {}, ingress=[])], [(80, "TCP", [("peer", "*", "x", False)])]),
    ),
    case(
        "default-deny-all",
        Step(
            [policy("deny-all", {}, ingress=[], egress=[])],
            [(80, "TCP", [("peer", "*", "x", False), ("peer", "x", "*", False)])],
        ),
    ),
    case(
        "allow-from-pods-within-server-namespace-by-podselector",
        Step(
            [policy("x-a-allows-x-b", pod_is("a"), ingress=[{"from": [{"podSelector": pod_is("b")}]}])],
            [(80, "TCP", [("ingress", "x/a", False), ("expect", "x/b", "x/a", True)])],
        ),
    ),
    case(
        "allow-ingress-traffic-for-a-target",
        Step(
            [
                policy("deny-all", {}, ingress=[]),
                policy("allow-all-to-a", pod_is("a"), ingress=[{"from": [ANY_NS_ANY_POD]}]),
            ],
            [(80, "TCP", [("ingress", "x/a", True), ("ingress", "x/b", False), ("ingress", "x/c", False)])],
        ),
    ),
    case(
        "allow-ingress-from-pods-in-all-namespaces",
        Step(
            [
                policy(
                    "allow-from-another-ns",
                    pod_is("a"),
                    ingress=[{"from": [{"namespaceSelector": {"matchLabels": {}}}]}],
                )
            ],
            [(80, "TCP", [])],
        ),
    ),
    case(
        "allow-only-from-a-different-namespace-by-namespaceselector",
        Step(
            [
                policy(
                    "allow-client-a-via-ns-selector",
                    pod_is("a"),
                    ingress=[{"from": [{"namespaceSelector": ns_is("y")}]}],
                )
            ],
            [(80, "TCP", [("peer", "x", "x/a", False), ("peer", "z", "x/a", False)])],
        ),
    ),
    case(
        "podselector-with-matchexpressions",
        Step(
            [policy("x-a-allows-x-b", pod_is("a"), ingress=[{"from": [{"podSelector": expr("pod", "In", "b")}]}])],
            [(80, "TCP", [("ingress", "x/a", False), ("expect", "x/b", "x/a", True)])],
        ),
    ),
    case(
        "namespaceselector-with-matchexpressions",
        Step(
            [
                policy(
                    "allow-ns-y-match-selector",
                    pod_is("a"),
                    ingress=[{"from": [{"namespaceSelector": expr(NS_KEY, "In", "y")}]}],
                )
            ],
            [(80, "TCP", [("peer", "x", "x/a", False), ("peer", "z", "x/a", False)])],
        ),
    ),
    case(
        "podselector-or-namespaceselector",
        Step(
            [
                policy(
                    "allow-ns-y-match-selector",
                    pod_is("a"),
                    ingress=[
                        {"from": [{"namespaceSelector": expr(NS_KEY, "NotIn", "x")}, {"podSelector": pod_is("b")}]}
                    ],
                )
            ],
            [(80, "TCP", [("expect", "x/a", "x/a", False), ("expect", "x/c", "x/a", False)])],
        ),
    ),
    case(
        "podselector-and-namespaceselector",
        Step(
            [
                policy(
                    "allow-ns-y-podselector-and-nsselector",
                    pod_is("a"),
                    ingress=[{"from": [{"namespaceSelector": expr(NS_KEY, "NotIn", "x"), "podSelector": pod_is("b")}]}],
                )
            ],
            [(80, "TCP", [("ingress", "x/a", False), ("expect", "y/b", "x/a", True), ("expect", "z/b", "x/a", True)])],
        ),
    ),
    case(
        "multiple-podselectors-and-namespaceselectors",
        Step(
            [
                policy(
                    "allow-ns-y-z-pod-b-c",
                    pod_is("a"),
                    ingress=[
                        {
                            "from": [
                                {
                                    "namespaceSelector": expr(NS_KEY, "NotIn", "x"),
                                    "podSelector": expr("pod", "In", "b", "c"),
                                }
                            ]
                        }
                    ],
                )
            ],
            [
                (
                    80,
                    "TCP",
                    [("peer", "x", "x/a", False), ("expect", "y/a", "x/a", False), ("expect", "z/a", "x/a", False)],
                )
            ],
        ),
    ),
    case(
        "any-podselectors",
        Step(
            [
                policy(
                    "allow-ns-x-pod-b-c",
                    pod_is("a"),
                    ingress=[{"from": [{"podSelector": pod_is("b")}, {"podSelector": pod_is("c")}]}],
                )
            ],
            [(80, "TCP", [("ingress", "x/a", False), ("expect", "x/b", "x/a", True), ("expect", "x/c", "x/a", True)])],
        ),
    ),
    case(
        "only-from-a-pod-in-a-different-namespace-by-podselector-and-namespaceselector",
        Step(
            [
                policy(
                    "allow-ns-y-pod-a-via-namespace-pod-selector",
                    pod_is("a"),
                    ingress=[{"from": [{"namespaceSelector": ns_is("y"), "podSelector": pod_is("a")}]}],
                )
            ],
            [(80, "TCP", [("ingress", "x/a", False), ("expect", "y/a", "x/a", True)])],
        ),
    ),
    case(
        "ports",
        Step(
            [
                policy(
                    "allow-client-a-via-ns-selector",
                    pod_is("a"),
                    ingress=[{"from": [{"namespaceSelector": ns_is("y")}], "ports": [{"port": 81, "protocol": "TCP"}]}],
                )
            ],
            [(81, "TCP", [("peer", "x", "x/a", False), ("peer", "y", "x/a", True), ("peer", "z", "x/a", False)])],
        ),
    ),
    case(
        "multiple-stacked-policies-with-overlapping-podselectors",
        Step(
            [
                policy(
                    "allow-client-a-via-ns-selector",
                    pod_is("a"),
                    ingress=[{"from": [{"namespaceSelector": ns_is("y")}], "ports": [{"port": 81, "protocol": "TCP"}]}],
                )
            ],
            [
                (81, "TCP", [("peer", "x", "x/a", False), ("peer", "y", "x/a", True), ("peer", "z", "x/a", False)]),
                (80, "TCP", [("ingress", "x/a", False)]),
            ],
        ),
        Step(
            [
                policy(
                    "allow-client-a-via-ns-selector",
                    pod_is("a"),
                    ingress=[{"from": [{"namespaceSelector": ns_is("y")}], "ports": [{"port": 81, "protocol": "TCP"}]}],
                ),
                policy(
                    "allow-client-a-via-ns-selector-80",
                    pod_is("a"),
                    ingress=[{"from": [{"namespaceSelector": ns_is("y")}], "ports": [{"port": 80, "protocol": "TCP"}]}],
                ),
            ],
            [(80, "TCP", [("peer", "x", "x/a", False), ("peer", "y", "x/a", True), ("peer", "z", "x/a", False)])],
        ),
    ),
    case(
        "allow-all-policy",
        Step([policy("allow-all", {}, ingress=[{}])], [(80, "TCP", []), (81, "TCP", [])]),
    ),
    case(
        "ingress-access-on-one-named-port",
        Step(
            [policy("allow-all", {}, ingress=[{"ports": [{"port": "serve-81-tcp"}]}])],
            [(81, "TCP", []), (80, "TCP", [("peer", "*", "x", False)])],
        ),
    ),
    case(
        "ingress-access-from-namespace-on-one-named-port",
        Step(
            [
                policy(
                    "allow-client-a-via-ns-selector-80",
                    pod_is("a"),
                    ingress=[
                        {
                            "from": [{"namespaceSelector": ns_is("y")}],
                            "ports": [{"port": "serve-80-tcp", "protocol": "TCP"}],
                        }
                    ],
                )
            ],
            [
                (80, "TCP", [("peer", "x", "x/a", False), ("peer", "z", "x/a", False)]),
                (81, "TCP", [("ingress", "x/a", False)]),
            ],
        ),
    ),
    case(
        "egress-access-on-one-named-port",
        Step(
            [policy("allow-egress", {}, egress=[{"ports": [{"port": "serve-80-tcp"}]}])],
            [(80, "TCP", []), (81, "TCP", [("peer", "x", "*", False)])],
        ),
    ),
    case(
        "updated-policy",
        Step([policy("allow-all-mutate-to-deny-all", {}, ingress=[{}])], [(81, "TCP", [])]),
        Step([policy("allow-all-mutate-to-deny-all", {}, ingress=[])], [(81, "TCP", [("peer", "*", "x", False)])]),
    ),
    case(
        "ingress-access-from-updated-namespace",
        Step(
            [
                policy(
                    "allow-client-a-via-ns-selector",
                    pod_is("a"),
                    ingress=[{"from": [{"namespaceSelector": labels(ns2="updated")}]}],
                )
            ],
            [(80, "TCP", [("ingress", "x/a", False)])],
        ),
        Step(
            [
                policy(
                    "allow-client-a-via-ns-selector",
                    pod_is("a"),
                    ingress=[{"from": [{"namespaceSelector": labels(ns2="updated")}]}],
                )
            ],
            [(80, "TCP", [("ingress", "x/a", False), ("peer", "y", "*", True)])],
            ns_labels={"y": {"ns2": "updated"}},
        ),
    ),
    case(
        "ingress-access-from-updated-pod",
        Step(
            [
                policy(
                    "allow-client-a-via-pod-selector",
                    pod_is("a"),
                    ingress=[{"from": [{"podSelector": labels(pod="b", pod2="updated")}]}],
                )
            ],
            [(80, "TCP", [("ingress", "x/a", False)])],
        ),
        Step(
            [
                policy(
                    "allow-client-a-via-pod-selector",
                    pod_is("a"),
                    ingress=[{"from": [{"podSelector": labels(pod="b", pod2="updated")}]}],
                )
            ],
            [(80, "TCP", [("ingress", "x/a", False), ("expect", "x/b", "x/a", True)])],
            pod_labels={"x/b": {"pod2": "updated"}},
        ),
    ),
    case(
        "deny-ingress-from-pods-on-other-namespaces",
        Step(
            [policy("deny-empty-policy", {}, ingress=[{"from": [{"podSelector": {"matchLabels": {}}}]}])],
            [(80, "TCP", [("peer", "y", "x", False), ("peer", "z", "x", False)])],
        ),
    ),
    case(
        "deny-ingress-access-to-updated-pod",
        Step([policy("deny-ingress-via-label-selector", labels(target="isolated"), ingress=[])], [(80, "TCP", [])]),
        Step(
            [policy("deny-ingress-via-label-selector", labels(target="isolated"), ingress=[])],
            [(80, "TCP", [("ingress", "x/a", False)])],
            pod_labels={"x/a": {"target": "isolated"}},
        ),
    ),
    case(
        "deny-egress-from-pods-by-podselector",
        Step([policy("deny-egress-pod-a", pod_is("a"), egress=[])], [(80, "TCP", [("egress", "x/a", False)])]),
    ),
    case(
        "deny-egress-from-all-pods-in-a-namespace",
        Step([policy("deny-egress-ns-x", {}, egress=[])], [(80, "TCP", [("peer", "x", "*", False)])]),
    ),
    case(
        "ingress-and-egress-specified-together",
        Step(
            [
                policy(
                    "allow-client-a-via-pod-selector",
                    pod_is("a"),
                    ingress=[{"from": [{"podSelector": pod_is("b")}]}],
                    egress=[{"ports": [{"port": 80}]}],
                    types=["Egress", "Ingress"],
                )
            ],
            [
                (80, "TCP", [("ingress", "x/a", False), ("expect", "x/b", "x/a", True)]),
                (81, "TCP", [("ingress", "x/a", False), ("egress", "x/a", False), ("expect", "x/b", "x/a", True)]),
            ],
        ),
    ),
    case(
        "deny-egress-on-the-client-side-even-if-the-server-allows-it",
        Step(
            [
                policy(
                    "allow-to-ns-y-pod-a",
                    pod_is("a"),
                    egress=[{"to": [{"namespaceSelector": ns_is("y"), "podSelector": pod_is("a")}]}],
                ),
                policy(
                    "allow-from-xa-on-ya-match-selector",
                    pod_is("a"),
                    ns="y",
                    ingress=[{"from": [{"namespaceSelector": ns_is("x"), "podSelector": pod_is("a")}]}],
                ),
                policy(
                    "allow-from-xa-on-yb-match-selector",
                    pod_is("b"),
                    ns="y",
                    ingress=[{"from": [{"namespaceSelector": ns_is("x"), "podSelector": pod_is("a")}]}],
                ),
            ],
            [
                (
                    80,
                    "TCP",
                    [
                        ("peer", "x/a", "*", False),
                        ("peer", "*", "y/a", False),
                        ("peer", "x/a", "y/a", True),
                        ("peer", "*", "y/b", False),
                    ],
                )
            ],
        ),
    ),
    case(
        "egress-to-a-server-in-a-different-namespace-by-podselector-and-namespaceselector",
        Step(
            [
                policy(
                    "allow-to-ns-y-pod-a",
                    pod_is("a"),
                    egress=[{"to": [{"namespaceSelector": ns_is("y"), "podSelector": pod_is("a")}]}],
                )
            ],
            [(80, "TCP", [("egress", "x/a", False), ("expect", "x/a", "y/a", True)])],
        ),
    ),
    case(
        "ingress-any-port-on-a-specific-protocol",
        Step(
            [policy("allow-ingress-by-proto", pod_is("a"), ingress=[{"ports": [{"protocol": "TCP"}]}])],
            [(80, "TCP", []), (80, "UDP", [("peer", "*", "x/a", False)])],
        ),
    ),
    case(
        "multiple-ingress-policies-allow-all-takes-precedence",
        Step(
            [policy("allow-ingress-port-80", {}, ingress=[{"ports": [{"port": 80}]}])],
            [(81, "TCP", [("peer", "*", "x", False)])],
        ),
        Step(
            [
                policy("allow-ingress-port-80", {}, ingress=[{"ports": [{"port": 80}]}]),
                policy("allow-ingress", {}, ingress=[{}]),
            ],
            [(81, "TCP", [])],
        ),
    ),
    case(
        "multiple-egress-policies-allow-all-takes-precedence",
        Step(
            [policy("allow-egress-port-80", {}, egress=[{"ports": [{"port": 80}]}])],
            [(81, "TCP", [("peer", "x", "*", False)])],
        ),
        Step(
            [
                policy("allow-egress-port-80", {}, egress=[{"ports": [{"port": 80}]}]),
                policy("allow-egress", {}, egress=[{}]),
            ],
            [(81, "TCP", [])],
        ),
    ),
    case(
        "stop-enforcing-policies-after-they-are-deleted",
        Step(
            [policy("deny-all", {}, ingress=[], egress=[])],
            [(80, "TCP", [("peer", "x", "*", False), ("peer", "*", "x", False)])],
        ),
        Step([], [(80, "TCP", [])]),
    ),
    case(
        "egress-access-to-server-in-cidr-block",
        Step(
            [
                policy(
                    "allow-client-a-via-cidr-egress-rule",
                    pod_is("a"),
                    egress=[{"to": [{"ipBlock": {"cidr": IPS["y/b"] + "/32"}}]}],
                )
            ],
            [(80, "TCP", [("egress", "x/a", False), ("expect", "x/a", "y/b", True)])],
        ),
    ),
    case(
        "except-clause-in-egress-cidr-block",
        Step(
            [
                policy(
                    "allow-client-a-via-cidr-egress-rule",
                    pod_is("a"),
                    egress=[{"to": [{"ipBlock": {"cidr": IPS["x/a"] + "/4", "except": [IPS["x/b"] + "/32"]}}]}],
                )
            ],
            [(80, "TCP", [("expect", "x/a", "x/b", False)])],
        ),
    ),
    case(
        "ip-overlapping-cidr-and-except-is-allowed-by-another-policy",
        Step(
            [
                policy(
                    "allow-client-a-via-cidr-egress-rule",
                    pod_is("a"),
                    egress=[{"to": [{"ipBlock": {"cidr": IPS["x/a"] + "/4", "except": [IPS["x/b"] + "/32"]}}]}],
                )
            ],
            [(80, "TCP", [("expect", "x/a", "x/b", False)])],
        ),
        Step(
            [
                policy(
                    "allow-client-a-via-cidr-egress-rule",
                    pod_is("a"),
                    egress=[{"to": [{"ipBlock": {"cidr": IPS["x/b"] + "/32"}}]}],
                )
            ],
            [(80, "TCP", [("egress", "x/a", False), ("expect", "x/a", "x/b", True)])],
        ),
    ),
    case(
        "ingress-and-egress-controlled-independently",
        Step([policy("allow-egress-for-target", pod_is("a"), egress=[{}])], [(80, "TCP", [])]),
        Step(
            [
                policy("allow-egress-for-target", pod_is("a"), egress=[{}]),
                policy("deny-ingress-via-label-selector", pod_is("a"), ingress=[]),
            ],
            [(80, "TCP", [("ingress", "x/a", False)])],
        ),
    ),
    case(
        "sctp-is-not-tcp",
        Step(
            [
                policy("deny-ingress", {}, ingress=[]),
                policy(
                    "allow-only-sctp-ingress-on-port-81",
                    pod_is("a"),
                    ingress=[{"ports": [{"port": 81, "protocol": "SCTP"}]}],
                ),
            ],
            [(81, "TCP", [("peer", "*", "x", False)])],
        ),
    ),
    case(
        "pods-selected-by-an-sctp-policy-are-isolated",
        Step(
            [
                policy(
                    "allow-only-sctp-ingress-on-port-80",
                    pod_is("a"),
                    ingress=[{"ports": [{"port": 80, "protocol": "SCTP"}]}],
                )
            ],
            [(81, "TCP", [("ingress", "x/a", False)])],
        ),
    ),
    case(
        "no-tcp-when-a-policy-specifies-only-udp",
        Step(
            [
                policy(
                    "allow-only-udp-ingress-on-port-81",
                    pod_is("a"),
                    ingress=[{"ports": [{"port": 81, "protocol": "UDP"}]}],
                )
            ],
            [(81, "TCP", [("ingress", "x/a", False)])],
        ),
    ),
    case(
        "namespaceselector-matchlabels-default-ns-label",
        Step(
            [
                policy(
                    "allow-client-a-via-ns-selector-for-immutable-ns-label",
                    pod_is("a"),
                    ingress=[{"from": [{"namespaceSelector": ns_is("y")}]}],
                )
            ],
            [(80, "TCP", [("peer", "x", "x/a", False), ("peer", "z", "x/a", False)])],
        ),
    ),
    case(
        "namespaceselector-matchexpressions-default-ns-label",
        Step(
            [
                policy(
                    "allow-ns-y-match-selector-for-immutable-ns-label",
                    pod_is("a"),
                    egress=[{"to": [{"namespaceSelector": expr(NS_KEY, "NotIn", "y")}]}],
                )
            ],
            [(80, "TCP", [("peer", "x/a", "y", False)])],
        ),
    ),
]

UDP_SCTP_CASES = [
    case(
        f"{proto.lower()}-{name}",
        Step(policies, [(port, proto, ops)]),
    )
    for proto in ("UDP", "SCTP")
    for name, policies, port, ops in (
        ("default-deny-ingress", [policy("deny-all", {}, ingress=[])], 80, [("peer", "*", "x", False)]),
        (
            "ports",
            [
                policy(
                    "allow-ingress-on-port-81-ns-x",
                    pod_is("a"),
                    ingress=[{"from": [{"namespaceSelector": ns_is("y")}], "ports": [{"port": 81, "protocol": proto}]}],
                )
            ],
            81,
            [("peer", "x", "x/a", False), ("peer", "z", "x/a", False)],
        ),
        (
            "only-from-a-pod-in-a-different-namespace-by-podselector-and-namespaceselector",
            [
                policy(
                    "allow-ns-y-pod-a-via-namespace-pod-selector",
                    pod_is("a"),
                    ingress=[{"from": [{"namespaceSelector": ns_is("y"), "podSelector": pod_is("a")}]}],
                )
            ],
            80,
            [("ingress", "x/a", False), ("expect", "y/a", "x/a", True)],
        ),
    )
]


@pytest.mark.parametrize("steps", TCP_CASES + UDP_SCTP_CASES)
def test_upstream_case(steps):
    for step in steps:
        assert_step(step)


def test_upstream_inventory_is_complete():
    # 42 TCP tests + 3 UDP + 3 SCTP in the upstream file read.
    assert len(TCP_CASES) == 42
    assert len(UDP_SCTP_CASES) == 6


def test_dsl_detects_a_wrong_prediction():
    """The harness can fail: an expectation that contradicts the policies is reported cell by cell."""
    step = Step([policy("deny-ingress", {}, ingress=[])], [(80, "TCP", [])])
    with pytest.raises(AssertionError, match=r"wrong cells \[\('x/a', 'x/a'\), \('x/a', 'x/b'\)"):
        assert_step(step)
