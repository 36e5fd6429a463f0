# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The simulated pod network: cluster DNS, kube-proxy (Service -> backend pod) and the CNI's policy
enforcement, decided by the collection's NetworkPolicy engine (`plugins/module_utils/netpol.py`).
"""

from __future__ import annotations

import copy
import datetime
import ipaddress
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING
from typing import Any

from tests.fakes.kube import images
from tests.fakes.kube.kubelet import pod_ready
from tests.fakes.kube.kubelet import resolve_target_port

if TYPE_CHECKING:
    from tests.fakes.kube.server import Context

CLUSTER_DOMAIN = "cluster.local"
# A SYN that nobody answers: Linux gives up after ~127 s (tcp_syn_retries = 6).
CONNECT_TIMEOUT = 127.0
# A DNS query that nobody answers: the resolver gives up after its timeout (resolv.conf default 5 s).
DNS_TIMEOUT = 5.0
# Cluster DNS as NetworkPolicies see it: CoreDNS pods in kube-system labelled k8s-app=kube-dns behind
# the Service IP 10.0.0.10. The double does not list this pod through the API; it only exists for the
# policy engine, so that a default-deny egress policy breaks name resolution as it does on a cluster.
DNS_POD = {
    "namespace": "kube-system",
    "name": "coredns-netpol-lab",
    "labels": {"k8s-app": "kube-dns"},
    "ip": "10.244.0.2",
    "ports": [
        {"name": "dns", "port": 53, "protocol": "UDP"},
        {"name": "dns-tcp", "port": 53, "protocol": "TCP"},
        {"name": "metrics", "port": 9153, "protocol": "TCP"},
    ],
}


@dataclass
class Connection:
    """What happened to one TCP connection attempt."""

    outcome: str  # ok | refused | timeout
    ip: str
    pod: dict | None = None  # the backend pod that answered
    container: dict | None = None
    reason: str = ""  # why (the engine's explanation for a blocked connection)


class DataPlane:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.access_log: dict[str, list[str]] = {}
        self._history: list[tuple[float, list[dict]]] = [(float("-inf"), [])]
        self._engine_cache: tuple[Any, Any] | None = None
        ctx.store.subscribe(self._on_event)

    def reset(self) -> None:
        self.access_log.clear()
        self._history = [(float("-inf"), [])]
        self._engine_cache = None
        self.ctx.store.subscribe(self._on_event)

    def config_changed(self) -> None:
        self._engine_cache = None

    def _on_event(self, event: str, kind: str, obj: dict) -> None:
        if kind == "NetworkPolicy":
            self._history.append((time.monotonic(), copy.deepcopy(self.ctx.store.items("NetworkPolicy"))))
            self._history = self._history[-50:]

    def effective_policies(self) -> tuple[int, list[dict]]:
        """The policies the CNI enforces now: a change takes effect `enforcement_delay_seconds` later."""
        delay = float(self.ctx.config.get("enforcement_delay_seconds") or 0)
        cutoff = time.monotonic() - delay
        for index in range(len(self._history) - 1, -1, -1):
            if self._history[index][0] <= cutoff:
                return index, self._history[index][1]
        return 0, []

    # -- DNS ----------------------------------------------------------------------------------

    def resolve(self, name: str, source_namespace: str) -> str | None:
        """Cluster DNS as seen from a pod in `source_namespace` (search path ns.svc, svc, cluster.local)."""
        host = name.rstrip(".").lower()
        try:
            return str(ipaddress.ip_address(host))
        except ValueError:
            pass
        store = self.ctx.store
        labels = host.split(".")
        suffix = ["svc", *CLUSTER_DOMAIN.split(".")]
        candidates: list[tuple[str, str]] = []
        if len(labels) == 1:
            candidates.append((labels[0], source_namespace))
        elif len(labels) == 2 or (labels[2:] == suffix[: len(labels) - 2] and len(labels) in (3, 5)):
            candidates.append((labels[0], labels[1]))
        if (len(labels) >= 4 and labels[2:4] == ["pod", "cluster"]) or (len(labels) == 3 and labels[2] == "pod"):
            try:
                return str(ipaddress.ip_address(labels[0].replace("-", ".")))
            except ValueError:
                return None
        for service_name, namespace in candidates:
            svc = store.find("Service", namespace, service_name)
            if svc is None:
                continue
            cluster_ip = (svc.get("spec") or {}).get("clusterIP")
            if cluster_ip and cluster_ip != "None":
                return cluster_ip
            endpoints = store.find("Endpoints", namespace, service_name) or {}
            for subset in endpoints.get("subsets") or []:
                for address in subset.get("addresses") or []:
                    return address["ip"]
            return None
        return None

    # -- connections --------------------------------------------------------------------------

    def _pod_by_ip(self, ip: str) -> dict | None:
        for pod in self.ctx.store.items("Pod"):
            if (pod.get("status") or {}).get("podIP") == ip:
                return pod
        return None

    def _service_by_ip(self, ip: str) -> dict | None:
        for svc in self.ctx.store.items("Service"):
            if (svc.get("spec") or {}).get("clusterIP") == ip:
                return svc
        return None

    def _engine(self) -> Any:
        from ansible_collections.netpol.aks.plugins.module_utils import netpol

        index, policies = self.effective_policies()
        key = (self.ctx.store.resource_version, index, id(self.ctx.store))
        if self._engine_cache is not None and self._engine_cache[0] == key:
            return self._engine_cache[1]
        store = self.ctx.store
        namespaces = [
            {"name": ns["metadata"]["name"], "labels": dict(ns["metadata"].get("labels") or {})}
            for ns in store.items("Namespace")
        ]
        pods = []
        for pod in store.items("Pod"):
            ports = []
            for c in (pod.get("spec") or {}).get("containers") or []:
                for p in c.get("ports") or []:
                    entry = {"port": p["containerPort"], "protocol": p.get("protocol", "TCP")}
                    if p.get("name"):
                        entry["name"] = p["name"]
                    ports.append(entry)
            pods.append(
                {
                    "namespace": pod["metadata"]["namespace"],
                    "name": pod["metadata"]["name"],
                    "labels": dict(pod["metadata"].get("labels") or {}),
                    "ip": (pod.get("status") or {}).get("podIP"),
                    "ports": ports,
                }
            )
        if not any(p["namespace"] == DNS_POD["namespace"] and p["name"] == DNS_POD["name"] for p in pods):
            pods.append(DNS_POD)
        live = {(p["metadata"]["namespace"], p["metadata"]["name"]) for p in store.items("NetworkPolicy")}
        # A policy deleted from the API but still enforced (delay) lives on; namespaces that went away do not.
        known = {n["name"] for n in namespaces}
        effective = [
            p
            for p in policies
            if p["metadata"]["namespace"] in known or (p["metadata"]["namespace"], p["metadata"]["name"]) in live
        ]
        engine = netpol.Cluster(namespaces=namespaces, pods=pods, policies=effective, validate=False)
        self._engine_cache = (key, engine)
        return engine

    def dns_allowed(self, source: dict) -> bool:
        """May `source` send DNS queries (53/UDP) to the cluster's DNS pods?"""
        if self.ctx.config.get("enforcement") == "none":
            return True
        src = f"{source['metadata']['namespace']}/{source['metadata']['name']}"
        decision = self._engine().evaluate(src, f"{DNS_POD['namespace']}/{DNS_POD['name']}", 53, "UDP")
        return bool(decision.allowed if decision.allowed is not None else True)

    def allowed(self, source: dict, target: dict | str, port: int, protocol: str = "TCP") -> tuple[bool, str]:
        """May `source` (a pod) reach `target` (a pod, or an IP outside the pod network) on port/protocol?"""
        if self.ctx.config.get("enforcement") == "none":
            return True, "the CNI does not enforce NetworkPolicy (enforcement: none)"
        src = f"{source['metadata']['namespace']}/{source['metadata']['name']}"
        if isinstance(target, dict):
            if target["metadata"]["uid"] == source["metadata"]["uid"]:
                return True, "a pod talking to itself"
            dst: Any = f"{target['metadata']['namespace']}/{target['metadata']['name']}"
        else:
            dst = {"ip": target}
        decision = self._engine().evaluate(src, dst, port, protocol)
        allowed = decision.allowed if decision.allowed is not None else True
        return bool(allowed), decision.reason

    def connect(self, source: dict, ip: str, port: int, protocol: str = "TCP") -> Connection:
        """One TCP connection from the pod `source` to ip:port, through kube-proxy and the CNI."""
        svc = self._service_by_ip(ip)
        backend: dict | None
        target_port = port
        if svc is not None:
            service_port = next(
                (
                    p
                    for p in svc["spec"].get("ports") or []
                    if p.get("port") == port and p.get("protocol", "TCP") == protocol
                ),
                None,
            )
            if service_port is None:
                return Connection(
                    "timeout", ip, reason=f"service {svc['metadata']['name']} has no port {port}/{protocol}"
                )
            backends = []
            for pod in self.ctx.store.items("Pod", svc["metadata"]["namespace"]):
                if not pod_ready(pod) or not svc["spec"].get("selector"):
                    continue
                from tests.fakes.kube.selectors import selector_matches

                if selector_matches({"matchLabels": svc["spec"]["selector"]}, pod["metadata"].get("labels")):
                    number = resolve_target_port(pod, service_port)
                    if number is not None:
                        backends.append((pod, number))
            if not backends:
                return Connection("refused", ip, reason=f"service {svc['metadata']['name']} has no ready endpoints")
            backend, target_port = backends[0]
        else:
            backend = self._pod_by_ip(ip)
            if backend is None:
                allowed, reason = self.allowed(source, ip, port, protocol)
                return Connection("timeout", ip, reason=reason if not allowed else f"nothing answers at {ip}")
        allowed, reason = self.allowed(source, backend, target_port, protocol)
        if not allowed:
            return Connection("timeout", ip, backend, reason=reason)
        container = self.listener(backend, target_port, protocol)
        if container is None:
            return Connection(
                "refused",
                ip,
                backend,
                reason=f"nothing listens on {target_port}/{protocol} in {backend['metadata']['name']}",
            )
        return Connection("ok", ip, backend, container, reason)

    def listener(self, pod: dict, port: int, protocol: str) -> dict | None:
        """The running container of `pod` that listens on port/protocol (nginx-like images only)."""
        statuses = {cs["name"]: cs for cs in (pod.get("status") or {}).get("containerStatuses") or []}
        if protocol != "TCP":
            return None
        for c in (pod.get("spec") or {}).get("containers") or []:
            cs = statuses.get(c["name"])
            if cs is None or "running" not in cs.get("state", {}):
                continue
            image = images.lookup(c.get("image", ""))
            if image is None or image.family != "nginx":
                continue
            ports = set(image.http_ports) | {
                p["containerPort"] for p in c.get("ports") or [] if p.get("protocol", "TCP") == "TCP"
            }
            if port in ports:
                return c
        return None

    def log_access(
        self, pod: dict, container: str, client_ip: str, path: str, status: int, size: int, agent: str
    ) -> None:
        stamp = datetime.datetime.now(datetime.UTC).strftime("%d/%b/%Y:%H:%M:%S +0000")
        key = f"{pod['metadata']['uid']}/{container}"
        self.access_log.setdefault(key, []).append(
            f'{client_ip} - - [{stamp}] "GET {path} HTTP/1.1" {status} {size} "-" "{agent}" "-"'
        )
