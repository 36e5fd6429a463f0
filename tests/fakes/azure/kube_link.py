# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The link between the simulated AKS and the lab's Kubernetes: NetworkPolicy enforcement follows the
cluster's network policy engine.

On AKS, a cluster created or updated with ``networkProfile.networkPolicy`` ``azure``, ``calico`` or
``cilium`` enforces NetworkPolicy; with ``none`` (the default) it accepts the objects and ignores
them. When the Kubernetes facts the double hands out (``--kube-info``, ``POST /_fake/kube``) carry
``"enforcement": {"url": URL, "ca_file": CA?}``, an accepted cluster PUT sends ``POST URL
{"enforcement": "full"|"none"}`` before it answers: the real lab's switch (``tests/lab/lab_net.py``,
which starts or stops kube-router). The lab runs one Kubernetes, so the last cluster written decides.
Without that key nothing is sent (the pytest
fixtures link the lab only when a test asks for it: ``azure_double.set_kube(kube_lab.link)``).
"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from typing import Any

from tests.fakes.azure.server import ArmError

ENFORCING = ("azure", "calico", "cilium")
TIMEOUT = 240.0  # the real lab starts kube-router and waits for its rules


def follow_network_policy(kube: dict[str, Any] | None, cluster: dict[str, Any]) -> None:
    """Make the linked Kubernetes enforce NetworkPolicy as ``cluster`` (a stored ManagedCluster) would."""
    link = (kube or {}).get("enforcement")
    if not link:
        return
    policy = ((cluster.get("properties") or {}).get("networkProfile") or {}).get("networkPolicy") or "none"
    body = json.dumps({"enforcement": "full" if policy in ENFORCING else "none"}).encode()
    request = urllib.request.Request(
        link["url"], data=body, method="POST", headers={"Content-Type": "application/json"}
    )
    context = ssl.create_default_context(cafile=link["ca_file"]) if link.get("ca_file") else None
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT, context=context) as response:
            response.read()
    except (urllib.error.URLError, OSError) as exc:
        detail = exc.read().decode(errors="replace") if isinstance(exc, urllib.error.HTTPError) else str(exc)
        raise ArmError(
            500,
            "InternalServerError",
            f"The local lab could not switch NetworkPolicy enforcement to networkPolicy {policy!r} "
            f"({link['url']}: {detail}); see the lab's logs under .lab/.",
        ) from exc
