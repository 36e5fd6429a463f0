# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A Kubernetes API server test double with a simulated kubelet, controllers and data plane.

Run it with `python -m tests.fakes.kube --state-dir DIR`, or use the `kube_double` pytest fixture
(tests/fakes/kube/pytest_plugin.py). See tests/fakes/README.md ("Kubernetes double").
"""

from __future__ import annotations

from tests.fakes.kube.server import KubeDouble

__all__ = ["KubeDouble"]
