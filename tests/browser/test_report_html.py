# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The HTML report in a real browser: Debian's chromium (scripts/install-browser.sh), driven by Playwright.

Each page is opened from a file with every network request watched: it loads with no console error and
asks for nothing but itself; its matrices have one cell per result, coloured by that result; its graph
has one edge per class pair with an allowed connection, and the blocked-but-expected ones marked; hovering
or clicking a cell shows its explanation. A screenshot of each page is kept in the artefact directory.
"""

from __future__ import annotations

import pytest

from ansible_collections.netpol.aks.plugins.module_utils import _report
from tests.unit.plugins.module_utils import report_data

# One browser at a time on a two-core machine: every test of this file on the same xdist worker.
pytestmark = pytest.mark.xdist_group("browser")


def rgb(colour: str) -> str:
    return f"rgb({int(colour[1:3], 16)}, {int(colour[3:5], 16)}, {int(colour[5:7], 16)})"


READ_CELLS = """() => Array.from(document.querySelectorAll('table.m')).map(table => ({
  view: table.dataset.view,
  columns: Array.from(table.querySelectorAll('thead th')).slice(1).map(th => th.textContent),
  cells: Array.from(table.querySelectorAll('tbody tr')).flatMap(tr => {
    const row = tr.querySelector('th').textContent;
    return Array.from(tr.querySelectorAll('td')).map((td, j) => ({
      row: row, column: j, state: td.dataset.state || null, pairs: +(td.dataset.pairs || 0),
      background: getComputedStyle(td).backgroundColor, text: td.textContent}));
  })
}))"""

READ_EDGES = """() => Array.from(document.querySelectorAll('#graph g.edge')).map(p => ({
  from: p.dataset.from, to: p.dataset.to, cls: p.getAttribute('class'),
  visible: p.getBoundingClientRect().width + p.getBoundingClientRect().height > 0}))"""


def probe_page_expectations(result):
    """Per view: {(source, "target:port/protocol"): state}, from the probe module's results."""
    views = {"observed": {}, "expected": {}, "difference": {}}
    for r in result["results"]:
        key = (r["from"], f"{r['to']}:{r['port']}/{r['protocol']}")
        views["observed"][key] = r["result"] or "not_run"
        if r.get("expected"):
            views["expected"][key] = r["expected"]
            if r["result"]:
                views["difference"][key] = "match" if r["result"] == r["expected"] else "differs"
    return views


def check_matrices(matrices, views):
    assert [m["view"] for m in matrices] == list(views)
    for matrix in matrices:
        expected = views[matrix["view"]]
        drawn = {}
        for cell in matrix["cells"]:
            if cell["state"] is None:
                assert cell["text"] == "-"
                continue
            drawn[(cell["row"], matrix["columns"][cell["column"]])] = cell["state"]
            assert cell["background"] == rgb(_report.COLOURS[cell["state"]]), cell
        # One cell per result (those with nothing in this view are drawn as unknown).
        assert {k: v for k, v in drawn.items() if v != "unknown"} == expected, matrix["view"]
        assert len(drawn) == len(views.get("observed") or views["expected"])


def test_probe_report_in_chromium(open_report):
    result = report_data.probe_result()
    page, problems = open_report("probe_connectivity", result, {"expect": "predicted"}, "probe.png")
    assert problems == []
    views = probe_page_expectations(result)
    check_matrices(page.evaluate(READ_CELLS), views)

    edges = page.evaluate(READ_EDGES)
    allowed = {
        (r["from"], f"service {r['target']['namespace']}/api") for r in result["results"] if r["result"] == "allowed"
    }
    assert {(e["from"], e["to"]) for e in edges if "missing" not in e["cls"]} == allowed
    assert len([e for e in edges if "missing" not in e["cls"]]) == len(allowed)
    # Blocked although the policies let it through: marked, not drawn as allowed.
    assert [(e["from"], e["cls"]) for e in edges if "missing" in e["cls"]] == [
        ("netpol-demo/[app=api,tier=web]", "edge missing")
    ]
    # Allowed although the policies block it: drawn, in the warning colour.
    assert [e["from"] for e in edges if "unexpected" in e["cls"]] == ["netpol-demo/[app=other]"]
    assert all(e["visible"] for e in edges)

    # Hover: the cell's explanation (the rule that decided) shows; moving away hides it.
    explain = page.locator("#explain")
    assert not explain.is_visible()
    row = page.locator("#matrix-observed tbody tr", has_text="[app=other]")
    row.locator("td").first.hover()
    assert explain.is_visible()
    reason = result["predicted_reasons"]["netpol-demo/[app=other]"]["netpol-demo/api:80"]
    assert reason in explain.inner_text()
    assert "observed: allowed (expected blocked)" in explain.inner_text()
    page.locator("h1").hover()
    assert not explain.is_visible()
    # Click pins it; hovering elsewhere does not replace it; Escape closes it.
    page.locator("#matrix-difference tbody tr", has_text="tier=web").locator("td").first.click()
    pinned = explain.inner_text()
    assert "observed blocked, expected allowed: differs" in pinned
    assert "wget: download timed out" in pinned
    page.locator("#matrix-observed tbody tr", has_text="test-np").locator("td").first.hover()
    assert explain.inner_text() == pinned
    page.keyboard.press("Escape")
    assert not explain.is_visible()
    # An edge explains itself too.
    # (a person points at the line, not at the middle of the box around the curve)
    page.locator("#graph").scroll_into_view_if_needed()
    point = page.evaluate(
        """() => { const p = document.querySelector('#graph g.edge.missing path.line');
        const m = p.getPointAtLength(p.getTotalLength() / 2).matrixTransform(p.getScreenCTM());
        return {x: m.x, y: m.y}; }"""
    )
    page.mouse.move(point["x"], point["y"])
    assert explain.is_visible()
    assert "blocked, although expected allowed on 80/http" in explain.inner_text()


def test_ten_pods_are_drawn_one_by_one(open_report):
    inputs = report_data.xyz_inputs()  # nine pods, two ports
    page, problems = open_report("reachability_info", report_data.reachability(**inputs), {}, "xyz.png")
    assert problems == []
    oracle = report_data.pod_verdicts(inputs)
    expected = {(src, f"{dst}:{key}"): "allowed" if d.allowed else "blocked" for (src, dst, key), d in oracle.items()}
    check_matrices(page.evaluate(READ_CELLS), {"expected": expected})
    nodes = page.locator("#graph g.node")
    assert nodes.count() == 9
    edges = page.evaluate(READ_EDGES)
    allowed = {(src, dst) for (src, dst, _key), d in oracle.items() if d.allowed}
    assert len(edges) == len(allowed) == 9 * 8 - 6 * 3
    assert {(e["from"], e["to"]) for e in edges} == allowed
    assert page.locator("#graph g.ns").count() == 3
    cell = page.locator("#matrix-expected tbody tr", has_text="y/a").locator("td").first
    cell.hover()
    assert "is denied by default: it is selected by x/deny" in page.locator("#explain").inner_text()


def test_five_hundred_pods_are_drawn_as_classes(open_report):
    inputs = report_data.large_inputs(500)
    result = report_data.large_result(500)
    page, problems = open_report("reachability_info", result, {}, "large.png")
    assert problems == []
    report = _report.build_report("reachability_info", result)
    group = {m: e["class"] for e in report["endpoints"] for m in (e.get("members") or [e["id"]])}
    classes = {c["name"]: c for c in report["classes"]}
    assert page.locator("#graph g.node").count() == len(classes) < 40
    verdicts: dict[tuple[str, str], set[bool]] = {}
    for (src, dst), allowed in report_data.class_verdicts(inputs).items():
        verdicts.setdefault((group[src], group[dst]), set()).add(allowed)
    [matrix] = page.evaluate(READ_CELLS)
    drawn = [c for c in matrix["cells"] if c["state"]]
    assert len(drawn) == len(verdicts)
    assert sum(c["pairs"] for c in drawn) == 500 * 499
    for cell in drawn:
        column = matrix["columns"][cell["column"]].rsplit(":", 1)[0]
        (verdict,) = verdicts[(cell["row"], column)]
        assert cell["state"] == ("allowed" if verdict else "blocked")
        assert cell["background"] == rgb(_report.COLOURS[cell["state"]])
    edges = page.evaluate(READ_EDGES)
    assert {(e["from"], e["to"]) for e in edges} == {pair for pair, v in verdicts.items() if v == {True}}
    assert len(edges) == len({pair for pair, v in verdicts.items() if v == {True}})
    # A class node lists its pods.
    pods = {}
    for pod, name in group.items():
        pods.setdefault(name, []).append(pod)
    big = max(pods, key=lambda name: len(pods[name]))
    page.locator(f'#graph g.node[data-class="{big}"]').hover()
    text = page.locator("#explain").inner_text()
    assert f"{len(pods[big])} members" in text
    assert sorted(text.splitlines()[1:]) == sorted(pods[big])
