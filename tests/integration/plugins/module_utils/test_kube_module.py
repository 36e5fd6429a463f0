# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""KubeModule, the base of the Kubernetes modules: shared connection options, one error type reported once
(with its HTTP status and the module's partial result), against the real lab (`kube_lab`)."""

from __future__ import annotations

import json

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.netpol.aks.plugins.module_utils import _kube
from ansible_collections.netpol.aks.plugins.modules import probe_connectivity
from ansible_collections.netpol.aks.plugins.modules import reachability_info
from tests.integration.probe import cluster


def run_main(main, capsys, **args) -> dict:
    with patch_module_args(args), pytest.raises(SystemExit):
        main()
    return json.loads(capsys.readouterr().out)


@pytest.fixture(autouse=True)
def no_waits(monkeypatch):
    monkeypatch.setattr(_kube, "_sleep", lambda seconds: None)


def test_the_base_merges_the_connection_options(capsys):
    with patch_module_args({"kubeconfig": "/nowhere", "extra": 1}):
        module = _kube.KubeModule(argument_spec={"extra": {"type": "int"}})
    assert module.params["extra"] == 1
    assert module.params["kubeconfig"] == "/nowhere"
    with pytest.raises(_kube.KubeError, match="Failed to load Kubernetes credentials from /nowhere"):
        module.kube()


def test_an_api_failure_is_reported_once_with_its_status(kube_lab, capsys):
    kube_lab.config(faults=[{"status": 403, "path": "/api/v1/namespaces$", "method": "GET"}])
    out = run_main(reachability_info.main, capsys, kubeconfig=str(kube_lab.kubeconfig), ports=[{"port": 80}])
    assert out["failed"] is True
    assert out["status"] == 403
    assert out["changed"] is False
    assert out["msg"].startswith("Failed to list namespaces: HTTP 403 Forbidden")
    assert "RBAC" in out["msg"]


def test_an_engine_error_is_the_modules_error(capsys):
    out = run_main(
        reachability_info.main,
        capsys,
        pods=[{"namespace": "x", "name": "a", "ports": [{"name": "http", "port": 80}]}],
        ports=[{"port": "htpp"}],
    )
    assert out["failed"] is True
    assert "status" not in out
    assert out["msg"] == "ports[0].port: no target declares a TCP container port named 'htpp' (named ports: http)"


def test_bad_input_says_nothing_was_created(kube_lab, capsys):
    cluster.seed(kube_lab)
    out = run_main(
        probe_connectivity.main,
        capsys,
        kubeconfig=str(kube_lab.kubeconfig),
        namespace=cluster.NAMESPACE,
        to="api",
        port=8081,
        **{"from": {"labels": {"app": "api"}}},
    )
    assert out["failed"] is True
    assert out["msg"].startswith("Invalid input, nothing was created: port: Service netpol-demo/api does not expose")
    assert cluster.probe_pods(kube_lab) == []


def test_a_failed_probe_returns_its_results_with_the_error(kube_lab, capsys):
    cluster.seed(kube_lab, policies=("deny",))
    out = run_main(
        probe_connectivity.main,
        capsys,
        kubeconfig=str(kube_lab.kubeconfig),
        namespace=cluster.NAMESPACE,
        to="api",
        expect="allowed",
        **{"from": "test-np"},
    )
    assert out["failed"] is True
    assert out["msg"].startswith("Expected allowed, observed blocked")
    assert out["result"] == "blocked"
    assert out["verdict"] == "differences"
