# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""PRIVATE to the collection; may change at any time.

The prober: runs the probe model (``_probe``) against a cluster through the collection's one Kubernetes
layer (``_kube.KubeClient``). It checks that sources and targets exist, starts and deletes probe pods,
execs the probe script, and repeats rounds until the results settle. Every Kubernetes failure is a
``KubeError``; a probe that could not run because of one is recorded as a ``probe_error`` outcome.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from ansible_collections.netpol.aks.plugins.module_utils._kube import KubeClient
from ansible_collections.netpol.aks.plugins.module_utils._kube import KubeError
from ansible_collections.netpol.aks.plugins.module_utils._kube import api_error_text
from ansible_collections.netpol.aks.plugins.module_utils._probe import DEFAULT_PROBE_IMAGE
from ansible_collections.netpol.aks.plugins.module_utils._probe import PROBE_RUN_LABEL
from ansible_collections.netpol.aks.plugins.module_utils._probe import Cell
from ansible_collections.netpol.aks.plugins.module_utils._probe import ProbeInputError
from ansible_collections.netpol.aks.plugins.module_utils._probe import ProbeOutcome
from ansible_collections.netpol.aks.plugins.module_utils._probe import ProbePod
from ansible_collections.netpol.aks.plugins.module_utils._probe import Source
from ansible_collections.netpol.aks.plugins.module_utils._probe import Target
from ansible_collections.netpol.aks.plugins.module_utils._probe import TargetSpec
from ansible_collections.netpol.aks.plugins.module_utils._probe import build_command
from ansible_collections.netpol.aks.plugins.module_utils._probe import build_probe_pod
from ansible_collections.netpol.aks.plugins.module_utils._probe import new_run_id
from ansible_collections.netpol.aks.plugins.module_utils._probe import parse_output
from ansible_collections.netpol.aks.plugins.module_utils._probe import pod_readiness
from ansible_collections.netpol.aks.plugins.module_utils._probe import probe_pod_name


@dataclass(frozen=True)
class ExecResult:
    """What one exec of the probe script returned."""

    stdout: str
    stderr: str
    rc: int


class Prober:
    """Runs probe cells against a cluster through ``_kube.KubeClient`` (retried requests, one error type:
    ``KubeError``).

    `api_client_factory` returns a fresh kubernetes ApiClient; each worker thread gets its own, since
    an exec swaps the ApiClient's transport while it connects.
    """

    def __init__(
        self,
        api_client_factory: Callable[[], Any],
        *,
        timeout: int = 2,
        probe_image: str = DEFAULT_PROBE_IMAGE,
        pod_ready_timeout: int = 120,
        parallelism: int = 10,
        run_id: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._factory = api_client_factory
        self._local = threading.local()
        self.timeout = timeout
        self.probe_image = probe_image
        self.pod_ready_timeout = pod_ready_timeout
        self.parallelism = max(1, parallelism)
        self.run_id = run_id or new_run_id()
        self.clock = clock
        self.created: list[tuple[str, str]] = []
        self.namespaces_used: set[str] = set()
        self._created_lock = threading.Lock()
        # Set when the module is interrupted: workers stop creating and waiting for probe pods.
        self.cancelled = threading.Event()

    # -- plumbing ------------------------------------------------------------------------------

    def kube(self) -> KubeClient:
        """This thread's KubeClient."""
        kube = getattr(self._local, "kube", None)
        if kube is None:
            kube = KubeClient(self._factory())
            self._local.kube = kube
        return kube

    def read_namespace(self, name: str) -> dict[str, Any] | None:
        return self.kube().read_namespace(name)

    def read_pod(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.kube().read_pod(namespace, name)

    # -- validation ----------------------------------------------------------------------------

    def check_inputs(
        self, sources: list[Source], targets: list[Target]
    ) -> tuple[dict[tuple[str, str], dict], dict[tuple[str, str], dict]]:
        """Fail before anything is created: every namespace, named pod and target Service must exist.

        Returns the pods and the Services read, by (namespace, name).
        """
        namespaces = {s.namespace for s in sources}
        namespaces |= {t.namespace for t in targets if t.kind in ("service", "pod")}
        for ns in sorted(namespaces):
            if self.read_namespace(ns) is None:
                raise ProbeInputError(f"namespace {ns!r} does not exist (create it first, or fix namespace)")
        pods: dict[tuple[str, str], dict] = {}
        for source in sources:
            if source.pod is not None:
                pod = self.read_pod(source.namespace, source.pod)
                if pod is None:
                    raise ProbeInputError(f"source pod {source.namespace}/{source.pod} does not exist")
                containers = [c.get("name") for c in pod.get("spec", {}).get("containers", [])]
                if source.container and source.container not in containers:
                    raise ProbeInputError(
                        f"source pod {source.namespace}/{source.pod} has no container {source.container!r} "
                        f"(it has {', '.join(containers)})"
                    )
                pods[(source.namespace, source.pod)] = pod
        services: dict[tuple[str, str], dict] = {}
        for target in targets:
            if target.kind == "pod":
                pod = self.read_pod(target.namespace, target.value)
                if pod is None:
                    raise ProbeInputError(f"target pod {target.namespace}/{target.value} does not exist")
                pods[(target.namespace, target.value)] = pod
            elif target.kind == "service" and (target.namespace, target.value) not in services:
                service = self.kube().read_service(target.namespace, target.value)
                if service is None:
                    raise ProbeInputError(
                        f"target Service {target.namespace}/{target.value} does not exist: a probe could only fail "
                        "to resolve it (create the Service, or fix the name or namespace)"
                    )
                services[(target.namespace, target.value)] = service
        return pods, services

    # -- probe pods ----------------------------------------------------------------------------

    def pod_manifest(self, index: int, source: Source) -> dict[str, Any]:
        return build_probe_pod(
            probe_pod_name(self.run_id, index),
            source.namespace,
            dict(source.labels or ()),
            self.probe_image,
            self.run_id,
        )

    def start_pod(self, manifest: dict[str, Any]) -> str:
        """Create a probe pod and wait until it is ready; returns its container. Raises KubeError."""
        namespace = manifest["metadata"]["namespace"]
        name = manifest["metadata"]["name"]
        if self.cancelled.is_set():
            raise KubeError(f"probe pod {namespace}/{name} not created: the probe was interrupted")
        with self._created_lock:
            self.namespaces_used.add(namespace)
        try:
            self.kube().create_pod(namespace, manifest)
        except KubeError as exc:
            raise KubeError(f"could not create probe pod {namespace}/{name}: {exc}", exc.exception) from exc
        with self._created_lock:
            self.created.append((namespace, name))
        return self.wait_ready(namespace, name)

    def wait_ready(self, namespace: str, name: str) -> str:
        """Wait until a pod is ready; returns its first container. Raises KubeError when it cannot become
        ready (a fatal waiting reason, gone, not ready in time, the probe interrupted)."""
        deadline = self.clock() + self.pod_ready_timeout
        delay = 0.1
        last = "not scheduled yet"
        while True:
            try:
                pod = self.read_pod(namespace, name)
            except KubeError as exc:
                raise KubeError(f"could not read probe pod {namespace}/{name}: {exc}", exc.exception) from exc
            if pod is None:
                raise KubeError(f"probe pod {namespace}/{name} disappeared")
            ready, why, fatal = pod_readiness(pod)
            if self.cancelled.is_set():
                raise KubeError(f"probe pod {namespace}/{name}: the probe was interrupted")
            if ready:
                return pod["spec"]["containers"][0]["name"]
            last = why
            if fatal:
                raise KubeError(f"probe pod {namespace}/{name} cannot run: {why}")
            if self.clock() >= deadline:
                raise KubeError(f"probe pod {namespace}/{name} not ready after {self.pod_ready_timeout}s: {last}")
            time.sleep(delay)
            delay = min(delay * 1.5, 1.0)

    def start_pods(self, manifests: dict[Source, dict[str, Any]]) -> dict[Source, ProbePod | str]:
        """Start the probe pods of these sources in parallel: each source's pod, or why it cannot run
        (its probes are then probe_error: a probe pod that does not start is an outcome, not the task's error).
        """

        def start(manifest: dict[str, Any]) -> ProbePod | str:
            meta = manifest["metadata"]
            try:
                return ProbePod(meta["namespace"], meta["name"], self.start_pod(manifest))
            except KubeError as exc:
                return exc.message

        started = self.run_in_parallel([lambda m=m: start(m) for m in manifests.values()])
        return dict(zip(manifests, started, strict=True))

    def delete_pods(self, wait: float = 30.0) -> list[str]:
        """Delete every probe pod this run created; returns the ones that could not be deleted.

        Besides the pods it knows it created, it looks for any pod carrying this run's label (a create
        whose response was lost still made a pod).
        """
        failures = []
        pending = []
        doomed = list(self.created)
        for namespace in sorted(self.namespaces_used):
            try:
                for item in self.kube().list_pods(namespace, f"{PROBE_RUN_LABEL}={self.run_id}"):
                    key = (namespace, item["metadata"]["name"])
                    if key not in doomed:
                        doomed.append(key)
            except KubeError as exc:  # deleting what we know of still goes ahead
                failures.append(f"{namespace}: could not list probe pods: {exc}")
        for namespace, name in doomed:
            try:
                if self.kube().delete_pod(namespace, name):
                    pending.append((namespace, name))
            except KubeError as exc:
                failures.append(f"{namespace}/{name}: {exc}")
        deadline = self.clock() + wait
        while pending and self.clock() < deadline:
            still = []
            for namespace, name in pending:
                try:
                    if self.read_pod(namespace, name) is not None:
                        still.append((namespace, name))
                except KubeError:
                    still.append((namespace, name))
            pending = still
            if pending:
                time.sleep(0.2)
        failures.extend(f"{ns}/{name}: still terminating" for ns, name in pending)
        return failures

    # -- exec ----------------------------------------------------------------------------------

    def exec_probe(self, pod: ProbePod, specs: list[TargetSpec]) -> ExecResult:
        """One exec running every spec. Raises KubeError when the exec fails or does not finish."""
        command = build_command(specs)
        # busybox wget -T bounds each phase (connect, then read): allow two timeouts plus transport slack.
        deadline = 2 * max(spec.timeout for spec in specs) + 15
        where = f"{pod.namespace}/{pod.name}"
        ws = self.kube().exec_stream(pod.namespace, pod.name, command, pod.container)
        try:
            ws.run_forever(timeout=deadline)
            stdout = ws.read_channel(1)
            stderr = ws.read_channel(2)
            if ws.is_open():
                raise KubeError(f"exec into {where} did not finish within {deadline}s")
            try:
                rc = ws.returncode
            except Exception as exc:
                raise KubeError(f"exec into {where}: unreadable exit status ({exc})", exc) from exc
            return ExecResult(stdout, stderr, rc)
        except KubeError:
            raise
        except Exception as exc:
            raise KubeError(f"exec into {where} failed: {api_error_text(exc)}", exc) from exc
        finally:
            with contextlib.suppress(Exception):
                ws.close()

    def run_source(self, pod: ProbePod, cells: list[Cell], started: float) -> None:
        """Probe every cell of one source with one exec and record the outcomes (a failed exec is a
        probe_error of every cell)."""
        specs = [cell.spec(index, self.timeout) for index, cell in enumerate(cells)]
        begin = self.clock()
        try:
            done = self.exec_probe(pod, specs)
            failure = None
            if done.rc != 0 and "@" not in done.stdout:
                failure = f"exec into {pod.key} exited {done.rc}: {(done.stderr or done.stdout).strip()}"
        except KubeError as exc:
            failure = exc.message
        elapsed = self.clock() - begin
        at = begin - started
        if failure is not None:
            for cell in cells:
                cell.record(at, ProbeOutcome("probe_error", None, failure), elapsed)
            return
        outcomes = parse_output(done.stdout, len(cells))
        for index, cell in enumerate(cells):
            outcome = outcomes[index]
            if outcome.rc is None and done.stderr.strip():
                outcome = ProbeOutcome("probe_error", None, f"{outcome.output}\n{done.stderr.strip()}".strip())
            cell.record(at, outcome, elapsed)

    def run_in_parallel(self, jobs: list[Callable[[], Any]]) -> list[Any]:
        if len(jobs) == 1:
            return [jobs[0]()]
        with ThreadPoolExecutor(max_workers=min(self.parallelism, len(jobs))) as pool:
            futures = [pool.submit(job) for job in jobs]
            return [future.result() for future in futures]


def run_rounds(
    prober: Prober,
    cells: list[Cell],
    runners: dict[Source, ProbePod | str],
    *,
    retries: int = 0,
    delay: float = 1.0,
    stable_for: int = 1,
    started: float | None = None,
) -> int:
    """Probe until every cell has settled or the retries are spent; returns the number of rounds.

    `runners` maps each source to the pod that runs its probes, or to the reason it cannot run (then
    its cells are probe_error, for good). Every round makes one exec per source that still has
    unsettled cells, sources in parallel.
    """
    started = prober.clock() if started is None else started
    rounds = 0
    for attempt in range(retries + 1):
        pending = [cell for cell in cells if not cell.settled(stable_for)]
        if not pending:
            break
        if attempt:
            time.sleep(delay)
        rounds += 1
        by_source: dict[Source, list[Cell]] = {}
        for cell in pending:
            by_source.setdefault(cell.source, []).append(cell)
        jobs = []
        for source, group in by_source.items():
            runner = runners[source]
            if isinstance(runner, str):
                at = prober.clock() - started
                for cell in group:
                    cell.record(at, ProbeOutcome("probe_error", None, runner), 0.0)
                    cell.final = True
                continue
            jobs.append(lambda r=runner, g=group: prober.run_source(r, g, started))
        if jobs:
            prober.run_in_parallel(jobs)
    return rounds
