# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Microsoft.Features: preview-feature registration (api-version 2021-07-01).

State machine per feature (SDK enum SubscriptionFeatureRegistrationState):
register:   NotRegistered / Unregistered / NotSpecified -> Registering --(N reads)--> Registered
            approval-gated features -> Pending (and stay there until POST /_fake/features approves them)
unregister: Registered / Registering / Pending -> Unregistering --(N reads)--> Unregistered
A "read" is a GET of the feature or a list that contains it.
"""

from __future__ import annotations

from typing import Any

from tests.fakes.azure.server import ArmError
from tests.fakes.azure.server import Request
from tests.fakes.azure.server import State
from tests.fakes.azure.server import control
from tests.fakes.azure.server import on_reset
from tests.fakes.azure.server import route

API_VERSIONS = ("2021-07-01", "2015-12-01")
STATES = ("NotSpecified", "NotRegistered", "Pending", "Registering", "Registered", "Unregistering", "Unregistered")

# namespace -> feature -> (initial state, reads while Registering/Unregistering, approval required)
CATALOG: dict[str, dict[str, tuple[str, int, bool]]] = {
    "Microsoft.ContainerService": {
        "EnableNetworkPolicy": ("NotRegistered", 3, False),
        "AKS-GitOps": ("NotRegistered", 1, False),
        "EnableAPIServerVnetIntegrationPreview": ("Registered", 1, False),
        "AKSApprovalGatedPreview": ("NotRegistered", 1, True),
    },
    "Microsoft.Network": {
        "AllowBringYourOwnPublicIpAddress": ("NotRegistered", 2, False),
    },
    "Microsoft.Compute": {
        "EncryptionAtHost": ("NotRegistered", 2, False),
    },
}

BASE = "/subscriptions/{subscriptionId}/providers/Microsoft.Features"


@on_reset
def seed(state: State) -> None:
    features = state.bucket("features")
    for namespace, entries in CATALOG.items():
        for name, (initial, reads, approval) in entries.items():
            features[_key(namespace, name)] = {
                "namespace": namespace,
                "name": name,
                "state": initial,
                "reads": reads,
                "reads_left": 0,
                "approval_required": approval,
            }


def _key(namespace: str, name: str) -> str:
    return f"{namespace.lower()}/{name.lower()}"


def _namespaces(state: State) -> dict[str, str]:
    return {f["namespace"].lower(): f["namespace"] for f in state.bucket("features").values()}


def _find(req: Request) -> dict[str, Any]:
    namespace, name = req.params["namespace"], req.params["featureName"]
    if namespace.lower() not in _namespaces(req.state):
        raise ArmError(404, "InvalidResourceNamespace", f"The resource namespace '{namespace}' is invalid.")
    feature = req.state.bucket("features").get(_key(namespace, name))
    if feature is None:
        raise ArmError(404, "FeatureNotFound", f"The feature '{name}' could not be found.")
    return feature


def _advance(feature: dict[str, Any]) -> None:
    """A read moves a transitional state on once its reads are used up."""
    if feature["state"] in ("Registering", "Unregistering"):
        if feature["reads_left"] > 0:
            feature["reads_left"] -= 1
        if feature["reads_left"] == 0:
            feature["state"] = "Registered" if feature["state"] == "Registering" else "Unregistered"


def _body(req: Request, feature: dict[str, Any]) -> dict[str, Any]:
    ns, name = feature["namespace"], feature["name"]
    return {
        "properties": {"state": feature["state"]},
        "id": f"/subscriptions/{req.subscription_id}/providers/Microsoft.Features/providers/{ns}/features/{name}",
        "type": "Microsoft.Features/providers/features",
        "name": f"{ns}/{name}",
    }


@route("GET", BASE + "/providers/{namespace}/features/{featureName}", api_versions=API_VERSIONS)
def get_feature(req: Request) -> Any:
    feature = _find(req)
    _advance(feature)
    return _body(req, feature)


@route("GET", BASE + "/providers/{namespace}/features", api_versions=API_VERSIONS)
def list_features(req: Request) -> Any:
    namespace = req.params["namespace"]
    if namespace.lower() not in _namespaces(req.state):
        raise ArmError(404, "InvalidResourceNamespace", f"The resource namespace '{namespace}' is invalid.")
    items = [f for f in req.state.bucket("features").values() if f["namespace"].lower() == namespace.lower()]
    for feature in items:
        _advance(feature)
    return {"value": [_body(req, f) for f in items]}


@route("GET", BASE + "/features", api_versions=API_VERSIONS)
def list_all_features(req: Request) -> Any:
    items = list(req.state.bucket("features").values())
    for feature in items:
        _advance(feature)
    return {"value": [_body(req, f) for f in items]}


@route("POST", BASE + "/providers/{namespace}/features/{featureName}/register", api_versions=API_VERSIONS)
def register_feature(req: Request) -> Any:
    feature = _find(req)
    if feature["state"] in ("NotSpecified", "NotRegistered", "Unregistered", "Unregistering"):
        if feature["approval_required"]:
            feature["state"] = "Pending"
        else:
            feature["state"] = "Registering"
            feature["reads_left"] = feature["reads"]
    return _body(req, feature)


@route("POST", BASE + "/providers/{namespace}/features/{featureName}/unregister", api_versions=API_VERSIONS)
def unregister_feature(req: Request) -> Any:
    feature = _find(req)
    if feature["state"] in ("Registered", "Registering", "Pending"):
        feature["state"] = "Unregistering"
        feature["reads_left"] = feature["reads"]
    return _body(req, feature)


@control("POST", "/_fake/features")
def configure_feature(state: State, spec: Any) -> Any:
    """Add or change a feature: {"namespace", "name", "state"?, "reads"?, "approval_required"?}."""
    if not isinstance(spec, dict) or not spec.get("namespace") or not spec.get("name"):
        raise ValueError("POST /_fake/features needs a JSON object with 'namespace' and 'name'")
    if spec.get("state") is not None and spec["state"] not in STATES:
        raise ValueError(f"state must be one of {', '.join(STATES)}")
    features = state.bucket("features")
    feature = features.setdefault(
        _key(spec["namespace"], spec["name"]),
        {
            "namespace": spec["namespace"],
            "name": spec["name"],
            "state": "NotRegistered",
            "reads": 1,
            "reads_left": 0,
            "approval_required": False,
        },
    )
    for key in ("state", "reads", "approval_required"):
        if spec.get(key) is not None:
            feature[key] = spec[key]
    if feature["state"] in ("Registering", "Unregistering"):
        feature["reads_left"] = feature["reads"]
    return dict(feature)
