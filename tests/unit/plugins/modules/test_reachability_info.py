# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""reachability_info: offline mode through the module's argument spec and describe()."""

from __future__ import annotations

import json
import os
import subprocess
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
    open_ = mod.describe(params(**WALKTHROUGH, pairs="all"))
    assert [(r["from"], r["to"], r["port"], r["allowed"]) for r in open_["results"]] == [
        ("default/test-np", "default/api", 80, True)
    ]
    deny = mod.describe(params(**WALKTHROUGH, policies=[DENY], pairs="all"))
    assert deny["results"][0]["allowed"] is False
    assert "selected by default/backend-policy" in deny["results"][0]["reason"]
    allow = mod.describe(params(**WALKTHROUGH, policies=[ALLOW], pairs="all"))
    assert allow["results"][0]["allowed"] is False
    labelled = {**WALKTHROUGH, "pods": [WALKTHROUGH["pods"][0], {**WALKTHROUGH["pods"][1], "labels": {"app": "api"}}]}
    label = mod.describe(params(**labelled, policies=[ALLOW], pairs="all"))
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
    out = mod.describe(xyz(policies=[DENY_X], pairs="all"))
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
            pairs="blocked",
            explain="all",
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
    assert out["matrix"]["80/TCP"] == {
        "port": 80,
        "protocol": "TCP",
        "sources": ["x/class-2", "y/class-1", "203.0.113.9"],
        "targets": ["x/class-1", "198.51.100.1"],
        "rows": ["..", "X.", "X?"],
    }


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
    out = mod.describe(params(pods=pods, policies=[policy], ports=[{"port": "http"}], sources=["x/c"], pairs="all"))
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
    out = mod.describe(params(pods=pods, policies=[policy], granularity="classes", pairs="all"))
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
            pairs="blocked",
        )
    )
    assert [(r["from"], r["to"]) for r in db_only["results"]] == [("x/class-2", "x/class-1")]
    assert "x/class-2 -> x/class-1 on 80/TCP is blocked" in db_only["results"][0]["reason"]


def test_pod_results_equal_reference_evaluation():
    out = mod.describe(xyz(policies=[DENY_X], pairs="all", explain=True))
    cluster = netpol.Cluster(namespaces=[{"name": n} for n in "xyz"], pods=xyz()["pods"], policies=[DENY_X])
    for r in out["results"]:
        d = cluster.evaluate(r["from"], r["to"], r["port"], r["protocol"])
        assert (r["allowed"], r["reason"]) == (d.allowed, d.reason)
        assert r["ingress"] == d.ingress.to_dict()


BAD = [
    # namespaces, pods and policies are not walked by the argument spec: the engine names the bad item and field.
    ({"pods": ["x/a"]}, "pods[0]: must be a mapping {namespace, name, labels, ip, ports}, got 'x/a'"),
    ({"pods": [{"namespace": "x", "name": "a", "lables": {}}]}, "pods[0]: unknown field(s) lables; use namespace"),
    ({"pods": [{"namespace": "x"}]}, "pods[0].name: None is not a pod name"),
    (
        {"pods": [{"namespace": "x", "name": "a", "ports": [{"port": "80"}]}]},
        "pods[0].ports[0].port: must be a port number 1-65535, got '80'",
    ),
    ({"pods": [{"namespace": "x", "name": "a", "ports": "http"}]}, "pods[0].ports: must be a list of {name, port"),
    ({"pods": [{"namespace": "x", "name": "a", "labels": {"app": 1}}]}, "pods[0].labels.app: label value 1 must be"),
    ({"namespaces": "x"}, "namespaces[0]: must be a mapping {name, labels}, got 'x'"),
    ({"namespaces": [{"name": "x", "label": {}}]}, "namespaces[0]: unknown field(s) label; use name and labels"),
    ({"policies": ["p"]}, "policies[0]: <no namespace>/<no name>: (policy): must be a NetworkPolicy mapping, got str"),
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


def test_a_missing_fastjsonschema_warns_and_jsonschema_checks_every_policy(monkeypatch):
    """Without fastjsonschema the strict schema is still checked, by jsonschema alone: say why it is slower."""
    monkeypatch.setattr(netpol, "_SCHEMA_VALIDATOR", None)
    monkeypatch.setattr(netpol, "_SCHEMA_PROBLEM", [None])
    monkeypatch.setitem(sys.modules, "fastjsonschema", None)
    policy = {"metadata": {"name": "p", "namespace": "x"}, "spec": {"podSelector": {}}}
    out = mod.describe(params(pods=[{"namespace": "x", "name": "a"}], policies=[policy], ports=[{"port": 80}]))
    assert out["warnings"] == [
        "the strict NetworkPolicy schema was checked by jsonschema alone: fastjsonschema is not installed "
        "(pip install fastjsonschema); validating many policies takes longer"
    ]
    bad = {"metadata": {"name": "p", "namespace": "x", "uid": 5}, "spec": {"podSelector": {}}}
    with pytest.raises(netpol.PolicyError, match=r"x/p: metadata\.uid: 5 is not of type 'string'"):
        mod.describe(params(pods=[{"namespace": "x", "name": "a"}], policies=[bad], ports=[{"port": 80}]))


# -- the result scales with what is asked ------------------------------------------------------------


def _matrix_verdict(out, cluster, source, target, key):
    """The verdict RV(matrix) gives for a pod pair: the cell of the source's class row and target's class column."""
    matrix = out["matrix"][key]
    row = matrix["sources"].index(cluster.class_of(source).name)
    column = matrix["targets"].index(cluster.class_of(target).name)
    return matrix["rows"][row][column]


def test_default_result_is_the_class_matrix_without_pairs():
    out = mod.describe(xyz(policies=[DENY_X]))
    assert out["results"] == []
    cluster = netpol.Cluster(namespaces=[{"name": n} for n in "xyz"], pods=xyz()["pods"], policies=[DENY_X])
    assert [c["pods"] for c in out["classes"]] == [[c.pods[0]] for c in cluster.classes()]
    checked = 0
    for key, (port, protocol) in (("80/TCP", (80, "TCP")), ("81/UDP", (81, "UDP"))):
        for source in cluster.pods:
            for target in cluster.pods:
                if source == target:
                    continue
                expected = "." if cluster.evaluate(source, target, port, protocol).allowed else "X"
                assert _matrix_verdict(out, cluster, source, target, key) == expected, (source, target, key)
                checked += 1
    assert checked == 2 * 9 * 8
    # Every class has one pod here: the diagonal is "not predicted".
    assert all(row[i] == "-" for i, row in enumerate(out["matrix"]["80/TCP"]["rows"]))
    assert out["summary"]["evaluated"] == 2 * 9 * 8
    assert out["summary"]["blocked"] == 2 * 6 * 3


def test_class_diagonal_is_two_distinct_pods_of_the_class():
    pods = [{"namespace": "x", "name": f"w{i}", "labels": {"app": "w"}, "ports": ports80()} for i in range(3)]
    deny = {"metadata": {"name": "d", "namespace": "x"}, "spec": {"podSelector": {}, "ingress": []}}
    out = mod.describe(params(pods=pods, policies=[deny]))
    assert out["matrix"]["80/TCP"] == {
        "port": 80,
        "protocol": "TCP",
        "sources": ["x/class-1"],
        "targets": ["x/class-1"],
        "rows": ["X"],
    }
    assert out["summary"]["blocked"] == 3 * 2  # ordered pairs of distinct pods


def test_explain_denied_lists_only_blocked_pairs_each_explained():
    out = mod.describe(xyz(policies=[DENY_X], ports=[{"port": 80}], explain="denied"))
    assert len(out["results"]) == 6 * 3
    assert all(r["allowed"] is False and r["ingress"]["selecting"] == ["x/deny"] for r in out["results"])
    every = mod.describe(xyz(policies=[DENY_X], ports=[{"port": 80}], explain="all"))
    assert len(every["results"]) == 9 * 8
    assert all("egress" in r for r in every["results"])
    listed = mod.describe(xyz(policies=[DENY_X], ports=[{"port": 80}], pairs="all", explain="denied"))
    assert len(listed["results"]) == 9 * 8
    assert {("egress" in r) for r in listed["results"] if r["allowed"]} == {False}
    assert {("egress" in r) for r in listed["results"] if not r["allowed"]} == {True}


@pytest.mark.parametrize(("value", "mode"), [(True, "all"), (False, "none"), ("yes", "all"), ("DENIED", "denied")])
def test_explain_accepts_the_former_booleans(value, mode):
    assert mod.explain_mode(value) == mode


def test_explain_rejects_other_values_naming_the_option():
    with pytest.raises(mod.InputProblem, match=r"explain: 'some' is not one of none, denied, all"):
        mod.describe(xyz(explain="some"))


def test_explain_pairs_explains_just_those():
    out = mod.describe(
        xyz(
            policies=[DENY_X],
            ports=[{"port": 80}],
            explain_pairs=[{"from": "y/a", "to": "x/b"}, {"from": "x/a", "to": "10.1.0.1"}],
        )
    )
    assert [(r["from"], r["to"], r["allowed"]) for r in out["results"]] == [("x/a", "y/a", True), ("y/a", "x/b", False)]
    assert out["results"][1]["ingress"]["selecting"] == ["x/deny"]
    classes = mod.describe(
        xyz(
            policies=[DENY_X], ports=[{"port": 80}], granularity="classes", explain_pairs=[{"from": "y/a", "to": "x/b"}]
        )
    )
    [item] = classes["results"]
    assert (item["from"], item["to"], item["allowed"]) == ("y/class-1", "x/class-2", False)
    assert "egress" in item


@pytest.mark.parametrize(
    ("pairs", "message"),
    [
        (
            [{"from": "x/nope", "to": "x/a"}],
            "explain_pairs[0].from: 'x/nope' is not a pod or address among the sources",
        ),
        ([{"from": "x/a", "to": "x/a"}, {"from": "x/a", "to": "q/b"}], "explain_pairs[1].to: 'q/b'"),
    ],
)
def test_explain_pairs_unknown_endpoint_fails_naming_the_field(pairs, message):
    with pytest.raises(mod.InputProblem) as info:
        mod.describe(xyz(explain_pairs=pairs))
    assert message in str(info.value)


def test_tables_are_bounded_by_table_limit():
    out = mod.describe(xyz(policies=[DENY_X], table_limit=80))
    assert out["table"]["80/TCP"] == (
        "not drawn: 9 x 9 cells is more than table_limit=80; matrix['80/TCP'] has every verdict\n"
    )
    assert out["table_lines"]["80/TCP"] == [out["table"]["80/TCP"].rstrip("\n")]
    drawn = mod.describe(xyz(policies=[DENY_X], table_limit=81))
    assert drawn["table"]["80/TCP"].count("\n") == 10
    with pytest.raises(mod.InputProblem, match="table_limit: -1 must be 0 or more"):
        mod.describe(xyz(table_limit=-1))


def test_summary_counts_pod_pairs_of_overlapping_sources_and_targets():
    out = mod.describe(
        xyz(policies=[DENY_X], ports=[{"port": 80}], sources=["x/a", "y/a", "y/b"], targets=["x/a", "x/b", "y/b"])
    )
    cluster = netpol.Cluster(namespaces=[{"name": n} for n in "xyz"], pods=xyz()["pods"], policies=[DENY_X])
    verdicts = [
        cluster.evaluate(s, t, 80).allowed for s in ("x/a", "y/a", "y/b") for t in ("x/a", "x/b", "y/b") if s != t
    ]
    assert out["summary"]["evaluated"] == len(verdicts) == 7
    assert out["summary"]["allowed"] == sum(verdicts)
    assert out["matrix"]["80/TCP"]["sources"] == ["x/class-1", "y/class-1", "y/class-2"]


def test_only_is_a_deprecated_alias_of_pairs():
    result = ArgumentSpecValidator(mod.ARGUMENT_SPEC).validate({"only": "blocked"})
    assert result.validated_parameters["pairs"] == "blocked"
    assert any("only" in d["msg"] for d in result._deprecations)


def test_pods_granularity_result_stays_small_at_a_thousand_pods():
    """Before: about 1,000,000 result items per port (352 MB). Now the pairs are listed only on request."""
    import json

    bench = _bench_module()
    data = bench.build_cluster_input(1000, 200)
    out = mod.describe(params(**data, ports=[{"port": 8080}]))
    size = len(json.dumps(out))
    assert out["summary"]["evaluated"] == 1000 * 999
    assert out["results"] == []
    assert size < 100_000, size


def _bench_module():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[4] / "benchmarks" / "bench_reachability.py"
    spec = importlib.util.spec_from_file_location("bench_reachability", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_engine_option_predicts_with_that_engines_semantics():
    from_cidr = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "from-vnet", "namespace": "default"},
        "spec": {
            "podSelector": {"matchLabels": {"app": "api"}},
            "ingress": [{"from": [{"ipBlock": {"cidr": "10.240.0.0/16"}}]}],
        },
    }
    verdicts = {}
    for engine in ("upstream", "azure", "cilium"):
        out = mod.describe(
            params(**WALKTHROUGH, policies=[from_cidr], engine=engine, sources=["default/test-np"], pairs="all")
        )
        (item,) = [r for r in out["results"] if r["to"] == "default/api"]
        verdicts[engine] = item["allowed"]
    # Cilium never lets an ipBlock match a pod address; NPM and the spec do
    assert verdicts == {"upstream": True, "azure": True, "cilium": False}
    assert ArgumentSpecValidator(mod.ARGUMENT_SPEC).validate({"engine": "weave"}).error_messages


# An offline run reads no cluster, so it does not pay for importing the kubernetes client library (about half
# the fixed cost of a run); a live run still imports it. Each run is a fresh interpreter, as a module run is.
MODULE_RUN = """
import json, sys
from ansible.module_utils.testing import patch_module_args
from ansible_collections.netpol.aks.plugins.modules import reachability_info
with patch_module_args(json.loads(sys.argv[1])):
    try:
        reachability_info.main()
    except SystemExit:
        pass
loaded = sorted(name for name in sys.modules if name.split(".")[0] == "kubernetes")
print(json.dumps(loaded), file=sys.stderr)
"""


def run_module_process(args: dict) -> tuple[dict, list[str]]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(path for path in sys.path if path))
    proc = subprocess.run(
        [sys.executable, "-c", MODULE_RUN, json.dumps(args)], capture_output=True, text=True, env=env, check=True
    )
    return json.loads(proc.stdout), json.loads(proc.stderr.strip().splitlines()[-1])


def test_an_offline_run_does_not_import_the_kubernetes_library():
    result, loaded = run_module_process({**WALKTHROUGH, "policies": [DENY]})
    assert result.get("failed") is not True, result
    assert result["source"] == "offline"
    assert loaded == []


def test_a_live_run_still_imports_it_and_says_what_failed():
    result, loaded = run_module_process({"kubeconfig": "/nowhere"})
    assert result["failed"] is True
    assert result["msg"].startswith("Failed to load Kubernetes credentials from /nowhere")
    assert "kubernetes" in loaded
