#!/usr/bin/python
# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# ruff: noqa: E402  (Ansible modules import after DOCUMENTATION, EXAMPLES and RETURN)
from __future__ import annotations

DOCUMENTATION = r"""
module: virtual_network
short_description: Create, update or delete an Azure virtual network and its subnets
version_added: "0.1.0"
description:
  - Ensures an Azure virtual network with the given address prefixes and subnets
    (C(az network vnet create --address-prefixes ... --subnet-name ... --subnet-prefix ...)), or deletes it.
  - Only what you set is compared and changed. Subnets not listed are kept unless O(purge_subnets=true);
    tags are merged unless O(purge_tags=true). Existing subnets keep their other settings.
  - A network whose last operation failed (provisioning state V(Failed)) is sent again, which retries it, and the
    task reports a change; a task that fails after its request was accepted reports C(changed=true).
  - Returns the subnet ids, ready for M(netpol.aks.aks_cluster)'s O(netpol.aks.aks_cluster#module:node_pool.vnet_subnet_id).
options:
  name:
    description:
      - Name of the virtual network, 2-64 letters, digits, C(_), C(.), C(-), starting with a letter or digit and
        ending with a letter, digit or C(_) (checked before any request, as are the subnet and group names).
    type: str
    required: true
  resource_group:
    description: Resource group of the virtual network.
    type: str
    required: true
  location:
    description: Azure region. When creating without it, the resource group's location is used.
    type: str
  address_prefixes:
    description:
      - The address space, for example V(10.0.0.0/8). Required to create the network.
      - When set, the address space is made exactly this list.
    type: list
    elements: str
  subnets:
    description: Subnets to ensure in the network.
    type: list
    elements: dict
    suboptions:
      name:
        description: Subnet name, 1-80 characters, same characters as the network name.
        type: str
        required: true
      address_prefix:
        description: Subnet address range, for example V(10.240.0.0/16); it must lie inside O(address_prefixes).
        type: str
        required: true
  purge_subnets:
    description: Delete subnets that are not listed in O(subnets).
    type: bool
    default: false
  tags:
    description: Tags to set (merged with existing tags unless O(purge_tags=true)); at most 50 in all.
    type: dict
  purge_tags:
    description: Remove tags that are not listed in O(tags).
    type: bool
    default: false
  state:
    description: V(present) creates or updates the network; V(absent) deletes it.
    type: str
    choices: [present, absent]
    default: present
  wait:
    description:
      - Wait for the long-running deletion to finish (a create or update is always waited for).
      - Also wait, before comparing or writing anything, when the network is in the middle of an operation
        started earlier (V(Updating), V(Deleting), for example by a run that was interrupted). With V(false) such
        a network is left alone when nothing needs to change, and the task fails saying so when something does.
    type: bool
    default: true
  wait_timeout:
    description: Seconds to wait for a long-running operation (zero or more).
    type: int
    default: 900
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
- name: Create the walkthrough's network (az network vnet create)
  netpol.aks.virtual_network:
    name: myVnet
    resource_group: myResourceGroup-NP
    location: eastus
    address_prefixes: [10.0.0.0/8]
    subnets:
      - name: myAKSSubnet
        address_prefix: 10.240.0.0/16
  register: vnet

- name: Use the subnet id
  ansible.builtin.debug:
    msg: "{{ vnet.subnet_ids.myAKSSubnet }}"
"""

RETURN = r"""
virtual_network:
  description: The virtual network after the task (predicted in check mode); empty when absent.
  returned: always
  type: dict
  contains:
    id:
      description: Resource id (predicted in check mode when creating).
      type: str
    name:
      description: Name.
      type: str
    location:
      description: Region.
      type: str
    address_prefixes:
      description: Address space.
      type: list
      elements: str
    subnets:
      description: Subnets with C(name), C(id) and C(address_prefix).
      type: list
      elements: dict
    tags:
      description: Tags.
      type: dict
    provisioning_state:
      description: ARM provisioning state.
      type: str
subnet_ids:
  description: Subnet name to resource id.
  returned: when state is present
  type: dict
  sample:
    myAKSSubnet: /subscriptions/0000/resourceGroups/myResourceGroup-NP/providers/Microsoft.Network/virtualNetworks/myVnet/subnets/myAKSSubnet
"""

import copy
import ipaddress
import traceback
from typing import Any

from ansible_collections.netpol.aks.plugins.module_utils._arm import LRO_ARGSPEC
from ansible_collections.netpol.aks.plugins.module_utils._arm import REPAIRABLE_STATES
from ansible_collections.netpol.aks.plugins.module_utils._arm import as_rest
from ansible_collections.netpol.aks.plugins.module_utils._arm import check_names
from ansible_collections.netpol.aks.plugins.module_utils._arm import get_or_none
from ansible_collections.netpol.aks.plugins.module_utils._arm import in_progress_error
from ansible_collections.netpol.aks.plugins.module_utils._arm import in_transit
from ansible_collections.netpol.aks.plugins.module_utils._arm import merge_tags
from ansible_collections.netpol.aks.plugins.module_utils._arm import provisioning_state
from ansible_collections.netpol.aks.plugins.module_utils._arm import resource_id
from ansible_collections.netpol.aks.plugins.module_utils._arm import run_lro
from ansible_collections.netpol.aks.plugins.module_utils._arm import same_location
from ansible_collections.netpol.aks.plugins.module_utils._arm import settle
from ansible_collections.netpol.aks.plugins.module_utils._azure import AzureModule
from ansible_collections.netpol.aks.plugins.module_utils._azure import AzureModuleError

try:
    from azure.mgmt.network import NetworkManagementClient
    from azure.mgmt.network import models
    from azure.mgmt.resource.resources import ResourceManagementClient
except ImportError:
    IMPORT_ERROR: str | None = traceback.format_exc()
else:
    IMPORT_ERROR = None

ARGSPEC: dict[str, Any] = {
    "name": {"type": "str", "required": True},
    "resource_group": {"type": "str", "required": True},
    "location": {"type": "str"},
    "address_prefixes": {"type": "list", "elements": "str"},
    "subnets": {
        "type": "list",
        "elements": "dict",
        "options": {
            "name": {"type": "str", "required": True},
            "address_prefix": {"type": "str", "required": True},
        },
    },
    "purge_subnets": {"type": "bool", "default": False},
    "tags": {"type": "dict"},
    "purge_tags": {"type": "bool", "default": False},
    "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
    "wait": {"type": "bool", "default": True},
    **LRO_ARGSPEC,
    "wait_timeout": {"type": "int", "default": 900},
}


def validate(params: dict[str, Any]) -> None:
    """Address checks before any request; raise AzureModuleError naming the field."""
    errors = []
    space = []
    for i, prefix in enumerate(params.get("address_prefixes") or []):
        try:
            space.append(ipaddress.ip_network(prefix, strict=True))
        except ValueError as exc:
            errors.append(f"address_prefixes[{i}]: {prefix!r} is not a valid CIDR network ({exc}); e.g. 10.0.0.0/8")
    seen: dict[str, Any] = {}
    for i, subnet in enumerate(params.get("subnets") or []):
        try:
            net = ipaddress.ip_network(subnet["address_prefix"], strict=True)
        except ValueError as exc:
            errors.append(
                f"subnets[{i}].address_prefix: {subnet['address_prefix']!r} is not a valid CIDR network ({exc}); "
                "e.g. 10.240.0.0/16"
            )
            continue
        if subnet["name"] in seen:
            errors.append(f"subnets[{i}].name: subnet {subnet['name']!r} is listed twice; list each subnet once")
        if space and not any(net.version == s.version and net.subnet_of(s) for s in space):
            errors.append(
                f"subnets[{i}].address_prefix: {net} is not inside address_prefixes "
                f"({', '.join(map(str, space))}); widen the address space or pick a range inside it"
            )
        for other_name, other in seen.items():
            if net.version == other.version and net.overlaps(other):
                errors.append(f"subnets[{i}].address_prefix: {net} overlaps subnet {other_name} ({other})")
        seen[subnet["name"]] = net
    if errors:
        raise AzureModuleError("; ".join(errors))


def subnet_prefix(subnet: dict[str, Any]) -> str | None:
    props = subnet.get("properties") or {}
    return props.get("addressPrefix") or next(iter(props.get("addressPrefixes") or []), None)


def same_net(a: str | None, b: str | None) -> bool:
    if a is None or b is None:
        return a == b
    try:
        return ipaddress.ip_network(a, strict=False) == ipaddress.ip_network(b, strict=False)
    except ValueError:
        return a == b


def desired_body(params: dict[str, Any], current: dict[str, Any] | None) -> dict[str, Any]:
    """The REST-shaped VNet to PUT: the current one with what the user set applied."""
    body = copy.deepcopy(current) if current else {"location": params["location"], "properties": {}}
    props = body.setdefault("properties", {})
    if params.get("address_prefixes") is not None:
        props["addressSpace"] = {"addressPrefixes": list(params["address_prefixes"])}
    if params.get("subnets") is not None:
        existing = {s.get("name"): s for s in props.get("subnets") or []}
        wanted = []
        for item in params["subnets"]:
            subnet = copy.deepcopy(existing.pop(item["name"], None)) or {"name": item["name"], "properties": {}}
            sprops = subnet.setdefault("properties", {})
            if not same_net(subnet_prefix(subnet), item["address_prefix"]):
                sprops.pop("addressPrefixes", None)
                sprops["addressPrefix"] = item["address_prefix"]
            wanted.append(subnet)
        if not params.get("purge_subnets"):
            wanted.extend(existing.values())
        props["subnets"] = wanted
    tags = merge_tags((current or {}).get("tags"), params.get("tags"), bool(params.get("purge_tags")))
    if tags is not None:
        body["tags"] = tags
    return body


def summarize(vnet: dict[str, Any] | None) -> dict[str, Any]:
    if not vnet:
        return {}
    props = vnet.get("properties") or {}
    return {
        "id": vnet.get("id"),
        "name": vnet.get("name"),
        "location": vnet.get("location"),
        "tags": vnet.get("tags") or {},
        "address_prefixes": list((props.get("addressSpace") or {}).get("addressPrefixes") or []),
        "subnets": [
            {"name": s.get("name"), "id": s.get("id"), "address_prefix": subnet_prefix(s)}
            for s in props.get("subnets") or []
        ],
        "provisioning_state": props.get("provisioningState"),
    }


def differs(before: dict[str, Any], after: dict[str, Any]) -> bool:
    if before.get("tags") != after.get("tags"):
        return True
    if [str(ipaddress.ip_network(p, strict=False)) for p in before["address_prefixes"]] != [
        str(ipaddress.ip_network(p, strict=False)) for p in after["address_prefixes"]
    ]:
        return True
    b = {s["name"]: s["address_prefix"] for s in before["subnets"]}
    a = {s["name"]: s["address_prefix"] for s in after["subnets"]}
    return b.keys() != a.keys() or any(not same_net(b[k], a[k]) for k in a)


def predicted(module: AzureModule, body: dict[str, Any]) -> dict[str, Any]:
    """Fill the ids a new network and its subnets will get (check mode)."""
    params = module.params
    vnet_id = resource_id(
        module.subscription_id, params["resource_group"], "Microsoft.Network", "virtualNetworks", params["name"]
    )
    result = copy.deepcopy(body)
    result.setdefault("id", vnet_id)
    result.setdefault("name", params["name"])
    for subnet in (result.get("properties") or {}).get("subnets") or []:
        subnet.setdefault("id", f"{vnet_id}/subnets/{subnet['name']}")
    return result


def ensure_present(module: AzureModule, current: dict | None) -> tuple[bool, dict]:
    params = module.params
    name, group = params["name"], params["resource_group"]
    if current is None:
        if not params.get("address_prefixes"):
            raise AzureModuleError(
                f"address_prefixes: virtual network {name} does not exist in resource group {group}; "
                "set address_prefixes (and subnets) to create it"
            )
        if not params.get("location"):
            rc = module.client(ResourceManagementClient)
            rg = as_rest(get_or_none(lambda: rc.resource_groups.get(group), f"read resource group {group}"))
            if rg is None:
                raise AzureModuleError(f"resource_group: resource group {group} does not exist; create it first")
            params["location"] = rg["location"]
    elif params.get("location") and not same_location(params["location"], current.get("location") or ""):
        raise AzureModuleError(
            f"location: virtual network {name} is in {current.get('location')}, not {params['location']}; "
            "a virtual network cannot move"
        )
    elif provisioning_state(current) == "Deleting":
        raise in_progress_error(f"virtual network {name}", "Deleting")  # only without wait
    body = desired_body(params, current)
    # A network whose last operation failed is sent again: the network resource provider retries it.
    repair = provisioning_state(current) in REPAIRABLE_STATES
    if current is not None and not repair and not differs(summarize(current), summarize(body)):
        return False, current
    if in_transit(current):
        raise in_progress_error(f"virtual network {name}", provisioning_state(current))
    if module.check_mode:
        return True, predicted(module, body)
    client = module.client(NetworkManagementClient)
    # An update sends back everything it read (all subnets): If-Match makes a concurrent change a 412, not a loss.
    headers = {"If-Match": current["etag"]} if current and current.get("etag") else {}
    result = run_lro(
        lambda: client.virtual_networks.begin_create_or_update(
            group, name, models.VirtualNetwork(body), polling_interval=params["poll_interval"], headers=headers
        ),
        f"{'create' if current is None else 'repair' if repair else 'update'} virtual network {name}",
        wait=True,
        timeout=params["wait_timeout"],
        failed_hint=(
            f"The request was accepted, so virtual network {name} is now in state Failed: run the task again to "
            "retry, or delete it with state: absent."
        ),
    )
    return True, as_rest(result)


def ensure_absent(module: AzureModule, current: dict | None) -> tuple[bool, dict]:
    if current is None:
        return False, {}
    if provisioning_state(current) == "Deleting":
        return False, current  # without wait: the deletion already runs in Azure
    if not module.check_mode:
        params = module.params
        client = module.client(NetworkManagementClient)
        run_lro(
            lambda: client.virtual_networks.begin_delete(
                params["resource_group"], params["name"], polling_interval=params["poll_interval"]
            ),
            f"delete virtual network {params['name']}",
            wait=params["wait"],
            timeout=params["wait_timeout"],
        )
    return True, {}


def run(module: AzureModule) -> dict[str, Any]:
    params = module.params
    check_names(
        ("resource_group", params["resource_group"], "resource_group"),
        ("virtual_network", params["name"], "name"),
        *[("subnet", s["name"], f"subnets[{i}].name") for i, s in enumerate(params.get("subnets") or [])],
    )
    if params["state"] == "present":
        validate(params)
    client = module.client(NetworkManagementClient)
    current = settle(
        lambda: as_rest(
            get_or_none(
                lambda: client.virtual_networks.get(params["resource_group"], params["name"]),
                f"read virtual network {params['name']}",
            )
        ),
        f"virtual network {params['name']}",
        wait=params["wait"],
        timeout=params["wait_timeout"],
        interval=params["poll_interval"],
    )
    if params["state"] == "present":
        changed, after = ensure_present(module, current)
    else:
        changed, after = ensure_absent(module, current)
    before_summary, after_summary = summarize(current), summarize(after)
    result: dict[str, Any] = {
        "changed": changed,
        "virtual_network": after_summary,
        "diff": {"before": before_summary, "after": after_summary},
    }
    if params["state"] == "present":
        result["subnet_ids"] = {s["name"]: s["id"] for s in after_summary.get("subnets", [])}
    return result


def main() -> None:
    module = AzureModule(argument_spec=ARGSPEC, supports_check_mode=True)
    module.require_library("azure-mgmt-network", IMPORT_ERROR)
    try:
        result = run(module)
    except AzureModuleError as err:
        module.fail_from_error(err)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
