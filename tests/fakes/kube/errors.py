# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""`Status` errors shaped exactly as kube-apiserver sends them."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An error answer: `status` is the Status object, `code` the HTTP code."""

    def __init__(
        self, code: int, reason: str, message: str, details: dict | None = None, list_meta: dict | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details
        self.list_meta = list_meta  # the Status's ListMeta (a 410 Expired carries a continue token in it)

    def status(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": dict(self.list_meta or {}),
            "status": "Failure",
            "message": self.message,
        }
        if self.reason:  # StatusReasonUnknown ("") is omitted on the wire
            body["reason"] = self.reason
        if self.details is not None:
            body["details"] = self.details
        body["code"] = self.code
        return body


def _details(name: str | None, group: str, kind: str) -> dict[str, Any]:
    details: dict[str, Any] = {}
    if name:
        details["name"] = name
    if group:
        details["group"] = group
    details["kind"] = kind
    return details


def qualified(plural: str, group: str) -> str:
    """`pods`, `deployments.apps`, `networkpolicies.networking.k8s.io`."""
    return f"{plural}.{group}" if group else plural


def not_found(plural: str, group: str, name: str) -> ApiError:
    return ApiError(404, "NotFound", f'{qualified(plural, group)} "{name}" not found', _details(name, group, plural))


def already_exists(plural: str, group: str, name: str) -> ApiError:
    return ApiError(
        409, "AlreadyExists", f'{qualified(plural, group)} "{name}" already exists', _details(name, group, plural)
    )


def conflict(plural: str, group: str, name: str, why: str | None = None) -> ApiError:
    why = why or "the object has been modified; please apply your changes to the latest version and try again"
    return ApiError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {qualified(plural, group)} "{name}": {why}',
        _details(name, group, plural),
    )


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def forbidden(plural: str, group: str, name: str, why: str) -> ApiError:
    return ApiError(
        403, "Forbidden", f'{qualified(plural, group)} "{name}" is forbidden: {why}', _details(name, group, plural)
    )


def method_not_allowed() -> ApiError:
    return ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")


PATCH_MEDIA_TYPES = (
    "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, "
    "application/strategic-merge-patch+json, application/apply-patch+cbor"
)
BODY_MEDIA_TYPES = "application/json, application/yaml, application/vnd.kubernetes.protobuf, application/cbor"


def unsupported_media_type(content_type: str, accepted: str = PATCH_MEDIA_TYPES) -> ApiError:
    return ApiError(
        415,
        "UnsupportedMediaType",
        f"the body of the request was in an unknown format - accepted media types include: {accepted}",
        {"causes": [{"reason": "UnexpectedServerResponse", "message": content_type}]} if content_type else {},
    )


def unauthorized() -> ApiError:
    return ApiError(401, "Unauthorized", "Unauthorized")


def internal(message: str) -> ApiError:
    return ApiError(500, "InternalError", f"Internal error occurred: {message}")


class FieldError:
    """One validation cause: `spec.ports[0].port: Invalid value: 0: must be between 1 and 65535`."""

    def __init__(self, field: str, kind: str, detail: str = "", value: Any = None, has_value: bool = False) -> None:
        self.field = field
        self.kind = kind  # Required | Invalid | Unsupported | Duplicate | Forbidden | TooLong | NotSupported
        self.detail = detail
        self.value = value
        self.has_value = has_value

    _REASONS = {
        "Required": "FieldValueRequired",
        "Invalid": "FieldValueInvalid",
        "Unsupported": "FieldValueNotSupported",
        "Duplicate": "FieldValueDuplicate",
        "Forbidden": "FieldValueForbidden",
        "TooLong": "FieldValueTooLong",
    }
    _LABELS = {
        "Required": "Required value",
        "Invalid": "Invalid value",
        "Unsupported": "Unsupported value",
        "Duplicate": "Duplicate value",
        "Forbidden": "Forbidden",
        "TooLong": "Too long",
    }

    def body(self) -> str:
        label = self._LABELS[self.kind]
        text = label
        if self.has_value and self.kind in ("Invalid", "Unsupported", "Duplicate"):
            text += f": {_go_value(self.value)}"
        if self.detail:
            text += f": {self.detail}"
        return text

    def __str__(self) -> str:
        return f"{self.field}: {self.body()}"

    def cause(self) -> dict[str, str]:
        return {"reason": self._REASONS[self.kind], "message": self.body(), "field": self.field}


def _go_value(value: Any) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, list):
        return "[]string{" + ", ".join(_go_value(v) for v in value) + "}"
    return str(value)


def invalid(kind: str, group: str, name: str, errors: list[FieldError]) -> ApiError:
    qualified_kind = f"{kind}.{group}" if group else kind
    summary = str(errors[0]) if len(errors) == 1 else "[" + ", ".join(str(e) for e in errors) + "]"
    details = {"name": name, **({"group": group} if group else {}), "kind": kind, "causes": [e.cause() for e in errors]}
    return ApiError(422, "Invalid", f'{qualified_kind} "{name}" is invalid: {summary}', details)
