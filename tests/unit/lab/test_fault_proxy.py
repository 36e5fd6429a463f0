# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""tests/lab/fault_proxy.py without an API server: how it checks its switches.

What a client sees through the proxy, in front of the real kube-apiserver:
tests/integration/lab/test_fault_proxy.py.
"""

from __future__ import annotations

import pytest

from tests.lab import fault_proxy
from tests.lab.fault_proxy import ConfigError


@pytest.mark.parametrize(
    ("update", "message"),
    [
        ({"faults": [{"status": 200}]}, "fault status must be an HTTP error code"),
        ({"faults": [{"path": "("}]}, "fault path is not a regular expression"),
        ({"faults": [{"count": 0}]}, "fault count must be an integer >= 1"),
        ({"faults": [{"drop": True, "status": 500}]}, "either drops the connection or answers a status"),
        ({"faults": [{"delay": -1}]}, "fault delay must be a number >= 0"),
        ({"faults": [{"stauts": 500}]}, "a fault is {path"),
        ({"exec_failure": -1}, "exec_failure must be an integer >= 0"),
        ({"enforcement": "none"}, "network_policy='none'"),
        ({"verbose": True}, "unknown switch 'verbose': use faults, exec_failure"),
        ([], "takes a JSON object"),
    ],
)
def test_a_bad_switch_is_refused_with_what_to_do(update, message):
    with pytest.raises(ConfigError, match=message):
        fault_proxy.check_config(update)


def test_a_fault_defaults_to_one_500_as_the_doubles_do():
    (fault,) = fault_proxy.check_config({"faults": {"path": "/pods$"}})["faults"]
    assert fault == {
        "path": "/pods$",
        "count": 1,
        "method": None,
        "status": 500,
        "message": None,
        "retry_after": None,
        "drop": False,
        "delay": 0.0,
    }
