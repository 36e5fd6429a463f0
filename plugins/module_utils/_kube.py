# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""PRIVATE to the collection; may change at any time.

The shared Kubernetes connection options (named and read from the environment exactly as
kubernetes.core names them, see doc fragment netpol.aks.kube), how they become a
``kubernetes.client.ApiClient``, and ``read_cluster``: namespaces, pods and NetworkPolicies in the
shapes ``module_utils.netpol.Cluster`` takes.

Modules use it as::

    argument_spec = {**copy.deepcopy(KUBE_AUTH_ARG_SPEC), ...}
    api_client = build_api_client(module.params)        # raises KubeError
    data = read_cluster(api_client, namespaces=[...], label_selector="app=api")
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from collections.abc import Mapping
from typing import Any

from ansible.module_utils.basic import env_fallback

try:
    import kubernetes
    from kubernetes import client as k8s_client
    from kubernetes import config as k8s_config

    HAS_KUBERNETES = True
    KUBERNETES_IMPORT_ERROR: str | None = None
except ImportError as exc:  # pragma: no cover - exercised only without the library
    HAS_KUBERNETES = False
    KUBERNETES_IMPORT_ERROR = str(exc)


def _env(*names: str) -> tuple:
    return (env_fallback, list(names))


# Option names, aliases and K8S_AUTH_* variables mirror kubernetes.core (args_common.AUTH_ARG_SPEC and
# module_utils/k8s/client.py: each option is read from K8S_AUTH_<OPTION> or K8S_AUTH_<CLIENT NAME>).
KUBE_AUTH_ARG_SPEC: dict[str, dict[str, Any]] = {
    "kubeconfig": {"type": "raw", "fallback": _env("K8S_AUTH_KUBECONFIG")},
    "context": {"type": "str", "fallback": _env("K8S_AUTH_CONTEXT")},
    "host": {"type": "str", "fallback": _env("K8S_AUTH_HOST")},
    "api_key": {"type": "str", "no_log": True, "fallback": _env("K8S_AUTH_API_KEY")},
    "username": {"type": "str", "fallback": _env("K8S_AUTH_USERNAME")},
    "password": {"type": "str", "no_log": True, "fallback": _env("K8S_AUTH_PASSWORD")},
    "validate_certs": {
        "type": "bool",
        "aliases": ["verify_ssl"],
        "fallback": _env("K8S_AUTH_VALIDATE_CERTS", "K8S_AUTH_VERIFY_SSL"),
    },
    "ca_cert": {
        "type": "path",
        "aliases": ["ssl_ca_cert"],
        "fallback": _env("K8S_AUTH_CA_CERT", "K8S_AUTH_SSL_CA_CERT"),
    },
    "client_cert": {
        "type": "path",
        "aliases": ["cert_file"],
        "fallback": _env("K8S_AUTH_CLIENT_CERT", "K8S_AUTH_CERT_FILE"),
    },
    "client_key": {
        "type": "path",
        "aliases": ["key_file"],
        "no_log": False,
        "fallback": _env("K8S_AUTH_CLIENT_KEY", "K8S_AUTH_KEY_FILE"),
    },
    "proxy": {"type": "str", "fallback": _env("K8S_AUTH_PROXY")},
    "no_proxy": {"type": "str", "fallback": _env("K8S_AUTH_NO_PROXY")},
    "proxy_headers": {
        "type": "dict",
        "options": {
            "proxy_basic_auth": {"type": "str", "no_log": True},
            "basic_auth": {"type": "str", "no_log": True},
            "user_agent": {"type": "str"},
        },
    },
}

KUBE_AUTH_OPTIONS = tuple(KUBE_AUTH_ARG_SPEC)
_PROXY_HEADERS = tuple(KUBE_AUTH_ARG_SPEC["proxy_headers"]["options"])


class KubeError(Exception):
    """A Kubernetes connection or API problem, with a message that says what to do."""

    def __init__(self, message: str, exception: BaseException | None = None):
        super().__init__(message)
        self.message = message
        self.exception = exception


def _require_kubernetes() -> None:
    if not HAS_KUBERNETES:
        raise KubeError(
            f"the Python library 'kubernetes' is required (pip install kubernetes): {KUBERNETES_IMPORT_ERROR}"
        )


def _set(params: Mapping[str, Any], name: str) -> bool:
    value = params.get(name)
    return value is not None and value != ""


def build_configuration(params: Mapping[str, Any]) -> Any:
    """A ``kubernetes.client.Configuration`` from the connection options (never the global default).

    As kubernetes.core does: explicit credentials with ``host`` need no kubeconfig; otherwise the
    kubeconfig (path, ``:``-separated paths, or a dict) and ``context`` are loaded; with neither, the
    in-cluster service account is tried, then ``~/.kube/config``. Explicit options then override.
    """
    _require_kubernetes()
    configuration = k8s_client.Configuration()
    has_credentials = _set(params, "host") and (
        (_set(params, "username") and _set(params, "password"))
        or _set(params, "api_key")
        or (_set(params, "client_cert") and _set(params, "client_key"))
    )
    kubeconfig = params.get("kubeconfig")
    context = params.get("context") or None
    try:
        if has_credentials:
            pass
        elif isinstance(kubeconfig, Mapping):
            k8s_config.load_kube_config_from_dict(
                config_dict=dict(kubeconfig), context=context, client_configuration=configuration, persist_config=False
            )
        elif kubeconfig or context:
            if kubeconfig is not None and not isinstance(kubeconfig, str):
                raise KubeError(f"kubeconfig: must be a path or a kubeconfig mapping, got {type(kubeconfig).__name__}")
            k8s_config.load_kube_config(
                config_file=kubeconfig or None,
                context=context,
                client_configuration=configuration,
                persist_config=False,
            )
        else:
            try:
                k8s_config.load_incluster_config(client_configuration=configuration)
            except k8s_config.ConfigException:
                k8s_config.load_kube_config(client_configuration=configuration, persist_config=False)
    except KubeError:
        raise
    except (k8s_config.ConfigException, OSError, ValueError, TypeError, KeyError) as exc:
        where = (
            "the kubeconfig mapping"
            if isinstance(kubeconfig, Mapping)
            else (kubeconfig or "the default kubeconfig (~/.kube/config)")
        )
        raise KubeError(
            f"Failed to load Kubernetes credentials from {where}"
            + (f" (context {context!r})" if context else "")
            + f": {str(exc).rstrip('.')}. Set kubeconfig/context, or host with api_key, username/password or client_cert/client_key.",
            exc,
        ) from exc

    if _set(params, "host"):
        configuration.host = str(params["host"]).rstrip("/")
    if _set(params, "api_key"):
        configuration.api_key = {"authorization": f"Bearer {params['api_key']}"}
        configuration.api_key_prefix = {}
    if _set(params, "username"):
        configuration.username = params["username"]
    if _set(params, "password"):
        configuration.password = params["password"]
    if _set(params, "username") and _set(params, "password") and not _set(params, "api_key"):
        # The generated client only sends the 'authorization' api_key; basic auth goes through it.
        configuration.api_key = {"authorization": configuration.get_basic_auth_token()}
    if params.get("validate_certs") is not None:
        configuration.verify_ssl = bool(params["validate_certs"])
    if _set(params, "ca_cert"):
        configuration.ssl_ca_cert = params["ca_cert"]
    if _set(params, "client_cert"):
        configuration.cert_file = params["client_cert"]
    if _set(params, "client_key"):
        configuration.key_file = params["client_key"]
    if _set(params, "proxy"):
        configuration.proxy = params["proxy"]
    if _set(params, "no_proxy"):
        configuration.no_proxy = params["no_proxy"]
    headers = params.get("proxy_headers")
    if headers is None:  # as kubernetes.core: K8S_AUTH_PROXY_HEADERS_<SUBOPTION>
        headers = {k: os.environ.get(f"K8S_AUTH_PROXY_HEADERS_{k.upper()}") for k in _PROXY_HEADERS}
    headers = {k: v for k, v in headers.items() if v is not None}
    if headers:
        import urllib3

        configuration.proxy_headers = urllib3.util.make_headers(**headers)
    if not configuration.host:
        raise KubeError("No Kubernetes API server: set host, or kubeconfig/context pointing at a cluster.")
    return configuration


def build_api_client(params: Mapping[str, Any]) -> Any:
    """A ``kubernetes.client.ApiClient`` built from the module's connection options."""
    return k8s_client.ApiClient(build_configuration(params))


# ---------------------------------------------------------------------------------------------
# Reading the cluster
# ---------------------------------------------------------------------------------------------

_PAGE = 500


def _list(call: Any, what: str, **kwargs: Any) -> list[dict]:
    """Every item of a LIST call, as the API's JSON (camelCase), following ``continue`` tokens.

    The raw JSON is read (``_preload_content=False``) so objects are exactly what the API returned,
    in the shapes NetworkPolicy validation expects, independent of the client's typed models.
    """
    items: list[dict] = []
    token = None
    while True:
        args = dict(kwargs, limit=_PAGE, _preload_content=False)
        if token:
            args["_continue"] = token
        try:
            response = call(**args)
        except kubernetes.client.exceptions.ApiException as exc:
            hint = " (check the credentials' RBAC: list permission is needed)" if exc.status in (401, 403) else ""
            raise KubeError(
                f"Failed to list {what}: HTTP {exc.status} {exc.reason}{hint}: {_status_message(exc)}", exc
            ) from exc
        except Exception as exc:
            raise KubeError(f"Failed to list {what}: {exc}", exc) from exc
        try:
            data = json.loads(response.data)
        except (TypeError, ValueError) as exc:
            raise KubeError(f"Failed to list {what}: the API returned something that is not JSON", exc) from exc
        items.extend(data.get("items") or [])
        token = (data.get("metadata") or {}).get("continue")
        if not token:
            return items


def _status_message(exc: Any) -> str:
    try:
        return json.loads(exc.body).get("message") or str(exc.body)
    except (TypeError, ValueError, AttributeError):
        return str(getattr(exc, "body", "") or exc)


def pod_ports(pod: Mapping) -> list[dict]:
    """Container ports of a pod (containers and restartable init containers) as {name, port, protocol}."""
    spec = pod.get("spec") or {}
    containers = list(spec.get("containers") or [])
    containers += [c for c in spec.get("initContainers") or [] if c.get("restartPolicy") == "Always"]
    ports = []
    seen = set()
    for container in containers:
        for port in container.get("ports") or []:
            entry = {
                "name": port.get("name"),
                "port": port.get("containerPort"),
                "protocol": port.get("protocol") or "TCP",
            }
            key = (entry["name"], entry["port"], entry["protocol"])
            if entry["port"] is not None and key not in seen:
                seen.add(key)
                ports.append({k: v for k, v in entry.items() if v is not None})
    return ports


def _pod_shape(pod: Mapping) -> dict:
    meta = pod.get("metadata") or {}
    return {
        "namespace": meta.get("namespace"),
        "name": meta.get("name"),
        "labels": dict(meta.get("labels") or {}),
        "ip": (pod.get("status") or {}).get("podIP"),
        "ports": pod_ports(pod),
    }


def _policy_shape(policy: Mapping) -> dict:
    meta = policy.get("metadata") or {}
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {k: meta[k] for k in ("name", "namespace", "labels") if meta.get(k) is not None},
        "spec": policy.get("spec") or {},
    }


def _apis(api_client: Any) -> tuple[Any, Any]:
    """CoreV1Api and NetworkingV1Api on ``api_client`` (one place, so tests can swap them)."""
    return k8s_client.CoreV1Api(api_client), k8s_client.NetworkingV1Api(api_client)


def read_cluster(api_client: Any, namespaces: Iterable[str] | None = None, label_selector: str | None = None) -> dict:
    """Namespaces, pods and NetworkPolicies in the engine's input shapes.

    ``namespaces`` limits the pods and policies read (every namespace's labels are still read, since
    namespaceSelectors look at them); ``label_selector`` filters the pods. Pods that have finished
    (Succeeded/Failed) or use the host network are left out (NetworkPolicy does not govern them) and
    listed under ``skipped`` with the reason.
    """
    _require_kubernetes()
    core, net = _apis(api_client)
    wanted = list(dict.fromkeys(namespaces)) if namespaces else None

    ns_items = _list(core.list_namespace, "namespaces")
    all_ns = {(n.get("metadata") or {}).get("name"): n for n in ns_items}
    if wanted:
        missing = [n for n in wanted if n not in all_ns]
        if missing:
            raise KubeError(f"namespaces: {', '.join(missing)} not found in the cluster")
    out_ns = [
        {"name": name, "labels": dict((n.get("metadata") or {}).get("labels") or {})}
        for name, n in sorted(all_ns.items())
        if name
    ]

    selector = {"label_selector": label_selector} if label_selector else {}
    if wanted:
        raw_pods = []
        raw_policies = []
        for ns in wanted:
            raw_pods += _list(core.list_namespaced_pod, f"pods in namespace {ns}", namespace=ns, **selector)
            raw_policies += _list(
                net.list_namespaced_network_policy, f"NetworkPolicies in namespace {ns}", namespace=ns
            )
    else:
        raw_pods = _list(core.list_pod_for_all_namespaces, "pods", **selector)
        raw_policies = _list(net.list_network_policy_for_all_namespaces, "NetworkPolicies")

    pods = []
    skipped = []
    for pod in raw_pods:
        shape = _pod_shape(pod)
        phase = (pod.get("status") or {}).get("phase")
        if phase in ("Succeeded", "Failed"):
            skipped.append({"pod": f"{shape['namespace']}/{shape['name']}", "reason": f"phase {phase}"})
        elif (pod.get("spec") or {}).get("hostNetwork"):
            skipped.append(
                {"pod": f"{shape['namespace']}/{shape['name']}", "reason": "hostNetwork: NetworkPolicy does not apply"}
            )
        else:
            pods.append(shape)
    pods.sort(key=lambda p: (p["namespace"], p["name"]))
    policies = sorted(
        (_policy_shape(p) for p in raw_policies),
        key=lambda p: (p["metadata"].get("namespace"), p["metadata"].get("name")),
    )
    return {"namespaces": out_ns, "pods": pods, "policies": policies, "skipped": skipped}
