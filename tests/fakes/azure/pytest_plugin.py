# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""pytest fixtures for the Azure double: ``azure_double`` (per test) and ``azure_double_module``.

Each fixture starts its own server on an ephemeral 127.0.0.1 port with its own CA in a tmp dir,
so it is safe under pytest-xdist, and stops it afterwards.
"""

from __future__ import annotations

import json
import ssl
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from tests.fakes.azure.server import FakeAzure


class AzureDouble:
    """What a test gets: connection facts, ``env`` for ansible-playbook, and the control API."""

    def __init__(self, fake: FakeAzure) -> None:
        self.fake = fake
        self.url = fake.url
        self.ca_file = str(fake.ca_file)
        self.tenant_id = fake.identity.tenant_id
        self.subscription_id = fake.state.subscription_id
        self.client_id = fake.identity.client_id
        self.client_secret = fake.identity.client_secret
        self.env: dict[str, str] = fake.env()
        self._ssl = ssl.create_default_context(cafile=self.ca_file)

    def control(self, method: str, path: str, body: Any = None) -> Any:
        """Call the /_fake/ control API over HTTPS (what a playbook-side user would do)."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.url + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, context=self._ssl, timeout=30) as response:
            payload = response.read()
        return json.loads(payload) if payload else None

    def requests(self, since: int = 0) -> list[dict[str, Any]]:
        """The request log: [{seq, method, path, query, body, status, fault, ...}, ...]."""
        return self.control("GET", f"/_fake/requests?since={since}")["requests"]

    def arm_requests(self, method: str | None = None) -> list[dict[str, Any]]:
        """The log without the Entra ID requests, optionally for one method."""
        return [
            r
            for r in self.requests()
            if r["path"].startswith("/subscriptions/") and (method is None or r["method"] == method.upper())
        ]

    def faults(self, *specs: dict[str, Any], **spec: Any) -> list[dict[str, Any]]:
        """Inject faults: faults(fault="429", path="*/register", count=1, retry_after=1) or faults({...}, {...})."""
        items = list(specs) + ([spec] if spec else [])
        return self.control("POST", "/_fake/faults", items)["faults"]

    def reset(self) -> None:
        self.control("POST", "/_fake/reset")

    def state(self) -> dict[str, Any]:
        return self.control("GET", "/_fake/state")

    def set_feature(self, namespace: str, name: str, **spec: Any) -> dict[str, Any]:
        return self.control("POST", "/_fake/features", {"namespace": namespace, "name": name, **spec})

    def set_provider(self, namespace: str, **spec: Any) -> dict[str, Any]:
        return self.control("POST", "/_fake/providers", {"namespace": namespace, **spec})

    def set_kube(self, info: dict[str, Any]) -> None:
        """Tell the double where the lab's Kubernetes is ({"url", "ca_file", "token", ...}) for kubeconfigs."""
        self.control("POST", "/_fake/kube", info)


@pytest.fixture
def azure_double(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AzureDouble]:
    """A fresh Entra ID + ARM double for one test."""
    fake = FakeAzure(tmp_path_factory.mktemp("azure-double")).start()
    try:
        yield AzureDouble(fake)
    finally:
        fake.stop()


@pytest.fixture(scope="module")
def azure_double_module(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AzureDouble]:
    """One double shared by a test module (call ``.reset()`` between tests that need a clean world)."""
    fake = FakeAzure(tmp_path_factory.mktemp("azure-double")).start()
    try:
        yield AzureDouble(fake)
    finally:
        fake.stop()
