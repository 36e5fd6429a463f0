# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""ARM resource helpers shared by the resource modules: read-or-none, provisioning states,
long-running operations.

PRIVATE to the collection; may change at any time. Errors go through ``_azure.azure_call``.

``get_or_none(read, action)``
    ``read()`` or None on 404.
``provisioning_state(resource)``, ``TERMINAL_STATES``, ``REPAIRABLE_STATES``
    A REST-shaped resource's ``properties.provisioningState``; the states no operation runs in
    (``Succeeded``, ``Failed``, ``Canceled``); the ones a new PUT repairs (``Failed``, ``Canceled``).
``settle(read, what, *, wait, timeout, interval)``
    Read a resource and, when ``wait`` and an operation is still running on it (``Creating``,
    ``Updating``, ``Deleting``, ...: any non-terminal state), wait for that operation to end before
    the module compares or writes anything: a run that was cut off (Ctrl-C) is resumed by the next
    run instead of being reported ``ok`` while Azure is still working.
``in_progress_error(what, state)``
    The error for a resource with a running operation when the module must not wait.
``name_error(kind, value, option)``, ``check_names(*checks)``, ``NAME_RULES``
    ARM's naming rules for what the collection creates (``resource_group``, ``virtual_network``,
    ``subnet``, ``managed_cluster``, ``dns_prefix``): ``name_error`` returns the message for a bad
    value (naming ``option`` and the rule) or None; ``check_names((kind, value, option), ...)`` raises
    one AzureModuleError listing every bad name. Public for roles and plugins that check names
    before the first write.
``merge_tags(have, tags, purge)``, ``MAX_TAGS``
    The tags to send: None when the user set none (leave them alone), else ``tags`` (values as
    strings) merged into ``have`` unless ``purge``. More than 50 (ARM's limit) raises
    AzureModuleError before any write.
``same_location(want, have)``
    ARM location equality (``East US`` == ``eastus``).
``resource_id(subscription_id, group, provider, kind, name, *children)``
    ``/subscriptions/<s>/resourceGroups/<g>/providers/<provider>/<kind>/<name>[/<child kind>/<child name>...]``
    (``provider`` None: the group's own id).
``Registration(kind, unregistered, pending=())``
    The state machine of subscription registrations (preview features, resource providers):
    ``plan(current, desired, wait)`` -> (request to send or None, predicted state), ``settled(state,
    desired)``, and ``ensure(...)`` which reads, sends the request, waits with backoff and raises
    AzureModuleError (``changed`` set) naming the last state on timeout. ``pending`` states (a feature
    awaiting approval) count as settled: only an approval ends them.
``run_lro(begin, action, *, wait, timeout, failed_hint=None)``
    Start a long-running operation and wait for it. Any failure after the request was accepted
    (the operation failed, or the wait timed out) carries ``changed=True``: the write happened.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ansible_collections.netpol.aks.plugins.module_utils._azure import AzureModuleError
from ansible_collections.netpol.aks.plugins.module_utils._azure import azure_call
from ansible_collections.netpol.aks.plugins.module_utils._azure import wait_until

try:
    from azure.core.exceptions import ResourceNotFoundError
except ImportError:  # reported by AzureModule
    ResourceNotFoundError = LookupError  # type: ignore[misc,assignment]


# Options of every module that starts long-running operations; documented by the doc fragment
# netpol.aks.azure.LRO.
LRO_ARGSPEC: dict[str, dict[str, Any]] = {
    "poll_interval": {"type": "float", "default": 5},
}


@dataclass(frozen=True)
class NameRule:
    """One ARM naming rule: length bounds, a full-match pattern and the rule in words."""

    label: str
    min_length: int
    max_length: int
    pattern: re.Pattern[str]
    words: str


# ARM's rules (Azure docs "Naming rules and restrictions for Azure resources" and the REST specs:
# resourceGroupName ^[-\w\._\(\)]+$ 1-90; managedClusters resourceName
# ^[a-zA-Z0-9]$|^[a-zA-Z0-9][-_a-zA-Z0-9]{0,61}[a-zA-Z0-9]$; dnsPrefix 1-54 letters, digits, '-').
NAME_RULES: dict[str, NameRule] = {
    "resource_group": NameRule(
        "resource group name",
        1,
        90,
        re.compile(r"[-\w.()]*[-\w()]"),
        "1-90 letters, digits, '.', '_', '-', '(' or ')', not ending in '.'",
    ),
    "virtual_network": NameRule(
        "virtual network name",
        2,
        64,
        re.compile(r"[A-Za-z0-9][-A-Za-z0-9_.]*[A-Za-z0-9_]"),
        "2-64 letters, digits, '_', '.' or '-', starting with a letter or digit and ending with a letter, digit or '_'",
    ),
    "subnet": NameRule(
        "subnet name",
        1,
        80,
        re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9_])?"),
        "1-80 letters, digits, '_', '.' or '-', starting with a letter or digit and ending with a letter, digit or '_'",
    ),
    "managed_cluster": NameRule(
        "AKS cluster name",
        1,
        63,
        re.compile(r"[a-zA-Z0-9]([-_a-zA-Z0-9]*[a-zA-Z0-9])?"),
        "1-63 letters, digits, '-' or '_', starting and ending with a letter or digit",
    ),
    "dns_prefix": NameRule(
        "DNS prefix",
        1,
        54,
        re.compile(r"[a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?"),
        "1-54 letters, digits or '-', starting and ending with a letter or digit",
    ),
}


def name_error(kind: str, value: Any, option: str) -> str | None:
    """The message for ``value`` breaking ARM's ``kind`` naming rule (see NAME_RULES), or None when it is valid."""
    rule = NAME_RULES[kind]
    if (
        isinstance(value, str)
        and rule.min_length <= len(value) <= rule.max_length
        and rule.pattern.fullmatch(value) is not None
    ):
        return None
    return f"{option}: {value!r} is not a valid {rule.label}; use {rule.words}"


def check_names(*checks: tuple[str, Any, str]) -> None:
    """Raise one AzureModuleError listing every ``(kind, value, option)`` that breaks ARM's naming rules."""
    errors = [e for e in (name_error(kind, value, option) for kind, value, option in checks) if e]
    if errors:
        raise AzureModuleError("; ".join(errors) + ". Nothing was requested or changed.", code="InvalidName")


# ARM: "Each resource, resource group, and subscription can have a maximum of 50 tag name-value pairs."
MAX_TAGS = 50


def merge_tags(have: dict[str, Any] | None, tags: dict[str, Any] | None, purge: bool) -> dict[str, str] | None:
    """The tags to send (see the module docstring)."""
    if tags is None:
        return None
    merged = {} if purge else dict(have or {})
    merged.update({str(k): str(v) for k, v in tags.items()})
    if len(merged) > MAX_TAGS:
        kept = "" if purge or not have else f" ({len(have)} already on the resource are kept: purge_tags is false)"
        raise AzureModuleError(
            f"tags: {len(merged)} tags{kept}; Azure allows at most {MAX_TAGS} per resource. Remove some, or set "
            "purge_tags: true. Nothing was requested or changed.",
            code="TooManyTags",
        )
    return merged


def same_location(want: str, have: str) -> bool:
    """ARM compares locations without spaces and case: ``East US`` is ``eastus``."""
    return want.replace(" ", "").lower() == have.replace(" ", "").lower()


def resource_id(subscription_id: str, group: str, provider: str | None = None, *names: str) -> str:
    """The ARM id of a group (``provider`` None) or of a resource: ``names`` = kind, name[, child kind, child name]."""
    rid = f"/subscriptions/{subscription_id}/resourceGroups/{group}"
    if provider is None:
        return rid
    return "/".join([rid, "providers", provider, *names])


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


# ARM's terminal provisioning states (RPC: "Succeeded", "Failed", "Canceled"); any other state
# ("Creating", "Updating", "Deleting", "Accepted", "Provisioning", "Upgrading", ...) means an
# operation is running on the resource.
TERMINAL_STATES = frozenset({"Succeeded", "Failed", "Canceled"})
# States a new PUT of the resource repairs (ARM accepts a PUT on a failed resource).
REPAIRABLE_STATES = frozenset({"Failed", "Canceled"})


def provisioning_state(resource: dict[str, Any] | None) -> str | None:
    """``properties.provisioningState`` of a REST-shaped resource (None when absent)."""
    if not resource:
        return None
    return (resource.get("properties") or {}).get("provisioningState")


def in_transit(resource: dict[str, Any] | None) -> bool:
    """True when an operation is running on the resource (a non-terminal provisioning state)."""
    state = provisioning_state(resource)
    return state is not None and state not in TERMINAL_STATES


def in_progress_error(what: str, state: str | None) -> AzureModuleError:
    return AzureModuleError(
        f"{what} is {state}: an operation started earlier is still running in Azure, nothing was changed; "
        "set wait: true to wait for it, or run again later",
        code="OperationInProgress",
    )


def settle(
    read: Callable[[], dict[str, Any] | None],
    what: str,
    *,
    wait: bool,
    timeout: float,
    interval: float,
) -> dict[str, Any] | None:
    """Read the resource; with ``wait``, wait while an operation runs on it (see the module docstring)."""
    current = read()
    if not wait or not in_transit(current):
        return current
    first = provisioning_state(current)
    waited = wait_until(read, lambda r: not in_transit(r), timeout=timeout, interval=interval)
    if waited.timed_out:
        raise AzureModuleError(
            f"{what} is still {provisioning_state(waited.value)} after {waited.elapsed} s (wait_timeout {timeout} s): "
            f"an operation started earlier ({first}) is still running in Azure, nothing was changed; run again "
            "later or raise wait_timeout",
            code="Timeout",
        )
    return waited.value


def run_lro(
    begin: Callable[[], Any],
    action: str,
    *,
    wait: bool = True,
    timeout: float = 1800,
    failed_hint: str | None = None,
) -> Any:
    """Start a long-running operation and, when ``wait``, wait for it up to ``timeout`` seconds.

    Returns the final resource (or None for deletes and when not waiting). A failed operation
    raises AzureModuleError carrying the ARM error code; a timeout names the action and the time.
    Both carry ``changed=True`` (the request was accepted); ``failed_hint`` is appended to the
    message of a failed operation (say what state the resource is left in and what to do).
    """
    start = time.monotonic()
    try:
        with azure_call(action):
            poller = begin()
    except AzureModuleError as err:
        if err.status == 412:  # If-Match: the resource changed between this task's read and its write
            err.message = (
                f"{err.message.rstrip()} The resource changed since this task read it (another change ran at the "
                "same time); nothing was changed by this task, run it again."
            )
            err.args = (err.message,)
        raise
    if not wait:
        return None
    try:
        with azure_call(action):
            result = poller.result(timeout=timeout)
    except AzureModuleError as err:
        if failed_hint:
            err.message = f"{err.message.rstrip()} {failed_hint}"
            err.args = (err.message,)
        err.details.setdefault("changed", True)
        raise
    if not poller.done():
        raise AzureModuleError(
            f"Failed to {action}: still {poller.status()} after {round(time.monotonic() - start)} s "
            f"(timeout {timeout} s); the operation continues in Azure, run again later or raise the timeout",
            code="Timeout",
            changed=True,
        )
    return result


# --- registrations (features, resource providers) ---------------------------------------------------

REGISTRATION_POLL_BACKOFF = 1.5
REGISTRATION_MAX_POLL_INTERVAL = 60.0


@dataclass
class RegistrationOutcome:
    """What ``Registration.ensure`` did: state before, request sent (or None), state after, last object read."""

    before: str
    action: str | None
    state: str
    latest: Any
    polls: int = 0
    elapsed: float = 0.0


@dataclass(frozen=True)
class Registration:
    """The register / unregister state machine shared by the registration modules (see the module docstring)."""

    kind: str
    unregistered: tuple[str, ...]
    pending: tuple[str, ...] = ()

    def plan(self, current: str, desired: str, wait: bool) -> tuple[str | None, str]:
        """(request to send or None, predicted final state) for a registration in state ``current``."""
        if desired == "registered":
            action = None if current in ("Registered", "Registering", *self.pending) else "register"
            if current in self.pending:
                return action, current
            if wait:
                return action, "Registered"
            return action, "Registering" if action else current
        action = None if current in (*self.unregistered, "Unregistering") else "unregister"
        if wait:
            return action, current if current in self.unregistered else "Unregistered"
        return action, "Unregistering" if action else current

    def settled(self, state: str, desired: str) -> bool:
        """True when waiting can stop: the target state (or a pending one, which only an approval ends)."""
        if desired == "registered":
            return state in ("Registered", *self.pending)
        return state in self.unregistered

    def reached(self, state: str, desired: str) -> bool:
        return state == "Registered" if desired == "registered" else state in self.unregistered

    def timeout_message(self, name: str, desired: str, last: str, waited: float, polls: int) -> str:
        target = "Registered" if desired == "registered" else "Unregistered"
        return (
            f"Timed out waiting for {self.kind} {name} to become {target}: the last state read was {last}, after "
            f"waiting {waited:.1f} seconds ({polls} reads). Azure may still finish it; run the task again later or "
            "raise timeout."
        )

    def ensure(
        self,
        name: str,
        *,
        read: Callable[[], Any],
        request: Callable[[str], Any],
        state_of: Callable[[Any], str],
        desired: str,
        wait: bool,
        check_mode: bool,
        timeout: float,
        interval: float,
    ) -> RegistrationOutcome:
        """Read, send ``request(action)`` when needed, wait until settled; check mode predicts instead."""
        with azure_call(f"read {self.kind} {name}"):
            latest = read()
        before = state_of(latest)
        action, predicted = self.plan(before, desired, wait)
        if check_mode:
            return RegistrationOutcome(before, action, predicted, latest)
        outcome = RegistrationOutcome(before, action, before, latest)
        if action is not None:
            with azure_call(f"{action} {self.kind} {name}"):
                outcome.latest = request(action)
            outcome.state = state_of(outcome.latest)
        if wait and not self.settled(outcome.state, desired):

            def poll() -> Any:
                with azure_call(f"read {self.kind} {name}"):
                    return read()

            waited = wait_until(
                poll,
                lambda value: self.settled(state_of(value), desired),
                timeout=timeout,
                interval=interval,
                backoff=REGISTRATION_POLL_BACKOFF,
                max_interval=max(REGISTRATION_MAX_POLL_INTERVAL, interval),
            )
            outcome.latest, outcome.state = waited.value, state_of(waited.value)
            outcome.polls, outcome.elapsed = waited.polls, waited.elapsed
            if waited.timed_out:
                raise AzureModuleError(
                    self.timeout_message(name, desired, outcome.state, waited.elapsed, waited.polls),
                    code="Timeout",
                    changed=action is not None,
                    name=name,
                    polls=waited.polls,
                    elapsed=waited.elapsed,
                    state=outcome.state,
                )
        return outcome
