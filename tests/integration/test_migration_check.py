# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""migration_check through the real ansible-playbook, live against the real lab (through the fault proxy).
Needs root and `make lab-build`."""

from __future__ import annotations

import time

from tests.integration.test_reachability_info import _pod
from tests.integration.test_reachability_info import write_playbook


def test_live_mode_finds_an_ipblock_covering_a_pod(tmp_path, kube_lab, ansible_playbook):
    import kubernetes

    api_client = kube_lab.client()
    core = kubernetes.client.CoreV1Api(api_client)
    net = kubernetes.client.NetworkingV1Api(api_client)
    core.create_namespaced_pod("default", _pod("api", {"app": "api"}))
    core.create_namespaced_pod("default", _pod("test-np", {"run": "test-np"}))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # the node assigns pod IPs as it starts the pods
        pods = core.list_namespaced_pod("default").items
        if len(pods) == 2 and all(p.status and p.status.pod_ip for p in pods):
            break
        time.sleep(0.2)
    client_ip = next(p.status.pod_ip for p in pods if p.metadata.name == "test-np")
    net.create_namespaced_network_policy(
        "default",
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": "from-cidr", "namespace": "default"},
            "spec": {
                "podSelector": {"matchLabels": {"app": "api"}},
                "ingress": [{"from": [{"ipBlock": {"cidr": f"{client_ip}/32"}}]}],
            },
        },
    )
    tasks = [
        {"name": "Check", "netpol.aks.migration_check": {"cilium_version": "1.17"}, "register": "check"},
        {"name": "Check a clean move", "netpol.aks.migration_check": {"from_engine": "azure", "to_engine": "calico"}},
    ]
    run = ansible_playbook(write_playbook(tmp_path, tasks), env=kube_lab.env)
    assert run.rc == 0, run.output
    result = run.result("Check")
    assert result["changed"] is False
    assert [(f["check"], f["object"], f["path"]) for f in result["findings"]] == [
        ("ipblock_selects_pods", "default/from-cidr", "spec.ingress[0].from[0].ipBlock")
    ]
    assert [(p["from"], p["to"], p["port"], p["before"], p["after"]) for p in result["changed_pairs"]] == [
        ("default/test-np", "default/api", 80, "allowed", "blocked")
    ]
    assert result["safe"] is False
    # the lab's node was read (its address is no pod's): the node checks ran and found nothing
    assert "nodes could not be read" not in " ".join(result.get("warnings", []))
    assert ("GET", "/api/v1/nodes") in [(r["method"], r["path"]) for r in kube_lab.requests()]
    assert run.result("Check a clean move")["safe"] is True
