"""The Azure layer: auth settings, credentials, client factory, error translation, waiting (no I/O)."""

from __future__ import annotations

import json

import pytest
import yaml
from azure.core.exceptions import ClientAuthenticationError
from azure.core.exceptions import HttpResponseError
from azure.core.exceptions import ResourceNotFoundError
from azure.core.exceptions import ServiceRequestError
from azure.core.pipeline.policies import RetryPolicy
from azure.identity import AzureCliCredential
from azure.identity import ClientSecretCredential
from azure.identity import DefaultAzureCredential
from azure.identity import EnvironmentCredential
from azure.identity import ManagedIdentityCredential

from ansible_collections.netpol.aks.plugins.doc_fragments.azure import ModuleDocFragment
from ansible_collections.netpol.aks.plugins.module_utils import _azure
from ansible_collections.netpol.aks.plugins.module_utils._azure import AZURE_AUTH_ARGSPEC
from ansible_collections.netpol.aks.plugins.module_utils._azure import AzureModule
from ansible_collections.netpol.aks.plugins.module_utils._azure import AzureModuleError
from ansible_collections.netpol.aks.plugins.module_utils._azure import auth_settings
from ansible_collections.netpol.aks.plugins.module_utils._azure import azure_call
from ansible_collections.netpol.aks.plugins.module_utils._azure import build_credential
from ansible_collections.netpol.aks.plugins.module_utils._azure import validate_namespace
from ansible_collections.netpol.aks.plugins.module_utils._azure import wait_until

SP = {"subscription_id": "sub", "tenant_id": "tenant", "client_id": "app", "client_secret": "s3cr3t"}


def params(**overrides):
    base = dict.fromkeys(AZURE_AUTH_ARGSPEC)
    base["auth_source"] = "auto"
    base.update(SP)
    base.update(overrides)
    return base


# --- the doc fragment mirrors the argspec -----------------------------------------------------------


def test_doc_fragment_mirrors_argspec():
    documented = yaml.safe_load(ModuleDocFragment.DOCUMENTATION)["options"]
    assert set(documented) == set(AZURE_AUTH_ARGSPEC)
    for name, spec in AZURE_AUTH_ARGSPEC.items():
        doc = documented[name]
        assert doc["type"] == spec["type"], name
        assert doc.get("default") == spec.get("default"), name
        assert doc.get("choices") == spec.get("choices"), name
        assert doc.get("required", False) == spec.get("required", False), name
        for env_var in spec.get("fallback", (None, []))[1]:
            assert env_var in " ".join(doc["description"]), f"{name}: {env_var} undocumented"


def test_only_the_secret_is_no_log():
    assert [k for k, v in AZURE_AUTH_ARGSPEC.items() if v.get("no_log")] == ["client_secret"]


# --- auth settings ----------------------------------------------------------------------------------


def test_defaults_are_the_public_cloud():
    settings = auth_settings(params())
    assert settings["authority"] == "https://login.microsoftonline.com"
    assert settings["resource_manager_endpoint"] == "https://management.azure.com"
    assert settings["credential_scopes"] == ["https://management.azure.com/.default"]
    assert settings["disable_instance_discovery"] is False
    assert settings["source"] == "credentials"


@pytest.mark.parametrize(
    ("authority", "expected"),
    [
        ("https://127.0.0.1:8443", True),
        ("https://adfs.contoso.example/adfs", True),
        ("login.microsoftonline.us", False),
        ("https://login.chinacloudapi.cn/", False),
        ("https://LOGIN.MICROSOFTONLINE.COM", False),
    ],
)
def test_instance_discovery_is_disabled_for_non_microsoft_authorities(authority, expected):
    assert auth_settings(params(authority_host=authority))["disable_instance_discovery"] is expected


def test_explicit_instance_discovery_wins():
    assert (
        auth_settings(params(authority_host="https://127.0.0.1:1", disable_instance_discovery=False))[
            "disable_instance_discovery"
        ]
        is False
    )


def test_custom_arm_endpoint_sets_the_scope():
    settings = auth_settings(params(resource_manager_endpoint="https://127.0.0.1:9443/"))
    assert settings["resource_manager_endpoint"] == "https://127.0.0.1:9443"
    assert settings["credential_scopes"] == ["https://127.0.0.1:9443/.default"]


@pytest.mark.parametrize("option", ["authority_host", "resource_manager_endpoint"])
def test_plain_http_is_refused(option):
    with pytest.raises(AzureModuleError, match=f"^{option} must be an https:// URL"):
        auth_settings(params(**{option: "http://127.0.0.1:8080"}))


def test_subscription_is_required():
    with pytest.raises(AzureModuleError, match=r"subscription_id is required.*AZURE_SUBSCRIPTION_ID"):
        auth_settings(params(subscription_id=None))


def test_credentials_source_names_what_is_missing():
    with pytest.raises(AzureModuleError, match="missing: client_id, client_secret"):
        auth_settings(params(auth_source="credentials", client_id=None, client_secret=None))


def test_auto_without_a_secret_uses_the_default_chain():
    assert auth_settings(params(client_secret=None))["source"] == "default"


@pytest.mark.parametrize(
    ("source", "cls"),
    [
        ("credentials", ClientSecretCredential),
        ("env", EnvironmentCredential),
        ("cli", AzureCliCredential),
        ("msi", ManagedIdentityCredential),
        ("auto", ClientSecretCredential),
    ],
)
def test_credential_per_source(source, cls):
    p = params(auth_source=source, authority_host="https://127.0.0.1:1")
    assert isinstance(build_credential(p, auth_settings(p)), cls)


def test_default_chain_credential():
    p = params(client_secret=None)
    assert isinstance(build_credential(p, auth_settings(p)), DefaultAzureCredential)


# --- client factory ---------------------------------------------------------------------------------


class RecordingClient:
    def __init__(self, credential, subscription_id, **kwargs):
        self.credential = credential
        self.subscription_id = subscription_id
        self.kwargs = kwargs


def test_client_gets_endpoint_scopes_and_retry_policy():
    module = AzureModule.__new__(AzureModule)
    module._settings = auth_settings(params(resource_manager_endpoint="https://127.0.0.1:9443"))
    module._credential = object()
    client = module.client(RecordingClient, polling_interval=0)
    assert client.credential is module._credential
    assert client.subscription_id == "sub"
    assert client.kwargs["base_url"] == "https://127.0.0.1:9443"
    assert client.kwargs["credential_scopes"] == ["https://127.0.0.1:9443/.default"]
    assert client.kwargs["polling_interval"] == 0
    policy = client.kwargs["retry_policy"]
    assert isinstance(policy, RetryPolicy)
    assert {429, 500, 502, 503, 504} <= policy._retry_on_status_codes
    assert policy.total_retries == _azure.RETRY_TOTAL
    assert policy._respect_retry_after_header


# --- errors -----------------------------------------------------------------------------------------


class FakeHttpResponse:
    """Just enough of an azure-core HTTP response for HttpResponseError."""

    def __init__(self, status, body, headers=None):
        self.status_code = status
        self.reason = "Reason"
        self.headers = headers or {}
        self.content_type = "application/json"
        self._body = json.dumps(body)
        self.request = None

    def text(self, encoding=None):
        return self._body

    def body(self):
        return self._body.encode()

    def json(self):
        return json.loads(self._body)


def arm_error(status=403, code="AuthorizationFailed", message="The client does not have authorization.", cls=None):
    headers = {"x-ms-request-id": "req-1", "x-ms-correlation-request-id": "corr-1"}
    response = FakeHttpResponse(status, {"error": {"code": code, "message": message}}, headers)
    return (cls or HttpResponseError)(response=response)


def test_arm_error_carries_code_message_and_ids():
    err = AzureModuleError.from_sdk("register feature X/Y", arm_error())
    assert str(err).startswith("Failed to register feature X/Y: (AuthorizationFailed) The client does not")
    assert "HTTP 403" in str(err)
    assert "request id req-1" in str(err)
    assert "correlation id corr-1" in str(err)
    assert err.to_dict() == {
        "code": "AuthorizationFailed",
        "status": 403,
        "request_id": "req-1",
        "correlation_id": "corr-1",
    }


def test_not_found_keeps_the_arm_code():
    err = AzureModuleError.from_sdk(
        "read feature",
        arm_error(404, "FeatureNotFound", "The feature 'Nope' could not be found.", ResourceNotFoundError),
    )
    assert err.code == "FeatureNotFound"
    assert "The feature 'Nope' could not be found." in str(err)


def test_arm_401_is_reported_as_rejected_credentials():
    err = AzureModuleError.from_sdk(
        "read provider",
        arm_error(401, "InvalidAuthenticationToken", "The access token is invalid.", ClientAuthenticationError),
    )
    assert "rejected the credentials (InvalidAuthenticationToken)" in str(err)


def test_token_failure_is_an_authentication_error():
    exc = ClientAuthenticationError(message="Authentication failed: AADSTS7000215: Invalid client secret provided.")
    err = AzureModuleError.from_sdk("read feature X/Y", exc)
    assert str(err).startswith("Failed to read feature X/Y: authentication failed: AADSTS7000215: Invalid client")
    assert "client_secret" in str(err)
    assert err.code == "AADSTS7000215"


def test_credential_unavailable_is_an_authentication_error():
    exc = ClientAuthenticationError(message="EnvironmentCredential authentication unavailable.")
    err = AzureModuleError.from_sdk("read provider P.Q", exc)
    assert str(err).startswith("Failed to read provider P.Q: authentication failed: EnvironmentCredential")
    assert err.code == "AuthenticationFailed"


def test_unreachable_endpoint():
    err = AzureModuleError.from_sdk("read feature", ServiceRequestError("Connection refused"))
    assert "could not reach Azure (ServiceRequestError): Connection refused" in str(err)


def test_azure_call_translates_and_passes_domain_errors_through():
    with (
        pytest.raises(AzureModuleError, match=r"^Failed to do it: \(AuthorizationFailed\)") as info,
        azure_call("do it"),
    ):
        raise arm_error()
    assert isinstance(info.value.exception, HttpResponseError)
    mine = AzureModuleError("mine")
    with pytest.raises(AzureModuleError) as info, azure_call("x"):
        raise mine
    assert info.value is mine


def test_other_exceptions_are_not_swallowed():
    with pytest.raises(KeyError), azure_call("x"):
        raise KeyError("bug")


# --- namespaces -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "ns", ["Microsoft.ContainerService", "Microsoft.Network", "microsoft.insights", "84codes.CloudAMQP"]
)
def test_valid_namespaces(ns):
    assert validate_namespace(ns) == ns


@pytest.mark.parametrize(
    "ns", ["", "Microsoft", "Microsoft Network", "Microsoft.Network/x", ".Microsoft", "Microsoft."]
)
def test_invalid_namespaces(ns):
    with pytest.raises(AzureModuleError, match=r"^name: .* is not a resource provider namespace"):
        validate_namespace(ns, "name")


# --- waiting ----------------------------------------------------------------------------------------


class Clock:
    def __init__(self):
        self.now = 100.0
        self.sleeps = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


def test_wait_until_counts_polls_and_backs_off():
    clock = Clock()
    values = iter(["Registering", "Registering", "Registering", "Registered"])
    result = wait_until(
        lambda: next(values),
        lambda v: v == "Registered",
        timeout=100,
        interval=2,
        backoff=2,
        max_interval=5,
        sleep=clock.sleep,
        clock=clock,
    )
    assert (result.value, result.polls, result.timed_out) == ("Registered", 4, False)
    assert clock.sleeps == [2, 4, 5]
    assert result.elapsed == 11


def test_wait_until_times_out_with_the_last_value_and_never_oversleeps():
    clock = Clock()
    result = wait_until(lambda: "Registering", lambda v: False, timeout=10, interval=4, sleep=clock.sleep, clock=clock)
    assert result.timed_out
    assert result.value == "Registering"
    assert clock.sleeps == [4, 4, 2]
    assert result.polls == 4
    assert result.elapsed == 10


def test_wait_until_zero_timeout_reads_once():
    clock = Clock()
    result = wait_until(lambda: "x", lambda v: False, timeout=0, interval=1, sleep=clock.sleep, clock=clock)
    assert (result.polls, result.timed_out, clock.sleeps) == (1, True, [])


@pytest.mark.parametrize(("timeout", "interval", "backoff"), [(-1, 1, 1), (1, -1, 1), (1, 1, 0.5)])
def test_wait_until_rejects_bad_arguments(timeout, interval, backoff):
    with pytest.raises(ValueError, match="timeout and interval"):
        wait_until(lambda: 1, lambda v: True, timeout=timeout, interval=interval, backoff=backoff)


# --- timing options -----------------------------------------------------------------------------------


def test_timing_options_are_checked_once_for_all_modules():
    assert _azure.timing_errors({"poll_interval": 0, "wait_timeout": 0, "timeout": 1800, "name": "x"}) == []
    assert _azure.timing_errors({"poll_interval": None}) == []
    errors = _azure.timing_errors({"poll_interval": -1, "wait_timeout": -5, "timeout": float("inf")})
    assert [e.split(":")[0] for e in errors] == ["poll_interval", "wait_timeout", "timeout"]
    assert all("use zero or more" in e for e in errors)
    assert _azure.timing_errors({"poll_interval": float("nan")})[0].startswith("poll_interval: nan")


# --- azure.azcollection's vocabulary ------------------------------------------------------------------


def test_azcollection_aliases_and_environment_names():
    assert AZURE_AUTH_ARGSPEC["client_secret"]["aliases"] == ["secret"]
    assert AZURE_AUTH_ARGSPEC["tenant_id"]["aliases"] == ["tenant"]
    assert AZURE_AUTH_ARGSPEC["client_secret"]["fallback"][1] == ["AZURE_CLIENT_SECRET", "AZURE_SECRET"]
    assert AZURE_AUTH_ARGSPEC["tenant_id"]["fallback"][1] == ["AZURE_TENANT_ID", "AZURE_TENANT"]
    assert AZURE_AUTH_ARGSPEC["auth_source"]["fallback"][1] == ["ANSIBLE_AZURE_AUTH_SOURCE"]
    assert "credential_file" in AZURE_AUTH_ARGSPEC["auth_source"]["choices"]


@pytest.mark.parametrize(
    ("cloud", "authority", "arm"),
    [
        ("AzureCloud", "https://login.microsoftonline.com", "https://management.azure.com"),
        ("AzureChinaCloud", "https://login.chinacloudapi.cn", "https://management.chinacloudapi.cn"),
        ("AzureUSGovernment", "https://login.microsoftonline.us", "https://management.usgovcloudapi.net"),
    ],
)
def test_cloud_environment_sets_both_endpoints(cloud, authority, arm):
    settings = auth_settings(params(cloud_environment=cloud))
    assert settings["authority"] == authority
    assert settings["resource_manager_endpoint"] == arm
    assert settings["credential_scopes"] == [f"{arm}/.default"]
    assert settings["disable_instance_discovery"] is False  # Microsoft authorities are discovered


def test_explicit_endpoints_win_over_cloud_environment_and_unknown_clouds_are_refused():
    settings = auth_settings(
        params(
            cloud_environment="AzureChinaCloud",
            authority_host="https://a.example",
            resource_manager_endpoint="https://b.example",
        )
    )
    assert (settings["authority"], settings["resource_manager_endpoint"]) == ("https://a.example", "https://b.example")
    with pytest.raises(AzureModuleError) as excinfo:
        auth_settings(params(cloud_environment="AzureGermanCloud"))
    assert str(excinfo.value).startswith("cloud_environment: 'AzureGermanCloud' is not a known cloud")


PROFILE = {"subscription_id": "file-sub", "client_id": "file-app", "secret": "file-s3cr3t", "tenant": "file-tenant"}


def test_credential_file_gives_the_service_principal():
    seen = []

    def reader(profile):
        seen.append(profile)
        return dict(PROFILE)

    bare = {**dict.fromkeys(AZURE_AUTH_ARGSPEC), "auth_source": "credential_file", "profile": "lab"}
    settings = auth_settings(bare, credential_file=reader)
    assert seen == ["lab"]
    assert settings["source"] == "credentials"
    assert (settings["tenant_id"], settings["client_id"], settings["client_secret"]) == (
        "file-tenant",
        "file-app",
        "file-s3cr3t",
    )
    assert settings["subscription_id"] == "file-sub"
    credential = build_credential(bare, settings)
    assert isinstance(credential, ClientSecretCredential)


def test_auto_uses_the_credential_file_only_without_a_secret():
    bare = {**dict.fromkeys(AZURE_AUTH_ARGSPEC), "auth_source": "auto"}
    assert auth_settings(bare, credential_file=lambda profile: dict(PROFILE))["client_id"] == "file-app"
    assert auth_settings(params(), credential_file=lambda profile: dict(PROFILE))["client_id"] == "app"
    assert auth_settings({**bare, "subscription_id": "s"}, credential_file=lambda profile: None)["source"] == "default"


def test_credential_file_errors_say_what_to_do():
    bare = {**dict.fromkeys(AZURE_AUTH_ARGSPEC), "auth_source": "credential_file"}
    with pytest.raises(AzureModuleError) as excinfo:
        auth_settings(bare, credential_file=lambda profile: None)
    assert "~/.azure/credentials does not exist" in str(excinfo.value)
    with pytest.raises(AzureModuleError) as excinfo:
        auth_settings(bare, credential_file=lambda profile: {"client_id": "x", "subscription_id": "s"})
    assert "lacks tenant, secret" in str(excinfo.value)


def test_read_credential_file(tmp_path):
    path = tmp_path / "credentials"
    path.write_text(
        "[default]\nsubscription_id = s1\nclient_id = c1\nsecret = x1\ntenant = t1\n\n[lab]\nclient_id = c2\n"
    )
    assert _azure.read_credential_file(None, str(path)) == {
        "subscription_id": "s1",
        "client_id": "c1",
        "secret": "x1",
        "tenant": "t1",
    }
    assert _azure.read_credential_file("lab", str(path)) == {"client_id": "c2"}
    assert _azure.read_credential_file(None, str(tmp_path / "none")) is None
    with pytest.raises(AzureModuleError) as excinfo:
        _azure.read_credential_file("prod", str(path))
    assert "has no [prod] section (it has: default, lab)" in str(excinfo.value)
