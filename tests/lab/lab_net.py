# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The real lab's Services, cluster DNS and NetworkPolicy enforcement, all inside the lab node's
network namespace (the one holding the pods' bridge), none in the host's:

* kube-proxy (the control plane's build, iptables mode): ClusterIP Services;
* CoreDNS (``tests/lab/net``, built by ``make lab-net-build``) with its kubernetes plugin, listening on
  the bridge's address, behind Service ``kube-system/kube-dns`` on the cluster DNS address that pods'
  resolv.conf names; names outside the cluster domain are NXDOMAIN (the lab has no upstream);
* kube-router's network policy controller (``--network-policy kube-router``, the default), iptables +
  ipset; ``--network-policy none`` runs the lab without it: a cluster whose network plugin ignores
  NetworkPolicy.

    python -m tests.lab.lab_net --control-plane-info CP/info.json --node-info NODE/info.json \\
        --state-dir DIR [--network-policy kube-router|none]      # foreground until SIGTERM/SIGINT

The components reach the API server through a forwarder this launcher runs: it listens on
127.0.0.1:<API server port> inside the node namespace and connects to the same port on the host's
127.0.0.1, so the control plane's kubeconfigs work unchanged. kube-router v2.1.0 has reported security
flaws: it only ever sees this lab's API server and namespaces, and runs only while the lab does.

``stop()`` stops the processes, runs ``kube-proxy --cleanup``, removes every iptables rule, chain
and ip set left in the node namespace and the API objects it created, and returns what is still
left (nothing, normally).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import http.server
import ipaddress
import json
import os
import queue
import shlex
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from tests.lab import launcher
from tests.lab import paths

NET_DIR = Path(__file__).resolve().parent / "net"
BUILD_SCRIPT = NET_DIR / "build.sh"
NETNS_DIR = Path("/run/netns")
NETWORK_POLICY_MODES = ("kube-router", "none")
START_TIMEOUT = 120.0
STOP_TIMEOUT = 15.0
TOKEN_SECONDS = 7 * 24 * 3600
MANAGED_BY = "netpol-lab"
# Health endpoints, on 127.0.0.1 inside the node namespace.
KUBE_PROXY_HEALTHZ = 10256
KUBE_PROXY_METRICS = 10249
COREDNS_HEALTH = 8080
COREDNS_READY = 8181
KUBE_ROUTER_HEALTH = 20244
IPTABLES_TABLES = ("raw", "mangle", "nat", "filter")
SERVICE_DEVICE = "svc0"  # a bridge without ports in the node namespace that the Service range is routed to
# What each component may read (and nothing else): CoreDNS's and kube-router's published ClusterRoles,
# read-only.
ROLES = {
    "coredns": [
        {"apiGroups": [""], "resources": ["endpoints", "services", "pods", "namespaces"], "verbs": ["list", "watch"]},
        {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["list", "watch"]},
    ],
    "kube-router": [
        {
            "apiGroups": [""],
            "resources": ["namespaces", "pods", "services", "nodes", "endpoints"],
            "verbs": ["get", "list", "watch"],
        },
        {"apiGroups": ["networking.k8s.io"], "resources": ["networkpolicies"], "verbs": ["get", "list", "watch"]},
        {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["get", "list", "watch"]},
    ],
}

REJECT_AS_DROP_COMMENT = "netpol-lab: a NetworkPolicy denial is a silent drop, as on AKS"
# kube-router's network policy chains (KUBE-ROUTER-INPUT/FORWARD/OUTPUT, one KUBE-POD-FW-* per pod,
# KUBE-NWPLCY-* per policy); kube-proxy's are KUBE-SERVICES, KUBE-FORWARD, KUBE-PROXY-*, KUBE-SVC-*, ...
KUBE_ROUTER_CHAIN_PREFIXES = ("KUBE-ROUTER-", "KUBE-POD-FW-", "KUBE-NWPLCY-")


class LabNetError(RuntimeError):
    """Services, DNS or enforcement could not be started (the message says what to do)."""


def built_paths() -> dict[str, Path]:
    """``{"coredns": ..., "kube-router": ..., "kube-proxy": ...}``: where the binaries are."""
    out = subprocess.run([str(BUILD_SCRIPT), "--print"], check=True, capture_output=True, text=True).stdout
    found = {key: Path(value) for key, value in (line.split("=", 1) for line in out.splitlines() if "=" in line)}
    found["kube-proxy"] = paths.control_plane_binaries()["kube-proxy"]
    return found


# -- network namespaces ------------------------------------------------------------------------


def in_netns(netns: str, func, *args, **kwargs):
    """Run ``func`` on a thread that joined network namespace ``netns``; return its result.

    Sockets keep the namespace they were made in, so a socket made here can be used from any thread.
    """
    result: dict[str, Any] = {}

    def target() -> None:
        try:
            with open(NETNS_DIR / netns) as handle:
                os.setns(handle.fileno(), os.CLONE_NEWNET)
            result["value"] = func(*args, **kwargs)
        except BaseException as exc:  # handed to the caller
            result["error"] = exc

    thread = threading.Thread(target=target, name=f"netns-{netns}", daemon=True)
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]
    return result.get("value")


def netns_run(netns: str, argv: list[str], timeout: float = 30.0, check: bool = False) -> subprocess.CompletedProcess:
    """``ip netns exec NETNS argv`` (its own /sys and the namespace's /proc/sys/net)."""
    return subprocess.run(
        ["ip", "netns", "exec", netns, *argv], capture_output=True, text=True, timeout=timeout, check=check
    )


def _http_get_in(netns: str, port: int, path: str) -> int:
    def get() -> int:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as response:
                return response.status
        except urllib.error.HTTPError as exc:
            return exc.code
        except (urllib.error.URLError, OSError):
            return 0

    return in_netns(netns, get)


def ruleset(netns: str | None) -> dict[str, list[str]]:
    """Every iptables rule and non-built-in chain (nft and legacy back ends) and every ip set of a
    network namespace (``None``: the host's own)."""

    def run(argv: list[str]) -> str:
        full = argv if netns is None else ["ip", "netns", "exec", netns, *argv]
        proc = subprocess.run(full, capture_output=True, text=True, timeout=30, check=False)
        return proc.stdout if proc.returncode == 0 else ""

    found: dict[str, list[str]] = {}
    for backend in ("iptables-nft-save", "iptables-legacy-save"):
        lines = []
        for line in run([backend]).splitlines():
            if line.startswith("-A ") or (line.startswith(":") and line.split()[0][1:] not in _BUILTIN_CHAINS):
                lines.append(line)
            elif line.startswith(":") and line.split()[1] != "ACCEPT":
                lines.append(line)  # a built-in chain whose policy is not ACCEPT
        found[backend] = lines
    found["ipset"] = run(["ipset", "list", "-n"]).split()
    return found


_BUILTIN_CHAINS = {"INPUT", "OUTPUT", "FORWARD", "PREROUTING", "POSTROUTING"}


# -- the API server, inside the node namespace ---------------------------------------------------


class ApiForwarder:
    """127.0.0.1:PORT inside ``netns`` -> 127.0.0.1:PORT on the host (TLS passes through untouched)."""

    def __init__(self, netns: str, port: int) -> None:
        self.netns = netns
        self.port = port
        self.listener: socket.socket | None = None
        self.conns: set[socket.socket] = set()
        self.lock = threading.Lock()
        self.stopped = threading.Event()

    def start(self) -> None:
        def listen() -> socket.socket:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", self.port))
            sock.listen(64)
            return sock

        self.listener = in_netns(self.netns, listen)
        threading.Thread(target=self._accept, name="api-forwarder", daemon=True).start()

    def _accept(self) -> None:
        assert self.listener is not None
        while not self.stopped.is_set():
            try:
                inner = self.listener.accept()[0]
            except OSError:
                return
            try:
                outer = socket.create_connection(("127.0.0.1", self.port), timeout=5)
                outer.settimeout(None)
            except OSError:
                inner.close()
                continue
            with self.lock:
                self.conns.update((inner, outer))
            done = threading.Barrier(2)  # both directions finished: close the pair
            for src, dst in ((inner, outer), (outer, inner)):
                threading.Thread(target=self._pump, args=(src, dst, done), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, done: threading.Barrier) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)
        try:
            last = done.wait() == 0
        except threading.BrokenBarrierError:
            last = True
        if last:
            with self.lock:
                for sock in (src, dst):
                    self.conns.discard(sock)
                    with contextlib.suppress(OSError):
                        sock.close()

    def stop(self) -> None:
        self.stopped.set()
        if self.listener is not None:
            with contextlib.suppress(OSError):
                self.listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() (close alone does not)
            with contextlib.suppress(OSError):
                self.listener.close()
        with self.lock:
            for sock in self.conns:
                with contextlib.suppress(OSError):
                    sock.close()
            self.conns.clear()


# -- the lab's network -------------------------------------------------------------------------


class LabNet:
    """Services, DNS and (unless ``network_policy="none"``) NetworkPolicy enforcement for one lab."""

    def __init__(
        self,
        state_dir: Path | str,
        control_plane_info: dict[str, Any],
        node_info: dict[str, Any],
        *,
        network_policy: str = "kube-router",
        binaries: dict[str, Path] | None = None,
    ) -> None:
        if network_policy not in NETWORK_POLICY_MODES:
            raise LabNetError(
                f"network_policy={network_policy!r}: expected one of {', '.join(NETWORK_POLICY_MODES)} "
                "(kube-router enforces NetworkPolicy, none ignores it)"
            )
        self.dir = Path(state_dir).resolve()
        self.cp = control_plane_info
        self.node = node_info
        self.netns = node_info["node_netns"]
        self.network_policy = network_policy
        self.binaries = binaries or built_paths()
        self.procs: dict[str, subprocess.Popen] = {}
        self.forwarder: ApiForwarder | None = None
        self.info: dict[str, Any] = {}
        self.info_extra: dict[str, Any] = {}  # published in info.json too (the launcher's enforcement switch)
        self._api = None
        self.started_in: float | None = None

    # -- API objects ---------------------------------------------------------------------------

    @property
    def api(self):
        if self._api is None:
            from kubernetes import config as kube_config

            self._api = kube_config.new_client_from_config(config_file=self.cp["kubeconfig"])
        return self._api

    def _apply(self, create, replace, name: str, *args) -> None:
        from kubernetes.client.rest import ApiException

        try:
            create(*args)
        except ApiException as exc:
            if exc.status != 409:
                raise
            if replace is not None:
                replace(name, *args)

    def _service_account_kubeconfig(self, name: str) -> Path:
        """A ServiceAccount kube-system/<name> bound to ClusterRole netpol-lab:<name>, and a kubeconfig
        with a token for it (TokenRequest, as the kubelet gets one for a pod)."""
        from kubernetes import client

        core, rbac = client.CoreV1Api(self.api), client.RbacAuthorizationV1Api(self.api)
        labels = {"app.kubernetes.io/managed-by": MANAGED_BY}
        role = f"{MANAGED_BY}:{name}"
        self._apply(
            core.create_namespaced_service_account,
            None,
            name,
            "kube-system",
            {"metadata": {"name": name, "labels": labels}},
        )
        self._apply(
            rbac.create_cluster_role,
            rbac.replace_cluster_role,
            role,
            {"metadata": {"name": role, "labels": labels}, "rules": ROLES[name]},
        )
        self._apply(
            rbac.create_cluster_role_binding,
            rbac.replace_cluster_role_binding,
            role,
            {
                "metadata": {"name": role, "labels": labels},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
                "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": "kube-system"}],
            },
        )
        token = core.create_namespaced_service_account_token(
            name, "kube-system", {"spec": {"expirationSeconds": TOKEN_SECONDS}}
        ).status.token
        ca = base64.b64encode(Path(self.cp["ca_file"]).read_bytes()).decode()
        kubeconfig = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {"name": "netpol-lab", "cluster": {"server": self.cp["url"], "certificate-authority-data": ca}}
            ],
            "users": [{"name": name, "user": {"token": token}}],
            "contexts": [{"name": "netpol-lab", "context": {"cluster": "netpol-lab", "user": name}}],
            "current-context": "netpol-lab",
        }
        path = self.dir / f"{name}.kubeconfig"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            yaml.safe_dump(kubeconfig, handle)
        return path

    def _dns_service(self) -> None:
        """Service kube-system/kube-dns on the cluster DNS address, its endpoint CoreDNS on the bridge."""
        from kubernetes import client

        core, discovery = client.CoreV1Api(self.api), client.DiscoveryV1Api(self.api)
        labels = {"k8s-app": "kube-dns", "kubernetes.io/name": "CoreDNS", "app.kubernetes.io/managed-by": MANAGED_BY}
        ports = [{"name": "dns", "port": 53, "protocol": "UDP"}, {"name": "dns-tcp", "port": 53, "protocol": "TCP"}]
        self._apply(
            core.create_namespaced_service,
            None,
            "kube-dns",
            "kube-system",
            {
                "metadata": {"name": "kube-dns", "labels": labels},
                "spec": {
                    "clusterIP": self.cp["cluster_dns_ip"],
                    "ports": [{**p, "targetPort": 53} for p in ports],
                },
            },
        )
        slice_name = f"kube-dns-{MANAGED_BY}"
        self._apply(
            discovery.create_namespaced_endpoint_slice,
            discovery.replace_namespaced_endpoint_slice,
            slice_name,
            "kube-system",
            {
                "metadata": {
                    "name": slice_name,
                    "labels": {
                        "kubernetes.io/service-name": "kube-dns",
                        "endpointslice.kubernetes.io/managed-by": MANAGED_BY,
                    },
                },
                "addressType": "IPv4",
                "endpoints": [
                    {
                        "addresses": [self.node["gateway"]],
                        "conditions": {"ready": True, "serving": True, "terminating": False},
                        "nodeName": self.cp["node"]["name"],
                    }
                ],
                "ports": ports,
            },
        )

    def _delete_objects(self) -> None:
        from kubernetes import client
        from kubernetes.client.rest import ApiException

        core, rbac = client.CoreV1Api(self.api), client.RbacAuthorizationV1Api(self.api)
        discovery = client.DiscoveryV1Api(self.api)
        calls = [
            lambda: discovery.delete_namespaced_endpoint_slice(f"kube-dns-{MANAGED_BY}", "kube-system"),
            lambda: core.delete_namespaced_service("kube-dns", "kube-system"),
        ]
        for name in ROLES:
            calls += [
                lambda n=name: rbac.delete_cluster_role_binding(f"{MANAGED_BY}:{n}"),
                lambda n=name: rbac.delete_cluster_role(f"{MANAGED_BY}:{n}"),
                lambda n=name: core.delete_namespaced_service_account(n, "kube-system"),
            ]
        for call in calls:
            with contextlib.suppress(ApiException, OSError):
                call()

    # -- configuration files -------------------------------------------------------------------

    def _kube_proxy_config(self) -> Path:
        config = {
            "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
            "kind": "KubeProxyConfiguration",
            "clientConnection": {"kubeconfig": self.cp["kube_proxy"]["kubeconfig"]},
            "hostnameOverride": self.cp["node"]["name"],
            "mode": "iptables",
            "clusterCIDR": self.cp["cluster_cidr"],
            "detectLocalMode": "ClusterCIDR",
            "bindAddress": "127.0.0.1",
            "healthzBindAddress": f"127.0.0.1:{KUBE_PROXY_HEALTHZ}",
            "metricsBindAddress": f"127.0.0.1:{KUBE_PROXY_METRICS}",
            # NodePorts only on the bridge's address; never on localhost (no route_localnet).
            "nodePortAddresses": [f"{self.node['gateway']}/32"],
            "iptables": {
                "localhostNodePorts": False,
                "masqueradeAll": False,
                "minSyncPeriod": "0s",
                # A failed sync is retried after syncPeriod: the xtables lock is the host's (one file for every
                # network namespace), so another lab's iptables-restore can make the first sync fail.
                "syncPeriod": "10s",
            },
            # Leave the kernel's conntrack settings alone (some are shared with the host).
            "conntrack": {
                "maxPerCore": 0,
                "min": 0,
                "tcpEstablishedTimeout": "0s",
                "tcpCloseWaitTimeout": "0s",
                "udpTimeout": "0s",
                "udpStreamTimeout": "0s",
            },
            "oomScoreAdj": 0,
        }
        path = self.dir / "kube-proxy.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        return path

    def _corefile(self, kubeconfig: Path) -> Path:
        domain = self.cp["cluster_domain"]
        gateway = self.node["gateway"]
        text = f"""\
# The lab's cluster DNS: the kubernetes plugin answers for {domain} and the reverse zones; every
# other name is NXDOMAIN (the lab has no upstream resolver and sends nothing outside).
{domain}:53 in-addr.arpa:53 {{
    bind {gateway}
    errors
    health 127.0.0.1:{COREDNS_HEALTH}
    ready 127.0.0.1:{COREDNS_READY}
    kubernetes {domain} in-addr.arpa {{
        kubeconfig {kubeconfig} netpol-lab
        pods insecure
        ttl 5
    }}
    loadbalance
}}
.:53 {{
    bind {gateway}
    errors
    template ANY ANY {{
        rcode NXDOMAIN
    }}
}}
"""
        path = self.dir / "Corefile"
        path.write_text(text)
        return path

    def _kube_router_argv(self, kubeconfig: Path) -> list[str]:
        return [
            str(self.binaries["kube-router"]),
            f"--kubeconfig={kubeconfig}",
            f"--hostname-override={self.cp['node']['name']}",
            "--run-firewall=true",
            "--run-router=false",
            "--run-service-proxy=false",
            "--run-loadbalancer=false",
            "--enable-cni=false",
            "--enable-ipv4=true",
            "--enable-ipv6=false",
            f"--service-cluster-ip-range={self.cp['service_cidr']}",
            f"--health-port={KUBE_ROUTER_HEALTH}",
            "--metrics-port=0",
            "--v=1",
        ]

    # -- processes -----------------------------------------------------------------------------

    def _spawn(self, name: str, argv: list[str]) -> None:
        # ip execs argv: the pid is the component's.
        self.procs[name] = launcher.spawn(
            ["ip", "netns", "exec", self.netns, *argv], self.dir / "logs" / f"{name}.log", cwd=self.dir
        )

    def log_tail(self, name: str, chars: int = 3000) -> str:
        with contextlib.suppress(OSError):
            return (self.dir / "logs" / f"{name}.log").read_text(errors="replace")[-chars:]
        return ""

    def _wait(self, name: str, what: str, ready, deadline: float) -> None:
        proc = self.procs[name]
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise LabNetError(f"{name} exited with status {proc.returncode} before {what}:\n{self.log_tail(name)}")
            if ready():
                return
            time.sleep(0.3)
        raise LabNetError(f"{name}: no {what} within {START_TIMEOUT:.0f}s:\n{self.log_tail(name)}")

    def _nat_has(self, text: str) -> bool:
        return text in netns_run(self.netns, ["iptables-save", "-t", "nat"]).stdout

    def _check(self) -> None:
        if os.geteuid() != 0:
            raise LabNetError("the lab's Services, DNS and NetworkPolicy need root (iptables in a network namespace)")
        needed = ["kube-proxy", "coredns"] + (["kube-router"] if self.network_policy == "kube-router" else [])
        missing = [f"{n} ({self.binaries[n]})" for n in needed if not os.access(self.binaries[n], os.X_OK)]
        if missing:
            raise LabNetError(
                f"not built: {', '.join(missing)}; run `make lab-build` (kube-proxy) and `make lab-net-build`"
            )
        tools = [t for t in ("ip", "iptables", "iptables-save", "ipset") if not _which(t)]
        if tools:
            raise LabNetError(f"missing {', '.join(tools)}: run tests/lab/net/install-deps.sh")
        if not (NETNS_DIR / self.netns).exists():
            raise LabNetError(f"the lab node's network namespace {self.netns} does not exist: start the node first")
        bridged = netns_run(self.netns, ["cat", "/proc/sys/net/bridge/bridge-nf-call-iptables"]).stdout.strip()
        if bridged != "1":
            raise LabNetError(
                f"net.bridge.bridge-nf-call-iptables is {bridged or 'missing'} in {self.netns}: bridged pod "
                "traffic would bypass iptables (the lab node sets it to 1)"
            )

    def start(self, timeout: float = START_TIMEOUT) -> dict[str, Any]:
        """Start everything, wait until it works, write ``info.json``; return its content."""
        self._check()
        began = time.monotonic()
        deadline = began + timeout
        self.dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.dir, 0o700)
        (self.dir / "logs").mkdir(exist_ok=True)
        try:
            self.forwarder = ApiForwarder(self.netns, int(self.cp["url"].rsplit(":", 1)[1]))
            self.forwarder.start()
            self._service_route()
            self._dns_service()
            # -v=2: each sync says when it starts and ends, so a sync that failed shows whether it was retried.
            kube_proxy = [str(self.binaries["kube-proxy"]), f"--config={self._kube_proxy_config()}", "-v=2"]
            self._spawn("kube-proxy", kube_proxy)
            coredns_kubeconfig = self._service_account_kubeconfig("coredns")
            self._spawn("coredns", [str(self.binaries["coredns"]), "-conf", str(self._corefile(coredns_kubeconfig))])
            self._wait(
                "kube-proxy",
                "/healthz and the kube-dns Service's rules",
                lambda: (
                    _http_get_in(self.netns, KUBE_PROXY_HEALTHZ, "/healthz") == 200
                    and self._nat_has("kube-system/kube-dns:dns cluster IP")
                ),
                deadline,
            )
            # kube-router only after kube-proxy's first sync: kube-router rewrites the filter table from a copy
            # it saved a moment before, which can remove a chain kube-proxy made in between; kube-proxy's first
            # sync then fails at its jump rules ("Chain 'KUBE-FIREWALL' does not exist", seen once).
            if self.network_policy == "kube-router":
                self._spawn_kube_router()
            self._wait("coredns", "/ready", lambda: _http_get_in(self.netns, COREDNS_READY, "/ready") == 200, deadline)
            if self.network_policy == "kube-router":
                self._wait_kube_router(deadline)
        except BaseException:
            self.stop()
            raise
        self.started_in = time.monotonic() - began
        self.info = {
            "pid": os.getpid(),
            "node_netns": self.netns,
            "cluster_dns_ip": self.cp["cluster_dns_ip"],
            "dns_endpoint": f"{self.node['gateway']}:53",
            "logs": str(self.dir / "logs"),
            "started_in_seconds": round(self.started_in, 2),
            **self.info_extra,
        }
        self._write_info()
        return self.info

    def _write_info(self) -> None:
        self.info.update(
            {
                "network_policy": self.network_policy,
                "enforces_network_policy": self.network_policy != "none",
                "pids": {name: proc.pid for name, proc in self.procs.items()},
            }
        )
        tmp = self.dir / "info.json.tmp"
        tmp.write_text(json.dumps(self.info, indent=2, sort_keys=True) + "\n")
        tmp.rename(self.dir / "info.json")

    # -- the enforcement switch ----------------------------------------------------------------

    def _spawn_kube_router(self) -> None:
        netns_run(self.netns, ["iptables", "-w", "-t", "raw", "-A", *self._reject_rule()], check=True)
        self._spawn("kube-router", self._kube_router_argv(self._service_account_kubeconfig("kube-router")))

    def _wait_kube_router(self, deadline: float) -> None:
        self._wait(
            "kube-router",
            "/healthz and its KUBE-ROUTER-FORWARD chain",
            lambda: (
                _http_get_in(self.netns, KUBE_ROUTER_HEALTH, "/healthz") == 200
                and "KUBE-ROUTER-FORWARD" in netns_run(self.netns, ["iptables-save", "-t", "filter"]).stdout
            ),
            deadline,
        )

    def _remove_kube_router_rules(self) -> None:
        """Every rule, chain and ip set kube-router made (and the reject-as-drop rule), none of
        kube-proxy's: the jumps into kube-router's chains first, then the chains, then the sets."""
        for table in IPTABLES_TABLES:
            saved = netns_run(self.netns, ["iptables-save", "-t", table]).stdout.splitlines()
            chains = [line[1:].split()[0] for line in saved if line.startswith(":")]
            ours = [chain for chain in chains if chain.startswith(KUBE_ROUTER_CHAIN_PREFIXES)]
            for line in saved:
                if not line.startswith("-A "):
                    continue
                words = shlex.split(line)
                if words[1] in ours:
                    continue  # goes with its chain
                target = words[words.index("-j") + 1] if "-j" in words else ""
                if target in ours or REJECT_AS_DROP_COMMENT in words:
                    netns_run(self.netns, ["iptables", "-w", "-t", table, "-D", *words[1:]], check=True)
            for flag in ("-F", "-X"):
                for chain in ours:
                    netns_run(self.netns, ["iptables", "-w", "-t", table, flag, chain], check=True)
        for name in netns_run(self.netns, ["ipset", "list", "-n"]).stdout.split():
            netns_run(self.netns, ["ipset", "destroy", name], check=True)

    def set_enforcement(self, enforce: bool, timeout: float = START_TIMEOUT) -> dict[str, Any]:
        """Start kube-router (enforce) or stop it and remove its rules and ip sets (do not enforce:
        the policies stay, nothing applies them); kube-proxy and CoreDNS keep running. Call it from
        the thread that started the lab's network (the components die with that thread)."""
        if enforce == (self.network_policy != "none"):
            return self.info
        if enforce:
            if not os.access(self.binaries["kube-router"], os.X_OK):
                raise LabNetError(f"not built: kube-router ({self.binaries['kube-router']}); run `make lab-net-build`")
            self.network_policy = "kube-router"
            try:
                self._spawn_kube_router()
                self._wait_kube_router(time.monotonic() + timeout)
            except BaseException:
                self._stop_kube_router()
                raise
        else:
            self._stop_kube_router()
        self._write_info()
        return self.info

    def _stop_kube_router(self) -> None:
        proc = self.procs.pop("kube-router", None)
        if proc is not None:
            launcher.stop_group(proc, STOP_TIMEOUT)
        self._remove_kube_router_rules()
        self.network_policy = "none"

    def _reject_rule(self) -> list[str]:
        """kube-router v2.1.0 REJECTs what a policy denies: the node namespace answers the client with
        an ICMP port unreachable, which the client reports as "connection refused". AKS's policy
        engines (Azure NPM, Calico, Cilium) drop silently, and the collection tells "blocked" (timed
        out) from "refused" (a closed port). This rule discards exactly those ICMP errors: port
        unreachables the node namespace itself sends about a packet addressed to a pod (u32 reads the
        quoted packet's destination). kube-router still decides every denial. A closed port keeps
        answering with the pod's own TCP reset, and a Service without endpoints with kube-proxy's
        ICMP error about the Service address (not a pod address): both stay "refused"."""
        cidr = ipaddress.ip_network(self.cp["cluster_cidr"])
        mask, value = int(cidr.netmask), int(cidr.network_address)
        return [
            "OUTPUT",
            "-p",
            "icmp",
            "--icmp-type",
            "port-unreachable",
            "-m",
            "u32",
            # IHL*4 (outer header) + 8 (ICMP header) + 16: the quoted packet's destination address.
            "--u32",
            f"0>>22&0x3C@24&{mask:#010x}={value:#010x}",
            "-m",
            "comment",
            "--comment",
            REJECT_AS_DROP_COMMENT,
            "-j",
            "DROP",
        ]

    def _service_route(self) -> None:
        """A route for the Service range in the node namespace, as a node's default route would give:
        without one, a packet to a ClusterIP that kube-proxy did not DNAT (a Service without
        endpoints) is dropped by routing before kube-proxy's filter rules can reject it. The route
        leads to a bridge without ports (the kernel has no dummy devices), so nothing leaves the
        namespace."""
        steps = [
            ["link", "add", SERVICE_DEVICE, "type", "bridge"],
            ["link", "set", SERVICE_DEVICE, "up"],
            ["route", "add", self.cp["service_cidr"], "dev", SERVICE_DEVICE],
        ]
        for step in steps:
            proc = subprocess.run(["ip", "-n", self.netns, *step], capture_output=True, text=True, check=False)
            if proc.returncode != 0:
                raise LabNetError(f"ip -n {self.netns} {' '.join(step)}: {proc.stderr.strip()}")

    def _clean_netns(self) -> None:
        """kube-proxy's own cleanup, then whatever rule, chain or ip set is left in the node namespace
        (only this lab's components put any there), and the Service route's device."""
        if not (NETNS_DIR / self.netns).exists():
            return
        subprocess.run(["ip", "-n", self.netns, "link", "del", SERVICE_DEVICE], capture_output=True, check=False)
        with contextlib.suppress(subprocess.TimeoutExpired, OSError):
            netns_run(self.netns, [str(self.binaries["kube-proxy"]), "--cleanup"], timeout=60)
        for prefix in ("iptables", "iptables-legacy"):
            for table in IPTABLES_TABLES:
                for args in (["-F"], ["-X"]):
                    with contextlib.suppress(subprocess.TimeoutExpired, OSError):
                        netns_run(self.netns, [prefix, "-w", "-t", table, *args])
            for chain in ("INPUT", "FORWARD", "OUTPUT"):
                with contextlib.suppress(subprocess.TimeoutExpired, OSError):
                    netns_run(self.netns, [prefix, "-w", "-t", "filter", "-P", chain, "ACCEPT"])
        with contextlib.suppress(subprocess.TimeoutExpired, OSError):
            netns_run(self.netns, ["ipset", "destroy"])

    def stop(self) -> dict[str, Any]:
        """Stop the components, clean the node namespace; return what is left (empty when all is gone)."""
        for name in reversed(list(self.procs)):
            launcher.stop_group(self.procs[name], STOP_TIMEOUT)
        pids = [proc.pid for proc in self.procs.values()]
        self.procs.clear()
        self._clean_netns()
        if self.forwarder is not None:
            self.forwarder.stop()
            self.forwarder = None
        self._delete_objects()
        with contextlib.suppress(OSError):
            (self.dir / "info.json").unlink()
        return self.leftovers(pids)

    def leftovers(self, pids: list[int] | None = None) -> dict[str, Any]:
        """Rules, chains and ip sets in the node namespace, and which of ``pids`` still run."""
        left: dict[str, Any] = {"rules": {}, "pids": [p for p in pids or [] if _alive(p)]}
        if (NETNS_DIR / self.netns).exists():
            left["rules"] = {k: v for k, v in ruleset(self.netns).items() if v}
            link = subprocess.run(
                ["ip", "-n", self.netns, "link", "show", SERVICE_DEVICE], capture_output=True, check=False
            )
            if link.returncode == 0:
                left["rules"]["links"] = [SERVICE_DEVICE]
        return left

    def __enter__(self) -> LabNet:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _which(tool: str) -> bool:
    return any(os.access(Path(d) / tool, os.X_OK) for d in os.environ.get("PATH", "/usr/sbin:/usr/bin").split(":"))


_alive = launcher.alive


class EnforcementSwitch:
    """The lab's enforcement switch, for the Azure double (a cluster created or updated with
    ``networkPolicy: none`` does not enforce): an HTTP server on the host's 127.0.0.1 with the
    contract the Azure double's kube_link speaks, ``GET /_fake/config`` -> ``{"enforcement": "full"|"none"}`` and
    ``POST /_fake/config`` with the same body. A request is carried out by ``serve_pending()`` on the
    thread that started the network (the launcher's main thread); the answer waits for it."""

    def __init__(self, net: LabNet) -> None:
        self.net = net
        self.pending: queue.Queue = queue.Queue()
        self.server: http.server.ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/_fake/config"

    def config(self) -> dict[str, str]:
        return {"enforcement": "none" if self.net.network_policy == "none" else "full"}

    def start(self) -> str:
        switch = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, format, *args):  # noqa: A002 - the base class's name
                return

            def _answer(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                if self.path != "/_fake/config":
                    return self._answer(404, {"message": f"no such path: {self.path}"})
                return self._answer(200, switch.config())

            def do_POST(self):
                if self.path != "/_fake/config":
                    return self._answer(404, {"message": f"no such path: {self.path}"})
                try:
                    body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                except ValueError:
                    return self._answer(400, {"message": "the body must be a JSON object"})
                unknown = sorted(set(body) - {"enforcement"}) if isinstance(body, dict) else ["(not an object)"]
                if unknown:
                    return self._answer(
                        400, {"message": f"unknown switch(es) {unknown}: this lab has enforcement only"}
                    )
                if body.get("enforcement", "full") not in ("full", "none"):
                    return self._answer(400, {"message": "enforcement must be full or none"})
                if "enforcement" not in body:
                    return self._answer(200, switch.config())
                done: queue.Queue = queue.Queue()
                switch.pending.put((body["enforcement"] == "full", done))
                try:
                    error = done.get(timeout=START_TIMEOUT + 30)
                except queue.Empty:
                    return self._answer(504, {"message": "the lab did not switch enforcement in time"})
                if error:
                    return self._answer(500, {"message": error})
                return self._answer(200, switch.config())

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, name="enforcement-switch", daemon=True).start()
        return self.url

    def serve_pending(self) -> None:
        """Carry out the requests waiting (call it from the thread that started the network)."""
        while True:
            try:
                enforce, done = self.pending.get_nowait()
            except queue.Empty:
                return
            try:
                self.net.set_enforcement(enforce)
            except (LabNetError, OSError, subprocess.CalledProcessError) as exc:
                done.put(f"{type(exc).__name__}: {exc}")
            else:
                done.put("")

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.lab.lab_net", description=__doc__.split("\n\n", maxsplit=1)[0]
    )
    parser.add_argument("--control-plane-info", type=Path, required=True, help="the control plane's info.json")
    parser.add_argument("--node-info", type=Path, required=True, help="the lab node's info.json")
    parser.add_argument("--state-dir", type=Path, required=True, help="configuration, kubeconfigs, logs, info.json")
    parser.add_argument(
        "--network-policy",
        choices=NETWORK_POLICY_MODES,
        default="kube-router",
        help="kube-router enforces NetworkPolicy; none runs the lab as a network plugin that ignores it",
    )
    args = parser.parse_args(argv)
    net = LabNet(
        args.state_dir,
        json.loads(args.control_plane_info.read_text()),
        json.loads(args.node_info.read_text()),
        network_policy=args.network_policy,
    )
    switch = EnforcementSwitch(net)

    def start() -> str:
        net.info_extra["enforcement_url"] = switch.start()
        info = net.start()
        enforcement = (
            "kube-router enforces NetworkPolicy" if info["enforces_network_policy"] else "NetworkPolicy NOT enforced"
        )
        return (
            f"REAL Services (kube-proxy, iptables) and DNS (CoreDNS on {info['dns_endpoint']}) in "
            f"{info['node_netns']}; {enforcement}; up in {info['started_in_seconds']}s; enforcement switch "
            f"{info['enforcement_url']}"
        )

    def stop() -> str | None:
        switch.stop()
        left = net.stop()
        return f"left behind: {left}" if left["rules"] or left["pids"] else None

    return launcher.run_foreground(
        "lab net",
        start,
        lambda: [name for name, proc in net.procs.items() if proc.poll() is not None],
        stop,
        (LabNetError,),
        tick=switch.serve_pending,
    )


if __name__ == "__main__":
    sys.exit(main())
