# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The prober, built on the collection's Kubernetes layer: probe pods started, waited for and execed into
against the real lab (`kube_lab`), each failure one KubeError; rounds of probes until the results settle."""

from __future__ import annotations

import pytest

from ansible_collections.netpol.aks.plugins.module_utils import _kube
from ansible_collections.netpol.aks.plugins.module_utils import _probe
from ansible_collections.netpol.aks.plugins.module_utils import _prober
from ansible_collections.netpol.aks.plugins.module_utils._probe import Cell
from ansible_collections.netpol.aks.plugins.module_utils._probe import ProbeOutcome
from ansible_collections.netpol.aks.plugins.module_utils._probe import ProbePod
from ansible_collections.netpol.aks.plugins.module_utils._probe import Source
from ansible_collections.netpol.aks.plugins.module_utils._probe import Target
from tests.integration.probe import cluster

TRIES = _kube.RETRY_TRIES


@pytest.fixture(autouse=True)
def no_waits(monkeypatch):
    monkeypatch.setattr(_kube, "_sleep", lambda seconds: None)


@pytest.fixture
def prober(kube_lab):
    cluster.seed(kube_lab)
    return _prober.Prober(kube_lab.client, run_id="t1", pod_ready_timeout=30)


def _manifest(prober, labels=(("app", "api"),), index=0):
    return prober.pod_manifest(index, Source(cluster.NAMESPACE, labels=labels))


def test_check_inputs_reads_the_pods_and_services_its_sources_and_targets_name(prober):
    """Each source and target carries its own namespace: check_inputs needs nothing else."""
    pods, services = prober.check_inputs(
        [Source(cluster.NAMESPACE, pod="test-np"), Source("default", labels=(("app", "api"),))],
        [Target("service", "api", cluster.NAMESPACE), Target("ip", "10.0.0.1", "default")],
    )
    assert list(pods) == [(cluster.NAMESPACE, "test-np")]
    assert list(services) == [(cluster.NAMESPACE, "api")]
    with pytest.raises(_probe.ProbeInputError, match="target Service netpol-demo/web does not exist"):
        prober.check_inputs([Source(cluster.NAMESPACE, pod="test-np")], [Target("service", "web", cluster.NAMESPACE)])


# ---------------------------------------------------------------------------------------------
# probe pods: a container name, or one KubeError that says why not
# ---------------------------------------------------------------------------------------------


def test_start_pod_returns_the_container_of_a_ready_probe_pod(kube_lab, prober):
    assert prober.start_pod(_manifest(prober)) == "probe"
    assert prober.created == [(cluster.NAMESPACE, "netpol-probe-t1-0")]
    assert cluster.probe_pods(kube_lab) == ["netpol-demo/netpol-probe-t1-0"]


def test_start_pod_raises_when_the_pod_cannot_be_created(kube_lab, prober):
    kube_lab.config(
        faults=[
            {"status": 500, "method": "POST", "path": f"^/api/v1/namespaces/{cluster.NAMESPACE}/pods$", "count": TRIES}
        ]
    )
    with pytest.raises(_kube.KubeError, match=r"could not create probe pod netpol-demo/netpol-probe-t1-0: .*HTTP 500"):
        prober.start_pod(_manifest(prober))
    assert prober.created == []
    assert prober.namespaces_used == {cluster.NAMESPACE}  # so that a pod whose create answer was lost is found


def test_wait_ready_raises_when_the_image_cannot_be_pulled(kube_lab, prober):
    prober.probe_image = "registry.invalid/nothing:1"
    with pytest.raises(_kube.KubeError, match=r"netpol-probe-t1-0 cannot run: (ErrImagePull|ImagePullBackOff)"):
        prober.start_pod(_manifest(prober))
    assert prober.created == [(cluster.NAMESPACE, "netpol-probe-t1-0")]


def test_wait_ready_raises_when_the_pod_is_gone(prober):
    with pytest.raises(_kube.KubeError, match="probe pod netpol-demo/nothing-here disappeared"):
        prober.wait_ready(cluster.NAMESPACE, "nothing-here")


def test_start_pod_raises_once_the_probe_is_interrupted(kube_lab, prober):
    prober.cancelled.set()
    with pytest.raises(_kube.KubeError, match="not created: the probe was interrupted"):
        prober.start_pod(_manifest(prober))
    assert cluster.probe_pods(kube_lab) == []


def test_start_pods_turns_each_failure_into_the_reason_its_source_cannot_run(kube_lab, prober):
    good, bad = Source(cluster.NAMESPACE, labels=(("app", "api"),)), Source(cluster.NAMESPACE, labels=(("x", "y"),))
    manifests = {good: prober.pod_manifest(0, good), bad: prober.pod_manifest(1, bad)}
    manifests[bad]["spec"]["containers"][0]["image"] = "registry.invalid/nothing:1"
    runners = prober.start_pods(manifests)
    assert runners[good] == ProbePod(cluster.NAMESPACE, "netpol-probe-t1-0", "probe")
    assert isinstance(runners[bad], str)
    assert "netpol-probe-t1-1 cannot run" in runners[bad]
    assert prober.delete_pods() == []
    assert cluster.probe_pods(kube_lab) == []


# ---------------------------------------------------------------------------------------------
# exec: the script's output, or one KubeError
# ---------------------------------------------------------------------------------------------


def _spec(host="api.netpol-demo.svc"):
    return [
        Cell(
            Source(cluster.NAMESPACE, pod="test-np"), Target("service", "api", cluster.NAMESPACE), 80, "http", host=host
        ).spec(0, 2)
    ]


def test_exec_probe_returns_the_scripts_output(prober):
    done = prober.exec_probe(ProbePod(cluster.NAMESPACE, "test-np", "client"), _spec())
    assert done.rc == 0
    assert _probe.parse_output(done.stdout, 1)[0].result == "allowed"


def test_exec_probe_raises_when_the_exec_cannot_start(kube_lab, prober):
    with pytest.raises(_kube.KubeError, match="Failed to exec into netpol-demo/no-such-pod"):
        prober.exec_probe(ProbePod(cluster.NAMESPACE, "no-such-pod", "client"), _spec())


def test_a_failed_exec_is_a_probe_error_of_every_cell_of_its_source(prober):
    cells = [
        Cell(
            Source(cluster.NAMESPACE, pod="test-np"),
            Target("service", name, cluster.NAMESPACE),
            80,
            "http",
            host=f"{name}.x",
        )
        for name in ("api", "web")
    ]
    prober.run_source(ProbePod(cluster.NAMESPACE, "no-such-pod", "client"), cells, prober.clock())
    assert [c.result for c in cells] == ["probe_error", "probe_error"]
    assert all("Failed to exec into netpol-demo/no-such-pod" in c.outcome.output for c in cells)


# ---------------------------------------------------------------------------------------------
# rounds: one exec per source per round, stop when settled, sources that cannot run
# ---------------------------------------------------------------------------------------------


class ScriptedProber:
    """Stands in for Prober: each source's exec returns the next scripted result for all its cells."""

    def __init__(self, script):
        self.script = {pod: list(results) for pod, results in script.items()}
        self.execs = []
        self.clock = iter(range(1000)).__next__

    def run_source(self, pod, cells, started):
        self.execs.append((pod.name, len(cells)))
        result = self.script[pod.name].pop(0)
        for cell in cells:
            cell.record(float(len(self.execs)), ProbeOutcome(result, 0 if result == "allowed" else 1, ""), 0.1)

    def run_in_parallel(self, jobs):
        return [job() for job in jobs]


def test_run_rounds_repeats_until_stable_and_execs_once_per_source():
    a, b = Source("ns", pod="a"), Source("ns", pod="b")
    cells = [Cell(src, Target("service", name, "ns"), 80, "http") for src in (a, b) for name in ("x", "y")]
    prober = ScriptedProber({"a": ["allowed", "blocked", "blocked"], "b": ["blocked", "blocked", "blocked"]})
    runners = {a: ProbePod("ns", "a", "c"), b: ProbePod("ns", "b", "c")}
    rounds = _prober.run_rounds(prober, cells, runners, retries=5, delay=0, stable_for=2)
    assert rounds == 3
    # one exec per source per round, each covering both of its targets; b settled after two rounds
    assert prober.execs == [("a", 2), ("b", 2), ("a", 2), ("b", 2), ("a", 2)]
    assert [c.as_result()["history"] for c in cells[:1]] == [["allowed", "blocked", "blocked"]]


def test_run_rounds_gives_up_after_retries_and_marks_unrunnable_sources():
    a, b = Source("ns", pod="a"), Source("ns", labels=(("app", "x"),))
    cells = [
        Cell(a, Target("service", "x", "ns"), 80, "http", expected="blocked"),
        Cell(b, Target("service", "x", "ns"), 80, "http"),
    ]
    prober = ScriptedProber({"a": ["allowed"] * 3})
    rounds = _prober.run_rounds(
        prober, cells, {a: ProbePod("ns", "a", "c"), b: "probe pod cannot run: ImagePullBackOff"}, retries=2, delay=0
    )
    assert rounds == 3
    assert cells[0].as_result()["history"] == ["allowed"] * 3
    assert cells[1].result == "probe_error"
    assert cells[1].final
    assert cells[1].as_result()["attempts"] == 1
