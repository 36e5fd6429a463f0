# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""pytest fixture ``kube_lab``: the real lab's Kubernetes for one test, behind the fault proxy.

def test_x(kube_lab, ansible_playbook):
    kube_lab.config(enforcement="none", faults=[{"status": 429, "path": "/pods$", "method": "POST"}])
    run = ansible_playbook("playbook.yml", env=kube_lab.env)
    assert any(r["method"] == "PATCH" for r in kube_lab.requests())

One real lab per pytest process (per xdist worker), started when a test first asks for it: control
plane, node and network (``tests/lab/real_lab.py``), and one fault proxy (``tests/lab/fault_proxy.py``)
in front of its API server. Each test gets it clean: no namespace but the system ones, nothing of its
own left in ``default``, no faults, an empty request log, NetworkPolicy enforced. Needs root and
``make lab-build``.

``kube_lab.pause_enforcement(seconds)`` is the real lab's enforcement delay: kube-router is frozen
(SIGSTOP) and goes on after that many seconds, or at ``kube_lab.resume_enforcement()`` (SIGCONT), so
what it already programmed keeps applying and a NetworkPolicy made meanwhile takes effect only then,
as on a network plugin slow to program it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from tests.lab import paths
from tests.lab import real_lab
from tests.lab.fault_proxy import FaultProxy

SYSTEM_NAMESPACES = frozenset({"default", "kube-system", "kube-public", "kube-node-lease"})
# What the API server itself keeps in `default` (everything else there is a test's).
SYSTEM_OBJECTS = {"services": {"kubernetes"}, "configmaps": {"kube-root-ca.crt"}}
GONE_WITHIN = 120.0


def _switch(url: str, body: dict[str, Any] | None = None) -> dict[str, str]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method="GET" if body is None else "POST")
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=real_lab.START_TIMEOUT) as response:
        return json.loads(response.read())


class KubeLab:
    """What a test gets: the API server through the proxy (``url``, ``kubeconfig``, ``ca_file``,
    ``token``, ``env``), its switches, its request log, API clients, and ``link`` for the Azure double."""

    def __init__(self, lab: real_lab.RealLab, proxy: FaultProxy) -> None:
        self.lab = lab
        self.proxy = proxy
        self.url = proxy.url
        self.kubeconfig = proxy.kubeconfig
        self.ca_file = proxy.ca_file
        self.token = proxy.token
        self.env: dict[str, str] = proxy.env
        self._resume: threading.Timer | None = None

    @property
    def link(self) -> dict[str, Any]:
        """What ``azure_double.set_kube`` takes: the kubeconfigs it hands out reach this lab (through the
        proxy) and a cluster it writes switches this lab's enforcement."""
        return {
            "url": self.url,
            "ca_file": str(self.ca_file),
            "token": self.token,
            "enforcement": {"url": self.lab.enforcement_url},
        }

    def config(self, **switches: Any) -> dict[str, Any]:
        """Set switches: ``enforcement`` ("full" or "none") on the lab's network, the rest (``faults``,
        ``exec_failure``) on the proxy. Without arguments: what is set now."""
        enforcement = switches.pop("enforcement", None)
        if enforcement is not None:
            self.resume_enforcement()  # a frozen kube-router would not stop on SIGTERM
            _switch(self.lab.enforcement_url, {"enforcement": enforcement})
        proxy = self.proxy.config(**switches) if switches else self.proxy.config()
        return {**proxy, **_switch(self.lab.enforcement_url)}

    def pause_enforcement(self, seconds: float) -> int:
        """Freeze kube-router for ``seconds`` (SIGSTOP, then SIGCONT from a timer); returns its pid.
        Only its own process: an iptables it runs finishes and releases the xtables lock."""
        pid = self._kube_router_pid()
        self.resume_enforcement()
        os.kill(pid, signal.SIGSTOP)
        self._resume = threading.Timer(seconds, os.kill, (pid, signal.SIGCONT))
        self._resume.daemon = True
        self._resume.start()
        return pid

    def _kube_router_pid(self) -> int:
        info = json.loads((self.lab.root / "net" / "info.json").read_text())  # rewritten at each switch
        pid = info["pids"].get("kube-router")
        if pid is None:
            raise RuntimeError("kube-router is not running (enforcement is off): nothing to pause")
        return pid

    def resume_enforcement(self) -> None:
        """Let a paused kube-router go on now (nothing happens when it is not paused)."""
        timer, self._resume = self._resume, None
        if timer is not None:
            timer.cancel()
            with contextlib.suppress(ProcessLookupError):
                os.kill(timer.args[0], signal.SIGCONT)

    def requests(self) -> list[dict[str, Any]]:
        """The proxy's request log: method, path, query, content_type, user_agent, body, status, elapsed, fault."""
        return self.proxy.requests()

    def client(self) -> Any:
        """A ``kubernetes.client.ApiClient`` through the proxy (its requests are logged, faults apply)."""
        return self.proxy.client()

    def direct_client(self) -> Any:
        """A ``kubernetes.client.ApiClient`` straight to the API server (not logged, no faults)."""
        from kubernetes import config as kube_config

        return kube_config.new_client_from_config(config_file=self.lab.infos["kube"]["kubeconfig"])

    def reset(self) -> None:
        """Back to a clean cluster: the proxy's faults and log cleared, enforcement on, every namespace
        but the system ones deleted (and gone), the test's own objects in ``default`` deleted, kube-router
        no longer paused."""
        self.resume_enforcement()
        self.proxy.reset()
        if _switch(self.lab.enforcement_url)["enforcement"] != "full":
            _switch(self.lab.enforcement_url, {"enforcement": "full"})
        clean_cluster(self.direct_client())


def clean_cluster(api: Any) -> None:
    """Delete every non-system namespace (and wait until it is gone) and the tests' objects in ``default``."""
    from kubernetes import client
    from kubernetes.client.rest import ApiException

    core, apps, networking = client.CoreV1Api(api), client.AppsV1Api(api), client.NetworkingV1Api(api)
    doomed = [ns.metadata.name for ns in core.list_namespace().items if ns.metadata.name not in SYSTEM_NAMESPACES]
    for name in doomed:
        with contextlib.suppress(ApiException):
            core.delete_namespace(name)
    for kind, lister, deleter in (
        ("deployments", apps.list_namespaced_deployment, apps.delete_namespaced_deployment),
        ("replicasets", apps.list_namespaced_replica_set, apps.delete_namespaced_replica_set),
        ("networkpolicies", networking.list_namespaced_network_policy, networking.delete_namespaced_network_policy),
        ("services", core.list_namespaced_service, core.delete_namespaced_service),
        ("configmaps", core.list_namespaced_config_map, core.delete_namespaced_config_map),
        ("secrets", core.list_namespaced_secret, core.delete_namespaced_secret),
    ):
        for item in lister("default").items:
            if item.metadata.name not in SYSTEM_OBJECTS.get(kind, ()):
                with contextlib.suppress(ApiException):
                    deleter(item.metadata.name, "default")
    # Pods without a grace period: a terminating namespace then goes in seconds, not the ~50 s its
    # controller takes waiting for each pod's grace period.
    deadline = time.monotonic() + GONE_WITHIN
    while True:
        for name in ["default", *doomed]:
            with contextlib.suppress(ApiException):
                core.delete_collection_namespaced_pod(name, grace_period_seconds=0)
        left = [ns.metadata.name for ns in core.list_namespace().items if ns.metadata.name in doomed]
        if not left and not core.list_namespaced_pod("default").items:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"the real lab did not clean up within {GONE_WITHIN:.0f}s: namespaces {left} remain")
        time.sleep(0.5)


@pytest.fixture(scope="session")
def real_lab_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[real_lab.RealLab, FaultProxy]]:
    """One real lab and its fault proxy for this pytest process."""
    if os.geteuid() != 0:
        pytest.fail("the real lab needs root (network namespaces, iptables): run the tests as root", pytrace=False)
    missing = [str(p) for p in paths.control_plane_binaries().values() if not os.access(p, os.X_OK)]
    if missing:
        pytest.fail(f"the lab's Kubernetes is not built ({', '.join(missing)}): run `make lab-build`", pytrace=False)
    lab = real_lab.start(tmp_path_factory.mktemp("real-lab"))
    try:
        with FaultProxy(lab.root / "proxy", lab.infos["kube"]) as proxy:
            yield lab, proxy
    finally:
        left = real_lab.stop(lab)
    if left:
        pytest.fail(f"the real lab left {left} behind when it stopped", pytrace=False)


@pytest.fixture
def kube_lab(real_lab_session: tuple[real_lab.RealLab, FaultProxy]) -> Iterator[KubeLab]:
    """The real lab's Kubernetes, clean, for one test (see the module's docstring)."""
    handle = KubeLab(*real_lab_session)
    handle.reset()
    yield handle
    handle.reset()
