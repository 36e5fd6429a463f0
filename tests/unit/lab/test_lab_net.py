"""tests/lab/lab_net.py without a cluster: its configuration files, the API forwarder into a network
namespace, and the clean-up of a namespace's iptables rules and ip sets (in a namespace made here;
needs root, as the lab does)."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import threading

import pytest
import yaml

from tests.lab import lab_net

CP = {
    "url": "https://127.0.0.1:6443",
    "kubeconfig": "/nonexistent/admin.kubeconfig",
    "ca_file": "/nonexistent/ca.crt",
    "cluster_dns_ip": "10.0.0.10",
    "cluster_cidr": "10.244.0.0/16",
    "service_cidr": "10.0.0.0/16",
    "cluster_domain": "cluster.local",
    "node": {"name": "netpol-lab-node"},
    "kube_proxy": {"kubeconfig": "/nonexistent/kube-proxy.kubeconfig"},
}
NODE = {"node_netns": "netpol-lab-x-node", "gateway": "10.244.0.1"}
BINARIES = {name: lab_net.Path("/nonexistent") / name for name in ("kube-proxy", "coredns", "kube-router")}


def test_unknown_network_policy_mode_is_refused(tmp_path):
    with pytest.raises(lab_net.LabNetError, match="network_policy='calico': expected one of kube-router, none"):
        lab_net.LabNet(tmp_path, CP, NODE, network_policy="calico", binaries=BINARIES)


def test_kube_proxy_runs_in_iptables_mode_and_leaves_conntrack_and_localhost_alone(tmp_path):
    net = lab_net.LabNet(tmp_path, CP, NODE, binaries=BINARIES)
    config = yaml.safe_load(net._kube_proxy_config().read_text())
    assert config["mode"] == "iptables"
    assert config["hostnameOverride"] == "netpol-lab-node"
    assert config["clusterCIDR"] == "10.244.0.0/16"
    assert config["clientConnection"]["kubeconfig"] == "/nonexistent/kube-proxy.kubeconfig"
    assert config["iptables"]["localhostNodePorts"] is False
    assert config["nodePortAddresses"] == ["10.244.0.1/32"]
    assert set(config["conntrack"].values()) == {0, "0s"}
    assert config["healthzBindAddress"].startswith("127.0.0.1:")


def test_corefile_serves_the_cluster_domain_on_the_bridge_and_nxdomain_elsewhere(tmp_path):
    net = lab_net.LabNet(tmp_path, CP, NODE, binaries=BINARIES)
    text = net._corefile(tmp_path / "coredns.kubeconfig").read_text()
    assert "cluster.local:53 in-addr.arpa:53 {" in text
    assert f"kubeconfig {tmp_path / 'coredns.kubeconfig'} netpol-lab" in text
    assert text.count("bind 10.244.0.1") == 2
    assert "rcode NXDOMAIN" in text
    assert "forward" not in text  # nothing leaves the lab


def test_kube_router_runs_its_network_policy_controller_only(tmp_path):
    net = lab_net.LabNet(tmp_path, CP, NODE, binaries=BINARIES)
    argv = net._kube_router_argv(tmp_path / "kr.kubeconfig")
    assert "--run-firewall=true" in argv
    for other in ("--run-router=false", "--run-service-proxy=false", "--run-loadbalancer=false"):
        assert other in argv
    assert "--service-cluster-ip-range=10.0.0.0/16" in argv
    assert "--hostname-override=netpol-lab-node" in argv


def test_start_refuses_a_missing_build_and_creates_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(lab_net.os, "geteuid", lambda: 0)
    net = lab_net.LabNet(tmp_path / "state", CP, NODE, binaries=BINARIES)
    with pytest.raises(
        lab_net.LabNetError, match=r"not built: kube-proxy \(/nonexistent/kube-proxy\).*make lab-net-build"
    ):
        net.start()
    assert not (tmp_path / "state").exists()


@pytest.fixture
def netns():
    if os.geteuid() != 0:
        pytest.fail("these tests make a network namespace: run them as root, as the lab runs")
    if not all(lab_net._which(tool) for tool in ("iptables", "iptables-save", "ipset")):
        subprocess.run([str(lab_net.NET_DIR / "install-deps.sh")], check=True)
    name = f"netpol-lab-u{secrets.token_hex(3)}-node"
    subprocess.run(["ip", "netns", "add", name], check=True)
    subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
    yield name
    subprocess.run(["ip", "netns", "del", name], check=False)


def test_forwarder_reaches_a_host_port_from_inside_the_namespace(netns):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]

    def echo():
        conn = server.accept()[0]
        with conn:
            conn.sendall(b"host says " + conn.recv(100))

    threading.Thread(target=echo, daemon=True).start()
    forwarder = lab_net.ApiForwarder(netns, port)
    forwarder.start()
    try:

        def ask() -> bytes:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
                sock.sendall(b"hello")
                sock.shutdown(socket.SHUT_WR)
                return sock.recv(100)

        assert lab_net.in_netns(netns, ask) == b"host says hello"
    finally:
        forwarder.stop()
        server.close()

    # Nothing listens inside the namespace once the forwarder stopped.
    def refused() -> bool:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
        except ConnectionRefusedError:
            return True
        return False

    assert lab_net.in_netns(netns, refused)


def test_ruleset_sees_rules_and_sets_and_clean_up_removes_them(netns, tmp_path):
    host_before = lab_net.ruleset(None)
    lab_net.netns_run(netns, ["ipset", "create", "KUBE-TEST", "hash:ip"], check=True)
    lab_net.netns_run(netns, ["iptables", "-w", "-N", "KUBE-TEST-CHAIN"], check=True)
    lab_net.netns_run(
        netns,
        ["iptables", "-w", "-A", "FORWARD", "-m", "set", "--match-set", "KUBE-TEST", "src", "-j", "DROP"],
        check=True,
    )
    lab_net.netns_run(netns, ["iptables", "-w", "-t", "nat", "-A", "PREROUTING", "-j", "KUBE-MARK"], check=False)
    found = lab_net.ruleset(netns)
    assert found["ipset"] == ["KUBE-TEST"]
    assert ":KUBE-TEST-CHAIN - [0:0]" in found["iptables-nft-save"]
    assert any("--match-set KUBE-TEST src -j DROP" in line for line in found["iptables-nft-save"])
    # None of it is in the host's namespace.
    assert lab_net.ruleset(None) == host_before

    net = lab_net.LabNet(tmp_path, CP, {**NODE, "node_netns": netns}, binaries=BINARIES)
    net._clean_netns()
    assert net.leftovers([]) == {"rules": {}, "pids": []}


def _connect_from(netns: str, host: str, port: int) -> str:
    def connect() -> str:
        with socket.socket() as sock:
            sock.settimeout(2)
            try:
                sock.connect((host, port))
            except ConnectionRefusedError:
                return "refused"
            except TimeoutError:
                return "timed out"
            return "connected"

    return lab_net.in_netns(netns, connect)


def test_a_reject_about_a_pod_becomes_a_silent_drop_and_one_about_a_service_stays_refused(netns, tmp_path):
    """The node namespace REJECTs (as kube-router v2.1.0 does for a denied packet, and kube-proxy for a
    Service without endpoints); the lab's rule discards only the ICMP errors about pod addresses."""
    pod = netns.replace("-node", "-p1")
    steps = [
        ["ip", "netns", "add", pod],
        ["ip", "-n", netns, "link", "add", "vp1", "type", "veth", "peer", "name", "eth0", "netns", pod],
        ["ip", "-n", netns, "addr", "add", "10.244.0.1/24", "dev", "vp1"],
        ["ip", "-n", netns, "addr", "add", "10.0.0.10/32", "dev", "lo"],
        ["ip", "-n", netns, "link", "set", "vp1", "up"],
        ["ip", "-n", pod, "addr", "add", "10.244.0.5/24", "dev", "eth0"],
        ["ip", "-n", pod, "link", "set", "eth0", "up"],
        ["ip", "-n", pod, "route", "add", "default", "via", "10.244.0.1"],
    ]
    try:
        for step in steps:
            subprocess.run(step, check=True)
        lab_net.netns_run(
            netns, ["iptables", "-w", "-A", "INPUT", "-p", "tcp", "--dport", "80", "-j", "REJECT"], check=True
        )
        assert _connect_from(pod, "10.244.0.1", 80) == "refused"
        assert _connect_from(pod, "10.0.0.10", 80) == "refused"

        net = lab_net.LabNet(tmp_path, CP, {**NODE, "node_netns": netns}, binaries=BINARIES)
        lab_net.netns_run(netns, ["iptables", "-w", "-t", "raw", "-A", *net._reject_rule()], check=True)
        assert _connect_from(pod, "10.244.0.1", 80) == "timed out"
        assert _connect_from(pod, "10.0.0.10", 80) == "refused"
        # The rule is not in the host's namespace, and the clean-up removes it.
        assert lab_net.REJECT_AS_DROP_COMMENT not in "".join(lab_net.ruleset(None)["iptables-nft-save"])
        net._clean_netns()
        assert net.leftovers([]) == {"rules": {}, "pids": []}
    finally:
        subprocess.run(["ip", "netns", "del", pod], check=False)
