#!/usr/bin/python
# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# ruff: noqa: E402  (Ansible modules import after DOCUMENTATION, EXAMPLES and RETURN)
from __future__ import annotations

DOCUMENTATION = r"""
module: reachability_info
short_description: Predict which pods may reach which from NetworkPolicies, and explain why
version_added: "0.1.0"
description:
  - Reads namespaces, pods and NetworkPolicies from a cluster (O(source=live)) or takes them as data
    (O(source=offline)), and predicts, for every ordered pair of distinct pods and every port, whether the
    policies allow the connection - with the policy, rule, peer and port that allowed it, or the policies
    whose default deny blocked it.
  - Implements the whole C(networking.k8s.io/v1) NetworkPolicy semantics - policyTypes defaulting, additive
    policies, egress of the source AND ingress of the target, pod and namespace selectors (matchLabels,
    matchExpressions), ipBlock with except matched against pod IPs, numbered and named ports (resolved on the
    target pod), endPort ranges, TCP, UDP and SCTP, and the C(kubernetes.io/metadata.name) namespace label.
  - Policies are validated first (the strict Kubernetes JSON schema plus the checks the schema cannot make);
    every error names the policy and the field.
  - Pods with the same namespace, labels and container ports (and the same matching ipBlocks) are
    indistinguishable to every policy. They are evaluated once as an equivalence class, so the cost follows the
    number of classes, not pods; O(granularity=classes) reports per class.
  - A pod talking to itself is not predicted (CNIs disagree on it, kubernetes#95879) and is left out of the
    results.
  - Prediction only - nothing is probed. M(netpol.aks.probe_connectivity) compares these predictions with real
    connections.
author:
  - netpol.aks contributors (@netpol)
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
  - netpol.aks.kube
  - netpol.aks.attributes
  - netpol.aks.attributes.INFO_MODULE
options:
  source:
    description:
      - Where namespaces, pods and policies come from.
      - V(live) reads them from the cluster the connection options point at (read-only LIST calls).
      - V(offline) takes them from O(namespaces), O(pods) and O(policies); no cluster is contacted.
      - Default is V(offline) when O(pods), O(namespaces) or O(policies) is given, else V(live).
    type: str
    choices: [live, offline]
  namespace:
    description:
      - O(source=live) only. Read pods and policies from these namespaces only (every namespace's labels are
        still read, as namespaceSelectors refer to them). Default is every namespace.
    type: list
    elements: str
  label_selectors:
    description:
      - O(source=live) only. Only pods matching all these label selectors (as in C(kubectl -l)), e.g. V(app=api).
    type: list
    elements: str
  namespaces:
    description:
      - O(source=offline) only. The namespaces with their labels. C(kubernetes.io/metadata.name) is added.
      - A namespace that only pods or policies mention is assumed to carry no other label.
    type: list
    elements: dict
    suboptions:
      name:
        description: Namespace name.
        type: str
        required: true
      labels:
        description: Namespace labels.
        type: dict
        default: {}
  pods:
    description:
      - O(source=offline) only. The pods.
    type: list
    elements: dict
    suboptions:
      namespace:
        description: Namespace of the pod.
        type: str
        required: true
      name:
        description: Pod name.
        type: str
        required: true
      labels:
        description: Pod labels.
        type: dict
        default: {}
      ip:
        description: Pod IP, for ipBlock peers. A pod without one matches no ipBlock.
        type: str
      ports:
        description: Container ports of the pod (they resolve named ports and are the default O(ports)).
        type: list
        elements: dict
        default: []
        suboptions:
          name:
            description: Port name (IANA service name), as in the container spec.
            type: str
          port:
            description: Port number.
            type: int
            required: true
          protocol:
            description: V(TCP), V(UDP) or V(SCTP) (any case).
            type: str
            default: TCP
  policies:
    description:
      - O(source=offline) only. NetworkPolicy objects as the API returns them (C(metadata.name),
        C(metadata.namespace), C(spec)), for example from M(kubernetes.core.k8s_info) or a manifest file.
    type: list
    elements: dict
    default: []
  ports:
    description:
      - Ports to evaluate. Default is every port each target pod declares (its container ports), so each target
        is evaluated on its own ports.
      - A port given by name is resolved on each target pod; targets without that name are left out for it.
    type: list
    elements: dict
    suboptions:
      port:
        description: Port number or container port name.
        type: raw
        required: true
      protocol:
        description: V(TCP), V(UDP) or V(SCTP) (any case).
        type: str
        default: TCP
  sources:
    description:
      - Limit the sources to these pods (V(namespace/pod)) or non-pod addresses (an IP address).
      - Default is every pod.
    type: list
    elements: str
  targets:
    description:
      - Limit the targets to these pods (V(namespace/pod)) or non-pod addresses (an IP address, with O(ports)).
      - Default is every pod.
    type: list
    elements: str
  granularity:
    description:
      - V(pods) - one result per ordered pair of distinct pods per port.
      - V(classes) - one result per ordered pair of equivalence classes per port (a class paired with itself
        stands for two distinct pods of the class, and is left out when the class has one pod); RV(classes)
        lists each class's pods. O(sources) and O(targets) cannot be used with it.
    type: str
    choices: [pods, classes]
    default: pods
  explain:
    description:
      - Add to every result the egress and ingress explanations - which policies select the source and the
        target, and every rule (policy, rule, peer and port index) that allows the connection.
    type: bool
    default: false
  only:
    description:
      - Return only allowed or only blocked results (RV(summary) and RV(table) always cover everything).
    type: str
    choices: [all, allowed, blocked]
    default: all
notes:
  - The prediction covers NetworkPolicy only. A CNI that does not enforce NetworkPolicy (AKS with
    C(--network-policy none), flannel) lets everything through whatever is predicted here.
  - Pods that have finished or use the host network are not governed by NetworkPolicy; in live mode they are left
    out and listed in RV(skipped_pods).
seealso:
  - module: netpol.aks.probe_connectivity
  - name: Kubernetes NetworkPolicy
    description: The semantics implemented here.
    link: https://kubernetes.io/docs/concepts/services-networking/network-policies/
"""

EXAMPLES = r"""
- name: Predict reachability from the live cluster's policies
  netpol.aks.reachability_info:
    kubeconfig: ~/.kube/config
    namespace: [default]
  register: reach

- name: Show the truth table of port 80
  ansible.builtin.debug:
    msg: "{{ reach.table_lines['80/TCP'] }}"

- name: Why can the client not reach the api pod?
  netpol.aks.reachability_info:
    sources: [default/test-np]
    targets: [default/api]
    ports: [{port: 80}]
    explain: true
  register: why

- name: The walkthrough's deny policy, predicted offline
  netpol.aks.reachability_info:
    namespaces:
      - name: default
    pods:
      - {namespace: default, name: api, labels: {app: api}, ip: 10.240.0.10, ports: [{name: http, port: 80}]}
      - {namespace: default, name: test-np, labels: {}, ip: 10.240.0.11}
    policies:
      - "{{ lookup('ansible.builtin.file', 'deny.yaml') | from_yaml }}"
  register: offline

- name: The walkthrough's expectation holds
  ansible.builtin.assert:
    that:
      - offline.results | selectattr('to', 'eq', 'default/api') | map(attribute='allowed') | list == [false]

- name: Large cluster - one result per equivalence class pair on one port
  netpol.aks.reachability_info:
    granularity: classes
    ports: [{port: 8080, protocol: TCP}]
    only: allowed
  register: classes
"""

RETURN = r"""
source:
  description: Where the data came from, V(live) or V(offline).
  returned: always
  type: str
  sample: offline
results:
  description:
    - One item per ordered pair of distinct pods (or classes) per evaluated port, filtered by O(only).
  returned: always
  type: list
  elements: dict
  contains:
    from:
      description: Source, V(namespace/pod) (or V(namespace/class-N), or an IP address).
      type: str
      sample: default/test-np
    to:
      description: Target, V(namespace/pod) (or V(namespace/class-N), or an IP address).
      type: str
      sample: default/api
    port:
      description: Port number.
      type: int
      sample: 80
    port_name:
      description: The port's name when the port was given by name.
      type: str
      returned: when O(ports) names a port
    protocol:
      description: V(TCP), V(UDP) or V(SCTP).
      type: str
      sample: TCP
    allowed:
      description: Whether the policies allow the connection.
      type: bool
    reason:
      description: One sentence - the rule that allowed it, or the policies whose default deny blocked it.
      type: str
      sample: "default/test-np -> default/api on 80/TCP is blocked: ingress to default/api is denied by default: it
        is selected by default/deny-all and no ingress rule of those matches"
    egress:
      description: The source's side (with O(explain)) - C(selecting) policies, C(isolated), C(allowed),
        C(matches) (policy, direction, rule, peer, port, field), C(reason).
      type: dict
      returned: when O(explain=true)
    ingress:
      description: The target's side (with O(explain)), as RV(results[].egress).
      type: dict
      returned: when O(explain=true)
table:
  description:
    - The truth tables in the upstream e2e style, keyed V(<port>/<protocol>) (or V(<name>/<protocol>) for a named
      port) - rows are sources, columns targets, V(.) allowed, V(X) blocked, V(-) a pod and itself (not predicted),
      V(?) two non-pod addresses (not a NetworkPolicy question).
  returned: always
  type: dict
  sample: {"80/TCP": "-           default/api\ndefault/test-np X\n"}
table_lines:
  description: RV(table) split into lines, for readable C(debug) output.
  returned: always
  type: dict
classes:
  description: The equivalence classes, with their pods.
  returned: when O(granularity=classes)
  type: list
  elements: dict
  contains:
    name:
      description: Class name, V(namespace/class-N).
      type: str
    namespace:
      description: Namespace of the class's pods.
      type: str
    labels:
      description: Labels of the class's pods.
      type: dict
    ports:
      description: Container ports of the class's pods.
      type: list
    pods:
      description: The pods, V(namespace/pod).
      type: list
summary:
  description: Counts.
  returned: always
  type: dict
  contains:
    namespaces:
      description: Namespaces known.
      type: int
    pods:
      description: Pods evaluated.
      type: int
    classes:
      description: Equivalence classes of those pods.
      type: int
    policies:
      description: NetworkPolicies.
      type: int
    evaluated:
      description: Pairs evaluated (all ports), before O(only) filtered the results.
      type: int
    allowed:
      description: Pairs allowed.
      type: int
    blocked:
      description: Pairs blocked.
      type: int
    ports:
      description: The V(<port>/<protocol>) keys evaluated.
      type: list
    isolated_ingress:
      description: Pods selected by at least one Ingress policy (the others accept any source).
      type: int
    isolated_egress:
      description: Pods selected by at least one Egress policy.
      type: int
  sample: {namespaces: 1, pods: 2, classes: 2, policies: 1, evaluated: 1, allowed: 0, blocked: 1, ports: ["80/TCP"]}
skipped_pods:
  description: Live mode - pods left out because NetworkPolicy does not govern them, with the reason.
  returned: always
  type: list
  elements: dict
  sample: [{pod: kube-system/kube-proxy-abc, reason: "hostNetwork: NetworkPolicy does not apply"}]
"""

import copy
import ipaddress
from typing import Any

from ansible_collections.netpol.aks.plugins.module_utils import _kube
from ansible_collections.netpol.aks.plugins.module_utils import netpol

OFFLINE_INPUTS = ("namespaces", "pods", "policies")
LIVE_FILTERS = ("namespace", "label_selectors")

PORT_SPEC = {"port": {"type": "raw", "required": True}, "protocol": {"type": "str", "default": "TCP"}}
ARGUMENT_SPEC: dict[str, Any] = {
    **copy.deepcopy(_kube.KUBE_AUTH_ARG_SPEC),
    "source": {"type": "str", "choices": ["live", "offline"]},
    "namespace": {"type": "list", "elements": "str"},
    "label_selectors": {"type": "list", "elements": "str"},
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
    "ports": {"type": "list", "elements": "dict", "options": PORT_SPEC},
    "sources": {"type": "list", "elements": "str"},
    "targets": {"type": "list", "elements": "str"},
    "granularity": {"type": "str", "choices": ["pods", "classes"], "default": "pods"},
    "explain": {"type": "bool", "default": False},
    "only": {"type": "str", "choices": ["all", "allowed", "blocked"], "default": "all"},
}


class InputProblem(_kube.KubeError):
    """A module argument the argspec cannot check; the message names it."""


# ---------------------------------------------------------------------------------------------
# describe: gather the cluster
# ---------------------------------------------------------------------------------------------


def choose_source(params: dict) -> str:
    offline_given = bool(params.get("pods") or params.get("namespaces") or params.get("policies"))
    source = params.get("source") or ("offline" if offline_given else "live")
    if source == "offline":
        stray = [name for name in LIVE_FILTERS if params.get(name)]
        if stray:
            raise InputProblem(f"{', '.join(stray)}: only for source=live; filter offline data with sources/targets")
    elif offline_given:
        stray = [name for name in OFFLINE_INPUTS if params.get(name)]
        raise InputProblem(f"{', '.join(stray)}: only for source=offline; with source=live the cluster is read")
    return source


def gather(params: dict, source: str) -> dict:
    """Namespaces, pods and policies in the engine's shapes (and the live mode's skipped pods)."""
    if source == "offline":
        return {
            "namespaces": [
                {"name": n["name"], "labels": n.get("labels") or {}} for n in params.get("namespaces") or []
            ],
            "pods": [{k: v for k, v in p.items() if v is not None} for p in params.get("pods") or []],
            "policies": list(params.get("policies") or []),
            "skipped": [],
        }
    api_client = _kube.build_api_client(params)
    selector = ",".join(params.get("label_selectors") or []) or None
    return _kube.read_cluster(api_client, namespaces=params.get("namespace"), label_selector=selector)


def build_cluster(data: dict) -> netpol.Cluster:
    try:
        return netpol.Cluster(namespaces=data["namespaces"], pods=data["pods"], policies=data["policies"])
    except netpol.PolicyError as exc:
        raise netpol.PolicyError([f"policies: {e}" for e in exc.errors]) from None


# ---------------------------------------------------------------------------------------------
# evaluate
# ---------------------------------------------------------------------------------------------


def _endpoints(cluster: netpol.Cluster, values: list[str] | None, option: str) -> list[Any]:
    """Pods ("ns/pod") and non-pod endpoints (IP addresses) of sources/targets, in order, unique."""
    if values is None:
        return list(cluster.pods)
    out: list[Any] = []
    for i, value in enumerate(values):
        try:
            ip = ipaddress.ip_address(value)
        except ValueError:
            ip = None
        if ip is not None:
            endpoint = cluster.endpoint({"ip": str(ip)})
            item = endpoint.ident if isinstance(endpoint, netpol.Pod) else str(ip)
        elif value in cluster.pods:
            item = value
        else:
            raise InputProblem(f"{option}[{i}]: {value!r} is neither a known pod (namespace/pod) nor an IP address")
        if item not in out:
            out.append(item)
    return out


def _port_specs(params: dict) -> list[tuple[Any, str]] | None:
    specs = params.get("ports")
    if specs is None:
        return None
    return [netpol.check_port_spec(spec["port"], spec.get("protocol"), f"ports[{i}]") for i, spec in enumerate(specs)]


def _result(decision: netpol.Decision, explain: bool, port_name: str | None) -> dict:
    item: dict[str, Any] = {
        "from": decision.source,
        "to": decision.target,
        "port": decision.port,
        "protocol": decision.protocol,
        "allowed": decision.allowed,
        "reason": decision.reason,
    }
    if port_name:
        item["port_name"] = port_name
    if explain:
        item["egress"] = decision.egress.to_dict()
        item["ingress"] = decision.ingress.to_dict()
    return item


def evaluate_pods(cluster: netpol.Cluster, params: dict) -> tuple[list[dict], dict[str, str], int, int, list[str]]:
    sources = _endpoints(cluster, params.get("sources"), "sources")
    targets = _endpoints(cluster, params.get("targets"), "targets")
    groups = netpol.port_groups(
        targets, _port_specs(params), lambda t: cluster.pods[t].ports if t in cluster.pods else None
    )
    explain, only = params["explain"], params["only"]
    results: list[dict] = []
    tables: dict[str, str] = {}
    allowed_count = blocked_count = 0
    for key, (port, protocol, by_number) in groups.items():
        port_name = port if isinstance(port, str) else None
        cells: dict[tuple[str, str], bool | None] = {}
        columns: list[str] = []
        for number, group_targets in by_number.items():
            columns += [t for t in group_targets if t not in columns]
            pod_sources = [s for s in sources if s in cluster.pods]
            pod_targets = [t for t in group_targets if t in cluster.pods]
            decisions = list(cluster.pair_decisions(number, protocol, pod_sources, pod_targets))
            for s in sources:
                for t in group_targets:
                    if s == t:
                        cells[(s, t)] = None
                    elif (s in cluster.pods) != (t in cluster.pods):  # one side is a non-pod address
                        decisions.append(
                            cluster.evaluate(
                                s if s in cluster.pods else {"ip": s},
                                t if t in cluster.pods else {"ip": t},
                                number,
                                protocol,
                            )
                        )
            for d in decisions:
                cells[(d.source, d.target)] = d.allowed
                if d.allowed:
                    allowed_count += 1
                else:
                    blocked_count += 1
                if only == "all" or (only == "allowed") == d.allowed:
                    results.append(_result(d, explain, port_name))
        tables[key] = netpol.format_table(list(sources), columns, cells, self_mark="-")
    return results, tables, allowed_count, blocked_count, list(groups)


def evaluate_classes(cluster: netpol.Cluster, params: dict) -> tuple[list[dict], dict[str, str], int, int, list[str]]:
    if params.get("sources") or params.get("targets"):
        raise InputProblem("sources, targets: not supported with granularity=classes; use granularity=pods")
    classes = cluster.classes()
    specs = _port_specs(params)
    explain, only = params["explain"], params["only"]
    # Ports: the given ones (numbers, or names resolved per class), else every port any class declares.
    wanted = netpol.port_groups(classes, specs, lambda c: c.ports)
    results: list[dict] = []
    tables: dict[str, str] = {}
    allowed_count = blocked_count = 0
    rows = [c.name for c in classes]
    for key, (port, protocol, by_number) in wanted.items():
        port_name = port if isinstance(port, str) else None
        cells: dict[tuple[str, str], bool | None] = {}
        columns: list[str] = []
        for number, group in by_number.items():
            matrix = cluster.evaluate_classes(number, protocol)
            columns += [c.name for c in group if c.name not in columns]
            for src in classes:
                row = matrix.allowed_targets(src.index)
                for dst in group:
                    if src.index == dst.index and len(src.pods) < 2:
                        cells[(src.name, dst.name)] = None
                        continue
                    verdict = bool((row >> dst.index) & 1)
                    cells[(src.name, dst.name)] = verdict
                    if verdict:
                        allowed_count += 1
                    else:
                        blocked_count += 1
                    if only == "all" or (only == "allowed") == verdict:
                        decision = cluster.class_decision(src, dst, number, protocol)
                        results.append(_result(decision, explain, port_name))
        tables[key] = netpol.format_table(rows, columns, cells, self_mark="-")
    return results, tables, allowed_count, blocked_count, list(wanted)


def describe(params: dict) -> dict:
    source = choose_source(params)
    data = gather(params, source)
    cluster = build_cluster(data)
    if params["granularity"] == "classes":
        results, tables, allowed, blocked, keys = evaluate_classes(cluster, params)
    else:
        results, tables, allowed, blocked, keys = evaluate_pods(cluster, params)
    isolated_in, isolated_eg = _isolation_counts(cluster)
    warnings = [cluster.schema_warning] if cluster.schema_warning else []
    if not keys and cluster.pods:
        warnings.append(
            "Nothing was evaluated: no target pod declares a container port. Give the ports to evaluate with the "
            "ports option."
        )
    out: dict[str, Any] = {
        "source": source,
        "results": results,
        "table": tables,
        "table_lines": {k: v.splitlines() for k, v in tables.items()},
        "summary": {
            "namespaces": len(cluster.namespaces),
            "pods": len(cluster.pods),
            "classes": len(cluster.classes()),
            "policies": len(cluster.policies),
            "evaluated": allowed + blocked,
            "allowed": allowed,
            "blocked": blocked,
            "ports": keys,
            "isolated_ingress": isolated_in,
            "isolated_egress": isolated_eg,
        },
        "skipped_pods": data.get("skipped") or [],
        "warnings": warnings,
    }
    if params["granularity"] == "classes":
        out["classes"] = [c.to_dict() for c in cluster.classes()]
    return out


def _isolation_counts(cluster: netpol.Cluster) -> tuple[int, int]:
    ingress = egress = 0
    for c in cluster.classes():
        ing, eg = cluster.isolation(c)
        ingress += len(c.pods) if ing else 0
        egress += len(c.pods) if eg else 0
    return ingress, egress


def main() -> None:
    module = _kube.KubeModule(
        argument_spec=ARGUMENT_SPEC,
        supports_check_mode=True,
        mutually_exclusive=[("namespaces", "namespace"), ("pods", "label_selectors")],
    )
    try:
        result = run(module)
    except _kube.KubeError as err:
        module.fail_from_error(err)
    for warning in result.pop("warnings"):
        module.warn(warning)
    module.exit_json(changed=False, **result)


def run(module: _kube.KubeModule) -> dict:
    """describe(), with the engine's errors (bad policies, pods, ports) reported as the module's one error."""
    try:
        return describe(module.params)
    except netpol.NetpolError as exc:
        raise _kube.KubeError(str(exc), exc) from exc


if __name__ == "__main__":
    main()
