#!/usr/bin/python
# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# ruff: noqa: E402  (Ansible modules import after DOCUMENTATION, EXAMPLES and RETURN)
from __future__ import annotations

DOCUMENTATION = r"""
---
module: probe_connectivity
short_description: Probe who can reach whom in a Kubernetes cluster, and compare it with what NetworkPolicy predicts
version_added: 0.1.0
description:
  - Runs the walkthrough's C(wget -qO- --timeout=2 http://api) from inside pods, as a single probe or as a
    matrix of O(sources) x O(targets) x O(ports).
  - Every result is one of V(allowed), V(blocked) (the connection timed out), V(refused), V(dns_error) or
    V(probe_error) (the probe could not run - exec failed, pod not ready, image not pulled, tool missing).
    A probe that failed to run is never reported as V(blocked), and always fails the task.
  - Probes run from an existing pod (C(from.pod), by exec) or from an ephemeral probe pod carrying the given
    labels (C(from.labels)), which is created for the probe and always deleted afterwards, also when the probe
    fails or the task is interrupted. Probe pods are labelled C(netpol.aks/probe=true) and
    C(app.kubernetes.io/managed-by=netpol.aks), so leftovers of a killed run can be found.
  - One exec per source pod covers all of its targets (the probe script runs them in parallel inside the
    pod, so ten blocked targets cost one timeout); sources are probed in parallel with a bounded pool.
  - Policies take time to be enforced. O(retries) repeats the probes until every result has been the same
    O(stable_for) times in a row (and, when an expectation is known, matches it); each result reports when it
    stabilised.
  - With O(expect=predicted), the expected results come from the NetworkPolicies in the cluster, evaluated by
    the collection's NetworkPolicy engine; the module returns the predicted and observed tables, the
    differences, and a verdict that names a cluster which accepts NetworkPolicy objects but does not enforce
    them.
  - Uses the C(kubernetes) Python client directly (exec over a websocket); it does not need C(kubectl).
author:
  - netpol.aks contributors (@netpol)
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
  - netpol.aks.kube
  - netpol.aks.attributes
  - netpol.aks.report
attributes:
  check_mode:
    support: partial
    details:
      - Probes from existing pods (C(from.pod), C(sources[].pod)) run in check mode as they do otherwise; they
        change nothing.
      - Probes that need an ephemeral probe pod (C(from.labels), C(sources[].labels)) are not run, since the pod
        would have to be created. The module creates no pod, returns the manifests it would create under
        RV(would_create), reports those probes' results as null and the verdict V(check_mode) when no probe ran.
  diff_mode:
    support: none
    details:
      - The probe pods are created and deleted within the task, so there is nothing left to show a difference of.
  idempotent:
    support: full
    details:
      - The module reports C(changed=false), unless a report file (O(report_path)) changed; the results it returns
        are what the network does at the time.
options:
  namespace:
    description:
      - The namespace of sources and targets that do not name their own.
    type: str
    default: default
  from:
    description:
      - Where a single probe runs from. Either C(pod) (the name of an existing pod, probed by exec) or
        C(labels) (an ephemeral probe pod with these labels is created, used and deleted). Optional keys
        C(namespace) and, with C(pod), C(container).
      - A plain string is the name of an existing pod.
      - Mutually exclusive with O(sources).
    type: raw
  to:
    description:
      - What a single probe connects to. One of C(service) (a Service name, resolved by DNS inside the pod as
        C(<service>.<namespace>.svc)), C(pod) (an existing pod, by its IP), C(ip) (an address) or C(url) (an
        C(http://) URL; its port is used), each with an optional C(namespace).
      - A plain string is a Service name, as in the walkthrough's C(http://api).
      - A C(service) target must exist and expose the probed port (TCP), or the task fails before any probe runs;
        a port the Service does not have would only time out, and read as V(blocked).
      - Mutually exclusive with O(targets).
    type: raw
  sources:
    description:
      - A matrix probe's sources, each shaped like O(from).
    type: list
    elements: raw
  targets:
    description:
      - A matrix probe's targets, each shaped like O(to).
    type: list
    elements: raw
  port:
    description:
      - The port to connect to. Defaults to V(80) (the port of a C(url) target when it names one).
      - Mutually exclusive with O(ports).
    type: int
  ports:
    description:
      - A matrix probe's ports; every source probes every target on every port (C(url) targets use their own port).
    type: list
    elements: int
  protocol:
    description:
      - V(http) fetches C(http://host:port/) with C(wget); V(tcp) only opens a TCP connection with C(nc -vv -z).
    type: str
    choices: [http, tcp]
    default: http
  timeout:
    description:
      - Seconds each connection may take before it counts as V(blocked) (the walkthrough's C(--timeout=2)).
    type: int
    default: 2
  expect:
    description:
      - V(allowed) or V(blocked) - what every probe should observe; a mismatch fails the task and says what was
        observed.
      - V(predicted) - expect what the cluster's NetworkPolicies predict (read from the cluster after the probe
        pods started, evaluated by the collection's engine).
      - "A list of expected results, as returned by M(netpol.aks.reachability_info) (items with C(from), C(to),
        C(port) and C(allowed) or C(result)), or a mapping C({source: {target: allowed|blocked|true|false}})."
      - Without it, the module only reports what it observed (a V(probe_error) still fails).
    type: raw
  engine:
    description:
      - With O(expect=predicted), whose semantics predict (see M(netpol.aks.reachability_info)'s O(engine)).
      - V(auto), the default, reads the engine from the cluster (the DaemonSet of its agent; RV(engine_detected)
        says what was found, a warning says when nothing was and V(upstream) predicts); an explicit V(auto) fails
        when the DaemonSets cannot be read, the default then warns and predicts with V(upstream).
    type: str
    choices: [auto, upstream, calico, cilium, azure]
  probe_image:
    description:
      - The image of ephemeral probe pods; it needs C(sh), C(wget), C(nc) and C(sed) (busybox or alpine). Point it
        at a mirror for air-gapped registries.
    type: str
    default: busybox:1.36
  retries:
    description:
      - How many more rounds to probe while results are not yet stable (or do not match the expectation).
    type: int
    default: 0
  delay:
    description:
      - Seconds to wait between rounds.
    type: float
    default: 1.0
  stable_for:
    description:
      - How many rounds in a row a result must be the same to count as stable.
    type: int
    default: 1
  parallelism:
    description:
      - How many sources are probed (and probe pods started) at the same time.
    type: int
    default: 10
  pod_ready_timeout:
    description:
      - Seconds to wait for an ephemeral probe pod to become ready before its probes count as V(probe_error).
    type: int
    default: 120
notes:
  - The module leaves nothing behind (its probe pods are deleted, also when it fails or is interrupted), so it
    reports C(changed=false), unless it wrote a report file (O(report_path)).
  - A pod talking to itself is not predicted (CNIs differ) and is left out of the comparison.
  - A connection that reaches the server but gets an HTTP error status (for example 404) counts as V(allowed).
seealso:
  - module: netpol.aks.reachability_info
  - name: Network policies on AKS
    link: https://learn.microsoft.com/en-us/azure/aks/use-network-policies
    description: How to choose the network policy engine of an AKS cluster.
"""

EXAMPLES = r"""
- name: The walkthrough's probe - from test-np to the Service api, expecting a timeout
  netpol.aks.probe_connectivity:
    namespace: netpol-demo
    from:
      pod: test-np
    to: api
    expect: blocked
    retries: 5

- name: From a fresh pod labelled app=api (deleted afterwards)
  netpol.aks.probe_connectivity:
    namespace: netpol-demo
    from:
      labels:
        app: api
    to:
      service: api
    port: 80
    expect: allowed

- name: A matrix, compared with what the policies predict
  netpol.aks.probe_connectivity:
    namespace: netpol-demo
    sources:
      - pod: test-np
      - labels: {app: api}
      - labels: {app: other}
        namespace: default
    targets:
      - service: api
      - pod: test-np
    ports: [80, 8080]
    protocol: tcp
    expect: predicted
    retries: 10
    stable_for: 2
  register: matrix

- name: Show the observed table
  ansible.builtin.debug:
    msg: "{{ matrix.truth_table_text }}"
"""

RETURN = r"""
result:
  description: The result of a single probe (only when there is exactly one probe).
  returned: when one source, one target and one port were given
  type: str
  sample: blocked
exit_code:
  description: The probe tool's exit code (single probe; null when it did not run).
  returned: when one source, one target and one port were given
  type: int
  sample: 1
output:
  description: What the probe tool printed (single probe).
  returned: when one source, one target and one port were given
  type: str
  sample: "wget: download timed out"
elapsed:
  description: Seconds the single probe took (the exec that ran it).
  returned: when one source, one target and one port were given
  type: float
  sample: 2.01
expected:
  description: The single probe's expected result (from O(expect)); null when nothing is expected of it.
  returned: when one source, one target and one port were given
  type: str
  sample: blocked
summary:
  description: One line per probe - source, target, expected and observed, e.g. for a debug task.
  returned: always
  type: list
  elements: str
  sample: ["netpol-demo/test-np -> service netpol-demo/api:80 (http): expected blocked, observed blocked in 2.0s"]
results:
  description: One item per probe (cell of the matrix).
  returned: always
  type: list
  elements: dict
  contains:
    from:
      description: The source, C(namespace/pod) or C(namespace/[labels]).
      type: str
    to:
      description: The target, e.g. C(service netpol-demo/api), C(pod ns/name), C(ip 10.0.0.1), C(url http://...).
      type: str
    host:
      description: The host name or address the probe connected to.
      type: str
    port:
      description: The port.
      type: int
    protocol:
      description: V(http) or V(tcp).
      type: str
    result:
      description: V(allowed), V(blocked), V(refused), V(dns_error) or V(probe_error); null in check mode when not run.
      type: str
    expected:
      description: The expected result, when there is an expectation for this probe.
      type: str
    match:
      description: Whether RV(results[].result) equals RV(results[].expected).
      type: bool
    output:
      description: What the probe tool printed, or why the probe could not run.
      type: str
    exit_code:
      description:
        - The probe tool's exit code (null when it did not run). Not called C(rc), which Ansible would read as
          the task's own failure.
      type: int
    elapsed:
      description: Seconds the last exec of this probe took.
      type: float
    attempts:
      description: How many times this probe ran.
      type: int
    stable_after:
      description: Seconds from the start of probing until the final result was first observed.
      type: float
    history:
      description: The result of every attempt, in order.
      type: list
      elements: str
  sample:
    - from: netpol-demo/test-np
      to: service netpol-demo/api
      host: api.netpol-demo.svc
      port: 80
      protocol: http
      result: blocked
      expected: blocked
      match: true
      output: "wget: download timed out"
      exit_code: 1
      elapsed: 2.01
      attempts: 1
      stable_after: 0.0
      history: [blocked]
truth_table:
  description: 'Observed results as C({source: {"target:port": result}}).'
  returned: always
  type: dict
truth_table_text:
  description: The observed table drawn as text (C(.) allowed, C(X) blocked, C(R) refused, C(D) dns_error, C(E) probe_error).
  returned: always
  type: list
  elements: str
expected_table:
  description: 'Expected results as C({source: {"target:port": result}}) (null where nothing is predicted).'
  returned: when O(expect) is set
  type: dict
expected_table_text:
  description: The expected table drawn as text.
  returned: when O(expect) is set
  type: list
  elements: str
differences:
  description: The probes whose observed result differs from the expected one.
  returned: when O(expect) is set
  type: list
  elements: dict
differences_table_text:
  description: C(.) where observed equals expected, C(!) where it differs.
  returned: when O(expect) is set
  type: list
  elements: str
verdict:
  description:
    - V(match), V(differences), V(not_enforcing) (every connection the expectation blocks got through - the
      cluster accepts NetworkPolicy but does not enforce it), V(probe_error), V(observed) (no expectation) or
      V(check_mode).
  returned: always
  type: str
verdict_msg:
  description: The verdict in a sentence, with what to do.
  returned: always
  type: str
predicted_reasons:
  description: Why the engine predicts each expected result (O(expect=predicted) only), keyed like RV(expected_table).
  returned: when O(expect=predicted)
  type: dict
engine_detected:
  description: >-
    The engine read from the cluster for O(expect=predicted) (O(engine=auto), the default), as
    M(netpol.aks.reachability_info) returns it - C(name), C(source) (e.g. C(DaemonSet kube-system/cilium), null when
    none was found), C(reason) and C(found).
  returned: when O(expect=predicted) and the engine was read from the cluster
  type: dict
  sample: {name: cilium, source: DaemonSet kube-system/cilium, reason: DaemonSet kube-system/cilium runs on 3 node(s), found: []}
rounds:
  description: How many rounds of probes ran.
  returned: always
  type: int
duration:
  description: Seconds the whole module took, probe pods included.
  returned: always
  type: float
probe_pods:
  description: The ephemeral probe pods created (and deleted) by this run, as C(namespace/name).
  returned: always
  type: list
  elements: str
leftover_pods:
  description: Probe pods that could not be deleted (delete them with the label selector C(netpol.aks/probe-run=<run_id>)).
  returned: when a deletion failed
  type: list
  elements: str
run_id:
  description: The value of the C(netpol.aks/probe-run) label on this run's probe pods.
  returned: always
  type: str
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
  sample: [{format: junit, path: /tmp/label.junit.xml, changed: true}]
would_create:
  description: In check mode, the probe pods that would be created.
  returned: in check mode, when a source needs a probe pod
  type: list
  elements: dict
"""

import copy
import signal
import time
from typing import Any

from ansible_collections.netpol.aks.plugins.module_utils import _engine
from ansible_collections.netpol.aks.plugins.module_utils import _kube
from ansible_collections.netpol.aks.plugins.module_utils import _probe
from ansible_collections.netpol.aks.plugins.module_utils import _prober
from ansible_collections.netpol.aks.plugins.module_utils import _report as report_files
from ansible_collections.netpol.aks.plugins.module_utils import netpol


class ProbeFailure(_kube.KubeError):
    """The probes ran, and the outcome fails the task (probe_error, or a mismatch with the expectation)."""


class _Interrupted(BaseException):
    """SIGTERM/SIGHUP while probing: unwind so that the probe pods are deleted."""


def _interrupter(prober: _prober.Prober) -> Any:
    def interrupt(signum: int, _frame: Any) -> None:
        prober.cancelled.set()  # worker threads stop creating and waiting for probe pods
        raise _Interrupted(f"interrupted by signal {signum}")

    return interrupt


def argument_spec() -> dict[str, Any]:
    spec = copy.deepcopy(_kube.KUBE_AUTH_ARG_SPEC)
    spec.update(
        namespace={"type": "str", "default": "default"},
        sources={"type": "list", "elements": "raw"},
        targets={"type": "list", "elements": "raw"},
        port={"type": "int"},
        ports={"type": "list", "elements": "int"},
        protocol={"type": "str", "choices": list(_probe.PROTOCOLS), "default": "http"},
        timeout={"type": "int", "default": 2},
        expect={"type": "raw"},
        engine={"type": "str", "choices": [_engine.AUTO, *netpol.ENGINES]},
        probe_image={"type": "str", "default": _probe.DEFAULT_PROBE_IMAGE},
        retries={"type": "int", "default": 0},
        delay={"type": "float", "default": 1.0},
        stable_for={"type": "int", "default": 1},
        parallelism={"type": "int", "default": 10},
        pod_ready_timeout={"type": "int", "default": 120},
        **copy.deepcopy(report_files.REPORT_ARG_SPEC),
    )
    spec["from"] = {"type": "raw"}
    spec["to"] = {"type": "raw"}
    return spec


# ---------------------------------------------------------------------------------------------
# Plan: everything that can be checked without the cluster
# ---------------------------------------------------------------------------------------------


def build_plan(params: dict[str, Any]) -> dict[str, Any]:
    """Validate the inputs that need no cluster; raise ProbeInputError naming the bad field."""
    namespace = _probe.check_name(params["namespace"], "namespace")
    if params.get("from") is not None:
        sources = [_probe.normalise_source(params["from"], namespace, "from")]
    elif params.get("sources") is not None:
        if not params["sources"]:
            raise _probe.ProbeInputError("sources is empty: list at least one source ({pod: NAME} or {labels: {...}})")
        sources = [_probe.normalise_source(s, namespace, f"sources[{i}]") for i, s in enumerate(params["sources"])]
    else:
        raise _probe.ProbeInputError("give from (a single probe) or sources (a matrix)")
    if params.get("to") is not None:
        targets = [_probe.normalise_target(params["to"], namespace, "to")]
    elif params.get("targets") is not None:
        if not params["targets"]:
            raise _probe.ProbeInputError("targets is empty: list at least one target (a Service name, {pod: ...}, ...)")
        targets = [_probe.normalise_target(t, namespace, f"targets[{i}]") for i, t in enumerate(params["targets"])]
    else:
        raise _probe.ProbeInputError("give to (a single probe) or targets (a matrix)")
    if params.get("ports") is not None:
        if not params["ports"]:
            raise _probe.ProbeInputError("ports is empty: list at least one port")
        ports = [_probe.check_port(p, f"ports[{i}]") for i, p in enumerate(params["ports"])]
    elif params.get("port") is not None:
        ports = [_probe.check_port(params["port"], "port")]
    else:
        ports = None
    protocol = _probe.check_protocol(params["protocol"])
    for name, low in (("timeout", 1), ("stable_for", 1), ("parallelism", 1), ("pod_ready_timeout", 1), ("retries", 0)):
        if params[name] < low:
            raise _probe.ProbeInputError(f"{name} must be at least {low}, got {params[name]}")
    if params["delay"] < 0:
        raise _probe.ProbeInputError(f"delay must not be negative, got {params['delay']}")
    if len(set(sources)) != len(sources):
        raise _probe.ProbeInputError("sources lists the same source twice")
    expect = params.get("expect")
    if (
        expect is not None
        and not isinstance(expect, (list, dict))
        and expect not in ("allowed", "blocked", "predicted")
    ):
        raise _probe.ProbeInputError(
            f"expect must be allowed, blocked, predicted or an expected table from reachability_info, got {expect!r}"
        )
    cells = []
    seen = set()
    for source in sources:
        for target in targets:
            for port in [target.url_port] if target.kind == "url" else ports or [80]:
                key = (source, target, port)
                if key in seen:
                    continue
                seen.add(key)
                cells.append(_probe.Cell(source, target, port, protocol))
    return {"namespace": namespace, "sources": sources, "targets": targets, "cells": cells, "expect": expect}


# ---------------------------------------------------------------------------------------------
# Expectations
# ---------------------------------------------------------------------------------------------


def _as_result(value: Any) -> str | None:
    if value is True or value == "allowed":
        return "allowed"
    if value is False or value == "blocked":
        return "blocked"
    if value in _probe.RESULTS:
        return value
    return None


def _target_names(cell: _probe.Cell) -> set[str]:
    target = cell.target
    names = {target.name, target.short, target.value, f"{target.short}:{cell.port}", cell.key}
    if target.kind in ("service", "pod"):
        names |= {f"{target.namespace}/{target.value}", f"{target.namespace}/{target.value}:{cell.port}"}
    return names


def _source_names(cell: _probe.Cell) -> set[str]:
    names = {cell.source.name}
    if cell.source.pod is not None:
        names.add(cell.source.pod)
    return names


def apply_table(cells: list[_probe.Cell], table: Any) -> None:
    """Set each cell's expectation from a table: a list of {from, to, port, allowed|result} or a nested mapping."""
    if isinstance(table, dict):
        items = []
        for src, row in table.items():
            if not isinstance(row, dict):
                raise _probe.ProbeInputError(f"expect[{src!r}] must map targets to allowed/blocked, got {row!r}")
            items.extend({"from": src, "to": dst, "result": value} for dst, value in row.items())
        table = items
    for i, item in enumerate(table):
        if not isinstance(item, dict) or "from" not in item or "to" not in item:
            raise _probe.ProbeInputError(
                f"expect[{i}] must be a mapping with from, to and allowed or result, got {item!r}"
            )
        value = item.get("result", item.get("expected", item.get("allowed")))
        expected = _as_result(value)
        if value is not None and expected is None:
            raise _probe.ProbeInputError(f"expect[{i}]: {value!r} is not allowed/blocked/true/false")
        for cell in cells:
            if item.get("port") is not None and int(item["port"]) != cell.port:
                continue
            if str(item["from"]) in _source_names(cell) and str(item["to"]) in _target_names(cell):
                cell.expected = expected


def predict(
    kube: _kube.KubeClient,
    cells: list[_probe.Cell],
    runners: dict[_probe.Source, _probe.ProbePod | str],
    services: dict[tuple[str, str], dict],
    engine: str = "upstream",
) -> dict[str, dict[str, str]]:
    """Set each cell's expectation from the cluster's NetworkPolicies; returns the reasons per cell."""
    namespaces = sorted(
        {c.source.namespace for c in cells} | {c.target.namespace for c in cells if c.target.kind in ("service", "pod")}
    )
    data = _kube.read_cluster(kube, namespaces=namespaces)
    data.pop("skipped", None)
    try:
        cluster = netpol.Cluster(**data, validate=False, engine=engine)
    except netpol.NetpolError as exc:
        raise _kube.KubeError(f"Cannot predict: {exc}", exc) from exc
    reasons: dict[str, dict[str, str]] = {}
    for cell in cells:
        runner = runners.get(cell.source)
        if not isinstance(runner, _probe.ProbePod):
            continue
        src = runner.key
        if src not in cluster.pods:
            continue
        decisions, why = _decide(cluster, services, src, cell)
        if decisions is None:
            reasons.setdefault(cell.source.name, {})[cell.key] = why
            continue
        verdicts = {d.allowed for d in decisions}
        if verdicts == {True}:
            cell.expected = "allowed"
        elif verdicts == {False}:
            cell.expected = "blocked"
        why = "; ".join(d.reason for d in decisions) or why
        reasons.setdefault(cell.source.name, {})[cell.key] = why
    return reasons


def _decide(cluster: Any, services: dict, src: str, cell: _probe.Cell) -> tuple[list | None, str]:
    target = cell.target
    if target.kind == "pod":
        return [cluster.evaluate(src, f"{target.namespace}/{target.value}", cell.port, "TCP")], ""
    if target.kind == "ip":
        return [cluster.evaluate(src, {"ip": target.value}, cell.port, "TCP")], ""
    if target.kind == "url":
        return None, "a URL target is not predicted"
    try:
        decisions, why = cluster.service_decisions(src, services[(target.namespace, target.value)], cell.port, "TCP")
    except netpol.InputError as exc:
        return None, str(exc)
    return decisions or None, why


# ---------------------------------------------------------------------------------------------
# Running
# ---------------------------------------------------------------------------------------------


def check_service_ports(cells: list[_probe.Cell], services: dict[tuple[str, str], dict]) -> None:
    """Every Service target must expose the probed port: a port it lacks would time out and read as blocked."""
    for cell in cells:
        target = cell.target
        if target.kind != "service":
            continue
        try:
            netpol.service_port(services[(target.namespace, target.value)], cell.port, "TCP")
        except netpol.InputError as exc:
            raise _probe.ProbeInputError(
                f"{exc}: a probe of a port the Service does not expose says nothing about NetworkPolicy "
                "(probe one of its ports, or the pod itself with to.pod)"
            ) from None


def _line(cell: _probe.Cell) -> str:
    observed = cell.result or "not run (check mode)"
    took = f" in {cell.elapsed:.1f}s" if cell.elapsed is not None and cell.result else ""
    tries = f" after {len(cell.history)} attempts" if len(cell.history) > 1 else ""
    expected = f"expected {cell.expected}, " if cell.expected else ""
    return f"{cell.label} ({cell.protocol}): {expected}observed {observed}{took}{tries}"


def run(module: _kube.KubeModule) -> dict[str, Any]:
    """Probe, with the model's input errors reported as the module's one error."""
    try:
        return probe(module)
    except _probe.ProbeInputError as exc:
        raise _kube.KubeError(exc.message, exc) from exc


def probe(module: _kube.KubeModule) -> dict[str, Any]:
    params = module.params
    begin = time.monotonic()
    plan = build_plan(params)
    factory = module.api_client_factory()
    prober = _prober.Prober(
        factory,
        timeout=params["timeout"],
        probe_image=params["probe_image"],
        pod_ready_timeout=params["pod_ready_timeout"],
        parallelism=params["parallelism"],
    )
    cells: list[_probe.Cell] = plan["cells"]
    pods, services = prober.check_inputs(plan["sources"], plan["targets"])
    check_service_ports(cells, services)
    for warning in _probe.probe_pods_as_backends(plan["sources"], services):
        module.warn(warning)
    for cell in cells:
        cell.host = _probe.resolve_host(cell.target, pods)
    expect = plan["expect"]
    if expect in ("allowed", "blocked"):
        for cell in cells:
            cell.expected = expect
    elif isinstance(expect, (list, dict)):
        apply_table(cells, expect)

    runners: dict[_probe.Source, _probe.ProbePod | str] = {}
    manifests: dict[_probe.Source, dict] = {}
    for index, source in enumerate(plan["sources"]):
        if source.ephemeral:
            manifests[source] = prober.pod_manifest(index, source)
        else:
            runners[source] = _probe.source_runner(source, pods[(source.namespace, source.pod)])

    result: dict[str, Any] = {"changed": False, "run_id": prober.run_id, "probe_pods": []}
    reasons = None
    engine = "upstream"
    rounds = 0
    if module.check_mode and manifests:
        result["would_create"] = list(manifests.values())
        cells_to_run = [c for c in cells if not c.source.ephemeral]
    else:
        cells_to_run = cells
    leftovers: list[str] = []
    signals = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)
    previous = {sig: signal.signal(sig, _interrupter(prober)) for sig in signals}
    try:
        if expect == "predicted":
            # before any probe pod starts: an engine that cannot be told is refused with nothing created
            engine, detected, warnings = _engine.resolve(params["engine"], True, prober.kube)
            if detected is not None:
                result["engine_detected"] = detected
            for warning in warnings:
                module.warn(warning)
        if not module.check_mode and manifests:
            runners.update(prober.start_pods(manifests))
            result["probe_pods"] = [f"{ns}/{name}" for ns, name in prober.created]
        if expect == "predicted":
            reasons = predict(prober.kube(), cells_to_run, runners, services, engine)
        if cells_to_run:
            rounds = _prober.run_rounds(
                prober,
                cells_to_run,
                runners,
                retries=params["retries"],
                delay=params["delay"],
                stable_for=params["stable_for"],
            )
    finally:
        # A second signal must not cut the clean-up short.
        for sig in signals:
            signal.signal(sig, signal.SIG_IGN)
        try:
            if prober.created or prober.namespaces_used:
                leftovers = prober.delete_pods()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
    return _report(module, plan, result, cells, reasons, rounds, leftovers, time.monotonic() - begin)


def _report(
    module: _kube.KubeModule,
    plan: dict[str, Any],
    result: dict[str, Any],
    cells: list[_probe.Cell],
    reasons: dict | None,
    rounds: int,
    leftovers: list[str],
    duration: float,
) -> dict[str, Any]:
    ran = [cell for cell in cells if cell.outcome is not None]
    observed = _probe.truth_table(cells)
    result.update(
        results=[cell.as_result() for cell in cells],
        summary=[_line(cell) for cell in cells],
        truth_table=observed,
        truth_table_text=_probe.render_table(observed),
        rounds=rounds,
        duration=round(duration, 3),
    )
    if leftovers:
        result["leftover_pods"] = leftovers
        module.warn(
            f"Could not delete probe pod(s) {', '.join(leftovers)}; delete them with the label selector "
            f"{_probe.PROBE_RUN_LABEL}={result['run_id']}"
        )
    if plan["expect"] is not None:
        expected = _probe.truth_table(cells, "expected")
        result.update(
            expected_table=expected,
            expected_table_text=_probe.render_table(expected),
            differences=[
                cell.as_result() for cell in ran if cell.expected is not None and cell.result != cell.expected
            ],
            differences_table_text=_probe.render_table(_probe.differences_table(ran)),
        )
        if reasons is not None:
            result["predicted_reasons"] = reasons
    if len(cells) == 1:
        cell = cells[0]
        result.update(
            result=cell.result,
            output=cell.outcome.output if cell.outcome else "",
            exit_code=cell.outcome.rc if cell.outcome else None,
            elapsed=round(cell.elapsed, 3) if cell.elapsed is not None else None,
            expected=cell.expected,
        )
    verdict, message = _probe.verdict(ran)
    if module.check_mode and len(ran) < len(cells):
        skipped = len(cells) - len(ran)
        verdict = "check_mode" if not ran else verdict
        message = (
            f"Check mode: would create {len(result.get('would_create', []))} probe pod(s) "
            f"and run {skipped} probe(s) from them. {message if ran else ''}"
        ).strip()
    result.update(verdict=verdict, verdict_msg=message)
    if verdict == "probe_error":
        raise ProbeFailure(_failure_message(ran, message), result=result)
    if verdict in ("differences", "not_enforcing"):
        raise ProbeFailure(_failure_message(ran, message), result=result)
    result["msg"] = message if len(cells) != 1 else result["summary"][0]
    return result


def _failure_message(cells: list[_probe.Cell], message: str) -> str:
    if len(cells) == 1:
        cell = cells[0]
        output = (cell.outcome.output if cell.outcome else "").strip()
        # What a probe that got through printed is the server's answer (a whole web page), not a diagnosis.
        detail = f": {output}" if output and cell.result != "allowed" else ""
        if cell.result == "probe_error":
            return f"Probe could not run ({_line(cell)}){detail}. A probe error is never counted as blocked."
        hint = ""
        if cell.expected == "blocked" and cell.result == "allowed":
            hint = (
                " If a NetworkPolicy should block this connection, the cluster may not enforce NetworkPolicy "
                "(AKS: create the cluster with --network-policy azure|calico|cilium; kind: kindnet >= v0.24 or Calico)."
            )
        return f"Expected {cell.expected}, observed {cell.result}: {_line(cell)}{detail}.{hint}"
    return message


def main() -> None:
    module = _kube.KubeModule(
        argument_spec=argument_spec(),
        mutually_exclusive=[("from", "sources"), ("to", "targets"), ("port", "ports")],
        required_one_of=[("from", "sources"), ("to", "targets")],
        supports_check_mode=True,
    )
    try:
        result = report_files.run_with_reports(module, "probe_connectivity", run)
    except _kube.KubeError as err:
        module.fail_from_error(err)
    except _Interrupted as exc:
        module.fail_json(msg=f"Probe interrupted ({exc}); its probe pods were deleted", changed=False)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
