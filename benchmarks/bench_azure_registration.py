# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Measure the Azure double and the registration modules (figures are printed, not asserted).

.venv/bin/python benchmarks/bench_azure_registration.py
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fakes.azure.server import FakeAzure  # noqa: E402

PLAYBOOK = """---
- name: Bench
  hosts: localhost
  gather_facts: false
  vars:
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
  tasks:
    - name: Register the feature
      netpol.aks.feature_registration:
        name: Microsoft.ContainerService/EnableNetworkPolicy
        poll_interval: 0
    - name: Register the provider
      netpol.aks.provider_registration:
        name: Microsoft.Network
        poll_interval: 0
"""


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        startups = []
        for _unused in range(3):
            seconds, fake = timed(lambda: FakeAzure(Path(tmp) / f"d{len(startups)}").start())
            startups.append(seconds)
            fake.stop()
        print(f"double start (new CA + certificate + server): median {statistics.median(startups) * 1000:.0f} ms")

        fake = FakeAzure(Path(tmp) / "bench").start()
        os.environ["REQUESTS_CA_BUNDLE"] = str(fake.ca_bundle)
        from azure.identity import ClientSecretCredential
        from azure.mgmt.resource.features import FeatureClient

        cred = ClientSecretCredential(
            fake.identity.tenant_id,
            fake.identity.client_id,
            fake.identity.client_secret,
            authority=fake.url,
            disable_instance_discovery=True,
        )
        client = FeatureClient(
            cred, fake.state.subscription_id, base_url=fake.url, credential_scopes=[f"{fake.url}/.default"]
        )
        first, _unused = timed(lambda: client.features.get("Microsoft.ContainerService", "EnableNetworkPolicy"))
        gets = [
            timed(lambda: client.features.get("Microsoft.ContainerService", "AKS-GitOps"))[0] for _unused in range(50)
        ]
        print(f"SDK first call (OIDC discovery + token + GET): {first * 1000:.0f} ms")
        print(f"SDK GET feature, token cached: median {statistics.median(gets) * 1000:.1f} ms over {len(gets)}")

        fake.add_fault({"fault": "429", "path": "*/features/AKS-GitOps", "retry_after": "1"})
        throttled, _unused = timed(lambda: client.features.get("Microsoft.ContainerService", "AKS-GitOps"))
        print(f"SDK GET answered 429 Retry-After: 1, then 200: {throttled:.2f} s (azure-core honoured the header)")

        playbook = Path(tmp) / "bench.yml"
        playbook.write_text(PLAYBOOK)
        env = {**os.environ, **fake.env(), "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg")}
        runs = []
        for label in ("apply (register, 3 polls, propagate)", "again (idempotent, GETs only)"):
            before = len(fake.log)
            seconds, proc = timed(
                lambda: subprocess.run(
                    [str(Path(sys.executable).with_name("ansible-playbook")), str(playbook)],
                    cwd=ROOT,
                    env=env,
                    capture_output=True,
                    text=True,
                    check=False,
                )
            )
            if proc.returncode != 0:
                print(proc.stdout[-2000:], proc.stderr[-2000:])
                return 1
            runs.append(seconds)
            print(f"ansible-playbook, 2 tasks, {label}: {seconds:.2f} s, {len(fake.log) - before} HTTP requests")
        fake.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
