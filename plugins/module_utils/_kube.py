# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""PRIVATE to the collection; may change at any time.

The collection's one Kubernetes layer: the connection options and client of kubernetes.core
(``KUBE_AUTH_ARG_SPEC``, its client factory), retries (``kube_retry``), the API as raw JSON with one
error type (``KubeClient``, ``KubeError``), the modules' base (``KubeModule``), and ``read_cluster``:
namespaces, pods and NetworkPolicies in the shapes ``module_utils.netpol.Cluster`` takes.

Modules use it as::

    module = KubeModule(argument_spec={...}, supports_check_mode=True)
    try:
        data = read_cluster(module.kube(), namespaces=[...], label_selector="app=api")
    except KubeError as err:
        module.fail_from_error(err)
"""

from __future__ import annotations

import copy
import email.utils
import functools
import json
import random
import re
import time
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Mapping
from typing import Any

from ansible.module_utils.basic import missing_required_lib
from ansible_collections.kubernetes.core.plugins.module_utils.args_common import AUTH_ARG_SPEC
from ansible_collections.kubernetes.core.plugins.module_utils.k8s.core import AnsibleK8SModule
from ansible_collections.kubernetes.core.plugins.module_utils.k8s.exceptions import CoreException


class _Unavailable(Exception):
    """Stands for ApiException until the kubernetes library is imported (nothing raises it)."""

    status = None


class _Library:
    """The kubernetes client library (and kubernetes.core's client factory, which imports it), imported on
    first use: about half the fixed cost of a module run, which work that reads no cluster never pays."""

    tried = False
    error: str | None = None
    client: Any = None
    urllib3: Any = None
    get_api_client: Any = None
    ApiException: type[BaseException] = _Unavailable


def _kubernetes() -> type[_Library]:
    """The imported kubernetes library (``_Library``); ``_Library.error`` says why when it is missing."""
    if not _Library.tried:
        _Library.tried = True
        try:
            import urllib3
            from ansible_collections.kubernetes.core.plugins.module_utils.k8s.client import get_api_client
            from kubernetes import client as k8s_client
            from kubernetes.client.exceptions import ApiException
        except ImportError as exc:  # pragma: no cover - exercised only without the library
            _Library.error = str(exc)
        else:
            _Library.client, _Library.urllib3, _Library.get_api_client = k8s_client, urllib3, get_api_client
            _Library.ApiException = ApiException
    return _Library


def has_kubernetes() -> bool:
    """Whether the kubernetes client library can be imported (imports it)."""
    return _kubernetes().error is None


# The connection options are kubernetes.core's own (argument spec, doc fragment
# kubernetes.core.k8s_auth_options, K8S_AUTH_* variables, client factory), so one module_defaults
# (group/netpol.aks.kube extends group/kubernetes.core.k8s) serves both collections' modules.
KUBE_AUTH_ARG_SPEC: dict[str, dict[str, Any]] = copy.deepcopy(AUTH_ARG_SPEC)


class KubeError(Exception):
    """The one error type of the Kubernetes modules: a connection, API or input problem, with a message
    that says what to do. ``KubeModule.fail_from_error`` reports it; ``result`` is returned with it."""

    def __init__(self, message: str, exception: BaseException | None = None, result: Mapping | None = None):
        super().__init__(message)
        self.message = message
        self.exception = exception
        self.result = dict(result or {})

    @property
    def status(self) -> int | None:
        """The HTTP status of the API answer behind this error, if there was one."""
        return _status(self.exception) if self.exception is not None else None


# ---------------------------------------------------------------------------------------------
# Retries: 429 (honouring Retry-After), 5xx and connection errors, with jittered exponential backoff
# ---------------------------------------------------------------------------------------------

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# The same reasons as kubernetes.core's modules word them in a failed task's msg: the API server's Status
# code, or a connection that could not be made or was dropped. The roles' and playbooks' kubernetes.core
# tasks repeat a failure that matches (through the test plugin netpol.aks.kube_transient_failure).
TRANSIENT_MESSAGE = re.compile(
    r'"code": ?(' + "|".join(str(status) for status in sorted(RETRY_STATUSES)) + r")\b"
    r"|Max retries exceeded|Connection (refused|reset|aborted)|RemoteDisconnected"
)
RETRY_TRIES = 6
RETRY_DELAY = 0.5
RETRY_MAX_DELAY = 8.0
# A Retry-After longer than this is not waited for (the call fails, saying what the server asked).
RETRY_AFTER_LIMIT = 60.0
# kubernetes.stream reports a refused websocket upgrade as ApiException(status=0, reason="Handshake status 503 ...").
_HANDSHAKE = re.compile(r"Handshake status (\d{3})")
_sleep = time.sleep


def _status(exc: BaseException) -> int | None:
    status = getattr(exc, "status", None)
    if status == 0:
        match = _HANDSHAKE.search(str(getattr(exc, "reason", "") or ""))
        return int(match.group(1)) if match else None
    return status if isinstance(status, int) else None


def retry_after(exc: BaseException) -> float | None:
    """The seconds a 429/503 answer asks to wait: the Retry-After header (seconds or an HTTP date)."""
    headers = getattr(exc, "headers", None) or {}
    value = headers.get("Retry-After") if hasattr(headers, "get") else None
    if value is None:
        return None
    value = str(value).strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def is_transient(exc: BaseException) -> bool:
    """Whether a failed API call may succeed when repeated: 429, 5xx, a dropped or refused connection.

    TLS failures (a wrong CA, an expired certificate) and every other answer are not transient.
    """
    library = _kubernetes()
    if isinstance(exc, library.ApiException):
        return _status(exc) in RETRY_STATUSES
    if library.error is not None:
        return False
    urllib3 = library.urllib3
    if isinstance(exc, urllib3.exceptions.MaxRetryError):
        return not isinstance(exc.reason, urllib3.exceptions.SSLError)
    transient = (
        urllib3.exceptions.ProtocolError,
        urllib3.exceptions.NewConnectionError,
        urllib3.exceptions.ConnectTimeoutError,
        urllib3.exceptions.ReadTimeoutError,
        ConnectionError,
    )
    return isinstance(exc, transient)


def kube_retry(
    tries: int = RETRY_TRIES, delay: float = RETRY_DELAY, max_delay: float = RETRY_MAX_DELAY
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorate a function that makes one Kubernetes API request so that transient failures are retried.

    Up to ``tries`` calls; between them the server's Retry-After when it sent one, else a jittered
    exponential backoff (``delay``, doubling, at most ``max_delay``). Anything not transient, and the last
    failure, propagate unchanged.
    """

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            attempt = 1
            while True:
                try:
                    return func(*args, **kwargs)
                except Exception as exc:
                    if attempt >= tries or not is_transient(exc):
                        raise
                    wait = retry_after(exc)
                    if wait is None:
                        backoff = min(max_delay, delay * 2 ** (attempt - 1))
                        wait = backoff / 2 + random.uniform(0, backoff / 2)
                    elif wait > RETRY_AFTER_LIMIT:
                        raise
                    _sleep(wait)
                    attempt += 1

        return wrapper

    return decorate


def _require_kubernetes() -> type[_Library]:
    library = _kubernetes()
    if library.error is not None:
        raise KubeError(f"the Python library 'kubernetes' is required (pip install kubernetes): {library.error}")
    return library


@kube_retry()
def _k8s_client(auth: Mapping[str, Any]) -> Any:
    # kubernetes.core's factory; it also reads the server's /version, hence the retries.
    return _require_kubernetes().get_api_client(**auth)


def api_client_factory(params: Mapping[str, Any]) -> Callable[[], Any]:
    """Fresh ``kubernetes.client.ApiClient``s for the connection options, through kubernetes.core's client
    factory (its K8S_AUTH_* variables, kubeconfig and context loading, in-cluster config, impersonation,
    ``persist_config``). Raises KubeError. Each call returns a new ApiClient (an exec needs its own), with
    the factory's headers; retries are ``kube_retry``'s alone (urllib3's are turned off).
    """
    library = _require_kubernetes()
    auth = {name: params[name] for name in KUBE_AUTH_ARG_SPEC if params.get(name) is not None}
    where = auth.get("host") or auth.get("kubeconfig") or "the default kubeconfig (~/.kube/config)"
    if isinstance(where, Mapping):
        where = "the kubeconfig mapping"
    try:
        k8s = _k8s_client(auth)
    except CoreException as exc:
        detail = str(exc).removeprefix("Could not create API client: ").rstrip(".")
        context = f" (context {auth['context']!r})" if auth.get("context") else ""
        raise KubeError(
            f"Failed to load Kubernetes credentials from {where}{context}: {detail}. "
            "Set kubeconfig/context, or host with api_key or client_cert/client_key.",
            exc,
        ) from exc
    except Exception as exc:
        raise KubeError(f"Failed to connect to the Kubernetes API ({where}): {api_error_text(exc)}", exc) from exc
    configuration = k8s.configuration
    if not configuration.host:
        raise KubeError("No Kubernetes API server: set host, or kubeconfig/context pointing at a cluster.")
    configuration.retries = False
    headers = dict(k8s.client.client.default_headers)

    def factory() -> Any:
        api_client = library.client.ApiClient(configuration)
        api_client.default_headers.update(headers)
        return api_client

    return factory


def build_api_client(params: Mapping[str, Any]) -> Any:
    """One ``kubernetes.client.ApiClient`` for the connection options (see api_client_factory)."""
    return api_client_factory(params)()


# ---------------------------------------------------------------------------------------------
# The API: raw JSON in and out, transient failures retried, every failure a KubeError
# ---------------------------------------------------------------------------------------------

_PAGE = 500
REQUEST_TIMEOUT = 30


def api_error_text(exc: BaseException) -> str:
    """``HTTP 404 Not Found: pods "x" not found`` from an ApiException, or the connection error's text."""
    status = _status(exc)
    if status:
        body = getattr(exc, "body", None)
        message = None
        if body:
            try:
                message = json.loads(body).get("message")
            except (TypeError, ValueError, AttributeError):
                message = str(body)[:300]
        reason = getattr(exc, "reason", None) or ""
        if getattr(exc, "status", None) == 0:  # a refused websocket upgrade carries everything in its reason
            return str(reason).split(" -+-+- ", maxsplit=1)[0]
        return f"HTTP {status} {reason}: {message or ''}".strip().rstrip(":")
    reason = getattr(exc, "reason", None)
    text = str(exc)
    if reason is not None and not isinstance(reason, str):
        text = str(reason)
    return text or type(exc).__name__


def _apis(api_client: Any) -> tuple[Any, Any]:
    """CoreV1Api and NetworkingV1Api on ``api_client`` (one place, so tests can swap them)."""
    k8s_client = _require_kubernetes().client
    return k8s_client.CoreV1Api(api_client), k8s_client.NetworkingV1Api(api_client)


class KubeClient:
    """The collection's one way to the Kubernetes API.

    Every request reads the raw JSON (``_preload_content=False``), so objects are exactly what the API
    returned, independent of the client's typed models; transient failures are retried (``kube_retry``);
    every failure is a ``KubeError`` that names what was attempted. Not thread-safe: ``exec_stream``
    swaps the ApiClient's transport while it connects, so each thread needs its own KubeClient.
    """

    def __init__(self, api_client: Any) -> None:
        _require_kubernetes()
        self.api_client = api_client
        self.core, self.networking = _apis(api_client)

    @kube_retry()
    def _send(self, call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return call(*args, _preload_content=False, _request_timeout=REQUEST_TIMEOUT, **kwargs)

    def request(self, what: str, call: Callable[..., Any], *args: Any, missing_ok: bool = False, **kwargs: Any) -> Any:
        """One API call, retried while transient; its JSON, or None for a 404 when ``missing_ok``."""
        try:
            response = self._send(call, *args, **kwargs)
        except _Library.ApiException as exc:
            status = _status(exc)
            if missing_ok and status == 404:
                return None
            hint = " (check the credentials' RBAC permissions)" if status in (401, 403) else ""
            raise KubeError(f"Failed to {what}: {api_error_text(exc)}{hint}", exc) from exc
        except Exception as exc:
            raise KubeError(f"Failed to {what}: {api_error_text(exc)}", exc) from exc
        try:
            return json.loads(response.data) if response.data else {}
        except (TypeError, ValueError) as exc:
            raise KubeError(f"Failed to {what}: the API returned something that is not JSON", exc) from exc

    def list(self, what: str, call: Callable[..., Any], *args: Any, **kwargs: Any) -> list[dict]:
        """Every item of a LIST call, read in pages of ``_PAGE`` items (``limit``), following ``continue`` tokens.

        The pages are one consistent snapshot. When that snapshot expired between two pages (410 Expired: etcd
        compacted it), the list is read again in one request, as client-go's pager does.
        """
        items: list[dict] = []
        token = None
        while True:
            page = dict(kwargs, limit=_PAGE)
            if token:
                page["_continue"] = token
            try:
                data = self.request(f"list {what}", call, *args, **page)
            except KubeError as exc:
                if not token or exc.status != 410:
                    raise
                return self.request(f"list {what}", call, *args, **kwargs).get("items") or []
            items.extend(data.get("items") or [])
            token = (data.get("metadata") or {}).get("continue")
            if not token:
                return items

    # -- the objects the collection reads and writes -----------------------------------------------

    def read_namespace(self, name: str) -> dict | None:
        return self.request(f"read namespace {name}", self.core.read_namespace, name, missing_ok=True)

    def read_pod(self, namespace: str, name: str) -> dict | None:
        return self.request(
            f"read pod {namespace}/{name}", self.core.read_namespaced_pod, name, namespace, missing_ok=True
        )

    def read_service(self, namespace: str, name: str) -> dict | None:
        return self.request(
            f"read Service {namespace}/{name}", self.core.read_namespaced_service, name, namespace, missing_ok=True
        )

    def read_daemonset(self, namespace: str, name: str) -> dict | None:
        apps = _require_kubernetes().client.AppsV1Api(self.api_client)
        return self.request(
            f"read DaemonSet {namespace}/{name}", apps.read_namespaced_daemon_set, name, namespace, missing_ok=True
        )

    def list_services(self, namespace: str) -> list[dict]:
        return self.list(f"Services in namespace {namespace}", self.core.list_namespaced_service, namespace)

    def list_pods(self, namespace: str | None = None, label_selector: str | None = None) -> list[dict]:
        selector = {"label_selector": label_selector} if label_selector else {}
        if namespace is None:
            return self.list("pods", self.core.list_pod_for_all_namespaces, **selector)
        return self.list(f"pods in namespace {namespace}", self.core.list_namespaced_pod, namespace, **selector)

    def create_pod(self, namespace: str, body: Mapping[str, Any]) -> dict:
        """Create a pod. A 409 AlreadyExists after a retried create is the first attempt's pod: it is returned."""
        name = body["metadata"]["name"]
        try:
            return self.request(
                f"create pod {namespace}/{name}",
                self.core.create_namespaced_pod,
                namespace,
                body,
                _headers={"Content-Type": "application/json"},
            )
        except KubeError as exc:
            if exc.status != 409:
                raise
            existing = self.read_pod(namespace, name)
            if existing is None or (existing.get("metadata") or {}).get("labels") != body["metadata"].get("labels"):
                raise
            return existing

    def delete_pod(self, namespace: str, name: str) -> bool:
        """Delete a pod at once (no grace period); False when it was already gone."""
        return (
            self.request(
                f"delete pod {namespace}/{name}",
                self.core.delete_namespaced_pod,
                name,
                namespace,
                grace_period_seconds=0,
                missing_ok=True,
            )
            is not None
        )

    @kube_retry()
    def _connect_exec(self, namespace: str, pod: str, **kwargs: Any) -> Any:
        from kubernetes.stream import stream

        return stream(self.core.connect_get_namespaced_pod_exec, pod, namespace, **kwargs)

    def exec_stream(self, namespace: str, pod: str, command: list[str], container: str | None = None) -> Any:
        """An open exec websocket (stdout and stderr, no stdin, no tty); the upgrade is retried while transient."""
        kwargs: dict[str, Any] = {
            "command": command,
            "stderr": True,
            "stdin": False,
            "stdout": True,
            "tty": False,
            "_preload_content": False,
        }
        if container:
            kwargs["container"] = container
        try:
            return self._connect_exec(namespace, pod, **kwargs)
        except Exception as exc:
            raise KubeError(f"Failed to exec into {namespace}/{pod}: {api_error_text(exc)}", exc) from exc


# ---------------------------------------------------------------------------------------------
# Reading the cluster
# ---------------------------------------------------------------------------------------------


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


def read_cluster(api_client: Any, namespaces: Iterable[str] | None = None, label_selector: str | None = None) -> dict:
    """Namespaces, pods and NetworkPolicies in the engine's input shapes.

    ``namespaces`` limits the pods and policies read (every namespace's labels are still read, since
    namespaceSelectors look at them); ``label_selector`` filters the pods. Pods that have finished
    (Succeeded/Failed) or use the host network are left out (NetworkPolicy does not govern them) and
    listed under ``skipped`` with the reason.
    """
    kube = api_client if isinstance(api_client, KubeClient) else KubeClient(api_client)
    wanted = list(dict.fromkeys(namespaces)) if namespaces else None

    ns_items = kube.list("namespaces", kube.core.list_namespace)
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

    if wanted:
        raw_pods = []
        raw_policies = []
        for ns in wanted:
            raw_pods += kube.list_pods(ns, label_selector)
            raw_policies += kube.list(
                f"NetworkPolicies in namespace {ns}", kube.networking.list_namespaced_network_policy, ns
            )
    else:
        raw_pods = kube.list_pods(None, label_selector)
        raw_policies = kube.list("NetworkPolicies", kube.networking.list_network_policy_for_all_namespaces)

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


# ---------------------------------------------------------------------------------------------
# The base of the Kubernetes modules
# ---------------------------------------------------------------------------------------------


class KubeModule:
    """AnsibleModule + the shared Kubernetes connection options and client, as AzureModule is for Azure.

    ``main()`` builds one, runs the module's work, and reports a ``KubeError`` with ``fail_from_error``.
    """

    def __init__(
        self,
        argument_spec: Mapping[str, Any] | None = None,
        needs_kubernetes: Callable[[Mapping[str, Any]], bool] | None = None,
        **kwargs: Any,
    ) -> None:
        """``needs_kubernetes(params)``: whether this run talks to a cluster (default: always). When it does
        not, the kubernetes library is neither checked nor imported."""
        spec = copy.deepcopy(KUBE_AUTH_ARG_SPEC)
        spec.update(argument_spec or {})
        # kubernetes.core's module base: it keeps the secrets of a kubeconfig given as a mapping out of logs
        # and results. Its check of the kubernetes library (which imports it) runs below, when needed.
        self.module = AnsibleK8SModule(argument_spec=spec, check_k8s=False, check_pyyaml=False, **kwargs)
        if needs_kubernetes is None or needs_kubernetes(self.params):
            self.module.requires("kubernetes")
            self.module.has_at_least("kubernetes", "24.2.0", warn=True)
            if not has_kubernetes():
                self.module.fail_json(msg=missing_required_lib("kubernetes"), exception=_kubernetes().error)
        self._factory: Callable[[], Any] | None = None

    @property
    def params(self) -> dict[str, Any]:
        return self.module.params

    @property
    def check_mode(self) -> bool:
        return self.module.check_mode

    def warn(self, warning: str) -> None:
        self.module.warn(warning)

    def exit_json(self, **kwargs: Any) -> None:
        self.module.exit_json(**kwargs)

    def fail_json(self, **kwargs: Any) -> None:
        self.module.fail_json(**kwargs)

    def api_client_factory(self) -> Callable[[], Any]:
        """Fresh ApiClients for the connection options (read once; raises KubeError)."""
        if self._factory is None:
            self._factory = api_client_factory(self.params)
        return self._factory

    def kube(self) -> KubeClient:
        """A KubeClient on a fresh ApiClient."""
        return KubeClient(self.api_client_factory()())

    def fail_from_error(self, err: KubeError) -> None:
        result = {"changed": False, **err.result}
        if err.status is not None:
            result["status"] = err.status
        self.module.fail_json(msg=err.message, **result)
