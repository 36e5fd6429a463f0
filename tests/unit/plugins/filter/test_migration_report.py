# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""migration_report: observed changes against the snapshot, each said predicted or not."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.netpol.aks.plugins.filter.migration_report import migration_report


def probe(src, dst, result, port=80):
    return {"from": src, "to": f"pod {dst}", "port": port, "result": result, "elapsed": 0.1}


def test_changes_predicted_unpredicted_and_not_observed():
    snapshot = [probe("x/a", "x/b", "allowed"), probe("x/a", "x/c", "allowed"), probe("x/a", "x/d", "allowed")]
    after = [probe("x/a", "x/b", "blocked"), probe("x/a", "x/c", "allowed"), probe("x/a", "x/d", "blocked")]
    predicted = [
        {"from": "x/a", "to": "x/b", "port": 80, "before": "allowed", "after": "blocked"},
        {"from": "x/a", "to": "x/c", "port": 80, "before": "allowed", "after": "blocked"},
        {"from": "x/a", "to": "x/z", "port": 80, "before": "allowed", "after": "blocked"},  # not probed
    ]
    assert migration_report(after, snapshot, predicted) == [
        {
            "from": "x/a",
            "to": "x/b",
            "port": 80,
            "before": "allowed",
            "after": "blocked",
            "predicted": True,
            "observed": True,
        },
        {
            "from": "x/a",
            "to": "x/d",
            "port": 80,
            "before": "allowed",
            "after": "blocked",
            "predicted": False,
            "observed": True,
        },
        {
            "from": "x/a",
            "to": "x/c",
            "port": 80,
            "before": "allowed",
            "after": None,
            "predicted": True,
            "observed": False,
        },
    ]
    assert migration_report(snapshot, snapshot) == []


def test_bad_input_is_a_filter_error():
    with pytest.raises(AnsibleFilterError, match="has no from, to and port"):
        migration_report([{"to": "pod x/b"}], [])
    with pytest.raises(AnsibleFilterError, match="lists"):
        migration_report({}, [])
