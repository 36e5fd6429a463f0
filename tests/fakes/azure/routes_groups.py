# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Resource groups (Microsoft.Resources, api-version 2025-04-01 from azure-mgmt-resource 26).

HEAD answers 204 / 404 without a body; GET / PUT as ARM; DELETE is a long-running operation
(202 + Location, polled) that removes everything in the group (networks, clusters) when it ends.
Request bodies are checked against the ResourceGroup contract (unknown or snake_case keys -> 400).
"""

from __future__ import annotations

import functools
import re
from typing import Any

from tests.fakes.azure._contract import schema
from tests.fakes.azure.server import ArmError
from tests.fakes.azure.server import Request
from tests.fakes.azure.server import Response
from tests.fakes.azure.server import State
from tests.fakes.azure.server import check_location
from tests.fakes.azure.server import check_tags
from tests.fakes.azure.server import on_reset
from tests.fakes.azure.server import reject_unknown_properties
from tests.fakes.azure.server import route
from tests.fakes.azure.server import start_lro

API_VERSIONS = ("2021-04-01", "2022-09-01", "2024-03-01", "2024-11-01", "2025-04-01")
GROUP = "/subscriptions/{subscriptionId}/resourcegroups/{resourceGroupName}"
# Where other route files keep resources that live in a group (removed with the group).
GROUP_SCOPED_BUCKETS = ("virtual_networks", "managed_clusters")


@functools.cache
def _schema() -> dict[str, Any]:
    from azure.mgmt.resource.resources import models

    return schema(models.ResourceGroup)


@on_reset
def seed(state: State) -> None:
    state.bucket("resource_groups").clear()


def find_group(req: Request, name: str | None = None) -> dict[str, Any]:
    """The stored group, or ARM's 404 ResourceGroupNotFound (also used by the other route files)."""
    name = name or req.params["resourceGroupName"]
    group = req.state.bucket("resource_groups").get(name.lower())
    if group is None:
        raise ArmError(404, "ResourceGroupNotFound", f"Resource group '{name}' could not be found.")
    return group


def _body(group: dict[str, Any]) -> dict[str, Any]:
    body = {
        "id": group["id"],
        "name": group["name"],
        "type": "Microsoft.Resources/resourceGroups",
        "location": group["location"],
        "properties": {"provisioningState": group["provisioningState"]},
    }
    if group.get("tags") is not None:
        body["tags"] = group["tags"]
    return body


# ARM's rule for resource group names (REST spec: ^[-\w\._\(\)]+$, 1-90, not ending in '.').
_NAME_CHAR = re.compile(r"[-\w.()]")


def _check_name(name: str) -> None:
    bad = sorted({c for c in name if not _NAME_CHAR.fullmatch(c)})
    if bad:
        raise ArmError(
            400,
            "InvalidResourceGroup",
            f"The provided resource group name '{name}' has these invalid characters: '{''.join(bad)}'. The name can "
            "only be a letter, digit, '-', '.', '(', ')' or '_'.",
        )
    if not 1 <= len(name) <= 90 or name.endswith("."):
        raise ArmError(
            400,
            "InvalidResourceGroup",
            f"The provided resource group name '{name}' is invalid: it must be 1 to 90 characters long and must not "
            "end with a period.",
        )


def _normal(location: str) -> str:
    return location.replace(" ", "").lower()


@route("HEAD", GROUP, api_versions=API_VERSIONS)
def head_group(req: Request) -> Response:
    exists = req.params["resourceGroupName"].lower() in req.state.bucket("resource_groups")
    return Response(204 if exists else 404)


@route("GET", GROUP, api_versions=API_VERSIONS)
def get_group(req: Request) -> Any:
    return _body(find_group(req))


@route("PUT", GROUP, api_versions=API_VERSIONS)
def put_group(req: Request) -> Any:
    body = req.require_json()
    reject_unknown_properties(body, _schema(), "ResourceGroup")
    name = req.params["resourceGroupName"]
    _check_name(name)
    if not body.get("location"):
        raise ArmError(400, "LocationRequired", "The location property is required for this definition.")
    check_location(body["location"])
    tags = body.get("tags")
    check_tags(tags)
    if tags is not None and (not isinstance(tags, dict) or not all(isinstance(v, str) for v in tags.values())):
        raise ArmError(400, "InvalidRequestContent", "The request content was invalid: tag values must be strings.")
    groups = req.state.bucket("resource_groups")
    existing = groups.get(name.lower())
    if existing is not None:
        if existing["provisioningState"] == "Deleting":
            raise ArmError(
                409,
                "ResourceGroupBeingDeleted",
                f"The resource group '{existing['name']}' is in deprovisioning state and cannot perform this operation.",
            )
        if _normal(existing["location"]) != _normal(body["location"]):
            raise ArmError(
                409,
                "InvalidResourceGroupLocation",
                f"Invalid resource group location '{body['location']}'. The Resource group already exists in location "
                f"'{existing['location']}'.",
            )
        existing["tags"] = tags
        return Response(200, _body(existing))
    group = {
        "id": f"/subscriptions/{req.subscription_id}/resourceGroups/{name}",
        "name": name,
        "location": _normal(body["location"]),
        "tags": tags,
        "provisioningState": "Succeeded",
    }
    groups[name.lower()] = group
    return Response(201, _body(group))


@route("DELETE", GROUP, api_versions=API_VERSIONS)
def delete_group(req: Request) -> Response:
    group = find_group(req)
    if group["provisioningState"] == "Deleting":
        return Response(202, None, {"Retry-After": "0"})
    key = req.params["resourceGroupName"].lower()
    group["provisioningState"] = "Deleting"

    def done(state: State, succeeded: bool, _error: dict[str, Any] | None) -> None:
        groups = state.bucket("resource_groups")
        if not succeeded:
            if key in groups:
                groups[key]["provisioningState"] = "Succeeded"
            return
        groups.pop(key, None)
        for bucket in GROUP_SCOPED_BUCKETS:
            items = state.bucket(bucket)
            for item_key in [k for k, v in items.items() if v.get("resourceGroup", "").lower() == key]:
                items.pop(item_key)

    return start_lro(
        req,
        namespace="Microsoft.Resources",
        location=group["location"],
        on_done=done,
        status=202,
        location_header=True,
    )
