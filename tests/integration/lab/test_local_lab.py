"""The local lab's launcher (`make lab-up`, `make lab-down`: python -m tests.lab up|down|status) and
`make demo` (scripts/demo.sh) around it: one lab started for the module, detached from its caller, the
Azure double linked to it, a part that dies takes the lab down, and `down` leaves nothing behind."""

from __future__ import annotations

import json
import os
import signal
import ssl
import stat
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.fakes.azure import kube_link
from tests.lab import lab_net
from tests.lab import launcher
from tests.lab import local_lab
from tests.lab import paths
from tests.lab.control_plane import port_open

pytestmark = pytest.mark.xdist_group("lab-control-plane")
ROOT = paths.ROOT


def _get(url: str, ca_file: str, token: str = "") -> dict:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    with urllib.request.urlopen(request, context=ssl.create_default_context(cafile=ca_file), timeout=10) as response:
        return json.loads(response.read())


def _netns() -> set[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


def _links() -> set[str]:
    out = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True, check=True).stdout
    return {line.split(":")[1].strip().split("@")[0] for line in out.splitlines()}


def _ancestors(pid: int) -> list[int]:
    found = []
    while pid > 1:
        pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        found.append(pid)
    return found


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _run(capsys, *args: str) -> tuple[int, str]:
    capsys.readouterr()
    code = local_lab.main(list(args))
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def _cli(command: str, state: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tests.lab", command],
        cwd=ROOT,
        env={**os.environ, "NETPOL_LAB_STATE_DIR": str(state)},
        capture_output=True,
        text=True,
        timeout=local_lab.START_TIMEOUT,
        check=False,
    )


def _demo_sh(state: Path, home: Path) -> subprocess.CompletedProcess:
    """`make demo` with only step 1 (fast), on the lab in ``state``, with a home of its own (the lab's
    build cache stays where it is)."""
    env = {**os.environ, "NETPOL_LAB_STATE_DIR": str(state), "HOME": str(home), "ANSIBLE_NOCOLOR": "1"}
    env["NETPOL_LAB_CACHE"] = str(paths.cache_root())
    return subprocess.run(
        ["bash", str(ROOT / "scripts" / "demo.sh"), "--tags", "feature"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


# -- without a lab ----------------------------------------------------------------------------------------


def test_usage():
    assert local_lab.main(["sideways"]) == 2
    assert local_lab.main(["up", "now"]) == 2


def test_up_without_root_says_so_and_starts_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(local_lab, "LAB", tmp_path / ".lab")
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    code, out = _run(capsys, "up")
    assert code == 1
    assert "the lab needs root (network namespaces, iptables)" in out
    assert "Nothing was started" in out
    assert not (tmp_path / ".lab").exists()


def test_up_without_the_build_says_make_lab_build_and_starts_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(local_lab, "LAB", tmp_path / ".lab")
    monkeypatch.setenv("NETPOL_LAB_CACHE", str(tmp_path / "empty-cache"))
    code, out = _run(capsys, "up")
    assert code == 1
    assert "the lab is not built" in out
    assert str(tmp_path / "empty-cache" / "kubernetes-") in out
    assert "run `make lab-build`" in out
    assert not (tmp_path / ".lab").exists()


def test_status_and_down_without_a_lab(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(local_lab, "LAB", tmp_path / ".lab")
    code, out = _run(capsys, "status")
    assert code == local_lab.DOWN
    assert "The lab is down." in out
    code, out = _run(capsys, "down")
    assert code == 0
    assert "stopped: nothing was running" in out
    assert "unset" not in out


# -- one lab for the tests below, in their order ----------------------------------------------------------


@pytest.fixture(scope="module")
def lab_dir(tmp_path_factory):
    """`lab up` on a state directory of the module's own (the tests below share it, in order)."""
    missing = local_lab.missing()
    if missing:
        pytest.fail("; ".join(missing), pytrace=False)
    state = tmp_path_factory.mktemp("local-lab") / ".lab"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(local_lab, "LAB", state)
        yield state
        local_lab.main(["down"])


@pytest.fixture(scope="module")
def host_before():
    """The host's links and iptables rules before the lab (it must add none)."""
    return _links(), lab_net.ruleset(None)


@pytest.fixture(scope="module")
def infos(lab_dir, host_before):
    assert local_lab.main(["up"]) == 0
    return {name: json.loads((lab_dir / name / "info.json").read_text()) for name in local_lab.PARTS}


def test_up_starts_the_real_lab_and_the_azure_double_linked_to_it(lab_dir, infos, capsys):
    kube = infos["kube"]
    assert kube["kind"] == "real"
    version = _get(f"{kube['url']}/version", kube["ca_file"], kube["token"])
    assert version["gitVersion"] == paths.versions()["KUBERNETES_VERSION"]
    node = _get(f"{kube['url']}/api/v1/nodes/{kube['node']['name']}", kube["ca_file"], kube["token"])
    assert any(c["type"] == "Ready" and c["status"] == "True" for c in node["status"]["conditions"])
    lab_id = (lab_dir / "lab-id").read_text().strip()
    assert infos["node"]["node_netns"] == f"netpol-lab-{lab_id}-node"
    assert infos["node"]["node_netns"] in _netns()
    assert set(infos["net"]["pids"]) == {"kube-proxy", "coredns", "kube-router"}
    # One env file for both: the API server's kubeconfig and the simulated Azure's variables.
    env = json.loads((lab_dir / "env.json").read_text())
    assert env["KUBECONFIG"] == kube["kubeconfig"] == str(lab_dir / "kube" / "admin.kubeconfig")
    assert env["NETPOL_LAB_KUBE_URL"] == kube["url"]
    assert env["NETPOL_LAB_AZURE_URL"] == infos["azure"]["url"]
    assert env["NETPOL_LAB_DIR"] == str(lab_dir)
    env_lines = (lab_dir / "env").read_text().splitlines()
    assert f"export NETPOL_LAB_AZURE_URL={infos['azure']['url']}" in env_lines
    assert any(line.startswith("export AZURE_SUBSCRIPTION_ID=") for line in env_lines)
    assert any(line.startswith("export REQUESTS_CA_BUNDLE=") for line in env_lines)
    assert "REAL Kubernetes lab" in env_lines[0]
    assert "SIMULATED Azure" in env_lines[0]
    # The simulated AKS hands out kubeconfigs for this API server, and switches this lab's enforcement.
    seen = _get(f"{infos['azure']['url']}/_fake/info", infos["azure"]["ca_file"])
    assert (seen["kube"]["url"], seen["kube"]["ca_file"]) == (kube["url"], kube["ca_file"])
    assert seen["kube"]["enforcement"] == {"url": infos["net"]["enforcement_url"]}
    # Detached from the process that ran `up`: the supervisor is no child of ours, the parts are its.
    supervisor = int((lab_dir / "pid").read_text())
    assert json.loads((lab_dir / "info.json").read_text())["pid"] == supervisor
    assert os.getsid(supervisor) == supervisor
    assert os.getsid(supervisor) != os.getsid(0)
    for name in local_lab.PARTS:
        assert supervisor in _ancestors(infos[name]["pid"]), name


def test_files_holding_secrets_are_private(lab_dir, infos):
    assert "AZURE_CLIENT_SECRET" in (lab_dir / "env").read_text()
    assert _mode(lab_dir) == 0o700
    for name in local_lab.PARTS:
        assert _mode(lab_dir / name) == 0o700, name
    for name in ("env", "env.json", "info.json", "log", "kube-link.json", "azure/info.json", "azure/log"):
        assert _mode(lab_dir / name) == 0o600, name
    # Whatever else the Azure double and the control plane wrote (CA, tokens, kubeconfigs) is their owner's only.
    for path in [*(lab_dir / "azure").iterdir(), *(lab_dir / "kube").iterdir()]:
        assert _mode(path) & 0o077 == 0, path


def test_status_says_each_part_is_up_and_up_again_does_nothing(lab_dir, infos, capsys):
    code, out = _run(capsys, "status")
    assert code == 0, out
    lines = out.splitlines()
    assert [line.split()[:2] for line in lines[:4]] == [["kube", "up"], ["node", "up"], ["net", "up"], ["azure", "up"]]
    assert infos["azure"]["url"] in out
    assert "kube-router (enforcing NetworkPolicy)" in out
    code, out = _run(capsys, "up")
    assert code == 0
    assert "already up" in out
    for name in local_lab.PARTS:
        assert json.loads((lab_dir / name / "info.json").read_text())["pid"] == infos[name]["pid"]


def test_a_cluster_written_with_network_policy_none_stops_enforcement(lab_dir, infos, capsys):
    link = json.loads((lab_dir / "kube-link.json").read_text())
    netns = infos["node"]["node_netns"]
    net_info = lab_dir / "net" / "info.json"

    def enforcing() -> tuple[bool, bool]:
        rules = lab_net.netns_run(netns, ["iptables-save", "-t", "filter"]).stdout
        return json.loads(net_info.read_text())["enforces_network_policy"], "KUBE-ROUTER-FORWARD" in rules

    assert enforcing() == (True, True)
    try:
        kube_link.follow_network_policy(link, {"properties": {"networkProfile": {"networkPolicy": "none"}}})
        assert enforcing() == (False, False)
        assert lab_net.ruleset(netns)["ipset"] == []
        assert "kube-system/kube-dns:dns cluster IP" in lab_net.netns_run(netns, ["iptables-save", "-t", "nat"]).stdout
        code, out = _run(capsys, "status")
        assert code == 0, out
        assert "NOT enforcing NetworkPolicy" in out
    finally:
        kube_link.follow_network_policy(link, {"properties": {"networkProfile": {"networkPolicy": "cilium"}}})
    assert enforcing() == (True, True)


def test_make_demo_reuses_a_running_lab_and_leaves_it_up(lab_dir, infos, tmp_path):
    demo = _demo_sh(lab_dir, tmp_path)
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert "Using the lab that is already up" in demo.stdout
    assert "the cluster is a REAL" in demo.stdout
    assert _cli("status", lab_dir).returncode == 0
    for name in local_lab.PARTS:
        assert json.loads((lab_dir / name / "info.json").read_text())["pid"] == infos[name]["pid"]


def test_a_part_that_dies_takes_the_lab_down_and_down_leaves_nothing(lab_dir, infos, host_before, capsys):
    """The network's launcher is killed: the supervisor stops the other parts and exits, `status` says
    the lab stopped by itself, and `down` removes every process, port, namespace, link and rule."""
    supervisor = int((lab_dir / "pid").read_text())
    lab_id = (lab_dir / "lab-id").read_text().strip()
    exported = sorted(json.loads((lab_dir / "env.json").read_text()))
    os.kill(infos["net"]["pid"], signal.SIGKILL)
    deadline = time.monotonic() + local_lab.STOP_TIMEOUT
    while launcher.alive(supervisor) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not launcher.alive(supervisor), "the supervisor did not stop when a part died"
    assert "lab: net exited; stopping the rest" in (lab_dir / "log").read_text()
    code, out = _run(capsys, "status")
    assert code == local_lab.DOWN, out
    assert [line.split()[:2] for line in out.splitlines()[:4]] == [[name, "down"] for name in local_lab.PARTS]
    assert "The lab stopped by itself" in out, out
    code, out = _run(capsys, "down")
    assert code == 0
    assert "The lab is down" in out
    assert f"unset {' '.join(exported)}" in out
    assert not lab_dir.exists()
    pids = [supervisor, *(info["pid"] for info in infos.values())]
    pids += list(infos["kube"]["pids"].values()) + list(infos["net"]["pids"].values())
    for pid in pids:
        assert not launcher.alive(pid), f"pid {pid} outlived lab down"
    for name, port in infos["kube"]["ports"].items():
        assert not port_open(port), f"port {port} ({name}) still open after lab down"
    assert not port_open(int(infos["net"]["enforcement_url"].split(":")[2].split("/")[0]))
    assert not {n for n in _netns() if n.startswith(f"netpol-lab-{lab_id}-")}
    assert (_links(), lab_net.ruleset(None)) == host_before
    code, out = _run(capsys, "status")
    assert code == local_lab.DOWN
    assert "The lab is down." in out


def test_make_demo_without_a_lab_starts_one_and_stops_it(tmp_path):
    state = tmp_path / ".lab"
    demo = _demo_sh(state, tmp_path)
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert "The lab is up" in demo.stdout
    node_line = next(line for line in demo.stdout.splitlines() if "(netns netpol-lab-" in line)
    lab_id = node_line.split("(netns netpol-lab-")[1].split("-")[0]
    status = _cli("status", state)
    assert status.returncode == local_lab.DOWN, status.stdout
    assert not state.exists()
    assert not {n for n in _netns() if n.startswith(f"netpol-lab-{lab_id}-")}
