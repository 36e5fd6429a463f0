# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""HTTP routes of the API server: discovery, CRUD, the four PATCH types, logs and exec."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING
from typing import Any

import yaml
from aiohttp import web

from tests.fakes.kube import errors
from tests.fakes.kube import resources
from tests.fakes.kube.errors import ApiError
from tests.fakes.kube.resources import Kind
from tests.fakes.kube.selectors import match_fields
from tests.fakes.kube.selectors import match_labels
from tests.fakes.kube.selectors import parse_field_selector
from tests.fakes.kube.selectors import parse_label_selector

if TYPE_CHECKING:
    from tests.fakes.kube.server import Context

CTX_KEY: web.AppKey[Any] = web.AppKey("netpol_kube_ctx")
PATCH_TYPES = {
    "application/strategic-merge-patch+json": "strategic",
    "application/merge-patch+json": "merge",
    "application/json-patch+json": "json",
    "application/apply-patch+yaml": "apply",
    "application/apply-patch+cbor": None,
}


def status_response(error: ApiError) -> web.Response:
    headers = {}
    if error.code == 429:
        headers["Retry-After"] = "1"
    return web.json_response(error.status(), status=error.code, headers=headers)


def _json(data: Any, status: int = 200, warnings: list[str] | None = None) -> web.Response:
    response = web.json_response(data, status=status)
    for warning in warnings or []:
        escaped = warning.replace("\\", "\\\\").replace('"', '\\"')
        response.headers.add("Warning", f'299 - "{escaped}"')
    return response


def not_found_path() -> ApiError:
    return ApiError(404, "NotFound", "the server could not find the requested resource", {})


# -------------------------------------------------------------------------------------------------
# discovery


async def version(request: web.Request) -> web.Response:
    return web.json_response(resources.SERVER_VERSION)


async def api_root(request: web.Request) -> web.Response:
    ctx: Context = request.app[CTX_KEY]
    return web.json_response(resources.api_versions(f"127.0.0.1:{ctx.port}"))


async def apis_root(request: web.Request) -> web.Response:
    return web.json_response(resources.api_group_list())


async def health(request: web.Request) -> web.Response:
    return web.Response(text="ok")


# -------------------------------------------------------------------------------------------------
# resources


_CORE = re.compile(r"^/api/(?P<version>[^/]+)(?P<rest>/.*)?$")
_GROUP = re.compile(r"^/apis/(?P<group>[^/]+)/(?P<version>[^/]+)(?P<rest>/.*)?$")


class Target:
    """A parsed resource URL."""

    def __init__(self, kind: Kind, namespace: str | None, name: str | None, subresource: str | None) -> None:
        self.kind = kind
        self.namespace = namespace
        self.name = name
        self.subresource = subresource


def parse_path(path: str) -> tuple[str, list[str]] | None:
    match = _CORE.match(path)
    if match:
        group_version = match["version"]
    else:
        match = _GROUP.match(path)
        if not match:
            return None
        group_version = f"{match['group']}/{match['version']}"
    rest = [p for p in (match["rest"] or "").split("/") if p]
    return group_version, rest


def resolve(group_version: str, parts: list[str]) -> Target:
    """/namespaces/{ns}/{plural}/{name}/{sub} and friends."""
    namespace = None
    if len(parts) >= 3 and parts[0] == "namespaces":
        kind = resources.lookup(group_version, parts[2])
        if kind is not None and kind.namespaced:
            namespace = parts[1]
            parts = parts[2:]
    if not parts:
        raise not_found_path()
    kind = resources.lookup(group_version, parts[0])
    if kind is None or len(parts) > 3:
        raise not_found_path()
    name = parts[1] if len(parts) > 1 else None
    sub = parts[2] if len(parts) > 2 else None
    if sub is not None and sub not in {s for s, _unused, _unused in kind.subresources}:
        raise not_found_path()
    if namespace is not None and not kind.namespaced:
        raise not_found_path()
    if kind.namespaced and name is not None and namespace is None:
        raise not_found_path()
    return Target(kind, namespace, name, sub)


def _manager(request: web.Request) -> str:
    manager = request.query.get("fieldManager")
    if manager:
        return manager
    agent = request.headers.get("User-Agent", "unknown")
    return agent.split("/", 1)[0] or "unknown"


def _field_validation(request: web.Request) -> str:
    value = request.query.get("fieldValidation", "Warn") or "Warn"
    if value not in ("Ignore", "Warn", "Strict"):
        raise errors.bad_request(f"fieldValidation parameter unsupported: {value}")
    return value


def _dry_run(request: web.Request) -> bool:
    values = request.query.getall("dryRun", [])
    for value in values:
        if value != "All":
            raise errors.bad_request(f'Invalid dry run value: unsupported value "{value}", supported values: "All"')
    return bool(values)


async def _body(request: web.Request, yaml_ok: bool = False) -> Any:
    if request.method in ("POST", "PUT"):
        content_type = request.headers.get("Content-Type", "").split(";")[0].strip()
        if content_type in ("application/yaml", "application/x-yaml"):
            yaml_ok = True
        elif content_type not in ("", "application/json"):  # no Content-Type: kube-apiserver assumes JSON
            # protobuf and CBOR are real media types too, but nothing in this project speaks them.
            raise errors.unsupported_media_type(content_type, errors.BODY_MEDIA_TYPES)
    raw = await request.read()
    if not raw:
        raise errors.bad_request("the body of the request was empty")
    try:
        if yaml_ok:
            return yaml.safe_load(raw)
        return json.loads(raw)
    except (ValueError, yaml.YAMLError) as exc:
        raise errors.bad_request(f"couldn't get version/kind; json parse error: {exc}") from exc


def _list_response(kind: Kind, items: list[dict], meta: dict) -> dict:
    return {"kind": f"{kind.kind}List", "apiVersion": kind.api_version, "metadata": meta, "items": items}


async def resource(request: web.Request) -> web.StreamResponse:
    ctx: Context = request.app[CTX_KEY]
    parsed = parse_path(request.path)
    if parsed is None:
        raise not_found_path()
    group_version, parts = parsed
    if not parts:
        if request.method != "GET":
            raise errors.method_not_allowed()
        body = resources.resource_list(group_version)
        if body is None:
            raise not_found_path()
        return web.json_response(body)
    target = resolve(group_version, parts)
    kind = target.kind
    store = ctx.store
    method = request.method
    if target.subresource == "exec":
        return await ctx.exec_handler(request, target)
    if target.subresource == "log":
        if method != "GET":
            raise errors.method_not_allowed()
        return await ctx.log_handler(request, target)
    if target.subresource == "scale":
        return await _scale(request, ctx, target)
    if target.subresource == "finalize":
        raise errors.method_not_allowed()
    if request.query.get("watch") in ("true", "1"):
        raise errors.bad_request("watch is not supported by the netpol lab Kubernetes double (poll with GET instead)")
    if target.name is None:
        if method == "GET":
            labels = parse_label_selector(request.query.get("labelSelector"))
            fields = parse_field_selector(request.query.get("fieldSelector"), kind.plural)
            items, meta = ctx.pager.page(
                request.query,
                request.path,
                int(store.resource_version),
                lambda: store.keyed(kind, target.namespace),
                lambda obj: match_labels(labels, obj["metadata"].get("labels")) and match_fields(fields, obj),
                bool(labels or fields),
            )
            return web.json_response(_list_response(kind, items, meta))
        if method == "POST":
            if kind.namespaced and target.namespace is None:
                raise errors.method_not_allowed()
            body = await _body(request)
            obj, warnings = store.create(
                kind,
                target.namespace,
                body,
                manager=_manager(request),
                dry_run=_dry_run(request),
                field_validation=_field_validation(request),
            )
            return _json(obj, 201, warnings)
        raise errors.method_not_allowed()  # deletecollection is not served: nothing in the collection needs it
    if method == "GET":
        obj = store.get(kind, target.namespace, target.name)
        return web.json_response(obj)
    if method == "PUT":
        body = await _body(request)
        obj, warnings = store.update(
            kind,
            target.namespace,
            target.name,
            body,
            manager=_manager(request),
            dry_run=_dry_run(request),
            field_validation=_field_validation(request),
            subresource=target.subresource,
        )
        return _json(obj, 200, warnings)
    if method == "PATCH":
        content_type = request.headers.get("Content-Type", "").split(";")[0].strip()
        patch_type = PATCH_TYPES.get(content_type)
        if patch_type is None:
            raise errors.unsupported_media_type(content_type)
        body = await _body(request, yaml_ok=patch_type == "apply")
        force = request.query.get("force")
        if force is not None and patch_type != "apply":
            raise errors.bad_request("force may not be specified for non-apply patch")
        manager = request.query.get("fieldManager") if patch_type == "apply" else _manager(request)
        obj, warnings, created = store.patch(
            kind,
            target.namespace,
            target.name,
            patch_type,
            body,
            manager=manager,
            force=force in ("true", "1"),
            dry_run=_dry_run(request),
            field_validation=_field_validation(request),
            subresource=target.subresource,
        )
        return _json(obj, 201 if created else 200, warnings)
    if method == "DELETE":
        if target.subresource:
            raise errors.method_not_allowed()
        propagation = request.query.get("propagationPolicy")
        raw = await request.read()
        if raw:
            try:
                options = json.loads(raw)
            except ValueError as exc:
                raise errors.bad_request(f"couldn't get version/kind; json parse error: {exc}") from exc
            if isinstance(options, dict):
                propagation = options.get("propagationPolicy", propagation)
        if propagation not in (None, "Orphan", "Background", "Foreground"):
            raise errors.bad_request(
                f'DeleteOptions.meta.k8s.io "" is invalid: propagationPolicy: Unsupported value: "{propagation}"'
            )
        gone = store.delete(kind, target.namespace, target.name, propagation=propagation, dry_run=_dry_run(request))
        if kind.kind in ("Pod", "Namespace"):
            return web.json_response(gone)
        details = {"name": target.name, "kind": kind.plural, "uid": gone["metadata"]["uid"]}
        if kind.group:
            details = {"name": target.name, "group": kind.group, "kind": kind.plural, "uid": gone["metadata"]["uid"]}
        return web.json_response(
            {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details}
        )
    raise errors.method_not_allowed()


def _scale_object(obj: dict) -> dict:
    meta = obj["metadata"]
    labels = ((obj.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp") if k in meta
        },
        "spec": {"replicas": (obj.get("spec") or {}).get("replicas", 1)},
        "status": {
            "replicas": (obj.get("status") or {}).get("replicas", 0),
            "selector": ",".join(f"{k}={v}" for k, v in sorted(labels.items())),
        },
    }


async def _scale(request: web.Request, ctx: Context, target: Target) -> web.Response:
    """deployments/scale and replicasets/scale (autoscaling/v1 Scale), as kubernetes.core.k8s_scale uses it."""
    from tests.fakes.kube import patch as patching

    store = ctx.store
    obj = store.get(target.kind, target.namespace, target.name or "")
    current = _scale_object(obj)
    if request.method == "GET":
        return web.json_response(current)
    if request.method == "PUT":
        wanted = await _body(request)
    elif request.method == "PATCH":
        content_type = request.headers.get("Content-Type", "").split(";")[0].strip()
        patch_type = PATCH_TYPES.get(content_type)
        if patch_type in (None, "apply"):
            raise errors.unsupported_media_type(content_type)
        body = await _body(request)
        if patch_type == "strategic":
            wanted = patching.strategic_merge("Scale", current, body)
        elif patch_type == "merge":
            wanted = patching.merge_patch(current, body)
        else:
            wanted = patching.json_patch(current, body)
    else:
        raise errors.method_not_allowed()
    if not isinstance(wanted, dict):
        raise errors.bad_request("the object provided is unrecognized (must be of type Scale)")
    rv = (wanted.get("metadata") or {}).get("resourceVersion")
    if rv and rv != obj["metadata"]["resourceVersion"]:
        raise errors.conflict(target.kind.plural, target.kind.group, target.name or "")
    replicas = (wanted.get("spec") or {}).get("replicas", 0)
    if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
        raise errors.invalid(
            "Scale",
            "autoscaling",
            target.name or "",
            [errors.FieldError("spec.replicas", "Invalid", "must be greater than or equal to 0", replicas, True)],
        )
    updated = dict(obj, spec={**obj["spec"], "replicas": replicas})
    new, _unused = store.update(
        target.kind,
        target.namespace,
        target.name or "",
        updated,
        manager=_manager(request),
        dry_run=_dry_run(request),
        check_rv=False,
    )
    return web.json_response(_scale_object(new))


async def apis_group(request: web.Request) -> web.Response:
    group = request.match_info["group"]
    body = resources.api_group(group)
    if body is None:
        raise not_found_path()
    return web.json_response(body)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/version", version)
    app.router.add_get("/version/", version)
    app.router.add_get("/api", api_root)
    app.router.add_get("/api/", api_root)
    app.router.add_get("/apis", apis_root)
    app.router.add_get("/apis/", apis_root)
    for path in ("/healthz", "/livez", "/readyz"):
        app.router.add_get(path, health)
    app.router.add_get("/apis/{group}", apis_group)
    app.router.add_get("/apis/{group}/", apis_group)
    app.router.add_route("*", "/api/{tail:.+}", resource)
    app.router.add_route("*", "/apis/{group}/{tail:.+}", resource)
