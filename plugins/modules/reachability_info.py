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
  - The result grows with what is asked, not with the cluster - by default it carries the classes with their pods
    (RV(classes)) and one row of verdicts per source class and port (RV(matrix)); pairs are listed one by one only
    on request (O(pairs)), explanations only on request (O(explain), O(explain_pairs)), and text tables only up to
    O(table_limit) cells. At 5,000 pods and 1,000 policies the default result is well under 1 MB.
  - O(namespaces), O(pods) and O(policies) can be large (thousands of items); the argument spec only checks that
    they are lists, and the engine checks every item and field, failing with the path of the bad one
    (for example C(pods[17].ports[0].port)).
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
  - netpol.aks.report
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
      - O(source=offline) only. The namespaces, each a mapping with C(name) (required) and C(labels) (a mapping of
        label keys to strings). C(kubernetes.io/metadata.name) is added.
      - A namespace that only pods or policies mention is assumed to carry no other label.
      - The items are checked by the engine, not by the argument spec (see above); an unknown key is an error.
    type: list
    elements: raw
  pods:
    description:
      - O(source=offline) only. The pods, each a mapping with C(namespace) and C(name) (required), C(labels) (a
        mapping of label keys to strings), C(ip) (the pod IP, for ipBlock peers; a pod without one matches no
        ipBlock) and C(ports) (container ports, a list of C(name) (IANA service name), C(port) (number, required)
        and C(protocol) (V(TCP), V(UDP) or V(SCTP), default V(TCP)); they resolve named ports and are the default
        O(ports)).
      - The items are checked by the engine, not by the argument spec (see above); an unknown key is an error.
    type: list
    elements: raw
  policies:
    description:
      - O(source=offline) only. NetworkPolicy objects as the API returns them (C(metadata.name),
        C(metadata.namespace), C(spec)), for example from M(kubernetes.core.k8s_info) or a manifest file.
      - Validated by the engine (strict schema and semantic checks), every error naming the policy and the field.
    type: list
    elements: raw
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
  engine:
    description:
      - Whose semantics predict - V(upstream) (the Kubernetes specification), V(calico), V(cilium) or V(azure) (Azure
        Network Policy Manager); the engines depart from the specification in documented ways (ipBlock and pod
        addresses, named ports, endPort, hostNetwork pods, traffic to and from nodes).
      - V(auto) (O(source=live) only) reads the engine from the cluster - the DaemonSet of its agent,
        C(kube-system/azure-npm) (Azure NPM), C(calico-system/calico-node) or C(kube-system/calico-node) (Calico),
        C(kube-system/cilium) (Cilium), counted when it schedules pods; RV(engine_detected) says what was found.
        Nothing found is V(upstream) with a warning naming what was looked for. Cilium and another engine both
        running (a move to Cilium in progress) is the other engine, with a warning - AKS says Cilium enforces only
        after every node is reimaged. Two other engines are an error. Reading needs C(get) on C(daemonsets) in
        C(kube-system) and C(calico-system).
      - Default is V(auto) with O(source=live) - a prediction under another engine's semantics is silently wrong
        where the engines differ - but DaemonSets that cannot be read then only warn and V(upstream) predicts;
        an explicit V(auto) fails instead. With O(source=offline) the default is V(upstream), and V(auto) is an error.
    type: str
    choices: [auto, upstream, calico, cilium, azure]
  engine_version:
    description:
      - Version of the engine, for differences between its releases (Cilium enforces endPort ranges from 1.17).
      - C(major.minor) or C(major.minor.patch), a leading C(v) accepted; anything else is refused before the cluster
        is read.
    type: str
  granularity:
    description:
      - V(pods) - verdicts between pods. RV(results) and RV(table) name pods; RV(matrix) has one row per class of
        the sources (a pod's verdicts are its class's; RV(classes) lists each class's pods).
      - V(classes) - verdicts between equivalence classes (a class paired with itself stands for two distinct pods
        of the class, and is not predicted when the class has one pod); RV(results) and RV(table) name classes.
        O(sources) and O(targets) cannot be used with it.
    type: str
    choices: [pods, classes]
    default: pods
  pairs:
    description:
      - Which ordered pairs RV(results) lists, one item each (with its reason), per evaluated port.
      - V(none) lists none but the pairs O(explain) explains - RV(matrix), RV(summary) and RV(table) still cover
        every pair. V(allowed) and V(blocked) list only those, V(all) lists every pair.
      - At O(granularity=pods) every pair is a pair of pods, so V(all) on a cluster of N pods lists about N*N items
        per port; use O(sources) and O(targets), or O(granularity=classes), on large clusters.
      - This option was called O(only) and defaulted to V(all); O(only) is a deprecated alias.
    type: str
    choices: [none, allowed, blocked, all]
    default: none
    aliases: [only]
  explain:
    description:
      - Which pairs are explained - their items in RV(results) get RV(results[].egress) and RV(results[].ingress),
        which policies select the source and the target and every rule (policy, rule, peer and port index) that
        allows the connection.
      - V(none) explains nothing (beyond O(explain_pairs)), V(denied) every blocked pair, V(all) every pair.
      - With O(pairs=none) the explained pairs are the ones listed (V(denied) alone lists the blocked pairs,
        explained); otherwise O(pairs) chooses the pairs listed and O(explain) which of them are explained.
      - V(true) and V(false), the option's former values, still mean V(all) and V(none).
    type: raw
    default: none
  explain_pairs:
    description:
      - Explain these pairs, whatever O(explain) says - each a mapping with C(from) and C(to), pods
        (V(namespace/pod)) or addresses among O(sources) and O(targets); with O(granularity=classes) class names
        (V(namespace/class-N)) or a pod, which stands for its class.
      - Each pair is explained on every evaluated port its target is evaluated on.
    type: list
    elements: dict
    suboptions:
      from:
        description: The source.
        type: str
        required: true
      to:
        description: The target.
        type: str
        required: true
  table_limit:
    description:
      - Largest text table drawn in RV(table) and RV(table_lines), in cells (rows times columns). A larger table is
        replaced by one line saying so; RV(matrix) carries the same verdicts compactly.
      - V(0) draws no table.
    type: int
    default: 2500
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
    pairs: all
    explain: denied
  register: why

- name: Explain one pair only, on a large cluster
  netpol.aks.reachability_info:
    ports: [{port: 8080}]
    explain_pairs:
      - {from: shop/frontend-7d9c-abcde, to: shop/orders-5f6b-fghij}
  register: one

- name: The walkthrough's deny policy, predicted offline
  netpol.aks.reachability_info:
    namespaces:
      - name: default
    pods:
      - {namespace: default, name: api, labels: {app: api}, ip: 10.240.0.10, ports: [{name: http, port: 80}]}
      - {namespace: default, name: test-np, labels: {}, ip: 10.240.0.11}
    policies:
      - "{{ lookup('ansible.builtin.file', 'deny.yaml') | from_yaml }}"
    pairs: all
  register: offline

- name: The walkthrough's expectation holds
  ansible.builtin.assert:
    that:
      - offline.results | selectattr('to', 'eq', 'default/api') | map(attribute='allowed') | list == [false]

- name: Large cluster - the blocked class pairs on one port, each explained
  netpol.aks.reachability_info:
    granularity: classes
    ports: [{port: 8080, protocol: TCP}]
    explain: denied
  register: classes

- name: May pods of shop/class-1 reach pods of shop/class-2 on 8080?
  ansible.builtin.debug:
    msg: "{{ m.rows[m.sources.index('shop/class-1')][m.targets.index('shop/class-2')] == '.' }}"
  vars:
    m: "{{ classes.matrix['8080/TCP'] }}"
"""

RETURN = r"""
source:
  description: Where the data came from, V(live) or V(offline).
  returned: always
  type: str
  sample: offline
results:
  description:
    - One item per ordered pair of distinct pods (or classes) per evaluated port - the pairs O(pairs) lists, and the
      pairs O(explain) and O(explain_pairs) explain. Empty by default (O(pairs=none)).
    - Items of one port are in source order, then target order.
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
      description: The source's side (when explained) - C(selecting) policies, C(isolated), C(allowed),
        C(matches) (policy, direction, rule, peer, port, field), C(reason).
      type: dict
      returned: when the pair is explained (O(explain), O(explain_pairs))
    ingress:
      description: The target's side (when explained), as RV(results[].egress).
      type: dict
      returned: when the pair is explained (O(explain), O(explain_pairs))
matrix:
  description:
    - Every verdict, compactly - keyed V(<port>/<protocol>) (or V(<name>/<protocol>) for a named port), one row
      per source unit. A unit is an equivalence class of pods (V(namespace/class-N), see RV(classes)) or a non-pod
      address given in O(sources) or O(targets).
    - C(rows[i][j]) is the verdict from C(sources[i]) to C(targets[j]) - V(.) allowed, V(X) blocked, V(-) not
      predicted (a class of one pod and itself), V(?) two addresses (not a NetworkPolicy question). Between two
      classes it holds for every pod of the first and every other pod of the second.
    - At O(granularity=pods), the verdict for pod A to pod B (A not B) is the cell of A's class row and B's class
      column; only the classes of O(sources) and O(targets) appear.
    - C(targets) holds the units evaluated on the port (with the default O(ports), those that declare it).
  returned: always
  type: dict
  sample:
    80/TCP:
      port: 80
      protocol: TCP
      sources: [default/class-1, default/class-2]
      targets: [default/class-1]
      rows: ["-", "X"]
  contains:
    port:
      description: The port number, or the name when the port was given by name.
      type: raw
    protocol:
      description: V(TCP), V(UDP) or V(SCTP).
      type: str
    sources:
      description: The row units, in row order.
      type: list
      elements: str
    targets:
      description: The column units, in column order.
      type: list
      elements: str
    rows:
      description: One string per row unit, one character per column unit.
      type: list
      elements: str
table:
  description:
    - The truth tables in the upstream e2e style, keyed as RV(matrix) - rows are sources, columns targets (pods, or
      classes with O(granularity=classes)), V(.) allowed, V(X) blocked, V(-) a pod and itself (not predicted),
      V(?) two non-pod addresses (not a NetworkPolicy question).
    - A table of more than O(table_limit) cells is not drawn; its text is then one line that says so.
  returned: always
  type: dict
  sample: {"80/TCP": "-           default/api\ndefault/test-np X\n"}
table_lines:
  description: RV(table) split into lines, for readable C(debug) output.
  returned: always
  type: dict
classes:
  description: The equivalence classes of the pods, with their pods, in RV(matrix)'s class order.
  returned: always
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
      description: Pairs evaluated (all ports) - pod pairs, or class pairs with O(granularity=classes).
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
reports:
  description: The report files (O(report_path)), each with its format, path and whether it changed.
  returned: when O(report_path) is set
  type: list
  elements: dict
  contains:
    format:
      description: V(json), V(junit), V(markdown), V(html) or V(dot).
      type: str
    path:
      description: The file's absolute path.
      type: str
    changed:
      description: Whether the file's content changed (in check mode, whether it would).
      type: bool
  sample: [{format: html, path: /tmp/reach.html, changed: true}]
skipped_pods:
  description: Live mode - pods left out because NetworkPolicy does not govern them, with the reason.
  returned: always
  type: list
  elements: dict
  sample: [{pod: kube-system/kube-proxy-abc, reason: "hostNetwork: NetworkPolicy does not apply"}]
engine_detected:
  description: The engine read from the cluster (O(engine=auto), the default with O(source=live)) and from which object.
  returned: when the engine was read from the cluster
  type: dict
  contains:
    name:
      description: The engine that predicted - V(azure), V(calico), V(cilium), or V(upstream) when none was found.
      type: str
    source:
      description: The object it was read from, e.g. C(DaemonSet kube-system/cilium); null when none was found.
      type: str
    reason:
      description: Why this engine (e.g. a move to Cilium in progress).
      type: str
    found:
      description: >-
        Every engine DaemonSet the cluster has, as C({name, source, pods_desired, pods_ready, counted}); one that
        schedules no pods is not counted.
      type: list
      elements: dict
  sample:
    name: cilium
    source: DaemonSet kube-system/cilium
    reason: DaemonSet kube-system/cilium runs on 3 node(s)
    found: [{name: cilium, source: DaemonSet kube-system/cilium, pods_desired: 3, pods_ready: 3, counted: true}]
"""

import contextlib
import copy
import gc
import ipaddress
from collections.abc import Iterator
from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.parsing.convert_bool import boolean

from ansible_collections.netpol.aks.plugins.module_utils import _engine
from ansible_collections.netpol.aks.plugins.module_utils import _kube
from ansible_collections.netpol.aks.plugins.module_utils import _report
from ansible_collections.netpol.aks.plugins.module_utils import netpol

OFFLINE_INPUTS = ("namespaces", "pods", "policies")
LIVE_FILTERS = ("namespace", "label_selectors")

PORT_SPEC = {"port": {"type": "raw", "required": True}, "protocol": {"type": "str", "default": "TCP"}}
EXPLAIN_CHOICES = ("none", "denied", "all")
# namespaces, pods and policies are checked item by item by the engine (netpol.Cluster), which names the
# bad field; a suboption spec here would walk thousands of items a second time, at several times the cost.
ARGUMENT_SPEC: dict[str, Any] = {
    **copy.deepcopy(_kube.KUBE_AUTH_ARG_SPEC),
    "source": {"type": "str", "choices": ["live", "offline"]},
    "namespace": {"type": "list", "elements": "str"},
    "label_selectors": {"type": "list", "elements": "str"},
    "namespaces": {"type": "list", "elements": "raw"},
    "pods": {"type": "list", "elements": "raw"},
    "policies": {"type": "list", "elements": "raw", "default": []},
    "ports": {"type": "list", "elements": "dict", "options": PORT_SPEC},
    "sources": {"type": "list", "elements": "str"},
    "targets": {"type": "list", "elements": "str"},
    "engine": {"type": "str", "choices": [_engine.AUTO, *netpol.ENGINES]},
    "engine_version": {"type": "str"},
    "granularity": {"type": "str", "choices": ["pods", "classes"], "default": "pods"},
    "pairs": {
        "type": "str",
        "choices": ["none", "allowed", "blocked", "all"],
        "default": "none",
        "aliases": ["only"],
        "deprecated_aliases": [{"name": "only", "version": "1.0.0", "collection_name": "netpol.aks"}],
    },
    "explain": {"type": "raw", "default": "none"},
    "explain_pairs": {
        "type": "list",
        "elements": "dict",
        "options": {"from": {"type": "str", "required": True}, "to": {"type": "str", "required": True}},
    },
    "table_limit": {"type": "int", "default": 2500},
    **copy.deepcopy(_report.REPORT_ARG_SPEC),
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


def reads_a_cluster(params: dict) -> bool:
    """Whether the run reads the cluster (source=live); offline runs never import the kubernetes library."""
    try:
        return choose_source(params) == "live"
    except InputProblem:
        return False  # the run reports the problem


def gather(params: dict, source: str) -> dict:
    """Namespaces, pods and policies in the engine's shapes (and the live mode's skipped pods)."""
    if source == "offline":
        # As given: the engine checks every item and names the bad field.
        return {
            "namespaces": params.get("namespaces") or [],
            "pods": params.get("pods") or [],
            "policies": params.get("policies") or [],
            "skipped": [],
        }
    api_client = _kube.build_api_client(params)
    selector = ",".join(params.get("label_selectors") or []) or None
    return _kube.read_cluster(api_client, namespaces=params.get("namespace"), label_selector=selector)


def build_cluster(data: dict, engine: str = "upstream", engine_version: str | None = None) -> netpol.Cluster:
    try:
        return netpol.Cluster(
            namespaces=data["namespaces"],
            pods=data["pods"],
            policies=data["policies"],
            engine=engine,
            engine_version=engine_version,
        )
    except netpol.PolicyError as exc:
        raise netpol.PolicyError([f"policies: {e}" for e in exc.errors]) from None


# ---------------------------------------------------------------------------------------------
# evaluate: verdicts per unit (an equivalence class of pods, or a non-pod address), pairs on demand
# ---------------------------------------------------------------------------------------------

MARKS = {True: ".", False: "X", None: "-"}
UNKNOWN = "?"  # two non-pod addresses: not a NetworkPolicy question


def _endpoints(cluster: netpol.Cluster, values: list[str] | None, option: str) -> list[str]:
    """Pods ("ns/pod") and non-pod endpoints (IP addresses) of sources/targets, in order, unique."""
    if values is None:
        return list(cluster.pods)
    out: dict[str, None] = {}
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
        out.setdefault(item)
    return list(out)


def _port_specs(params: dict) -> list[tuple[Any, str]] | None:
    specs = params.get("ports")
    if specs is None:
        return None
    return [netpol.check_port_spec(spec["port"], spec.get("protocol"), f"ports[{i}]") for i, spec in enumerate(specs)]


def explain_mode(value: Any) -> str:
    """O(explain) as none, denied or all; booleans (the option's former type) mean all or none."""
    if isinstance(value, str) and value.lower() in EXPLAIN_CHOICES:
        return value.lower()
    try:
        return "all" if boolean(value, strict=True) else "none"
    except TypeError:
        raise InputProblem(
            f"explain: {value!r} is not one of {', '.join(EXPLAIN_CHOICES)} (true and false are still accepted: "
            "true means all, false none)"
        ) from None


class Evaluation:
    """What the module was asked to evaluate, with each endpoint mapped to its unit.

    A unit is an equivalence class of pods (its index) or a non-pod address (its text). Every verdict is
    decided once per unit pair on the class matrix of the port; pod pairs, reasons and explanations are
    only produced for the pairs the result lists.
    """

    def __init__(self, cluster: netpol.Cluster, params: dict):
        self.cluster = cluster
        self.classes = cluster.classes()
        self.by_class = params["granularity"] == "classes"
        if self.by_class:
            if params.get("sources") or params.get("targets"):
                raise InputProblem("sources, targets: not supported with granularity=classes; use granularity=pods")
            self.sources = self.targets = [c.name for c in self.classes]
            self.unit: dict[str, int | str] = {c.name: c.index for c in self.classes}
        else:
            self.sources = _endpoints(cluster, params.get("sources"), "sources")
            self.targets = _endpoints(cluster, params.get("targets"), "targets")
            self.unit = {}
            for endpoint in (*self.sources, *self.targets):
                if endpoint not in self.unit:
                    self.unit[endpoint] = cluster.class_of(endpoint).index if endpoint in cluster.pods else endpoint
        self.source_units = list(dict.fromkeys(self.unit[s] for s in self.sources))
        # Endpoints per unit: sources, targets, and those that are both (a pod is never paired with itself).
        self.source_count = _count_units(self.sources, self.unit)
        self.target_count = _count_units(self.targets, self.unit)
        self.both_count = _count_units(set(self.sources).intersection(self.targets), self.unit)
        self.pairs = params["pairs"]
        self.explain = explain_mode(params["explain"])
        self.explain_pairs = self._explain_pairs(params.get("explain_pairs") or [])
        self.table_limit = params["table_limit"]
        self._matrices: dict[tuple[int, str], netpol.ClassMatrix] = {}
        self._decisions: dict[tuple, netpol.Decision] = {}

    # -- units -------------------------------------------------------------------------------------

    def _explain_pairs(self, pairs: list[Any]) -> set[tuple[str, str]]:
        out = set()
        for i, pair in enumerate(pairs):
            ends = []
            for side, known in (("from", self.sources), ("to", self.targets)):
                value = pair.get(side)
                if self.by_class and value in self.cluster.pods:
                    value = self.cluster.class_of(value).name  # a pod stands for its class
                elif not self.by_class and isinstance(value, str):
                    try:
                        value = str(ipaddress.ip_address(value))
                    except ValueError:
                        pass
                    else:
                        endpoint = self.cluster.endpoint({"ip": value})
                        value = endpoint.ident if isinstance(endpoint, netpol.Pod) else value
                if value not in self.unit or value not in known:
                    what = "class (namespace/class-N) or pod" if self.by_class else "pod or address"
                    side_name = "sources" if side == "from" else "targets"
                    raise InputProblem(
                        f"explain_pairs[{i}].{side}: {pair.get(side)!r} is not a {what} among the {side_name}"
                    )
                ends.append(value)
            out.add((ends[0], ends[1]))
        return out

    def _ports_of(self, unit: int | str) -> Any:
        return self.classes[unit].ports if isinstance(unit, int) else None

    def _name(self, unit: int | str) -> str:
        return self.classes[unit].name if isinstance(unit, int) else unit

    def _matrix(self, number: int, protocol: str) -> netpol.ClassMatrix:
        key = (number, protocol)
        if key not in self._matrices:
            self._matrices[key] = self.cluster.evaluate_classes(number, protocol)
        return self._matrices[key]

    def verdict(self, su: int | str, tu: int | str, number: int, protocol: str) -> bool | None:
        """Between a pod of unit ``su`` and another pod of unit ``tu`` (None: no such pair, or two addresses)."""
        if isinstance(su, int) and isinstance(tu, int):
            if su == tu and len(self.classes[su].pods) < 2:
                return None
            return self._matrix(number, protocol).allowed(su, tu)
        if isinstance(su, str) and isinstance(tu, str):
            return None
        return self.decision(su, tu, number, protocol).allowed

    def decision(self, su: int | str, tu: int | str, number: int, protocol: str) -> netpol.Decision:
        """The reference evaluation for the unit pair, once (named after representatives)."""
        key = (su, tu, number, protocol)
        decision = self._decisions.get(key)
        if decision is None:
            if isinstance(su, int) and isinstance(tu, int) and self.by_class:
                decision = self.cluster.class_decision(self.classes[su], self.classes[tu], number, protocol)
            else:
                source = self.classes[su].pods[0] if isinstance(su, int) else {"ip": su}
                target = self.classes[tu].pods[1 if su == tu else 0] if isinstance(tu, int) else {"ip": tu}
                decision = self.cluster.evaluate(source, target, number, protocol)
            self._decisions[key] = decision
        return decision

    # -- the whole evaluation ----------------------------------------------------------------------

    def run(self, specs: list[tuple[Any, str]] | None) -> dict:
        target_units = list(dict.fromkeys(self.unit[t] for t in self.targets))
        groups = netpol.port_groups(target_units, specs, self._ports_of)
        out: dict[str, Any] = {"results": [], "matrix": {}, "table": {}, "allowed": 0, "blocked": 0}
        for key, (port, protocol, by_number) in groups.items():
            self._port(key, port, protocol, by_number, out)
        out["keys"] = list(groups)
        return out

    def _verdicts(self, units: list, number: int, protocol: str, rows: dict, out: dict) -> dict[tuple, bool | None]:
        """Verdict per (source unit, target unit), appended to the matrix rows and counted in ``out``, in one
        pass; class pairs are read from the class matrix's bit rows."""
        verdicts: dict[tuple, bool | None] = {}
        matrix = self._matrix(number, protocol) if any(isinstance(u, int) for u in units) else None
        single = {c.index for c in self.classes if len(c.pods) < 2}
        allowed = blocked = 0
        for su in self.source_units:
            row = rows[su]
            bits = matrix.allowed_targets(su) if matrix is not None and isinstance(su, int) else None
            sources = 1 if self.by_class else self.source_count[su]
            for tu in units:
                if bits is not None and isinstance(tu, int):
                    verdict = None if su == tu and su in single else bool((bits >> tu) & 1)
                else:
                    verdict = self.verdict(su, tu, number, protocol)
                verdicts[su, tu] = verdict
                row.append(self._mark(su, tu, verdict))
                if verdict is None:
                    continue
                if self.by_class:
                    pairs = 1
                else:
                    pairs = sources * self.target_count[tu] - (self.both_count.get(su, 0) if su == tu else 0)
                if verdict:
                    allowed += pairs
                else:
                    blocked += pairs
        out["allowed"] += allowed
        out["blocked"] += blocked
        return verdicts

    @staticmethod
    def _mark(su: int | str, tu: int | str, verdict: bool | None) -> str:
        if verdict is None and isinstance(su, str) and isinstance(tu, str):
            return UNKNOWN
        return MARKS[verdict]

    def _port(self, key: str, port: Any, protocol: str, by_number: dict[int, list], out: dict) -> None:
        port_name = port if isinstance(port, str) else None
        source_units = self.source_units
        rows: dict[int | str, list[str]] = {u: [] for u in source_units}  # one mark per column unit
        column_units: list[int | str] = []
        columns: list[str] = []
        cells: dict[tuple[str, str], Any] = {}
        width = sum(self.target_count[u] for units in by_number.values() for u in units)
        drawn = len(self.sources) * width <= self.table_limit
        listing = self.pairs != "none" or self.explain != "none" or bool(self.explain_pairs)
        for number, units in by_number.items():
            column_units += units
            verdicts = self._verdicts(units, number, protocol, rows, out)
            if not drawn and not listing:
                continue
            group = set(units)
            group_targets = [t for t in self.targets if self.unit[t] in group]
            if drawn:
                columns += [t for t in group_targets if t not in columns]
                for s in self.sources:
                    for t in group_targets:
                        cells[(s, t)] = self._pair_verdict(s, t, verdicts)
            if listing:
                self._list(group_targets, verdicts, number, protocol, port_name, out["results"])
        out["matrix"][key] = {
            "port": port,
            "protocol": protocol,
            "sources": [self._name(u) for u in source_units],
            "targets": [self._name(u) for u in column_units],
            "rows": ["".join(rows[u]) for u in source_units],
        }
        if drawn:
            out["table"][key] = netpol.format_table(list(self.sources), columns, cells, self_mark="-")
        else:
            out["table"][key] = (
                f"not drawn: {len(self.sources)} x {width} cells is more than table_limit={self.table_limit}; "
                f"matrix['{key}'] has every verdict\n"
            )

    def _pair_verdict(self, s: str, t: str, verdicts: dict) -> Any:
        if s == t and not self.by_class:
            return None  # a pod and itself: not predicted
        su, tu = self.unit[s], self.unit[t]
        verdict = verdicts[su, tu]
        return UNKNOWN if self._mark(su, tu, verdict) == UNKNOWN else verdict

    def _listed(self, verdict: bool) -> bool:
        if self.pairs == "none":
            return self._explained(verdict)
        return self.pairs == "all" or (self.pairs == "allowed") == verdict

    def _explained(self, verdict: bool) -> bool:
        return self.explain == "all" or (self.explain == "denied" and not verdict)

    def _list(
        self, group_targets: list[str], verdicts: dict, number: int, protocol: str, port_name: str | None, results: list
    ) -> None:
        """The result items of one port group: the pairs O(pairs) lists and the pairs explained."""
        wanted = {key for key, verdict in verdicts.items() if verdict is not None and self._listed(verdict)}
        explain_from = {s for s, _t in self.explain_pairs}
        wanted_sources = {su for su, _tu in wanted}
        if not wanted and not explain_from:
            return
        for s in self.sources:
            su = self.unit[s]
            if su not in wanted_sources and s not in explain_from:
                continue
            for t in group_targets:
                tu = self.unit[t]
                asked = (s, t) in self.explain_pairs
                if (su, tu) not in wanted and not asked:
                    continue
                verdict = verdicts[su, tu]
                if verdict is None or (s == t and not self.by_class):
                    continue
                decision = self.decision(su, tu, number, protocol)
                if not self.by_class:
                    decision = decision.renamed(s, t)
                results.append(_result(decision, asked or self._explained(verdict), port_name))


def _count_units(endpoints: Any, unit: dict[str, int | str]) -> dict[int | str, int]:
    counts: dict[int | str, int] = {}
    for endpoint in endpoints:
        counts[unit[endpoint]] = counts.get(unit[endpoint], 0) + 1
    return counts


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


def describe(params: dict) -> dict:
    source = choose_source(params)
    netpol.dialect("upstream", params.get("engine_version"))  # a bad version is refused before the cluster is read
    engine, detected, engine_warnings = _engine.resolve(
        params.get("engine"), source == "live", lambda: _kube.KubeClient(_kube.build_api_client(params))
    )
    data = gather(params, source)
    cluster = build_cluster(data, engine, params.get("engine_version"))
    if params["table_limit"] < 0:
        raise InputProblem(f"table_limit: {params['table_limit']} must be 0 or more (0 draws no table)")
    evaluation = Evaluation(cluster, params)
    answer = evaluation.run(_port_specs(params))
    isolated_in, isolated_eg = _isolation_counts(cluster)
    warnings = engine_warnings + ([cluster.schema_warning] if cluster.schema_warning else [])
    if not answer["keys"] and cluster.pods:
        warnings.append(
            "Nothing was evaluated: no target pod declares a container port. Give the ports to evaluate with the "
            "ports option."
        )
    return {
        "source": source,
        "results": answer["results"],
        "matrix": answer["matrix"],
        "table": answer["table"],
        "table_lines": {k: v.splitlines() for k, v in answer["table"].items()},
        "classes": [c.to_dict() for c in cluster.classes()],
        "summary": {
            "namespaces": len(cluster.namespaces),
            "pods": len(cluster.pods),
            "classes": len(cluster.classes()),
            "policies": len(cluster.policies),
            "evaluated": answer["allowed"] + answer["blocked"],
            "allowed": answer["allowed"],
            "blocked": answer["blocked"],
            "ports": answer["keys"],
            "isolated_ingress": isolated_in,
            "isolated_egress": isolated_eg,
        },
        "skipped_pods": data.get("skipped") or [],
        "warnings": warnings,
    } | ({"engine_detected": detected} if detected is not None else {})


def _isolation_counts(cluster: netpol.Cluster) -> tuple[int, int]:
    ingress = egress = 0
    for c in cluster.classes():
        ing, eg = cluster.isolation(c)
        ingress += len(c.pods) if ing else 0
        egress += len(c.pods) if eg else 0
    return ingress, egress


@contextlib.contextmanager
def without_cyclic_gc() -> Iterator[None]:
    """Python's cyclic garbage collector off for the run, back to how it was after (tests run main() in process).

    What a run allocates lives until it ends: the arguments (thousands of pods and policies, about 400,000 objects at
    5,000 pods), the copies Ansible makes of them, the engine's cluster. The collector would walk them again each
    time they grew by a quarter - about 0.15 s of CPU at 5,000 pods - and find nothing to free; reference counting
    frees what the run drops, and the process ends with the run.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class EngineCheckedInputs(AnsibleModule):
    """AnsibleModule that hands O(namespaces), O(pods) and O(policies) to the engine without copying them.

    Ansible's argument check deep-copies every parameter and writes every one into its log line; for these lists
    (thousands of items, 1.7 MB of JSON at 5,000 pods) that costs more than the engine's own check of every item,
    which names the bad field - and the spec checks no more of them than that they are lists. A list given for one
    of them is set aside while Ansible checks the arguments: in its place Ansible checks, and logs, a one-item list
    saying how many items the engine will check. Anything else given for them is Ansible's to check, as usual.
    """

    def _load_params(self) -> None:
        super()._load_params()
        self.set_aside = {}
        for name in OFFLINE_INPUTS:
            value = self.params.get(name)
            if isinstance(value, list) and value:
                self.set_aside[name] = value
                self.params[name] = [f"({len(value)} item{'' if len(value) == 1 else 's'}, checked by the engine)"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.params.update(self.set_aside)


def main() -> None:
    with without_cyclic_gc():
        module = _kube.KubeModule(
            argument_spec=ARGUMENT_SPEC,
            needs_kubernetes=reads_a_cluster,
            supports_check_mode=True,
            mutually_exclusive=[("namespaces", "namespace"), ("pods", "label_selectors")],
            module_class=EngineCheckedInputs,
        )
        try:
            result = _report.run_with_reports(module, "reachability_info", run)
        except _kube.KubeError as err:
            module.fail_from_error(err)
        for warning in result.pop("warnings"):
            module.warn(warning)
        module.exit_json(**result)


def run(module: _kube.KubeModule) -> dict:
    """describe(), with the engine's errors (bad policies, pods, ports) reported as the module's one error."""
    try:
        return describe(module.params)
    except netpol.NetpolError as exc:
        raise _kube.KubeError(str(exc), exc) from exc


if __name__ == "__main__":
    main()
