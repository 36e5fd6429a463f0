# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Assembly of the double: TLS, bearer-token auth, fault injection, request log, `/_fake/*`, start/stop."""

from __future__ import annotations

import asyncio
import base64
import gc
import json
import os
import re
import secrets
import ssl
import threading
import time
from pathlib import Path
from typing import Any

import trustme
import yaml
from aiohttp import web

from tests.fakes.kube import api
from tests.fakes.kube import errors
from tests.fakes.kube.api import CTX_KEY
from tests.fakes.kube.controllers import Controllers
from tests.fakes.kube.dataplane import DataPlane
from tests.fakes.kube.errors import ApiError
from tests.fakes.kube.exec import exec_handler
from tests.fakes.kube.exec import log_handler
from tests.fakes.kube.paging import Pager
from tests.fakes.kube.store import Store

CONTEXT_NAME = "netpol-lab"
DEFAULT_CONFIG: dict[str, Any] = {
    "enforcement": "full",
    "enforcement_delay_seconds": 0.0,
    "faults": [],
    "exec_failure": 0,
}


def _check_config(update: Any) -> dict[str, Any]:
    if not isinstance(update, dict):
        raise errors.bad_request("/_fake/config takes a JSON object")
    out: dict[str, Any] = {}
    for key, value in update.items():
        if key == "enforcement":
            if value not in ("full", "none"):
                raise errors.bad_request("enforcement must be 'full' or 'none'")
        elif key == "enforcement_delay_seconds":
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise errors.bad_request("enforcement_delay_seconds must be a number >= 0")
            value = float(value)
        elif key == "exec_failure":
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise errors.bad_request("exec_failure must be an integer >= 0")
        elif key in ("faults", "fault"):
            faults = value if isinstance(value, list) else [value]
            checked = []
            for fault in faults:
                if not isinstance(fault, dict) or set(fault) - {"status", "path", "count", "method", "message"}:
                    raise errors.bad_request(
                        "a fault is {status, path (regex), count, method (optional), message (optional)}"
                    )
                status = fault.get("status", 500)
                if not isinstance(status, int) or not 400 <= status <= 599:
                    raise errors.bad_request("fault status must be an HTTP error code (400-599)")
                try:
                    re.compile(fault.get("path", ".*"))
                except re.error as exc:
                    raise errors.bad_request(f"fault path is not a regular expression: {exc}") from exc
                count = fault.get("count", 1)
                if not isinstance(count, int) or count < 1:
                    raise errors.bad_request("fault count must be an integer >= 1")
                checked.append(
                    {
                        "status": status,
                        "path": fault.get("path", ".*"),
                        "count": count,
                        "method": fault.get("method"),
                        "message": fault.get("message"),
                    }
                )
            key, value = "faults", checked
        else:
            raise errors.bad_request(
                f"unknown switch {key!r}: use enforcement, enforcement_delay_seconds, faults, exec_failure"
            )
        out[key] = value
    return out


_FAULT_REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    409: "Conflict",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}


class Context:
    """Everything the handlers share; lives on the server's event loop."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.port = 0
        self.config: dict[str, Any] = json.loads(json.dumps(DEFAULT_CONFIG))
        self.requests: list[dict[str, Any]] = []
        # Bugs of the double itself (a controller or an exec emulation raised): tests fail on them.
        self.internal_errors: list[str] = []
        self.store = Store()
        self.pager = Pager()
        self.dataplane = DataPlane(self)
        self.controllers = Controllers(self)
        self.exec_handler = exec_handler
        self.log_handler = log_handler

    def reset(self) -> None:
        old = self.store
        self.config = json.loads(json.dumps(DEFAULT_CONFIG))
        self.requests.clear()
        self.internal_errors.clear()
        self.store = Store()
        self.pager = Pager()
        self.dataplane.reset()
        self.controllers.reset()
        old.changed.set()  # wake the controllers so they switch to the new store

    def take_fault(self, method: str, path: str) -> dict | None:
        for fault in self.config["faults"]:
            if fault["method"] and fault["method"].upper() != method:
                continue
            if re.search(fault["path"], path):
                fault["count"] -= 1
                if fault["count"] <= 0:
                    self.config["faults"].remove(fault)
                return fault
        return None


@web.middleware
async def middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    ctx: Context = request.app[CTX_KEY]
    started = time.monotonic()
    entry: dict[str, Any] | None = None
    if not request.path.startswith("/_fake/"):
        entry = {
            "method": request.method,
            "path": request.path,
            "query": request.query_string,
            "content_type": request.headers.get("Content-Type", ""),
            "user_agent": request.headers.get("User-Agent", ""),
            "time": time.time(),
        }
        ctx.requests.append(entry)
        if request.method in ("POST", "PUT", "PATCH") and request.can_read_body:
            raw = await request.read()  # cached by aiohttp: the handler reads it again
            try:
                entry["body"] = json.loads(raw) if raw else None
            except ValueError:
                entry["body"] = raw.decode(errors="replace")[:8000]
    try:
        # /_fake/* is the double's own control API (like the Azure double's: no auth).
        if entry is not None and request.headers.get("Authorization") != f"Bearer {ctx.token}":
            raise errors.unauthorized()
        if entry is not None:
            fault = ctx.take_fault(request.method, request.path)
            if fault is not None:
                code = fault["status"]
                message = fault["message"] or f"injected fault ({code}) by the netpol lab Kubernetes double"
                reason = _FAULT_REASONS.get(code, "InternalError")
                if code == 500:
                    message = f"Internal error occurred: {message}"
                raise ApiError(code, reason, message, {"retryAfterSeconds": 1} if code == 429 else {})
        response = await handler(request)
    except ApiError as exc:
        response = api.status_response(exc)
    except web.HTTPException as exc:
        if exc.status == 404:
            response = api.status_response(api.not_found_path())
        elif exc.status == 405:
            response = api.status_response(errors.method_not_allowed())
        else:
            raise
    if entry is not None:
        entry["status"] = response.status
        entry["elapsed"] = round(time.monotonic() - started, 4)
    return response


async def fake_config(request: web.Request) -> web.Response:
    ctx: Context = request.app[CTX_KEY]
    if request.method == "POST":
        try:
            update = await request.json()
        except ValueError as exc:
            raise errors.bad_request(f"/_fake/config takes JSON: {exc}") from exc
        checked = _check_config(update)
        if "enforcement" in checked or "enforcement_delay_seconds" in checked:
            ctx.dataplane.config_changed()
        ctx.config.update(checked)
    return web.json_response(ctx.config)


async def fake_requests(request: web.Request) -> web.Response:
    ctx: Context = request.app[CTX_KEY]
    return web.json_response(ctx.requests)


async def fake_errors(request: web.Request) -> web.Response:
    ctx: Context = request.app[CTX_KEY]
    return web.json_response(ctx.internal_errors)


async def fake_compact(request: web.Request) -> web.Response:
    """What etcd's compaction does to LIST chunking: every continue token issued so far expires (410)."""
    request.app[CTX_KEY].pager.compact()
    return web.json_response({})


async def fake_reset(request: web.Request) -> web.Response:
    ctx: Context = request.app[CTX_KEY]
    ctx.reset()
    return web.json_response(ctx.config)


def build_app(ctx: Context) -> web.Application:
    app = web.Application(middlewares=[middleware], client_max_size=16 * 1024 * 1024)
    app[CTX_KEY] = ctx
    app.router.add_route("GET", "/_fake/config", fake_config)
    app.router.add_route("POST", "/_fake/config", fake_config)
    app.router.add_get("/_fake/requests", fake_requests)
    app.router.add_post("/_fake/reset", fake_reset)
    app.router.add_post("/_fake/compact", fake_compact)
    app.router.add_get("/_fake/errors", fake_errors)
    api.add_routes(app)

    async def start_controllers(app: web.Application) -> None:
        ctx.controllers.start()

    async def stop_controllers(app: web.Application) -> None:
        await ctx.controllers.stop()

    app.on_startup.append(start_controllers)
    app.on_cleanup.append(stop_controllers)
    return app


class KubeDouble:
    """One running double: `start()` in a background thread (tests) or `serve_forever()` (CLI)."""

    def __init__(self, state_dir: str | Path, token: str | None = None) -> None:
        self.state_dir = Path(state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.token = token or secrets.token_urlsafe(24)
        self.ca = trustme.CA(organization_name="netpol lab (simulated) Kubernetes CA")
        self.ca_file = self.state_dir / "kube-ca.pem"
        self.ca.cert_pem.write_to_path(str(self.ca_file))
        self.kubeconfig = self.state_dir / "kubeconfig"
        self.ctx = Context(self.token)
        self.url = ""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None

    def _ssl_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert = self.ca.issue_cert("127.0.0.1", "localhost", common_name="kube-apiserver (netpol lab)")
        cert.configure_cert(context)
        return context

    async def _start(self) -> None:
        self._runner = web.AppRunner(
            build_app(self.ctx), access_log=None, handler_cancellation=True, shutdown_timeout=0.5
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=self._ssl_context())
        await site.start()
        sockets = self._runner.addresses
        self.ctx.port = sockets[0][1]
        self.url = f"https://127.0.0.1:{self.ctx.port}"
        self._write_files()

    async def _stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def _write_files(self) -> None:
        ca_data = base64.b64encode(self.ca.cert_pem.bytes()).decode()
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {"name": CONTEXT_NAME, "cluster": {"server": self.url, "certificate-authority-data": ca_data}}
            ],
            "users": [{"name": f"{CONTEXT_NAME}-user", "user": {"token": self.token}}],
            "contexts": [{"name": CONTEXT_NAME, "context": {"cluster": CONTEXT_NAME, "user": f"{CONTEXT_NAME}-user"}}],
            "current-context": CONTEXT_NAME,
            "preferences": {},
        }
        tmp = self.kubeconfig.with_suffix(".tmp")
        tmp.write_text(yaml.safe_dump(config, sort_keys=False))
        os.chmod(tmp, 0o600)
        tmp.replace(self.kubeconfig)

    def info(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "pid": os.getpid(),
            "ca_file": str(self.ca_file),
            "token": self.token,
            "kubeconfig": str(self.kubeconfig),
            "env": self.env,
        }

    @property
    def env(self) -> dict[str, str]:
        return {
            "KUBECONFIG": str(self.kubeconfig),
            "NETPOL_LAB_KUBE_URL": self.url,
            "K8S_AUTH_KUBECONFIG": str(self.kubeconfig),
        }

    # -- background thread (tests) -----------------------------------------------------------

    def start(self) -> KubeDouble:
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._start())
            except BaseException as exc:  # surfaced to the caller below
                failure.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._stop())
            loop.run_until_complete(loop.shutdown_asyncgens())
            # Let closed connections' transports go while the loop still exists.
            gc.collect()
            loop.run_until_complete(asyncio.sleep(0))
            loop.close()

        self._thread = threading.Thread(target=run, name=f"kube-double-{id(self)}", daemon=True)
        self._thread.start()
        ready.wait(30)
        if failure:
            raise failure[0]
        return self

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop = None

    def call(self, func: Any, *args: Any) -> Any:
        """Run func(*args) on the server's loop and return its result (for in-process helpers)."""
        assert self._loop is not None
        result = asyncio.run_coroutine_threadsafe(_as_coroutine(func, *args), self._loop)
        return result.result(30)

    # -- foreground (python -m tests.fakes.kube) ---------------------------------------------

    async def serve_forever(self, stop: asyncio.Event) -> None:
        await self._start()
        info = self.state_dir / "info.json"
        tmp = info.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.info(), indent=2) + "\n")
        tmp.replace(info)
        try:
            await stop.wait()
        finally:
            await self._stop()
            info.unlink(missing_ok=True)


async def _as_coroutine(func: Any, *args: Any) -> Any:
    return func(*args)
