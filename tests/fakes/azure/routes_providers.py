# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Resource providers: get, list, register, unregister with registrationState.

register:   NotRegistered / Unregistered -> Registering --(N reads)--> Registered (Registered stays)
unregister: Registered / Registering -> Unregistering --(N reads)--> Unregistered
"""

from __future__ import annotations

from typing import Any

from tests.fakes.azure.server import ArmError
from tests.fakes.azure.server import Request
from tests.fakes.azure.server import State
from tests.fakes.azure.server import control
from tests.fakes.azure.server import on_reset
from tests.fakes.azure.server import route

# ARM accepts many api-versions for Microsoft.Resources; these are the CLI's, the SDK's and
# azure-mgmt-core's auto-registration policy's.
API_VERSIONS = ("2016-02-01", "2021-04-01", "2022-09-01", "2024-03-01", "2024-11-01", "2025-04-01")
STATES = ("NotRegistered", "Registering", "Registered", "Unregistering", "Unregistered")
LOCATIONS = ["East US", "West Europe", "North Europe"]

# namespace -> (initial registrationState, reads while transitioning, resource types)
CATALOG: dict[str, tuple[str, int, list[str]]] = {
    "Microsoft.ContainerService": ("NotRegistered", 2, ["managedClusters", "locations", "locations/operations"]),
    "Microsoft.Network": ("Registered", 2, ["virtualNetworks", "locations", "locations/operations"]),
    "Microsoft.Compute": ("NotRegistered", 2, ["virtualMachines", "locations"]),
    "Microsoft.Features": ("Registered", 1, ["features", "providers"]),
    "Microsoft.Resources": ("Registered", 1, ["resourceGroups", "subscriptions"]),
}


@on_reset
def seed(state: State) -> None:
    providers = state.bucket("providers")
    for namespace, (initial, reads, types) in CATALOG.items():
        providers[namespace.lower()] = {
            "namespace": namespace,
            "registrationState": initial,
            "reads": reads,
            "reads_left": 0,
            "resourceTypes": types,
        }


def _find(req: Request) -> dict[str, Any]:
    namespace = req.params["namespace"]
    provider = req.state.bucket("providers").get(namespace.lower())
    if provider is None:
        raise ArmError(404, "InvalidResourceNamespace", f"The resource namespace '{namespace}' is invalid.")
    return provider


def _advance(provider: dict[str, Any]) -> None:
    if provider["registrationState"] in ("Registering", "Unregistering"):
        if provider["reads_left"] > 0:
            provider["reads_left"] -= 1
        if provider["reads_left"] == 0:
            provider["registrationState"] = (
                "Registered" if provider["registrationState"] == "Registering" else "Unregistered"
            )


def _body(req: Request, provider: dict[str, Any]) -> dict[str, Any]:
    ns = provider["namespace"]
    return {
        "id": f"/subscriptions/{req.subscription_id}/providers/{ns}",
        "namespace": ns,
        "registrationState": provider["registrationState"],
        "registrationPolicy": "RegistrationRequired",
        "resourceTypes": [
            {"resourceType": t, "locations": LOCATIONS, "apiVersions": ["2026-08-01", "2026-03-01", "2025-04-01"]}
            for t in provider["resourceTypes"]
        ],
    }


@route("GET", "/subscriptions/{subscriptionId}/providers", api_versions=API_VERSIONS)
def list_providers(req: Request) -> Any:
    items = list(req.state.bucket("providers").values())
    for provider in items:
        _advance(provider)
    return {"value": [_body(req, p) for p in items]}


@route("GET", "/subscriptions/{subscriptionId}/providers/{namespace}", api_versions=API_VERSIONS)
def get_provider(req: Request) -> Any:
    provider = _find(req)
    _advance(provider)
    return _body(req, provider)


@route("POST", "/subscriptions/{subscriptionId}/providers/{namespace}/register", api_versions=API_VERSIONS)
def register_provider(req: Request) -> Any:
    provider = _find(req)
    body = req.json
    if body is not None and (not isinstance(body, dict) or set(body) - {"thirdPartyProviderConsent"}):
        raise ArmError(
            400,
            "InvalidRequestContent",
            "The request content was invalid and could not be deserialized: only 'thirdPartyProviderConsent' is "
            "accepted in a provider registration request.",
        )
    if provider["registrationState"] in ("NotRegistered", "Unregistered", "Unregistering"):
        provider["registrationState"] = "Registering"
        provider["reads_left"] = provider["reads"]
    return _body(req, provider)


@route("POST", "/subscriptions/{subscriptionId}/providers/{namespace}/unregister", api_versions=API_VERSIONS)
def unregister_provider(req: Request) -> Any:
    provider = _find(req)
    if provider["registrationState"] in ("Registered", "Registering"):
        provider["registrationState"] = "Unregistering"
        provider["reads_left"] = provider["reads"]
    return _body(req, provider)


@control("POST", "/_fake/providers")
def configure_provider(state: State, spec: Any) -> Any:
    """Add or change a provider: {"namespace", "registrationState"?, "reads"?}."""
    if not isinstance(spec, dict) or not spec.get("namespace"):
        raise ValueError("POST /_fake/providers needs a JSON object with 'namespace'")
    if spec.get("registrationState") is not None and spec["registrationState"] not in STATES:
        raise ValueError(f"registrationState must be one of {', '.join(STATES)}")
    providers = state.bucket("providers")
    provider = providers.setdefault(
        spec["namespace"].lower(),
        {
            "namespace": spec["namespace"],
            "registrationState": "NotRegistered",
            "reads": 1,
            "reads_left": 0,
            "resourceTypes": [],
        },
    )
    for key in ("registrationState", "reads"):
        if spec.get(key) is not None:
            provider[key] = spec[key]
    if provider["registrationState"] in ("Registering", "Unregistering"):
        provider["reads_left"] = provider["reads"]
    return dict(provider)
