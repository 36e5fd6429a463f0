# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Helpers for the Kubernetes double's own tests: typed clients, raw HTTP, exec, polling."""
# The `cluster` fixture lives in conftest.py next to this file.

from __future__ import annotations

import json
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import kubernetes
import pytest
import yaml
from kubernetes.stream import stream

NS = "netpol-demo"
RESTRICTED_SC = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}


@dataclass
class Raw:
    status: int
    body: Any
    headers: Any


class Cluster:
    """A test's view of one double: typed APIs plus raw HTTP for what the typed client hides."""

    def __init__(self, double: Any) -> None:
        self.double = double
        self.client = double.client()
        self.core = kubernetes.client.CoreV1Api(self.client)
        self.apps = kubernetes.client.AppsV1Api(self.client)
        self.net = kubernetes.client.NetworkingV1Api(self.client)

    def http(
        self, method: str, path: str, body: Any = None, content_type: str = "application/json", token: bool = True
    ) -> Raw:
        data = None
        if body is not None:
            data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        headers = {"Content-Type": content_type, "Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {self.double.token}"
        request = urllib.request.Request(self.double.url + path, data=data, method=method, headers=headers)
        context = ssl.create_default_context(cafile=str(self.double.ca_file))
        try:
            with urllib.request.urlopen(request, context=context, timeout=30) as response:
                raw = response.read()
                status, response_headers = response.status, response.headers
        except urllib.error.HTTPError as exc:
            raw, status, response_headers = exc.read(), exc.code, exc.headers
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = raw.decode()
        return Raw(status, parsed, response_headers)

    def apply_yaml(self, text: str) -> list[Raw]:
        """POST every document (path from apiVersion/kind/namespace), failing loudly on errors."""
        out = []
        for doc in yaml.safe_load_all(text):
            out.append(self.create(doc))
        return out

    def path_for(self, doc: dict) -> str:
        plural = {
            "Namespace": "namespaces",
            "Pod": "pods",
            "Service": "services",
            "Deployment": "deployments",
            "NetworkPolicy": "networkpolicies",
            "Endpoints": "endpoints",
            "ReplicaSet": "replicasets",
        }[doc["kind"]]
        base = "/api/v1" if doc["apiVersion"] == "v1" else f"/apis/{doc['apiVersion']}"
        ns = doc.get("metadata", {}).get("namespace")
        return f"{base}/namespaces/{ns}/{plural}" if ns and doc["kind"] != "Namespace" else f"{base}/{plural}"

    def create(self, doc: dict, expect: int = 201) -> Raw:
        raw = self.http("POST", self.path_for(doc), doc)
        assert raw.status == expect, raw.body
        return raw

    def namespace(self, name: str = NS, labels: dict | None = None) -> None:
        self.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels or {}}})

    def pod(
        self, name: str, image: str = "busybox:1.36", labels: dict | None = None, ns: str = NS, **spec: Any
    ) -> dict:
        container = {"name": "main", "image": image}
        if "nginx" not in image:
            container["command"] = ["sleep", "3600"]
        container.update(spec.pop("container", {}))
        doc = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "namespace": ns, "labels": labels or {}},
            "spec": {"containers": [container], **spec},
        }
        return self.create(doc).body

    def api_workload(self, ns: str = NS, port: int = 80) -> None:
        """The walkthrough's `kubectl run api --image=nginx --labels app=api --expose --port 80`."""
        self.pod(
            "api", image="nginx:1.29", labels={"app": "api"}, ns=ns, container={"ports": [{"containerPort": port}]}
        )
        self.create(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": "api", "namespace": ns},
                "spec": {"selector": {"app": "api"}, "ports": [{"port": 80, "targetPort": port}]},
            }
        )

    def wait(self, predicate: Callable[[], Any], what: str, timeout: float = 20.0) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                pytest.fail(f"timed out waiting for {what}")
            time.sleep(0.05)

    def ready(self, name: str, ns: str = NS) -> dict:
        def check() -> Any:
            pod = self.http("GET", f"/api/v1/namespaces/{ns}/pods/{name}").body
            statuses = (pod.get("status") or {}).get("containerStatuses") or []
            return pod if statuses and all(s["ready"] for s in statuses) else None

        return self.wait(check, f"pod {ns}/{name} to be ready")

    def exec(
        self, pod: str, command: list[str], ns: str = NS, container: str | None = None
    ) -> tuple[int | None, str, str]:
        """Run a command through kubernetes.stream; return (rc, stdout, stderr)."""
        kwargs = {"container": container} if container else {}
        resp = stream(
            self.core.connect_get_namespaced_pod_exec,
            pod,
            ns,
            command=command,
            stdout=True,
            stderr=True,
            stdin=False,
            tty=False,
            _preload_content=False,
            **kwargs,
        )
        out, err = [], []
        while resp.is_open():
            resp.update(timeout=1)
            if resp.peek_stdout():
                out.append(resp.read_stdout())
            if resp.peek_stderr():
                err.append(resp.read_stderr())
        raw = resp.read_channel(3)
        status = yaml.safe_load(raw) if raw else None
        if status is None:
            rc = None
        elif status["status"] == "Success":
            rc = 0
        elif status.get("reason") == "NonZeroExitCode":
            rc = int(status["details"]["causes"][0]["message"])
        else:
            rc = None  # InternalError and friends: the command's fate is unknown
        return rc, "".join(out), "".join(err)
