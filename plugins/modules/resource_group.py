#!/usr/bin/python
# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# ruff: noqa: E402  (Ansible modules import after DOCUMENTATION, EXAMPLES and RETURN)
from __future__ import annotations

DOCUMENTATION = r"""
module: resource_group
short_description: Create, update or delete an Azure resource group
version_added: "0.1.0"
description:
  - Ensures an Azure resource group exists with the given location and tags (C(az group create)), or is
    deleted (C(az group delete)).
  - Only what you set is compared and changed; tags are merged into the existing ones unless O(purge_tags=true).
  - Built on the current Azure SDK (C(azure-mgmt-resource) 26); requests carry the REST field names.
options:
  name:
    description:
      - Name of the resource group, 1-90 letters, digits, C(.), C(_), C(-) or parentheses, not ending in C(.)
        (checked before any request).
    type: str
    required: true
  location:
    description:
      - Azure region, for example C(eastus). Required to create the group.
      - A resource group cannot move; a different location for an existing group is an error.
    type: str
  tags:
    description: Tags to set on the group (merged with existing tags unless O(purge_tags=true)); at most 50 in all.
    type: dict
  purge_tags:
    description: Remove tags that are not listed in O(tags).
    type: bool
    default: false
  state:
    description: V(present) creates or updates the group; V(absent) deletes it and everything in it.
    type: str
    choices: [present, absent]
    default: present
  wait:
    description:
      - Wait for the deletion (a long-running operation) to finish.
      - Also wait when the group is being deleted by an earlier run before doing anything (with V(false) the task
        fails saying so when the group should be present).
    type: bool
    default: true
  wait_timeout:
    description: Seconds to wait for the deletion (zero or more).
    type: int
    default: 1800
extends_documentation_fragment:
  - netpol.aks.azure
  - netpol.aks.azure.LRO
  - netpol.aks.attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  idempotent:
    support: full
author:
  - netpol.aks contributors (@netpol)
"""

EXAMPLES = r"""
- name: Create the walkthrough's resource group
  netpol.aks.resource_group:
    name: myResourceGroup-NP
    location: eastus
    tags:
      demo: network-policies

- name: Delete it and everything in it
  netpol.aks.resource_group:
    name: myResourceGroup-NP
    state: absent
"""

RETURN = r"""
resource_group:
  description: The resource group after the task (predicted in check mode); empty when absent.
  returned: always
  type: dict
  contains:
    id:
      description: Resource id.
      type: str
      sample: /subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/myResourceGroup-NP
    name:
      description: Name.
      type: str
    location:
      description: Region.
      type: str
    tags:
      description: Tags.
      type: dict
    provisioning_state:
      description: ARM provisioning state.
      type: str
      sample: Succeeded
"""

import traceback
from typing import Any

from ansible_collections.netpol.aks.plugins.module_utils._arm import LRO_ARGSPEC
from ansible_collections.netpol.aks.plugins.module_utils._arm import as_rest
from ansible_collections.netpol.aks.plugins.module_utils._arm import check_names
from ansible_collections.netpol.aks.plugins.module_utils._arm import get_or_none
from ansible_collections.netpol.aks.plugins.module_utils._arm import in_progress_error
from ansible_collections.netpol.aks.plugins.module_utils._arm import merge_tags
from ansible_collections.netpol.aks.plugins.module_utils._arm import provisioning_state
from ansible_collections.netpol.aks.plugins.module_utils._arm import resource_id
from ansible_collections.netpol.aks.plugins.module_utils._arm import run_lro
from ansible_collections.netpol.aks.plugins.module_utils._arm import same_location
from ansible_collections.netpol.aks.plugins.module_utils._arm import settle
from ansible_collections.netpol.aks.plugins.module_utils._azure import AzureModule
from ansible_collections.netpol.aks.plugins.module_utils._azure import AzureModuleError
from ansible_collections.netpol.aks.plugins.module_utils._azure import azure_call

try:
    from azure.mgmt.resource.resources import ResourceManagementClient
    from azure.mgmt.resource.resources import models
except ImportError:
    IMPORT_ERROR: str | None = traceback.format_exc()
else:
    IMPORT_ERROR = None

ARGSPEC: dict[str, Any] = {
    "name": {"type": "str", "required": True},
    "location": {"type": "str"},
    "tags": {"type": "dict"},
    "purge_tags": {"type": "bool", "default": False},
    "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
    "wait": {"type": "bool", "default": True},
    **LRO_ARGSPEC,
    "wait_timeout": {"type": "int", "default": 1800},
}


def summarize(group: dict[str, Any] | None) -> dict[str, Any]:
    if not group:
        return {}
    return {
        "id": group.get("id"),
        "name": group.get("name"),
        "location": group.get("location"),
        "tags": group.get("tags") or {},
        "provisioning_state": (group.get("properties") or {}).get("provisioningState"),
    }


def desired_tags(params: dict[str, Any], current: dict[str, Any] | None) -> dict[str, str] | None:
    """The tags to send, or None when the user did not set tags (leave them alone)."""
    return merge_tags((current or {}).get("tags"), params["tags"], params["purge_tags"])


def ensure_present(module: AzureModule, client: Any, current: dict | None) -> tuple[bool, dict]:
    params = module.params
    name = params["name"]
    if current is None:
        if not params["location"]:
            raise AzureModuleError(f"location: resource group {name} does not exist; set location to create it")
        body = models.ResourceGroup(location=params["location"])
        tags = desired_tags(params, None)
        if tags is not None:
            body.tags = tags
        if module.check_mode:
            predicted = {
                "id": resource_id(module.subscription_id, name),
                "name": name,
                **as_rest(body),
                "properties": {"provisioningState": "Succeeded"},
            }
            return True, predicted
        with azure_call(f"create resource group {name}"):
            return True, as_rest(client.resource_groups.create_or_update(name, body))
    if provisioning_state(current) == "Deleting":
        raise in_progress_error(f"resource group {name}", "Deleting")  # only without wait
    if params["location"] and not same_location(params["location"], current.get("location") or ""):
        raise AzureModuleError(
            f"location: resource group {name} is in {current.get('location')}, not {params['location']}; "
            "a resource group cannot move: use its current location or another name"
        )
    tags = desired_tags(params, current)
    if tags is None or tags == (current.get("tags") or {}):
        return False, current
    predicted = {**current, "tags": tags}
    if module.check_mode:
        return True, predicted
    body = models.ResourceGroup(location=current["location"], tags=tags)
    with azure_call(f"update the tags of resource group {name}"):
        return True, as_rest(client.resource_groups.create_or_update(name, body))


def ensure_absent(module: AzureModule, client: Any, current: dict | None) -> tuple[bool, dict]:
    if current is None:
        return False, {}
    if provisioning_state(current) == "Deleting":
        return False, current  # without wait: the deletion already runs in Azure
    if not module.check_mode:
        name = module.params["name"]
        run_lro(
            lambda: client.resource_groups.begin_delete(name, polling_interval=module.params["poll_interval"]),
            f"delete resource group {name}",
            wait=module.params["wait"],
            timeout=module.params["wait_timeout"],
        )
    return True, {}


def run(module: AzureModule) -> dict[str, Any]:
    name = module.params["name"]
    check_names(("resource_group", name, "name"))
    client = module.client(ResourceManagementClient)
    current = settle(
        lambda: as_rest(get_or_none(lambda: client.resource_groups.get(name), f"read resource group {name}")),
        f"resource group {name}",
        wait=module.params["wait"],
        timeout=module.params["wait_timeout"],
        interval=module.params["poll_interval"],
    )
    if module.params["state"] == "present":
        changed, after = ensure_present(module, client, current)
    else:
        changed, after = ensure_absent(module, client, current)
    before = summarize(current)
    after_summary = summarize(after)
    return {
        "changed": changed,
        "resource_group": after_summary,
        "diff": {"before": before, "after": after_summary},
    }


def main() -> None:
    module = AzureModule(argument_spec=ARGSPEC, supports_check_mode=True)
    module.require_library("azure-mgmt-resource", IMPORT_ERROR)
    try:
        result = run(module)
    except AzureModuleError as err:
        module.fail_from_error(err)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
