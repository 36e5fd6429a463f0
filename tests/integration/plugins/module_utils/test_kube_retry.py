# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""_kube.kube_retry and KubeClient against the real lab's kube-apiserver behind the fault proxy
(tests/lab/fault_proxy.py): 429 (Retry-After), 5xx and refused connections are retried with backoff;
everything else fails at once with a KubeError.

The retries proven here are the module's own: its client turns urllib3's off, every wait goes through
``_kube._sleep`` (recorded below), and the proxy's log shows each attempt. Needs root (one real lab per
pytest process: run with ``-p no:xdist``)."""

from __future__ import annotations

import socket
import time

import kubernetes
import pytest
import urllib3

from ansible_collections.netpol.aks.plugins.module_utils import _kube

POD = "sleeper"


@pytest.fixture
def sleeps(monkeypatch):
    """The waits between attempts, recorded instead of slept."""
    waited: list[float] = []
    monkeypatch.setattr(_kube, "_sleep", waited.append)
    return waited


@pytest.fixture
def kube(kube_lab):
    """A KubeClient configured as the modules configure theirs, through the fault proxy."""
    return _kube.KubeClient(_kube.build_api_client({"kubeconfig": str(kube_lab.kubeconfig)}))


def _calls(kube_lab, method, path_end):
    return [r for r in kube_lab.requests() if r["method"] == method and r["path"].endswith(path_end)]


def _sleeper(kube_lab) -> None:
    """A busybox pod in `default`, running on the lab's node (straight to the API server: not logged)."""
    core = kubernetes.client.CoreV1Api(kube_lab.direct_client())
    core.create_namespaced_pod(
        "default",
        {
            "metadata": {"name": POD, "labels": {"run": POD}},
            "spec": {"containers": [{"name": "c", "image": "busybox:1.37", "command": ["sleep", "3600"]}]},
        },
    )
    deadline = time.monotonic() + 60
    while True:
        statuses = core.read_namespaced_pod(POD, "default").status.container_statuses or []
        if statuses and all(s.ready for s in statuses):
            return
        assert time.monotonic() < deadline, f"pod default/{POD} not ready after 60s: {statuses}"
        time.sleep(0.2)


def test_a_429_is_retried_after_the_servers_retry_after(kube_lab, kube, sleeps):
    # Four in a row: more than urllib3's own three Retry-After repeats, were they on.
    kube_lab.config(faults=[{"status": 429, "path": "/namespaces/default$", "method": "GET", "count": 4}])
    namespace = kube.read_namespace("default")
    assert namespace["metadata"]["name"] == "default"
    assert sleeps == [1.0] * 4  # the proxy's Retry-After: 1, waited by kube_retry each time
    assert [r["status"] for r in _calls(kube_lab, "GET", "/namespaces/default")] == [429] * 4 + [200]


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_is_retried_with_backoff(kube_lab, kube, sleeps, status):
    kube_lab.config(faults=[{"status": status, "path": "/api/v1/namespaces$", "method": "GET", "count": 3}])
    names = [n["metadata"]["name"] for n in kube.list("namespaces", kube.core.list_namespace)]
    assert "default" in names
    assert len(sleeps) == 3
    # jittered exponential backoff: each wait within [d/2, d] of 0.5, 1, 2 seconds
    for wait, step in zip(sleeps, (0.5, 1.0, 2.0), strict=True):
        assert step / 2 <= wait <= step


def test_the_last_transient_failure_is_reported_after_every_try(kube_lab, kube, sleeps):
    kube_lab.config(faults=[{"status": 503, "path": "/pods/ghost$", "method": "GET", "count": 50}])
    with pytest.raises(_kube.KubeError, match=r"Failed to read pod default/ghost: HTTP 503 Service Unavailable") as err:
        kube.read_pod("default", "ghost")
    assert err.value.status == 503
    assert len(sleeps) == _kube.RETRY_TRIES - 1
    assert max(sleeps) <= _kube.RETRY_MAX_DELAY
    assert len(_calls(kube_lab, "GET", "/pods/ghost")) == _kube.RETRY_TRIES


@pytest.mark.parametrize("status", [400, 403, 409, 422])
def test_client_errors_are_not_retried(kube_lab, kube, sleeps, status):
    kube_lab.config(faults=[{"status": status, "path": "/pods/ghost$", "method": "GET"}])
    with pytest.raises(_kube.KubeError) as err:
        kube.read_pod("default", "ghost")
    assert err.value.status == status
    assert sleeps == []
    if status == 403:
        assert "RBAC" in err.value.message


def test_not_found_is_an_answer_not_a_failure(kube, sleeps):
    assert kube.read_pod("default", "ghost") is None
    assert kube.read_service("default", "ghost") is None
    assert sleeps == []


def test_a_500_on_create_is_retried_and_creates_one_pod(kube_lab, kube, sleeps):
    kube_lab.config(faults=[{"status": 500, "path": "/namespaces/default/pods$", "method": "POST"}])
    body = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "namespace": "default", "labels": {"run": "p"}},
        "spec": {"containers": [{"name": "c", "image": "busybox:1.37", "command": ["sleep", "60"]}]},
    }
    created = kube.create_pod("default", body)
    assert created["metadata"]["name"] == "p"
    assert [r["status"] for r in _calls(kube_lab, "POST", "/namespaces/default/pods")] == [500, 201]
    # A create whose first answer was lost finds its own pod (same name and labels): that is the pod.
    assert kube.create_pod("default", body)["metadata"]["uid"] == created["metadata"]["uid"]
    # Someone else's pod of that name is a conflict that says so.
    other = {**body, "metadata": {**body["metadata"], "labels": {"run": "other"}}}
    with pytest.raises(_kube.KubeError, match=r"Failed to create pod default/p: HTTP 409") as err:
        kube.create_pod("default", other)
    assert err.value.status == 409


def test_a_500_on_delete_is_retried(kube_lab, kube, sleeps):
    _sleeper(kube_lab)
    kube_lab.config(faults=[{"status": 500, "path": f"/pods/{POD}$", "method": "DELETE"}])
    assert kube.delete_pod("default", POD) is True
    assert kube.read_pod("default", POD) is None
    assert kube.delete_pod("default", POD) is False
    assert len(sleeps) == 1
    assert [r["status"] for r in _calls(kube_lab, "DELETE", f"/pods/{POD}")] == [500, 200, 404]


def test_a_refused_exec_upgrade_is_retried(kube_lab, kube, sleeps):
    _sleeper(kube_lab)
    kube_lab.config(faults=[{"status": 503, "path": f"/pods/{POD}/exec$", "method": "GET"}])
    ws = kube.exec_stream("default", POD, ["echo", "hello"])
    try:
        ws.run_forever(timeout=10)
        assert ws.read_channel(1) == "hello\n"
    finally:
        ws.close()
    assert len(sleeps) == 1
    assert [r["status"] for r in _calls(kube_lab, "GET", f"/pods/{POD}/exec")] == [503, 101]


def test_a_refused_connection_is_retried_then_reported(sleeps):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # The client factory reads the server's version first: that is where the refusal shows.
    with pytest.raises(
        _kube.KubeError, match=rf"Failed to connect to the Kubernetes API \(http://127.0.0.1:{port}\)"
    ) as err:
        _kube.build_api_client({"host": f"http://127.0.0.1:{port}", "api_key": "t"})
    assert err.value.status is None
    assert len(sleeps) == _kube.RETRY_TRIES - 1


def test_tls_failures_and_other_errors_are_not_transient():
    ssl_failure = urllib3.exceptions.MaxRetryError(None, "/", urllib3.exceptions.SSLError("certificate verify failed"))
    assert not _kube.is_transient(ssl_failure)
    assert _kube.is_transient(urllib3.exceptions.MaxRetryError(None, "/", urllib3.exceptions.ProtocolError("reset")))
    assert _kube.is_transient(ConnectionResetError())
    assert not _kube.is_transient(ValueError("bad"))
    handshake = kubernetes.client.exceptions.ApiException(status=0, reason="Handshake status 429 Too Many Requests")
    assert _kube.is_transient(handshake)
    refused = kubernetes.client.exceptions.ApiException(status=0, reason="Handshake status 404 Not Found -+-+- {}")
    assert not _kube.is_transient(refused)


def test_a_retry_after_beyond_the_limit_is_not_waited_for(sleeps):
    calls = []

    @_kube.kube_retry()
    def busy():
        calls.append(1)
        exc = kubernetes.client.exceptions.ApiException(status=429, reason="Too Many Requests")
        exc.headers = {"Retry-After": str(int(_kube.RETRY_AFTER_LIMIT) + 1)}
        raise exc

    with pytest.raises(kubernetes.client.exceptions.ApiException):
        busy()
    assert (calls, sleeps) == ([1], [])


def test_retry_after_as_an_http_date():
    exc = kubernetes.client.exceptions.ApiException(status=503, reason="Service Unavailable")
    exc.headers = {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}
    assert _kube.retry_after(exc) == 0.0
    exc.headers = {}
    assert _kube.retry_after(exc) is None
