# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The engine options through ansible-playbook against the real lab: a bad engine_version or
cilium_version is refused, naming the option, before the cluster is read; engine=auto offline is an
error; an explicit auto that cannot read the engine's DaemonSets fails before any probe pod exists,
while the default warns and predicts with upstream."""

from __future__ import annotations

import pytest

from tests.integration.probe import cluster
from tests.integration.test_reachability_info import write_playbook

OFFLINE = {
    "namespaces": [{"name": "default"}],
    "pods": [{"namespace": "default", "name": "api", "labels": {"app": "api"}, "ip": "10.240.0.10"}],
}


@pytest.mark.parametrize("version", ["latest", "1", "1.x", "17", "1.17.0.1"])
def test_a_bad_version_names_its_option_and_reads_no_cluster(kube_lab, tmp_path, ansible_playbook, version):
    tasks = [
        {
            "name": "Predict",
            "netpol.aks.reachability_info": {"engine": "cilium", "engine_version": version},
            "ignore_errors": True,
        },
        {"name": "Check", "netpol.aks.migration_check": {"cilium_version": version}, "ignore_errors": True},
    ]
    run = ansible_playbook(write_playbook(tmp_path, tasks), env=kube_lab.env)
    assert run.rc == 0, run.output
    predict, check = run.result("Predict"), run.result("Check")
    assert predict["failed"] is True
    assert predict["msg"] == f"engine_version: '{version}' is not a version; write major.minor, e.g. 1.17"
    assert check["failed"] is True
    assert check["msg"].startswith(f"cilium_version: '{version}' is not a version; write major.minor, e.g. 1.17")
    assert kube_lab.requests() == []


def test_auto_offline_is_an_error_naming_the_option(tmp_path, ansible_playbook):
    tasks = [
        {"name": "Predict", "netpol.aks.reachability_info": {**OFFLINE, "engine": "auto"}, "ignore_errors": True},
        {"name": "Check", "netpol.aks.migration_check": {**OFFLINE, "from_engine": "auto"}, "ignore_errors": True},
    ]
    run = ansible_playbook(write_playbook(tmp_path, tasks))
    assert run.rc == 0, run.output
    assert run.result("Predict")["msg"].startswith(
        "engine: auto reads the engine from the cluster, so it needs source=live"
    )
    assert run.result("Check")["msg"].startswith(
        "from_engine: auto reads the engine from the cluster, so it needs source=live"
    )


def test_unreadable_daemonsets_fail_an_explicit_auto_before_any_probe_pod_and_warn_by_default(
    kube_lab, tmp_path, ansible_playbook
):
    cluster.seed(kube_lab)
    kube_lab.config(faults=[{"status": 403, "path": "/daemonsets/", "count": 100}])
    seeded = len(kube_lab.requests())
    probe = {
        "namespace": cluster.NAMESPACE,
        "sources": [{"labels": {"run": "netpol-other-client"}}],
        "targets": ["api"],
        "port": 80,
        "expect": "predicted",
    }
    tasks = [
        {"name": "Explicit", "netpol.aks.probe_connectivity": {**probe, "engine": "auto"}, "ignore_errors": True},
        {"name": "Default", "netpol.aks.probe_connectivity": probe},
    ]
    run = ansible_playbook(write_playbook(tmp_path, tasks), env=kube_lab.env)
    assert run.rc == 0, run.output
    explicit = run.result("Explicit")
    assert explicit["failed"] is True
    assert explicit["msg"].startswith("engine: could not read the NetworkPolicy engine's DaemonSets")
    assert "set engine to the engine that enforces NetworkPolicy" in explicit["msg"]
    default = run.result("Default")
    assert default["verdict"] == "match"
    assert default["engine_detected"]["name"] == "upstream"
    assert "get on daemonsets in kube-system and calico-system is needed" in " ".join(default["warnings"])
    # the explicit run created no pod: the only pod creations are the default run's probe pod
    created = [r for r in kube_lab.requests()[seeded:] if r["method"] == "POST" and r["path"].endswith("/pods")]
    assert len(created) == len(default["probe_pods"]) == 1
