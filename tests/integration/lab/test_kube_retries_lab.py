"""tests/integration/test_kube_retries.py on the real lab: the same tests, with the real kube-apiserver
failing on request behind tests/lab/fault_proxy.py (the Kubernetes double's fault switches), the real
node running the workload and kube-router enforcing the deny step. Plus what only the proxy can do: a
connection dropped without an answer, an answer that comes late, an exec whose stream breaks.

Every test starts from a cluster without the walkthrough's namespace, as the double's reset does.
Needs root; one lab for the module (tests/integration/lab/conftest.py).
"""

from __future__ import annotations

import contextlib
import time

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from tests.integration import test_kube_retries as on_the_double
from tests.integration.probe import cluster
from tests.integration.test_kube_retries import DEMO
from tests.integration.test_kube_retries import PROBE
from tests.integration.test_kube_retries import _statuses
from tests.lab.fault_proxy import FaultProxy

pytestmark = pytest.mark.xdist_group("lab-control-plane")

# The double's tests, collected here again with this module's `kube` and `fast` fixtures.
test_the_deny_step_survives_one_transient_failure = on_the_double.test_the_deny_step_survives_one_transient_failure
test_an_invalid_object_is_not_retried = on_the_double.test_an_invalid_object_is_not_retried
test_probe_connectivity_retries_reads_pod_creation_and_deletion = (
    on_the_double.test_probe_connectivity_retries_reads_pod_creation_and_deletion
)
test_reachability_info_retries_its_reads = on_the_double.test_reachability_info_retries_its_reads

GONE_WITHIN = 120.0


@pytest.fixture(scope="module")
def proxy(real_lab, tmp_path_factory):
    with FaultProxy(tmp_path_factory.mktemp("fault-proxy"), real_lab.cp) as the_proxy:
        yield the_proxy


def _namespace_gone(core: client.CoreV1Api, name: str) -> None:
    """Delete the namespace and wait until it is gone. Its pods are deleted without a grace period while
    it terminates (the namespace first, so that no controller makes them again): about 5 s instead of
    the 50 s the namespace controller takes on its own."""
    with contextlib.suppress(ApiException):
        core.delete_namespace(name)
    deadline = time.monotonic() + GONE_WITHIN
    while True:
        with contextlib.suppress(ApiException):
            core.delete_collection_namespaced_pod(name, grace_period_seconds=0)
        try:
            core.read_namespace(name)
        except ApiException as exc:
            if exc.status == 404:
                return
            raise
        assert time.monotonic() < deadline, f"namespace {name} still there after {GONE_WITHIN:.0f}s"
        time.sleep(0.5)


@pytest.fixture
def kube(proxy, real_lab):
    """The real lab behind the proxy, without the walkthrough's namespace, no faults, an empty log."""
    core = client.CoreV1Api(real_lab.api_client())
    _namespace_gone(core, cluster.NAMESPACE)
    proxy.reset()
    yield proxy
    proxy.reset()


@pytest.fixture
def fast():
    """kube-router needs a moment to enforce a new policy: the deny step probes a little longer."""
    return {
        "netpol_target": "existing",
        "netpol_probe_retries": 10,
        "netpol_probe_delay": 1,
        "workload_retry_delay": 1,
        "policies_retry_delay": 1,
    }


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
