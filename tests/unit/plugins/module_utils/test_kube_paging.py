# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""KubeClient.list reads in pages (limit / continue) from the Kubernetes double, which pages as kube-apiserver does."""

from __future__ import annotations

import urllib.parse

import pytest

from ansible_collections.netpol.aks.plugins.module_utils import _kube
from tests.unit.fakes.kube.kube_helpers import NS
from tests.unit.fakes.kube.kube_helpers import Cluster

POLICIES = f"/apis/networking.k8s.io/v1/namespaces/{NS}/networkpolicies"


def _policy(name):
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"podSelector": {"matchLabels": {"app": name}}, "ingress": [{}]},
    }


@pytest.fixture
def seeded(kube_double, monkeypatch):
    cluster = Cluster(kube_double)
    cluster.namespace()
    for i in range(5):
        cluster.create(_policy(f"np-{i}"))
        cluster.pod(f"pod-{i}", labels={"app": f"np-{i}"})
    monkeypatch.setattr(_kube, "_PAGE", 2)
    return kube_double


def _queries(double, path):
    return [urllib.parse.parse_qs(r["query"]) for r in double.requests() if r["method"] == "GET" and r["path"] == path]


def test_read_cluster_pages_through_every_list(seeded):
    data = _kube.read_cluster(seeded.client(), namespaces=[NS])
    assert [p["metadata"]["name"] for p in data["policies"]] == [f"np-{i}" for i in range(5)]
    assert [p["name"] for p in data["pods"]] == [f"pod-{i}" for i in range(5)]
    queries = _queries(seeded, POLICIES)
    assert [q["limit"] for q in queries] == [["2"], ["2"], ["2"]]
    assert ["continue" in q for q in queries] == [False, True, True]
    assert len(_queries(seeded, f"/api/v1/namespaces/{NS}/pods")) == 3


def test_an_expired_snapshot_is_read_again_in_one_piece(seeded):
    kube = _kube.KubeClient(seeded.client())
    real = kube.networking.list_namespaced_network_policy
    pages = []

    def list_then_compact(*args, **kwargs):
        response = real(*args, **kwargs)
        pages.append(kwargs.get("_continue"))
        if len(pages) == 1:
            seeded.compact()  # etcd compacts between the first and the second page
        return response

    items = kube.list("policies", list_then_compact, NS)
    assert [p["metadata"]["name"] for p in items] == [f"np-{i}" for i in range(5)]
    queries = _queries(seeded, POLICIES)
    assert [("limit" in q, "continue" in q) for q in queries] == [(True, False), (True, True), (False, False)]


def test_other_errors_of_a_continuation_still_fail(seeded, monkeypatch):
    kube = _kube.KubeClient(seeded.client())
    real = kube.networking.list_namespaced_network_policy

    def bad_token(*args, **kwargs):
        if kwargs.get("_continue"):
            kwargs["_continue"] = "garbage"
        return real(*args, **kwargs)

    with pytest.raises(_kube.KubeError, match="invalid continue token"):
        kube.list("policies", bad_token, NS)
