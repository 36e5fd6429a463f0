"""`NETPOL_LAB_KUBE=real`: `make lab-up` (python -m tests.fakes.lab up) starts the real control plane
in the Kubernetes double's place, the Azure double's kubeconfigs point at it, and `lab down` leaves
nothing running."""

from __future__ import annotations

import json
import os
import ssl
import urllib.request
from pathlib import Path

import pytest

from tests.fakes import lab
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


def test_lab_up_with_the_real_control_plane(tmp_path, monkeypatch, capsys):
    missing = [str(p) for p in paths.control_plane_binaries().values() if not os.access(p, os.X_OK)]
    if missing:
        pytest.fail(f"the lab's Kubernetes binaries are not built ({', '.join(missing)}): run `make lab-build`")
    monkeypatch.setenv("NETPOL_LAB_KUBE", "real")
    monkeypatch.setattr(lab, "LAB", tmp_path / ".lab")
    monkeypatch.setattr(lab, "ENV_FILE", tmp_path / ".lab" / "env")
    kube_info: dict = {}
    try:
        assert lab.main(["up"]) == 0
        assert "REAL Kubernetes control plane" in capsys.readouterr().out
        kube_info = json.loads((tmp_path / ".lab" / "kube" / "info.json").read_text())
        assert kube_info["kind"] == "real"
        env = json.loads((tmp_path / ".lab" / "env.json").read_text())
        assert env["KUBECONFIG"] == kube_info["kubeconfig"] == str(tmp_path / ".lab" / "kube" / "admin.kubeconfig")
        assert env["NETPOL_LAB_KUBE_URL"] == kube_info["url"]
        version = _get(f"{kube_info['url']}/version", kube_info["ca_file"], kube_info["token"])
        assert version["gitVersion"] == paths.versions()["KUBERNETES_VERSION"]
        # The simulated AKS hands out kubeconfigs for this API server (with the token of info.json,
        # which the API server accepts).
        azure = json.loads((tmp_path / ".lab" / "azure" / "info.json").read_text())
        seen = _get(f"{azure['url']}/_fake/info", azure["ca_file"])
        assert (seen["kube"]["url"], seen["kube"]["ca_file"]) == (kube_info["url"], kube_info["ca_file"])
        namespaces = _get(f"{kube_info['url']}/api/v1/namespaces", kube_info["ca_file"], kube_info["token"])
        assert {"default", "kube-system"} <= {item["metadata"]["name"] for item in namespaces["items"]}
    finally:
        assert lab.main(["down"]) == 0
    assert not (tmp_path / ".lab").exists()
    assert kube_info, "the lab did not come up"
    assert not lab._alive(kube_info["pid"])
    for name, pid in kube_info["pids"].items():
        assert not Path(f"/proc/{pid}").exists(), f"{name} (pid {pid}) outlived lab down"
    for name, port in kube_info["ports"].items():
        assert not port_open(port), f"port {port} ({name}) still open after lab down"
