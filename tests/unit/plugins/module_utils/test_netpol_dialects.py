# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""NetworkPolicy engine dialects: each documented difference between upstream, calico, cilium and azure."""

from __future__ import annotations

import pytest

from ansible_collections.netpol.aks.plugins.module_utils import netpol

NODES = [{"name": "n1", "ip": "10.224.0.4"}, {"name": "n2", "ip": "10.224.0.5"}]


def pol(name, spec, ns="x"):
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": ns},
        "spec": spec,
    }


def pod(ident, ip, labels=None, ports=(), node="n1", **extra):
    ns, name = ident.split("/")
    return {
        "namespace": ns,
        "name": name,
        "labels": labels or {"app": name},
        "ip": ip,
        "ports": list(ports),
        "node": node,
        **extra,
    }


PODS = [pod("x/a", "10.244.0.10"), pod("x/b", "10.244.1.10", node="n2")]


def verdicts(policies, src, dst, port, pods=None, **kwargs):
    """{engine: allowed} for one connection; the class matrix must agree with the pair evaluation."""
    pods = PODS if pods is None else pods
    out = {}
    for engine in netpol.ENGINES:
        cluster = netpol.Cluster(pods=pods, policies=policies, nodes=NODES, engine=engine, **kwargs)
        decision = cluster.evaluate(src, dst, port)
        if isinstance(src, str) and isinstance(dst, str) and src in cluster.pods and dst in cluster.pods:
            matrix = cluster.evaluate_classes(port)
            by_class = matrix.allowed(cluster.class_of(src).index, cluster.class_of(dst).index)
            assert by_class == decision.allowed, f"{engine}: class matrix disagrees for {src} -> {dst}"
        out[engine] = decision.allowed
    return out


def test_every_difference_has_a_source():
    assert set(netpol.DIALECT_SOURCES) == {
        "ipblock_pods",
        "egress_own_node",
        "ingress_own_node",
        "external_cluster",
        "end_port",
        "named_port_egress",
        "host_network",
    }
    assert all("(" in text for text in netpol.DIALECT_SOURCES.values())


def test_upstream_is_the_default_and_unknown_engines_are_refused():
    assert netpol.Cluster().dialect == netpol.DIALECTS["upstream"]
    with pytest.raises(netpol.InputError, match="engine: 'weave' is not supported"):
        netpol.Cluster(engine="weave")
    with pytest.raises(netpol.InputError, match="engine_version"):
        netpol.Cluster(engine="cilium", engine_version="latest")


@pytest.mark.parametrize("cidr", ["0.0.0.0/0", "10.244.1.0/24"])
def test_cilium_ipblock_never_matches_a_pod(cidr):
    egress = pol(
        "to-b", {"podSelector": {"matchLabels": {"app": "a"}}, "egress": [{"to": [{"ipBlock": {"cidr": cidr}}]}]}
    )
    assert verdicts([egress], "x/a", "x/b", 80) == {"upstream": True, "calico": True, "azure": True, "cilium": False}
    # an address outside the cluster still matches
    assert verdicts([egress], "x/a", {"ip": "10.244.1.99"}, 80)["cilium"] is True
    reason = netpol.Cluster(pods=PODS, policies=[egress], engine="cilium").evaluate("x/a", "x/b", 80).reason
    assert "never matches a pod or node address" in reason


def test_cilium_ipblock_with_except_in_ingress():
    ingress = pol(
        "from-cidr",
        {
            "podSelector": {"matchLabels": {"app": "b"}},
            "ingress": [{"from": [{"ipBlock": {"cidr": "10.244.0.0/16", "except": ["10.244.9.0/24"]}}]}],
        },
    )
    assert verdicts([ingress], "x/a", "x/b", 80) == {"upstream": True, "calico": True, "azure": True, "cilium": False}


def test_egress_to_the_pods_own_node():
    to_nodes = pol(
        "to-nodes",
        {"podSelector": {"matchLabels": {"app": "a"}}, "egress": [{"to": [{"ipBlock": {"cidr": "10.224.0.0/16"}}]}]},
    )
    deny = pol("deny-egress", {"podSelector": {"matchLabels": {"app": "a"}}, "policyTypes": ["Egress"]})
    assert verdicts([to_nodes], "x/a", "node/n1", 10250) == {
        "upstream": True,
        "calico": True,
        "azure": True,
        "cilium": False,
    }
    assert verdicts([deny], "x/a", "node/n1", 10250) == {
        "upstream": False,
        "calico": False,
        "azure": True,  # own node: always
        "cilium": False,
    }
    assert verdicts([deny], "x/a", "node/n2", 10250)["azure"] is False  # another node: as the policies say
    # a rule without peers allows the node under Cilium too
    open_rule = pol("all-egress", {"podSelector": {"matchLabels": {"app": "a"}}, "egress": [{}]})
    assert verdicts([open_rule], "x/a", "node/n1", 10250)["cilium"] is True


def test_a_pods_own_node_always_reaches_it():
    deny = pol("deny-ingress", {"podSelector": {}, "policyTypes": ["Ingress"]})
    assert set(verdicts([deny], "node/n1", "x/a", 80).values()) == {True}
    assert set(verdicts([deny], "node/n2", "x/a", 80).values()) == {False}
    assert set(verdicts([deny], {"ip": "10.224.0.4"}, "x/a", 80).values()) == {True}  # the node by address


def test_end_port_before_cilium_1_17_matches_only_the_first_port():
    ranged = pol(
        "range",
        {
            "podSelector": {"matchLabels": {"app": "b"}},
            "ingress": [{"ports": [{"port": 8000, "endPort": 9000}]}],
        },
    )
    for version, expected in (("1.16", False), ("1.17", True), ("1.18.2", True), (None, True)):
        assert verdicts([ranged], "x/a", "x/b", 8080, engine_version=version)["cilium"] is expected, version
    assert verdicts([ranged], "x/a", "x/b", 8000, engine_version="1.16")["cilium"] is True
    assert verdicts([ranged], "x/a", "x/b", 8080, engine_version="1.16")["upstream"] is True


def test_cilium_skips_an_egress_rule_whose_named_port_is_ambiguous():
    pods = [
        pod("x/a", "10.244.0.10"),
        pod("x/web1", "10.244.0.11", {"app": "web"}, [{"name": "http", "port": 80}]),
        pod("x/web2", "10.244.0.12", {"app": "web"}, [{"name": "http", "port": 8080}]),
    ]
    egress = pol(
        "to-web",
        {
            "podSelector": {"matchLabels": {"app": "a"}},
            "egress": [{"to": [{"podSelector": {"matchLabels": {"app": "web"}}}], "ports": [{"port": "http"}]}],
        },
    )
    assert verdicts([egress], "x/a", "x/web1", 80, pods=pods) == {
        "upstream": True,
        "calico": True,
        "azure": True,
        "cilium": False,
    }
    # one number for the name: the rule applies
    same = [pods[0], pods[1], pod("x/web2", "10.244.0.12", {"app": "web"}, [{"name": "http", "port": 80}])]
    assert verdicts([egress], "x/a", "x/web2", 80, pods=same)["cilium"] is True


def test_cilium_does_not_police_host_network_pods():
    pods = [*PODS, pod("x/h", "10.224.0.4", {"app": "h"}, host_network=True)]
    deny = pol("deny-h", {"podSelector": {"matchLabels": {"app": "h"}}, "policyTypes": ["Ingress"]})
    assert verdicts([deny], "x/a", "x/h", 80, pods=pods) == {
        "upstream": False,
        "calico": False,
        "azure": False,
        "cilium": True,
    }
    from_h = pol(
        "from-h",
        {
            "podSelector": {"matchLabels": {"app": "b"}},
            "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "h"}}}]}],
        },
    )
    # no podSelector selects a hostNetwork pod under Cilium
    assert verdicts([from_h], "x/h", "x/b", 80, pods=pods) == {
        "upstream": True,
        "calico": True,
        "azure": True,
        "cilium": False,
    }


def sel_b():
    return {"matchLabels": {"app": "b"}}


def lb(etp="Cluster"):
    return {
        "metadata": {"namespace": "x", "name": "web"},
        "spec": {
            "type": "LoadBalancer",
            "selector": {"app": "b"},
            "ports": [{"port": 80, "targetPort": 8080}],
            "externalTrafficPolicy": etp,
        },
    }


@pytest.mark.parametrize(
    ("etp", "expected"),
    [
        ("Cluster", {"upstream": False, "calico": False, "azure": True, "cilium": False}),
        ("Local", {"upstream": False, "calico": False, "azure": False, "cilium": False}),
    ],
)
def test_external_clients_through_a_load_balancer(etp, expected):
    deny = pol("deny-b", {"podSelector": {"matchLabels": {"app": "b"}}, "policyTypes": ["Ingress"]})
    got = {}
    for engine in netpol.ENGINES:
        cluster = netpol.Cluster(pods=PODS, policies=[deny], engine=engine)
        decisions, why = cluster.external_service_decisions(lb(etp), 80)
        assert why == ""
        assert [d.target for d in decisions] == ["x/b"]
        assert decisions[0].port == 8080
        got[engine] = decisions[0].allowed
    assert got == expected
    clients = pol(
        "clients",
        {
            "podSelector": {"matchLabels": {"app": "b"}},
            "ingress": [{"from": [{"ipBlock": {"cidr": "203.0.113.0/24"}}]}],
        },
    )
    cluster = netpol.Cluster(pods=PODS, policies=[clients], engine="cilium")
    decision = cluster.external_service_decisions(lb(etp), 80)[0][0]
    # with eTP Cluster what another node forwards arrives from that node: the clients' ipBlock does not admit it
    assert decision.allowed is (etp == "Local")
    if etp == "Cluster":
        assert "only a rule without peers admits" in decision.reason
    everyone = pol("all-8080", {"podSelector": sel_b(), "ingress": [{"ports": [{"port": 8080}]}]})
    cluster = netpol.Cluster(pods=PODS, policies=[everyone], engine="cilium")
    assert cluster.external_service_decisions(lb(etp), 80)[0][0].allowed is True


def test_external_service_decisions_only_for_external_services():
    service = lb()
    service["spec"]["type"] = "ClusterIP"
    assert netpol.Cluster(pods=PODS).external_service_decisions(service, 80) == (
        [],
        "Service x/web is ClusterIP: not reachable from outside",
    )


def test_nodes_and_new_pod_fields_are_checked():
    with pytest.raises(netpol.InputError, match=r"nodes\[0\].ip"):
        netpol.Cluster(nodes=[{"name": "n1"}])
    with pytest.raises(netpol.InputError, match=r"nodes\[0\].os"):
        netpol.Cluster(nodes=[{"name": "n1", "ip": "10.0.0.1", "os": "plan9"}])
    with pytest.raises(netpol.InputError, match=r"pods\[0\].host_network"):
        netpol.Cluster(pods=[pod("x/a", "10.0.0.2", host_network="yes")])
