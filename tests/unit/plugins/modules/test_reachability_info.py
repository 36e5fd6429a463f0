# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""reachability_info: offline mode through the module's argument spec and describe()."""

from __future__ import annotations

import sys

import pytest
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.netpol.aks.plugins.module_utils import netpol
from ansible_collections.netpol.aks.plugins.modules import reachability_info as mod


def params(**kwargs):
    """Module parameters as AnsibleModule would pass them (defaults filled, types checked)."""
    result = ArgumentSpecValidator(mod.ARGUMENT_SPEC).validate(kwargs)
    assert not result.error_messages, result.error_messages
    return result.validated_parameters


def ports80():
    return [{"name": "http", "port": 80, "protocol": "TCP"}]


WALKTHROUGH = {
    "namespaces": [{"name": "default"}],
    "pods": [
        {"namespace": "default", "name": "api", "labels": {"app": "api"}, "ip": "10.240.0.10", "ports": ports80()},
        {"namespace": "default", "name": "test-np", "labels": {"run": "test-np"}, "ip": "10.240.0.11"},
    ],
}
DENY = {
    "apiVersion": "networking.k8s.io/v1",
    "kind": "NetworkPolicy",
    "metadata": {"name": "backend-policy", "namespace": "default"},
    "spec": {"podSelector": {"matchLabels": {"app": "api"}}, "ingress": []},
}
ALLOW = {
    "apiVersion": "networking.k8s.io/v1",
    "kind": "NetworkPolicy",
    "metadata": {"name": "backend-policy", "namespace": "default"},
    "spec": {
        "podSelector": {"matchLabels": {"app": "api"}},
        "ingress": [{"from": [{"namespaceSelector": {}, "podSelector": {"matchLabels": {"app": "api"}}}]}],
    },
}


def test_walkthrough_steps_offline():
    """The walkthrough: open, deny, allow (still blocked for the unlabelled client), label -> allowed."""
    open_ = mod.describe(params(**WALKTHROUGH))
    assert [(r["from"], r["to"], r["port"], r["allowed"]) for r in open_["results"]] == [
        ("default/test-np", "default/api", 80, True)
    ]
    deny = mod.describe(params(**WALKTHROUGH, policies=[DENY]))
    assert deny["results"][0]["allowed"] is False
    assert "selected by default/backend-policy" in deny["results"][0]["reason"]
    allow = mod.describe(params(**WALKTHROUGH, policies=[ALLOW]))
    assert allow["results"][0]["allowed"] is False
    labelled = {**WALKTHROUGH, "pods": [WALKTHROUGH["pods"][0], {**WALKTHROUGH["pods"][1], "labels": {"app": "api"}}]}
    label = mod.describe(params(**labelled, policies=[ALLOW]))
    assert label["results"][0]["allowed"] is True
    assert "default/backend-policy spec.ingress[0].from[0]" in label["results"][0]["reason"]
    assert label["source"] == "offline"
    assert label["table"] == {"80/TCP": "-               default/api\ndefault/api     -\ndefault/test-np .\n"}
    assert label["table_lines"]["80/TCP"][2] == "default/test-np ."


def xyz(**kwargs):
    pods = [
        {
            "namespace": ns,
            "name": p,
            "labels": {"pod": p},
            "ip": f"10.{i}.0.{j + 1}",
            "ports": [
                {"name": "serve-80-tcp", "port": 80, "protocol": "TCP"},
                {"name": "serve-81-udp", "port": 81, "protocol": "UDP"},
            ],
        }
        for i, ns in enumerate("xyz")
        for j, p in enumerate("abc")
    ]
    return params(namespaces=[{"name": n} for n in "xyz"], pods=pods, **kwargs)


DENY_X = {
    "metadata": {"name": "deny", "namespace": "x"},
    "spec": {"podSelector": {}, "ingress": [{"from": [{"podSelector": {}}]}]},
}


def test_default_ports_are_each_targets_ports_and_tables_per_port():
    out = mod.describe(xyz(policies=[DENY_X]))
    assert out["summary"]["ports"] == ["80/TCP", "81/UDP"]
    assert out["summary"]["evaluated"] == 2 * 9 * 8
    assert len(out["results"]) == 2 * 9 * 8
    assert out["summary"]["blocked"] == 2 * 6 * 3
    assert out["summary"]["isolated_ingress"] == 3
    assert set(out["table"]) == {"80/TCP", "81/UDP"}
    lines = out["table_lines"]["81/UDP"]
    assert lines[0].split() == ["-", "x/a", "x/b", "x/c", "y/a", "y/b", "y/c", "z/a", "z/b", "z/c"]
    assert lines[1].split() == ["x/a", "-", ".", ".", ".", ".", ".", ".", ".", "."]
    assert lines[4].split() == ["y/a", "X", "X", "X", "-", ".", ".", ".", ".", "."]


def test_given_ports_sources_targets_only_and_explain():
    out = mod.describe(
        xyz(
            policies=[DENY_X],
            ports=[{"port": 80, "protocol": "tcp"}],
            sources=["x/b", "y/a", "203.0.113.9"],
            targets=["x/a", "198.51.100.1"],
            only="blocked",
            explain=True,
        )
    )
    assert [(r["from"], r["to"]) for r in out["results"]] == [("y/a", "x/a"), ("203.0.113.9", "x/a")]
    assert out["summary"]["evaluated"] == 5
    first = out["results"][0]
    assert first["ingress"]["selecting"] == ["x/deny"]
    assert first["egress"]["isolated"] is False
    assert out["table"]["80/TCP"] == (
        "-           x/a 198.51.100.1\nx/b         .   .\ny/a         X   .\n203.0.113.9 X   ?\n"
    )  # address to address is not a question for NetworkPolicy: '?'


def test_named_port_resolves_per_target():
    pods = [
        {"namespace": "x", "name": "c", "labels": {"app": "c"}, "ip": "10.0.0.1"},
        {
            "namespace": "x",
            "name": "w1",
            "labels": {"app": "w"},
            "ip": "10.0.0.2",
            "ports": [{"name": "http", "port": 8080}],
        },
        {
            "namespace": "x",
            "name": "w2",
            "labels": {"app": "w"},
            "ip": "10.0.0.3",
            "ports": [{"name": "http", "port": 9090}],
        },
    ]
    policy = {
        "metadata": {"name": "http-only", "namespace": "x"},
        "spec": {"podSelector": {"matchLabels": {"app": "w"}}, "ingress": [{"ports": [{"port": 9090}]}]},
    }
    out = mod.describe(params(pods=pods, policies=[policy], ports=[{"port": "http"}], sources=["x/c"]))
    got = {(r["to"], r["port"], r["port_name"], r["allowed"]) for r in out["results"]}
    assert got == {("x/w1", 8080, "http", False), ("x/w2", 9090, "http", True)}
    assert out["table"]["http/TCP"] == "-   x/w1 x/w2\nx/c X    .\n"


def test_classes_granularity():
    pods = [
        {"namespace": "x", "name": f"web-{i}", "labels": {"app": "web"}, "ip": f"10.0.0.{i}", "ports": ports80()}
        for i in range(1, 4)
    ] + [{"namespace": "x", "name": "db-0", "labels": {"app": "db"}, "ip": "10.0.1.1", "ports": ports80()}]
    policy = {
        "metadata": {"name": "db-from-web", "namespace": "x"},
        "spec": {
            "podSelector": {"matchLabels": {"app": "db"}},
            "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "web"}}}]}],
        },
    }
    out = mod.describe(params(pods=pods, policies=[policy], granularity="classes"))
    assert [c["pods"] for c in out["classes"]] == [["x/db-0"], ["x/web-1", "x/web-2", "x/web-3"]]
    pairs = {(r["from"], r["to"]): r["allowed"] for r in out["results"]}
    # class-1 = db (one pod: no pair with itself), class-2 = web (three pods: web to web is a pair).
    assert pairs == {
        ("x/class-1", "x/class-2"): True,
        ("x/class-2", "x/class-1"): True,
        ("x/class-2", "x/class-2"): True,
    }
    assert out["table"]["80/TCP"] == "-         x/class-1 x/class-2\nx/class-1 -         .\nx/class-2 .         .\n"
    assert out["summary"]["classes"] == 2
    assert out["summary"]["pods"] == 4
    db_only = mod.describe(
        params(
            pods=pods,
            policies=[{**policy, "spec": {**policy["spec"], "ingress": []}}],
            granularity="classes",
            only="blocked",
        )
    )
    assert [(r["from"], r["to"]) for r in db_only["results"]] == [("x/class-2", "x/class-1")]
    assert "x/class-2 -> x/class-1 on 80/TCP is blocked" in db_only["results"][0]["reason"]


def test_pod_results_equal_reference_evaluation():
    out = mod.describe(xyz(policies=[DENY_X], explain=True))
    cluster = netpol.Cluster(namespaces=[{"name": n} for n in "xyz"], pods=xyz()["pods"], policies=[DENY_X])
    for r in out["results"]:
        d = cluster.evaluate(r["from"], r["to"], r["port"], r["protocol"])
        assert (r["allowed"], r["reason"]) == (d.allowed, d.reason)
        assert r["ingress"] == d.ingress.to_dict()


BAD = [
    ({"pods": [{"namespace": "x", "name": "a", "ip": "nope"}]}, "pods[0].ip: 'nope' is not an IP address"),
    (
        {"pods": [{"namespace": "x", "name": "a", "ports": [{"port": 80, "protocol": "ICMP"}]}]},
        "pods[0].ports[0].protocol",
    ),
    ({"namespaces": [{"name": "Bad"}]}, "namespaces[0].name: 'Bad' is not a namespace name"),
    (
        {
            "policies": [
                {"metadata": {"name": "p", "namespace": "x"}, "spec": {"podSelector": {}, "policyTypes": ["ingress"]}}
            ]
        },
        "policies: x/p: spec.policyTypes[0]: 'ingress' is not a policy type",
    ),
    (
        {"policies": [{"metadata": {"name": "p", "namespace": "x"}, "spec": {"podSelectr": {}}}]},
        "policies: x/p: spec.podSelectr: unknown field",
    ),
    (
        {"pods": [{"namespace": "x", "name": "a"}], "ports": [{"port": 80, "protocol": "ICMP"}]},
        "ports[0].protocol: 'ICMP' is not supported",
    ),
    ({"pods": [{"namespace": "x", "name": "a"}], "ports": [{"port": 0}]}, "ports[0].port: 0 must be a port number"),
    # A port name no target declares, or that cannot be a port name, evaluates nothing: it is an error.
    (
        {
            "pods": [{"namespace": "x", "name": "a", "ports": [{"name": "http", "port": 80}]}],
            "ports": [{"port": "htpp"}],
        },
        "ports[0].port: no target declares a TCP container port named 'htpp' (named ports: http)",
    ),
    (
        {
            "pods": [{"namespace": "x", "name": "a", "ports": [{"name": "http", "port": 80}]}],
            "ports": [{"port": "HTTP"}],
        },
        "ports[0].port: named port 'HTTP' is not a valid IANA service name",
    ),
    (
        {"pods": [{"namespace": "x", "name": "a"}], "ports": [{"port": 80}, {"port": "web", "protocol": "UDP"}]},
        "ports[1].port: no target declares a UDP container port named 'web' (no target has named ports)",
    ),
    (
        {
            "pods": [{"namespace": "x", "name": "a", "ports": [{"name": "http", "port": 80}]}],
            "ports": [{"port": "metrics"}],
            "granularity": "classes",
        },
        "ports[0].port: no target declares a TCP container port named 'metrics'",
    ),
    ({"pods": [{"namespace": "x", "name": "a"}], "sources": ["x/nope"]}, "sources[0]: 'x/nope' is neither a known pod"),
    (
        {"pods": [{"namespace": "x", "name": "a"}], "targets": ["1.2.3.4"]},
        "targets: 1.2.3.4 is not a pod and declares no ports",
    ),
    ({"pods": [{"namespace": "x", "name": "a"}], "namespace": ["x"]}, "namespace: only for source=live"),
    ({"pods": [{"namespace": "x", "name": "a"}], "source": "live"}, "pods: only for source=offline"),
    (
        {"pods": [{"namespace": "x", "name": "a"}], "granularity": "classes", "sources": ["x/a"]},
        "sources, targets: not supported with granularity=classes",
    ),
]


@pytest.mark.parametrize(("kwargs", "message"), BAD)
def test_bad_input_fails_naming_the_field(kwargs, message):
    with pytest.raises((netpol.NetpolError, mod.InputProblem)) as info:
        mod.describe(params(**kwargs))
    assert message in str(info.value)


def test_argspec_mirrors_kubernetes_core_connection_options():
    for name in (
        "kubeconfig",
        "context",
        "host",
        "api_key",
        "username",
        "password",
        "validate_certs",
        "ca_cert",
        "client_cert",
        "client_key",
        "proxy",
        "proxy_headers",
    ):
        assert name in mod.ARGUMENT_SPEC
    assert mod.ARGUMENT_SPEC["api_key"]["no_log"] is True
    assert "verify_ssl" in mod.ARGUMENT_SPEC["validate_certs"]["aliases"]


def test_no_declared_ports_warns():
    out = mod.describe(params(pods=[{"namespace": "x", "name": "a"}, {"namespace": "x", "name": "b"}]))
    assert out["results"] == []
    assert out["summary"]["evaluated"] == 0
    assert "no target pod declares a container port" in out["warnings"][0]
    given = mod.describe(
        params(pods=[{"namespace": "x", "name": "a"}, {"namespace": "x", "name": "b"}], ports=[{"port": "80"}])
    )
    assert given["summary"]["evaluated"] == 2
    assert given["warnings"] == []


def test_a_missing_schema_validator_warns(monkeypatch):
    """Without kubernetes-validate the strict schema is not checked: say so, do not weaken validation silently."""
    monkeypatch.setattr(netpol, "_SCHEMA_VALIDATOR", None)
    monkeypatch.setattr(netpol, "_SCHEMA_PROBLEM", [None])
    monkeypatch.setitem(sys.modules, "kubernetes_validate", None)
    policy = {"metadata": {"name": "p", "namespace": "x"}, "spec": {"podSelector": {}}}
    out = mod.describe(params(pods=[{"namespace": "x", "name": "a"}], policies=[policy], ports=[{"port": 80}]))
    assert out["warnings"] == [
        "the strict NetworkPolicy schema was not checked: kubernetes_validate is not installed "
        "(pip install kubernetes-validate); unknown fields and wrong types may go unnoticed"
    ]
    monkeypatch.setattr(netpol, "_SCHEMA_VALIDATOR", None)
    monkeypatch.setattr(netpol, "_SCHEMA_PROBLEM", [None])
    monkeypatch.delitem(sys.modules, "kubernetes_validate")
    assert (
        mod.describe(params(pods=[{"namespace": "x", "name": "a"}], policies=[policy], ports=[{"port": 80}]))[
            "warnings"
        ]
        == []
    )
