# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""AKS cluster logic without I/O: preflight validation, request models, idempotence comparison.

PRIVATE to the collection; may change at any time.

Everything here is pure (no requests), so ``aks_cluster`` can reject every mistake the AKS API
would reject before the first request, and the unit tests can check each rule on its own.
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
from typing import Any

from ansible_collections.netpol.aks.plugins.module_utils._arm import REPAIRABLE_STATES
from ansible_collections.netpol.aks.plugins.module_utils._arm import merge_tags
from ansible_collections.netpol.aks.plugins.module_utils._arm import name_error
from ansible_collections.netpol.aks.plugins.module_utils._arm import same_location

# The AKS API dropped networkProfile.dockerBridgeCidr in api-version 2023-04-01.
DOCKER_BRIDGE_WARNING = (
    "docker_bridge_cidr ({value}) is accepted for the walkthrough's sake but NOT sent: the dockerBridgeCidr field "
    "left the AKS API in api-version 2023-04-01 (nodes use containerd, there is no docker bridge). "
    "Remove docker_bridge_cidr to silence this warning (with the aks role or the demo playbook, the variable "
    'aks_docker_bridge_cidr: set it to "").'
)

# Network-profile fields of the module (option name -> REST name). All but the engine fields
# (ENGINE_FIELDS) are immutable on an existing cluster; the engine changes only as policy_transition says.
IMMUTABLE_NETWORK_FIELDS = {
    "network_plugin": "networkPlugin",
    "network_plugin_mode": "networkPluginMode",
    "network_policy": "networkPolicy",
    "network_dataplane": "networkDataplane",
    "pod_cidr": "podCidr",
    "service_cidr": "serviceCidr",
    "dns_service_ip": "dnsServiceIP",
}

ENGINE_FIELDS = ("network_policy", "network_dataplane")

# In-place engine changes AKS performs (each reimages every node at once), from -> allowed targets:
# none -> azure / calico (install), azure / calico -> cilium (with networkDataplane cilium), azure / calico -> none
# (uninstall: policies stay but are no longer enforced), none -> cilium (Azure CNI powered by Cilium).
# Sources: learn.microsoft.com azure/aks/use-network-policies ("Uninstall ...", "Install ... on an existing
# cluster"), azure/aks/azure-cni-powered-by-cilium ("Update an existing cluster"), azure/aks/
# migrate-from-npm-to-cilium-network-policy; azure-cli-extensions#6809 (an omitted networkPolicy keeps the value).
ENGINE_TRANSITIONS = {
    "none": ("azure", "calico", "cilium"),
    "azure": ("cilium", "none"),
    "calico": ("cilium", "none"),
    "cilium": (),
}

ENGINE_CHANGE_WARNING = (
    "network_policy {have} -> {want}: AKS reimages every node pool at once to change the network policy engine "
    "(pods restart; with Cilium kube-proxy is removed and policies are enforced only after every node is reimaged)"
    "{none}. Run netpol.aks.migration_check first to see which connections change."
)

# Node-pool fields that cannot change on an existing pool (option name -> REST name).
IMMUTABLE_POOL_FIELDS = {
    "vm_size": "vmSize",
    "vnet_subnet_id": "vnetSubnetID",
    "pod_subnet_id": "podSubnetID",
}

MIN_NODE_COUNT = 1
MAX_NODE_COUNT = 1000

_POOL_NAME_RE = re.compile(r"^[a-z][a-z0-9]{0,11}$")
_VERSION_RE = re.compile(r"^\d+\.\d+(\.\d+)?$")
_SUBNET_ID_RE = re.compile(
    r"^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.Network/virtualNetworks/[^/]+/subnets/[^/]+$",
    re.IGNORECASE,
)


class PreflightError(Exception):
    """One or more inputs AKS would reject; the message names each field and the fix."""

    def __init__(self, errors: list[str]):
        self.errors = errors
        super().__init__("; ".join(errors))


def _network(field: str, value: str, errors: list[str]) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        return ipaddress.ip_network(value, strict=True)
    except ValueError as exc:
        hint = ""
        with contextlib.suppress(ValueError):
            hint = f" (did you mean {ipaddress.ip_network(value, strict=False)}?)"
        errors.append(
            f"{field}: {value!r} is not a valid CIDR network ({exc}){hint}; use a network address with a prefix "
            "length, e.g. 10.0.0.0/16"
        )
        return None


def default_dns_prefix(name: str) -> str:
    """The DNS prefix used when none is given: the cluster name reduced to what AKS accepts."""
    prefix = re.sub(r"[^a-zA-Z0-9-]", "-", name)[:54].strip("-")
    return prefix or "aks"


def preflight(params: dict[str, Any], subnet_prefixes: list[str] | None = None) -> list[str]:
    """Check a present cluster's inputs the way AKS would. Return warnings; raise PreflightError.

    ``params`` are the module parameters; ``subnet_prefixes`` the node subnet's address prefixes
    when they are known (from ``node_pool.vnet_subnet_prefix`` or a read of the subnet).
    """
    errors: list[str] = []
    warnings: list[str] = []
    for kind, option in (("resource_group", "resource_group"), ("managed_cluster", "name")):
        error = name_error(kind, params.get(option), option)
        if error:
            errors.append(error)
    dns_prefix = params.get("dns_prefix")
    if dns_prefix is not None and name_error("dns_prefix", dns_prefix, "dns_prefix"):
        errors.append(name_error("dns_prefix", dns_prefix, "dns_prefix"))

    version = params.get("kubernetes_version")
    if version is not None and not _VERSION_RE.match(version):
        errors.append(
            f"kubernetes_version: {version!r} is not a Kubernetes version; use major.minor or major.minor.patch "
            "(e.g. 1.34), or omit it to let AKS pick its default"
        )

    pool = params.get("node_pool") or {}
    count = pool.get("count")
    if count is not None and not MIN_NODE_COUNT <= count <= MAX_NODE_COUNT:
        errors.append(
            f"node_pool.count: {count} is out of range; a system node pool needs between "
            f"{MIN_NODE_COUNT} and {MAX_NODE_COUNT} nodes"
        )
    pool_name = pool.get("name")
    if pool_name is not None and not _POOL_NAME_RE.match(pool_name):
        errors.append(
            f"node_pool.name: {pool_name!r} is not a valid Linux node pool name; use 1-12 lower-case letters "
            "or digits, starting with a letter"
        )
    for key in ("vnet_subnet_id", "pod_subnet_id"):
        value = pool.get(key)
        if value is not None and not _SUBNET_ID_RE.match(value):
            errors.append(
                f"node_pool.{key}: {value!r} is not a subnet resource id; use /subscriptions/<sub>/resourceGroups/"
                "<rg>/providers/Microsoft.Network/virtualNetworks/<vnet>/subnets/<subnet>"
            )

    plugin = params.get("network_plugin")
    mode = params.get("network_plugin_mode")
    policy = params.get("network_policy")
    dataplane = params.get("network_dataplane")
    pod_subnet = pool.get("pod_subnet_id")

    # Combinations of plugin / mode / policy / dataplane that AKS rejects.
    if mode == "overlay" and plugin != "azure":
        errors.append(
            f"network_plugin_mode: overlay requires network_plugin azure (got {plugin or 'unset'}); "
            "set network_plugin: azure or drop network_plugin_mode"
        )
    if dataplane == "cilium":
        if plugin != "azure":
            errors.append(
                f"network_dataplane: cilium requires network_plugin azure (got {plugin or 'unset'}); "
                "set network_plugin: azure"
            )
        elif mode != "overlay" and not pod_subnet:
            errors.append(
                "network_dataplane: cilium requires Azure CNI overlay or a pod subnet; set network_plugin_mode: "
                "overlay or node_pool.pod_subnet_id"
            )
        if policy in ("calico", "azure"):
            errors.append(
                f"network_policy: {policy} cannot be used with network_dataplane cilium (Cilium enforces policies "
                "itself); set network_policy: cilium"
            )
    if policy == "cilium" and dataplane != "cilium":
        errors.append(
            "network_policy: cilium requires network_dataplane cilium; set network_dataplane: cilium "
            "(with network_plugin: azure and network_plugin_mode: overlay)"
        )
    if policy == "azure" and plugin != "azure":
        errors.append(
            f"network_policy: azure (Azure Network Policy Manager) requires network_plugin azure "
            f"(got {plugin or 'unset'}); use network_policy: calico with kubenet, or network_plugin: azure"
        )
    if plugin == "none" and policy not in (None, "none"):
        errors.append(
            f"network_policy: {policy} cannot be used with network_plugin none (bring-your-own CNI installs its "
            "own policy engine); set network_policy: none or choose a network_plugin"
        )
    if params.get("pod_cidr") is not None and not (plugin == "kubenet" or mode == "overlay"):
        errors.append(
            "pod_cidr: only used with network_plugin kubenet or network_plugin_mode overlay (Azure CNI gives pods "
            "addresses from the subnet); remove pod_cidr or set network_plugin_mode: overlay"
        )
    if pod_subnet and mode == "overlay":
        errors.append(
            "node_pool.pod_subnet_id: a pod subnet cannot be used with network_plugin_mode overlay; remove one of them"
        )

    # Address plan.
    service = pod = None
    if params.get("service_cidr") is not None:
        service = _network("service_cidr", params["service_cidr"], errors)
    if params.get("pod_cidr") is not None:
        pod = _network("pod_cidr", params["pod_cidr"], errors)
    dns_ip = None
    if params.get("dns_service_ip") is not None:
        try:
            dns_ip = ipaddress.ip_address(params["dns_service_ip"])
        except ValueError:
            errors.append(
                f"dns_service_ip: {params['dns_service_ip']!r} is not an IP address; use an address inside "
                "service_cidr, e.g. 10.0.0.10"
            )
    if (params.get("service_cidr") is None) != (params.get("dns_service_ip") is None):
        missing = "dns_service_ip" if params.get("dns_service_ip") is None else "service_cidr"
        errors.append(
            f"{missing}: service_cidr and dns_service_ip must be set together; set {missing} too "
            "(e.g. service_cidr 10.0.0.0/16 with dns_service_ip 10.0.0.10)"
        )
    if service is not None and dns_ip is not None:
        if dns_ip.version != service.version or dns_ip not in service:
            errors.append(
                f"dns_service_ip: {dns_ip} is outside service_cidr {service}; pick an address inside it, "
                f"e.g. {service.network_address + 10}"
            )
        elif dns_ip == service.network_address:
            errors.append(
                f"dns_service_ip: {dns_ip} is the network address of service_cidr {service}; pick another address "
                f"inside it, e.g. {service.network_address + 10}"
            )
        elif dns_ip == service.network_address + 1:
            errors.append(
                f"dns_service_ip: {dns_ip} is the first address of service_cidr {service}, which AKS reserves for "
                f"the kubernetes service; pick another address, e.g. {service.network_address + 10}"
            )
        elif service.version == 4 and dns_ip == service.broadcast_address:
            errors.append(
                f"dns_service_ip: {dns_ip} is the broadcast address of service_cidr {service}; pick another address "
                f"inside it, e.g. {service.network_address + 10}"
            )
    if service is not None and service.version == 4 and service.prefixlen > 30:
        errors.append(f"service_cidr: {service} is too small; use a /30 or larger range, e.g. 10.0.0.0/16")

    subnets = []
    for prefix in subnet_prefixes or []:
        try:
            subnets.append(ipaddress.ip_network(prefix, strict=False))
        except ValueError:
            errors.append(
                f"node_pool.vnet_subnet_prefix: {prefix!r} is not a valid CIDR network; use e.g. 10.240.0.0/16"
            )
    for subnet in subnets:
        if service is not None and service.version == subnet.version and service.overlaps(subnet):
            errors.append(
                f"service_cidr: {service} overlaps the node subnet {subnet}; choose a service range outside the "
                "virtual network's subnets, e.g. 10.0.0.0/16 next to a 10.240.0.0/16 subnet"
            )
        if pod is not None and pod.version == subnet.version and pod.overlaps(subnet):
            errors.append(f"pod_cidr: {pod} overlaps the node subnet {subnet}; choose a pod range outside it")
    if service is not None and pod is not None and service.version == pod.version and service.overlaps(pod):
        errors.append(f"service_cidr: {service} overlaps pod_cidr {pod}; choose ranges that do not overlap")

    bridge = params.get("docker_bridge_cidr")
    if bridge is not None:
        try:
            if "/" not in bridge:
                raise ValueError(bridge)
            ipaddress.ip_interface(bridge)
        except ValueError:
            errors.append(
                f"docker_bridge_cidr: {bridge!r} is not an address with a prefix length (e.g. 172.17.0.1/16); "
                "better, remove it: it is not sent"
            )
        warnings.append(DOCKER_BRIDGE_WARNING.format(value=bridge))

    if errors:
        raise PreflightError(errors)
    return warnings


# --- request bodies -------------------------------------------------------------------------------


def network_profile_fields(params: dict[str, Any]) -> dict[str, Any]:
    """The user-set network-profile fields as REST names -> values (docker_bridge_cidr never included)."""
    return {rest: params[opt] for opt, rest in IMMUTABLE_NETWORK_FIELDS.items() if params.get(opt) is not None}


def build_cluster(models: Any, params: dict[str, Any]) -> Any:
    """A ``ManagedCluster`` model for a new cluster (``models`` is azure.mgmt.containerservice.models)."""
    pool = params.get("node_pool") or {}
    agent_pool = models.ManagedClusterAgentPoolProfile(
        name=pool.get("name") or "nodepool1",
        count=pool.get("count") if pool.get("count") is not None else 1,
        vm_size=pool.get("vm_size") or "Standard_DS2_v2",
        mode="System",
        os_type="Linux",
        type="VirtualMachineScaleSets",
    )
    if pool.get("vnet_subnet_id"):
        agent_pool.vnet_subnet_id = pool["vnet_subnet_id"]
    if pool.get("pod_subnet_id"):
        agent_pool.pod_subnet_id = pool["pod_subnet_id"]
    network = {}
    for opt in IMMUTABLE_NETWORK_FIELDS:
        if params.get(opt) is not None:
            network[opt] = params[opt]
    properties = models.ManagedClusterProperties(
        dns_prefix=params.get("dns_prefix") or default_dns_prefix(params["name"]),
        agent_pool_profiles=[agent_pool],
        enable_rbac=True,
    )
    if network:
        properties.network_profile = models.ContainerServiceNetworkProfile(**network)
    if params.get("kubernetes_version"):
        properties.kubernetes_version = params["kubernetes_version"]
    if params.get("ssh_public_key"):
        properties.linux_profile = models.ContainerServiceLinuxProfile(
            admin_username=params.get("admin_username") or "azureuser",
            ssh=models.ContainerServiceSshConfiguration(
                public_keys=[models.ContainerServiceSshPublicKey(key_data=params["ssh_public_key"])]
            ),
        )
    cluster = models.ManagedCluster(
        location=params["location"],
        identity=models.ManagedClusterIdentity(type="SystemAssigned"),
        properties=properties,
    )
    tags = merge_tags(None, params.get("tags"), True)
    if tags is not None:
        cluster.tags = tags
    return cluster


# --- idempotence ----------------------------------------------------------------------------------


def _same(rest_name: str, want: Any, have: Any) -> bool:
    if have is None:
        return False
    if rest_name in ("serviceCidr", "podCidr"):
        try:
            return ipaddress.ip_network(want, strict=False) == ipaddress.ip_network(have, strict=False)
        except ValueError:
            return str(want) == str(have)
    if rest_name == "dnsServiceIP":
        try:
            return ipaddress.ip_address(want) == ipaddress.ip_address(have)
        except ValueError:
            return str(want) == str(have)
    if isinstance(want, str) and isinstance(have, str):
        if rest_name in ("vnetSubnetID", "podSubnetID", "vmSize", "networkPlugin", "networkPluginMode"):
            return want.lower() == have.lower()
        if rest_name in ("networkPolicy", "networkDataplane"):
            return want.lower() == have.lower()
    return want == have


def system_pool(current: dict[str, Any], name: str | None) -> dict[str, Any] | None:
    """The agent pool the module manages in a REST-shaped cluster: by name, else the first System pool."""
    pools = (current.get("properties") or {}).get("agentPoolProfiles") or []
    if name:
        for pool in pools:
            if pool.get("name") == name:
                return pool
        return None
    for pool in pools:
        if pool.get("mode") == "System":
            return pool
    return pools[0] if pools else None


def _lower(value: Any) -> str | None:
    return value.lower() if isinstance(value, str) else value


def engine_change(params: dict[str, Any], current: dict[str, Any]) -> tuple[dict[str, tuple[Any, Any]], list[str]]:
    """The network policy engine change the user asks for on a REST-shaped existing cluster.

    Return ``(changes, errors)``: ``changes`` maps ``network_policy`` / ``network_dataplane`` to ``(have, want)``
    for a change AKS makes in place (ENGINE_TRANSITIONS); ``errors`` names the field and what to do for one it
    refuses (another pair of engines, a kubenet or node-subnet cluster to Cilium, Windows node pools or node
    auto-provisioning with Cilium, a dataplane change without the matching policy).
    """
    props = current.get("properties") or {}
    network = props.get("networkProfile") or {}
    have_policy = _lower(network.get("networkPolicy")) or "none"
    have_plane = _lower(network.get("networkDataplane")) or "azure"
    want_policy = _lower(params.get("network_policy")) or have_policy
    want_plane = _lower(params.get("network_dataplane")) or have_plane
    if want_policy == "cilium" and params.get("network_dataplane") is None:
        want_plane = "cilium"  # AKS needs both; preflight asks for both on create
    if (want_policy, want_plane) == (have_policy, have_plane):
        return {}, []
    errors: list[str] = []
    if want_plane != have_plane and (want_plane, want_policy) != ("cilium", "cilium"):
        errors.append(
            f"network_dataplane: is {have_plane!r} on the existing cluster and cannot change to {want_plane!r} in place "
            "(AKS changes the dataplane only from azure to cilium, together with network_policy: cilium); keep "
            f"network_dataplane: {have_plane} or re-create the cluster"
        )
        return {}, errors
    if want_policy != have_policy and want_policy not in ENGINE_TRANSITIONS.get(have_policy, ()):
        if have_policy == "cilium":
            fix = "Cilium cannot be replaced or removed in place; keep network_policy: cilium or re-create the cluster"
        elif want_policy in ("azure", "calico"):
            fix = (
                f"go through none: set network_policy: none (policies are then not enforced), apply, then "
                f"network_policy: {want_policy}; or move to cilium directly"
            )
        else:
            fix = "keep the current value"
        errors.append(
            f"network_policy: is {have_policy!r} on the existing cluster and cannot change to {want_policy!r} in place "
            f"(AKS changes the engine only none -> azure/calico/cilium, azure/calico -> cilium or none); {fix}"
        )
        return {}, errors
    plugin = _lower(network.get("networkPlugin"))
    pools = props.get("agentPoolProfiles") or []
    if want_policy == "azure" and plugin != "azure":
        errors.append(
            f"network_policy: azure (Azure Network Policy Manager) needs network plugin azure; the cluster uses "
            f"{plugin!r}; use network_policy: calico, or move the cluster to Azure CNI overlay first"
        )
    if want_plane == "cilium" and have_plane != "cilium":
        if plugin == "kubenet":
            errors.append(
                "network_policy: cilium cannot be enabled on a kubenet cluster; move it to Azure CNI overlay first, "
                "a separate step that needs network_policy: none first (policies are not enforced meanwhile): set "
                "network_policy: none, then run az aks update --network-plugin azure --network-plugin-mode overlay "
                "(this module does not change the plugin), then set network_policy and network_dataplane: cilium"
            )
        elif plugin != "azure":
            errors.append(
                f"network_policy: cilium needs network plugin azure; the cluster uses {plugin!r}; re-create the cluster"
            )
        elif _lower(network.get("networkPluginMode")) != "overlay" and not any(p.get("podSubnetID") for p in pools):
            errors.append(
                "network_policy: cilium needs Azure CNI overlay or a pod subnet; the cluster gives pods addresses "
                "from the node subnet: move it to overlay first, a separate update (az aks update "
                "--network-plugin-mode overlay; this module does not change the IPAM mode)"
            )
        windows = [p.get("name") for p in pools if _lower(p.get("osType")) == "windows"]
        if windows:
            errors.append(
                f"network_policy: cilium does not support Windows node pools ({', '.join(map(str, windows))}); "
                "delete or move those workloads and pools first, then change the engine"
            )
        if _lower((props.get("nodeProvisioningProfile") or {}).get("mode")) == "auto":
            errors.append(
                "network_policy: cilium: node auto-provisioning is on (nodeProvisioningProfile.mode Auto); turn it "
                "off during the update, then change the engine"
            )
    if errors:
        return {}, errors
    changes: dict[str, tuple[Any, Any]] = {}
    if want_policy != have_policy:
        changes["network_policy"] = (network.get("networkPolicy") or "none", want_policy)
    if want_plane != have_plane:
        changes["network_dataplane"] = (network.get("networkDataplane") or "azure", want_plane)
    return changes, []


def compare(params: dict[str, Any], current: dict[str, Any]) -> tuple[dict[str, tuple[Any, Any]], list[str]]:
    """Compare what the user set with a REST-shaped current cluster.

    Return ``(changes, immutable)``: ``changes`` maps a changeable field (option name) to ``(have, want)``;
    ``immutable`` lists messages for fields AKS cannot change on an existing cluster. A cluster whose
    last operation ``Failed`` (or was ``Canceled``) is a change ``provisioning_state``: a PUT repairs it.
    """
    changes: dict[str, tuple[Any, Any]] = {}
    immutable: list[str] = []
    props = current.get("properties") or {}
    state = props.get("provisioningState")
    if state in REPAIRABLE_STATES:
        # The last operation failed: AKS accepts a new PUT of the cluster, which retries it.
        changes["provisioning_state"] = (state, "Succeeded")
    location = current.get("location")
    if params.get("location") and location and not same_location(params["location"], location):
        immutable.append(
            f"location: the cluster is in {location}, not {params['location']}; a cluster cannot move, delete and "
            "re-create it (state: absent) or use another name"
        )
    if params.get("dns_prefix") and props.get("dnsPrefix") and params["dns_prefix"] != props["dnsPrefix"]:
        immutable.append(
            f"dns_prefix: is {props['dnsPrefix']} on the existing cluster and cannot change to {params['dns_prefix']}"
        )
    network = props.get("networkProfile") or {}
    engine_changes, engine_errors = engine_change(params, current)
    changes.update(engine_changes)
    immutable.extend(engine_errors)
    for opt, rest in IMMUTABLE_NETWORK_FIELDS.items():
        want = params.get(opt)
        if opt in ENGINE_FIELDS:
            continue
        if want is not None and not _same(rest, want, network.get(rest)):
            immutable.append(
                f"{opt}: is {network.get(rest)!r} on the existing cluster and cannot change to {want!r} "
                "(AKS does not allow network profile changes in place); delete and re-create the cluster "
                "(state: absent, then present) or keep the current value"
            )
    pool_params = params.get("node_pool") or {}
    pool = system_pool(current, pool_params.get("name"))
    if pool is None:
        if pool_params.get("name"):
            immutable.append(
                f"node_pool.name: the cluster has no node pool named {pool_params['name']!r}; the system pool "
                "cannot be renamed, use the existing name"
            )
    else:
        for opt, rest in IMMUTABLE_POOL_FIELDS.items():
            want = pool_params.get(opt)
            if want is not None and not _same(rest, want, pool.get(rest)):
                immutable.append(
                    f"node_pool.{opt}: is {pool.get(rest)!r} on the existing node pool and cannot change to {want!r}; "
                    "create a new node pool or re-create the cluster"
                )
        if pool_params.get("count") is not None and pool.get("count") != pool_params["count"]:
            changes["node_pool.count"] = (pool.get("count"), pool_params["count"])
    version = params.get("kubernetes_version")
    if version:
        have = props.get("kubernetesVersion")
        if have != version and not (have or "").startswith(version + "."):
            changes["kubernetes_version"] = (have, version)
    have_tags = current.get("tags") or {}
    want_tags = merge_tags(have_tags, params.get("tags"), bool(params.get("purge_tags")))
    if want_tags is not None and want_tags != have_tags:
        changes["tags"] = (have_tags, want_tags)
    key = params.get("ssh_public_key")
    if key:
        keys = [
            k.get("keyData") for k in (((props.get("linuxProfile") or {}).get("ssh") or {}).get("publicKeys") or [])
        ]
        if key.strip() not in [(k or "").strip() for k in keys]:
            changes["ssh_public_key"] = ("(other key)" if keys else None, "(new key)")
    return changes, immutable


def apply_changes(current: dict[str, Any], params: dict[str, Any], changes: dict[str, tuple[Any, Any]]) -> dict:
    """A REST-shaped copy of ``current`` with ``changes`` applied (the body of an update PUT)."""
    import copy

    body = copy.deepcopy(current)
    props = body.setdefault("properties", {})
    for field, (_have, want) in changes.items():
        if field == "node_pool.count":
            pool = system_pool(body, (params.get("node_pool") or {}).get("name"))
            pool["count"] = want
        elif field in ENGINE_FIELDS:
            props.setdefault("networkProfile", {})[IMMUTABLE_NETWORK_FIELDS[field]] = want
        elif field == "kubernetes_version":
            props["kubernetesVersion"] = want
        elif field == "tags":
            body["tags"] = want
        elif field == "ssh_public_key":
            linux = props.setdefault("linuxProfile", {"adminUsername": params.get("admin_username") or "azureuser"})
            linux["ssh"] = {"publicKeys": [{"keyData": params["ssh_public_key"]}]}
    return body


def summarize(cluster: dict[str, Any] | None) -> dict[str, Any]:
    """The module's ``cluster`` return value (snake_case) from a REST-shaped cluster."""
    if not cluster:
        return {}
    props = cluster.get("properties") or {}
    network = props.get("networkProfile") or {}
    pools = props.get("agentPoolProfiles") or []
    return {
        "id": cluster.get("id"),
        "name": cluster.get("name"),
        "location": cluster.get("location"),
        "tags": cluster.get("tags") or {},
        "fqdn": props.get("fqdn"),
        "dns_prefix": props.get("dnsPrefix"),
        "provisioning_state": props.get("provisioningState"),
        "power_state": (props.get("powerState") or {}).get("code"),
        "kubernetes_version": props.get("currentKubernetesVersion") or props.get("kubernetesVersion"),
        "node_resource_group": props.get("nodeResourceGroup"),
        "identity_principal_id": (cluster.get("identity") or {}).get("principalId"),
        "network_profile": {
            opt: network.get(rest) for opt, rest in IMMUTABLE_NETWORK_FIELDS.items() if network.get(rest) is not None
        },
        "node_pools": [
            {
                "name": p.get("name"),
                "count": p.get("count"),
                "vm_size": p.get("vmSize"),
                "mode": p.get("mode"),
                "vnet_subnet_id": p.get("vnetSubnetID"),
            }
            for p in pools
        ],
    }
