# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""PRIVATE to the collection: reachability_info's and probe_connectivity's results written as files people
and CI read (options ``report_path`` and ``report_format``, doc fragment ``netpol.aks.report``).

Standard library only, no I/O but the files it writes. One model (``build_report``), five renderers:

- ``json``: the model itself (schema ``netpol.aks/report/v1``, documented in docs/reports.md);
- ``junit``: one test case per cell, ``<source> -> <target>:<port>/<protocol>``, a failure where the
  observed result differs from the expected one, the probe's output as its text;
- ``markdown``: the matrices as tables, and the differences;
- ``html``: one self-contained page (no script, style or font is fetched): the observed, expected and
  difference matrices coloured by result, each cell's explanation on hover, focus or click, and an
  inline SVG graph of who can reach whom, grouped by namespace;
- ``dot``: the same graph for Graphviz.

Up to ``DETAIL_LIMIT`` endpoints are drawn one by one. Beyond that, the matrices and the graph draw
classes of endpoints: the engine's equivalence classes when the result lists them, else endpoints of one
namespace whose results are the same against every other class (found by partition refinement, so a
class's pairs agree wherever the results allow). The JSON keeps every cell.

No report carries a time stamp or a duration, so the same results give the same bytes, and a second
identical run changes no file.
"""

from __future__ import annotations

import contextlib
import html
import json
import math
import os
import re
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from typing import Any

SCHEMA = "netpol.aks/report/v1"
# Format -> file name suffix: the file of each format is <report_path without its suffix><suffix>.
FORMATS = {"json": ".json", "junit": ".junit.xml", "markdown": ".md", "html": ".html", "dot": ".dot"}
# A new report file gets this mode; a file that exists keeps its own.
FILE_MODE = 0o644
# Endpoints drawn one by one up to this many; beyond, classes of endpoints.
DETAIL_LIMIT = 40
# The HTML and Markdown matrices draw at most this many rows (the JSON has every cell).
MATRIX_LIMIT = 300
EXTERNAL = "(outside the cluster)"

STATES = ("allowed", "blocked", "refused", "dns_error", "probe_error")
# One-letter marks (the upstream truth tables' style) and colours, per cell state.
MARKS = {
    "allowed": ".",
    "blocked": "X",
    "refused": "R",
    "dns_error": "D",
    "probe_error": "E",
    "mixed": "~",
    "not_run": "?",
    "match": ".",
    "differs": "!",
    "unknown": "?",
}
COLOURS = {
    "allowed": "#2e7d32",
    "blocked": "#c62828",
    "refused": "#ef6c00",
    "dns_error": "#6a1b9a",
    "probe_error": "#37474f",
    "mixed": "#f9a825",
    "not_run": "#bdbdbd",
    "match": "#2e7d32",
    "differs": "#c62828",
    "unknown": "#bdbdbd",
}
EDGE_COLOURS = {"allowed": "#2e7d32", "unexpected": "#ef6c00", "missing": "#c62828"}


# The modules' argument spec for the options documented in the doc fragment netpol.aks.report.
REPORT_ARG_SPEC: dict[str, Any] = {
    "report_path": {"type": "path"},
    "report_format": {"type": "list", "elements": "str", "choices": list(FORMATS)},
}


class ReportError(ValueError):
    """A bad report option or a file that cannot be written; the message names the option."""


# ---------------------------------------------------------------------------------------------
# Options
# ---------------------------------------------------------------------------------------------


def _suffix_format(path: str) -> str | None:
    lowered = path.lower()
    for fmt, suffix in sorted(FORMATS.items(), key=lambda item: -len(item[1])):
        if lowered.endswith(suffix):
            return fmt
    return None


def plan_reports(params: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The (format, file path) pairs the options ask for; checked before the module does anything.

    ``report_path`` is the path of the files without their suffix; each format adds its own
    (``FORMATS``). A path that already ends in one format's suffix names that format's file, and the
    other formats' files sit next to it. Without ``report_format``, that suffix's format, else json.
    """
    path = params.get("report_path")
    formats = params.get("report_format")
    if path is None:
        if formats:
            raise ReportError("report_format: needs report_path, the file path (without suffix) to write to")
        return []
    if not isinstance(path, str) or not path.strip():
        raise ReportError(f"report_path: must be a file path, got {path!r}")
    if formats is not None and (not isinstance(formats, list) or not all(isinstance(f, str) for f in formats)):
        raise ReportError(f"report_format: must be a list of formats ({', '.join(FORMATS)}), got {formats!r}")
    expanded = os.path.expanduser(path)
    if expanded.endswith(os.sep) or os.path.isdir(expanded):
        directory = os.path.abspath(expanded)
        raise ReportError(f"report_path: {directory} names a directory; give a file name, e.g. {directory}/report")
    path = os.path.abspath(expanded)
    named = _suffix_format(path)
    formats = list(dict.fromkeys(formats or [named or "json"]))
    if not formats:
        raise ReportError(f"report_format: give at least one of {', '.join(FORMATS)}")
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise ReportError(f"report_format: unknown format(s) {', '.join(map(repr, unknown))}; use {', '.join(FORMATS)}")
    if named is not None and named not in formats:
        raise ReportError(
            f"report_path: {path} ends in {FORMATS[named]}, the {named} format's suffix, but report_format is "
            f"{formats}; drop the suffix (each format adds its own) or add {named} to report_format"
        )
    stem = path[: len(path) - len(FORMATS[named])] if named else path
    directory = os.path.dirname(stem) or "."
    if not os.path.isdir(directory):
        raise ReportError(
            f"report_path: the directory {directory} does not exist; create it first "
            "(for example with ansible.builtin.file, state: directory)"
        )
    if not os.access(directory, os.W_OK | os.X_OK):
        raise ReportError(f"report_path: cannot write in {directory} (permission denied)")
    plan = []
    for fmt in formats:
        target = stem + FORMATS[fmt]
        if os.path.isdir(target):
            raise ReportError(f"report_path: {target} ({fmt}) is a directory; choose another path")
        plan.append((fmt, target))
    return plan


# ---------------------------------------------------------------------------------------------
# The model
# ---------------------------------------------------------------------------------------------


@dataclass
class Endpoint:
    id: str  # unique: "ns/pod", "ns/class-3", "service ns/api", "ip 10.0.0.1"
    label: str  # short text for a node
    namespace: str  # EXTERNAL for addresses outside the cluster
    kind: str  # pod | probe-pod | class | service | ip | url
    members: list[str] = field(default_factory=list)  # pods of an engine class


@dataclass
class Cell:
    source: Endpoint
    target: Endpoint
    port: Any
    protocol: str
    observed: str | None
    expected: str | None
    explanation: str
    output: str
    target_label: str
    pairs: int = 1  # the pod pairs this cell stands for (a class pair: members x members)

    @property
    def key(self) -> str:
        return f"{self.port}/{self.protocol}"

    @property
    def name(self) -> str:
        return f"{self.source.id} -> {self.target_label}:{self.key}"

    @property
    def verdict(self) -> str | None:
        """What the graph draws: the observed result when probed, else the expectation."""
        return self.observed if self.observed is not None else self.expected

    @property
    def ran(self) -> bool:
        return self.observed in STATES

    @property
    def differs(self) -> bool:
        return self.ran and self.expected is not None and self.observed != self.expected


def _result_state(value: Any) -> str | None:
    if value is True:
        return "allowed"
    if value is False:
        return "blocked"
    return value if value in STATES else None


def _split(name: str) -> tuple[str, str]:
    namespace, _sep, rest = name.partition("/")
    return (namespace, rest) if rest else (EXTERNAL, name)


def _reachability_endpoints(result: Mapping[str, Any]) -> Callable[[str], Endpoint]:
    members = {c["name"]: list(c.get("pods") or []) for c in result.get("classes") or []}
    cache: dict[str, Endpoint] = {}

    def endpoint(name: str) -> Endpoint:
        if name not in cache:
            namespace, short = _split(name)
            kind = "ip" if namespace == EXTERNAL else "class" if name in members else "pod"
            cache[name] = Endpoint(name, short, namespace, kind, members.get(name, []))
        return cache[name]

    return endpoint


def _class_label(cls: Mapping[str, Any]) -> str:
    labels = ",".join(f"{k}={v}" for k, v in sorted((cls.get("labels") or {}).items()))
    return labels or f"{_split(cls['name'])[1]} (no labels)"


def _matrix_cells(result: Mapping[str, Any]) -> list[Cell]:
    """Cells from reachability_info's class matrix (``matrix`` and ``classes``): one per pod pair when the
    cluster has at most DETAIL_LIMIT pods, else one per class pair. Explanations come from the pairs the
    result lists (``results``); a cell without one says how to get it."""
    classes = {c["name"]: c for c in result.get("classes") or []}
    pod_class = {pod: name for name, c in classes.items() for pod in c.get("pods") or []}
    expand = len(pod_class) <= DETAIL_LIMIT
    reasons: dict[tuple[str, str, str], str] = {}
    for item in result.get("results") or []:
        key = f"{item.get('port_name') or item.get('port')}/{item.get('protocol')}"
        src, dst = str(item.get("from")), str(item.get("to"))
        reasons.setdefault((src, dst, key), str(item.get("reason") or ""))
        reasons.setdefault((pod_class.get(src, src), pod_class.get(dst, dst), key), str(item.get("reason") or ""))
    endpoints: dict[str, Endpoint] = {}

    def endpoint(name: str, kind: str = "pod") -> Endpoint:
        if name not in endpoints:
            cls = classes.get(name)
            if cls is not None and len(cls.get("pods") or []) == 1:
                return endpoint(cls["pods"][0])
            namespace, short = _split(name)
            if cls is not None:
                endpoints[name] = Endpoint(name, _class_label(cls), namespace, "class", list(cls["pods"]))
            else:
                endpoints[name] = Endpoint(name, short, namespace, "ip" if namespace == EXTERNAL else kind)
        return endpoints[name]

    def members(unit: str) -> list[str]:
        return list(classes[unit].get("pods") or []) if expand and unit in classes else [unit]

    cells = []
    for key, entry in result["matrix"].items():
        port, protocol = entry.get("port"), str(entry.get("protocol") or "TCP")
        for i, src_unit in enumerate(entry.get("sources") or []):
            row = entry["rows"][i]
            for j, dst_unit in enumerate(entry.get("targets") or []):
                mark = row[j] if j < len(row) else "?"
                if mark not in ".X":
                    continue  # a class of one pod and itself, or two addresses: not predicted
                verdict = "allowed" if mark == "." else "blocked"
                for src in members(src_unit):
                    for dst in members(dst_unit):
                        if src == dst and (expand or src not in classes):
                            continue  # a pod and itself (a class and itself stands for two of its pods)
                        source, target = endpoint(src), endpoint(dst)
                        reason = reasons.get((source.id, target.id, key)) or reasons.get((src_unit, dst_unit, key))
                        size_src, size_dst = len(source.members) or 1, len(target.members) or 1
                        pairs = size_src * (size_dst - 1) if source is target else size_src * size_dst
                        cells.append(
                            Cell(
                                source=source,
                                target=target,
                                port=port,
                                protocol=protocol,
                                observed=None,
                                expected=verdict,
                                explanation=reason
                                or f"the policies {'allow' if mark == '.' else 'block'} it (reachability_info names "
                                "the rule that decided with explain: all, or with this pair in explain_pairs)",
                                output="",
                                target_label=target.id,
                                pairs=pairs,
                            )
                        )
    return cells


def _probe_source(item: Mapping[str, Any]) -> Endpoint:
    name = str(item.get("from"))
    source = item.get("source") or {}
    namespace = source.get("namespace") or _split(name)[0]
    if source.get("pod") or (not source and "[" not in name):
        return Endpoint(name, name.partition("/")[2] or name, namespace, "pod")
    labels = ",".join(f"{k}={v}" for k, v in sorted((source.get("labels") or {}).items()))
    return Endpoint(name, f"[{labels}]" if labels else name.partition("/")[2], namespace, "probe-pod")


def _probe_target(item: Mapping[str, Any]) -> Endpoint:
    name = str(item.get("to"))
    target = dict(item.get("target") or {})
    namespace = target.pop("namespace", None)
    if target:
        kind, value = next(iter(target.items()))
    else:
        kind, _sep, value = name.partition(" ")
    if kind == "pod":
        # The same node as a source pod of that name.
        return Endpoint(f"{namespace}/{value}", value, namespace or EXTERNAL, "pod")
    if kind == "service":
        return Endpoint(f"service {namespace}/{value}", f"svc {value}", namespace or EXTERNAL, "service")
    return Endpoint(f"{kind} {value}", str(value), EXTERNAL, kind or "ip")


def _probe_key(item: Mapping[str, Any]) -> str:
    """probe_connectivity's table key of a result (its predicted_reasons are keyed by it)."""
    target = dict(item.get("target") or {})
    namespace = target.pop("namespace", None)
    kind, value = next(iter(target.items())) if target else ("", item.get("to"))
    short = f"{namespace}/{value}" if kind == "service" else f"pod:{namespace}/{value}" if kind == "pod" else value
    return f"{short}:{item.get('port')}"


def build_report(module: str, result: Mapping[str, Any], params: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The report of one module run: a plain dict (the JSON format), from which every format is drawn."""
    params = params or {}
    cells: list[Cell] = []
    if module == "reachability_info" and isinstance(result.get("matrix"), Mapping):
        expected_from = "policies"
        cells = _matrix_cells(result)
    elif module == "reachability_info":
        endpoint = _reachability_endpoints(result)
        expected_from = "policies"
        for item in result.get("results") or []:
            src, dst = endpoint(str(item["from"])), endpoint(str(item["to"]))
            port = item.get("port_name") or item.get("port")
            cells.append(
                Cell(
                    source=src,
                    target=dst,
                    port=port,
                    protocol=str(item.get("protocol") or "TCP"),
                    observed=None,
                    expected=_result_state(item.get("allowed")),
                    explanation=str(item.get("reason") or ""),
                    output="",
                    target_label=dst.id,
                )
            )
    elif module == "probe_connectivity":
        expect = params.get("expect")
        expected_from = "policies" if expect == "predicted" else ("given" if expect is not None else None)
        reasons = result.get("predicted_reasons") or {}
        # The engine's sentences name the probe pods (netpol-probe-<run id>-<index of the source>), which change
        # from run to run: the report names their sources instead, so that the same results give the same bytes.
        run_id = result.get("run_id")
        probe_pod = re.compile(rf"([a-z0-9.-]+)/netpol-probe-{re.escape(run_id)}-(\d+)") if run_id else None
        sources = list(dict.fromkeys(str(item.get("from")) for item in result.get("results") or []))

        def stable_name(match: re.Match) -> str:
            index = int(match.group(2))
            source = sources[index] if index < len(sources) else ""
            if source.startswith(f"{match.group(1)}/[") and source.endswith("]"):
                return source
            return f"{match.group(1)}/netpol-probe-{index}"

        endpoints: dict[str, Endpoint] = {}
        for item in result.get("results") or []:
            src = endpoints.setdefault(_probe_source(item).id, _probe_source(item))
            dst = _probe_target(item)
            if dst.id in endpoints:
                dst = endpoints[dst.id]
            else:
                endpoints[dst.id] = dst
            expected = _result_state(item.get("expected"))
            reason = (reasons.get(str(item.get("from"))) or {}).get(_probe_key(item))
            if reason and probe_pod:
                reason = probe_pod.sub(stable_name, reason)
            if not reason:
                reason = f"expected {expected} (given by expect)" if expected else "nothing expected"
            cells.append(
                Cell(
                    source=src,
                    target=dst,
                    port=item.get("port"),
                    protocol=str(item.get("protocol") or "tcp"),
                    observed=_result_state(item.get("result")) or "not_run",
                    expected=expected,
                    explanation=str(reason),
                    output=str(item.get("output") or ""),
                    target_label=str(item.get("to")),
                )
            )
    else:
        raise ReportError(f"no report for module {module!r}")
    return _model(module, result, cells, expected_from)


def _model(module: str, result: Mapping[str, Any], cells: list[Cell], expected_from: str | None) -> dict[str, Any]:
    endpoints: dict[str, Endpoint] = {}
    for cell in cells:
        endpoints.setdefault(cell.source.id, cell.source)
        endpoints.setdefault(cell.target.id, cell.target)
    groups = _groups(list(endpoints.values()), cells)
    observed = any(c.observed is not None for c in cells)
    counts: dict[str, int] = {}
    for cell in cells:
        state = cell.verdict or "unknown"
        counts[state] = counts.get(state, 0) + cell.pairs
    summary = {
        "cells": len(cells),
        "pairs": sum(c.pairs for c in cells),
        **{state: counts.get(state, 0) for state in STATES},
        "not_run": counts.get("not_run", 0),
        "expected": sum(c.pairs for c in cells if c.expected is not None),
        "differences": sum(c.pairs for c in cells if c.differs),
    }
    classes = _class_list(groups, endpoints)
    edges = _edges(cells, groups)
    return {
        "schema": SCHEMA,
        "module": module,
        "title": f"netpol.aks {module}",
        "observed": observed,
        "expected_from": expected_from,
        "verdict": result.get("verdict"),
        "verdict_msg": result.get("verdict_msg"),
        "summary": summary,
        "ports": list(dict.fromkeys(c.key for c in cells)),
        "endpoints": [
            {
                "id": e.id,
                "label": e.label,
                "namespace": e.namespace,
                "kind": e.kind,
                "class": groups[e.id],
                **({"members": e.members} if e.members else {}),
            }
            for e in endpoints.values()
        ],
        "classes": classes,
        "edges": edges,
        "cells": [
            {
                "source": c.source.id,
                "target": c.target.id,
                "target_label": c.target_label,
                "port": c.port,
                "protocol": c.protocol,
                "name": c.name,
                "observed": c.observed,
                "expected": c.expected,
                "match": (c.observed == c.expected) if c.ran and c.expected is not None else None,
                "explanation": c.explanation,
                "output": c.output,
                "pairs": c.pairs,
            }
            for c in cells
        ],
    }


def _groups(endpoints: list[Endpoint], cells: list[Cell]) -> dict[str, str]:
    """Endpoint id -> class name. Each endpoint is its own class up to DETAIL_LIMIT endpoints."""
    if len(endpoints) <= DETAIL_LIMIT:
        return {e.id: e.id for e in endpoints}
    # Partition refinement: start from (namespace, kind); split while two members of a class differ in
    # the states they send to, or receive from, some other class on some port.
    block = {e.id: (e.namespace, e.kind) for e in endpoints}
    out_cells: dict[str, list[Cell]] = {}
    in_cells: dict[str, list[Cell]] = {}
    for cell in cells:
        out_cells.setdefault(cell.source.id, []).append(cell)
        in_cells.setdefault(cell.target.id, []).append(cell)
    count = len(set(block.values()))
    while True:
        signature = {
            e.id: (
                block[e.id],
                frozenset((c.key, block[c.target.id], c.verdict, c.expected) for c in out_cells.get(e.id, ())),
                frozenset((c.key, block[c.source.id], c.verdict, c.expected) for c in in_cells.get(e.id, ())),
            )
            for e in endpoints
        }
        numbers: dict[Any, int] = {}
        block = {eid: (sig[0][0], sig[0][1], numbers.setdefault(sig, len(numbers))) for eid, sig in signature.items()}
        if len(numbers) == count:
            break
        count = len(numbers)
    # Name each class after its namespace and its first member.
    names: dict[Any, str] = {}
    sizes: dict[Any, int] = {}
    for e in endpoints:
        sizes[block[e.id]] = sizes.get(block[e.id], 0) + 1
    out = {}
    for e in endpoints:
        b = block[e.id]
        if b not in names:
            names[b] = e.id if sizes[b] == 1 else f"{e.namespace}: {e.label} +{sizes[b] - 1}"
        out[e.id] = names[b]
    return out


def _class_list(groups: dict[str, str], endpoints: dict[str, Endpoint]) -> list[dict[str, Any]]:
    classes: dict[str, dict[str, Any]] = {}
    for eid, name in groups.items():
        e = endpoints[eid]
        entry = classes.setdefault(
            name, {"name": name, "namespace": e.namespace, "kind": e.kind, "label": e.label, "members": []}
        )
        entry["members"].append(eid)
    return list(classes.values())


def _edges(cells: list[Cell], groups: dict[str, str]) -> list[dict[str, Any]]:
    """One edge per class pair: `allowed` (some pair got through; `unexpected` when expected blocked), or
    `missing` (nothing got through, but some pair was expected to)."""
    pairs: dict[tuple[str, str], dict[str, Any]] = {}
    for cell in cells:
        key = (groups[cell.source.id], groups[cell.target.id])
        entry = pairs.setdefault(key, {"allowed": [], "missing": [], "unexpected": False})
        if cell.verdict == "allowed":
            entry["allowed"].append(cell.key)
            if cell.expected == "blocked":
                entry["unexpected"] = True
        elif cell.expected == "allowed" and cell.ran:
            entry["missing"].append(cell.key)
    edges = []
    for (src, dst), entry in pairs.items():
        if entry["allowed"]:
            state = "unexpected" if entry["unexpected"] else "allowed"
            ports = entry["allowed"]
        elif entry["missing"]:
            state, ports = "missing", entry["missing"]
        else:
            continue
        edges.append({"from": src, "to": dst, "state": state, "ports": sorted(set(ports), key=ports.index)})
    return edges


# ---------------------------------------------------------------------------------------------
# Matrices (HTML and Markdown)
# ---------------------------------------------------------------------------------------------


@dataclass
class _Matrix:
    view: str  # observed | expected | difference
    title: str
    rows: list[str]
    columns: list[tuple[str, str, str]]  # (target class, port key, header)
    cells: dict[tuple[str, int], tuple[str, list[int]]]  # (row, column index) -> (state, report cell indices)


def _cell_state(view: str, cell: Mapping[str, Any]) -> str | None:
    if view == "observed":
        return cell["observed"]
    if view == "expected":
        return cell["expected"]
    if cell["observed"] is None or cell["expected"] is None or cell["observed"] == "not_run":
        return None
    return "match" if cell["match"] else "differs"


def _matrices(report: Mapping[str, Any]) -> list[_Matrix]:
    groups = {e["id"]: e["class"] for e in report["endpoints"]}
    views = []
    if report["observed"]:
        views.append(("observed", "Observed"))
    if any(c["expected"] for c in report["cells"]):
        views.append(("expected", "Predicted by the policies" if report["expected_from"] == "policies" else "Expected"))
    if report["observed"] and any(c["expected"] for c in report["cells"]):
        views.append(("difference", "Difference (observed against expected)"))
    rows: list[str] = []
    columns: list[tuple[str, str, str]] = []
    for cell in report["cells"]:
        row = groups[cell["source"]]
        if row not in rows:
            rows.append(row)
        target = groups[cell["target"]]
        header = cell["target_label"] if target == cell["target"] else target
        column = (target, f"{cell['port']}/{cell['protocol']}", header)
        if column not in columns:
            columns.append(column)
    # Rows and columns in the order the endpoints first appear, columns grouped by port.
    order = {c["name"]: i for i, c in enumerate(report["classes"])}
    ports = {key: i for i, key in enumerate(report["ports"])}
    rows.sort(key=lambda name: order[name])
    columns.sort(key=lambda column: (ports[column[1]], order[column[0]]))
    index = {column: i for i, column in enumerate(columns)}
    out = []
    for view, title in views:
        cells: dict[tuple[str, int], tuple[str, list[int]]] = {}
        for i, cell in enumerate(report["cells"]):
            state = _cell_state(view, cell)
            target = groups[cell["target"]]
            header = cell["target_label"] if target == cell["target"] else target
            at = (groups[cell["source"]], index[(target, f"{cell['port']}/{cell['protocol']}", header)])
            previous = cells.get(at)
            if previous is None:
                cells[at] = (state or "unknown", [i])
            else:
                merged = previous[0] if previous[0] == (state or "unknown") else "mixed"
                cells[at] = (merged, [*previous[1], i])
        out.append(_Matrix(view, title, rows, columns, cells))
    return out


def _cell_text(report: Mapping[str, Any], view: str, state: str, members: list[int]) -> str:
    cells = report["cells"]
    first = cells[members[0]]
    lines = []
    pairs = sum(cells[i]["pairs"] for i in members)
    if pairs == 1:
        lines.append(first["name"])
    else:
        lines.append(f"{pairs} pod pairs, e.g. {first['name']}")
    if view == "observed":
        lines.append(f"observed: {state}" + (f" (expected {first['expected']})" if first["expected"] else ""))
    elif view == "expected":
        lines.append(f"expected: {state}")
    else:
        lines.append(f"observed {first['observed']}, expected {first['expected']}: {state}")
    if state == "mixed":
        seen: dict[str, int] = {}
        for i in members:
            s = _cell_state(view, cells[i]) or "unknown"
            seen[s] = seen.get(s, 0) + 1
        lines.append("states: " + ", ".join(f"{k} {v}" for k, v in seen.items()))
    lines.append(f"why: {first['explanation']}")
    if first["output"]:
        lines.append(f"probe output: {first['output']}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Renderers
# ---------------------------------------------------------------------------------------------


def render_json(report: Mapping[str, Any]) -> bytes:
    return (json.dumps(report, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


_XML_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _xml_text(text: str) -> str:
    return _XML_BAD.sub("\ufffd", text)


def render_junit(report: Mapping[str, Any]) -> bytes:
    """One test case per cell; failure: observed differs from expected; error: a probe that could not run
    with nothing expected; skipped: not run (check mode)."""
    suite_name = f"netpol.aks.{report['module']}"
    root = ET.Element("testsuites", name=report["title"])
    suite = ET.SubElement(root, "testsuite", name=suite_name)
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for cell in report["cells"]:
        namespace = _split(cell["source"])[0]
        case = ET.SubElement(suite, "testcase", classname=f"{suite_name}.{namespace}", name=_xml_text(cell["name"]))
        counts["tests"] += 1
        text = _xml_text(cell["output"] or cell["explanation"])
        if cell["observed"] == "not_run":
            counts["skipped"] += 1
            ET.SubElement(case, "skipped", message="not run (check mode)")
        elif cell["match"] is False:
            counts["failures"] += 1
            failure = ET.SubElement(
                case,
                "failure",
                message=_xml_text(f"expected {cell['expected']}, observed {cell['observed']}"),
                type=cell["observed"] or "unknown",
            )
            failure.text = text
        elif cell["observed"] == "probe_error":
            counts["errors"] += 1
            error = ET.SubElement(case, "error", message="the probe could not run", type="probe_error")
            error.text = text
        out = [f"verdict: {cell['observed'] or cell['expected']}", f"why: {cell['explanation']}"]
        if cell["output"]:
            out.append(f"probe output: {cell['output']}")
        ET.SubElement(case, "system-out").text = _xml_text("\n".join(out))
    for element in (root, suite):
        for key, value in counts.items():
            element.set(key, str(value))
    ET.indent(root)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="utf-8") + b"\n"


def _md(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ").replace("`", "'")


def render_markdown(report: Mapping[str, Any]) -> bytes:
    s = report["summary"]
    lines = [f"# {report['title']}", ""]
    if report["verdict_msg"]:
        lines += [f"**{report['verdict']}**: {_md(report['verdict_msg'])}", ""]
    lines += [
        "| cells | pairs | allowed | blocked | refused | dns_error | probe_error | not run | expected | differences |",
        "|---|---|---|---|---|---|---|---|---|---|",
        f"| {s['cells']} | {s['pairs']} | {s['allowed']} | {s['blocked']} | {s['refused']} | {s['dns_error']} | "
        f"{s['probe_error']} | {s['not_run']} | {s['expected']} | {s['differences']} |",
        "",
        "Marks: `.` allowed, `X` blocked, `R` refused, `D` dns_error, `E` probe_error, `?` not run or unknown, "
        "`~` mixed (a class whose pairs differ), `-` no cell; in the difference table `.` same, `!` differs.",
        "",
    ]
    for matrix in _matrices(report):
        lines += [f"## {matrix.title}", ""]
        rows = matrix.rows[:MATRIX_LIMIT]
        lines.append("| source \\ target | " + " | ".join(_md(f"{h}:{k}") for _t, k, h in matrix.columns) + " |")
        lines.append("|---" * (len(matrix.columns) + 1) + "|")
        for row in rows:
            marks = []
            for j in range(len(matrix.columns)):
                entry = matrix.cells.get((row, j))
                marks.append(f"`{MARKS.get(entry[0], '?')}`" if entry else "-")
            lines.append(f"| {_md(row)} | " + " | ".join(marks) + " |")
        if len(matrix.rows) > len(rows):
            lines.append(f"\n({len(matrix.rows) - len(rows)} more rows in the JSON report)")
        lines.append("")
    differing = [c for c in report["cells"] if c["match"] is False]
    lines += ["## Differences", ""]
    if not differing:
        lines.append("None." if report["summary"]["expected"] and report["observed"] else "Nothing to compare.")
    for cell in differing:
        lines.append(
            f"- `{_md(cell['name'])}`: expected {cell['expected']}, observed {cell['observed']}. "
            f"Why expected: {_md(cell['explanation'])}"
            + (f" Output: `{_md(cell['output'])}`" if cell["output"] else "")
        )
    if report["classes"] and any(len(c["members"]) > 1 for c in report["classes"]):
        lines += ["", "## Classes", ""]
        for cls in report["classes"]:
            if len(cls["members"]) > 1:
                lines.append(f"- {_md(cls['name'])}: {_md(', '.join(cls['members']))}")
    return ("\n".join(lines).rstrip() + "\n").encode("utf-8")


def _dot_id(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def render_dot(report: Mapping[str, Any]) -> bytes:
    lines = [
        f"digraph {_dot_id('reachability')} {{",
        f"  graph [label={_dot_id(report['title'] + ': who can reach whom')}, labelloc=t, rankdir=LR, "
        'fontname="sans-serif"];',
        '  node [shape=box, style="rounded,filled", fillcolor="#ffffff", fontname="sans-serif"];',
        '  edge [fontname="sans-serif", fontsize=10];',
    ]
    by_ns: dict[str, list[dict[str, Any]]] = {}
    for cls in report["classes"]:
        by_ns.setdefault(cls["namespace"], []).append(cls)
    for i, (namespace, classes) in enumerate(by_ns.items()):
        lines.append(f"  subgraph {_dot_id(f'cluster_{i}')} {{")
        lines.append(f'    label={_dot_id(namespace)}; style="rounded"; color="#78909c";')
        for cls in classes:
            shape = {"service": "ellipse", "ip": "diamond", "url": "diamond"}.get(cls["kind"], "box")
            label = _node_label(cls)
            lines.append(
                f"    {_dot_id(cls['name'])} [label={_dot_id(label)}, shape={shape}, "
                f"tooltip={_dot_id(', '.join(cls['members']))}];"
            )
        lines.append("  }")
    for edge in report["edges"]:
        colour = EDGE_COLOURS[edge["state"]]
        style = "dashed" if edge["state"] == "missing" else "solid"
        label = ", ".join(edge["ports"])
        if edge["state"] == "missing":
            label = f"expected {label}"
        lines.append(
            f"  {_dot_id(edge['from'])} -> {_dot_id(edge['to'])} [color={_dot_id(colour)}, style={style}, "
            f"label={_dot_id(label)}, class={_dot_id(edge['state'])}];"
        )
    lines.append("}")
    return ("\n".join(lines) + "\n").encode("utf-8")


def _node_label(cls: Mapping[str, Any]) -> str:
    if len(cls["members"]) > 1:
        return f"{cls['label']} +{len(cls['members']) - 1}"
    return cls["label"]


# -- HTML ---------------------------------------------------------------------------------------

_CSS = """
body{font-family:system-ui,sans-serif;margin:1.5em;color:#212121}
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.6em}
table.m{border-collapse:collapse;font-size:12px}
table.m th{font-weight:normal;padding:2px 4px;white-space:nowrap;text-align:left}
table.m thead th{writing-mode:vertical-rl;transform:rotate(180deg);vertical-align:bottom;max-height:14em}
table.m td{width:18px;height:18px;text-align:center;color:#fff;border:1px solid #fff;cursor:pointer;
font-family:monospace}
table.m td.none{background:#f5f5f5;color:#9e9e9e;cursor:default}
table.m td:focus{outline:2px solid #1565c0}
.legend span{display:inline-block;padding:1px 6px;margin:2px;color:#fff;border-radius:3px;font-size:12px}
#explain{position:fixed;right:1em;bottom:1em;max-width:38em;background:#fffde7;border:1px solid #9e9e9e;
padding:.6em .8em;white-space:pre-wrap;font-size:13px;display:none;box-shadow:0 2px 6px rgba(0,0,0,.2)}
#explain.shown{display:block}#explain.pinned{border:2px solid #1565c0}
.summary td,.summary th{padding:2px 8px;border:1px solid #e0e0e0}.summary{border-collapse:collapse}
svg .ns rect{fill:#eceff1;stroke:#78909c;rx:8}svg .ns text{font-size:13px;font-weight:bold;fill:#455a64}
svg .node text{font-size:11px;fill:#212121}svg .node{cursor:pointer}
svg .edge path{fill:none}svg .edge .line{stroke-width:1.6}svg .edge:hover .line{stroke-width:3.5}
svg .edge .hit{stroke:transparent;stroke-width:10;pointer-events:stroke;cursor:pointer}
svg .edge.missing .line{stroke-dasharray:6 4}
.verdict{padding:.4em .6em;background:#f5f5f5;border-left:4px solid #1565c0}
"""

_JS = """
(function(){
var data=JSON.parse(document.getElementById('explanations').textContent);
var box=document.getElementById('explain');var pinned=null;
function text(el){var i=el.getAttribute('data-cell');if(i!==null)return data.cells[+i];
var e=el.getAttribute('data-edge');if(e!==null)return data.edges[+e];
var n=el.getAttribute('data-node');if(n!==null)return data.nodes[+n];return null;}
function target(ev){var el=ev.target;while(el&&el!==document){if(el.hasAttribute&&(el.hasAttribute('data-cell')||
el.hasAttribute('data-edge')||el.hasAttribute('data-node')))return el;el=el.parentNode;}return null;}
function show(el){var t=text(el);if(t===null)return;box.textContent=t;box.classList.add('shown');}
document.addEventListener('mouseover',function(ev){if(pinned)return;var el=target(ev);if(el)show(el);});
document.addEventListener('mouseout',function(ev){if(pinned)return;if(target(ev))box.classList.remove('shown');});
document.addEventListener('focusin',function(ev){var el=target(ev);if(el&&!pinned)show(el);});
document.addEventListener('click',function(ev){var el=target(ev);if(el){pinned=el;show(el);box.classList.add('pinned');}
else if(!box.contains(ev.target)){pinned=null;box.classList.remove('pinned');box.classList.remove('shown');}});
document.addEventListener('keydown',function(ev){if(ev.key==='Escape'){pinned=null;box.classList.remove('pinned');
box.classList.remove('shown');}});
})();
"""


def _json_script(data: Any) -> str:
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


def _svg(report: Mapping[str, Any], node_texts: list[str], edge_texts: list[str]) -> str:
    """Namespaces as boxes laid out in rows, classes as nodes in a grid inside them, edges as arcs."""
    node_w, node_h, pad, head = 150, 64, 16, 26
    by_ns: dict[str, list[dict[str, Any]]] = {}
    for cls in report["classes"]:
        by_ns.setdefault(cls["namespace"], []).append(cls)
    boxes = []
    for namespace, classes in by_ns.items():
        cols = max(1, math.ceil(math.sqrt(len(classes))))
        rows = math.ceil(len(classes) / cols)
        boxes.append((namespace, classes, cols, cols * node_w + 2 * pad, rows * node_h + head + pad))
    per_row = max(1, math.ceil(math.sqrt(len(boxes))))
    positions: dict[str, tuple[float, float]] = {}
    parts: list[str] = []
    x = y = 20.0
    row_h = 0.0
    width = 0.0
    for i, (namespace, classes, cols, w, h) in enumerate(boxes):
        if i and i % per_row == 0:
            x, y, row_h = 20.0, y + row_h + 40, 0.0
        parts.append(
            f'<g class="ns" data-namespace="{html.escape(namespace)}"><rect x="{x:.0f}" y="{y:.0f}" '
            f'width="{w:.0f}" height="{h:.0f}" rx="8"/><text x="{x + 10:.0f}" y="{y + 18:.0f}">'
            f"{html.escape(namespace)}</text></g>"
        )
        for j, cls in enumerate(classes):
            cx = x + pad + (j % cols) * node_w + node_w / 2
            cy = y + head + (j // cols) * node_h + node_h / 2 - 6
            positions[cls["name"]] = (cx, cy)
        x += w + 40
        row_h = max(row_h, h)
        width = max(width, x)
    height = y + row_h + 20
    radius = 9.0
    edge_parts = []
    for k, edge in enumerate(report["edges"]):
        (x1, y1), (x2, y2) = positions[edge["from"]], positions[edge["to"]]
        colour = EDGE_COLOURS[edge["state"]]
        marker = f"url(#arrow-{edge['state']})"
        if edge["from"] == edge["to"]:
            d = f"M{x1 - 6:.1f},{y1 - radius:.1f} C{x1 - 30:.1f},{y1 - 40:.1f} {x1 + 30:.1f},{y1 - 40:.1f} {x1 + 6:.1f},{y1 - radius:.1f}"
        else:
            dx, dy = x2 - x1, y2 - y1
            dist = math.hypot(dx, dy) or 1.0
            ux, uy = dx / dist, dy / dist
            sx, sy = x1 + ux * radius, y1 + uy * radius
            ex, ey = x2 - ux * (radius + 3), y2 - uy * (radius + 3)
            # Bend to the left of the direction, so A->B and B->A do not overlap.
            bend = min(40.0, dist / 5)
            mx, my = (sx + ex) / 2 - uy * bend, (sy + ey) / 2 + ux * bend
            d = f"M{sx:.1f},{sy:.1f} Q{mx:.1f},{my:.1f} {ex:.1f},{ey:.1f}"
        # A wide transparent twin takes the pointer: a thin (or dashed) line is hard to point at.
        edge_parts.append(
            f'<g class="edge {edge["state"]}" data-edge="{k}" data-from="{html.escape(edge["from"])}" '
            f'data-to="{html.escape(edge["to"])}"><title>{html.escape(edge_texts[k])}</title>'
            f'<path class="hit" d="{d}"/><path class="line" d="{d}" stroke="{colour}" marker-end="{marker}"/></g>'
        )
    node_parts = []
    for n, cls in enumerate(report["classes"]):
        cx, cy = positions[cls["name"]]
        label = _node_label(cls)
        short = label if len(label) <= 24 else label[:23] + "\u2026"
        if cls["kind"] == "service":
            shape = (
                f'<rect x="{cx - radius:.1f}" y="{cy - radius:.1f}" width="{2 * radius}" height="{2 * radius}" rx="3"'
            )
        elif cls["kind"] in ("ip", "url"):
            shape = (
                f'<polygon points="{cx:.1f},{cy - radius:.1f} {cx + radius:.1f},{cy:.1f} {cx:.1f},{cy + radius:.1f} '
                f'{cx - radius:.1f},{cy:.1f}"'
            )
        else:
            shape = f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="{radius}"'
        node_parts.append(
            f'<g class="node" data-node="{n}" data-class="{html.escape(cls["name"])}" tabindex="0">'
            f'{shape} fill="#1565c0" stroke="#0d47a1"/>'
            f'<text x="{cx:.1f}" y="{cy + radius + 13:.1f}" text-anchor="middle">{html.escape(short)}</text>'
            f"<title>{html.escape(node_texts[n])}</title></g>"
        )
    markers = "".join(
        f'<marker id="arrow-{state}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
        f'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="{colour}"/></marker>'
        for state, colour in EDGE_COLOURS.items()
    )
    return (
        f'<svg id="graph" xmlns="http://www.w3.org/2000/svg" width="{max(width, 300):.0f}" '
        f'height="{height:.0f}" viewBox="0 0 {max(width, 300):.0f} {height:.0f}" role="img" '
        f'aria-label="who can reach whom"><defs>{markers}</defs>{"".join(parts)}'
        f'<g class="edges">{"".join(edge_parts)}</g><g class="nodes">{"".join(node_parts)}</g></svg>'
    )


def _class_titles(report: Mapping[str, Any]) -> dict[str, str]:
    """Class name -> what hovering its node or header says: its labels and pods."""
    pods_of = {e["id"]: e.get("members") or [e["id"]] for e in report["endpoints"]}
    titles = {}
    for cls in report["classes"]:
        members = [pod for member in cls["members"] for pod in pods_of[member]]
        head = cls["name"] if cls["label"] in cls["name"] else f"{cls['name']} [{cls['label']}]"
        titles[cls["name"]] = head if len(members) == 1 else f"{head}: {len(members)} members\n" + "\n".join(members)
    return titles


def render_html(report: Mapping[str, Any]) -> bytes:
    esc = html.escape
    s = report["summary"]
    texts: list[str] = []
    body: list[str] = [f"<h1>{esc(report['title'])}</h1>"]
    if report["verdict_msg"]:
        body.append(
            f'<p class="verdict" id="verdict"><b>{esc(str(report["verdict"]))}</b>: {esc(report["verdict_msg"])}</p>'
        )
    body.append('<table class="summary" id="summary"><tr>')
    keys = ["cells", "pairs", *STATES, "not_run", "expected", "differences"]
    body.append("".join(f"<th>{k}</th>" for k in keys) + "</tr><tr>")
    body.append("".join(f'<td data-key="{k}">{s[k]}</td>' for k in keys) + "</tr></table>")
    legend = "".join(
        f'<span style="background:{COLOURS[k]}">{MARKS[k]} {k}</span>'
        for k in ("allowed", "blocked", "refused", "dns_error", "probe_error", "mixed", "not_run")
    )
    body.append(f'<p class="legend">{legend} <span style="background:{COLOURS["differs"]}">! differs</span></p>')
    body.append(
        "<p>Hover over, focus or click a cell, node or edge for its explanation; click pins it, Escape closes it.</p>"
    )
    titles = _class_titles(report)
    for matrix in _matrices(report):
        rows = matrix.rows[:MATRIX_LIMIT]
        body.append(
            f'<h2>{esc(matrix.title)}</h2><table class="m" id="matrix-{matrix.view}" data-view="{matrix.view}">'
        )
        body.append(
            "<thead><tr><th></th>"
            + "".join(f'<th title="{esc(titles.get(t, h))}">{esc(h)}:{esc(k)}</th>' for t, k, h in matrix.columns)
            + "</tr></thead><tbody>"
        )
        for row in rows:
            body.append(f'<tr><th title="{esc(titles.get(row, row))}">{esc(row)}</th>')
            for j in range(len(matrix.columns)):
                entry = matrix.cells.get((row, j))
                if entry is None:
                    body.append('<td class="none">-</td>')
                    continue
                state, members = entry
                texts.append(_cell_text(report, matrix.view, state, members))
                body.append(
                    f'<td class="s-{state}" data-cell="{len(texts) - 1}" data-state="{state}" '
                    f'data-pairs="{sum(report["cells"][i]["pairs"] for i in members)}" tabindex="0" '
                    f'style="background:{COLOURS.get(state, "#bdbdbd")}">'
                    f"{MARKS.get(state, '?')}</td>"
                )
            body.append("</tr>")
        body.append("</tbody></table>")
        if len(matrix.rows) > len(rows):
            body.append(f"<p>{len(matrix.rows) - len(rows)} more rows are in the JSON report.</p>")
    node_texts = list(titles.values())
    edge_texts = []
    for edge in report["edges"]:
        what = {
            "allowed": "allowed",
            "unexpected": "allowed, although expected blocked",
            "missing": "blocked, although expected allowed",
        }
        edge_texts.append(f"{edge['from']} -> {edge['to']}: {what[edge['state']]} on {', '.join(edge['ports'])}")
    body.append(
        "<h2>Who can reach whom</h2><p>Namespaces are boxes, "
        + ("pods and services" if all(len(c["members"]) == 1 for c in report["classes"]) else "classes of endpoints")
        + f' are nodes. <span style="color:{EDGE_COLOURS["allowed"]}">Solid green</span>: allowed; '
        f'<span style="color:{EDGE_COLOURS["unexpected"]}">orange</span>: allowed although expected blocked; '
        f'<span style="color:{EDGE_COLOURS["missing"]}">dashed red</span>: blocked although expected allowed.</p>'
    )
    body.append(_svg(report, node_texts, edge_texts))
    body.append('<div id="explain" role="status" aria-live="polite"></div>')
    explanations = {"cells": texts, "nodes": node_texts, "edges": edge_texts}
    page = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; "
        "script-src 'unsafe-inline'; img-src data:\">"
        f"<title>{esc(report['title'])}</title><style>{_CSS}</style></head><body>"
        + "\n".join(body)
        + f'\n<script type="application/json" id="explanations">{_json_script(explanations)}</script>'
        + f"\n<script>{_JS}</script>\n</body></html>\n"
    )
    return page.encode("utf-8")


RENDERERS: dict[str, Callable[[Mapping[str, Any]], bytes]] = {
    "json": render_json,
    "junit": render_junit,
    "markdown": render_markdown,
    "html": render_html,
    "dot": render_dot,
}


# ---------------------------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------------------------


def _read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ReportError(f"report_path: cannot read {path}: {exc.strerror}") from None


def _write_atomically(path: str, data: bytes) -> None:
    """Write to a temporary file next to `path`, then rename it over `path`: readers see the old file
    or the new one, never a part. A new file gets FILE_MODE; an existing one keeps its mode."""
    directory, name = os.path.split(path)
    try:
        mode = os.stat(path).st_mode & 0o7777
    except FileNotFoundError:
        mode = FILE_MODE
    fd, temp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=directory or ".")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, mode)
        os.replace(temp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise ReportError(f"report_path: cannot write {path}: {exc.strerror or exc}") from None


def write_reports(
    plan: list[tuple[str, str]], report: Mapping[str, Any], check_mode: bool = False
) -> list[dict[str, Any]]:
    """Render every format first, then write the files whose content differs (none in check mode)."""
    rendered = [(fmt, path, RENDERERS[fmt](report)) for fmt, path in plan]
    out = []
    for fmt, path, data in rendered:
        changed = _read(path) != data
        if changed and not check_mode:
            _write_atomically(path, data)
        out.append({"format": fmt, "path": path, "changed": changed})
    return out


def run_with_reports(module: Any, name: str, run: Callable[[Any], dict[str, Any]]) -> dict[str, Any]:
    """Check the report options, run the module's work, and write its reports.

    A failure that carries the module's result (``exc.result`` with ``results``, such as probes that
    differ from the expectation) still gets its reports; then the exception goes on. The result's
    ``changed`` is whether a report file changed (or would, in check mode); ``reports`` lists the files.
    """
    try:
        plan = plan_reports(module.params)
    except ReportError as exc:
        module.fail_json(msg=str(exc), changed=False)
        raise  # fail_json exits; only a test double returns
    try:
        result = run(module)
    except Exception as exc:
        partial = getattr(exc, "result", None)
        if plan and isinstance(partial, dict) and partial.get("results") is not None:
            try:
                partial["reports"] = write_reports(plan, build_report(name, partial, module.params), module.check_mode)
                partial["changed"] = any(r["changed"] for r in partial["reports"])
            except ReportError as report_exc:
                module.warn(str(report_exc))
        raise
    if not plan:
        result.setdefault("changed", False)
        return result
    try:
        result["reports"] = write_reports(plan, build_report(name, result, module.params), module.check_mode)
    except ReportError as exc:
        module.fail_json(msg=str(exc), changed=False)
        raise
    result["changed"] = any(r["changed"] for r in result["reports"])
    return result
