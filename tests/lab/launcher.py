# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Starting and stopping the lab's processes, in one place.

Two sides use it:

* the launchers (``tests/lab/control_plane.py``, ``lab_node.py``, ``lab_net.py``) start their
  components as process groups of their own (``spawn``), stop them (``stop_group``) and run in the
  foreground until SIGTERM/SIGINT (``run_foreground``);
* the local lab (``tests/lab/local_lab.py``, ``make lab-up``) starts its supervisor detached, waits
  for its ``info.json`` (``start_detached``) and stops it later by pid (``stop_pid``); the supervisor
  and ``tests/lab/real_lab.py`` start the launchers as their children (``spawn``, ``wait_ready``).

A component started with ``spawn`` gets SIGKILL when the thread that started it ends
(``PR_SET_PDEATHSIG``), so a launcher that dies leaves nothing running: spawn from a thread that lives
as long as the launcher (the main thread).
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

_PR_SET_PDEATHSIG = 1
POLL = 0.2


def die_with_parent(sig: int = signal.SIGKILL) -> None:  # pragma: no cover - runs in the child before exec
    """Make the child get ``sig`` when the thread that started it dies (``preexec_fn``)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, sig)


def alive(pid: int | None) -> bool:
    """Whether ``pid`` runs (a zombie does not)."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as stat:
            # The state follows the command name in parentheses, which may hold spaces.
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def spawn(
    argv: list[str],
    log: Path,
    *,
    cwd: Path,
    env: dict[str, str] | None = None,
    death_signal: int = signal.SIGKILL,
) -> subprocess.Popen:
    """Start ``argv`` as a process group of its own, output appended to ``log``; it gets ``death_signal``
    when its parent dies (SIGTERM for a component that cleans up after itself)."""
    handle = log.open("ab")
    try:
        return subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stop_group() signals the group
            preexec_fn=functools.partial(die_with_parent, death_signal),
        )
    finally:
        handle.close()


def stop_group(proc: subprocess.Popen, timeout: float, *, term_group: bool = True) -> bool:
    """SIGTERM the process group of ``proc`` (only ``proc`` itself with ``term_group=False``: it stops
    its own children), SIGKILL the group after ``timeout``; then SIGKILL whatever is left in the group.
    Returns whether ``proc`` was still running."""
    running = proc.poll() is None
    if running:
        with contextlib.suppress(ProcessLookupError):
            if term_group:
                os.killpg(proc.pid, signal.SIGTERM)
            else:
                proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    return running


def stop_pid(pid: int | None, timeout: float) -> bool:
    """SIGTERM ``pid`` (not our child), SIGKILL it after ``timeout``. Returns whether it was running."""
    if not alive(pid):
        return False
    assert pid is not None
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        while alive(pid) and time.monotonic() < deadline + timeout:
            time.sleep(0.1)
    return True


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def start_detached(
    argv: list[str], state_dir: Path, *, cwd: Path, env: dict[str, str], timeout: float, what: str
) -> tuple[int, dict[str, Any]]:
    """Start ``argv`` (which takes ``--state-dir state_dir``) detached from us, with umask 077, output
    in ``state_dir/log``; wait until it writes ``state_dir/info.json`` and return ``(pid, info)``.
    ``RuntimeError`` (with the end of its log) when it exits first or is not ready in time; it is
    stopped then."""
    log_path = state_dir / "log"
    log = os.fdopen(os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb")
    try:
        proc = subprocess.Popen(  # detached: survives the process that ran `lab up`
            argv,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            umask=0o077,  # what it writes (credentials, certificates) is its owner's only
            env=env,
        )
    finally:
        log.close()
    return proc.pid, wait_ready(proc, state_dir, timeout=timeout, what=what)


def wait_ready(proc: subprocess.Popen, state_dir: Path, *, timeout: float, what: str) -> dict[str, Any]:
    """Wait until ``proc`` writes ``state_dir/info.json`` and return it. ``RuntimeError`` (with the end of
    ``state_dir/log``) when it exits first or is not ready in time; it is stopped then."""
    log_path = state_dir / "log"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = read_json(state_dir / "info.json")
        if info is not None:
            os.chmod(state_dir / "info.json", 0o600)
            return info
        if proc.poll() is not None:
            raise RuntimeError(
                f"the {what} exited with status {proc.returncode} before it was ready; its output is in "
                f"{log_path}:\n{log_path.read_text(errors='replace')[-2000:]}"
            )
        time.sleep(0.1)
    stop_pid(proc.pid, 15.0)
    raise RuntimeError(
        f"the {what} did not write {state_dir / 'info.json'} within {timeout:.0f}s; its output is in {log_path}:\n"
        f"{log_path.read_text(errors='replace')[-2000:]}"
    )


def run_foreground(
    prog: str,
    start: Callable[[], str],
    dead: Callable[[], list[str]],
    stop: Callable[[], str | None],
    errors: tuple[type[BaseException], ...],
    tick: Callable[[], None] | None = None,
) -> int:
    """A launcher's ``main``: ``start()`` (returns the line to print when ready), then wait until
    SIGTERM/SIGINT or until ``dead()`` names a component that exited, calling ``tick()`` on this
    (the main) thread meanwhile; ``stop()`` in every case (returns a complaint about what it left,
    or None). Exit status 0 when it was stopped and left nothing, else 1."""
    stop_requested = False

    def request_stop(signum, frame):
        nonlocal stop_requested
        stop_requested = True

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    try:
        print(start(), flush=True)
    except errors as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 1
    status = 0
    try:
        while not stop_requested:
            gone = dead()
            if gone:
                print(f"{prog}: {', '.join(gone)} exited; stopping the rest", file=sys.stderr)
                status = 1
                break
            if tick is not None:
                tick()
            time.sleep(0.5)
    finally:
        complaint = stop()
    if complaint:
        print(f"{prog}: {complaint}", file=sys.stderr)
        return 1
    return status
