# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Entra ID + Azure Resource Manager test double: the HTTPS server core and its extension API.

The real azure-identity and azure-mgmt-* SDKs run unchanged against it: it serves HTTPS on
127.0.0.1 (ephemeral port, certificate from a trustme CA), the Entra ID OIDC discovery and token
endpoints, and the ARM routes registered by the ``routes_*.py`` files of this package. It is as
strict as the real services: bearer tokens are checked on every ARM call, api-versions and
subscription ids are validated, errors have ARM's shape. Never loosen it to make a module pass.

Extension API (how to add resources, e.g. ``routes_groups.py``, ``routes_network.py``, ``routes_aks.py``)
-----------------------------------------------------------------------------------------------------------

Every module of this package named ``routes_*.py`` is imported when the server starts; nothing else
needs editing. In it::

    from tests.fakes.azure.server import (
        ArmError, Request, Response, on_reset, reject_unknown_properties, route, start_lro,
    )

    @on_reset
    def seed(state):                          # called on start and on POST /_fake/reset
        state.bucket("groups").clear()        # a plain dict, yours; JSON-serialisable please

    @route("PUT", "/subscriptions/{subscriptionId}/resourcegroups/{name}", api_versions=("2025-04-01",))
    def put_group(req: Request):
        body = req.require_json()             # 400 InvalidRequestContent if absent / not JSON
        reject_unknown_properties(body, {"location": None, "tags": None, "properties": {}}, "ResourceGroup")
        ...
        return Response(201, resource)        # or just return a dict for 200

``route(method, pattern, *, auth=True, api_versions=None)``
    ``pattern`` is an ARM path with ``{param}`` placeholders (one path segment each); literal parts
    match case-insensitively, as ARM does; ``req.params`` holds the placeholders' values. ``auth``
    routes need a valid bearer token from this double's token endpoint (401 as ARM sends it
    otherwise). A ``{subscriptionId}`` placeholder must equal the double's subscription (404
    ``SubscriptionNotFound``). ``api_versions``, when given, is the list ARM accepts for the route
    (400 ``MissingApiVersionParameter`` / ``InvalidApiVersionParameter``). Handlers run one at a
    time under the server lock, so they may mutate the state freely.

``Request``
    ``method``, ``path``, ``params``, ``query`` (first value per key), ``headers``, ``body`` (bytes),
    ``json`` (parsed or None), ``form`` (parsed form body or None), ``api_version``, ``state``,
    ``server`` (the ``FakeAzure``), ``base_url``, ``subscription_id``, ``require_json()``.

``Response(status, body=None, headers=None)``; handlers may also return a ``dict`` (200 JSON).

``ArmError(status, code, message, target=None, details=None)``
    Raise it to answer ``{"error": {"code", "message", ...}}`` with ``status``.

``reject_unknown_properties(body, schema, type_name, path="")``
    ``schema`` is a dict of allowed keys; a value of ``None`` accepts anything under the key, a dict
    recurses, a one-element list ``[schema]`` validates every element of a list. An unknown key
    raises 400 ``InvalidRequestContent`` with the message the REST services send for it (a
    snake_case key sent by a hybrid-model SDK dict is exactly such a key).

``State`` (``req.state``)
    ``state.bucket(name)`` -> a dict kept until the next reset; ``state.subscription_id``,
    ``state.tenant_id``, ``state.kube`` (the ``--kube-info`` file's content, or what
    ``POST /_fake/kube`` set: ``{"url", "ca_file", "token", ...}``; survives resets; use it to build
    the kubeconfig of ``listClusterUserCredential``).

``start_lro(req, *, namespace, location, on_done, polls=None, seconds=None, status=201, body=None,
location_header=False)``
    Start an ARM long-running operation and return the first response: ``status`` (201 or 202) with
    ``body``, ``Azure-AsyncOperation`` (and ``Location`` when asked) pointing at
    ``/subscriptions/{sub}/providers/{namespace}/locations/{location}/operations/{id}``, and
    ``Retry-After: 0``. The operation ends ``seconds`` after it started, wall-clock time, whether
    anyone polls it or not (as in ARM: a client that was cut off finds it finished later); as a
    shortcut for fast tests it also ends after ``polls`` ``InProgress`` answers of its status URL
    (``None``: no shortcut). Both default to the settings of ``POST /_fake/operations`` for the
    namespace. It ends ``Succeeded``, or ``Failed`` with an ARM error when a ``lro_failed`` fault
    matches the starting request. ``on_done(state, succeeded: bool, error: dict | None)`` runs once,
    when the operation ends: flip your resource's ``provisioningState`` there.
    ``POST /_fake/operations/settle`` ends every running operation at once.

``control(method, path)``
    Register an extra ``/_fake/...`` control endpoint: ``handler(state, parsed_json_body) -> JSON``
    (200). Use it for seeding your resources from tests (e.g. ``POST /_fake/clusters``).

Faults (``POST /_fake/faults``) are applied before routing; the request log records every non-control
request (bodies parsed; secrets in token requests redacted). See tests/fakes/README.md.
"""

from __future__ import annotations

import base64
import contextlib
import fnmatch
import importlib
import json
import pkgutil
import re
import secrets
import ssl
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs
from urllib.parse import unquote
from urllib.parse import urlsplit

# --------------------------------------------------------------------------------------------------
# Extension API
# --------------------------------------------------------------------------------------------------


class ArmError(Exception):
    """Raise from a handler to answer an ARM-shaped error."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        target: str | None = None,
        details: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
        subcode: str | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.target = target
        self.subcode = subcode  # AKS adds one to some errors (e.g. CiliumDataplaneRequiresNetworkPolicyCilium)
        self.details = details
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.subcode:
            error["subcode"] = self.subcode
        if self.target:
            error["target"] = self.target
        if self.details:
            error["details"] = self.details
        return {"error": error}


@dataclass
class Response:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Route:
    method: str
    pattern: str
    regex: re.Pattern[str]
    handler: Callable[[Request], Any]
    auth: bool = True
    api_versions: tuple[str, ...] | None = None


ROUTES: list[Route] = []
RESET_HOOKS: list[Callable[[State], None]] = []


def _compile(pattern: str) -> re.Pattern[str]:
    parts = []
    for piece in re.split(r"(\{[A-Za-z_][A-Za-z0-9_]*\})", pattern):
        if piece.startswith("{") and piece.endswith("}"):
            parts.append(f"(?P<{piece[1:-1]}>[^/]+)")
        else:
            parts.append(re.escape(piece))
    return re.compile("^" + "".join(parts) + "/?$", re.IGNORECASE)


def route(
    method: str, pattern: str, *, auth: bool = True, api_versions: tuple[str, ...] | list[str] | None = None
) -> Callable[[Callable[[Request], Any]], Callable[[Request], Any]]:
    """Register a handler for ``method`` + ``pattern`` (see the module docstring)."""

    def decorate(handler: Callable[[Request], Any]) -> Callable[[Request], Any]:
        ROUTES.append(
            Route(
                method.upper(),
                pattern,
                _compile(pattern),
                handler,
                auth,
                tuple(api_versions) if api_versions is not None else None,
            )
        )
        return handler

    return decorate


def on_reset(hook: Callable[[State], None]) -> Callable[[State], None]:
    """Register a function that (re)seeds this file's part of the state on start and reset."""
    RESET_HOOKS.append(hook)
    return hook


def reject_unknown_properties(body: Any, schema: Any, type_name: str, path: str = "") -> None:
    """400 InvalidRequestContent for a key ``schema`` does not list (see the module docstring)."""
    if schema is None:
        return
    if isinstance(schema, list):
        if body is None:
            return
        if not isinstance(body, list):
            raise _invalid_content(f"Unexpected value for '{path}': expected an array.", path)
        for i, item in enumerate(body):
            reject_unknown_properties(item, schema[0], type_name, f"{path}[{i}]")
        return
    if isinstance(schema, dict):
        if body is None:
            return
        if not isinstance(body, dict):
            raise _invalid_content(f"Unexpected value for '{path}': expected an object.", path)
        for key, value in body.items():
            child = f"{path}.{key}" if path else key
            if key not in schema:
                raise _invalid_content(
                    f"Could not find member '{key}' on object of type '{type_name}'. Path '{child}', line 1, position 1.",
                    child,
                )
            reject_unknown_properties(value, schema[key], type_name, child)


def _invalid_content(detail: str, target: str) -> ArmError:
    return ArmError(
        400,
        "InvalidRequestContent",
        f"The request content was invalid and could not be deserialized: '{detail}'",
        target=target or None,
    )


class State:
    """The shared in-memory store: named buckets (dicts) that reset hooks seed."""

    def __init__(self, subscription_id: str, tenant_id: str) -> None:
        self.subscription_id = subscription_id
        self.tenant_id = tenant_id
        self.kube: dict[str, Any] | None = None
        self._buckets: dict[str, dict[str, Any]] = {}

    def bucket(self, name: str) -> dict[str, Any]:
        return self._buckets.setdefault(name, {})

    def reset(self) -> None:
        self._buckets = {}
        for hook in RESET_HOOKS:
            hook(self)

    def dump(self) -> dict[str, Any]:
        return {name: _jsonable(value) for name, value in self._buckets.items()}


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items() if not callable(v)}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return repr(value)


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    server: FakeAzure
    params: dict[str, str] = field(default_factory=dict)
    record: dict[str, Any] = field(default_factory=dict)

    @property
    def state(self) -> State:
        return self.server.state

    @property
    def base_url(self) -> str:
        return self.server.url

    @property
    def subscription_id(self) -> str:
        return self.server.state.subscription_id

    @property
    def api_version(self) -> str | None:
        return self.query.get("api-version")

    @property
    def json(self) -> Any:
        if not self.body:
            return None
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    @property
    def form(self) -> dict[str, str] | None:
        if "application/x-www-form-urlencoded" not in self.headers.get("content-type", ""):
            return None
        return {k: v[0] for k, v in parse_qs(self.body.decode("utf-8", "replace"), keep_blank_values=True).items()}

    def require_json(self) -> Any:
        if not self.body:
            raise ArmError(400, "InvalidRequestContent", "The request content was invalid: the body is empty.")
        try:
            return json.loads(self.body)
        except ValueError as exc:
            raise ArmError(
                400, "InvalidRequestContent", f"The request content was invalid and could not be deserialized: '{exc}'."
            ) from exc


class _Unset:
    pass


_UNSET = _Unset()

# How long long-running operations take, per resource provider namespace (lower case) or "*" for
# the rest: wall-clock seconds, and the optional "after N polls" shortcut. POST /_fake/operations.
DEFAULT_OPERATION_SETTINGS = {"polls": 2, "seconds": 5.0}


def operation_settings(state: State, namespace: str) -> dict[str, Any]:
    """The duration settings of operations started now in ``namespace``."""
    settings = state.bucket("_operation_settings")
    return dict(settings.get(namespace.lower()) or settings.get("*") or DEFAULT_OPERATION_SETTINGS)


def _configure_operations(state: State, spec: Any) -> dict[str, Any]:
    if not isinstance(spec, dict) or set(spec) - {"namespace", "polls", "seconds"}:
        raise ValueError('POST /_fake/operations takes {"namespace"?: NS, "polls"?: N|null, "seconds"?: S}')
    namespace = (spec.get("namespace") or "*").lower()
    current = operation_settings(state, namespace if namespace != "*" else "*")
    if "polls" in spec:
        if spec["polls"] is not None and int(spec["polls"]) < 0:
            raise ValueError("polls must be zero or more (or null: end by time only)")
        current["polls"] = None if spec["polls"] is None else int(spec["polls"])
    if "seconds" in spec:
        if float(spec["seconds"]) < 0:
            raise ValueError("seconds must be zero or more")
        current["seconds"] = float(spec["seconds"])
    state.bucket("_operation_settings")[namespace] = current
    return {"namespace": namespace, **current}


def start_lro(
    req: Request,
    *,
    namespace: str,
    location: str,
    on_done: Callable[[State, bool, dict[str, Any] | None], None],
    polls: int | _Unset | None = _UNSET,
    seconds: float | None = None,
    status: int = 201,
    body: Any = None,
    location_header: bool = False,
) -> Response:
    """Start an ARM long-running operation (see the module docstring)."""
    settings = operation_settings(req.state, namespace)
    if isinstance(polls, _Unset):
        polls = settings["polls"]
    if seconds is None:
        seconds = settings["seconds"]
    op_id = str(uuid.uuid4())
    fault = req.server.take_fault(req, kinds=("lro_failed",))
    error = None
    if fault is not None:
        error = {
            "code": fault.get("code") or "InternalOperationError",
            "message": fault.get("message") or "The operation failed (fault injected by the test double).",
        }
    sub = req.state.subscription_id
    op_path = f"/subscriptions/{sub}/providers/{namespace}/locations/{location}/operations/{op_id}"
    api = req.api_version or "2021-04-01"
    req.state.bucket("_operations")[op_id] = {
        "id": op_path,
        "name": op_id,
        "polls_left": None if polls is None else max(0, int(polls)),
        "deadline": time.monotonic() + max(0.0, float(seconds)),
        "status": "InProgress",
        "error": error,
        "startTime": _now(),
        "on_done": on_done,
        "api_version": api,
    }
    url = f"{req.base_url}{op_path}?api-version={api}"
    headers = {"Azure-AsyncOperation": url, "Retry-After": "0"}
    if location_header:
        headers["Location"] = url.replace("/operations/", "/operationresults/")
    return Response(status, body, headers)


# Azure public-cloud regions (normalised: lower case, no spaces); ARM refuses any other location.
LOCATIONS = (
    "eastus", "eastus2", "westus", "westus2", "westus3", "centralus", "northcentralus", "southcentralus",
    "westcentralus", "canadacentral", "canadaeast", "brazilsouth", "mexicocentral", "northeurope", "westeurope",
    "uksouth", "ukwest", "francecentral", "germanywestcentral", "switzerlandnorth", "norwayeast", "swedencentral",
    "polandcentral", "italynorth", "spaincentral", "eastasia", "southeastasia", "japaneast", "japanwest",
    "koreacentral", "koreasouth", "australiaeast", "australiasoutheast", "australiacentral", "centralindia",
    "southindia", "westindia", "uaenorth", "southafricanorth", "qatarcentral", "israelcentral",
)  # fmt: skip
MAX_TAGS = 50


def normal_location(location: str) -> str:
    """ARM's spelling of a location: display names ("East US") are accepted as the name ("eastus")."""
    return location.replace(" ", "").lower()


def check_location(location: str, resource_type: str | None = None) -> str:
    """The normalised location, or ARM's 400 for a location it does not know (``resource_type`` None: a group)."""
    normal = normal_location(location)
    if normal in LOCATIONS:
        return normal
    if resource_type is None:
        raise ArmError(
            400,
            "LocationNotAvailableForResourceGroup",
            f"The provided location '{location}' is not available for resource group. List of available regions is "
            f"'{','.join(LOCATIONS)}'.",
        )
    raise ArmError(
        400,
        "LocationNotAvailableForResourceType",
        f"The provided location '{location}' is not available for resource type '{resource_type}'. List of available "
        f"regions for the resource type is '{','.join(LOCATIONS)}'.",
    )


def check_tags(tags: Any) -> None:
    """More than 50 tags on a resource or group: 400 (the limit ARM documents; see tests/fakes/README.md)."""
    if isinstance(tags, dict) and len(tags) > MAX_TAGS:
        raise ArmError(
            400,
            "BadRequest",
            f"The number of tags ({len(tags)}) exceeds the maximum of {MAX_TAGS} tag name/value pairs per resource.",
            target="tags",
        )


def _opaque(etag: str) -> str:
    """An etag without its weak marker and quotes: AKS stores bare values, clients send them quoted."""
    value = etag.strip()
    value = value[2:] if value.startswith("W/") else value
    return value.strip('"')


def check_preconditions(req: Request, etag: str | None) -> None:
    """``If-Match`` / ``If-None-Match`` of a write against the resource's current etag (None: absent): 412."""
    if_match = req.headers.get("if-match")
    if if_match is not None and (etag is None or (if_match.strip() != "*" and _opaque(if_match) != _opaque(etag))):
        raise ArmError(
            412,
            "PreconditionFailed",
            f"The condition specified using HTTP conditional header(s) is not met: If-Match {if_match.strip()} does "
            f"not match the current etag of the resource ({etag or 'the resource does not exist'}).",
        )
    if_none = req.headers.get("if-none-match")
    if if_none is not None and if_none.strip() == "*" and etag is not None:
        raise ArmError(
            412,
            "PreconditionFailed",
            "The condition specified using HTTP conditional header(s) is not met: If-None-Match * and the resource "
            "exists.",
        )


def settle_provisioning(bucket: str, key: str) -> Callable[[State, bool, dict[str, Any] | None], None]:
    """The ``on_done`` of a create or update: the stored resource ends ``Succeeded`` or ``Failed``."""

    def done(state: State, succeeded: bool, _error: dict[str, Any] | None) -> None:
        stored = state.bucket(bucket).get(key)
        if stored is not None:
            stored["properties"]["provisioningState"] = "Succeeded" if succeeded else "Failed"

    return done


def start_delete_lro(req: Request, *, bucket: str, key: str, namespace: str) -> Response:
    """DELETE of a stored resource as ARM runs it: ``Deleting`` now, gone when the operation succeeds,
    ``Failed`` when it fails (202 + Azure-AsyncOperation + Location)."""
    resource = req.state.bucket(bucket)[key]
    resource["properties"]["provisioningState"] = "Deleting"

    def done(state: State, succeeded: bool, _error: dict[str, Any] | None) -> None:
        stored = state.bucket(bucket)
        if succeeded:
            stored.pop(key, None)
        elif key in stored:
            stored[key]["properties"]["provisioningState"] = "Failed"

    return start_lro(
        req,
        namespace=namespace,
        location=resource["location"],
        on_done=done,
        status=202,
        location_header=True,
    )


def _finish_operation(state: State, op: dict[str, Any]) -> None:
    if op["status"] != "InProgress":
        return
    succeeded = op["error"] is None
    op["status"] = "Succeeded" if succeeded else "Failed"
    op["endTime"] = _now()
    callback = op.pop("on_done", None)
    if callback is not None:
        callback(state, succeeded, op["error"])


def _operation_body(op: dict[str, Any]) -> dict[str, Any]:
    body = {"id": op["id"], "name": op["name"], "status": op["status"], "startTime": op["startTime"]}
    if op["status"] != "InProgress":
        body["endTime"] = op.get("endTime")
    if op["status"] == "Failed":
        body["error"] = op["error"]
    return body


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.0000000Z", time.gmtime())


@route("GET", "/subscriptions/{subscriptionId}/providers/{namespace}/locations/{location}/operations/{operationId}")
def _get_operation(req: Request) -> Any:
    return _read_operation(req)


@route(
    "GET", "/subscriptions/{subscriptionId}/providers/{namespace}/locations/{location}/operationresults/{operationId}"
)
def _get_operation_result(req: Request) -> Any:
    op = _lookup_operation(req)
    _read_operation(req)
    if op["status"] == "InProgress":
        location = f"{req.base_url}{req.path}?api-version={op['api_version']}"
        return Response(202, None, {"Location": location, "Retry-After": "0"})
    if op["status"] == "Failed":
        raise ArmError(400, op["error"]["code"], op["error"]["message"])
    return Response(204, None)


def _lookup_operation(req: Request) -> dict[str, Any]:
    op = req.state.bucket("_operations").get(req.params["operationId"])
    if op is None:
        raise ArmError(404, "OperationNotFound", f"The operation '{req.params['operationId']}' could not be found.")
    return op


def _read_operation(req: Request) -> Response:
    op = _lookup_operation(req)
    if op["status"] == "InProgress" and op["polls_left"] is not None:
        if op["polls_left"] > 0:
            op["polls_left"] -= 1
        else:
            _finish_operation(req.state, op)
    return Response(200, _operation_body(op), {"Retry-After": "0"})


# --------------------------------------------------------------------------------------------------
# Tokens
# --------------------------------------------------------------------------------------------------

TOKEN_LIFETIME = 3599


@dataclass
class Identity:
    tenant_id: str
    client_id: str
    client_secret: str


# --------------------------------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------------------------------

FAULT_KINDS = ("429", "500", "503", "drop", "error", "lro_failed")


class _DropConnection(Exception):
    pass


class FakeAzure:
    """One running double: ``FakeAzure(state_dir).start()`` ... ``.stop()``."""

    def __init__(
        self,
        state_dir: str | Path,
        *,
        subscription_id: str | None = None,
        tenant_id: str | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        kube_info: dict[str, Any] | None = None,
    ) -> None:
        import trustme  # test-only dependency

        _load_route_modules()
        self.state_dir = Path(state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.identity = Identity(
            tenant_id or str(uuid.uuid4()),
            client_id or str(uuid.uuid4()),
            client_secret or "fake~" + secrets.token_urlsafe(24),
        )
        self.state = State(subscription_id or str(uuid.uuid4()), self.identity.tenant_id)
        self.state.kube = kube_info
        self.lock = threading.RLock()
        self.tokens: dict[str, dict[str, Any]] = {}
        self.faults: list[dict[str, Any]] = []
        self.log: list[dict[str, Any]] = []
        self._seq = 0
        self._ca = trustme.CA(organization_name="netpol.aks test double (SIMULATED Azure)")
        self.ca_file = self.state_dir / "ca.pem"
        self._ca.cert_pem.write_to_path(str(self.ca_file))
        self.ca_bundle = self.state_dir / "ca-bundle.pem"
        self.ca_bundle.write_bytes(_public_roots() + self._ca.cert_pem.bytes())
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.url = ""
        with self.lock:
            self.state.reset()

    # lifecycle -----------------------------------------------------------------------------------
    def start(self) -> FakeAzure:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._ca.issue_cert("127.0.0.1", "localhost").configure_cert(ctx)
        handler = type("Handler", (_Handler,), {"fake": self})
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        httpd.daemon_threads = True
        httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True, do_handshake_on_connect=False)
        self._httpd = httpd
        self.url = f"https://127.0.0.1:{httpd.server_address[1]}"
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-azure", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def serve_forever(self) -> None:
        if self._thread is not None:
            self._thread.join()

    # what clients need -----------------------------------------------------------------------------
    def env(self) -> dict[str, str]:
        return {
            "AZURE_TENANT_ID": self.identity.tenant_id,
            "AZURE_CLIENT_ID": self.identity.client_id,
            "AZURE_CLIENT_SECRET": self.identity.client_secret,
            "AZURE_SUBSCRIPTION_ID": self.state.subscription_id,
            "AZURE_AUTHORITY_HOST": self.url,
            "AZURE_RESOURCE_MANAGER_ENDPOINT": self.url,
            "REQUESTS_CA_BUNDLE": str(self.ca_bundle),
            "SSL_CERT_FILE": str(self.ca_bundle),
            "NETPOL_LAB_AZURE_URL": self.url,
        }

    def info(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "ca_file": str(self.ca_file),
            "ca_bundle": str(self.ca_bundle),
            "tenant_id": self.identity.tenant_id,
            "subscription_id": self.state.subscription_id,
            "client_id": self.identity.client_id,
            "simulated": True,
        }

    # control ---------------------------------------------------------------------------------------
    def reset(self) -> None:
        with self.lock:
            self.faults.clear()
            self.log.clear()
            self.state.reset()

    def add_fault(self, spec: dict[str, Any]) -> dict[str, Any]:
        kind = str(spec.get("fault", ""))
        if kind not in FAULT_KINDS:
            raise ValueError(f"fault must be one of {', '.join(FAULT_KINDS)} (got {kind!r})")
        if "path" not in spec:
            raise ValueError("a fault needs 'path' (a glob over the request path, e.g. '*/features/*/register')")
        fault = {
            "method": (spec.get("method") or "*").upper(),
            "path": spec["path"],
            "fault": kind,
            "count": int(spec.get("count", 1)),
            "retry_after": str(spec.get("retry_after", "0")),
            "status": int(spec.get("status", 500 if kind == "error" else int(kind) if kind.isdigit() else 0)),
            "code": spec.get("code"),
            "message": spec.get("message"),
            "hits": 0,
        }
        with self.lock:
            self.faults.append(fault)
        return fault

    def take_fault(self, req: Request, kinds: tuple[str, ...]) -> dict[str, Any] | None:
        with self.lock:
            for fault in self.faults:
                if fault["count"] <= 0 or fault["fault"] not in kinds:
                    continue
                if fault["method"] not in ("*", req.method):
                    continue
                if not fnmatch.fnmatchcase(req.path.lower(), fault["path"].lower()):
                    continue
                fault["count"] -= 1
                fault["hits"] += 1
                return fault
        return None

    def advance_operations(self) -> None:
        """End the operations whose time is up (run before every request: time passes for everyone)."""
        now = time.monotonic()
        with self.lock:
            for op in list(self.state.bucket("_operations").values()):
                if op["status"] == "InProgress" and op["deadline"] <= now:
                    _finish_operation(self.state, op)

    def settle_operations(self) -> int:
        with self.lock:
            running = [op for op in self.state.bucket("_operations").values() if op["status"] == "InProgress"]
            for op in running:
                _finish_operation(self.state, op)
            return len(running)

    # tokens ----------------------------------------------------------------------------------------
    def issue_token(self, client_id: str, audience: str) -> str:
        token = "fake-arm." + secrets.token_urlsafe(32)
        self.tokens[token] = {"client_id": client_id, "audience": audience, "expires": time.time() + TOKEN_LIFETIME}
        return token

    def check_bearer(self, req: Request) -> None:
        header = req.headers.get("authorization")
        challenge = {
            "WWW-Authenticate": (
                f'Bearer authorization_uri="{self.url}/{self.identity.tenant_id}", error="invalid_token", '
                "error_description=\"The authentication failed because of missing 'Authorization' header.\""
            )
        }
        if not header:
            raise ArmError(
                401,
                "AuthenticationFailed",
                "Authentication failed. The 'Authorization' header is missing.",
                headers=challenge,
            )
        scheme, _unused, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ArmError(
                401,
                "AuthenticationFailedInvalidHeader",
                "Authentication failed. The 'Authorization' header is provided in an invalid format.",
                headers=challenge,
            )
        issued = self.tokens.get(token.strip())
        if issued is None:
            raise ArmError(401, "InvalidAuthenticationToken", "The access token is invalid.", headers=challenge)
        if issued["expires"] < time.time():
            raise ArmError(
                401,
                "ExpiredAuthenticationToken",
                "The access token expiry UTC time is earlier than current UTC time.",
                headers=challenge,
            )
        if issued["audience"].rstrip("/") != self.url:
            raise ArmError(
                401,
                "InvalidAuthenticationTokenAudience",
                f"The access token has been obtained for wrong audience or resource '{issued['audience']}'. "
                f"It should exactly match with one of the allowed audiences '{self.url}/'.",
                headers=challenge,
            )


def _public_roots() -> bytes:
    """certifi's roots, so a REQUESTS_CA_BUNDLE with the double's CA still trusts the real internet."""
    try:
        import certifi

        return Path(certifi.where()).read_bytes() + b"\n"
    except ImportError:
        return b""


_LOADED = False


def _load_route_modules() -> None:
    global _LOADED
    if _LOADED:
        return
    package = __name__.rsplit(".", 1)[0]
    pkg = importlib.import_module(package)
    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda m: m.name):
        if info.name.startswith("routes_"):
            importlib.import_module(f"{package}.{info.name}")
    _LOADED = True


# --------------------------------------------------------------------------------------------------
# HTTP plumbing
# --------------------------------------------------------------------------------------------------

REDACTED_FORM_FIELDS = ("client_secret", "client_assertion", "password", "refresh_token")
# Keys of the lab's Kubernetes connection facts (POST /_fake/kube, --kube-info) that GET /_fake/info leaves out.
SECRET_KUBE_KEYS = ("token", "client_key", "client_key_data", "password")


class _Handler(BaseHTTPRequestHandler):
    fake: FakeAzure
    protocol_version = "HTTP/1.1"
    server_version = "netpol-aks-fake-azure/1"
    disable_nagle_algorithm = True  # headers and body go out in separate writes

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        return

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def do_HEAD(self) -> None:
        self._dispatch()

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        return self.rfile.read(length) if length else b""

    def _dispatch(self) -> None:
        fake = self.fake
        split = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        headers = {k.lower(): v for k, v in self.headers.items()}
        req = Request(self.command.upper(), split.path, query, headers, self._read_body(), fake)
        fake.advance_operations()
        try:
            response = _control(req) if split.path.startswith("/_fake/") or split.path == "/_fake" else self._serve(req)
        except _DropConnection:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(2)
            return
        self._send(req, response)

    def _serve(self, req: Request) -> Response:
        fake = self.fake
        record = {
            "seq": 0,
            "time": round(time.time(), 3),
            "method": req.method,
            "path": req.path,
            "query": req.query,
            "body": _loggable_body(req),
            "client_request_id": req.headers.get("x-ms-client-request-id"),
            "if_match": req.headers.get("if-match"),
            "status": None,
            "fault": None,
        }
        with fake.lock:
            fake._seq += 1
            record["seq"] = fake._seq
            fake.log.append(record)
        req.record = record
        fault = fake.take_fault(req, kinds=("429", "500", "503", "drop", "error"))
        if fault is not None:
            record["fault"] = fault["fault"]
            if fault["fault"] == "drop":
                record["status"] = "dropped"
                raise _DropConnection
            return _fault_response(fault)
        try:
            matched, params, allowed = _match(req)
            if matched is None:
                if not _is_identity_path(req.path):
                    fake.check_bearer(req)
                if allowed:
                    raise ArmError(
                        405,
                        "MethodNotAllowed",
                        f"The requested resource does not support http method '{req.method}'.",
                    )
                raise ArmError(
                    404,
                    "NotFound",
                    f"The test double has no route for {req.method} {req.path}: the real ARM would not know it either"
                    " (or it is not simulated yet).",
                )
            req.params = params
            if matched.auth:
                fake.check_bearer(req)
            if "subscriptionId" in params and params["subscriptionId"].lower() != fake.state.subscription_id.lower():
                raise ArmError(
                    404, "SubscriptionNotFound", f"The subscription '{params['subscriptionId']}' could not be found."
                )
            if matched.api_versions is not None:
                version = req.api_version
                if not version:
                    raise ArmError(
                        400,
                        "MissingApiVersionParameter",
                        "The api-version query parameter (?api-version=) is required for all requests.",
                    )
                if version not in matched.api_versions:
                    raise ArmError(
                        400,
                        "InvalidApiVersionParameter",
                        f"The api-version '{version}' is invalid. The supported versions are "
                        f"'{','.join(matched.api_versions)}'.",
                    )
            with fake.lock:
                result = matched.handler(req)
            if isinstance(result, Response):
                return result
            return Response(200, result)
        except ArmError as err:
            return Response(err.status, err.body(), dict(err.headers))
        except Exception as exc:  # a bug in a handler: say so loudly instead of dropping the connection
            detail = traceback.format_exc()
            record["error"] = detail
            sys.stderr.write(f"fake azure: handler error for {req.method} {req.path}:\n{detail}")
            return Response(
                500,
                {"error": {"code": "TestDoubleHandlerError", "message": f"The test double failed: {exc!r}"}},
            )

    def _send(self, req: Request, response: Response) -> None:
        body = b""
        headers = {"x-ms-request-id": str(uuid.uuid4())}
        headers["x-ms-correlation-request-id"] = req.headers.get("x-ms-correlation-request-id") or str(uuid.uuid4())
        if response.body is not None:
            if isinstance(response.body, (bytes, str)):
                body = response.body.encode() if isinstance(response.body, str) else response.body
                headers["Content-Type"] = "text/plain; charset=utf-8"
            else:
                body = json.dumps(response.body).encode()
                headers["Content-Type"] = "application/json; charset=utf-8"
        headers.update(response.headers)
        if req.record:
            req.record["status"] = response.status
            req.record["request_id"] = headers["x-ms-request-id"]
        self.send_response(response.status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if req.method != "HEAD" and body:
            self.wfile.write(body)


def _is_identity_path(path: str) -> bool:
    return "/oauth2/" in path or "/.well-known/" in path or path.endswith("/discovery/instance")


def _match(req: Request) -> tuple[Route | None, dict[str, str], bool]:
    allowed = False
    for candidate in ROUTES:
        m = candidate.regex.match(req.path)
        if not m:
            continue
        if candidate.method != req.method:
            allowed = True
            continue
        return candidate, {k: unquote(v) for k, v in m.groupdict().items()}, allowed
    return None, {}, allowed


def _loggable_body(req: Request) -> Any:
    form = req.form
    if form is not None:
        return {k: ("<redacted>" if k in REDACTED_FORM_FIELDS else v) for k, v in form.items()}
    if not req.body:
        return None
    parsed = req.json
    if parsed is not None:
        return parsed
    return {"_raw_base64": base64.b64encode(req.body[:4096]).decode()}


def _fault_response(fault: dict[str, Any]) -> Response:
    kind = fault["fault"]
    if kind == "429":
        return Response(
            429,
            {
                "error": {
                    "code": fault["code"] or "TooManyRequests",
                    "message": fault["message"]
                    or "The request is being throttled as the limit has been reached for operation type. "
                    "Please retry after the time in the Retry-After header (fault injected by the test double).",
                }
            },
            {"Retry-After": fault["retry_after"]},
        )
    if kind == "500":
        return Response(
            500,
            {
                "error": {
                    "code": fault["code"] or "InternalServerError",
                    "message": fault["message"]
                    or "Encountered internal server error (fault injected by the test double).",
                }
            },
        )
    if kind == "503":
        headers = {"Retry-After": fault["retry_after"]} if fault["retry_after"] not in ("", "none") else {}
        return Response(
            503,
            {
                "error": {
                    "code": fault["code"] or "ServiceUnavailable",
                    "message": fault["message"]
                    or "The server is currently unable to handle the request (fault injected by the test double).",
                }
            },
            headers,
        )
    return Response(
        fault["status"],
        {
            "error": {
                "code": fault["code"] or "InjectedFault",
                "message": fault["message"] or "Fault injected by the test double.",
            }
        },
    )


def _control(req: Request) -> Response:
    """The /_fake/ control API (no auth; not part of any real service)."""
    fake = req.server
    path = req.path.rstrip("/")
    try:
        if path == "/_fake/requests" and req.method == "GET":
            since = int(req.query.get("since", "0"))
            with fake.lock:
                items = [dict(r) for r in fake.log if r["seq"] > since]
            return Response(200, {"requests": items})
        if path == "/_fake/requests" and req.method == "DELETE":
            with fake.lock:
                fake.log.clear()
            return Response(204)
        if path == "/_fake/faults" and req.method == "GET":
            with fake.lock:
                return Response(200, {"faults": [dict(f) for f in fake.faults]})
        if path == "/_fake/faults" and req.method == "POST":
            spec = json.loads(req.body or b"{}")
            specs = spec if isinstance(spec, list) else spec.get("faults", [spec])
            added = [fake.add_fault(s) for s in specs]
            return Response(201, {"faults": added})
        if path == "/_fake/faults" and req.method == "DELETE":
            with fake.lock:
                fake.faults.clear()
            return Response(204)
        if path == "/_fake/reset" and req.method == "POST":
            fake.reset()
            return Response(204)
        if path == "/_fake/state" and req.method == "GET":
            with fake.lock:
                return Response(200, fake.state.dump())
        if path == "/_fake/info" and req.method == "GET":
            # Connection facts only: the lab's Kubernetes bearer token is a secret, not handed out here.
            kube = fake.state.kube
            if kube is not None:
                kube = {k: v for k, v in kube.items() if k not in SECRET_KUBE_KEYS}
            return Response(200, {**fake.info(), "kube": kube})
        if path == "/_fake/kube" and req.method == "POST":
            with fake.lock:
                fake.state.kube = json.loads(req.body or b"{}")
            return Response(204)
        if path == "/_fake/operations/settle" and req.method == "POST":
            return Response(200, {"settled": fake.settle_operations()})
        if path == "/_fake/operations" and req.method == "POST":
            with fake.lock:
                return Response(200, _configure_operations(fake.state, json.loads(req.body or b"{}")))
        for handler_path, method, handler in CONTROL_HANDLERS:
            if path == handler_path and req.method == method:
                with fake.lock:
                    return Response(200, handler(fake.state, json.loads(req.body or b"null")))
    except (ValueError, KeyError, TypeError) as exc:
        return Response(400, {"error": {"code": "BadFakeRequest", "message": str(exc)}})
    return Response(404, {"error": {"code": "NotFound", "message": f"no control endpoint {req.method} {req.path}"}})


CONTROL_HANDLERS: list[tuple[str, str, Callable[[State, Any], Any]]] = []


def control(method: str, path: str) -> Callable[[Callable[[State, Any], Any]], Callable[[State, Any], Any]]:
    """Register a ``/_fake/...`` control endpoint: ``handler(state, parsed_json_body) -> JSON``."""

    def decorate(handler: Callable[[State, Any], Any]) -> Callable[[State, Any], Any]:
        CONTROL_HANDLERS.append((path.rstrip("/"), method.upper(), handler))
        return handler

    return decorate
