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


def test_run_lro_failure_after_the_write_reports_changed_and_the_hint():
    error = HttpResponseError(message="Quota exceeded")
    with pytest.raises(AzureModuleError) as excinfo:
        _arm.run_lro(lambda: Poller(error=error), "create AKS cluster c", failed_hint="Run again to retry.")
    assert excinfo.value.details["changed"] is True
    assert str(excinfo.value).startswith("Failed to create AKS cluster c: Quota exceeded")
    assert str(excinfo.value).endswith("Run again to retry.")


def test_run_lro_timeout_reports_changed():
    with pytest.raises(AzureModuleError) as excinfo:
        _arm.run_lro(lambda: Poller(done=False), "create x", timeout=3)
    assert excinfo.value.details["changed"] is True


def test_run_lro_rejected_request_is_not_a_change():
    def begin():
        raise HttpResponseError(message="bad request")

    with pytest.raises(AzureModuleError) as excinfo:
        _arm.run_lro(begin, "create x")
    assert "changed" not in excinfo.value.details


def resource(state):
    return {"name": "r", "properties": {"provisioningState": state}}


@pytest.mark.parametrize(
    ("state", "running"),
    [
        ("Creating", True),
        ("Updating", True),
        ("Deleting", True),
        ("Upgrading", True),
        ("Succeeded", False),
        ("Failed", False),
        ("Canceled", False),
        (None, False),
    ],
)
def test_in_transit(state, running):
    assert _arm.in_transit(resource(state) if state else {"name": "r"}) is running


def test_settle_waits_for_an_operation_started_earlier():
    reads = iter([resource("Creating"), resource("Creating"), resource("Succeeded")])
    assert _arm.settle(lambda: next(reads), "cluster c", wait=True, timeout=10, interval=0) == resource("Succeeded")


def test_settle_a_deletion_that_ends_gives_none():
    reads = iter([resource("Deleting"), None])
    assert _arm.settle(lambda: next(reads), "cluster c", wait=True, timeout=10, interval=0) is None


def test_settle_without_wait_returns_what_it_read():
    assert _arm.settle(lambda: resource("Creating"), "cluster c", wait=False, timeout=10, interval=0) == resource(
        "Creating"
    )


def test_settle_timeout_names_the_state_and_the_option():
    with pytest.raises(AzureModuleError) as excinfo:
        _arm.settle(lambda: resource("Updating"), "cluster c", wait=True, timeout=0, interval=0)
    assert str(excinfo.value).startswith("cluster c is still Updating after")
    assert "wait_timeout 0 s" in str(excinfo.value)
    assert "nothing was changed" in str(excinfo.value)
    assert excinfo.value.code == "Timeout"


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        ("resource_group", "myResourceGroup-NP"),
        ("resource_group", "a"),
        ("resource_group", "rg_(test).1"),
        ("resource_group", "Grüppe"),  # ARM takes Unicode letters
        ("resource_group", "x" * 90),
        ("virtual_network", "myVnet"),
        ("virtual_network", "v1"),
        ("virtual_network", "my.vnet_"),
        ("virtual_network", "x" * 64),
        ("subnet", "s"),
        ("subnet", "myAKSSubnet"),
        ("subnet", "x" * 80),
        ("managed_cluster", "myAKSCluster"),
        ("managed_cluster", "a"),
        ("managed_cluster", "my_aks-1"),
        ("managed_cluster", "x" * 63),
        ("dns_prefix", "myaks-np"),
        ("dns_prefix", "x" * 54),
    ],
)
def test_names_arm_accepts(kind, value):
    assert _arm.name_error(kind, value, "name") is None


@pytest.mark.parametrize(
    ("kind", "value", "rule"),
    [
        ("resource_group", "", "1-90"),
        ("resource_group", "x" * 91, "1-90"),
        ("resource_group", "rg.", "not ending in '.'"),
        ("resource_group", "my rg", "letters, digits"),
        ("resource_group", "rg/1", "letters, digits"),
        ("resource_group", None, "1-90"),
        ("virtual_network", "v", "2-64"),
        ("virtual_network", "x" * 65, "2-64"),
        ("virtual_network", "-vnet", "starting with a letter or digit"),
        ("virtual_network", "vnet.", "ending with a letter, digit or '_'"),
        ("virtual_network", "my$vnet", "letters, digits"),
        ("subnet", "", "1-80"),
        ("subnet", "x" * 81, "1-80"),
        ("subnet", "_s", "starting with a letter or digit"),
        ("subnet", "s-", "ending with a letter, digit or '_'"),
        ("managed_cluster", "", "1-63"),
        ("managed_cluster", "x" * 64, "1-63"),
        ("managed_cluster", "my.cluster", "'-' or '_'"),
        ("managed_cluster", "cluster_", "starting and ending with a letter or digit"),
        ("dns_prefix", "x" * 55, "1-54"),
        ("dns_prefix", "my_prefix", "letters, digits or '-'"),
    ],
)
def test_names_arm_refuses_name_the_option_and_the_rule(kind, value, rule):
    message = _arm.name_error(kind, value, "opt")
    assert message.startswith(f"opt: {value!r} is not a valid ")
    assert rule in message


def test_check_names_lists_every_bad_name():
    with pytest.raises(AzureModuleError) as excinfo:
        _arm.check_names(("resource_group", "rg.", "resource_group"), ("virtual_network", "v", "name"))
    assert str(excinfo.value).startswith("resource_group: 'rg.' is not a valid resource group name")
    assert "; name: 'v' is not a valid virtual network name" in str(excinfo.value)
    assert str(excinfo.value).endswith("Nothing was requested or changed.")
    _arm.check_names(("subnet", "ok", "subnets[0].name"))


def test_run_lro_stale_etag_says_what_happened():
    from unittest import mock

    response = mock.Mock(status_code=412, headers={})
    response.json.return_value = {"error": {"code": "PreconditionFailed", "message": "If-Match does not match."}}

    def begin():
        raise HttpResponseError(response=response)

    with pytest.raises(AzureModuleError) as excinfo:
        _arm.run_lro(begin, "update virtual network v")
    assert "(PreconditionFailed)" in str(excinfo.value)
    assert "changed since this task read it" in str(excinfo.value)
    assert "changed" not in excinfo.value.details


def test_merge_tags_once_for_every_module():
    assert _arm.merge_tags({"a": "1"}, None, False) is None  # tags not set: leave them alone
    assert _arm.merge_tags({"a": "1"}, {"b": 2}, False) == {"a": "1", "b": "2"}
    assert _arm.merge_tags({"a": "1"}, {"b": 2}, True) == {"b": "2"}
    assert _arm.merge_tags(None, {"b": True}, False) == {"b": "True"}
    assert len(_arm.merge_tags(None, {f"t{i}": i for i in range(50)}, False)) == 50


def test_merge_tags_refuses_more_than_50_before_any_write():
    have = {f"old{i}": "x" for i in range(48)}
    with pytest.raises(AzureModuleError) as excinfo:
        _arm.merge_tags(have, {"a": 1, "b": 2, "c": 3}, False)
    assert str(excinfo.value).startswith("tags: 51 tags (48 already on the resource are kept: purge_tags is false)")
    assert "at most 50" in str(excinfo.value)
    assert _arm.merge_tags(have, {"a": 1, "b": 2, "c": 3}, True) == {"a": "1", "b": "2", "c": "3"}


def test_same_location_and_resource_id():
    assert _arm.same_location("East US", "eastus")
    assert not _arm.same_location("westeurope", "eastus")
    assert _arm.resource_id("s", "rg") == "/subscriptions/s/resourceGroups/rg"
    assert (
        _arm.resource_id("s", "rg", "Microsoft.Network", "virtualNetworks", "v", "subnets", "n")
        == "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v/subnets/n"
    )


def test_both_registration_modules_share_one_state_machine():
    from ansible_collections.netpol.aks.plugins.modules import feature_registration as fr
    from ansible_collections.netpol.aks.plugins.modules import provider_registration as pr

    assert isinstance(fr.MACHINE, _arm.Registration)
    assert isinstance(pr.MACHINE, _arm.Registration)
    assert fr.plan.__func__ is pr.plan.__func__ is _arm.Registration.plan
    # they differ only by data: features have an approval-gated Pending state
    assert fr.MACHINE.plan("Pending", "registered", True) == (None, "Pending")
    assert pr.MACHINE.plan("Pending", "registered", True) == ("register", "Registered")


def test_registration_ensure_requests_waits_and_reports():
    machine = _arm.Registration("widget", unregistered=("NotRegistered",))
    reads = iter(["NotRegistered", "Registering", "Registered"])
    sent = []
    outcome = machine.ensure(
        "w",
        read=lambda: next(reads),
        request=lambda action: sent.append(action) or "Registering",
        state_of=str,
        desired="registered",
        wait=True,
        check_mode=False,
        timeout=10,
        interval=0,
    )
    assert sent == ["register"]
    assert (outcome.before, outcome.action, outcome.state, outcome.polls) == (
        "NotRegistered",
        "register",
        "Registered",
        2,
    )


def test_registration_ensure_check_mode_predicts_and_timeout_reports_changed():
    machine = _arm.Registration("widget", unregistered=("NotRegistered",))
    outcome = machine.ensure(
        "w", read=lambda: "NotRegistered", request=None, state_of=str, desired="registered", wait=True,
        check_mode=True, timeout=10, interval=0,
    )  # fmt: skip
    assert (outcome.action, outcome.state) == ("register", "Registered")
    with pytest.raises(AzureModuleError) as excinfo:
        machine.ensure(
            "w", read=lambda: "Registering", request=lambda action: "Registering", state_of=str,
            desired="registered", wait=True, check_mode=False, timeout=0, interval=0,
        )  # fmt: skip
    assert str(excinfo.value).startswith("Timed out waiting for widget w to become Registered")
    assert excinfo.value.details["changed"] is False  # Registering already: nothing was sent
