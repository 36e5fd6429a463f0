# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The object store and the API server's write path: admission, defaulting, validation, metadata.

Everything here runs on the server's event loop thread; nothing blocks.
"""

from __future__ import annotations

import asyncio
import copy
import datetime
import ipaddress
import uuid
from collections.abc import Callable
from typing import Any

from tests.fakes.kube import defaults
from tests.fakes.kube import errors
from tests.fakes.kube import patch as patching
from tests.fakes.kube import psa
from tests.fakes.kube import validation
from tests.fakes.kube.errors import ApiError
from tests.fakes.kube.errors import FieldError
from tests.fakes.kube.resources import BY_KIND
from tests.fakes.kube.resources import KINDS
from tests.fakes.kube.resources import Kind

SERVICE_CIDR = ipaddress.ip_network("10.0.0.0/16")
POD_CIDR = ipaddress.ip_network("10.244.0.0/16")
DNS_SERVICE_IP = "10.0.0.10"
NODE_NAME = "netpol-lab-node-0"
NODE_IP = "10.240.0.4"
NS_NAME_LABEL = "kubernetes.io/metadata.name"
_GENERATION_KINDS = {"Pod", "Deployment", "ReplicaSet", "NetworkPolicy"}
_STATUS_KINDS = {"Pod", "Deployment", "ReplicaSet", "Service", "Namespace"}
_CREATE_ON_UPDATE = {"Endpoints"}
SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


def now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _without(obj: dict, *keys: str) -> dict:
    return {k: v for k, v in obj.items() if k not in keys}


class Store:
    def __init__(self) -> None:
        self.objects: dict[str, dict[tuple[str, str], dict]] = {k.plural: {} for k in KINDS}
        self.owners: dict[tuple[str, str, str], dict[str, set]] = {}
        self._rv = 1000
        self._listeners: list[Callable[[str, str, dict], None]] = []
        self._next_pod_ip = int(POD_CIDR.network_address) + 256 + 10  # 10.244.1.10 onwards
        self._service_ips: set[str] = {"10.0.0.1", DNS_SERVICE_IP}
        self._next_service_ip = int(SERVICE_CIDR.network_address) + 11
        self._node_ports: set[int] = set()
        self.changed = asyncio.Event()
        for name in SYSTEM_NAMESPACES:
            self.create(
                BY_KIND["Namespace"], None, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
            )
        self.create(
            BY_KIND["Service"],
            "default",
            {
                "metadata": {"name": "kubernetes", "labels": {"component": "apiserver", "provider": "kubernetes"}},
                "spec": {"clusterIP": "10.0.0.1", "ports": [{"name": "https", "port": 443, "targetPort": 6443}]},
            },
            allocate=False,
        )

    # -- plumbing -----------------------------------------------------------------------------

    def subscribe(self, listener: Callable[[str, str, dict], None]) -> None:
        self._listeners.append(listener)

    def _notify(self, event: str, kind: Kind, obj: dict) -> None:
        self.changed.set()
        for listener in self._listeners:
            listener(event, kind.kind, obj)

    def next_rv(self) -> str:
        self._rv += 1
        return str(self._rv)

    @property
    def resource_version(self) -> str:
        return str(self._rv)

    def allocate_pod_ip(self) -> str:
        while True:
            ip = ipaddress.ip_address(self._next_pod_ip)
            self._next_pod_ip += 1
            if ip.packed[-1] not in (0, 1, 255):
                return str(ip)

    def _allocate_service_ip(self) -> str:
        while True:
            ip = ipaddress.ip_address(self._next_service_ip)
            self._next_service_ip += 1
            if ip not in SERVICE_CIDR:
                raise errors.internal("failed to allocate a serviceIP: range is full")
            if str(ip) not in self._service_ips:
                self._service_ips.add(str(ip))
                return str(ip)

    # -- reads --------------------------------------------------------------------------------

    def namespace(self, name: str) -> dict | None:
        return self.objects["namespaces"].get(("", name))

    def get(self, kind: Kind, namespace: str | None, name: str) -> dict:
        obj = self.objects[kind.plural].get((namespace or "", name))
        if obj is None:
            raise errors.not_found(kind.plural, kind.group, name)
        return obj

    def find(self, kind_name: str, namespace: str | None, name: str) -> dict | None:
        return self.objects[BY_KIND[kind_name].plural].get((namespace or "", name))

    def items(self, kind_name: str, namespace: str | None = None) -> list[dict]:
        bucket = self.objects[BY_KIND[kind_name].plural]
        return [o for (ns, _unused), o in sorted(bucket.items()) if namespace is None or ns == namespace]

    def keyed(self, kind: Kind, namespace: str | None) -> list[tuple[str, dict]]:
        """Every object of a list's scope as (key, object), keyed and sorted as etcd keys them under the list's
        prefix: ``name`` inside a namespace (and for cluster-scoped kinds), ``namespace/name`` across namespaces."""
        out = []
        for (ns, name), obj in self.objects[kind.plural].items():
            if namespace and ns != namespace:
                continue
            out.append((f"{ns}/{name}" if ns and not namespace else name, obj))
        out.sort(key=lambda pair: pair[0])
        return out

    # -- the write path ------------------------------------------------------------------------

    def _check_namespace(self, kind: Kind, namespace: str | None, name: str, creating: bool) -> None:
        if not kind.namespaced:
            return
        ns = self.namespace(namespace or "")
        if ns is None:
            raise errors.not_found("namespaces", "", namespace or "")
        if creating and ns["metadata"].get("deletionTimestamp"):
            raise errors.forbidden(
                kind.plural,
                kind.group,
                name,
                f"unable to create new content in namespace {namespace} because it is being terminated",
            )

    def _check_type(self, kind: Kind, body: Any, namespace: str | None, url_name: str | None) -> dict:
        if not isinstance(body, dict):
            raise errors.bad_request(f"the object provided is unrecognized (must be of type {kind.kind})")
        api_version = body.get("apiVersion")
        if api_version and api_version != kind.api_version:
            raise errors.bad_request(
                f"the API version in the data ({api_version}) does not match the expected API version ({kind.api_version})"
            )
        if body.get("kind") and body["kind"] != kind.kind:
            raise errors.bad_request(
                f'{body["kind"]} in version "{kind.version}" cannot be handled as a {kind.kind}: '
                f"the kind in the data ({body['kind']}) does not match the expected kind ({kind.kind})"
            )
        obj = copy.deepcopy(body)
        obj["apiVersion"] = kind.api_version
        obj["kind"] = kind.kind
        meta = obj.get("metadata")
        if meta is None:
            meta = obj["metadata"] = {}
        if not isinstance(meta, dict):
            raise errors.bad_request(
                f'{kind.kind} in version "{kind.version}" cannot be handled as a {kind.kind}: json: cannot unmarshal '
                f"{type(meta).__name__} into Go struct field {kind.kind}.metadata of type v1.ObjectMeta"
            )
        if kind.namespaced:
            if meta.get("namespace") and namespace and meta["namespace"] != namespace:
                raise errors.bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request"
                )
            meta["namespace"] = namespace
        else:
            meta.pop("namespace", None)
        if url_name is not None and meta.get("name") and meta["name"] != url_name:
            raise errors.bad_request(
                f"the name of the object ({meta['name']}) does not match the name on the URL ({url_name})"
            )
        if url_name is not None and not meta.get("name"):
            meta["name"] = url_name
        return obj

    def _prepare(self, kind: Kind, obj: dict, field_validation: str) -> list[str]:
        obj, warnings = validation.decode(obj, kind.kind, kind.api_version, field_validation)
        defaults.apply(kind.kind, obj)
        if kind.kind == "Namespace":
            obj["metadata"].setdefault("labels", {})[NS_NAME_LABEL] = obj["metadata"].get("name", "")
        return warnings

    def _validate(self, kind: Kind, obj: dict, extra: list[FieldError] | None = None) -> None:
        errs = validation.validate(kind.kind, obj, kind.namespaced)
        errs.extend(extra or [])
        if errs:
            raise errors.invalid(kind.kind, kind.group, obj["metadata"].get("name") or "", list(errs))

    def _admit_pod(self, kind: Kind, obj: dict) -> list[str]:
        """Pod Security Admission: reject pods (403), warn on workloads (Warning header)."""
        ns = self.namespace(obj["metadata"].get("namespace", ""))
        if kind.kind == "Pod":
            level = psa.level_of(ns)
            found = psa.violations(obj.get("spec") or {}, level)
            if found:
                raise errors.forbidden("pods", "", obj["metadata"].get("name", ""), psa.message(level, found))
            warn = psa.warn_level_of(ns)
            if warn != level:
                found = psa.violations(obj.get("spec") or {}, warn)
                if found:
                    return [f'would violate PodSecurity "{warn}:latest": ' + ", ".join(found)]
            return []
        if kind.kind in ("Deployment", "ReplicaSet"):
            level = psa.warn_level_of(ns)
            template = (obj.get("spec") or {}).get("template") or {}
            found = psa.violations(template.get("spec") or {}, level)
            if found:
                return [f'would violate PodSecurity "{level}:latest": ' + ", ".join(found)]
        return []

    def _allocate_node_ports(self, obj: dict, old: dict | None) -> None:
        spec = obj["spec"]
        ports = [p for p in spec.get("ports") or [] if isinstance(p, dict)]
        if spec.get("type") not in ("NodePort", "LoadBalancer"):
            for port in ports:
                port.pop("nodePort", None)
            return
        previous = {
            (p.get("port"), p.get("protocol", "TCP")): p.get("nodePort")
            for p in ((old or {}).get("spec") or {}).get("ports") or []
        }
        mine = set(previous.values())
        errs = []
        for i, port in enumerate(ports):
            wanted = port.get("nodePort")
            if wanted is None:
                wanted = previous.get((port.get("port"), port.get("protocol", "TCP")))
                if wanted is None:
                    wanted = next(
                        n for n in range(30000 + len(self._node_ports) % 2768, 32768) if n not in self._node_ports
                    )
            elif not 30000 <= wanted <= 32767:
                errs.append(
                    FieldError(
                        f"spec.ports[{i}].nodePort",
                        "Invalid",
                        "provided port is not in the valid range. The range of valid ports is 30000-32767",
                        wanted,
                        True,
                    )
                )
                continue
            elif wanted in self._node_ports and wanted not in mine:
                errs.append(
                    FieldError(
                        f"spec.ports[{i}].nodePort", "Invalid", "provided port is already allocated", wanted, True
                    )
                )
                continue
            port["nodePort"] = wanted
        if errs:
            raise errors.invalid("Service", "", obj["metadata"]["name"], errs)
        self._node_ports |= {p["nodePort"] for p in ports}

    def _allocate(self, kind: Kind, obj: dict, old: dict | None) -> None:
        if kind.kind != "Service":
            return
        spec = obj.setdefault("spec", {})
        if spec.get("type") == "ExternalName":
            return
        self._allocate_node_ports(obj, old)
        if spec.get("type") == "LoadBalancer" and "status" not in obj:
            obj["status"] = {"loadBalancer": {}}
        if old is not None:
            old_spec = old.get("spec") or {}
            if not spec.get("clusterIP"):
                spec["clusterIP"] = old_spec.get("clusterIP")
                spec["clusterIPs"] = old_spec.get("clusterIPs")
            elif spec["clusterIP"] != old_spec.get("clusterIP"):
                raise errors.invalid(
                    "Service",
                    "",
                    obj["metadata"]["name"],
                    [validation.immutable("spec.clusterIPs[0]", spec["clusterIP"])],
                )
            spec.setdefault("clusterIPs", [spec["clusterIP"]])
            return
        wanted = spec.get("clusterIP")
        if wanted == "None":
            spec["clusterIPs"] = ["None"]
            return
        if wanted:
            ip = ipaddress.ip_address(wanted)
            if ip not in SERVICE_CIDR:
                raise errors.invalid(
                    "Service",
                    "",
                    obj["metadata"]["name"],
                    [
                        FieldError(
                            "spec.clusterIPs",
                            "Invalid",
                            f"failed to allocate IP {wanted}: the provided IP ({wanted}) is not in the valid range. The range of valid IPs is {SERVICE_CIDR}",
                            [wanted],
                            True,
                        )
                    ],
                )
            if wanted in self._service_ips:
                raise errors.invalid(
                    "Service",
                    "",
                    obj["metadata"]["name"],
                    [
                        FieldError(
                            "spec.clusterIPs",
                            "Invalid",
                            f"failed to allocate IP {wanted}: provided IP is already allocated",
                            [wanted],
                            True,
                        )
                    ],
                )
            self._service_ips.add(wanted)
        else:
            spec["clusterIP"] = self._allocate_service_ip()
        spec["clusterIPs"] = [spec["clusterIP"]]

    def create(
        self,
        kind: Kind,
        namespace: str | None,
        body: Any,
        *,
        manager: str = "kube-controller-manager",
        dry_run: bool = False,
        field_validation: str = "Warn",
        allocate: bool = True,
        owners: dict[str, set] | None = None,
    ) -> tuple[dict, list[str]]:
        obj = self._check_type(kind, body, namespace, None)
        meta = obj["metadata"]
        if meta.get("resourceVersion") and owners is None:
            # etcd3 storage refuses it with a plain error, which kube-apiserver answers as an unknown 500.
            raise ApiError(500, "", "resourceVersion should not be set on objects to be created")
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
        name = meta.get("name") or ""
        if name:
            self._check_namespace(kind, namespace, name, creating=True)
        warnings = self._prepare(kind, obj, field_validation)
        self._validate(kind, obj)
        if not name:
            raise errors.invalid(
                kind.kind, kind.group, "", [FieldError("metadata.name", "Required", "name or generateName is required")]
            )
        key = (namespace or "" if kind.namespaced else "", name)
        if key in self.objects[kind.plural]:
            raise errors.already_exists(kind.plural, kind.group, name)
        warnings += self._admit_pod(kind, obj)
        for field in (
            "uid",
            "resourceVersion",
            "creationTimestamp",
            "deletionTimestamp",
            "generation",
            "managedFields",
        ):
            meta.pop(field, None)
        if kind.kind in _STATUS_KINDS and kind.kind != "Namespace":
            obj.pop("status", None)
        if kind.kind == "Namespace":
            obj["status"] = {"phase": "Active"}
        if dry_run:
            meta["uid"] = str(uuid.uuid4())
            meta["creationTimestamp"] = now()
            return obj, warnings
        if allocate:
            self._allocate(kind, obj, None)
        elif kind.kind == "Service":
            obj["spec"]["clusterIPs"] = [obj["spec"]["clusterIP"]]
            self._service_ips.add(obj["spec"]["clusterIP"])
        meta["uid"] = str(uuid.uuid4())
        meta["resourceVersion"] = self.next_rv()
        meta["creationTimestamp"] = now()
        if kind.kind in _GENERATION_KINDS:
            meta["generation"] = 1
        if kind.kind == "Pod":
            obj["status"] = {"phase": "Pending", "qosClass": _qos(obj)}
        # Keys are ordered as the API server serialises them.
        obj = {"apiVersion": obj["apiVersion"], "kind": obj["kind"], **_without(obj, "apiVersion", "kind")}
        self.objects[kind.plural][key] = obj
        self.owners[(kind.plural, *key)] = (
            owners
            if owners is not None
            else {manager: patching.owned_fields(kind.kind, body if isinstance(body, dict) else {})}
        )
        self._notify("ADDED", kind, obj)
        return obj, warnings

    def update(
        self,
        kind: Kind,
        namespace: str | None,
        name: str,
        body: Any,
        *,
        manager: str = "kube-controller-manager",
        dry_run: bool = False,
        field_validation: str = "Warn",
        subresource: str | None = None,
        owners: dict[str, set] | None = None,
        check_rv: bool = True,
    ) -> tuple[dict, list[str]]:
        """PUT semantics (also the tail of every PATCH)."""
        key = (namespace or "" if kind.namespaced else "", name)
        old = self.objects[kind.plural].get(key)
        if old is None:
            if kind.kind in _CREATE_ON_UPDATE and subresource is None:
                return self.create(
                    kind, namespace, body, manager=manager, dry_run=dry_run, field_validation=field_validation
                )
            raise errors.not_found(kind.plural, kind.group, name)
        obj = self._check_type(kind, body, namespace, name)
        meta = obj["metadata"]
        rv = meta.get("resourceVersion")
        if check_rv and rv and rv != old["metadata"]["resourceVersion"]:
            raise errors.conflict(kind.plural, kind.group, name)
        warnings = self._prepare(kind, obj, field_validation)
        if subresource == "status":
            new = copy.deepcopy(old)
            new["status"] = obj.get("status", {})
            obj = new
        else:
            if kind.kind in _STATUS_KINDS:
                if "status" in old:
                    obj["status"] = copy.deepcopy(old["status"])
                else:
                    obj.pop("status", None)
            for field in ("uid", "creationTimestamp", "deletionTimestamp", "generation"):
                if field in old["metadata"]:
                    meta[field] = old["metadata"][field]
                else:
                    meta.pop(field, None)
            meta.pop("managedFields", None)
            self._validate(kind, obj, self._immutable(kind, old, obj))
            self._allocate(kind, obj, old)
            warnings += self._admit_pod(kind, obj) if kind.kind != "Pod" else []
        meta = obj["metadata"]
        meta["resourceVersion"] = old["metadata"]["resourceVersion"]
        obj = {"apiVersion": obj["apiVersion"], "kind": obj["kind"], **_without(obj, "apiVersion", "kind")}
        if obj == old:
            return old, warnings  # a no-op write: nothing changes, not even the resourceVersion
        if kind.kind in _GENERATION_KINDS and obj.get("spec") != old.get("spec"):
            meta["generation"] = old["metadata"].get("generation", 1) + 1
        if dry_run:
            return obj, warnings
        meta["resourceVersion"] = self.next_rv()
        self.objects[kind.plural][key] = obj
        owner_key = (kind.plural, *key)
        if owners is not None:
            self.owners[owner_key] = owners
        elif subresource is None:
            changed = patching.owned_fields(kind.kind, obj) - patching.owned_fields(kind.kind, old)
            changed |= {
                p
                for p in patching.owned_fields(kind.kind, obj)
                if patching.get_path(old, p) != patching.get_path(obj, p)
            }
            current = self.owners.setdefault(owner_key, {})
            for other in list(current):
                current[other] -= changed
                if not current[other]:
                    del current[other]
            if changed:
                current.setdefault(manager, set()).update(changed)
        self._notify("MODIFIED", kind, obj)
        return obj, warnings

    def _immutable(self, kind: Kind, old: dict, new: dict) -> list[FieldError]:
        out: list[FieldError] = []
        if kind.kind in ("Deployment", "ReplicaSet") and (old.get("spec") or {}).get("selector") != (
            new.get("spec") or {}
        ).get("selector"):
            out.append(validation.immutable("spec.selector", _go_selector((new.get("spec") or {}).get("selector"))))
        if kind.kind == "Pod":
            old_spec = copy.deepcopy(old.get("spec") or {})
            new_spec = copy.deepcopy(new.get("spec") or {})
            for spec in (old_spec, new_spec):
                spec.pop("activeDeadlineSeconds", None)
                spec.pop("tolerations", None)
                spec.pop("nodeName", None)
                for key in ("containers", "initContainers"):
                    for c in spec.get(key) or []:
                        c.pop("image", None)
            if old_spec != new_spec:
                out.append(
                    FieldError(
                        "spec",
                        "Forbidden",
                        "pod updates may not change fields other than `spec.containers[*].image`,"
                        "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only "
                        "additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set "
                        "to 1 if it was previously negative)",
                    )
                )
        return out

    def patch(
        self,
        kind: Kind,
        namespace: str | None,
        name: str,
        patch_type: str,
        body: Any,
        *,
        manager: str | None,
        force: bool = False,
        dry_run: bool = False,
        field_validation: str = "Warn",
        subresource: str | None = None,
    ) -> tuple[dict, list[str], bool]:
        """Returns (object, warnings, created)."""
        key = (namespace or "" if kind.namespaced else "", name)
        old = self.objects[kind.plural].get(key)
        if patch_type == "apply":
            if not manager:
                raise errors.bad_request("fieldManager is required for apply requests")
            if not isinstance(body, dict):
                raise errors.bad_request("error decoding YAML: the body of an apply request must be an object")
            if not body.get("apiVersion") or not body.get("kind"):
                raise errors.bad_request(
                    "Object 'Kind' is missing in apply request"
                    if not body.get("kind")
                    else "Object 'apiVersion' is missing in apply request"
                )
            meta = body.get("metadata") or {}
            if meta.get("name") and meta["name"] != name:
                raise errors.bad_request(
                    f"the name of the object ({meta['name']}) does not match the name on the URL ({name})"
                )
            self._check_namespace(kind, namespace, name, creating=old is None)
            owner_key = (kind.plural, *key)
            merged, owners = patching.server_side_apply(
                kind.kind, old, body, manager, force, self.owners.get(owner_key, {}) if old else {}, kind.api_version
            )
            merged.setdefault("metadata", {})["name"] = name
            if old is None:
                obj, warnings = self.create(
                    kind,
                    namespace,
                    merged,
                    manager=manager,
                    dry_run=dry_run,
                    field_validation=field_validation,
                    owners=owners,
                )
                return obj, warnings, True
            obj, warnings = self.update(
                kind,
                namespace,
                name,
                merged,
                manager=manager,
                dry_run=dry_run,
                field_validation=field_validation,
                owners=owners,
                check_rv=False,
            )
            return obj, warnings, False
        if old is None:
            raise errors.not_found(kind.plural, kind.group, name)
        if patch_type == "strategic":
            new = patching.strategic_merge(kind.kind, old, body)
        elif patch_type == "merge":
            if not isinstance(body, dict):
                raise errors.bad_request("json: cannot unmarshal array into Go value of type map[string]interface {}")
            new = patching.merge_patch(old, body)
        else:
            new = patching.json_patch(old, body)
        if not isinstance(new.get("metadata"), dict):
            new["metadata"] = {}
        new_rv = new["metadata"].get("resourceVersion")
        if new_rv and new_rv != old["metadata"]["resourceVersion"]:
            raise errors.conflict(kind.plural, kind.group, name)
        obj, warnings = self.update(
            kind,
            namespace,
            name,
            new,
            manager=manager or "unknown",
            dry_run=dry_run,
            field_validation=field_validation,
            subresource=subresource,
        )
        return obj, warnings, False

    def delete(
        self, kind: Kind, namespace: str | None, name: str, *, propagation: str | None = None, dry_run: bool = False
    ) -> dict:
        key = (namespace or "" if kind.namespaced else "", name)
        obj = self.objects[kind.plural].get(key)
        if obj is None:
            raise errors.not_found(kind.plural, kind.group, name)
        if dry_run:
            return obj
        if kind.kind == "Namespace":
            if name in SYSTEM_NAMESPACES:
                raise errors.forbidden("namespaces", "", name, "this namespace may not be deleted")
            if not obj["metadata"].get("deletionTimestamp"):
                obj = copy.deepcopy(obj)
                obj["metadata"]["deletionTimestamp"] = now()
                obj["metadata"]["resourceVersion"] = self.next_rv()
                obj["status"] = {"phase": "Terminating"}
                self.objects["namespaces"][key] = obj
                self._notify("MODIFIED", kind, obj)
                asyncio.get_running_loop().call_later(0.15, self._finish_namespace, name)
            return obj
        del self.objects[kind.plural][key]
        self.owners.pop((kind.plural, *key), None)
        if kind.kind == "Service":
            self._service_ips.discard((obj.get("spec") or {}).get("clusterIP"))
            self._node_ports -= {p.get("nodePort") for p in (obj.get("spec") or {}).get("ports") or []}
            endpoints = self.find("Endpoints", namespace, name)
            if endpoints is not None:
                self.delete(BY_KIND["Endpoints"], namespace, name)
        gone = copy.deepcopy(obj)
        gone["metadata"]["deletionTimestamp"] = now()
        gone["metadata"]["deletionGracePeriodSeconds"] = 0
        self._notify("DELETED", kind, gone)
        if propagation != "Orphan":
            uid = obj["metadata"]["uid"]
            for other in KINDS:
                for dependent in list(self.objects[other.plural].values()):
                    refs = dependent["metadata"].get("ownerReferences") or []
                    if any(r.get("uid") == uid for r in refs):
                        self.delete(other, dependent["metadata"].get("namespace"), dependent["metadata"]["name"])
        return gone

    def _finish_namespace(self, name: str) -> None:
        for kind in KINDS:
            if kind.namespaced:
                for key in [k for k in self.objects[kind.plural] if k[0] == name]:
                    if key in self.objects[kind.plural]:
                        self.delete(kind, name, key[1], propagation="Orphan")
        obj = self.objects["namespaces"].pop(("", name), None)
        if obj is not None:
            self._notify("DELETED", BY_KIND["Namespace"], obj)

    def write_status(
        self, kind_name: str, namespace: str | None, name: str, status: dict, metadata: dict | None = None
    ) -> dict | None:
        """A controller's status write: bumps the resourceVersion only when something changed."""
        kind = BY_KIND[kind_name]
        key = (namespace or "", name)
        old = self.objects[kind.plural].get(key)
        if old is None:
            return None
        if old.get("status") == status and not metadata:
            return old
        new = copy.deepcopy(old)
        new["status"] = copy.deepcopy(status)
        for field, value in (metadata or {}).items():
            if value is None:
                new["metadata"].pop(field, None)
            else:
                new["metadata"][field] = value
        if new == old:
            return old
        new["metadata"]["resourceVersion"] = self.next_rv()
        self.objects[kind.plural][key] = new
        self._notify("MODIFIED", kind, new)
        return new


def _qos(pod: dict) -> str:
    containers = (pod.get("spec") or {}).get("containers") or []
    resources = [c.get("resources") or {} for c in containers if isinstance(c, dict)]
    if not any(r.get("limits") or r.get("requests") for r in resources):
        return "BestEffort"
    guaranteed = all(
        (r.get("limits") or {}).get(res)
        and (r.get("requests") or r.get("limits") or {}).get(res) == (r.get("limits") or {}).get(res)
        for r in resources
        for res in ("cpu", "memory")
    )
    return "Guaranteed" if guaranteed else "Burstable"


def _go_selector(selector: Any) -> str:
    if not isinstance(selector, dict):
        return "nil"
    labels = selector.get("matchLabels") or {}
    inner = ", ".join(f'"{k}":"{v}"' for k, v in sorted(labels.items()))
    return f"v1.LabelSelector{{MatchLabels:map[string]string{{{inner}}}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}}"


__all__ = ["ApiError", "Store"]
