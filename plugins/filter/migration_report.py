# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# ruff: noqa: E402  (plugins import after DOCUMENTATION, EXAMPLES and RETURN)
from __future__ import annotations

DOCUMENTATION = r"""
name: migration_report
short_description: Compare the probes after an engine migration with the snapshot taken before, and with the prediction
version_added: 0.1.0
author: netpol.aks contributors
description:
  - Takes the RV(netpol.aks.probe_connectivity#module:results) observed after the migration, the results observed
    before it (the snapshot) and the RV(netpol.aks.migration_check#module:changed_pairs) predicted before it.
  - Returns one item per probe whose result changed, saying whether the change was predicted, and one per
    predicted change that was not observed.
positional: snapshot, changed_pairs
options:
  _input:
    description: The results observed after the migration.
    type: list
    elements: dict
    required: true
  snapshot:
    description: The results observed before it (only C(from), C(to), C(port) and C(result) are read).
    type: list
    elements: dict
    required: true
  changed_pairs:
    description: The changed pairs predicted by M(netpol.aks.migration_check).
    type: list
    elements: dict
    default: []
"""

EXAMPLES = r"""
- name: What changed, and whether it was predicted
  ansible.builtin.debug:
    msg: "{{ after.results | netpol.aks.migration_report(snapshot.results, check.changed_pairs) }}"
"""

RETURN = r"""
_value:
  description:
    - Items C({from, to, port, before, after, predicted}) for the probes whose result changed (C(predicted) true
      when RV(netpol.aks.migration_check#module:changed_pairs) had it), then items with C(after) null for predicted
      changes that were not observed (C(observed) false).
  type: list
  elements: dict
"""

from ansible.errors import AnsibleFilterError


def _pod_name(target: str) -> str:
    """``pod ns/name`` (probe_connectivity's target) -> ``ns/name`` (migration_check's)."""
    return target[4:] if isinstance(target, str) and target.startswith("pod ") else target


def _key(item: dict) -> tuple:
    try:
        return (str(item["from"]), _pod_name(str(item["to"])), int(item["port"]))
    except (KeyError, TypeError, ValueError):
        raise AnsibleFilterError(f"migration_report: {item!r} has no from, to and port") from None


def migration_report(after, snapshot, changed_pairs=None):
    if not isinstance(after, list) or not isinstance(snapshot, list):
        raise AnsibleFilterError("migration_report: give the results after, then the snapshot's results (lists)")
    before = {_key(item): item.get("result") for item in snapshot}
    predicted = {}
    for pair in changed_pairs or []:
        predicted[_key(pair)] = pair
    report = []
    seen = set()
    for item in after:
        key = _key(item)
        if key not in before or before[key] == item.get("result"):
            continue
        seen.add(key)
        report.append(
            {
                "from": key[0],
                "to": key[1],
                "port": key[2],
                "before": before[key],
                "after": item.get("result"),
                "predicted": key in predicted,
                "observed": True,
            }
        )
    probed = {_key(item) for item in after}
    for key, pair in predicted.items():
        if key in probed and key not in seen:
            report.append(
                {
                    "from": key[0],
                    "to": key[1],
                    "port": key[2],
                    "before": pair.get("before"),
                    "after": None,
                    "predicted": True,
                    "observed": False,
                }
            )
    return report


class FilterModule:
    def filters(self):
        return {"migration_report": migration_report}
