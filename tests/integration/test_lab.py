"""The local lab (tests/fakes/lab.py) and `make demo` (scripts/demo.sh) around it."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

import pytest

from tests.fakes import lab
from tests.integration.conftest import ROOT


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def azure_lab(tmp_path, monkeypatch):
    """lab.py on a state directory of the test's own, with the Azure double only (fast)."""
    monkeypatch.setattr(lab, "LAB", tmp_path / ".lab")
    monkeypatch.setattr(lab, "ENV_FILE", tmp_path / ".lab" / "env")
    monkeypatch.setattr(lab, "_doubles", lambda: [("azure", [])])
    yield tmp_path / ".lab"
    lab.main(["down"])


def test_files_holding_secrets_are_private(azure_lab, capsys):
    assert lab.main(["up"]) == 0
    # The doubles' credentials (client secret, tokens) are in env, env.json and info.json.
    assert "AZURE_CLIENT_SECRET" in (azure_lab / "env").read_text()
    assert mode(azure_lab) == 0o700
    assert mode(azure_lab / "azure") == 0o700
    for name in ("env", "env.json", "azure/info.json", "azure/log"):
        assert mode(azure_lab / name) == 0o600, name
    # Whatever else the double wrote (its CA, the CA bundle) is its owner's only too: it ran with umask 077.
    for path in (azure_lab / "azure").iterdir():
        assert mode(path) & 0o077 == 0, path


def test_status_says_up_or_down_in_its_exit_code(azure_lab):
    assert lab.main(["status"]) == lab.DOWN
    assert lab.main(["up"]) == 0
    assert lab.main(["status"]) == 0
    assert lab.main(["down"]) == 0
    assert lab.main(["status"]) == lab.DOWN


def test_down_says_how_to_forget_the_environment(azure_lab, capsys):
    assert lab.main(["up"]) == 0
    exported = sorted(json.loads((azure_lab / "env.json").read_text()))
    capsys.readouterr()
    assert lab.main(["down"]) == 0
    out = capsys.readouterr().out
    assert "open a new shell, or run" in out
    assert f"unset {' '.join(exported)}" in out
    assert "AZURE_SUBSCRIPTION_ID" in exported
    assert "NETPOL_LAB_DIR" in exported


def run_lab(command: str, state: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tests.fakes.lab", command],
        cwd=ROOT,
        env={**os.environ, "NETPOL_LAB_STATE_DIR": state},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def run_demo_sh(state: str, home) -> subprocess.CompletedProcess:
    """`make demo` with only step 1 (fast), on the lab in ``state``."""
    return subprocess.run(
        ["bash", str(ROOT / "scripts" / "demo.sh"), "--tags", "feature"],
        cwd=ROOT,
        env={**os.environ, "NETPOL_LAB_STATE_DIR": state, "HOME": str(home), "ANSIBLE_NOCOLOR": "1"},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_make_demo_reuses_a_running_lab_and_leaves_it_up(tmp_path):
    state = str(tmp_path / ".lab")
    up = run_lab("up", state)
    assert up.returncode == 0, up.stdout + up.stderr
    try:
        pids = {
            name: json.loads((tmp_path / ".lab" / name / "info.json").read_text())["pid"] for name in ("kube", "azure")
        }
        demo = run_demo_sh(state, tmp_path)
        assert demo.returncode == 0, demo.stdout + demo.stderr
        assert "Using the lab that is already up" in demo.stdout
        assert run_lab("status", state).returncode == 0
        for name, pid in pids.items():
            assert json.loads((tmp_path / ".lab" / name / "info.json").read_text())["pid"] == pid
    finally:
        run_lab("down", state)


def test_make_demo_without_a_lab_starts_one_and_stops_it(tmp_path):
    state = str(tmp_path / ".lab")
    demo = run_demo_sh(state, tmp_path)
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert "The lab is up" in demo.stdout
    status = run_lab("status", state)
    assert status.returncode == lab.DOWN, status.stdout
    assert not (tmp_path / ".lab").exists()
