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

``NETPOL_LAB_KUBE=real`` (default ``double``) puts the real lab in the Kubernetes double's place, under
the same contract: the control plane (``tests/lab/control_plane.py``: etcd, kube-apiserver,
controller-manager, scheduler; ``.lab/kube``), the node (``tests/lab/lab_node.py``; ``.lab/node``) and
Services, DNS and NetworkPolicy enforcement (``tests/lab/lab_net.py``: kube-proxy, CoreDNS,
kube-router; ``.lab/net``), all built by ``make lab-build``. The mode a lab was started in is recorded
(``.lab/kube-mode``): ``status`` and ``down`` follow it whatever ``NETPOL_LAB_KUBE`` says then.

The Azure double gets ``--kube-info .lab/kube-link.json``: the Kubernetes facts plus the enforcement
switch (the Kubernetes double's ``/_fake/config``, or the real lab's ``lab_net`` switch), so a cluster
created or updated with ``networkPolicy: none`` makes the lab stop enforcing NetworkPolicy
(``tests/fakes/azure/kube_link.py``).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shlex
import shutil
import sys
from pathlib import Path
from typing import Any

from tests.lab import launcher

ROOT = Path(__file__).resolve().parents[2]
LAB = Path(os.environ.get("NETPOL_LAB_STATE_DIR") or ROOT / ".lab").resolve()
ENV_FILE = LAB / "env"
START_TIMEOUT = 60.0
REAL_START_TIMEOUT = 240.0  # real components start slower (and the control plane waits for its controllers)
STOP_TIMEOUT = 10.0
REAL_STOP_TIMEOUT = 60.0  # the node removes its pods and namespaces, lab_net its rules
# Every component a lab may have, in start order (``down`` stops them in reverse, whatever the mode).
ALL_COMPONENTS = ("kube", "node", "net", "azure")
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
    """The mode of the lab that is up (``.lab/kube-mode``), else the one ``NETPOL_LAB_KUBE`` asks for."""
    with contextlib.suppress(OSError):
        recorded = (LAB / "kube-mode").read_text().strip()
        if recorded in KUBE_MODES:
            return recorded
    return _requested_mode()


def _requested_mode() -> str:
    mode = os.environ.get("NETPOL_LAB_KUBE") or "double"
    if mode not in KUBE_MODES:
        raise SystemExit(f"NETPOL_LAB_KUBE={mode!r}: expected one of {', '.join(KUBE_MODES)}")
    return mode


_MODULES = {
    "kube": "tests.lab.control_plane",
    "node": "tests.lab.lab_node",
    "net": "tests.lab.lab_net",
}


def _module(name: str) -> str:
    if _kube_mode() == "real" and name in _MODULES:
        return _MODULES[name]
    return f"tests.fakes.{name}"


def _banner() -> str:
    if _kube_mode() == "real":
        return (
            "SIMULATED Azure and a REAL Kubernetes lab: control plane built from source, one node whose pods are "
            "network namespaces, kube-proxy, CoreDNS and kube-router (everything on 127.0.0.1 or inside the lab's "
            "own network namespaces; nothing is created outside this machine)"
        )
    what = "SIMULATED Azure"
    if (ROOT / "tests" / "fakes" / "kube" / "__main__.py").exists():
        what += " and a SIMULATED Kubernetes cluster"
    return f"{what} (local test doubles on 127.0.0.1; nothing real is created)"


def _doubles() -> list[tuple[str, list[str]]]:
    """(name, extra args) in start order: the Kubernetes double (or the real lab's control plane, node
    and network), then the Azure double linked to it."""
    doubles: list[tuple[str, list[str]]] = []
    if _kube_mode() == "real":
        cp_info = str(LAB / "kube" / "info.json")
        doubles += [
            ("kube", []),
            ("node", ["--control-plane-info", cp_info, "--lab-id", _lab_id()]),
            ("net", ["--control-plane-info", cp_info, "--node-info", str(LAB / "node" / "info.json")]),
        ]
    elif (ROOT / "tests" / "fakes" / "kube" / "__main__.py").exists():
        doubles.append(("kube", []))
    azure_args = ["--kube-info", str(_kube_link())] if doubles else []
    doubles.append(("azure", azure_args))
    return doubles


def _lab_id() -> str:
    """This lab's id (its network namespaces are netpol-lab-<id>-*), made by ``up``."""
    with contextlib.suppress(OSError):
        return (LAB / "lab-id").read_text().strip()
    return ""


def _kube_link() -> Path:
    return LAB / "kube-link.json"


def _write_kube_link(infos: dict[str, dict[str, Any]]) -> None:
    """What the Azure double needs of the lab's Kubernetes: its connection facts (for the kubeconfigs
    the simulated AKS hands out) and where its NetworkPolicy enforcement is switched."""
    kube = infos["kube"]
    if "net" in infos:
        enforcement = {"url": infos["net"]["enforcement_url"]}
    else:
        enforcement = {"url": f"{kube['url']}/_fake/config", "ca_file": kube["ca_file"]}
    _write_private(_kube_link(), json.dumps({**kube, "enforcement": enforcement}, indent=2, sort_keys=True) + "\n")


_alive = launcher.alive


def _read_info(name: str) -> dict[str, Any] | None:
    return launcher.read_json(LAB / name / "info.json")


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
    real = _module(name).startswith("tests.lab.")
    pid, info = launcher.start_detached(
        [sys.executable, "-m", _module(name), "--state-dir", str(state_dir), *args],
        state_dir,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))},
        timeout=REAL_START_TIMEOUT if real else START_TIMEOUT,
        what=f"{name} ({_module(name)})",
    )
    _write_private(state_dir / "pid", f"{pid}\n")
    return info


def _stop(name: str) -> bool:
    stopped = launcher.stop_pid(_pid(name), REAL_STOP_TIMEOUT if name in ("node", "net") else STOP_TIMEOUT)
    shutil.rmtree(LAB / name, ignore_errors=True)
    return stopped


def _sweep_node() -> list[str]:
    """After the node's launcher: remove whatever namespace or process of this lab is left (a node
    that was killed cannot clean up after itself). Returns what had to be removed."""
    with contextlib.suppress(OSError):
        lab_id = (LAB / "lab-id").read_text().strip()
        from tests.lab import lab_node

        left = lab_node.sweep(lab_id)
        if left["namespaces"] or left["pids"]:
            return [*left["namespaces"], *(f"pid {p}" for p in left["pids"])]
    return []


def _stop_all() -> list[str]:
    """Stop every component of whatever lab is in ``LAB``, in reverse start order."""
    names = [name for name in reversed(ALL_COMPONENTS) if (LAB / name).exists()]
    names += [name for name, _unused in reversed(_doubles()) if name not in names]
    stopped = [name for name in names if _stop(name)]
    swept = _sweep_node() if (LAB / "lab-id").exists() else []
    if swept:
        print(f"  removed what the node left: {', '.join(swept)}", file=sys.stderr)
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
    if (LAB / "kube-mode").exists() and _kube_mode() != _requested_mode():
        print(f"A lab with NETPOL_LAB_KUBE={_kube_mode()} is up: stopping it first.")
        _stop_all()
        shutil.rmtree(LAB, ignore_errors=True)
    names = [name for name, _unused in _doubles()]
    if all(_alive(_pid(name)) and _read_info(name) for name in names) and ENV_FILE.exists():
        print(f"The lab is already up ({_banner()}); nothing to do. Environment: {ENV_FILE}")
        return 0
    _stop_all()  # half-up lab: start from scratch
    shutil.rmtree(LAB, ignore_errors=True)
    _private_dir(LAB)
    _write_private(LAB / "kube-mode", _requested_mode() + "\n")
    if _kube_mode() == "real":
        _write_private(LAB / "lab-id", "l" + secrets.token_hex(3) + "\n")
    infos: dict[str, dict[str, Any]] = {}
    try:
        for name, args in _doubles():
            if name == "azure" and "kube" in infos:
                _write_kube_link(infos)
            infos[name] = _start(name, args)
    except RuntimeError as exc:
        _stop_all()
        shutil.rmtree(LAB, ignore_errors=True)
        print(f"lab up failed: {exc}", file=sys.stderr)
        return 1
    _write_env(infos)
    print(f"The lab is up: {_banner()}.")
    for name, info in infos.items():
        print(f"  {name:6} {_where(info)}  (pid {info['pid']})")
    print(f"Environment for ansible-playbook: source {os.path.relpath(ENV_FILE, ROOT)}")
    return 0


def _where(info: dict[str, Any]) -> str:
    """One line on a component: its URL, or for the node and network what they hold."""
    if info.get("url"):
        return str(info["url"])
    if "network_policy" in info:
        enforcing = "enforcing NetworkPolicy" if info["enforces_network_policy"] else "NOT enforcing NetworkPolicy"
        return f"kube-proxy, CoreDNS, {info['network_policy']} ({enforcing})"
    return f"pods in {info.get('pod_cidr')} (netns {info.get('node_netns')})"


def _exported() -> list[str]:
    """The variables .lab/env exports (read from env.json), for the hint `down` prints."""
    try:
        return sorted(json.loads(_env_json().read_text()))
    except (OSError, ValueError):
        return []


def down() -> int:
    exported = _exported()
    stopped = _stop_all()
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
    """Each component: up only when its process runs and its info.json is there (a real lab's
    launcher exits when one of its components does, so a running launcher means running components);
    the real network also says whether it enforces NetworkPolicy now."""
    running = 0
    for name, _unused in _doubles():
        info, pid = _read_info(name), _pid(name)
        if _alive(pid) and info:
            running += 1
            print(f"  {name:6} up    {_where(info)}  (pid {pid})")
        else:
            print(f"  {name:6} down" + (" (its process is gone; run `make lab-down`)" if info else ""))
    if running == len(_doubles()):
        print(f"({_banner()})")
    elif running:
        print("The lab is only partly up: `make lab-down`, then `make lab-up`.")
    else:
        print("The lab is down.")
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
