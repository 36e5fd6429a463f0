# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Measure the walkthrough's steps 2-4 (network, cluster, credentials) against the Azure double.

.venv/bin/python benchmarks/bench_vnet_aks_steps.py

For each poll interval (the modules' ``poll_interval``, used when Azure sends no usable Retry-After,
as the double does), the steps run twice on a fresh double: the first run creates everything, the
second changes nothing. Printed: wall time per run, ARM requests, PUTs and long-running-operation
polls. Figures are printed, not asserted. The double listens on 127.0.0.1 and is stopped at the end.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fakes.azure.server import FakeAzure  # noqa: E402

PLAY = """---
- name: Bench steps 2-4
  hosts: localhost
  gather_facts: false
  vars:
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
  tasks:
    - name: Step 2
      ansible.builtin.import_tasks: %(steps)s/network.yml
    - name: Step 3
      ansible.builtin.import_tasks: %(steps)s/cluster.yml
    - name: Step 4
      ansible.builtin.import_tasks: %(steps)s/credentials.yml
"""


def run(fake: FakeAzure, playbook: Path, extra: dict) -> tuple[float, int]:
    env = {**os.environ, **fake.env(), "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"}
    start = time.monotonic()
    proc = subprocess.run(
        [str(Path(sys.executable).with_name("ansible-playbook")), str(playbook), "-e", json.dumps(extra)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    return time.monotonic() - start, proc.returncode


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="bench-vnet-aks-") as scratch:
        tmp = Path(scratch)
        playbook = tmp / "steps.yml"
        playbook.write_text(PLAY % {"steps": ROOT / "playbooks" / "steps"})
        print(
            f"{'poll_interval':>13} {'run':>6} {'seconds':>8} {'rc':>3} {'ARM requests':>13} {'PUTs':>5} {'LRO polls':>10}"
        )
        for interval in (0, 1, 5):
            fake = FakeAzure(tmp / f"double-{interval}").start()
            try:
                extra = {
                    "vnet_poll_interval": interval,
                    "aks_poll_interval": interval,
                    "aks_kubeconfig_path": str(tmp / f"kubeconfig-{interval}"),
                }
                for label in ("first", "second"):
                    before = len(fake.log)
                    seconds, rc = run(fake, playbook, extra)
                    log = [r for r in fake.log[before:] if r["path"].startswith("/subscriptions/")]
                    puts = sum(1 for r in log if r["method"] == "PUT")
                    polls = sum(1 for r in log if "/operations/" in r["path"])
                    print(f"{interval:>13} {label:>6} {seconds:>8.1f} {rc:>3} {len(log):>13} {puts:>5} {polls:>10}")
            finally:
                fake.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
