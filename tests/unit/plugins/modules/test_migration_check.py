# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""migration_check: one policy of each kind a move from Azure NPM to Cilium breaks, and a clean cluster."""

from __future__ import annotations

import pytest
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.netpol.aks.plugins.module_utils import _kube
from ansible_collections.netpol.aks.plugins.modules import migration_check as mod


def params(**kwargs):
    result = ArgumentSpecValidator(mod.ARGUMENT_SPEC).validate(kwargs)
    assert not result.error_messages, result.error_messages
    return result.validated_parameters


class Module:
    def __init__(self, **kwargs):
        self.params = params(**kwargs)

    def kube(self):
        raise AssertionError("offline checks read no cluster")


def pol(name, spec, ns="default"):
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": ns},
        "spec": spec,
    }


def pod(name, ip, ports=(), **labels):
    return {
        "namespace": "default",
        "name": name,
        "labels": labels or {"app": name},
        "ip": ip,
        "ports": [{"name": n, "port": p} for n, p in ports],
        "node": "n1",
    }


def sel(**labels):
    return {"matchLabels": labels}


NODES = [{"name": "n1", "ip": "10.224.0.4"}]
PODS = [
    pod("client", "10.244.0.10"),
    pod("api", "10.244.0.11", [("http", 80)]),
    pod("web1", "10.244.0.12", [("http", 80)], app="web"),
    pod("web2", "10.244.0.13", [("http", 8080)], app="web"),
    pod("front", "10.244.0.14", [("http", 8080)]),
    pod("batch", "10.244.0.15"),
    pod("monitor", "10.244.0.16"),
]
LB = {
    "metadata": {"namespace": "default", "name": "front-lb"},
    "spec": {"type": "LoadBalancer", "selector": {"app": "front"}, "ports": [{"port": 80, "targetPort": 8080}]},
}
EACH_KIND = [
    pol(
        "range",
        {
            "podSelector": sel(app="api"),
            "ingress": [{"from": [{"podSelector": sel(app="client")}], "ports": [{"port": 8000, "endPort": 9000}]}],
        },
    ),
    pol("from-vnet", {"podSelector": sel(app="api"), "ingress": [{"from": [{"ipBlock": {"cidr": "10.244.0.0/16"}}]}]}),
    pol(
        "to-nodes",
        {"podSelector": sel(app="monitor"), "egress": [{"to": [{"ipBlock": {"cidr": "10.224.0.0/24"}}]}]},
    ),
    pol(
        "client-to-web",
        {
            "podSelector": sel(app="client"),
            "egress": [{"to": [{"podSelector": sel(app="web")}], "ports": [{"port": "http"}]}],
        },
    ),
    pol(
        "batch-egress",
        {
            "podSelector": sel(app="batch"),
            "policyTypes": ["Egress"],
            "egress": [{"to": [{"podSelector": sel(app="api")}]}],
        },
    ),
    pol("front-from-pods", {"podSelector": sel(app="front"), "ingress": [{"from": [{"podSelector": {}}]}]}),
]


def check(**kwargs):
    return mod.run(Module(**kwargs))


def by_check(findings):
    out = {}
    for finding in findings:
        out.setdefault(finding["check"], []).append(finding)
    return out


def test_one_policy_of_each_kind_is_found_with_its_path():
    result = check(
        pods=PODS,
        nodes=[*NODES, {"name": "win1", "ip": "10.224.0.6", "os": "windows"}],
        policies=EACH_KIND,
        services=[LB],
        cilium_version="1.16",
        network_plugin="kubenet",
    )
    found = by_check(result["findings"])
    assert set(found) == {
        "endport",
        "ipblock_selects_pods",
        "ipblock_selects_nodes",
        "named_port_ambiguous",
        "egress_to_own_node",
        "external_traffic_cluster",
        "windows_node_pool",
        "kubenet",
    }
    assert [(f["object"], f["path"]) for f in found["endport"]] == [
        ("default/range", "spec.ingress[0].ports[0].endPort")
    ]
    assert [(f["object"], f["path"]) for f in found["ipblock_selects_pods"]] == [
        ("default/from-vnet", "spec.ingress[0].from[0].ipBlock")
    ]
    assert "default/client (10.244.0.10)" in found["ipblock_selects_pods"][0]["message"]
    assert [(f["object"], f["path"]) for f in found["ipblock_selects_nodes"]] == [
        ("default/to-nodes", "spec.egress[0].to[0].ipBlock")
    ]
    assert [(f["object"], f["path"]) for f in found["named_port_ambiguous"]] == [
        ("default/client-to-web", "spec.egress[0].ports[0].port")
    ]
    assert "80, 8080" in found["named_port_ambiguous"][0]["message"]
    # every egress-isolated pod loses its own node under Cilium
    assert {f["object"] for f in found["egress_to_own_node"]} == {
        "default/to-nodes",
        "default/client-to-web",
        "default/batch-egress",
    }
    assert [(f["object"], f["path"]) for f in found["external_traffic_cluster"]] == [
        ("default/front-lb", "spec.externalTrafficPolicy")
    ]
    assert [f["object"] for f in found["windows_node_pool"]] == ["node/win1"]
    assert all(f["severity"] == "error" and f["fix"] for f in result["findings"])
    assert result["safe"] is False
    assert result["msg"].startswith("Not safe to move from azure to cilium")

    pairs = {(p["from"], p["to"], p["port"]): (p["before"], p["after"]) for p in result["changed_pairs"]}
    assert pairs[("default/web1", "default/api", 80)] == ("allowed", "blocked")  # the ipBlock covered the pod
    assert pairs[("default/client", "default/web1", 80)] == ("allowed", "blocked")  # ambiguous named port
    assert pairs[("default/batch", "node/n1", 53)] == ("allowed", "blocked")  # own node
    assert pairs[("external via default/front-lb:80/TCP", "default/front", 8080)] == ("allowed", "blocked")
    reasons = {(p["from"], p["to"]): p["reason"] for p in result["changed_pairs"]}
    assert "an ipBlock of default/from-vnet covers default/web1" in reasons[("default/web1", "default/api")]
    assert "not policed" in reasons[("external via default/front-lb:80/TCP", "default/front")]


def test_endport_is_a_warning_without_the_cilium_version_and_nothing_from_1_17():
    policies = [EACH_KIND[0]]
    unknown = by_check(check(pods=PODS, nodes=NODES, policies=policies)["findings"])
    assert [f["severity"] for f in unknown["endport"]] == ["warning"]
    assert "endport" not in by_check(
        check(pods=PODS, nodes=NODES, policies=policies, cilium_version="1.17")["findings"]
    )


def test_a_clean_cluster_is_safe_although_the_coarse_patterns_are_there():
    """ipBlocks of outside addresses and ingress named ports: Microsoft's validator flags each of them; none
    changes a connection (the LoadBalancer keeps its clients' addresses with externalTrafficPolicy Local)."""
    policies = [
        pol(
            "api-from-client",
            {
                "podSelector": sel(app="api"),
                "ingress": [
                    {"from": [{"podSelector": sel(app="client")}], "ports": [{"port": "http"}]},
                    {"from": [{"ipBlock": {"cidr": "203.0.113.0/24"}}]},
                ],
            },
        ),
        pol(
            "front-from-clients",
            {
                "podSelector": sel(app="front"),
                "policyTypes": ["Ingress"],
                "ingress": [{"from": [{"ipBlock": {"cidr": "203.0.113.0/24"}}, {"podSelector": {}}]}],
            },
        ),
    ]
    local = {**LB, "spec": {**LB["spec"], "externalTrafficPolicy": "Local"}}
    result = check(pods=PODS, nodes=NODES, policies=policies, services=[local], cilium_version="1.17")
    assert result["findings"] == []
    assert result["changed_pairs"] == []
    assert result["safe"] is True
    assert result["msg"].startswith("Safe to move from azure to cilium: 7 pods, 2 policies and 1 Services checked")


def test_bad_input_names_the_field():
    with pytest.raises(_kube.KubeError, match="to_engine: is the same as from_engine"):
        check(pods=PODS, from_engine="cilium")
    with pytest.raises(_kube.KubeError, match=r"nodes\[0\].ip"):
        check(pods=PODS, nodes=[{"name": "n1"}])
    with pytest.raises(_kube.KubeError, match=r"spec\.ingress"):
        check(pods=PODS, policies=[pol("bad", {"podSelector": {}, "ingress": "everyone"})])


def test_a_load_balancer_admitted_by_its_clients_range_is_cut_off_under_cilium():
    """With externalTrafficPolicy Cluster, what another node forwards arrives from that node under Cilium."""
    policy = pol(
        "front-from-clients",
        {"podSelector": sel(app="front"), "ingress": [{"from": [{"ipBlock": {"cidr": "203.0.113.0/24"}}]}]},
    )
    result = check(pods=PODS, nodes=NODES, policies=[policy], services=[LB], cilium_version="1.17")
    assert [(f["check"], f["object"]) for f in result["findings"]] == [("external_traffic_cluster", "default/front-lb")]
    assert [(p["from"], p["before"], p["after"]) for p in result["changed_pairs"]] == [
        ("external via default/front-lb:80/TCP", "allowed", "blocked")
    ]
