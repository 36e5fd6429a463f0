# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""kubernetes.core's client factory keeps state meant for one module process (the kubernetes library's
default Configuration, a client pool): each test starts from none, as each module run does."""

from __future__ import annotations

import kubernetes
import pytest
from ansible_collections.kubernetes.core.plugins.module_utils.k8s import client as k8s_core_client


@pytest.fixture(autouse=True)
def fresh_kubernetes_core_client_state(monkeypatch):
    monkeypatch.setattr(kubernetes.client.Configuration, "_default", None)
    monkeypatch.setattr(k8s_core_client, "_pool", {})
