"""The real lab's Services, cluster DNS and NetworkPolicy enforcement (tests/lab/lab_net.py): the real
kube-proxy, CoreDNS and kube-router's network policy controller inside the lab node's network
namespace, with the real control plane and node.

Pods run real tools (busybox wget and nslookup, nginx); a NetworkPolicy decision is made by
kube-router's iptables rules and ip sets, never by the collection. The control plane and the node are
the ones tests/lab starts (or running ones: NETPOL_LAB_CONTROL_PLANE_INFO and NETPOL_LAB_NODE_INFO =
their info.json), from the fixtures of conftest.py. Needs root. `make lab-net-test` runs this module alone.
"""

from __future__ import annotations

import contextlib
import time

import pytest
from kubernetes import client
from kubernetes import config as kube_config
from kubernetes.client.rest import ApiException

from ansible_collections.netpol.aks.plugins.module_utils import _probe as probe
from tests.lab import lab_net
from tests.lab import pod_exec

pytestmark = pytest.mark.xdist_group("lab-control-plane")

WAIT = 60.0
NAMESPACE = "netpol-demo"
PROBE_TIMEOUT = 2


@pytest.fixture(scope="module")
def core(cp_info, lab):
    return client.CoreV1Api(kube_config.new_client_from_config(config_file=cp_info["kubeconfig"]))


@pytest.fixture(scope="module")
def networking(cp_info, lab):
    return client.NetworkingV1Api(kube_config.new_client_from_config(config_file=cp_info["kubeconfig"]))


def _eventually(what: str, check, timeout: float = WAIT):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        ok, last = check()
        if ok:
            return last
        time.sleep(0.5)
    raise AssertionError(f"{what}: not within {timeout:.0f}s; last seen: {last!r}")


def exec_in(core, pod: str, script: str) -> tuple[int | None, str]:
    return pod_exec.exec_in(core, NAMESPACE, pod, ["sh", "-c", script])


def wget(core, target: str) -> tuple[str, int | None, str]:
    """wget from the client pod, classified as the collection's prober classifies it."""
    rc, out = exec_in(core, "test-np", f"wget -q -O - -T {PROBE_TIMEOUT} http://{target}/")
    return probe.classify(rc, out), rc, out


@pytest.fixture(scope="module")
def workload(core, lab):
    """The walkthrough's workload: nginx pod `api` (app=api) behind Service `api`, client `test-np`."""
    core.create_namespace({"metadata": {"name": NAMESPACE}})
    _eventually(
        "the default ServiceAccount",
        lambda: (_exists(lambda: core.read_namespaced_service_account("default", NAMESPACE)), None),
    )
    core.create_namespaced_pod(
        NAMESPACE,
        {
            "metadata": {"name": "api", "labels": {"app": "api"}},
            "spec": {
                "terminationGracePeriodSeconds": 0,
                "containers": [{"name": "nginx", "image": "nginx", "ports": [{"containerPort": 80}]}],
            },
        },
    )
    core.create_namespaced_pod(
        NAMESPACE,
        {
            "metadata": {"name": "test-np", "labels": {"access": "granted"}},
            "spec": {
                "terminationGracePeriodSeconds": 0,
                "containers": [{"name": "client", "image": "busybox", "command": ["sleep", "3600"]}],
            },
        },
    )
    service = core.create_namespaced_service(
        NAMESPACE,
        {"metadata": {"name": "api"}, "spec": {"selector": {"app": "api"}, "ports": [{"port": 80, "targetPort": 80}]}},
    )
    pods = {}
    for name in ("api", "test-np"):
        pods[name] = _eventually(f"pod {name} Ready", lambda n=name: _ready(core.read_namespaced_pod(n, NAMESPACE)))
    yield {"cluster_ip": service.spec.cluster_ip, "pods": pods}
    with contextlib.suppress(ApiException):
        core.delete_namespace(NAMESPACE)


def _exists(read) -> bool:
    try:
        read()
    except ApiException as exc:
        if exc.status == 404:
            return False
        raise
    return True


def _ready(pod):
    ok = pod.status.phase == "Running" and all(c.ready for c in pod.status.container_statuses or [])
    return ok, pod


def test_cluster_ip_service_answers_from_a_pod(core, workload):
    cluster_ip = workload["cluster_ip"]
    assert cluster_ip.startswith("10.0.")
    result = _eventually("wget to the ClusterIP", lambda: ((r := wget(core, cluster_ip))[0] == "allowed", r))
    assert "<title>Welcome to nginx!</title>" in result[2]
    # The answer came through kube-proxy's DNAT: the ClusterIP is nobody's address.
    assert cluster_ip not in {p.status.pod_ip for p in workload["pods"].values()}


def test_kube_proxy_rules_live_in_the_node_namespace_only(lab, workload, host_rules):
    nat = _eventually(
        "kube-proxy's rules for Service api",
        lambda: (
            f"{NAMESPACE}/api cluster IP"
            in (out := lab_net.netns_run(lab.netns, ["iptables-save", "-t", "nat"]).stdout),
            out,
        ),
    )
    assert f"-d {workload['cluster_ip']}/32" in nat
    bridged = lab_net.netns_run(lab.netns, ["cat", "/proc/sys/net/bridge/bridge-nf-call-iptables"]).stdout
    assert bridged.strip() == "1"
    assert lab_net.ruleset(None) == host_rules


@pytest.mark.parametrize("name", ["api", f"api.{NAMESPACE}.svc", f"api.{NAMESPACE}.svc.cluster.local"])
def test_service_names_resolve_in_pods(core, workload, name):
    """wget resolves through the C library's resolver with the pod's resolv.conf (search path,
    ndots:5), as the collection's probe does."""
    result = _eventually(f"wget http://{name}", lambda: ((r := wget(core, name))[0] == "allowed", r))
    assert "<title>Welcome to nginx!</title>" in result[2]


@pytest.mark.parametrize("name", ["api", f"api.{NAMESPACE}.svc.cluster.local"])
def test_nslookup_answers_with_the_cluster_ip(core, workload, name):
    # busybox's nslookup applies the search path only to names without a dot, asks for every
    # expansion at once and exits 1 when any of them is NXDOMAIN (as it does on any cluster): the
    # answer is what counts.
    rc, out = exec_in(core, "test-np", f"nslookup {name}")
    assert f"Name:\tapi.{NAMESPACE}.svc.cluster.local\nAddress: {workload['cluster_ip']}\n" in out, (rc, out)


def test_an_unknown_name_is_nxdomain_and_a_dns_error(core, workload):
    rc, out = exec_in(core, "test-np", "nslookup no-such-service")
    assert rc != 0, out
    assert "NXDOMAIN" in out, out
    rc, out = exec_in(core, "test-np", "nslookup no-such-service.example")
    assert "NXDOMAIN" in out, out
    result, rc, out = wget(core, "no-such-service")
    assert result == "dns_error", (rc, out)


def test_a_closed_port_is_refused(core, workload):
    """A refusal stays a refusal with kube-router running: the pod's own TCP reset."""
    api_ip = workload["pods"]["api"].status.pod_ip
    result, rc, out = wget(core, f"{api_ip}:81")
    assert result == "refused", (rc, out)
    assert "Connection refused" in out


def _service_without_endpoints(core):
    core.create_namespaced_service(
        NAMESPACE,
        {"metadata": {"name": "nobody"}, "spec": {"selector": {"app": "nobody"}, "ports": [{"port": 80}]}},
    )


def _deny_all(networking) -> None:
    networking.create_namespaced_network_policy(
        NAMESPACE,
        {
            "metadata": {"name": "deny-all"},
            "spec": {"podSelector": {"matchLabels": {"app": "api"}}, "policyTypes": ["Ingress"], "ingress": []},
        },
    )


def test_deny_all_policy_drops_and_allow_policy_reopens(core, networking, workload, lab):
    _eventually("baseline wget", lambda: ((r := wget(core, "api"))[0] == "allowed", r))
    _deny_all(networking)
    blocked = _eventually("wget blocked by deny-all", lambda: ((r := wget(core, "api"))[0] == "blocked", r))
    assert "download timed out" in blocked[2]
    # Blocked by kube-router's rules for the api pod, in the node namespace.
    rules = lab_net.netns_run(lab.netns, ["iptables-save", "-t", "filter"]).stdout
    assert "KUBE-POD-FW-" in rules
    assert f"namespace: {NAMESPACE}" in rules
    # The pod IP itself is denied too (no Service in the way).
    api_ip = workload["pods"]["api"].status.pod_ip
    assert wget(core, api_ip)[0] == "blocked"

    networking.create_namespaced_network_policy(
        NAMESPACE,
        {
            "metadata": {"name": "allow-granted"},
            "spec": {
                "podSelector": {"matchLabels": {"app": "api"}},
                "policyTypes": ["Ingress"],
                "ingress": [{"from": [{"podSelector": {"matchLabels": {"access": "granted"}}}]}],
            },
        },
    )
    result = _eventually("wget reopened by the allow policy", lambda: ((r := wget(core, "api"))[0] == "allowed", r))
    assert "<title>Welcome to nginx!</title>" in result[2]
    networking.delete_namespaced_network_policy("allow-granted", NAMESPACE)
    _eventually("blocked again without the allow policy", lambda: ((r := wget(core, "api"))[0] == "blocked", r))
    networking.delete_namespaced_network_policy("deny-all", NAMESPACE)
    _eventually("allowed without any policy", lambda: ((r := wget(core, "api"))[0] == "allowed", r))


def test_stop_leaves_no_rule_ip_set_or_process(lab, networking, workload, host_rules):
    pids = list(lab.info["pids"].values())
    assert set(lab.info["pids"]) == {"kube-proxy", "coredns", "kube-router"}
    _deny_all(networking)  # kube-router keeps the pods it selects in an ip set
    _eventually("kube-router's ip sets", lambda: (bool(found := lab_net.ruleset(lab.netns)["ipset"]), found))
    networking.delete_namespaced_network_policy("deny-all", NAMESPACE)
    left = lab.stop()
    assert left == {"rules": {}, "pids": []}
    assert not any(lab_net._alive(pid) for pid in pids)
    assert lab_net.ruleset(None) == host_rules


def test_without_enforcement_the_deny_policy_does_not_block(
    cp_info, node_info, core, networking, workload, host_rules, tmp_path, lab
):
    lab.stop()  # one network per node: the enforcing one goes first, whatever order the tests ran in
    net = lab_net.LabNet(tmp_path / "no-enforcement", cp_info, node_info, network_policy="none")
    net.start()
    try:
        assert set(net.info["pids"]) == {"kube-proxy", "coredns"}
        assert net.info["enforces_network_policy"] is False
        _eventually("baseline wget", lambda: ((r := wget(core, "api"))[0] == "allowed", r))
        _deny_all(networking)
        # The policy is accepted by the API server, and nothing enforces it: wget keeps working.
        assert networking.read_namespaced_network_policy("deny-all", NAMESPACE).spec.ingress in (None, [])
        for attempt in range(5):
            result = wget(core, "api")
            assert result[0] == "allowed", (attempt, result)
            time.sleep(1)
        filter_rules = lab_net.netns_run(net.netns, ["iptables-save", "-t", "filter"]).stdout
        assert "KUBE-ROUTER" not in filter_rules
        # kube-proxy alone rejects a Service without endpoints. (With kube-router, whose FORWARD
        # rules come first and accept what no policy denies, the packet is routed on instead.)
        _service_without_endpoints(core)
        result = _eventually(
            "wget to a Service without endpoints", lambda: ((r := wget(core, "nobody"))[0] == "refused", r)
        )
        assert "Connection refused" in result[2]
    finally:
        left = net.stop()
    assert left == {"rules": {}, "pids": []}
    assert lab_net.ruleset(None) == host_rules
