# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""probe_connectivity: the plan built from the inputs, input validation, expectations, the report."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import yaml

from ansible_collections.netpol.aks.plugins.module_utils import _probe
from ansible_collections.netpol.aks.plugins.module_utils._probe import ProbeInputError
from ansible_collections.netpol.aks.plugins.module_utils._probe import ProbeOutcome
from ansible_collections.netpol.aks.plugins.modules import probe_connectivity as module


def params(**overrides):
    spec = module.argument_spec()
    values = {name: option.get("default") for name, option in spec.items()}
    values.update(overrides)
    return values


def test_argument_spec_constraints():
    spec = module.argument_spec()
    assert spec["protocol"]["choices"] == ["http", "tcp"]
    assert spec["protocol"]["default"] == "http"
    assert spec["timeout"]["default"] == 2
    assert spec["sources"]["elements"] == "raw"
    assert spec["ports"]["elements"] == "int"
    assert spec["api_key"]["no_log"] is True
    assert "impersonate_user" in spec  # kubernetes.core's connection options


def test_check_mode_support_is_partial_since_probe_pods_are_created():
    doc = yaml.safe_load(module.DOCUMENTATION)
    assert "netpol.aks.attributes.INFO_MODULE" not in doc["extends_documentation_fragment"]
    check_mode = doc["attributes"]["check_mode"]
    assert check_mode["support"] == "partial"
    details = " ".join(check_mode["details"])
    assert "probe pod" in details
    assert "would_create" in details
    assert "never changes anything" not in module.DOCUMENTATION


def test_single_probe_plan_defaults_to_port_80_and_service():
    plan = module.build_plan(params(namespace="netpol-demo", **{"from": {"pod": "test-np"}, "to": "api"}))
    (cell,) = plan["cells"]
    assert cell.source.name == "netpol-demo/test-np"
    assert cell.target.name == "service netpol-demo/api"
    assert (cell.port, cell.protocol) == (80, "http")


def test_matrix_plan_is_sources_x_targets_x_ports():
    plan = module.build_plan(
        params(
            namespace="ns",
            sources=[{"pod": "a"}, {"labels": {"app": "api"}}, {"pod": "b", "namespace": "other"}],
            targets=["api", {"pod": "x"}, {"url": "http://web.other.svc:8080"}],
            ports=[80, 81],
            protocol="tcp",
        )
    )
    # two ports for the service and the pod, the URL's own port once: 3 sources x (2 + 2 + 1)
    assert len(plan["cells"]) == 15
    assert {c.port for c in plan["cells"] if c.target.kind == "url"} == {8080}
    assert {c.protocol for c in plan["cells"]} == {"tcp"}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"port": 0}, "port must be between 1 and 65535, got 0"),
        ({"port": 70000}, "port must be between 1 and 65535, got 70000"),
        ({"port": None, "ports": [80, 70000]}, r"ports\[1\] must be between 1 and 65535"),
        ({"port": None, "ports": []}, "ports is empty"),
        ({"protocol": "udp"}, "protocol must be one of http, tcp"),
        ({"timeout": 0}, "timeout must be at least 1"),
        ({"stable_for": 0}, "stable_for must be at least 1"),
        ({"retries": -1}, "retries must be at least 0"),
        ({"delay": -1.0}, "delay must not be negative"),
        ({"expect": "maybe"}, "expect must be allowed, blocked, predicted"),
        ({"namespace": "Not A Namespace"}, "namespace must be a Kubernetes object name"),
    ],
)
def test_bad_inputs_are_refused(overrides, message):
    base = {"from": {"pod": "test-np"}, "to": "api", "port": 80}
    base.update(overrides)
    with pytest.raises(ProbeInputError, match=message):
        module.build_plan(params(**base))


def test_empty_sources_and_targets_are_refused():
    with pytest.raises(ProbeInputError, match="sources is empty"):
        module.build_plan(params(sources=[], targets=["api"]))
    with pytest.raises(ProbeInputError, match="targets is empty"):
        module.build_plan(params(sources=[{"pod": "a"}], targets=[]))


def test_duplicate_sources_are_refused():
    with pytest.raises(ProbeInputError, match="same source twice"):
        module.build_plan(params(sources=[{"pod": "a"}, "a"], targets=["api"]))


def test_expected_table_from_reachability_info():
    plan = module.build_plan(
        params(namespace="ns", sources=[{"pod": "a"}, {"pod": "b"}], targets=[{"pod": "c"}], port=80)
    )
    table = [
        {"from": "ns/a", "to": "ns/c", "port": 80, "protocol": "TCP", "allowed": True, "reason": "..."},
        {"from": "ns/b", "to": "ns/c", "port": 80, "protocol": "TCP", "allowed": False, "reason": "..."},
        {"from": "ns/b", "to": "ns/c", "port": 81, "protocol": "TCP", "allowed": True, "reason": "other port"},
    ]
    module.apply_table(plan["cells"], table)
    assert [c.expected for c in plan["cells"]] == ["allowed", "blocked"]


def test_expected_table_as_mapping():
    plan = module.build_plan(params(namespace="ns", sources=[{"pod": "a"}], targets=["api", "web"], port=80))
    module.apply_table(plan["cells"], {"ns/a": {"ns/api": "allowed", "web": False}})
    assert [c.expected for c in plan["cells"]] == ["allowed", "blocked"]


def test_expected_table_rejects_nonsense():
    plan = module.build_plan(params(namespace="ns", sources=[{"pod": "a"}], targets=["api"], port=80))
    with pytest.raises(ProbeInputError, match="not allowed/blocked"):
        module.apply_table(plan["cells"], [{"from": "ns/a", "to": "api", "allowed": "perhaps"}])
    with pytest.raises(ProbeInputError, match="from, to"):
        module.apply_table(plan["cells"], [{"to": "api"}])


class FakeModule(SimpleNamespace):
    def __init__(self, check_mode=False):
        super().__init__(check_mode=check_mode, warnings=[])

    def warn(self, message):
        self.warnings.append(message)


def _report(plan, results, expect=None):
    for cell, result in zip(plan["cells"], results, strict=True):
        if expect:
            cell.expected = expect
        if result is not None:
            cell.record(0.0, ProbeOutcome(result, 0 if result == "allowed" else 1, "out"), 0.5)
    return module._report(
        FakeModule(), plan, {"changed": False, "run_id": "r", "probe_pods": []}, plan["cells"], None, 1, [], 1.0
    )


def test_report_single_probe_match():
    plan = module.build_plan(params(namespace="ns", expect="blocked", **{"from": {"pod": "c"}, "to": "api"}))
    result = _report(plan, ["blocked"], "blocked")
    assert result["changed"] is False
    assert result["result"] == "blocked"
    assert result["verdict"] == "match"
    assert result["summary"] == ["ns/c -> service ns/api:80 (http): expected blocked, observed blocked in 0.5s"]


def test_report_single_probe_mismatch_fails_saying_what_was_observed():
    plan = module.build_plan(params(namespace="ns", expect="blocked", **{"from": {"pod": "c"}, "to": "api"}))
    with pytest.raises(module.ProbeFailure) as failure:
        _report(plan, ["allowed"], "blocked")
    assert "Expected blocked, observed allowed" in failure.value.message
    assert (
        "does not enforce NetworkPolicy" in failure.value.message
        or "may not enforce NetworkPolicy" in failure.value.message
    )
    assert failure.value.result["result"] == "allowed"


def test_a_failure_message_does_not_carry_the_page_a_probe_fetched():
    plan = module.build_plan(params(namespace="ns", expect="blocked", **{"from": {"pod": "c"}, "to": "api"}))
    page = "<!DOCTYPE html>\n<title>Welcome to nginx!</title>"
    plan["cells"][0].expected = "blocked"
    plan["cells"][0].record(0.0, ProbeOutcome("allowed", 0, page), 0.1)
    with pytest.raises(module.ProbeFailure) as failure:
        module._report(
            FakeModule(), plan, {"changed": False, "run_id": "r", "probe_pods": []}, plan["cells"], None, 1, [], 1.0
        )
    assert "Expected blocked, observed allowed" in failure.value.message
    assert "nginx" not in failure.value.message
    assert failure.value.result["output"] == page  # still returned, as the tool printed it


def test_a_failure_message_carries_what_a_failed_probe_printed():
    plan = module.build_plan(params(namespace="ns", expect="allowed", **{"from": {"pod": "c"}, "to": "api"}))
    plan["cells"][0].expected = "allowed"
    plan["cells"][0].record(0.0, ProbeOutcome("blocked", 1, "wget: download timed out"), 2.0)
    with pytest.raises(module.ProbeFailure) as failure:
        module._report(
            FakeModule(), plan, {"changed": False, "run_id": "r", "probe_pods": []}, plan["cells"], None, 1, [], 1.0
        )
    assert failure.value.message.startswith("Expected allowed, observed blocked")
    assert ": wget: download timed out." in failure.value.message


def test_report_probe_error_always_fails_even_without_expectation():
    plan = module.build_plan(params(namespace="ns", **{"from": {"pod": "c"}, "to": "api"}))
    with pytest.raises(module.ProbeFailure) as failure:
        _report(plan, ["probe_error"])
    assert "never counted as blocked" in failure.value.message
    assert failure.value.result["result"] == "probe_error"


def test_report_matrix_not_enforcing():
    plan = module.build_plan(params(namespace="ns", sources=[{"pod": "a"}, {"pod": "b"}], targets=["api"]))
    plan["cells"][0].expected = "allowed"
    plan["cells"][1].expected = "blocked"
    for cell in plan["cells"]:
        cell.record(0.0, ProbeOutcome("allowed", 0, ""), 0.1)
    plan["expect"] = "predicted"
    with pytest.raises(module.ProbeFailure) as failure:
        module._report(
            FakeModule(), plan, {"changed": False, "run_id": "r", "probe_pods": []}, plan["cells"], {}, 1, [], 1.0
        )
    result = failure.value.result
    assert result["verdict"] == "not_enforcing"
    assert "does not appear to enforce NetworkPolicy" in result["verdict_msg"]
    assert len(result["differences"]) == 1
    assert result["expected_table"] == {"ns/a": {"ns/api:80": "allowed"}, "ns/b": {"ns/api:80": "blocked"}}


def test_report_check_mode_lists_what_would_be_done():
    plan = module.build_plan(params(namespace="ns", **{"from": {"labels": {"app": "api"}}, "to": "api"}))
    out = module._report(
        FakeModule(check_mode=True),
        plan,
        {"changed": False, "run_id": "r", "probe_pods": [], "would_create": [{"kind": "Pod"}]},
        plan["cells"],
        None,
        0,
        [],
        0.1,
    )
    assert out["verdict"] == "check_mode"
    assert out["result"] is None
    assert "would create 1 probe pod" in out["verdict_msg"]


def test_leftover_pods_are_reported_with_a_warning():
    plan = module.build_plan(params(namespace="ns", **{"from": {"pod": "c"}, "to": "api"}))
    plan["cells"][0].record(0.0, ProbeOutcome("allowed", 0, ""), 0.1)
    fake = FakeModule()
    out = module._report(
        fake, plan, {"changed": False, "run_id": "r", "probe_pods": []}, plan["cells"], None, 1, ["ns/p: boom"], 1.0
    )
    assert out["leftover_pods"] == ["ns/p: boom"]
    assert f"{_probe.PROBE_RUN_LABEL}=r" in fake.warnings[0]
