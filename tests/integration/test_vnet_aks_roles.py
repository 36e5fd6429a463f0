"""Roles vnet and aks through the demo's step files (network, cluster, credentials) against the double."""

from __future__ import annotations

import json
import stat

import pytest
import yaml

from tests.integration.conftest import ROOT

STEPS = ROOT / "playbooks" / "steps"


def steps_playbook(tmp_path):
    """The demo's steps 2-4, imported exactly as playbooks/demo.yml imports them."""
    play = {
        "name": "Steps 2-4 of the walkthrough",
        "hosts": "localhost",
        "gather_facts": False,
        "vars": {"ansible_python_interpreter": "{{ ansible_playbook_python }}"},
        "tasks": [
            {"name": "Step 2", "ansible.builtin.import_tasks": str(STEPS / "network.yml"), "tags": ["network"]},
            {"name": "Step 3", "ansible.builtin.import_tasks": str(STEPS / "cluster.yml"), "tags": ["cluster"]},
            {"name": "Step 4", "ansible.builtin.import_tasks": str(STEPS / "credentials.yml"), "tags": ["credentials"]},
            {
                "name": "Show what the Kubernetes steps get",
                "ansible.builtin.debug": {"msg": "{{ netpol_kubeconfig }} {{ netpol_context }}"},
                "tags": ["credentials"],
            },
        ],
    }
    path = tmp_path / "steps.yml"
    path.write_text(yaml.safe_dump([play], sort_keys=False))
    return path


def short(name: str) -> str:
    """A task name without its 'netpol.aks.<role> : ' prefix."""
    return name.split(" : ", 1)[-1]


def changed_tasks(run) -> list[str]:
    return [short(r["task"]) for r in run.task_results() if r.get("changed")]


def result(run, name: str) -> dict:
    matches = [r for r in run.task_results() if short(r["task"]) == name]
    assert matches, f"no task {name!r} ran:\n{run.output}"
    return matches[-1]


def puts_since(double, seq: int) -> list[dict]:
    return [r for r in double.arm_requests("PUT") if r["seq"] > seq]


def test_steps_network_cluster_credentials_twice(ansible_playbook, azure_double, tmp_path):
    kubeconfig = tmp_path / "kube" / "netpol-aks"
    extra = {"vnet_poll_interval": 0, "aks_poll_interval": 0, "aks_kubeconfig_path": str(kubeconfig)}
    playbook = steps_playbook(tmp_path)

    # check mode on an empty subscription: every step predicts its change, nothing is written
    check = ansible_playbook(
        playbook, env=azure_double.env, extra_vars=extra, tags="network,cluster,credentials", check=True
    )
    assert check.rc == 0, check.output
    assert len(changed_tasks(check)) == 4
    assert [r for r in azure_double.arm_requests() if r["method"] in ("PUT", "DELETE", "PATCH")] == []
    assert not kubeconfig.exists()

    first = ansible_playbook(playbook, env=azure_double.env, extra_vars=extra, tags="network,cluster,credentials")
    assert first.rc == 0, first.output
    assert changed_tasks(first) == [
        "Create the resource group",
        "Create the virtual network and the AKS subnet",
        "Create or update the cluster",
        "Fetch the credentials and write the kubeconfig",
    ]
    subnet = result(first, "Create the virtual network and the AKS subnet")["subnet_ids"]["myAKSSubnet"]
    cluster_put = next(r for r in azure_double.arm_requests("PUT") if "/managedClusters/myAKSCluster" in r["path"])
    body = cluster_put["body"]
    assert "/resourceGroups/myResourceGroup-NP/" in cluster_put["path"]
    assert body["properties"]["networkProfile"] == {
        "networkPlugin": "azure",
        "networkPolicy": "calico",
        "serviceCidr": "10.0.0.0/16",
        "dnsServiceIP": "10.0.0.10",
    }
    assert body["properties"]["agentPoolProfiles"][0]["vnetSubnetID"] == subnet
    assert body["properties"]["agentPoolProfiles"][0]["count"] == 1
    assert "dockerBridgeCidr" not in json.dumps(body)
    vnet_put = next(r for r in azure_double.arm_requests("PUT") if r["path"].endswith("/virtualNetworks/myVnet"))
    assert vnet_put["body"]["properties"]["addressSpace"] == {"addressPrefixes": ["10.0.0.0/8"]}
    assert vnet_put["body"]["properties"]["subnets"] == [
        {"name": "myAKSSubnet", "properties": {"addressPrefix": "10.240.0.0/16"}}
    ]
    warnings = " ".join(result(first, "Create or update the cluster").get("warnings", []))
    assert "docker_bridge_cidr (172.17.0.1/16)" in warnings
    assert stat.S_IMODE(kubeconfig.stat().st_mode) == 0o600
    assert result(first, "Show what the Kubernetes steps get")["msg"] == f"{kubeconfig} myAKSCluster"

    # second run: nothing changes and nothing is PUT
    last = azure_double.requests()[-1]["seq"]
    second = ansible_playbook(playbook, env=azure_double.env, extra_vars=extra, tags="network,cluster,credentials")
    assert second.rc == 0, second.output
    assert changed_tasks(second) == []
    assert puts_since(azure_double, last) == []

    # step 3 alone (no vnet_subnet_id fact): the subnet is looked up, still no change and no PUT
    last = azure_double.requests()[-1]["seq"]
    alone = ansible_playbook(playbook, env=azure_double.env, extra_vars=extra, tags="cluster")
    assert alone.rc == 0, alone.output
    assert changed_tasks(alone) == []
    assert puts_since(azure_double, last) == []
    assert result(alone, "Look up the node subnet (the vnet role did not run in this play)")["subnet_ids"] == {
        "myAKSSubnet": subnet
    }


def test_step_cluster_bad_input_fails_before_any_request(ansible_playbook, azure_double, tmp_path):
    extra = {"aks_poll_interval": 0, "aks_vnet_subnet_id": "", "aks_vnet_name": "", "aks_dns_service_ip": "10.0.0.1"}
    run = ansible_playbook(steps_playbook(tmp_path), env=azure_double.env, extra_vars=extra, tags="cluster")
    assert run.rc != 0
    failed = result(run, "Create or update the cluster")
    assert "dns_service_ip: 10.0.0.1 is the first address of service_cidr 10.0.0.0/16" in failed["msg"]
    assert azure_double.requests() == []


def test_step_preflight_asserts(ansible_playbook, azure_double, tmp_path):
    run = ansible_playbook(
        steps_playbook(tmp_path), env=azure_double.env, extra_vars={"aks_node_count": 0}, tags="cluster"
    )
    assert run.rc != 0
    assert "aks_node_count (0)" in run.output
    assert azure_double.requests() == []


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            {"aks_network_plugin": "kubenet", "aks_network_policy": "cilium", "aks_network_dataplane": "cilium"},
            "aks_network_policy: cilium cannot run on kubenet",
        ),
        ({"aks_network_policy": "cilium"}, "aks_network_policy: cilium needs aks_network_dataplane: cilium"),
        ({"aks_network_dataplane": "cilium"}, "aks_network_dataplane: cilium needs aks_network_policy: cilium"),
        (
            {"aks_network_policy": "cilium", "aks_network_dataplane": "cilium"},
            "aks_network_dataplane: cilium needs Azure CNI overlay",
        ),
    ],
)
def test_step_preflight_refuses_engine_combinations_aks_refuses(
    ansible_playbook, azure_double, tmp_path, extra, message
):
    run = ansible_playbook(steps_playbook(tmp_path), env=azure_double.env, extra_vars=extra, tags="cluster")
    assert run.rc != 0
    assert message in run.output
    assert azure_double.requests() == []


def test_demo_playbook_network_cluster_credentials(ansible_playbook, azure_double, tmp_path):
    extra = {
        "netpol_target": "aks",
        "vnet_poll_interval": 0,
        "aks_poll_interval": 0,
        "aks_kubeconfig_path": str(tmp_path / "kubeconfig"),
    }
    demo = ROOT / "playbooks" / "demo.yml"
    first = ansible_playbook(demo, env=azure_double.env, extra_vars=extra, tags="network,cluster,credentials")
    assert first.rc == 0, first.output
    last = azure_double.requests()[-1]["seq"]
    second = ansible_playbook(demo, env=azure_double.env, extra_vars=extra, tags="network,cluster,credentials")
    assert second.rc == 0, second.output
    assert changed_tasks(second) == []
    assert puts_since(azure_double, last) == []


def test_kubeconfig_reaches_the_real_lab(ansible_playbook, azure_double, kube_lab, tmp_path):
    """As in the lab: the Azure double hands out kubeconfigs for the real lab's API server; kubernetes.core uses it."""
    azure_double.set_kube(kube_lab.link)
    kubeconfig = tmp_path / "netpol-aks"
    extra = {"vnet_poll_interval": 0, "aks_poll_interval": 0, "aks_kubeconfig_path": str(kubeconfig)}
    playbook = steps_playbook(tmp_path)
    play = yaml.safe_load(playbook.read_text())
    play[0]["tasks"].append(
        {
            "name": "List namespaces with the cluster's kubeconfig",
            "kubernetes.core.k8s_info": {"kind": "Namespace", "kubeconfig": "{{ netpol_kubeconfig }}"},
            "tags": ["credentials"],
        }
    )
    playbook.write_text(yaml.safe_dump(play, sort_keys=False))
    run = ansible_playbook(playbook, env=azure_double.env, extra_vars=extra)
    assert run.rc == 0, run.output
    names = [ns["metadata"]["name"] for ns in result(run, "List namespaces with the cluster's kubeconfig")["resources"]]
    assert "kube-system" in names
    assert kube_lab.token not in run.output
    # The list went to the lab's API server through the proxy, with the kubeconfig step 4 wrote.
    assert ("GET", "/api/v1/namespaces", 200) in [(r["method"], r["path"], r["status"]) for r in kube_lab.requests()]
