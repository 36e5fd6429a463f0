# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A fault-injection proxy in front of the real lab's kube-apiserver, on 127.0.0.1 only.

The real API server does not fail on request; a client's retries can only be tried against one that
does. This proxy forwards every request (plain HTTP, watches and other streamed answers, and
websocket upgrades: exec) to the API server and, when a switch says so, answers in its place: a
Status with any error code (429 with ``Retry-After``, 5xx, ...), a connection closed without an
answer, an answer that comes late, an exec whose stream breaks. It terminates TLS with a CA of its
own (trustme) and passes the caller's ``Authorization`` header on, so its kubeconfig carries the
control plane's bearer token.

    python -m tests.lab.fault_proxy --control-plane-info CP/info.json --state-dir DIR   # until SIGTERM

or, from Python, ``with FaultProxy(DIR, cp_info) as proxy: proxy.config(faults=[...])``. When ready
it writes ``DIR/kubeconfig`` (0600), ``DIR/proxy-ca.pem`` and ``DIR/info.json`` = ``{"url", "pid",
"ca_file", "token", "kubeconfig", "env", "upstream"}`` (the lab's contract).

Control API (no auth, never forwarded; the ``/_fake`` switches the lab's tests have always used):

* ``GET``/``POST /_fake/config``: the switches; a POST changes only the keys it gives, an unknown key
  is 400. ``faults``: a list of ``{"path": <regex searched in the path>, "count": N (1),
  "method": M?, "status": CODE?, "message": TEXT?, "retry_after": SECONDS?, "drop": true?,
  "delay": SECONDS?}``; the next ``count`` matching requests get it. ``status`` (default 500 unless
  ``drop`` or ``delay`` is given) answers a Status of that code (429: ``TooManyRequests`` with
  ``Retry-After: retry_after`` (default 1); 500 ``InternalError``; 503 ``ServiceUnavailable``, with
  ``Retry-After`` only when ``retry_after`` is given; ...). ``drop`` closes the connection without an
  answer. ``delay`` waits that many seconds first, then forwards (or answers ``status``, or drops).
  ``exec_failure: N``: the next N exec websockets open and then close with code 1011 and no status on
  channel 3 (a broken stream).
* ``GET /_fake/requests``: ``[{method, path, query, content_type, user_agent, body, status, elapsed,
  time, fault}]`` (``body`` for POST/PUT/PATCH: parsed JSON, else text; ``status`` ``"dropped"`` for a
  dropped connection, 101 for a websocket).
* ``POST /_fake/reset``: no faults, empty log.

What the proxy cannot do is the data plane: there is no ``enforcement`` switch here (the lab's network
has its own: ``kube_lab.config(enforcement="none")`` in tests/lab/pytest_plugin.py, or start it with
``network_policy="none"``, tests/lab/lab_net.py) and no enforcement delay (kube-router takes its own
moment to enforce a new policy).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import re
import signal
import ssl
import sys
import threading
import time
from pathlib import Path
from typing import Any

import aiohttp
import trustme
import yaml
from aiohttp import web

CONTEXT_NAME = "netpol-lab-fault-proxy"
DEFAULT_CONFIG: dict[str, Any] = {"faults": [], "exec_failure": 0}
FAULT_KEYS = frozenset({"status", "path", "count", "method", "message", "retry_after", "drop", "delay"})
# Hop-by-hop headers (RFC 9110 7.6.1) and what aiohttp sets itself: never forwarded.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)
REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "Conflict",
    410: "Expired",
    413: "RequestEntityTooLarge",
    415: "UnsupportedMediaType",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}
AUTO_HEADERS = ("Content-Type", "User-Agent", "Accept", "Accept-Encoding")
EXEC_PATH = re.compile(r"/pods/[^/]+/(exec|attach)$")


class ConfigError(ValueError):
    """A switch the proxy does not understand (the message says what it takes)."""


def check_config(update: Any) -> dict[str, Any]:
    """Validate a ``/_fake/config`` update; return it normalised (faults with every key)."""
    if not isinstance(update, dict):
        raise ConfigError("/_fake/config takes a JSON object")
    out: dict[str, Any] = {}
    for key, value in update.items():
        if key == "exec_failure":
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ConfigError("exec_failure must be an integer >= 0")
        elif key in ("faults", "fault"):
            key, value = "faults", [_check_fault(f) for f in (value if isinstance(value, list) else [value])]
        elif key in ("enforcement", "enforcement_delay_seconds"):
            raise ConfigError(
                f"{key} is the data plane's, not the API server's: the real lab runs without enforcement when its "
                "network is started with network_policy='none' (tests/lab/lab_net.py)"
            )
        else:
            raise ConfigError(f"unknown switch {key!r}: use faults, exec_failure")
        out[key] = value
    return out


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ConfigError(f"{what} must be a number >= 0")
    return float(value)


def _check_fault(fault: Any) -> dict[str, Any]:
    if not isinstance(fault, dict) or set(fault) - FAULT_KEYS:
        raise ConfigError(
            f"a fault is {{path (regex), count, method, status, message, retry_after, drop, delay}}; got {fault!r}"
        )
    drop = fault.get("drop", False)
    if not isinstance(drop, bool):
        raise ConfigError("fault drop must be true or false")
    delay = _number(fault.get("delay", 0), "fault delay")
    status = fault.get("status")
    if status is None and not drop and not delay:
        status = 500
    if status is not None and (isinstance(status, bool) or not isinstance(status, int) or not 400 <= status <= 599):
        raise ConfigError("fault status must be an HTTP error code (400-599)")
    if drop and status is not None:
        raise ConfigError("a fault either drops the connection or answers a status, not both")
    try:
        re.compile(fault.get("path", ".*"))
    except re.error as exc:
        raise ConfigError(f"fault path is not a regular expression: {exc}") from exc
    count = fault.get("count", 1)
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ConfigError("fault count must be an integer >= 1")
    retry_after = fault.get("retry_after")
    if retry_after is not None:
        retry_after = int(_number(retry_after, "fault retry_after"))
    method = fault.get("method")
    if method is not None and not isinstance(method, str):
        raise ConfigError("fault method must be an HTTP method such as GET")
    return {
        "path": fault.get("path", ".*"),
        "count": count,
        "method": method.upper() if method else None,
        "status": status,
        "message": fault.get("message"),
        "retry_after": retry_after,
        "drop": drop,
        "delay": delay,
    }


def status_body(code: int, message: str, retry_after: int | None = None) -> dict[str, Any]:
    """A ``Status`` as kube-apiserver words it."""
    details = {"retryAfterSeconds": retry_after} if retry_after is not None else {}
    body: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": REASONS.get(code, "InternalError" if code >= 500 else "BadRequest"),
        "code": code,
    }
    if details:
        body["details"] = details
    return body


def _fault_response(fault: dict[str, Any]) -> web.Response:
    code = fault["status"]
    retry_after = fault["retry_after"]
    if code == 429 and retry_after is None:
        retry_after = 1
    message = fault["message"] or {
        429: "Too many requests, please try again later.",
        503: "The server is currently unable to handle the request",
    }.get(code, f"injected fault ({code}) by the netpol lab fault proxy")
    if code == 500:
        message = f"Internal error occurred: {message}"
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
    return web.json_response(status_body(code, message, retry_after), status=code, headers=headers)


async def _close_like(request: web.Request, ws: web.WebSocketResponse, upstream: Any, closes: dict[str, int]) -> None:
    """End the other side of a relayed websocket as one side ended it: with the code of its close frame
    (1005, "no code", becomes 1000), or, when it closed the connection without a close frame, by
    closing the connection too (1006 may not be sent in a frame)."""
    if "caller" in closes:
        with contextlib.suppress(ConnectionError, RuntimeError):
            await upstream.close(code=closes["caller"] if closes["caller"] not in (1005, 1006) else 1000)
        return
    with contextlib.suppress(ConnectionError, RuntimeError):
        await upstream.close()
    code = closes.get("server")
    if code is None or code == 1006:
        if request.transport is not None:
            request.transport.close()  # what was written is flushed first
        return
    with contextlib.suppress(ConnectionError, RuntimeError):
        await ws.close(code=1000 if code == 1005 else code)


class _State:
    """The switches and the request log; lives on the proxy's event loop (and is read under a lock)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.config: dict[str, Any] = json.loads(json.dumps(DEFAULT_CONFIG))
        self.requests: list[dict[str, Any]] = []

    def update(self, update: Any) -> dict[str, Any]:
        checked = check_config(update)
        with self.lock:
            self.config.update(checked)
            return json.loads(json.dumps(self.config))

    def reset(self) -> dict[str, Any]:
        with self.lock:
            self.config = json.loads(json.dumps(DEFAULT_CONFIG))
            self.requests.clear()
            return json.loads(json.dumps(self.config))

    def take_fault(self, method: str, path: str) -> dict[str, Any] | None:
        with self.lock:
            for fault in self.config["faults"]:
                if fault["method"] and fault["method"] != method:
                    continue
                if re.search(fault["path"], path):
                    fault["count"] -= 1
                    if fault["count"] <= 0:
                        self.config["faults"].remove(fault)
                    return dict(fault)
        return None

    def take_exec_failure(self) -> bool:
        with self.lock:
            if self.config["exec_failure"] > 0:
                self.config["exec_failure"] -= 1
                return True
        return False


class FaultProxy:
    """One proxy in front of the API server described by ``control_plane_info`` (its info.json)."""

    def __init__(self, state_dir: Path | str, control_plane_info: dict[str, Any]) -> None:
        self.dir = Path(state_dir).resolve()
        self.upstream = control_plane_info["url"].rstrip("/")
        self.upstream_ca = control_plane_info["ca_file"]
        self.token = control_plane_info["token"]
        self.state = _State()
        self.ca = trustme.CA(organization_name="netpol lab fault proxy CA")
        self.ca_file = self.dir / "proxy-ca.pem"
        self.kubeconfig = self.dir / "kubeconfig"
        self.url = ""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._stopped: asyncio.Event | None = None

    # -- the switches, from Python ------------------------------------------------------------------

    def config(self, **switches: Any) -> dict[str, Any]:
        """Set switches, as ``POST /_fake/config`` does (``faults=[...]``, ``exec_failure=N``)."""
        return self.state.update(switches)

    def requests(self) -> list[dict[str, Any]]:
        with self.state.lock:
            return [dict(r) for r in self.state.requests]

    def reset(self) -> dict[str, Any]:
        return self.state.reset()

    @property
    def env(self) -> dict[str, str]:
        return {
            "KUBECONFIG": str(self.kubeconfig),
            "K8S_AUTH_KUBECONFIG": str(self.kubeconfig),
            "NETPOL_LAB_KUBE_URL": self.url,
        }

    def info(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "pid": os.getpid(),
            "ca_file": str(self.ca_file),
            "token": self.token,
            "kubeconfig": str(self.kubeconfig),
            "env": self.env,
            "upstream": self.upstream,
        }

    def client(self) -> Any:
        """A ``kubernetes.client.ApiClient`` talking through the proxy (its requests are logged)."""
        from kubernetes import config as kube_config

        return kube_config.new_client_from_config(config_file=str(self.kubeconfig))

    # -- serving ------------------------------------------------------------------------------------

    def _app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("GET", "/_fake/config", self._fake_config)
        app.router.add_route("POST", "/_fake/config", self._fake_config)
        app.router.add_get("/_fake/requests", self._fake_requests)
        app.router.add_post("/_fake/reset", self._fake_reset)
        app.router.add_route("*", "/{tail:.*}", self._forward)
        return app

    async def _fake_config(self, request: web.Request) -> web.Response:
        if request.method == "POST":
            try:
                return web.json_response(self.state.update(await request.json()))
            except (ValueError, ConfigError) as exc:
                return web.json_response(status_body(400, str(exc)), status=400)
        with self.state.lock:
            return web.json_response(self.state.config)

    async def _fake_requests(self, request: web.Request) -> web.Response:
        return web.json_response(self.requests())

    async def _fake_reset(self, request: web.Request) -> web.Response:
        return web.json_response(self.state.reset())

    async def _forward(self, request: web.Request) -> web.StreamResponse:
        started = time.monotonic()
        raw = await request.read() if request.can_read_body else b""
        entry: dict[str, Any] = {
            "method": request.method,
            "path": request.path,
            "query": request.query_string,
            "content_type": request.headers.get("Content-Type", ""),
            "user_agent": request.headers.get("User-Agent", ""),
            "time": time.time(),
            "fault": None,
        }
        if request.method in ("POST", "PUT", "PATCH") and raw:
            try:
                entry["body"] = json.loads(raw)
            except ValueError:
                entry["body"] = raw.decode(errors="replace")[:8000]
        with self.state.lock:
            self.state.requests.append(entry)
        try:
            response = await self._answer(request, raw, entry)
        finally:
            entry["elapsed"] = round(time.monotonic() - started, 4)
        return response

    async def _answer(self, request: web.Request, raw: bytes, entry: dict[str, Any]) -> web.StreamResponse:
        fault = self.state.take_fault(request.method, request.path)
        if fault is not None:
            if fault["delay"]:
                entry["fault"] = "delay"
                await asyncio.sleep(fault["delay"])
            if fault["drop"]:
                entry["fault"], entry["status"] = "drop", "dropped"
                if request.transport is not None:
                    request.transport.close()
                return web.Response(status=500)  # never sent: the connection is gone
            if fault["status"] is not None:
                entry["fault"] = "status"
                response = _fault_response(fault)
                entry["status"] = response.status
                return response
        websocket = request.headers.get("Upgrade", "").lower() == "websocket"
        if websocket:
            return await self._websocket(request, entry)
        return await self._http(request, raw, entry)

    def _upstream_headers(self, request: web.Request) -> dict[str, str]:
        headers = {}
        for name, value in request.headers.items():
            lower = name.lower()
            if lower in HOP_BY_HOP or lower.startswith("sec-websocket-"):
                continue
            headers[name] = value
        return headers

    async def _http(self, request: web.Request, raw: bytes, entry: dict[str, Any]) -> web.StreamResponse:
        assert self._session is not None
        try:
            upstream = await self._session.request(
                request.method,
                self.upstream + str(request.rel_url),
                headers=self._upstream_headers(request),
                data=raw if raw else None,
                allow_redirects=False,
                # Only what the caller sent: kube-apiserver reads a body without Content-Type as JSON.
                skip_auto_headers=AUTO_HEADERS,
            )
        except aiohttp.ClientError as exc:
            entry["status"] = 502
            return web.json_response(status_body(502, f"fault proxy: the API server did not answer: {exc}"), status=502)
        async with upstream:
            response = web.StreamResponse(status=upstream.status, reason=upstream.reason)
            for name, value in upstream.headers.items():
                if name.lower() not in HOP_BY_HOP:
                    response.headers.add(name, value)
            if upstream.content_length is not None and "chunked" not in upstream.headers.get("Transfer-Encoding", ""):
                response.content_length = upstream.content_length
            entry["status"] = upstream.status
            await response.prepare(request)
            with contextlib.suppress(ConnectionError, aiohttp.ClientPayloadError):
                async for chunk in upstream.content.iter_any():
                    await response.write(chunk)
            with contextlib.suppress(ConnectionError):
                await response.write_eof()
        return response

    async def _websocket(self, request: web.Request, entry: dict[str, Any]) -> web.StreamResponse:
        assert self._session is not None
        offered = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",") if p.strip()]
        if EXEC_PATH.search(request.path) and self.state.take_exec_failure():
            entry["fault"], entry["status"] = "exec_failure", 101
            ws = web.WebSocketResponse(protocols=offered[:1], autoping=True, max_msg_size=0)
            await ws.prepare(request)
            await ws.close(code=1011, message=b"stream error: the netpol lab fault proxy injected an exec failure")
            return ws
        try:
            upstream = await self._session.ws_connect(
                self.upstream + str(request.rel_url),
                method=request.method,
                protocols=offered,
                headers=self._upstream_headers(request),
                autoping=True,
                max_msg_size=0,
            )
        except aiohttp.WSServerHandshakeError as exc:
            entry["status"] = exc.status
            return web.json_response(status_body(exc.status, exc.message or "upgrade refused"), status=exc.status)
        except aiohttp.ClientError as exc:
            entry["status"] = 502
            return web.json_response(status_body(502, f"fault proxy: the API server did not answer: {exc}"), status=502)
        entry["status"] = 101
        ws = web.WebSocketResponse(protocols=[upstream.protocol] if upstream.protocol else [], max_msg_size=0)
        await ws.prepare(request)

        closes: dict[str, int] = {}

        async def pump(source: Any, sink: Any, side: str) -> None:
            while True:
                msg = await source.receive()
                if msg.type == aiohttp.WSMsgType.BINARY:
                    await sink.send_bytes(msg.data)
                elif msg.type == aiohttp.WSMsgType.TEXT:
                    await sink.send_str(msg.data)
                else:
                    if msg.type == aiohttp.WSMsgType.CLOSE:
                        closes[side] = msg.data  # the code in the close frame that side sent
                    return

        to_client = asyncio.ensure_future(pump(upstream, ws, "server"))
        to_server = asyncio.ensure_future(pump(ws, upstream, "caller"))
        try:
            await asyncio.wait([to_client, to_server], return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (to_client, to_server):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, ConnectionError, RuntimeError):
                    await task
            await _close_like(request, ws, upstream, closes)
        return ws

    # -- start / stop -------------------------------------------------------------------------------

    def _ssl_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ca.issue_cert("127.0.0.1", "localhost", common_name="netpol lab fault proxy").configure_cert(context)
        return context

    async def _start(self) -> None:
        upstream_ssl = ssl.create_default_context(cafile=self.upstream_ca)
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=upstream_ssl),
            auto_decompress=False,
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=10),
        )
        self._runner = web.AppRunner(self._app(), access_log=None, handler_cancellation=True, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=self._ssl_context())
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"https://127.0.0.1:{port}"
        self._write_files()

    async def _stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _write_files(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.dir, 0o700)
        self.ca.cert_pem.write_to_path(str(self.ca_file))
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": CONTEXT_NAME,
                    "cluster": {
                        "server": self.url,
                        "certificate-authority-data": base64.b64encode(self.ca.cert_pem.bytes()).decode(),
                    },
                }
            ],
            "users": [{"name": CONTEXT_NAME, "user": {"token": self.token}}],
            "contexts": [{"name": CONTEXT_NAME, "context": {"cluster": CONTEXT_NAME, "user": CONTEXT_NAME}}],
            "current-context": CONTEXT_NAME,
        }
        _write_private(self.kubeconfig, yaml.safe_dump(config, sort_keys=False))
        _write_private(self.dir / "info.json", json.dumps(self.info(), indent=2, sort_keys=True) + "\n")

    def start(self) -> FaultProxy:
        """Serve on a background thread; returns once the proxy listens and its files are written."""
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            self._stopped = asyncio.Event()
            try:
                loop.run_until_complete(self._start())
            except BaseException as exc:  # handed to the starting thread
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_until_complete(self._stopped.wait())
            finally:
                loop.run_until_complete(self._stop())
                loop.close()

        self._thread = threading.Thread(target=run, name="netpol-lab-fault-proxy", daemon=True)
        self._thread.start()
        ready.wait(30)
        if failure:
            raise failure[0]
        if not self.url:
            raise RuntimeError("the fault proxy did not start within 30s")
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stopped is not None and self._thread is not None:
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._stopped.set)
            self._thread.join(15)
        self._thread = None
        with contextlib.suppress(OSError):
            (self.dir / "info.json").unlink()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.chmod(path, 0o600)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.lab.fault_proxy", description=__doc__.split("\n\n", maxsplit=1)[0]
    )
    parser.add_argument("--control-plane-info", type=Path, required=True, help="the control plane's info.json")
    parser.add_argument("--state-dir", type=Path, required=True, help="kubeconfig, CA and info.json go here")
    args = parser.parse_args(argv)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_args: done.set())
    signal.signal(signal.SIGINT, lambda *_args: done.set())
    proxy = FaultProxy(args.state_dir, json.loads(args.control_plane_info.read_text()))
    proxy.start()
    print(f"fault proxy {proxy.url} -> {proxy.upstream}; kubeconfig {proxy.kubeconfig}", flush=True)
    try:
        done.wait()
    finally:
        proxy.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
