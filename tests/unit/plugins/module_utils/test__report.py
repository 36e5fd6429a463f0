# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Reports: the options, the files (atomic, idempotent, check mode), and each format read back by a real
parser (json, xml.etree for JUnit, pydot for DOT). The results come from the modules' own code: the
engine for reachability_info, probe cells for probe_connectivity."""

from __future__ import annotations

import json
import os
import re
import stat
import xml.etree.ElementTree as ET

import pydot
import pytest

from ansible_collections.netpol.aks.plugins.module_utils import _report
from ansible_collections.netpol.aks.plugins.module_utils._probe import Cell
from ansible_collections.netpol.aks.plugins.module_utils._probe import ProbeOutcome
from ansible_collections.netpol.aks.plugins.module_utils._probe import Source
from ansible_collections.netpol.aks.plugins.module_utils._probe import Target
from tests.unit.plugins.module_utils import report_data

# pydot 4 calls pyparsing's old camelCase names, which pyparsing 3.3 deprecates.
pytestmark = pytest.mark.filterwarnings("ignore:'.*' deprecated - use:DeprecationWarning")

# ---------------------------------------------------------------------------------------------
# options
# ---------------------------------------------------------------------------------------------


def test_no_report_path_means_no_report():
    assert _report.plan_reports({}) == []
    assert _report.plan_reports({"report_path": None, "report_format": None}) == []


def test_each_format_adds_its_suffix_to_the_path(tmp_path):
    plan = _report.plan_reports(
        {"report_path": str(tmp_path / "label"), "report_format": ["json", "junit", "markdown", "html", "dot"]}
    )
    assert plan == [
        ("json", str(tmp_path / "label.json")),
        ("junit", str(tmp_path / "label.junit.xml")),
        ("markdown", str(tmp_path / "label.md")),
        ("html", str(tmp_path / "label.html")),
        ("dot", str(tmp_path / "label.dot")),
    ]


def test_a_suffix_names_that_formats_file_and_the_default_format(tmp_path):
    assert _report.plan_reports({"report_path": str(tmp_path / "r.html")}) == [("html", str(tmp_path / "r.html"))]
    assert _report.plan_reports({"report_path": str(tmp_path / "r.junit.xml"), "report_format": ["json", "junit"]}) == [
        ("json", str(tmp_path / "r.json")),
        ("junit", str(tmp_path / "r.junit.xml")),
    ]
    assert _report.plan_reports({"report_path": str(tmp_path / "r")}) == [("json", str(tmp_path / "r.json"))]
    # The same format twice is one file.
    assert _report.plan_reports({"report_path": str(tmp_path / "r"), "report_format": ["dot", "dot"]}) == [
        ("dot", str(tmp_path / "r.dot"))
    ]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"report_format": ["json"]}, "report_format: needs report_path"),
        ({"report_path": "{tmp}/r", "report_format": ["pdf"]}, "report_format: unknown format(s) 'pdf'; use json,"),
        ({"report_path": "{tmp}/r", "report_format": "json"}, "report_format: must be a list of formats"),
        ({"report_path": "{tmp}/r.html", "report_format": ["json"]}, "report_path: {tmp}/r.html ends in .html"),
        ({"report_path": "{tmp}/missing/r"}, "report_path: the directory {tmp}/missing does not exist"),
        ({"report_path": "{tmp}/file/r"}, "report_path: the directory {tmp}/file does not exist"),
        ({"report_path": "{tmp}/"}, "report_path: {tmp} names a directory"),
        ({"report_path": "{tmp}/sub", "report_format": ["json"]}, "report_path: {tmp}/sub.json (json) is a directory"),
        ({"report_path": "  "}, "report_path: must be a file path"),
    ],
)
def test_bad_options_name_the_field(tmp_path, options, message):
    (tmp_path / "file").write_text("x")
    (tmp_path / "sub.json").mkdir()
    options = {k: v.replace("{tmp}", str(tmp_path)) if isinstance(v, str) else v for k, v in options.items()}
    with pytest.raises(_report.ReportError) as err:
        _report.plan_reports(options)
    assert str(err.value).startswith(message.replace("{tmp}", str(tmp_path)))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "sub.json"]  # nothing created


# ---------------------------------------------------------------------------------------------
# files: atomic, written only when they change, nothing in check mode
# ---------------------------------------------------------------------------------------------


def test_files_are_written_once_with_mode_0644_and_not_again_when_equal(tmp_path):
    report = _report.build_report("reachability_info", report_data.walkthrough_result())
    plan = _report.plan_reports({"report_path": str(tmp_path / "r"), "report_format": list(_report.FORMATS)})
    old_umask = os.umask(0o077)
    try:
        first = _report.write_reports(plan, report)
    finally:
        os.umask(old_umask)
    assert [r["changed"] for r in first] == [True] * 5
    for _fmt, path in plan:
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o644
    mtimes = {path: os.stat(path).st_mtime_ns for _fmt, path in plan}
    second = _report.write_reports(plan, report)
    assert [r["changed"] for r in second] == [False] * 5
    assert {path: os.stat(path).st_mtime_ns for _fmt, path in plan} == mtimes
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(os.path.basename(p) for _f, p in plan)


def test_a_changed_result_rewrites_only_what_differs_and_keeps_the_mode(tmp_path):
    plan = _report.plan_reports({"report_path": str(tmp_path / "r"), "report_format": ["json", "html"]})
    _report.write_reports(plan, _report.build_report("reachability_info", report_data.walkthrough_result()))
    os.chmod(tmp_path / "r.json", 0o600)
    blocked = _report.build_report("reachability_info", report_data.walkthrough_result(labelled=False))
    out = _report.write_reports(plan, blocked)
    assert [(r["format"], r["changed"]) for r in out] == [("json", True), ("html", True)]
    assert stat.S_IMODE(os.stat(tmp_path / "r.json").st_mode) == 0o600
    assert json.loads((tmp_path / "r.json").read_text())["summary"]["blocked"] == 1


def test_check_mode_writes_nothing_but_says_what_would_change(tmp_path):
    plan = _report.plan_reports({"report_path": str(tmp_path / "r"), "report_format": ["json", "markdown"]})
    report = _report.build_report("reachability_info", report_data.walkthrough_result())
    out = _report.write_reports(plan, report, check_mode=True)
    assert [r["changed"] for r in out] == [True, True]
    assert list(tmp_path.iterdir()) == []
    _report.write_reports(plan, report)
    assert [r["changed"] for r in _report.write_reports(plan, report, check_mode=True)] == [False, False]


def test_a_write_that_fails_leaves_no_temporary_file(tmp_path, monkeypatch):
    plan = _report.plan_reports({"report_path": str(tmp_path / "r")})

    def refuse(*_args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(_report.os, "replace", refuse)
    with pytest.raises(_report.ReportError, match=r"report_path: cannot write .*r\.json: No space left on device"):
        _report.write_reports(plan, _report.build_report("reachability_info", report_data.walkthrough_result()))
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------------------------
# formats
# ---------------------------------------------------------------------------------------------


def test_json_round_trips_with_every_pair_as_the_engine_decides():
    inputs = report_data.xyz_inputs()
    report = _report.build_report("reachability_info", report_data.reachability(**inputs))
    data = _report.render_json(report)
    assert json.loads(data) == report
    assert report["schema"] == "netpol.aks/report/v1"
    oracle = report_data.pod_verdicts(inputs)
    cells = {(c["source"], c["target"], f"{c['port']}/{c['protocol']}"): c for c in report["cells"]}
    assert len(cells) == len(report["cells"]) == len(oracle) == 9 * 8 * 2
    for key, decision in oracle.items():
        assert cells[key]["expected"] == ("allowed" if decision.allowed else "blocked"), key
        assert cells[key]["explanation"] == decision.reason
        assert cells[key]["observed"] is None
    assert report["summary"]["allowed"] == sum(d.allowed for d in oracle.values()) == 108
    assert report["summary"]["pairs"] == 144
    # No time stamp: the same result renders the same bytes.
    assert _report.render_json(_report.build_report("reachability_info", report_data.xyz_result())) == data


def test_junit_has_one_case_per_cell_and_a_failure_per_difference():
    result = report_data.probe_result()
    report = _report.build_report("probe_connectivity", result, {"expect": "predicted"})
    root = ET.fromstring(_report.render_junit(report))
    suite = root.find("testsuite")
    cases = suite.findall("testcase")
    assert len(cases) == len(result["results"]) == int(suite.get("tests")) == int(root.get("tests"))
    differing = [r for r in result["results"] if r.get("expected") and r["result"] != r["expected"]]
    failures = [c for c in cases if c.find("failure") is not None]
    assert len(failures) == len(differing) == int(suite.get("failures")) == 2
    errors = [c for c in cases if c.find("error") is not None]
    assert len(errors) == int(suite.get("errors")) == 1
    assert int(suite.get("skipped")) == 0
    names = [c.get("name") for c in cases]
    assert "netpol-demo/test-np -> service netpol-demo/api:80/http" in names
    failure = next(c for c in failures if c.get("name").startswith("netpol-demo/[app=other]"))
    assert failure.find("failure").get("message") == "expected blocked, observed allowed"
    assert failure.find("failure").text == "<html>Welcome to nginx!</html>"
    assert "is blocked: ingress to netpol-demo/api is denied" in failure.find("system-out").text


def test_junit_skips_what_check_mode_did_not_run_and_strips_control_characters():
    result = report_data.probe_result(check_mode=True)
    result["results"][0]["output"] = "bell\x07 and escape\x1b[0m"
    root = ET.fromstring(_report.render_junit(_report.build_report("probe_connectivity", result, {})))
    suite = root.find("testsuite")
    not_run = [r for r in result["results"] if r["result"] is None]
    assert len(not_run) == 3
    assert int(suite.get("skipped")) == len(suite.findall("testcase/skipped")) == len(not_run)
    assert int(suite.get("failures")) == 0


def test_markdown_has_the_tables_and_the_differences():
    result = report_data.probe_result()
    text = _report.render_markdown(_report.build_report("probe_connectivity", result, {"expect": "predicted"})).decode()
    assert "## Observed" in text
    assert "## Predicted by the policies" in text
    assert "## Difference (observed against expected)" in text
    assert re.search(r"^\| netpol-demo/test-np \| `\.` \|", text, re.M)
    differences = text.split("## Differences")[1]
    assert differences.count("\n- ") == 2
    assert "`netpol-demo/[app=other] -> service netpol-demo/api:80/http`: expected blocked, observed allowed" in text


def test_dot_parses_with_pydot_with_one_edge_per_allowed_pair_and_the_missing_ones_dashed():
    result = report_data.probe_result()
    report = _report.build_report("probe_connectivity", result, {"expect": "predicted"})
    (graph,) = pydot.graph_from_dot_data(_report.render_dot(report).decode())
    edges = graph.get_edges()
    allowed = {(r["from"], "service netpol-demo/api") for r in result["results"] if r["result"] == "allowed"}
    drawn = {(e.get_source().strip('"'), e.get_destination().strip('"')) for e in edges if e.get("style") == "solid"}
    assert drawn == allowed
    dashed = [e for e in edges if e.get("style") == "dashed"]
    assert [(e.get_source().strip('"'), e.get("class").strip('"')) for e in dashed] == [
        ("netpol-demo/[app=api,tier=web]", "missing")
    ]
    assert [s.get_label().strip('"') for s in graph.get_subgraphs()] == ["netpol-demo"]


def report_classes(report):
    """Pod -> the class the report draws it in."""
    return {m: e["class"] for e in report["endpoints"] for m in (e.get("members") or [e["id"]])}


def test_a_large_cluster_draws_classes_not_pods():
    inputs = report_data.large_inputs(500)
    report = _report.build_report("reachability_info", report_data.large_result(500))
    assert report["summary"]["pairs"] == 500 * 499
    assert len(report["classes"]) < _report.DETAIL_LIMIT
    group = report_classes(report)
    assert len(group) == 500
    # Pods the engine cannot tell apart (same namespace and labels) are never split ...
    engine: dict[tuple, set[str]] = {}
    for pod, key in report_data.engine_classes(500).items():
        engine.setdefault(key, set()).add(group[pod])
    assert all(len(classes) == 1 for classes in engine.values())
    # ... and every pair between two classes has the same verdict, so a class edge means what a pod edge would.
    verdicts: dict[tuple[str, str], set[bool]] = {}
    for (src, dst), allowed in report_data.class_verdicts(inputs).items():
        verdicts.setdefault((group[src], group[dst]), set()).add(allowed)
    assert all(len(v) == 1 for v in verdicts.values())
    # One edge per class pair with an allowed pod pair, from the engine.
    allowed = {pair for pair, v in verdicts.items() if v == {True}}
    assert 0 < len(allowed) < len(verdicts)
    assert {(e["from"], e["to"]) for e in report["edges"]} == allowed
    assert report["summary"]["allowed"] == sum(report_data.class_verdicts(inputs).values())
    page = _report.render_html(report)
    assert len(page) < 1_000_000
    (graph,) = pydot.graph_from_dot_data(_report.render_dot(report).decode())
    assert len(graph.get_edges()) == len(allowed)


def test_html_is_self_contained():
    page = _report.render_html(
        _report.build_report("probe_connectivity", report_data.probe_result(), {"expect": "predicted"})
    ).decode()
    assert not re.search(r"""\s(src|href)\s*=""", page)
    assert "@import" not in page
    urls = re.findall(r"url\(([^)]*)\)", page)
    assert urls
    assert all(u.startswith("#arrow-") for u in urls)
    assert "default-src 'none'" in page


def test_html_keeps_markup_from_results_as_text():
    result = report_data.probe_result()
    result["results"][0]["output"] = "</script><script>alert(1)</script>"
    page = _report.render_html(_report.build_report("probe_connectivity", result, {})).decode()
    assert "<script>alert(1)" not in page
    assert page.count("<script") == 2


# ---------------------------------------------------------------------------------------------
# the modules' one call
# ---------------------------------------------------------------------------------------------


class FakeModule:
    def __init__(self, params, check_mode=False):
        self.params = params
        self.check_mode = check_mode
        self.failed = None
        self.warnings = []

    def fail_json(self, **kwargs):
        self.failed = kwargs
        raise SystemExit(1)

    def warn(self, text):
        self.warnings.append(text)


def test_a_bad_option_fails_before_the_module_runs(tmp_path):
    module = FakeModule({"report_path": str(tmp_path / "nope" / "r")})
    ran = []
    with pytest.raises(SystemExit):
        _report.run_with_reports(module, "reachability_info", lambda m: ran.append(m) or {})
    assert ran == []
    assert module.failed["msg"].startswith(f"report_path: the directory {tmp_path}/nope does not exist")


def test_changed_follows_the_files_and_a_failure_with_results_still_writes(tmp_path):
    params = {"report_path": str(tmp_path / "r"), "report_format": ["junit"]}
    out = _report.run_with_reports(FakeModule(params), "reachability_info", lambda m: report_data.walkthrough_result())
    assert out["changed"] is True
    assert out["reports"] == [{"format": "junit", "path": str(tmp_path / "r.junit.xml"), "changed": True}]
    again = _report.run_with_reports(
        FakeModule(params), "reachability_info", lambda m: report_data.walkthrough_result()
    )
    assert again["changed"] is False
    assert _report.run_with_reports(FakeModule({}), "reachability_info", lambda m: {"results": []})["changed"] is False

    class Failure(Exception):
        def __init__(self, result):
            super().__init__("2 probes differ")
            self.result = result

    def fail(_module):
        raise Failure(report_data.probe_result())

    params = {"report_path": str(tmp_path / "p"), "report_format": ["junit"], "expect": "predicted"}
    with pytest.raises(Failure) as err:
        _report.run_with_reports(FakeModule(params), "probe_connectivity", fail)
    assert err.value.result["changed"] is True
    root = ET.parse(tmp_path / "p.junit.xml").getroot()
    assert root.get("failures") == "2"


def test_probe_cells_keep_the_probe_modules_result_shape():
    """The report reads the probe module's results as Cell.as_result() makes them."""
    cell = Cell(Source("ns", pod="a"), Target("pod", "b", "ns"), 8080, "tcp", expected="allowed")
    cell.record(0.0, ProbeOutcome("blocked", 1, "nc: timeout"), 1.0)
    report = _report.build_report("probe_connectivity", {"results": [cell.as_result()]}, {"expect": "allowed"})
    assert report["cells"][0] | {"explanation": ""} == {
        "source": "ns/a",
        "target": "ns/b",
        "target_label": "pod ns/b",
        "port": 8080,
        "protocol": "tcp",
        "name": "ns/a -> pod ns/b:8080/tcp",
        "observed": "blocked",
        "expected": "allowed",
        "match": False,
        "explanation": "",
        "output": "nc: timeout",
        "pairs": 1,
    }
    assert report["edges"] == [{"from": "ns/a", "to": "ns/b", "state": "missing", "ports": ["8080/tcp"]}]


# reachability_info's compact result: classes with their pods, one row of verdicts per class and port.
CLASS_MATRIX_RESULT = {
    "results": [],
    "matrix": {
        "80/TCP": {
            "port": 80,
            "protocol": "TCP",
            "sources": ["default/class-1", "default/class-2", "10.9.0.1"],
            "targets": ["default/class-1"],
            "rows": [".", "X", "."],
        }
    },
    "classes": [
        {
            "name": "default/class-1",
            "namespace": "default",
            "labels": {"app": "api"},
            "pods": ["default/api", "default/api2"],
        },
        {"name": "default/class-2", "namespace": "default", "labels": {"run": "x"}, "pods": ["default/test-np"]},
    ],
}


def test_a_class_matrix_is_drawn_pod_by_pod_when_small():
    report = _report.build_report("reachability_info", CLASS_MATRIX_RESULT)
    cells = [(c["source"], c["target"], c["expected"]) for c in report["cells"]]
    assert cells == [
        ("default/api", "default/api2", "allowed"),
        ("default/api2", "default/api", "allowed"),
        ("default/test-np", "default/api", "blocked"),
        ("default/test-np", "default/api2", "blocked"),
        ("10.9.0.1", "default/api", "allowed"),
        ("10.9.0.1", "default/api2", "allowed"),
    ]
    assert report["cells"][2]["explanation"].startswith("the policies block it (reachability_info names the rule")
    kinds = {e["id"]: e["kind"] for e in report["endpoints"]}
    assert kinds == {"default/api": "pod", "default/api2": "pod", "default/test-np": "pod", "10.9.0.1": "ip"}


def test_a_class_matrix_takes_the_explanations_the_result_lists():
    result = json.loads(json.dumps(CLASS_MATRIX_RESULT))
    result["results"] = [
        {"from": "default/class-2", "to": "default/class-1", "port": 80, "protocol": "TCP", "allowed": False,
         "reason": "default/class-2 -> default/class-1 on 80/TCP is blocked: ingress to default/class-1 is denied"},
    ]  # fmt: skip
    report = _report.build_report("reachability_info", result)
    blocked = [c for c in report["cells"] if c["expected"] == "blocked"]
    assert [c["explanation"] for c in blocked] == [result["results"][0]["reason"]] * 2


def test_a_large_class_matrix_is_drawn_class_by_class():
    result = json.loads(json.dumps(CLASS_MATRIX_RESULT))
    result["classes"][0]["pods"] = [f"default/api-{i}" for i in range(60)]
    report = _report.build_report("reachability_info", result)
    assert [(c["source"], c["target"], c["expected"]) for c in report["cells"]] == [
        ("default/class-1", "default/class-1", "allowed"),
        ("default/test-np", "default/class-1", "blocked"),
        ("10.9.0.1", "default/class-1", "allowed"),
    ]
    api = next(e for e in report["endpoints"] if e["id"] == "default/class-1")
    assert (api["kind"], api["label"], len(api["members"])) == ("class", "app=api", 60)
    assert {(e["from"], e["to"]) for e in report["edges"]} == {
        ("default/class-1", "default/class-1"),
        ("10.9.0.1", "default/class-1"),
    }


def test_probe_pod_names_in_reasons_become_their_sources_names():
    """Probe pods are named after the run; the report names their sources, so two runs write the same bytes."""
    result = report_data.probe_result()
    result["run_id"] = "abc123"
    key = "netpol-demo/api:80"
    result["predicted_reasons"]["netpol-demo/test-np"][key] = (
        "test-np -> netpol-demo/netpol-probe-abc123-1 blocked; netpol-demo/netpol-probe-abc123-7 unknown; "
        "netpol-demo/netpol-probe-ffffff-1 another run"
    )
    report = _report.build_report("probe_connectivity", result, {"expect": "predicted"})
    assert report["cells"][0]["explanation"] == (
        "test-np -> netpol-demo/[app=api,tier=web] blocked; netpol-demo/netpol-probe-7 unknown; "
        "netpol-demo/netpol-probe-ffffff-1 another run"
    )
