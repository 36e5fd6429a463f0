# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The REST contract of a resource type, derived from the Azure SDK's generated model classes.

The hybrid models of azure-mgmt-resource 26 / azure-mgmt-network 33 / azure-mgmt-containerservice 41
are generated from the TypeSpec/OpenAPI definitions in Azure/azure-rest-api-specs for exactly the
api-versions those SDKs send (2025-04-01, 2026-03-01, 2026-08-01). Each ``rest_field`` carries the
wire name (camelCase) and its type, so the set of property names ARM knows for a type, at every
depth, can be read from them. ``schema(Model)`` turns that into the structure
``server.reject_unknown_properties`` expects: a dict of known keys -> child schema (dict, ``[dict]``
for arrays of objects, ``None`` for scalars and free-form maps such as ``tags``).
"""

from __future__ import annotations

import re
import sys
from typing import Any

_MODEL_REF = re.compile(r"_models\.(\w+)")


def _annotations(cls: type) -> dict[str, str]:
    merged: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        merged.update({k: str(v) for k, v in vars(klass).get("__annotations__", {}).items()})
    return merged


def _fields(cls: type) -> dict[str, Any]:
    """attribute name -> rest_field descriptor, through the class hierarchy."""
    found: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        for name, value in vars(klass).items():
            if not name.startswith("_") and hasattr(value, "_rest_name_input") and hasattr(value, "_visibility"):
                found[name] = value
    return found


def schema(cls: type, _memo: dict[type, dict[str, Any]] | None = None) -> dict[str, Any]:
    """The known REST property names of ``cls`` (recursively), for reject_unknown_properties."""
    memo = {} if _memo is None else _memo
    if cls in memo:
        return memo[cls]
    result: dict[str, Any] = {}
    memo[cls] = result  # filled below; cycles (Subnet -> ... -> Subnet) reuse the same dict
    package = sys.modules[cls.__module__.rsplit(".", 1)[0]]
    annotations = _annotations(cls)
    for attr, rest_field in _fields(cls).items():
        rest_name = rest_field._rest_name_input or attr
        annotation = annotations.get(attr, "")
        child: Any = None
        ref = _MODEL_REF.search(annotation)
        # a map (dict[str, Model]) has free keys: accept any key, as the contract does
        is_map = "dict[" in annotation[: ref.start()] if ref else False
        if ref and not is_map:
            target = getattr(package, ref.group(1), None)
            if isinstance(target, type) and hasattr(target, "as_dict"):
                sub = schema(target, memo)
                child = [sub] if "list[" in annotation else sub
        result[rest_name] = child
    return result


def readonly(cls: type) -> set[str]:
    """REST names of ``cls``'s read-only top-level properties (server-set; ARM ignores them in a PUT)."""
    return {
        rf._rest_name_input or attr
        for attr, rf in _fields(cls).items()
        if rf._visibility and set(rf._visibility) == {"read"}
    }
