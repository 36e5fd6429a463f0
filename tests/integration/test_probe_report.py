# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""probe_connectivity's reports through ansible-playbook against the real lab (`kube_lab`): the files say what
the probes observed, a failed comparison still writes its JUnit failures, check mode writes nothing, and
an identical second run changes no file."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import yaml

from tests.integration.probe import cluster

FORMATS = ["json", "junit", "markdown", "html", "dot"]
MATRIX = {
    "namespace": cluster.NAMESPACE,
    "sources": [{"pod": "test-np"}, {"labels": {"app": "api"}}, {"labels": {"app": "api"}, "namespace": "default"}],
    "targets": ["api"],
    "port": 80,
    "expect": "predicted",
    "report_format": FORMATS,
    # kube-router takes about a second to program the new probe pods.
    "retries": 10,
    "delay": 0.5,
}


def run_probe(ansible_playbook, kube_lab, tmp_path, check=False, **args):
    playbook = tmp_path / "probe-report.yml"
    task = {"name": "Probe", "netpol.aks.probe_connectivity": args}
    play = {"name": "Probe with reports", "hosts": "localhost", "gather_facts": False, "tasks": [task]}
    playbook.write_text(yaml.safe_dump([play], sort_keys=False))
    run = ansible_playbook(playbook, env=kube_lab.env, check=check)
    return run.result("Probe"), run


def test_reports_say_what_the_probes_observed_and_a_second_run_changes_nothing(kube_lab, ansible_playbook, tmp_path):
    cluster.seed(kube_lab, policies=("deny", "allow"))
    out = tmp_path / "out"
    out.mkdir()
    args = {**MATRIX, "report_path": str(out / "label")}

    check, run = run_probe(ansible_playbook, kube_lab, tmp_path, check=True, **args)
    assert run.rc == 0, run.output
    assert check["changed"] is True
    assert list(out.iterdir()) == []

    result, run = run_probe(ansible_playbook, kube_lab, tmp_path, **args)
    assert run.rc == 0, run.output
    assert result["verdict"] == "match"
    assert result["changed"] is True
    assert sorted(r["path"] for r in result["reports"]) == sorted(
        str(out / f"label{suffix}") for suffix in (".json", ".junit.xml", ".md", ".html", ".dot")
    )
    report = json.loads((out / "label.json").read_text())
    assert [(c["source"], c["observed"], c["expected"]) for c in report["cells"]] == [
        (r["from"], r["result"], r["expected"]) for r in result["results"]
    ]
    assert report["expected_from"] == "policies"
    # The engine's reasons name this run's probe pods; the report names their sources (stable across runs).
    probe_pod = f"netpol-probe-{result['run_id']}-1"
    reason = result["predicted_reasons"]["netpol-demo/[app=api]"]["netpol-demo/api:80"]
    assert probe_pod in reason
    allowed = next(c for c in report["cells"] if c["source"] == "netpol-demo/[app=api]")
    assert allowed["explanation"] == reason.replace(probe_pod, "[app=api]")
    assert not [c for c in report["cells"] if "netpol-probe-" in c["explanation"]]
    suite = ET.parse(out / "label.junit.xml").getroot().find("testsuite")
    assert int(suite.get("tests")) == len(suite.findall("testcase")) == len(result["results"]) == 3
    assert int(suite.get("failures")) == 0
    assert "netpol-demo/test-np -> service netpol-demo/api:80/http" in [c.get("name") for c in suite]

    again, run = run_probe(ansible_playbook, kube_lab, tmp_path, **args)
    assert run.rc == 0, run.output
    assert again["changed"] is False
    assert [r["changed"] for r in again["reports"]] == [False] * 5


def test_a_cluster_that_does_not_enforce_still_gets_its_junit_failures(kube_lab, ansible_playbook, tmp_path):
    cluster.seed(kube_lab, policies=("deny", "allow"))
    kube_lab.config(enforcement="none")
    # Nothing enforces: no programming to wait for, and the differences stay whatever the retries.
    args = {
        **MATRIX,
        "report_path": str(tmp_path / "label.junit.xml"),
        "report_format": ["junit", "html"],
        "retries": 2,
    }
    result, run = run_probe(ansible_playbook, kube_lab, tmp_path, **args)
    assert run.rc != 0
    assert result["verdict"] == "not_enforcing", (
        result.get("verdict_msg"),
        [(r["from"], r["result"], r.get("history"), r["output"]) for r in result["results"]],
    )
    suite = ET.parse(tmp_path / "label.junit.xml").getroot().find("testsuite")
    failures = [c for c in suite.findall("testcase") if c.find("failure") is not None]
    assert [c.get("name").split(" -> ")[0] for c in failures] == [d["from"] for d in result["differences"]]
    assert int(suite.get("failures")) == len(failures) == 1
    (failure,) = failures
    assert failure.find("failure").get("message") == "expected blocked, observed allowed"
    assert failure.find("failure").text == result["differences"][0]["output"]
    assert (tmp_path / "label.html").exists()
    assert cluster.probe_pods(kube_lab) == []


def test_a_bad_report_path_fails_before_any_probe_pod_is_made(kube_lab, ansible_playbook, tmp_path):
    cluster.seed(kube_lab)
    writes = len(cluster.writes(kube_lab))
    args = {**MATRIX, "report_path": str(tmp_path / "nowhere" / "label")}
    result, run = run_probe(ansible_playbook, kube_lab, tmp_path, **args)
    assert run.rc != 0
    assert result["msg"].startswith(f"report_path: the directory {tmp_path / 'nowhere'} does not exist")
    assert cluster.writes(kube_lab)[writes:] == []
