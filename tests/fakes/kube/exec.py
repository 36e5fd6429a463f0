# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""pods/exec over a websocket (v5.channel.k8s.io, v4.channel.k8s.io, channel.k8s.io) and pods/log.

Channels: 0 stdin, 1 stdout, 2 stderr, 3 status (v4/v5: a Status JSON; Success, or Failure with reason
NonZeroExitCode and details.causes [{reason: ExitCode, message: "<rc>"}]), 255 close (v5, from the
client: half-closes stdin). Errors before the upgrade (missing pod, container not running) are HTTP
Status answers, as kube-apiserver gives them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import traceback
from typing import TYPE_CHECKING

from aiohttp import WSMsgType
from aiohttp import web

from tests.fakes.kube import errors
from tests.fakes.kube import images
from tests.fakes.kube.api import CTX_KEY
from tests.fakes.kube.shell import Output
from tests.fakes.kube.shell import Shell

if TYPE_CHECKING:
    from tests.fakes.kube.api import Target
    from tests.fakes.kube.server import Context

PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io", "channel.k8s.io")
STDIN, STDOUT, STDERR, ERROR, CLOSE = 0, 1, 2, 3, 255


def _truthy(value: str | None) -> bool:
    return (value or "").lower() in ("true", "1")


def _pick_container(pod: dict, name: str | None) -> dict:
    containers = pod["spec"].get("containers") or []
    pod_name = pod["metadata"]["name"]
    if not name:
        if len(containers) == 1:
            return containers[0]
        names = " ".join(c["name"] for c in containers)
        raise errors.bad_request(f"a container name must be specified for pod {pod_name}, choose one of: [{names}]")
    for c in containers:
        if c["name"] == name:
            return c
    raise errors.bad_request(f"container {name} is not valid for pod {pod_name}")


def _check_running(ctx: Context, pod: dict, container: dict) -> None:
    """The API server's answer when the container cannot take an exec (or a log request)."""
    pod_name = pod["metadata"]["name"]
    status = pod.get("status") or {}
    phase = status.get("phase")
    if phase in ("Succeeded", "Failed"):
        raise errors.bad_request(f"cannot exec into a container in a completed pod; current phase is {phase}")
    if not pod["spec"].get("nodeName"):
        raise errors.bad_request(f"pod {pod_name} does not have a host assigned")
    cs = next((c for c in status.get("containerStatuses") or [] if c["name"] == container["name"]), None)
    state = (cs or {}).get("state") or {"waiting": {"reason": "ContainerCreating"}}
    if "running" in state:
        return
    reason = (state.get("waiting") or {}).get("reason", "")
    if reason in ("ErrImagePull", "ImagePullBackOff"):
        raise errors.bad_request(
            f'container "{container["name"]}" in pod "{pod_name}" is waiting to start: trying and failing to pull image'
        )
    if reason == "CrashLoopBackOff" or "terminated" in state:
        raise errors.bad_request(f'unable to upgrade connection: container not found ("{container["name"]}")')
    raise errors.bad_request(
        f'container "{container["name"]}" in pod "{pod_name}" is waiting to start: {reason or "ContainerCreating"}'
    )


async def exec_handler(request: web.Request, target: Target) -> web.StreamResponse:
    ctx: Context = request.app[CTX_KEY]
    if request.method not in ("GET", "POST"):
        raise errors.method_not_allowed()
    pod = ctx.store.get(target.kind, target.namespace, target.name or "")
    commands = request.query.getall("command", [])
    container = _pick_container(pod, request.query.get("container"))
    if not commands:
        raise errors.bad_request("you must specify at least 1 command")
    use_stdin = _truthy(request.query.get("stdin"))
    use_stdout = _truthy(request.query.get("stdout"))
    use_stderr = _truthy(request.query.get("stderr"))
    if not (use_stdin or use_stdout or use_stderr):
        raise errors.bad_request("you must specify at least 1 of stdin, stdout, stderr")
    _check_running(ctx, pod, container)
    if request.headers.get("Upgrade", "").lower() != "websocket":
        raise errors.bad_request("Upgrade request required")
    ws = web.WebSocketResponse(protocols=PROTOCOLS, autoping=True, heartbeat=None, max_msg_size=0)
    if not ws.can_prepare(request).ok:
        raise errors.bad_request("Upgrade request required")
    await ws.prepare(request)
    protocol = ws.ws_protocol or "channel.k8s.io"
    if ctx.config.get("exec_failure", 0) > 0:
        ctx.config["exec_failure"] -= 1
        # A broken stream: no status on channel 3, the connection just ends.
        await ws.close(code=1011, message=b"stream error: the netpol lab double injected an exec failure")
        return ws

    lock = asyncio.Lock()

    async def send(channel: int, text: str) -> None:
        if not text or ws.closed:
            return
        data = text.encode()
        async with lock:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await ws.send_bytes(bytes([channel]) + data)

    async def stdout(text: str) -> None:
        if use_stdout:
            await send(STDOUT, text)

    async def stderr(text: str) -> None:
        if use_stderr:
            await send(STDERR, text)

    stdin_queue: asyncio.Queue | None = asyncio.Queue() if use_stdin else None

    async def reader() -> None:
        async for msg in ws:
            if msg.type == WSMsgType.BINARY and msg.data:
                channel, payload = msg.data[0], msg.data[1:]
            elif msg.type == WSMsgType.TEXT and msg.data:
                channel, payload = ord(msg.data[0]), msg.data[1:].encode()
            else:
                continue
            if stdin_queue is None:
                continue
            if channel == STDIN:
                stdin_queue.put_nowait(payload.decode(errors="replace"))
            elif channel == CLOSE and payload[:1] == bytes([STDIN]) and protocol.startswith("v5"):
                stdin_queue.put_nowait(None)
        if stdin_queue is not None:
            stdin_queue.put_nowait(None)

    read_task = asyncio.create_task(reader())
    shell = Shell(ctx, pod, container)
    try:
        rc = await shell.run(commands, Output(stdout, stderr, stdin_queue))
    except Exception as exc:  # an emulation bug shows as a Failure status, never as a pass
        ctx.internal_errors.append(traceback.format_exc())
        status = {
            "metadata": {},
            "status": "Failure",
            "message": f"Internal error occurred: error executing command in container: {exc!r}",
            "reason": "InternalError",
            "code": 500,
        }
        rc = None
    else:
        if rc == 0:
            status = {"metadata": {}, "status": "Success"}
        else:
            status = {
                "metadata": {},
                "status": "Failure",
                "message": f"command terminated with non-zero exit code: error executing command [{' '.join(commands)}], exit code {rc}",
                "reason": "NonZeroExitCode",
                "details": {"causes": [{"reason": "ExitCode", "message": str(rc)}]},
            }
    if protocol == "channel.k8s.io":
        if rc != 0:
            await send(ERROR, status.get("message", ""))
    else:
        await send(ERROR, json.dumps(status))
    read_task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await read_task
    await ws.close()
    return ws


async def log_handler(request: web.Request, target: Target) -> web.StreamResponse:
    ctx: Context = request.app[CTX_KEY]
    pod = ctx.store.get(target.kind, target.namespace, target.name or "")
    container = _pick_container(pod, request.query.get("container"))
    status = pod.get("status") or {}
    cs = next((c for c in status.get("containerStatuses") or [] if c["name"] == container["name"]), None)
    state = (cs or {}).get("state") or {"waiting": {"reason": "ContainerCreating"}}
    if "waiting" in state and not (cs or {}).get("lastState"):
        reason = state["waiting"].get("reason", "ContainerCreating")
        detail = "trying and failing to pull image" if reason in ("ErrImagePull", "ImagePullBackOff") else reason
        raise errors.bad_request(
            f'container "{container["name"]}" in pod "{pod["metadata"]["name"]}" is waiting to start: {detail}'
        )
    lines: list[str] = []
    image = images.lookup(container.get("image", ""))
    if image is not None and image.family == "nginx":
        started = (state.get("running") or {}).get("startedAt", "")
        stamp = started.replace("-", "/").replace("T", " ").rstrip("Z")
        lines += [
            "/docker-entrypoint.sh: /docker-entrypoint.d/ is not empty, will attempt to perform configuration",
            "/docker-entrypoint.sh: Looking for shell scripts in /docker-entrypoint.d/",
            "/docker-entrypoint.sh: Launching /docker-entrypoint.d/10-listen-on-ipv6-by-default.sh",
            "/docker-entrypoint.sh: Configuration complete; ready for start up",
            f'{stamp} [notice] 1#1: using the "epoll" event method',
            f"{stamp} [notice] 1#1: nginx/1.29.3",
            f"{stamp} [notice] 1#1: start worker processes",
        ]
        lines += ctx.dataplane.access_log.get(f"{pod['metadata']['uid']}/{container['name']}", [])
    tail = request.query.get("tailLines")
    if tail is not None:
        if not tail.isdigit():
            raise errors.bad_request(f'strconv.ParseInt: parsing "{tail}": invalid syntax')
        lines = lines[-int(tail) :] if int(tail) else []
    text = "".join(line + "\n" for line in lines)
    return web.Response(text=text, content_type="text/plain")
