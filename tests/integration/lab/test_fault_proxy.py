# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""tests/lab/fault_proxy.py in front of the real lab's kube-apiserver (the proxy of `kube_lab`): requests
pass through with the caller's token, and the switches make it answer in the API server's place.

What the API server itself received is read straight from it (`kube_lab.direct_client()`), not through
the proxy. Its switches without an API server: tests/unit/lab/test_fault_proxy.py. Needs root (one real
lab per pytest process: run with ``-p no:xdist``).
"""

from __future__ import annotations

import json
import ssl
import stat
import time
import urllib.error
import urllib.request

import pytest
import yaml
from kubernetes import client
from kubernetes.client.rest import ApiException
from kubernetes.stream import stream


@pytest.fixture
def proxy(kube_lab):
    """The real lab's fault proxy: no faults, an empty log."""
    return kube_lab.proxy


@pytest.fixture
def core(proxy):
    return client.CoreV1Api(proxy.client())


@pytest.fixture
def upstream(kube_lab):
    """The API server itself, not through the proxy."""
    return client.CoreV1Api(kube_lab.direct_client())


def _control(proxy, path, body=None):
    context = ssl.create_default_context(cafile=str(proxy.ca_file))
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(proxy.url + path, data=data, method="POST" if data is not None else "GET")
    try:
        with urllib.request.urlopen(req, context=context, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_requests_pass_through_with_the_callers_token(proxy, core, upstream):
    assert core.read_namespace("default").metadata.name == "default"
    (entry,) = [r for r in proxy.requests() if r["path"] == "/api/v1/namespaces/default"]
    assert entry["status"] == 200
    assert entry["fault"] is None
    created = core.create_namespace({"metadata": {"name": "through-proxy"}})
    assert created.metadata.name == "through-proxy"
    assert upstream.read_namespace("through-proxy").metadata.uid == created.metadata.uid
    (post,) = [r for r in proxy.requests() if r["method"] == "POST"]
    assert post["body"] == {"metadata": {"name": "through-proxy"}}
    assert post["status"] == 201
    # An answer the API server gives (404) is passed on as it is.
    with pytest.raises(ApiException) as err:
        core.read_namespace("no-such-namespace")
    assert err.value.status == 404
    assert json.loads(err.value.body)["reason"] == "NotFound"


def test_files_are_private_and_name_the_proxy(proxy):
    assert stat.S_IMODE(proxy.kubeconfig.stat().st_mode) == 0o600
    info = json.loads((proxy.dir / "info.json").read_text())
    assert info["url"] == proxy.url
    assert info["url"].startswith("https://127.0.0.1:")
    assert info["env"]["KUBECONFIG"] == str(proxy.kubeconfig)


def _get(proxy, path):
    """A bare GET with the lab's token: no client retries in the way."""
    context = ssl.create_default_context(cafile=str(proxy.ca_file))
    req = urllib.request.Request(proxy.url + path, headers={"Authorization": f"Bearer {proxy.token}"})
    try:
        with urllib.request.urlopen(req, context=context, timeout=10) as resp:
            return resp.status, dict(resp.headers), json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), json.loads(exc.read())


def test_429_carries_retry_after_and_then_passes(proxy):
    proxy.config(faults=[{"status": 429, "path": "/namespaces/default$", "retry_after": 2, "count": 2}])
    for _attempt in range(2):
        status, headers, body = _get(proxy, "/api/v1/namespaces/default")
        assert status == 429
        assert headers["Retry-After"] == "2"
        assert body["reason"] == "TooManyRequests"
        assert body["details"] == {"retryAfterSeconds": 2}
    status, _headers, body = _get(proxy, "/api/v1/namespaces/default")
    assert status == 200
    assert body["metadata"]["name"] == "default"
    assert [r["status"] for r in proxy.requests()] == [429, 429, 200]
    assert [r["fault"] for r in proxy.requests()] == ["status", "status", None]


def test_the_kubernetes_client_waits_out_retry_after_by_itself(proxy, core):
    """urllib3 under the kubernetes client repeats a GET answered 429 with Retry-After (3 times): fewer
    faults than that never reach the caller; more of them do."""
    proxy.config(faults=[{"status": 429, "path": "/namespaces/default$", "retry_after": 1, "count": 2}])
    started = time.monotonic()
    assert core.read_namespace("default").metadata.name == "default"
    assert time.monotonic() - started >= 2
    assert [r["status"] for r in proxy.requests()] == [429, 429, 200]
    proxy.config(faults=[{"status": 429, "path": "/namespaces/default$", "retry_after": 0, "count": 4}])
    with pytest.raises(ApiException) as err:
        core.read_namespace("default")
    assert err.value.status == 429


def test_5xx_only_for_the_method_and_path_chosen(proxy, core):
    proxy.config(faults=[{"status": 503, "path": "/namespaces$", "method": "POST"}])
    assert core.list_namespace().items  # a GET of the same path is not touched
    with pytest.raises(ApiException) as err:
        core.create_namespace({"metadata": {"name": "later"}})
    assert err.value.status == 503
    assert json.loads(err.value.body)["reason"] == "ServiceUnavailable"
    assert core.create_namespace({"metadata": {"name": "later"}}).metadata.name == "later"


def test_a_dropped_connection_gets_no_answer(proxy, core, upstream):
    proxy.config(faults=[{"drop": True, "path": "/namespaces$", "method": "POST"}])
    with pytest.raises(Exception) as err:  # noqa: PT011 - urllib3 wraps it in one of several errors
        core.create_namespace({"metadata": {"name": "dropped"}}, _request_timeout=10)
    assert not isinstance(err.value, ApiException)
    with pytest.raises(ApiException) as missing:  # never forwarded: the API server made no namespace
        upstream.read_namespace("dropped")
    assert missing.value.status == 404
    assert proxy.requests()[-1]["status"] == "dropped"


def test_a_slow_answer_comes_late_and_whole(proxy, core):
    proxy.config(faults=[{"delay": 1.5, "path": "/namespaces/default$"}])
    started = time.monotonic()
    assert core.read_namespace("default").metadata.name == "default"
    assert time.monotonic() - started >= 1.5
    entry = proxy.requests()[-1]
    assert entry["fault"] == "delay"
    assert entry["status"] == 200


def _busybox(core):
    core.create_namespaced_pod(
        "default",
        {
            "metadata": {"name": "bb"},
            "spec": {"containers": [{"name": "c", "image": "busybox", "command": ["sleep", "3600"]}]},
        },
    )
    deadline = time.monotonic() + 60
    while not (core.read_namespaced_pod("bb", "default").status.container_statuses or [None])[0] or not (
        core.read_namespaced_pod("bb", "default").status.container_statuses[0].ready
    ):
        assert time.monotonic() < deadline, "pod bb never ready"
        time.sleep(0.1)


def _exec(core, command):
    resp = stream(
        core.connect_get_namespaced_pod_exec,
        "bb",
        "default",
        command=command,
        stderr=True,
        stdin=False,
        stdout=True,
        tty=False,
        _preload_content=False,
    )
    resp.run_forever(timeout=30)
    out = resp.read_stdout() + resp.read_stderr()
    status = yaml.safe_load(resp.read_channel(3) or "null")  # channel 3: the exec's Status, if any
    resp.close()
    if status is None:
        return None, out
    if status["status"] == "Success":
        return 0, out
    return int(status["details"]["causes"][0]["message"]), out


def test_exec_websocket_is_relayed_and_can_be_broken(proxy, core):
    _busybox(core)
    rc, out = _exec(core, ["sh", "-c", "echo through; false"])
    assert (rc, out) == (1, "through\n")
    proxy.config(exec_failure=1)
    rc, out = _exec(core, ["sh", "-c", "echo never"])
    assert rc is None  # no Status on channel 3: a broken stream, not an exit code
    assert out == ""
    assert _exec(core, ["echo", "again"]) == (0, "again\n")
    execs = [r for r in proxy.requests() if r["path"].endswith("/exec")]
    assert [(r["status"], r["fault"]) for r in execs] == [(101, None), (101, "exec_failure"), (101, None)]


def test_control_api_takes_the_doubles_switches(proxy):
    status, body = _control(proxy, "/_fake/config", {"faults": [{"status": 500, "path": "/pods", "count": 2}]})
    assert status == 200
    assert body["faults"][0]["count"] == 2
    status, body = _control(proxy, "/_fake/config", {"enforcement": "none"})
    assert status == 400
    assert "network_policy='none'" in body["message"]
    assert _control(proxy, "/_fake/config")[1]["faults"][0]["path"] == "/pods"
    assert _control(proxy, "/_fake/reset", {})[1] == {"faults": [], "exec_failure": 0}
    assert _control(proxy, "/_fake/requests")[1] == []  # the control API is not logged
