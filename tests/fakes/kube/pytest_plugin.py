# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""pytest fixture `kube_double`: a fresh Kubernetes double per test (ephemeral port, own tmp dir).

def test_x(kube_double, ansible_playbook):
    kube_double.config(enforcement="none")
    run = ansible_playbook("playbook.yml", env=kube_double.env)
    api = kubernetes.client.CoreV1Api(kube_double.client())
    assert any(r["method"] == "PATCH" for r in kube_double.requests())
"""

from __future__ import annotations

import json
import ssl
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.kube.server import KubeDouble


class KubeDoubleHandle:
    """What a test gets: where the double is, its switches, its request log, and API clients."""

    def __init__(self, double: KubeDouble) -> None:
        self._double = double
        self.url = double.url
        self.kubeconfig = double.kubeconfig
        self.ca_file = double.ca_file
        self.token = double.token
        self.env: dict[str, str] = double.env

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.url + path,
            data=data,
            method=method,
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
        )
        context = ssl.create_default_context(cafile=str(self.ca_file))
        with urllib.request.urlopen(request, context=context, timeout=30) as response:
            return json.loads(response.read())

    def config(self, **switches: Any) -> dict:
        """Set /_fake/config switches (enforcement, enforcement_delay_seconds, faults, exec_failure)."""
        if not switches:
            return self._call("GET", "/_fake/config")
        return self._call("POST", "/_fake/config", switches)

    def requests(self) -> list[dict]:
        """The request log: method, path, query, content_type, user_agent, status, elapsed."""
        return [r for r in self._call("GET", "/_fake/requests") if "method" in r]

    def reset(self) -> None:
        self._call("POST", "/_fake/reset")

    def compact(self) -> None:
        """Expire every LIST continue token issued so far (what etcd compaction does): they get 410 Expired."""
        self._call("POST", "/_fake/compact")

    def internal_errors(self) -> list[str]:
        """Tracebacks of the double's own bugs (controllers, exec emulation); a test using it fails on any."""
        return self._call("GET", "/_fake/errors")

    def client(self) -> Any:
        """A kubernetes.client.ApiClient configured for the double (in-process tests)."""
        import kubernetes

        configuration = kubernetes.client.Configuration()
        kubernetes.config.load_kube_config(config_file=str(self.kubeconfig), client_configuration=configuration)
        return kubernetes.client.ApiClient(configuration)

    @property
    def context(self) -> Any:
        """The server's live context (store, dataplane ...) for white-box assertions."""
        return self._double.ctx


def _serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeDoubleHandle]:
    state_dir: Path = tmp_path_factory.mktemp("kube-double")
    double = KubeDouble(state_dir).start()
    handle = KubeDoubleHandle(double)
    bugs: list[str] = []
    try:
        yield handle
        bugs = list(double.ctx.internal_errors)
    finally:
        double.stop()
    if bugs:
        pytest.fail("the Kubernetes double hit its own bug(s):\n" + "\n".join(bugs), pytrace=False)


@pytest.fixture
def kube_double(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeDoubleHandle]:
    """A fresh Kubernetes double for one test (its own port, CA, token and state)."""
    yield from _serve(tmp_path_factory)


@pytest.fixture(scope="module")
def kube_double_module(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeDoubleHandle]:
    """One double shared by a test module; call `.reset()` between tests that need a clean cluster."""
    yield from _serve(tmp_path_factory)
