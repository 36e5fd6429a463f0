# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The real lab's Kubernetes control plane: etcd, kube-apiserver, kube-controller-manager and
kube-scheduler, built from source by ``make lab-build`` (``tests/lab/build``), on 127.0.0.1 only.

    python -m tests.lab.control_plane --state-dir DIR   # foreground until SIGTERM/SIGINT

or, from Python, ``with ControlPlane(DIR) as cp: cp.info["url"] ...``.

It generates per-lab TLS (``tests/lab/pki.py``), picks free 127.0.0.1 ports, starts each component
in its own process group (killed with the launcher should the launcher die), waits for the API
server's ``/readyz``, the controller-manager's and scheduler's ``/healthz`` and the ``default``
ServiceAccount, then writes ``DIR/info.json`` (the lab's contract: ``url``, ``pid``, ``env``, plus
everything a node and kube-proxy need; see ``_info``). Stopping sends SIGTERM to every process group
it started (SIGKILL after a grace period) and leaves no process or listening port behind.

``DIR`` is made 0700; private keys, the token file and the kubeconfigs are 0600.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from tests.lab import launcher
from tests.lab import paths
from tests.lab import pki

# The lab's cluster networks. The Service range is the walkthrough's AKS one (--service-cidr
# 10.0.0.0/16 --dns-service-ip 10.0.0.10); pods get 10.244.0.0/16 (a /24 per node, allocated by the
# controller-manager into node.spec.podCIDR). Neither touches the host's own networks; both only
# exist inside the lab's network namespaces.
SERVICE_CIDR = "10.0.0.0/16"
KUBERNETES_SERVICE_IP = "10.0.0.1"
CLUSTER_DNS_IP = "10.0.0.10"
CLUSTER_CIDR = "10.244.0.0/16"
NODE_CIDR_MASK = 24
CLUSTER_DOMAIN = "cluster.local"
NODE_NAME = "netpol-lab-node"  # the lab node's default --node-name (tests/lab/node)
ADMIN_USER = "netpol-lab-admin"
SERVICE_ACCOUNT_ISSUER = f"https://kubernetes.default.svc.{CLUSTER_DOMAIN}"

START_TIMEOUT = 180.0
STOP_TIMEOUT = 15.0
COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler")


class ControlPlaneError(RuntimeError):
    """The control plane could not be started (the message says what to do)."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def _kubeconfig(url: str, ca_pem: bytes, user: str, *, pair: pki.Pair | None = None, token: str = "") -> dict:
    import base64

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    credentials: dict[str, str] = {}
    if pair is not None:
        credentials = {
            "client-certificate-data": b64(pair.cert.read_bytes()),
            "client-key-data": b64(pair.key.read_bytes()),
        }
    if token:
        credentials["token"] = token
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "netpol-lab", "cluster": {"server": url, "certificate-authority-data": b64(ca_pem)}}],
        "users": [{"name": user, "user": credentials}],
        "contexts": [{"name": "netpol-lab", "context": {"cluster": "netpol-lab", "user": user}}],
        "current-context": "netpol-lab",
    }


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.chmod(path, 0o600)


class ControlPlane:
    """Start and stop the real control plane in ``state_dir`` (see the module docstring)."""

    def __init__(self, state_dir: Path | str, *, binaries: dict[str, Path] | None = None) -> None:
        self.dir = Path(state_dir).resolve()
        self.binaries = binaries or paths.control_plane_binaries()
        self.procs: dict[str, subprocess.Popen] = {}
        self.ports: dict[str, int] = {}
        self.info: dict[str, Any] = {}
        self.started_in: float | None = None

    # -- set-up ----------------------------------------------------------------------------------

    def _check_binaries(self) -> None:
        missing = [f"{name} ({path})" for name, path in self.binaries.items() if not os.access(path, os.X_OK)]
        if missing:
            raise ControlPlaneError(
                f"the lab's Kubernetes binaries are not built: {', '.join(missing)}; run `make lab-build` "
                f"(tests/lab/build/build.sh) first"
            )

    def _prepare(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.dir, 0o700)
        for sub in ("pki", "logs", "etcd", "certs"):
            (self.dir / sub).mkdir(exist_ok=True)
            os.chmod(self.dir / sub, 0o700)
        names = ("etcd", "etcd_peer", "apiserver", "controller_manager", "scheduler")
        used: set[int] = set()
        for name in names:
            port = free_port()
            while port in used:
                port = free_port()
            used.add(port)
            self.ports[name] = port
        self.url = f"https://127.0.0.1:{self.ports['apiserver']}"

        d = self.dir / "pki"
        ca = pki.CertificateAuthority(d)
        self.ca = ca
        local = ("127.0.0.1", "localhost")
        self.certs = {
            "etcd-server": ca.issue("etcd-server", "netpol-lab-etcd", server=True, client=True, hosts=local),
            "apiserver-etcd-client": ca.issue("apiserver-etcd-client", "kube-apiserver-etcd-client", client=True),
            "apiserver": ca.issue(
                "apiserver",
                "kube-apiserver",
                server=True,
                hosts=(
                    *local,
                    KUBERNETES_SERVICE_IP,
                    "kubernetes",
                    "kubernetes.default",
                    "kubernetes.default.svc",
                    f"kubernetes.default.svc.{CLUSTER_DOMAIN}",
                ),
            ),
            # API server -> kubelet (exec, logs): the node checks it against ca.crt.
            "apiserver-kubelet-client": ca.issue(
                "apiserver-kubelet-client",
                "kube-apiserver-kubelet-client",
                organizations=("system:masters",),
                client=True,
            ),
            "controller-manager": ca.issue(
                "controller-manager", "system:kube-controller-manager", server=True, client=True, hosts=local
            ),
            "scheduler": ca.issue("scheduler", "system:kube-scheduler", server=True, client=True, hosts=local),
            "admin": ca.issue("admin", ADMIN_USER, organizations=("system:masters",), client=True),
            # The node: its client certificate (Node authorizer + NodeRestriction) and the serving
            # certificate of its kubelet API (the API server checks it against ca.crt).
            "node-client": ca.issue(
                "node-client", f"system:node:{NODE_NAME}", organizations=("system:nodes",), client=True
            ),
            "node-serving": ca.issue("node-serving", NODE_NAME, server=True, hosts=(*local, NODE_NAME)),
            "kube-proxy": ca.issue("kube-proxy", "system:kube-proxy", client=True),
        }
        self.sa = pki.service_account_keys(d)
        self.token = secrets.token_hex(24)
        _write_private(d / "tokens.csv", f'{self.token},{ADMIN_USER},{ADMIN_USER},"system:masters"\n')

        self.kubeconfigs: dict[str, Path] = {}
        users = {
            "admin": (ADMIN_USER, "admin"),
            "controller-manager": ("system:kube-controller-manager", "controller-manager"),
            "scheduler": ("system:kube-scheduler", "scheduler"),
            "node": (f"system:node:{NODE_NAME}", "node-client"),
            "kube-proxy": ("system:kube-proxy", "kube-proxy"),
        }
        for name, (user, cert) in users.items():
            path = self.dir / f"{name}.kubeconfig"
            _write_private(path, yaml.safe_dump(_kubeconfig(self.url, ca.pem, user, pair=self.certs[cert])))
            self.kubeconfigs[name] = path
        # The token credential the simulated AKS hands out (listClusterUserCredential).
        self.kubeconfigs["admin-token"] = self.dir / "admin-token.kubeconfig"
        _write_private(
            self.kubeconfigs["admin-token"], yaml.safe_dump(_kubeconfig(self.url, ca.pem, ADMIN_USER, token=self.token))
        )

    def _argv(self, component: str) -> list[str]:
        d, c, p = self.dir / "pki", self.certs, self.ports
        binary = str(self.binaries[component])
        if component == "etcd":
            client = f"https://127.0.0.1:{p['etcd']}"
            peer = f"http://127.0.0.1:{p['etcd_peer']}"
            return [
                binary,
                "--name=netpol-lab",
                f"--data-dir={self.dir / 'etcd'}",
                f"--listen-client-urls={client}",
                f"--advertise-client-urls={client}",
                f"--listen-peer-urls={peer}",
                f"--initial-advertise-peer-urls={peer}",
                f"--initial-cluster=netpol-lab={peer}",
                "--initial-cluster-state=new",
                f"--cert-file={c['etcd-server'].cert}",
                f"--key-file={c['etcd-server'].key}",
                f"--trusted-ca-file={self.ca.cert_file}",
                "--client-cert-auth=true",
                "--unsafe-no-fsync=true",  # a throw-away lab on a shared disk
                "--log-level=warn",
            ]
        common = [
            "--bind-address=127.0.0.1",
            "--profiling=false",
        ]
        if component == "kube-apiserver":
            return [
                binary,
                *common,
                f"--secure-port={p['apiserver']}",
                "--advertise-address=127.0.0.1",
                # The `kubernetes` Service would get 127.0.0.1 as its endpoint, which the endpoint
                # validation refuses; nothing in the lab's pods talks to the API server.
                "--endpoint-reconciler-type=none",
                f"--etcd-servers=https://127.0.0.1:{p['etcd']}",
                f"--etcd-cafile={self.ca.cert_file}",
                f"--etcd-certfile={c['apiserver-etcd-client'].cert}",
                f"--etcd-keyfile={c['apiserver-etcd-client'].key}",
                f"--tls-cert-file={c['apiserver'].cert}",
                f"--tls-private-key-file={c['apiserver'].key}",
                f"--client-ca-file={self.ca.cert_file}",
                f"--token-auth-file={d / 'tokens.csv'}",
                "--authorization-mode=Node,RBAC",
                # The default admission plugins (PodSecurity among them) plus NodeRestriction.
                "--enable-admission-plugins=NodeRestriction",
                # Privileged pods pass validation, so that Pod Security admission is what refuses them.
                "--allow-privileged=true",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                f"--service-account-issuer={SERVICE_ACCOUNT_ISSUER}",
                f"--service-account-key-file={self.sa.cert}",
                f"--service-account-signing-key-file={self.sa.key}",
                f"--kubelet-client-certificate={c['apiserver-kubelet-client'].cert}",
                f"--kubelet-client-key={c['apiserver-kubelet-client'].key}",
                f"--kubelet-certificate-authority={self.ca.cert_file}",
                # The node's InternalIP is its address on the pod network, inside the lab's network
                # namespaces; its kubelet API listens on the host's 127.0.0.1, which it reports as ExternalIP.
                "--kubelet-preferred-address-types=ExternalIP",
            ]
        if component == "kube-controller-manager":
            kubeconfig = self.kubeconfigs["controller-manager"]
            return [
                binary,
                *common,
                f"--secure-port={p['controller_manager']}",
                f"--cert-dir={self.dir / 'certs'}",
                f"--tls-cert-file={c['controller-manager'].cert}",
                f"--tls-private-key-file={c['controller-manager'].key}",
                f"--kubeconfig={kubeconfig}",
                f"--authentication-kubeconfig={kubeconfig}",
                f"--authorization-kubeconfig={kubeconfig}",
                "--leader-elect=false",
                "--use-service-account-credentials=true",
                f"--service-account-private-key-file={self.sa.key}",
                f"--root-ca-file={self.ca.cert_file}",
                f"--cluster-signing-cert-file={self.ca.cert_file}",
                f"--cluster-signing-key-file={self.ca.key_file}",
                "--allocate-node-cidrs=true",
                f"--cluster-cidr={CLUSTER_CIDR}",
                f"--node-cidr-mask-size={NODE_CIDR_MASK}",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
            ]
        if component == "kube-scheduler":
            kubeconfig = self.kubeconfigs["scheduler"]
            return [
                binary,
                *common,
                f"--secure-port={p['scheduler']}",
                f"--cert-dir={self.dir / 'certs'}",
                f"--tls-cert-file={c['scheduler'].cert}",
                f"--tls-private-key-file={c['scheduler'].key}",
                f"--kubeconfig={kubeconfig}",
                f"--authentication-kubeconfig={kubeconfig}",
                f"--authorization-kubeconfig={kubeconfig}",
                "--leader-elect=false",
            ]
        raise ValueError(f"unknown component {component!r}")

    # -- processes -------------------------------------------------------------------------------

    def _spawn(self, component: str) -> None:
        self.procs[component] = launcher.spawn(
            self._argv(component), self.dir / "logs" / f"{component}.log", cwd=self.dir
        )
        self._write_pids()

    def _write_pids(self) -> None:
        pids = {name: proc.pid for name, proc in self.procs.items()}
        (self.dir / "pids.json").write_text(json.dumps(pids, indent=2) + "\n")

    def _log_tail(self, component: str, chars: int = 3000) -> str:
        try:
            return (self.dir / "logs" / f"{component}.log").read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def _wait(self, what: str, component: str, ready, deadline: float) -> None:
        proc = self.procs[component]
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise ControlPlaneError(
                    f"{component} exited with status {proc.returncode} before {what}; its log "
                    f"({self.dir / 'logs' / (component + '.log')}) ends with:\n{self._log_tail(component)}"
                )
            if ready():
                return
            time.sleep(0.2)
        raise ControlPlaneError(
            f"{component}: no {what} within {START_TIMEOUT:.0f}s; its log ends with:\n{self._log_tail(component)}"
        )

    def _ssl_context(self, client: str | None = "admin") -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.ca.cert_file))
        if client:
            context.load_cert_chain(str(self.certs[client].cert), str(self.certs[client].key))
        return context

    def _get(self, url: str, client: str | None = "admin") -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(url, context=self._ssl_context(client), timeout=5) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()
        except (urllib.error.URLError, OSError):
            return 0, b""

    def _ok(self, url: str, client: str | None = "admin"):
        return lambda: self._get(url, client)[0] == 200

    def start(self, timeout: float = START_TIMEOUT) -> dict[str, Any]:
        """Start everything, wait until it is ready, write ``info.json``; return its content."""
        self._check_binaries()
        began = time.monotonic()
        deadline = began + timeout
        self._prepare()
        try:
            self._spawn("etcd")
            self._wait("listening", "etcd", lambda: port_open(self.ports["etcd"]), deadline)
            self._spawn("kube-apiserver")
            self._wait("/readyz", "kube-apiserver", self._ok(f"{self.url}/readyz"), deadline)
            self._spawn("kube-controller-manager")
            self._spawn("kube-scheduler")
            cm, sched = self.ports["controller_manager"], self.ports["scheduler"]
            self._wait(
                "/healthz", "kube-controller-manager", self._ok(f"https://127.0.0.1:{cm}/healthz", None), deadline
            )
            self._wait("/healthz", "kube-scheduler", self._ok(f"https://127.0.0.1:{sched}/healthz", None), deadline)
            # The service-account controller made `default/default`: the controllers really run.
            sa = f"{self.url}/api/v1/namespaces/default/serviceaccounts/default"
            self._wait("the default ServiceAccount", "kube-controller-manager", self._ok(sa), deadline)
        except BaseException:
            self.stop()
            raise
        self.started_in = time.monotonic() - began
        self.info = self._info()
        (self.dir / "info.json").write_text(json.dumps(self.info, indent=2, sort_keys=True) + "\n")
        return self.info

    def _info(self) -> dict[str, Any]:
        c = self.certs
        admin = str(self.kubeconfigs["admin"])
        return {
            "kind": "real",
            "url": self.url,
            "pid": os.getpid(),
            "ca_file": str(self.ca.cert_file),
            # The Azure double puts this bearer token into the kubeconfigs its AKS hands out.
            "token": self.token,
            "kubeconfig": admin,
            "version": paths.versions()["KUBERNETES_VERSION"],
            "env": {"KUBECONFIG": admin, "K8S_AUTH_KUBECONFIG": admin, "NETPOL_LAB_KUBE_URL": self.url},
            "service_cidr": SERVICE_CIDR,
            "kubernetes_service_ip": KUBERNETES_SERVICE_IP,
            "cluster_dns_ip": CLUSTER_DNS_IP,
            "cluster_cidr": CLUSTER_CIDR,
            "cluster_domain": CLUSTER_DOMAIN,
            "node": {
                "name": NODE_NAME,
                "kubeconfig": str(self.kubeconfigs["node"]),
                "client_cert": str(c["node-client"].cert),
                "client_key": str(c["node-client"].key),
                "serving_cert": str(c["node-serving"].cert),
                "serving_key": str(c["node-serving"].key),
                # The API server's kubelet client certificate is signed by this CA (CN
                # kube-apiserver-kubelet-client, O system:masters).
                "client_ca_file": str(self.ca.cert_file),
            },
            "kube_proxy": {"kubeconfig": str(self.kubeconfigs["kube-proxy"])},
            "admin_token_kubeconfig": str(self.kubeconfigs["admin-token"]),
            "ports": dict(self.ports),
            "pids": {name: proc.pid for name, proc in self.procs.items()},
            "logs": str(self.dir / "logs"),
            "started_in_seconds": round(self.started_in or 0.0, 2),
        }

    def stop(self) -> list[str]:
        """SIGTERM every process group started (in reverse order), SIGKILL what is left; return names."""
        stopped = [name for name in reversed(list(self.procs)) if launcher.stop_group(self.procs[name], STOP_TIMEOUT)]
        self.procs.clear()
        with contextlib.suppress(OSError):
            (self.dir / "pids.json").unlink()
        with contextlib.suppress(OSError):
            (self.dir / "info.json").unlink()
        return stopped

    def __enter__(self) -> ControlPlane:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.lab.control_plane", description=__doc__.split("\n\n", maxsplit=1)[0]
    )
    parser.add_argument("--state-dir", type=Path, required=True, help="where TLS, kubeconfigs, etcd data and logs go")
    args = parser.parse_args(argv)
    plane = ControlPlane(args.state_dir)

    def start() -> str:
        info = plane.start()
        return (
            f"REAL Kubernetes control plane {info['version']} up in {info['started_in_seconds']}s: {info['url']} "
            f"(kubeconfig {info['kubeconfig']})"
        )

    def stop() -> None:
        plane.stop()

    return launcher.run_foreground(
        "control plane",
        start,
        lambda: [name for name, proc in plane.procs.items() if proc.poll() is not None],
        stop,
        (ControlPlaneError,),
    )


if __name__ == "__main__":
    sys.exit(main())
