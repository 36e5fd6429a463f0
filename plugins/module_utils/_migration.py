# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What changes when a cluster moves from one NetworkPolicy engine to another (pure, no I/O).

PRIVATE to the collection; may change at any time.

``check(data, from_engine, to_engine, ...)`` returns findings (one per problem, with the policy or
Service and the field path) and changed pairs (every connection whose verdict differs between the
engines on the cluster's actual pods, nodes and Services). Findings are precise: an ipBlock is one only
where it covers the address of a pod or node of the cluster, an egress rule only where a pod would lose
its own node. The engines' differences and their sources: ``netpol.DIALECT_SOURCES``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any

from ansible_collections.netpol.aks.plugins.module_utils import netpol

CHECKS = (
    "endport",
    "ipblock_selects_pods",
    "ipblock_selects_nodes",
    "named_port_ambiguous",
    "egress_to_own_node",
    "external_traffic_cluster",
    "windows_node_pool",
    "kubenet",
)
# Ports a pod uses on its own node (node-local DNS, kubelet): the egress_to_own_node check probes these.
NODE_PORTS = ((53, "UDP"), (53, "TCP"), (10250, "TCP"))
MAX_LISTED = 3


def _finding(check: str, obj: str, path: str, severity: str, message: str, fix: str) -> dict[str, str]:
    return {"check": check, "object": obj, "path": path, "severity": severity, "message": message, "fix": fix}


def _ident(policy: Mapping) -> str:
    meta = policy.get("metadata") or {}
    return f"{meta.get('namespace')}/{meta.get('name')}"


def _rules(policy: Mapping) -> list[tuple[str, int, Mapping]]:
    spec = policy.get("spec") or {}
    out = []
    for direction in ("ingress", "egress"):
        for i, rule in enumerate(spec.get(direction) or []):
            out.append((direction, i, rule or {}))
    return out


def _listed(items: list[str]) -> str:
    shown = ", ".join(items[:MAX_LISTED])
    return shown + (f" and {len(items) - MAX_LISTED} more" if len(items) > MAX_LISTED else "")


def _covered(block: Mapping, endpoints: list[Any]) -> list[str]:
    net = ipaddress.ip_network(block["cidr"], strict=False)
    excepts = [ipaddress.ip_network(e, strict=False) for e in block.get("except") or ()]
    hits = []
    for endpoint in endpoints:
        ip = endpoint.ip
        if ip is None or ip.version != net.version or ip not in net:
            continue
        if any(ip.version == e.version and ip in e for e in excepts):
            continue
        hits.append(f"{endpoint.ident} ({ip})")
    return hits


def _version(text: str | None) -> tuple[int, ...] | None:
    return netpol.dialect("cilium", text).version if text else None


def policy_findings(
    policies: list[Mapping], before: netpol.Cluster, to_engine: str, cilium_version: str | None
) -> list[dict[str, str]]:
    """Findings read from the policies themselves, checked against the cluster's pods and nodes."""
    findings: list[dict[str, str]] = []
    if to_engine != "cilium":
        return findings
    version = _version(cilium_version)
    pods = list(before.pods.values())
    nodes = list(before.nodes.values())
    for policy in policies:
        ident = _ident(policy)
        for direction, i, rule in _rules(policy):
            peers_key = "from" if direction == "ingress" else "to"
            for j, port in enumerate(rule.get("ports") or []):
                if port.get("endPort") is None:
                    continue
                path = f"spec.{direction}[{i}].ports[{j}].endPort"
                rng = f"{port.get('port')}-{port['endPort']}"
                if version is None:
                    findings.append(
                        _finding(
                            "endport",
                            ident,
                            path,
                            "warning",
                            f"the range {rng} is enforced as a range only from Cilium 1.17; the Cilium version is "
                            "not known",
                            "give cilium_version; before 1.17 replace the range by single ports",
                        )
                    )
                elif version[:2] < netpol.CILIUM_END_PORT_VERSION:
                    findings.append(
                        _finding(
                            "endport",
                            ident,
                            path,
                            "error",
                            f"Cilium {'.'.join(map(str, version))} does not enforce the range {rng} (only from 1.17)",
                            "list the ports one by one, or upgrade to Cilium 1.17 or later first",
                        )
                    )
            for j, peer in enumerate(rule.get(peers_key) or []):
                block = (peer or {}).get("ipBlock")
                if not block:
                    continue
                path = f"spec.{direction}[{i}].{peers_key}[{j}].ipBlock"
                pod_hits = _covered(block, pods)
                if pod_hits:
                    findings.append(
                        _finding(
                            "ipblock_selects_pods",
                            ident,
                            path,
                            "error",
                            f"{block['cidr']} covers pods {_listed(pod_hits)}; Cilium never matches a pod address "
                            "with an ipBlock, so these connections lose this rule",
                            "add a peer with namespaceSelector/podSelector for those pods (keep the ipBlock for "
                            "addresses outside the cluster)",
                        )
                    )
                node_hits = _covered(block, nodes)
                if node_hits:
                    findings.append(
                        _finding(
                            "ipblock_selects_nodes",
                            ident,
                            path,
                            "error",
                            f"{block['cidr']} covers nodes {_listed(node_hits)}; Cilium never matches a node address "
                            "with an ipBlock",
                            "no NetworkPolicy can allow nodes under Cilium: after the migration add a "
                            "CiliumNetworkPolicy with toEntities/fromEntities host and remote-node",
                        )
                    )
            if direction == "egress":
                for j, port in enumerate(rule.get("ports") or []):
                    name = port.get("port")
                    if not isinstance(name, str) or name.isdigit():
                        continue
                    numbers = before.rule_named_port_numbers(ident, "egress", i, name, port.get("protocol") or "TCP")
                    if len(numbers) > 1:
                        findings.append(
                            _finding(
                                "named_port_ambiguous",
                                ident,
                                f"spec.egress[{i}].ports[{j}].port",
                                "error",
                                f"the named port {name!r} means {', '.join(map(str, sorted(numbers)))} on the pods "
                                "this rule selects; Cilium skips such an egress rule (duplicate named ports)",
                                "use the port numbers instead of the name",
                            )
                        )
    return findings


def _verdict(allowed: bool | None) -> str:
    return "allowed" if allowed else "blocked"


def _pair(decision_before: netpol.Decision, decision_after: netpol.Decision, source: str, target: str) -> dict:
    reason = decision_after.reason if "[" in decision_after.reason else decision_before.reason
    return {
        "from": source,
        "to": target,
        "port": decision_after.port,
        "protocol": decision_after.protocol,
        "before": _verdict(decision_before.allowed),
        "after": _verdict(decision_after.allowed),
        "reason": reason,
    }


def pod_pairs(before: netpol.Cluster, after: netpol.Cluster, specs: list[tuple[Any, str]] | None) -> list[dict]:
    """Pod-to-pod connections whose verdict differs, on each target's ports (or the ports given)."""
    changed = []
    targets = sorted(before.pods)
    if not targets:
        return changed

    def ports_of(ident: str) -> Any:
        return before.pods[ident].ports

    declared = [t for t in targets if before.pods[t].ports]
    groups = netpol.port_groups(declared if specs is None else targets, specs, ports_of)
    for _key, (_port, protocol, by_number) in groups.items():
        for number, group_targets in sorted(by_number.items()):
            first = {
                (d.source, d.target): d.allowed for d in before.pair_decisions(number, protocol, targets=group_targets)
            }
            for d in after.pair_decisions(number, protocol, targets=group_targets):
                if first[(d.source, d.target)] != d.allowed:
                    # evaluated again for the full reason (class-shared decisions carry no dialect notes)
                    old = before.evaluate(d.source, d.target, number, protocol)
                    new = after.evaluate(d.source, d.target, number, protocol)
                    changed.append(_pair(old, new, d.source, d.target))
    return changed


def node_pairs(before: netpol.Cluster, after: netpol.Cluster, policies: list[Mapping]) -> tuple[list[dict], list[dict]]:
    """Egress from pods to their own node (NODE_PORTS): changed pairs and egress_to_own_node findings."""
    changed: list[dict] = []
    findings: dict[str, dict] = {}
    by_ident = {_ident(p): p for p in policies}
    for pod in sorted(before.pods.values(), key=lambda p: p.ident):
        if pod.node is None or pod.node not in before.nodes or not before.isolation(pod.ident)[1]:
            continue
        for port, protocol in NODE_PORTS:
            old = before.evaluate(pod.ident, f"node/{pod.node}", port, protocol)
            new = after.evaluate(pod.ident, f"node/{pod.node}", port, protocol)
            if old.allowed == new.allowed:
                continue
            changed.append(_pair(old, new, pod.ident, f"node/{pod.node}"))
            if old.allowed and not new.allowed:
                for ident in new.egress.selecting:
                    spec = (by_ident.get(ident) or {}).get("spec") or {}
                    findings.setdefault(
                        ident,
                        _finding(
                            "egress_to_own_node",
                            ident,
                            "spec.egress" if spec.get("egress") else "spec.policyTypes",
                            "error",
                            f"{pod.ident} would lose {port}/{protocol} to its own node {pod.node}: the old engine "
                            "always allows egress to the pod's node, Cilium only when a rule allows it",
                            "after the migration add a CiliumNetworkPolicy egress rule with toEntities: [host] for "
                            "these pods (an ipBlock cannot match the node under Cilium)",
                        ),
                    )
    return changed, list(findings.values())


def service_pairs(
    before: netpol.Cluster, after: netpol.Cluster, services: list[Mapping], client_ip: str
) -> tuple[list[dict], list[dict]]:
    """External clients through LoadBalancer / NodePort Services: changed pairs and external_traffic_cluster findings."""
    changed: list[dict] = []
    findings: list[dict] = []
    for service in services:
        spec = service.get("spec") or {}
        if spec.get("type") not in ("LoadBalancer", "NodePort"):
            continue
        meta = service.get("metadata") or {}
        ident = f"{meta.get('namespace')}/{meta.get('name')}"
        lost = []
        for entry in spec.get("ports") or []:
            port, protocol = entry.get("port"), netpol.normalize_protocol(entry.get("protocol"))
            old, _why = before.external_service_decisions(service, port, protocol, client_ip)
            new, _why = after.external_service_decisions(service, port, protocol, client_ip)
            for a, b in zip(old, new, strict=True):
                if a.allowed != b.allowed:
                    changed.append(_pair(a, b, f"external via {ident}:{port}/{protocol}", b.target))
                    if a.allowed and not b.allowed:
                        lost.append(f"{b.target} on {b.port}/{protocol}")
        if lost and (spec.get("externalTrafficPolicy") or "Cluster") == "Cluster":
            findings.append(
                _finding(
                    "external_traffic_cluster",
                    ident,
                    "spec.externalTrafficPolicy",
                    "error",
                    f"external clients reach {_listed(lost)} today because the old engine does not apply ingress "
                    "policy to externalTrafficPolicy Cluster traffic; Cilium does, and the policies do not admit them",
                    "before migrating, set externalTrafficPolicy: Local (the client address is kept) and admit the "
                    "clients' addresses with an ipBlock, or admit the backend port with an ingress rule without "
                    "from (what another node forwards arrives from that node, which no ipBlock matches)",
                )
            )
    return changed, findings


def cluster_findings(nodes: list[Mapping], network_plugin: str | None, to_engine: str) -> list[dict[str, str]]:
    findings = []
    if to_engine != "cilium":
        return findings
    for node in nodes:
        if str(node.get("os") or "linux").lower() == "windows":
            findings.append(
                _finding(
                    "windows_node_pool",
                    f"node/{node['name']}",
                    "status.nodeInfo.operatingSystem",
                    "error",
                    f"node {node['name']} runs Windows; AKS refuses Cilium on clusters with Windows node pools",
                    "move the Windows workloads and delete the Windows node pools before migrating",
                )
            )
    if (network_plugin or "").lower() == "kubenet":
        findings.append(
            _finding(
                "kubenet",
                "cluster",
                "properties.networkProfile.networkPlugin",
                "error",
                "the cluster uses kubenet; Cilium needs Azure CNI (overlay)",
                "move to Azure CNI overlay first, a separate step that needs network_policy: none first",
            )
        )
    return findings


def check(
    data: Mapping[str, Any],
    from_engine: str = "azure",
    to_engine: str = "cilium",
    *,
    cilium_version: str | None = None,
    network_plugin: str | None = None,
    ports: list[tuple[Any, str]] | None = None,
    client_ip: str = "203.0.113.10",
) -> dict[str, Any]:
    """Findings, changed pairs, safe and msg for moving ``data`` (namespaces, pods, policies, services, nodes)."""
    policies = list(data.get("policies") or [])
    services = list(data.get("services") or [])
    nodes = list(data.get("nodes") or [])
    common = {"namespaces": data.get("namespaces"), "pods": data.get("pods"), "nodes": nodes}
    before = netpol.Cluster(**common, policies=policies, engine=from_engine)
    version = cilium_version if to_engine == "cilium" else None
    after = netpol.Cluster(**common, policies=policies, engine=to_engine, engine_version=version, validate=False)
    findings = cluster_findings(nodes, network_plugin, to_engine)
    findings += policy_findings(policies, before, to_engine, cilium_version)
    changed = pod_pairs(before, after, ports)
    more, own_node = node_pairs(before, after, policies)
    changed += more
    findings += own_node
    more, external = service_pairs(before, after, services, client_ip)
    changed += more
    findings += external
    errors = [f for f in findings if f["severity"] == "error"]
    safe = not errors and not changed
    if safe:
        msg = (
            f"Safe to move from {from_engine} to {to_engine}: {len(before.pods)} pods, {len(policies)} policies and "
            f"{len(services)} Services checked, no connection changes"
            + (f" ({len(findings)} warning(s))" if findings else "")
        )
    else:
        msg = (
            f"Not safe to move from {from_engine} to {to_engine} as is: {len(errors)} error(s), "
            f"{len(findings) - len(errors)} warning(s), {len(changed)} connection(s) change; see findings and "
            "changed_pairs"
        )
    return {"findings": findings, "changed_pairs": changed, "safe": safe, "msg": msg}
