# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""NetworkPolicy engine: what the upstream suite lacks, explanations, input errors, tables."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from ansible_collections.netpol.aks.plugins.module_utils import netpol


def pol(name, spec, ns="x"):
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": ns},
        "spec": spec,
    }


def pod(ident, ip, labels=None, ports=()):
    ns, name = ident.split("/")
    return {"namespace": ns, "name": name, "labels": labels or {"app": name}, "ip": ip, "ports": list(ports)}


def tcp(name, number, protocol="TCP"):
    return {"name": name, "port": number, "protocol": protocol}


def allowed(cluster, src, dst, port, protocol="TCP"):
    decision = cluster.evaluate(src, dst, port, protocol)
    if isinstance(dst, str) and isinstance(src, str) and src != dst:
        matrix = cluster.evaluate_classes(port, protocol)
        by_class = matrix.allowed(cluster.class_of(src).index, cluster.class_of(dst).index)
        assert by_class == decision.allowed, f"class engine disagrees for {src} -> {dst} on {port}/{protocol}"
    return decision.allowed


# ---------------------------------------------------------------------------------------------
# endPort
# ---------------------------------------------------------------------------------------------


def test_endport_range_is_inclusive_and_per_protocol():
    cluster = netpol.Cluster(
        pods=[pod("x/client", "10.0.0.1"), pod("x/server", "10.0.0.2")],
        policies=[
            pol(
                "range",
                {
                    "podSelector": {"matchLabels": {"app": "server"}},
                    "ingress": [
                        {
                            "ports": [
                                {"port": 8000, "endPort": 8080, "protocol": "TCP"},
                                {"port": 53, "endPort": 54, "protocol": "UDP"},
                            ]
                        }
                    ],
                },
            )
        ],
    )
    verdicts = {p: allowed(cluster, "x/client", "x/server", p) for p in (7999, 8000, 8050, 8080, 8081)}
    assert verdicts == {7999: False, 8000: True, 8050: True, 8080: True, 8081: False}
    assert allowed(cluster, "x/client", "x/server", 53, "udp") is True
    assert allowed(cluster, "x/client", "x/server", 54, "UDP") is True
    assert allowed(cluster, "x/client", "x/server", 53, "TCP") is False
    assert allowed(cluster, "x/client", "x/server", 8050, "UDP") is False
    match = cluster.evaluate("x/client", "x/server", 8050).ingress.match
    assert (match.policy, match.rule, match.port, match.port_text) == ("x/range", 0, 0, "8000-8080/TCP")


def test_endport_on_egress():
    cluster = netpol.Cluster(
        pods=[pod("x/client", "10.0.0.1"), pod("y/server", "10.0.1.2")],
        policies=[
            pol(
                "out",
                {
                    "podSelector": {},
                    "policyTypes": ["Egress"],
                    "egress": [{"ports": [{"port": 30000, "endPort": 32767}]}],
                },
            )
        ],
    )
    assert allowed(cluster, "x/client", "y/server", 31000) is True
    assert allowed(cluster, "x/client", "y/server", 29999) is False
    assert allowed(cluster, "y/server", "x/client", 29999) is True


# ---------------------------------------------------------------------------------------------
# ipBlock on ingress, with except; non-pod endpoints
# ---------------------------------------------------------------------------------------------


def ipblock_cluster():
    pods = [
        pod(f"{ns}/{p}", f"10.{i}.0.{j + 10}", {"pod": p})
        for i, ns in enumerate("xy", start=1)
        for j, p in enumerate("abc")
    ]
    policy = pol(
        "from-y-but-not-y-b",
        {
            "podSelector": {"matchLabels": {"pod": "a"}},
            "ingress": [{"from": [{"ipBlock": {"cidr": "10.2.0.0/16", "except": ["10.2.0.11/32"]}}]}],
        },
    )
    return netpol.Cluster(pods=pods, policies=[policy])


def test_ingress_ipblock_with_except_matches_pod_ips():
    cluster = ipblock_cluster()
    assert allowed(cluster, "y/a", "x/a", 80) is True
    assert allowed(cluster, "y/b", "x/a", 80) is False  # 10.2.0.11 is in except
    assert allowed(cluster, "y/c", "x/a", 80) is True
    assert allowed(cluster, "x/b", "x/a", 80) is False  # 10.1.0.11 is outside the cidr
    assert allowed(cluster, "x/b", "x/c", 80) is True  # x/c is not selected
    explanation = cluster.evaluate("y/a", "x/a", 80).ingress
    assert explanation.match.peer_text == "ipBlock 10.2.0.0/16 except 10.2.0.11/32"


def test_ingress_ipblock_matches_non_pod_endpoints():
    cluster = ipblock_cluster()
    assert cluster.evaluate({"ip": "10.2.77.1"}, "x/a", 80).allowed is True
    assert cluster.evaluate({"ip": "10.2.0.11"}, "x/a", 80).source == "y/b"  # a pod's IP is that pod
    outside = cluster.evaluate({"ip": "203.0.113.7"}, "x/a", 80)
    assert outside.allowed is False
    assert not outside.egress.applies
    assert "not governed by NetworkPolicy" in outside.egress.sentence()


def test_selectors_never_match_non_pod_endpoints():
    cluster = netpol.Cluster(
        pods=[pod("x/a", "10.1.0.1")],
        policies=[pol("all-pods-anywhere", {"podSelector": {}, "ingress": [{"from": [{"namespaceSelector": {}}]}]})],
    )
    assert cluster.evaluate("x/a", "x/a", 80).self_traffic
    assert cluster.evaluate({"ip": "192.0.2.1"}, "x/a", 80).allowed is False


def test_egress_ipblock_to_external_address():
    cluster = netpol.Cluster(
        pods=[pod("x/a", "10.1.0.1")],
        policies=[
            pol(
                "internet-but-not-metadata",
                {
                    "podSelector": {},
                    "policyTypes": ["Egress"],
                    "egress": [{"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["169.254.169.254/32"]}}]}],
                },
            )
        ],
    )
    assert cluster.evaluate("x/a", {"ip": "203.0.113.7"}, 443).allowed is True
    assert cluster.evaluate("x/a", {"ip": "169.254.169.254"}, 80).allowed is False
    decision = cluster.evaluate("x/a", {"ip": "203.0.113.7"}, 443)
    assert decision.ingress.applies is False
    assert decision.target == "203.0.113.7"


def test_ipv6_block_does_not_match_ipv4_pods():
    cluster = netpol.Cluster(
        pods=[pod("x/a", "10.1.0.1"), pod("x/b", "fd00::5"), pod("x/c", "10.1.0.3")],
        policies=[
            pol(
                "v6",
                {
                    "podSelector": {"matchLabels": {"app": "c"}},
                    "ingress": [{"from": [{"ipBlock": {"cidr": "fd00::/8"}}]}],
                },
            )
        ],
    )
    assert allowed(cluster, "x/a", "x/c", 80) is False
    assert allowed(cluster, "x/b", "x/c", 80) is True


def test_ipblock_splits_an_equivalence_class():
    cluster = ipblock_cluster()
    names = {c.pods for c in cluster.classes()}
    # y/a and y/c match the block, y/b does not: different classes despite equal labels per name.
    assert all(len(c) == 1 for c in names)
    twins = netpol.Cluster(
        pods=[
            pod("x/a1", "10.0.0.1", {"app": "a"}),
            pod("x/a2", "10.9.0.1", {"app": "a"}),
            pod("x/b", "10.0.0.3", {"app": "b"}),
        ],
        policies=[
            pol(
                "p",
                {
                    "podSelector": {"matchLabels": {"app": "b"}},
                    "ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.0/16"}}]}],
                },
            )
        ],
    )
    assert len(twins.classes()) == 3
    assert allowed(twins, "x/a1", "x/b", 80) is True
    assert allowed(twins, "x/a2", "x/b", 80) is False


# ---------------------------------------------------------------------------------------------
# Named ports
# ---------------------------------------------------------------------------------------------


def named_cluster():
    pods = [
        pod("x/client", "10.0.0.1", {"app": "client"}, [tcp("http", 1111)]),
        pod("x/web1", "10.0.0.2", {"app": "web"}, [tcp("http", 8080)]),
        pod("x/web2", "10.0.0.3", {"app": "web"}, [tcp("http", 9090)]),
        pod("x/web3", "10.0.0.4", {"app": "web"}, [tcp("metrics", 8080)]),
        pod("x/dns", "10.0.0.5", {"app": "dns"}, [tcp("dns", 53, "UDP"), tcp("dns-tcp", 53)]),
    ]
    policies = [
        pol("web-http", {"podSelector": {"matchLabels": {"app": "web"}}, "ingress": [{"ports": [{"port": "http"}]}]}),
        pol(
            "dns-udp",
            {
                "podSelector": {"matchLabels": {"app": "dns"}},
                "ingress": [{"ports": [{"port": "dns", "protocol": "UDP"}]}],
            },
        ),
    ]
    return netpol.Cluster(pods=pods, policies=policies)


def test_named_port_resolves_on_each_destination_pod():
    cluster = named_cluster()
    assert allowed(cluster, "x/client", "x/web1", 8080) is True
    assert allowed(cluster, "x/client", "x/web1", 9090) is False
    assert allowed(cluster, "x/client", "x/web2", 9090) is True
    assert allowed(cluster, "x/client", "x/web2", 8080) is False
    assert allowed(cluster, "x/client", "x/web3", 8080) is False  # 8080 is named metrics there
    assert cluster.evaluate("x/client", "x/web2", "http").port == 9090  # a probe port by name


def test_named_port_is_per_protocol():
    cluster = named_cluster()
    assert allowed(cluster, "x/client", "x/dns", 53, "UDP") is True
    assert allowed(cluster, "x/client", "x/dns", 53, "TCP") is False


def test_egress_named_port_resolves_on_the_destination_not_the_source():
    cluster = netpol.Cluster(
        pods=[
            pod("x/client", "10.0.0.1", {"app": "client"}, [tcp("http", 1111)]),
            pod("x/web", "10.0.0.2", {"app": "web"}, [tcp("http", 8080)]),
        ],
        policies=[
            pol(
                "client-out",
                {
                    "podSelector": {"matchLabels": {"app": "client"}},
                    "policyTypes": ["Egress"],
                    "egress": [{"ports": [{"port": "http"}]}],
                },
            )
        ],
    )
    assert allowed(cluster, "x/client", "x/web", 8080) is True
    assert allowed(cluster, "x/client", "x/web", 1111) is False
    assert cluster.evaluate("x/client", {"ip": "198.51.100.1"}, 8080).allowed is False  # no pod, no name


def test_unknown_port_name_in_a_probe_is_an_input_error():
    with pytest.raises(netpol.InputError, match="x/web1 has no TCP container port named 'grpc'"):
        named_cluster().evaluate("x/client", "x/web1", "grpc")


# ---------------------------------------------------------------------------------------------
# policyTypes, empty versus absent, egress-only, selectors
# ---------------------------------------------------------------------------------------------


def three_pods():
    return [
        pod("x/a", "10.0.0.1", {"app": "a", "tier": "web"}),
        pod("x/b", "10.0.0.2", {"app": "b"}),
        pod("y/c", "10.0.1.3", {"app": "c"}),
    ]


@pytest.mark.parametrize(
    ("spec", "ingress_isolated", "egress_isolated"),
    [
        ({"podSelector": {}}, True, False),
        ({"podSelector": {}, "egress": []}, True, False),  # empty egress does not add Egress
        ({"podSelector": {}, "egress": [{}]}, True, True),  # egress rules add Egress
        ({"podSelector": {}, "policyTypes": ["Egress"], "ingress": [{}]}, False, True),
        ({"podSelector": {}, "policyTypes": ["Egress"]}, False, True),
        ({"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}, True, True),
    ],
)
def test_policy_types_defaulting(spec, ingress_isolated, egress_isolated):
    cluster = netpol.Cluster(pods=three_pods(), policies=[pol("p", spec)])
    decision = cluster.evaluate("x/a", "x/b", 80)
    assert decision.ingress.isolated is ingress_isolated
    assert decision.egress.isolated is egress_isolated


def test_egress_only_policy_leaves_ingress_open():
    cluster = netpol.Cluster(
        pods=three_pods(),
        policies=[
            pol(
                "a-out-to-c",
                {
                    "podSelector": {"matchLabels": {"app": "a"}},
                    "policyTypes": ["Egress"],
                    "egress": [{"to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "y"}}}]}],
                },
            )
        ],
    )
    assert allowed(cluster, "x/a", "y/c", 80) is True
    assert allowed(cluster, "x/a", "x/b", 80) is False
    assert allowed(cluster, "x/b", "x/a", 80) is True  # ingress to a untouched
    assert allowed(cluster, "y/c", "x/a", 80) is True
    decision = cluster.evaluate("x/a", "x/b", 80)
    assert decision.egress.selecting == ("x/a-out-to-c",)
    assert not decision.ingress.isolated


def test_empty_from_list_means_every_source_and_empty_ingress_means_none():
    open_rule = netpol.Cluster(
        pods=three_pods(), policies=[pol("p", {"podSelector": {}, "ingress": [{"from": [], "ports": []}]})]
    )
    assert allowed(open_rule, "y/c", "x/a", 80) is True
    assert open_rule.evaluate("y/c", "x/a", 80).ingress.match.peer is None
    closed = netpol.Cluster(pods=three_pods(), policies=[pol("p", {"podSelector": {}, "ingress": []})])
    assert allowed(closed, "y/c", "x/a", 80) is False


@pytest.mark.parametrize(
    ("selector", "allowed_sources"),
    [
        ({"matchExpressions": [{"key": "tier", "operator": "Exists"}]}, {"x/a"}),
        ({"matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}]}, {"x/b"}),
        ({"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["a"]}]}, {"x/b"}),
        ({"matchExpressions": [{"key": "app", "operator": "In", "values": ["a", "b"]}]}, {"x/a", "x/b"}),
        (
            {"matchLabels": {"app": "a"}, "matchExpressions": [{"key": "tier", "operator": "In", "values": ["db"]}]},
            set(),
        ),
        ({}, {"x/a", "x/b"}),
    ],
)
def test_pod_selector_operators(selector, allowed_sources):
    target = pod("x/t", "10.0.0.9", {"app": "t"})
    cluster = netpol.Cluster(
        pods=[*three_pods(), target],
        policies=[
            pol("p", {"podSelector": {"matchLabels": {"app": "t"}}, "ingress": [{"from": [{"podSelector": selector}]}]})
        ],
    )
    got = {s for s in ("x/a", "x/b", "y/c") if allowed(cluster, s, "x/t", 80)}
    assert got == allowed_sources


def test_namespace_labels_and_metadata_name():
    cluster = netpol.Cluster(
        namespaces=[{"name": "x"}, {"name": "y", "labels": {"team": "blue"}}],
        pods=three_pods(),
        policies=[
            pol(
                "p",
                {"podSelector": {}, "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"team": "blue"}}}]}]},
            )
        ],
    )
    assert cluster.namespaces["y"] == {"team": "blue", "kubernetes.io/metadata.name": "y"}
    assert allowed(cluster, "y/c", "x/a", 80) is True
    assert allowed(cluster, "x/b", "x/a", 80) is False


def test_namespace_mentioned_only_by_pods_gets_its_name_label():
    cluster = netpol.Cluster(pods=three_pods())
    assert cluster.namespaces == {"x": {"kubernetes.io/metadata.name": "x"}, "y": {"kubernetes.io/metadata.name": "y"}}


# ---------------------------------------------------------------------------------------------
# Explanations
# ---------------------------------------------------------------------------------------------


def explained_cluster():
    return netpol.Cluster(
        pods=three_pods(),
        policies=[
            pol("deny-all", {"podSelector": {}, "ingress": []}),
            pol(
                "allow-b-to-a",
                {
                    "podSelector": {"matchLabels": {"app": "a"}},
                    "ingress": [
                        {"from": [{"podSelector": {"matchLabels": {"app": "zzz"}}}], "ports": [{"port": 80}]},
                        {
                            "from": [
                                {"ipBlock": {"cidr": "192.0.2.0/24"}},
                                {"podSelector": {"matchLabels": {"app": "b"}}},
                            ],
                            "ports": [{"port": 81, "protocol": "UDP"}, {"port": 80}],
                        },
                    ],
                },
            ),
        ],
    )


def test_explanation_names_policy_rule_peer_and_port():
    decision = explained_cluster().evaluate("x/b", "x/a", 80)
    assert decision.allowed is True
    match = decision.ingress.match
    assert (match.policy, match.direction, match.rule, match.peer, match.port) == ("x/allow-b-to-a", "ingress", 1, 1, 1)
    assert match.field == "spec.ingress[1].from[1].ports[1]"
    assert decision.ingress.selecting == ("x/deny-all", "x/allow-b-to-a")
    assert "x/allow-b-to-a spec.ingress[1].from[1].ports[1]" in decision.reason
    assert "egress from x/b is open" in decision.reason
    data = decision.to_dict()
    assert data["ingress"]["matches"][0]["policy"] == "x/allow-b-to-a"
    assert data["from"] == "x/b"
    assert data["to"] == "x/a"
    assert data["protocol"] == "TCP"


def test_explanation_of_default_deny_lists_the_selecting_policies():
    decision = explained_cluster().evaluate("y/c", "x/a", 80)
    assert decision.allowed is False
    assert decision.ingress.matches == ()
    assert decision.ingress.selecting == ("x/deny-all", "x/allow-b-to-a")
    assert decision.reason == (
        "y/c -> x/a on 80/TCP is blocked: ingress to x/a is denied by default: it is selected by "
        "x/deny-all, x/allow-b-to-a and no ingress rule of those matches"
    )
    assert decision.egress.allowed
    assert not decision.egress.isolated


def test_explanation_of_an_open_pod_and_rule_without_peers_or_ports():
    cluster = netpol.Cluster(
        pods=three_pods(), policies=[pol("all-in", {"podSelector": {"matchLabels": {"app": "a"}}, "ingress": [{}]})]
    )
    decision = cluster.evaluate("x/a", "x/b", 80)
    assert "no policy with policyType Ingress selects it" in decision.ingress.sentence()
    match = cluster.evaluate("x/b", "x/a", 80).ingress.match
    assert match.peer is None
    assert match.port is None
    assert match.field == "spec.ingress[0] (no from: every peer) (no ports: every port)"


def test_explanation_lists_every_allowing_rule():
    cluster = netpol.Cluster(
        pods=three_pods(),
        policies=[
            pol("one", {"podSelector": {}, "ingress": [{}]}),
            pol("two", {"podSelector": {}, "ingress": [{"ports": [{"port": 80}]}]}),
        ],
    )
    matches = cluster.evaluate("x/b", "x/a", 80).ingress.matches
    assert [m.policy for m in matches] == ["x/one", "x/two"]


def test_egress_denial_is_explained_on_the_source():
    cluster = netpol.Cluster(
        pods=three_pods(),
        policies=[pol("no-out", {"podSelector": {"matchLabels": {"app": "b"}}, "policyTypes": ["Egress"]})],
    )
    decision = cluster.evaluate("x/b", "y/c", 80)
    assert decision.allowed is False
    assert decision.reason.startswith(
        "x/b -> y/c on 80/TCP is blocked: egress from x/b is denied by default: it is selected by x/no-out"
    )


def test_self_traffic_is_reported_not_guessed():
    cluster = netpol.Cluster(pods=three_pods(), policies=[pol("deny", {"podSelector": {}, "ingress": []})])
    decision = cluster.evaluate("x/a", "x/a", 80)
    assert decision.self_traffic is True
    assert decision.allowed is None
    assert decision.policy_allowed is False
    assert "talking to itself" in decision.reason
    assert "kubernetes#95879" in decision.reason
    assert cluster.evaluate("x/a", "x/b", 80).self_traffic is False


# ---------------------------------------------------------------------------------------------
# Validation: every kind of bad policy names the policy and the field
# ---------------------------------------------------------------------------------------------

GOOD_RULE = {"from": [{"podSelector": {"matchLabels": {"app": "a"}}}], "ports": [{"port": 80, "protocol": "TCP"}]}


def ingress(**rule):
    return {"podSelector": {}, "ingress": [rule]}


BAD_POLICIES = [
    ("policy-type", {"podSelector": {}, "policyTypes": ["Ingres"]}, "spec.policyTypes[0]", "not a policy type"),
    (
        "policy-types-three",
        {"podSelector": {}, "policyTypes": ["Ingress", "Egress", "Ingress"]},
        "spec.policyTypes",
        "more than two policyTypes",
    ),
    (
        "protocol",
        ingress(ports=[{"port": 80, "protocol": "HTTP"}]),
        "spec.ingress[0].ports[0].protocol",
        "use TCP, UDP or SCTP",
    ),
    (
        "protocol-case",
        ingress(ports=[{"port": 80, "protocol": "tcp"}]),
        "spec.ingress[0].ports[0].protocol",
        "write 'TCP'",
    ),
    ("port-zero", ingress(ports=[{"port": 0}]), "spec.ingress[0].ports[0].port", "out of range"),
    (
        "port-high",
        {"podSelector": {}, "egress": [{"ports": [{"port": 70000}]}]},
        "spec.egress[0].ports[0].port",
        "out of range",
    ),
    ("port-digits", ingress(ports=[{"port": "80"}]), "spec.ingress[0].ports[0].port", "string of digits"),
    ("port-name", ingress(ports=[{"port": "Serve_80"}]), "spec.ingress[0].ports[0].port", "IANA service name"),
    ("port-name-long", ingress(ports=[{"port": "a-very-long-port-name"}]), "spec.ingress[0].ports[0].port", "IANA"),
    (
        "endport-below",
        ingress(ports=[{"port": 90, "endPort": 80}]),
        "spec.ingress[0].ports[0].endPort",
        "must be >= port",
    ),
    (
        "endport-named",
        ingress(ports=[{"port": "http", "endPort": 90}]),
        "spec.ingress[0].ports[0].endPort",
        "named port",
    ),
    ("endport-alone", ingress(ports=[{"endPort": 90}]), "spec.ingress[0].ports[0].endPort", "requires port"),
    (
        "endport-range",
        ingress(ports=[{"port": 80, "endPort": 65536}]),
        "spec.ingress[0].ports[0].endPort",
        "out of range",
    ),
    (
        "label-key",
        {"podSelector": {"matchLabels": {"bad key": "x"}}},
        "spec.podSelector.matchLabels.bad key",
        "label key",
    ),
    (
        "label-prefix",
        {"podSelector": {"matchLabels": {"Example.COM/app": "x"}}},
        "spec.podSelector.matchLabels.Example.COM/app",
        "prefix",
    ),
    (
        "label-value",
        ingress(**{"from": [{"podSelector": {"matchLabels": {"app": "-bad-"}}}]}),
        "spec.ingress[0].from[0].podSelector.matchLabels.app",
        "label value",
    ),
    (
        "label-value-type",
        {"podSelector": {"matchLabels": {"replicas": 3}}},
        "spec.podSelector.matchLabels.replicas",
        "must be a string",
    ),
    (
        "operator",
        {"podSelector": {"matchExpressions": [{"key": "app", "operator": "Equals", "values": ["a"]}]}},
        "spec.podSelector.matchExpressions[0].operator",
        "not a valid operator",
    ),
    (
        "in-without-values",
        {"podSelector": {"matchExpressions": [{"key": "app", "operator": "In"}]}},
        "spec.podSelector.matchExpressions[0].values",
        "non-empty",
    ),
    (
        "exists-with-values",
        ingress(
            **{
                "from": [
                    {
                        "namespaceSelector": {
                            "matchExpressions": [{"key": "team", "operator": "Exists", "values": ["a"]}]
                        }
                    }
                ]
            }
        ),
        "spec.ingress[0].from[0].namespaceSelector.matchExpressions[0].values",
        "must be empty",
    ),
    (
        "expression-key",
        {"podSelector": {"matchExpressions": [{"key": "a b", "operator": "Exists"}]}},
        "spec.podSelector.matchExpressions[0].key",
        "label key",
    ),
    (
        "expression-value",
        {"podSelector": {"matchExpressions": [{"key": "app", "operator": "In", "values": ["ok", "not ok"]}]}},
        "spec.podSelector.matchExpressions[0].values[1]",
        "label value",
    ),
    (
        "cidr",
        ingress(**{"from": [{"ipBlock": {"cidr": "10.0.0.300/8"}}]}),
        "spec.ingress[0].from[0].ipBlock.cidr",
        "not a valid CIDR",
    ),
    (
        "cidr-no-prefix",
        ingress(**{"from": [{"ipBlock": {"cidr": "10.0.0.1"}}]}),
        "spec.ingress[0].from[0].ipBlock.cidr",
        "prefix length",
    ),
    (
        "except-outside",
        {"podSelector": {}, "egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.0/16", "except": ["10.1.0.0/24"]}}]}]},
        "spec.egress[0].to[0].ipBlock.except[0]",
        "must lie inside cidr",
    ),
    (
        "except-wider",
        ingress(**{"from": [{"ipBlock": {"cidr": "10.0.0.0/16", "except": ["10.0.0.0/8"]}}]}),
        "spec.ingress[0].from[0].ipBlock.except[0]",
        "must lie inside",
    ),
    (
        "except-family",
        ingress(**{"from": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["fd00::/64"]}}]}),
        "spec.ingress[0].from[0].ipBlock.except[0]",
        "must lie inside",
    ),
    (
        "except-bad",
        ingress(**{"from": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["nonsense/8"]}}]}),
        "spec.ingress[0].from[0].ipBlock.except[0]",
        "not a valid CIDR",
    ),
    (
        "peer-mixed",
        ingress(**{"from": [{"ipBlock": {"cidr": "10.0.0.0/8"}, "podSelector": {}}]}),
        "spec.ingress[0].from[0]",
        "may not combine ipBlock",
    ),
    ("peer-empty", ingress(**{"from": [{}]}), "spec.ingress[0].from[0]", "must specify a peer"),
    ("unknown-field", {"podSelectr": {}}, "spec.podSelectr", "unknown field"),
    ("rule-field", ingress(to=[{"podSelector": {}}]), "spec.ingress[0].to", "unknown field"),
    ("wrong-type", {"podSelector": "app=api"}, "spec.podSelector", "must be a mapping"),
]


@pytest.mark.parametrize(("name", "spec", "path", "problem"), BAD_POLICIES, ids=[b[0] for b in BAD_POLICIES])
def test_bad_policy_names_policy_and_field(name, spec, path, problem):
    errors = netpol.validate_policy(pol(name, spec, ns="team-a"))
    assert errors, "no error reported"
    hits = [e for e in errors if e.startswith(f"team-a/{name}: {path}: ") and problem in e]
    assert hits, f"expected '{path}' with '{problem}', got {errors}"
    with pytest.raises(netpol.PolicyError) as info:
        netpol.Cluster(policies=[pol(name, spec, ns="team-a")])
    assert f"team-a/{name}: {path}: " in str(info.value)
    assert info.value.errors == errors


def test_a_repeated_policy_type_is_accepted_as_the_api_server_accepts_it():
    policy = pol("twice", {"podSelector": {}, "policyTypes": ["Ingress", "Ingress"]})
    assert netpol.validate_policy(policy) == []
    assert netpol.Cluster(policies=[policy]).policies


def test_good_policy_has_no_errors():
    assert (
        netpol.validate_policy(
            pol(
                "fine",
                {
                    "podSelector": {},
                    "policyTypes": ["Ingress", "Egress"],
                    "ingress": [GOOD_RULE],
                    "egress": [
                        {
                            "to": [{"ipBlock": {"cidr": "10.0.0.5/8", "except": ["10.1.0.0/16"]}}],
                            "ports": [
                                {"port": 1000, "endPort": 2000, "protocol": "UDP"},
                                {"port": "dns", "protocol": "SCTP"},
                            ],
                        }
                    ],
                },
            )
        )
        == []
    )


def test_metadata_problems():
    errors = netpol.validate_policy({"spec": {"podSelector": {}}})
    assert "<no namespace>/<no name>: metadata: must be a mapping, got NoneType None" in errors
    errors = netpol.validate_policy({"metadata": {"name": "Bad_Name"}, "spec": {"podSelector": {}}})
    assert any(e.startswith("<no namespace>/Bad_Name: metadata.name: ") for e in errors)
    assert any(e.startswith("<no namespace>/Bad_Name: metadata.namespace: is required") for e in errors)
    assert netpol.validate_policy({"kind": "Pod", "metadata": {"name": "p", "namespace": "x"}, "spec": {}})[
        0
    ].startswith("x/p: kind: ")
    assert netpol.validate_policy(["not", "a", "policy"]) == [
        "<no namespace>/<no name>: (policy): must be a NetworkPolicy mapping, got list"
    ]


def test_strict_schema_catches_what_our_checks_do_not():
    errors = netpol.validate_policy(
        pol("meta", {"podSelector": {}}) | {"metadata": {"name": "meta", "namespace": "x", "uid": 5}}
    )
    assert errors
    assert errors[0].startswith("x/meta: metadata.uid: ")
    assert "strict schema" in errors[0]


def owned(name, owner):
    return pol(name, {"podSelector": {}}) | {"metadata": {"name": name, "namespace": "x", "ownerReferences": [owner]}}


def test_the_strict_schema_is_checked_by_fastjsonschema_and_its_errors_come_from_jsonschema(monkeypatch):
    # A fresh schema object: valid policies never build the jsonschema validator; a bad one does, and its errors
    # name the field.
    monkeypatch.setattr(netpol, "_SCHEMA_VALIDATOR", netpol._StrictSchema(netpol._load_strict_schema()))
    assert netpol._SCHEMA_VALIDATOR.slow is None
    owner = {"apiVersion": "v1", "kind": "ConfigMap", "name": "cm", "uid": "1234"}
    assert netpol.validate_policy(owned("a", owner)) == []
    assert netpol.validate_policy(owned("b", owner | {"name": "other", "uid": "5678"})) == []
    assert netpol._SCHEMA_VALIDATOR._validator is None
    errors = netpol.validate_policy(owned("c", owner | {"uid": 5}))
    assert netpol._SCHEMA_VALIDATOR._validator is not None
    assert len(errors) == 1
    assert errors[0].startswith("x/c: metadata.ownerReferences[0].uid: 5 is not of type 'string' (strict schema")
    errors = netpol.validate_policy(owned("d", {k: v for k, v in owner.items() if k != "name"}))
    assert errors == [
        f"x/d: metadata.ownerReferences[0]: 'name' is a required property (strict schema of Kubernetes "
        f"{netpol.SCHEMA_VERSION})"
    ]


RICH_POLICY = {
    "apiVersion": "networking.k8s.io/v1",
    "kind": "NetworkPolicy",
    "metadata": {
        "name": "rich",
        "namespace": "x",
        "labels": {"app": "web"},
        "annotations": {"note": "kept"},
        "generation": 3,
        "creationTimestamp": "2026-01-01T00:00:00Z",
        "ownerReferences": [{"apiVersion": "v1", "kind": "ConfigMap", "name": "cm", "uid": "1", "controller": True}],
        "managedFields": [{"manager": "kubectl", "operation": "Apply", "fieldsV1": {"f:spec": {}}}],
    },
    "spec": {
        "podSelector": {"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "tier", "operator": "Exists"}]},
        "policyTypes": ["Ingress", "Egress"],
        "ingress": [
            {
                "from": [
                    {"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}},
                    {"namespaceSelector": {"matchLabels": {"team": "a"}}, "podSelector": {}},
                ],
                "ports": [{"port": 80}, {"port": "http", "protocol": "TCP"}, {"port": 8000, "endPort": 8100}],
            }
        ],
        "egress": [{"to": [{"podSelector": {"matchExpressions": [{"key": "a", "operator": "In", "values": ["b"]}]}}]}],
    },
}
ODD_VALUES = [None, 0, 7, 1.0, 1.5, True, "", "networking.k8s.io/v1", [], ["s"], [{}], {}, {"zz": 1}]


def _mutations(node, put):
    """Every copy of the document with one value replaced by each odd value, one key added or one key removed."""
    if isinstance(node, dict):
        yield put({**node, "zz": "unknown"})
        for key, value in node.items():
            yield put({k: v for k, v in node.items() if k != key})
            for odd in ODD_VALUES:
                yield put({**node, key: odd})
            yield from _mutations(value, lambda new, key=key: put({**node, key: new}))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            for odd in ODD_VALUES:
                yield put([*node[:i], odd, *node[i + 1 :]])
            yield from _mutations(value, lambda new, i=i: put([*node[:i], new, *node[i + 1 :]]))


def test_the_python_check_of_the_strict_schema_agrees_with_jsonschema_on_every_mutation():
    # The fast verdict is fastjsonschema's (the schema compiled to Python once); jsonschema's is the reference.
    strict = netpol._StrictSchema(netpol._load_strict_schema())
    assert strict.slow is None
    reference = strict.iter_errors  # builds jsonschema's validator of the same schema
    docs = [RICH_POLICY, *_mutations(RICH_POLICY, lambda doc: doc)]
    verdicts = {True: 0, False: 0}
    for doc in docs:
        expected = next(iter(reference(doc)), None) is None
        assert strict.valid(doc) is expected, doc
        verdicts[expected] += 1
    # Both verdicts are exercised, not one of them.
    assert verdicts[True] > 100
    assert verdicts[False] > 300


def test_the_strict_schema_is_read_as_draft_2020_12_and_left_unchanged():
    schema = netpol._load_strict_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    before = repr(schema)
    netpol._fast_schema_check(schema)
    assert repr(schema) == before
    # Whatever "$schema" says, the copy is compiled as draft-07, whose integer accepts 1.0 as 2020-12's does
    # (draft-04's does not).
    check = netpol._fast_schema_check({"$schema": "http://json-schema.org/draft-04/schema#", "type": "integer"})
    assert check(1.0)
    assert not check(1.5)
    assert not check(True)
    # Defaults are not filled into the checked policy.
    doc = {}
    assert netpol._fast_schema_check({"properties": {"a": {"type": "string", "default": "x"}}})(doc)
    assert doc == {}


def test_a_schema_keyword_fastjsonschema_reads_differently_sends_every_policy_to_jsonschema():
    for schema, keyword in (
        ({"prefixItems": [{"type": "string"}]}, "'prefixItems'"),
        ({"properties": {"ports": {"items": [{"type": "string"}]}}}, "'items'"),
        ({"properties": {"a": {"$ref": "#/$defs/a"}}, "$defs": {"a": {"type": "string"}}}, "'$ref'"),
        ({"dependencies": {"a": ["b"]}}, "'dependencies'"),
        ({"unevaluatedProperties": False}, "'unevaluatedProperties'"),
    ):
        with pytest.raises(netpol._UnsupportedSchema) as info:
            netpol._fast_schema_check(schema)
        assert str(info.value) == f"keyword {keyword}"
    with pytest.raises(netpol._UnsupportedSchema, match="definition"):
        netpol._fast_schema_check({"type": "decimal"})
    strict = netpol._StrictSchema({"prefixItems": [{"type": "string"}]})
    assert "fastjsonschema would read its keyword 'prefixItems' differently" in strict.slow
    assert not strict.valid(["ok"])
    assert not list(strict.iter_errors(["ok"]))
    assert [e.message for e in strict.iter_errors([5])] == ["5 is not of type 'string'"]


def test_without_fastjsonschema_every_policy_goes_to_jsonschema_and_a_warning_says_so(monkeypatch):
    monkeypatch.setattr(netpol, "_SCHEMA_VALIDATOR", None)
    monkeypatch.setattr(netpol, "_SCHEMA_PROBLEM", [None])
    monkeypatch.setitem(sys.modules, "fastjsonschema", None)
    owner = {"apiVersion": "v1", "kind": "ConfigMap", "name": "cm", "uid": "1234"}
    cluster = netpol.Cluster(policies=[owned("a", owner)])
    assert not netpol._SCHEMA_VALIDATOR.valid(RICH_POLICY)  # no fast verdict: jsonschema decides
    assert netpol._SCHEMA_VALIDATOR._validator is not None
    warning = (
        "the strict NetworkPolicy schema was checked by jsonschema alone: fastjsonschema is not installed "
        "(pip install fastjsonschema); validating many policies takes longer"
    )
    assert cluster.schema_warning == warning
    assert netpol.schema_problem() == warning
    assert netpol.validate_policy(RICH_POLICY) == []
    assert netpol.validate_policy(owned("c", owner | {"uid": 5}))[0].startswith(
        "x/c: metadata.ownerReferences[0].uid: 5 is not of type 'string' (strict schema"
    )
    with pytest.raises(netpol.PolicyError, match=r"metadata\.ownerReferences\[0\]\.uid"):
        netpol.Cluster(policies=[owned("d", owner | {"uid": 5})])
    # With fastjsonschema there is nothing to warn about.
    monkeypatch.setattr(netpol, "_SCHEMA_VALIDATOR", None)
    monkeypatch.setattr(netpol, "_SCHEMA_PROBLEM", [None])
    monkeypatch.delitem(sys.modules, "fastjsonschema")
    assert netpol.Cluster(policies=[owned("a", owner)]).schema_warning is None


def test_valid_policies_do_not_import_jsonschema():
    # Only an error to explain needs jsonschema (about 0.1 s of CPU to import): a run of valid policies is spared.
    code = (
        "import sys\n"
        "from ansible_collections.netpol.aks.plugins.module_utils import netpol\n"
        f"cluster = netpol.Cluster(policies=[{RICH_POLICY!r}])\n"
        "assert cluster.schema_warning is None and netpol._SCHEMA_VALIDATOR\n"
        "print('jsonschema' in sys.modules)\n"
        f"print(netpol.validate_policy({owned('bad', {'uid': 5})!r})[0])\n"
        "print('jsonschema' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=_child_env())
    lines = out.stdout.splitlines()
    assert lines[0] == "False"
    assert lines[1].startswith("x/bad: metadata.ownerReferences[0]: ")
    assert lines[2] == "True"


def _child_env():
    """This test process's import path for a child Python, so it finds the collection the same way."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}


def test_every_error_of_every_policy_is_reported_at_once():
    with pytest.raises(netpol.PolicyError) as info:
        netpol.Cluster(
            policies=[
                pol("one", {"podSelector": {}, "policyTypes": ["Ingres"]}),
                pol("two", ingress(ports=[{"port": 0}]), ns="y"),
            ]
        )
    assert len(info.value.errors) == 2
    assert str(info.value).startswith("2 invalid NetworkPolicy field(s):\n  - x/one: spec.policyTypes[0]")
    assert "\n  - y/two: spec.ingress[0].ports[0].port: 0 is out of range" in str(info.value)


def test_duplicate_policy_is_an_error():
    with pytest.raises(netpol.PolicyError, match=r"x/p: metadata\.name: the policy is listed twice"):
        netpol.Cluster(policies=[pol("p", {"podSelector": {}}), pol("p", {"podSelector": {}})])


# ---------------------------------------------------------------------------------------------
# Bad namespaces, pods and endpoints
# ---------------------------------------------------------------------------------------------

BAD_INPUTS = [
    ({"namespaces": [{"name": "Bad_NS"}]}, "namespaces[0].name: 'Bad_NS' is not a namespace name"),
    ({"namespaces": [{"name": "x", "labels": ["a"]}]}, "namespaces[0].labels: must be a mapping"),
    ({"namespaces": [{"name": "x", "label": {}}]}, "namespaces[0]: unknown field(s) label"),
    ({"namespaces": [{"name": "x"}, {"name": "x"}]}, "namespaces[1].name: namespace 'x' is listed twice"),
    ({"pods": [{"name": "a"}]}, "pods[0].namespace: None is not a namespace name"),
    ({"pods": [{"namespace": "x"}]}, "pods[0].name: None is not a pod name"),
    ({"pods": [{"namespace": "x", "name": "a", "ip": "10.0.0.999"}]}, "pods[0].ip: '10.0.0.999' is not an IP address"),
    (
        {"pods": [{"namespace": "x", "name": "a", "labels": {"app": 1}}]},
        "pods[0].labels.app: label value 1 must be a string",
    ),
    (
        {"pods": [{"namespace": "x", "name": "a", "ports": [{"port": "80"}]}]},
        "pods[0].ports[0].port: must be a port number 1-65535",
    ),
    (
        {"pods": [{"namespace": "x", "name": "a", "ports": [{"port": 80, "protocol": "ICMP"}]}]},
        "pods[0].ports[0].protocol: 'ICMP' is not supported",
    ),
    (
        {"pods": [{"namespace": "x", "name": "a", "ports": [{"port": 80, "name": "HTTP"}]}]},
        "pods[0].ports[0].name: named port 'HTTP'",
    ),
    ({"pods": [{"namespace": "x", "name": "a", "ports": {"port": 80}}]}, "pods[0].ports: must be a list"),
    ({"pods": [{"namespace": "x", "name": "a", "podIP": "1.2.3.4"}]}, "pods[0]: unknown field(s) podIP"),
    ({"pods": [{"namespace": "x", "name": "a"}, {"namespace": "x", "name": "a"}]}, "pods[1]: pod x/a is listed twice"),
    ({"pods": ["x/a"]}, "pods[0]: must be a mapping"),
    # A replica differs from the pod before it only in a value's type: checked on its own, not as the same workload.
    (
        {"pods": [{"namespace": "x", "name": f"a{i}", "ports": [{"port": port}]} for i, port in enumerate((1, True))]},
        "pods[1].ports[0].port: must be a port number 1-65535, got True",
    ),
    (
        {"pods": [{"namespace": "x", "name": f"a{i}", "ports": [{"port": port}]} for i, port in enumerate((80, 80.0))]},
        "pods[1].ports[0].port: must be a port number 1-65535, got 80.0",
    ),
    (
        {"pods": [{"namespace": "x", "name": f"a{i}", "labels": {"v": value}} for i, value in enumerate(("1", 1))]},
        "pods[1].labels.v: label value 1 must be a string",
    ),
]


def test_the_replicas_of_a_workload_have_their_labels_and_ports_checked_once(monkeypatch):
    calls = []
    check_labels = netpol._check_labels
    monkeypatch.setattr(netpol, "_check_labels", lambda labels, path: calls.append(path) or check_labels(labels, path))
    pods = [{"namespace": "x", "name": f"web-{i}", "labels": {"app": "web"}, "ports": [{"port": 80}]} for i in range(3)]
    pods.append({"namespace": "x", "name": "db", "labels": {"app": "db"}, "ports": [{"port": 5432}]})
    cluster = netpol.Cluster(pods=pods)
    assert calls == ["pods[0].labels", "pods[3].labels"]
    assert [cluster.pods[f"x/web-{i}"].ports for i in range(3)] == [((None, 80, "TCP"),)] * 3
    cluster.pods["x/web-0"].labels["extra"] = "own copy"  # each pod has its own labels mapping
    assert cluster.pods["x/web-1"].labels == {"app": "web"}


@pytest.mark.parametrize(("kwargs", "message"), BAD_INPUTS)
def test_bad_input_names_the_field(kwargs, message):
    with pytest.raises(netpol.InputError) as info:
        netpol.Cluster(**kwargs)
    assert message in str(info.value)


def test_bad_endpoints_and_protocols():
    cluster = netpol.Cluster(pods=three_pods())
    with pytest.raises(netpol.InputError, match="no such pod"):
        cluster.evaluate("x/nope", "x/a", 80)
    with pytest.raises(netpol.InputError, match="protocol: 'ICMP' is not supported"):
        cluster.evaluate("x/a", "x/b", 80, "ICMP")
    with pytest.raises(netpol.InputError, match="at least one of source and target must be a pod"):
        cluster.evaluate({"ip": "1.2.3.4"}, {"ip": "5.6.7.8"}, 80)
    with pytest.raises(netpol.InputError, match="port: 0 is out of range"):
        cluster.evaluate("x/a", "x/b", 0)
    with pytest.raises(netpol.InputError, match="write 'namespace/pod'"):
        cluster.evaluate(42, "x/b", 80)
    assert cluster.evaluate({"namespace": "x", "name": "a"}, "x/b", 80, "sctp").protocol == "SCTP"


# ---------------------------------------------------------------------------------------------
# Tables and classes
# ---------------------------------------------------------------------------------------------


def test_truth_table_upstream_layout():
    cluster = netpol.Cluster(
        pods=three_pods(), policies=[pol("deny", {"podSelector": {"matchLabels": {"app": "b"}}, "ingress": []})]
    )
    assert cluster.truth_table(None, None, 80) == ("-   x/a x/b y/c\nx/a .   X   .\nx/b .   .   .\ny/c .   X   .\n")
    assert cluster.truth_table(["x/a"], ["x/a", "x/b"], 80, self_mark="-") == "-   x/a x/b\nx/a -   X\n"
    with_ip = cluster.truth_table([{"ip": "192.0.2.1"}, "x/a"], ["x/b"], 80)
    assert with_ip == "-         x/b\n192.0.2.1 X\nx/a       X\n"


def test_classes_group_pods_with_equal_namespace_labels_and_ports():
    pods = [
        pod("x/a1", "10.0.0.1", {"app": "a"}, [tcp("http", 80)]),
        pod("x/a2", "10.0.0.2", {"app": "a"}, [tcp("http", 80)]),
        pod("x/a3", "10.0.0.3", {"app": "a"}, [tcp("http", 8080)]),
        pod("y/a1", "10.0.1.1", {"app": "a"}, [tcp("http", 80)]),
    ]
    cluster = netpol.Cluster(pods=pods)
    groups = sorted(c.pods for c in cluster.classes())
    assert groups == [("x/a1", "x/a2"), ("x/a3",), ("y/a1",)]
    cls = cluster.class_of("x/a2")
    assert cls.name == "x/class-1"
    assert cls.to_dict()["ports"] == [{"name": "http", "port": 80, "protocol": "TCP"}]


def random_cluster(seed: int):
    import random

    rng = random.Random(seed)
    namespaces = [{"name": f"ns{i}", "labels": {"team": rng.choice(["red", "blue"])}} for i in range(4)]
    pods = []
    for i in range(40):
        ns = rng.choice(namespaces)["name"]
        labels = {"app": rng.choice(["web", "db", "api"])}
        if rng.random() < 0.5:
            labels["tier"] = rng.choice(["front", "back"])
        ports = [tcp("http", rng.choice([80, 8080])), tcp("dns", 53, "UDP")]
        pods.append({"namespace": ns, "name": f"p{i}", "labels": labels, "ip": f"10.{i % 3}.0.{i + 1}", "ports": ports})
    selectors = [
        {},
        {"matchLabels": {"app": "web"}},
        {"matchExpressions": [{"key": "tier", "operator": "Exists"}]},
        {"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["db"]}]},
        {"matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}]},
    ]
    port_sets = [
        None,
        [{"port": 80}],
        [{"port": "http"}],
        [{"port": 8000, "endPort": 8100}],
        [{"protocol": "UDP"}],
        [{"port": "dns", "protocol": "UDP"}],
    ]

    def peer():
        kind = rng.randrange(4)
        if kind == 0:
            return {"podSelector": rng.choice(selectors)}
        if kind == 1:
            return {"namespaceSelector": {"matchLabels": {"team": rng.choice(["red", "blue"])}}}
        if kind == 2:
            return {
                "namespaceSelector": rng.choice(
                    [*selectors[:1], {"matchLabels": {"kubernetes.io/metadata.name": "ns1"}}]
                ),
                "podSelector": rng.choice(selectors),
            }
        return {
            "ipBlock": {
                "cidr": f"10.{rng.randrange(3)}.0.0/16",
                "except": [f"10.0.0.{rng.randrange(1, 40)}/32"] if rng.random() < 0.3 else [],
            }
        }

    def rule(key):
        out = {}
        if rng.random() < 0.8:
            out[key] = [peer() for _unused in range(rng.randrange(1, 3))]
        ports = rng.choice(port_sets)
        if ports is not None:
            out["ports"] = ports
        return out

    policies = []
    for i in range(12):
        spec = {"podSelector": rng.choice(selectors)}
        types = rng.choice([["Ingress"], ["Egress"], ["Ingress", "Egress"]])
        spec["policyTypes"] = types
        if "Ingress" in types:
            spec["ingress"] = [rule("from") for _unused in range(rng.randrange(0, 3))]
        if "Egress" in types:
            spec["egress"] = [rule("to") for _unused in range(rng.randrange(0, 3))]
        for rule_ in spec.get("ingress", []) + spec.get("egress", []):
            for p in rule_.get("from", []) + rule_.get("to", []):
                if ("ipBlock" in p and not p["ipBlock"]["except"]) or (
                    "ipBlock" in p
                    and not p["ipBlock"]["except"][0].startswith(p["ipBlock"]["cidr"].split(".0.0/")[0] + ".")
                ):
                    del p["ipBlock"]["except"]
        policies.append(pol(f"p{i}", spec, ns=rng.choice(namespaces)["name"]))
    return netpol.Cluster(namespaces=namespaces, pods=pods, policies=policies)


@pytest.mark.parametrize("seed", range(8))
def test_class_evaluation_equals_pod_by_pod(seed):
    cluster = random_cluster(seed)
    assert len(cluster.classes()) < len(cluster.pods)
    for port, protocol in ((80, "TCP"), (8080, "TCP"), (8050, "TCP"), (53, "UDP")):
        matrix = cluster.evaluate_classes(port, protocol)
        for s in cluster.pods:
            row = matrix.allowed_targets(cluster.class_of(s).index)
            for t in cluster.pods:
                if s == t:
                    continue
                expected = cluster.evaluate(s, t, port, protocol).allowed
                assert bool((row >> cluster.class_of(t).index) & 1) == expected, (seed, s, t, port, protocol)
        assert matrix.count_allowed() == sum(
            matrix.allowed(i, j) for i in range(len(matrix.classes)) for j in range(len(matrix.classes))
        )


def test_class_evaluation_needs_a_numeric_port():
    with pytest.raises(netpol.InputError, match="must be a port number"):
        netpol.Cluster(pods=three_pods()).evaluate_classes("http")


@pytest.mark.parametrize("seed", range(3))
def test_pair_decisions_equal_reference_decisions(seed):
    cluster = random_cluster(seed)
    pods = list(cluster.pods)[:25]
    for port, protocol in ((80, "TCP"), (53, "UDP")):
        decisions = list(cluster.pair_decisions(port, protocol, pods, pods, include_self=True))
        assert len(decisions) == len(pods) ** 2
        for d in decisions:
            ref = cluster.evaluate(d.source, d.target, port, protocol)
            assert d == ref


def test_class_decision_names_the_classes():
    pods = [
        pod("x/w1", "10.0.0.1", {"app": "w"}),
        pod("x/w2", "10.0.0.2", {"app": "w"}),
        pod("x/db", "10.0.0.3", {"app": "db"}),
    ]
    cluster = netpol.Cluster(
        pods=pods, policies=[pol("db", {"podSelector": {"matchLabels": {"app": "db"}}, "ingress": []})]
    )
    db, web = cluster.class_of("x/db"), cluster.class_of("x/w1")
    decision = cluster.class_decision(web, db, 5432)
    assert decision.source == web.name
    assert decision.allowed is False
    assert decision.reason.startswith(f"{web.name} -> {db.name} on 5432/TCP is blocked: ingress to {db.name} is denied")
    assert cluster.class_decision(db, db, 5432) is None  # one pod: only self traffic
    assert cluster.class_decision(web, web, 80).allowed is True


def test_isolation_of_pods_and_classes():
    cluster = netpol.Cluster(
        pods=three_pods(),
        policies=[
            pol("in", {"podSelector": {"matchLabels": {"app": "a"}}}),
            pol("out", {"podSelector": {}, "policyTypes": ["Egress"]}, ns="y"),
        ],
    )
    assert cluster.isolation("x/a") == (True, False)
    assert cluster.isolation("x/b") == (False, False)
    assert cluster.isolation(cluster.class_of("y/c")) == (False, True)
    assert cluster.isolation({"ip": "192.0.2.1"}) == (False, False)


def test_unvalidated_bad_policy_still_fails_naming_the_field():
    bad = pol("bad-cidr", {"podSelector": {}, "ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.0/99"}}]}]})
    with pytest.raises(netpol.PolicyError, match=r"x/bad-cidr: spec\.ingress\[0\]\.from\[0\]\.ipBlock\.cidr"):
        netpol.Cluster(policies=[bad], validate=False)
    fine = netpol.Cluster(
        policies=[pol("odd-but-usable", {"podSelector": {}, "policyTypes": ["Ingress"], "podSelectr": {}})],
        validate=False,
    )
    assert len(fine.policies) == 1
