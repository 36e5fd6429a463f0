# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The four PATCH flavours: strategic merge, JSON merge (RFC 7386), JSON patch (RFC 6902), server-side apply.

Strategic merge knows the merge keys that matter for the kinds the double serves (containers by name,
container ports by containerPort, env by name, volumes by name, Service ports by port, conditions by
type ...); every other list is atomic and replaced, as the API server does for lists without a
patchStrategy.
"""

from __future__ import annotations

import copy
from typing import Any

import jsonpatch

from tests.fakes.kube.errors import ApiError
from tests.fakes.kube.errors import bad_request

_POD_SPEC_LISTS = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "volumes": "name",
    "imagePullSecrets": "name",
    "hostAliases": "ip",
}
_CONTAINER_LISTS = {"ports": "containerPort", "env": "name", "volumeMounts": "mountPath", "volumeDevices": "devicePath"}
_CONTAINER_KEYS = ("containers", "initContainers", "ephemeralContainers")


def merge_key(kind: str, path: tuple[str, ...]) -> str | None:
    """The patchMergeKey of the list at `path` (dict keys only), or None for an atomic list."""
    if not path:
        return None
    last = path[-1]
    parent = path[:-1]
    if path == ("metadata", "ownerReferences"):
        return "uid"
    if path == ("metadata", "managedFields"):
        return None
    if last == "conditions" and parent and parent[-1] == "status":
        return "type"
    if kind == "Service" and path == ("spec", "ports"):
        return "port"
    if last in _POD_SPEC_LISTS and ((kind == "Pod" and parent == ("spec",)) or parent[-2:] == ("template", "spec")):
        return _POD_SPEC_LISTS[last]
    if len(parent) >= 2 and parent[-1] in _CONTAINER_KEYS and last in _CONTAINER_LISTS:
        return _CONTAINER_LISTS[last]
    return None


def _primitive_merge(path: tuple[str, ...]) -> bool:
    return path == ("metadata", "finalizers")


# --------------------------------------------------------------------------------------------------
# Strategic merge patch


def strategic_merge(kind: str, original: dict, patch: Any) -> dict:
    if not isinstance(patch, dict):
        raise bad_request(
            "the body of the request was in an unknown format - a strategic merge patch must be a JSON object"
        )
    return _smp_map(kind, copy.deepcopy(original), patch, ())


def _smp_map(kind: str, original: dict, patch: dict, path: tuple[str, ...]) -> dict:
    directive = patch.get("$patch")
    if directive == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    if directive == "delete":
        return {}
    if directive not in (None, "merge"):
        raise bad_request(f"Unknown patch type: {directive} in map: {patch}")
    result = original
    retain = patch.get("$retainKeys")
    for key, value in patch.items():
        if key in ("$patch", "$retainKeys") or key.startswith("$setElementOrder/"):
            continue
        if key.startswith("$deleteFromPrimitiveList/"):
            field = key.split("/", 1)[1]
            if isinstance(result.get(field), list) and isinstance(value, list):
                result[field] = [v for v in result[field] if v not in value]
            continue
        sub_path = (*path, key)
        if value is None:
            result.pop(key, None)
            continue
        current = result.get(key)
        if isinstance(value, dict):
            if value.get("$patch") == "delete":
                result.pop(key, None)
                continue
            result[key] = _smp_map(kind, current if isinstance(current, dict) else {}, value, sub_path)
        elif isinstance(value, list):
            result[key] = _smp_list(kind, current if isinstance(current, list) else [], value, sub_path)
        else:
            result[key] = copy.deepcopy(value)
    if isinstance(retain, list):
        for key in list(result):
            if key not in retain:
                del result[key]
    return result


def _smp_list(kind: str, original: list, patch: list, path: tuple[str, ...]) -> list:
    key = merge_key(kind, path)
    if key is None:
        if _primitive_merge(path):
            merged = list(original)
            for item in patch:
                if item not in merged:
                    merged.append(item)
            return merged
        return [_strip_directives(copy.deepcopy(item)) for item in patch]
    if any(isinstance(item, dict) and item.get("$patch") == "replace" for item in patch):
        return [_strip_directives(copy.deepcopy(i)) for i in patch if not (isinstance(i, dict) and "$patch" in i)]
    result = [copy.deepcopy(item) for item in original]
    for item in patch:
        if not isinstance(item, dict):
            raise bad_request(f"unable to find api field in struct for the list at {'.'.join(path)}: expected a map")
        if key not in item:
            raise bad_request(f"map: {_go_map(item)} does not contain declared merge key: {key}")
        index = next((i for i, old in enumerate(result) if isinstance(old, dict) and old.get(key) == item[key]), None)
        if item.get("$patch") == "delete":
            if index is not None:
                result.pop(index)
            continue
        if index is None:
            result.append(_smp_map(kind, {}, item, path))
        else:
            result[index] = _smp_map(kind, result[index], item, path)
    return result


def _strip_directives(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_directives(v) for k, v in value.items() if not k.startswith("$")}
    if isinstance(value, list):
        return [_strip_directives(v) for v in value]
    return value


def _go_map(item: dict) -> str:
    return "map[" + " ".join(f"{k}:{v}" for k, v in sorted(item.items())) + "]"


# --------------------------------------------------------------------------------------------------
# JSON merge patch (RFC 7386) and JSON patch (RFC 6902)


def merge_patch(original: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(original) if isinstance(original, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def json_patch(original: dict, patch: Any) -> dict:
    if not isinstance(patch, list):
        raise bad_request("json: cannot unmarshal object into Go value of type jsonpatch.Patch")
    try:
        result = jsonpatch.JsonPatch(patch).apply(copy.deepcopy(original))
    except jsonpatch.JsonPatchTestFailed as exc:
        raise ApiError(
            422, "Invalid", f"the server rejected our request due to an error in our request: {exc}"
        ) from exc
    except (jsonpatch.JsonPatchConflict, jsonpatch.JsonPointerException) as exc:
        raise ApiError(
            422, "Invalid", f"the server rejected our request due to an error in our request: {exc}"
        ) from exc
    except (jsonpatch.InvalidJsonPatch, TypeError, KeyError) as exc:
        raise bad_request(f"invalid JSON Patch: {exc}") from exc
    if not isinstance(result, dict):
        raise ApiError(422, "Invalid", "the server rejected our request due to an error in our request")
    return result


# --------------------------------------------------------------------------------------------------
# Server-side apply: field ownership per manager, as leaf paths.
# A path element is a dict key (str) or a list item identified by its merge key: ("name", "nginx").

Path = tuple


def leaf_paths(kind: str, value: Any, path: tuple = (), keys: tuple[str, ...] = ()) -> dict[Path, Any]:
    """Every owned leaf of `value`: scalars, atomic lists, empty maps."""
    out: dict[Path, Any] = {}
    if isinstance(value, dict):
        if not value and path:
            out[path] = {}
        for key, sub in value.items():
            out.update(leaf_paths(kind, sub, (*path, key), (*keys, key)))
        return out
    if isinstance(value, list):
        mkey = merge_key(kind, keys)
        if mkey and all(isinstance(i, dict) and mkey in i for i in value):
            for item in value:
                item_path = (*path, (mkey, item[mkey]))
                out[(*item_path, mkey)] = item[mkey]
                for sub_key, sub in item.items():
                    if sub_key != mkey:
                        out.update(leaf_paths(kind, sub, (*item_path, sub_key), (*keys, sub_key)))
            return out
        out[path] = value
        return out
    out[path] = value
    return out


_MISSING = object()


def get_path(obj: Any, path: Path) -> Any:
    current = obj
    for element in path:
        if isinstance(element, tuple):
            if not isinstance(current, list):
                return _MISSING
            key, wanted = element
            current = next((i for i in current if isinstance(i, dict) and i.get(key) == wanted), _MISSING)
        else:
            if not isinstance(current, dict) or element not in current:
                return _MISSING
            current = current[element]
        if current is _MISSING:
            return _MISSING
    return current


def delete_path(obj: Any, path: Path) -> None:
    if not path:
        return
    parent = get_path(obj, path[:-1])
    last = path[-1]
    if isinstance(last, tuple):
        if isinstance(parent, list):
            key, wanted = last
            parent[:] = [i for i in parent if not (isinstance(i, dict) and i.get(key) == wanted)]
    elif isinstance(parent, dict):
        parent.pop(last, None)


def render_path(path: Path) -> str:
    text = ""
    for element in path:
        if isinstance(element, tuple):
            text += f"[{element[0]}={element[1]}]"
        else:
            text += f".{element}"
    return text


_UNOWNED = {("apiVersion",), ("kind",), ("metadata", "name"), ("metadata", "namespace")}


def owned_fields(kind: str, obj: dict) -> set[Path]:
    paths = set(leaf_paths(kind, {k: v for k, v in obj.items() if k != "status"}))
    return {p for p in paths if p not in _UNOWNED and p[:2] != ("metadata", "resourceVersion")}


def server_side_apply(
    kind: str,
    live: dict | None,
    applied: dict,
    manager: str,
    force: bool,
    owners: dict[str, set[Path]],
    api_version: str,
) -> tuple[dict, dict[str, set[Path]]]:
    """Return (new object, new ownership). Raises 409 Conflict like the API server without force."""
    applied = _strip_directives(applied)
    applied_paths = owned_fields(kind, applied)
    applied_values = leaf_paths(kind, applied)
    owners = {m: set(p) for m, p in owners.items()}
    base = copy.deepcopy(live) if live is not None else {}
    conflicts: dict[str, list[Path]] = {}
    if live is not None:
        for other, paths in owners.items():
            if other == manager:
                continue
            for path in sorted(paths & applied_paths, key=render_path):
                current = get_path(live, path)
                if current is not _MISSING and current != applied_values.get(path):
                    conflicts.setdefault(other, []).append(path)
    if conflicts and not force:
        count = sum(len(p) for p in conflicts.values())
        causes = []
        lines = []
        for other, paths in conflicts.items():
            for path in paths:
                causes.append(
                    {
                        "reason": "FieldManagerConflict",
                        "message": f'conflict with "{other}" using {api_version}',
                        "field": render_path(path),
                    }
                )
                lines.append((other, render_path(path)))
        if count == 1:
            message = f'Apply failed with 1 conflict: conflict with "{lines[0][0]}" using {api_version}: {lines[0][1]}'
        else:
            message = f"Apply failed with {count} conflicts: " + "\n".join(
                f'conflict with "{other}" using {api_version}: {field}' for other, field in lines
            )
        raise ApiError(409, "Conflict", message, {"causes": causes})
    for other, paths in conflicts.items():
        owners[other] -= set(paths)
    # Fields this manager applied before and dropped now go away unless someone else owns them.
    previous = owners.get(manager, set())
    still_owned = set().union(*(p for m, p in owners.items() if m != manager)) if owners else set()
    for path in sorted(previous - applied_paths, key=lambda p: -len(p)):
        if path in still_owned:
            continue
        if len(path) >= 2 and isinstance(path[-2], tuple) and path[-1] == path[-2][0]:
            delete_path(base, path[:-1])  # the list item's key: the whole item goes
        else:
            delete_path(base, path)
    merged = strategic_merge(kind, base, applied)
    owners[manager] = applied_paths
    return merged, {m: p for m, p in owners.items() if p}
