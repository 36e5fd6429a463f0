"""Upstream's NetworkPolicy e2e cases on the real lab, probed by netpol.aks.probe_connectivity.

The model is upstream's (kubernetes/kubernetes test/e2e/network/netpol): namespaces x, y, z with pods
a, b, c labelled pod=<name>, each serving TCP 80 and 81 (busybox httpd) with container ports named
serve-<port>-<proto>. The policies and the expected truth tables are the engine's own upstream data
(tests/unit/plugins/module_utils/test_netpol_upstream.py), read from there, not copied. Here the real
kube-apiserver admits the policies, kube-router enforces them with iptables and ip sets, and
probe_connectivity (through ansible-playbook) runs busybox `nc` in every pod: the observed matrix must
be upstream's expected table, cell by cell. Self traffic (a pod to its own IP) is left out, as upstream
leaves it out.

Also: each of the prober's classes comes from a real tool on the real lab (refused: a closed port's
reset; dns_error: CoreDNS's NXDOMAIN; blocked: kube-router's drop; probe_error: an image the node
cannot run). Needs root; one lab for the module (tests/integration/lab/conftest.py).
"""

from __future__ import annotations

import contextlib
import copy
import ipaddress
import time
from pathlib import Path

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from ansible_collections.netpol.aks.plugins.module_utils import _probe
from tests.lab import lab_net
from tests.unit.plugins.module_utils import test_netpol_upstream as upstream

pytestmark = pytest.mark.xdist_group("lab-control-plane")

PROBE = Path(__file__).resolve().parents[1] / "probe" / "probe.yml"
WAIT = 90.0
TIMEOUT = 1  # seconds a blocked probe waits
# Upstream cases run here (14 of 42). The ipBlock cases name the model's made-up pod IPs: they are moved onto the
# lab's real ones (only where every CIDR then covers the same pods). The label-update cases relabel
# pods and namespaces between steps, as upstream's do.
CASES = (
    "default-deny-ingress",
    "allow-only-from-a-different-namespace-by-namespaceselector",
    "only-from-a-pod-in-a-different-namespace-by-podselector-and-namespaceselector",
    "deny-egress-from-pods-by-podselector",
    "ingress-access-on-one-named-port",
    "multiple-stacked-policies-with-overlapping-podselectors",
    "egress-access-on-one-named-port",
    "deny-egress-on-the-client-side-even-if-the-server-allows-it",
    "ingress-access-from-updated-namespace",
    "ingress-access-from-updated-pod",
    "deny-ingress-access-to-updated-pod",
    "egress-access-to-server-in-cidr-block",
    "except-clause-in-egress-cidr-block",
    "ip-overlapping-cidr-and-except-is-allowed-by-another-policy",
)
SERVE = "httpd -f -p 80 & httpd -f -p 81 & wait"


def _cases():
    chosen = [c for c in upstream.TCP_CASES if c.id in CASES]
    assert len(chosen) == len(CASES), "a case named here is not in the upstream data"
    return chosen


def _model_pods(core: client.CoreV1Api) -> list:
    return [pod for ns in upstream.NAMESPACES for pod in core.list_namespaced_pod(ns).items]


def _ready(pod) -> bool:
    return pod.status.phase == "Running" and all(c.ready for c in pod.status.container_statuses or [])


@pytest.fixture(scope="module")
def apis(real_lab):
    api = real_lab.api_client()
    return client.CoreV1Api(api), client.NetworkingV1Api(api)


@pytest.fixture(scope="module")
def model_pods(apis):
    """Namespaces x, y, z and pods a, b, c from upstream's model, each serving TCP 80 and 81."""
    core, _unused = apis
    namespaces, pods = upstream.model()
    for ns in namespaces:
        core.create_namespace({"metadata": {"name": ns["name"], "labels": ns["labels"]}})
    deadline = time.monotonic() + WAIT
    for ns in namespaces:  # the controller-manager's service-account controller makes `default`
        while True:
            try:
                core.read_namespaced_service_account("default", ns["name"])
                break
            except ApiException:
                assert time.monotonic() < deadline, f"no default ServiceAccount in namespace {ns['name']}"
                time.sleep(0.3)
    for pod in pods:
        core.create_namespaced_pod(
            pod["namespace"],
            {
                "metadata": {"name": pod["name"], "labels": pod["labels"]},
                "spec": {
                    "terminationGracePeriodSeconds": 0,
                    "containers": [
                        {
                            "name": "serve",
                            "image": "busybox:1.36",
                            "command": ["sh", "-c", SERVE],
                            "ports": [
                                {"name": p["name"], "containerPort": p["port"], "protocol": p["protocol"]}
                                for p in pod["ports"]
                            ],
                        }
                    ],
                },
            },
        )
    for pod in pods:
        while not _ready(found := core.read_namespaced_pod(pod["name"], pod["namespace"])):
            assert time.monotonic() < deadline, f"pod {pod['namespace']}/{pod['name']} not Ready: {found.status}"
            time.sleep(0.3)
    yield upstream.ALL
    for ns in namespaces:
        with contextlib.suppress(ApiException):
            core.delete_namespace(ns["name"])


@pytest.fixture
def relabel(apis, model_pods):
    """Gives pods and namespaces exactly the labels of upstream's model for a step (extra labels of an
    earlier step removed); every test ends with the model's own labels."""
    core, _unused = apis

    def exactly(current: dict[str, str] | None, wanted: dict[str, str], keep: tuple[str, ...] = ()) -> dict:
        gone = {key: None for key in current or {} if key not in wanted and key not in keep}
        return {"metadata": {"labels": {**gone, **wanted}}}

    def apply(pod_labels: dict, ns_labels: dict) -> None:
        namespaces, pods = upstream.model(pod_labels, ns_labels)
        for ns in namespaces:
            found = core.read_namespace(ns["name"]).metadata.labels
            # The API server's own label stays (it cannot be removed).
            core.patch_namespace(ns["name"], exactly(found, ns["labels"], keep=("kubernetes.io/metadata.name",)))
        for pod in pods:
            found = core.read_namespaced_pod(pod["name"], pod["namespace"]).metadata.labels
            core.patch_namespaced_pod(pod["name"], pod["namespace"], exactly(found, pod["labels"]))

    yield apply
    apply({}, {})


def _on_real_ips(policies: list[dict], real: dict[str, str]) -> list[dict]:
    """The policies with each ipBlock CIDR moved from the model's made-up pod IP to that pod's real one,
    keeping the prefix length; fails unless each CIDR then covers the same model pods it did."""
    by_model_ip = {ip: ident for ident, ip in upstream.IPS.items()}

    def covered(cidr: str, ips: dict[str, str]) -> set[str]:
        net = ipaddress.ip_network(cidr, strict=False)
        return {ident for ident, ip in ips.items() if ipaddress.ip_address(ip) in net}

    def move(cidr: str) -> str:
        address, prefix = cidr.split("/")
        # Written as its network: kube-apiserver 1.37 rejects host bits beyond the prefix
        # ("must not have bits set beyond the prefix length"), which upstream's data has (x/a's IP /4).
        moved = str(ipaddress.ip_network(f"{real[by_model_ip[address]]}/{prefix}", strict=False))
        assert covered(cidr, upstream.IPS) == covered(moved, real), f"{cidr} -> {moved} covers other pods"
        return moved

    def walk(node):
        if isinstance(node, dict):
            if "cidr" in node:
                return {**node, "cidr": move(node["cidr"]), "except": [move(c) for c in node.get("except", [])]}
            return {key: walk(value) for key, value in node.items()}
        if isinstance(node, list):
            return [walk(item) for item in node]
        return node

    return walk(copy.deepcopy(policies))


@pytest.fixture
def policies(apis, model_pods):
    """Creates or replaces the given policies, deletes the others; every test ends with none."""
    _unused, net = apis

    def current() -> dict[tuple[str, str], object]:
        return {
            (p.metadata.namespace, p.metadata.name): p
            for ns in upstream.NAMESPACES
            for p in net.list_namespaced_network_policy(ns).items
        }

    def apply(wanted: list[dict]) -> None:
        have = current()
        keys = set()
        for policy in wanted:
            key = (policy["metadata"]["namespace"], policy["metadata"]["name"])
            keys.add(key)
            if key in have:
                body = {
                    **policy,
                    "metadata": {**policy["metadata"], "resourceVersion": have[key].metadata.resource_version},
                }
                net.replace_namespaced_network_policy(key[1], key[0], body)
            else:
                net.create_namespaced_network_policy(key[0], policy)
        for key in sorted(set(have) - keys):
            net.delete_namespaced_network_policy(key[1], key[0])

    yield apply
    apply([])


def _probe_matrix(ansible_playbook, real_lab, ports, expect, *, retries=30):
    """probe_connectivity from every model pod to every model pod on `ports` (TCP, nc -z)."""
    pods = [dict(zip(("namespace", "pod"), p.split("/"), strict=True)) for p in upstream.ALL]
    extra = {
        "probe": {
            "sources": pods,
            "targets": pods,
            "ports": ports,
            "protocol": "tcp",
            "timeout": TIMEOUT,
            "expect": expect,
            "retries": retries,
            "delay": 1,
            "stable_for": 2,
        }
    }
    run = ansible_playbook(PROBE, env=real_lab.env, extra_vars=extra)
    return run, run.result("Probe")


def _observed(result) -> dict[tuple[str, str, int], str]:
    cells = {}
    for r in result["results"]:
        source = f"{r['source']['namespace']}/{r['source']['pod']}"
        target = f"{r['target']['namespace']}/{r['target']['pod']}"
        cells[(source, target, r["port"])] = r["result"]
    return cells


def _render(cells: dict[tuple[str, str], str | None]) -> str:
    table = {s: {t: cells.get((s, t)) for t in upstream.ALL} for s in upstream.ALL}
    return "\n".join(_probe.render_table(table))


def _all_allowed(ansible_playbook, real_lab, ports):
    """Every pod reaches every other one on `ports`: no policy of an earlier test is still enforced."""
    run, result = _probe_matrix(ansible_playbook, real_lab, ports, "allowed")
    assert run.rc == 0, (result.get("msg"), result.get("truth_table_text"))


@pytest.mark.parametrize("steps", _cases())
def test_upstream_case_on_the_real_lab(ansible_playbook, real_lab, apis, policies, relabel, steps):
    first_ports = sorted({port for step in steps for port, _proto, _ops in step.checks})
    _all_allowed(ansible_playbook, real_lab, first_ports)
    core, _unused = apis
    real_ips = {f"{p.metadata.namespace}/{p.metadata.name}": p.status.pod_ip for p in _model_pods(core)}
    for number, step in enumerate(steps, 1):
        relabel(step.pod_labels, step.ns_labels)
        policies(_on_real_ips(step.policies, real_ips))
        expected: dict[tuple[str, str, int], bool] = {}
        for port, protocol, ops in step.checks:
            assert protocol == "TCP"
            table = upstream.expected_table(ops)
            expected.update({(s, t, port): allowed for (s, t), allowed in table.items() if s != t})
        ports = sorted({port for port, _proto, _ops in step.checks})
        expect = [{"from": s, "to": t, "port": port, "allowed": allowed} for (s, t, port), allowed in expected.items()]
        run, result = _probe_matrix(ansible_playbook, real_lab, ports, expect)
        observed = _observed(result)
        assert set(observed) == set(expected) | {(p, p, port) for p in upstream.ALL for port in ports}
        for port in ports:
            want = {(s, t): ("allowed" if a else "blocked") for (s, t, p), a in expected.items() if p == port}
            got = {(s, t): observed[(s, t, port)] for (s, t) in want}
            wrong = sorted(cell for cell in want if got[cell] != want[cell])
            assert not wrong, (
                f"step {number}, TCP {port}: observed differs from upstream's table at {wrong}\n"
                f"expected:\n{_render(want)}\nobserved:\n{_render(got)}"
            )
        assert run.rc == 0, result.get("msg")
        assert result["verdict"] == "match", result["verdict_msg"]


# -- each probe class from a real tool --------------------------------------------------------------


def _probe_one(ansible_playbook, real_lab, source, target, *, port=80, protocol="tcp", **more):
    extra = {"probe": {"from": source, "to": target, "port": port, "protocol": protocol, "timeout": TIMEOUT, **more}}
    run = ansible_playbook(PROBE, env=real_lab.env, extra_vars=extra)
    return run, run.result("Probe")


@pytest.mark.parametrize("protocol", ["tcp", "http"])
def test_refused_is_a_real_closed_port(ansible_playbook, real_lab, model_pods, protocol):
    """Nothing listens on 82 in pod x/b: its kernel answers the SYN with a reset."""
    run, result = _probe_one(
        ansible_playbook,
        real_lab,
        {"pod": "a", "namespace": "x"},
        {"pod": "b", "namespace": "x"},
        port=82,
        protocol=protocol,
        expect="blocked",
    )
    assert result["result"] == "refused", result
    assert "Connection refused" in result["output"]
    assert run.rc != 0  # refused is not blocked: the expectation fails


def test_dns_error_is_a_real_resolver_failure(ansible_playbook, real_lab, model_pods):
    """CoreDNS answers NXDOMAIN for a Service that does not exist; busybox wget says `bad address`."""
    run, result = _probe_one(
        ansible_playbook,
        real_lab,
        {"pod": "a", "namespace": "x"},
        {"url": "http://no-such-service.y.svc.cluster.local/"},
        protocol="http",
    )
    assert run.rc == 0, result.get("msg")
    assert result["result"] == "dns_error", result
    # busybox wget names the host with the URL's port: bad address 'host:80'
    assert "wget: bad address 'no-such-service.y.svc.cluster.local:80'" in result["output"]


def test_blocked_is_a_real_dropped_connection(ansible_playbook, real_lab, policies):
    """kube-router drops the SYN to a pod a deny-all policy selects: nc waits out its timeout."""
    deny = next(c for c in upstream.TCP_CASES if c.id == "default-deny-ingress").values[0][0].policies
    policies(deny)
    run, result = _probe_one(
        ansible_playbook,
        real_lab,
        {"pod": "a", "namespace": "y"},
        {"pod": "b", "namespace": "x"},
        expect="blocked",
        retries=30,
        delay=1,
    )
    assert run.rc == 0, result.get("msg")
    assert result["result"] == "blocked", result
    assert "timed out" in result["output"]
    assert result["elapsed"] >= TIMEOUT
    # The drop is kube-router's: its per-pod firewall chains in the node namespace.
    rules = lab_net.netns_run(real_lab.net.netns, ["iptables-save", "-t", "filter"]).stdout
    assert "KUBE-POD-FW-" in rules


def test_probe_error_is_an_image_the_node_cannot_run(ansible_playbook, real_lab, model_pods):
    """An ephemeral probe pod whose image the node has no program for: ErrImagePull, never blocked."""
    run, result = _probe_one(
        ansible_playbook,
        real_lab,
        {"labels": {"pod": "probe"}, "namespace": "x"},
        {"pod": "b", "namespace": "x"},
        probe_image="registry.invalid/no-such-image:1",
        pod_ready_timeout=60,
    )
    assert run.rc != 0
    assert result["result"] == "probe_error", result
    assert "ErrImagePull" in result["output"] or "ImagePullBackOff" in result["output"], result["output"]
    assert result["probe_pods"]
    assert "leftover_pods" not in result
