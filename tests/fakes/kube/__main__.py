# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""`python -m tests.fakes.kube --state-dir DIR`: run the double in the foreground until SIGTERM/SIGINT.

When it is ready it writes DIR/kubeconfig and DIR/info.json (url, pid, ca_file, token, kubeconfig, env).
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

from tests.fakes.kube.server import KubeDouble


async def _main(state_dir: str, token: str | None) -> None:
    double = KubeDouble(state_dir, token=token)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await double.serve_forever(stop)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.fakes.kube", description="Kubernetes API test double (simulated cluster)"
    )
    parser.add_argument("--state-dir", required=True, help="where info.json, kubeconfig and the CA go")
    parser.add_argument("--token", help="bearer token to require (default: a random one)")
    args = parser.parse_args(argv)
    asyncio.run(_main(args.state_dir, args.token))
    return 0


if __name__ == "__main__":
    sys.exit(main())
