# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""playbooks/migrate.yml against the doubles: an NPM cluster (Azure double) whose workload (Kubernetes double) has
a policy the check flags; check, snapshot, migrate, verify, then a second run that changes nothing.

The Kubernetes double enforces the specification's semantics whatever the cluster's engine, so the change the
check predicts (an ipBlock that stops matching a pod under Cilium) is reported as predicted but not observed."""

from __future__ import annotations

import json

import kubernetes

from tests.integration._azure_playbooks import write_playbook
from tests.integration.conftest import ROOT
from tests.integration.probe import cluster
from tests.integration.test_aks_cluster import NETWORK
from tests.integration.test_aks_cluster import cluster_puts
from tests.integration.test_aks_cluster import walkthrough

MIGRATE = ROOT / "playbooks" / "migrate.yml"


def test_npm_to_cilium_check_snapshot_migrate_verify(ansible_playbook, azure_double, kube_double, tmp_path):
    env = {**azure_double.env, **kube_double.env}
    npm = walkthrough(network_policy="azure", network_plugin_mode="overlay", pod_cidr="192.168.0.0/16")
    setup = ansible_playbook(
        write_playbook(tmp_path, [*NETWORK, {"name": "NPM", "netpol.aks.aks_cluster": npm}]), env=env
    )
    assert setup.rc == 0, setup.output
    seeded = cluster.seed(kube_double)
    kubernetes.client.NetworkingV1Api(kube_double.client()).create_namespaced_network_policy(
        cluster.NAMESPACE,
        {
            "metadata": {"name": "api-from-client-ip"},
            "spec": {
                "podSelector": {"matchLabels": {"app": "api"}},
                "ingress": [{"from": [{"ipBlock": {"cidr": f"{seeded['client_ip']}/32"}}]}],
            },
        },
        _preload_content=False,
        _headers=cluster.JSON_BODY,
    )
    snapshot = tmp_path / "snapshot.json"
    extra = {
        "migrate_namespace": cluster.NAMESPACE,
        "migrate_sources": ["test-np"],
        "migrate_targets": [{"pod": seeded["api_pod"]}],
        "migrate_ports": [8080],
        "migrate_snapshot_path": str(snapshot),
        "migrate_poll_interval": 0,
        "migrate_cilium_version": "1.17",
    }

    refused = ansible_playbook(MIGRATE, env=env, extra_vars=extra, tags="check")
    assert refused.rc != 0
    assert "Not safe to move from azure to cilium" in refused.output
    assert len(cluster_puts(azure_double)) == 1  # only the setup's create

    first = ansible_playbook(MIGRATE, env=env, extra_vars={**extra, "migrate_force": True})
    assert first.rc == 0, first.output
    check = first.result("Predict what changes")
    assert [(f["check"], f["object"]) for f in check["findings"]] == [
        ("ipblock_selects_pods", f"{cluster.NAMESPACE}/api-from-client-ip")
    ]
    pair = (f"{cluster.NAMESPACE}/test-np", f"{cluster.NAMESPACE}/{seeded['api_pod']}", 8080, "allowed", "blocked")
    assert [(p["from"], p["to"], p["port"], p["before"], p["after"]) for p in check["changed_pairs"]] == [pair]
    assert json.loads(snapshot.read_text())["results"] == [
        {"from": pair[0], "to": f"pod {pair[1]}", "port": 8080, "result": "allowed"}
    ]
    puts = cluster_puts(azure_double)
    assert len(puts) == 2
    network = puts[1]["body"]["properties"]["networkProfile"]
    assert (network["networkPolicy"], network["networkDataplane"]) == ("cilium", "cilium")
    report = first.result("Compare with the snapshot and with the prediction")["ansible_facts"]["migrate_report"]
    assert report == [
        {
            "from": pair[0],
            "to": pair[1],
            "port": 8080,
            "before": "allowed",
            "after": None,
            "predicted": True,
            "observed": False,
        }
    ]

    second = ansible_playbook(MIGRATE, env=env, extra_vars={**extra, "migrate_force": True})
    assert second.rc == 0, second.output
    assert second.result("Move the cluster to Cilium (AKS reimages every node pool)")["changed"] is False
    assert second.result("Write the snapshot")["changed"] is False
    assert len(cluster_puts(azure_double)) == 2
