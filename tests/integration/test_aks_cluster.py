"""aks_cluster through ansible-playbook against the Azure double, and the double's own AKS checks."""

from __future__ import annotations

import json
import os
import signal
import time

import pytest

from tests.integration._azure_playbooks import changed_flags
from tests.integration._azure_playbooks import ladder
from tests.integration._azure_playbooks import ladder_names
from tests.integration._azure_playbooks import sdk_clients
from tests.integration._azure_playbooks import start_playbook
from tests.integration._azure_playbooks import write_playbook
from tests.integration._azure_playbooks import writes
from tests.integration.conftest import PlaybookRun

GROUP = "myResourceGroup-NP"
NETWORK = [
    {"name": "Group", "netpol.aks.resource_group": {"name": GROUP, "location": "eastus"}},
    {
        "name": "Network",
        "netpol.aks.virtual_network": {
            "name": "myVnet",
            "resource_group": GROUP,
            "address_prefixes": ["10.0.0.0/8"],
            "subnets": [{"name": "myAKSSubnet", "address_prefix": "10.240.0.0/16"}],
        },
        "register": "vnet",
    },
]


def walkthrough(**overrides):
    """The walkthrough's `az aks create` as module arguments (subnet id from the registered network)."""
    args = {
        "name": "myAKSCluster",
        "resource_group": GROUP,
        "location": "eastus",
        "node_pool": {"count": 1, "vnet_subnet_id": "{{ vnet.subnet_ids.myAKSSubnet }}"},
        "network_plugin": "azure",
        "network_policy": "calico",
        "service_cidr": "10.0.0.0/16",
        "dns_service_ip": "10.0.0.10",
        "docker_bridge_cidr": "172.17.0.1/16",
    }
    args.update(overrides)
    return args


def subnet_id(double) -> str:
    return (
        f"/subscriptions/{double.subscription_id}/resourceGroups/{GROUP}/providers/Microsoft.Network/"
        "virtualNetworks/myVnet/subnets/myAKSSubnet"
    )


def cluster_puts(double):
    return [r for r in writes(double) if r["method"] == "PUT" and "/managedClusters/" in r["path"]]


def test_walkthrough_cluster_ladder_update_and_delete(ansible_playbook, azure_double, tmp_path):
    absent = {"name": "myAKSCluster", "resource_group": GROUP, "state": "absent"}
    scale = walkthrough(
        node_pool={"count": 2, "vnet_subnet_id": "{{ vnet.subnet_ids.myAKSSubnet }}"}, tags={"demo": "np"}
    )
    tasks = [
        *NETWORK,
        *ladder("aks_cluster", walkthrough(), "Create cluster"),
        *ladder("aks_cluster", scale, "Scale cluster"),
        {"name": "Delete cluster", "netpol.aks.aks_cluster": absent},
        {"name": "Delete cluster again", "netpol.aks.aks_cluster": absent},
    ]
    run = ansible_playbook(write_playbook(tmp_path, tasks), env=azure_double.env, diff=True)
    assert run.rc == 0, run.output
    assert changed_flags(run, ladder_names("Create cluster")) == [True, True, False, False]
    assert changed_flags(run, ladder_names("Scale cluster")) == [True, True, False, False]
    assert changed_flags(run, ["Delete cluster", "Delete cluster again"]) == [True, False]

    puts = cluster_puts(azure_double)
    assert len(puts) == 2  # create and scale; check mode and the idempotent runs sent none
    create = puts[0]
    assert create["query"]["api-version"] == "2026-08-01"
    network = create["body"]["properties"]["networkProfile"]
    assert network == {
        "networkPlugin": "azure",
        "networkPolicy": "calico",
        "serviceCidr": "10.0.0.0/16",
        "dnsServiceIP": "10.0.0.10",
    }
    assert create["body"]["properties"]["agentPoolProfiles"][0]["vnetSubnetID"] == subnet_id(azure_double)
    assert "dockerBridgeCidr" not in json.dumps(create["body"])
    assert "kubernetesVersion" not in create["body"]["properties"]  # AKS picks its default
    assert create["body"]["identity"] == {"type": "SystemAssigned"}
    assert puts[1]["body"]["properties"]["agentPoolProfiles"][0]["count"] == 2
    assert create["if_match"] is None
    assert puts[1]["if_match"]  # the update is conditional on the eTag it read
    # the update kept the network profile as it was
    assert puts[1]["body"]["properties"]["networkProfile"]["networkPolicy"] == "calico"

    created = run.result("Create cluster")
    warnings = " ".join(created.get("warnings", []))
    assert "docker_bridge_cidr" in warnings
    assert "2023-04-01" in warnings
    cluster = created["cluster"]
    assert cluster["provisioning_state"] == "Succeeded"
    assert cluster["fqdn"].endswith(".hcp.eastus.azmk8s.io")
    assert cluster["node_resource_group"] == "MC_myResourceGroup-NP_myAKSCluster_eastus"
    assert cluster["kubernetes_version"].startswith("1.")
    assert cluster["network_profile"]["network_policy"] == "calico"
    assert cluster["identity_principal_id"]
    assert created["diff"]["before"] == {}
    predicted = run.result("Create cluster (check)")["cluster"]
    assert predicted["network_profile"] == {
        "network_plugin": "azure",
        "network_policy": "calico",
        "service_cidr": "10.0.0.0/16",
        "dns_service_ip": "10.0.0.10",
    }
    scaled = run.result("Scale cluster")
    assert scaled["changes"]["node_pool.count"] == [1, 2]
    assert scaled["cluster"]["node_pools"][0]["count"] == 2
    assert azure_double.state()["managed_clusters"] == {}
    assert len([r for r in writes(azure_double) if r["method"] == "DELETE"]) == 1  # delete again sent none


BAD_INPUTS = {
    "service CIDR syntax": ({"service_cidr": "10.0.0/16"}, "service_cidr:"),
    "service CIDR overlaps the subnet": (
        {
            "service_cidr": "10.240.0.0/16",
            "dns_service_ip": "10.240.0.10",
            "node_pool": {"vnet_subnet_id": "{{ subnet }}", "vnet_subnet_prefix": "10.240.0.0/16"},
        },
        "service_cidr:",
    ),
    "service CIDR overlaps the pod CIDR": (
        {"network_plugin_mode": "overlay", "pod_cidr": "10.0.0.0/17"},
        "service_cidr:",
    ),
    "DNS IP outside": ({"dns_service_ip": "10.1.0.10"}, "dns_service_ip:"),
    "DNS IP network address": ({"dns_service_ip": "10.0.0.0"}, "dns_service_ip:"),
    "DNS IP first address": ({"dns_service_ip": "10.0.0.1"}, "dns_service_ip:"),
    "cilium policy without cilium dataplane": ({"network_policy": "cilium"}, "network_policy:"),
    "cilium dataplane with kubenet": (
        {"network_plugin": "kubenet", "network_dataplane": "cilium", "network_policy": "cilium"},
        "network_dataplane:",
    ),
    "calico with cilium dataplane": (
        {"network_plugin_mode": "overlay", "network_dataplane": "cilium", "pod_cidr": "192.168.0.0/16"},
        "network_policy:",
    ),
    "azure policy with kubenet": ({"network_plugin": "kubenet", "network_policy": "azure"}, "network_policy:"),
    "policy with plugin none": ({"network_plugin": "none"}, "network_policy:"),
    "overlay with kubenet": ({"network_plugin": "kubenet", "network_plugin_mode": "overlay"}, "network_plugin_mode:"),
    "pod CIDR with Azure CNI": ({"pod_cidr": "10.244.0.0/16"}, "pod_cidr:"),
    "node count zero": ({"node_pool": {"count": 0}}, "node_pool.count:"),
    "node count too high": ({"node_pool": {"count": 1001}}, "node_pool.count:"),
    "docker bridge not a CIDR": ({"docker_bridge_cidr": "bridge"}, "docker_bridge_cidr:"),
}


def test_each_bad_input_fails_before_any_request(ansible_playbook, azure_double, tmp_path):
    subnet = subnet_id(azure_double)
    tasks = []
    for name, (overrides, _field) in BAD_INPUTS.items():
        args = walkthrough(**overrides)
        if "node_pool" in overrides:
            args["node_pool"] = {**overrides["node_pool"]}
        args["node_pool"] = {
            k: (subnet if v == "{{ subnet }}" else v)
            for k, v in args["node_pool"].items()
            if v != "{{ vnet.subnet_ids.myAKSSubnet }}"
        }
        tasks.append({"name": name, "netpol.aks.aks_cluster": args, "ignore_errors": True})
    run = ansible_playbook(write_playbook(tmp_path, tasks), env=azure_double.env)
    for name, (_overrides, field) in BAD_INPUTS.items():
        result = run.result(name)
        assert result["failed"], name
        assert "nothing was created or changed" in result["msg"], result["msg"]
        assert field in result["msg"], (name, result["msg"])
    assert azure_double.requests() == []  # not even a token request


def test_overlap_with_the_real_subnet_is_read_then_refused(ansible_playbook, azure_double, tmp_path):
    tasks = [
        *NETWORK,
        {
            "name": "Overlap",
            "netpol.aks.aks_cluster": walkthrough(service_cidr="10.240.0.0/16", dns_service_ip="10.240.0.10"),
            "ignore_errors": True,
        },
    ]
    run = ansible_playbook(write_playbook(tmp_path, tasks), env=azure_double.env)
    result = run.result("Overlap")
    assert result["failed"]
    assert "service_cidr: 10.240.0.0/16 overlaps the node subnet 10.240.0.0/16" in result["msg"]
    assert cluster_puts(azure_double) == []


def test_network_profile_change_fails_naming_the_field(ansible_playbook, azure_double, tmp_path):
    tasks = [
        *NETWORK,
        {"name": "Create", "netpol.aks.aks_cluster": walkthrough()},
        {"name": "Change policy", "netpol.aks.aks_cluster": walkthrough(network_policy="azure"), "ignore_errors": True},
        {
            "name": "Change service CIDR",
            "netpol.aks.aks_cluster": walkthrough(service_cidr="10.1.0.0/16", dns_service_ip="10.1.0.10"),
            "ignore_errors": True,
        },
    ]
    run = ansible_playbook(write_playbook(tmp_path, tasks), env=azure_double.env)
    policy = run.result("Change policy")
    assert policy["failed"]
    assert "network_policy: is 'calico' on the existing cluster and cannot change to 'azure'" in policy["msg"]
    service = run.result("Change service CIDR")
    assert "service_cidr:" in service["msg"]
    assert "dns_service_ip:" in service["msg"]
    assert len(cluster_puts(azure_double)) == 1  # only the create


def test_failed_create_is_reported_as_a_change_and_repaired_by_the_next_run(ansible_playbook, azure_double, tmp_path):
    azure_double.faults(
        fault="lro_failed",
        method="PUT",
        path="*/managedClusters/myAKSCluster",
        code="QuotaExceeded",
        message="Operation could not be completed as it results in exceeding approved quota (simulated).",
    )
    tasks = [
        *NETWORK,
        {"name": "Create", "netpol.aks.aks_cluster": walkthrough(), "ignore_errors": True},
        {"name": "Rerun (check)", "netpol.aks.aks_cluster": walkthrough(), "check_mode": True},
        {"name": "Rerun", "netpol.aks.aks_cluster": walkthrough()},
        {"name": "Rerun again", "netpol.aks.aks_cluster": walkthrough()},
    ]
    run = ansible_playbook(write_playbook(tmp_path, tasks), env=azure_double.env)
    assert run.rc == 0, run.output
    result = run.result("Create")
    assert result["failed"]
    assert result["changed"] is True  # the PUT was accepted: the cluster exists now
    assert "QuotaExceeded" in result["msg"]
    assert "exists in state Failed: run the task again to retry" in result["msg"]
    assert result["azure_error"]["code"] == "QuotaExceeded"
    assert run.result("Rerun (check)")["changed"] is True
    repaired = run.result("Rerun")
    assert repaired["changed"] is True
    assert repaired["changes"] == {"provisioning_state": ["Failed", "Succeeded"]}
    assert repaired["cluster"]["provisioning_state"] == "Succeeded"
    assert run.result("Rerun again")["changed"] is False
    assert len(cluster_puts(azure_double)) == 2  # the create, then one repair


def cluster_reads(double, since: int) -> list[dict]:
    return [
        r
        for r in double.requests(since=since)
        if r["method"] == "GET" and r["path"].lower().endswith("/managedclusters/myakscluster")
    ]


def wait_for(condition, proc, what: str, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert proc.poll() is None, f"ansible-playbook ended before {what}: {proc.stdout.read()}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_interrupted_create_is_resumed_by_the_next_run(azure_double, tmp_path):
    """Ctrl-C (a real SIGINT to ansible-playbook's process group) while the cluster is being created."""
    # AKS takes minutes whether anyone polls or not: here the create runs until the test settles it
    azure_double.control(
        "POST", "/_fake/operations", {"namespace": "Microsoft.ContainerService", "polls": None, "seconds": 3600}
    )
    slow = walkthrough(poll_interval=0.3)
    first = write_playbook(tmp_path, [*NETWORK, {"name": "Create", "netpol.aks.aks_cluster": slow}], "first.yml")
    proc = start_playbook(first, azure_double.env, tmp_path)
    try:
        wait_for(lambda: cluster_puts(azure_double), proc, "the cluster PUT")
        seq = azure_double.requests()[-1]["seq"]
        wait_for(lambda: any("/operations/" in r["path"] for r in azure_double.requests(since=seq)), proc, "a poll")
        os.killpg(proc.pid, signal.SIGINT)
        output, _unused = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode != 0, output
    clusters = azure_double.state()["managed_clusters"]
    assert [c["properties"]["provisioningState"] for c in clusters.values()] == ["Creating"]

    kubeconfig = tmp_path / "kube" / "config"
    tasks = [
        *NETWORK,
        {"name": "Create", "netpol.aks.aks_cluster": slow},
        {
            "name": "Credentials",
            "netpol.aks.aks_credentials": {"name": "myAKSCluster", "resource_group": GROUP, "dest": str(kubeconfig)},
        },
    ]
    seq = azure_double.requests()[-1]["seq"]
    rerun = start_playbook(write_playbook(tmp_path, tasks, "rerun.yml"), azure_double.env, tmp_path, json_output=True)
    try:
        # the rerun finds the cluster Creating and keeps reading it (waiting) instead of going on
        wait_for(lambda: len(cluster_reads(azure_double, seq)) >= 3, rerun, "the rerun to wait for the cluster")
        assert rerun.poll() is None
        assert azure_double.arm_requests("POST") == []  # no credentials request while the cluster is Creating
        azure_double.control("POST", "/_fake/operations/settle")  # AKS finishes the create
        output, _unused = rerun.communicate(timeout=300)
    finally:
        if rerun.poll() is None:
            os.killpg(rerun.pid, signal.SIGKILL)
            rerun.wait()
    run = PlaybookRun(rerun.returncode, output, "")
    assert run.rc == 0, output
    resumed = run.result("Create")
    assert resumed["changed"] is False  # it waited for the create started by the first run, and wrote nothing
    assert resumed["cluster"]["provisioning_state"] == "Succeeded"
    assert run.result("Credentials")["changed"] is True
    assert kubeconfig.exists()
    assert len(cluster_puts(azure_double)) == 1


def test_without_wait_a_cluster_in_progress_is_left_alone_or_refused(ansible_playbook, azure_double, tmp_path):
    azure_double.control(
        "POST", "/_fake/operations", {"namespace": "Microsoft.ContainerService", "polls": None, "seconds": 600}
    )
    tasks = [
        *NETWORK,
        {"name": "Start", "netpol.aks.aks_cluster": walkthrough(wait=False)},
        {"name": "Same", "netpol.aks.aks_cluster": walkthrough(wait=False)},
        {
            "name": "Scale",
            "netpol.aks.aks_cluster": walkthrough(
                wait=False, node_pool={"count": 3, "vnet_subnet_id": "{{ vnet.subnet_ids.myAKSSubnet }}"}
            ),
            "ignore_errors": True,
        },
    ]
    run = ansible_playbook(write_playbook(tmp_path, tasks), env=azure_double.env)
    assert run.result("Start")["changed"] is True
    assert run.result("Same")["changed"] is False
    assert run.result("Same")["cluster"]["provisioning_state"] == "Creating"
    scale = run.result("Scale")
    assert scale["failed"]
    assert "AKS cluster myAKSCluster is Creating: an operation started earlier is still running" in scale["msg"]
    assert len(cluster_puts(azure_double)) == 1


# --- the double itself is as strict as AKS (the module's preflight bypassed) -----------------------


@pytest.fixture
def sdk(azure_double):
    from azure.mgmt.network import models as nm

    clients = sdk_clients(azure_double)
    clients["resources"].resource_groups.create_or_update(GROUP, {"location": "eastus"})
    vnet = nm.VirtualNetwork(
        location="eastus",
        address_space=nm.AddressSpace(address_prefixes=["10.0.0.0/8"]),
        subnets=[nm.Subnet(name="myAKSSubnet", address_prefix="10.240.0.0/16")],
    )
    clients["network"].virtual_networks.begin_create_or_update(GROUP, "myVnet", vnet).result()
    return clients["aks"]


def rest_cluster(subnet: str, **network):
    return {
        "location": "eastus",
        "identity": {"type": "SystemAssigned"},
        "properties": {
            "dnsPrefix": "np",
            "agentPoolProfiles": [{"name": "nodepool1", "count": 1, "mode": "System", "vnetSubnetID": subnet}],
            "networkProfile": {
                "networkPlugin": "azure",
                "networkPolicy": "calico",
                "serviceCidr": "10.0.0.0/16",
                "dnsServiceIP": "10.0.0.10",
                **network,
            },
        },
    }


@pytest.mark.parametrize(
    ("network", "code"),
    [
        ({"serviceCidr": "10.240.0.0/16", "dnsServiceIP": "10.240.0.10"}, "ServiceCidrOverlapExistingSubnetsCidr"),
        ({"dnsServiceIP": "10.1.0.10"}, "InvalidDNSServiceIP"),
        ({"dnsServiceIP": "10.0.0.1"}, "InvalidDNSServiceIP"),
        ({"dockerBridgeCidr": "172.17.0.1/16"}, "InvalidRequestContent"),
        ({"network_policy": "calico"}, "InvalidRequestContent"),
        ({"networkPolicy": "cilium"}, "NetworkPolicyNotSupported"),
        (
            {"networkPluginMode": "overlay", "podCidr": "192.168.0.0/16", "networkDataplane": "cilium"},
            "BadRequest",  # CiliumDataplaneRequiresNetworkPolicyCilium (calico with the cilium dataplane)
        ),
    ],
)
def test_double_rejects_what_aks_rejects(sdk, azure_double, network, code):
    from azure.core.exceptions import HttpResponseError

    with pytest.raises(HttpResponseError) as excinfo:
        sdk.managed_clusters.begin_create_or_update(
            GROUP, "c", rest_cluster(subnet_id(azure_double), **network)
        ).result()
    assert excinfo.value.error.code == code
    assert azure_double.state()["managed_clusters"] == {}


def test_double_refuses_network_profile_changes(sdk, azure_double):
    from azure.core.exceptions import HttpResponseError

    sdk.managed_clusters.begin_create_or_update(GROUP, "c", rest_cluster(subnet_id(azure_double))).result()
    with pytest.raises(HttpResponseError) as excinfo:
        sdk.managed_clusters.begin_create_or_update(
            GROUP, "c", rest_cluster(subnet_id(azure_double), networkPolicy="azure")
        ).result()
    assert excinfo.value.error.code == "PropertyChangeNotAllowed"
    assert "networkProfile.networkPolicy" in excinfo.value.error.message
    cluster = sdk.managed_clusters.get(GROUP, "c").as_dict()
    assert cluster["properties"]["servicePrincipalProfile"] == {"clientId": "msi"}
    assert cluster["properties"]["nodeResourceGroup"] == "MC_myResourceGroup-NP_c_eastus"
    assert cluster["properties"]["kubernetesVersion"]
    assert cluster["properties"]["powerState"] == {"code": "Running"}
    assert cluster["identity"]["principalId"]


def test_wait_timeout_fails_naming_the_operation(ansible_playbook, azure_double, tmp_path):
    azure_double.control(
        "POST", "/_fake/operations", {"namespace": "Microsoft.ContainerService", "polls": None, "seconds": 600}
    )
    slow = walkthrough(wait_timeout=1, poll_interval=0.2)
    tasks = [*NETWORK, {"name": "Create", "netpol.aks.aks_cluster": slow, "ignore_errors": True}]
    run = ansible_playbook(write_playbook(tmp_path, tasks), env=azure_double.env)
    result = run.result("Create")
    assert result["failed"]
    assert "Failed to create AKS cluster myAKSCluster: still InProgress after" in result["msg"]
    assert "timeout 1 s" in result["msg"]
    assert "Creating" in json.dumps(azure_double.state()["managed_clusters"])  # it goes on in Azure


# --- the network policy engine, changed in place ---------------------------------------------------------------

OVERLAY_ARGS = {"network_plugin_mode": "overlay", "pod_cidr": "192.168.0.0/16"}


def test_npm_to_cilium_in_place_ladder_then_a_refused_change(ansible_playbook, azure_double, tmp_path):
    npm = walkthrough(network_policy="azure", **OVERLAY_ARGS)
    cilium = walkthrough(network_policy="cilium", network_dataplane="cilium", **OVERLAY_ARGS)
    back = walkthrough(network_policy="none", network_dataplane="cilium", **OVERLAY_ARGS)
    tasks = [
        *NETWORK,
        {"name": "NPM cluster", "netpol.aks.aks_cluster": npm},
        *ladder("aks_cluster", cilium, "To Cilium"),
        {"name": "Cilium to none", "netpol.aks.aks_cluster": back, "ignore_errors": True},
    ]
    run = ansible_playbook(write_playbook(tmp_path, tasks), env=azure_double.env, diff=True)
    assert run.rc == 0, run.output
    assert changed_flags(run, ladder_names("To Cilium")) == [True, True, False, False]

    puts = cluster_puts(azure_double)
    assert len(puts) == 2  # the create and the migration; check mode, the reruns and the refused change sent none
    network = puts[1]["body"]["properties"]["networkProfile"]
    assert (network["networkPolicy"], network["networkDataplane"]) == ("cilium", "cilium")  # sent together
    assert network["networkPluginMode"] == "overlay"  # the rest of the profile as it was
    assert puts[1]["if_match"]
    predicted = run.result("To Cilium (check)")
    assert predicted["changes"] == {"network_policy": ["azure", "cilium"], "network_dataplane": ["azure", "cilium"]}
    assert predicted["diff"]["after"]["network_profile"]["network_policy"] == "cilium"
    assert predicted["diff"]["before"]["network_profile"]["network_policy"] == "azure"
    migrated = run.result("To Cilium")
    assert migrated["cluster"]["network_profile"]["network_dataplane"] == "cilium"
    assert "reimages every node pool" in " ".join(migrated.get("warnings", []))
    stored = next(iter(azure_double.state()["managed_clusters"].values()))
    assert stored["_engine_changes"] == [{"from": ["azure", "azure"], "to": ["cilium", "cilium"]}]

    refused = run.result("Cilium to none")
    assert refused["failed"]
    assert "network_policy: is 'cilium' on the existing cluster and cannot change to 'none'" in refused["msg"]
    assert "nothing was changed" in refused["msg"]


@pytest.mark.parametrize(
    ("start", "update", "code", "subcode"),
    [
        (
            {"networkPolicy": "azure"},
            {"networkDataplane": "cilium"},
            "BadRequest",
            "CiliumDataplaneRequiresNetworkPolicyCilium",
        ),
        (
            {"networkPolicy": "azure"},
            {"networkPolicy": "cilium"},
            "NetworkPolicyNotSupported",
            "NetworkPolicyCiliumRequiresCiliumDataplane",
        ),
        ({"networkPolicy": "azure"}, {"networkPolicy": "calico"}, "PropertyChangeNotAllowed", None),
        (
            {"networkPolicy": "cilium", "networkDataplane": "cilium"},
            {"networkPolicy": "none"},
            "BadRequest",
            "CiliumDataplaneRequiresNetworkPolicyCilium",
        ),
        (
            {"networkPolicy": "cilium", "networkDataplane": "cilium"},
            {"networkPolicy": "calico", "networkDataplane": "azure"},
            "PropertyChangeNotAllowed",
            None,
        ),
    ],
)
def test_double_refuses_engine_changes_aks_refuses(sdk, azure_double, start, update, code, subcode):
    from azure.core.exceptions import HttpResponseError

    overlay = {"networkPluginMode": "overlay", "podCidr": "192.168.0.0/16"}
    sdk.managed_clusters.begin_create_or_update(
        GROUP, "c", rest_cluster(subnet_id(azure_double), **overlay, **start)
    ).result()
    with pytest.raises(HttpResponseError) as excinfo:
        sdk.managed_clusters.begin_create_or_update(
            GROUP, "c", rest_cluster(subnet_id(azure_double), **overlay, **{**start, **update})
        ).result()
    assert excinfo.value.error.code == code
    assert excinfo.value.response.json()["error"].get("subcode") == subcode
    network = sdk.managed_clusters.get(GROUP, "c").as_dict()["properties"]["networkProfile"]
    assert network["networkPolicy"] == start["networkPolicy"]  # unchanged


def test_double_refuses_cilium_with_a_windows_pool(sdk, azure_double):
    from azure.core.exceptions import HttpResponseError

    body = rest_cluster(subnet_id(azure_double), networkPluginMode="overlay", podCidr="192.168.0.0/16")
    body["properties"]["agentPoolProfiles"].append(
        {"name": "npwin", "count": 1, "mode": "User", "osType": "Windows", "vnetSubnetID": subnet_id(azure_double)}
    )
    body["properties"]["networkProfile"]["networkPolicy"] = "none"
    sdk.managed_clusters.begin_create_or_update(GROUP, "c", body).result()
    body["properties"]["networkProfile"].update(networkPolicy="cilium", networkDataplane="cilium")
    with pytest.raises(HttpResponseError) as excinfo:
        sdk.managed_clusters.begin_create_or_update(GROUP, "c", body).result()
    assert excinfo.value.response.json()["error"]["subcode"] == "CiliumDataplaneWindowsNodePoolNotSupported"


def test_double_engine_change_reimages_every_pool_while_it_runs(sdk, azure_double):
    overlay = {"networkPluginMode": "overlay", "podCidr": "192.168.0.0/16"}
    sdk.managed_clusters.begin_create_or_update(
        GROUP, "c", rest_cluster(subnet_id(azure_double), networkPolicy="none", **overlay)
    ).result()
    azure_double.control(
        "POST", "/_fake/operations", {"namespace": "Microsoft.ContainerService", "polls": None, "seconds": 600}
    )
    # the partial PUT: networkPolicy given, networkDataplane omitted (AKS keeps the cluster's value)
    sdk.managed_clusters.begin_create_or_update(
        GROUP, "c", rest_cluster(subnet_id(azure_double), networkPolicy="calico", **overlay)
    )
    running = sdk.managed_clusters.get(GROUP, "c").as_dict()["properties"]
    assert running["provisioningState"] == "Updating"
    assert {p["provisioningState"] for p in running["agentPoolProfiles"]} == {"Updating"}
    azure_double.control("POST", "/_fake/operations/settle")
    done = sdk.managed_clusters.get(GROUP, "c").as_dict()["properties"]
    assert done["provisioningState"] == "Succeeded"
    assert {p["provisioningState"] for p in done["agentPoolProfiles"]} == {"Succeeded"}
    assert done["networkProfile"]["networkPolicy"] == "calico"
    assert done["networkProfile"]["networkDataplane"] == "azure"
