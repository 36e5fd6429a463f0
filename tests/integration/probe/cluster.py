# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Helpers for the probe tests: seed the walkthrough's workload straight through the API, list pods.

Each takes the cluster handle a test has (`kube_lab`: the real lab behind the fault proxy); it only
needs its `client()` and `requests()`."""

from __future__ import annotations

import json
import time
from typing import Any

import kubernetes

from tests.lab.pod_exec import exec_in

JSON_BODY = {"Content-Type": "application/json"}
NAMESPACE = "netpol-demo"
PROBE_SELECTOR = "netpol.aks/probe=true"
READY_WITHIN = 120.0  # the real node starts a pod in seconds; a busy machine may take longer
RESTRICTED = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "runAsNonRoot": True,
    "capabilities": {"drop": ["ALL"]},
}


def _json(response: Any) -> Any:
    return json.loads(response.data)


def core(kube: Any) -> kubernetes.client.CoreV1Api:
    return kubernetes.client.CoreV1Api(kube.client())


# As the workload role does: the Service selects a second label, so pods given app=api to be selected by the
# policies (probe pods, or test-np in the label step) never become its endpoints.
SERVER_LABELS = {"app": "api", "app.kubernetes.io/component": "server"}


def client_pod(name: str, image: str = "busybox:1.36") -> dict:
    """A client pod like test-np (``run=<name>``, sleeping), fit for the restricted Pod Security level."""
    return {
        "metadata": {"name": name, "labels": {"run": name}},
        "spec": {
            "securityContext": {"runAsNonRoot": True, "runAsUser": 65534, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [
                {
                    "name": "client",
                    "image": image,
                    "command": ["sleep", "86400"],
                    "securityContext": RESTRICTED,
                    "resources": {"limits": {"cpu": "100m", "memory": "32Mi"}},
                }
            ],
        },
    }


def seed(kube: Any, *, policies: tuple[str, ...] = ()) -> dict[str, str]:
    """Namespace (PSA restricted), api Deployment + Service, client test-np; optional deny/allow policies.

    Returns {"api_pod": name, "api_ip": ip, "client_ip": ip}.
    """
    client = kube.client()
    api = kubernetes.client.CoreV1Api(client)
    apps = kubernetes.client.AppsV1Api(client)
    pod_sc = {"runAsNonRoot": True, "runAsUser": 101, "seccompProfile": {"type": "RuntimeDefault"}}
    api.create_namespace(
        {
            "metadata": {
                "name": NAMESPACE,
                "labels": {
                    "pod-security.kubernetes.io/enforce": "restricted",
                    "pod-security.kubernetes.io/warn": "restricted",
                },
            }
        },
        _preload_content=False,
        _headers=JSON_BODY,
    )
    apps.create_namespaced_deployment(
        NAMESPACE,
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "api", "labels": {"app": "api"}},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": SERVER_LABELS},
                "template": {
                    "metadata": {"labels": SERVER_LABELS},
                    "spec": {
                        "securityContext": pod_sc,
                        "containers": [
                            {
                                "name": "nginx",
                                "image": "nginxinc/nginx-unprivileged:1.27-alpine",
                                "ports": [{"name": "http", "containerPort": 8080}],
                                "securityContext": RESTRICTED,
                                "resources": {"limits": {"cpu": "200m", "memory": "128Mi"}},
                                "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
                            }
                        ],
                        "volumes": [{"name": "tmp", "emptyDir": {}}],
                    },
                },
            },
        },
        _preload_content=False,
        _headers=JSON_BODY,
    )
    api.create_namespaced_service(
        NAMESPACE,
        {
            "metadata": {"name": "api", "labels": {"app": "api"}},
            "spec": {"selector": SERVER_LABELS, "ports": [{"name": "http", "port": 80, "targetPort": 8080}]},
        },
        _preload_content=False,
        _headers=JSON_BODY,
    )
    api.create_namespaced_pod(NAMESPACE, client_pod("test-np"), _preload_content=False, _headers=JSON_BODY)
    workload = _wait_ready(kube)
    # The Service answers test-np before any policy exists (its endpoints are programmed), and a deny is
    # in force before the test starts: a test's first probe then sees the cluster as seeded.
    _wait_for_client(kube, "allowed")
    net = kubernetes.client.NetworkingV1Api(client)
    if "deny" in policies:
        net.create_namespaced_network_policy(
            NAMESPACE,
            {
                "metadata": {"name": "api-deny"},
                "spec": {"podSelector": {"matchLabels": {"app": "api"}}, "ingress": []},
            },
            _preload_content=False,
            _headers=JSON_BODY,
        )
    if "allow" in policies:
        net.create_namespaced_network_policy(
            NAMESPACE,
            {
                "metadata": {"name": "api-allow"},
                "spec": {
                    "podSelector": {"matchLabels": {"app": "api"}},
                    "ingress": [{"from": [{"namespaceSelector": {}, "podSelector": {"matchLabels": {"app": "api"}}}]}],
                },
            },
            _preload_content=False,
            _headers=JSON_BODY,
        )
    if "deny" in policies:
        _wait_for_client(kube, "blocked")
    return workload


def _wait_ready(kube: Any) -> dict[str, str]:
    deadline = time.monotonic() + READY_WITHIN
    while True:
        pods = {p["metadata"]["name"]: p for p in list_pods(kube)}
        api_pods = [p for name, p in pods.items() if name.startswith("api-")]
        ready = [p for p in [*api_pods, pods.get("test-np")] if p and _ready(p)]
        if len(ready) == 2:
            return {
                "api_pod": api_pods[0]["metadata"]["name"],
                "api_ip": api_pods[0]["status"]["podIP"],
                "client_ip": pods["test-np"]["status"]["podIP"],
            }
        assert time.monotonic() < deadline, f"workload not ready within {READY_WITHIN:.0f}s: {pods}"
        time.sleep(0.25)


def client_wget(kube: Any) -> str:
    """`wget http://api` in test-np, past the handle's request log (``direct_client`` when it has one):
    "allowed", "blocked" (timed out), or what wget said."""
    factory = getattr(kube, "direct_client", kube.client)
    command = ["wget", "-q", "-O", "-", "-T", "1", "http://api"]
    rc, output = exec_in(kubernetes.client.CoreV1Api(factory()), NAMESPACE, "test-np", command, "client")
    if rc == 0:
        return "allowed"
    if "timed out" in output:
        return "blocked"
    return f"rc={rc}: {output.strip()}"


def _wait_for_client(kube: Any, wanted: str) -> None:
    deadline = time.monotonic() + READY_WITHIN
    seen = []
    while (got := client_wget(kube)) != wanted:
        seen.append(got)
        assert time.monotonic() < deadline, f"test-np -> api still not {wanted} after {READY_WITHIN:.0f}s: {seen[-3:]}"
        time.sleep(0.25)


def _ready(pod: dict) -> bool:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    return bool(statuses) and all(s.get("ready") for s in statuses)


def list_pods(kube: Any, namespace: str = NAMESPACE, selector: str | None = None) -> list[dict]:
    kwargs = {"label_selector": selector} if selector else {}
    return _json(core(kube).list_namespaced_pod(namespace, _preload_content=False, **kwargs))["items"]


def probe_pods(kube: Any) -> list[str]:
    """Every probe pod in any namespace (the label the module puts on them)."""
    items = _json(core(kube).list_pod_for_all_namespaces(label_selector=PROBE_SELECTOR, _preload_content=False))
    return [f"{p['metadata']['namespace']}/{p['metadata']['name']}" for p in items["items"]]


def all_pod_names(kube: Any) -> list[str]:
    items = _json(core(kube).list_pod_for_all_namespaces(_preload_content=False))["items"]
    return sorted(f"{p['metadata']['namespace']}/{p['metadata']['name']}" for p in items)


def writes(kube: Any) -> list[dict]:
    """Requests that would change something (no GET/LIST), excluding the test's own /_fake calls."""
    return [
        r
        for r in kube.requests()
        if r["method"] in ("POST", "PUT", "PATCH", "DELETE") and not r["path"].startswith("/_fake")
    ]


def client_labels(kube: Any, pod: str = "test-np") -> dict:
    """The labels of the walkthrough's client pod."""
    return _json(core(kube).read_namespaced_pod(pod, NAMESPACE, _preload_content=False))["metadata"].get("labels") or {}


def policy_names(kube: Any) -> list[str]:
    """The NetworkPolicies in the walkthrough's namespace, sorted."""
    net = kubernetes.client.NetworkingV1Api(kube.client())
    return sorted(
        p["metadata"]["name"]
        for p in _json(net.list_namespaced_network_policy(NAMESPACE, _preload_content=False))["items"]
    )
