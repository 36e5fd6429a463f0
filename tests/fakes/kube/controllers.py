# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The simulated control loops: one asyncio task runs the kubelet (kubelet.py), the Deployment and
ReplicaSet controllers and the Endpoints controller whenever the store changes, and every TICK seconds
for the time-based steps.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import hashlib
import json
import time
import traceback
from typing import TYPE_CHECKING
from typing import Any

from tests.fakes.kube.errors import ApiError
from tests.fakes.kube.kubelet import Kubelet
from tests.fakes.kube.kubelet import pod_ready
from tests.fakes.kube.kubelet import resolve_target_port
from tests.fakes.kube.resources import BY_KIND
from tests.fakes.kube.selectors import selector_matches
from tests.fakes.kube.store import NODE_NAME
from tests.fakes.kube.store import Store
from tests.fakes.kube.store import now

if TYPE_CHECKING:
    from tests.fakes.kube.server import Context

TICK = 0.05
RETRY_FAILED_CREATE = 1.0


class Controllers:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.kubelet = Kubelet()
        self.failed_create: dict[str, float] = {}
        self._task: asyncio.Task | None = None

    def reset(self) -> None:
        self.kubelet.reset()
        self.failed_create.clear()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            store = self.ctx.store
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(store.changed.wait(), TICK)
            store.changed.clear()
            if store is not self.ctx.store:
                continue
            try:
                self.reconcile(store)
            except Exception:  # a controller bug must not kill the loop, nor pass unnoticed
                traceback.print_exc()
                self.ctx.internal_errors.append(traceback.format_exc())

    def reconcile(self, store: Store) -> None:
        self._deployments(store)
        self._replicasets(store)
        self.kubelet.reconcile(store)
        self._endpoints(store)

    # -- workloads ----------------------------------------------------------------------------

    def _owned(self, store: Store, kind: str, owner: dict) -> list[dict]:
        uid = owner["metadata"]["uid"]
        return [
            o
            for o in store.items(kind, owner["metadata"]["namespace"])
            if any(r.get("uid") == uid for r in o["metadata"].get("ownerReferences") or [])
        ]

    @staticmethod
    def _owner_ref(owner: dict) -> dict:
        return {
            "apiVersion": owner["apiVersion"],
            "kind": owner["kind"],
            "name": owner["metadata"]["name"],
            "uid": owner["metadata"]["uid"],
            "controller": True,
            "blockOwnerDeletion": True,
        }

    def _deployments(self, store: Store) -> None:
        for deploy in store.items("Deployment"):
            ns = deploy["metadata"]["namespace"]
            spec = deploy["spec"]
            template = copy.deepcopy(spec["template"])
            digest = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()
            pod_hash = "".join("bcdfghjklmnpqrstvwxz2456789"[int(digest[i : i + 2], 16) % 27] for i in range(0, 20, 2))
            rs_name = f"{deploy['metadata']['name']}-{pod_hash}"
            owned = self._owned(store, "ReplicaSet", deploy)
            revision = 1 + max(
                (
                    int(r["metadata"].get("annotations", {}).get("deployment.kubernetes.io/revision", "0"))
                    for r in owned
                ),
                default=0,
            )
            current = next((r for r in owned if r["metadata"]["name"] == rs_name), None)
            replicas = spec.get("replicas", 1)
            if current is None:
                labels = {**(template.get("metadata") or {}).get("labels", {}), "pod-template-hash": pod_hash}
                template.setdefault("metadata", {})["labels"] = labels
                selector = copy.deepcopy(spec["selector"])
                selector.setdefault("matchLabels", {})["pod-template-hash"] = pod_hash
                body = {
                    "metadata": {
                        "name": rs_name,
                        "labels": labels,
                        "annotations": {
                            "deployment.kubernetes.io/desired-replicas": str(replicas),
                            "deployment.kubernetes.io/max-replicas": str(replicas + 1),
                            "deployment.kubernetes.io/revision": str(revision),
                        },
                        "ownerReferences": [self._owner_ref(deploy)],
                    },
                    "spec": {"replicas": replicas, "selector": selector, "template": template},
                }
                try:
                    current, _unused = store.create(BY_KIND["ReplicaSet"], ns, body)
                except ApiError:
                    continue
            elif current["spec"].get("replicas") != replicas:
                body = copy.deepcopy(current)
                body["spec"]["replicas"] = replicas
                body["metadata"].setdefault("annotations", {})["deployment.kubernetes.io/desired-replicas"] = str(
                    replicas
                )
                current, _unused = store.update(
                    BY_KIND["ReplicaSet"], ns, current["metadata"]["name"], body, check_rv=False
                )
            for old in owned:
                if old["metadata"]["name"] != rs_name and old["spec"].get("replicas", 0) != 0:
                    body = copy.deepcopy(old)
                    body["spec"]["replicas"] = 0
                    store.update(BY_KIND["ReplicaSet"], ns, old["metadata"]["name"], body, check_rv=False)
            self._deployment_status(store, deploy, current, owned)

    def _deployment_status(self, store: Store, deploy: dict, current: dict, owned: list[dict]) -> None:
        sets = {r["metadata"]["uid"]: r for r in owned}
        sets[current["metadata"]["uid"]] = current
        total = ready = 0
        for rs in sets.values():
            st = rs.get("status") or {}
            total += st.get("replicas", 0)
            ready += st.get("readyReplicas", 0)
        current_status = current.get("status") or {}
        updated = current_status.get("replicas", 0)
        desired = deploy["spec"].get("replicas", 1)
        available = ready
        old = deploy.get("status") or {}
        stamp = now()

        def cond(kind: str, ok: bool, reason: str, message: str) -> dict:
            prev = next((c for c in old.get("conditions") or [] if c["type"] == kind), None)
            since = prev["lastTransitionTime"] if prev and prev["status"] == ("True" if ok else "False") else stamp
            updated_at = (
                prev["lastUpdateTime"]
                if prev and prev.get("reason") == reason and prev["status"] == ("True" if ok else "False")
                else stamp
            )
            return {
                "type": kind,
                "status": "True" if ok else "False",
                "lastUpdateTime": updated_at,
                "lastTransitionTime": since,
                "reason": reason,
                "message": message,
            }

        name = deploy["metadata"]["name"]
        rs_name = current["metadata"]["name"]
        complete = updated == desired and available == desired and total == desired
        conditions = [
            cond(
                "Available",
                available >= desired or desired == 0,
                "MinimumReplicasAvailable" if available >= desired else "MinimumReplicasUnavailable",
                "Deployment has minimum availability."
                if available >= desired
                else "Deployment does not have minimum availability.",
            ),
            cond(
                "Progressing",
                True,
                "NewReplicaSetAvailable" if complete else "ReplicaSetUpdated",
                f'ReplicaSet "{rs_name}" has successfully progressed.'
                if complete
                else f'ReplicaSet "{rs_name}" is progressing.',
            ),
        ]
        failure = next((c for c in current_status.get("conditions") or [] if c["type"] == "ReplicaFailure"), None)
        if failure:
            conditions.append(cond("ReplicaFailure", True, failure["reason"], failure["message"]))
        status: dict[str, Any] = {"observedGeneration": deploy["metadata"].get("generation", 1)}
        for key, value in (
            ("replicas", total),
            ("updatedReplicas", updated),
            ("readyReplicas", ready),
            ("availableReplicas", available),
        ):
            if value:
                status[key] = value
        if total - available > 0:
            status["unavailableReplicas"] = total - available
        status["conditions"] = conditions
        revision = current["metadata"].get("annotations", {}).get("deployment.kubernetes.io/revision", "1")
        annotations = dict(deploy["metadata"].get("annotations") or {})
        meta = None
        if annotations.get("deployment.kubernetes.io/revision") != revision:
            annotations["deployment.kubernetes.io/revision"] = revision
            meta = {"annotations": annotations}
        store.write_status("Deployment", deploy["metadata"]["namespace"], name, status, meta)

    def _replicasets(self, store: Store) -> None:
        for rs in store.items("ReplicaSet"):
            ns = rs["metadata"]["namespace"]
            pods = self._owned(store, "Pod", rs)
            desired = rs["spec"].get("replicas", 1)
            failure = None
            uid = rs["metadata"]["uid"]
            if len(pods) < desired and time.monotonic() >= self.failed_create.get(uid, 0):
                template = copy.deepcopy(rs["spec"]["template"])
                for _unused in range(desired - len(pods)):
                    body = {
                        "metadata": {
                            "generateName": rs["metadata"]["name"] + "-",
                            "labels": (template.get("metadata") or {}).get("labels", {}),
                            "annotations": (template.get("metadata") or {}).get("annotations", {}),
                            "ownerReferences": [self._owner_ref(rs)],
                        },
                        "spec": template.get("spec", {}),
                    }
                    if not body["metadata"]["annotations"]:
                        del body["metadata"]["annotations"]
                    try:
                        pod, _unused = store.create(BY_KIND["Pod"], ns, body)
                        pods.append(pod)
                        self.failed_create.pop(uid, None)
                    except ApiError as exc:
                        failure = exc.message
                        self.failed_create[uid] = time.monotonic() + RETRY_FAILED_CREATE
                        break
            elif uid in self.failed_create and len(pods) < desired:
                previous = next(
                    (c for c in (rs.get("status") or {}).get("conditions") or [] if c["type"] == "ReplicaFailure"), None
                )
                failure = previous["message"] if previous else None
            if len(pods) > desired:
                for pod in sorted(pods, key=lambda p: p["metadata"]["creationTimestamp"], reverse=True)[
                    : len(pods) - desired
                ]:
                    store.delete(BY_KIND["Pod"], ns, pod["metadata"]["name"])
                pods = self._owned(store, "Pod", rs)
            ready = sum(1 for p in pods if pod_ready(p))
            status: dict[str, Any] = {"replicas": len(pods)}
            if pods:
                status["fullyLabeledReplicas"] = sum(
                    1 for p in pods if selector_matches(rs["spec"]["selector"], p["metadata"].get("labels"))
                )
            if ready:
                status["readyReplicas"] = ready
                status["availableReplicas"] = ready
            status["observedGeneration"] = rs["metadata"].get("generation", 1)
            if failure:
                old = next(
                    (c for c in (rs.get("status") or {}).get("conditions") or [] if c["type"] == "ReplicaFailure"), None
                )
                status["conditions"] = [
                    {
                        "type": "ReplicaFailure",
                        "status": "True",
                        "lastTransitionTime": old["lastTransitionTime"] if old else now(),
                        "reason": "FailedCreate",
                        "message": failure,
                    }
                ]
            store.write_status("ReplicaSet", ns, rs["metadata"]["name"], status)

    # -- endpoints ----------------------------------------------------------------------------

    def _endpoints(self, store: Store) -> None:
        for svc in store.items("Service"):
            selector = (svc.get("spec") or {}).get("selector")
            if not selector:
                continue
            ns = svc["metadata"]["namespace"]
            name = svc["metadata"]["name"]
            subsets: dict[str, dict] = {}
            for pod in store.items("Pod", ns):
                if not selector_matches({"matchLabels": selector}, pod["metadata"].get("labels")):
                    continue
                ip = (pod.get("status") or {}).get("podIP")
                if not ip or pod["metadata"].get("deletionTimestamp"):
                    continue
                ports = []
                for sp in svc["spec"].get("ports") or []:
                    number = resolve_target_port(pod, sp)
                    if number is None:
                        continue
                    entry = {"port": number, "protocol": sp.get("protocol", "TCP")}
                    if sp.get("name"):
                        entry = {"name": sp["name"], **entry}
                    ports.append(entry)
                if not ports:
                    continue
                key = json.dumps(ports, sort_keys=True)
                subset = subsets.setdefault(key, {"addresses": [], "notReadyAddresses": [], "ports": ports})
                address = {
                    "ip": ip,
                    "nodeName": NODE_NAME,
                    "targetRef": {
                        "kind": "Pod",
                        "namespace": ns,
                        "name": pod["metadata"]["name"],
                        "uid": pod["metadata"]["uid"],
                    },
                }
                subset["addresses" if pod_ready(pod) else "notReadyAddresses"].append(address)
            body: dict[str, Any] = {"metadata": {"name": name, "labels": dict(svc["metadata"].get("labels") or {})}}
            cleaned = []
            for subset in subsets.values():
                out = {k: v for k, v in subset.items() if v}
                cleaned.append(out)
            if cleaned:
                body["subsets"] = cleaned
            if not body["metadata"]["labels"]:
                del body["metadata"]["labels"]
            existing = store.find("Endpoints", ns, name)
            if existing is None:
                with contextlib.suppress(ApiError):
                    store.create(BY_KIND["Endpoints"], ns, body)
            elif existing.get("subsets") != body.get("subsets") or existing["metadata"].get("labels") != body[
                "metadata"
            ].get("labels"):
                update = copy.deepcopy(existing)
                update["subsets"] = body.get("subsets")
                if update["subsets"] is None:
                    del update["subsets"]
                update["metadata"]["labels"] = body["metadata"].get("labels")
                if update["metadata"]["labels"] is None:
                    del update["metadata"]["labels"]
                with contextlib.suppress(ApiError):
                    store.update(BY_KIND["Endpoints"], ns, name, update, check_rv=False)
