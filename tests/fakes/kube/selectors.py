# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Label and field selectors as kube-apiserver parses them (`?labelSelector=`, `?fieldSelector=`)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from tests.fakes.kube.errors import ApiError
from tests.fakes.kube.errors import bad_request

_KEY = re.compile(
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
)
_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


@dataclass(frozen=True)
class Requirement:
    key: str
    op: str  # = != in notin exists !exists gt lt
    values: tuple[str, ...] = ()

    def matches(self, labels: dict[str, str]) -> bool:
        has = self.key in labels
        value = labels.get(self.key)
        if self.op == "=":
            return has and value == self.values[0]
        if self.op == "!=":
            return not has or value != self.values[0]
        if self.op == "in":
            return has and value in self.values
        if self.op == "notin":
            return not has or value not in self.values
        if self.op == "exists":
            return has
        if self.op == "!exists":
            return not has
        if self.op in ("gt", "lt"):
            try:
                number = int(value or "")
            except ValueError:
                return False
            bound = int(self.values[0])
            return number > bound if self.op == "gt" else number < bound
        return False


def _split_top(text: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return parts


def _bad(text: str, why: str) -> ApiError:
    return bad_request(
        f"unable to parse requirement: {why}" if why else f'couldn\'t parse the selector string "{text}"'
    )


def _check_key(key: str) -> None:
    if not key or not _KEY.match(key) or len(key.split("/")[-1]) > 63:
        raise _bad(
            key,
            f"<nil>: Invalid value: \"{key}\": name part must consist of alphanumeric characters, '-', '_' or "
            "'.', and must start and end with an alphanumeric character",
        )


def _check_value(value: str) -> None:
    if len(value) > 63 or not _VALUE.match(value):
        raise _bad(
            value,
            f'values[0][{value}]: Invalid value: "{value}": a valid label must be an empty string or consist of '
            "alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character",
        )


_SET = re.compile(r"^\s*(\S+)\s+(in|notin)\s*\((.*)\)\s*$")
_CMP = re.compile(r"^\s*([^!=<>\s]+)\s*(==|=|!=|>|<)\s*(.*?)\s*$")


def parse_label_selector(text: str | None) -> list[Requirement]:
    if not text or not text.strip():
        return []
    requirements = []
    for part in _split_top(text):
        if not part.strip():
            raise _bad(text, "")
        match = _SET.match(part)
        if match:
            key, op, raw = match.groups()
            _check_key(key)
            values = tuple(v.strip() for v in raw.split(",")) if raw.strip() else ()
            if not values:
                raise _bad(text, "for 'in', 'notin' operators, values set can't be empty")
            for value in values:
                _check_value(value)
            requirements.append(Requirement(key, op, values))
            continue
        match = _CMP.match(part)
        if match:
            key, op, value = match.groups()
            _check_key(key)
            if op in (">", "<"):
                if not re.fullmatch(r"-?\d+", value):
                    raise _bad(text, "for 'Gt', 'Lt' operators, the value must be an integer")
                requirements.append(Requirement(key, "gt" if op == ">" else "lt", (value,)))
                continue
            _check_value(value)
            requirements.append(Requirement(key, "!=" if op == "!=" else "=", (value,)))
            continue
        stripped = part.strip()
        if stripped.startswith("!"):
            key = stripped[1:].strip()
            _check_key(key)
            requirements.append(Requirement(key, "!exists"))
            continue
        if " " in stripped:
            raise _bad(text, "")
        _check_key(stripped)
        requirements.append(Requirement(stripped, "exists"))
    return requirements


def match_labels(requirements: list[Requirement], labels: dict[str, str] | None) -> bool:
    labels = labels or {}
    return all(r.matches(labels) for r in requirements)


def selector_matches(selector: dict | None, labels: dict[str, str] | None) -> bool:
    """A metav1.LabelSelector (matchLabels + matchExpressions); an empty selector matches everything."""
    labels = labels or {}
    selector = selector or {}
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        op = expr.get("operator")
        key = expr.get("key")
        values = tuple(expr.get("values") or ())
        mapped = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!exists"}.get(op)
        if mapped is None or not Requirement(key, mapped, values).matches(labels):
            return False
    return True


# Field selectors: metadata.name and metadata.namespace everywhere, plus what each kind registers.
_POD_FIELDS: dict[str, Callable[[dict], str]] = {
    "spec.nodeName": lambda o: o.get("spec", {}).get("nodeName", ""),
    "spec.restartPolicy": lambda o: o.get("spec", {}).get("restartPolicy", ""),
    "spec.schedulerName": lambda o: o.get("spec", {}).get("schedulerName", ""),
    "spec.serviceAccountName": lambda o: o.get("spec", {}).get("serviceAccountName", ""),
    "spec.hostNetwork": lambda o: str(bool(o.get("spec", {}).get("hostNetwork", False))).lower(),
    "status.phase": lambda o: o.get("status", {}).get("phase", ""),
    "status.podIP": lambda o: o.get("status", {}).get("podIP", ""),
    "status.nominatedNodeName": lambda o: o.get("status", {}).get("nominatedNodeName", ""),
}
EXTRA_FIELDS: dict[str, dict[str, Callable[[dict], str]]] = {
    "pods": _POD_FIELDS,
    "namespaces": {"status.phase": lambda o: o.get("status", {}).get("phase", "")},
    "replicasets": {"status.replicas": lambda o: str(o.get("status", {}).get("replicas", 0))},
}
_COMMON: dict[str, Callable[[dict], str]] = {
    "metadata.name": lambda o: o["metadata"]["name"],
    "metadata.namespace": lambda o: o["metadata"].get("namespace", ""),
}


def parse_field_selector(text: str | None, plural: str) -> list[tuple[Callable[[dict], str], bool, str]]:
    """[(getter, equal?, value)]; an unknown field is a 400 as the API server answers it."""
    if not text or not text.strip():
        return []
    fields = {**_COMMON, **EXTRA_FIELDS.get(plural, {})}
    out = []
    for part in text.split(","):
        match = re.match(r"^\s*([^!=\s]+)\s*(==|=|!=)\s*(.*?)\s*$", part)
        if not match:
            raise bad_request(f"invalid selector: '{text}'; can't understand '{part}'")
        name, op, value = match.groups()
        if name not in fields:
            raise bad_request(f"field label not supported: {name}")
        out.append((fields[name], op != "!=", value))
    return out


def match_fields(selector: list[tuple[Callable[[dict], str], bool, str]], obj: dict) -> bool:
    return all((getter(obj) == value) == equal for getter, equal, value in selector)
