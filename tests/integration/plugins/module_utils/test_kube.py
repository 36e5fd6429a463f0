# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""_kube: connection options and client from kubernetes.core (against the real lab, `kube_lab`), read_cluster."""

from __future__ import annotations

import json

import kubernetes
import pytest
import yaml
from ansible.module_utils.testing import patch_module_args
from ansible_collections.kubernetes.core.plugins.module_utils.args_common import AUTH_ARG_SPEC

from ansible_collections.netpol.aks.plugins.module_utils import _kube
from ansible_collections.netpol.aks.plugins.module_utils import netpol


@pytest.fixture(autouse=True)
def no_k8s_auth_env(monkeypatch, tmp_path):
    for key in list(__import__("os").environ):
        if key.startswith("K8S_AUTH_") or key == "KUBECONFIG":
            monkeypatch.delenv(key)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.kube/config
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # kubernetes.core's discovery cache


def namespace_names(api_client) -> list[str]:
    data = kubernetes.client.CoreV1Api(api_client).list_namespace(_preload_content=False)
    return [n["metadata"]["name"] for n in json.loads(data.data)["items"]]


def test_the_options_are_kubernetes_cores():
    assert _kube.KUBE_AUTH_ARG_SPEC == AUTH_ARG_SPEC
    assert _kube.KUBE_AUTH_ARG_SPEC is not AUTH_ARG_SPEC
    for name in ("impersonate_user", "impersonate_groups", "persist_config", "proxy_headers"):
        assert name in _kube.KUBE_AUTH_ARG_SPEC


def test_k8s_auth_variables_are_read(kube_lab, monkeypatch):
    monkeypatch.setenv("K8S_AUTH_KUBECONFIG", str(kube_lab.kubeconfig))
    client = _kube.build_api_client({})
    assert client.configuration.host == kube_lab.url
    assert "default" in namespace_names(client)


def test_host_token_and_ca_without_a_kubeconfig(kube_lab, monkeypatch):
    monkeypatch.setenv("K8S_AUTH_HOST", "https://ignored.invalid:1")
    params = {"host": kube_lab.url + "/", "api_key": kube_lab.token, "ca_cert": str(kube_lab.ca_file)}
    client = _kube.build_api_client(params)
    assert client.configuration.host == kube_lab.url
    assert client.configuration.retries is False  # kube_retry is the only retry layer
    assert "default" in namespace_names(client)


def test_kubeconfig_as_a_mapping_with_a_context(kube_lab):
    config = yaml.safe_load(kube_lab.kubeconfig.read_text())
    config["contexts"].append({"name": "other", "context": dict(config["contexts"][0]["context"], namespace="x")})
    client = _kube.build_api_client({"kubeconfig": config, "context": "other"})
    assert "default" in namespace_names(client)


def test_impersonation_headers_reach_every_client(kube_lab):
    factory = _kube.api_client_factory(
        {"kubeconfig": str(kube_lab.kubeconfig), "impersonate_user": "alice", "impersonate_groups": ["a", "b"]}
    )
    first, second = factory(), factory()
    assert first is not second
    for client in (first, second):
        headers = {str(k): v for k, v in client.default_headers.items()}
        assert headers["Impersonate-User"] == "alice"
        assert sorted(v for k, v in client.default_headers.items() if str(k) == "Impersonate-Group") == ["a", "b"]


def test_bad_kubeconfig_and_context_say_what_to_do(kube_lab):
    with pytest.raises(_kube.KubeError, match=r"credentials from /nonexistent: .*Set kubeconfig/context"):
        _kube.build_api_client({"kubeconfig": "/nonexistent"})
    with pytest.raises(_kube.KubeError, match="three"):
        _kube.build_api_client({"kubeconfig": str(kube_lab.kubeconfig), "context": "three"})


def test_an_unreachable_server_is_named(monkeypatch):
    monkeypatch.setattr(_kube, "_sleep", lambda seconds: None)
    with pytest.raises(_kube.KubeError, match=r"Failed to connect to the Kubernetes API \(https://127.0.0.1:9\)"):
        _kube.build_api_client({"host": "https://127.0.0.1:9", "api_key": "t"})


def test_the_secrets_of_a_kubeconfig_mapping_stay_out_of_results(kube_lab):
    config = yaml.safe_load(kube_lab.kubeconfig.read_text())
    with patch_module_args({"kubeconfig": config}):
        module = _kube.KubeModule()
    assert kube_lab.token in module.module._module.no_log_values


# ---------------------------------------------------------------------------------------------
# read_cluster against a fake API (the raw-JSON LIST calls it makes)
# ---------------------------------------------------------------------------------------------


class Raw:
    def __init__(self, payload):
        self.data = json.dumps(payload).encode()


def pod(ns, name, labels=None, ip="10.0.0.1", ports=(), phase="Running", host_network=False, init=()):
    return {
        "metadata": {"namespace": ns, "name": name, "labels": labels or {}},
        "spec": {
            "hostNetwork": host_network,
            "containers": [{"name": "c", "ports": list(ports)}],
            "initContainers": list(init),
        },
        "status": {"phase": phase, "podIP": ip},
    }


class FakeApis:
    """CoreV1Api / NetworkingV1Api doubles serving pages of raw JSON, recording every call."""

    def __init__(self, namespaces, pods, policies, page=2, forbidden=()):
        self.namespaces, self.pods, self.policies = namespaces, pods, policies
        self.page, self.forbidden, self.calls = page, set(forbidden), []

    def _serve(self, what, items, kwargs):
        self.calls.append((what, {k: v for k, v in kwargs.items() if k != "_preload_content"}))
        assert kwargs["_preload_content"] is False
        if what in self.forbidden:
            raise kubernetes.client.exceptions.ApiException(status=403, reason="Forbidden")
        start = int(kwargs.get("_continue") or 0)
        chunk = items[start : start + self.page]
        more = start + self.page < len(items)
        return Raw({"kind": "List", "items": chunk, "metadata": {"continue": str(start + self.page) if more else ""}})

    def core(self, api_client):
        fake = self

        class Core:
            def list_namespace(self, **kw):
                return fake._serve("namespaces", fake.namespaces, kw)

            def list_namespaced_pod(self, namespace, **kw):
                items = [p for p in fake.pods if p["metadata"]["namespace"] == namespace]
                return fake._serve(f"pods/{namespace}", items, kw)

            def list_pod_for_all_namespaces(self, **kw):
                return fake._serve("pods", fake.pods, kw)

        return Core()

    def net(self, api_client):
        fake = self

        class Net:
            def list_namespaced_network_policy(self, namespace, **kw):
                items = [p for p in fake.policies if p["metadata"]["namespace"] == namespace]
                return fake._serve(f"policies/{namespace}", items, kw)

            def list_network_policy_for_all_namespaces(self, **kw):
                return fake._serve("policies", fake.policies, kw)

        return Net()


@pytest.fixture
def fake_cluster(monkeypatch):
    namespaces = [
        {"metadata": {"name": n, "labels": {"team": n.upper()} if n != "z" else None}} for n in ("x", "y", "z")
    ]
    pods = [
        pod("x", "a", {"app": "a"}, "10.0.0.1", [{"name": "http", "containerPort": 80}]),
        pod("x", "b", {"app": "b"}, "10.0.0.2", [{"containerPort": 53, "protocol": "UDP", "name": "dns"}]),
        pod("x", "done", {"app": "job"}, None, phase="Succeeded"),
        pod(
            "y",
            "c",
            {"app": "c"},
            "10.0.1.3",
            init=[
                {"name": "side", "restartPolicy": "Always", "ports": [{"containerPort": 9090, "name": "metrics"}]},
                {"name": "init", "ports": [{"containerPort": 1}]},
            ],
        ),
        pod("y", "node-agent", {"app": "agent"}, "192.168.0.4", host_network=True),
    ]
    policies = [
        {
            "metadata": {"name": "deny", "namespace": "x", "uid": "u-1", "resourceVersion": "7", "managedFields": [{}]},
            "spec": {"podSelector": {}, "policyTypes": ["Ingress"]},
        },
        {"metadata": {"name": "allow", "namespace": "y"}, "spec": {"podSelector": {}, "ingress": [{}]}},
    ]
    fake = FakeApis(namespaces, pods, policies)
    monkeypatch.setattr(_kube, "_apis", lambda api_client: (fake.core(api_client), fake.net(api_client)))
    return fake


def test_read_cluster_returns_the_engine_shapes(fake_cluster):
    data = _kube.read_cluster(object())
    assert data["namespaces"] == [
        {"name": "x", "labels": {"team": "X"}},
        {"name": "y", "labels": {"team": "Y"}},
        {"name": "z", "labels": {}},
    ]
    assert data["pods"] == [
        {
            "namespace": "x",
            "name": "a",
            "labels": {"app": "a"},
            "ip": "10.0.0.1",
            "ports": [{"name": "http", "port": 80, "protocol": "TCP"}],
        },
        {
            "namespace": "x",
            "name": "b",
            "labels": {"app": "b"},
            "ip": "10.0.0.2",
            "ports": [{"name": "dns", "port": 53, "protocol": "UDP"}],
        },
        {
            "namespace": "y",
            "name": "c",
            "labels": {"app": "c"},
            "ip": "10.0.1.3",
            "ports": [{"name": "metrics", "port": 9090, "protocol": "TCP"}],
        },
    ]
    assert data["skipped"] == [
        {"pod": "x/done", "reason": "phase Succeeded"},
        {"pod": "y/node-agent", "reason": "hostNetwork: NetworkPolicy does not apply"},
    ]
    assert data["policies"][0] == {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "deny", "namespace": "x"},
        "spec": {"podSelector": {}, "policyTypes": ["Ingress"]},
    }
    # Pages were followed: 5 pods in pages of 2.
    assert [c for c, _unused in fake_cluster.calls].count("pods") == 3
    data.pop("skipped")
    cluster = netpol.Cluster(**data)
    assert cluster.evaluate("y/c", "x/a", 80).allowed is False
    assert cluster.evaluate("x/a", "y/c", 80).allowed is True


def test_read_cluster_filters_namespaces_and_labels(fake_cluster):
    data = _kube.read_cluster(object(), namespaces=["y", "y"], label_selector="app=c")
    assert [p["name"] for p in data["pods"]] == ["c"]
    assert [p["metadata"]["name"] for p in data["policies"]] == ["allow"]
    assert len(data["namespaces"]) == 3  # every namespace's labels, for namespaceSelectors
    pod_calls = [kw for c, kw in fake_cluster.calls if c == "pods/y"]
    assert pod_calls[0]["label_selector"] == "app=c"
    assert not any(c == "pods/x" for c, _unused in fake_cluster.calls)


def test_read_cluster_unknown_namespace(fake_cluster):
    with pytest.raises(_kube.KubeError, match="namespaces: nope not found in the cluster"):
        _kube.read_cluster(object(), namespaces=["x", "nope"])


def test_read_cluster_forbidden_says_rbac(fake_cluster):
    fake_cluster.forbidden.add("policies")
    with pytest.raises(
        _kube.KubeError, match=r"Failed to list NetworkPolicies: HTTP 403 Forbidden \(check the credentials' RBAC"
    ):
        _kube.read_cluster(object())


def test_pod_ports_defaults_and_duplicates():
    raw = pod("x", "a", ports=[{"containerPort": 80}, {"containerPort": 80}, {"name": "x"}])
    assert _kube.pod_ports(raw) == [{"port": 80, "protocol": "TCP"}]
