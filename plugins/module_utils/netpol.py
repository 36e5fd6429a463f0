# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The networking.k8s.io/v1 NetworkPolicy semantics, in pure Python with no I/O.

Public API of the collection (used by reachability_info, probe_connectivity and the Kubernetes
test double)::

    cluster = Cluster(namespaces=[...], pods=[...], policies=[...])
    decision = cluster.evaluate("x/a", "y/b", 80, "TCP")
    decision.allowed, decision.reason, decision.ingress, decision.egress, decision.self_traffic
    cluster.truth_table(sources, targets, 80, "TCP")
    cluster.classes(); cluster.evaluate_classes(80, "TCP")
    validate_policy(policy) -> list of "<namespace>/<name>: <field path>: <problem and fix>"

Semantics (https://kubernetes.io/docs/concepts/services-networking/network-policies/):

- ``policyTypes`` defaults to ``[Ingress]``, plus ``Egress`` when ``spec.egress`` has rules.
- A pod is isolated for a direction when at least one policy of that type in its namespace selects
  it; then only what some rule of those policies allows gets through (policies are additive). A pod
  no policy selects for a direction is open in that direction.
- A connection needs both the source's egress and the target's ingress to allow it. An endpoint that
  is not a pod (``{"ip": ...}``) has no policies of its own.
- ``from``/``to`` absent or empty: every peer. ``ports`` absent or empty: every port. A port entry
  without ``port``: every port of its protocol (default TCP). A named port is resolved on the
  destination pod's container ports for that protocol. ``endPort`` makes a range.
- Peers are OR-ed; ``namespaceSelector`` and ``podSelector`` in one peer are AND-ed; a
  ``podSelector`` alone means the policy's own namespace. ``ipBlock`` (with ``except``) is matched
  against pod IPs and non-pod endpoints' IPs; selectors never match non-pod endpoints.
- Namespaces always carry ``kubernetes.io/metadata.name``.
- A pod talking to itself is reported as self traffic with ``allowed = None``: CNIs disagree on it
  (kubernetes#95879) and the upstream e2e suite ignores it.

Engine dialects (``Cluster(..., engine=...)``, ``DIALECTS``): ``upstream`` (the default) is the
Kubernetes spec as above; ``calico``, ``cilium`` and ``azure`` (Azure Network Policy Manager) depart
from it where their documentation or issues say so, each difference listed with its source in
``DIALECT_SOURCES`` and named in the decision's reason. Nodes (``nodes=[{name, ip, os}]``, endpoints
``node/<name>``), a pod's ``node`` and ``host_network``, and external clients through a LoadBalancer or
NodePort Service (``external_service_decisions``) exist for those differences.

Scale: pods with the same namespace, labels and container ports (and, when policies use ipBlock
peers, the same set of matching ipBlocks) are indistinguishable to every policy. They form one
equivalence class; ``evaluate_classes`` evaluates each class pair once with bitsets, so the cost
follows the number of distinct classes, not pods.
"""

from __future__ import annotations

import bisect
import importlib.util
import ipaddress
import json
import re
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any

PROTOCOLS = ("TCP", "UDP", "SCTP")
POLICY_TYPES = ("Ingress", "Egress")
OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
API_VERSION = "networking.k8s.io/v1"
KIND = "NetworkPolicy"
# The schema version used by kubernetes-validate (the newest it bundles that we know).
SCHEMA_VERSION = "1.37.0"

__all__ = [
    "DIALECTS",
    "DIALECT_SOURCES",
    "ENGINES",
    "NAMESPACE_NAME_LABEL",
    "PROTOCOLS",
    "ClassMatrix",
    "Cluster",
    "Decision",
    "Dialect",
    "Explanation",
    "InputError",
    "NetpolError",
    "Node",
    "PodClass",
    "PolicyError",
    "RuleMatch",
    "dialect",
    "normalize_protocol",
    "validate_policy",
]


# ---------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------


class NetpolError(Exception):
    """Base class of this module's errors; ``errors`` lists every problem found."""

    def __init__(self, errors: list[str] | str, prefix: str = ""):
        self.errors = [errors] if isinstance(errors, str) else list(errors)
        text = "; ".join(self.errors) if len(self.errors) <= 1 else "\n  - " + "\n  - ".join(self.errors)
        super().__init__((prefix.rstrip() + (" " if len(self.errors) <= 1 else "") + text) if prefix else text)


class PolicyError(NetpolError):
    """One or more NetworkPolicies are invalid (the message lists every error)."""

    def __init__(self, errors: list[str] | str):
        count = 1 if isinstance(errors, str) else len(errors)
        super().__init__(errors, prefix=f"{count} invalid NetworkPolicy field(s): ")


class InputError(NetpolError, ValueError):
    """Malformed namespaces, pods or endpoints given to the engine (the message names the field)."""


def normalize_protocol(protocol: Any) -> str:
    """Return TCP, UDP or SCTP for any case of those names (None means TCP)."""
    if protocol is None:
        return "TCP"
    if isinstance(protocol, str) and protocol.upper() in PROTOCOLS:
        return protocol.upper()
    raise InputError(f"protocol: {protocol!r} is not supported; use one of TCP, UDP, SCTP")


# ---------------------------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------------------------

_QUALIFIED_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_PORT_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def _label_key_problem(key: Any) -> str | None:
    if not isinstance(key, str):
        return f"label key {key!r} must be a string"
    prefix, sep, name = key.rpartition("/")
    if sep and (not prefix or len(prefix) > 253 or not _DNS_SUBDOMAIN.match(prefix)):
        return (
            f"label key {key!r} has an invalid prefix {prefix!r}: it must be a DNS subdomain "
            "(lowercase letters, digits, '-' and '.', at most 253 characters)"
        )
    if not name or len(name) > 63 or not _QUALIFIED_NAME.match(name):
        return (
            f"label key {key!r} is invalid: the name part must be 1-63 characters, start and end with a "
            "letter or digit, with '-', '_' or '.' in between"
        )
    return None


def _label_value_problem(value: Any) -> str | None:
    if not isinstance(value, str):
        return f"label value {value!r} must be a string (quote numbers and booleans)"
    if value and (len(value) > 63 or not _QUALIFIED_NAME.match(value)):
        return (
            f"label value {value!r} is invalid: it must be empty or 1-63 characters, start and end with a "
            "letter or digit, with '-', '_' or '.' in between"
        )
    return None


def _port_name_problem(name: str) -> str | None:
    if len(name) > 15 or not _PORT_NAME.match(name) or "--" in name or not re.search(r"[a-z]", name):
        return (
            f"named port {name!r} is not a valid IANA service name: use 1-15 lowercase letters, digits "
            "and '-', with at least one letter, no leading, trailing or double '-' (or give a number)"
        )
    return None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class _Checker:
    """Collects errors as '<ns>/<name>: <path>: <problem>'."""

    def __init__(self, ident: str):
        self.ident = ident
        self.errors: list[str] = []
        self.paths: set[str] = set()

    def add(self, path: str, problem: str) -> None:
        self.paths.add(path)
        self.errors.append(f"{self.ident}: {path}: {problem}")

    def mapping(self, value: Any, path: str, *, allow_none: bool = True) -> bool:
        if value is None and allow_none:
            return False
        if not isinstance(value, Mapping):
            self.add(path, f"must be a mapping, got {type(value).__name__} {value!r}")
            return False
        return True

    def sequence(self, value: Any, path: str) -> bool:
        if value is None:
            return False
        if not isinstance(value, list | tuple):
            self.add(path, f"must be a list, got {type(value).__name__} {value!r}")
            return False
        return True

    def unknown_keys(self, value: Mapping, allowed: Iterable[str], path: str) -> None:
        allowed = tuple(allowed)
        for key in value:
            if key not in allowed:
                self.add(
                    f"{path}.{key}" if path else str(key), f"unknown field; allowed fields are {', '.join(allowed)}"
                )

    def selector(self, sel: Any, path: str) -> None:
        if not self.mapping(sel, path):
            return
        self.unknown_keys(sel, ("matchLabels", "matchExpressions"), path)
        labels = sel.get("matchLabels")
        if self.mapping(labels, f"{path}.matchLabels"):
            for key, value in labels.items():
                problem = _label_key_problem(key) or _label_value_problem(value)
                if problem:
                    self.add(f"{path}.matchLabels.{key}", problem)
        exprs = sel.get("matchExpressions")
        if self.sequence(exprs, f"{path}.matchExpressions"):
            for i, expr in enumerate(exprs):
                epath = f"{path}.matchExpressions[{i}]"
                if not self.mapping(expr, epath, allow_none=False):
                    continue
                self.unknown_keys(expr, ("key", "operator", "values"), epath)
                key = expr.get("key")
                if key is None:
                    self.add(f"{epath}.key", "is required: name the label to test")
                else:
                    problem = _label_key_problem(key)
                    if problem:
                        self.add(f"{epath}.key", problem)
                op = expr.get("operator")
                values = expr.get("values")
                if values is not None and not self.sequence(values, f"{epath}.values"):
                    continue
                values = list(values or [])
                if op not in OPERATORS:
                    self.add(f"{epath}.operator", f"{op!r} is not a valid operator; use one of {', '.join(OPERATORS)}")
                elif op in ("In", "NotIn") and not values:
                    self.add(f"{epath}.values", f"must be non-empty when operator is {op}")
                elif op in ("Exists", "DoesNotExist") and values:
                    self.add(f"{epath}.values", f"must be empty when operator is {op}; remove the values")
                for j, value in enumerate(values):
                    problem = _label_value_problem(value)
                    if problem:
                        self.add(f"{epath}.values[{j}]", problem)

    def ip_block(self, block: Any, path: str) -> None:
        if not self.mapping(block, path):
            return
        self.unknown_keys(block, ("cidr", "except"), path)
        cidr = block.get("cidr")
        net = None
        if cidr is None:
            self.add(f"{path}.cidr", "is required, e.g. 10.0.0.0/16")
        elif not isinstance(cidr, str) or "/" not in cidr:
            self.add(f"{path}.cidr", f"{cidr!r} is not a CIDR; write an address and a prefix length, e.g. 10.0.0.0/16")
        else:
            try:
                net = ipaddress.ip_network(cidr, strict=False)
            except ValueError as exc:
                self.add(f"{path}.cidr", f"{cidr!r} is not a valid CIDR ({exc})")
        excepts = block.get("except")
        if not self.sequence(excepts, f"{path}.except"):
            return
        for i, exc_cidr in enumerate(excepts):
            epath = f"{path}.except[{i}]"
            if not isinstance(exc_cidr, str) or "/" not in exc_cidr:
                self.add(epath, f"{exc_cidr!r} is not a CIDR; write an address and a prefix length")
                continue
            try:
                exc_net = ipaddress.ip_network(exc_cidr, strict=False)
            except ValueError as exc:
                self.add(epath, f"{exc_cidr!r} is not a valid CIDR ({exc})")
                continue
            if net is None:
                continue
            if exc_net.version != net.version or not (
                exc_net.prefixlen >= net.prefixlen and exc_net.network_address in net
            ):
                self.add(
                    epath, f"{exc_cidr!r} must lie inside cidr {cidr!r}; an except outside the cidr excludes nothing"
                )

    def peer(self, peer: Any, path: str) -> None:
        if not self.mapping(peer, path, allow_none=False):
            return
        self.unknown_keys(peer, ("podSelector", "namespaceSelector", "ipBlock"), path)
        has_sel = peer.get("podSelector") is not None or peer.get("namespaceSelector") is not None
        has_ip = peer.get("ipBlock") is not None
        if has_ip and has_sel:
            self.add(path, "may not combine ipBlock with podSelector or namespaceSelector; split it into two peers")
        elif not has_ip and not has_sel:
            self.add(path, "must specify a peer: podSelector, namespaceSelector (or both) or ipBlock")
        self.selector(peer.get("podSelector"), f"{path}.podSelector")
        self.selector(peer.get("namespaceSelector"), f"{path}.namespaceSelector")
        self.ip_block(peer.get("ipBlock"), f"{path}.ipBlock")

    def port(self, entry: Any, path: str) -> None:
        if not self.mapping(entry, path, allow_none=False):
            return
        self.unknown_keys(entry, ("protocol", "port", "endPort"), path)
        proto = entry.get("protocol")
        if proto is not None and proto not in PROTOCOLS:
            hint = (
                f" (write {proto.upper()!r}: protocols are upper case)"
                if isinstance(proto, str) and proto.upper() in PROTOCOLS
                else ""
            )
            self.add(f"{path}.protocol", f"{proto!r} is not supported; use TCP, UDP or SCTP{hint}")
        port = entry.get("port")
        end = entry.get("endPort")
        if port is not None:
            if _is_int(port):
                if not 1 <= port <= 65535:
                    self.add(f"{path}.port", f"{port} is out of range; use 1-65535")
            elif isinstance(port, str):
                if port.isdigit():
                    self.add(
                        f"{path}.port",
                        f"{port!r} is a string of digits; write the number {int(port)} unquoted, or a port name",
                    )
                else:
                    problem = _port_name_problem(port)
                    if problem:
                        self.add(f"{path}.port", problem)
            else:
                self.add(f"{path}.port", f"must be a port number or a port name, got {port!r}")
        if end is not None:
            if not _is_int(end):
                self.add(f"{path}.endPort", f"must be an integer, got {end!r}")
            elif not 1 <= end <= 65535:
                self.add(f"{path}.endPort", f"{end} is out of range; use 1-65535")
            elif port is None:
                self.add(f"{path}.endPort", "requires port: set port to the start of the range")
            elif isinstance(port, str):
                self.add(f"{path}.endPort", f"may not be used with the named port {port!r}; give a numeric port")
            elif _is_int(port) and end < port:
                self.add(f"{path}.endPort", f"{end} is smaller than port {port}; endPort must be >= port")

    def rule(self, rule: Any, path: str, peers_key: str) -> None:
        if not self.mapping(rule, path, allow_none=False):
            return
        self.unknown_keys(rule, (peers_key, "ports"), path)
        peers = rule.get(peers_key)
        if self.sequence(peers, f"{path}.{peers_key}"):
            for i, peer in enumerate(peers):
                self.peer(peer, f"{path}.{peers_key}[{i}]")
        ports = rule.get("ports")
        if self.sequence(ports, f"{path}.ports"):
            for i, entry in enumerate(ports):
                self.port(entry, f"{path}.ports[{i}]")


def _policy_ident(policy: Any) -> str:
    meta = policy.get("metadata") if isinstance(policy, Mapping) else None
    meta = meta if isinstance(meta, Mapping) else {}
    ns = meta.get("namespace") or "<no namespace>"
    name = meta.get("name") or "<no name>"
    return f"{ns}/{name}"


_SCHEMA_VALIDATOR: Any = None  # the _StrictSchema once loaded, False when it cannot be
_SCHEMA_PROBLEM: list[str | None] = [None]  # why the strict schema is unavailable or checked the slow way


def _schema_validator() -> Any:
    """The strict NetworkPolicy JSON schema of kubernetes-validate (a ``_StrictSchema``), or False when unavailable."""
    global _SCHEMA_VALIDATOR
    if _SCHEMA_VALIDATOR is None:
        try:
            _SCHEMA_VALIDATOR = _StrictSchema(_load_strict_schema())
            _SCHEMA_PROBLEM[0] = _SCHEMA_VALIDATOR.slow
        except ImportError as exc:
            _SCHEMA_VALIDATOR = False
            _SCHEMA_PROBLEM[0] = (
                f"the strict NetworkPolicy schema was not checked: {exc.name or exc} is not installed "
                "(pip install kubernetes-validate); unknown fields and wrong types may go unnoticed"
            )
        except Exception as exc:
            _SCHEMA_VALIDATOR = False
            _SCHEMA_PROBLEM[0] = (
                f"the strict NetworkPolicy schema was not checked: kubernetes-validate's schema could not be "
                f"loaded ({type(exc).__name__}: {exc}); unknown fields and wrong types may go unnoticed"
            )
    return _SCHEMA_VALIDATOR


def schema_problem() -> str | None:
    """Why policies are validated without the strict schema (kubernetes-validate missing or broken) or with
    jsonschema alone (fastjsonschema missing), else None."""
    _schema_validator()
    return _SCHEMA_PROBLEM[0]


_STRICT_DIRECTORY = re.compile(r"^v(\d+)\.(\d+)\.(\d+)-local-strict$")


def _load_strict_schema() -> Any:
    """kubernetes-validate's strict NetworkPolicy schema with its ``$ref``s into the shared definitions inlined
    (NetworkPolicy's schema has no recursive references), from the newest Kubernetes version it bundles that is
    not newer than SCHEMA_VERSION.

    Read from the package's files without importing it: its import brings jsonschema (about 0.1 s of CPU),
    which only the message of an error needs. ImportError when kubernetes-validate or jsonschema is missing.
    """
    specs = {name: importlib.util.find_spec(name) for name in ("kubernetes_validate", "jsonschema")}
    for name, spec in specs.items():
        if spec is None or not spec.origin:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
    root = Path(specs["kubernetes_validate"].origin).parent / "kubernetes-json-schema"
    wanted = tuple(int(part) for part in SCHEMA_VERSION.split(".")[:2])
    known = []
    for entry in root.iterdir():
        match = _STRICT_DIRECTORY.match(entry.name)
        if match and tuple(int(part) for part in match.groups()[:2]) <= wanted:
            known.append((tuple(int(part) for part in match.groups()), entry))
    if not known:
        raise FileNotFoundError(f"no strict schema for Kubernetes {SCHEMA_VERSION} or older under {root}")
    directory = max(known)[1]
    schema = json.loads((directory / "networkpolicy-networking-v1.json").read_text(encoding="utf-8"))
    defs = json.loads((directory / "_definitions.json").read_text(encoding="utf-8"))["$defs"]
    return _inline_refs(schema, defs, ())


def _inline_refs(node: Any, defs: Mapping, seen: tuple[str, ...]) -> Any:
    if isinstance(node, Mapping):
        ref = node.get("$ref")
        if isinstance(ref, str):
            name = ref.rsplit("/", 1)[-1]
            if name in seen:  # pragma: no cover - a recursive schema; NetworkPolicy has none
                raise ValueError(f"recursive schema reference {ref}")
            out = dict(_inline_refs(defs[name], defs, (*seen, name)))
            out.update({k: _inline_refs(v, defs, seen) for k, v in node.items() if k != "$ref"})
            return out
        return {k: _inline_refs(v, defs, seen) for k, v in node.items()}
    if isinstance(node, list):
        return [_inline_refs(v, defs, seen) for v in node]
    return node


class _StrictSchema:
    """The strict schema, checked two ways: ``valid(doc)`` is fastjsonschema's verdict (its validator compiled once
    from the schema), and only a policy it finds invalid goes to jsonschema (``iter_errors``), whose errors and paths
    are reported. jsonschema is imported on the first error to explain. Without fastjsonschema, or with a schema
    whose keywords fastjsonschema would read differently (_DRAFT_DIFFERENCES), every policy goes to jsonschema and
    ``slow`` says why.
    """

    def __init__(self, schema: Any):
        self.schema = schema
        self.slow: str | None = None
        try:
            self.valid: Callable[[Any], bool] = _fast_schema_check(schema)
        except ImportError as exc:
            self.valid = _never
            self.slow = (
                f"the strict NetworkPolicy schema was checked by jsonschema alone: {exc.name or exc} is not "
                "installed (pip install fastjsonschema); validating many policies takes longer"
            )
        except _UnsupportedSchema as exc:
            self.valid = _never
            self.slow = (
                f"the strict NetworkPolicy schema was checked by jsonschema alone: fastjsonschema would read its "
                f"{exc} differently from jsonschema; validating many policies takes longer"
            )
        self._validator: Any = None

    def iter_errors(self, doc: Any) -> Iterable[Any]:
        if self._validator is None:
            import jsonschema

            # No format checker: "format" asserts nothing, as fastjsonschema is told (use_formats=False).
            self._validator = jsonschema.validators.Draft202012Validator(self.schema)
        return self._validator.iter_errors(doc)


class _UnsupportedSchema(Exception):
    """A schema keyword that fastjsonschema does not evaluate as jsonschema's Draft 2020-12 validator does."""


_DRAFT_07 = "http://json-schema.org/draft-07/schema#"
# Keywords whose Draft 2020-12 meaning fastjsonschema (drafts 04 to 07, 2019-09's formats) does not evaluate:
# new in 2019-09 or 2020-12, or evaluated by draft-07 but not by 2020-12 ("additionalItems", "dependencies"), or
# "$ref", whose siblings draft-07 ignores (the loaded schema has its references inlined, so it has none).
_DRAFT_DIFFERENCES = frozenset(
    {
        "$ref",
        "$dynamicRef",
        "$dynamicAnchor",
        "$recursiveRef",
        "$recursiveAnchor",
        "$anchor",
        "$vocabulary",
        "prefixItems",
        "additionalItems",
        "unevaluatedItems",
        "unevaluatedProperties",
        "dependentRequired",
        "dependentSchemas",
        "dependencies",
        "minContains",
        "maxContains",
    }
)


def _draft_difference(node: Any) -> str | None:
    """The first keyword of ``node`` (anywhere in it) in _DRAFT_DIFFERENCES, or an ``items`` given as a list (a
    tuple of schemas to draft-07, not allowed in 2020-12). A property so named counts too: it only costs speed."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in _DRAFT_DIFFERENCES or (key == "items" and isinstance(value, list)):
                return f"keyword {key!r}"
            found = _draft_difference(value)
            if found:
                return found
    elif isinstance(node, list):
        for value in node:
            found = _draft_difference(value)
            if found:
                return found
    return None


def _fast_schema_check(schema: Any) -> Callable[[Any], bool]:
    """fastjsonschema's verdict on ``schema`` as a predicate (True when valid). ImportError without fastjsonschema;
    _UnsupportedSchema for a keyword it would evaluate differently from jsonschema's Draft 2020-12 validator."""
    import fastjsonschema

    difference = _draft_difference(schema)
    if difference:
        raise _UnsupportedSchema(difference)
    # fastjsonschema knows drafts 04, 06, 07 and 2019-09 and silently reads any other "$schema" (this one's is
    # 2020-12) as 2019-09. Compile a copy that says draft-07 instead: for the keywords left after the check above
    # (type, enum, required, properties, additionalProperties, items as one schema, oneOf, annotations) draft-07
    # and 2020-12 give the same verdicts, and the schema then says how it is read. Defaults are not filled in (the
    # policy is not changed) and "format" asserts nothing, as with jsonschema without a format checker.
    try:
        validate = fastjsonschema.compile(
            {**schema, "$schema": _DRAFT_07},
            use_default=False,
            use_formats=False,
            detailed_exceptions=False,
        )
    except fastjsonschema.JsonSchemaDefinitionException as exc:
        raise _UnsupportedSchema(f"definition ({exc})") from exc
    invalid = fastjsonschema.JsonSchemaValueException

    def valid(doc: Any) -> bool:
        try:
            validate(doc)
        except invalid:
            return False
        return True

    return valid


def _never(value: Any) -> bool:
    return False


def _json_path(parts: Iterable[Any]) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _covers(parent: str, path: str) -> bool:
    return path == parent or path.startswith((parent + ".", parent + "["))


def validate_policy(policy: Any, *, schema: bool = True) -> list[str]:
    """Return every problem of one NetworkPolicy dict, each as '<ns>/<name>: <field path>: <problem and fix>'.

    Checks the strict JSON schema of kubernetes-validate (unknown fields, types) when it is installed,
    plus what the schema cannot say: policyTypes and protocol values, port ranges and names, endPort,
    label keys and values, selector operators and their values, CIDRs and ``except`` inside ``cidr``.
    """
    ident = _policy_ident(policy)
    check = _Checker(ident)
    if not isinstance(policy, Mapping):
        check.add("(policy)", f"must be a NetworkPolicy mapping, got {type(policy).__name__}")
        return check.errors
    if policy.get("apiVersion") not in (None, API_VERSION):
        check.add("apiVersion", f"{policy.get('apiVersion')!r} is not {API_VERSION!r}")
    if policy.get("kind") not in (None, KIND):
        check.add("kind", f"{policy.get('kind')!r} is not {KIND!r}")
    meta = policy.get("metadata")
    if check.mapping(meta, "metadata", allow_none=False):
        for key in ("name", "namespace"):
            value = meta.get(key)
            if not value:
                check.add(f"metadata.{key}", f"is required: give the policy's {key}")
            elif (
                not isinstance(value, str)
                or len(value) > (253 if key == "name" else 63)
                or not (_DNS_SUBDOMAIN if key == "name" else _DNS_LABEL).match(value)
            ):
                check.add(f"metadata.{key}", f"{value!r} is not a valid {key} (lowercase letters, digits and '-')")
        if meta.get("labels") is not None and check.mapping(meta.get("labels"), "metadata.labels"):
            for key, value in meta["labels"].items():
                problem = _label_key_problem(key) or _label_value_problem(value)
                if problem:
                    check.add(f"metadata.labels.{key}", problem)
    spec = policy.get("spec")
    if spec is None:
        check.add("spec", "is required: give at least spec.podSelector ({} selects every pod of the namespace)")
    elif check.mapping(spec, "spec"):
        check.unknown_keys(spec, ("podSelector", "policyTypes", "ingress", "egress"), "spec")
        check.selector(spec.get("podSelector"), "spec.podSelector")
        types = spec.get("policyTypes")
        if check.sequence(types, "spec.policyTypes"):
            for i, value in enumerate(types):
                if value not in POLICY_TYPES:
                    check.add(f"spec.policyTypes[{i}]", f"{value!r} is not a policy type; use Ingress and/or Egress")
            # The API server's rule: a repeated type is accepted, more than two entries are not.
            if len(types) > 2:
                check.add("spec.policyTypes", "may not specify more than two policyTypes; list Ingress and/or Egress")
        for key, peers_key in (("ingress", "from"), ("egress", "to")):
            rules = spec.get(key)
            if check.sequence(rules, f"spec.{key}"):
                for i, rule in enumerate(rules):
                    check.rule(rule, f"spec.{key}[{i}]", peers_key)
    if schema:
        strict = _schema_validator()
        doc = dict(policy)
        doc.setdefault("apiVersion", API_VERSION)
        doc.setdefault("kind", KIND)
        if strict and not strict.valid(doc):
            for err in sorted(strict.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path))):
                path = _json_path(err.absolute_path) or "(policy)"
                # Our own check already explained this field (or its parent) in plainer words.
                if any(
                    _covers(path, p) or (err.validator == "additionalProperties" and _covers(p, path))
                    for p in check.paths
                ):
                    continue
                check.add(path, f"{err.message} (strict schema of Kubernetes {SCHEMA_VERSION})")
    return check.errors


# ---------------------------------------------------------------------------------------------
# Compiled forms
# ---------------------------------------------------------------------------------------------


class _Selector:
    """A compiled LabelSelector. ``None`` input is represented by callers, not here."""

    __slots__ = ("exprs", "key", "labels")

    def __init__(self, sel: Mapping | None):
        sel = sel or {}
        self.labels = tuple(sorted((sel.get("matchLabels") or {}).items()))
        exprs = []
        for expr in sel.get("matchExpressions") or ():
            exprs.append((expr["key"], expr["operator"], frozenset(expr.get("values") or ())))
        self.exprs = tuple(sorted(exprs, key=lambda e: (e[0], e[1], sorted(e[2]))))
        self.key = (self.labels, self.exprs)

    @property
    def empty(self) -> bool:
        return not self.labels and not self.exprs

    def matches(self, labels: Mapping[str, str]) -> bool:
        for k, v in self.labels:
            if labels.get(k) != v:
                return False
        for key, op, values in self.exprs:
            present = key in labels
            if op == "In":
                if not present or labels[key] not in values:
                    return False
            elif op == "NotIn":
                if present and labels[key] in values:
                    return False
            elif op == "Exists":
                if not present:
                    return False
            elif present:  # DoesNotExist
                return False
        return True

    def describe(self) -> str:
        if self.empty:
            return "{}"
        parts = [f"{k}={v}" for k, v in self.labels]
        for key, op, values in self.exprs:
            if op in ("In", "NotIn"):
                parts.append(f"{key} {op.lower()} ({','.join(sorted(values))})")
            else:
                parts.append(key if op == "Exists" else f"!{key}")
        return ",".join(parts)


class _IPBlock:
    __slots__ = ("cidr", "excepts", "hi", "key", "lo", "net", "ranges", "version")

    def __init__(self, block: Mapping):
        self.cidr = block["cidr"]
        self.net = ipaddress.ip_network(self.cidr, strict=False)
        self.excepts = tuple(ipaddress.ip_network(e, strict=False) for e in block.get("except") or ())
        self.key = (self.net, self.excepts)
        # Integer bounds: membership is then two comparisons per range.
        self.version = self.net.version
        self.lo = int(self.net.network_address)
        self.hi = int(self.net.broadcast_address)
        self.ranges = tuple(
            (int(e.network_address), int(e.broadcast_address)) for e in self.excepts if e.version == self.version
        )

    def contains(self, ip: Any) -> bool:
        if ip is None or ip.version != self.version:
            return False
        return self.contains_int(int(ip))

    def contains_int(self, value: int) -> bool:
        if not self.lo <= value <= self.hi:
            return False
        return not any(lo <= value <= hi for lo, hi in self.ranges)


@dataclass(frozen=True)
class _Peer:
    index: int
    pod_selector: _Selector | None
    namespace_selector: _Selector | None
    ip_block: _IPBlock | None


@dataclass(frozen=True)
class _PortEntry:
    index: int
    protocol: str
    port: int | str | None
    end_port: int | None

    def describe(self) -> str:
        if self.port is None:
            return f"any {self.protocol} port"
        if self.end_port is not None:
            return f"{self.port}-{self.end_port}/{self.protocol}"
        return f"{self.port}/{self.protocol}"


@dataclass(frozen=True)
class _Rule:
    index: int
    peers: tuple[_Peer, ...] | None  # None: from/to absent or empty = every peer
    ports: tuple[_PortEntry, ...] | None  # None: ports absent or empty = every port


@dataclass
class _Policy:
    namespace: str
    name: str
    pod_selector: _Selector
    ingress_type: bool
    egress_type: bool
    ingress: tuple[_Rule, ...]
    egress: tuple[_Rule, ...]

    @property
    def ident(self) -> str:
        return f"{self.namespace}/{self.name}"


def _compile_rules(rules: Any, peers_key: str) -> tuple[_Rule, ...]:
    out = []
    for i, rule in enumerate(rules or ()):
        raw_peers = rule.get(peers_key) or ()
        peers = tuple(
            _Peer(
                j,
                None if p.get("podSelector") is None else _Selector(p["podSelector"]),
                None if p.get("namespaceSelector") is None else _Selector(p["namespaceSelector"]),
                None if p.get("ipBlock") is None else _IPBlock(p["ipBlock"]),
            )
            for j, p in enumerate(raw_peers)
        )
        raw_ports = rule.get("ports") or ()
        ports = tuple(
            _PortEntry(j, normalize_protocol(e.get("protocol")), e.get("port"), e.get("endPort"))
            for j, e in enumerate(raw_ports)
        )
        out.append(_Rule(i, peers or None, ports or None))
    return tuple(out)


def _compile_policy(policy: Mapping) -> _Policy:
    meta = policy["metadata"]
    spec = policy.get("spec") or {}
    types = spec.get("policyTypes") or []
    if not types:
        types = ["Ingress"] + (["Egress"] if spec.get("egress") else [])
    return _Policy(
        namespace=meta["namespace"],
        name=meta["name"],
        pod_selector=_Selector(spec.get("podSelector")),
        ingress_type="Ingress" in types,
        egress_type="Egress" in types,
        ingress=_compile_rules(spec.get("ingress"), "from"),
        egress=_compile_rules(spec.get("egress"), "to"),
    )


# ---------------------------------------------------------------------------------------------
# Ports asked for: numbers or container port names, grouped by the number each target resolves them to
# ---------------------------------------------------------------------------------------------


def check_port_spec(port: Any, protocol: Any, path: str) -> tuple[int | str, str]:
    """A port to evaluate: a number 1-65535 (also as digits) or a container port name, and its protocol."""
    try:
        protocol = normalize_protocol(protocol)
    except InputError:
        raise InputError(f"{path}.protocol: {protocol!r} is not supported; use TCP, UDP or SCTP") from None
    if isinstance(port, str) and port.isdigit():
        port = int(port)
    if _is_int(port):
        if not 1 <= port <= 65535:
            raise InputError(f"{path}.port: {port!r} must be a port number 1-65535 or a container port name")
        return port, protocol
    if not isinstance(port, str):
        raise InputError(f"{path}.port: {port!r} must be a port number 1-65535 or a container port name")
    problem = _port_name_problem(port)
    if problem:
        raise InputError(f"{path}.port: {problem}")
    return port, protocol


def port_groups(
    targets: Sequence[Any],
    specs: Sequence[tuple[int | str, str]] | None,
    ports_of: Callable[[Any], Iterable[tuple[str | None, int, str]] | None],
) -> dict[str, tuple[int | str, str, dict[int, list[Any]]]]:
    """Which port number each target is evaluated on, per port asked for.

    Returns ``{"<port>/<protocol>": (port, protocol, {number: [targets]})}`` - one truth table per key;
    a named port can mean a different number on each target. ``ports_of(target)`` gives the target's
    declared ``(name, number, protocol)`` ports, or None for an endpoint that is not a pod. Without
    ``specs``, every port the targets declare, sorted (a target that is not a pod is an InputError).
    A named port that none of the targets declares is an InputError: it would evaluate nothing.
    """
    groups: dict[str, tuple[Any, str, dict[int, list[Any]]]] = {}
    if specs is None:
        for target in targets:
            declared = ports_of(target)
            if declared is None:
                raise InputError(f"targets: {target} is not a pod and declares no ports; give ports to evaluate it")
            for _name, number, protocol in declared:
                by_number = groups.setdefault(f"{number}/{protocol}", (number, protocol, {}))[2]
                by_number.setdefault(number, []).append(target)
        return dict(sorted(groups.items(), key=lambda kv: (kv[1][0], kv[1][1])))
    for i, (port, protocol) in enumerate(specs):
        by_number = groups.setdefault(f"{port}/{protocol}", (port, protocol, {}))[2]
        for target in targets:
            if _is_int(port):
                number: int | None = port
            else:
                number = next((n for name, n, p in ports_of(target) or () if name == port and p == protocol), None)
            if number is not None and target not in by_number.setdefault(number, []):
                by_number[number].append(target)
        if not any(by_number.values()) and targets:
            declared = sorted(
                {name for t in targets for name, _number, p in ports_of(t) or () if name and p == protocol}
            )
            raise InputError(
                f"ports[{i}].port: no target declares a {protocol} container port named {port!r}"
                + (f" (named ports: {', '.join(declared)})" if declared else " (no target has named ports)")
            )
    return groups


# ---------------------------------------------------------------------------------------------
# Services: the port a client connects to, and the backend pods and ports behind it
# ---------------------------------------------------------------------------------------------


def _service_ident(service: Mapping) -> str:
    meta = service.get("metadata") or {}
    return f"{meta.get('namespace')}/{meta.get('name')}"


def service_ports_text(service: Mapping) -> str:
    """``80/TCP (http), 443/TCP`` - the ports a Service exposes, for messages."""
    entries = []
    for entry in (service.get("spec") or {}).get("ports") or []:
        text = f"{entry.get('port')}/{entry.get('protocol') or 'TCP'}"
        entries.append(f"{text} ({entry['name']})" if entry.get("name") else text)
    return ", ".join(entries) or "none"


def _forwards_any_port(service: Mapping) -> bool:
    """ExternalName Services and headless Services without ports: clients reach the backends' ports directly."""
    spec = service.get("spec") or {}
    if spec.get("type") == "ExternalName":
        return True
    return spec.get("clusterIP") == "None" and not spec.get("ports")


def service_port(service: Mapping, port: int, protocol: str = "TCP") -> Mapping | None:
    """The entry of ``spec.ports`` a client connecting to ``port``/``protocol`` uses.

    None for a Service that forwards any port (ExternalName, headless without ports); an InputError
    naming the ports the Service has when it does not expose this one.
    """
    protocol = normalize_protocol(protocol)
    if _forwards_any_port(service):
        return None
    for entry in (service.get("spec") or {}).get("ports") or []:
        if entry.get("port") == port and normalize_protocol(entry.get("protocol")) == protocol:
            return entry
    raise InputError(
        f"port: Service {_service_ident(service)} does not expose {port}/{protocol} "
        f"(its ports: {service_ports_text(service)})"
    )


def service_target_port(service: Mapping, port: int, protocol: str = "TCP") -> int | str:
    """The backend port (a number, or a container port name) that ``port`` of the Service leads to."""
    entry = service_port(service, port, protocol)
    spec = service.get("spec") or {}
    if entry is None or spec.get("clusterIP") == "None":
        return port  # headless: the client connects to the pod's own port
    target = entry.get("targetPort", port)
    if isinstance(target, str) and target.isdigit():
        return int(target)
    return target


# ---------------------------------------------------------------------------------------------
# Engine dialects: where an engine departs from the Kubernetes spec
# ---------------------------------------------------------------------------------------------

ENGINES = ("upstream", "calico", "cilium", "azure")
# The first Cilium release that enforces endPort ranges as the spec says.
CILIUM_END_PORT_VERSION = (1, 17)

# Every difference a dialect models, with where it is documented.
DIALECT_SOURCES = {
    "ipblock_pods": (
        "cilium: an ipBlock never matches a pod, node or host address, whatever its CIDR (also 0.0.0.0/0) and "
        "except (learn.microsoft.com azure/aks/migrate-from-npm-to-cilium-network-policy, 'ipBlock'; cilium#9209, "
        "cilium#20550); calico and azure: it does (Calico docs, 'ipBlock matches pod and host IPs'; same AKS page)"
    ),
    "egress_own_node": (
        "azure: egress from a pod to its own node is always allowed; cilium: it is blocked for an egress-isolated "
        "pod unless a rule without peers allows it (ipBlock cannot; a CiliumNetworkPolicy toEntities host can) "
        "(migrate-from-npm-to-cilium-network-policy, 'Egress policy behavior'); calico and upstream: decided by "
        "the policies like any other address (Calico docs: host endpoints are subject to egress policy)"
    ),
    "ingress_own_node": (
        "all engines: a pod's own node (kubelet probes, host processes) always reaches it "
        "(kubernetes.io network-policies, 'What you can't do'; Calico docs; Cilium's default allow-localhost)"
    ),
    "external_cluster": (
        "azure: traffic through a LoadBalancer or NodePort Service with externalTrafficPolicy Cluster is not "
        "subject to ingress policy; cilium: it is, and what a node forwards to a backend on another node arrives "
        "from that node (SNAT), which no ipBlock or selector matches: only a rule without peers admits it "
        "(migrate-from-npm-to-cilium-network-policy, 'Ingress policy behavior for LoadBalancer and NodePort "
        "Services'; Cilium docs, kube-proxy replacement SNAT mode); calico and upstream: it is, from the node's "
        "address after kube-proxy's SNAT (modelled here with the client's address)"
    ),
    "end_port": (
        "cilium before 1.17: an endPort range is not enforced as a range (only its first port; 1.15-1.16 reject "
        "such policies) (migrate-from-npm-to-cilium-network-policy, 'endPort'; Cilium 1.17 release notes)"
    ),
    "named_port_egress": (
        "cilium: an egress rule whose named port means different numbers on the pods it selects is skipped "
        "('duplicate named ports'; cilium#30003; migrate-from-npm-to-cilium-network-policy, 'Named ports')"
    ),
    "host_network": (
        "cilium: hostNetwork pods are not policed and no podSelector selects them (they are the host entity) "
        "(Cilium docs, 'Host firewall' and 'Kubernetes NetworkPolicy' limitations)"
    ),
}


@dataclass(frozen=True)
class Dialect:
    """How one engine enforces NetworkPolicy, where it departs from the spec (see DIALECT_SOURCES)."""

    name: str
    ipblock_matches_cluster: bool = True  # an ipBlock matches pod and node addresses
    egress_own_node_allowed: bool = False  # egress to the pod's own node is always allowed
    external_cluster_policed: bool = True  # LB/NodePort with eTP Cluster is subject to ingress policy
    end_port: bool = True  # endPort ranges are enforced
    ambiguous_named_egress: bool = True  # an egress rule with an ambiguous named port still applies
    polices_host_network: bool = True  # hostNetwork pods are policed and selectable like other pods
    version: tuple[int, ...] | None = None

    @property
    def exact_by_class(self) -> bool:
        """Whether the class bitset evaluation can represent this dialect exactly."""
        return self.ambiguous_named_egress and self.polices_host_network


def _parse_version(version: Any) -> tuple[int, ...] | None:
    if version in (None, ""):
        return None
    match = re.match(r"^v?(\d+)\.(\d+)(?:\.(\d+))?$", str(version))
    if not match:
        raise InputError(f"engine_version: {version!r} is not a version; write major.minor, e.g. 1.17")
    return tuple(int(g) for g in match.groups() if g is not None)


def dialect(engine: Any = "upstream", version: Any = None) -> Dialect:
    """The Dialect of ``engine`` (one of ENGINES; ``none`` is not an engine: nothing is enforced)."""
    if isinstance(engine, Dialect):
        return engine
    name = "upstream" if engine is None else str(engine).lower()
    if name not in ENGINES:
        raise InputError(f"engine: {engine!r} is not supported; use one of {', '.join(ENGINES)}")
    parsed = _parse_version(version)
    if name == "cilium":
        return Dialect(
            name,
            ipblock_matches_cluster=False,
            end_port=parsed is None or parsed[:2] >= CILIUM_END_PORT_VERSION,
            ambiguous_named_egress=False,
            polices_host_network=False,
            version=parsed,
        )
    if name == "azure":
        return Dialect(name, egress_own_node_allowed=True, external_cluster_policed=False, version=parsed)
    return Dialect(name, version=parsed)


DIALECTS = {name: dialect(name) for name in ENGINES}


# ---------------------------------------------------------------------------------------------
# Cluster model
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pod:
    namespace: str
    name: str
    labels: Mapping[str, str]
    ip: Any  # ipaddress.IPv4Address | IPv6Address | None
    ports: tuple[tuple[str | None, int, str], ...]  # (name, number, protocol), sorted
    node: str | None = None  # the node it runs on (spec.nodeName), for the dialects' node rules
    host_network: bool = False  # spec.hostNetwork

    @property
    def ident(self) -> str:
        return f"{self.namespace}/{self.name}"

    def resolve_port(self, name: str, protocol: str) -> int | None:
        for pname, number, proto in self.ports:
            if pname == name and proto == protocol:
                return number
        return None


@dataclass(frozen=True)
class External:
    """An endpoint that is not a pod: only ipBlock peers can match it."""

    ip: Any

    @property
    def ident(self) -> str:
        return str(self.ip)

    labels: Mapping[str, str] = field(default_factory=dict)
    namespace: str | None = None
    ports: tuple = ()

    def resolve_port(self, name: str, protocol: str) -> int | None:
        return None


@dataclass(frozen=True)
class Node:
    """A node (its address): only ipBlock peers can match it, and dialects treat a pod's own node specially."""

    name: str
    ip: Any
    os: str = "linux"
    labels: Mapping[str, str] = field(default_factory=dict)
    namespace: str | None = None
    ports: tuple = ()

    @property
    def ident(self) -> str:
        return f"node/{self.name}"

    def resolve_port(self, name: str, protocol: str) -> int | None:
        return None


@dataclass(frozen=True)
class RuleMatch:
    """The rule that allowed a connection: policy, rule index, peer index, port index (None = any)."""

    policy: str
    direction: str  # ingress | egress
    rule: int
    peer: int | None
    port: int | None
    peer_text: str
    port_text: str

    @property
    def field(self) -> str:
        peers_key = "from" if self.direction == "ingress" else "to"
        text = f"spec.{self.direction}[{self.rule}]"
        text += f".{peers_key}[{self.peer}]" if self.peer is not None else f" (no {peers_key}: every peer)"
        text += f".ports[{self.port}]" if self.port is not None else " (no ports: every port)"
        return text

    def sentence(self) -> str:
        return f"{self.policy} {self.field}"

    def to_dict(self) -> dict:
        return {
            "policy": self.policy,
            "direction": self.direction,
            "rule": self.rule,
            "peer": self.peer,
            "port": self.port,
            "peer_text": self.peer_text,
            "port_text": self.port_text,
            "field": self.field,
        }


@dataclass(frozen=True)
class Explanation:
    """Why one direction (egress of the source, ingress of the target) allows or denies."""

    direction: str  # ingress | egress
    endpoint: str  # the pod whose policies decide (target for ingress, source for egress)
    applies: bool  # False when the endpoint is not a pod: no policy can apply
    selecting: tuple[str, ...]  # policies of that type that select the endpoint
    allowed: bool
    matches: tuple[RuleMatch, ...]  # every rule that allows it (empty when denied or open)

    @property
    def isolated(self) -> bool:
        return bool(self.selecting)

    @property
    def match(self) -> RuleMatch | None:
        return self.matches[0] if self.matches else None

    def sentence(self) -> str:
        word = "ingress to" if self.direction == "ingress" else "egress from"
        if not self.applies:
            return f"{word} {self.endpoint} is not governed by NetworkPolicy (not a pod)"
        if not self.selecting:
            return (
                f"{word} {self.endpoint} is open (no policy with policyType {self.direction.capitalize()} selects it)"
            )
        if self.allowed:
            return f"{word} {self.endpoint} is allowed by {self.matches[0].sentence()}"
        return (
            f"{word} {self.endpoint} is denied by default: it is selected by {', '.join(self.selecting)} "
            f"and no {self.direction} rule of those matches"
        )

    def to_dict(self) -> dict:
        return {
            "direction": self.direction,
            "endpoint": self.endpoint,
            "applies": self.applies,
            "isolated": self.isolated,
            "selecting": list(self.selecting),
            "allowed": self.allowed,
            "matches": [m.to_dict() for m in self.matches],
            "reason": self.sentence(),
        }


@dataclass(frozen=True)
class Decision:
    """The verdict for one connection. ``allowed`` is None for self traffic (see ``policy_allowed``)."""

    source: str
    target: str
    port: int
    protocol: str
    allowed: bool | None
    policy_allowed: bool  # what the policies alone say, also for self traffic
    self_traffic: bool
    egress: Explanation
    ingress: Explanation
    reason: str

    def renamed(self, source: str, target: str) -> Decision:
        """The same decision for an equivalent pair of endpoints (same classes), with their names."""
        e, i = self.egress, self.ingress  # direct construction: dataclasses.replace is slow in bulk
        egress = Explanation(e.direction, source, e.applies, e.selecting, e.allowed, e.matches)
        ingress = Explanation(i.direction, target, i.applies, i.selecting, i.allowed, i.matches)
        return _decision(source, target, self.port, self.protocol, egress, ingress, self.self_traffic)

    def to_dict(self) -> dict:
        return {
            "from": self.source,
            "to": self.target,
            "port": self.port,
            "protocol": self.protocol,
            "allowed": self.allowed,
            "policy_allowed": self.policy_allowed,
            "self_traffic": self.self_traffic,
            "reason": self.reason,
            "egress": self.egress.to_dict(),
            "ingress": self.ingress.to_dict(),
        }


@dataclass(frozen=True)
class PodClass:
    """Pods the policies cannot tell apart: same namespace, labels, ports (and ipBlock matches)."""

    index: int
    name: str  # "<namespace>/class-<n>"
    namespace: str
    labels: Mapping[str, str]
    ports: tuple[tuple[str | None, int, str], ...]
    ip_blocks: frozenset  # indices of the cluster's distinct ipBlocks that contain the pods' IPs
    pods: tuple[str, ...]  # "ns/pod" of its members

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "namespace": self.namespace,
            "labels": dict(self.labels),
            "ports": [{"name": n, "port": p, "protocol": pr} for n, p, pr in self.ports],
            "pods": list(self.pods),
        }


@dataclass
class ClassMatrix:
    """Verdicts for every class pair on one port and protocol (bitsets: bit j of egress[i], ...)."""

    port: int
    protocol: str
    classes: list[PodClass]
    egress_allowed: list[int]  # per source class: bitset of target classes its egress allows
    ingress_allowed: list[int]  # per target class: bitset of source classes its ingress allows

    def allowed(self, src: int, dst: int) -> bool:
        return bool((self.egress_allowed[src] >> dst) & 1 and (self.ingress_allowed[dst] >> src) & 1)

    def allowed_targets(self, src: int) -> int:
        """Bitset of target classes reachable from class ``src`` (both directions)."""
        out = 0
        row = self.egress_allowed[src]
        bit = 1 << src
        j = 0
        while row:
            if row & 1 and self.ingress_allowed[j] & bit:
                out |= 1 << j
            row >>= 1
            j += 1
        return out

    def count_allowed(self) -> int:
        return sum(self.allowed_targets(i).bit_count() for i in range(len(self.classes)))


def _parse_ip(value: Any, path: str) -> Any:
    if value in (None, ""):
        return None
    try:
        return ipaddress.ip_address(str(value))
    except ValueError:
        raise InputError(f"{path}: {value!r} is not an IP address") from None


def _check_labels(labels: Any, path: str) -> dict[str, str]:
    if labels is None:
        return {}
    if not isinstance(labels, Mapping):
        raise InputError(f"{path}: must be a mapping of label keys to string values, got {labels!r}")
    for key, value in labels.items():
        problem = _label_key_problem(key) or _label_value_problem(value)
        if problem:
            raise InputError(f"{path}.{key}: {problem}")
    return dict(labels)


def _compile_pod_ports(ports: Any, path: str) -> tuple:
    if ports is None:
        return ()
    if not isinstance(ports, list | tuple):
        raise InputError(f"{path}: must be a list of {{name, port, protocol}}, got {ports!r}")
    out = set()
    for i, entry in enumerate(ports):
        epath = f"{path}[{i}]"
        if not isinstance(entry, Mapping):
            raise InputError(f"{epath}: must be a mapping {{name, port, protocol}}, got {entry!r}")
        unknown = set(entry) - {"name", "port", "protocol", "containerPort"}
        if unknown:
            raise InputError(f"{epath}: unknown field(s) {', '.join(sorted(unknown))}; use name, port, protocol")
        number = entry.get("port", entry.get("containerPort"))
        if not _is_int(number) or not 1 <= number <= 65535:
            raise InputError(f"{epath}.port: must be a port number 1-65535, got {number!r}")
        try:
            proto = normalize_protocol(entry.get("protocol"))
        except InputError:
            raise InputError(
                f"{epath}.protocol: {entry.get('protocol')!r} is not supported; use TCP, UDP or SCTP"
            ) from None
        name = entry.get("name")
        if name is not None:
            if not isinstance(name, str):
                raise InputError(f"{epath}.name: must be a string, got {name!r}")
            problem = _port_name_problem(name)
            if problem:
                raise InputError(f"{epath}.name: {problem}")
        out.add((name or None, number, proto))
    return tuple(sorted(out, key=lambda p: (p[1], p[2], p[0] or "")))


def _parse_namespaces(namespaces: Iterable[Any]) -> dict[str, dict[str, str]]:
    """``{name: labels}`` from ``[{name, labels}]``; every namespace carries its kubernetes.io/metadata.name."""
    out: dict[str, dict[str, str]] = {}
    for i, ns in enumerate(namespaces):
        path = f"namespaces[{i}]"
        if not isinstance(ns, Mapping):
            raise InputError(f"{path}: must be a mapping {{name, labels}}, got {ns!r}")
        unknown = set(ns) - {"name", "labels"}
        if unknown:
            raise InputError(f"{path}: unknown field(s) {', '.join(sorted(unknown))}; use name and labels")
        name = ns.get("name")
        if not isinstance(name, str) or not _DNS_LABEL.match(name) or len(name) > 63:
            raise InputError(f"{path}.name: {name!r} is not a namespace name (lowercase letters, digits and '-')")
        if name in out:
            raise InputError(f"{path}.name: namespace {name!r} is listed twice")
        labels = _check_labels(ns.get("labels"), f"{path}.labels")
        labels[NAMESPACE_NAME_LABEL] = name
        out[name] = labels
    return out


def _tagged(items: Iterable[tuple[Any, Any]]) -> tuple:
    """Key and value pairs with the type of each value: True == 1 == 1.0, but they are not the same input."""
    return tuple((key, type(value), value) for key, value in items)


def _workload_key(pod: Mapping) -> Any:
    """What the checks of a pod's labels and ports depend on, hashable; None when it is not plain data (then the
    pod is checked on its own). Pods of one workload share it."""
    labels, ports = pod.get("labels"), pod.get("ports")
    try:
        key = (
            _tagged(labels.items()) if isinstance(labels, dict) else (type(labels), labels),
            tuple(_tagged(entry.items()) for entry in ports) if isinstance(ports, list) else (type(ports), ports),
        )
        hash(key)
    except (AttributeError, TypeError):
        return None
    return key


def _parse_pod(pod: Any, path: str, workloads: dict[Any, tuple] | None = None) -> Pod:
    """A Pod from ``{namespace, name, labels, ip, ports}``; InputError naming the field otherwise.

    ``workloads`` remembers the checked labels and ports of pods seen before (by _workload_key): the replicas of
    a workload are checked once."""
    if not isinstance(pod, Mapping):
        raise InputError(f"{path}: must be a mapping {{namespace, name, labels, ip, ports}}, got {pod!r}")
    unknown = set(pod) - {"namespace", "name", "labels", "ip", "ports", "node", "host_network"}
    if unknown:
        raise InputError(
            f"{path}: unknown field(s) {', '.join(sorted(unknown))}; use namespace, name, labels, ip, ports, node, "
            "host_network"
        )
    node = pod.get("node")
    if node is not None and (not isinstance(node, str) or not node):
        raise InputError(f"{path}.node: {node!r} is not a node name")
    if not isinstance(pod.get("host_network", False), bool):
        raise InputError(f"{path}.host_network: must be true or false, got {pod.get('host_network')!r}")
    ns = pod.get("namespace")
    if not isinstance(ns, str) or not _DNS_LABEL.match(ns):
        raise InputError(f"{path}.namespace: {ns!r} is not a namespace name")
    name = pod.get("name")
    if not isinstance(name, str) or not name or "/" in name:
        raise InputError(f"{path}.name: {name!r} is not a pod name")
    key = _workload_key(pod) if workloads is not None else None
    checked = workloads.get(key) if key is not None else None
    if checked is None:
        checked = (
            _check_labels(pod.get("labels"), f"{path}.labels"),
            _compile_pod_ports(pod.get("ports"), f"{path}.ports"),
        )
        if key is not None:
            workloads[key] = checked
    labels, ports = checked
    return Pod(
        ns,
        name,
        dict(labels),
        _parse_ip(pod.get("ip"), f"{path}.ip"),
        ports,
        node,
        bool(pod.get("host_network", False)),
    )


def _parse_nodes(nodes: Iterable[Any]) -> dict[str, Node]:
    out: dict[str, Node] = {}
    for i, raw in enumerate(nodes):
        path = f"nodes[{i}]"
        if not isinstance(raw, Mapping):
            raise InputError(f"{path}: must be a mapping {{name, ip, os}}, got {raw!r}")
        unknown = set(raw) - {"name", "ip", "os"}
        if unknown:
            raise InputError(f"{path}: unknown field(s) {', '.join(sorted(unknown))}; use name, ip, os")
        name = raw.get("name")
        if not isinstance(name, str) or not name or "/" in name:
            raise InputError(f"{path}.name: {name!r} is not a node name")
        if name in out:
            raise InputError(f"{path}.name: node {name!r} is listed twice")
        ip = _parse_ip(raw.get("ip"), f"{path}.ip")
        if ip is None:
            raise InputError(f"{path}.ip: give the node's internal IP address")
        os_name = str(raw.get("os") or "linux").lower()
        if os_name not in ("linux", "windows"):
            raise InputError(f"{path}.os: {raw.get('os')!r} must be linux or windows")
        out[name] = Node(name, ip, os_name)
    return out


def _validate_policies(policies: list[Any], *, schema: bool) -> list[str]:
    """Every problem of every policy, and policies listed twice in a namespace."""
    errors: list[str] = []
    for i, policy in enumerate(policies):
        problems = validate_policy(policy, schema=schema)
        if problems and not isinstance(policy, Mapping):
            problems = [f"policies[{i}]: {p}" for p in problems]
        errors.extend(problems)
    seen: set[str] = set()
    for policy in policies:
        ident = _policy_ident(policy)
        if ident in seen and "<no" not in ident:
            errors.append(f"{ident}: metadata.name: the policy is listed twice in its namespace")
        seen.add(ident)
    return errors


def _compile_checked(policy: Any) -> _Policy:
    try:
        return _compile_policy(policy)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        # Only reachable with validate=False: say what is wrong instead of a bare traceback.
        raise PolicyError(
            validate_policy(policy, schema=False) or [f"{_policy_ident(policy)}: cannot be evaluated: {exc!r}"]
        ) from None


class Cluster:
    """Namespaces, pods and NetworkPolicies; answers who may reach whom, and why."""

    def __init__(
        self,
        namespaces: Iterable[Mapping] | None = None,
        pods: Iterable[Mapping] | None = None,
        policies: Iterable[Mapping] | None = None,
        *,
        validate: bool = True,
        schema: bool = True,
        engine: str | Dialect = "upstream",
        engine_version: str | None = None,
        nodes: Iterable[Mapping] | None = None,
    ):
        # The engine whose semantics decide (DIALECT_SOURCES); upstream is the Kubernetes spec.
        self.dialect: Dialect = dialect(engine, engine_version)
        self.nodes: dict[str, Node] = _parse_nodes(nodes or ())
        self._node_by_ip: dict[Any, Node] = {n.ip: n for n in self.nodes.values()}
        self.namespaces: dict[str, dict[str, str]] = _parse_namespaces(namespaces or ())
        self.pods: dict[str, Pod] = {}
        self._by_ip: dict[Any, Pod] = {}
        workloads: dict[Any, tuple] = {}
        for i, raw in enumerate(pods or ()):
            pod = _parse_pod(raw, f"pods[{i}]", workloads)
            if pod.ident in self.pods:
                raise InputError(f"pods[{i}]: pod {pod.ident} is listed twice")
            self.namespaces.setdefault(pod.namespace, {NAMESPACE_NAME_LABEL: pod.namespace})
            self.pods[pod.ident] = pod
            if pod.ip is not None:
                self._by_ip.setdefault(pod.ip, pod)
        raw_policies = list(policies or ())
        # Why the strict schema was not checked (or checked by jsonschema alone), when it was asked for (else None).
        self.schema_warning: str | None = None
        if validate:
            errors = _validate_policies(raw_policies, schema=schema)
            if errors:
                raise PolicyError(errors)
            if schema and raw_policies:
                self.schema_warning = schema_problem()
        self.policies: list[_Policy] = [_compile_checked(policy) for policy in raw_policies]
        for policy in self.policies:
            if policy.namespace not in self.namespaces:
                self.namespaces[policy.namespace] = {NAMESPACE_NAME_LABEL: policy.namespace}
        self._by_namespace: dict[str, list[_Policy]] = {}
        for policy in self.policies:
            self._by_namespace.setdefault(policy.namespace, []).append(policy)
        self._classes: list[PodClass] | None = None
        self._pod_class: dict[str, int] = {}
        self._ns_match_cache: dict[Any, frozenset] = {}

    # -- endpoints --------------------------------------------------------------------------

    def endpoint(self, value: Any) -> Pod | External:
        """Resolve "ns/pod", {"namespace", "name"} or {"ip"} to a pod or a non-pod endpoint."""
        if isinstance(value, Pod | External | Node):
            return value
        if isinstance(value, str):
            pod = self.pods.get(value)
            if pod is None and value.startswith("node/") and value[5:] in self.nodes:
                return self.nodes[value[5:]]
            if pod is None:
                raise InputError(
                    f"endpoint {value!r}: no such pod; write 'namespace/pod' of a known pod or {{ip: ...}}"
                )
            return pod
        if isinstance(value, Mapping):
            if "ip" in value and len(value) == 1:
                ip = _parse_ip(value["ip"], "endpoint.ip")
                if ip is None:
                    raise InputError("endpoint.ip: give an IP address")
                return self._by_ip.get(ip) or self._node_by_ip.get(ip) or External(ip)
            if set(value) == {"namespace", "name"}:
                return self.endpoint(f"{value['namespace']}/{value['name']}")
        raise InputError(f"endpoint {value!r}: write 'namespace/pod' or {{ip: <address>}}")

    def namespace_labels(self, namespace: str | None) -> Mapping[str, str]:
        if namespace is None:
            return {}
        return self.namespaces.get(namespace) or {NAMESPACE_NAME_LABEL: namespace}

    # -- the reference (pod-by-pod) evaluation ----------------------------------------------

    def _peer_matches(self, policy: _Policy, peer: _Peer, other: Pod | External | Node) -> bool:
        if peer.ip_block is not None:
            if not self.dialect.ipblock_matches_cluster and isinstance(other, Pod | Node):
                return False  # DIALECT_SOURCES["ipblock_pods"]
            return peer.ip_block.contains(other.ip)
        if isinstance(other, External | Node):
            return False
        if other.host_network and not self.dialect.polices_host_network:
            return False  # DIALECT_SOURCES["host_network"]: the host entity, not a selectable pod
        if peer.namespace_selector is None:
            if other.namespace != policy.namespace:
                return False
        elif not peer.namespace_selector.matches(self.namespace_labels(other.namespace)):
            return False
        return peer.pod_selector is None or peer.pod_selector.matches(other.labels)

    def _port_matches(self, entry: _PortEntry, dst: Pod | External | Node, port: int, protocol: str) -> bool:
        if entry.protocol != protocol:
            return False
        if entry.port is None:
            return True
        if isinstance(entry.port, str):
            return dst.resolve_port(entry.port, protocol) == port
        if entry.end_port is not None and self.dialect.end_port:
            return entry.port <= port <= entry.end_port
        return entry.port == port  # without endPort support only the first port (DIALECT_SOURCES["end_port"])

    def named_port_numbers(self, policy: _Policy, rule: _Rule, name: str, protocol: str) -> set[int]:
        """The numbers a named port means on the pods an egress rule's peers select (every pod without peers)."""
        numbers = set()
        for pod in self.pods.values():
            if rule.peers is None or any(self._peer_matches(policy, p, pod) for p in rule.peers):
                number = pod.resolve_port(name, protocol)
                if number is not None:
                    numbers.add(number)
        return numbers

    def rule_named_port_numbers(
        self, policy: str, direction: str, rule: int, name: str, protocol: str = "TCP"
    ) -> set[int]:
        """Public form of named_port_numbers: ``policy`` is "namespace/name", ``direction`` ingress or egress."""
        protocol = normalize_protocol(protocol)
        for compiled in self.policies:
            if compiled.ident == policy:
                rules = compiled.ingress if direction == "ingress" else compiled.egress
                if 0 <= rule < len(rules):
                    return self.named_port_numbers(compiled, rules[rule], name, protocol)
        raise InputError(f"policy {policy!r} has no {direction} rule {rule}")

    def _ambiguous(self, policy: _Policy, rule: _Rule, entry: _PortEntry, direction: str) -> bool:
        """Cilium skips an egress rule whose named port is ambiguous (DIALECT_SOURCES["named_port_egress"])."""
        if self.dialect.ambiguous_named_egress or direction != "egress" or not isinstance(entry.port, str):
            return False
        return len(self.named_port_numbers(policy, rule, entry.port, entry.protocol)) > 1

    def _direction(
        self,
        direction: str,
        subject: Pod | External,
        other: Pod | External,
        dst: Pod | External,
        port: int,
        protocol: str,
    ) -> Explanation:
        if isinstance(subject, External | Node) or (subject.host_network and not self.dialect.polices_host_network):
            return Explanation(direction, subject.ident, False, (), True, ())
        selecting: list[str] = []
        matches: list[RuleMatch] = []
        peers_key = "from" if direction == "ingress" else "to"
        for policy in self._by_namespace.get(subject.namespace, ()):
            if not (policy.ingress_type if direction == "ingress" else policy.egress_type):
                continue
            if not policy.pod_selector.matches(subject.labels):
                continue
            selecting.append(policy.ident)
            for rule in policy.ingress if direction == "ingress" else policy.egress:
                if rule.ports is None:
                    port_hit: _PortEntry | None = None
                else:
                    port_hit = next(
                        (
                            e
                            for e in rule.ports
                            if self._port_matches(e, dst, port, protocol)
                            and not self._ambiguous(policy, rule, e, direction)
                        ),
                        None,
                    )
                    if port_hit is None:
                        continue
                if rule.peers is None:
                    peer_hit: _Peer | None = None
                else:
                    peer_hit = next((p for p in rule.peers if self._peer_matches(policy, p, other)), None)
                    if peer_hit is None:
                        continue
                matches.append(
                    RuleMatch(
                        policy.ident,
                        direction,
                        rule.index,
                        None if peer_hit is None else peer_hit.index,
                        None if port_hit is None else port_hit.index,
                        f"every {peers_key} peer" if peer_hit is None else _describe_peer(policy, peer_hit),
                        "every port" if port_hit is None else port_hit.describe(),
                    )
                )
        allowed = not selecting or bool(matches)
        return Explanation(direction, subject.ident, True, tuple(selecting), allowed, tuple(matches))

    def evaluate(self, src: Any, dst: Any, port: int | str, protocol: str = "TCP") -> Decision:
        """Decide one connection from ``src`` to ``dst`` on ``port``/``protocol``, with explanations."""
        protocol = normalize_protocol(protocol)
        source = self.endpoint(src)
        target = self.endpoint(dst)
        if not isinstance(source, Pod) and not isinstance(target, Pod):
            raise InputError("endpoints: at least one of source and target must be a pod")
        number = self._port_number(target, port, protocol)
        egress = self._direction("egress", source, target, target, number, protocol)
        ingress = self._direction("ingress", target, source, target, number, protocol)
        self_traffic = isinstance(source, Pod) and source is target
        notes = []
        if isinstance(source, Pod) and isinstance(target, Node) and source.node == target.name:
            if self.dialect.egress_own_node_allowed and not egress.allowed:
                egress = Explanation("egress", source.ident, False, egress.selecting, True, ())
                notes.append(f"{self.dialect.name}: egress to the pod's own node is always allowed")
            elif not self.dialect.ipblock_matches_cluster and egress.isolated and not egress.allowed:
                notes.append(f"{self.dialect.name}: egress to the pod's own node needs a rule without peers")
        if isinstance(source, Node) and isinstance(target, Pod) and target.node == source.name and not ingress.allowed:
            ingress = Explanation("ingress", target.ident, False, ingress.selecting, True, ())
            notes.append(f"{self.dialect.name}: a pod's own node always reaches it")
        if self.dialect.name != "upstream":
            notes += self._dialect_notes(source, target, egress, ingress)
        decision = _decision(source.ident, target.ident, number, protocol, egress, ingress, self_traffic)
        if notes:
            decision = _with_notes(decision, notes)
        return decision

    def _dialect_notes(self, source: Any, target: Any, egress: Explanation, ingress: Explanation) -> list[str]:
        """Why a dialect's verdict may differ from the spec's here (for the decision's reason)."""
        notes = []
        name = self.dialect.name
        for pod in (source, target):
            if isinstance(pod, Pod) and pod.host_network and not self.dialect.polices_host_network:
                notes.append(f"{name}: {pod.ident} uses the host network and is not policed")
        if not self.dialect.ipblock_matches_cluster and not (egress.allowed and ingress.allowed):
            for explanation, other in ((egress, target), (ingress, source)):
                covering = self._ipblocks_containing(explanation.selecting, other, explanation.direction)
                if isinstance(other, Pod | Node) and explanation.isolated and not explanation.allowed and covering:
                    notes.append(
                        f"{name}: an ipBlock of {', '.join(covering)} covers {other.ident} ({other.ip}) but never "
                        "matches a pod or node address"
                    )
        return notes

    def _ipblocks_containing(self, policy_idents: Iterable[str], other: Any, direction: str) -> list[str]:
        """The policies among ``policy_idents`` with an ipBlock peer (of ``direction``) containing ``other``'s IP."""
        wanted = set(policy_idents)
        found = []
        for policy in self.policies:
            if policy.ident not in wanted:
                continue
            rules = policy.ingress if direction == "ingress" else policy.egress
            if any(p.ip_block is not None and p.ip_block.contains(other.ip) for r in rules for p in r.peers or ()):
                found.append(policy.ident)
        return found

    def external_service_decisions(
        self, service: Mapping, port: int, protocol: str = "TCP", client_ip: str = "203.0.113.10"
    ) -> tuple[list[Decision], str]:
        """What a client outside the cluster gets through a LoadBalancer or NodePort Service, per backend.

        With externalTrafficPolicy Cluster, Azure NPM applies no ingress policy; the other dialects decide
        with the client's address (DIALECT_SOURCES["external_cluster"]). Returns the decisions and why there
        are none when there are none.
        """
        protocol = normalize_protocol(protocol)
        spec = service.get("spec") or {}
        ident = _service_ident(service)
        if spec.get("type") not in ("LoadBalancer", "NodePort"):
            return [], f"Service {ident} is {spec.get('type') or 'ClusterIP'}: not reachable from outside"
        target_port = service_target_port(service, port, protocol)
        backends = self.service_backends(service)
        if isinstance(target_port, str):
            backends = [pod for pod in backends if pod.resolve_port(target_port, protocol) is not None]
        if not backends:
            return [], f"Service {ident} has no backend pods (for target port {target_port})"
        client = External(_parse_ip(client_ip, "client_ip"))
        cluster_policy = (spec.get("externalTrafficPolicy") or "Cluster") == "Cluster"
        decisions = []
        for pod in backends:
            decision = self.evaluate(client, pod.ident, target_port, protocol)
            if cluster_policy and not self.dialect.ipblock_matches_cluster and decision.allowed:
                # forwarded from another node: the source is that node (DIALECT_SOURCES["external_cluster"])
                forwarded = self.evaluate(Node("another-node", None), pod.ident, target_port, protocol)
                if not forwarded.allowed:
                    decision = _with_notes(
                        forwarded,
                        [
                            f"{self.dialect.name}: traffic through {ident} (externalTrafficPolicy Cluster) that a "
                            "node forwards arrives from that node, which only a rule without peers admits"
                        ],
                    )
            if cluster_policy and not self.dialect.external_cluster_policed and not decision.allowed:
                ingress = Explanation("ingress", pod.ident, False, decision.ingress.selecting, True, ())
                decision = _decision(
                    decision.source, pod.ident, decision.port, protocol, decision.egress, ingress, False
                )
                decision = _with_notes(
                    decision,
                    [f"{self.dialect.name}: traffic through {ident} (externalTrafficPolicy Cluster) is not policed"],
                )
            decisions.append(decision)
        return decisions, ""

    # -- Services -------------------------------------------------------------------------------

    def service_backends(self, service: Mapping) -> list[Pod]:
        """The pods of the Service's namespace that its selector picks (none without a selector)."""
        namespace = (service.get("metadata") or {}).get("namespace")
        selector = (service.get("spec") or {}).get("selector") or {}
        if not selector:
            return []
        return [
            pod
            for pod in self.pods.values()
            if pod.namespace == namespace and all(pod.labels.get(k) == v for k, v in selector.items())
        ]

    def service_decisions(
        self, src: Any, service: Mapping, port: int, protocol: str = "TCP"
    ) -> tuple[list[Decision], str]:
        """What the policies decide for ``src`` connecting to each backend of ``service`` through ``port``.

        The backends are the pods the selector picks that have the target port (a named targetPort is
        resolved per pod, as the endpoints controller does). Returns the decisions, self traffic left
        out, and why there are none when there are none. Raises InputError when the Service does not
        expose ``port``/``protocol``.
        """
        protocol = normalize_protocol(protocol)
        target_port = service_target_port(service, port, protocol)
        ident = _service_ident(service)
        if not (service.get("spec") or {}).get("selector"):
            return [], f"Service {ident} has no selector: its endpoints are not predicted"
        backends = self.service_backends(service)
        if isinstance(target_port, str):
            backends = [pod for pod in backends if pod.resolve_port(target_port, protocol) is not None]
        if not backends:
            return [], f"Service {ident} has no backend pods (for target port {target_port})"
        decisions = [self.evaluate(src, pod.ident, target_port, protocol) for pod in backends]
        decisions = [d for d in decisions if d.allowed is not None]
        if not decisions:
            return [], "self traffic is not predicted"
        return decisions, ""

    def pair_decisions(
        self,
        port: int,
        protocol: str = "TCP",
        sources: Iterable[str] | None = None,
        targets: Iterable[str] | None = None,
        *,
        include_self: bool = False,
    ) -> Iterable[Decision]:
        """Decisions for every ordered pod pair (sources x targets), explained once per class pair.

        Pods of one class get the same verdict and the same explanation (only the names differ), so
        the reference evaluation runs once per class pair and the other pairs reuse it renamed.
        """
        protocol = normalize_protocol(protocol)
        src_list = list(self.pods) if sources is None else list(sources)
        dst_list = list(self.pods) if targets is None else list(targets)
        for ident in (*src_list, *dst_list):
            if ident not in self.pods:
                raise InputError(f"endpoint {ident!r}: no such pod")
        self.classes()
        cache: dict[tuple, Decision] = {}
        for s in src_list:
            ci = self._pod_class[s]
            for t in dst_list:
                same = s == t
                if same and not include_self:
                    continue
                key = (ci, self._pod_class[t], same)
                decision = cache.get(key)
                if decision is None:
                    decision = cache[key] = self.evaluate(s, t, port, protocol)
                    yield decision
                else:
                    yield decision.renamed(s, t)

    def class_decision(self, src: PodClass, dst: PodClass, port: int, protocol: str = "TCP") -> Decision | None:
        """The decision between two classes' pods, named after the classes (None: no distinct pair exists)."""
        if src.index == dst.index:
            if len(src.pods) < 2:
                return None
            s, t = src.pods[0], src.pods[1]
        else:
            s, t = src.pods[0], dst.pods[0]
        return self.evaluate(s, t, port, protocol).renamed(src.name, dst.name)

    @staticmethod
    def _port_number(target: Pod | External, port: Any, protocol: str) -> int:
        if _is_int(port):
            if not 1 <= port <= 65535:
                raise InputError(f"port: {port} is out of range 1-65535")
            return port
        if isinstance(port, str):
            if port.isdigit():
                return Cluster._port_number(target, int(port), protocol)
            number = target.resolve_port(port, protocol)
            if number is None:
                raise InputError(f"port: {target.ident} has no {protocol} container port named {port!r}")
            return number
        raise InputError(f"port: {port!r} is not a port number or name")

    # -- tables ------------------------------------------------------------------------------

    def truth_table(
        self,
        sources: Iterable[Any] | None,
        targets: Iterable[Any] | None,
        port: int | str,
        protocol: str = "TCP",
        *,
        self_mark: str = ".",
    ) -> str:
        """The upstream-style truth table: rows are sources, columns targets, '.' allowed, 'X' blocked.

        Self traffic is not predicted (allowed is None); it is drawn as ``self_mark`` ('.' by default,
        as the upstream suite, which ignores the diagonal, expects; pass '-' to show it as unknown).
        """
        srcs = [self.endpoint(s) for s in (sources if sources is not None else self.pods)]
        dsts = [self.endpoint(t) for t in (targets if targets is not None else self.pods)]
        cells: dict[tuple[str, str], bool | None] = {}
        pod_srcs = [s for s in srcs if isinstance(s, Pod)]
        pod_dsts = [t for t in dsts if isinstance(t, Pod)]
        if pod_srcs and pod_dsts and _is_int(port):
            matrix = self.evaluate_classes(port, protocol)
            for s in pod_srcs:
                i = self._pod_class[s.ident]
                row = matrix.allowed_targets(i)
                for t in pod_dsts:
                    cells[(s.ident, t.ident)] = None if s is t else bool((row >> self._pod_class[t.ident]) & 1)
        for s in srcs:
            for t in dsts:
                if (s.ident, t.ident) not in cells:
                    cells[(s.ident, t.ident)] = self.evaluate(s, t, port, protocol).allowed
        return format_table([s.ident for s in srcs], [t.ident for t in dsts], cells, self_mark=self_mark)

    # -- equivalence classes -----------------------------------------------------------------

    def _distinct_ip_blocks(self) -> list[_IPBlock]:
        seen: dict[Any, _IPBlock] = {}
        for policy in self.policies:
            for rule in policy.ingress + policy.egress:
                for peer in rule.peers or ():
                    if peer.ip_block is not None:
                        seen.setdefault(peer.ip_block.key, peer.ip_block)
        return list(seen.values())

    def classes(self) -> list[PodClass]:
        """The equivalence classes of pods (same namespace, labels, ports and ipBlock matches)."""
        if self._classes is None:
            blocks = self._distinct_ip_blocks()
            self._block_index = {b.key: i for i, b in enumerate(blocks)}
            signature = _ip_signatures(blocks)
            groups: dict[Any, list[Pod]] = {}
            for pod in sorted(self.pods.values(), key=lambda p: (p.namespace, p.name)):
                sig = signature(pod.ip)
                key = (pod.namespace, tuple(sorted(pod.labels.items())), pod.ports, sig)
                if not self.dialect.polices_host_network:
                    key += (pod.host_network,)  # such pods are not policed: they cannot share a class
                groups.setdefault(key, []).append(pod)
            classes = []
            per_ns: dict[str, int] = {}
            for key, members in groups.items():
                ns = key[0]
                per_ns[ns] = per_ns.get(ns, 0) + 1
                cls = PodClass(
                    len(classes),
                    f"{ns}/class-{per_ns[ns]}",
                    ns,
                    dict(key[1]),
                    key[2],
                    key[3],
                    tuple(p.ident for p in members),
                )
                classes.append(cls)
                for p in members:
                    self._pod_class[p.ident] = cls.index
            self._classes = classes
        return self._classes

    def isolation(self, subject: Any) -> tuple[bool, bool]:
        """(selected by an Ingress policy, selected by an Egress policy) for a pod ("ns/pod") or a class."""
        if isinstance(subject, PodClass):
            namespace, labels = subject.namespace, subject.labels
        else:
            pod = self.endpoint(subject)
            if isinstance(pod, External):
                return False, False
            namespace, labels = pod.namespace, pod.labels
        ingress = egress = False
        for policy in self._by_namespace.get(namespace, ()):
            needed = (policy.ingress_type and not ingress) or (policy.egress_type and not egress)
            if needed and policy.pod_selector.matches(labels):
                ingress = ingress or policy.ingress_type
                egress = egress or policy.egress_type
        return ingress, egress

    def class_of(self, pod: str) -> PodClass:
        classes = self.classes()
        if pod not in self._pod_class:
            raise InputError(f"endpoint {pod!r}: no such pod")
        return classes[self._pod_class[pod]]

    def evaluate_classes(self, port: int, protocol: str = "TCP") -> ClassMatrix:
        """Verdicts for every ordered class pair on one numeric port, cost O(classes), not pods."""
        protocol = normalize_protocol(protocol)
        if not _is_int(port) or not 1 <= port <= 65535:
            raise InputError(f"port: {port!r} must be a port number 1-65535 for class evaluation")
        classes = self.classes()
        n = len(classes)
        everyone = (1 << n) - 1
        if not self.dialect.exact_by_class:
            return self._evaluate_classes_by_pairs(port, protocol)
        ns_bits: dict[str, int] = {}
        for c in classes:
            ns_bits[c.namespace] = ns_bits.get(c.namespace, 0) | (1 << c.index)
        sel_cache: dict[Any, int] = {}

        def pods_matching(sel: _Selector) -> int:
            bits = sel_cache.get(("pod", sel.key))
            if bits is None:
                bits = 0
                for c in classes:
                    if sel.matches(c.labels):
                        bits |= 1 << c.index
                sel_cache[("pod", sel.key)] = bits
            return bits

        def namespaces_matching(sel: _Selector) -> int:
            bits = sel_cache.get(("ns", sel.key))
            if bits is None:
                bits = 0
                for ns, nbits in ns_bits.items():
                    if sel.matches(self.namespace_labels(ns)):
                        bits |= nbits
                sel_cache[("ns", sel.key)] = bits
            return bits

        block_bits: dict[Any, int] = {}
        for c in classes:
            for b in c.ip_blocks:
                block_bits[b] = block_bits.get(b, 0) | (1 << c.index)

        def peer_bits(policy: _Policy, peer: _Peer) -> int:
            if peer.ip_block is not None:
                if not self.dialect.ipblock_matches_cluster:
                    return 0  # DIALECT_SOURCES["ipblock_pods"]
                return block_bits.get(self._block_index[peer.ip_block.key], 0)
            bits = (
                ns_bits.get(policy.namespace, 0)
                if peer.namespace_selector is None
                else namespaces_matching(peer.namespace_selector)
            )
            if peer.pod_selector is not None:
                bits &= pods_matching(peer.pod_selector)
            return bits

        named_cache: dict[str, int] = {}

        def named_bits(name: str) -> int:
            bits = named_cache.get(name)
            if bits is None:
                bits = 0
                for c in classes:
                    for pname, number, proto in c.ports:
                        if pname == name and proto == protocol and number == port:
                            bits |= 1 << c.index
                            break
                named_cache[name] = bits
            return bits

        def port_bits(rule: _Rule) -> int:
            """Target classes for which the rule's ports admit ``port``/``protocol``."""
            if rule.ports is None:
                return everyone
            bits = 0
            for e in rule.ports:
                if e.protocol != protocol:
                    continue
                ranged = e.end_port is not None and self.dialect.end_port
                if e.port is None or (
                    _is_int(e.port) and (e.port == port or (ranged and e.port <= port <= e.end_port))
                ):
                    return everyone
                if isinstance(e.port, str):
                    bits |= named_bits(e.port)
            return bits

        egress_isolated = 0
        ingress_isolated = 0
        egress_allowed = [0] * n
        ingress_allowed = [0] * n
        for policy in self.policies:
            selected = pods_matching(policy.pod_selector) & ns_bits.get(policy.namespace, 0)
            if not selected:
                continue
            if policy.ingress_type:
                ingress_isolated |= selected
                for rule in policy.ingress:
                    targets = selected & port_bits(rule)
                    if not targets:
                        continue
                    srcs = everyone if rule.peers is None else 0
                    for peer in rule.peers or ():
                        srcs |= peer_bits(policy, peer)
                    if srcs:
                        for j in _bits(targets):
                            ingress_allowed[j] |= srcs
            if policy.egress_type:
                egress_isolated |= selected
                for rule in policy.egress:
                    dsts = everyone if rule.peers is None else 0
                    for peer in rule.peers or ():
                        dsts |= peer_bits(policy, peer)
                    dsts &= port_bits(rule)
                    if dsts:
                        for i in _bits(selected):
                            egress_allowed[i] |= dsts
        for i in range(n):
            if not (egress_isolated >> i) & 1:
                egress_allowed[i] = everyone
            if not (ingress_isolated >> i) & 1:
                ingress_allowed[i] = everyone
        return ClassMatrix(port, protocol, classes, egress_allowed, ingress_allowed)

    def _evaluate_classes_by_pairs(self, port: int, protocol: str) -> ClassMatrix:
        """The class matrix from the reference evaluation, one class pair at a time (dialects the bitsets
        cannot express: hostNetwork pods and ambiguous named ports under Cilium)."""
        classes = self.classes()
        n = len(classes)
        egress_allowed = [0] * n
        ingress_allowed = [0] * n
        for src in classes:
            for dst in classes:
                s = src.pods[0]
                t = dst.pods[1] if src.index == dst.index and len(dst.pods) > 1 else dst.pods[0]
                decision = self.evaluate(s, t, port, protocol)
                if decision.egress.allowed:
                    egress_allowed[src.index] |= 1 << dst.index
                if decision.ingress.allowed:
                    ingress_allowed[dst.index] |= 1 << src.index
        return ClassMatrix(port, protocol, classes, egress_allowed, ingress_allowed)


def _ip_signatures(blocks: list[_IPBlock]) -> Any:
    """A function: IP -> frozenset of the indices of ``blocks`` that contain it.

    The block edges cut the address space into intervals on which the answer is constant, so it is
    computed once per interval and each IP costs one binary search.
    """
    empty: frozenset = frozenset()
    tables = {}
    for version in (4, 6):
        mine = [(i, b) for i, b in enumerate(blocks) if b.version == version]
        if not mine:
            continue
        edges = set()
        for _index, b in mine:
            edges.update((b.lo, b.hi + 1))
            for lo, hi in b.ranges:
                edges.update((lo, hi + 1))
        bounds = sorted(edges)
        sigs = [frozenset(i for i, b in mine if b.contains_int(start)) for start in bounds]
        tables[version] = (bounds, sigs)

    def signature(ip: Any) -> frozenset:
        if ip is None or ip.version not in tables:
            return empty
        bounds, sigs = tables[ip.version]
        k = bisect.bisect_right(bounds, int(ip)) - 1
        return sigs[k] if k >= 0 else empty

    return signature


def _decision(
    source: str, target: str, number: int, protocol: str, egress: Explanation, ingress: Explanation, self_traffic: bool
) -> Decision:
    verdict = egress.allowed and ingress.allowed
    what = f"{source} -> {target} on {number}/{protocol}"
    if self_traffic:
        reason = (
            f"{what} is a pod talking to itself: NetworkPolicy does not define it and CNIs differ "
            f"(kubernetes#95879), so it is not predicted (the policies alone would {'allow' if verdict else 'block'} it)"
        )
        allowed: bool | None = None
    else:
        allowed = verdict
        parts = [egress, ingress] if verdict else [e for e in (egress, ingress) if not e.allowed]
        reason = f"{what} is {'allowed' if verdict else 'blocked'}: " + "; ".join(p.sentence() for p in parts)
    return Decision(source, target, number, protocol, allowed, verdict, self_traffic, egress, ingress, reason)


def _with_notes(decision: Decision, notes: list[str]) -> Decision:
    """The decision with the dialect's notes added to its reason."""
    return Decision(
        decision.source,
        decision.target,
        decision.port,
        decision.protocol,
        decision.allowed,
        decision.policy_allowed,
        decision.self_traffic,
        decision.egress,
        decision.ingress,
        f"{decision.reason} [{'; '.join(notes)}]",
    )


def _bits(value: int) -> Iterable[int]:
    """Indices of the set bits of ``value``."""
    while value:
        low = value & -value
        yield low.bit_length() - 1
        value ^= low


def _describe_peer(policy: _Policy, peer: _Peer) -> str:
    if peer.ip_block is not None:
        text = f"ipBlock {peer.ip_block.cidr}"
        if peer.ip_block.excepts:
            text += " except " + ", ".join(str(e) for e in peer.ip_block.excepts)
        return text
    ns = (
        f"namespace {policy.namespace}"
        if peer.namespace_selector is None
        else f"namespaces [{peer.namespace_selector.describe()}]"
    )
    pods = "all pods" if peer.pod_selector is None else f"pods [{peer.pod_selector.describe()}]"
    return f"{pods} in {ns}"


def format_table(
    rows: list[str], cols: list[str], cells: Mapping[tuple[str, str], bool | None], *, self_mark: str = "."
) -> str:
    """Draw the upstream TruthTable.PrettyPrint layout: '-' corner, '.' allowed, 'X' blocked, '?' unknown."""
    width = max([len(r) for r in rows] + [1])
    col_w = [max(len(c), 1) for c in cols]
    lines = ["-".ljust(width) + " " + " ".join(c.ljust(w) for c, w in zip(cols, col_w, strict=True))]
    for r in rows:
        marks = []
        for c, w in zip(cols, col_w, strict=True):
            value = cells.get((r, c), "?")
            mark = "?" if value == "?" else self_mark if value is None else "." if value else "X"
            marks.append(mark.ljust(w))
        lines.append(r.ljust(width) + " " + " ".join(marks))
    return "\n".join(line.rstrip() for line in lines) + "\n"
