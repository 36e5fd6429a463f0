# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""reachability_info through the real ansible-playbook: offline mode, and live mode against the real lab (`kube_lab`)."""

from __future__ import annotations

import json
import time

import yaml

DENY = {
    "apiVersion": "networking.k8s.io/v1",
    "kind": "NetworkPolicy",
    "metadata": {"name": "backend-policy", "namespace": "default"},
    "spec": {"podSelector": {"matchLabels": {"app": "api"}}, "ingress": []},
}

OFFLINE_TASK = {
    "name": "Predict",
    "netpol.aks.reachability_info": {
        "namespaces": [{"name": "default"}],
        "pods": [
            {
                "namespace": "default",
                "name": "api",
                "labels": {"app": "api"},
                "ip": "10.240.0.10",
                "ports": [{"name": "http", "port": 80}],
            },
            {"namespace": "default", "name": "test-np", "labels": {"run": "test-np"}, "ip": "10.240.0.11"},
        ],
        "policies": "{{ policies }}",
        "explain": True,
    },
    "register": "reach",
}


def write_playbook(tmp_path, tasks, name="playbook.yml"):
    path = tmp_path / name
    path.write_text(
        yaml.safe_dump(
            [{"name": "Reachability", "hosts": "localhost", "gather_facts": False, "tasks": tasks}], sort_keys=False
        )
    )
    return path


def test_offline_walkthrough_deny(tmp_path, ansible_playbook):
    playbook = write_playbook(tmp_path, [OFFLINE_TASK])
    run = ansible_playbook(playbook, extra_vars={"policies": [DENY]})
    assert run.rc == 0, run.output
    result = run.result("Predict")
    assert result["changed"] is False
    [item] = result["results"]
    assert (item["from"], item["to"], item["port"], item["allowed"]) == ("default/test-np", "default/api", 80, False)
    assert item["ingress"]["selecting"] == ["default/backend-policy"]
    assert result["table"]["80/TCP"].splitlines()[2].split() == ["default/test-np", "X"]
    assert result["summary"]["blocked"] == 1


def test_offline_check_mode_gives_the_same_answer(tmp_path, ansible_playbook):
    playbook = write_playbook(tmp_path, [OFFLINE_TASK])
    run = ansible_playbook(playbook, extra_vars={"policies": []}, check=True)
    assert run.rc == 0, run.output
    result = run.result("Predict")
    assert result["changed"] is False
    assert [r["allowed"] for r in result["results"]] == [True]


def test_offline_bad_policy_fails_naming_policy_and_field(tmp_path, ansible_playbook):
    bad = json.loads(json.dumps(DENY))
    bad["spec"]["ingress"] = [{"ports": [{"port": 80, "endPort": 70}]}]
    bad["spec"]["policyTypes"] = ["Ingres"]
    playbook = write_playbook(tmp_path, [OFFLINE_TASK])
    run = ansible_playbook(playbook, extra_vars={"policies": [bad]})
    assert run.rc != 0
    result = run.result("Predict")
    assert result["failed"] is True
    assert "policies: default/backend-policy: spec.policyTypes[0]: 'Ingres' is not a policy type" in result["msg"]
    assert (
        "policies: default/backend-policy: spec.ingress[0].ports[0].endPort: 70 is smaller than port 80"
        in result["msg"]
    )


def test_offline_bad_pod_fails_naming_the_field(tmp_path, ansible_playbook):
    task = json.loads(json.dumps(OFFLINE_TASK))
    task["netpol.aks.reachability_info"]["pods"][1]["ip"] = "10.240.0.999"
    run = ansible_playbook(write_playbook(tmp_path, [task]), extra_vars={"policies": []})
    assert run.rc != 0
    assert "pods[1].ip: '10.240.0.999' is not an IP address" in run.result("Predict")["msg"]


def test_offline_bad_pod_item_fails_naming_the_field(tmp_path, ansible_playbook):
    """The argument spec does not walk the pods; the engine still names the bad item and field."""
    task = json.loads(json.dumps(OFFLINE_TASK))
    task["netpol.aks.reachability_info"]["pods"][0]["ports"] = [{"name": "http", "prot": 80}]
    run = ansible_playbook(write_playbook(tmp_path, [task]), extra_vars={"policies": []})
    assert run.rc != 0
    assert "pods[0].ports[0]: unknown field(s) prot; use name, port, protocol" in run.result("Predict")["msg"]


def _pod(name, labels, port=80):
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default", "labels": labels},
        "spec": {
            "containers": [{"name": "main", "image": "nginx", "ports": [{"name": "http", "containerPort": port}]}]
        },
    }


def test_live_mode_reads_the_cluster(tmp_path, kube_lab, ansible_playbook):
    import kubernetes

    api_client = kube_lab.client()
    core = kubernetes.client.CoreV1Api(api_client)
    net = kubernetes.client.NetworkingV1Api(api_client)
    core.create_namespaced_pod("default", _pod("api", {"app": "api"}))
    core.create_namespaced_pod("default", _pod("test-np", {"run": "test-np"}))
    net.create_namespaced_network_policy("default", DENY)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # the node gives the pods their IPs as they start
        pods = core.list_namespaced_pod("default").items
        if len(pods) == 2 and all(p.status and p.status.pod_ip for p in pods):
            break
        time.sleep(0.2)
    task = {
        "name": "Predict live",
        "netpol.aks.reachability_info": {"namespace": ["default"], "ports": [{"port": 80}], "pairs": "all"},
        "register": "reach",
    }
    run = ansible_playbook(write_playbook(tmp_path, [task]), env=kube_lab.env)
    assert run.rc == 0, run.output
    result = run.result("Predict live")
    assert result["source"] == "live"
    verdicts = {(r["from"], r["to"]): r["allowed"] for r in result["results"]}
    assert verdicts == {("default/test-np", "default/api"): False, ("default/api", "default/test-np"): True}
    assert result["summary"]["policies"] == 1


def test_secrets_stay_out_of_the_result(tmp_path, ansible_playbook):
    """Ansible scrubs no_log values from the result (api_key, and the secrets of a kubeconfig mapping): the
    compact result is cheap to scrub, and still scrubbed - a label that equals a secret is not returned."""
    api_key = "tok-3f9a1c77e2b4"
    kubeconfig_token = "kc-token-8d0e5b21aa9c"
    kubeconfig = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:1"}}],
        "users": [{"name": "u", "user": {"token": kubeconfig_token}}],
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "x",
    }
    task = json.loads(json.dumps(OFFLINE_TASK))
    args = task["netpol.aks.reachability_info"]
    args["pods"][0]["labels"] = {"app": "api", "leak": api_key}
    args["pods"][1]["labels"] = {"run": "test-np", "leak": kubeconfig_token}
    args.update(api_key=api_key, kubeconfig=kubeconfig, pairs="all", explain="all")
    run = ansible_playbook(write_playbook(tmp_path, [task]), extra_vars={"policies": [DENY]})
    assert run.rc == 0, run.output
    result = run.result("Predict")
    assert result["summary"]["blocked"] == 1
    assert api_key not in run.output
    assert kubeconfig_token not in run.output
    labels = [c["labels"]["leak"] for c in result["classes"]]
    assert labels == ["VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"] * 2
