"""`NETPOL_LAB_KUBE=real`: `make lab-up` (python -m tests.fakes.lab up) starts the real lab (control
plane, node, Services/DNS/NetworkPolicy) in the Kubernetes double's place, the Azure double's
kubeconfigs point at it and its clusters switch enforcement, and `lab down` leaves nothing behind."""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from tests.fakes import lab
from tests.fakes.azure import kube_link
from tests.lab import lab_net
from tests.lab import paths
from tests.lab.control_plane import port_open

pytestmark = pytest.mark.xdist_group("lab-control-plane")


def _get(url: str, ca_file: str, token: str = "") -> dict:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    with urllib.request.urlopen(request, context=ssl.create_default_context(cafile=ca_file), timeout=10) as response:
        return json.loads(response.read())


def test_unknown_kube_mode_is_refused(monkeypatch):
    monkeypatch.setenv("NETPOL_LAB_KUBE", "kind")
    with pytest.raises(SystemExit, match=r"NETPOL_LAB_KUBE='kind': expected one of double, real"):
        lab.main(["status"])


def _netns() -> set[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


def _links() -> set[str]:
    out = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True, check=True).stdout
    return {line.split(":")[1].strip().split("@")[0] for line in out.splitlines()}


def _status(capsys) -> tuple[int, str]:
    capsys.readouterr()
    code = lab.main(["status"])
    return code, capsys.readouterr().out


def _enforcing(net_info_file: Path, netns: str) -> tuple[bool, bool]:
    """(what the network's info.json says, whether kube-router's chains are in the node namespace)."""
    rules = lab_net.netns_run(netns, ["iptables-save", "-t", "filter"]).stdout
    return json.loads(net_info_file.read_text())["enforces_network_policy"], "KUBE-ROUTER-FORWARD" in rules


def test_lab_up_with_the_real_lab(tmp_path, monkeypatch, capsys):
    """`NETPOL_LAB_KUBE=real lab up` starts the control plane, the node and the lab's network (one lab, one
    env file); the Azure double's clusters switch NetworkPolicy enforcement; `status` tells a lab whose
    network died from one that is up; `lab down` leaves no process, port, namespace, link or rule."""
    missing = [str(p) for p in paths.control_plane_binaries().values() if not os.access(p, os.X_OK)]
    if missing:
        pytest.fail(f"the lab's Kubernetes binaries are not built ({', '.join(missing)}): run `make lab-build`")
    if os.geteuid() != 0:
        pytest.fail("the real lab needs root (network namespaces, iptables); run the lab tests as root")
    monkeypatch.setenv("NETPOL_LAB_KUBE", "real")
    monkeypatch.setattr(lab, "LAB", tmp_path / ".lab")
    monkeypatch.setattr(lab, "ENV_FILE", tmp_path / ".lab" / "env")
    links_before, host_rules = _links(), lab_net.ruleset(None)
    infos: dict = {}
    try:
        assert lab.main(["up"]) == 0
        out = capsys.readouterr().out
        assert "REAL Kubernetes lab" in out
        for name in ("kube", "node", "net", "azure"):
            infos[name] = json.loads((tmp_path / ".lab" / name / "info.json").read_text())
        kube_info = infos["kube"]
        assert kube_info["kind"] == "real"
        env = json.loads((tmp_path / ".lab" / "env.json").read_text())
        assert env["KUBECONFIG"] == kube_info["kubeconfig"] == str(tmp_path / ".lab" / "kube" / "admin.kubeconfig")
        assert env["NETPOL_LAB_KUBE_URL"] == kube_info["url"]
        version = _get(f"{kube_info['url']}/version", kube_info["ca_file"], kube_info["token"])
        assert version["gitVersion"] == paths.versions()["KUBERNETES_VERSION"]
        # The simulated AKS hands out kubeconfigs for this API server (with the token of info.json,
        # which the API server accepts).
        seen = _get(f"{infos['azure']['url']}/_fake/info", infos["azure"]["ca_file"])
        assert (seen["kube"]["url"], seen["kube"]["ca_file"]) == (kube_info["url"], kube_info["ca_file"])
        assert seen["kube"]["enforcement"] == {"url": infos["net"]["enforcement_url"]}
        # The node is registered and Ready; the lab's namespaces carry this lab's id.
        node = _get(
            f"{kube_info['url']}/api/v1/nodes/{kube_info['node']['name']}", kube_info["ca_file"], kube_info["token"]
        )
        assert any(c["type"] == "Ready" and c["status"] == "True" for c in node["status"]["conditions"])
        lab_id = (tmp_path / ".lab" / "lab-id").read_text().strip()
        netns = infos["node"]["node_netns"]
        assert netns == f"netpol-lab-{lab_id}-node"
        assert netns in _netns()
        assert set(infos["net"]["pids"]) == {"kube-proxy", "coredns", "kube-router"}
        code, out = _status(capsys)
        assert code == 0, out
        assert [line.split()[:2] for line in out.splitlines()[:4]] == [
            ["kube", "up"],
            ["node", "up"],
            ["net", "up"],
            ["azure", "up"],
        ]

        # A cluster written with networkPolicy none stops enforcement (kube-router and its rules go,
        # kube-proxy's stay); azure, calico or cilium bring it back. The hook the AKS routes call:
        link = json.loads((tmp_path / ".lab" / "kube-link.json").read_text())
        net_info_file = tmp_path / ".lab" / "net" / "info.json"
        assert _enforcing(net_info_file, netns) == (True, True)
        kube_link.follow_network_policy(link, {"properties": {"networkProfile": {"networkPolicy": "none"}}})
        assert _enforcing(net_info_file, netns) == (False, False)
        assert lab_net.ruleset(netns)["ipset"] == []
        assert "kube-system/kube-dns:dns cluster IP" in lab_net.netns_run(netns, ["iptables-save", "-t", "nat"]).stdout
        code, out = _status(capsys)
        assert code == 0, out
        assert "NOT enforcing NetworkPolicy" in out, out
        kube_link.follow_network_policy(link, {"properties": {"networkProfile": {"networkPolicy": "cilium"}}})
        assert _enforcing(net_info_file, netns) == (True, True)
        infos["net"] = json.loads(net_info_file.read_text())  # kube-router's new pid

        # A network that died is reported: status is not "up".
        os.kill(infos["net"]["pid"], signal.SIGKILL)
        deadline = time.monotonic() + 10
        while lab._alive(infos["net"]["pid"]) and time.monotonic() < deadline:
            time.sleep(0.1)
        code, out = _status(capsys)
        assert code == lab.DOWN, out
        assert "net    down" in out, out
        assert "only partly up" in out, out
        # `down` (and `status`) follow the mode the lab was started in, whatever NETPOL_LAB_KUBE says now.
        monkeypatch.setenv("NETPOL_LAB_KUBE", "double")
    finally:
        assert lab.main(["down"]) == 0
    assert "stopped: azure, node, kube" in capsys.readouterr().out
    assert not (tmp_path / ".lab").exists()
    assert infos, "the lab did not come up"
    pids = [info["pid"] for info in infos.values()]
    pids += list(infos["kube"]["pids"].values()) + list(infos["net"]["pids"].values())
    for pid in pids:
        assert not lab._alive(pid), f"pid {pid} outlived lab down"
    for name, port in infos["kube"]["ports"].items():
        assert not port_open(port), f"port {port} ({name}) still open after lab down"
    assert not port_open(int(infos["net"]["enforcement_url"].split(":")[2].split("/")[0]))
    assert not {n for n in _netns() if n.startswith(f"netpol-lab-{lab_id}-")}
    assert _links() == links_before
    assert lab_net.ruleset(None) == host_rules
    code, out = _status(capsys)
    assert code == lab.DOWN
    assert "The lab is down." in out
