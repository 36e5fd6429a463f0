#!/usr/bin/python
# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# ruff: noqa: E402  (Ansible modules import after DOCUMENTATION, EXAMPLES and RETURN)

from __future__ import annotations

DOCUMENTATION = r"""
module: feature_registration
short_description: Register or unregister an Azure preview feature (Microsoft.Features)
version_added: "0.1.0"
description:
  - Registers (or unregisters) a subscription preview feature, the way C(az feature register) does, and waits
    until Azure reports it V(Registered).
  - Once the feature is registered, re-registers its resource provider (O(propagate)), as C(az feature register)
    tells you to, so that the change reaches the provider.
  - Idempotent; a feature that is already V(Registered) (or V(Registering), or V(Pending) approval) is not
    registered again, and no request that changes anything is sent.
  - Features that need approval stay V(Pending) until Microsoft approves them; the module then fails with a
    message saying so instead of waiting for the timeout.
author:
  - netpol.aks contributors (@netpol)
options:
  name:
    description:
      - The feature as C(Namespace/Feature), for example V(Microsoft.ContainerService/EnableNetworkPolicy).
      - Mutually exclusive with O(namespace) and O(feature).
    type: str
  namespace:
    description:
      - The resource provider namespace of the feature, for example V(Microsoft.ContainerService).
      - Use with O(feature), instead of O(name).
    type: str
  feature:
    description:
      - The feature name within O(namespace), for example V(EnableNetworkPolicy).
    type: str
  state:
    description:
      - V(registered) registers the feature, V(unregistered) unregisters it.
    type: str
    default: registered
    choices: [registered, unregistered]
  wait:
    description:
      - Wait until the feature reaches V(Registered) (or V(Unregistered)).
      - Without waiting, the module returns the state Azure reported right after the request, usually
        V(Registering), and O(propagate) is skipped.
    type: bool
    default: true
  timeout:
    description:
      - How long to wait, in seconds. Registration usually takes minutes and can take up to an hour.
    type: int
    default: 1800
  poll_interval:
    description:
      - Seconds between the first reads of the feature state while waiting; the interval then grows by half each
        read, up to 60 seconds.
    type: float
    default: 10
  propagate:
    description:
      - When the feature reaches its final state during this run (after this run's request, or after waiting for
        one sent earlier, for example with O(wait=false)), re-register the resource provider O(namespace) so that
        the change propagates (C(az provider register -n <namespace>)). That request counts as a change.
      - A feature that was already V(Registered) (or V(Unregistered)) is left alone, provider included.
    type: bool
    default: true
extends_documentation_fragment:
  - netpol.aks.azure
  - netpol.aks.attributes
attributes:
  check_mode:
    support: full
    details:
      - Reads the feature, sends no registration request, and returns the state it predicts.
  diff_mode:
    support: full
    details:
      - The diff shows the feature state before and after.
  idempotent:
    support: full
notes:
  - C(Microsoft.ContainerService/EnableNetworkPolicy) is historical (network policy on AKS has been generally
    available since 2019); the walkthrough's registration step is kept for fidelity and stays optional.
  - In check mode the predicted state of a feature that needs approval is V(Registered); Azure only reveals the
    approval gate by answering V(Pending) to the real request.
seealso:
  - module: netpol.aks.provider_registration
  - name: Set up preview features in an Azure subscription
    description: Microsoft's documentation of preview feature registration.
    link: https://learn.microsoft.com/azure/azure-resource-manager/management/preview-features
"""

EXAMPLES = r"""
- name: Register the walkthrough's preview feature and wait for it
  netpol.aks.feature_registration:
    name: Microsoft.ContainerService/EnableNetworkPolicy

- name: Same, with namespace and feature apart, without waiting
  netpol.aks.feature_registration:
    namespace: Microsoft.ContainerService
    feature: EnableNetworkPolicy
    wait: false

- name: Unregister a feature with explicit service principal credentials
  netpol.aks.feature_registration:
    name: Microsoft.ContainerService/AKS-GitOps
    state: unregistered
    auth_source: credentials
    subscription_id: "{{ azure_subscription_id }}"
    tenant_id: "{{ azure_tenant_id }}"
    client_id: "{{ azure_client_id }}"
    client_secret: "{{ azure_client_secret }}"
"""

RETURN = r"""
name:
  description: The feature as C(Namespace/Feature).
  returned: always
  type: str
  sample: Microsoft.ContainerService/EnableNetworkPolicy
state:
  description:
    - The feature state at the end (predicted in check mode).
    - One of V(NotSpecified), V(NotRegistered), V(Pending), V(Registering), V(Registered), V(Unregistering),
      V(Unregistered).
  returned: always
  type: str
  sample: Registered
id:
  description: The ARM id of the feature registration.
  returned: always
  type: str
  sample: /subscriptions/00000000-0000-0000-0000-000000000000/providers/Microsoft.Features/providers/Microsoft.ContainerService/features/EnableNetworkPolicy
polls:
  description: How many times the feature state was read while waiting (0 when nothing was waited for).
  returned: always
  type: int
  sample: 4
elapsed:
  description: Seconds spent waiting.
  returned: always
  type: float
  sample: 31.5
propagated:
  description: Whether the resource provider was re-registered to propagate the change.
  returned: always
  type: bool
  sample: true
feature:
  description: The feature registration as Azure describes it (predicted in check mode).
  returned: always
  type: dict
  contains:
    id:
      description: The ARM id.
      type: str
    name:
      description: C(Namespace/Feature).
      type: str
    type:
      description: The ARM resource type.
      type: str
      sample: Microsoft.Features/providers/features
    state:
      description: The feature state.
      type: str
      sample: Registered
"""

import traceback
from typing import Any

from ansible_collections.netpol.aks.plugins.module_utils._arm import Registration
from ansible_collections.netpol.aks.plugins.module_utils._azure import FEATURE_PATTERN
from ansible_collections.netpol.aks.plugins.module_utils._azure import AzureModule
from ansible_collections.netpol.aks.plugins.module_utils._azure import AzureModuleError
from ansible_collections.netpol.aks.plugins.module_utils._azure import azure_call
from ansible_collections.netpol.aks.plugins.module_utils._azure import validate_namespace

try:
    from azure.mgmt.resource.features import FeatureClient
except ImportError:
    FEATURES_IMPORT_ERROR: str | None = traceback.format_exc()
else:
    FEATURES_IMPORT_ERROR = None

try:
    from azure.mgmt.resource.resources import ResourceManagementClient
except ImportError:
    RESOURCE_IMPORT_ERROR: str | None = traceback.format_exc()
else:
    RESOURCE_IMPORT_ERROR = None

EXAMPLE = "Microsoft.ContainerService/EnableNetworkPolicy"
# What each desired state counts as reached.
REGISTERED_STATES = ("Registered",)
UNREGISTERED_STATES = ("NotRegistered", "Unregistered", "NotSpecified")
# The register / unregister state machine, shared with provider_registration; Pending (approval-gated) is settled.
MACHINE = Registration("feature", unregistered=UNREGISTERED_STATES, pending=("Pending",))
plan = MACHINE.plan
is_settled = MACHINE.settled
timeout_message = MACHINE.timeout_message

ARGSPEC: dict[str, Any] = {
    "name": {"type": "str"},
    "namespace": {"type": "str"},
    "feature": {"type": "str"},
    "state": {"type": "str", "default": "registered", "choices": ["registered", "unregistered"]},
    "wait": {"type": "bool", "default": True},
    "timeout": {"type": "int", "default": 1800},
    "poll_interval": {"type": "float", "default": 10},
    "propagate": {"type": "bool", "default": True},
}
MODULE_KWARGS: dict[str, Any] = {
    "mutually_exclusive": [("name", "namespace"), ("name", "feature")],
    "required_together": [("namespace", "feature")],
    "required_one_of": [("name", "namespace")],
    "supports_check_mode": True,
}


def parse_feature(name: str | None, namespace: str | None = None, feature: str | None = None) -> tuple[str, str]:
    """(namespace, feature) from ``Namespace/Feature`` or the two options; AzureModuleError when malformed."""
    if name is not None:
        if not name.strip():
            raise AzureModuleError(f"name: the feature name is empty; write it as Namespace/Feature, e.g. {EXAMPLE}.")
        if any(c.isspace() for c in name):
            raise AzureModuleError(
                f"name: {name!r} contains whitespace; feature names have none. Write it as Namespace/Feature, "
                f"e.g. {EXAMPLE}."
            )
        parts = name.split("/")
        if len(parts) == 1:
            raise AzureModuleError(
                f"name: {name!r} has no namespace; write it as Namespace/Feature, e.g. "
                f"Microsoft.ContainerService/{name}, or set namespace and feature."
            )
        if len(parts) > 2:
            raise AzureModuleError(
                f"name: {name!r} has {len(parts) - 1} slashes; write it as Namespace/Feature with exactly one, "
                f"e.g. {EXAMPLE}."
            )
        namespace, feature = parts
        ns_option = feat_option = "name"
    else:
        ns_option, feat_option = "namespace", "feature"
    validate_namespace(namespace or "", ns_option)
    if not feature or not FEATURE_PATTERN.match(feature):
        raise AzureModuleError(
            f"{feat_option}: {feature!r} is not a feature name; expected letters, digits, '.', '-' or '_' without "
            f"spaces or slashes, e.g. {EXAMPLE.split('/')[1]}."
        )
    return namespace, feature


def approval_message(full_name: str) -> str:
    namespace = full_name.split("/")[0]
    return (
        f"Feature {full_name} is Pending: it requires approval before it is registered. The registration request "
        f"was recorded; approval is granted by Microsoft (the team that owns the feature in the {namespace} "
        "resource provider), not by the administrators of your subscription. Follow the feature's preview "
        "documentation or open an Azure support request to ask for it, then run this task again: it will find the "
        "feature Registered (or still Pending) and send nothing new."
    )


def feature_dict(result: Any, fallback_id: str, full_name: str, state: str) -> dict[str, Any]:
    return {
        "id": getattr(result, "id", None) or fallback_id,
        "name": getattr(result, "name", None) or full_name,
        "type": getattr(result, "type", None) or "Microsoft.Features/providers/features",
        "state": state,
    }


def _state_of(result: Any) -> str:
    props = getattr(result, "properties", None)
    return str(getattr(props, "state", None) or "NotSpecified")


def needs_propagation(action: str | None, before: str, final: str, desired: str) -> bool:
    """Re-register the provider when the feature reached its target in this run (by our request or not)."""
    reached = final in (REGISTERED_STATES if desired == "registered" else UNREGISTERED_STATES)
    return reached and (action is not None or before != final)


def run(module: AzureModule) -> dict[str, Any]:
    """describe -> ensure (request, wait, propagate) -> result; check mode predicts instead."""
    params = module.params
    namespace, feature = parse_feature(params["name"], params["namespace"], params["feature"])
    full_name = f"{namespace}/{feature}"
    desired, wait = params["state"], params["wait"]
    module.require_library("azure-mgmt-resource-features", FEATURES_IMPORT_ERROR)
    if params["propagate"]:
        module.require_library("azure-mgmt-resource", RESOURCE_IMPORT_ERROR)

    client = module.client(FeatureClient)
    fallback_id = (
        f"/subscriptions/{module.subscription_id}/providers/Microsoft.Features/providers/{namespace}/features/{feature}"
    )
    outcome = MACHINE.ensure(
        full_name,
        read=lambda: client.features.get(namespace, feature),
        request=lambda action: getattr(client.features, action)(namespace, feature),
        state_of=_state_of,
        desired=desired,
        wait=wait,
        check_mode=module.check_mode,
        timeout=params["timeout"],
        interval=params["poll_interval"],
    )
    before, action, state, latest = outcome.before, outcome.action, outcome.state, outcome.latest
    result: dict[str, Any] = {
        "changed": action is not None,
        "name": full_name,
        "polls": outcome.polls,
        "elapsed": outcome.elapsed,
    }
    propagate = params["propagate"] and needs_propagation(action, before, state, desired)
    if not module.check_mode:
        if state == "Pending" and desired == "registered":
            if wait:
                raise AzureModuleError(
                    approval_message(full_name), code="FeaturePendingApproval", **result, state=state
                )
            module.warn(approval_message(full_name))
        elif params["propagate"] and action is not None and not propagate:
            target = "Registered" if desired == "registered" else "Unregistered"
            module.warn(
                f"Feature {full_name} is {state}; resource provider {namespace} was not re-registered. Once the "
                f"feature is {target}, run netpol.aks.provider_registration for {namespace} to propagate the change."
            )
        if propagate:
            with azure_call(f"re-register resource provider {namespace} to propagate feature {full_name}"):
                module.client(ResourceManagementClient).providers.register(namespace)

    result["changed"] = result["changed"] or propagate
    result["propagated"] = propagate
    result["state"] = state
    result["feature"] = feature_dict(latest, fallback_id, full_name, state)
    result["id"] = result["feature"]["id"]
    result["diff"] = {"before": {"name": full_name, "state": before}, "after": {"name": full_name, "state": state}}
    return result


def main() -> None:
    module = AzureModule(argument_spec=ARGSPEC, **MODULE_KWARGS)
    try:
        result = run(module)
    except AzureModuleError as err:
        module.fail_from_error(err)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
