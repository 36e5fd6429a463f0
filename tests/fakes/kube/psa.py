# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Pod Security Admission (`pod-security.kubernetes.io/enforce` on the namespace): baseline and restricted.

Messages follow k8s.io/pod-security-admission (policy/check_*.go), checks in the order of their IDs.
"""

from __future__ import annotations

from typing import Any

_BASELINE_CAPS = {
    "AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD", "NET_BIND_SERVICE",
    "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT",
}  # fmt: skip
_RESTRICTED_VOLUMES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
}


def _containers(spec: dict) -> list[dict]:
    return [
        c
        for key in ("initContainers", "containers", "ephemeralContainers")
        for c in spec.get(key) or []
        if isinstance(c, dict)
    ]


def _who(names: list[str]) -> str:
    quoted = ", ".join(f'"{n}"' for n in names)
    return f"container {quoted}" if len(names) == 1 else f"containers {quoted}"


def violations(spec: dict, level: str) -> list[str]:
    """Every violated check as `<title> (<details>)`; empty when the pod is allowed at `level`."""
    if level not in ("baseline", "restricted") or not isinstance(spec, dict):
        return []
    out: list[tuple[str, str]] = []
    containers = _containers(spec)
    pod_sc = spec.get("securityContext") or {}

    def sc(c: dict) -> dict:
        return c.get("securityContext") or {}

    restricted = level == "restricted"
    if restricted:
        bad = [c["name"] for c in containers if sc(c).get("allowPrivilegeEscalation") is not False]
        if bad:
            out.append(
                (
                    "allowPrivilegeEscalation",
                    f"allowPrivilegeEscalation != false ({_who(bad)} must set securityContext.allowPrivilegeEscalation=false)",
                )
            )
    # baseline: non-default capabilities
    added: dict[str, list[str]] = {}
    for c in containers:
        for cap in (sc(c).get("capabilities") or {}).get("add") or []:
            if cap not in _BASELINE_CAPS:
                added.setdefault(c["name"], []).append(cap)
    if added:
        parts = [
            f"{_who([n])} must not include {', '.join(chr(34) + c + chr(34) for c in caps)} in securityContext.capabilities.add"
            for n, caps in added.items()
        ]
        out.append(("capabilities_baseline", f"non-default capabilities ({'; '.join(parts)})"))
    if restricted:
        no_drop = [c["name"] for c in containers if "ALL" not in ((sc(c).get("capabilities") or {}).get("drop") or [])]
        extra: dict[str, list[str]] = {}
        for c in containers:
            for cap in (sc(c).get("capabilities") or {}).get("add") or []:
                if cap != "NET_BIND_SERVICE":
                    extra.setdefault(c["name"], []).append(cap)
        parts = []
        if no_drop:
            parts.append(f'{_who(no_drop)} must set securityContext.capabilities.drop=["ALL"]')
        for name, caps in extra.items():
            parts.append(
                f"{_who([name])} must not include {', '.join(chr(34) + c + chr(34) for c in caps)} in securityContext.capabilities.add"
            )
        if parts:
            out.append(("capabilities_restricted", f"unrestricted capabilities ({'; '.join(parts)})"))
    hosts = [f"{k}=true" for k in ("hostNetwork", "hostPID", "hostIPC") if spec.get(k)]
    if hosts:
        out.append(("hostNamespaces", f"host namespaces ({', '.join(hosts)})"))
    host_paths = [v.get("name") for v in spec.get("volumes") or [] if isinstance(v, dict) and "hostPath" in v]
    if host_paths:
        out.append(
            (
                "hostPathVolumes",
                f"hostPath volumes ({'volume' if len(host_paths) == 1 else 'volumes'} {', '.join(chr(34) + n + chr(34) for n in host_paths)})",
            )
        )
    host_ports = [
        (c["name"], p["hostPort"])
        for c in containers
        for p in c.get("ports") or []
        if isinstance(p, dict) and p.get("hostPort")
    ]
    if host_ports:
        out.append(
            ("hostPorts", "hostPort (" + "; ".join(f"{_who([n])} uses hostPort {p}" for n, p in host_ports) + ")")
        )
    privileged = [c["name"] for c in containers if sc(c).get("privileged")]
    if privileged:
        out.append(("privileged", f"privileged ({_who(privileged)} must not set securityContext.privileged=true)"))
    if restricted:
        bad_volumes = []
        for v in spec.get("volumes") or []:
            if not isinstance(v, dict):
                continue
            kinds = [k for k in v if k != "name"]
            if kinds and kinds[0] not in _RESTRICTED_VOLUMES and kinds[0] != "hostPath":
                bad_volumes.append((v.get("name"), kinds[0]))
        if bad_volumes:
            text = "; ".join(f'volume "{n}" uses restricted volume type "{k}"' for n, k in bad_volumes)
            out.append(("restrictedVolumes", f"restricted volume types ({text})"))
        pod_nonroot = pod_sc.get("runAsNonRoot")
        explicit_false = [c["name"] for c in containers if sc(c).get("runAsNonRoot") is False]
        unset = [c["name"] for c in containers if sc(c).get("runAsNonRoot") is None]
        parts = []
        if pod_nonroot is False:
            parts.append("pod must not set securityContext.runAsNonRoot=false")
        if explicit_false:
            parts.append(f"{_who(explicit_false)} must not set securityContext.runAsNonRoot=false")
        if pod_nonroot is None and unset:
            parts.append(f"pod or {_who(unset)} must set securityContext.runAsNonRoot=true")
        if parts:
            out.append(("runAsNonRoot", f"runAsNonRoot != true ({'; '.join(parts)})"))
        root = []
        if pod_sc.get("runAsUser") == 0:
            root.append("pod must not set runAsUser=0")
        root_containers = [c["name"] for c in containers if sc(c).get("runAsUser") == 0]
        if root_containers:
            root.append(f"{_who(root_containers)} must not set runAsUser=0")
        if root:
            out.append(("runAsUser", f"runAsUser=0 ({'; '.join(root)})"))
        pod_type = (pod_sc.get("seccompProfile") or {}).get("type")
        parts = []
        if pod_type not in (None, "RuntimeDefault", "Localhost"):
            parts.append(f'pod must not set securityContext.seccompProfile.type to "{pod_type}"')
        bad_type = [
            c["name"]
            for c in containers
            if (sc(c).get("seccompProfile") or {}).get("type") not in (None, "RuntimeDefault", "Localhost")
        ]
        if bad_type:
            parts.append(f'{_who(bad_type)} must not set securityContext.seccompProfile.type to "Unconfined"')
        if pod_type is None:
            missing = [c["name"] for c in containers if (sc(c).get("seccompProfile") or {}).get("type") is None]
            if missing:
                parts.append(
                    f'pod or {_who(missing)} must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost"'
                )
        if parts:
            out.append(("seccompProfile_restricted", f"seccompProfile ({'; '.join(parts)})"))
    return [text for _unused, text in sorted(out, key=lambda item: item[0])]


def level_of(namespace: dict[str, Any] | None) -> str:
    labels = ((namespace or {}).get("metadata") or {}).get("labels") or {}
    return labels.get("pod-security.kubernetes.io/enforce", "privileged")


def warn_level_of(namespace: dict[str, Any] | None) -> str:
    labels = ((namespace or {}).get("metadata") or {}).get("labels") or {}
    levels = ["privileged", "baseline", "restricted"]
    candidates = [labels.get(f"pod-security.kubernetes.io/{m}", "privileged") for m in ("enforce", "warn", "audit")]
    return max(candidates, key=lambda lv: levels.index(lv) if lv in levels else 0)


def message(level: str, found: list[str]) -> str:
    return f'violates PodSecurity "{level}:latest": ' + ", ".join(found)
