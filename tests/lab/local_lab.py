# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The local lab in the background: a real Kubernetes and the simulated Azure, one command each way.

    python -m tests.lab up       # start it (a no-op when already up), write .lab/env    (make lab-up)
    python -m tests.lab status   # exit code 0: up; 3: down
    python -m tests.lab down     # stop it and remove everything it made               (make lab-down)

``up`` starts one process detached from the caller, the lab's supervisor (``python -m tests.lab serve
--state-dir .lab``), and returns once the lab is ready. The supervisor starts the real lab with
``tests/lab/real_lab.py``, the same code the ``kube_lab`` pytest fixture uses: the control plane
(``.lab/kube``: etcd, kube-apiserver, controller-manager, scheduler), the node (``.lab/node``: pods as
network namespaces ``netpol-lab-<id>-*``) and Services, DNS and NetworkPolicy enforcement (``.lab/net``:
kube-proxy, CoreDNS, kube-router). Then the Azure double (``.lab/azure``) with ``--kube-info
.lab/kube-link.json``: the kubeconfigs its simulated AKS hands out reach this API server, and a
cluster it writes with ``networkPolicy: none`` switches kube-router off (``tests/fakes/azure/kube_link.py``).
Last it writes ``.lab/env`` (``export`` lines for every variable the parts publish, plus
``NETPOL_LAB_AZURE_URL`` and ``NETPOL_LAB_DIR``), ``.lab/env.json`` (the same, for molecule) and its own
``.lab/info.json``. It runs until SIGTERM; when one part exits, it stops the others. Every part is its
child and gets SIGTERM if it dies, so a lab never outlives its supervisor.

``down`` stops the supervisor (it stops the parts in reverse order, and each removes its processes,
namespaces and rules), then anything a killed part left (``lab_node.sweep``), then ``.lab``.

The lab needs root (network namespaces, iptables) and the binaries of ``make lab-build``; ``up`` says so
before it starts anything. Everything under ``.lab`` may hold a secret (credentials, tokens): directories
are 0700, files 0600, and the parts run with umask 077. ``NETPOL_LAB_STATE_DIR`` moves ``.lab`` (tests).
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.lab import lab_net
from tests.lab import lab_node
from tests.lab import launcher
from tests.lab import paths
from tests.lab import real_lab

ROOT = paths.ROOT
LAB = Path(os.environ.get("NETPOL_LAB_STATE_DIR") or ROOT / ".lab").resolve()
PARTS = (*real_lab.LAUNCHERS, "azure")  # start order: kube, node, net, azure
AZURE_START_TIMEOUT = 60.0
AZURE_STOP_TIMEOUT = 10.0
START_TIMEOUT = len(real_lab.LAUNCHERS) * real_lab.START_TIMEOUT + AZURE_START_TIMEOUT
STOP_TIMEOUT = len(real_lab.LAUNCHERS) * real_lab.STOP_TIMEOUT + AZURE_STOP_TIMEOUT
DOWN = 3  # `status` exit code when the lab is down (as `systemctl status` does)
USAGE = "usage: python -m tests.lab up|down|status"
BANNER = (
    "SIMULATED Azure (a test double on 127.0.0.1) and a REAL Kubernetes lab: control plane built from source, "
    "one node whose pods are network namespaces, kube-proxy, CoreDNS and kube-router (everything on 127.0.0.1 "
    "or inside the lab's own network namespaces; nothing is created outside this machine)"
)


def _private_dir(path: Path) -> None:
    """Create ``path`` (and missing parents) as a directory only its owner can enter."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path, 0o700)


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` with mode 0600 from the start (no window where others can read it)."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.chmod(tmp, 0o600)
    tmp.replace(path)


def _env_file(lab_dir: Path) -> Path:
    return lab_dir / "env"


def _child_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}


# -- the supervisor (python -m tests.lab serve) ------------------------------------------------------------


def _write_env(lab_dir: Path, infos: dict[str, dict[str, Any]]) -> None:
    env: dict[str, str] = {}
    for info in infos.values():
        env.update({k: str(v) for k, v in (info.get("env") or {}).items()})
    env["NETPOL_LAB_AZURE_URL"] = infos["azure"]["url"]
    env["NETPOL_LAB_DIR"] = str(lab_dir)
    lines = [f"# {BANNER}", "# Written by `make lab-up` (python -m tests.lab up); `make lab-down` removes it."]
    lines += [f"export {key}={shlex.quote(value)}" for key, value in sorted(env.items())]
    _write_private(_env_file(lab_dir), "\n".join(lines) + "\n")
    # The same variables as JSON, for playbooks that load them (molecule's default scenario).
    _write_private(lab_dir / "env.json", json.dumps(env, indent=2, sort_keys=True) + "\n")


class Supervisor:
    """The real lab (``real_lab``) and the Azure double linked to it, under ``lab_dir``."""

    def __init__(self, lab_dir: Path) -> None:
        self.dir = lab_dir
        self.lab_id = (lab_dir / "lab-id").read_text().strip()
        self.lab: real_lab.RealLab | None = None
        self.azure: subprocess.Popen | None = None

    def start(self) -> str:
        try:
            self.lab = real_lab.start(self.dir, self.lab_id)
            link = self.dir / "kube-link.json"
            kube = self.lab.infos["kube"]
            _write_private(
                link, json.dumps({**kube, "enforcement": {"url": self.lab.enforcement_url}}, indent=2) + "\n"
            )
            azure_dir = self.dir / "azure"
            _private_dir(azure_dir)
            argv = [sys.executable, "-m", "tests.fakes.azure", "--state-dir", str(azure_dir), "--kube-info", str(link)]
            self.azure = launcher.spawn(
                argv, azure_dir / "log", cwd=ROOT, env=_child_env(), death_signal=signal.SIGTERM
            )
            azure = launcher.wait_ready(
                self.azure, azure_dir, timeout=AZURE_START_TIMEOUT, what="Azure double (tests.fakes.azure)"
            )
        except BaseException:
            self.stop()
            raise
        infos = {**self.lab.infos, "azure": azure}
        _write_env(self.dir, infos)
        info = {"pid": os.getpid(), "lab_id": self.lab_id, "parts": {name: infos[name]["pid"] for name in PARTS}}
        _write_private(self.dir / "info.json", json.dumps(info, indent=2) + "\n")
        return f"The lab is up ({self.lab_id}): {BANNER}."

    def dead(self) -> list[str]:
        procs = dict(self.lab.procs if self.lab else {})
        if self.azure is not None:
            procs["azure"] = self.azure
        return [name for name, proc in procs.items() if proc.poll() is not None]

    def stop(self) -> str | None:
        (self.dir / "info.json").unlink(missing_ok=True)
        if self.azure is not None:
            launcher.stop_group(self.azure, AZURE_STOP_TIMEOUT)
            self.azure = None
        left = real_lab.stop(self.lab) if self.lab is not None else []
        return f"removed what a part left: {', '.join(left)}" if left else None


def serve(lab_dir: Path) -> int:
    supervisor = Supervisor(lab_dir.resolve())
    _write_private(lab_dir / "pid", f"{os.getpid()}\n")
    return launcher.run_foreground("lab", supervisor.start, supervisor.dead, supervisor.stop, (RuntimeError, OSError))


# -- up, status, down -----------------------------------------------------------------------------------------


def _read_info(name: str) -> dict[str, Any] | None:
    return launcher.read_json(LAB / name / "info.json")


def _supervisor_pid() -> int | None:
    try:
        return int((LAB / "pid").read_text())
    except (OSError, ValueError):
        return None


def _part_up(name: str) -> bool:
    info = _read_info(name)
    return bool(info) and launcher.alive(int(info.get("pid") or 0))


def _is_up() -> bool:
    return (
        launcher.read_json(LAB / "info.json") is not None
        and launcher.alive(_supervisor_pid())
        and all(_part_up(name) for name in PARTS)
        and _env_file(LAB).is_file()
    )


def missing() -> list[str]:
    """Why the lab cannot start here: not root, or binaries ``make lab-build`` makes are not built."""
    problems = []
    if os.geteuid() != 0:
        problems.append("the lab needs root (network namespaces, iptables): run it as root, e.g. `sudo make lab-up`")
    try:
        binaries = [*paths.control_plane_binaries().values(), lab_node.built_paths()["node"]]
        binaries += [path for name, path in lab_net.built_paths().items() if name != "kube-proxy"]
    except (OSError, KeyError, subprocess.CalledProcessError) as exc:
        return [*problems, f"cannot tell where the lab's binaries are ({exc}): run `make lab-build`"]
    absent = [str(path) for path in binaries if not os.access(path, os.X_OK)]
    if absent:
        problems.append(f"the lab is not built ({', '.join(absent)} missing): run `make lab-build`")
    return problems


def _where(name: str, info: dict[str, Any]) -> str:
    """One line on a part: its URL, or what the node and the network hold."""
    if name == "net":
        enforcing = "enforcing NetworkPolicy" if info.get("enforces_network_policy") else "NOT enforcing NetworkPolicy"
        return f"kube-proxy, CoreDNS, {info.get('network_policy')} ({enforcing})"
    if name == "node":
        return f"pods in {info.get('pod_cidr')} (netns {info.get('node_netns')})"
    return str(info.get("url"))


def _shown(path: Path) -> str:
    """``path`` relative to the checkout when it is inside it (``.lab/env``), else as it is."""
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def _lab_id() -> str:
    with contextlib.suppress(OSError):
        return (LAB / "lab-id").read_text().strip()
    return ""


def _stop_all() -> list[str]:
    """Stop whatever lab is in ``LAB``: its supervisor, then any part still running (a supervisor that
    was killed has SIGTERMed them: they may still be cleaning up), then what a killed node left.
    Returns the parts that were running."""
    running = [name for name in reversed(PARTS) if _part_up(name)]
    launcher.stop_pid(_supervisor_pid(), STOP_TIMEOUT)
    for name in reversed(PARTS):
        info = _read_info(name) or {}
        launcher.stop_pid(info.get("pid"), real_lab.STOP_TIMEOUT)
    lab_id = _lab_id()
    if lab_id:
        try:
            left = lab_node.sweep(lab_id)
        except (OSError, RuntimeError, KeyError, subprocess.CalledProcessError) as exc:
            print(
                f"  could not check for what the node left ({exc}): `ip netns` lists netpol-lab-{lab_id}-*",
                file=sys.stderr,
            )
        else:
            if left["namespaces"] or left["pids"]:
                swept = [*left["namespaces"], *(f"pid {pid}" for pid in left["pids"])]
                print(f"  removed what the node left: {', '.join(swept)}", file=sys.stderr)
    return running


def up() -> int:
    if _is_up():
        print(f"The lab is already up ({BANNER}); nothing to do. Environment: {_env_file(LAB)}")
        return 0
    problems = missing()
    if problems:
        print("lab up: " + "; ".join(problems) + ". Nothing was started.", file=sys.stderr)
        return 1
    if LAB.exists():  # a lab only partly up, or one that stopped: start from scratch
        _stop_all()
        shutil.rmtree(LAB, ignore_errors=True)
    _private_dir(LAB)
    _write_private(LAB / "lab-id", lab_node.new_lab_id() + "\n")
    try:
        launcher.start_detached(
            [sys.executable, "-m", "tests.lab", "serve", "--state-dir", str(LAB)],
            LAB,
            cwd=ROOT,
            env=_child_env(),
            timeout=START_TIMEOUT,
            what="lab (python -m tests.lab serve)",
        )
    except RuntimeError as exc:
        _stop_all()
        shutil.rmtree(LAB, ignore_errors=True)
        print(f"lab up failed: {exc}", file=sys.stderr)
        return 1
    print(f"The lab is up: {BANNER}.")
    for name in PARTS:
        info = _read_info(name) or {}
        print(f"  {name:6} {_where(name, info)}  (pid {info.get('pid')})")
    print(f"Environment for ansible-playbook: source {_shown(_env_file(LAB))}")
    return 0


def _exported() -> list[str]:
    """The variables .lab/env exports (read from env.json), for the hint `down` prints."""
    try:
        return sorted(json.loads((LAB / "env.json").read_text()))
    except (OSError, ValueError):
        return []


def down() -> int:
    exported = _exported()
    stopped = _stop_all() if LAB.exists() else []
    # Everything under .lab is the lab's (the env files, the kubeconfig the demo fetched from the
    # simulated AKS): none of it means anything once the lab is gone.
    shutil.rmtree(LAB, ignore_errors=True)
    print(f"The lab is down (stopped: {', '.join(stopped) if stopped else 'nothing was running'}).")
    if exported:
        print(
            "Shells that ran `source .lab/env` still point at it (AZURE_* included): open a new shell, or run\n"
            f"  unset {' '.join(exported)}"
        )
    return 0


def status() -> int:
    """Each part: up only when its process runs and its info.json is there; the network also says
    whether it enforces NetworkPolicy now. Exit 0 when the whole lab is up, else ``DOWN``."""
    running = 0
    for name in PARTS:
        info = _read_info(name)
        if _part_up(name):
            running += 1
            print(f"  {name:6} up    {_where(name, info or {})}  (pid {info and info.get('pid')})")
        else:
            print(f"  {name:6} down")
    if _is_up():
        print(f"({BANNER})")
        return 0
    if running:
        print("The lab is only partly up: `make lab-down`, then `make lab-up`.")
    elif _env_file(LAB).is_file():
        print(f"The lab stopped by itself ({_shown(LAB / 'log')} says why): `make lab-down`, then `make lab-up`.")
    else:
        print("The lab is down.")
    return DOWN


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) == 3 and args[:2] == ["serve", "--state-dir"]:
        return serve(Path(args[2]))
    commands = {"up": up, "down": down, "status": status}
    if len(args) != 1 or args[0] not in commands:
        print(USAGE, file=sys.stderr)
        return 2
    return commands[args[0]]()
