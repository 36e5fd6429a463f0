# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The label step gives test-np app=api; the Service api must not make it one of its backends (on a
real data plane, kube-proxy would send about every other probe to test-np, which serves nothing).
The same on the real lab, with real kube-proxy: tests/integration/lab/test_lab_walkthrough.py."""

from __future__ import annotations

from pathlib import Path

from tests.integration.probe import cluster

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "playbooks" / "demo.yml"
EXISTING = {"netpol_target": "existing", "netpol_probe_retries": 2, "netpol_probe_delay": 0.5}


def _endpoint_ips(kube_double) -> list[str]:
    endpoints = cluster.core(kube_double).read_namespaced_endpoints("api", "netpol-demo")
    return sorted(address.ip for subset in endpoints.subsets or [] for address in subset.addresses or [])


def test_the_labelled_client_is_not_a_backend_of_the_api_service(ansible_playbook, kube_double):
    run = ansible_playbook(DEMO, env=kube_double.env, extra_vars=EXISTING, tags="workload,label", json_output=False)
    assert run.rc == 0, run.output
    assert cluster.client_labels(kube_double)["app"] == "api"
    pods = {p["metadata"]["name"]: p for p in cluster.list_pods(kube_double, selector="app=api")}
    client_ip = pods.pop("test-np")["status"]["podIP"]
    api_ips = sorted(p["status"]["podIP"] for p in pods.values())
    assert len(api_ips) == 1
    assert _endpoint_ips(kube_double) == api_ips
    assert client_ip not in _endpoint_ips(kube_double)
    service = cluster.core(kube_double).read_namespaced_service("api", "netpol-demo")
    assert service.spec.selector == {"app": "api", "app.kubernetes.io/component": "server"}


def test_a_client_label_that_would_make_it_a_backend_is_refused_before_anything_changes(ansible_playbook, kube_double):
    run = ansible_playbook(DEMO, env=kube_double.env, extra_vars=EXISTING, tags="workload")
    assert run.rc == 0, run.output
    writes_before = len(cluster.writes(kube_double))
    label = {"app": "api", "app.kubernetes.io/component": "server"}
    run = ansible_playbook(
        DEMO, env=kube_double.env, extra_vars={**EXISTING, "netpol_client_label": label}, tags="label"
    )
    assert run.rc != 0
    assert "the api Service would send traffic to the client, which serves nothing" in run.output
    assert len(cluster.writes(kube_double)) == writes_before
    assert "app" not in cluster.client_labels(kube_double)
