# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Module results for the report tests, made by the modules' own code: reachability_info's describe() on
offline clusters, and probe_connectivity's cells (Cell.as_result(), verdict()) for the walkthrough's
label step."""

from __future__ import annotations

from typing import Any

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.netpol.aks.plugins.module_utils import _probe
from ansible_collections.netpol.aks.plugins.module_utils import netpol
from ansible_collections.netpol.aks.plugins.modules import reachability_info

NAMESPACE = "netpol-demo"


def reachability(list_pairs: bool = True, **kwargs: Any) -> dict[str, Any]:
    """reachability_info's describe(); with list_pairs, every pair listed with its reason where the module
    lists pairs only on request (its option pairs)."""
    if list_pairs and "pairs" in reachability_info.ARGUMENT_SPEC:
        kwargs.setdefault("pairs", "all")
    result = ArgumentSpecValidator(reachability_info.ARGUMENT_SPEC).validate(kwargs)
    assert not result.error_messages, result.error_messages
    return reachability_info.describe(result.validated_parameters)


ALLOW = {
    "apiVersion": "networking.k8s.io/v1",
    "kind": "NetworkPolicy",
    "metadata": {"name": "backend-policy", "namespace": "default"},
    "spec": {
        "podSelector": {"matchLabels": {"app": "api"}},
        "ingress": [{"from": [{"namespaceSelector": {}, "podSelector": {"matchLabels": {"app": "api"}}}]}],
    },
}


def walkthrough_result(labelled: bool = True) -> dict[str, Any]:
    """The walkthrough's allow.yaml: test-np reaches api once it is labelled app=api."""
    return reachability(
        namespaces=[{"name": "default"}],
        pods=[
            {
                "namespace": "default",
                "name": "api",
                "labels": {"app": "api"},
                "ip": "10.240.0.10",
                "ports": [{"name": "http", "port": 80}],
            },
            {
                "namespace": "default",
                "name": "test-np",
                "labels": {"app": "api"} if labelled else {"run": "test-np"},
                "ip": "10.240.0.11",
            },
        ],
        policies=[ALLOW],
    )


def xyz_inputs() -> dict[str, Any]:
    """Nine pods in x, y, z, two ports; x only accepts its own namespace."""
    pods = [
        {
            "namespace": ns,
            "name": p,
            "labels": {"pod": p},
            "ip": f"10.{i}.0.{j + 1}",
            "ports": [{"name": "serve-80-tcp", "port": 80}, {"name": "serve-81-udp", "port": 81, "protocol": "UDP"}],
        }
        for i, ns in enumerate("xyz")
        for j, p in enumerate("abc")
    ]
    deny = {
        "metadata": {"name": "deny", "namespace": "x"},
        "spec": {"podSelector": {}, "ingress": [{"from": [{"podSelector": {}}]}]},
    }
    return {"namespaces": [{"name": n} for n in "xyz"], "pods": pods, "policies": [deny]}


def xyz_result() -> dict[str, Any]:
    return reachability(**xyz_inputs())


def pod_verdicts(inputs: dict[str, Any]) -> dict[tuple[str, str, str], netpol.Decision]:
    """The engine's decision for every ordered pair of distinct pods on each target's own ports: the oracle the
    reports are checked against, whatever the module's result lists."""
    cluster = netpol.Cluster(**inputs)
    out = {}
    for target in inputs["pods"]:
        dst = f"{target['namespace']}/{target['name']}"
        for port in target.get("ports") or []:
            protocol = port.get("protocol", "TCP")
            for source in inputs["pods"]:
                src = f"{source['namespace']}/{source['name']}"
                if src != dst:
                    out[(src, dst, f"{port['port']}/{protocol}")] = cluster.evaluate(src, dst, port["port"], protocol)
    return out


LARGE_NAMESPACES = ("shop", "pay", "ops", "web")
LARGE_APPS = ("api", "db", "cache", "front")


def large_pods(pods: int) -> list[dict[str, Any]]:
    return [
        {
            "namespace": LARGE_NAMESPACES[i % 4],
            "name": f"pod-{i}",
            "labels": {"app": LARGE_APPS[(i // 4) % 4], "tier": "a" if i % 3 else "b"},
            "ip": f"10.{i // 250}.{(i // 10) % 25}.{i % 250 + 1}",
            "ports": [{"name": "http", "port": 8080}],
        }
        for i in range(pods)
    ]


def large_inputs(pods: int = 500) -> dict[str, Any]:
    """Many pods, few classes: each namespace denies by default and lets app=front in from everywhere and
    app=api in from app=front pods of any namespace; pay's db accepts only pay's api."""
    policies = []
    for ns in LARGE_NAMESPACES:
        policies.append({"metadata": {"name": "deny", "namespace": ns}, "spec": {"podSelector": {}, "ingress": []}})
        policies.append(
            {
                "metadata": {"name": "front", "namespace": ns},
                "spec": {"podSelector": {"matchLabels": {"app": "front"}}, "ingress": [{}]},
            }
        )
        policies.append(
            {
                "metadata": {"name": "api", "namespace": ns},
                "spec": {
                    "podSelector": {"matchLabels": {"app": "api"}},
                    "ingress": [
                        {"from": [{"namespaceSelector": {}, "podSelector": {"matchLabels": {"app": "front"}}}]}
                    ],
                },
            }
        )
    policies.append(
        {
            "metadata": {"name": "db", "namespace": "pay"},
            "spec": {
                "podSelector": {"matchLabels": {"app": "db"}},
                "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "api", "tier": "b"}}}]}],
            },
        }
    )
    return {"namespaces": [{"name": n} for n in LARGE_NAMESPACES], "pods": large_pods(pods), "policies": policies}


def large_result(pods: int = 500) -> dict[str, Any]:
    """What reachability_info returns by default (every pair where it lists them all, else the class matrix)."""
    return reachability(list_pairs=False, **large_inputs(pods))


def class_verdicts(inputs: dict[str, Any], port: int = 8080) -> dict[tuple[str, str], bool]:
    """The engine's verdict for every pair of distinct pods, from its class matrix: {(pod, pod): allowed}."""
    cluster = netpol.Cluster(**inputs)
    classes = cluster.classes()
    matrix = cluster.evaluate_classes(port, "TCP")
    out = {}
    for a in classes:
        for b in classes:
            allowed = matrix.allowed(a.index, b.index)
            for src in a.pods:
                for dst in b.pods:
                    if src != dst:
                        out[(src, dst)] = allowed
    return out


def engine_classes(pods: int = 500) -> dict[str, tuple]:
    """Pod -> what makes its engine class here (namespace and labels; every pod has the same port)."""
    return {
        f"{p['namespace']}/{p['name']}": (p["namespace"], tuple(sorted(p["labels"].items()))) for p in large_pods(pods)
    }


def probe_result(check_mode: bool = False) -> dict[str, Any]:
    """The label step's matrix, with one difference each way and a probe that could not run:

    test-np (labelled)   -> allowed, predicted allowed
    [app=api,tier=web]   -> blocked, predicted allowed (the policy is not enforced for it yet)
    [app=other]          -> allowed, predicted blocked (the cluster lets it through)
    [app=db]             -> probe_error (image not pulled), nothing predicted
    """
    target = _probe.Target("service", "api", NAMESPACE)
    rows = [
        (_probe.Source(NAMESPACE, pod="test-np"), "allowed", 0, "<html>Welcome to nginx!</html>", "allowed"),
        (_probe.Source(NAMESPACE, labels=(("app", "api"), ("tier", "web"))), "blocked", 1, "wget: download timed out", "allowed"),
        (_probe.Source(NAMESPACE, labels=(("app", "other"),)), "allowed", 0, "<html>Welcome to nginx!</html>", "blocked"),
        (_probe.Source(NAMESPACE, labels=(("app", "db"),)), "probe_error", None, "ErrImagePull for image 'busybox:1.36'", None),
    ]  # fmt: skip
    cells = []
    reasons: dict[str, dict[str, str]] = {}
    for source, result, rc, output, expected in rows:
        cell = _probe.Cell(source, target, 80, "http", expected=expected, host="api.netpol-demo.svc")
        if not (check_mode and source.ephemeral):
            cell.record(0.5, _probe.ProbeOutcome(result, rc, output), 2.0)
        cells.append(cell)
        what = f"{source.name} -> {NAMESPACE}/api on 80/TCP is {expected}: ingress to {NAMESPACE}/api"
        if expected == "allowed":
            why = f"{what} is allowed by {NAMESPACE}/backend-policy spec.ingress[0].from[0]"
        elif expected == "blocked":
            why = f"{what} is denied by default: it is selected by {NAMESPACE}/backend-policy"
        else:
            continue
        reasons.setdefault(source.name, {})[cell.key] = why
    ran = [cell for cell in cells if cell.outcome is not None]
    verdict, message = _probe.verdict(ran)
    return {
        "changed": False,
        "results": [cell.as_result() for cell in cells],
        "predicted_reasons": reasons,
        "verdict": verdict,
        "verdict_msg": message,
    }
