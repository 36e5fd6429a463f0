# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""PRIVATE to the collection; may change at any time.

The probe model, pure (standard library only, no Kubernetes client): the in-pod probe script and how
its output is read and classified, sources and targets checked from the module's input, the probe pod
manifest and pod readiness read from a pod's status, cells (one source x target x port) with their
history and stability, the truth tables and the verdict. ``_prober`` runs it against a cluster.

One exec per source pod runs PROBE_SCRIPT with one argument per target; the targets are probed in
parallel inside the pod, so a source with ten blocked targets costs one timeout, not ten. The script
only needs busybox (sh, wget, nc, sed), which busybox and alpine images have.

Wire contract (the Kubernetes test double emulates exactly this command):
    command = ["sh", "-c", PROBE_SCRIPT, "netpol-probe", spec, spec, ...]
    spec    = "<index>|<kind>|<host>|<port>|<timeout seconds>"   kind: http | tcp
    host    = a name or an IPv4 address; an IPv6 address is bracketed for http ([fd00::1]), bare for tcp
Output, per target, in any order between targets:
    "@<index> <one line of the tool's stdout/stderr>"   (zero or more lines)
    "@<index> rc=<exit code>"                           (exactly one, last for that index)
"""

from __future__ import annotations

import ipaddress
import re
import secrets
from dataclasses import dataclass
from dataclasses import field
from typing import Any
from urllib.parse import urlsplit

PROBE_ARGV0 = "netpol-probe"

PROBE_SCRIPT = r"""run() {
  old_ifs=$IFS; IFS='|'; set -- $1; IFS=$old_ifs
  i=$1; kind=$2; host=$3; port=$4; t=$5
  case $kind in
    http) out=$(wget -q -O - -T "$t" "http://$host:$port/" 2>&1); rc=$? ;;
    tcp) out=$(nc -vv -z -w "$t" "$host" "$port" 2>&1); rc=$? ;;
    *) out="netpol-probe: unknown probe kind '$kind'"; rc=2 ;;
  esac
  printf '%s\n' "$out" | sed "s/^/@$i /"
  echo "@$i rc=$rc"
}
for spec in "$@"; do run "$spec" & done
wait
"""

RESULTS = ("allowed", "blocked", "refused", "dns_error", "probe_error")
PROTOCOLS = ("http", "tcp")

# Probe pods carry these labels so that leftovers can be found (and removed) with a selector:
#   kubectl get pods -A -l netpol.aks/probe=true
PROBE_LABEL = "netpol.aks/probe"
PROBE_RUN_LABEL = "netpol.aks/probe-run"
MANAGED_BY = {"app.kubernetes.io/managed-by": "netpol.aks", "app.kubernetes.io/name": "netpol-probe"}
DEFAULT_PROBE_IMAGE = "busybox:1.36"
# The probe pod only sleeps; the kubelet also kills it after this long should its deletion fail.
PROBE_POD_LIFETIME = 900

# Waiting reasons that mean the probe pod will never become ready: give up at once.
FATAL_WAITING_REASONS = frozenset(
    {
        "ErrImagePull",
        "ImagePullBackOff",
        "InvalidImageName",
        "ErrImageNeverPull",
        "CreateContainerConfigError",
        "CreateContainerError",
        "CrashLoopBackOff",
        "RunContainerError",
    }
)

# What busybox wget / nc print (busybox 1.36, also alpine's): the failure modes must stay apart,
# a probe that could not run is never "blocked".
_BLOCKED = re.compile(r"download timed out|nc: timeout|Connection timed out|timed out")
_REFUSED = re.compile(r"Connection refused")
_DNS = re.compile(r"bad address|Name or service not known|Name does not resolve|unknown host")
# The connection got through and the server answered with an HTTP error: reachable.
_HTTP_ERROR = re.compile(r"server returned error|HTTP/1\.[01] \d{3}")
# The image lacks the tool (sh: wget: not found): the probe could not run.
_MISSING_TOOL = re.compile(r"(^|\n)(sh: )?[^\n:]+: not found")
_LINE = re.compile(r"^@(\d+) (.*)$")
_RC = re.compile(r"^rc=(\d+)$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_HOST = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?$")
_HOST_LABEL = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?$")

# One-letter marks for the text tables (cyclonus / upstream e2e style).
MARKS = {"allowed": ".", "blocked": "X", "refused": "R", "dns_error": "D", "probe_error": "E", None: "?"}


class ProbeInputError(ValueError):
    """A bad module input, found before anything was created (the message says so)."""

    def __init__(self, message: str) -> None:
        super().__init__(f"Invalid input, nothing was created: {message}")
        self.message = str(self)


@dataclass(frozen=True)
class TargetSpec:
    index: int
    kind: str
    host: str
    port: int
    timeout: int

    def render(self) -> str:
        return f"{self.index}|{self.kind}|{self.host}|{self.port}|{self.timeout}"


@dataclass
class ProbeOutcome:
    result: str
    rc: int | None
    output: str


def wire_host(host: str, kind: str) -> str:
    """The host as the probe script takes it: an IPv6 address in brackets for http, since the script
    builds ``http://$host:$port/`` (unbracketed, wget reads ``fd00::1:80`` as one address), bare for nc."""
    if kind == "http" and is_ipv6(host):
        return f"[{host}]"
    return host


def is_ipv6(value: str) -> bool:
    try:
        return ipaddress.ip_address(value).version == 6
    except ValueError:
        return False


def build_command(specs: list[TargetSpec]) -> list[str]:
    """The exec argv that probes every target of one source pod."""
    return ["sh", "-c", PROBE_SCRIPT, PROBE_ARGV0, *(spec.render() for spec in specs)]


def classify(rc: int | None, output: str) -> str:
    """Turn one tool run into a result; anything unrecognised is a probe_error, never blocked."""
    if rc == 0:
        return "allowed"
    if rc is None:
        return "probe_error"
    if rc == 127 or _MISSING_TOOL.search(output):
        return "probe_error"
    if _HTTP_ERROR.search(output):
        return "allowed"
    if _DNS.search(output):
        return "dns_error"
    if _REFUSED.search(output):
        return "refused"
    if _BLOCKED.search(output):
        return "blocked"
    return "probe_error"


def parse_output(stdout: str, count: int) -> dict[int, ProbeOutcome]:
    """Split the script's output per target index; a target without an rc line is a probe_error."""
    lines: dict[int, list[str]] = {i: [] for i in range(count)}
    codes: dict[int, int] = {}
    for raw in stdout.splitlines():
        match = _LINE.match(raw)
        if not match or int(match.group(1)) not in lines:
            continue
        index, text = int(match.group(1)), match.group(2)
        rc = _RC.match(text)
        if rc:
            codes[index] = int(rc.group(1))
        elif text:
            lines[index].append(text)
    outcomes = {}
    for index in range(count):
        output = "\n".join(lines[index])
        rc = codes.get(index)
        if rc is None and not output:
            output = "netpol-probe: no result for this target in the exec output"
        outcomes[index] = ProbeOutcome(classify(rc, output), rc, output)
    return outcomes


# ---------------------------------------------------------------------------------------------
# Sources and targets
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    """Where a probe runs: an existing pod, or an ephemeral probe pod carrying `labels`."""

    namespace: str
    pod: str | None = None
    labels: tuple[tuple[str, str], ...] | None = None
    container: str | None = None

    @property
    def ephemeral(self) -> bool:
        return self.pod is None

    @property
    def name(self) -> str:
        if self.pod is not None:
            return f"{self.namespace}/{self.pod}"
        selector = ",".join(f"{k}={v}" for k, v in self.labels or ())
        return f"{self.namespace}/[{selector}]"

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"namespace": self.namespace}
        if self.pod is not None:
            data["pod"] = self.pod
        else:
            data["labels"] = dict(self.labels or ())
        if self.container:
            data["container"] = self.container
        return data


@dataclass(frozen=True)
class Target:
    """What a probe connects to. `kind` is service, pod, ip or url."""

    kind: str
    value: str
    namespace: str
    url_port: int | None = None

    @property
    def name(self) -> str:
        if self.kind in ("service", "pod"):
            return f"{self.kind} {self.namespace}/{self.value}"
        return f"{self.kind} {self.value}"

    @property
    def short(self) -> str:
        if self.kind == "service":
            return f"{self.namespace}/{self.value}"
        if self.kind == "pod":
            return f"pod:{self.namespace}/{self.value}"
        return self.value

    def with_port(self, port: int, *, short: bool = False) -> str:
        """``<target>:<port>``, an IPv6 address in brackets (``ip [fd00::1]:80``); a URL that names its port
        as written (``url http://x:8080``)."""
        if self.kind == "url" and urlsplit(self.value).port is not None:
            return self.short if short else self.name
        if self.kind == "ip" and is_ipv6(self.value):
            return f"{'' if short else 'ip '}[{self.value}]:{port}"
        return f"{self.short if short else self.name}:{port}"

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {self.kind: self.value}
        if self.kind in ("service", "pod"):
            data["namespace"] = self.namespace
        return data


def check_name(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value or len(value) > 253 or not _HOST.match(value):
        raise ProbeInputError(f"{what} must be a Kubernetes object name, got {value!r}")
    return value


def _check_labels(labels: Any, what: str) -> tuple[tuple[str, str], ...]:
    if not isinstance(labels, dict) or not labels:
        raise ProbeInputError(f"{what}.labels must be a non-empty mapping of label names to values, got {labels!r}")
    items = []
    for key, value in labels.items():
        if not isinstance(key, str) or not key:
            raise ProbeInputError(f"{what}.labels has an invalid label name {key!r}")
        if isinstance(value, bool) or value is None:
            raise ProbeInputError(f"{what}.labels.{key} must be a string, got {value!r} (quote it in YAML)")
        items.append((key, str(value)))
    return tuple(sorted(items))


def normalise_source(raw: Any, default_namespace: str, what: str = "from") -> Source:
    """`{pod: NAME}` or `{labels: {...}}`, each with an optional `namespace` (and `container`)."""
    if isinstance(raw, str):
        raw = {"pod": raw}
    if not isinstance(raw, dict):
        raise ProbeInputError(f"{what} must be a mapping with pod or labels, got {raw!r}")
    unknown = set(raw) - {"pod", "labels", "namespace", "container"}
    if unknown:
        raise ProbeInputError(f"{what} has unknown keys {sorted(unknown)}; use pod or labels, and optionally namespace")
    present = [key for key in ("pod", "labels") if raw.get(key) is not None]
    if len(present) != 1:
        raise ProbeInputError(f"{what} needs exactly one of pod (an existing pod) or labels (an ephemeral probe pod)")
    namespace = check_name(raw.get("namespace") or default_namespace, f"{what}.namespace")
    container = raw.get("container")
    if container is not None:
        container = check_name(container, f"{what}.container")
    if present[0] == "pod":
        return Source(namespace=namespace, pod=check_name(raw["pod"], f"{what}.pod"), container=container)
    if container is not None:
        raise ProbeInputError(f"{what}.container only applies to an existing pod")
    return Source(namespace=namespace, labels=_check_labels(raw["labels"], what))


def normalise_target(raw: Any, default_namespace: str, what: str = "to") -> Target:
    """`{service|pod|ip|url: ...}` with an optional `namespace`; a plain string is a service name."""
    if isinstance(raw, str):
        raw = {"service": raw}
    if not isinstance(raw, dict):
        raise ProbeInputError(f"{what} must be a service name or a mapping with service, pod, ip or url, got {raw!r}")
    unknown = set(raw) - {"service", "pod", "ip", "url", "namespace"}
    if unknown:
        raise ProbeInputError(f"{what} has unknown keys {sorted(unknown)}; use service, pod, ip or url")
    present = [key for key in ("service", "pod", "ip", "url") if raw.get(key) is not None]
    if len(present) != 1:
        raise ProbeInputError(f"{what} needs exactly one of service, pod, ip or url, got {sorted(present) or 'none'}")
    kind = present[0]
    namespace = check_name(raw.get("namespace") or default_namespace, f"{what}.namespace")
    value = raw[kind]
    if kind in ("service", "pod"):
        value = check_name(value, f"{what}.{kind}")
        if kind == "service" and not _DNS_LABEL.match(value):
            raise ProbeInputError(f"{what}.service must be a DNS label (a Service name), got {value!r}")
        return Target(kind, value, namespace)
    if kind == "ip":
        try:
            value = str(ipaddress.ip_address(str(value)))
        except ValueError:
            raise ProbeInputError(f"{what}.ip must be an IP address, got {value!r}") from None
        return Target("ip", value, namespace)
    if not isinstance(value, str):
        raise ProbeInputError(f"{what}.url must be a string, got {value!r}")
    parts = urlsplit(value)
    if parts.scheme != "http" or not parts.hostname:
        raise ProbeInputError(f"{what}.url must be an http:// URL with a host (busybox wget has no TLS), got {value!r}")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ProbeInputError(f"{what}.url is probed at its root path only; drop the path or query from {value!r}")
    try:
        port = parts.port
    except ValueError:
        raise ProbeInputError(f"{what}.url has an invalid port: {value!r}") from None
    if port is not None:
        check_port(port, f"{what}.url port")
    if not is_host(parts.hostname):
        raise ProbeInputError(
            f"{what}.url host {parts.hostname!r} is neither a host name (letters, digits, '-' and '.') "
            f"nor an IP address, in {value!r}"
        )
    return Target("url", value, namespace, url_port=port or 80)


def is_host(value: str) -> bool:
    """A DNS host name (RFC 1123 labels of letters, digits and '-', at most 253 characters) or an IP address."""
    try:
        ipaddress.ip_address(value)
        return True
    except ValueError:
        pass
    name = value[:-1] if value.endswith(".") else value
    if not name or len(name) > 253 or name.rsplit(".", 1)[-1].isdigit():  # 999.1.1.1 is a bad address, not a name
        return False
    return all(_HOST_LABEL.match(label) for label in name.split("."))


def check_port(port: Any, what: str = "port") -> int:
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise ProbeInputError(f"{what} must be between 1 and 65535, got {port!r}")
    return port


def check_protocol(protocol: Any) -> str:
    if protocol not in PROTOCOLS:
        raise ProbeInputError(f"protocol must be one of {', '.join(PROTOCOLS)}, got {protocol!r}")
    return protocol


def service_host(target: Target) -> str:
    """The DNS name a pod resolves for a Service (the cluster's search path adds the domain)."""
    return f"{target.value}.{target.namespace}.svc"


def resolve_host(target: Target, pods: dict[tuple[str, str], dict]) -> str:
    """The host a probe of ``target`` connects to; ``pods`` holds the target pods read, by (namespace, name)."""
    if target.kind == "service":
        return service_host(target)
    if target.kind == "pod":
        ip = pod_ip(pods[(target.namespace, target.value)])
        if not ip:
            raise ProbeInputError(f"target pod {target.namespace}/{target.value} has no IP yet (is it running?)")
        return ip
    if target.kind == "ip":
        return target.value
    return urlsplit(target.value).hostname or ""


@dataclass(frozen=True)
class ProbePod:
    """The pod that runs a source's probes by exec: an existing pod, or this run's probe pod."""

    namespace: str
    name: str
    container: str | None = None

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


def source_runner(source: Source, pod: dict[str, Any]) -> ProbePod | str:
    """The existing pod of ``source`` as the runner of its probes, or why it cannot run them."""
    ready, why, _fatal = pod_readiness(pod)
    if not ready:
        return f"source pod {source.name} is not ready: {why}"
    container = source.container or pod["spec"]["containers"][0]["name"]
    return ProbePod(source.namespace, source.pod or "", container)


# ---------------------------------------------------------------------------------------------
# The probe pod
# ---------------------------------------------------------------------------------------------


def probe_pod_name(run_id: str, index: int) -> str:
    return f"netpol-probe-{run_id}-{index}"


def build_probe_pod(
    name: str,
    namespace: str,
    labels: dict[str, str],
    image: str,
    run_id: str,
    lifetime: int = PROBE_POD_LIFETIME,
) -> dict[str, Any]:
    """An ephemeral client pod that satisfies Pod Security Admission `restricted` and only sleeps."""
    all_labels = {**labels, PROBE_LABEL: "true", PROBE_RUN_LABEL: run_id, **MANAGED_BY}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": all_labels},
        "spec": {
            "restartPolicy": "Never",
            "automountServiceAccountToken": False,
            "enableServiceLinks": False,
            "terminationGracePeriodSeconds": 0,
            # A safety net: the kubelet ends the pod even if its deletion never comes.
            "activeDeadlineSeconds": lifetime,
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": 65534,
                "runAsGroup": 65534,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "containers": [
                {
                    "name": "probe",
                    "image": image,
                    "imagePullPolicy": "IfNotPresent",
                    "command": ["sleep", str(lifetime)],
                    "securityContext": {
                        "allowPrivilegeEscalation": False,
                        "privileged": False,
                        "readOnlyRootFilesystem": True,
                        "runAsNonRoot": True,
                        "capabilities": {"drop": ["ALL"]},
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "resources": {
                        "requests": {"cpu": "10m", "memory": "16Mi"},
                        "limits": {"cpu": "100m", "memory": "32Mi"},
                    },
                }
            ],
        },
    }


def new_run_id() -> str:
    return secrets.token_hex(3)


# ---------------------------------------------------------------------------------------------
# Cells, stability, tables
# ---------------------------------------------------------------------------------------------


@dataclass
class Cell:
    source: Source
    target: Target
    port: int
    protocol: str
    expected: str | None = None
    host: str | None = None
    history: list[tuple[float, str]] = field(default_factory=list)
    outcome: ProbeOutcome | None = None
    elapsed: float | None = None
    final: bool = False

    @property
    def result(self) -> str | None:
        return self.outcome.result if self.outcome else None

    def record(self, at: float, outcome: ProbeOutcome, elapsed: float) -> None:
        self.history.append((at, outcome.result))
        self.outcome = outcome
        self.elapsed = elapsed

    def stable_since(self) -> float | None:
        """When the current run of equal results began (seconds since the start)."""
        if not self.history:
            return None
        current = self.history[-1][1]
        since = self.history[-1][0]
        for at, result in reversed(self.history):
            if result != current:
                break
            since = at
        return since

    def streak(self) -> int:
        if not self.history:
            return 0
        current = self.history[-1][1]
        count = 0
        for _at, result in reversed(self.history):
            if result != current:
                break
            count += 1
        return count

    def settled(self, stable_for: int) -> bool:
        """Equal results `stable_for` times in a row, matching the expectation when there is one.

        A probe_error never settles while retries remain: it says nothing about the network.
        """
        if self.final:
            return True
        if self.streak() < stable_for:
            return False
        if self.result == "probe_error":
            return False
        return not (
            self.expected is not None and self.expected in ("allowed", "blocked") and self.result != self.expected
        )

    @property
    def key(self) -> str:
        return self.target.with_port(self.port, short=True)

    @property
    def label(self) -> str:
        """``source -> target:port``, as the messages name a probe."""
        return f"{self.source.name} -> {self.target.with_port(self.port)}"

    def spec(self, index: int, timeout: int) -> TargetSpec:
        """This cell as the probe script's argument number ``index``."""
        return TargetSpec(index, self.protocol, wire_host(self.host or "", self.protocol), self.port, timeout)

    def as_result(self) -> dict[str, Any]:
        outcome = self.outcome
        data = {
            "from": self.source.name,
            "to": self.target.name,
            "host": self.host,
            "port": self.port,
            "protocol": self.protocol,
            "result": outcome.result if outcome else None,
            "exit_code": outcome.rc if outcome else None,
            "output": outcome.output if outcome else "",
            "elapsed": round(self.elapsed, 3) if self.elapsed is not None else None,
            "attempts": len(self.history),
            "stable_after": round(self.stable_since(), 3) if self.history else None,
            "history": [result for _at, result in self.history],
            "source": self.source.as_dict(),
            "target": self.target.as_dict(),
        }
        if self.expected is not None:
            data["expected"] = self.expected
            data["match"] = self.expected == data["result"]
        return data


def truth_table(cells: list[Cell], attr: str = "result") -> dict[str, dict[str, str | None]]:
    table: dict[str, dict[str, str | None]] = {}
    for cell in cells:
        table.setdefault(cell.source.name, {})[cell.key] = getattr(cell, attr)
    return table


def render_table(table: dict[str, dict[str, str | None]]) -> list[str]:
    """The upstream truth-table layout: '-' corner, rows are sources, columns targets:port.

    Marks: `.` allowed, `X` blocked, `R` refused, `D` dns_error, `E` probe_error, `?` unknown;
    a differences table uses `.` same and `!` differs.
    """
    columns: list[str] = []
    for row in table.values():
        for key in row:
            if key not in columns:
                columns.append(key)
    width = max([len(source) for source in table] + [1])
    widths = [max(len(c), 1) for c in columns]
    lines = ["-".ljust(width) + " " + " ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    for source, row in table.items():
        marks = []
        for key, w in zip(columns, widths, strict=True):
            value = row.get(key)
            marks.append(MARKS.get(value, value if isinstance(value, str) and len(value) == 1 else "?").ljust(w))
        lines.append(source.ljust(width) + " " + " ".join(marks))
    return [line.rstrip() for line in lines]


def differences_table(cells: list[Cell]) -> dict[str, dict[str, str]]:
    table: dict[str, dict[str, str]] = {}
    for cell in cells:
        if cell.expected is None:
            continue
        mark = "." if cell.result == cell.expected else "!"
        table.setdefault(cell.source.name, {})[cell.key] = mark
    return table


def probe_pods_as_backends(sources: list[Source], services: dict[tuple[str, str], dict]) -> list[str]:
    """Why a probe through a target Service could land on a probe pod: the labels of an ephemeral source
    include the Service's whole selector in its namespace, so its probe pods become the Service's endpoints
    (they serve nothing: such a probe reads `refused` at random, which no policy decided)."""
    found = []
    for source in sources:
        if not source.ephemeral:
            continue
        labels = dict(source.labels or ())
        for (namespace, name), service in sorted(services.items()):
            selector = (service.get("spec") or {}).get("selector") or {}
            if namespace == source.namespace and selector and selector.items() <= labels.items():
                found.append(
                    f"the probe pods for labels {labels} in {namespace} match the selector {selector} of target "
                    f"Service {namespace}/{name}: they become its endpoints and serve nothing, so a probe through "
                    "it may reach one and read `refused`, which no policy decided. Give the Service a selector "
                    "those labels do not match, or probe its pods directly"
                )
    return found


def verdict(cells: list[Cell]) -> tuple[str, str]:
    """Compare observed with expected: (`match` | `differences` | `not_enforcing` | `probe_error`, message)."""
    compared = [cell for cell in cells if cell.expected is not None]
    errors = [cell for cell in cells if cell.result == "probe_error"]
    if errors:
        first = errors[0]
        return (
            "probe_error",
            f"{len(errors)} probe(s) could not run (never counted as blocked), e.g. from {first.source.name} "
            f"to {first.target.with_port(first.port)}: {first.outcome.output if first.outcome else ''}".strip(),
        )
    if not compared:
        return ("observed", "No expectation given: observed results only.")
    diffs = [cell for cell in compared if cell.result != cell.expected]
    if not diffs:
        return ("match", f"All {len(compared)} probe(s) match the expectation.")
    predicted_blocked = [cell for cell in compared if cell.expected == "blocked"]
    if predicted_blocked and all(cell.result == "allowed" for cell in predicted_blocked):
        return (
            "not_enforcing",
            f"The cluster does not appear to enforce NetworkPolicy at all: all {len(predicted_blocked)} connection(s) "
            "that the policies block got through. Use a network policy engine (AKS: --network-policy "
            "azure|calico|cilium at cluster creation; kind: kindnet >= v0.24 or Calico).",
        )
    sample = "; ".join(f"{cell.label} expected {cell.expected}, observed {cell.result}" for cell in diffs[:5])
    return ("differences", f"{len(diffs)} of {len(compared)} probe(s) differ from the expectation: {sample}")


# ---------------------------------------------------------------------------------------------
# Pod status
# ---------------------------------------------------------------------------------------------


def pod_readiness(pod: dict[str, Any]) -> tuple[bool, str, bool]:
    """(ready, why not, will never be ready) from a pod's status."""
    status = pod.get("status") or {}
    phase = status.get("phase") or "Pending"
    if phase in ("Succeeded", "Failed"):
        return False, f"phase {phase} ({status.get('reason') or status.get('message') or 'ended'})", True
    for cs in status.get("containerStatuses") or []:
        waiting = (cs.get("state") or {}).get("waiting")
        if waiting and waiting.get("reason") in FATAL_WAITING_REASONS:
            detail = waiting.get("message") or ""
            return False, f"{waiting['reason']} for image {cs.get('image')!r} {detail}".strip(), True
        terminated = (cs.get("state") or {}).get("terminated")
        if terminated:
            return False, f"container {cs.get('name')} terminated ({terminated.get('reason')})", True
    if phase != "Running":
        return False, f"phase {phase}", False
    statuses = status.get("containerStatuses") or []
    if not statuses or not all(cs.get("ready") for cs in statuses):
        return False, "containers not ready", False
    return True, "", False


def pod_ip(pod: dict[str, Any]) -> str | None:
    return (pod.get("status") or {}).get("podIP")
