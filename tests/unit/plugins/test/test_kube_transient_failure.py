# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The test plugin netpol.aks.kube_transient_failure: the roles' kubernetes.core tasks repeat the failures the
collection's own Kubernetes layer retries, and the pattern that says so is written once."""

from __future__ import annotations

from pathlib import Path

import pytest
from kubernetes.client.exceptions import ApiException

from ansible_collections.netpol.aks.plugins.module_utils._kube import is_transient
from ansible_collections.netpol.aks.plugins.test.kube_transient_failure import TestModule as TransientTests
from ansible_collections.netpol.aks.plugins.test.kube_transient_failure import kube_transient_failure

ROOT = Path(__file__).resolve().parents[4]


def _status(code: int) -> str:
    # How kubernetes.core words an API error in a failed task's msg.
    return (
        'Failed to create object: b\'{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",'
        f'"message":"...","reason":"...","code":{code}}}\\n\''
    )


@pytest.mark.parametrize(
    ("msg", "expected"),
    [
        (_status(429), True),
        (_status(503), True),
        ('Failed to patch object: {"code": 500, "message": "etcdserver: request timed out"}', True),
        (
            "Failed to get client due to HTTPSConnectionPool(host='127.0.0.1', port=6443): Max retries exceeded with url: "
            "/version (Caused by NewConnectionError('Failed to establish a new connection: [Errno 111] Connection refused'))",
            True,
        ),
        ("('Connection aborted.', RemoteDisconnected('Remote end closed connection without response'))", True),
        (_status(422), False),  # an invalid object
        (_status(403), False),  # RBAC
        (_status(501), False),  # not implemented: repeating cannot mend it
        (_status(4290), False),
        ("certificate verify failed: unable to get local issuer certificate", False),
    ],
)
def test_a_failed_task(msg, expected):
    assert kube_transient_failure({"failed": True, "msg": msg}) is expected


def test_only_a_failure_is_transient():
    assert kube_transient_failure({"changed": True, "msg": _status(503)}) is False
    assert kube_transient_failure({"failed": False, "msg": _status(503)}) is False
    assert kube_transient_failure({"failed": True}) is False
    assert kube_transient_failure(None) is False
    assert kube_transient_failure("failed") is False


@pytest.mark.parametrize("code", range(400, 600))
def test_the_same_statuses_as_the_modules_retry(code):
    assert kube_transient_failure({"failed": True, "msg": _status(code)}) is is_transient(ApiException(status=code))


def test_registered_under_its_name():
    assert TransientTests().tests() == {"kube_transient_failure": kube_transient_failure}


def test_roles_and_playbooks_do_not_repeat_the_pattern():
    repeats = [
        str(path.relative_to(ROOT))
        for folder in ("roles", "playbooks", "molecule", "extensions")
        for path in sorted((ROOT / folder).rglob("*.yml"))
        if "Max retries exceeded" in path.read_text(encoding="utf-8") or "50[0-4]" in path.read_text(encoding="utf-8")
    ]
    assert repeats == []
