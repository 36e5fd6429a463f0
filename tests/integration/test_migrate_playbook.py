# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""playbooks/migrate.yml on the local lab: an NPM cluster (Azure double, linked to the real lab as `make lab-up`
links them) whose workload (real lab) has a policy the check flags; check, snapshot, migrate, verify, then a second
run that changes nothing. Needs root and `make lab-build`.

What the lab can and cannot show: its data plane is kube-router, which enforces the specification's (upstream)
semantics whatever engine the simulated cluster names. The change the check predicts (an ipBlock that stops
matching a pod's address under Cilium) is therefore reported as predicted but not observed, and the probes after
the migration match the upstream prediction, not the Cilium one: the one difference from the Cilium prediction is
the predicted pair."""

from __future__ import annotations

import json

import kubernetes
import pytest

from tests.integration._azure_playbooks import write_playbook
from tests.integration.conftest import ROOT
from tests.integration.probe import cluster
from tests.integration.test_aks_cluster import NETWORK
from tests.integration.test_aks_cluster import cluster_puts
from tests.integration.test_aks_cluster import walkthrough

MIGRATE = ROOT / "playbooks" / "migrate.yml"
OUTSIDER = "outsider"  # a second client, outside the policy's ipBlock: blocked before and after


def _outsider(kube_lab) -> None:
    """A second client like test-np; the probes that name it wait for it through their retries."""
    cluster.core(kube_lab).create_namespaced_pod(cluster.NAMESPACE, cluster.client_pod(OUTSIDER))


def _probe_upstream(seeded: dict[str, str]) -> dict:
    """The chosen pairs, expected as the upstream engine predicts them from the cluster's policies: what kube-router
    enforces. Retried while kube-router programs a new policy (and while the outsider starts)."""
    return {
        "name": "Probe, expecting what upstream semantics predict",
        "netpol.aks.probe_connectivity": {
            "namespace": cluster.NAMESPACE,
            "sources": ["test-np", OUTSIDER],
            "targets": [{"pod": seeded["api_pod"]}],
            "ports": [8080],
            "expect": "predicted",
            "engine": "upstream",
            "retries": 10,
            "delay": 0.5,
        },
    }


def test_npm_to_cilium_check_snapshot_migrate_verify(ansible_playbook, azure_double, kube_lab, tmp_path):
    azure_double.set_kube(kube_lab.link)
    env = {**azure_double.env, **kube_lab.env}
    npm = walkthrough(network_policy="azure", network_plugin_mode="overlay", pod_cidr="192.168.0.0/16")
    setup = ansible_playbook(
        write_playbook(tmp_path, [*NETWORK, {"name": "NPM", "netpol.aks.aks_cluster": npm}]), env=env
    )
    assert setup.rc == 0, setup.output
    assert kube_lab.config()["enforcement"] == "full"  # an NPM cluster enforces
    seeded = cluster.seed(kube_lab)
    _outsider(kube_lab)
    kubernetes.client.NetworkingV1Api(kube_lab.client()).create_namespaced_network_policy(
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
    probe = write_playbook(tmp_path, [_probe_upstream(seeded)], "probe.yml")
    enforced = ansible_playbook(probe, env=env)
    assert enforced.rc == 0, enforced.output
    observed = {r["from"]: r["result"] for r in enforced.result(_probe_upstream(seeded)["name"])["results"]}
    client, outsider = f"{cluster.NAMESPACE}/test-np", f"{cluster.NAMESPACE}/{OUTSIDER}"
    assert observed == {client: "allowed", outsider: "blocked"}

    snapshot = tmp_path / "snapshot.json"
    extra = {
        "migrate_namespace": cluster.NAMESPACE,
        "migrate_sources": ["test-np", OUTSIDER],
        "migrate_targets": [{"pod": seeded["api_pod"]}],
        "migrate_ports": [8080],
        "migrate_snapshot_path": str(snapshot),
        "migrate_poll_interval": 0,
        "migrate_cilium_version": "1.17",
        "migrate_probe_retries": 2,
        "migrate_probe_delay": 0.2,
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
    api = f"{cluster.NAMESPACE}/{seeded['api_pod']}"
    pair = (client, api, 8080, "allowed", "blocked")
    assert [(p["from"], p["to"], p["port"], p["before"], p["after"]) for p in check["changed_pairs"]] == [pair]
    assert json.loads(snapshot.read_text())["results"] == [
        {"from": outsider, "to": f"pod {api}", "port": 8080, "result": "blocked"},
        {"from": client, "to": f"pod {api}", "port": 8080, "result": "allowed"},
    ]
    puts = cluster_puts(azure_double)
    assert len(puts) == 2
    network = puts[1]["body"]["properties"]["networkProfile"]
    assert (network["networkPolicy"], network["networkDataplane"]) == ("cilium", "cilium")
    assert kube_lab.config()["enforcement"] == "full"  # a Cilium cluster enforces
    # After the move, kube-router still enforces upstream semantics: the Cilium prediction differs from what is
    # observed in exactly the predicted pair, which the lab cannot show changing.
    after = first.result("Probe the same pairs after the migration")
    assert {r["from"]: r["result"] for r in after["results"]} == {client: "allowed", outsider: "blocked"}
    assert [(d["from"], d["expected"], d["result"]) for d in after["differences"]] == [(client, "blocked", "allowed")]
    assert after["rounds"] == 1 + extra["migrate_probe_retries"]  # it kept probing for the prediction, in vain
    report = first.result("Compare with the snapshot and with the prediction")["ansible_facts"]["migrate_report"]
    assert report == [
        {
            "from": client,
            "to": api,
            "port": 8080,
            "before": "allowed",
            "after": None,
            "predicted": True,
            "observed": False,
        }
    ]
    # ... and the probes after the migration match what kube-router enforces.
    verified = ansible_playbook(probe, env=env)
    assert verified.rc == 0, verified.output
    assert verified.result(_probe_upstream(seeded)["name"])["verdict"] == "match"

    second = ansible_playbook(MIGRATE, env=env, extra_vars={**extra, "migrate_force": True})
    assert second.rc == 0, second.output
    assert second.result("Move the cluster to Cilium (AKS reimages every node pool)")["changed"] is False
    assert second.result("Write the snapshot")["changed"] is False
    assert len(cluster_puts(azure_double)) == 2


@pytest.mark.parametrize(
    ("extra", "tags"),
    [
        ({"migrate_probe_retries": "ten"}, None),
        ({"migrate_probe_delay": "-1"}, "verify"),
        ({"migrate_probe_timeout": 0}, "snapshot"),
    ],
)
def test_bad_probe_settings_stop_the_run_before_any_request(ansible_playbook, azure_double, tmp_path, extra, tags):
    run = ansible_playbook(
        MIGRATE, env=azure_double.env, extra_vars={"migrate_sources": ["test-np"], **extra}, tags=tags
    )
    assert run.rc != 0
    (name,) = extra
    assert f"{name} ({extra[name]})" in run.result("Check the probe settings")["msg"]
    assert azure_double.requests() == []
