"""Run real `ansible-playbook` processes against the test doubles."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ANSIBLE_PLAYBOOK = Path(sys.executable).with_name("ansible-playbook")


@dataclass
class PlaybookRun:
    rc: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def task_results(self) -> list[dict]:
        """Per-task results from the JSON callback (when json=True was asked)."""
        data = json.loads(self.stdout)
        results = []
        for play in data["plays"]:
            for task in play["tasks"]:
                for host_result in task["hosts"].values():
                    results.append({"task": task["task"]["name"], **host_result})
        return results

    def result(self, task_name: str) -> dict:
        matches = [r for r in self.task_results() if r["task"] == task_name]
        assert matches, f"no task named {task_name!r} ran; output:\n{self.output}"
        return matches[-1]


@pytest.fixture
def ansible_playbook(tmp_path):
    """Return a runner: ansible_playbook(playbook, env={...}, extra_vars={...}, check=False, json=True)."""

    def run(
        playbook: str | Path,
        *,
        env: dict[str, str] | None = None,
        extra_vars: dict | None = None,
        check: bool = False,
        diff: bool = False,
        json_output: bool = True,
        tags: str | None = None,
        verbosity: int = 0,
    ) -> PlaybookRun:
        cmd = [str(ANSIBLE_PLAYBOOK), str(playbook)]
        if extra_vars:
            cmd += ["-e", json.dumps(extra_vars)]
        if check:
            cmd.append("--check")
        if diff:
            cmd.append("--diff")
        if tags:
            cmd += ["--tags", tags]
        if verbosity:
            cmd.append("-" + "v" * verbosity)
        home = tmp_path / "home"
        home.mkdir(exist_ok=True)
        run_env = {
            **os.environ,
            # Nothing a playbook writes by default (~/.kube/netpol-aks, ~/.ansible) lands in the real home.
            "HOME": str(home),
            "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
            "ANSIBLE_LOCAL_TEMP": str(tmp_path / "ansible-local"),
            "ANSIBLE_REMOTE_TEMP": str(tmp_path / "ansible-remote"),
            # kubernetes.core caches discovery per server URL in TMPDIR: keep each test's own.
            "TMPDIR": str(tmp_path),
            "ANSIBLE_NOCOLOR": "1",
            **(env or {}),
        }
        if json_output:
            run_env["ANSIBLE_STDOUT_CALLBACK"] = "ansible.posix.json"
        proc = subprocess.run(cmd, cwd=ROOT, env=run_env, capture_output=True, text=True, timeout=900, check=False)
        return PlaybookRun(proc.returncode, proc.stdout, proc.stderr)

    return run
