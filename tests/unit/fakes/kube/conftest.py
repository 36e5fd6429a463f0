# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Fixtures for the Kubernetes double's own tests."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.fakes.kube.kube_helpers import Cluster


@pytest.fixture
def cluster(kube_double: Any) -> Cluster:
    """Typed clients, raw HTTP and exec helpers for one fresh double."""
    return Cluster(kube_double)
