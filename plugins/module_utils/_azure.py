# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The Azure layer of netpol.aks: auth options, SDK clients, errors, waiting.

PRIVATE to the collection; may change at any time. Every Azure module builds on it.

API for module authors
======================

``AZURE_AUTH_ARGSPEC``
    The shared auth options (documented by the ``netpol.aks.azure`` doc fragment, which mirrors it
    exactly): ``auth_source`` (auto|env|cli|msi|credentials|credential_file), ``profile``,
    ``cloud_environment``, ``subscription_id``, ``tenant_id`` (alias ``tenant``), ``client_id``,
    ``client_secret`` (alias ``secret``, no_log), ``authority_host``, ``resource_manager_endpoint``,
    ``disable_instance_discovery``. Environment fallbacks: ``ANSIBLE_AZURE_AUTH_SOURCE``,
    ``AZURE_PROFILE``, ``AZURE_CLOUD_ENVIRONMENT``, ``AZURE_SUBSCRIPTION_ID``, ``AZURE_TENANT_ID`` then
    ``AZURE_TENANT``, ``AZURE_CLIENT_ID``, ``AZURE_CLIENT_SECRET`` then ``AZURE_SECRET``,
    ``AZURE_AUTHORITY_HOST``, ``AZURE_RESOURCE_MANAGER_ENDPOINT`` and ``AZURE_DISABLE_INSTANCE_DISCOVERY``:
    the azure-identity names and azure.azcollection's, so its users' settings work unchanged.
    ``AzureModule`` adds it for you; you only need it to build a custom spec.

``AzureModule(argument_spec, **ansible_module_kwargs)``
    A thin wrapper around ``AnsibleModule`` (amazon.aws style). It merges the auth argspec into
    yours, checks that azure-core/azure-identity import (``missing_required_lib``), and offers:

    - ``module.params``, ``module.check_mode``, ``module.exit_json``, ``module.fail_json``,
      ``module.warn`` (delegated to the AnsibleModule, reachable as ``module.module``);
    - ``module.require_library(name, import_error)``: fail cleanly when the SDK package your module
      needs did not import (keep ``try: from azure.mgmt... import X / except ImportError`` at the
      top of the module and pass the traceback);
    - ``module.client(ClientClass, **kwargs)``: an SDK management client wired to the chosen
      credential, ``subscription_id``, ``base_url=resource_manager_endpoint``,
      ``credential_scopes=[<arm>/.default]`` and an azure-core ``RetryPolicy`` that retries 429,
      408 and 5xx honouring ``Retry-After`` (never write your own retry loop);
    - ``module.subscription_id``, ``module.resource_manager_endpoint``, ``module.credential``
      (resolved lazily: a missing subscription, an http:// endpoint or incomplete credentials raise
      ``AzureModuleError`` on first use, so call them inside ``run()``; no request is sent until
      the first SDK call);
    - ``module.fail_from_error(err)``: the single ``fail_json`` for an ``AzureModuleError``.

``AzureModuleError``
    The one domain error. Raise it yourself for domain failures (``AzureModuleError("Feature X is
    pending approval ...")``) and let ``azure_call`` convert SDK exceptions into it. It carries
    ``code`` (the ARM error code, e.g. ``AuthorizationFailed``), ``status`` (HTTP status),
    ``request_id`` (``x-ms-request-id``), ``correlation_id`` (``x-ms-correlation-request-id``) and
    the original exception. ``str(err)`` is the complete, user-facing message. Extra keyword
    arguments (``AzureModuleError(msg, changed=True, state="Pending")``) become keys of the failed
    result, so a failure after a write can still report ``changed``.

``azure_call(action)``
    A context manager turning azure-core's ``HttpResponseError``, ``ClientAuthenticationError``,
    ``ServiceRequestError`` / ``ServiceResponseError`` (and any other ``azure.core`` error) raised
    inside it into ``AzureModuleError("Failed to <action>: ...")``::

        with azure_call(f"register feature {ns}/{name}"):
            result = client.features.register(ns, name)

``TIMING_OPTIONS``, ``timing_errors(params)``
    Every Azure module's timing options (``poll_interval``, ``wait_timeout``, ``timeout``) must be a
    finite number of seconds, zero or more. ``AzureModule`` checks those the module has right after
    parsing its arguments, before any request, and fails naming each bad option: modules do not
    check them again.

``validate_namespace(namespace, option="namespace")``
    Check a resource provider namespace (``Microsoft.ContainerService``) locally, before any
    request; raises ``AzureModuleError`` naming ``option``.

``wait_until(read, done, *, timeout, interval, backoff=1.0, max_interval=None)``
    Poll ``read()`` until ``done(value)`` is true or ``timeout`` seconds passed; the interval
    grows by ``backoff`` each poll (capped by ``max_interval``). Returns a ``WaitResult`` with
    ``value`` (last value read), ``polls`` (number of ``read()`` calls), ``elapsed`` (seconds,
    rounded to 0.01) and ``timed_out``. It does not raise on timeout: the module writes the message
    (name the last state and the time waited). Use it for state machines such as feature
    registration; real long-running operations go through the SDK's ``begin_*`` pollers.

Auth sources: ``credentials`` = ClientSecretCredential; ``credential_file`` = the same with the
service principal of a profile of ``~/.azure/credentials`` (azure.azcollection's INI file: ``tenant``,
``client_id``, ``secret``, ``subscription_id``, ``cloud_environment``); ``env`` = EnvironmentCredential;
``cli`` = AzureCliCredential; ``msi`` = ManagedIdentityCredential; ``auto`` = ``credentials`` when
tenant, client id and secret are all set (options or AZURE_* variables), else ``credential_file`` when
the file exists, else DefaultAzureCredential. ``cloud_environment`` (AzureCloud, AzureChinaCloud,
AzureUSGovernment) sets the authority and Resource Manager endpoint unless they are given. The
authority and ``disable_instance_discovery`` (automatic for non-Microsoft authorities) are passed
to every credential that takes them.

Retries (azure-core semantics): GET/PUT/DELETE/HEAD are retried on 408/429/5xx and on connection
errors; POST is retried on 429 with Retry-After (ARM always sends it) and on 500/503/504.

A module then looks like::

    def main() -> None:
        module = AzureModule(argument_spec=ARGSPEC, supports_check_mode=True)
        module.require_library("azure-mgmt-resource", IMPORT_ERROR)
        try:
            result = run(module)            # describe -> ensure -> (changed, new_state)
        except AzureModuleError as err:
            module.fail_from_error(err)
        module.exit_json(**result)
"""

from __future__ import annotations

import contextlib
import copy
import math
import re
import time
import traceback
from collections.abc import Callable
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.basic import env_fallback
from ansible.module_utils.basic import missing_required_lib

try:
    from azure.core.exceptions import AzureError as _SdkAzureError
    from azure.core.exceptions import ClientAuthenticationError
    from azure.core.exceptions import HttpResponseError
    from azure.core.exceptions import ServiceRequestError
    from azure.core.exceptions import ServiceResponseError
    from azure.core.pipeline.policies import RetryPolicy
    from azure.identity import AzureCliCredential
    from azure.identity import ClientSecretCredential
    from azure.identity import DefaultAzureCredential
    from azure.identity import EnvironmentCredential
    from azure.identity import ManagedIdentityCredential
except ImportError:
    AZURE_IMPORT_ERROR: str | None = traceback.format_exc()
    _SdkAzureError = ClientAuthenticationError = HttpResponseError = Exception  # type: ignore[misc,assignment]
    ServiceRequestError = ServiceResponseError = Exception  # type: ignore[misc,assignment]
else:
    AZURE_IMPORT_ERROR = None

DEFAULT_AUTHORITY_HOST = "https://login.microsoftonline.com"
DEFAULT_RESOURCE_MANAGER_ENDPOINT = "https://management.azure.com"

# Entra ID authority hosts run by Microsoft (public and sovereign clouds). Any other authority gets
# instance discovery disabled, or MSAL would ask login.microsoftonline.com to validate it.
MICROSOFT_AUTHORITY_HOSTS = frozenset(
    {
        "login.microsoftonline.com",
        "login.microsoft.com",
        "login.windows.net",
        "login.microsoftonline.us",
        "login.chinacloudapi.cn",
        "login.partner.microsoftonline.cn",
        "login.microsoftonline.de",
    }
)

# Retries: azure-core's RetryPolicy retries 408/429/500/502/503/504 (POST only on 429 with
# Retry-After and 500/503/504) and sleeps for Retry-After when the server sends it.
RETRY_STATUS_CODES = (408, 429, 500, 502, 503, 504)
RETRY_TOTAL = 6
RETRY_BACKOFF_FACTOR = 0.5
RETRY_BACKOFF_MAX = 60

# Clouds by the names azure.azcollection (and the Azure CLI) use: Entra ID authority, Resource Manager endpoint.
CLOUD_ENVIRONMENTS: dict[str, tuple[str, str]] = {
    "AzureCloud": ("https://login.microsoftonline.com", "https://management.azure.com"),
    "AzureChinaCloud": ("https://login.chinacloudapi.cn", "https://management.chinacloudapi.cn"),
    "AzureUSGovernment": ("https://login.microsoftonline.us", "https://management.usgovcloudapi.net"),
}

# azure.azcollection's credential file: INI, one section per profile ([default] unless profile says otherwise).
CREDENTIAL_FILE = "~/.azure/credentials"
CREDENTIAL_FILE_KEYS = ("subscription_id", "client_id", "secret", "tenant", "cloud_environment")

AZURE_AUTH_ARGSPEC: dict[str, dict[str, Any]] = {
    "auth_source": {
        "type": "str",
        "default": "auto",
        "choices": ["auto", "env", "cli", "msi", "credentials", "credential_file"],
        "fallback": (env_fallback, ["ANSIBLE_AZURE_AUTH_SOURCE"]),
    },
    "profile": {"type": "str", "fallback": (env_fallback, ["AZURE_PROFILE"])},
    "cloud_environment": {"type": "str", "fallback": (env_fallback, ["AZURE_CLOUD_ENVIRONMENT"])},
    "subscription_id": {"type": "str", "fallback": (env_fallback, ["AZURE_SUBSCRIPTION_ID"])},
    "tenant_id": {
        "type": "str",
        "aliases": ["tenant"],
        "fallback": (env_fallback, ["AZURE_TENANT_ID", "AZURE_TENANT"]),
    },
    "client_id": {"type": "str", "fallback": (env_fallback, ["AZURE_CLIENT_ID"])},
    "client_secret": {
        "type": "str",
        "no_log": True,
        "aliases": ["secret"],
        "fallback": (env_fallback, ["AZURE_CLIENT_SECRET", "AZURE_SECRET"]),
    },
    "authority_host": {"type": "str", "fallback": (env_fallback, ["AZURE_AUTHORITY_HOST"])},
    "resource_manager_endpoint": {
        "type": "str",
        "fallback": (env_fallback, ["AZURE_RESOURCE_MANAGER_ENDPOINT"]),
    },
    "disable_instance_discovery": {
        "type": "bool",
        "fallback": (env_fallback, ["AZURE_DISABLE_INSTANCE_DISCOVERY"]),
    },
}


# Options holding seconds, in whichever Azure module has them (checked by AzureModule before anything runs).
TIMING_OPTIONS = ("poll_interval", "wait_timeout", "timeout")


def timing_errors(params: dict[str, Any]) -> list[str]:
    """One message per timing option that is not a finite number of seconds >= 0 (see the module docstring)."""
    errors = []
    for option in TIMING_OPTIONS:
        value = params.get(option)
        if value is None:
            continue
        if not math.isfinite(value) or value < 0:
            errors.append(f"{option}: {value} is not a number of seconds; use zero or more (e.g. {option}: 10)")
    return errors


class AzureModuleError(Exception):
    """The one error type of the Azure layer; ``str(err)`` is the user-facing message."""

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        request_id: str | None = None,
        correlation_id: str | None = None,
        exception: BaseException | None = None,
        **details: Any,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status
        self.request_id = request_id
        self.correlation_id = correlation_id
        self.exception = exception
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        """The machine-readable part, returned as ``azure_error`` by ``fail_from_error``."""
        return {
            "code": self.code,
            "status": self.status,
            "request_id": self.request_id,
            "correlation_id": self.correlation_id,
        }

    @classmethod
    def from_sdk(cls, action: str, exc: BaseException) -> AzureModuleError:
        """Build the error for a failed ``action`` from an azure-core exception."""
        if isinstance(exc, ClientAuthenticationError) and getattr(exc, "status_code", None) in (None, 400, 401):
            # Raised by azure-identity (token request) or by ARM answering 401.
            code, message, status, request_id, correlation_id = _arm_error_parts(exc)
            if status == 401 and code:
                text = f"Failed to {action}: Azure Resource Manager rejected the credentials ({code}): {message}"
            else:
                detail = _first_line(str(getattr(exc, "message", None) or exc))
                detail = re.sub(r"^(\w+\.get_token(_info)? failed: )?Authentication failed: ", "", detail)
                aadsts = re.search(r"\bAADSTS\d+\b", detail)
                code = aadsts.group(0) if aadsts else code
                text = f"Failed to {action}: authentication failed: {detail}"
                text += " Check tenant_id, client_id and client_secret (or auth_source) and the authority host."
            return cls(
                _with_ids(text, status, request_id, correlation_id),
                code=code or "AuthenticationFailed",
                status=status,
                request_id=request_id,
                correlation_id=correlation_id,
                exception=exc,
            )
        if isinstance(exc, HttpResponseError):
            code, message, status, request_id, correlation_id = _arm_error_parts(exc)
            label = f"({code}) " if code else ""
            text = f"Failed to {action}: {label}{message}"
            return cls(
                _with_ids(text, status, request_id, correlation_id),
                code=code,
                status=status,
                request_id=request_id,
                correlation_id=correlation_id,
                exception=exc,
            )
        if isinstance(exc, (ServiceRequestError, ServiceResponseError)):
            text = f"Failed to {action}: could not reach Azure ({type(exc).__name__}): {_first_line(str(exc))}"
            return cls(text, code=type(exc).__name__, exception=exc)
        return cls(f"Failed to {action}: {_first_line(str(exc))}", code=type(exc).__name__, exception=exc)


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else text


def _with_ids(text: str, status: int | None, request_id: str | None, correlation_id: str | None) -> str:
    extra = []
    if status:
        extra.append(f"HTTP {status}")
    if request_id:
        extra.append(f"request id {request_id}")
    if correlation_id and correlation_id != request_id:
        extra.append(f"correlation id {correlation_id}")
    return f"{text.rstrip()} [{', '.join(extra)}]" if extra else text


def _arm_error_parts(exc: Any) -> tuple[str | None, str, int | None, str | None, str | None]:
    """(code, message, status, request id, correlation id) of an azure-core HttpResponseError."""
    status = getattr(exc, "status_code", None)
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None) or {}
    request_id = headers.get("x-ms-request-id")
    correlation_id = headers.get("x-ms-correlation-request-id")
    code = None
    message = None
    odata = getattr(exc, "error", None)
    if odata is not None:
        code = getattr(odata, "code", None)
        message = getattr(odata, "message", None)
    if code is None and response is not None:
        with contextlib.suppress(Exception):
            body = response.json()
            error = body.get("error", body) if isinstance(body, dict) else {}
            if isinstance(error, dict):
                code = error.get("code") if isinstance(error.get("code"), str) else None
                message = error.get("message") or message
    if not message:
        message = _first_line(str(getattr(exc, "message", None) or exc))
    return code, message, status, request_id, correlation_id


@contextlib.contextmanager
def azure_call(action: str) -> Iterator[None]:
    """Convert any azure-core error raised inside into ``AzureModuleError("Failed to <action>: ...")``."""
    try:
        yield
    except AzureModuleError:
        raise
    except _SdkAzureError as exc:
        raise AzureModuleError.from_sdk(action, exc) from exc


@dataclass
class WaitResult:
    value: Any
    polls: int
    elapsed: float
    timed_out: bool


def wait_until(
    read: Callable[[], Any],
    done: Callable[[Any], bool],
    *,
    timeout: float,
    interval: float,
    backoff: float = 1.0,
    max_interval: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> WaitResult:
    """Poll ``read()`` until ``done(value)``; never sleeps past the deadline. See the module docstring."""
    if timeout < 0 or interval < 0 or backoff < 1:
        raise ValueError("timeout and interval must be >= 0 and backoff >= 1")
    start = clock()
    deadline = start + timeout
    polls = 0
    delay = interval
    while True:
        value = read()
        polls += 1
        if done(value):
            return WaitResult(value, polls, round(clock() - start, 2), False)
        remaining = deadline - clock()
        if remaining <= 0:
            return WaitResult(value, polls, round(clock() - start, 2), True)
        sleep(min(delay, remaining))
        delay = delay * backoff
        if max_interval is not None:
            delay = min(delay, max_interval)


# A resource provider namespace: dot-separated segments such as Microsoft.ContainerService. The modules
# and (through the test plugin netpol.aks.registration_name) the roles' preflights check with these two.
NAMESPACE_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]*(\.[A-Za-z0-9][A-Za-z0-9-]*)+$")
# A preview feature's name within its namespace, such as EnableNetworkPolicy.
FEATURE_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def validate_namespace(namespace: str, option: str = "namespace") -> str:
    """Return ``namespace`` if it is a valid resource provider namespace; raise AzureModuleError otherwise."""
    if not isinstance(namespace, str) or not NAMESPACE_PATTERN.match(namespace):
        raise AzureModuleError(
            f"{option}: {namespace!r} is not a resource provider namespace; expected dot-separated words without "
            "spaces or slashes, for example Microsoft.ContainerService."
        )
    return namespace


def is_microsoft_authority(authority_host: str | None) -> bool:
    if not authority_host:
        return True
    host = urlparse(authority_host if "://" in authority_host else f"https://{authority_host}").hostname or ""
    return host.lower() in MICROSOFT_AUTHORITY_HOSTS


def _https_url(value: str, option: str) -> str:
    url = value if "://" in value else f"https://{value}"
    parsed = urlparse(url)
    if parsed.scheme != "https" or not parsed.hostname:
        raise AzureModuleError(
            f"{option} must be an https:// URL (got {value!r}); Entra ID and Azure Resource Manager only speak TLS."
        )
    return url.rstrip("/")


def read_credential_file(profile: str | None, path: str = CREDENTIAL_FILE) -> dict[str, str] | None:
    """The ``profile`` section ([default] when None) of azure.azcollection's credential file, or None when the file
    does not exist. A missing profile raises AzureModuleError naming the profiles the file has."""
    import configparser
    import os

    full = os.path.expanduser(path)
    if not os.path.isfile(full):
        return None
    parser = configparser.ConfigParser()
    try:
        parser.read(full, encoding="utf-8")
    except configparser.Error as exc:
        raise AzureModuleError(f"{path} is not a valid credential file (INI sections of key = value): {exc}") from None
    name = profile or "default"
    if not parser.has_section(name):
        raise AzureModuleError(
            f"profile: {path} has no [{name}] section (it has: {', '.join(parser.sections()) or 'none'}); set profile "
            "(or AZURE_PROFILE) to one of them"
        )
    return {k: v for k, v in parser.items(name) if k in CREDENTIAL_FILE_KEYS and v}


def _cloud_endpoints(name: str) -> tuple[str, str]:
    if name not in CLOUD_ENVIRONMENTS:
        raise AzureModuleError(
            f"cloud_environment: {name!r} is not a known cloud; use one of {', '.join(CLOUD_ENVIRONMENTS)}, or set "
            "authority_host and resource_manager_endpoint (Azure Stack, private clouds)"
        )
    return CLOUD_ENVIRONMENTS[name]


def auth_settings(params: dict[str, Any], credential_file: Callable[..., Any] = read_credential_file) -> dict[str, Any]:
    """Resolve the auth options into the settings used to build credentials and clients (pure but for the optional
    read of the credential file)."""
    params = dict(params)
    source = params.get("auth_source") or "auto"
    has_secret = all(params.get(k) for k in ("tenant_id", "client_id", "client_secret"))
    if source == "credential_file" or (source == "auto" and not has_secret):
        found = credential_file(params.get("profile"))
        if found is None and source == "credential_file":
            raise AzureModuleError(
                f"auth_source=credential_file: {CREDENTIAL_FILE} does not exist; write a [default] section with "
                "subscription_id, client_id, secret and tenant, or choose another auth_source"
            )
        if found is not None:
            # the profile gives the service principal (as azure.azcollection reads it)
            source = "credentials"
            params.update(
                {
                    "tenant_id": found.get("tenant") or params.get("tenant_id"),
                    "client_id": found.get("client_id") or params.get("client_id"),
                    "client_secret": found.get("secret") or params.get("client_secret"),
                    "subscription_id": found.get("subscription_id") or params.get("subscription_id"),
                    "cloud_environment": found.get("cloud_environment") or params.get("cloud_environment"),
                }
            )
            has_secret = all(params.get(k) for k in ("tenant_id", "client_id", "client_secret"))
            if not has_secret:
                missing = [
                    k
                    for k, p in (("tenant", "tenant_id"), ("client_id", "client_id"), ("secret", "client_secret"))
                    if not params.get(p)
                ]
                raise AzureModuleError(
                    f"profile [{params.get('profile') or 'default'}] of {CREDENTIAL_FILE} lacks {', '.join(missing)}"
                )
    default_authority, default_arm = DEFAULT_AUTHORITY_HOST, DEFAULT_RESOURCE_MANAGER_ENDPOINT
    if params.get("cloud_environment"):
        default_authority, default_arm = _cloud_endpoints(params["cloud_environment"])
    authority = _https_url(params.get("authority_host") or default_authority, "authority_host")
    arm = _https_url(params.get("resource_manager_endpoint") or default_arm, "resource_manager_endpoint")
    disable = params.get("disable_instance_discovery")
    if disable is None:
        disable = not is_microsoft_authority(authority)
    if source == "auto":
        source = "credentials" if has_secret else "default"
    if source == "credentials" and not has_secret:
        missing = [k for k in ("tenant_id", "client_id", "client_secret") if not params.get(k)]
        raise AzureModuleError(
            "auth_source=credentials needs tenant_id, client_id and client_secret; missing: "
            + ", ".join(missing)
            + " (set the options or AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET)."
        )
    if not params.get("subscription_id"):
        raise AzureModuleError("subscription_id is required: set the option or the AZURE_SUBSCRIPTION_ID variable.")
    return {
        "source": source,
        "authority": authority,
        "resource_manager_endpoint": arm,
        "credential_scopes": [f"{arm}/.default"],
        "disable_instance_discovery": bool(disable),
        "subscription_id": params["subscription_id"],
        "tenant_id": params.get("tenant_id"),
        "client_id": params.get("client_id"),
        "client_secret": params.get("client_secret"),
    }


def build_credential(params: dict[str, Any], settings: dict[str, Any]) -> Any:
    """The azure-identity credential for ``settings['source']`` (no network call happens here)."""
    source = settings["source"]
    common: dict[str, Any] = {"authority": settings["authority"]}
    if settings["disable_instance_discovery"]:
        common["disable_instance_discovery"] = True
    if source == "credentials":
        # settings carry the service principal (the options, or the credential file's profile)
        return ClientSecretCredential(
            settings.get("tenant_id") or params["tenant_id"],
            settings.get("client_id") or params["client_id"],
            settings.get("client_secret") or params["client_secret"],
            **common,
        )
    if source == "env":
        return EnvironmentCredential(**common)
    if source == "cli":
        return AzureCliCredential(tenant_id=params.get("tenant_id") or "")
    if source == "msi":
        return ManagedIdentityCredential(client_id=params.get("client_id"))
    return DefaultAzureCredential(exclude_interactive_browser_credential=True, **common)


def retry_policy() -> Any:
    """azure-core's RetryPolicy: 429/408/5xx retried, Retry-After honoured, exponential backoff otherwise."""
    return RetryPolicy(
        retry_total=RETRY_TOTAL,
        retry_status=RETRY_TOTAL,
        retry_connect=3,
        retry_read=3,
        retry_backoff_factor=RETRY_BACKOFF_FACTOR,
        retry_backoff_max=RETRY_BACKOFF_MAX,
        retry_on_status_codes=list(RETRY_STATUS_CODES),
    )


class AzureModule:
    """AnsibleModule + the shared Azure auth options, credential and client factory."""

    def __init__(self, argument_spec: dict[str, Any] | None = None, **kwargs: Any) -> None:
        spec = copy.deepcopy(AZURE_AUTH_ARGSPEC)
        spec.update(argument_spec or {})
        self.module = AnsibleModule(argument_spec=spec, **kwargs)
        if AZURE_IMPORT_ERROR is not None:
            self.module.fail_json(
                msg=missing_required_lib("azure-identity and azure-core"), exception=AZURE_IMPORT_ERROR
            )
        errors = timing_errors(self.module.params)
        if errors:
            self.module.fail_json(msg="; ".join(errors) + ". Nothing was requested or changed.")
        self._settings: dict[str, Any] | None = None
        self._credential: Any = None

    # AnsibleModule pass-throughs
    @property
    def params(self) -> dict[str, Any]:
        return self.module.params

    @property
    def check_mode(self) -> bool:
        return self.module.check_mode

    def exit_json(self, **kwargs: Any) -> None:
        self.module.exit_json(**kwargs)

    def fail_json(self, **kwargs: Any) -> None:
        self.module.fail_json(**kwargs)

    def warn(self, message: str) -> None:
        self.module.warn(message)

    def require_library(self, name: str, import_error: str | None) -> None:
        if import_error is not None:
            self.module.fail_json(msg=missing_required_lib(name), exception=import_error)

    @property
    def settings(self) -> dict[str, Any]:
        if self._settings is None:
            self._settings = auth_settings(self.params)
        return self._settings

    @property
    def subscription_id(self) -> str:
        return self.settings["subscription_id"]

    @property
    def resource_manager_endpoint(self) -> str:
        return self.settings["resource_manager_endpoint"]

    @property
    def credential(self) -> Any:
        if self._credential is None:
            self._credential = build_credential(self.params, self.settings)
        return self._credential

    def client(self, client_class: type, **kwargs: Any) -> Any:
        """An SDK management client for ARM at ``resource_manager_endpoint`` (see module docstring)."""
        options: dict[str, Any] = {
            "base_url": self.resource_manager_endpoint,
            "credential_scopes": self.settings["credential_scopes"],
            "retry_policy": retry_policy(),
        }
        options.update(kwargs)
        return client_class(self.credential, self.subscription_id, **options)

    def fail_from_error(self, err: AzureModuleError, **result: Any) -> None:
        """The single fail_json of a module: message, ARM details and the original traceback."""
        extra: dict[str, Any] = {"azure_error": err.to_dict()}
        if err.exception is not None:
            extra["exception"] = "".join(
                traceback.format_exception(type(err.exception), err.exception, err.exception.__traceback__)
            )
        extra.update(err.details)
        extra.update(result)
        self.module.fail_json(msg=str(err), **extra)
