# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""KubeClient.list reads in pages (limit / continue) from the real lab's kube-apiserver, and reads a list
again in one piece when etcd compacted the snapshot its continue token points at (410 Expired).

The compaction is a real one: etcd's own client API (its JSON gateway on 127.0.0.1, with the API server's
etcd client certificate) records the revision under ``compact_rev_key`` as kube-apiserver's compactor
does (the API server watches that key and tells its watch cache), then compacts. Needs root (one real
lab per pytest process: run with ``-p no:xdist``).
"""

from __future__ import annotations

import base64
import json
import ssl
import time
import urllib.parse
import urllib.request
from pathlib import Path

import kubernetes
import pytest
from kubernetes.client.rest import ApiException

from ansible_collections.netpol.aks.plugins.module_utils import _kube

NS = "netpol-paging"
POLICIES = f"/apis/networking.k8s.io/v1/namespaces/{NS}/networkpolicies"
# kube-apiserver's compactor keeps the last compacted revision under this etcd key; the API server watches
# it (k8s.io/apiserver pkg/storage/etcd3/compact.go) and its watch cache drops the older snapshots within
# 15 s (pkg/storage/cacher/compactor.go).
COMPACT_REV_KEY = "compact_rev_key"
EXPIRES_WITHIN = 60.0


def _policy(name):
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"podSelector": {"matchLabels": {"app": name}}, "ingress": [{}]},
    }


def _pod(name, app):
    return {
        "metadata": {"name": name, "labels": {"app": app}},
        "spec": {"containers": [{"name": "c", "image": "busybox:1.37", "command": ["sleep", "3600"]}]},
    }


@pytest.fixture
def seeded(kube_lab, monkeypatch):
    """Five policies and five running pods in NS (straight to the API server), pages of two."""
    api = kube_lab.direct_client()
    core, net = kubernetes.client.CoreV1Api(api), kubernetes.client.NetworkingV1Api(api)
    core.create_namespace({"metadata": {"name": NS}})
    for i in range(5):
        net.create_namespaced_network_policy(NS, _policy(f"np-{i}"))
        core.create_namespaced_pod(NS, _pod(f"pod-{i}", f"np-{i}"))
    deadline = time.monotonic() + 90
    while not all(p.status.pod_ip for p in core.list_namespaced_pod(NS).items):
        assert time.monotonic() < deadline, "the seeded pods got no IP within 90s"
        time.sleep(0.3)
    monkeypatch.setattr(_kube, "_PAGE", 2)
    return kube_lab


def _queries(kube_lab, path):
    return [
        urllib.parse.parse_qs(r["query"]) for r in kube_lab.requests() if r["method"] == "GET" and r["path"] == path
    ]


def _etcd(kube_lab, call, body):
    """One call to etcd's JSON gateway (``/v3/kv/...``) with the API server's etcd client certificate."""
    info = kube_lab.lab.infos["kube"]
    pki = Path(info["ca_file"]).parent
    context = ssl.create_default_context(cafile=info["ca_file"])
    context.load_cert_chain(pki / "apiserver-etcd-client.crt", pki / "apiserver-etcd-client.key")
    request = urllib.request.Request(
        f"https://127.0.0.1:{info['ports']['etcd']}/v3/kv/{call}",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, context=context, timeout=30) as response:
        return json.loads(response.read())


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _compact_etcd(kube_lab, after: int) -> int:
    """Compact etcd past revision ``after`` (a list's resourceVersion), as kube-apiserver's compactor does:
    the revision goes under compact_rev_key, then etcd compacts to it. The lab writes all the time (node
    leases, status), so a newer revision comes within seconds."""
    deadline = time.monotonic() + EXPIRES_WITHIN
    while True:
        revision = int(_etcd(kube_lab, "range", {"key": _b64(COMPACT_REV_KEY)})["header"]["revision"])
        if revision > after:
            break
        assert time.monotonic() < deadline, f"etcd stayed at revision {after} for {EXPIRES_WITHIN:.0f}s"
        time.sleep(0.5)
    _etcd(kube_lab, "put", {"key": _b64(COMPACT_REV_KEY), "value": _b64(str(revision))})
    _etcd(kube_lab, "compaction", {"revision": str(revision), "physical": True})
    return revision


def _wait_expired(kube_lab, token: str) -> dict:
    """Ask (straight, unlogged) for the page behind ``token`` until the API server answers 410: its watch
    cache learns of a compaction within 15 s. Returns the Status it answered."""
    net = kubernetes.client.NetworkingV1Api(kube_lab.direct_client())
    deadline = time.monotonic() + EXPIRES_WITHIN
    while True:
        try:
            net.list_namespaced_network_policy(NS, limit=2, _continue=token, _preload_content=False)
        except ApiException as exc:
            if exc.status != 410:
                raise
            return json.loads(exc.body)
        assert time.monotonic() < deadline, f"the continue token still worked {EXPIRES_WITHIN:.0f}s after compaction"
        time.sleep(1)


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
    expired = []

    def list_then_compact(*args, **kwargs):
        response = real(*args, **kwargs)
        pages.append(kwargs.get("_continue"))
        if len(pages) == 1:  # etcd compacts between the first and the second page
            listed = json.loads(response.data)["metadata"]
            _compact_etcd(seeded, after=int(listed["resourceVersion"]))
            token = listed["continue"]
            expired.append(_wait_expired(seeded, token))
        return response

    items = kube.list("policies", list_then_compact, NS)
    assert [p["metadata"]["name"] for p in items] == [f"np-{i}" for i in range(5)]
    assert expired[0]["reason"] == "Expired"
    queries = _queries(seeded, POLICIES)
    assert [("limit" in q, "continue" in q) for q in queries] == [(True, False), (True, True), (False, False)]
    assert [r["status"] for r in seeded.requests() if r["path"] == POLICIES] == [200, 410, 200]


def test_other_errors_of_a_continuation_still_fail(seeded, monkeypatch):
    kube = _kube.KubeClient(seeded.client())
    real = kube.networking.list_namespaced_network_policy

    def bad_token(*args, **kwargs):
        if kwargs.get("_continue"):
            kwargs["_continue"] = "garbage"
        return real(*args, **kwargs)

    with pytest.raises(_kube.KubeError, match="HTTP 400") as err:
        kube.list("policies", bad_token, NS)
    assert err.value.status == 400
    assert "continue" in err.value.message
