# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""reachability_info's reports through the real ansible-playbook: check, write, check again, write again
(no change), and a bad path that fails naming the option before anything is written."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

from tests.integration.test_reachability_info import DENY
from tests.integration.test_reachability_info import OFFLINE_TASK
from tests.integration.test_reachability_info import write_playbook

FORMATS = ["json", "junit", "markdown", "html", "dot"]
FILES = ["walk.dot", "walk.html", "walk.json", "walk.junit.xml", "walk.md"]


def report_task(path):
    task = json.loads(json.dumps(OFFLINE_TASK))
    task["netpol.aks.reachability_info"].update(report_path=str(path), report_format=FORMATS)
    return task


def test_reports_check_write_and_idempotent(tmp_path, ansible_playbook):
    out = tmp_path / "out"
    out.mkdir()
    playbook = write_playbook(tmp_path, [report_task(out / "walk")])

    check = ansible_playbook(playbook, extra_vars={"policies": [DENY]}, check=True)
    assert check.rc == 0, check.output
    result = check.result("Predict")
    assert result["changed"] is True
    assert [(r["format"], r["changed"]) for r in result["reports"]] == [(f, True) for f in FORMATS]
    assert list(out.iterdir()) == []

    write = ansible_playbook(playbook, extra_vars={"policies": [DENY]})
    assert write.rc == 0, write.output
    assert write.result("Predict")["changed"] is True
    assert sorted(p.name for p in out.iterdir()) == FILES
    report = json.loads((out / "walk.json").read_text())
    assert [(c["source"], c["target"], c["expected"]) for c in report["cells"]] == [
        ("default/test-np", "default/api", "blocked")
    ]
    suite = ET.parse(out / "walk.junit.xml").getroot().find("testsuite")
    assert [c.get("name") for c in suite.findall("testcase")] == ["default/test-np -> default/api:80/TCP"]
    assert "selected by default/backend-policy" in suite.find("testcase/system-out").text

    for step in ("check", "write"):
        again = ansible_playbook(playbook, extra_vars={"policies": [DENY]}, check=step == "check")
        assert again.rc == 0, again.output
        assert again.result("Predict")["changed"] is False, step
        assert not any(r["changed"] for r in again.result("Predict")["reports"])

    # Another result: the files change.
    allow = ansible_playbook(playbook, extra_vars={"policies": []})
    assert allow.result("Predict")["changed"] is True
    assert json.loads((out / "walk.json").read_text())["cells"][0]["expected"] == "allowed"


def test_a_bad_report_path_fails_naming_it_and_writes_nothing(tmp_path, ansible_playbook):
    playbook = write_playbook(tmp_path, [report_task(tmp_path / "missing" / "walk")])
    run = ansible_playbook(playbook, extra_vars={"policies": [DENY]})
    assert run.rc != 0
    result = run.result("Predict")
    assert result["msg"].startswith(f"report_path: the directory {tmp_path / 'missing'} does not exist")
    assert "results" not in result
    assert not (tmp_path / "missing").exists()


def test_an_unknown_format_fails_naming_report_format(tmp_path, ansible_playbook):
    task = report_task(tmp_path / "walk")
    task["netpol.aks.reachability_info"]["report_format"] = ["pdf"]
    run = ansible_playbook(write_playbook(tmp_path, [task]), extra_vars={"policies": [DENY]})
    assert run.rc != 0
    assert "report_format" in run.result("Predict")["msg"]
    assert "pdf" in run.result("Predict")["msg"]
