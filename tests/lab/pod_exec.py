# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Run a command in a pod as the collection and kubernetes.core.k8s_exec do: the kubernetes client's
websocket exec through the API server (the lab's tests use it to look from inside a pod)."""

from __future__ import annotations

from typing import Any

from kubernetes.stream import stream

EXEC_TIMEOUT = 60


def exec_in(
    core: Any, namespace: str, pod: str, command: list[str], container: str | None = None
) -> tuple[int | None, str]:
    """(exit code, stdout + stderr) of ``command`` in ``namespace/pod``; the code is None when the
    stream ended without a status."""
    resp = stream(
        core.connect_get_namespaced_pod_exec,
        pod,
        namespace,
        command=command,
        container=container,
        stderr=True,
        stdin=False,
        stdout=True,
        tty=False,
        _preload_content=False,
    )
    try:
        resp.run_forever(timeout=EXEC_TIMEOUT)
        return resp.returncode, resp.read_stdout() + resp.read_stderr()
    finally:
        resp.close()
