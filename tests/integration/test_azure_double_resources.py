"""The Azure double's resource groups, networks and clusters, driven by the real SDKs: as strict as ARM."""

from __future__ import annotations

import pytest
from azure.core.exceptions import HttpResponseError
from azure.core.exceptions import ResourceNotFoundError
from azure.mgmt.containerservice import models as cm
from azure.mgmt.network import models as nm

from tests.integration._azure_playbooks import sdk_clients

GROUP = "rg-double"


@pytest.fixture
def clients(azure_double):
    return sdk_clients(azure_double)


def make_network(clients, prefix="10.240.0.0/16"):
    clients["resources"].resource_groups.create_or_update(GROUP, {"location": "eastus"})
    vnet = nm.VirtualNetwork(
        location="eastus",
        address_space=nm.AddressSpace(address_prefixes=["10.0.0.0/8"]),
        subnets=[nm.Subnet(name="nodes", address_prefix=prefix)],
    )
    return clients["network"].virtual_networks.begin_create_or_update(GROUP, "vnet", vnet).result()


def test_head_answers_204_or_404_without_a_body(clients, azure_double):
    rgs = clients["resources"].resource_groups
    assert rgs.check_existence(GROUP) is False
    rgs.create_or_update(GROUP, {"location": "eastus"})
    assert rgs.check_existence(GROUP) is True
    assert [r["status"] for r in azure_double.arm_requests("HEAD")] == [404, 204]
    with pytest.raises(ResourceNotFoundError) as excinfo:
        rgs.get("missing")
    assert excinfo.value.error.code == "ResourceGroupNotFound"


def test_group_location_is_required_and_cannot_change(clients):
    rgs = clients["resources"].resource_groups
    with pytest.raises(HttpResponseError) as excinfo:
        rgs.create_or_update(GROUP, {"tags": {"a": "b"}})
    assert excinfo.value.error.code == "LocationRequired"
    rgs.create_or_update(GROUP, {"location": "eastus"})
    with pytest.raises(HttpResponseError) as excinfo:
        rgs.create_or_update(GROUP, {"location": "westeurope"})
    assert excinfo.value.error.code == "InvalidResourceGroupLocation"


def test_group_delete_is_a_long_running_operation_removing_its_contents(clients, azure_double):
    make_network(clients)
    clients["resources"].resource_groups.begin_delete(GROUP, polling=False)
    assert clients["resources"].resource_groups.get(GROUP).properties.provisioning_state == "Deleting"
    delete = azure_double.arm_requests("DELETE")[0]
    assert delete["status"] == 202
    azure_double.control("POST", "/_fake/operations/settle")
    state = azure_double.state()
    assert state["resource_groups"] == {}
    assert state["virtual_networks"] == {}
    with pytest.raises(ResourceNotFoundError):
        clients["resources"].resource_groups.get(GROUP)


def test_network_put_is_an_lro_and_subnets_are_served(clients, azure_double):
    vnet = make_network(clients)
    assert vnet.provisioning_state == "Succeeded"
    put = next(r for r in azure_double.arm_requests("PUT") if r["path"].endswith("/virtualNetworks/vnet"))
    assert put["status"] == 201
    subnet = clients["network"].subnets.get(GROUP, "vnet", "nodes")
    assert subnet.address_prefix == "10.240.0.0/16"
    assert subnet.id.endswith("/virtualNetworks/vnet/subnets/nodes")
    extra = (
        clients["network"]
        .subnets.begin_create_or_update(GROUP, "vnet", "more", nm.Subnet(address_prefix="10.241.0.0/16"))
        .result()
    )
    assert extra.provisioning_state == "Succeeded"
    names = [s.name for s in clients["network"].virtual_networks.get(GROUP, "vnet").subnets]
    assert names == ["nodes", "more"]


@pytest.mark.parametrize(
    ("subnets", "code"),
    [
        ([{"name": "a", "properties": {"addressPrefix": "192.168.0.0/24"}}], "NetcfgSubnetRangeOutsideVnet"),
        (
            [
                {"name": "a", "properties": {"addressPrefix": "10.1.0.0/16"}},
                {"name": "b", "properties": {"addressPrefix": "10.1.128.0/17"}},
            ],
            "NetcfgSubnetRangesOverlap",
        ),
        ([{"name": "a", "properties": {"addressPrefix": "10.1.0.1/16"}}], "InvalidCIDRNotation"),
        ([{"name": "a", "properties": {"address_prefix": "10.1.0.0/16"}}], "InvalidRequestContent"),
    ],
)
def test_network_address_plan_errors(clients, subnets, code):
    clients["resources"].resource_groups.create_or_update(GROUP, {"location": "eastus"})
    body = {
        "location": "eastus",
        "properties": {"addressSpace": {"addressPrefixes": ["10.0.0.0/8"]}, "subnets": subnets},
    }
    with pytest.raises(HttpResponseError) as excinfo:
        clients["network"].virtual_networks.begin_create_or_update(GROUP, "vnet", body).result()
    assert excinfo.value.error.code == code


def test_network_in_a_missing_group_and_bad_api_version(clients, azure_double):
    from azure.core.rest import HttpRequest

    create = clients["network"].virtual_networks.begin_create_or_update
    with pytest.raises(HttpResponseError) as excinfo:
        create("nope", "vnet", {"location": "eastus", "properties": {}}).result()
    assert excinfo.value.error.code == "ResourceGroupNotFound"
    url = f"/subscriptions/{azure_double.subscription_id}/resourcegroups/{GROUP}?api-version=2099-01-01"
    response = clients["resources"].send_request(HttpRequest("GET", url))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "InvalidApiVersionParameter"


def test_subnet_in_use_by_a_cluster_cannot_be_deleted(clients):
    vnet = make_network(clients)
    subnet_id = vnet.subnets[0].id
    cluster = cm.ManagedCluster(
        location="eastus",
        identity=cm.ManagedClusterIdentity(type="SystemAssigned"),
        properties=cm.ManagedClusterProperties(
            dns_prefix="c",
            agent_pool_profiles=[
                cm.ManagedClusterAgentPoolProfile(name="np", count=1, mode="System", vnet_subnet_id=subnet_id)
            ],
            network_profile=cm.ContainerServiceNetworkProfile(
                network_plugin="azure", service_cidr="10.0.0.0/16", dns_service_ip="10.0.0.10"
            ),
        ),
    )
    created = clients["aks"].managed_clusters.begin_create_or_update(GROUP, "c", cluster).result()
    assert created.provisioning_state == "Succeeded"
    assert created.service_principal_profile.client_id == "msi"
    assert created.kubernetes_version  # AKS's default when none is asked
    with pytest.raises(HttpResponseError) as excinfo:
        clients["network"].virtual_networks.begin_delete(GROUP, "vnet").result()
    assert excinfo.value.error.code == "InUseSubnetCannotBeDeleted"
    clients["aks"].managed_clusters.begin_delete(GROUP, "c").result()
    with pytest.raises(ResourceNotFoundError):
        clients["aks"].managed_clusters.get(GROUP, "c")
    clients["network"].virtual_networks.begin_delete(GROUP, "vnet").result()


def test_cluster_without_a_system_pool_or_location(clients):
    clients["resources"].resource_groups.create_or_update(GROUP, {"location": "eastus"})
    body = {
        "location": "eastus",
        "identity": {"type": "SystemAssigned"},
        "properties": {"dnsPrefix": "c", "agentPoolProfiles": [{"name": "np", "count": 1, "mode": "User"}]},
    }
    with pytest.raises(HttpResponseError) as excinfo:
        clients["aks"].managed_clusters.begin_create_or_update(GROUP, "c", body).result()
    assert excinfo.value.error.code == "MustDefineAtLeastOneSystemPool"
    body["properties"]["agentPoolProfiles"][0]["mode"] = "System"
    del body["location"]
    with pytest.raises(HttpResponseError) as excinfo:
        clients["aks"].managed_clusters.begin_create_or_update(GROUP, "c", body).result()
    assert excinfo.value.error.code == "LocationRequired"


# --- what ARM refuses, for what the modules send ------------------------------------------------------


def cluster_body(**props):
    return {
        "location": props.pop("location", "eastus"),
        "identity": {"type": "SystemAssigned"},
        "properties": {
            "dnsPrefix": "np",
            "agentPoolProfiles": [{"name": "nodepool1", "count": 1, "mode": "System"}],
            **props,
        },
    }


def arm_error(call):
    with pytest.raises(HttpResponseError) as excinfo:
        call()
    return excinfo.value


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("rg.", "must not end with a period"),
        ("my rg!", "has these invalid characters: ' !'"),
        ("x" * 91, "1 to 90 characters"),
    ],
)
def test_illegal_group_names_are_refused(clients, azure_double, name, message):
    error = arm_error(lambda: clients["resources"].resource_groups.create_or_update(name, {"location": "eastus"}))
    assert (error.status_code, error.error.code) == (400, "InvalidResourceGroup")
    assert message in error.error.message
    assert azure_double.state()["resource_groups"] == {}
    clients["resources"].resource_groups.create_or_update("rg_(ok).1", {"location": "eastus"})


@pytest.mark.parametrize(
    ("vnet", "subnet", "code"),
    [
        ("v", "nodes", "NetcfgInvalidVirtualNetworkSite"),
        ("x" * 65, "nodes", "NetcfgInvalidVirtualNetworkSite"),
        ("-vnet", "nodes", "InvalidResourceName"),
        ("vnet.", "nodes", "InvalidResourceName"),
        ("vnet", "nodes-", "InvalidResourceName"),
        ("vnet", "x" * 81, "InvalidResourceName"),
    ],
)
def test_illegal_network_and_subnet_names_are_refused(clients, azure_double, vnet, subnet, code):
    clients["resources"].resource_groups.create_or_update(GROUP, {"location": "eastus"})
    body = nm.VirtualNetwork(
        location="eastus",
        address_space=nm.AddressSpace(address_prefixes=["10.0.0.0/8"]),
        subnets=[nm.Subnet(name=subnet, address_prefix="10.240.0.0/16")],
    )
    error = arm_error(lambda: clients["network"].virtual_networks.begin_create_or_update(GROUP, vnet, body).result())
    assert (error.status_code, error.error.code) == (400, code)
    assert azure_double.state()["virtual_networks"] == {}


def test_unknown_locations_are_refused(clients, azure_double):
    rgs = clients["resources"].resource_groups
    error = arm_error(lambda: rgs.create_or_update(GROUP, {"location": "eastux"}))
    assert (error.status_code, error.error.code) == (400, "LocationNotAvailableForResourceGroup")
    assert "The provided location 'eastux' is not available for resource group." in error.error.message
    rgs.create_or_update(GROUP, {"location": "East US"})  # display names are accepted
    vnet = nm.VirtualNetwork(location="mars", address_space=nm.AddressSpace(address_prefixes=["10.0.0.0/8"]))
    error = arm_error(lambda: clients["network"].virtual_networks.begin_create_or_update(GROUP, "vnet", vnet).result())
    assert error.error.code == "LocationNotAvailableForResourceType"
    assert "'Microsoft.Network/virtualNetworks'" in error.error.message
    aks = clients["aks"].managed_clusters
    error = arm_error(lambda: aks.begin_create_or_update(GROUP, "c", cluster_body(location="mars")).result())
    assert error.error.code == "LocationNotAvailableForResourceType"
    state = azure_double.state()
    assert state["virtual_networks"] == {}
    assert state["managed_clusters"] == {}


def test_more_than_50_tags_are_refused(clients, azure_double):
    rgs = clients["resources"].resource_groups
    tags = {f"t{i}": "v" for i in range(51)}
    error = arm_error(lambda: rgs.create_or_update(GROUP, {"location": "eastus", "tags": tags}))
    assert (error.status_code, error.error.target) == (400, "tags")
    assert "maximum of 50" in error.error.message
    rgs.create_or_update(GROUP, {"location": "eastus", "tags": dict(list(tags.items())[:50])})
    vnet = nm.VirtualNetwork(
        location="eastus", address_space=nm.AddressSpace(address_prefixes=["10.0.0.0/8"]), tags=tags
    )
    error = arm_error(lambda: clients["network"].virtual_networks.begin_create_or_update(GROUP, "vnet", vnet).result())
    assert "maximum of 50" in error.error.message
    body = {**cluster_body(), "tags": tags}
    error = arm_error(lambda: clients["aks"].managed_clusters.begin_create_or_update(GROUP, "c", body).result())
    assert "maximum of 50" in error.error.message
    assert azure_double.state()["virtual_networks"] == {}


def test_a_stale_if_match_is_412(clients, azure_double):
    from azure.core import MatchConditions

    vnet = make_network(clients)
    networks = clients["network"].virtual_networks
    body = networks.get(GROUP, "vnet")
    stale = 'W/"00000000-0000-0000-0000-000000000000"'
    error = arm_error(
        lambda: networks.begin_create_or_update(GROUP, "vnet", body, headers={"If-Match": stale}).result()
    )
    assert (error.status_code, error.error.code) == (412, "PreconditionFailed")
    networks.begin_create_or_update(GROUP, "vnet", body, headers={"If-Match": vnet.etag}).result()
    assert networks.get(GROUP, "vnet").etag != vnet.etag  # every write changes it

    aks = clients["aks"].managed_clusters
    created = aks.begin_create_or_update(GROUP, "c", cluster_body()).result()
    assert created.e_tag
    error = arm_error(
        lambda: aks.begin_create_or_update(
            GROUP, "c", cluster_body(), etag="stale", match_condition=MatchConditions.IfNotModified
        ).result()
    )
    assert (error.status_code, error.error.code) == (412, "PreconditionFailed")
    aks.begin_create_or_update(
        GROUP, "c", cluster_body(), etag=created.e_tag, match_condition=MatchConditions.IfNotModified
    ).result()
    error = arm_error(
        lambda: aks.begin_create_or_update(
            GROUP, "d", cluster_body(), etag="any", match_condition=MatchConditions.IfNotModified
        ).result()
    )
    assert error.status_code == 412  # If-Match on a cluster that does not exist


@pytest.mark.parametrize(
    ("name", "props", "code", "message"),
    [
        ("my.cluster", {}, "InvalidParameter", "The value of parameter name is invalid."),
        ("c", {"dnsPrefix": "my_prefix"}, "InvalidParameter", "The value of parameter dnsPrefix is invalid."),
        ("c", {"dnsPrefix": "x" * 55}, "InvalidParameter", "The value of parameter dnsPrefix is invalid."),
        (
            "c",
            {"agentPoolProfiles": [{"name": "nodepool1", "count": 1, "mode": "System", "vmSize": "Standard_B1s"}]},
            "BadRequest",
            "does not have enough CPU/memory to run as an AKS node",
        ),
        (
            "c",
            {"agentPoolProfiles": [{"name": "nodepool1", "count": 1, "mode": "System", "vmSize": "Standard_D2s_v9"}]},
            "BadRequest",
            "The VM size of AgentPoolProfile:nodepool1 is not allowed in your subscription in location 'eastus'.",
        ),
    ],
)
def test_aks_refuses_names_dns_prefixes_and_vm_sizes(clients, azure_double, name, props, code, message):
    clients["resources"].resource_groups.create_or_update(GROUP, {"location": "eastus"})
    aks = clients["aks"].managed_clusters
    error = arm_error(lambda: aks.begin_create_or_update(GROUP, name, cluster_body(**props)).result())
    assert (error.status_code, error.error.code) == (400, code)
    assert message in error.error.message
    assert azure_double.state()["managed_clusters"] == {}
    ok = {"agentPoolProfiles": [{"name": "nodepool1", "count": 1, "mode": "System", "vmSize": "standard_d2s_v5"}]}
    aks.begin_create_or_update(GROUP, "my_aks-1", cluster_body(**ok)).result()
