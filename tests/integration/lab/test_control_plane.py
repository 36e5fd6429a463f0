"""The real lab's control plane (tests/lab/control_plane.py): etcd, kube-apiserver,
kube-controller-manager and kube-scheduler built from source by `make lab-build`.

One control plane serves the whole module (started once; the last test stops it and checks that
nothing is left). The tests talk to it with the `kubernetes` client, as the collection does.
"""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from kubernetes import client
from kubernetes import config as kube_config
from kubernetes.client.rest import ApiException

from tests.lab import paths
from tests.lab.control_plane import ControlPlane
from tests.lab.control_plane import port_open

# All of this module's tests run on one xdist worker (make test uses --dist loadgroup).
pytestmark = pytest.mark.xdist_group("lab-control-plane")

WAIT = 90.0


def _require_binaries() -> None:
    missing = [str(p) for p in paths.control_plane_binaries().values() if not os.access(p, os.X_OK)]
    if missing:
        pytest.fail(f"the lab's Kubernetes binaries are not built ({', '.join(missing)}): run `make lab-build`")


@pytest.fixture(scope="module")
def plane(tmp_path_factory):
    _require_binaries()
    control_plane = ControlPlane(tmp_path_factory.mktemp("control-plane"))
    control_plane.start()
    yield control_plane
    control_plane.stop()


@pytest.fixture(scope="module")
def api(plane):
    return kube_config.new_client_from_config(config_file=plane.info["kubeconfig"])


def _eventually(what: str, check, timeout: float = WAIT):
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout:.0f}s")
        time.sleep(0.5)


def _namespace(api, labels: dict[str, str] | None = None) -> str:
    """A fresh namespace whose `default` ServiceAccount exists (pods need it)."""
    core = client.CoreV1Api(api)
    name = f"t-{uuid.uuid4().hex[:8]}"
    core.create_namespace({"metadata": {"name": name, "labels": labels or {}}})

    def has_sa():
        try:
            return core.read_namespaced_service_account("default", name)
        except ApiException as exc:
            if exc.status != 404:
                raise
            return None

    _eventually(f"the default ServiceAccount of namespace {name}", has_sa)
    return name


def _restricted_container(name: str = "app") -> dict:
    return {
        "name": name,
        "image": "busybox:1.36",
        "command": ["sleep", "3600"],
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": 1000,
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
    }


def _listening_sockets(pid: int) -> list[tuple[str, int]]:
    """(address, port) of every TCP socket in LISTEN state that process `pid` holds."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = []
    for table, width in (("/proc/net/tcp", 4), ("/proc/net/tcp6", 16)):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state != "0A" or inode not in inodes:  # 0A = LISTEN
                continue
            address, port = local.split(":")
            raw = bytes.fromhex(address)
            if width == 4:
                text = socket.inet_ntop(socket.AF_INET, raw[::-1])
            else:
                words = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
                text = socket.inet_ntop(socket.AF_INET6, words)
            found.append((text, int(port, 16)))
    return found


def test_state_is_private_and_info_complete(plane):
    info = json.loads((plane.dir / "info.json").read_text())
    assert info["url"] == f"https://127.0.0.1:{info['ports']['apiserver']}"
    assert info["kind"] == "real"
    assert stat.S_IMODE(plane.dir.stat().st_mode) == 0o700
    for path in (info["kubeconfig"], info["node"]["kubeconfig"], info["node"]["client_key"], plane.dir / "pki/ca.key"):
        assert stat.S_IMODE(Path(path).stat().st_mode) == 0o600, path
    assert set(info["pids"]) == {"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"}


def test_every_component_listens_on_loopback_only(plane):
    for name, pid in plane.info["pids"].items():
        sockets = _listening_sockets(pid)
        assert sockets, f"{name} listens nowhere?"
        assert all(address == "127.0.0.1" for address, _port in sockets), f"{name} listens on {sockets}"


def test_server_is_a_real_kube_apiserver(api):
    version = client.VersionApi(api).get_code()
    assert version.git_version == paths.versions()["KUBERNETES_VERSION"]
    groups = {group.name for group in client.ApisApi(api).get_api_versions().groups}
    assert {"apps", "networking.k8s.io", "discovery.k8s.io", "rbac.authorization.k8s.io"} <= groups


def test_pod_security_admission_rejects_privileged_pod(api):
    namespace = _namespace(api, {"pod-security.kubernetes.io/enforce": "restricted"})
    core = client.CoreV1Api(api)
    privileged = {
        "metadata": {"name": "privileged"},
        "spec": {"containers": [{"name": "app", "image": "busybox:1.36", "securityContext": {"privileged": True}}]},
    }
    with pytest.raises(ApiException) as caught:
        core.create_namespaced_pod(namespace, privileged)
    assert caught.value.status == 403
    message = json.loads(caught.value.body)["message"]
    assert 'violates PodSecurity "restricted:latest"' in message
    assert "privileged" in message
    # The same namespace admits a pod that meets the restricted profile: the refusal was the policy's.
    pod = core.create_namespaced_pod(
        namespace, {"metadata": {"name": "restricted"}, "spec": {"containers": [_restricted_container()]}}
    )
    assert pod.metadata.uid


def test_networkpolicy_validation_is_the_servers(api):
    namespace = _namespace(api)
    net = client.NetworkingV1Api(api)
    invalid = {
        "metadata": {"name": "bad"},
        "spec": {
            "podSelector": {"matchLabels": {"app": "api"}},
            "policyTypes": ["Ingres"],
            "ingress": [{"ports": [{"protocol": "HTTP", "port": 80}]}],
        },
    }
    with pytest.raises(ApiException) as caught:
        net.create_namespaced_network_policy(namespace, invalid)
    assert caught.value.status == 422
    status = json.loads(caught.value.body)
    assert status["reason"] == "Invalid"
    fields = {cause["field"] for cause in status["details"]["causes"]}
    assert {"spec.policyTypes[0]", "spec.ingress[0].ports[0].protocol"} <= fields, status
    valid = {**invalid, "spec": {**invalid["spec"], "policyTypes": ["Ingress"], "ingress": []}}
    created = net.create_namespaced_network_policy(namespace, valid)
    assert created.spec.policy_types == ["Ingress"]


def test_deployment_gets_replicaset_pods_and_endpointslice(api):
    namespace = _namespace(api)
    apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
    apps.create_namespaced_deployment(
        namespace,
        {
            "metadata": {"name": "api"},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": "api"}},
                "template": {"metadata": {"labels": {"app": "api"}}, "spec": {"containers": [_restricted_container()]}},
            },
        },
    )
    replica_sets = _eventually(
        "a ReplicaSet for Deployment api", lambda: apps.list_namespaced_replica_set(namespace).items
    )
    assert len(replica_sets) == 1
    owner = replica_sets[0].metadata.owner_references[0]
    assert (owner.kind, owner.name) == ("Deployment", "api")

    def two_pods():
        items = core.list_namespaced_pod(namespace, label_selector="app=api").items
        return items if len(items) == 2 else None

    pods = _eventually("two pods from the ReplicaSet", two_pods)
    assert {p.metadata.owner_references[0].name for p in pods} == {replica_sets[0].metadata.name}
    # No node has joined this control plane: the scheduler leaves them Pending.
    assert {p.status.phase for p in pods} == {"Pending"}
    # The EndpointSlice controller gives a Service its slice (empty: no pod has an address yet).
    core.create_namespaced_service(
        namespace, {"metadata": {"name": "api"}, "spec": {"selector": {"app": "api"}, "ports": [{"port": 80}]}}
    )
    discovery = client.DiscoveryV1Api(api)
    slices = _eventually(
        "an EndpointSlice for Service api",
        lambda: (
            discovery.list_namespaced_endpoint_slice(namespace, label_selector="kubernetes.io/service-name=api").items
        ),
    )
    assert not slices[0].endpoints


def test_namespace_delete_finishes(api):
    namespace = _namespace(api)
    core = client.CoreV1Api(api)
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "c"}, "data": {"k": "v"}})
    core.delete_namespace(namespace)

    def gone():
        try:
            core.read_namespace(namespace)
        except ApiException as exc:
            return exc.status == 404
        return False

    _eventually(f"namespace {namespace} deleted", gone)


def test_stop_leaves_no_process_or_listening_port(plane):
    """Runs last: stops the module's control plane and checks that nothing it started is left."""
    pids = dict(plane.info["pids"])
    ports = dict(plane.info["ports"])
    assert all(port_open(ports[name]) for name in ("etcd", "apiserver", "controller_manager", "scheduler"))
    stopped = plane.stop()
    assert set(stopped) == set(pids)
    for name, pid in pids.items():
        assert not Path(f"/proc/{pid}").exists(), f"{name} (pid {pid}) is still there"
    leftovers = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes()
            except OSError:
                continue
            if str(plane.dir).encode() in cmdline:
                leftovers.append(proc.name)
    assert leftovers == []
    for name, port in ports.items():
        assert not port_open(port), f"port {port} ({name}) still accepts connections"
    assert not (plane.dir / "info.json").exists()


def test_killed_launcher_takes_its_components_with_it(tmp_path):
    """`python -m tests.lab.control_plane` killed with SIGKILL (no chance to clean up): every component
    it started dies with it (PR_SET_PDEATHSIG), so even then nothing is left running or listening."""
    _require_binaries()
    state = tmp_path / "cp"
    launcher = subprocess.Popen(
        [sys.executable, "-m", "tests.lab.control_plane", "--state-dir", str(state)],
        cwd=paths.ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        info = _eventually(
            "the launcher's info.json",
            lambda: json.loads((state / "info.json").read_text()) if (state / "info.json").exists() else None,
            timeout=240,
        )
        assert info["pid"] == launcher.pid
        assert all(Path(f"/proc/{pid}").exists() for pid in info["pids"].values())
    finally:
        launcher.kill()
        launcher.wait()
    _eventually(
        "every component gone after the launcher was killed",
        lambda: not any(Path(f"/proc/{pid}").exists() for pid in info["pids"].values()),
        timeout=20,
    )
    for name, port in info["ports"].items():
        assert not port_open(port), f"port {port} ({name}) still accepts connections"
