# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Which NetworkPolicy engine a cluster runs, read from the Kubernetes API.

PRIVATE to the collection; may change at any time.

The one place that answers ``engine: auto`` for reachability_info, probe_connectivity and
migration_check::

    engine, detected, warnings = resolve(params["engine"], live=True, kube=module.kube)

An engine is found by the DaemonSet that runs its agent on every node (``ENGINE_DAEMONSETS``, with
where each name comes from). A DaemonSet counts when it schedules pods on at least one node
(``status.desiredNumberScheduled`` > 0): one left behind with a nodeSelector that matches nothing
enforces nothing. Nothing found: ``upstream`` (the Kubernetes specification), with a warning naming what
was looked for. Cilium and one other engine found: the cluster is moving to Cilium (AKS moves Azure NPM
and Calico clusters to Cilium in place); the other engine is chosen, because AKS says Cilium enforces
only after every node is reimaged. Any other pair is an error: a cluster runs one engine.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ansible_collections.netpol.aks.plugins.module_utils import _kube

# (engine, namespace, DaemonSet name), in the order they are read:
# - azure: Azure NPM's manifest (Azure/azure-container-networking npm/azure-npm.yaml) and AKS's add-on;
#   AKS always has a Linux system pool, so the Linux DaemonSet is there whenever NPM is (the Windows one,
#   azure-npm-win, runs beside it).
# - calico: the Tigera operator (which AKS installs) runs calico-node in calico-system
#   (tigera/operator pkg/common/common.go: CalicoNamespace, NodeDaemonSetName); Calico's manifest and older
#   AKS clusters run it in kube-system (projectcalico/calico charts/calico/templates/calico-node.yaml).
# - cilium: Cilium's Helm chart (cilium/cilium install/kubernetes/cilium/templates/cilium-agent/daemonset.yaml)
#   in the release namespace, kube-system on AKS (learn.microsoft.com azure/aks/how-to-apply-wireguard:
#   kubectl -n kube-system exec ds/cilium).
ENGINE_DAEMONSETS: tuple[tuple[str, str, str], ...] = (
    ("azure", "kube-system", "azure-npm"),
    ("calico", "calico-system", "calico-node"),
    ("calico", "kube-system", "calico-node"),
    ("cilium", "kube-system", "cilium"),
)
ENGINE_LABELS = {"azure": "Azure NPM", "calico": "Calico", "cilium": "Cilium"}
AUTO = "auto"
FALLBACK = "upstream"


def looked_for() -> str:
    """What detection reads, for messages: ``DaemonSet kube-system/azure-npm (Azure NPM), ...``."""
    return ", ".join(f"DaemonSet {ns}/{name} ({ENGINE_LABELS[engine]})" for engine, ns, name in ENGINE_DAEMONSETS)


@dataclass(frozen=True)
class Found:
    """One engine DaemonSet the cluster has."""

    engine: str
    namespace: str
    name: str
    desired: int
    ready: int

    @property
    def source(self) -> str:
        return f"DaemonSet {self.namespace}/{self.name}"

    @property
    def runs(self) -> bool:
        return self.desired > 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.engine,
            "source": self.source,
            "pods_desired": self.desired,
            "pods_ready": self.ready,
            "counted": self.runs,
        }


@dataclass(frozen=True)
class Detection:
    """The engine that predicts, what it was read from, and why."""

    engine: str
    source: str | None
    reason: str
    found: tuple[Found, ...] = ()
    warning: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.engine,
            "source": self.source,
            "reason": self.reason,
            "found": [f.to_dict() for f in self.found],
        }


Reader = Callable[[str, str], "dict | None"]


def _count(status: dict, key: str) -> int:
    value = status.get(key)
    return value if isinstance(value, int) and value > 0 else 0


def gather(read: Reader) -> list[Found]:
    """Every engine DaemonSet of ENGINE_DAEMONSETS the cluster has (raises KubeError when one cannot be read)."""
    found = []
    for engine, namespace, name in ENGINE_DAEMONSETS:
        daemonset = read(namespace, name)
        if daemonset is None:
            continue
        status = daemonset.get("status") or {}
        found.append(
            Found(engine, namespace, name, _count(status, "desiredNumberScheduled"), _count(status, "numberReady"))
        )
    return found


def decide(found: list[Found], option: str = "engine") -> Detection:
    """The engine from what was found (pure; see the module's docstring). Raises KubeError for two engines
    that no move between engines explains."""
    running: dict[str, Found] = {}
    for item in found:
        if item.runs:
            running.setdefault(item.engine, item)
    idle = [f for f in found if not f.runs]
    if not running:
        idle_text = f" ({', '.join(f.source for f in idle)}: no pods scheduled)" if idle else ""
        return Detection(
            FALLBACK,
            None,
            "no NetworkPolicy engine found",
            tuple(found),
            warning=(
                f"{option}: no NetworkPolicy engine found in the cluster{idle_text}; looked for {looked_for()}. "
                f"Predicting with {FALLBACK} (the Kubernetes specification); set {option} to the engine that "
                "enforces NetworkPolicy to say so."
            ),
        )
    if len(running) == 1:
        item = next(iter(running.values()))
        return Detection(item.engine, item.source, f"{item.source} runs on {item.desired} node(s)", tuple(found))
    if len(running) == 2 and "cilium" in running:
        cilium = running["cilium"]
        old = next(f for engine, f in running.items() if engine != "cilium")
        return Detection(
            old.engine,
            old.source,
            f"moving to Cilium: {old.source} and {cilium.source} both run; {ENGINE_LABELS[old.engine]} enforces "
            "until every node is reimaged",
            tuple(found),
            warning=(
                f"{option}: both {ENGINE_LABELS[old.engine]} ({old.source}, {old.ready}/{old.desired} pods ready) and "
                f"Cilium ({cilium.source}, {cilium.ready}/{cilium.desired} pods ready) run: the cluster is moving to "
                f"Cilium. Predicting with {old.engine}, which enforces until every node is reimaged (AKS: Cilium "
                f"begins enforcing only after all nodes are reimaged); set {option}=cilium to predict the cluster "
                "after the move."
            ),
        )
    names = ", ".join(f"{ENGINE_LABELS[engine]} ({f.source})" for engine, f in running.items())
    raise _kube.KubeError(
        f"{option}: the cluster runs several NetworkPolicy engines ({names}); a cluster enforces with one, and no "
        f"move between engines passes through this state. Set {option} to the engine that enforces NetworkPolicy."
    )


def detect(read: Reader, required: bool, option: str = "engine") -> Detection:
    """decide() on what ``read`` finds. When the DaemonSets cannot be read: a KubeError if ``required`` (the
    user asked for auto), else the fallback with a warning that says why."""
    try:
        found = gather(read)
    except _kube.KubeError as err:
        what = (
            f"{option}: could not read the NetworkPolicy engine's DaemonSets ({err.message}); get on daemonsets "
            "in kube-system and calico-system is needed"
        )
        if required:
            raise _kube.KubeError(f"{what}, or set {option} to the engine that enforces NetworkPolicy.", err) from err
        return Detection(
            FALLBACK,
            None,
            "the DaemonSets could not be read",
            warning=f"{what}. Predicting with {FALLBACK} (the Kubernetes specification); set {option} to say which engine enforces.",
        )
    return decide(found, option)


def check_offline(engine: str | None, live: bool, option: str = "engine") -> None:
    """``auto`` needs a cluster to read: a clear error with offline data."""
    if engine == AUTO and not live:
        raise _kube.KubeError(
            f"{option}: auto reads the engine from the cluster, so it needs source=live; with offline data give "
            "upstream, calico, cilium or azure"
        )


def resolve(
    engine: str | None, live: bool, kube: Callable[[], _kube.KubeClient], option: str = "engine"
) -> tuple[str, dict[str, Any] | None, list[str]]:
    """The engine to predict with, what was detected (``{name, source, reason, found}``, None when the engine
    was given) and warnings.

    ``engine`` None (the option's default) is ``auto`` with a live cluster and ``upstream`` offline; a default
    ``auto`` that cannot read the DaemonSets warns and predicts with ``upstream``, an explicit one fails.
    """
    check_offline(engine, live, option)
    if engine not in (None, AUTO):
        return engine, None, []
    if not live:
        return FALLBACK, None, []
    detection = detect(kube().read_daemonset, required=engine == AUTO, option=option)
    return detection.engine, detection.to_dict(), [detection.warning] if detection.warning else []
