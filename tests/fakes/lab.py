# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The local lab: the test doubles wired together, in the background.

    python -m tests.fakes.lab up       # start them (a no-op when already up), write .lab/env
    python -m tests.fakes.lab status
    python -m tests.fakes.lab down     # stop them and remove their state

Contract with every double: it runs in the foreground as ``python -m tests.fakes.<name> --state-dir
DIR [...]`` until SIGTERM, and when ready writes ``DIR/info.json`` = ``{"url", "pid", "env": {VAR: value}}``.
The Kubernetes double (``tests/fakes/kube``, started first when it exists) gets ``.lab/kube``; the
Azure double gets ``.lab/azure`` and ``--kube-info .lab/kube/info.json`` so the kubeconfigs it hands
out point at the Kubernetes double. ``.lab/env`` holds ``export`` lines for every variable both
publish (plus ``NETPOL_LAB_AZURE_URL``): ``source .lab/env``.

Everything under ``.lab`` may hold a secret (the doubles' credentials and tokens): directories are 0700,
files 0600, and the doubles run with umask 077. ``NETPOL_LAB_STATE_DIR`` moves ``.lab`` elsewhere (tests).

``status`` exits 0 when the lab is up and 3 when it is down (as ``systemctl status`` does), so scripts
can tell (``make demo`` reuses a lab that is up and leaves it running).

``NETPOL_LAB_KUBE=real`` (default ``double``) puts the real control plane (``tests/lab/control_plane.py``:
etcd, kube-apiserver, controller-manager, scheduler built by ``make lab-build``) in the Kubernetes
double's place, under the same contract.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
LAB = Path(os.environ.get("NETPOL_LAB_STATE_DIR") or ROOT / ".lab").resolve()
ENV_FILE = LAB / "env"
START_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0
DOWN = 3  # `status` exit code when the lab is down


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


KUBE_MODES = ("double", "real")


def _kube_mode() -> str:
    mode = os.environ.get("NETPOL_LAB_KUBE") or "double"
    if mode not in KUBE_MODES:
        raise SystemExit(f"NETPOL_LAB_KUBE={mode!r}: expected one of {', '.join(KUBE_MODES)}")
    return mode


def _module(name: str) -> str:
    if name == "kube" and _kube_mode() == "real":
        return "tests.lab.control_plane"
    return f"tests.fakes.{name}"


def _banner() -> str:
    if _kube_mode() == "real":
        return (
            "SIMULATED Azure and a REAL Kubernetes control plane (built from source; everything on 127.0.0.1; "
            "nothing is created outside this machine)"
        )
    what = "SIMULATED Azure"
    if (ROOT / "tests" / "fakes" / "kube" / "__main__.py").exists():
        what += " and a SIMULATED Kubernetes cluster"
    return f"{what} (local test doubles on 127.0.0.1; nothing real is created)"


def _doubles() -> list[tuple[str, list[str]]]:
    """(name, extra args) in start order; the Kubernetes double only once it exists."""
    doubles: list[tuple[str, list[str]]] = []
    if _kube_mode() == "real" or (ROOT / "tests" / "fakes" / "kube" / "__main__.py").exists():
        doubles.append(("kube", []))
    azure_args = ["--kube-info", str(LAB / "kube" / "info.json")] if doubles else []
    doubles.append(("azure", azure_args))
    return doubles


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of ours is not alive.
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split()[2] != "Z"
    except OSError:
        return True


def _read_info(name: str) -> dict[str, Any] | None:
    path = LAB / name / "info.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _pid(name: str) -> int | None:
    info = _read_info(name)
    if info and info.get("pid"):
        return int(info["pid"])
    try:
        return int((LAB / name / "pid").read_text())
    except (OSError, ValueError):
        return None


def _start(name: str, args: list[str]) -> dict[str, Any]:
    state_dir = LAB / name
    if state_dir.exists():
        shutil.rmtree(state_dir)
    _private_dir(state_dir)
    log = os.fdopen(os.open(state_dir / "log", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb")
    proc = subprocess.Popen(  # detached: survives the make process
        [sys.executable, "-m", _module(name), "--state-dir", str(state_dir), *args],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        umask=0o077,  # what the double writes (info.json with its credentials, certificates) is its owner's only
        env={**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))},
    )
    _write_private(state_dir / "pid", f"{proc.pid}\n")
    timeout = START_TIMEOUT * (4 if _module(name).startswith("tests.lab.") else 1)  # real components start slower
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = _read_info(name)
        if info is not None:
            os.chmod(state_dir / "info.json", 0o600)
            return info
        if proc.poll() is not None:
            raise RuntimeError(
                f"the {name} double exited with status {proc.returncode} before it was ready; "
                f"its output is in {state_dir / 'log'}:\n{(state_dir / 'log').read_text(errors='replace')[-2000:]}"
            )
        time.sleep(0.1)
    raise RuntimeError(f"the {name} double did not write {state_dir / 'info.json'} within {timeout:.0f}s")


def _stop(name: str) -> bool:
    pid = _pid(name)
    stopped = False
    if _alive(pid):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
        stopped = True
    shutil.rmtree(LAB / name, ignore_errors=True)
    return stopped


def _env_json() -> Path:
    return ENV_FILE.with_name("env.json")


def _write_env(infos: dict[str, dict[str, Any]]) -> None:
    env: dict[str, str] = {}
    for info in infos.values():
        env.update({k: str(v) for k, v in (info.get("env") or {}).items()})
    env["NETPOL_LAB_AZURE_URL"] = infos["azure"]["url"]
    env["NETPOL_LAB_DIR"] = str(LAB)
    lines = [f"# {_banner()}", "# Written by `make lab-up` (python -m tests.fakes.lab up); `make lab-down` removes it."]
    lines += [f"export {key}={shlex.quote(value)}" for key, value in sorted(env.items())]
    _write_private(ENV_FILE, "\n".join(lines) + "\n")
    # The same variables as JSON, for playbooks that load them (molecule's lab scenario).
    _write_private(_env_json(), json.dumps(env, indent=2, sort_keys=True) + "\n")


def up() -> int:
    names = [name for name, _unused in _doubles()]
    if all(_alive(_pid(name)) and _read_info(name) for name in names) and ENV_FILE.exists():
        print(f"The lab is already up ({_banner()}); nothing to do. Environment: {ENV_FILE}")
        return 0
    for name in names:  # half-up lab: start from scratch
        _stop(name)
    _private_dir(LAB)
    infos: dict[str, dict[str, Any]] = {}
    try:
        for name, args in _doubles():
            infos[name] = _start(name, args)
    except RuntimeError as exc:
        for name in names:
            _stop(name)
        print(f"lab up failed: {exc}", file=sys.stderr)
        return 1
    _write_env(infos)
    print(f"The lab is up: {_banner()}.")
    for name, info in infos.items():
        print(f"  {name:6} {info['url']}  (pid {info['pid']})")
    print(f"Environment for ansible-playbook: source {os.path.relpath(ENV_FILE, ROOT)}")
    return 0


def _exported() -> list[str]:
    """The variables .lab/env exports (read from env.json), for the hint `down` prints."""
    try:
        return sorted(json.loads(_env_json().read_text()))
    except (OSError, ValueError):
        return []


def down() -> int:
    exported = _exported()
    stopped = [name for name, _unused in reversed(_doubles()) if _stop(name)]
    # Everything under .lab is the lab's (the env files, the kubeconfig the demo fetched from the
    # simulated AKS): none of it means anything once the doubles are gone.
    shutil.rmtree(LAB, ignore_errors=True)
    print(f"The lab is down (stopped: {', '.join(stopped) if stopped else 'nothing was running'}).")
    if exported:
        print(
            "Shells that ran `source .lab/env` still point at it (AZURE_* included): open a new shell, or run\n"
            f"  unset {' '.join(exported)}"
        )
    return 0


def status() -> int:
    running = 0
    for name, _unused in _doubles():
        info, pid = _read_info(name), _pid(name)
        if _alive(pid) and info:
            running += 1
            print(f"  {name:6} up    {info['url']}  (pid {pid})")
        else:
            print(f"  {name:6} down")
    print(f"({_banner()})" if running else "The lab is down.")
    return 0 if running == len(_doubles()) else DOWN


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    commands = {"up": up, "down": down, "status": status}
    if len(args) != 1 or args[0] not in commands:
        print("usage: python -m tests.fakes.lab up|down|status", file=sys.stderr)
        return 2
    return commands[args[0]]()


if __name__ == "__main__":
    sys.exit(main())
