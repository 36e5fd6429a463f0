# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The label step gives test-np app=api; the Service api must not make it one of its backends: on the real
lab's data plane, kube-proxy would send about every other probe to test-np, which serves nothing. Real
controllers write the EndpointSlices, real kube-proxy picks the backend. Needs root and `make lab-build`."""

from __future__ import annotations

from pathlib import Path

from kubernetes import client

from ansible_collections.netpol.aks.plugins.module_utils import _probe as probe
from tests.integration.probe import cluster
from tests.lab.pod_exec import exec_in

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "playbooks" / "demo.yml"
# kube-router programs a new policy in about a second: the probes retry while it does.
EXISTING = {"netpol_target": "existing", "netpol_probe_retries": 8, "netpol_probe_delay": 0.5}
PROBES = 12  # with the client a backend, each probe had an even chance of landing on it


def _backend_ips(kube_lab) -> list[str]:
    """The addresses of Service api's EndpointSlices (what kube-proxy sends traffic to)."""
    discovery = client.DiscoveryV1Api(kube_lab.client())
    slices = discovery.list_namespaced_endpoint_slice(
        cluster.NAMESPACE, label_selector="kubernetes.io/service-name=api"
    )
    return sorted(a for s in slices.items for e in s.endpoints or [] for a in e.addresses)


def _wget_api(kube_lab) -> tuple[str, str]:
    """`wget -qO- -T 2 http://api/` in test-np, as the walkthrough runs it: (probe class, output)."""
    command = ["wget", "-q", "-O", "-", "-T", "2", "http://api/"]
    rc, out = exec_in(client.CoreV1Api(kube_lab.client()), cluster.NAMESPACE, "test-np", command)
    return probe.classify(rc, out), out


def test_the_labelled_client_is_not_a_backend_of_the_api_service(ansible_playbook, kube_lab):
    run = ansible_playbook(DEMO, env=kube_lab.env, extra_vars=EXISTING, tags="workload,label", json_output=False)
    assert run.rc == 0, run.output
    assert cluster.client_labels(kube_lab)["app"] == "api"
    pods = {p["metadata"]["name"]: p for p in cluster.list_pods(kube_lab, selector="app=api")}
    client_ip = pods.pop("test-np")["status"]["podIP"]
    api_ips = sorted(p["status"]["podIP"] for p in pods.values())
    assert len(api_ips) == 1
    assert _backend_ips(kube_lab) == api_ips
    assert client_ip not in _backend_ips(kube_lab)
    service = cluster.core(kube_lab).read_namespaced_service("api", "netpol-demo")
    assert service.spec.selector == {"app": "api", "app.kubernetes.io/component": "server"}
    # Through real kube-proxy, every probe lands on the api pod and is let through by allow.yaml.
    results = [_wget_api(kube_lab) for _unused in range(PROBES)]
    assert [r[0] for r in results] == ["allowed"] * PROBES, results


def test_a_client_label_that_would_make_it_a_backend_is_refused_before_anything_changes(ansible_playbook, kube_lab):
    run = ansible_playbook(DEMO, env=kube_lab.env, extra_vars=EXISTING, tags="workload")
    assert run.rc == 0, run.output
    writes_before = len(cluster.writes(kube_lab))
    label = {"app": "api", "app.kubernetes.io/component": "server"}
    run = ansible_playbook(DEMO, env=kube_lab.env, extra_vars={**EXISTING, "netpol_client_label": label}, tags="label")
    assert run.rc != 0
    assert "the api Service would send traffic to the client, which serves nothing" in run.output
    assert len(cluster.writes(kube_lab)) == writes_before
    assert "app" not in cluster.client_labels(kube_lab)
