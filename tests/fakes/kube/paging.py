# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""LIST chunking (``limit`` / ``continue``) as kube-apiserver serves it from etcd.

- ``limit`` > 0 returns at most that many items and, when more remain, ``metadata.continue`` (and
  ``metadata.remainingItemCount`` when the list has no label or field selector). ``limit`` <= 0 or
  absent: everything. A ``limit`` that is not an integer is a 400.
- The token is the API server's: base64url (no padding) of ``{"v": "meta.k8s.io/v1", "rv": N,
  "start": "<key after the last item>"}``, the key relative to the list's prefix (``ns/name`` for a list
  across namespaces, ``name`` inside one). Every page of one list is served from the snapshot of the
  first page's resourceVersion: objects created, changed or deleted meanwhile do not show (a
  consistent list), and ``metadata.resourceVersion`` stays the first page's.
- A token that does not decode is a 400 ``invalid continue token: continue key is not valid...``;
  ``resourceVersion`` together with ``continue`` is a 400. A token whose snapshot is gone (etcd
  compacted it: after ``SNAPSHOT_SECONDS``, more than ``SNAPSHOT_LIMIT`` lists ago, or after
  ``POST /_fake/compact``) is a 410 ``Expired``, whose Status carries a token with rv -1 that continues
  inconsistently, at the current state.
"""

from __future__ import annotations

import base64
import binascii
import json
import posixpath
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from tests.fakes.kube import errors

TOKEN_VERSION = "meta.k8s.io/v1"
SNAPSHOT_SECONDS = 300.0  # kube-apiserver's default --etcd-compaction-interval
SNAPSHOT_LIMIT = 64
EXPIRED = (
    "The provided continue parameter is too old to display a consistent list result. You can start a new list "
    "without the continue parameter, or use the continue token in this response to retrieve the remainder of the "
    "results. Continuing with the provided token results in an inconsistent list - objects that were created, "
    "modified, or deleted between the time the first chunk was returned and now may show up in the list."
)


def encode_token(start: str, rv: int) -> str:
    raw = json.dumps({"v": TOKEN_VERSION, "rv": rv, "start": start}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def decode_token(token: str) -> tuple[str, int]:
    """(start key, resourceVersion) of a continue token; a 400 as kube-apiserver words it otherwise."""

    def invalid(detail: str) -> errors.ApiError:
        return errors.bad_request(f"invalid continue token: continue key is not valid{detail}")

    if "=" in token or "+" in token or "/" in token:
        raise invalid(": illegal base64 data at input byte 0")
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, ValueError) as exc:
        raise invalid(f": {exc}") from None
    if not isinstance(data, dict):
        raise invalid(": json: cannot unmarshal into Go value of type storage.continueToken")
    if data.get("v") != TOKEN_VERSION:
        raise invalid(f": server does not recognize this encoded version {data.get('v') or ''}")
    rv = data.get("rv")
    if not isinstance(rv, int) or isinstance(rv, bool) or rv == 0:
        raise invalid(": incorrect encoded start resourceVersion (version meta.k8s.io/v1)")
    start = data.get("start")
    if not isinstance(start, str) or not start:
        raise invalid(": encoded start key empty (version meta.k8s.io/v1)")
    key = start if start.startswith("/") else "/" + start
    if posixpath.normpath(key) != key:  # no climbing out of the list's prefix
        raise invalid(f": {start}")
    return key[1:], rv


class Pager:
    """Snapshots of the lists being read in chunks, keyed by (resourceVersion, path)."""

    def __init__(self) -> None:
        self._snapshots: OrderedDict[tuple[int, str], tuple[float, list[tuple[str, dict]]]] = OrderedDict()

    def compact(self) -> None:
        """What etcd compaction does to continue tokens: every snapshot is gone."""
        self._snapshots.clear()

    def _expire(self) -> None:
        now = time.monotonic()
        while self._snapshots:
            key, (taken, _items) = next(iter(self._snapshots.items()))
            if now - taken < SNAPSHOT_SECONDS and len(self._snapshots) <= SNAPSHOT_LIMIT:
                break
            del self._snapshots[key]

    def page(
        self,
        query: Any,
        path: str,
        rv: int,
        items: Callable[[], list[tuple[str, dict]]],
        matches: Callable[[dict], bool],
        selective: bool,
    ) -> tuple[list[dict], dict[str, Any]]:
        """The items of one LIST request and its list metadata.

        ``items()`` gives the current objects under ``path`` as sorted (key, object) pairs, keys relative to
        the list's prefix; ``matches`` applies the request's selectors; ``selective`` says whether it has any.
        """
        limit = _limit(query.get("limit"))
        token = query.get("continue")
        self._expire()
        if token:
            if query.get("resourceVersion") not in (None, "", "0"):
                raise errors.bad_request("specifying resource version is not allowed when using continue")
            start, token_rv = decode_token(token)
            if token_rv < 0:  # the inconsistent continuation a 410 offered: the current state
                snapshot, served_rv = items(), rv
            else:
                entry = self._snapshots.get((token_rv, path))
                if entry is None:
                    raise errors.ApiError(410, "Expired", EXPIRED, list_meta={"continue": encode_token(start, -1)})
                snapshot, served_rv = entry[1], token_rv
            position = _bisect(snapshot, start)
        else:
            snapshot, served_rv, position = items(), rv, 0
        out: list[dict] = []
        last = None
        index = position
        while index < len(snapshot) and (limit <= 0 or len(out) < limit):
            key, obj = snapshot[index]
            if matches(obj):
                out.append(obj)
                last = key
            index += 1
        meta: dict[str, Any] = {"resourceVersion": str(served_rv)}
        if limit > 0 and index < len(snapshot) and last is not None:
            if (served_rv, path) not in self._snapshots:  # a first page (or an inconsistent continuation)
                self._snapshots[(served_rv, path)] = (time.monotonic(), snapshot)
            meta["continue"] = encode_token(last + "\x00", served_rv)
            if not selective:
                meta["remainingItemCount"] = len(snapshot) - index
        return out, meta


def _limit(value: str | None) -> int:
    if value in (None, ""):
        return 0
    try:
        return int(value)
    except ValueError:
        raise errors.bad_request(f'strconv.ParseInt: parsing "{value}": invalid syntax') from None


def _bisect(snapshot: list[tuple[str, dict]], start: str) -> int:
    lo, hi = 0, len(snapshot)
    while lo < hi:
        mid = (lo + hi) // 2
        if snapshot[mid][0] < start:
            lo = mid + 1
        else:
            hi = mid
    return lo
