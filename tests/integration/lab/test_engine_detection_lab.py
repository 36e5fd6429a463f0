# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""engine=auto on the real lab: the engine is read from the DaemonSet of its agent.

The lab enforces NetworkPolicy with kube-router, which no detection knows: nothing is found and
upstream predicts, with a warning. The test then creates a DaemonSet named as Cilium's agent is
(kube-system/cilium, busybox sleeping on the lab's node). It is NOT Cilium: nothing about the data
plane changes; what changes is what the modules read, which is what is tested: the prediction follows
Cilium's semantics (an ipBlock never matches a pod address), and migration_check's from_engine=auto
refuses to compare Cilium with Cilium.
"""

from __future__ import annotations

import contextlib
import time

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from tests.integration.test_reachability_info import write_playbook

GONE_WITHIN = 60.0


def _pod(name, labels, ports=()):
    return {
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "containers": [
                {
                    "name": "c",
                    "image": "busybox:1.37",
                    "command": ["sleep", "3600"],
                    "ports": [{"name": "http", "containerPort": p} for p in ports],
                }
            ]
        },
    }


def _wait(what, check, timeout=60.0):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"{what} within {timeout:.0f}s")
        time.sleep(0.3)


@pytest.fixture
def cilium_named_daemonset(kube_lab):
    """A DaemonSet kube-system/cilium that schedules a pod on the lab's node (busybox, not Cilium)."""
    api = kube_lab.direct_client()
    apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
    labels = {"k8s-app": "cilium", "netpol-aks-test": "engine-detection"}
    body = {
        "metadata": {"name": "cilium", "namespace": "kube-system", "labels": labels},
        "spec": {
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "tolerations": [{"operator": "Exists"}],
                    "containers": [{"name": "agent", "image": "busybox:1.37", "command": ["sleep", "3600"]}],
                },
            },
        },
    }
    selector = "netpol-aks-test=engine-detection"

    def gone():
        with contextlib.suppress(ApiException):
            core.delete_collection_namespaced_pod("kube-system", label_selector=selector, grace_period_seconds=0)
        return not core.list_namespaced_pod("kube-system", label_selector=selector).items

    apps.create_namespaced_daemon_set("kube-system", body)
    try:
        _wait(
            "the DaemonSet controller schedules the pod",
            lambda: (apps.read_namespaced_daemon_set("cilium", "kube-system").status.desired_number_scheduled or 0) > 0,
        )
        yield
    finally:
        with contextlib.suppress(ApiException):
            apps.delete_namespaced_daemon_set("cilium", "kube-system", propagation_policy="Background")
        _wait("the DaemonSet's pods are gone", gone, GONE_WITHIN)


def _workload(kube_lab):
    """api (port 80) and client in default, and a policy admitting the client by its pod address."""
    api = kube_lab.direct_client()
    core, net = client.CoreV1Api(api), client.NetworkingV1Api(api)
    core.create_namespaced_pod("default", _pod("api", {"app": "api"}, [80]))
    core.create_namespaced_pod("default", _pod("client", {"app": "client"}))

    def addressed():
        pods = core.list_namespaced_pod("default").items
        return pods if len(pods) == 2 and all(p.status.pod_ip for p in pods) else None

    pods = _wait("both pods get an address", addressed)
    client_ip = next(p.status.pod_ip for p in pods if p.metadata.name == "client")
    net.create_namespaced_network_policy(
        "default",
        {
            "metadata": {"name": "api-from-client-address"},
            "spec": {
                "podSelector": {"matchLabels": {"app": "api"}},
                "ingress": [{"from": [{"ipBlock": {"cidr": f"{client_ip}/32"}}]}],
            },
        },
    )


REACH = {"namespace": ["default"], "sources": ["default/client"], "targets": ["default/api"], "pairs": "all"}
TASKS = [
    {"name": "Predict", "netpol.aks.reachability_info": REACH, "register": "reach"},
    {"name": "Predict with auto", "netpol.aks.reachability_info": {**REACH, "engine": "auto"}},
    {
        "name": "Check a move to Cilium",
        "netpol.aks.migration_check": {"from_engine": "auto"},
        "ignore_errors": True,
    },
]


def _verdict(result):
    (pair,) = [(r["from"], r["to"], r["port"], r["allowed"]) for r in result["results"]]
    return pair


def test_nothing_found_on_the_lab_predicts_upstream_and_says_what_was_looked_for(kube_lab, tmp_path, ansible_playbook):
    _workload(kube_lab)
    run = ansible_playbook(write_playbook(tmp_path, TASKS[:2]), env=kube_lab.env)
    assert run.rc == 0, run.output
    for name in ("Predict", "Predict with auto"):
        result = run.result(name)
        assert result["engine_detected"]["name"] == "upstream"
        assert result["engine_detected"]["source"] is None
        warning = " ".join(result["warnings"])
        assert "no NetworkPolicy engine found" in warning
        assert "DaemonSet kube-system/cilium (Cilium)" in warning
        assert "DaemonSet kube-system/azure-npm (Azure NPM)" in warning
        # upstream: the ipBlock matches the client's pod address
        assert _verdict(result) == ("default/client", "default/api", 80, True)


def test_auto_picks_up_a_daemonset_named_like_ciliums(kube_lab, cilium_named_daemonset, tmp_path, ansible_playbook):
    _workload(kube_lab)
    run = ansible_playbook(write_playbook(tmp_path, TASKS), env=kube_lab.env)
    assert run.rc == 0, run.output
    for name in ("Predict", "Predict with auto"):
        result = run.result(name)
        detected = result["engine_detected"]
        assert detected["name"] == "cilium"
        assert detected["source"] == "DaemonSet kube-system/cilium"
        assert detected["found"][0]["pods_desired"] >= 1
        assert not result.get("warnings")
        # cilium: an ipBlock never matches a pod address, so the client is not admitted
        assert _verdict(result) == ("default/client", "default/api", 80, False)
    check = run.result("Check a move to Cilium")
    assert check["failed"] is True
    assert check["msg"].startswith(
        "from_engine: auto found DaemonSet kube-system/cilium: the cluster already runs cilium, the engine it moves to"
    )
    # the reads were GETs of the engines' DaemonSets, through the proxy
    asked = {r["path"] for r in kube_lab.requests() if "/daemonsets/" in r["path"]}
    assert "/apis/apps/v1/namespaces/kube-system/daemonsets/cilium" in asked
    assert "/apis/apps/v1/namespaces/calico-system/daemonsets/calico-node" in asked
