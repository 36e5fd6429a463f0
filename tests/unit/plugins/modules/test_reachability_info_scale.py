# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""reachability_info's module process at scale: how Ansible's argument handling and Python's collector are kept off
the large inputs, with every check still made (benchmarks/bench_reachability.py measures the effect)."""

from __future__ import annotations

import gc
import json

import pytest
from ansible.module_utils import basic
from ansible.module_utils.common import arg_spec
from ansible.module_utils.testing import patch_module_args

from ansible_collections.netpol.aks.plugins.modules import reachability_info as mod

PODS = [
    {"namespace": "x", "name": "a", "labels": {"app": "a"}, "ports": [{"port": 80}]},
    {"namespace": "x", "name": "b", "labels": {"app": "b"}, "ports": [{"port": 80}]},
]
POLICY = {
    "metadata": {"name": "deny", "namespace": "x"},
    "spec": {"podSelector": {"matchLabels": {"app": "a"}}, "ingress": []},
}


def run_main(capsys, args: dict) -> dict:
    with patch_module_args(args), pytest.raises(SystemExit):
        mod.main()
    return json.loads(capsys.readouterr().out)


def test_ansible_checks_and_logs_a_stand_in_for_each_large_input_and_the_engine_gets_the_lists(capsys, monkeypatch):
    checked, logged = [], []
    validate = arg_spec.ArgumentSpecValidator.validate

    def recording_validate(self, parameters, *args, **kwargs):
        checked.append({k: parameters.get(k) for k in ("namespaces", "pods", "policies")})
        return validate(self, parameters, *args, **kwargs)

    monkeypatch.setattr(arg_spec.ArgumentSpecValidator, "validate", recording_validate)
    monkeypatch.setattr(basic.AnsibleModule, "log", lambda self, msg, log_args=None: logged.append(msg))
    result = run_main(capsys, {"pods": PODS, "policies": [POLICY]})
    assert checked == [
        {
            "namespaces": None,
            "pods": ["(2 items, checked by the engine)"],
            "policies": ["(1 item, checked by the engine)"],
        }
    ]
    assert "pods=['(2 items, checked by the engine)']" in logged[0]
    assert "'app'" not in logged[0]
    assert result["summary"]["pods"] == 2
    assert result["summary"]["policies"] == 1
    assert result["summary"]["blocked"] == 1  # x/b -> x/a on port 80: the policy was applied


def test_the_options_exclusive_of_a_large_input_are_still_refused(capsys):
    result = run_main(capsys, {"pods": PODS, "label_selectors": ["app=a"]})
    assert result["failed"]
    assert result["msg"] == "parameters are mutually exclusive: pods|label_selectors"


def test_a_large_input_that_is_not_a_list_is_ansibles_to_refuse(capsys):
    result = run_main(capsys, {"pods": {"namespace": "x", "name": "a"}})
    assert result["failed"]
    assert "'pods' is of type" in result["msg"]


def test_a_bad_item_of_a_large_input_is_named_by_the_engine(capsys):
    bad = [*PODS, {"namespace": "x", "name": "c", "ports": [{"port": True}]}]
    result = run_main(capsys, {"pods": bad})
    assert result["failed"]
    assert "pods[2].ports[0].port: must be a port number 1-65535, got True" in result["msg"]


def test_a_run_goes_without_the_cyclic_collector_and_gives_it_back(capsys, monkeypatch):
    seen = []
    describe = mod.describe

    def recording_describe(params):
        seen.append(gc.isenabled())
        return describe(params)

    monkeypatch.setattr(mod, "describe", recording_describe)
    assert gc.isenabled()
    run_main(capsys, {"pods": PODS})
    assert seen == [False]
    assert gc.isenabled()
    gc.disable()
    try:
        with mod.without_cyclic_gc():
            pass
        assert not gc.isenabled()  # left as it was found
    finally:
        gc.enable()
