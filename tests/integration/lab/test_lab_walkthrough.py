# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The walkthrough's Kubernetes steps (playbooks/demo.yml, netpol_target existing) on the real lab:
real kube-proxy, CoreDNS and kube-router decide every probe. Baseline allowed, deny blocked, allow
blocked, label allowed; and at the label step the client, now labelled app=api, is not a backend of
Service api, so no probe lands on it (it serves nothing). Needs root; `make lab-build` first."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from kubernetes import client
from kubernetes import config as kube_config
from kubernetes.stream import stream

from ansible_collections.netpol.aks.plugins.module_utils import _probe as probe
from tests.lab import lab_net

pytestmark = pytest.mark.xdist_group("lab-control-plane")

ROOT = Path(__file__).resolve().parents[3]
DEMO = ROOT / "playbooks" / "demo.yml"
NAMESPACE = "netpol-demo"
PROBES = 12  # with the client a backend, each probe had an even chance of landing on it


@pytest.fixture(scope="module")
def real_lab(cp_info, tmp_path_factory):
    """The node and the lab's network (enforcing, kube-router) for the control plane of cp_info."""
    if os.geteuid() != 0:
        pytest.fail("the real lab needs root (network namespaces, iptables); run the lab tests as root")
    from tests.lab.lab_node import LabNode

    node = LabNode(tmp_path_factory.mktemp("lab-node"), cp_info)
    node.start()
    net = lab_net.LabNet(tmp_path_factory.mktemp("lab-net"), cp_info, node.info)
    try:
        net.start()
        yield {"cp": cp_info, "node": node.info, "net": net.info}
    finally:
        left_net = net.stop()
        left_node = node.stop()
    assert left_net == {"rules": {}, "pids": []}
    assert left_node == {"namespaces": [], "pids": []}


@pytest.fixture(scope="module")
def core(real_lab):
    return client.CoreV1Api(kube_config.new_client_from_config(config_file=real_lab["cp"]["kubeconfig"]))


def _wget_api(core) -> tuple[str, str]:
    resp = stream(
        core.connect_get_namespaced_pod_exec,
        "test-np",
        NAMESPACE,
        command=["wget", "-q", "-O", "-", "-T", "2", "http://api/"],
        stderr=True,
        stdin=False,
        stdout=True,
        tty=False,
        _preload_content=False,
    )
    resp.run_forever(timeout=30)
    out = resp.read_stdout() + resp.read_stderr()
    rc = resp.returncode
    resp.close()
    return probe.classify(rc, out), out


def test_the_walkthrough_on_real_packets(ansible_playbook, real_lab, core):
    env = {"KUBECONFIG": real_lab["cp"]["kubeconfig"], "K8S_AUTH_KUBECONFIG": real_lab["cp"]["kubeconfig"]}
    run = ansible_playbook(
        DEMO,
        env=env,
        extra_vars={"netpol_target": "existing"},
        tags="workload,baseline,deny,allow,label",
        json_output=False,
    )
    assert run.rc == 0, run.output
    observed = re.findall(r"expected (\w+), observed (\w+)", run.stdout)
    assert observed[:4] == [
        ("allowed", "allowed"),
        ("blocked", "blocked"),
        ("blocked", "blocked"),
        ("allowed", "allowed"),
    ]
    # kube-router made the decisions: its chains for the namespace's pods are in the node namespace.
    rules = lab_net.netns_run(real_lab["node"]["node_netns"], ["iptables-save", "-t", "filter"]).stdout
    assert "KUBE-POD-FW-" in rules

    # The label step: test-np carries app=api and is still no backend of Service api.
    pods = {p.metadata.name: p for p in core.list_namespaced_pod(NAMESPACE, label_selector="app=api").items}
    assert "test-np" in pods
    client_ip = pods.pop("test-np").status.pod_ip
    discovery = client.DiscoveryV1Api(core.api_client)
    slices = discovery.list_namespaced_endpoint_slice(NAMESPACE, label_selector="kubernetes.io/service-name=api")
    backends = sorted(a for s in slices.items for e in s.endpoints or [] for a in e.addresses)
    assert backends == sorted(p.status.pod_ip for p in pods.values()), json.dumps(backends)
    assert client_ip not in backends
    results = [_wget_api(core) for _unused in range(PROBES)]
    assert [r[0] for r in results] == ["allowed"] * PROBES, results
