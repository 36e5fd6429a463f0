# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Decoding and validation as kube-apiserver does it.

1. Decoding against the strict JSON schema of kubernetes-validate (the 1.37 OpenAPI): a wrong type is a
   400 BadRequest (`... cannot be handled as a NetworkPolicy: json: cannot unmarshal ...`); an unknown
   field follows `?fieldValidation=` (Strict: 400 `strict decoding error: unknown field "spec.x"`;
   Warn, the default: dropped with a `Warning` header; Ignore: dropped).
2. Validation (422 Invalid, every cause listed): names, labels, required fields, ports, protocols, and
   for NetworkPolicy also the collection's engine (`netpol.validate_policy`).
"""

from __future__ import annotations

import functools
import ipaddress
import re
from typing import Any

from tests.fakes.kube.errors import ApiError
from tests.fakes.kube.errors import FieldError
from tests.fakes.kube.errors import bad_request

SCHEMA_VERSION = "1.37.0"

DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")

MSG_SUBDOMAIN = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start "
    "and end with an alphanumeric character (e.g. 'example.com', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
MSG_LABEL = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end "
    "with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
MSG_1035 = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, "
    "and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is "
    "'[a-z]([-a-z0-9]*[a-z0-9])?')"
)
MSG_LABEL_VALUE = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start "
    "and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation "
    "is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)
MSG_QUALIFIED = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
    "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
    "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)
MSG_PORT = "must be between 1 and 65535, inclusive"


# --------------------------------------------------------------------------------------------------
# Decoding (schema)


@functools.cache
def _validator(kind: str, api_version: str) -> Any:
    import jsonschema
    import referencing
    from kubernetes_validate import utils as kv

    version = kv.major_minor(SCHEMA_VERSION)
    schema_dir = f"v{SCHEMA_VERSION}-local-strict"
    group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    schema = kv.schema_contents(f"kubernetes-json-schema/{schema_dir}/{kind.lower()}-{group_version}.json", version)
    defs = kv.schema_contents(f"kubernetes-json-schema/{schema_dir}/_definitions.json", version)
    registry = referencing.Registry()
    registry = referencing.Resource.from_contents(schema) @ registry
    registry = referencing.Resource.from_contents(defs) @ registry
    return jsonschema.validators.Draft202012Validator(schema, registry=registry)


def _path(parts: Any) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


_GO_TYPES = {
    "object": "map",
    "array": "array",
    "string": "string",
    "integer": "number",
    "number": "number",
    "boolean": "bool",
}


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, int | float):
        return "number"
    return "null"


def _drop(obj: Any, parts: list, name: str) -> None:
    current = obj
    for part in parts:
        current = current[part]
    if isinstance(current, dict):
        current.pop(name, None)


def decode(obj: dict, kind: str, api_version: str, field_validation: str) -> tuple[dict, list[str]]:
    """Check types and unknown fields; return (object with unknown fields dropped, warnings)."""
    validator = _validator(kind, api_version)
    unknown: list[tuple[list, str]] = []
    for err in validator.iter_errors(obj):
        if err.validator == "additionalProperties":
            for name in re.findall(r"'([^']+)'", err.message.split("(")[-1]):
                unknown.append((list(err.absolute_path), name))
            continue
        if err.validator == "type" or err.validator == "enum" or err.validator == "format":
            path = _path(err.absolute_path)
            wanted = err.validator_value if isinstance(err.validator_value, str) else "/".join(err.validator_value)
            raise bad_request(
                f'{kind} in version "{api_version.split("/")[-1]}" cannot be handled as a {kind}: json: cannot '
                f"unmarshal {_json_type(err.instance)} into Go struct field {kind}.{path} of type {_GO_TYPES.get(wanted, wanted)}"
            )
        if err.validator == "required":
            continue  # the API server reports missing fields in validation (422), below
    if not unknown:
        return obj, []
    fields = [f"{_path(parts)}.{name}" if parts else name for parts, name in unknown]
    if field_validation == "Strict":
        if len(fields) == 1:
            raise bad_request(f'strict decoding error: unknown field "{fields[0]}"')
        raise bad_request("strict decoding error: " + ", ".join(f'unknown field "{f}"' for f in fields))
    for parts, name in sorted(unknown, key=lambda u: -len(u[0])):
        _drop(obj, parts, name)
    warnings = [] if field_validation == "Ignore" else [f'unknown field "{f}"' for f in fields]
    return obj, warnings


# --------------------------------------------------------------------------------------------------
# Validation (422)


class Errors(list):
    def add(self, field: str, kind: str, detail: str = "", value: Any = None, has_value: bool = True) -> None:
        self.append(FieldError(field, kind, detail, value, has_value if kind != "Required" else False))


def _metadata(meta: dict, errs: Errors, name_rule: str, namespaced: bool) -> None:
    name = meta.get("name")
    if not name:
        if not meta.get("generateName"):
            errs.add("metadata.name", "Required", "name or generateName is required")
    else:
        regex, message = {
            "subdomain": (DNS1123_SUBDOMAIN, MSG_SUBDOMAIN),
            "label": (DNS1123_LABEL, MSG_LABEL),
            "1035": (DNS1035_LABEL, MSG_1035),
        }[name_rule]
        limit = 253 if name_rule == "subdomain" else 63
        if not isinstance(name, str) or not regex.match(name):
            errs.add("metadata.name", "Invalid", message, name)
        elif len(name) > limit:
            errs.add("metadata.name", "Invalid", f"must be no more than {limit} characters", name)
    if namespaced and not meta.get("namespace"):
        errs.add("metadata.namespace", "Required")
    labels(meta.get("labels"), "metadata.labels", errs)


def _qualified_key_problem(key: str) -> str | None:
    prefix, _unused, name = key.rpartition("/")
    if "/" in key and (not prefix or not DNS1123_SUBDOMAIN.match(prefix) or len(prefix) > 253):
        return "prefix part " + MSG_SUBDOMAIN
    if not name or len(name) > 63 or not _QUALIFIED_NAME.match(name):
        return MSG_QUALIFIED if len(name) <= 63 else "name part must be no more than 63 characters"
    return None


def labels(value: Any, field: str, errs: Errors) -> None:
    if not isinstance(value, dict):
        return
    for key, val in value.items():
        problem = _qualified_key_problem(str(key))
        if problem:
            errs.add(field, "Invalid", problem, key)
        if not isinstance(val, str) or len(val) > 63 or not _LABEL_VALUE.match(val):
            errs.add(
                field, "Invalid", MSG_LABEL_VALUE if len(str(val)) <= 63 else "must be no more than 63 characters", val
            )


def label_selector(sel: Any, field: str, errs: Errors) -> None:
    if not isinstance(sel, dict):
        return
    labels(sel.get("matchLabels"), f"{field}.matchLabels", errs)
    for i, expr in enumerate(sel.get("matchExpressions") or []):
        path = f"{field}.matchExpressions[{i}]"
        op = expr.get("operator")
        values = expr.get("values") or []
        if op in ("In", "NotIn") and not values:
            errs.add(f"{path}.values", "Required", "must be specified when `operator` is 'In' or 'NotIn'")
        elif op in ("Exists", "DoesNotExist") and values:
            errs.add(
                f"{path}.values",
                "Forbidden",
                "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
                has_value=False,
            )
        elif op not in ("In", "NotIn", "Exists", "DoesNotExist"):
            errs.add(f"{path}.operator", "Invalid", "not a valid selector operator", op)
        problem = _qualified_key_problem(str(expr.get("key", "")))
        if problem:
            errs.add(f"{path}.key", "Invalid", problem, expr.get("key"))


def _protocol(value: Any, field: str, errs: Errors) -> None:
    if value not in ("TCP", "UDP", "SCTP"):
        errs.add(field, "Unsupported", 'supported values: "SCTP", "TCP", "UDP"', value)


def _port_name(value: str, field: str, errs: Errors) -> None:
    """k8s.io/apimachinery IsValidPortName: every message that applies, in its order."""
    if len(value) > 15:
        errs.add(field, "Invalid", "must be no more than 15 characters", value)
    if not re.fullmatch(r"[-a-z0-9]+", value):
        errs.add(field, "Invalid", "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)", value)
    if not re.search(r"[a-z]", value):
        errs.add(field, "Invalid", "must contain at least one letter (a-z)", value)
    if "--" in value:
        errs.add(field, "Invalid", "must not contain consecutive hyphens", value)
    if value.startswith("-") or value.endswith("-"):
        errs.add(field, "Invalid", "must not begin or end with a hyphen", value)


def pod_spec(spec: Any, field: str, errs: Errors, template: bool = False) -> None:
    if not isinstance(spec, dict):
        errs.add(field, "Required")
        return
    containers = spec.get("containers")
    if not containers:
        errs.add(f"{field}.containers", "Required")
    names: set[str] = set()
    for key in ("initContainers", "containers"):
        for i, c in enumerate(spec.get(key) or []):
            path = f"{field}.{key}[{i}]"
            if not isinstance(c, dict):
                continue
            name = c.get("name")
            if not name:
                errs.add(f"{path}.name", "Required")
            elif not DNS1123_LABEL.match(name) or len(name) > 63:
                errs.add(f"{path}.name", "Invalid", MSG_LABEL, name)
            elif name in names:
                errs.add(f"{path}.name", "Duplicate", value=name)
            else:
                names.add(name)
            if not c.get("image"):
                errs.add(f"{path}.image", "Required")
            policy = c.get("imagePullPolicy")
            if policy not in (None, "Always", "IfNotPresent", "Never"):
                errs.add(
                    f"{path}.imagePullPolicy",
                    "Unsupported",
                    'supported values: "Always", "IfNotPresent", "Never"',
                    policy,
                )
            port_names: set[str] = set()
            for j, port in enumerate(c.get("ports") or []):
                ppath = f"{path}.ports[{j}]"
                number = port.get("containerPort")
                if number is None:
                    errs.add(f"{ppath}.containerPort", "Required")
                elif not 1 <= number <= 65535:
                    errs.add(f"{ppath}.containerPort", "Invalid", MSG_PORT, number)
                if port.get("name"):
                    _port_name(port["name"], f"{ppath}.name", errs)
                    if port["name"] in port_names:
                        errs.add(f"{ppath}.name", "Duplicate", value=port["name"])
                    port_names.add(port["name"])
                _protocol(port.get("protocol", "TCP"), f"{ppath}.protocol", errs)
            for j, env in enumerate(c.get("env") or []):
                if not env.get("name"):
                    errs.add(f"{path}.env[{j}].name", "Required")
    restart = spec.get("restartPolicy", "Always")
    if template:
        if restart != "Always":
            errs.add(f"{field}.restartPolicy", "Unsupported", 'supported values: "Always"', restart)
    elif restart not in ("Always", "OnFailure", "Never"):
        errs.add(f"{field}.restartPolicy", "Unsupported", 'supported values: "Always", "OnFailure", "Never"', restart)
    dns = spec.get("dnsPolicy", "ClusterFirst")
    if dns not in ("ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"):
        errs.add(
            f"{field}.dnsPolicy",
            "Unsupported",
            'supported values: "ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"',
            dns,
        )


def _go_map(value: dict) -> str:
    return "map[string]string{" + ", ".join(f'"{k}":"{v}"' for k, v in sorted(value.items())) + "}"


def _validate_pod(obj: dict, errs: Errors) -> None:
    pod_spec(obj.get("spec"), "spec", errs)


def _validate_workload(obj: dict, errs: Errors) -> None:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        errs.add("spec", "Required")
        return
    replicas = spec.get("replicas", 1)
    if isinstance(replicas, int) and replicas < 0:
        errs.add("spec.replicas", "Invalid", "must be greater than or equal to 0", replicas)
    selector = spec.get("selector")
    if not selector:
        errs.add("spec.selector", "Required")
    elif not (selector.get("matchLabels") or selector.get("matchExpressions")):
        errs.add("spec.selector", "Invalid", "empty selector is invalid for deployment", _go_map({}))
    else:
        label_selector(selector, "spec.selector", errs)
    template = spec.get("template")
    if not isinstance(template, dict):
        errs.add("spec.template", "Required")
        return
    template_labels = (template.get("metadata") or {}).get("labels") or {}
    labels(template_labels, "spec.template.metadata.labels", errs)
    if selector and (selector.get("matchLabels") or selector.get("matchExpressions")):
        from tests.fakes.kube.selectors import selector_matches

        if not selector_matches(selector, template_labels):
            errs.add(
                "spec.template.metadata.labels",
                "Invalid",
                "`selector` does not match template `labels`",
                _go_map(template_labels),
            )
    pod_spec(template.get("spec"), "spec.template.spec", errs, template=True)


def _validate_service(obj: dict, errs: Errors) -> None:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        spec = {}
    kind = spec.get("type", "ClusterIP")
    if kind not in ("ClusterIP", "NodePort", "LoadBalancer", "ExternalName"):
        errs.add(
            "spec.type",
            "Unsupported",
            'supported values: "ClusterIP", "ExternalName", "LoadBalancer", "NodePort"',
            kind,
        )
    ports = spec.get("ports") or []
    if not ports and kind != "ExternalName" and spec.get("clusterIP") != "None":
        errs.add("spec.ports", "Required")
    seen_names: set[str] = set()
    seen_ports: set[tuple] = set()
    for i, port in enumerate(ports):
        path = f"spec.ports[{i}]"
        name = port.get("name")
        if len(ports) > 1 and not name:
            errs.add(f"{path}.name", "Required")
        elif name:
            if not DNS1123_LABEL.match(name):
                errs.add(f"{path}.name", "Invalid", MSG_LABEL, name)
            elif name in seen_names:
                errs.add(f"{path}.name", "Duplicate", value=name)
            seen_names.add(name)
        number = port.get("port")
        if number is None:
            errs.add(f"{path}.port", "Required")
        elif not 1 <= number <= 65535:
            errs.add(f"{path}.port", "Invalid", MSG_PORT, number)
        protocol = port.get("protocol", "TCP")
        _protocol(protocol, f"{path}.protocol", errs)
        if (number, protocol) in seen_ports:
            errs.add(path, "Duplicate", value=f"{{Port: {number}, Protocol: {protocol}}}", has_value=True)
        seen_ports.add((number, protocol))
        target = port.get("targetPort")
        if isinstance(target, int) and not 1 <= target <= 65535:
            errs.add(f"{path}.targetPort", "Invalid", MSG_PORT, target)
        elif isinstance(target, str):
            _port_name(target, f"{path}.targetPort", errs)
    labels(spec.get("selector"), "spec.selector", errs)
    cluster_ip = spec.get("clusterIP")
    if cluster_ip not in (None, "", "None"):
        try:
            ipaddress.ip_address(cluster_ip)
        except ValueError:
            errs.add(
                "spec.clusterIPs[0]",
                "Invalid",
                "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
                cluster_ip,
            )


_NP_TYPES = ("Ingress", "Egress")


def _validate_network_policy(obj: dict, errs: Errors) -> None:
    spec = obj.get("spec") or {}
    label_selector(spec.get("podSelector"), "spec.podSelector", errs)
    for i, value in enumerate(spec.get("policyTypes") or []):
        if value not in _NP_TYPES:
            errs.add(f"spec.policyTypes[{i}]", "Unsupported", 'supported values: "Ingress", "Egress"', value)
    if len(spec.get("policyTypes") or []) > 2:
        errs.add("spec.policyTypes", "Invalid", "may not specify more than two policyTypes", spec["policyTypes"])
    for direction, peers_key in (("ingress", "from"), ("egress", "to")):
        for i, rule in enumerate(spec.get(direction) or []):
            rpath = f"spec.{direction}[{i}]"
            for j, port in enumerate(rule.get("ports") or []):
                ppath = f"{rpath}.ports[{j}]"
                protocol = port.get("protocol", "TCP")
                if protocol not in ("TCP", "UDP", "SCTP"):
                    errs.add(f"{ppath}.protocol", "Unsupported", 'supported values: "TCP", "UDP", "SCTP"', protocol)
                value = port.get("port")
                if isinstance(value, int):
                    if not 1 <= value <= 65535:
                        errs.add(f"{ppath}.port", "Invalid", MSG_PORT, value)
                elif isinstance(value, str):
                    _port_name(value, f"{ppath}.port", errs)
                end = port.get("endPort")
                if end is not None:
                    if value is None:
                        errs.add(
                            f"{ppath}.endPort", "Invalid", "may not be specified when `port` is not specified", end
                        )
                    elif not isinstance(value, int):
                        errs.add(f"{ppath}.endPort", "Invalid", "may not be specified when `port` is non-numeric", end)
                    elif end < value:
                        # kube-apiserver reports the port's value here, not the endPort's.
                        errs.add(f"{ppath}.endPort", "Invalid", "must be greater than or equal to `port`", value)
                    elif not 1 <= end <= 65535:
                        errs.add(f"{ppath}.endPort", "Invalid", MSG_PORT, end)
            for j, peer in enumerate(rule.get(peers_key) or []):
                ppath = f"{rpath}.{peers_key}[{j}]"
                present = [k for k in ("podSelector", "namespaceSelector", "ipBlock") if peer.get(k) is not None]
                if not present:
                    errs.add(ppath, "Required", "must specify a peer")
                elif "ipBlock" in present and len(present) > 1:
                    errs.add(ppath, "Forbidden", "may not specify both ipBlock and another peer", has_value=False)
                label_selector(peer.get("podSelector"), f"{ppath}.podSelector", errs)
                label_selector(peer.get("namespaceSelector"), f"{ppath}.namespaceSelector", errs)
                block = peer.get("ipBlock")
                if isinstance(block, dict):
                    _ip_block(block, f"{ppath}.ipBlock", errs)
    # The collection's own engine: anything it refuses that the checks above did not already name.
    try:
        from ansible_collections.netpol.aks.plugins.module_utils import netpol
    except ImportError:  # pragma: no cover - the engine ships with the collection
        return
    covered = {e.field for e in errs}
    for problem in netpol.validate_policy(obj, schema=False):
        parts = problem.split(": ", 2)
        if len(parts) < 3:
            continue
        field, detail = parts[1], parts[2]
        if field in ("metadata.name", "metadata.namespace") or any(
            field.startswith(c) or c.startswith(field) for c in covered
        ):
            continue
        errs.add(field, "Invalid", detail, _value_at(obj, field))
        covered.add(field)


def _value_at(obj: Any, field: str) -> Any:
    current = obj
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", field):
        if part.startswith("["):
            index = int(part[1:-1])
            current = current[index] if isinstance(current, list) and index < len(current) else None
        else:
            current = current.get(part) if isinstance(current, dict) else None
    return current


def _ip_block(block: dict, field: str, errs: Errors) -> None:
    cidr = block.get("cidr")
    if not cidr:
        errs.add(f"{field}.cidr", "Required")
        return
    try:
        net = ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        errs.add(f"{field}.cidr", "Invalid", "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)", cidr)
        return
    for i, exc in enumerate(block.get("except") or []):
        try:
            sub = ipaddress.ip_network(exc, strict=False)
        except ValueError:
            errs.add(
                f"{field}.except[{i}]",
                "Invalid",
                "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)",
                exc,
            )
            continue
        if sub.version != net.version or not sub.subnet_of(net) or sub == net:
            errs.add(f"{field}.except[{i}]", "Invalid", "must be a strict subset of `cidr`", exc)


def validate(kind: str, obj: dict, namespaced: bool) -> Errors:
    errs = Errors()
    name_rule = {"Namespace": "label", "Service": "1035"}.get(kind, "subdomain")
    meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    _metadata(meta, errs, name_rule, namespaced)
    {
        "Pod": _validate_pod,
        "Deployment": _validate_workload,
        "ReplicaSet": _validate_workload,
        "Service": _validate_service,
        "NetworkPolicy": _validate_network_policy,
    }.get(kind, lambda o, e: None)(obj, errs)
    return errs


def immutable(field: str, value: Any) -> FieldError:
    return FieldError(field, "Invalid", "field is immutable", value, True)


def check_api_error(errs: list, kind: str, group: str, name: str) -> None:
    if errs:
        from tests.fakes.kube.errors import invalid

        raise invalid(kind, group, name or "", list(errs))


__all__ = ["ApiError", "decode", "validate"]
