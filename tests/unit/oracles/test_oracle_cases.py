# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The differential-test machinery without the oracle: regression cases, generator, rewrites, minimiser, parser.

The runs against the oracle itself are in tests/integration/oracles.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from ansible_collections.netpol.aks.plugins.module_utils import netpol
from tests.oracles import cyclonus
from tests.oracles import differential
from tests.oracles import known
from tests.oracles.generate import random_cluster

HERE = Path(__file__).resolve().parent
CASES = differential.load_cases()
VERDICT = {"allowed": True, "blocked": False}


def case_id(case):
    return case["file"].removesuffix(".yaml")


def test_there_are_regression_cases():
    assert len(CASES) >= 2
    for case in CASES:
        assert case["spec_verdict"] in VERDICT, case["file"]
        assert case["oracle_verdict"] in VERDICT, case["file"]
        assert case["spec"], f"{case['file']}: cite the sentence of the API documentation"
        assert case["oracle_departure"] in known.REWRITES or case["settled"].startswith("the engine")


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_engine_gives_the_spec_verdict(case):
    conn = case["connection"]
    decision = differential.engine_verdicts(
        case["cluster"], [(conn["from"], conn["to"], conn["port"], conn["protocol"])]
    )
    assert list(decision.values()) == [VERDICT[case["spec_verdict"]]], case["why"]


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_the_named_departure_reproduces_the_oracle_verdict(case):
    """The rewrite that stands for the oracle's departure turns the spec verdict into the oracle's."""
    conn = case["connection"]
    cell = (conn["from"], conn["to"], conn["port"], conn["protocol"])
    rewritten = known.apply(case["cluster"], (case["oracle_departure"],))
    assert differential.engine_verdicts(rewritten, [cell])[cell] == VERDICT[case["oracle_verdict"]]
    assert VERDICT[case["oracle_verdict"]] != VERDICT[case["spec_verdict"]]


def test_generator_is_deterministic():
    assert random_cluster(random.Random(7)) == random_cluster(random.Random(7))
    assert random_cluster(random.Random(7)) != random_cluster(random.Random(8))


def _fields(node, found, key=None):
    if isinstance(node, dict):
        for k, v in node.items():
            found.add(k)
            if k == "operator":
                found.add(v)
            if k == "protocol":
                found.add(v)
            if k == "port" and isinstance(v, str):
                found.add("named port")
            if k in ("from", "to", "ingress", "egress", "ports") and v == []:
                found.add(f"empty {k}")
            _fields(v, found, k)
    elif isinstance(node, list):
        for v in node:
            _fields(v, found, key)


def test_generated_clusters_are_valid_and_use_every_field():
    rng = random.Random(3)
    found: set[str] = set()
    policies_per_pod = 0
    for _attempt in range(200):
        cluster = random_cluster(rng)
        model = netpol.Cluster(cluster["namespaces"], cluster["pods"], cluster["policies"])  # validates
        _fields(cluster["policies"], found)
        if any(not p["spec"].get("policyTypes") for p in cluster["policies"]):
            found.add("policyTypes defaulted")
        if ":" in cluster["pods"][0]["ip"]:
            found.add("IPv6")
        for pod in model.pods:
            selecting = [p for p in model.policies if p.namespace == model.pods[pod].namespace]
            policies_per_pod = max(
                policies_per_pod, sum(p.pod_selector.matches(model.pods[pod].labels) for p in selecting)
            )
        assert cluster["externals"]
    expected = {
        "podSelector", "namespaceSelector", "matchLabels", "matchExpressions", "In", "NotIn", "Exists",
        "DoesNotExist", "ipBlock", "except", "endPort", "named port", "TCP", "UDP", "SCTP", "from", "to",
        "ingress", "egress", "policyTypes", "policyTypes defaulted", "empty from", "empty to", "empty ports",
        "empty ingress", "empty egress", "IPv6",
    }  # fmt: skip
    assert expected <= found, expected - found
    assert policies_per_pod >= 3


def test_notin_rewrite_only_changes_pods_without_the_label():
    cluster = random_cluster(random.Random(11))
    assert known.apply(cluster, ()) == cluster
    rewritten = known.notin_requires_key(cluster)
    assert rewritten is not cluster
    for policy in rewritten["policies"]:
        exprs = (policy["spec"]["podSelector"].get("matchExpressions")) or []
        notin = {e["key"] for e in exprs if e["operator"] == "NotIn"}
        exists = {e["key"] for e in exprs if e["operator"] == "Exists"}
        assert notin <= exists


def test_port_name_rewrite_names_every_protocol_after_the_first_container_port():
    cluster = {
        "pods": [{"ports": [{"port": 53, "protocol": "UDP", "name": "dns"}, {"port": 53, "protocol": "TCP"}]}],
    }
    ports = known.port_name_ignores_protocol(cluster)["pods"][0]["ports"]
    assert ports == [{"port": 53, "protocol": p, "name": "dns"} for p in ("TCP", "UDP", "SCTP")]


def test_minimiser_reduces_to_the_cause():
    """With the NotIn rewrite standing in for the oracle, the minimiser keeps one policy and two pods."""
    rng = random.Random(5)
    for _attempt in range(500):
        cluster = random_cluster(rng)
        fake = known.notin_requires_key(cluster)
        pods = list(netpol.Cluster(cluster["namespaces"], cluster["pods"], cluster["policies"]).pods)
        cells = [(s, t, 80, "TCP") for s in pods for t in pods if s != t]
        a = differential.engine_verdicts(cluster, cells)
        b = differential.engine_verdicts(fake, cells)
        differing = [c for c in cells if a[c] != b[c]]
        if differing and len(cluster["policies"]) > 1:
            break
    else:
        pytest.fail("no random cluster where NotIn matters")
    cell = differing[0]

    def still_differs(candidate):
        return (
            differential.engine_verdicts(candidate, [cell])[cell]
            != differential.engine_verdicts(known.notin_requires_key(candidate), [cell])[cell]
        )

    small = differential.minimise(cluster, cell, still_differs)
    assert still_differs(small)
    assert len(small["policies"]) == 1
    assert len(small["pods"]) <= 2
    assert "NotIn" in str(small["policies"])


def test_parser_reads_a_real_cyclonus_output():
    case = next(c for c in CASES if c["file"] == "named-port-other-protocol.yaml")
    cluster = case["cluster"] | {"externals": ["192.0.2.10"]}
    text = (HERE / "cyclonus_analyze_output.txt").read_text()
    verdicts = cyclonus.parse_output(text, [(53, "TCP"), (53, "UDP")], cyclonus.traffic_queries(cluster))
    assert verdicts[("x/a", "x/b", 53, "TCP")] is True  # the departure the case records
    assert verdicts[("x/b", "x/a", 53, "TCP")] is False
    assert verdicts[("192.0.2.10", "10.0.1.99", 53, "TCP")] is False
    assert len(verdicts) == 8 + 6


def test_parser_rejects_truncated_output():
    text = (HERE / "cyclonus_analyze_output.txt").read_text()
    case = next(c for c in CASES if c["file"] == "named-port-other-protocol.yaml")
    queries = cyclonus.traffic_queries(case["cluster"] | {"externals": ["192.0.2.10"]})
    with pytest.raises(cyclonus.OracleError, match="traffic queries"):
        cyclonus.parse_output(text[: len(text) // 2], [(53, "TCP"), (53, "UDP")], queries)
    with pytest.raises(cyclonus.OracleError, match="Combined tables"):
        cyclonus.parse_output("probe:\n", [(53, "TCP")], queries)
