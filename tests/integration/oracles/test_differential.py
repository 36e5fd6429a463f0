# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The NetworkPolicy engine against cyclonus, built from the Go module proxy (tests/oracles/build.sh).

A fixed seed makes the run the same every time. `make differential` runs thousands of clusters from a
new seed; a disagreement found there is minimised and printed, ready to become a case.
"""

from __future__ import annotations

import os

import pytest

from tests.oracles import cyclonus
from tests.oracles import differential

SEED = 20261127
CLUSTERS = int(os.environ.get("NETPOL_DIFFERENTIAL_CLUSTERS", "150"))
VERDICT = {"allowed": True, "blocked": False}


@pytest.fixture(scope="module")
def oracle():
    """The cyclonus binary; built (minutes, once) when the cache does not have it."""
    return cyclonus.binary()


@pytest.mark.parametrize("case", differential.load_cases(), ids=lambda c: c["file"].removesuffix(".yaml"))
def test_the_oracle_still_gives_the_recorded_verdict(oracle, case, tmp_path):
    """When this fails, the oracle changed: re-settle the case (and drop its rewrite if the oracle was fixed)."""
    conn = case["connection"]
    cell = (conn["from"], conn["to"], conn["port"], conn["protocol"])
    verdicts = cyclonus.run(case["cluster"], tmp_path)
    assert verdicts[cell] == VERDICT[case["oracle_verdict"]], case["why"]


def test_random_clusters_agree_or_differ_only_by_known_departures(oracle, tmp_path):
    report = differential.run(SEED, CLUSTERS, tmp_path, minimise_limit=2)
    print(report.summary())
    assert report.clusters == CLUSTERS
    assert report.cells > 50 * CLUSTERS
    assert not report.unexplained, (
        "the engine and cyclonus disagree in a way no known departure explains; settle it by the spec and "
        f"add a case under tests/oracles/cases:\n{report.summary()}\n{report.unexplained}"
    )
