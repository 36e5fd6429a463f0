# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""LIST chunking (limit / continue) is served as kube-apiserver serves it: full pages, one consistent snapshot
per list, the API server's token and its errors (400 for a bad token, 410 Expired once compacted)."""

from __future__ import annotations

import base64
import json
import urllib.parse

from tests.unit.fakes.kube.kube_helpers import NS

OTHER = "netpol-other"
NP_PATH = f"/apis/networking.k8s.io/v1/namespaces/{NS}/networkpolicies"
ALL_NP = "/apis/networking.k8s.io/v1/networkpolicies"


def _np(name, namespace=NS, labels=None):
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": namespace, "labels": labels or {}},
        "spec": {"podSelector": {}},
    }


def _seed(cluster, count=7):
    cluster.namespace()
    for i in range(count):
        cluster.create(_np(f"np-{i}", labels={"parity": "even" if i % 2 == 0 else "odd"}))


def _list(cluster, path, **query):
    raw = cluster.http("GET", f"{path}?{urllib.parse.urlencode(query)}")
    assert raw.status == 200, raw.body
    return raw.body


def _names(body):
    return [item["metadata"]["name"] for item in body["items"]]


def test_limit_gives_full_pages_a_continue_token_and_the_remaining_count(cluster):
    _seed(cluster)
    first = _list(cluster, NP_PATH, limit=3)
    assert _names(first) == ["np-0", "np-1", "np-2"]
    assert first["metadata"]["remainingItemCount"] == 4
    token = first["metadata"]["continue"]
    decoded = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    assert decoded == {"v": "meta.k8s.io/v1", "rv": int(first["metadata"]["resourceVersion"]), "start": "np-2\x00"}
    second = _list(cluster, NP_PATH, limit=3, **{"continue": token})
    assert _names(second) == ["np-3", "np-4", "np-5"]
    third = _list(cluster, NP_PATH, limit=3, **{"continue": second["metadata"]["continue"]})
    assert _names(third) == ["np-6"]
    assert "continue" not in third["metadata"]
    assert "remainingItemCount" not in third["metadata"]
    assert {p["metadata"]["resourceVersion"] for p in (first, second, third)} == {first["metadata"]["resourceVersion"]}
    assert _names(_list(cluster, NP_PATH)) == [f"np-{i}" for i in range(7)]
    assert "continue" not in _list(cluster, NP_PATH, limit=7)["metadata"]


def test_pages_come_from_the_first_pages_snapshot(cluster):
    _seed(cluster)
    first = _list(cluster, NP_PATH, limit=3)
    cluster.create(_np("np-9"))
    assert cluster.http("DELETE", f"{NP_PATH}/np-5").status == 200
    rest = _list(cluster, NP_PATH, **{"continue": first["metadata"]["continue"]})
    assert _names(rest) == ["np-3", "np-4", "np-5", "np-6"]  # as of the first page: np-5 still, np-9 not yet
    assert _names(_list(cluster, NP_PATH)) == ["np-0", "np-1", "np-2", "np-3", "np-4", "np-6", "np-9"]


def test_selectors_fill_pages_and_leave_the_remaining_count_out(cluster):
    _seed(cluster)
    first = _list(cluster, NP_PATH, limit=2, labelSelector="parity=even")
    assert _names(first) == ["np-0", "np-2"]
    assert "remainingItemCount" not in first["metadata"]
    second = _list(
        cluster, NP_PATH, limit=2, labelSelector="parity=even", **{"continue": first["metadata"]["continue"]}
    )
    assert _names(second) == ["np-4", "np-6"]


def test_a_list_across_namespaces_pages_in_key_order(cluster):
    _seed(cluster, 2)
    cluster.namespace(OTHER)
    cluster.create(_np("np-a", namespace=OTHER))
    first = _list(cluster, ALL_NP, limit=2)
    keys = [(i["metadata"]["namespace"], i["metadata"]["name"]) for i in first["items"]]
    token = first["metadata"]["continue"]
    start = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))["start"]
    assert start == f"{keys[-1][0]}/{keys[-1][1]}\x00"
    rest = _list(cluster, ALL_NP, **{"continue": token})
    everything = keys + [(i["metadata"]["namespace"], i["metadata"]["name"]) for i in rest["items"]]
    assert everything == sorted([(NS, "np-0"), (NS, "np-1"), (OTHER, "np-a")], key=lambda k: f"{k[0]}/{k[1]}")


def test_bad_tokens_and_parameters_are_400_as_the_api_server_words_them(cluster):
    _seed(cluster)
    token = _list(cluster, NP_PATH, limit=3)["metadata"]["continue"]
    bad = cluster.http("GET", f"{NP_PATH}?limit=3&continue=not-a-token!")
    assert (bad.status, bad.body["reason"]) == (400, "BadRequest")
    assert bad.body["message"].startswith("invalid continue token: continue key is not valid")
    other_version = base64.urlsafe_b64encode(b'{"v":"meta.k8s.io/v2","rv":5,"start":"a"}').rstrip(b"=").decode()
    assert (
        "server does not recognize this encoded version meta.k8s.io/v2"
        in (cluster.http("GET", f"{NP_PATH}?continue={other_version}").body["message"])
    )
    zero_rv = base64.urlsafe_b64encode(b'{"v":"meta.k8s.io/v1","rv":0,"start":"a"}').rstrip(b"=").decode()
    assert (
        "incorrect encoded start resourceVersion"
        in cluster.http("GET", f"{NP_PATH}?continue={zero_rv}").body["message"]
    )
    climbing = base64.urlsafe_b64encode(b'{"v":"meta.k8s.io/v1","rv":5,"start":"../x"}').rstrip(b"=").decode()
    assert cluster.http("GET", f"{NP_PATH}?continue={climbing}").status == 400
    with_rv = cluster.http("GET", f"{NP_PATH}?limit=3&resourceVersion=5&continue={token}")
    assert (with_rv.status, with_rv.body["message"]) == (
        400,
        "specifying resource version is not allowed when using continue",
    )
    not_a_number = cluster.http("GET", f"{NP_PATH}?limit=ten")
    assert (not_a_number.status, not_a_number.body["message"]) == (
        400,
        'strconv.ParseInt: parsing "ten": invalid syntax',
    )


def test_a_compacted_token_is_410_expired_with_an_inconsistent_continuation(cluster):
    _seed(cluster)
    first = _list(cluster, NP_PATH, limit=3)
    cluster.double.compact()
    cluster.create(_np("np-8"))
    gone = cluster.http("GET", f"{NP_PATH}?limit=3&continue={first['metadata']['continue']}")
    assert (gone.status, gone.body["reason"], gone.body["code"]) == (410, "Expired", 410)
    assert gone.body["message"].startswith("The provided continue parameter is too old")
    inconsistent = gone.body["metadata"]["continue"]
    assert json.loads(base64.urlsafe_b64decode(inconsistent + "=" * (-len(inconsistent) % 4)))["rv"] == -1
    rest = _list(cluster, NP_PATH, **{"continue": inconsistent})
    assert _names(rest) == ["np-3", "np-4", "np-5", "np-6", "np-8"]  # the current state: np-8 shows up
