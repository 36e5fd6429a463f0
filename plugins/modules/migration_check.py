#!/usr/bin/python
# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# ruff: noqa: E402  (Ansible modules import after DOCUMENTATION, EXAMPLES and RETURN)
from __future__ import annotations

DOCUMENTATION = r"""
module: migration_check
short_description: Check a cluster before moving it from one NetworkPolicy engine to another (Azure NPM to Cilium)
version_added: "0.1.0"
description:
  - Predicts, for a move between NetworkPolicy engines (by default Azure Network Policy Manager to Cilium),
    every connection whose verdict changes on the cluster's actual pods, nodes and Services, and reports each
    policy field or Service that causes a change, with what to do about it.
  - Findings are precise - an C(ipBlock) is one only where it covers the address of a pod or node of the cluster;
    an egress policy only where a pod would lose traffic to its own node; a LoadBalancer or NodePort Service only
    where external clients would be cut off; a named port only where it means different numbers on the pods an
    egress rule selects; an C(endPort) range only for a Cilium release that does not enforce it (or an unknown one,
    as a warning).
  - The engines' differences, each with its source, are those of the collection's engine dialects
    (M(netpol.aks.reachability_info)'s O(netpol.aks.reachability_info#module:engine)).
  - Prediction only - nothing is changed. M(netpol.aks.aks_cluster) changes the engine;
    M(netpol.aks.probe_connectivity) observes what the cluster then does.
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
      - V(live) reads namespaces, pods, NetworkPolicies, Services and nodes from the cluster (read-only LIST calls).
      - V(offline) takes them from O(namespaces), O(pods), O(policies), O(services) and O(nodes).
      - Default is V(offline) when any of those is given, else V(live).
    type: str
    choices: [live, offline]
  from_engine:
    description:
      - The engine the cluster runs now.
      - V(auto) (O(source=live) only) reads it from the cluster - the DaemonSet of the engine's agent
        (C(kube-system/azure-npm), C(calico-system/calico-node) or C(kube-system/calico-node), C(kube-system/cilium));
        RV(engine_detected) says what was found. Nothing found is V(upstream) with a warning; Cilium and another
        engine both running (a move in progress) is the other engine, with a warning; a cluster that already runs
        O(to_engine) is an error (give the engine it ran before). Reading the DaemonSets needs C(get) on
        C(daemonsets) in C(kube-system) and C(calico-system).
    type: str
    choices: [auto, azure, calico, cilium, upstream]
    default: azure
  to_engine:
    description: The engine it moves to.
    type: str
    choices: [azure, calico, cilium, upstream]
    default: cilium
  cilium_version:
    description:
      - The Cilium release after the move (AKS picks it with the Kubernetes version), e.g. V(1.17). Cilium enforces
        C(endPort) ranges from 1.17; without it, ranges are warnings.
      - C(major.minor) or C(major.minor.patch) (a leading C(v) is accepted); only with O(to_engine=cilium).
    type: str
  network_plugin:
    description:
      - The cluster's network plugin (C(cluster.network_profile.network_plugin) as M(netpol.aks.aks_cluster) returns it).
        V(kubenet) is a finding - Cilium needs Azure CNI overlay first.
    type: str
    choices: [azure, kubenet, none]
  ports:
    description:
      - Ports to compare pod-to-pod connections on. Default is every container port each target pod declares.
    type: list
    elements: dict
    suboptions:
      port:
        description: A port number or a container port name.
        type: raw
        required: true
      protocol:
        description: Protocol.
        type: str
        choices: [TCP, UDP, SCTP]
        default: TCP
  client_ip:
    description: The address of an external client, for traffic through LoadBalancer and NodePort Services.
    type: str
    default: 203.0.113.10
  namespaces:
    description: O(source=offline) only. Namespaces with their labels.
    type: list
    elements: dict
  pods:
    description:
      - O(source=offline) only. Pods as M(netpol.aks.reachability_info) takes them (C(namespace), C(name),
        C(labels), C(ip), C(ports)), plus C(node) (the node it runs on) and C(host_network).
    type: list
    elements: dict
  policies:
    description: O(source=offline) only. NetworkPolicy objects.
    type: list
    elements: dict
  services:
    description: O(source=offline) only. Service objects (C(metadata), C(spec)).
    type: list
    elements: dict
  nodes:
    description: O(source=offline) only. Nodes as C({name, ip, os}) (C(os) V(linux) or V(windows)).
    type: list
    elements: dict
"""

EXAMPLES = r"""
- name: Check the cluster before moving from Azure NPM to Cilium
  netpol.aks.migration_check:
    kubeconfig: ~/.kube/netpol-aks
    cilium_version: "1.17"
    network_plugin: "{{ aks_cluster.network_profile.network_plugin }}"
  register: check

- name: Stop on what would break
  ansible.builtin.assert:
    that: check.safe
    fail_msg: "{{ check.msg }}: {{ check.findings | map(attribute='message') | list }}"
"""

RETURN = r"""
findings:
  description: One item per problem.
  returned: always
  type: list
  elements: dict
  contains:
    check:
      description: >-
        V(endport), V(ipblock_selects_pods), V(ipblock_selects_nodes), V(named_port_ambiguous), V(egress_to_own_node),
        V(external_traffic_cluster), V(windows_node_pool) or V(kubenet).
      type: str
    object:
      description: C(namespace/name) of the policy or Service, C(node/<name>), or C(cluster).
      type: str
    path:
      description: The field, e.g. C(spec.egress[0].to[1].ipBlock).
      type: str
    severity:
      description: V(error) (connections change or AKS refuses) or V(warning).
      type: str
    message:
      description: What happens, naming the pods, nodes or ports concerned.
      type: str
    fix:
      description: What to do.
      type: str
  sample:
    - check: ipblock_selects_pods
      object: default/allow-vnet
      path: spec.ingress[0].from[0].ipBlock
      severity: error
      message: "10.224.0.0/16 covers pods default/web (10.224.0.20); Cilium never matches a pod address ..."
      fix: add a peer with namespaceSelector/podSelector for those pods ...
changed_pairs:
  description: Every connection whose verdict differs between the two engines.
  returned: always
  type: list
  elements: dict
  contains:
    from:
      description: C(namespace/pod), or C(external via namespace/service:port/protocol).
      type: str
    to:
      description: C(namespace/pod) or C(node/<name>).
      type: str
    port:
      description: Port number at the target.
      type: int
    protocol:
      description: Protocol.
      type: str
    before:
      description: V(allowed) or V(blocked) under O(from_engine).
      type: str
    after:
      description: V(allowed) or V(blocked) under O(to_engine).
      type: str
    reason:
      description: Why, with the engine's difference in brackets.
      type: str
engine_detected:
  description: With O(from_engine=auto), the engine read from the cluster and from which object.
  returned: when O(from_engine=auto)
  type: dict
  contains:
    name:
      description: The engine compared from - V(azure), V(calico), V(cilium), or V(upstream) when none was found.
      type: str
    source:
      description: The object it was read from, e.g. C(DaemonSet kube-system/azure-npm); null when none was found.
      type: str
    reason:
      description: Why this engine.
      type: str
    found:
      description: >-
        Every engine DaemonSet the cluster has, as C({name, source, pods_desired, pods_ready, counted}); one that
        schedules no pods is not counted.
      type: list
      elements: dict
  sample:
    name: azure
    source: DaemonSet kube-system/azure-npm
    reason: DaemonSet kube-system/azure-npm runs on 3 node(s)
    found: [{name: azure, source: DaemonSet kube-system/azure-npm, pods_desired: 3, pods_ready: 3, counted: true}]
safe:
  description: No finding of severity error and no changed pair.
  returned: always
  type: bool
msg:
  description: One line saying whether the move is safe.
  returned: always
  type: str
"""

import copy
from typing import Any

from ansible_collections.netpol.aks.plugins.module_utils import _engine
from ansible_collections.netpol.aks.plugins.module_utils import _kube
from ansible_collections.netpol.aks.plugins.module_utils import _migration
from ansible_collections.netpol.aks.plugins.module_utils import netpol

OFFLINE_INPUTS = ("namespaces", "pods", "policies", "services", "nodes")

ARGUMENT_SPEC: dict[str, Any] = {
    **copy.deepcopy(_kube.KUBE_AUTH_ARG_SPEC),
    "source": {"type": "str", "choices": ["live", "offline"]},
    "from_engine": {"type": "str", "choices": ["auto", "azure", "calico", "cilium", "upstream"], "default": "azure"},
    "to_engine": {"type": "str", "choices": ["azure", "calico", "cilium", "upstream"], "default": "cilium"},
    "cilium_version": {"type": "str"},
    "network_plugin": {"type": "str", "choices": ["azure", "kubenet", "none"]},
    "ports": {
        "type": "list",
        "elements": "dict",
        "options": {
            "port": {"type": "raw", "required": True},
            "protocol": {"type": "str", "choices": ["TCP", "UDP", "SCTP"], "default": "TCP"},
        },
    },
    "client_ip": {"type": "str", "default": "203.0.113.10"},
    **{name: {"type": "list", "elements": "dict"} for name in OFFLINE_INPUTS},
}


def _node_shape(node: dict) -> dict | None:
    meta = node.get("metadata") or {}
    status = node.get("status") or {}
    ip = next((a.get("address") for a in status.get("addresses") or [] if a.get("type") == "InternalIP"), None)
    if not ip:
        return None
    os_name = (meta.get("labels") or {}).get("kubernetes.io/os") or (status.get("nodeInfo") or {}).get(
        "operatingSystem"
    )
    return {"name": meta.get("name"), "ip": ip, "os": (os_name or "linux").lower()}


def _pod_shape(pod: dict) -> dict | None:
    meta = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    if status.get("phase") in ("Succeeded", "Failed"):
        return None
    shape = {
        "namespace": meta.get("namespace"),
        "name": meta.get("name"),
        "labels": dict(meta.get("labels") or {}),
        "ip": status.get("podIP"),
        "ports": _kube.pod_ports(pod),
        "host_network": bool(spec.get("hostNetwork")),
    }
    if spec.get("nodeName"):
        shape["node"] = spec["nodeName"]
    return shape


def gather_live(kube: _kube.KubeClient) -> tuple[dict, list[str]]:
    """Namespaces, pods (with node and hostNetwork), policies, Services and nodes; warnings for what is missing."""
    warnings = []
    namespaces = [
        {"name": (n.get("metadata") or {}).get("name"), "labels": dict((n.get("metadata") or {}).get("labels") or {})}
        for n in kube.list("namespaces", kube.core.list_namespace)
    ]
    pods = [p for p in (_pod_shape(pod) for pod in kube.list_pods()) if p is not None]
    policies = [
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {k: (p.get("metadata") or {}).get(k) for k in ("name", "namespace")},
            "spec": p.get("spec") or {},
        }
        for p in kube.list("NetworkPolicies", kube.networking.list_network_policy_for_all_namespaces)
    ]
    services = kube.list("Services", kube.core.list_service_for_all_namespaces)
    try:
        nodes = [n for n in (_node_shape(node) for node in kube.list("nodes", kube.core.list_node)) if n]
    except _kube.KubeError as err:
        nodes = []
        warnings.append(
            f"nodes could not be read ({err}); egress_to_own_node, ipblock_selects_nodes and windows_node_pool were "
            "not checked"
        )
    known = {n["name"] for n in nodes}
    pods = [p if p.get("node") in known else {k: v for k, v in p.items() if k != "node"} for p in pods]
    return {
        "namespaces": namespaces,
        "pods": pods,
        "policies": policies,
        "services": services,
        "nodes": nodes,
    }, warnings


def run(module: _kube.KubeModule) -> dict[str, Any]:
    params = module.params
    offline_given = any(params.get(name) for name in OFFLINE_INPUTS)
    source = params.get("source") or ("offline" if offline_given else "live")
    if source == "live" and offline_given:
        stray = [name for name in OFFLINE_INPUTS if params.get(name)]
        raise _kube.KubeError(f"{', '.join(stray)}: only for source=offline; with source=live the cluster is read")
    check_inputs(params, source)
    ports = None
    if params.get("ports"):
        try:
            ports = [
                netpol.check_port_spec(p["port"], p["protocol"], f"ports[{i}]") for i, p in enumerate(params["ports"])
            ]
        except netpol.NetpolError as exc:
            raise _kube.KubeError(str(exc), exc) from exc
    warnings: list[str] = []
    from_engine, detected = params["from_engine"], None
    if source == "offline":
        data = {name: list(params.get(name) or []) for name in OFFLINE_INPUTS}
    else:
        from_engine, detected, warnings = _engine.resolve(from_engine, True, module.kube, option="from_engine")
        if from_engine == params["to_engine"]:
            raise _kube.KubeError(
                f"from_engine: auto found {detected['source']}: the cluster already runs {from_engine}, the engine it "
                "moves to; give from_engine, the engine it ran before",
                result={"engine_detected": detected},
            )
        data, more = gather_live(module.kube())
        warnings += more
    try:
        result = _migration.check(
            data,
            from_engine,
            params["to_engine"],
            cilium_version=params.get("cilium_version"),
            network_plugin=params.get("network_plugin"),
            ports=ports,
            client_ip=params["client_ip"],
        )
    except netpol.NetpolError as exc:
        raise _kube.KubeError(str(exc), exc) from exc
    if not data["nodes"] and source == "offline":
        warnings.append("no nodes given: egress_to_own_node, ipblock_selects_nodes and windows_node_pool not checked")
    if detected is not None:
        result["engine_detected"] = detected
    result["warnings"] = warnings
    return result


def check_inputs(params: dict[str, Any], source: str) -> None:
    """What can be refused before the cluster is read."""
    _engine.check_offline(params["from_engine"], source == "live", option="from_engine")
    if params["from_engine"] == params["to_engine"]:
        raise _kube.KubeError(f"to_engine: is the same as from_engine ({params['to_engine']}); nothing to compare")
    version = params.get("cilium_version")
    if version is not None:
        if params["to_engine"] != "cilium":
            raise _kube.KubeError(
                f"cilium_version: {version!r} is the Cilium release after the move, so only with to_engine=cilium "
                f"(to_engine is {params['to_engine']}); leave it out"
            )
        try:
            netpol.dialect("cilium", version)
        except netpol.InputError:
            raise _kube.KubeError(
                f"cilium_version: {version!r} is not a version; write major.minor, e.g. 1.17 (AKS picks the Cilium "
                "release with the Kubernetes version)"
            ) from None


def main() -> None:
    module = _kube.KubeModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    try:
        result = run(module)
    except _kube.KubeError as err:
        module.fail_from_error(err)
    for warning in result.pop("warnings"):
        module.warn(warning)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
