# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Run the Azure double in the foreground: python -m tests.fakes.azure --state-dir DIR [--kube-info FILE].

When ready it writes DIR/info.json = {"url", "pid", "env": {...}, ...} (the lab's contract, see
tests/lab/local_lab.py) and serves until SIGTERM/SIGINT, then removes info.json.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from pathlib import Path

from tests.fakes.azure.server import FakeAzure


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fakes.azure", description=__doc__)
    parser.add_argument("--state-dir", required=True, type=Path, help="where ca.pem and info.json are written")
    parser.add_argument(
        "--kube-info", type=Path, help="the lab's Kubernetes facts (url, ca_file, token, enforcement) for kubeconfigs"
    )
    args = parser.parse_args(argv)

    kube_info = None
    if args.kube_info is not None:
        if not args.kube_info.is_file():
            parser.error(f"--kube-info {args.kube_info}: no such file (start the lab's Kubernetes first)")
        kube_info = json.loads(args.kube_info.read_text())

    fake = FakeAzure(args.state_dir, kube_info=kube_info).start()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())

    info_file = args.state_dir / "info.json"
    info = {**fake.info(), "pid": os.getpid(), "env": fake.env()}
    tmp = info_file.with_suffix(".tmp")
    tmp.touch(mode=0o600)  # it holds the service principal's secret
    tmp.write_text(json.dumps(info, indent=2) + "\n")
    tmp.replace(info_file)
    print(f"SIMULATED Azure (Entra ID + ARM test double) listening on {fake.url}", flush=True)
    try:
        stop.wait()
    finally:
        fake.stop()
        info_file.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
