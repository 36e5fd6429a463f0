#!/usr/bin/python
# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# ruff: noqa: E402  (Ansible modules import after DOCUMENTATION, EXAMPLES and RETURN)

from __future__ import annotations

DOCUMENTATION = r"""
module: provider_registration
short_description: Register or unregister an Azure resource provider in a subscription
version_added: "0.1.0"
description:
  - Registers (or unregisters) a resource provider such as V(Microsoft.ContainerService) in the subscription, the
    way C(az provider register -n <namespace> --wait) does, and waits until Azure reports it V(Registered).
  - Idempotent; a provider that is already V(Registered) (or V(Registering)) is not registered again, and no
    request that changes anything is sent.
author:
  - netpol.aks contributors (@netpol)
options:
  name:
    description:
      - The resource provider namespace, for example V(Microsoft.ContainerService).
    type: str
    required: true
    aliases: [namespace]
  state:
    description:
      - V(registered) registers the provider, V(unregistered) unregisters it (Azure refuses while resources of the
        provider exist in the subscription).
    type: str
    default: registered
    choices: [registered, unregistered]
  wait:
    description:
      - Wait until the provider reaches V(Registered) (or V(Unregistered)).
    type: bool
    default: true
  timeout:
    description:
      - How long to wait, in seconds.
    type: int
    default: 900
  poll_interval:
    description:
      - Seconds between the first reads of the registration state while waiting; the interval then grows by half
        each read, up to 60 seconds.
    type: float
    default: 10
extends_documentation_fragment:
  - netpol.aks.azure
  - netpol.aks.attributes
attributes:
  check_mode:
    support: full
    details:
      - Reads the provider, sends no registration request, and returns the state it predicts.
  diff_mode:
    support: full
    details:
      - The diff shows the registration state before and after.
  idempotent:
    support: full
seealso:
  - module: netpol.aks.feature_registration
  - name: Azure resource providers and types
    description: Microsoft's documentation of resource provider registration.
    link: https://learn.microsoft.com/azure/azure-resource-manager/management/resource-providers-and-types
"""

EXAMPLES = r"""
- name: Register the AKS resource provider and wait for it
  netpol.aks.provider_registration:
    name: Microsoft.ContainerService

- name: Register the providers the walkthrough needs, without waiting
  netpol.aks.provider_registration:
    name: "{{ item }}"
    wait: false
  loop:
    - Microsoft.ContainerService
    - Microsoft.Network

- name: Share credentials between the Azure modules
  module_defaults:
    group/netpol.aks.azure:
      subscription_id: "{{ azure_subscription_id }}"
  block:
    - name: Register Microsoft.Network
      netpol.aks.provider_registration:
        name: Microsoft.Network
"""

RETURN = r"""
name:
  description: The resource provider namespace, as Azure spells it.
  returned: always
  type: str
  sample: Microsoft.ContainerService
state:
  description:
    - The registration state at the end (predicted in check mode).
    - One of V(NotRegistered), V(Registering), V(Registered), V(Unregistering), V(Unregistered).
  returned: always
  type: str
  sample: Registered
id:
  description: The ARM id of the provider in the subscription.
  returned: always
  type: str
  sample: /subscriptions/00000000-0000-0000-0000-000000000000/providers/Microsoft.ContainerService
polls:
  description: How many times the registration state was read while waiting (0 when nothing was waited for).
  returned: always
  type: int
  sample: 3
elapsed:
  description: Seconds spent waiting.
  returned: always
  type: float
  sample: 20.0
provider:
  description: The provider as Azure describes it (predicted state in check mode).
  returned: always
  type: dict
  contains:
    id:
      description: The ARM id.
      type: str
    namespace:
      description: The namespace.
      type: str
    registration_state:
      description: The registration state.
      type: str
      sample: Registered
    registration_policy:
      description: The provider's registration policy.
      type: str
      sample: RegistrationRequired
"""

import traceback
from typing import Any

from ansible_collections.netpol.aks.plugins.module_utils._arm import Registration
from ansible_collections.netpol.aks.plugins.module_utils._azure import AzureModule
from ansible_collections.netpol.aks.plugins.module_utils._azure import AzureModuleError
from ansible_collections.netpol.aks.plugins.module_utils._azure import validate_namespace

try:
    from azure.mgmt.resource.resources import ResourceManagementClient
except ImportError:
    RESOURCE_IMPORT_ERROR: str | None = traceback.format_exc()
else:
    RESOURCE_IMPORT_ERROR = None

# The register / unregister state machine, shared with feature_registration.
MACHINE = Registration("resource provider", unregistered=("NotRegistered", "Unregistered"))
plan = MACHINE.plan
is_settled = MACHINE.settled
timeout_message = MACHINE.timeout_message

ARGSPEC: dict[str, Any] = {
    "name": {"type": "str", "required": True, "aliases": ["namespace"]},
    "state": {"type": "str", "default": "registered", "choices": ["registered", "unregistered"]},
    "wait": {"type": "bool", "default": True},
    "timeout": {"type": "int", "default": 900},
    "poll_interval": {"type": "float", "default": 10},
}


def provider_dict(provider: Any, fallback_id: str, namespace: str, state: str) -> dict[str, Any]:
    return {
        "id": getattr(provider, "id", None) or fallback_id,
        "namespace": getattr(provider, "namespace", None) or namespace,
        "registration_state": state,
        "registration_policy": getattr(provider, "registration_policy", None),
    }


def _state_of(provider: Any) -> str:
    return str(getattr(provider, "registration_state", None) or "NotRegistered")


def run(module: AzureModule) -> dict[str, Any]:
    params = module.params
    namespace = validate_namespace(params["name"], "name")
    module.require_library("azure-mgmt-resource", RESOURCE_IMPORT_ERROR)

    providers = module.client(ResourceManagementClient).providers
    outcome = MACHINE.ensure(
        namespace,
        read=lambda: providers.get(namespace),
        request=lambda action: getattr(providers, action)(namespace),
        state_of=_state_of,
        desired=params["state"],
        wait=params["wait"],
        check_mode=module.check_mode,
        timeout=params["timeout"],
        interval=params["poll_interval"],
    )
    namespace = getattr(outcome.latest, "namespace", None) or namespace
    state = outcome.state
    provider = provider_dict(
        outcome.latest, f"/subscriptions/{module.subscription_id}/providers/{namespace}", namespace, state
    )
    return {
        "changed": outcome.action is not None,
        "name": namespace,
        "polls": outcome.polls,
        "elapsed": outcome.elapsed,
        "state": state,
        "provider": provider,
        "id": provider["id"],
        "diff": {"before": {"name": namespace, "state": outcome.before}, "after": {"name": namespace, "state": state}},
    }


def main() -> None:
    module = AzureModule(argument_spec=ARGSPEC, supports_check_mode=True)
    try:
        result = run(module)
    except AzureModuleError as err:
        module.fail_from_error(err)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
