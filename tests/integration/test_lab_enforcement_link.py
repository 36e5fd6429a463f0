# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The local lab follows the simulated AKS cluster: a cluster created or updated with
``networkPolicy: none`` does not enforce NetworkPolicy, ``azure``/``calico``/``cilium`` do
(tests/fakes/azure/kube_link.py, wired by tests/lab/local_lab.py as here). On the real lab: the switch starts
or stops kube-router, and the probes see real packets (tests/integration/lab/test_local_lab.py tests the
switch itself). Needs root and `make lab-build`."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fakes.azure import kube_link
from tests.fakes.azure.server import ArmError
from tests.lab.control_plane import free_port

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "playbooks" / "demo.yml"
# kube-router programs a new policy in about a second: the probes retry while it does.
FAST = {"netpol_probe_retries": 8, "netpol_probe_delay": 0.5}
NOT_ENFORCING = "this cluster does not enforce NetworkPolicy"


@pytest.fixture
def linked_lab(azure_double, kube_lab, tmp_path) -> dict[str, str]:
    """The Azure double linked to the real lab as `make lab-up` links them: kubeconfigs and the enforcement switch."""
    assert "enforcement" in kube_lab.link
    azure_double.set_kube(kube_lab.link)
    lab_dir = tmp_path / "lab"
    lab_dir.mkdir()
    return {**azure_double.env, **kube_lab.env, "NETPOL_LAB_DIR": str(lab_dir)}


def test_a_cluster_without_a_policy_engine_makes_the_deny_step_fail_as_not_enforcing(
    ansible_playbook, linked_lab, kube_lab
):
    run = ansible_playbook(
        DEMO, env=linked_lab, extra_vars={**FAST, "aks_network_policy": "none"}, tags="all", json_output=False
    )
    assert run.rc != 0, run.output
    assert kube_lab.config()["enforcement"] == "none"
    assert NOT_ENFORCING in run.stdout, run.output
    assert "expected blocked, observed allowed" in run.stdout


def test_a_cluster_with_a_policy_engine_enforces(ansible_playbook, linked_lab, kube_lab):
    kube_lab.config(enforcement="none")  # a lab that an earlier cluster without an engine left so
    run = ansible_playbook(
        DEMO,
        env=linked_lab,
        extra_vars={**FAST, "aks_network_policy": "azure"},
        tags="feature,network,cluster,credentials,workload,deny",
        json_output=False,
    )
    assert run.rc == 0, run.output
    assert kube_lab.config()["enforcement"] == "full"
    assert "expected blocked, observed blocked" in run.stdout


def test_without_a_link_nothing_is_switched(kube_lab):
    kube_lab.config(enforcement="none")
    kube_link.follow_network_policy({"url": kube_lab.url}, {"properties": {"networkProfile": {}}})
    kube_link.follow_network_policy(None, {"properties": {"networkProfile": {"networkPolicy": "calico"}}})
    assert kube_lab.config()["enforcement"] == "none"


def test_a_lab_that_cannot_switch_fails_the_cluster_write_clearly():
    link = {"enforcement": {"url": f"http://127.0.0.1:{free_port()}/_fake/config"}}
    with pytest.raises(ArmError) as caught:
        kube_link.follow_network_policy(link, {"properties": {"networkProfile": {"networkPolicy": "azure"}}})
    assert caught.value.status == 500
    assert "could not switch NetworkPolicy enforcement to networkPolicy 'azure'" in str(caught.value.message)


def test_the_label_step_on_a_cluster_without_a_policy_engine_explains_instead_of_dumping_the_probes(
    ansible_playbook, linked_lab, kube_lab
):
    """`--tags label` where NetworkPolicy is not enforced: the unlabelled client gets through; the step
    shows the one-line summary and the tables, then fails in the explanation, not in the probe task."""
    extra = {**FAST, "aks_network_policy": "none"}
    setup = ansible_playbook(
        DEMO, env=linked_lab, extra_vars=extra, tags="feature,network,cluster,credentials,workload"
    )
    assert setup.rc == 0, setup.output
    run = ansible_playbook(DEMO, env=linked_lab, extra_vars=extra, tags="label", json_output=False)
    assert run.rc != 0, run.output
    assert "nginx" not in run.output
    failed = [line for line in run.stdout.splitlines() if line.startswith(("fatal:", "failed:"))]
    assert len(failed) == 1, run.stdout
    explanation = run.stdout.split("TASK [Label - explain the failure]")[1]
    assert "fatal: [localhost]" in explanation, explanation
    assert NOT_ENFORCING in explanation, explanation
    assert "without the label app=api" in explanation, explanation
    assert "netpol-unlabelled-client" in explanation  # the pair that got through the policy
    verdict = run.stdout.split("TASK [Label - show the verdict]")[1].split("TASK [")[0]
    assert "does not appear to enforce NetworkPolicy" in verdict, verdict
    tables = run.stdout.split("TASK [Label - show the observed and predicted truth tables]")[1].split("TASK [")[0]
    assert "predicted by the NetworkPolicy engine" in tables, tables
