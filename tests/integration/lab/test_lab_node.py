"""The real lab's node (tests/lab/node, `make lab-node`) with the real control plane: pods are network
namespaces running busybox and nginx from Debian, exec and logs go through kube-apiserver.

The control plane is the one `tests/lab/control_plane.py` starts (or an already running one:
NETPOL_LAB_CONTROL_PLANE_INFO=<its info.json>). One control plane and one node serve the whole module;
the last test stops the node and checks that nothing of it is left. Needs root (network namespaces).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import textwrap
import time
import uuid
from pathlib import Path

import pytest
from kubernetes import client
from kubernetes import config as kube_config
from kubernetes.client.rest import ApiException

from ansible_collections.netpol.aks.plugins.module_utils import _probe as probe
from tests.lab import lab_node
from tests.lab import pod_exec

pytestmark = pytest.mark.xdist_group("lab-control-plane")

WAIT = 60.0
NGINX_PAGE_BYTES = 615


@pytest.fixture(scope="module")
def host_links():
    """The host's own network interfaces before the node starts (it must not add any)."""
    return _host_links()


@pytest.fixture(scope="module")
def node(cp_info, host_links, tmp_path_factory):
    if os.geteuid() != 0:
        pytest.fail("the lab node needs root (network namespaces); run the lab tests as root")
    the_node = lab_node.LabNode(tmp_path_factory.mktemp("lab-node"), cp_info)
    # As `make lab-up` starts it (everything under .lab is private): what the node writes for its pods
    # must still be readable by a container's non-root user.
    umask = os.umask(0o077)
    try:
        the_node.start()
    finally:
        os.umask(umask)
    yield the_node
    the_node.stop()


@pytest.fixture(scope="module")
def core(cp_info, node):
    api = client.ApiClient(kube_config.new_client_from_config(config_file=cp_info["kubeconfig"]).configuration)
    core = client.CoreV1Api(api)
    deadline = time.monotonic() + WAIT
    while True:
        try:
            n = core.read_node(cp_info["node"]["name"])
            if any(c.type == "Ready" and c.status == "True" for c in n.status.conditions or []):
                return core
        except ApiException:
            pass
        assert time.monotonic() < deadline, "the lab node never became Ready in the API"
        time.sleep(0.5)


@pytest.fixture(scope="module")
def namespace(core):
    name = f"lab-node-{uuid.uuid4().hex[:6]}"
    core.create_namespace({"metadata": {"name": name}})
    deadline = time.monotonic() + WAIT
    while True:  # the controller-manager's service-account controller makes `default`
        try:
            core.read_namespaced_service_account("default", name)
            break
        except ApiException:
            assert time.monotonic() < deadline, "no default ServiceAccount in the test namespace"
            time.sleep(0.3)
    yield name
    with contextlib.suppress(ApiException):
        core.delete_namespace(name)


def _host_links() -> set[str]:
    out = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True, check=True).stdout
    return {line.split(":")[1].strip().split("@")[0] for line in out.splitlines()}


def pod_manifest(name: str, image: str, command=None, **spec) -> dict:
    container = {"name": "c", "image": image}
    if command is not None:
        container["command"] = command
    container.update(spec.pop("container", {}))
    return {
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {"terminationGracePeriodSeconds": 0, "containers": [container], **spec},
    }


def create(core, namespace, manifest) -> str:
    core.create_namespaced_pod(namespace, manifest)
    return manifest["metadata"]["name"]


def wait_pod(core, namespace, name, check, what, timeout=WAIT):
    deadline = time.monotonic() + timeout
    pod = None
    while time.monotonic() < deadline:
        pod = core.read_namespaced_pod(name, namespace)
        if check(pod):
            return pod
        time.sleep(0.3)
    status = pod.status.to_dict() if pod else None
    raise AssertionError(f"pod {namespace}/{name} never {what}; last status: {status}")


def ready(pod) -> bool:
    return pod.status.phase == "Running" and all(c.ready for c in pod.status.container_statuses or [])


def run_ready(core, namespace, manifest):
    name = create(core, namespace, manifest)
    return wait_pod(core, namespace, name, ready, "became Ready")


exec_in = pod_exec.exec_in


@pytest.fixture(scope="module")
def busybox(core, namespace):
    return run_ready(core, namespace, pod_manifest("bb", "busybox:1.36", ["sleep", "3600"]))


@pytest.fixture(scope="module")
def nginx(core, namespace):
    return run_ready(core, namespace, pod_manifest("web", "nginx:1.27"))


def test_busybox_pod_runs_and_exec_returns_output(core, namespace, busybox, node):
    status = busybox.status
    assert status.pod_ip.startswith("10.244.0.")
    assert status.pod_ip != "10.244.0.1"
    assert status.host_ip == node.info["gateway"]  # the node's InternalIP, on the pod network
    (cs,) = status.container_statuses
    assert cs.ready
    assert cs.started
    assert cs.state.running
    assert cs.restart_count == 0
    assert cs.image == "docker.io/library/busybox:1.36"
    assert cs.image_id.startswith("docker.io/library/busybox@sha256:")
    conditions = {c.type: c.status for c in status.conditions}
    assert conditions["Ready"] == conditions["ContainersReady"] == conditions["Initialized"] == "True"

    rc, out = exec_in(
        core, namespace, "bb", ["sh", "-c", "busybox | head -1; hostname; ip -o -4 addr show eth0; exit 3"]
    )
    assert rc == 3, out
    assert "BusyBox v1.37.0" in out
    assert "\nbb\n" in out  # the pod's own UTS namespace
    assert f"inet {status.pod_ip}/24" in out  # the pod's own network namespace

    rc, out = exec_in(core, namespace, "bb", ["cat", "/etc/resolv.conf"])
    assert rc == 0
    assert f"search {namespace}.svc.cluster.local svc.cluster.local cluster.local" in out
    assert "nameserver 10.0.0.10" in out

    # A command the image does not have, as busybox's sh says it.
    rc, out = exec_in(core, namespace, "bb", ["sh", "-c", "curl http://example.invalid"])
    assert rc == 127
    assert "sh: curl: not found" in out


def test_kubernetes_core_k8s_exec(cp_info, namespace, busybox, ansible_playbook, tmp_path):
    playbook = tmp_path / "exec.yml"
    playbook.write_text(
        textwrap.dedent(
            f"""\
            - name: k8s_exec on the real lab node
              hosts: localhost
              gather_facts: false
              tasks:
                - name: Exec in the busybox pod
                  kubernetes.core.k8s_exec:
                    namespace: {namespace}
                    pod: bb
                    command: sh -c 'echo from-the-pod; id -u; exit 4'
                  register: out
                  failed_when: false
            """
        )
    )
    run = ansible_playbook(playbook, env={"K8S_AUTH_KUBECONFIG": cp_info["kubeconfig"]})
    result = run.result("Exec in the busybox pod")
    assert result["rc"] == 4, run.output
    assert result["stdout_lines"] == ["from-the-pod", "0"], run.output


def test_nginx_serves_its_page_to_another_pods_wget(core, namespace, busybox, nginx):
    ip = nginx.status.pod_ip
    rc, out = exec_in(core, namespace, "bb", ["wget", "-q", "-O", "-", "-T", "5", f"http://{ip}/"])
    assert rc == 0, out
    assert "<title>Welcome to nginx!</title>" in out
    assert len(out.encode()) == NGINX_PAGE_BYTES
    # nginx's access log (its stdout), through the API server's pods/log.
    deadline = time.monotonic() + 10
    while True:
        log = core.read_namespaced_pod_log("web", namespace)
        if f"{busybox.status.pod_ip} - - [" in log and '"GET / HTTP/1.1" 200 615' in log:
            break
        assert time.monotonic() < deadline, f"no access line for the wget in nginx's log:\n{log}"
        time.sleep(0.3)
    # The nginx image is Debian: no wget in it, and dash's wording.
    rc, out = exec_in(core, namespace, "web", ["sh", "-c", "wget -q -O - http://127.0.0.1/"])
    assert rc == 127
    assert "wget: not found" in out


def test_the_walkthroughs_unprivileged_nginx(core, namespace, busybox):
    """The workload role's api pod: nginx-unprivileged (uid 101, port 8080), restricted, read-only root."""
    manifest = pod_manifest(
        "api",
        "nginxinc/nginx-unprivileged:1.27-alpine",
        securityContext={"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        container={
            "ports": [{"name": "http", "containerPort": 8080}],
            "securityContext": {
                "allowPrivilegeEscalation": False,
                "readOnlyRootFilesystem": True,
                "capabilities": {"drop": ["ALL"]},
            },
        },
    )
    api = run_ready(core, namespace, manifest)
    rc, out = exec_in(core, namespace, "bb", ["wget", "-q", "-O", "-", "-T", "5", f"http://{api.status.pod_ip}:8080/"])
    assert rc == 0, out
    assert "<title>Welcome to nginx!</title>" in out
    rc, out = exec_in(core, namespace, "api", ["id", "-u"])  # the image's USER; alpine tags have busybox
    assert (rc, out) == (0, "101\n")


def test_closed_port_is_refused_by_real_wget_and_nc(core, namespace, busybox, nginx):
    ip = nginx.status.pod_ip
    rc, out = exec_in(core, namespace, "bb", ["wget", "-q", "-O", "-", "-T", "3", f"http://{ip}:81/"])
    assert rc == 1
    assert f"wget: can't connect to remote host ({ip}): Connection refused" in out
    # busybox nc (defconfig, as the busybox image) says why only when asked twice: -vv.
    rc, out = exec_in(core, namespace, "bb", ["nc", "-vv", "-z", "-w", "3", ip, "81"])
    assert rc == 1, out
    assert "Connection refused" in out, out
    rc, out = exec_in(core, namespace, "bb", ["nc", "-z", "-w", "3", ip, "80"])
    assert rc == 0, out


def test_the_probe_pod_and_script_of_the_collection(core, namespace, nginx):
    """probe_connectivity's own pod spec (restricted: uid 65534, read-only root) and script."""
    pod = probe.build_probe_pod("probe-x", namespace, {"role": "client"}, probe.DEFAULT_PROBE_IMAGE, "x1")
    run_ready(core, namespace, pod)
    ip = nginx.status.pod_ip
    specs = [
        probe.TargetSpec(0, "http", ip, 80, 3),
        probe.TargetSpec(1, "http", ip, 81, 3),
        probe.TargetSpec(2, "http", "no-such-name.invalid", 80, 3),
    ]
    rc, out = exec_in(core, namespace, "probe-x", probe.build_command(specs))
    assert rc == 0, out
    outcomes = probe.parse_output(out, len(specs))
    assert [outcomes[i].result for i in range(3)] == ["allowed", "refused", "dns_error"], out
    rc, out = exec_in(core, namespace, "probe-x", ["id"])
    assert out.startswith("uid=65534"), out


def test_unknown_image_is_err_image_pull_then_backoff(core, namespace):
    name = create(core, namespace, pod_manifest("nopull", "registry.example/team/app:1.0", ["sleep", "60"]))
    seen = set()

    def waiting(pod):
        for cs in pod.status.container_statuses or []:
            if cs.state.waiting:
                seen.add(cs.state.waiting.reason)
        return {"ErrImagePull", "ImagePullBackOff"} <= seen

    pod = wait_pod(core, namespace, name, waiting, "reported ErrImagePull and ImagePullBackOff", timeout=30)
    assert pod.status.phase == "Pending"
    assert not pod.status.container_statuses[0].ready
    # The collection's prober gives up on such a pod at once (never "blocked").
    assert seen <= probe.FATAL_WAITING_REASONS | {"ContainerCreating"}


def test_run_as_non_root_with_a_root_image_is_a_config_error(core, namespace):
    manifest = pod_manifest("rootimg", "busybox:1.36", ["sleep", "60"], securityContext={"runAsNonRoot": True})
    name = create(core, namespace, manifest)

    def config_error(pod):
        cs = (pod.status.container_statuses or [None])[0]
        return (
            cs is not None and cs.state.waiting is not None and cs.state.waiting.reason == "CreateContainerConfigError"
        )

    pod = wait_pod(core, namespace, name, config_error, "reported CreateContainerConfigError", timeout=30)
    assert (
        "container has runAsNonRoot and image will run as root"
        in pod.status.container_statuses[0].state.waiting.message
    )
    assert pod.status.phase == "Pending"


def test_command_args_env_and_working_dir(core, namespace):
    manifest = pod_manifest(
        "cmd",
        "alpine:3.20",
        ["sh", "-c"],
        restartPolicy="Never",
        container={
            "args": ['echo "$GREETING from $(pwd) as $(id -u)"; exit 3'],
            "env": [{"name": "GREETING", "value": "hello"}],
            "workingDir": "/usr",
            "securityContext": {"runAsUser": 1234},
        },
    )
    name = create(core, namespace, manifest)
    pod = wait_pod(core, namespace, name, lambda p: p.status.phase == "Failed", "failed (exit 3, restartPolicy Never)")
    term = pod.status.container_statuses[0].state.terminated
    assert term.exit_code == 3
    assert term.reason == "Error"
    assert core.read_namespaced_pod_log(name, namespace) == "hello from /usr as 1234\n"


def test_restart_policy_always_restarts_with_backoff(core, namespace):
    name = create(core, namespace, pod_manifest("crash", "busybox", ["sh", "-c", "echo once; exit 1"]))

    def restarted(pod):
        cs = (pod.status.container_statuses or [None])[0]
        return cs is not None and cs.restart_count >= 1 and cs.last_state.terminated is not None

    pod = wait_pod(core, namespace, name, restarted, "restarted")
    assert pod.status.container_statuses[0].last_state.terminated.exit_code == 1
    pod = wait_pod(
        core,
        namespace,
        name,
        lambda p: (
            (p.status.container_statuses[0].state.waiting or client.V1ContainerStateWaiting()).reason
            == "CrashLoopBackOff"
        ),
        "went into CrashLoopBackOff",
    )
    assert pod.status.phase == "Running"


def test_succeeded_pod_with_restart_policy_never(core, namespace):
    name = create(core, namespace, pod_manifest("done", "busybox", ["true"], restartPolicy="Never"))
    pod = wait_pod(core, namespace, name, lambda p: p.status.phase == "Succeeded", "succeeded")
    assert pod.status.container_statuses[0].state.terminated.reason == "Completed"


def test_deleting_a_pod_kills_its_processes_and_removes_its_namespace(core, namespace, node):
    before = lab_node.leftovers(node.lab_id)
    run_ready(core, namespace, pod_manifest("gone", "busybox", ["sh", "-c", "sleep 3600 & sleep 3600"]))
    during = lab_node.leftovers(node.lab_id)
    added = set(during["namespaces"]) - set(before["namespaces"])
    assert len(added) == 1, during
    assert len(set(during["pids"]) - set(before["pids"])) >= 3, during  # pause, sh, two sleeps
    core.delete_namespaced_pod("gone", namespace)
    deadline = time.monotonic() + WAIT
    while True:
        try:
            core.read_namespaced_pod("gone", namespace)
        except ApiException as exc:
            if exc.status != 404:
                raise
            break
        assert time.monotonic() < deadline, "the deleted pod never left the API"
        time.sleep(0.3)
    # The node tears the pod down in the background once the API server has let go of it.
    while True:
        after = lab_node.leftovers(node.lab_id)
        if not set(after["namespaces"]) & added and set(after["pids"]) <= set(before["pids"]):
            break
        assert time.monotonic() < deadline, f"the pod's namespace or processes are still there: {after}"
        time.sleep(0.3)


def test_node_addresses_internal_on_the_pod_network_kubelet_on_loopback(core, cp_info, node):
    """InternalIP is the node's address inside the lab's network (the bridge in the node namespace), as
    kube-proxy and kube-router expect; the API server reaches the kubelet API through ExternalIP
    127.0.0.1 (exec and logs work: the other tests)."""
    addresses = {a.type: a.address for a in core.read_node(cp_info["node"]["name"]).status.addresses}
    assert addresses == {"InternalIP": node.info["gateway"], "ExternalIP": "127.0.0.1", "Hostname": node.info["node"]}
    assert node.info["gateway"].startswith("10.244.")


def test_kubelet_api_listens_on_loopback_only(node):
    out = subprocess.run(["ss", "-Hltnp"], capture_output=True, text=True, check=True).stdout
    mine = [line for line in out.splitlines() if f"pid={node.proc.pid}," in line]
    assert mine, out
    for line in mine:
        assert line.split()[3].startswith("127.0.0.1:"), line


def test_zz_stopping_the_node_leaves_nothing(node, host_links):
    assert node.proc is not None
    netns = node.info["node_netns"]
    assert Path("/run/netns", netns).exists()
    left = node.stop()
    assert left == {"namespaces": [], "pids": []}
    assert not [n for n in os.listdir("/run/netns") if n.startswith(node.info["netns_prefix"])]
    assert _host_links() <= host_links, "the node added network interfaces to the host"
