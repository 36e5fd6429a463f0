# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""probe_connectivity through ansible-playbook against the real lab (`kube_lab`: a real API server behind
the fault proxy, a node running busybox and nginx, kube-proxy, CoreDNS, kube-router enforcing):
classification by what real tools print, cleanup, bad inputs, check mode, matrices compared with the
NetworkPolicy engine's prediction. kube-router takes about a second to program a policy or a new pod:
a probe that needs it waits through the module's own retries, never a sleep here."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from ansible_collections.netpol.aks.plugins.module_utils import _kube
from tests.integration.probe import cluster

PROBE = Path(__file__).resolve().parent / "probe" / "probe.yml"
TASK = "Probe"
TRIES = _kube.RETRY_TRIES  # how often the module sends a request that keeps failing
# Enough rounds for kube-router to program a new probe pod or policy (it takes about a second).
PATIENT = {"retries": 10, "delay": 0.5}


@pytest.fixture
def probe(kube_lab, ansible_playbook):
    """probe(**args) -> (task result, run); runs probe.yml once with these module arguments."""

    def run(check: bool = False, task_timeout: int | None = None, **args):
        extra = {"probe": {"namespace": cluster.NAMESPACE, **args}}
        if task_timeout:
            extra["task_timeout"] = task_timeout
        playbook = ansible_playbook(PROBE, env=kube_lab.env, extra_vars=extra, check=check)
        return playbook.result(TASK), playbook

    return run


# ---------------------------------------------------------------------------------------------
# classification: none of the failure modes is "blocked"
# ---------------------------------------------------------------------------------------------


def test_unknown_host_is_a_dns_error(kube_lab, probe):
    cluster.seed(kube_lab)
    result, run = probe(**{"from": {"pod": "test-np"}, "to": {"url": "http://no-such-service.netpol-demo.svc"}})
    assert run.rc == 0, run.output
    assert result["result"] == "dns_error"
    # Real busybox wget names the host and port it could not resolve.
    assert "wget: bad address 'no-such-service.netpol-demo.svc:80'" in result["output"]


def test_a_service_that_does_not_exist_is_an_error_before_anything_runs(kube_lab, probe):
    cluster.seed(kube_lab)
    seeded = len(kube_lab.requests())
    result, run = probe(**{"from": {"labels": {"app": "api"}}, "to": "no-such-service", "expect": "blocked"})
    assert run.rc != 0
    assert "target Service netpol-demo/no-such-service does not exist" in result["msg"]
    assert "result" not in result
    assert not [r for r in kube_lab.requests()[seeded:] if r["method"] != "GET"]


@pytest.mark.parametrize("ports", [{"port": 8081}, {"ports": [80, 8081]}])
def test_a_port_the_service_does_not_expose_is_an_error_not_blocked(kube_lab, probe, ports):
    """`to: api, port: 8081, expect: blocked` must not pass as "NetworkPolicy blocks": api has no port 8081."""
    cluster.seed(kube_lab)
    seeded = len(kube_lab.requests())
    result, run = probe(**{"from": {"pod": "test-np"}, "to": "api", "expect": "blocked", **ports})
    assert run.rc != 0
    assert "Service netpol-demo/api does not expose 8081/TCP (its ports: 80/TCP (http))" in result["msg"]
    assert "result" not in result
    assert "results" not in result
    assert not [r for r in kube_lab.requests()[seeded:] if r["method"] != "GET" or r["path"].endswith("/exec")]


def test_closed_port_is_refused(kube_lab, probe):
    workload = cluster.seed(kube_lab)
    result, run = probe(**{"from": {"pod": "test-np"}, "to": {"pod": workload["api_pod"]}, "port": 9999})
    assert run.rc == 0, run.output
    assert result["result"] == "refused"
    assert "Connection refused" in result["output"]


def test_tcp_probe_to_a_pod_ip(kube_lab, probe):
    workload = cluster.seed(kube_lab)
    result, run = probe(
        **{"from": {"pod": "test-np"}, "to": {"ip": workload["api_ip"]}, "port": 8080, "protocol": "tcp"}
    )
    assert run.rc == 0, run.output
    assert result["result"] == "allowed"
    assert result["results"][0]["host"] == workload["api_ip"]


def test_unpullable_probe_image_is_a_probe_error_and_fails(kube_lab, probe):
    cluster.seed(kube_lab)
    result, run = probe(
        **{"from": {"labels": {"app": "api"}}, "to": "api", "probe_image": "registry.invalid/no-such-image:1.0"}
    )
    assert run.rc != 0
    assert result["result"] == "probe_error"
    assert "ImagePullBackOff" in result["output"] or "ErrImagePull" in result["output"]
    assert "never counted as blocked" in result["msg"]
    assert len(result["probe_pods"]) == 1
    assert cluster.probe_pods(kube_lab) == []


def test_failing_exec_is_a_probe_error_and_fails(kube_lab, probe):
    cluster.seed(kube_lab, policies=("deny",))
    kube_lab.config(exec_failure=1)
    result, run = probe(**{"from": {"pod": "test-np"}, "to": "api", "expect": "blocked"})
    assert run.rc != 0
    assert result["result"] == "probe_error"
    assert result["result"] != "blocked"
    assert "never counted as blocked" in result["msg"]


def test_failing_exec_is_retried(kube_lab, probe):
    cluster.seed(kube_lab, policies=("deny",))
    kube_lab.config(exec_failure=1)
    result, run = probe(**{"from": {"pod": "test-np"}, "to": "api", "expect": "blocked", "retries": 2, "delay": 0})
    assert run.rc == 0, run.output
    assert result["results"][0]["history"] == ["probe_error", "blocked"]


# ---------------------------------------------------------------------------------------------
# ephemeral probe pods: always deleted
# ---------------------------------------------------------------------------------------------


def test_probe_pod_deleted_after_success(kube_lab, probe):
    cluster.seed(kube_lab, policies=("deny", "allow"))
    before = cluster.all_pod_names(kube_lab)
    result, run = probe(**{"from": {"labels": {"app": "api"}}, "to": "api", "expect": "allowed", **PATIENT})
    assert run.rc == 0, run.output
    assert result["result"] == "allowed"
    assert result["changed"] is False
    (created,) = result["probe_pods"]
    assert created.startswith("netpol-demo/netpol-probe-")
    assert cluster.all_pod_names(kube_lab) == before
    assert cluster.probe_pods(kube_lab) == []


def test_probe_pod_deleted_after_a_blocked_probe_and_a_failed_expectation(kube_lab, probe):
    cluster.seed(kube_lab, policies=("deny",))
    before = cluster.all_pod_names(kube_lab)
    result, run = probe(**{"from": {"labels": {"app": "web"}}, "to": "api", "expect": "allowed"})
    assert run.rc != 0
    assert result["result"] == "blocked"
    assert "Expected allowed, observed blocked" in result["msg"]
    assert "wget: download timed out" in result["output"]
    assert cluster.all_pod_names(kube_lab) == before


def test_probe_pod_deleted_after_the_task_times_out(kube_lab, probe):
    """Ansible gives up on the task; the module still finishes its probe and deletes its pod."""
    cluster.seed(kube_lab, policies=("deny",))
    before = cluster.all_pod_names(kube_lab)
    result, run = probe(task_timeout=2, **{"from": {"labels": {"app": "web"}}, "to": "api", "timeout": 6})
    assert run.rc != 0
    assert "Timed out" in result["msg"]
    deadline = time.monotonic() + 60
    while cluster.probe_pods(kube_lab) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert cluster.probe_pods(kube_lab) == []
    assert cluster.all_pod_names(kube_lab) == before


def test_probe_pod_is_restricted_and_labelled(kube_lab, probe):
    """The namespace enforces PSA restricted: the probe pod is admitted, so its security context complies."""
    cluster.seed(kube_lab)
    writes_before = len(cluster.writes(kube_lab))
    _result, run = probe(**{"from": {"labels": {"app": "api"}}, "to": "api"})
    assert run.rc == 0, run.output
    created = [
        r
        for r in cluster.writes(kube_lab)[writes_before:]
        if r["method"] == "POST" and r["path"] == "/api/v1/namespaces/netpol-demo/pods"
    ]
    assert [r["status"] for r in created] == [201]


# ---------------------------------------------------------------------------------------------
# bad inputs: a clear error, nothing created
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            {"namespace": "no-such-namespace", "from": {"labels": {"app": "api"}}, "to": "api"},
            "namespace 'no-such-namespace' does not exist",
        ),
        ({"from": {"pod": "no-such-pod"}, "to": "api"}, "source pod netpol-demo/no-such-pod does not exist"),
        (
            {"from": {"labels": {"app": "api"}}, "to": {"pod": "no-such-pod"}},
            "target pod netpol-demo/no-such-pod does not exist",
        ),
        ({"from": {"labels": {"app": "api"}}, "to": "api", "port": 0}, "port must be between 1 and 65535, got 0"),
        (
            {"from": {"labels": {"app": "api"}}, "to": "api", "port": 70000},
            "port must be between 1 and 65535, got 70000",
        ),
        ({"from": {"labels": {"app": "api"}}, "to": "api", "protocol": "udp"}, "protocol must be one of: http, tcp"),
        ({"sources": [], "targets": ["api"]}, "sources is empty"),
        ({"sources": [{"labels": {"app": "api"}}], "targets": []}, "targets is empty"),
        ({"from": {"labels": {"app": "api"}, "pod": "test-np"}, "to": "api"}, "exactly one of pod"),
    ],
    ids=[
        "unknown-namespace",
        "unknown-source-pod",
        "unknown-target-pod",
        "port-0",
        "port-70000",
        "protocol",
        "no-sources",
        "no-targets",
        "pod-and-labels",
    ],
)
def test_bad_input_fails_before_anything_is_created(kube_lab, probe, args, message):
    cluster.seed(kube_lab)
    writes_before = len(cluster.writes(kube_lab))
    result, run = probe(**args)
    assert run.rc != 0
    assert message in result["msg"]
    assert cluster.writes(kube_lab)[writes_before:] == []
    assert cluster.probe_pods(kube_lab) == []


# ---------------------------------------------------------------------------------------------
# check mode
# ---------------------------------------------------------------------------------------------


def test_check_mode_reports_the_probe_pod_it_would_create(kube_lab, probe):
    cluster.seed(kube_lab)
    writes_before = len(cluster.writes(kube_lab))
    result, run = probe(check=True, **{"from": {"labels": {"app": "api"}}, "to": "api", "expect": "allowed"})
    assert run.rc == 0, run.output
    assert result["changed"] is False
    assert result["result"] is None
    assert result["verdict"] == "check_mode"
    (pod,) = result["would_create"]
    assert pod["metadata"]["labels"]["app"] == "api"
    assert pod["spec"]["containers"][0]["securityContext"]["readOnlyRootFilesystem"] is True
    assert cluster.writes(kube_lab)[writes_before:] == []


def _backend_warnings(result: dict) -> list[str]:
    return [w for w in result.get("warnings", []) if "become its endpoints" in w]


def test_probe_pods_that_would_back_the_target_service_are_warned_about(kube_lab, probe):
    """Probe pods carrying the target Service's whole selector become its endpoints; kube-proxy may then send
    a probe to one, which serves nothing (`refused`, decided by no policy). Said before anything runs."""
    cluster.seed(kube_lab)
    result, run = probe(check=True, **{"from": {"labels": cluster.SERVER_LABELS}, "to": "api", "expect": "allowed"})
    assert run.rc == 0, run.output
    (warning,) = _backend_warnings(result)
    assert "target Service netpol-demo/api" in warning
    # Part of the selector makes no endpoint: nothing to say.
    result, run = probe(check=True, **{"from": {"labels": {"app": "api"}}, "to": "api", "expect": "allowed"})
    assert run.rc == 0, run.output
    assert _backend_warnings(result) == []


def test_check_mode_runs_a_matrix_only_from_existing_pods_and_creates_no_pod(kube_lab, probe):
    """check_mode support is partial: the existing pod's probes run, the probe pod's are reported, not run."""
    cluster.seed(kube_lab, policies=("deny",))
    writes_before = len(cluster.writes(kube_lab))
    result, run = probe(
        check=True,
        sources=[{"pod": "test-np"}, {"labels": {"app": "api"}}],
        targets=["api"],
        expect="blocked",
    )
    assert run.rc == 0, run.output
    by_source = {item["from"]: item["result"] for item in result["results"]}
    assert by_source == {"netpol-demo/test-np": "blocked", "netpol-demo/[app=api]": None}
    (pod,) = result["would_create"]
    assert pod["metadata"]["labels"]["app"] == "api"
    assert result["probe_pods"] == []
    assert "would create 1 probe pod(s) and run 1 probe(s) from them" in result["verdict_msg"]
    assert cluster.writes(kube_lab)[writes_before:] == []
    assert cluster.probe_pods(kube_lab) == []


def test_check_mode_still_probes_from_existing_pods(kube_lab, probe):
    cluster.seed(kube_lab, policies=("deny",))
    result, run = probe(check=True, **{"from": {"pod": "test-np"}, "to": "api", "expect": "blocked"})
    assert run.rc == 0, run.output
    assert result["result"] == "blocked"


# ---------------------------------------------------------------------------------------------
# matrices and prediction
# ---------------------------------------------------------------------------------------------

MATRIX = {
    "sources": [{"pod": "test-np"}, {"labels": {"app": "api"}}, {"labels": {"app": "api"}, "namespace": "default"}],
    "targets": ["api", {"service": "api", "namespace": "netpol-demo"}],
    "port": 80,
    "expect": "predicted",
}


def test_matrix_matches_the_prediction_on_an_enforcing_cluster(kube_lab, probe):
    cluster.seed(kube_lab, policies=("deny", "allow"))
    matrix = {**MATRIX, "targets": ["api"], **PATIENT}
    result, run = probe(**matrix)
    assert run.rc == 0, run.output
    assert result["verdict"] == "match", result["verdict_msg"]
    assert result["differences"] == []
    observed = result["truth_table"]
    assert observed == {
        "netpol-demo/test-np": {"netpol-demo/api:80": "blocked"},
        "netpol-demo/[app=api]": {"netpol-demo/api:80": "allowed"},
        "default/[app=api]": {"netpol-demo/api:80": "allowed"},
    }
    assert result["expected_table"] == observed
    assert result["truth_table_text"][0].split() == ["-", "netpol-demo/api:80"]
    assert len(result["probe_pods"]) == 2
    assert cluster.probe_pods(kube_lab) == []
    execs = [r for r in kube_lab.requests() if r["path"].endswith("/exec")]
    # One exec per source and round (each source has one cell here): a settled source is not probed again.
    assert len(execs) == sum(cell["attempts"] for cell in result["results"])
    assert result["results"][0]["attempts"] == 1, "test-np was blocked from the first round"
    for cell in result["results"]:
        assert cell["attempts"] == len(cell["history"])
        assert cell["stable_after"] is not None


def test_matrix_names_a_cluster_that_does_not_enforce(kube_lab, probe):
    cluster.seed(kube_lab, policies=("deny", "allow"))
    kube_lab.config(enforcement="none")
    result, run = probe(**{**MATRIX, "targets": ["api"]})
    assert run.rc != 0
    assert result["verdict"] == "not_enforcing"
    assert "does not appear to enforce NetworkPolicy" in result["msg"]
    assert [d["from"] for d in result["differences"]] == ["netpol-demo/test-np"]
    assert cluster.probe_pods(kube_lab) == []


@pytest.mark.parametrize(
    ("engine", "verdict", "client_expected"), [("upstream", "match", "allowed"), ("cilium", "differences", "blocked")]
)
def test_the_predicted_expectation_follows_the_engine(kube_lab, probe, engine, verdict, client_expected):
    """An ipBlock that covers test-np's pod IP admits it under the Kubernetes spec (as kube-router enforces it)
    and never under Cilium, where an ipBlock does not match pod addresses."""
    seeded = cluster.seed(kube_lab)
    from kubernetes import client as k8s

    policy = {
        "metadata": {"name": "api-from-client-ip"},
        "spec": {
            "podSelector": {"matchLabels": {"app": "api"}},
            "ingress": [{"from": [{"ipBlock": {"cidr": f"{seeded['client_ip']}/32"}}]}],
        },
    }
    k8s.NetworkingV1Api(kube_lab.client()).create_namespaced_network_policy(
        cluster.NAMESPACE, policy, _preload_content=False, _headers=cluster.JSON_BODY
    )
    sources = [{"pod": "test-np"}, {"labels": {"run": "netpol-other-client"}}]
    result, run = probe(sources=sources, targets=["api"], port=80, expect="predicted", engine=engine, **PATIENT)
    assert (run.rc == 0) is (verdict == "match"), run.output
    assert result["verdict"] == verdict, result["verdict_msg"]
    # Observed: what the data plane did, the same under both engines.
    assert result["truth_table"] == {
        "netpol-demo/test-np": {"netpol-demo/api:80": "allowed"},
        "netpol-demo/[run=netpol-other-client]": {"netpol-demo/api:80": "blocked"},
    }
    # Predicted: what the chosen engine says.
    assert result["expected_table"] == {
        "netpol-demo/test-np": {"netpol-demo/api:80": client_expected},
        "netpol-demo/[run=netpol-other-client]": {"netpol-demo/api:80": "blocked"},
    }
    differences = [(d["from"], d["expected"], d["result"]) for d in result["differences"]]
    assert differences == ([] if engine == "upstream" else [("netpol-demo/test-np", "blocked", "allowed")])
    assert cluster.probe_pods(kube_lab) == []


def test_matrix_waits_for_enforcement_and_reports_when_it_stabilised(kube_lab, probe):
    """A network plugin slow to program a policy: kube-router is frozen before the policy is made and goes
    on only once the first probe has got through, so the probe must wait for the policy to take effect."""
    import threading

    from kubernetes import client as k8s

    cluster.seed(kube_lab)
    kube_lab.pause_enforcement(300)
    k8s.NetworkingV1Api(kube_lab.client()).create_namespaced_network_policy(
        cluster.NAMESPACE,
        {"metadata": {"name": "api-deny"}, "spec": {"podSelector": {"matchLabels": {"app": "api"}}, "ingress": []}},
        _preload_content=False,
        _headers=cluster.JSON_BODY,
    )
    first_probe_done = threading.Event()
    stop = threading.Event()

    def resume_after_the_first_probe() -> None:
        while not stop.is_set():
            # `elapsed` is logged once the exec's stream has ended: the first probe has run.
            if any(r["path"].endswith("/exec") and "elapsed" in r for r in kube_lab.requests()):
                first_probe_done.set()
                kube_lab.resume_enforcement()
                return
            stop.wait(0.2)

    watcher = threading.Thread(target=resume_after_the_first_probe, daemon=True)
    watcher.start()
    try:
        result, run = probe(
            sources=[{"pod": "test-np"}], targets=["api"], expect="predicted", retries=60, delay=0.5, timeout=1
        )
    finally:
        stop.set()
        watcher.join()
    assert first_probe_done.is_set()
    assert run.rc == 0, run.output
    (cell,) = result["results"]
    assert cell["result"] == "blocked"
    assert cell["history"][0] == "allowed"
    assert cell["history"][-1] == "blocked"
    assert cell["attempts"] == len(cell["history"]) > 1
    assert cell["stable_after"] > 0


def test_expected_table_from_reachability_info(kube_lab, ansible_playbook, tmp_path):
    workload = cluster.seed(kube_lab, policies=("deny", "allow"))
    playbook = tmp_path / "reach.yml"
    playbook.write_text(
        """---
- name: Predict, then probe against the prediction
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Predict
      netpol.aks.reachability_info:
        namespace: [netpol-demo]
        pairs: all
      register: reach

    - name: Probe against the prediction
      netpol.aks.probe_connectivity:
        namespace: netpol-demo
        sources: [{pod: test-np}]
        targets: [{pod: "API_POD"}]
        port: 8080
        protocol: tcp
        expect: "{{ reach.results }}"
        retries: 10
        delay: 0.5
      register: probed
""".replace("API_POD", workload["api_pod"])
    )
    run = ansible_playbook(playbook, env=kube_lab.env)
    assert run.rc == 0, run.output
    result = run.result("Probe against the prediction")
    (cell,) = result["results"]
    assert (cell["expected"], cell["result"], cell["match"]) == ("blocked", "blocked", True)
    assert result["verdict"] == "match"


def _module_pids() -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if not cmdline or b"python" not in cmdline[0].rsplit(b"/", 1)[-1]:
            continue  # the /bin/sh wrappers around the module
        if any(part.endswith(b"AnsiballZ_probe_connectivity.py") for part in cmdline):
            pids.append(int(entry.name))
    return pids


def test_probe_pod_deleted_when_the_module_is_terminated(kube_lab, tmp_path):
    """SIGTERM while probing (Ctrl-C, a killed job): the module deletes its probe pod before it exits."""
    import json
    import os
    import signal
    import subprocess
    import sys

    cluster.seed(kube_lab, policies=("deny",))
    extra = {"probe": {"namespace": cluster.NAMESPACE, "from": {"labels": {"app": "web"}}, "to": "api", "timeout": 30}}
    env = {
        **os.environ,
        **kube_lab.env,
        "ANSIBLE_LOCAL_TEMP": str(tmp_path / "local"),
        "ANSIBLE_REMOTE_TEMP": str(tmp_path / "remote"),
        "TMPDIR": str(tmp_path),
        "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json",
    }
    ansible = Path(sys.executable).with_name("ansible-playbook")
    proc = subprocess.Popen(
        [str(ansible), str(PROBE), "-e", json.dumps(extra)],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not cluster.probe_pods(kube_lab) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert cluster.probe_pods(kube_lab), "the probe pod never appeared"
        pids = [pid for pid in _module_pids() if str(tmp_path) in Path(f"/proc/{pid}/cmdline").read_text()]
        assert pids, "module process not found"
        for pid in pids:
            os.kill(pid, signal.SIGTERM)
        stdout, _unused = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0
    result = json.loads(stdout)["plays"][0]["tasks"][0]["hosts"]["localhost"]
    assert "interrupted" in result["msg"]
    assert cluster.probe_pods(kube_lab) == []


def test_api_error_creating_the_probe_pod_is_a_probe_error(kube_lab, probe):
    cluster.seed(kube_lab)
    # Every attempt fails (a single 500 is retried: tests/integration/test_kube_retries.py).
    kube_lab.config(
        faults=[{"status": 500, "method": "POST", "path": "^/api/v1/namespaces/netpol-demo/pods$", "count": TRIES}]
    )
    result, run = probe(**{"from": {"labels": {"app": "api"}}, "to": "api", "expect": "allowed"})
    assert run.rc != 0
    assert result["result"] == "probe_error"
    assert "could not create probe pod" in result["output"]
    assert "HTTP 500" in result["output"]
    assert cluster.probe_pods(kube_lab) == []


def test_a_probe_pod_that_cannot_be_deleted_is_reported(kube_lab, probe):
    cluster.seed(kube_lab)
    kube_lab.config(
        faults=[
            {
                "status": 500,
                "method": "DELETE",
                "path": "^/api/v1/namespaces/netpol-demo/pods/netpol-probe-",
                "count": TRIES,
            }
        ]
    )
    result, run = probe(**{"from": {"labels": {"app": "api"}}, "to": "api", "expect": "allowed"})
    assert run.rc == 0, run.output
    (leftover,) = result["leftover_pods"]
    assert "HTTP 500" in leftover
    assert f"netpol.aks/probe-run={result['run_id']}" in " ".join(result["warnings"])
    assert len(cluster.probe_pods(kube_lab)) == 1


def test_source_pod_that_is_not_ready_is_a_probe_error(kube_lab, probe):
    cluster.seed(kube_lab)
    cluster.core(kube_lab).create_namespaced_pod(
        cluster.NAMESPACE,
        cluster.client_pod("broken-client", image="registry.invalid/nothing:1"),
        _preload_content=False,
        _headers=cluster.JSON_BODY,
    )
    result, run = probe(
        **{"from": {"pod": "broken-client"}, "to": "api", "expect": "blocked", "retries": 3, "delay": 0}
    )
    assert run.rc != 0
    assert result["result"] == "probe_error"
    assert "is not ready" in result["output"]
    assert result["results"][0]["attempts"] == 1  # a pod that cannot run is not retried
