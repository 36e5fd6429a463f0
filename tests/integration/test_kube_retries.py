# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A failing or overloaded API server does not end a step: the roles' kubernetes.core tasks and the
collection's own modules repeat what failed for a reason that may pass (429, 5xx, a dropped connection),
and stop at once on anything else.

On the real lab (`kube_lab`): the real kube-apiserver fails on request behind tests/lab/fault_proxy.py
(a Status of any code, a connection dropped without an answer, an answer that comes late, an exec whose
stream breaks), the real node runs the workload and kube-router enforces the deny step. The faults are
chosen so that what repeats is the roles' tasks or the modules' own retry, never urllib3's (it repeats a
GET/PUT/DELETE answered 429 or 503 with Retry-After by itself, and is off in the modules' client): the
output shows the task retrying, or the module's request log shows each attempt. Needs root (one real lab
per pytest process: run with ``-p no:xdist``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.probe import cluster

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "playbooks" / "demo.yml"
PROBE = Path(__file__).resolve().parent / "probe" / "probe.yml"
# kube-router needs a moment to enforce a new policy: the deny step probes a little longer.
FAST = {
    "netpol_target": "existing",
    "netpol_probe_retries": 10,
    "netpol_probe_delay": 1,
    "workload_retry_delay": 1,
    "policies_retry_delay": 1,
}


@pytest.fixture
def kube(kube_lab):
    """The Kubernetes whose API server fails on request: `config(faults=...)`, `requests()`, `env`, `client()`."""
    return kube_lab


@pytest.fixture
def fast():
    """The demo's variables for a quick run."""
    return dict(FAST)


def _statuses(kube, method: str, path_end: str, since: int = 0) -> list[int]:
    """The answers to `method` requests on paths ending in `path_end`, from the `since`-th request on."""
    return [r["status"] for r in kube.requests()[since:] if r["method"] == method and r["path"].endswith(path_end)]


@pytest.mark.parametrize(
    ("fault", "method", "path_end"),
    [
        # kubectl label pod test-np app- : answered 429 Too Many Requests (Retry-After: 1) once
        ({"status": 429, "path": "/pods/test-np$", "method": "PATCH"}, "PATCH", "/pods/test-np"),
        # kubectl create -f deny.yaml: answered 500 once
        ({"status": 500, "path": "/networkpolicies$", "method": "POST"}, "POST", "/networkpolicies"),
        # reading test-np: answered 503 once
        ({"status": 503, "path": "/pods/test-np$", "method": "GET"}, "GET", "/pods/test-np"),
    ],
    ids=["429-patch-test-np", "500-post-networkpolicies", "503-get-pod"],
)
def test_the_deny_step_survives_one_transient_failure(ansible_playbook, kube, fast, fault, method, path_end):
    cluster.seed(kube)
    kube.config(faults=[fault])
    seeded = len(kube.requests())
    run = ansible_playbook(DEMO, env=kube.env, extra_vars=fast, tags="deny", json_output=False)
    assert run.rc == 0, run.output
    assert _statuses(kube, method, path_end, seeded)[:2] == [fault["status"], 200 if method != "POST" else 201]
    assert "FAILED - RETRYING" in run.stdout
    assert cluster.policy_names(kube) == ["api-deny"]
    assert "app" not in cluster.client_labels(kube)
    assert "expected blocked, observed blocked" in run.stdout


def test_an_invalid_object_is_not_retried(ansible_playbook, kube, fast):
    """A 422 is the same every time: the task fails at once, with the API server's words."""
    cluster.seed(kube)
    kube.config(faults=[{"status": 422, "path": "/networkpolicies$", "method": "POST", "count": 10}])
    seeded = len(kube.requests())
    run = ansible_playbook(DEMO, env=kube.env, extra_vars=fast, tags="deny", json_output=False)
    assert run.rc != 0
    assert "FAILED - RETRYING" not in run.stdout
    assert _statuses(kube, "POST", "/networkpolicies", seeded) == [422]
    assert cluster.policy_names(kube) == []


def test_probe_connectivity_retries_reads_pod_creation_and_deletion(ansible_playbook, kube):
    """The module's own requests: a 503 reading the client pod, a 500 creating and deleting a probe pod."""
    cluster.seed(kube)
    kube.config(
        faults=[
            {"status": 503, "path": "/pods/test-np$", "method": "GET"},
            {"status": 500, "path": "/pods$", "method": "POST"},
            {"status": 429, "path": "/pods/netpol-probe-", "method": "DELETE"},
            {"status": 503, "path": "/exec$", "method": "GET"},
        ]
    )
    seeded = len(kube.requests())
    extra = {
        "probe": {
            "namespace": cluster.NAMESPACE,
            "sources": [{"pod": "test-np"}, {"labels": {"app": "api"}}],
            "targets": ["api"],
            "expect": "allowed",
        }
    }
    run = ansible_playbook(PROBE, env=kube.env, extra_vars=extra)
    assert run.rc == 0, run.output
    result = run.result("Probe")
    assert [r["result"] for r in result["results"]] == ["allowed", "allowed"]
    assert "leftover_pods" not in result
    assert cluster.probe_pods(kube) == []
    assert _statuses(kube, "GET", "/pods/test-np", seeded)[:2] == [503, 200]
    assert _statuses(kube, "POST", "/pods", seeded) == [500, 201]
    assert _statuses(kube, "DELETE", result["probe_pods"][0].split("/")[1], seeded) == [429, 200]
    assert _statuses(kube, "GET", "/exec", seeded)[0] == 503


def test_reachability_info_retries_its_reads(ansible_playbook, kube, tmp_path):
    cluster.seed(kube, policies=("deny",))
    kube.config(
        faults=[
            {"status": 500, "path": "/networkpolicies$", "method": "GET"},
            {"status": 429, "path": "/pods$", "method": "GET"},
        ]
    )
    seeded = len(kube.requests())
    playbook = tmp_path / "reach.yml"
    playbook.write_text(
        "- hosts: localhost\n  gather_facts: false\n  tasks:\n"
        "    - name: Reach\n      netpol.aks.reachability_info:\n"
        f"        namespace: [{cluster.NAMESPACE}]\n        ports: [{{port: 8080}}]\n"
    )
    run = ansible_playbook(playbook, env=kube.env)
    assert run.rc == 0, run.output
    result = run.result("Reach")
    assert result["summary"]["policies"] == 1
    assert result["summary"]["blocked"] == 1
    assert _statuses(kube, "GET", "/networkpolicies", seeded) == [500, 200]
    assert _statuses(kube, "GET", "/pods", seeded) == [429, 200]


def test_the_deny_step_survives_a_dropped_connection(ansible_playbook, kube, fast):
    """kubectl create -f deny.yaml: the first POST's connection is closed without an answer."""
    cluster.seed(kube)
    kube.config(faults=[{"drop": True, "path": "/networkpolicies$", "method": "POST"}])
    seeded = len(kube.requests())
    run = ansible_playbook(DEMO, env=kube.env, extra_vars=fast, tags="deny", json_output=False)
    assert run.rc == 0, run.output
    assert _statuses(kube, "POST", "/networkpolicies", seeded) == ["dropped", 201]
    assert "FAILED - RETRYING" in run.stdout
    assert cluster.policy_names(kube) == ["api-deny"]
    assert "expected blocked, observed blocked" in run.stdout


def test_probe_connectivity_survives_a_broken_exec_stream_and_a_slow_answer(ansible_playbook, kube):
    """The first exec's websocket closes without a status; reading the client pod takes 3 s."""
    cluster.seed(kube)
    kube.config(exec_failure=1, faults=[{"delay": 3, "path": "/pods/test-np$", "method": "GET"}])
    seeded = len(kube.requests())
    extra = {
        "probe": {
            "namespace": cluster.NAMESPACE,
            "from": {"pod": "test-np"},
            "to": "api",
            "expect": "allowed",
            "retries": 3,
            "delay": 1,
        }
    }
    run = ansible_playbook(PROBE, env=kube.env, extra_vars=extra)
    assert run.rc == 0, run.output
    result = run.result("Probe")
    assert result["result"] == "allowed"
    execs = [r for r in kube.requests()[seeded:] if r["path"].endswith("/exec")]
    assert [r["fault"] for r in execs[:2]] == ["exec_failure", None]
    assert result["results"][0]["history"][0] == "probe_error"
    slow = [r for r in kube.requests()[seeded:] if r["method"] == "GET" and r["path"].endswith("/pods/test-np")]
    assert slow[0]["fault"] == "delay"
    assert slow[0]["elapsed"] >= 3
    assert slow[0]["status"] == 200
