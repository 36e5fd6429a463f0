# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""`python -m tests.fakes.kube --state-dir DIR` and the raw exec websocket protocols."""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

import kubernetes
import pytest
import websocket
import yaml

from tests.unit.fakes.kube.kube_helpers import NS

ROOT = Path(__file__).resolve().parents[4]


def test_foreground_entry_point_writes_info_and_kubeconfig_and_stops_on_sigterm(tmp_path):
    state = tmp_path / "kube"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "tests.fakes.kube", "--state-dir", str(state)], cwd=ROOT, env=env)
    try:
        deadline = time.monotonic() + 30
        while not (state / "info.json").exists():
            assert proc.poll() is None, "the double exited before it was ready"
            assert time.monotonic() < deadline, "no info.json within 30 s"
            time.sleep(0.05)
        info = json.loads((state / "info.json").read_text())
        assert info["pid"] == proc.pid
        assert info["url"].startswith("https://127.0.0.1:")
        assert info["kubeconfig"] == str(state / "kubeconfig")
        assert info["env"] == {
            "KUBECONFIG": str(state / "kubeconfig"),
            "NETPOL_LAB_KUBE_URL": info["url"],
            "K8S_AUTH_KUBECONFIG": str(state / "kubeconfig"),
        }
        config = yaml.safe_load((state / "kubeconfig").read_text())
        assert config["current-context"] == "netpol-lab"
        assert config["clusters"][0]["cluster"]["server"] == info["url"]
        assert config["clusters"][0]["cluster"]["certificate-authority-data"]
        assert config["users"][0]["user"]["token"] == info["token"]
        configuration = kubernetes.client.Configuration()
        kubernetes.config.load_kube_config(config_file=info["kubeconfig"], client_configuration=configuration)
        core = kubernetes.client.CoreV1Api(kubernetes.client.ApiClient(configuration))
        assert "default" in [n.metadata.name for n in core.list_namespace().items]
    finally:
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(30)
    assert rc == 0
    assert not (state / "info.json").exists()


@pytest.fixture
def running_pod(cluster):
    cluster.namespace()
    cluster.pod("p")
    cluster.ready("p")
    return cluster


def _connect(cluster, protocols: list[str], command: list[str], stdin: bool = False):
    query = urlencode(
        [("command", c) for c in command] + [("stdout", "true"), ("stderr", "true"), ("stdin", str(stdin).lower())]
    )
    url = cluster.double.url.replace("https://", "wss://") + f"/api/v1/namespaces/{NS}/pods/p/exec?{query}"
    return websocket.create_connection(
        url,
        header=[f"Authorization: Bearer {cluster.double.token}"],
        subprotocols=protocols,
        sslopt={"cert_reqs": ssl.CERT_REQUIRED, "ca_certs": str(cluster.double.ca_file)},
    )


def _frames(ws) -> list[tuple[int, bytes]]:
    frames = []
    while True:
        try:
            opcode, data = ws.recv_data()
        except websocket.WebSocketConnectionClosedException:
            break
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            break
        frames.append((data[0], data[1:]))
    return frames


@pytest.mark.parametrize("protocol", ["v5.channel.k8s.io", "v4.channel.k8s.io"])
def test_exec_channels_and_status(running_pod, protocol):
    ws = _connect(running_pod, [protocol], ["sh", "-c", "echo out; cat /nope"])
    assert ws.getsubprotocol() == protocol
    frames = _frames(ws)
    assert (1, b"out\n") in frames
    assert (2, b"cat: can't open '/nope': No such file or directory\n") in frames
    status = json.loads(next(data for channel, data in frames if channel == 3))
    assert status["status"] == "Failure"
    assert status["reason"] == "NonZeroExitCode"
    assert status["details"]["causes"] == [{"reason": "ExitCode", "message": "1"}]


def test_v5_close_signal_ends_stdin(running_pod):
    ws = _connect(running_pod, ["v5.channel.k8s.io"], ["cat"], stdin=True)
    ws.send_binary(b"\x00hello\n")
    ws.send_binary(bytes([255, 0]))  # v5 CLOSE for channel 0 (stdin)
    frames = _frames(ws)
    assert (1, b"hello\n") in frames
    assert json.loads(next(data for channel, data in frames if channel == 3)) == {"metadata": {}, "status": "Success"}
