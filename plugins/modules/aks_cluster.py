#!/usr/bin/python
# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# ruff: noqa: E402  (Ansible modules import after DOCUMENTATION, EXAMPLES and RETURN)
from __future__ import annotations

DOCUMENTATION = r"""
module: aks_cluster
short_description: Create, update or delete an Azure Kubernetes Service (AKS) cluster
version_added: "0.1.0"
description:
  - Ensures an AKS managed cluster with a system node pool, a network profile and a system-assigned identity
    (C(az aks create)), or deletes it (C(az aks delete)).
  - Every mistake the AKS API would reject is caught before the first request (an AKS create takes ten minutes
    and costs money) - CIDR syntax, a O(service_cidr) overlapping the node subnet or O(pod_cidr), a
    O(dns_service_ip) outside O(service_cidr) or on its network or first address, the plugin / mode / policy /
    dataplane combinations AKS refuses, a node count outside 1-1000. Each error names the field and the fix.
  - Idempotent - only the options you set are compared. Node count, Kubernetes version, tags and the SSH key are
    updated in place; a change AKS cannot make on an existing cluster (the rest of the network profile, location,
    DNS prefix, node pool VM size or subnet) fails before any request with a message naming the field and what to
    do, it never re-creates the cluster.
  - The network policy engine changes in place where AKS allows it - V(none) to V(azure), V(calico) or V(cilium);
    V(azure) or V(calico) to V(cilium) (C(networkDataplane) and C(networkPolicy) V(cilium) are sent together);
    V(azure) or V(calico) to V(none) (uninstall - the policies stay but are no longer enforced). AKS reimages every
    node pool at once for it, and the task warns. Other changes (V(azure) to V(calico), anything from V(cilium))
    are refused before any request, saying what to do; so is Cilium on a kubenet or node-subnet cluster (move it
    to Azure CNI overlay first, a separate step), with Windows node pools, or with node auto-provisioning on.
    Run M(netpol.aks.migration_check) first to see which connections the new engine treats differently.
  - A cluster whose last operation failed (provisioning state V(Failed) or V(Canceled)) is not left as it is - the
    task sends the cluster again (AKS retries a failed cluster on a new PUT) and reports a change, or fails
    with the ARM error. A task that fails after its request was accepted reports C(changed=true).
  - O(docker_bridge_cidr) is accepted for the walkthrough's sake (C(--docker-bridge-address)) but not sent, with a
    warning - the field left the AKS API in api-version 2023-04-01.
  - Built on the current Azure SDK (C(azure-mgmt-containerservice)); requests carry the REST field names.
options:
  name:
    description:
      - Name of the managed cluster, 1-63 letters, digits, C(-) or C(_), starting and ending with a letter or digit
        (checked before any request).
    type: str
    required: true
  resource_group:
    description: Resource group of the cluster.
    type: str
    required: true
  location:
    description: Azure region. Required to create the cluster; a cluster cannot move.
    type: str
  kubernetes_version:
    description:
      - Kubernetes version, V(1.34) or V(1.34.2). Omit it to let AKS pick its default version.
      - A version prefix matches the cluster's patch version, so V(1.34) is not a change on a 1.34.2 cluster.
    type: str
  dns_prefix:
    description:
      - DNS prefix of the API server name, 1-54 letters, digits or C(-), starting and ending with a letter or
        digit. Default is derived from O(name).
    type: str
  node_pool:
    description: The system node pool.
    type: dict
    default: {}
    suboptions:
      name:
        description: Pool name (1-12 lower-case letters or digits, starting with a letter); default V(nodepool1).
        type: str
      count:
        description: Number of nodes, 1 to 1000; default V(1) on create.
        type: int
      vm_size:
        description: VM size of the nodes; default V(Standard_DS2_v2) on create. Cannot change later.
        type: str
      vnet_subnet_id:
        description: Resource id of the subnet the nodes (and, with Azure CNI, the pods) get addresses from.
        type: str
      vnet_subnet_prefix:
        description:
          - Address range of O(node_pool.vnet_subnet_id), used only for the preflight overlap checks.
          - When O(node_pool.vnet_subnet_id) is set without it, the module reads the subnet (one GET) before
            creating the cluster.
        type: str
      pod_subnet_id:
        description: Resource id of a separate pod subnet (Azure CNI with dynamic pod IP allocation).
        type: str
  network_plugin:
    description: Network plugin (C(--network-plugin)).
    type: str
    choices: [azure, kubenet, none]
  network_plugin_mode:
    description: V(overlay) for Azure CNI Overlay (needs O(network_plugin=azure)).
    type: str
    choices: [overlay]
  network_policy:
    description:
      - Network policy engine (C(--network-policy)). V(none) means NetworkPolicy objects are accepted but
        B(not enforced).
      - V(cilium) needs O(network_dataplane=cilium); V(azure) needs O(network_plugin=azure).
      - On an existing cluster it changes in place from V(none) to V(azure), V(calico) or V(cilium), and from V(azure)
        or V(calico) to V(cilium) or V(none); every node is reimaged. Any other change is refused before any request.
    type: str
    choices: [azure, calico, cilium, none]
  network_dataplane:
    description:
      - Network dataplane; V(cilium) needs O(network_plugin=azure) with overlay or a pod subnet.
      - Changes in place only from V(azure) to V(cilium), together with O(network_policy=cilium).
    type: str
    choices: [azure, cilium]
  pod_cidr:
    description: Pod address range; only with O(network_plugin=kubenet) or O(network_plugin_mode=overlay).
    type: str
  service_cidr:
    description: Kubernetes service address range; must not overlap the node subnet or O(pod_cidr).
    type: str
  dns_service_ip:
    description:
      - Cluster DNS service address; inside O(service_cidr), not its network address nor its first address.
      - Set together with O(service_cidr).
    type: str
  docker_bridge_cidr:
    description:
      - Accepted for the walkthrough's C(--docker-bridge-address 172.17.0.1/16) and B(not sent); a warning says so.
    type: str
  identity:
    description: Cluster identity. Only a system-assigned managed identity is supported.
    type: str
    choices: [SystemAssigned]
    default: SystemAssigned
  ssh_public_key:
    description: Public key for SSH access to the Linux nodes (user O(admin_username)).
    type: str
  admin_username:
    description: Admin user of the Linux nodes, used with O(ssh_public_key).
    type: str
    default: azureuser
  tags:
    description: Tags (merged with existing tags unless O(purge_tags=true)); at most 50 in all.
    type: dict
  purge_tags:
    description: Remove tags that are not listed in O(tags).
    type: bool
    default: false
  state:
    description: V(present) creates or updates the cluster; V(absent) deletes it.
    type: str
    choices: [present, absent]
    default: present
  wait:
    description:
      - Wait for the long-running create, update or delete to finish.
      - Also wait, before comparing or writing anything, when the cluster is in the middle of an operation
        started earlier (V(Creating), V(Updating), V(Deleting), for example by a run that was interrupted), so
        a rerun resumes it. With V(false) such a cluster is left alone when nothing needs to change, and the
        task fails saying so when something does.
    type: bool
    default: true
  wait_timeout:
    description:
      - Seconds to wait (for an operation started earlier, then for this task's own); on timeout the task fails
        naming the operation (which continues in Azure).
      - Zero or more.
    type: int
    default: 1800
extends_documentation_fragment:
  - netpol.aks.azure
  - netpol.aks.azure.LRO
  - netpol.aks.attributes
attributes:
  check_mode:
    support: full
    details:
      - Preflight checks and reads run; nothing is written; the predicted cluster is returned.
  diff_mode:
    support: full
  idempotent:
    support: full
notes:
  - Existing node pools other than the system pool named by O(node_pool.name) are left alone.
author:
  - netpol.aks contributors (@netpol)
"""

EXAMPLES = r"""
- name: The walkthrough's cluster (az aks create ... --network-policy calico)
  netpol.aks.aks_cluster:
    name: myAKSCluster
    resource_group: myResourceGroup-NP
    location: eastus
    node_pool:
      count: 1
      vnet_subnet_id: "{{ vnet.subnet_ids.myAKSSubnet }}"
      vnet_subnet_prefix: 10.240.0.0/16
    network_plugin: azure
    network_policy: calico
    service_cidr: 10.0.0.0/16
    dns_service_ip: 10.0.0.10
    docker_bridge_cidr: 172.17.0.1/16   # accepted, not sent (warning)

- name: Cilium instead of Calico (Azure CNI overlay powered by Cilium)
  netpol.aks.aks_cluster:
    name: myCiliumCluster
    resource_group: myResourceGroup-NP
    location: eastus
    network_plugin: azure
    network_plugin_mode: overlay
    network_dataplane: cilium
    network_policy: cilium
    pod_cidr: 192.168.0.0/16

- name: Move an Azure NPM or Calico cluster (Azure CNI overlay) to Cilium in place; every node is reimaged
  netpol.aks.aks_cluster:
    name: myCiliumCluster
    resource_group: myResourceGroup-NP
    network_plugin: azure
    network_plugin_mode: overlay
    network_dataplane: cilium
    network_policy: cilium

- name: Delete the cluster
  netpol.aks.aks_cluster:
    name: myAKSCluster
    resource_group: myResourceGroup-NP
    state: absent
"""

RETURN = r"""
cluster:
  description: The cluster after the task (predicted in check mode); empty when absent.
  returned: always
  type: dict
  contains:
    id:
      description: Resource id.
      type: str
    name:
      description: Name.
      type: str
    location:
      description: Region.
      type: str
    fqdn:
      description: API server FQDN (not known in check mode before creation).
      type: str
      sample: myaksclust-myresourcegroup-0000-1a2b3c4d.hcp.eastus.azmk8s.io
    provisioning_state:
      description: ARM provisioning state.
      type: str
      sample: Succeeded
    power_state:
      description: C(Running) or C(Stopped).
      type: str
    kubernetes_version:
      description: Kubernetes version (current version when known).
      type: str
    node_resource_group:
      description: The resource group AKS manages for the nodes (C(MC_<group>_<name>_<location>)).
      type: str
    network_profile:
      description: Network plugin, mode, policy, dataplane, pod and service ranges, DNS service IP.
      type: dict
      sample:
        network_plugin: azure
        network_policy: calico
        service_cidr: 10.0.0.0/16
        dns_service_ip: 10.0.0.10
    node_pools:
      description: Node pools with name, count, vm_size, mode and vnet_subnet_id.
      type: list
      elements: dict
    identity_principal_id:
      description: Principal id of the system-assigned identity.
      type: str
    tags:
      description: Tags.
      type: dict
changes:
  description:
    - Fields that changed or would change, as C(field -> [before, after]).
    - An engine change shows as C(network_policy) (and C(network_dataplane) for Cilium).
  returned: when state is present
  type: dict
  sample:
    network_policy: [azure, cilium]
    network_dataplane: [azure, cilium]
"""

import traceback
from typing import Any

from ansible_collections.netpol.aks.plugins.module_utils import _aks
from ansible_collections.netpol.aks.plugins.module_utils._arm import LRO_ARGSPEC
from ansible_collections.netpol.aks.plugins.module_utils._arm import as_rest
from ansible_collections.netpol.aks.plugins.module_utils._arm import check_names
from ansible_collections.netpol.aks.plugins.module_utils._arm import get_or_none
from ansible_collections.netpol.aks.plugins.module_utils._arm import in_progress_error
from ansible_collections.netpol.aks.plugins.module_utils._arm import in_transit
from ansible_collections.netpol.aks.plugins.module_utils._arm import provisioning_state
from ansible_collections.netpol.aks.plugins.module_utils._arm import resource_id
from ansible_collections.netpol.aks.plugins.module_utils._arm import run_lro
from ansible_collections.netpol.aks.plugins.module_utils._arm import settle
from ansible_collections.netpol.aks.plugins.module_utils._azure import AzureModule
from ansible_collections.netpol.aks.plugins.module_utils._azure import AzureModuleError

try:
    from azure.core import MatchConditions
    from azure.mgmt.containerservice import ContainerServiceClient
    from azure.mgmt.containerservice import models
    from azure.mgmt.network import NetworkManagementClient
except ImportError:
    IMPORT_ERROR: str | None = traceback.format_exc()
else:
    IMPORT_ERROR = None

ARGSPEC: dict[str, Any] = {
    "name": {"type": "str", "required": True},
    "resource_group": {"type": "str", "required": True},
    "location": {"type": "str"},
    "kubernetes_version": {"type": "str"},
    "dns_prefix": {"type": "str"},
    "node_pool": {
        "type": "dict",
        "default": {},
        "options": {
            "name": {"type": "str"},
            "count": {"type": "int"},
            "vm_size": {"type": "str"},
            "vnet_subnet_id": {"type": "str"},
            "vnet_subnet_prefix": {"type": "str"},
            "pod_subnet_id": {"type": "str"},
        },
    },
    "network_plugin": {"type": "str", "choices": ["azure", "kubenet", "none"]},
    "network_plugin_mode": {"type": "str", "choices": ["overlay"]},
    "network_policy": {"type": "str", "choices": ["azure", "calico", "cilium", "none"]},
    "network_dataplane": {"type": "str", "choices": ["azure", "cilium"]},
    "pod_cidr": {"type": "str"},
    "service_cidr": {"type": "str"},
    "dns_service_ip": {"type": "str"},
    "docker_bridge_cidr": {"type": "str"},
    "identity": {"type": "str", "choices": ["SystemAssigned"], "default": "SystemAssigned"},
    "ssh_public_key": {"type": "str"},
    "admin_username": {"type": "str", "default": "azureuser"},
    "tags": {"type": "dict"},
    "purge_tags": {"type": "bool", "default": False},
    "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
    "wait": {"type": "bool", "default": True},
    **LRO_ARGSPEC,
    "wait_timeout": {"type": "int", "default": 1800},
}


FAILED_HINT = (
    "The request was accepted, so cluster {name} now exists in state Failed: run the task again to retry "
    "(AKS accepts a new PUT on a failed cluster), or delete it with state: absent."
)


def subnet_prefixes(module: AzureModule) -> list[str]:
    """The node subnet's address prefixes, read from Azure (used when the user did not give them)."""
    subnet_id = module.params["node_pool"]["vnet_subnet_id"]
    parts = subnet_id.strip("/").split("/")
    # subscriptions/<s>/resourceGroups/<rg>/providers/Microsoft.Network/virtualNetworks/<vnet>/subnets/<subnet>
    group, vnet, subnet = parts[3], parts[7], parts[9]
    client = module.client(NetworkManagementClient)
    found = as_rest(get_or_none(lambda: client.subnets.get(group, vnet, subnet), f"read subnet {subnet_id}"))
    if found is None and module.check_mode:
        module.warn(
            f"node_pool.vnet_subnet_id: subnet {subnet_id} does not exist (yet); the overlap checks against it were "
            "skipped in check mode (set node_pool.vnet_subnet_prefix to run them without the subnet)"
        )
        return []
    if found is None:
        raise AzureModuleError(
            f"node_pool.vnet_subnet_id: subnet {subnet_id} does not exist; create it first (netpol.aks.virtual_network)"
        )
    props = found.get("properties") or {}
    return [p for p in [props.get("addressPrefix"), *(props.get("addressPrefixes") or [])] if p]


def preflight(module: AzureModule, *, read_subnet: bool) -> None:
    """Every check AKS would fail; raise AzureModuleError before any write.

    Without ``read_subnet`` only local checks run (no request at all). With it, the node subnet's
    range is read from Azure when the user did not give ``node_pool.vnet_subnet_prefix``.
    """
    params = module.params
    pool = params["node_pool"]
    known = [pool["vnet_subnet_prefix"]] if pool.get("vnet_subnet_prefix") else None
    try:
        if not read_subnet:
            for warning in _aks.preflight(params, subnet_prefixes=known):
                module.warn(warning)
        elif known is None and pool.get("vnet_subnet_id"):
            _aks.preflight(params, subnet_prefixes=subnet_prefixes(module))
    except _aks.PreflightError as err:
        raise AzureModuleError(
            f"aks_cluster {params['name']}: invalid input, nothing was created or changed: {err}",
            code="PreflightFailed",
        ) from None


def predicted_new(module: AzureModule, body: dict[str, Any]) -> dict[str, Any]:
    params = module.params
    return {
        "id": resource_id(
            module.subscription_id,
            params["resource_group"],
            "Microsoft.ContainerService",
            "managedClusters",
            params["name"],
        ),
        "name": params["name"],
        **body,
        "properties": {
            **body["properties"],
            "provisioningState": "Succeeded",
            "nodeResourceGroup": f"MC_{params['resource_group']}_{params['name']}_{params['location']}",
        },
    }


def ensure_present(module: AzureModule, client: Any, current: dict | None) -> tuple[bool, dict, dict]:
    params = module.params
    name, group = params["name"], params["resource_group"]
    if current is None:
        if not params["location"]:
            raise AzureModuleError(f"location: cluster {name} does not exist; set location to create it")
        model = _aks.build_cluster(models, params)
        body = as_rest(model)
        changes = {"cluster": (None, "created")}
        if module.check_mode:
            return True, predicted_new(module, body), changes
        result = run_lro(
            lambda: client.managed_clusters.begin_create_or_update(
                group, name, model, polling_interval=params["poll_interval"]
            ),
            f"create AKS cluster {name}",
            wait=params["wait"],
            timeout=params["wait_timeout"],
            failed_hint=FAILED_HINT.format(name=name),
        )
        if result is None:
            result = as_rest(get_or_none(lambda: client.managed_clusters.get(group, name), f"read AKS cluster {name}"))
        return True, as_rest(result) or {}, changes
    if provisioning_state(current) == "Deleting":
        # only without wait (settle() waited otherwise)
        raise in_progress_error(f"AKS cluster {name}", "Deleting")
    changes, immutable = _aks.compare(params, current)
    if immutable:
        raise AzureModuleError(
            f"aks_cluster {name}: cannot change an existing cluster in place, nothing was changed: "
            + "; ".join(immutable),
            code="ImmutableFieldChange",
        )
    if not changes:
        return False, current, {}
    if in_transit(current):
        raise in_progress_error(f"AKS cluster {name}", provisioning_state(current))
    if "network_policy" in changes:
        have, want = changes["network_policy"]
        module.warn(
            _aks.ENGINE_CHANGE_WARNING.format(
                have=have,
                want=want,
                none="; with none the NetworkPolicy objects stay but are NOT enforced" if want == "none" else "",
            )
        )
    body = _aks.apply_changes(current, params, changes)
    if module.check_mode:
        return True, body, changes
    # The update sends back the cluster it read: If-Match makes a concurrent change a 412, not a loss.
    conditions = (
        {"etag": current["eTag"], "match_condition": MatchConditions.IfNotModified} if current.get("eTag") else {}
    )
    result = run_lro(
        lambda: client.managed_clusters.begin_create_or_update(
            group, name, models.ManagedCluster(body), polling_interval=params["poll_interval"], **conditions
        ),
        f"{'repair' if 'provisioning_state' in changes else 'update'} AKS cluster {name}",
        wait=params["wait"],
        timeout=params["wait_timeout"],
        failed_hint=FAILED_HINT.format(name=name),
    )
    return True, as_rest(result) or body, changes


def ensure_absent(module: AzureModule, client: Any, current: dict | None) -> tuple[bool, dict]:
    if current is None:
        return False, {}
    if provisioning_state(current) == "Deleting":
        return False, current  # without wait: the deletion already runs in Azure
    if not module.check_mode:
        params = module.params
        run_lro(
            lambda: client.managed_clusters.begin_delete(
                params["resource_group"], params["name"], polling_interval=params["poll_interval"]
            ),
            f"delete AKS cluster {params['name']}",
            wait=params["wait"],
            timeout=params["wait_timeout"],
        )
    return True, {}


def run(module: AzureModule) -> dict[str, Any]:
    params = module.params
    name, group = params["name"], params["resource_group"]
    check_names(("resource_group", group, "resource_group"), ("managed_cluster", name, "name"))
    if params["state"] == "present":
        preflight(module, read_subnet=False)
    client = module.client(ContainerServiceClient)
    current = settle(
        lambda: as_rest(get_or_none(lambda: client.managed_clusters.get(group, name), f"read AKS cluster {name}")),
        f"AKS cluster {name}",
        wait=params["wait"],
        timeout=params["wait_timeout"],
        interval=params["poll_interval"],
    )
    result: dict[str, Any] = {}
    if params["state"] == "present":
        if current is None:
            preflight(module, read_subnet=True)
        changed, after, changes = ensure_present(module, client, current)
        result["changes"] = {k: list(v) for k, v in changes.items()}
    else:
        changed, after = ensure_absent(module, client, current)
    before_summary, after_summary = _aks.summarize(current), _aks.summarize(after)
    result.update(
        changed=changed,
        cluster=after_summary,
        diff={"before": before_summary, "after": after_summary},
    )
    return result


def main() -> None:
    module = AzureModule(argument_spec=ARGSPEC, supports_check_mode=True)
    module.require_library("azure-mgmt-containerservice", IMPORT_ERROR)
    try:
        result = run(module)
    except AzureModuleError as err:
        module.fail_from_error(err)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
