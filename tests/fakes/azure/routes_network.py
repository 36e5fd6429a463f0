# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Virtual networks and subnets (Microsoft.Network, api-version 2026-03-01 from azure-mgmt-network 33).

PUT of a network or a subnet is a long-running operation (201/200 with ``provisioningState:
Updating`` + ``Azure-AsyncOperation``); GET as ARM; DELETE a long-running operation. Bodies are
checked against the VirtualNetwork / Subnet contract (unknown or snake_case keys -> 400
InvalidRequestContent) and the address plan as the network resource provider checks it
(invalid CIDR, subnet outside the address space, overlapping subnets, deleting a subnet in use).
"""

from __future__ import annotations

import copy
import functools
import ipaddress
import re
import uuid
from typing import Any

from tests.fakes.azure._contract import schema
from tests.fakes.azure.routes_groups import find_group
from tests.fakes.azure.server import ArmError
from tests.fakes.azure.server import Request
from tests.fakes.azure.server import Response
from tests.fakes.azure.server import State
from tests.fakes.azure.server import check_location
from tests.fakes.azure.server import check_preconditions
from tests.fakes.azure.server import check_tags
from tests.fakes.azure.server import on_reset
from tests.fakes.azure.server import reject_unknown_properties
from tests.fakes.azure.server import route
from tests.fakes.azure.server import settle_provisioning
from tests.fakes.azure.server import start_delete_lro
from tests.fakes.azure.server import start_lro

API_VERSIONS = ("2024-03-01", "2024-05-01", "2025-05-01", "2026-03-01")
VNET = (
    "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}"
    "/providers/Microsoft.Network/virtualNetworks/{virtualNetworkName}"
)
SUBNET = VNET + "/subnets/{subnetName}"


@functools.cache
def _vnet_schema() -> dict[str, Any]:
    from azure.mgmt.network import models

    return schema(models.VirtualNetwork)


@functools.cache
def _subnet_schema() -> dict[str, Any]:
    from azure.mgmt.network import models

    return schema(models.Subnet)


@on_reset
def seed(state: State) -> None:
    state.bucket("virtual_networks").clear()


def _key(group: str, name: str) -> str:
    return f"{group.lower()}/{name.lower()}"


def find_vnet(req: Request, group: str | None = None, name: str | None = None) -> dict[str, Any]:
    group = group or req.params["resourceGroupName"]
    name = name or req.params["virtualNetworkName"]
    find_group(req, group)
    vnet = req.state.bucket("virtual_networks").get(_key(group, name))
    if vnet is None:
        raise ArmError(
            404,
            "ResourceNotFound",
            f"The Resource 'Microsoft.Network/virtualNetworks/{name}' under resource group '{group}' was not found. "
            "For more details please go to https://aka.ms/ARMResourceNotFoundFix",
        )
    return vnet


def find_subnet_by_id(state: State, subnet_id: str) -> dict[str, Any] | None:
    """The stored subnet resource for a subnet id (used by routes_aks), or None."""
    parts = subnet_id.strip("/").split("/")
    if len(parts) != 10 or parts[5].lower() != "microsoft.network" or parts[8].lower() != "subnets":
        return None
    vnet = state.bucket("virtual_networks").get(_key(parts[3], parts[7]))
    if vnet is None:
        return None
    for subnet in vnet["properties"]["subnets"]:
        if subnet["name"].lower() == parts[9].lower():
            return subnet
    return None


# The network resource provider's rule for resource names (its InvalidResourceName message says it).
_RESOURCE_NAME = re.compile(r"\w([-\w.]*\w)?")


def _check_name(name: Any, *, vnet: bool) -> None:
    if not isinstance(name, str) or len(name) > 80 or not _RESOURCE_NAME.fullmatch(name):
        raise ArmError(
            400,
            "InvalidResourceName",
            f"Resource name {name} is invalid. The name can be up to 80 characters long. It must begin with a word "
            "character, and it must end with a word character or with '_'. The name may contain word characters or "
            "'.', '-', '_'.",
        )
    if vnet and not 2 <= len(name) <= 64:
        raise ArmError(
            400,
            "NetcfgInvalidVirtualNetworkSite",
            f"Virtual network site is not valid as specified with the name '{name}'.",
        )


def _prefixes(props: dict[str, Any]) -> list[str]:
    return [p for p in [props.get("addressPrefix"), *(props.get("addressPrefixes") or [])] if p]


def _cidr(value: Any, resource_id: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    try:
        return ipaddress.ip_network(value, strict=True)
    except (ValueError, TypeError):
        raise ArmError(
            400,
            "InvalidCIDRNotation",
            f"The address prefix {value} in resource {resource_id} has an invalid CIDR notation. For an IPv4 "
            "address prefix the prefix length must be between 0 and 32, and the address must be the network address.",
        ) from None


def _subnet_in_use(state: State, subnet_id: str) -> str | None:
    for cluster in state.bucket("managed_clusters").values():
        for pool in cluster["properties"].get("agentPoolProfiles") or []:
            for key in ("vnetSubnetID", "podSubnetID"):
                if (pool.get(key) or "").lower() == subnet_id.lower():
                    return cluster["id"]
    return None


def _check_plan(req: Request, vnet_id: str, name: str, space: list[str], subnets: list[dict[str, Any]]) -> None:
    nets = [_cidr(p, vnet_id) for p in space]
    if not nets:
        raise ArmError(
            400,
            "InvalidAddressSpace",
            f"Virtual network {vnet_id} must have at least one address prefix in its address space.",
        )
    seen: list[tuple[str, Any]] = []
    for subnet in subnets:
        sub_id = f"{vnet_id}/subnets/{subnet['name']}"
        prefixes = _prefixes(subnet.get("properties") or {})
        if not prefixes:
            raise ArmError(
                400, "InvalidSubnetAddressPrefix", f"Subnet {sub_id} must have an address prefix (addressPrefix)."
            )
        for prefix in prefixes:
            net = _cidr(prefix, sub_id)
            if not any(net.version == n.version and net.subnet_of(n) for n in nets):
                raise ArmError(
                    400,
                    "NetcfgSubnetRangeOutsideVnet",
                    f"Subnet '{subnet['name']}' is not valid because its IP address range is outside the IP address "
                    f"range of virtual network '{name}'.",
                )
            for other_name, other in seen:
                if net.version == other.version and net.overlaps(other):
                    raise ArmError(
                        400,
                        "NetcfgSubnetRangesOverlap",
                        f"Subnet '{subnet['name']}' is not valid because its IP address range overlaps with that of an "
                        f"existing subnet '{other_name}' in virtual network '{name}'.",
                    )
            seen.append((subnet["name"], net))


def _stored_subnet(vnet_id: str, item: dict[str, Any], previous: dict[str, Any] | None) -> dict[str, Any]:
    if not item.get("name"):
        raise ArmError(400, "InvalidRequestFormat", "Cannot parse the request: a subnet has no name.")
    _check_name(item["name"], vnet=False)
    props = {k: v for k, v in (item.get("properties") or {}).items() if k not in ("provisioningState",)}
    return {
        "name": item["name"],
        "id": f"{vnet_id}/subnets/{item['name']}",
        "etag": f'W/"{uuid.uuid4()}"',
        "type": "Microsoft.Network/virtualNetworks/subnets",
        "properties": {
            **props,
            "provisioningState": "Succeeded",
            "privateEndpointNetworkPolicies": props.get("privateEndpointNetworkPolicies", "Disabled"),
            "privateLinkServiceNetworkPolicies": props.get("privateLinkServiceNetworkPolicies", "Enabled"),
            **(
                {"ipConfigurations": previous["properties"]["ipConfigurations"]}
                if previous and previous["properties"].get("ipConfigurations")
                else {}
            ),
        },
    }


def _lro(req: Request, vnet: dict[str, Any], status: int) -> Response:
    vnet["properties"]["provisioningState"] = "Updating"
    key = _key(vnet["resourceGroup"], vnet["name"])

    return start_lro(
        req,
        namespace="Microsoft.Network",
        location=vnet["location"],
        on_done=settle_provisioning("virtual_networks", key),
        status=status,
        body=_public(vnet),
    )


def _public(vnet: dict[str, Any]) -> dict[str, Any]:
    return {k: copy.deepcopy(v) for k, v in vnet.items() if k != "resourceGroup"}


@route("GET", VNET, api_versions=API_VERSIONS)
def get_vnet(req: Request) -> Any:
    return _public(find_vnet(req))


@route("PUT", VNET, api_versions=API_VERSIONS)
def put_vnet(req: Request) -> Response:
    body = req.require_json()
    reject_unknown_properties(body, _vnet_schema(), "VirtualNetwork")
    group_name, name = req.params["resourceGroupName"], req.params["virtualNetworkName"]
    _check_name(name, vnet=True)
    group = find_group(req, group_name)
    if not body.get("location"):
        raise ArmError(400, "LocationRequired", "The location property is required for this definition.")
    check_location(body["location"], "Microsoft.Network/virtualNetworks")
    check_tags(body.get("tags"))
    vnets = req.state.bucket("virtual_networks")
    existing = vnets.get(_key(group_name, name))
    check_preconditions(req, (existing or {}).get("etag"))
    vnet_id = (
        f"/subscriptions/{req.subscription_id}/resourceGroups/{group['name']}"
        f"/providers/Microsoft.Network/virtualNetworks/{name}"
    )
    location = body["location"].replace(" ", "").lower()
    if existing is not None:
        if existing["properties"]["provisioningState"] == "Updating":
            raise ArmError(
                429,
                "AnotherOperationInProgress",
                f"Another operation on this or dependent resource is in progress. To retry later, put the resource "
                f"{vnet_id} again.",
                headers={"Retry-After": "0"},
            )
        if existing["location"] != location:
            raise ArmError(
                400,
                "InvalidResourceLocation",
                f"The resource '{name}' already exists in location '{existing['location']}' in resource group "
                f"'{group['name']}'. A resource with the same name cannot be created in location '{location}'.",
            )
    props = body.get("properties") or {}
    space = list((props.get("addressSpace") or {}).get("addressPrefixes") or [])
    subnets_in = props.get("subnets")
    if subnets_in is None:
        subnets_in = []  # a PUT without subnets removes them, as ARM does
    _check_plan(req, vnet_id, name, space, subnets_in)
    previous = {s["name"].lower(): s for s in (existing or {}).get("properties", {}).get("subnets", [])}
    kept = {s["name"].lower() for s in subnets_in}
    for lower, subnet in previous.items():
        if lower not in kept:
            user = _subnet_in_use(req.state, subnet["id"])
            if user:
                raise ArmError(
                    400,
                    "InUseSubnetCannotBeDeleted",
                    f"Subnet {subnet['name']} is in use by {user} and cannot be deleted. In order to delete the subnet, "
                    "delete all the resources within the subnet.",
                )
    vnet = {
        "id": vnet_id,
        "name": name,
        "type": "Microsoft.Network/virtualNetworks",
        "location": location,
        "etag": f'W/"{uuid.uuid4()}"',
        "resourceGroup": group["name"],
        "properties": {
            **{k: v for k, v in props.items() if k not in ("subnets", "provisioningState", "resourceGuid")},
            "addressSpace": {"addressPrefixes": space},
            "subnets": [_stored_subnet(vnet_id, s, previous.get(s["name"].lower())) for s in subnets_in],
            "resourceGuid": (existing or {}).get("properties", {}).get("resourceGuid") or str(uuid.uuid4()),
            "provisioningState": "Succeeded",
            "virtualNetworkPeerings": [],
            "enableDdosProtection": bool(props.get("enableDdosProtection", False)),
        },
    }
    if body.get("tags") is not None:
        vnet["tags"] = body["tags"]
    vnets[_key(group_name, name)] = vnet
    return _lro(req, vnet, 200 if existing else 201)


@route("DELETE", VNET, api_versions=API_VERSIONS)
def delete_vnet(req: Request) -> Response:
    group_name, name = req.params["resourceGroupName"], req.params["virtualNetworkName"]
    find_group(req, group_name)
    vnets = req.state.bucket("virtual_networks")
    vnet = vnets.get(_key(group_name, name))
    if vnet is None:
        return Response(204)  # NRP answers 204 for a network that does not exist
    for subnet in vnet["properties"]["subnets"]:
        user = _subnet_in_use(req.state, subnet["id"])
        if user:
            raise ArmError(
                400,
                "InUseSubnetCannotBeDeleted",
                f"Subnet {subnet['name']} is in use by {user} and cannot be deleted. In order to delete the subnet, "
                "delete all the resources within the subnet.",
            )
    return start_delete_lro(req, bucket="virtual_networks", key=_key(group_name, name), namespace="Microsoft.Network")


@route("GET", SUBNET, api_versions=API_VERSIONS)
def get_subnet(req: Request) -> Any:
    vnet = find_vnet(req)
    for subnet in vnet["properties"]["subnets"]:
        if subnet["name"].lower() == req.params["subnetName"].lower():
            return copy.deepcopy(subnet)
    raise ArmError(
        404,
        "NotFound",
        f"Resource {vnet['id']}/subnets/{req.params['subnetName']} not found.",
    )


@route("PUT", SUBNET, api_versions=API_VERSIONS)
def put_subnet(req: Request) -> Response:
    body = req.require_json()
    reject_unknown_properties(body, _subnet_schema(), "Subnet")
    vnet = find_vnet(req)
    name = req.params["subnetName"]
    _check_name(name, vnet=False)
    item = {**body, "name": name}
    subnets = [s for s in vnet["properties"]["subnets"] if s["name"].lower() != name.lower()]
    previous = next((s for s in vnet["properties"]["subnets"] if s["name"].lower() == name.lower()), None)
    check_preconditions(req, (previous or {}).get("etag"))
    _check_plan(req, vnet["id"], vnet["name"], vnet["properties"]["addressSpace"]["addressPrefixes"], [*subnets, item])
    stored = _stored_subnet(vnet["id"], item, previous)
    vnet["properties"]["subnets"] = [*subnets, stored]
    vnet["properties"]["provisioningState"] = "Updating"
    key = _key(vnet["resourceGroup"], vnet["name"])

    return start_lro(
        req,
        namespace="Microsoft.Network",
        location=vnet["location"],
        on_done=settle_provisioning("virtual_networks", key),
        status=200 if previous else 201,
        body=copy.deepcopy(stored),
    )
