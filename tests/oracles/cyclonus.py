"""Run cyclonus (the offline engine Policy Assistant was forked from) on a cluster, as a user would.

Input, written to a directory: one NetworkPolicy manifest per file (``--policy-path``), the synthetic
probe model (``--probe-path``: namespaces with their labels, pods with labels, IP and one container
per port, the (port, protocol) pairs to probe) and a traffic file for the non-pod addresses
(``--traffic-path``). Output: cyclonus's own text, parsed -- the ``Combined`` truth table of every
probe (``.`` allowed, ``X`` blocked, ``N``/``P`` not asked: the target serves no such port) and the
``Is allowed?`` footer of every traffic query.
"""

from __future__ import annotations

import functools
import json
import os
import re
import subprocess
from pathlib import Path

from tests.oracles.generate import served_ports

BUILD = Path(__file__).resolve().parent / "build.sh"
TOOL = "cyclonus"


class OracleError(RuntimeError):
    """The oracle could not be built or run, or printed something this parser does not understand."""


@functools.cache
def binary() -> Path:
    """The cached cyclonus binary, built by tests/oracles/build.sh when missing (needs Go)."""
    try:
        out = subprocess.run(
            [str(BUILD), "--print-dir", TOOL], capture_output=True, text=True, check=True, timeout=120
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError) as exc:
        msg = getattr(exc, "stderr", "") or exc
        raise OracleError(f"cannot locate the {TOOL} build: {msg}; run `make oracles`") from None
    path = Path(out) / TOOL
    if not path.exists():
        proc = subprocess.run([str(BUILD)], capture_output=True, text=True, timeout=3600, check=False)
        if proc.returncode != 0 or not path.exists():
            raise OracleError(f"building {TOOL} failed (`make oracles` shows why):\n{proc.stdout}{proc.stderr}")
    return path


def with_default_policy_types(policy: dict) -> dict:
    """The policy as the API server stores it: cyclonus refuses a manifest without spec.policyTypes.

    The API server's default (NetworkPolicySpec.policyTypes): "If this field is not specified, it will
    default based on the existence of ingress or egress rules; policies that contain an egress section are
    assumed to affect egress, and all policies (whether or not they contain an ingress section) are assumed
    to affect ingress." An empty ``egress: []`` holds no rule, so it does not add Egress.
    """
    spec = policy.get("spec") or {}
    if spec.get("policyTypes"):
        return policy
    types = ["Ingress"] + (["Egress"] if spec.get("egress") else [])
    return {**policy, "spec": {**spec, "policyTypes": types}}


def write_inputs(cluster: dict, workdir: Path, probes: list[tuple[int, str]] | None = None) -> list[tuple[int, str]]:
    """Write the manifests, the probe model and the traffic file; return the probes in order.

    The probes are every (port, protocol) some pod serves unless given.
    """
    policy_dir = workdir / "policies"
    policy_dir.mkdir(parents=True, exist_ok=True)
    for i, policy in enumerate(cluster["policies"]):
        # JSON, not YAML: cyclonus reads YAML 1.1, where a namespace named `y` unquoted is the boolean true.
        manifest = json.dumps(with_default_policy_types(policy), indent=1)
        (policy_dir / f"{i:03d}-{policy['metadata']['name']}.json").write_text(manifest)
    ns_labels = {
        ns["name"]: {**ns["labels"], "kubernetes.io/metadata.name": ns["name"]} for ns in cluster["namespaces"]
    }
    pods = []
    for pod in cluster["pods"]:
        containers = [
            {
                "Name": f"c-{p['port']}-{p['protocol'].lower()}",
                "Port": p["port"],
                "Protocol": p["protocol"],
                "PortName": p.get("name", ""),
            }
            for p in pod["ports"]
        ]
        pods.append(
            {
                "Namespace": pod["namespace"],
                "Name": pod["name"],
                "Labels": pod["labels"],
                "IP": pod["ip"],
                "Containers": containers,
            }
        )
    probes = served_ports(cluster) if probes is None else probes
    model = {
        "Resources": {"Namespaces": ns_labels, "Pods": pods},
        "Probes": [{"Port": number, "Protocol": proto} for number, proto in probes],
    }
    (workdir / "model.json").write_text(json.dumps(model, indent=1))
    (workdir / "traffic.json").write_text(json.dumps(traffic_queries(cluster), indent=1))
    return probes


def traffic_queries(cluster: dict) -> list[dict]:
    """Every non-pod address to every pod on each port it serves, and every pod to every address."""
    ns_labels = {
        ns["name"]: {**ns["labels"], "kubernetes.io/metadata.name": ns["name"]} for ns in cluster["namespaces"]
    }
    out = []
    ports = served_ports(cluster)
    for ext in cluster["externals"]:
        for pod in cluster["pods"]:
            internal = {
                "Internal": {
                    "PodLabels": pod["labels"],
                    "NamespaceLabels": ns_labels[pod["namespace"]],
                    "Namespace": pod["namespace"],
                },
                "IP": pod["ip"],
            }
            for p in pod["ports"]:
                out.append(
                    {
                        "Source": {"IP": ext},
                        "Destination": internal,
                        "ResolvedPort": p["port"],
                        "ResolvedPortName": p.get("name", ""),
                        "Protocol": p["protocol"],
                    }
                )
            for number, proto in ports:
                out.append(
                    {
                        "Source": internal,
                        "Destination": {"IP": ext},
                        "ResolvedPort": number,
                        "ResolvedPortName": "",
                        "Protocol": proto,
                    }
                )
    return out


_ROW = re.compile(r"^\|\s*(\S+)\s*\|(.*)\|\s*$")
_FOOTER = re.compile(r"IS ALLOWED\?\s*\|\s*(TRUE|FALSE)\s*\|", re.IGNORECASE)


def _parse_table(lines: list[str], start: int) -> tuple[list[tuple[str, list[str]]], int]:
    """Rows (label, cells) of the tablewriter table that begins at lines[start]; returns the next index."""
    i = start
    while i < len(lines) and not lines[i].startswith("+"):
        i += 1
    rows = []
    seen_border = 0
    while i < len(lines) and (lines[i].startswith("+") or lines[i].startswith("|")):
        if lines[i].startswith("+"):
            seen_border += 1
        elif seen_border >= 2:  # after the header's closing border
            m = _ROW.match(lines[i])
            if not m:
                raise OracleError(f"unexpected cyclonus table row: {lines[i]!r}")
            rows.append((m.group(1), [c.strip() for c in m.group(2).split("|")]))
        i += 1
    return rows, i


def parse_output(text: str, probes: list[tuple[int, str]], queries: list[dict]) -> dict:
    """{(src, dst, port, protocol): True/False} for every cell cyclonus decided."""
    lines = text.splitlines()
    verdicts: dict[tuple, bool] = {}
    combined = [i for i, line in enumerate(lines) if line.strip() == "Combined:"]
    if len(combined) < len(probes):
        raise OracleError(f"cyclonus printed {len(combined)} Combined tables for {len(probes)} probes:\n{text[-2000:]}")
    for (number, proto), start in zip(probes, combined, strict=False):
        rows, _end = _parse_table(lines, start + 1)
        order = [label for label, _row in rows]
        for src, cells in rows:
            if len(cells) != len(order):
                raise OracleError(f"cyclonus row {src} has {len(cells)} cells for {len(order)} pods")
            for dst, cell in zip(order, cells, strict=True):
                if cell in (".", "X"):
                    verdicts[(src, dst, number, proto)] = cell == "."
                elif cell not in ("N", "P"):
                    raise OracleError(f"cyclonus cell {src} -> {dst} on {number}/{proto}: unexpected {cell!r}")
    footers = _FOOTER.findall(text)
    if len(footers) != len(queries):
        raise OracleError(f"cyclonus answered {len(footers)} of {len(queries)} traffic queries:\n{text[-2000:]}")
    for query, answer in zip(queries, footers, strict=True):
        # Traffic peers are named by IP here; run() maps pod IPs back to namespace/pod.
        cell = (query["Source"]["IP"], query["Destination"]["IP"], query["ResolvedPort"], query["Protocol"])
        verdicts[cell] = answer.upper() == "TRUE"
    return verdicts


def run(cluster: dict, workdir: Path, *, timeout: float = 120) -> dict:
    """Verdicts of cyclonus for the cluster: {(src, dst, port, protocol): bool}.

    src/dst are ``namespace/pod`` for pods and the IP address for non-pod addresses.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    probes = write_inputs(cluster, workdir)
    queries = json.loads((workdir / "traffic.json").read_text())
    cmd = [
        str(binary()),
        "analyze",
        "--mode",
        "probe,query-traffic",
        "--policy-path",
        str(workdir / "policies"),
        "--probe-path",
        str(workdir / "model.json"),
        "--traffic-path",
        str(workdir / "traffic.json"),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False, env=_env())
    if proc.returncode != 0:
        raise OracleError(f"cyclonus exited {proc.returncode}: {proc.stderr[-2000:]}")
    verdicts = parse_output(proc.stdout, probes, queries)
    ip_to_pod = {pod["ip"]: f"{pod['namespace']}/{pod['name']}" for pod in cluster["pods"]}
    return {(ip_to_pod.get(s, s), ip_to_pod.get(d, d), n, p): v for (s, d, n, p), v in verdicts.items()}


def _env() -> dict:
    env = dict(os.environ)
    env.pop("KUBECONFIG", None)
    return env
