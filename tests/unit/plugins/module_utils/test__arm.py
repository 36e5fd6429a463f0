"""_arm: long-running operations (wait, timeout, failure) and reads of missing resources."""

from __future__ import annotations

import pytest
from azure.core.exceptions import HttpResponseError
from azure.core.exceptions import ResourceNotFoundError

from ansible_collections.netpol.aks.plugins.module_utils import _arm
from ansible_collections.netpol.aks.plugins.module_utils._azure import AzureModuleError


class Poller:
    def __init__(self, done=True, result="resource", error=None):
        self._done, self._result, self._error = done, result, error
        self.waited = None

    def result(self, timeout=None):
        self.waited = timeout
        if self._error:
            raise self._error
        return self._result if self._done else None

    def done(self):
        return self._done

    def status(self):
        return "InProgress"


def test_run_lro_returns_the_result_and_passes_the_timeout():
    poller = Poller()
    assert _arm.run_lro(lambda: poller, "create x", timeout=12) == "resource"
    assert poller.waited == 12


def test_run_lro_without_wait_returns_none():
    assert _arm.run_lro(lambda: Poller(done=False), "create x", wait=False) is None


def test_run_lro_timeout_names_the_action_and_the_time():
    with pytest.raises(AzureModuleError) as excinfo:
        _arm.run_lro(lambda: Poller(done=False), "create AKS cluster c", timeout=3)
    assert str(excinfo.value).startswith("Failed to create AKS cluster c: still InProgress after")
    assert "timeout 3 s" in str(excinfo.value)
    assert excinfo.value.code == "Timeout"


def test_run_lro_failure_becomes_the_domain_error():
    with pytest.raises(AzureModuleError) as excinfo:
        _arm.run_lro(lambda: Poller(error=HttpResponseError(message="boom")), "delete x")
    assert str(excinfo.value).startswith("Failed to delete x:")


def test_get_or_none():
    def missing():
        raise ResourceNotFoundError("nope")

    assert _arm.get_or_none(missing, "read x") is None
    assert _arm.get_or_none(lambda: 1, "read x") == 1
