# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The simulated scheduler and kubelet: pod placement, IPs, container states and pod status.

A pod is scheduled at once, gets its IP after ~0.1 s and is Running and Ready after ~0.25 s, unless its
image cannot be pulled, its security context cannot be satisfied or its command ends at once. The
loop that calls `Kubelet.reconcile` lives in controllers.py.
"""

from __future__ import annotations

import copy
import hashlib
import time
from typing import Any

from tests.fakes.kube import images
from tests.fakes.kube.store import NODE_IP
from tests.fakes.kube.store import NODE_NAME
from tests.fakes.kube.store import Store
from tests.fakes.kube.store import now

SCHEDULE_AFTER = 0.02
SANDBOX_AFTER = 0.1
START_AFTER = 0.25
BACKOFF_AFTER = 0.6
_LONG_RUNNING = ("sleep", "tail", "nginx", "httpd", "/docker-entrypoint.sh")


def _condition(kind: str, status: bool, since: str, reason: str | None = None, message: str | None = None) -> dict:
    cond: dict[str, Any] = {
        "type": kind,
        "status": "True" if status else "False",
        "lastProbeTime": None,
        "lastTransitionTime": since,
    }
    if reason:
        cond["reason"] = reason
    if message:
        cond["message"] = message
    return cond


class PodRuntime:
    def __init__(self) -> None:
        self.created = time.monotonic()
        self.ip: str | None = None
        self.times: dict[str, str] = {}
        self.container_ids: dict[str, str] = {}

    def stamp(self, key: str) -> str:
        return self.times.setdefault(key, now())


class Kubelet:
    """Pod lifecycle on the one simulated node; runtime state per pod uid."""

    def __init__(self) -> None:
        self.pods: dict[str, PodRuntime] = {}

    def reset(self) -> None:
        self.pods.clear()

    def runtime(self, pod: dict) -> PodRuntime:
        uid = pod["metadata"]["uid"]
        if uid not in self.pods:
            self.pods[uid] = PodRuntime()
        return self.pods[uid]

    def reconcile(self, store: Store) -> None:
        live = set()
        for pod in store.items("Pod"):
            uid = pod["metadata"]["uid"]
            live.add(uid)
            rt = self.runtime(pod)
            age = time.monotonic() - rt.created
            if age < SCHEDULE_AFTER:
                continue
            status = self.pod_status(store, pod, rt, age)
            meta = {}
            if not pod["spec"].get("nodeName"):
                spec = copy.deepcopy(pod["spec"])
                spec["nodeName"] = NODE_NAME
                key = (pod["metadata"]["namespace"], pod["metadata"]["name"])
                pod = {**pod, "spec": spec}
                store.objects["pods"][key] = pod
            store.write_status("Pod", pod["metadata"]["namespace"], pod["metadata"]["name"], status, meta or None)
        for uid in set(self.pods) - live:
            del self.pods[uid]

    def pod_status(self, store: Store, pod: dict, rt: PodRuntime, age: float) -> dict:
        spec = pod["spec"]
        old = pod.get("status") or {}
        scheduled = rt.stamp("scheduled")
        status: dict[str, Any] = {"phase": "Pending"}
        conditions = [_condition("PodScheduled", True, scheduled)]
        if age < SANDBOX_AFTER:
            status["conditions"] = conditions
            status["qosClass"] = old.get("qosClass", "BestEffort")
            return status
        if rt.ip is None:
            rt.ip = store.allocate_pod_ip()
        started = rt.stamp("sandbox")
        statuses = []
        all_ready = True
        any_running = False
        for c in spec.get("containers") or []:
            cs = self.container_status(pod, c, rt, age)
            statuses.append(cs)
            all_ready = all_ready and cs["ready"]
            # A container that ran once (CrashLoopBackOff) keeps the pod Running, as the kubelet reports it.
            any_running = any_running or "running" in cs["state"] or "terminated" in cs.get("lastState", {})
        ready_since = rt.stamp("ready") if all_ready else rt.stamp("not-ready")
        if not all_ready:
            rt.times.pop("ready", None)
        else:
            rt.times.pop("not-ready", None)
        waiting = [c["name"] for c in statuses if not c["ready"]]
        message = f"containers with unready status: [{' '.join(waiting)}]" if waiting else None
        conditions = [
            _condition("PodReadyToStartContainers", True, started),
            _condition("Initialized", True, started),
            _condition("Ready", all_ready, ready_since, None if all_ready else "ContainersNotReady", message),
            _condition("ContainersReady", all_ready, ready_since, None if all_ready else "ContainersNotReady", message),
            _condition("PodScheduled", True, scheduled),
        ]
        return {
            "phase": "Running" if any_running else "Pending",
            "conditions": conditions,
            "hostIP": NODE_IP,
            "hostIPs": [{"ip": NODE_IP}],
            "podIP": rt.ip,
            "podIPs": [{"ip": rt.ip}],
            "startTime": started,
            "containerStatuses": statuses,
            "qosClass": old.get("qosClass", "BestEffort"),
        }

    def container_problem(self, pod: dict, c: dict) -> tuple[str, str] | None:
        """Why a container cannot run: (reason, message) as the kubelet reports it, or None."""
        image = images.lookup(c.get("image", ""))
        ref = images.image_ref(c.get("image", ""))
        if image is None:
            return (
                "ErrImagePull",
                f'rpc error: code = NotFound desc = failed to pull and unpack image "{ref}": failed to resolve '
                f'reference "{ref}": {ref}: not found',
            )
        pod_sc = pod["spec"].get("securityContext") or {}
        sc = c.get("securityContext") or {}
        non_root = sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot"))
        user = sc.get("runAsUser", pod_sc.get("runAsUser"))
        if non_root and user is None and image.user == 0:
            ident = f"{pod['metadata']['name']}_{pod['metadata']['namespace']}({pod['metadata']['uid']})"
            return (
                "CreateContainerConfigError",
                f'container has runAsNonRoot and image will run as root (pod: "{ident}", container: {c["name"]})',
            )
        if non_root and user == 0:
            return ("CreateContainerConfigError", "container's runAsUser breaks non-root policy")
        command = list(c.get("command") or []) + list(c.get("args") or [])
        if command:
            program = command[0].rsplit("/", 1)[-1]
            if program not in image.tools:
                return (
                    "RunContainerError",
                    f"failed to create containerd task: failed to create shim task: OCI runtime create failed: "
                    f'runc create failed: unable to start container process: exec: "{command[0]}": executable file not found in $PATH',
                )
        return None

    def exits_at_once(self, c: dict) -> bool:
        """A busybox/alpine container whose command ends at once (the image's default `sh` without stdin)."""
        image = images.lookup(c.get("image", ""))
        if image is None or image.family == "nginx":
            return False
        words = " ".join(list(c.get("command") or []) + list(c.get("args") or []))
        if not words:
            return not (c.get("stdin") and c.get("tty"))
        return not any(w in words for w in _LONG_RUNNING) and not (c.get("stdin") and "sh" in words)

    def container_status(self, pod: dict, c: dict, rt: PodRuntime, age: float) -> dict:
        name = c["name"]
        image = c.get("image", "")
        cs: dict[str, Any] = {
            "name": name,
            "image": images.image_ref(image),
            "imageID": "",
            "ready": False,
            "started": False,
            "restartCount": 0,
            "state": {"waiting": {"reason": "ContainerCreating"}},
            "lastState": {},
            "volumeMounts": [],
        }
        if age < START_AFTER:
            return cs
        problem = self.container_problem(pod, c)
        if problem is not None:
            reason, message = problem
            if reason == "ErrImagePull" and age >= BACKOFF_AFTER:
                reason, message = "ImagePullBackOff", f'Back-off pulling image "{image}": ErrImagePull: {message}'
            if reason == "RunContainerError" and age >= BACKOFF_AFTER:
                cs["restartCount"] = 1
                cs["lastState"] = {
                    "terminated": {
                        "exitCode": 128,
                        "reason": "StartError",
                        "message": message,
                        "startedAt": "1970-01-01T00:00:00Z",
                        "finishedAt": rt.stamp(f"{name}-failed"),
                    }
                }
                reason, message = (
                    "CrashLoopBackOff",
                    f"back-off 10s restarting failed container={name} pod={pod['metadata']['name']}_{pod['metadata']['namespace']}({pod['metadata']['uid']})",
                )
            cs["state"] = {"waiting": {"reason": reason, "message": message}}
            if reason != "ErrImagePull" and reason != "ImagePullBackOff":
                cs["imageID"] = images.image_id(image)
            return cs
        cs["imageID"] = images.image_id(image)
        container_id = rt.container_ids.setdefault(
            name, "containerd://" + hashlib.sha256(f"{pod['metadata']['uid']}/{name}".encode()).hexdigest()
        )
        if self.exits_at_once(c):
            started = rt.stamp(f"{name}-started")
            cs["containerID"] = container_id
            cs["restartCount"] = 1
            cs["lastState"] = {
                "terminated": {
                    "exitCode": 0,
                    "reason": "Completed",
                    "startedAt": started,
                    "finishedAt": started,
                    "containerID": container_id,
                }
            }
            cs["state"] = {
                "waiting": {
                    "reason": "CrashLoopBackOff",
                    "message": f"back-off 10s restarting failed container={name} "
                    f"pod={pod['metadata']['name']}_{pod['metadata']['namespace']}({pod['metadata']['uid']})",
                }
            }
            return cs
        cs.update(
            {
                "containerID": container_id,
                "ready": True,
                "started": True,
                "state": {"running": {"startedAt": rt.stamp(f"{name}-started")}},
            }
        )
        return cs


def pod_ready(pod: dict) -> bool:
    """The pod's Ready condition is True."""
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond["type"] == "Ready":
            return cond["status"] == "True"
    return False


def resolve_target_port(pod: dict, service_port: dict) -> int | None:
    """A Service port's targetPort on one pod: a number as is, a name through the pod's container ports."""
    target = service_port.get("targetPort", service_port.get("port"))
    protocol = service_port.get("protocol", "TCP")
    if isinstance(target, int):
        return target
    if isinstance(target, str) and target.isdigit():
        return int(target)
    for c in (pod.get("spec") or {}).get("containers") or []:
        for p in c.get("ports") or []:
            if p.get("name") == target and p.get("protocol", "TCP") == protocol:
                return p.get("containerPort")
    return None
