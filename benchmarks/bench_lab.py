# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Measure the real lab's build and control plane (figures are printed, not asserted).

.venv/bin/python benchmarks/bench_lab.py            # warm build + control-plane start
.venv/bin/python benchmarks/bench_lab.py --cold     # also a cold build: empty Go build cache and
                                                    # lab cache in temporary directories (long)

`make lab-build` cold: the time the cached build recorded when it was made (tests/lab/build/build.sh
writes it next to the binaries), and with --cold a fresh measurement. Warm: `make lab-build` with the
binaries in the cache. Start: tests/lab/control_plane.py from nothing (TLS, etcd, API server
/readyz, controller-manager and scheduler, the default ServiceAccount) to ready, three times.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.lab import paths  # noqa: E402
from tests.lab.control_plane import ControlPlane  # noqa: E402


def make_lab_build(env: dict[str, str] | None = None) -> float:
    began = time.monotonic()
    subprocess.run(["make", "--no-print-directory", "lab-build"], cwd=ROOT, check=True, env=env)
    return time.monotonic() - began


def recorded_builds() -> None:
    pins = paths.versions()
    for component, version in (("etcd", pins["ETCD_VERSION"]), ("kubernetes", pins["KUBERNETES_VERSION"])):
        record = paths.component_bin(component, version).parent / "build-seconds"
        try:
            seconds, when, packages = record.read_text().split()
        except (OSError, ValueError):
            print(f"  {component} {version}: no build record ({record})")
            continue
        print(f"  {component} {version}: built in {int(seconds) / 60:.1f} min on {when} ({packages} packages compiled)")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cold", action="store_true", help="also time a build with empty Go and lab caches")
    parser.add_argument("--starts", type=int, default=3, help="control-plane starts to time (default 3)")
    args = parser.parse_args()

    print("make lab-build, as recorded by the build that filled the cache:")
    recorded_builds()
    if args.cold:
        with tempfile.TemporaryDirectory() as gocache, tempfile.TemporaryDirectory() as labcache:
            env = {**os.environ, "GOCACHE": gocache, "NETPOL_LAB_CACHE": labcache}
            print(
                f"make lab-build, cold (empty Go build cache and lab cache; modules from GOMODCACHE): {make_lab_build(env):.0f} s"
            )
    warm = [make_lab_build() for _run in range(3)]
    print(f"make lab-build, warm (binaries cached): median {statistics.median(warm):.2f} s over {len(warm)} runs")

    times = []
    for _start in range(args.starts):
        with tempfile.TemporaryDirectory() as state:
            began = time.monotonic()
            plane = ControlPlane(Path(state) / "cp")
            plane.start()
            times.append(time.monotonic() - began)
            plane.stop()
    print(
        f"control plane start to ready: median {statistics.median(times):.1f} s, "
        f"min {min(times):.1f} s, max {max(times):.1f} s over {len(times)} starts"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
