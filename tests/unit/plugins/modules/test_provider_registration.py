"""provider_registration: state prediction, messages, and run() with a fake client (no I/O)."""

from __future__ import annotations

from types import SimpleNamespace
from unittest.mock import MagicMock

import pytest

from ansible_collections.netpol.aks.plugins.module_utils._azure import AzureModuleError
from ansible_collections.netpol.aks.plugins.modules import provider_registration as pr

NS = "Microsoft.ContainerService"


@pytest.mark.parametrize(
    ("current", "desired", "wait", "expected"),
    [
        ("NotRegistered", "registered", True, ("register", "Registered")),
        ("NotRegistered", "registered", False, ("register", "Registering")),
        ("Unregistered", "registered", True, ("register", "Registered")),
        ("Unregistering", "registered", True, ("register", "Registered")),
        ("Registering", "registered", True, (None, "Registered")),
        ("Registering", "registered", False, (None, "Registering")),
        ("Registered", "registered", True, (None, "Registered")),
        ("Registered", "unregistered", True, ("unregister", "Unregistered")),
        ("Registered", "unregistered", False, ("unregister", "Unregistering")),
        ("Registering", "unregistered", True, ("unregister", "Unregistered")),
        ("Unregistering", "unregistered", True, (None, "Unregistered")),
        ("NotRegistered", "unregistered", True, (None, "NotRegistered")),
        ("Unregistered", "unregistered", False, (None, "Unregistered")),
    ],
)
def test_plan(current, desired, wait, expected):
    assert pr.plan(current, desired, wait) == expected


def test_timeout_message():
    assert pr.timeout_message(NS, "unregistered", "Unregistering", 3.0, 2) == (
        f"Timed out waiting for resource provider {NS} to become Unregistered: the last state read was "
        "Unregistering, after waiting 3.0 seconds (2 reads). Azure may still finish it; run the task again later or "
        "raise timeout."
    )


def provider(state):
    return SimpleNamespace(
        id=f"/subscriptions/sub/providers/{NS}",
        namespace=NS,
        registration_state=state,
        registration_policy="RegistrationRequired",
    )


def fake_module(states, *, check_mode=False, **overrides):
    reads = iter(states)
    providers = MagicMock()
    providers.get.side_effect = lambda ns: provider(next(reads))
    providers.register.side_effect = lambda ns: provider("Registering")
    providers.unregister.side_effect = lambda ns: provider("Unregistering")
    module = MagicMock()
    module.params = {"name": NS, "state": "registered", "wait": True, "timeout": 60, "poll_interval": 0, **overrides}
    module.check_mode = check_mode
    module.subscription_id = "sub"
    module.client.return_value = SimpleNamespace(providers=providers)
    return module, providers


def test_check_mode_sends_nothing_and_predicts():
    module, providers = fake_module(["NotRegistered"], check_mode=True)
    result = pr.run(module)
    assert (result["changed"], result["state"]) == (True, "Registered")
    assert result["diff"] == {
        "before": {"name": NS, "state": "NotRegistered"},
        "after": {"name": NS, "state": "Registered"},
    }
    providers.register.assert_not_called()


def test_apply_registers_and_waits():
    module, providers = fake_module(["NotRegistered", "Registering", "Registered"])
    result = pr.run(module)
    assert (result["changed"], result["state"], result["polls"]) == (True, "Registered", 2)
    assert result["provider"]["registration_policy"] == "RegistrationRequired"
    providers.register.assert_called_once_with(NS)


def test_registered_provider_is_left_alone():
    module, providers = fake_module(["Registered"])
    result = pr.run(module)
    assert (result["changed"], result["polls"]) == (False, 0)
    providers.register.assert_not_called()


def test_unregister():
    module, providers = fake_module(["Registered", "Unregistered"], state="unregistered")
    result = pr.run(module)
    assert (result["changed"], result["state"]) == (True, "Unregistered")
    providers.unregister.assert_called_once_with(NS)


def test_timeout_names_the_last_state():
    module, _unused = fake_module(["NotRegistered", "Registering"], timeout=0)
    with pytest.raises(AzureModuleError, match="last state read was Registering") as info:
        pr.run(module)
    assert info.value.details["changed"] is True


@pytest.mark.parametrize("name", ["", "Microsoft", "Microsoft ContainerService", "Microsoft.ContainerService/x"])
def test_malformed_namespace_fails_before_any_client_is_built(name):
    module, _unused = fake_module([], name=name)
    with pytest.raises(AzureModuleError, match=r"^name: .* is not a resource provider namespace"):
        pr.run(module)
    module.client.assert_not_called()
