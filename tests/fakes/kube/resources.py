# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The resource kinds the double serves, and the discovery documents built from them."""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field

SERVER_VERSION = {
    "major": "1",
    "minor": "37",
    "emulationMajor": "1",
    "emulationMinor": "37",
    "minCompatibilityMajor": "1",
    "minCompatibilityMinor": "36",
    "gitVersion": "v1.37.0+netpol-lab",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2026-09-01T00:00:00Z",
    "goVersion": "go1.25.1",
    "compiler": "gc",
    "platform": "linux/amd64",
}

_RW = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]


@dataclass(frozen=True)
class Kind:
    plural: str
    singular: str
    kind: str
    group: str
    version: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    subresources: tuple[tuple[str, str, tuple[str, ...]], ...] = ()
    categories: tuple[str, ...] = ()
    verbs: tuple[str, ...] = field(default=tuple(_RW))

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def group_version(self) -> str:
        return self.api_version


KINDS: tuple[Kind, ...] = (
    Kind(
        "namespaces",
        "namespace",
        "Namespace",
        "",
        "v1",
        False,
        ("ns",),
        (("status", "Namespace", ("get", "patch", "update")), ("finalize", "Namespace", ("update",))),
        verbs=("create", "delete", "get", "list", "patch", "update", "watch"),
    ),
    Kind(
        "pods",
        "pod",
        "Pod",
        "",
        "v1",
        True,
        ("po",),
        (
            ("exec", "PodExecOptions", ("create", "get")),
            ("log", "Pod", ("get",)),
            ("status", "Pod", ("get", "patch", "update")),
        ),
        ("all",),
    ),
    Kind(
        "services",
        "service",
        "Service",
        "",
        "v1",
        True,
        ("svc",),
        (("status", "Service", ("get", "patch", "update")),),
        ("all",),
        verbs=("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"),
    ),
    Kind("endpoints", "endpoints", "Endpoints", "", "v1", True, ("ep",)),
    Kind(
        "deployments",
        "deployment",
        "Deployment",
        "apps",
        "v1",
        True,
        ("deploy",),
        (("scale", "Scale", ("get", "patch", "update")), ("status", "Deployment", ("get", "patch", "update"))),
        ("all",),
    ),
    Kind(
        "replicasets",
        "replicaset",
        "ReplicaSet",
        "apps",
        "v1",
        True,
        ("rs",),
        (("scale", "Scale", ("get", "patch", "update")), ("status", "ReplicaSet", ("get", "patch", "update"))),
        ("all",),
    ),
    Kind("networkpolicies", "networkpolicy", "NetworkPolicy", "networking.k8s.io", "v1", True, ("netpol",)),
)

BY_PLURAL: dict[tuple[str, str], Kind] = {(k.group_version, k.plural): k for k in KINDS}
BY_KIND: dict[str, Kind] = {k.kind: k for k in KINDS}
GROUPS: dict[str, list[str]] = {}
for _k in KINDS:
    if _k.group:
        GROUPS.setdefault(_k.group, [])
        if _k.version not in GROUPS[_k.group]:
            GROUPS[_k.group].append(_k.version)


def lookup(group_version: str, plural: str) -> Kind | None:
    return BY_PLURAL.get((group_version, plural))


def api_versions(server_address: str) -> dict:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    }


def api_group_list() -> dict:
    groups = []
    for name, versions in GROUPS.items():
        entries = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
        groups.append({"name": name, "versions": entries, "preferredVersion": entries[0]})
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_group(group: str) -> dict | None:
    if group not in GROUPS:
        return None
    entries = [{"groupVersion": f"{group}/{v}", "version": v} for v in GROUPS[group]]
    return {"kind": "APIGroup", "apiVersion": "v1", "name": group, "versions": entries, "preferredVersion": entries[0]}


def resource_list(group_version: str) -> dict | None:
    kinds = [k for k in KINDS if k.group_version == group_version]
    if not kinds:
        return None
    resources = []
    for k in kinds:
        entry = {
            "name": k.plural,
            "singularName": k.singular,
            "namespaced": k.namespaced,
            "kind": k.kind,
            "verbs": list(k.verbs),
        }
        if k.short_names:
            entry["shortNames"] = list(k.short_names)
        if k.categories:
            entry["categories"] = list(k.categories)
        resources.append(entry)
        for sub, sub_kind, verbs in k.subresources:
            sub_entry = {
                "name": f"{k.plural}/{sub}",
                "singularName": "",
                "namespaced": k.namespaced,
                "kind": sub_kind,
                "verbs": list(verbs),
            }
            if sub_kind == "Scale":
                sub_entry.update(group="autoscaling", version="v1")
            resources.append(sub_entry)
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": resources}
