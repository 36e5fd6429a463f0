# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""playbooks/demo.yml end to end on the local lab: the Azure double linked to the real lab's Kubernetes
(through the fault proxy, which logs every request), wired as `make lab-up` wires them. Real kube-proxy,
CoreDNS and kube-router decide every probe. Needs root and `make lab-build`; run with -p no:xdist."""

from __future__ import annotations

import json
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration._azure_playbooks import writes
from tests.integration.probe import cluster
from tests.lab import lab_net

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "playbooks" / "demo.yml"
# kube-router programs a new policy in about a second: the probes retry while it does.
FAST = {"netpol_probe_retries": 8, "netpol_probe_delay": 0.5}


@pytest.fixture
def lab(azure_double, kube_lab, tmp_path) -> dict[str, str]:
    """The environment `source .lab/env` gives: the Azure double's kubeconfigs reach the real lab, and the
    cluster it writes switches the lab's enforcement."""
    azure_double.set_kube(kube_lab.link)
    lab_dir = tmp_path / "lab"
    lab_dir.mkdir()
    return {**azure_double.env, **kube_lab.env, "NETPOL_LAB_DIR": str(lab_dir)}


def kube_changes(kube_lab) -> list[dict]:
    """Requests that change the cluster (kubernetes.core's check mode sends server-side dry runs: not changes)."""
    return [r for r in kube_lab.requests() if r["method"] not in ("GET", "HEAD") and "dryRun=All" not in r["query"]]


def _changed(run) -> int:
    return json.loads(run.stdout)["stats"]["localhost"]["changed"]


def test_every_step_tells_the_story_then_deny_runs_on_its_own(ansible_playbook, lab, kube_lab, azure_double):
    full = ansible_playbook(DEMO, env=lab, extra_vars=FAST, json_output=False)
    assert full.rc == 0, full.output
    assert "SIMULATED" in full.output
    observed = re.findall(r"expected (\w+),\s+observed (\w+)", full.stdout)
    # baseline, deny, allow, label - in that order.
    assert observed == [("allowed", "allowed"), ("blocked", "blocked"), ("blocked", "blocked"), ("allowed", "allowed")]
    assert "predicted by the NetworkPolicy engine" in full.stdout
    # The lab's kube-router is none of AKS's engines: the demo says upstream, so nothing is looked for or warned.
    assert "no NetworkPolicy engine found" not in full.output
    # Output a person reads: the tables as text blocks, one summary of the probing steps at the end.
    assert "msg: |-\n        observed ('.' allowed, 'X' blocked):\n" in full.stdout
    label_tables = full.stdout.split("TASK [Label - show the observed and predicted truth tables]")[1].split("TASK [")[
        0
    ]
    assert "\\n" not in label_tables, label_tables  # one table row per line, not a printed backslash-n
    summary = full.stdout.split("TASK [Summary of the steps that probed]")[1]
    rows = re.findall(r"^ +(baseline|deny|allow|label) +(\w+) +(\w+) +(\d+\.\d)$", summary, re.MULTILINE)
    assert [row[:3] for row in rows] == [
        ("baseline", "allowed", "allowed"),
        ("deny", "blocked", "blocked"),
        ("allow", "blocked", "blocked"),
        ("label", "allowed", "allowed"),
    ]
    assert "TASK [netpol.aks.policies : Allow policy (allow.yaml) - remove]" in full.stdout  # the deny step
    # No teardown without --tags teardown, not even an empty play; no page the probes fetched.
    assert re.findall(r"^PLAY \[.*\]", full.stdout, re.MULTILINE) == ["PLAY [Network Policies on AKS, step by step]"]
    assert "Tear the walkthrough down" not in full.stdout
    assert "nginx!" not in full.output
    # The docker bridge warning names the variable the demo's user sets.
    (bridge,) = [line for line in full.output.splitlines() if "dockerBridgeCidr" in line]
    assert "aks_docker_bridge_cidr" in bridge
    assert "match the expectation" in full.stdout
    # kube-router decided: its chains for the namespace's pods are in the node's network namespace.
    rules = lab_net.netns_run(kube_lab.lab.infos["node"]["node_netns"], ["iptables-save", "-t", "filter"]).stdout
    assert "KUBE-POD-FW-" in rules
    # The run ends saying where the label step's HTML report is, next to the lab's directory.
    report = Path(lab["NETPOL_LAB_DIR"]).parent / "netpol-reports" / "label.html"
    assert f"HTML report of the label step: {report}" in summary
    assert report.read_text().startswith("<!DOCTYPE html>")
    # The kube steps used the kubeconfig step 4 fetched from (simulated) AKS, kept under the lab's directory.
    kubeconfig = Path(lab["NETPOL_LAB_DIR"]) / "aks-kubeconfig"
    assert stat.S_IMODE(kubeconfig.stat().st_mode) == 0o600
    put = [r for r in azure_double.arm_requests("PUT") if "managedClusters" in r["path"]]
    profile = put[0]["body"]["properties"]["networkProfile"]
    assert (profile["networkPlugin"], profile["networkPolicy"]) == ("azure", "calico")

    # Check mode on the finished walkthrough runs every step, predicts each step's changes and writes nothing.
    azure_writes = len(writes(azure_double))
    kube_writes = len(kube_changes(kube_lab))
    check = ansible_playbook(DEMO, env=lab, extra_vars=FAST, check=True, diff=True, json_output=False)
    assert check.rc == 0, check.output
    assert "cannot be predicted" not in check.stdout
    assert len(writes(azure_double)) == azure_writes
    assert len(kube_changes(kube_lab)) == kube_writes
    assert cluster.policy_names(kube_lab) == ["api-allow", "api-deny"]

    deny = ansible_playbook(DEMO, env=lab, extra_vars=FAST, tags="deny")
    assert deny.rc == 0, deny.output
    assert cluster.policy_names(kube_lab) == ["api-deny"]
    assert "app" not in cluster.client_labels(kube_lab)
    again = ansible_playbook(DEMO, env=lab, extra_vars=FAST, tags="deny")
    assert again.rc == 0, again.output
    assert _changed(again) == 0, again.output
    assert cluster.probe_pods(kube_lab) == []

    teardown = ansible_playbook(DEMO, env=lab, extra_vars=FAST, tags="teardown")
    assert teardown.rc == 0, teardown.output
    assert cluster.policy_names(kube_lab) == []
    # The roles' tasks ran under --tags teardown: the workload role deleted the namespace.
    assert [
        r
        for r in kube_lab.requests()
        if (r["method"], r["path"]) == ("DELETE", f"/api/v1/namespaces/{cluster.NAMESPACE}")
    ]
    assert azure_double.arm_requests("DELETE")


def test_the_collection_playbook_runs_by_fqcn(ansible_playbook, kube_lab):
    """`ansible-playbook netpol.aks.demo --tags ...` on an existing cluster (kind, or any other)."""
    extra = {**FAST, "netpol_target": "existing"}
    workload = ansible_playbook("netpol.aks.demo", env=kube_lab.env, extra_vars=extra, tags="workload")
    assert workload.rc == 0, workload.output
    deny = ansible_playbook("netpol.aks.demo", env=kube_lab.env, extra_vars=extra, tags="deny")
    assert deny.rc == 0, deny.output
    assert cluster.policy_names(kube_lab) == ["api-deny"]


def test_an_unknown_target_fails_before_anything_runs(ansible_playbook, kube_lab):
    run = ansible_playbook(DEMO, env=kube_lab.env, extra_vars={"netpol_target": "gke"}, tags="workload")
    assert run.rc != 0
    assert "netpol_target must be aks" in run.output
    assert not [r for r in kube_lab.requests() if r["method"] != "GET"]


@pytest.mark.parametrize(
    "playbook",
    [
        "molecule/kind/create.yml",
        "molecule/kind/destroy.yml",
        "molecule/resources/converge.yml",
        "molecule/resources/verify.yml",
        "playbooks/teardown.yml",
    ],
)
def test_the_kind_scenario_and_teardown_pass_syntax_check(playbook):
    run = subprocess.run(
        [str(Path(sys.executable).with_name("ansible-playbook")), "--syntax-check", playbook],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
