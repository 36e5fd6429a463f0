"""aks_cluster: preflight validation, request models and idempotence comparison (no I/O)."""

from __future__ import annotations

import pytest
from azure.mgmt.containerservice import models

from ansible_collections.netpol.aks.plugins.module_utils import _aks

SUBNET_ID = (
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/myResourceGroup-NP/providers/"
    "Microsoft.Network/virtualNetworks/myVnet/subnets/myAKSSubnet"
)


def walkthrough(**overrides):
    """The walkthrough's `az aks create` values as module parameters."""
    params = {
        "name": "myAKSCluster",
        "resource_group": "myResourceGroup-NP",
        "location": "eastus",
        "dns_prefix": None,
        "kubernetes_version": None,
        "node_pool": {"name": "nodepool1", "count": 1, "vm_size": "Standard_DS2_v2", "vnet_subnet_id": SUBNET_ID},
        "network_plugin": "azure",
        "network_plugin_mode": None,
        "network_policy": "calico",
        "network_dataplane": None,
        "pod_cidr": None,
        "service_cidr": "10.0.0.0/16",
        "dns_service_ip": "10.0.0.10",
        "docker_bridge_cidr": None,
        "ssh_public_key": None,
        "tags": None,
        "purge_tags": False,
    }
    pool = overrides.pop("node_pool", None)
    params.update(overrides)
    if pool:
        params["node_pool"] = {**params["node_pool"], **pool}
    return params


def test_walkthrough_values_pass():
    assert _aks.preflight(walkthrough(), subnet_prefixes=["10.240.0.0/16"]) == []


def test_docker_bridge_is_a_warning_not_an_error():
    warnings = _aks.preflight(walkthrough(docker_bridge_cidr="172.17.0.1/16"))
    assert len(warnings) == 1
    assert "docker_bridge_cidr" in warnings[0]
    assert "2023-04-01" in warnings[0]


@pytest.mark.parametrize(
    ("overrides", "subnets", "field", "fix"),
    [
        ({"service_cidr": "10.0.0/16"}, None, "service_cidr", "e.g. 10.0.0.0/16"),
        ({"service_cidr": "10.0.0.1/16"}, None, "service_cidr", "did you mean 10.0.0.0/16"),
        ({"service_cidr": "banana"}, None, "service_cidr", "network address"),
        ({"service_cidr": "10.0.0.0/31", "dns_service_ip": "10.0.0.1"}, None, "service_cidr", "/30 or larger"),
        (
            {"pod_cidr": "10.244.0.0/33", "network_plugin": "kubenet", "network_policy": "calico"},
            None,
            "pod_cidr",
            "CIDR",
        ),
        ({"dns_service_ip": "10.0.0.300"}, None, "dns_service_ip", "not an IP address"),
        ({"dns_service_ip": "10.1.0.10"}, None, "dns_service_ip", "outside service_cidr"),
        ({"dns_service_ip": "10.0.0.0"}, None, "dns_service_ip", "network address"),
        ({"dns_service_ip": "10.0.0.1"}, None, "dns_service_ip", "first address"),
        ({"dns_service_ip": "10.0.255.255"}, None, "dns_service_ip", "broadcast"),
        ({"dns_service_ip": None}, None, "dns_service_ip", "set together"),
        ({"service_cidr": None}, None, "service_cidr", "set together"),
        (
            {"service_cidr": "10.240.0.0/16", "dns_service_ip": "10.240.0.10"},
            ["10.240.0.0/16"],
            "service_cidr",
            "overlaps the node subnet",
        ),
        (
            {"service_cidr": "10.0.0.0/8", "dns_service_ip": "10.0.0.10"},
            ["10.240.0.0/16"],
            "service_cidr",
            "overlaps the node subnet",
        ),
        (
            {"network_plugin_mode": "overlay", "pod_cidr": "10.240.128.0/17"},
            ["10.240.0.0/16"],
            "pod_cidr",
            "overlaps the node subnet",
        ),
        ({"network_plugin_mode": "overlay", "pod_cidr": "10.0.128.0/17"}, None, "service_cidr", "overlaps pod_cidr"),
        ({"network_policy": "cilium"}, None, "network_policy", "requires network_dataplane cilium"),
        (
            {"network_dataplane": "cilium", "network_policy": "cilium"},
            None,
            "network_dataplane",
            "overlay or a pod subnet",
        ),
        (
            {"network_dataplane": "cilium", "network_plugin": "kubenet", "network_policy": "cilium"},
            None,
            "network_dataplane",
            "requires network_plugin azure",
        ),
        (
            {"network_dataplane": "cilium", "network_plugin_mode": "overlay", "network_policy": "calico"},
            None,
            "network_policy",
            "cannot be used with network_dataplane cilium",
        ),
        (
            {"network_dataplane": "cilium", "network_plugin_mode": "overlay", "network_policy": "azure"},
            None,
            "network_policy",
            "cannot be used with network_dataplane cilium",
        ),
        (
            {"network_plugin": "kubenet", "network_policy": "azure"},
            None,
            "network_policy",
            "requires network_plugin azure",
        ),
        ({"network_plugin": "none", "network_policy": "calico"}, None, "network_policy", "network_plugin none"),
        (
            {"network_plugin": "kubenet", "network_plugin_mode": "overlay"},
            None,
            "network_plugin_mode",
            "requires network_plugin azure",
        ),
        ({"pod_cidr": "10.244.0.0/16"}, None, "pod_cidr", "only used with network_plugin kubenet"),
        (
            {"network_plugin_mode": "overlay", "node_pool": {"pod_subnet_id": SUBNET_ID + "2"}},
            None,
            "node_pool.pod_subnet_id",
            "cannot be used with network_plugin_mode overlay",
        ),
        ({"node_pool": {"count": 0}}, None, "node_pool.count", "between 1 and 1000"),
        ({"node_pool": {"count": 1001}}, None, "node_pool.count", "between 1 and 1000"),
        ({"node_pool": {"name": "Node_Pool"}}, None, "node_pool.name", "lower-case"),
        ({"node_pool": {"vnet_subnet_id": "myAKSSubnet"}}, None, "node_pool.vnet_subnet_id", "/subscriptions/"),
        ({"name": "-bad"}, None, "name", "letters, digits"),
        ({"name": "x" * 64}, None, "name", "1-63"),
        ({"dns_prefix": "bad_prefix"}, None, "dns_prefix", "letters, digits or '-'"),
        ({"docker_bridge_cidr": "172.17.0.1"}, None, "docker_bridge_cidr", "prefix length"),
        ({}, ["10.240.0.0/99"], "node_pool.vnet_subnet_prefix", "CIDR"),
        ({"kubernetes_version": "latest"}, None, "kubernetes_version", "major.minor"),
        ({"kubernetes_version": "v1.34"}, None, "kubernetes_version", "omit it"),
    ],
)
def test_bad_input_names_the_field_and_the_fix(overrides, subnets, field, fix):
    with pytest.raises(_aks.PreflightError) as excinfo:
        _aks.preflight(walkthrough(**overrides), subnet_prefixes=subnets)
    message = str(excinfo.value)
    assert any(err.startswith(f"{field}:") for err in excinfo.value.errors), message
    assert fix in message


def test_all_errors_are_reported_at_once():
    with pytest.raises(_aks.PreflightError) as excinfo:
        _aks.preflight(walkthrough(service_cidr="nope", node_pool={"count": 0}, network_policy="cilium"))
    fields = {err.split(":")[0] for err in excinfo.value.errors}
    assert {"service_cidr", "node_pool.count", "network_policy"} <= fields


@pytest.mark.parametrize(
    "overrides",
    [
        {
            "network_plugin_mode": "overlay",
            "network_dataplane": "cilium",
            "network_policy": "cilium",
            "pod_cidr": "192.168.0.0/16",
        },
        {"network_plugin": "kubenet", "network_policy": "calico", "pod_cidr": "10.244.0.0/16"},
        {"network_plugin": "none", "network_policy": "none"},
        {"network_plugin": "azure", "network_policy": "azure"},
        {"network_plugin": "azure", "network_policy": "none"},
    ],
)
def test_supported_combinations_pass(overrides):
    assert _aks.preflight(walkthrough(**overrides), subnet_prefixes=["10.240.0.0/16"]) == []


def test_build_cluster_wire_format_is_camel_case_without_docker_bridge():
    body = _aks.build_cluster(
        models, walkthrough(docker_bridge_cidr="172.17.0.1/16", tags={"demo": "netpol"})
    ).as_dict()
    assert body == {
        "location": "eastus",
        "tags": {"demo": "netpol"},
        "identity": {"type": "SystemAssigned"},
        "properties": {
            "dnsPrefix": "myAKSCluster",
            "enableRBAC": True,
            "agentPoolProfiles": [
                {
                    "name": "nodepool1",
                    "count": 1,
                    "vmSize": "Standard_DS2_v2",
                    "mode": "System",
                    "osType": "Linux",
                    "type": "VirtualMachineScaleSets",
                    "vnetSubnetID": SUBNET_ID,
                }
            ],
            "networkProfile": {
                "networkPlugin": "azure",
                "networkPolicy": "calico",
                "serviceCidr": "10.0.0.0/16",
                "dnsServiceIP": "10.0.0.10",
            },
        },
    }


def test_build_cluster_optional_fields():
    body = _aks.build_cluster(
        models,
        walkthrough(kubernetes_version="1.34", ssh_public_key="ssh-ed25519 AAAA test", dns_prefix="np-demo"),
    ).as_dict()
    props = body["properties"]
    assert props["kubernetesVersion"] == "1.34"
    assert props["dnsPrefix"] == "np-demo"
    assert props["linuxProfile"] == {
        "adminUsername": "azureuser",
        "ssh": {"publicKeys": [{"keyData": "ssh-ed25519 AAAA test"}]},
    }
    assert "kubernetesVersion" not in _aks.build_cluster(models, walkthrough()).as_dict()["properties"]


def test_default_dns_prefix():
    assert _aks.default_dns_prefix("my_cluster") == "my-cluster"
    assert _aks.default_dns_prefix("___") == "aks"


def current_cluster(**network):
    return {
        "id": "/subscriptions/s/resourcegroups/rg/providers/Microsoft.ContainerService/managedClusters/myAKSCluster",
        "name": "myAKSCluster",
        "location": "eastus",
        "tags": {"owner": "someone"},
        "properties": {
            "provisioningState": "Succeeded",
            "kubernetesVersion": "1.34.2",
            "dnsPrefix": "myAKSCluster",
            "agentPoolProfiles": [
                {
                    "name": "nodepool1",
                    "count": 1,
                    "vmSize": "Standard_DS2_v2",
                    "mode": "System",
                    "vnetSubnetID": SUBNET_ID,
                }
            ],
            "networkProfile": {
                "networkPlugin": "azure",
                "networkPolicy": "calico",
                "serviceCidr": "10.0.0.0/16",
                "dnsServiceIP": "10.0.0.10",
                "loadBalancerSku": "standard",
                **network,
            },
        },
    }


def test_compare_same_values_is_no_change():
    assert _aks.compare(walkthrough(), current_cluster()) == ({}, [])


def test_compare_ignores_what_the_user_did_not_set():
    params = walkthrough(network_policy=None, service_cidr=None, dns_service_ip=None, node_pool={"count": None})
    assert _aks.compare(params, current_cluster(networkPolicy="azure")) == ({}, [])


def test_compare_version_prefix_matches_patch_level():
    assert _aks.compare(walkthrough(kubernetes_version="1.34"), current_cluster()) == ({}, [])
    changes, _unused = _aks.compare(walkthrough(kubernetes_version="1.35"), current_cluster())
    assert changes == {"kubernetes_version": ("1.34.2", "1.35")}


def test_compare_mutable_changes():
    changes, immutable = _aks.compare(walkthrough(node_pool={"count": 3}, tags={"demo": "netpol"}), current_cluster())
    assert immutable == []
    assert changes == {
        "node_pool.count": (1, 3),
        "tags": ({"owner": "someone"}, {"owner": "someone", "demo": "netpol"}),
    }
    body = _aks.apply_changes(current_cluster(), walkthrough(node_pool={"count": 3}), changes)
    assert body["properties"]["agentPoolProfiles"][0]["count"] == 3
    assert body["tags"] == {"owner": "someone", "demo": "netpol"}


def test_compare_purge_tags():
    changes, _unused = _aks.compare(walkthrough(tags={"demo": "netpol"}, purge_tags=True), current_cluster())
    assert changes["tags"][1] == {"demo": "netpol"}


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"network_policy": "azure"}, "network_policy"),
        ({"network_plugin": "kubenet", "network_policy": None}, "network_plugin"),
        ({"service_cidr": "10.1.0.0/16", "dns_service_ip": "10.1.0.10"}, "service_cidr"),
        ({"dns_service_ip": "10.0.0.11"}, "dns_service_ip"),
        ({"network_plugin_mode": "overlay"}, "network_plugin_mode"),
        ({"location": "westeurope"}, "location"),
        ({"node_pool": {"vm_size": "Standard_D4s_v5"}}, "node_pool.vm_size"),
        ({"node_pool": {"vnet_subnet_id": SUBNET_ID + "x"}}, "node_pool.vnet_subnet_id"),
        ({"node_pool": {"name": "other"}}, "node_pool.name"),
        ({"dns_prefix": "other"}, "dns_prefix"),
    ],
)
def test_compare_immutable_fields_are_named(overrides, field):
    _changes, immutable = _aks.compare(walkthrough(**overrides), current_cluster())
    assert immutable
    assert immutable[0].startswith(f"{field}:")
    assert "cannot" in immutable[0]


def test_compare_normalises_case_and_cidr_spelling():
    current = current_cluster(networkPlugin="Azure", serviceCidr="10.0.0.0/16")
    current["properties"]["agentPoolProfiles"][0]["vnetSubnetID"] = SUBNET_ID.lower()
    assert _aks.compare(walkthrough(), current) == ({}, [])


def test_summarize():
    summary = _aks.summarize(current_cluster())
    assert summary["network_profile"] == {
        "network_plugin": "azure",
        "network_policy": "calico",
        "service_cidr": "10.0.0.0/16",
        "dns_service_ip": "10.0.0.10",
    }
    assert summary["kubernetes_version"] == "1.34.2"
    assert summary["node_pools"][0]["vnet_subnet_id"] == SUBNET_ID
    assert _aks.summarize(None) == {}


@pytest.mark.parametrize("state", ["Failed", "Canceled"])
def test_compare_a_failed_cluster_is_a_change_that_a_put_repairs(state):
    current = current_cluster()
    current["properties"]["provisioningState"] = state
    changes, immutable = _aks.compare(walkthrough(), current)
    assert immutable == []
    assert changes == {"provisioning_state": (state, "Succeeded")}
    # the repair sends the cluster as it is
    assert _aks.apply_changes(current, walkthrough(), changes) == current


# --- network policy engine changes in place ----------------------------------------------------------------

OVERLAY = {"networkPluginMode": "overlay", "podCidr": "192.168.0.0/16"}


def engine_params(policy, dataplane=None, **overrides):
    """Only what a migration sets: the engine (and the plugin it already has)."""
    return walkthrough(
        network_policy=policy,
        network_dataplane=dataplane,
        network_plugin=None,
        service_cidr=None,
        dns_service_ip=None,
        **overrides,
    )


@pytest.mark.parametrize(
    ("have", "policy", "dataplane", "expected"),
    [
        ({"networkPolicy": "none"}, "azure", None, {"network_policy": ("none", "azure")}),
        ({"networkPolicy": "none"}, "calico", None, {"network_policy": ("none", "calico")}),
        ({}, "calico", None, {"network_policy": ("none", "calico")}),  # no networkPolicy means none
        (
            {"networkPolicy": "azure", "networkDataplane": "azure", **OVERLAY},
            "cilium",
            "cilium",
            {"network_policy": ("azure", "cilium"), "network_dataplane": ("azure", "cilium")},
        ),
        (
            {"networkPolicy": "calico", **OVERLAY},
            "cilium",
            "cilium",
            {"network_policy": ("calico", "cilium"), "network_dataplane": ("azure", "cilium")},
        ),
        ({"networkPolicy": "azure"}, "none", None, {"network_policy": ("azure", "none")}),
        ({"networkPolicy": "calico"}, "none", None, {"network_policy": ("calico", "none")}),
    ],
)
def test_engine_changes_aks_makes_in_place(have, policy, dataplane, expected):
    current = current_cluster(**have)
    if "networkPolicy" not in have:
        del current["properties"]["networkProfile"]["networkPolicy"]
    changes, immutable = _aks.compare(engine_params(policy, dataplane), current)
    assert immutable == []
    assert changes == expected
    body = _aks.apply_changes(current, engine_params(policy, dataplane), changes)
    network = body["properties"]["networkProfile"]
    assert network["networkPolicy"] == policy
    assert network.get("networkDataplane") == (dataplane or have.get("networkDataplane"))
    # the rest of the profile is sent back as it was
    assert network["serviceCidr"] == "10.0.0.0/16"
    assert _aks.compare(engine_params(policy, dataplane), body) == ({}, [])  # idempotent once applied


@pytest.mark.parametrize(
    ("have", "policy", "dataplane", "pools", "field", "fix"),
    [
        ({"networkPolicy": "azure"}, "calico", None, None, "network_policy", "go through none"),
        ({"networkPolicy": "calico"}, "azure", None, None, "network_policy", "go through none"),
        (
            {"networkPolicy": "cilium", "networkDataplane": "cilium", **OVERLAY},
            "none",
            None,
            None,
            "network_policy",
            "Cilium cannot be replaced or removed in place",
        ),
        (
            {"networkPolicy": "cilium", "networkDataplane": "cilium", **OVERLAY},
            "calico",
            "azure",
            None,
            "network_dataplane",
            "keep network_dataplane: cilium",
        ),
        (
            {"networkPlugin": "kubenet", "networkPolicy": "calico", "podCidr": "10.244.0.0/16"},
            "cilium",
            "cilium",
            None,
            "network_policy",
            "move it to Azure CNI overlay first",
        ),
        ({"networkPolicy": "azure"}, "cilium", "cilium", None, "network_policy", "move it to overlay first"),
        (
            {"networkPolicy": "azure", **OVERLAY},
            "cilium",
            "cilium",
            [{"name": "npwin", "osType": "Windows", "mode": "User"}],
            "network_policy",
            "Windows node pools (npwin)",
        ),
        (
            {"networkPlugin": "kubenet", "networkPolicy": "none", "podCidr": "10.244.0.0/16"},
            "azure",
            None,
            None,
            "network_policy",
            "use network_policy: calico",
        ),
    ],
)
def test_engine_changes_aks_refuses_name_the_field_and_the_fix(have, policy, dataplane, pools, field, fix):
    current = current_cluster(**have)
    if pools:
        current["properties"]["agentPoolProfiles"] += pools
    changes, immutable = _aks.compare(engine_params(policy, dataplane), current)
    assert "network_policy" not in changes
    assert "network_dataplane" not in changes
    assert len(immutable) == 1, immutable
    assert immutable[0].startswith(f"{field}:")
    assert fix in immutable[0]


def test_engine_change_refused_with_node_auto_provisioning():
    current = current_cluster(networkPolicy="azure", **OVERLAY)
    current["properties"]["nodeProvisioningProfile"] = {"mode": "Auto"}
    _changes, immutable = _aks.compare(engine_params("cilium", "cilium"), current)
    assert immutable
    assert "node auto-provisioning" in immutable[0]


def test_engine_unchanged_is_no_change():
    current = current_cluster(networkPolicy="cilium", networkDataplane="cilium", **OVERLAY)
    assert _aks.compare(engine_params("cilium", "cilium"), current) == ({}, [])
    assert _aks.compare(engine_params("Cilium", None), current) == ({}, [])
