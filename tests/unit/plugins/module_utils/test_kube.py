# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""_kube: connection options (names and K8S_AUTH_* variables as kubernetes.core), ApiClient, read_cluster."""

from __future__ import annotations

import json

import kubernetes
import pytest
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.netpol.aks.plugins.module_utils import _kube
from ansible_collections.netpol.aks.plugins.module_utils import netpol

KUBERNETES_CORE_OPTIONS = {
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
    "no_proxy",
    "proxy_headers",
}


def validated(monkeypatch, env=None, **params):
    for key in list(__import__("os").environ):
        if key.startswith("K8S_AUTH_"):
            monkeypatch.delenv(key)
    for key, value in (env or {}).items():
        monkeypatch.setenv(key, value)
    result = ArgumentSpecValidator(_kube.KUBE_AUTH_ARG_SPEC).validate(params)
    assert not result.error_messages, result.error_messages
    return result.validated_parameters


def test_option_names_and_aliases_mirror_kubernetes_core():
    assert set(_kube.KUBE_AUTH_ARG_SPEC) == KUBERNETES_CORE_OPTIONS
    spec = _kube.KUBE_AUTH_ARG_SPEC
    assert spec["validate_certs"]["aliases"] == ["verify_ssl"]
    assert spec["ca_cert"]["aliases"] == ["ssl_ca_cert"]
    assert spec["client_cert"]["aliases"] == ["cert_file"]
    assert spec["client_key"]["aliases"] == ["key_file"]
    assert spec["api_key"]["no_log"] is True
    assert spec["password"]["no_log"] is True


def test_env_fallbacks_use_kubernetes_core_variable_names(monkeypatch):
    params = validated(
        monkeypatch,
        env={
            "K8S_AUTH_HOST": "https://k8s.example:6443/",
            "K8S_AUTH_API_KEY": "token-1",
            "K8S_AUTH_VERIFY_SSL": "false",
            "K8S_AUTH_SSL_CA_CERT": "/tmp/ca.pem",
            "K8S_AUTH_CONTEXT": "ctx",
            "K8S_AUTH_PROXY": "http://proxy:3128",
        },
    )
    assert params["host"] == "https://k8s.example:6443/"
    assert params["validate_certs"] is False
    assert params["ca_cert"] == "/tmp/ca.pem"
    configuration = _kube.build_configuration(params)
    assert configuration.host == "https://k8s.example:6443"
    assert configuration.api_key == {"authorization": "Bearer token-1"}
    assert configuration.verify_ssl is False
    assert configuration.ssl_ca_cert == "/tmp/ca.pem"
    assert configuration.proxy == "http://proxy:3128"


def test_explicit_options_win_over_env(monkeypatch):
    params = validated(monkeypatch, env={"K8S_AUTH_HOST": "https://env:1"}, host="https://param:2", api_key="t")
    assert _kube.build_configuration(params).host == "https://param:2"


def test_proxy_headers_from_env(monkeypatch):
    params = validated(
        monkeypatch, env={"K8S_AUTH_PROXY_HEADERS_USER_AGENT": "netpol/1"}, host="https://h:1", api_key="t"
    )
    assert _kube.build_configuration(params).proxy_headers == {"user-agent": "netpol/1"}


def test_basic_auth_is_sent_as_authorization_header(monkeypatch):
    params = validated(monkeypatch, host="https://h:1", username="u", password="p")
    configuration = _kube.build_configuration(params)
    assert configuration.auth_settings()["BearerToken"]["value"] == "Basic dTpw"


KUBECONFIG = {
    "apiVersion": "v1",
    "kind": "Config",
    "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:6443"}}],
    "users": [{"name": "u", "user": {"token": "abc"}}],
    "contexts": [
        {"name": "one", "context": {"cluster": "c", "user": "u"}},
        {"name": "two", "context": {"cluster": "c", "user": "u", "namespace": "x"}},
    ],
    "current-context": "one",
}


def test_kubeconfig_as_mapping_path_and_context(monkeypatch, tmp_path):
    configuration = _kube.build_configuration(validated(monkeypatch, kubeconfig=KUBECONFIG))
    assert configuration.host == "https://127.0.0.1:6443"
    assert configuration.auth_settings()["BearerToken"]["value"] == "Bearer abc"
    path = tmp_path / "config"
    path.write_text(json.dumps(KUBECONFIG))
    configuration = _kube.build_configuration(validated(monkeypatch, kubeconfig=str(path), context="two"))
    assert configuration.host == "https://127.0.0.1:6443"
    assert kubernetes.client.Configuration.get_default_copy().host != "https://127.0.0.1:6443"  # global untouched


def test_bad_kubeconfig_and_context_say_what_to_do(monkeypatch, tmp_path):
    with pytest.raises(_kube.KubeError, match="Failed to load Kubernetes credentials from /nonexistent"):
        _kube.build_configuration(validated(monkeypatch, kubeconfig="/nonexistent"))
    with pytest.raises(_kube.KubeError, match=r"\(context 'three'\)"):
        _kube.build_configuration(validated(monkeypatch, kubeconfig=KUBECONFIG, context="three"))
    with pytest.raises(_kube.KubeError, match="kubeconfig: must be a path or a kubeconfig mapping"):
        _kube.build_configuration(validated(monkeypatch, kubeconfig=["a"]))


def test_build_api_client(monkeypatch):
    client = _kube.build_api_client(validated(monkeypatch, host="https://h:1", api_key="t"))
    assert isinstance(client, kubernetes.client.ApiClient)
    assert client.configuration.host == "https://h:1"


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
