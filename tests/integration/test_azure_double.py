"""The Azure double itself: as strict as Entra ID and ARM, with faults, LROs and the log (in the local
lab: tests/integration/lab/test_local_lab.py)."""

from __future__ import annotations

import json
import os
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest
from azure.core.exceptions import ClientAuthenticationError
from azure.core.exceptions import ResourceNotFoundError
from azure.core.exceptions import ServiceResponseError
from azure.identity import ClientSecretCredential
from azure.mgmt.resource.features import FeatureClient
from azure.mgmt.resource.resources import ResourceManagementClient

from tests.fakes.azure.server import ArmError
from tests.fakes.azure.server import Request
from tests.fakes.azure.server import Response
from tests.fakes.azure.server import reject_unknown_properties
from tests.fakes.azure.server import route
from tests.fakes.azure.server import start_lro

FEATURES = "/providers/Microsoft.Features/providers/Microsoft.ContainerService/features"


# A resource route registered by this test module, exactly as a routes_*.py file would.
@route("PUT", "/subscriptions/{subscriptionId}/providers/Test.Double/widgets/{name}", api_versions=("2099-01-01",))
def _put_widget(req: Request):
    body = req.require_json()
    reject_unknown_properties(body, {"location": None, "properties": {"size": None}}, "Widget")
    widgets = req.state.bucket("test_widgets")
    widgets[req.params["name"]] = {"properties": {**body.get("properties", {}), "provisioningState": "Creating"}}

    def done(state, succeeded, error):
        state.bucket("test_widgets")[req.params["name"]]["properties"]["provisioningState"] = (
            "Succeeded" if succeeded else "Failed"
        )

    return start_lro(req, namespace="Test.Double", location="eastus", on_done=done, body=widgets[req.params["name"]])


@route("GET", "/subscriptions/{subscriptionId}/providers/Test.Double/broken")
def _broken(req: Request):
    raise RuntimeError("handler bug")


def call(double, method, path, *, token=None, body=None, form=None, headers=None):
    """(status, headers, parsed body) of one raw HTTPS request."""
    data = None
    hdrs = dict(headers or {})
    if body is not None:
        data = json.dumps(body).encode()
        hdrs["Content-Type"] = "application/json"
    if form is not None:
        data = urllib.parse.urlencode(form).encode()
        hdrs["Content-Type"] = "application/x-www-form-urlencoded"
    if token:
        hdrs["Authorization"] = f"Bearer {token}"
    url = path if path.startswith("https://") else double.url + path
    req = urllib.request.Request(url, data=data, method=method, headers=hdrs)
    ctx = ssl.create_default_context(cafile=double.ca_file)
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=30) as resp:
            raw, status, rh = resp.read(), resp.status, resp.headers
    except urllib.error.HTTPError as err:
        raw, status, rh = err.read(), err.code, err.headers
    return status, rh, (json.loads(raw) if raw else None)


def token(double, secret=None, scope=None):
    return call(
        double,
        "POST",
        f"/{double.tenant_id}/oauth2/v2.0/token",
        form={
            "grant_type": "client_credentials",
            "client_id": double.client_id,
            "client_secret": secret or double.client_secret,
            "scope": scope or f"{double.url}/.default",
        },
    )


def sub(double, rest):
    return f"/subscriptions/{double.subscription_id}{rest}"


@pytest.fixture
def access_token(azure_double):
    status, _unused, body = token(azure_double)
    assert status == 200, body
    return body["access_token"]


@pytest.fixture
def sdk(azure_double, monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", azure_double.env["REQUESTS_CA_BUNDLE"])
    cred = ClientSecretCredential(
        azure_double.tenant_id,
        azure_double.client_id,
        azure_double.client_secret,
        authority=azure_double.url,
        disable_instance_discovery=True,
    )
    common = {"base_url": azure_double.url, "credential_scopes": [f"{azure_double.url}/.default"]}
    return (
        FeatureClient(cred, azure_double.subscription_id, **common),
        ResourceManagementClient(cred, azure_double.subscription_id, **common),
    )


# --- Entra ID ---------------------------------------------------------------------------------------


def test_oidc_discovery(azure_double):
    status, _unused, body = call(
        azure_double, "GET", f"/{azure_double.tenant_id}/v2.0/.well-known/openid-configuration"
    )
    assert status == 200
    assert body["token_endpoint"] == f"{azure_double.url}/{azure_double.tenant_id}/oauth2/v2.0/token"
    assert body["authorization_endpoint"].endswith("/oauth2/v2.0/authorize")
    status, _unused, body = call(azure_double, "GET", "/other-tenant/v2.0/.well-known/openid-configuration")
    assert status == 400
    assert body["error_codes"] == [90002]


def test_wrong_secret_gets_invalid_client(azure_double):
    status, _unused, body = token(azure_double, secret="not-the-secret")
    assert status == 401
    assert body["error"] == "invalid_client"
    assert body["error_description"].startswith("AADSTS7000215: Invalid client secret provided.")


def test_token_for_another_resource_is_refused(azure_double):
    status, _unused, body = token(azure_double, scope="https://management.azure.com/.default")
    assert (status, body["error"], body["error_codes"]) == (400, "invalid_resource", [500011])


def test_token_requests_are_logged_without_the_secret(azure_double):
    token(azure_double)
    (entry,) = azure_double.requests()
    assert entry["body"]["client_secret"] == "<redacted>"
    assert azure_double.client_secret not in json.dumps(azure_double.requests())


# --- ARM auth and validation ------------------------------------------------------------------------


def test_arm_without_a_token_is_401(azure_double):
    status, headers, body = call(
        azure_double, "GET", sub(azure_double, f"{FEATURES}/EnableNetworkPolicy?api-version=2021-07-01")
    )
    assert status == 401
    assert body["error"]["code"] == "AuthenticationFailed"
    assert headers["WWW-Authenticate"].startswith("Bearer authorization_uri=")


@pytest.mark.parametrize(
    ("header", "code"),
    [("Bearer made-up", "InvalidAuthenticationToken"), ("Basic abc", "AuthenticationFailedInvalidHeader")],
)
def test_arm_with_a_bad_token_is_401(azure_double, header, code):
    status, _unused, body = call(
        azure_double,
        "GET",
        sub(azure_double, "/providers/Microsoft.Network?api-version=2025-04-01"),
        headers={"Authorization": header},
    )
    assert (status, body["error"]["code"]) == (401, code)


def test_unknown_path_still_needs_auth(azure_double):
    status, _unused, body = call(azure_double, "GET", sub(azure_double, "/providers/Nope.Nope/things/x?api-version=1"))
    assert (status, body["error"]["code"]) == (401, "AuthenticationFailed")


def test_api_version_and_subscription_are_checked(azure_double, access_token):
    path = sub(azure_double, f"{FEATURES}/EnableNetworkPolicy")
    status, _unused, body = call(azure_double, "GET", path, token=access_token)
    assert (status, body["error"]["code"]) == (400, "MissingApiVersionParameter")
    status, _unused, body = call(azure_double, "GET", path + "?api-version=2099-01-01", token=access_token)
    assert (status, body["error"]["code"]) == (400, "InvalidApiVersionParameter")
    other = f"/subscriptions/00000000-0000-0000-0000-000000000000{FEATURES}/EnableNetworkPolicy?api-version=2021-07-01"
    status, _unused, body = call(azure_double, "GET", other, token=access_token)
    assert (status, body["error"]["code"]) == (404, "SubscriptionNotFound")


# --- features and providers through the real SDK ----------------------------------------------------


def test_feature_state_machine(sdk):
    features, _unused = sdk
    assert (
        features.features.get("Microsoft.ContainerService", "EnableNetworkPolicy").properties.state == "NotRegistered"
    )
    assert (
        features.features.register("Microsoft.ContainerService", "EnableNetworkPolicy").properties.state
        == "Registering"
    )
    states = [
        features.features.get("Microsoft.ContainerService", "EnableNetworkPolicy").properties.state
        for _unused in range(4)
    ]
    assert states == ["Registering", "Registering", "Registered", "Registered"]
    listed = {f.name: f.properties.state for f in features.features.list("Microsoft.ContainerService")}
    assert listed["Microsoft.ContainerService/EnableNetworkPolicy"] == "Registered"
    assert (
        features.features.unregister("Microsoft.ContainerService", "EnableNetworkPolicy").properties.state
        == "Unregistering"
    )


def test_approval_gated_feature_stays_pending(sdk):
    features, _unused = sdk
    assert (
        features.features.register("Microsoft.ContainerService", "AKSApprovalGatedPreview").properties.state
        == "Pending"
    )
    for _unused in range(5):
        assert (
            features.features.get("Microsoft.ContainerService", "AKSApprovalGatedPreview").properties.state == "Pending"
        )


@pytest.mark.parametrize(
    ("namespace", "feature", "code"),
    [
        ("Microsoft.ContainerService", "NoSuchFeature", "FeatureNotFound"),
        ("Microsoft.Nope", "X", "InvalidResourceNamespace"),
    ],
)
def test_unknown_feature_or_namespace(sdk, namespace, feature, code):
    features, _unused = sdk
    with pytest.raises(ResourceNotFoundError) as info:
        features.features.get(namespace, feature)
    assert info.value.error.code == code


def test_provider_state_machine(sdk):
    _unused, resources = sdk
    assert resources.providers.get("Microsoft.ContainerService").registration_state == "NotRegistered"
    assert resources.providers.register("Microsoft.ContainerService").registration_state == "Registering"
    states = [resources.providers.get("Microsoft.ContainerService").registration_state for _unused in range(3)]
    assert states == ["Registering", "Registered", "Registered"]
    assert resources.providers.unregister("Microsoft.Network").registration_state == "Unregistering"
    with pytest.raises(ResourceNotFoundError) as info:
        resources.providers.get("Microsoft.Nope")
    assert info.value.error.code == "InvalidResourceNamespace"


def test_wrong_secret_through_azure_identity(azure_double, monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", azure_double.env["REQUESTS_CA_BUNDLE"])
    cred = ClientSecretCredential(
        azure_double.tenant_id,
        azure_double.client_id,
        "wrong",
        authority=azure_double.url,
        disable_instance_discovery=True,
    )
    client = FeatureClient(
        cred,
        azure_double.subscription_id,
        base_url=azure_double.url,
        credential_scopes=[f"{azure_double.url}/.default"],
    )
    with pytest.raises(ClientAuthenticationError, match="AADSTS7000215"):
        client.features.get("Microsoft.ContainerService", "EnableNetworkPolicy")
    assert azure_double.arm_requests() == []


# --- faults, reset, control -------------------------------------------------------------------------


def test_faults_hit_the_next_n_matching_requests(sdk, azure_double):
    features, _unused = sdk
    azure_double.faults(
        {"fault": "429", "path": "*/features/EnableNetworkPolicy", "method": "GET", "count": 1},
        {"fault": "503", "path": "*/features/EnableNetworkPolicy", "method": "GET", "count": 1},
    )
    assert (
        features.features.get("Microsoft.ContainerService", "EnableNetworkPolicy").properties.state == "NotRegistered"
    )
    gets = [(r["status"], r["fault"]) for r in azure_double.arm_requests("GET")]
    assert gets == [(429, "429"), (503, "503"), (200, None)]
    assert all(f["count"] == 0 for f in azure_double.control("GET", "/_fake/faults")["faults"])


def test_dropped_connection(azure_double, access_token):
    azure_double.faults(fault="drop", path="*/providers/Microsoft.Network")
    with pytest.raises((urllib.error.URLError, ConnectionError, ServiceResponseError, OSError)):
        call(
            azure_double,
            "GET",
            sub(azure_double, "/providers/Microsoft.Network?api-version=2025-04-01"),
            token=access_token,
        )
    assert azure_double.arm_requests()[-1]["status"] == "dropped"


def test_error_fault_and_bad_fault_spec(azure_double, access_token):
    azure_double.faults(fault="error", status=409, code="MissingSubscriptionRegistration", message="no", path="*")
    status, _unused, body = call(
        azure_double,
        "GET",
        sub(azure_double, "/providers/Microsoft.Network?api-version=2025-04-01"),
        token=access_token,
    )
    assert (status, body["error"]["code"]) == (409, "MissingSubscriptionRegistration")
    with pytest.raises(urllib.error.HTTPError) as info:
        azure_double.faults(fault="teapot", path="*")
    assert info.value.code == 400


def test_reset_restores_the_seed(sdk, azure_double):
    features, _unused = sdk
    features.features.register("Microsoft.ContainerService", "EnableNetworkPolicy")
    azure_double.faults(fault="503", path="*", count=5)
    azure_double.reset()
    assert azure_double.requests() == []
    assert azure_double.control("GET", "/_fake/faults")["faults"] == []
    assert (
        features.features.get("Microsoft.ContainerService", "EnableNetworkPolicy").properties.state == "NotRegistered"
    )


def test_seeding_features_and_providers(sdk, azure_double):
    features, resources = sdk
    azure_double.set_feature("Microsoft.Storage", "NewFeature", state="Registered")
    assert features.features.get("Microsoft.Storage", "NewFeature").properties.state == "Registered"
    azure_double.set_provider("Microsoft.ContainerService", registrationState="Registered")
    assert resources.providers.get("Microsoft.ContainerService").registration_state == "Registered"


# --- the extension API: LROs and body validation ----------------------------------------------------


def test_lro_helper(azure_double, access_token):
    path = sub(azure_double, "/providers/Test.Double/widgets/w1?api-version=2099-01-01")
    status, headers, body = call(
        azure_double, "PUT", path, token=access_token, body={"location": "eastus", "properties": {"size": 3}}
    )
    assert status == 201
    assert body["properties"]["provisioningState"] == "Creating"
    assert headers["Retry-After"] == "0"
    op_url = headers["Azure-AsyncOperation"]
    statuses = [call(azure_double, "GET", op_url, token=access_token)[2]["status"] for _unused in range(4)]
    assert statuses == ["InProgress", "InProgress", "Succeeded", "Succeeded"]
    assert azure_double.state()["test_widgets"]["w1"]["properties"]["provisioningState"] == "Succeeded"
    # the status URL needs a token too
    assert call(azure_double, "GET", op_url)[0] == 401


def test_lro_ends_with_wall_clock_time_without_being_polled(azure_double, access_token):
    """As in ARM, an operation goes on (and ends) while nobody polls it: a client cut off finds it done."""
    settings = azure_double.control(
        "POST", "/_fake/operations", {"namespace": "Test.Double", "polls": None, "seconds": 1}
    )
    assert settings == {"namespace": "test.double", "polls": None, "seconds": 1.0}
    path = sub(azure_double, "/providers/Test.Double/widgets/w4?api-version=2099-01-01")
    _unused, headers, body = call(azure_double, "PUT", path, token=access_token, body={"location": "eastus"})
    assert body["properties"]["provisioningState"] == "Creating"
    op_url = headers["Azure-AsyncOperation"]
    # polling does not end it early when the polls shortcut is off
    statuses = [call(azure_double, "GET", op_url, token=access_token)[2]["status"] for _poll in range(5)]
    assert statuses == ["InProgress"] * 5
    time.sleep(1.2)
    # nobody polled in between: the state (not the status URL) shows the end
    assert azure_double.state()["test_widgets"]["w4"]["properties"]["provisioningState"] == "Succeeded"
    assert call(azure_double, "GET", op_url, token=access_token)[2]["status"] == "Succeeded"
    # other namespaces keep the defaults
    assert azure_double.control("POST", "/_fake/operations", {})["polls"] == 2


def test_lro_failure_on_demand(azure_double, access_token):
    azure_double.faults(fault="lro_failed", path="*/widgets/w2", code="QuotaExceeded", message="Out of widgets.")
    path = sub(azure_double, "/providers/Test.Double/widgets/w2?api-version=2099-01-01")
    _unused, headers, _unused = call(azure_double, "PUT", path, token=access_token, body={"location": "eastus"})
    azure_double.control("POST", "/_fake/operations/settle")
    body = call(azure_double, "GET", headers["Azure-AsyncOperation"], token=access_token)[2]
    assert body["status"] == "Failed"
    assert body["error"] == {"code": "QuotaExceeded", "message": "Out of widgets."}
    assert azure_double.state()["test_widgets"]["w2"]["properties"]["provisioningState"] == "Failed"


def test_unknown_property_is_rejected_like_arm(azure_double, access_token):
    path = sub(azure_double, "/providers/Test.Double/widgets/w3?api-version=2099-01-01")
    status, _unused, body = call(
        azure_double, "PUT", path, token=access_token, body={"location": "eastus", "properties": {"widget_size": 3}}
    )
    assert status == 400
    assert body["error"]["code"] == "InvalidRequestContent"
    assert "Could not find member 'widget_size' on object of type 'Widget'" in body["error"]["message"]


@pytest.mark.parametrize(
    ("body", "path"),
    [({"a": {"c": 1}}, "a.c"), ({"items": [{"ok": 1}, {"bad": 2}]}, "items[1].bad"), ({"x": 1}, "x")],
)
def test_reject_unknown_properties(body, path):
    schema = {"a": {"b": None}, "items": [{"ok": None}]}
    with pytest.raises(ArmError) as info:
        reject_unknown_properties(body, schema, "T")
    assert info.value.target == path
    reject_unknown_properties({"a": {"b": {"anything": 1}}, "items": [{"ok": 2}]}, schema, "T")


def test_a_handler_bug_is_a_loud_500(azure_double, access_token):
    status, _unused, body = call(
        azure_double, "GET", sub(azure_double, "/providers/Test.Double/broken"), token=access_token
    )
    assert (status, body["error"]["code"]) == (500, "TestDoubleHandlerError")
    assert "RuntimeError: handler bug" in azure_double.arm_requests()[-1]["error"]


def test_handlers_may_return_a_response():
    assert Response(204).body is None


def test_the_double_only_listens_on_loopback(azure_double):
    assert azure_double.url.startswith("https://127.0.0.1:")
    assert os.path.exists(azure_double.ca_file)
