# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Small ARM resource helpers shared by the resource modules (read-or-none, long-running operations).

PRIVATE to the collection; may change at any time. Errors go through ``_azure.azure_call``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from ansible_collections.netpol.aks.plugins.module_utils._azure import AzureModuleError
from ansible_collections.netpol.aks.plugins.module_utils._azure import azure_call

try:
    from azure.core.exceptions import ResourceNotFoundError
except ImportError:  # reported by AzureModule
    ResourceNotFoundError = LookupError  # type: ignore[misc,assignment]


# Options of every module that starts long-running operations; documented by the doc fragment
# netpol.aks.azure.LRO.
LRO_ARGSPEC: dict[str, dict[str, Any]] = {
    "poll_interval": {"type": "float", "default": 5},
}


def get_or_none(read: Callable[[], Any], action: str) -> Any:
    """``read()`` or None when ARM answers 404; any other error becomes an AzureModuleError."""
    with azure_call(action):
        try:
            return read()
        except ResourceNotFoundError:
            return None


def as_rest(model: Any) -> dict[str, Any] | None:
    """The REST (camelCase) dict of a hybrid SDK model, None stays None."""
    if model is None:
        return None
    return model.as_dict() if hasattr(model, "as_dict") else dict(model)


def run_lro(begin: Callable[[], Any], action: str, *, wait: bool = True, timeout: float = 1800) -> Any:
    """Start a long-running operation and, when ``wait``, wait for it up to ``timeout`` seconds.

    Returns the final resource (or None for deletes and when not waiting). A failed operation
    raises AzureModuleError carrying the ARM error code; a timeout names the action and the time.
    """
    start = time.monotonic()
    with azure_call(action):
        poller = begin()
        if not wait:
            return None
        result = poller.result(timeout=timeout)
        if not poller.done():
            raise AzureModuleError(
                f"Failed to {action}: still {poller.status()} after {round(time.monotonic() - start)} s "
                f"(timeout {timeout} s); the operation continues in Azure, run again later or raise the timeout",
                code="Timeout",
            )
    return result
