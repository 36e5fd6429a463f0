# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The `kube_lab` fixture (tests/lab/pytest_plugin.py): every test gets the real lab clean, whatever
the test before it left: its namespaces, its objects in `default`, faults, the log, enforcement off."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

LEFT = "left-by-a-test"


def _leave_a_mess(kube_lab) -> None:
    core = client.CoreV1Api(kube_lab.direct_client())
    core.create_namespace({"metadata": {"name": LEFT}})
    pod = {
        "metadata": {"name": "sleeper"},
        "spec": {"containers": [{"name": "c", "image": "busybox:1.37", "command": ["sleep", "3600"]}]},
    }
    core.create_namespaced_pod(LEFT, pod)
    core.create_namespaced_pod("default", pod)
    core.create_namespaced_config_map("default", {"metadata": {"name": LEFT}})
    kube_lab.config(enforcement="none", faults=[{"status": 503, "path": "/nothing-asks-this$", "count": 5}])


def _is_clean(kube_lab) -> None:
    core = client.CoreV1Api(kube_lab.direct_client())
    with pytest.raises(ApiException) as gone:
        core.read_namespace(LEFT)
    assert gone.value.status == 404
    assert core.list_namespaced_pod("default").items == []
    assert {c.metadata.name for c in core.list_namespaced_config_map("default").items} == {"kube-root-ca.crt"}
    assert {s.metadata.name for s in core.list_namespaced_service("default").items} == {"kubernetes"}
    switches = kube_lab.config()
    assert switches["enforcement"] == "full"
    assert switches["faults"] == []
    assert kube_lab.requests() == []


def test_a_test_may_leave_a_mess(kube_lab):
    _leave_a_mess(kube_lab)
    assert kube_lab.config()["enforcement"] == "none"


def test_the_next_test_finds_the_lab_clean(kube_lab):
    _is_clean(kube_lab)


def test_reset_cleans_within_a_test(kube_lab):
    _leave_a_mess(kube_lab)
    kube_lab.reset()
    _is_clean(kube_lab)


def test_requests_through_the_proxy_are_logged_and_faults_apply(kube_lab):
    kube_lab.config(faults=[{"status": 500, "path": "/api/v1/namespaces/kube-public$", "method": "GET"}])
    core = client.CoreV1Api(kube_lab.client())
    with pytest.raises(ApiException) as failed:
        core.read_namespace("kube-public")
    assert failed.value.status == 500
    assert core.read_namespace("kube-public").metadata.name == "kube-public"
    log = [(r["path"], r["status"], r["fault"]) for r in kube_lab.requests()]
    assert log[-2:] == [
        ("/api/v1/namespaces/kube-public", 500, "status"),
        ("/api/v1/namespaces/kube-public", 200, None),
    ]


def test_the_link_names_the_proxy_and_the_enforcement_switch(kube_lab):
    link = kube_lab.link
    assert link["url"] == kube_lab.url
    assert link["enforcement"]["url"].startswith("http://127.0.0.1:")
    assert link["enforcement"]["url"].endswith("/_fake/config")


def _state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def test_pause_enforcement_freezes_kube_router_then_lets_it_go_on(kube_lab):
    pid = kube_lab.pause_enforcement(2)
    assert _state(pid) == "T"
    deadline = time.monotonic() + 30
    while _state(pid) == "T" and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _state(pid) != "T", "kube-router is still stopped"
    assert kube_lab.config()["enforcement"] == "full"


def test_reset_lets_a_paused_kube_router_go_on(kube_lab):
    pid = kube_lab.pause_enforcement(600)
    kube_lab.reset()
    assert _state(pid) != "T"


def test_pause_enforcement_without_enforcement_is_an_error(kube_lab):
    kube_lab.config(enforcement="none")
    with pytest.raises(RuntimeError, match="kube-router is not running"):
        kube_lab.pause_enforcement(1)
