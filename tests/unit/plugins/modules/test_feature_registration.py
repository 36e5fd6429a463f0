"""feature_registration: name parsing, state prediction, messages, and run() with a fake client (no I/O)."""

from __future__ import annotations

from types import SimpleNamespace
from unittest.mock import MagicMock

import pytest

from ansible_collections.netpol.aks.plugins.module_utils._azure import AzureModuleError
from ansible_collections.netpol.aks.plugins.modules import feature_registration as fr

NS, FEAT = "Microsoft.ContainerService", "EnableNetworkPolicy"


# --- names ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "namespace", "feature", "expected"),
    [
        ("Microsoft.ContainerService/EnableNetworkPolicy", None, None, (NS, FEAT)),
        ("Microsoft.ContainerService/AKS-GitOps", None, None, (NS, "AKS-GitOps")),
        ("microsoft.compute/EncryptionAtHost", None, None, ("microsoft.compute", "EncryptionAtHost")),
        (None, NS, FEAT, (NS, FEAT)),
    ],
)
def test_parse_valid_names(name, namespace, feature, expected):
    assert fr.parse_feature(name, namespace, feature) == expected


@pytest.mark.parametrize(
    ("name", "message"),
    [
        (
            "EnableNetworkPolicy",
            r"^name: 'EnableNetworkPolicy' has no namespace; .*Microsoft\.ContainerService/EnableNetworkPolicy",
        ),
        ("", r"^name: the feature name is empty"),
        ("   ", r"^name: the feature name is empty"),
        ("Microsoft.ContainerService/Enable Network Policy", r"^name: .* contains whitespace"),
        (" Microsoft.ContainerService/EnableNetworkPolicy", r"^name: .* contains whitespace"),
        ("Microsoft.ContainerService/EnableNetworkPolicy/extra", r"^name: .* has 2 slashes; .*exactly one"),
        ("Microsoft.ContainerService//EnableNetworkPolicy", r"^name: .* has 2 slashes"),
        ("Microsoft/EnableNetworkPolicy", r"^name: 'Microsoft' is not a resource provider namespace"),
        ("Microsoft.ContainerService/", r"^name: '' is not a feature name"),
        ("/EnableNetworkPolicy", r"^name: '' is not a resource provider namespace"),
        ("Microsoft.ContainerService/Enable*", r"^name: 'Enable\*' is not a feature name"),
    ],
)
def test_parse_malformed_names(name, message):
    with pytest.raises(AzureModuleError, match=message):
        fr.parse_feature(name)


@pytest.mark.parametrize(
    ("namespace", "feature", "message"),
    [
        ("Microsoft", FEAT, r"^namespace: 'Microsoft' is not"),
        (NS, "Enable Network", r"^feature: 'Enable Network' is not a feature name"),
        (NS, "a/b", r"^feature: 'a/b' is not a feature name"),
    ],
)
def test_parse_malformed_parts(namespace, feature, message):
    with pytest.raises(AzureModuleError, match=message):
        fr.parse_feature(None, namespace, feature)


# --- planning ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("current", "desired", "wait", "expected"),
    [
        ("NotRegistered", "registered", True, ("register", "Registered")),
        ("NotRegistered", "registered", False, ("register", "Registering")),
        ("Unregistered", "registered", True, ("register", "Registered")),
        ("NotSpecified", "registered", True, ("register", "Registered")),
        ("Unregistering", "registered", True, ("register", "Registered")),
        ("Registering", "registered", True, (None, "Registered")),
        ("Registering", "registered", False, (None, "Registering")),
        ("Registered", "registered", True, (None, "Registered")),
        ("Pending", "registered", True, (None, "Pending")),
        ("Registered", "unregistered", True, ("unregister", "Unregistered")),
        ("Registered", "unregistered", False, ("unregister", "Unregistering")),
        ("Pending", "unregistered", True, ("unregister", "Unregistered")),
        ("Registering", "unregistered", True, ("unregister", "Unregistered")),
        ("Unregistering", "unregistered", True, (None, "Unregistered")),
        ("Unregistered", "unregistered", True, (None, "Unregistered")),
        ("NotRegistered", "unregistered", True, (None, "NotRegistered")),
        ("NotRegistered", "unregistered", False, (None, "NotRegistered")),
    ],
)
def test_plan(current, desired, wait, expected):
    assert fr.plan(current, desired, wait) == expected


@pytest.mark.parametrize(
    ("state", "desired", "settled"),
    [
        ("Registered", "registered", True),
        ("Pending", "registered", True),
        ("Registering", "registered", False),
        ("Unregistered", "unregistered", True),
        ("NotRegistered", "unregistered", True),
        ("Unregistering", "unregistered", False),
    ],
)
def test_is_settled(state, desired, settled):
    assert fr.is_settled(state, desired) is settled


@pytest.mark.parametrize(
    ("action", "before", "final", "desired", "expected"),
    [
        ("register", "NotRegistered", "Registered", "registered", True),
        ("register", "NotRegistered", "Registering", "registered", False),
        ("register", "NotRegistered", "Pending", "registered", False),
        (None, "Registering", "Registered", "registered", True),
        (None, "Registered", "Registered", "registered", False),
        ("unregister", "Registered", "Unregistered", "unregistered", True),
        (None, "Unregistering", "Unregistered", "unregistered", True),
        (None, "NotRegistered", "NotRegistered", "unregistered", False),
    ],
)
def test_needs_propagation(action, before, final, desired, expected):
    assert fr.needs_propagation(action, before, final, desired) is expected


def test_approval_message_names_who_grants_it():
    msg = fr.approval_message("Microsoft.ContainerService/AKSApprovalGatedPreview")
    assert msg.startswith("Feature Microsoft.ContainerService/AKSApprovalGatedPreview is Pending")
    assert "approval is granted by Microsoft" in msg
    assert "Microsoft.ContainerService resource provider" in msg
    assert "not by the administrators of your subscription" in msg
    assert "Timed out" not in msg


def test_timeout_message_names_last_state_and_time():
    msg = fr.timeout_message(f"{NS}/{FEAT}", "registered", "Registering", 12.345, 5)
    assert msg == (
        f"Timed out waiting for feature {NS}/{FEAT} to become Registered: the last state read was Registering, after "
        "waiting 12.3 seconds (5 reads). Azure may still finish it; run the task again later or raise timeout."
    )


# --- run() with a fake SDK client ------------------------------------------------------------------


def feature_result(state):
    return SimpleNamespace(
        id=f"/subscriptions/sub/providers/Microsoft.Features/providers/{NS}/features/{FEAT}",
        name=f"{NS}/{FEAT}",
        type="Microsoft.Features/providers/features",
        properties=SimpleNamespace(state=state),
    )


def fake_module(states, *, check_mode=False, **overrides):
    """A stand-in AzureModule whose FeatureClient answers GETs with ``states`` in turn."""
    reads = iter(states)
    features = MagicMock()
    features.get.side_effect = lambda ns, name: feature_result(next(reads))
    features.register.side_effect = lambda ns, name: feature_result("Registering")
    features.unregister.side_effect = lambda ns, name: feature_result("Unregistering")
    providers = MagicMock()
    module = MagicMock()
    module.params = {
        "name": f"{NS}/{FEAT}",
        "namespace": None,
        "feature": None,
        "state": "registered",
        "wait": True,
        "timeout": 60,
        "poll_interval": 0,
        "propagate": True,
        **overrides,
    }
    module.check_mode = check_mode
    module.subscription_id = "sub"
    module.client.side_effect = lambda cls: (
        SimpleNamespace(features=features) if cls is fr.FeatureClient else SimpleNamespace(providers=providers)
    )
    return module, features, providers


def test_check_mode_sends_nothing_and_predicts():
    module, features, providers = fake_module(["NotRegistered"], check_mode=True)
    result = fr.run(module)
    assert result["changed"] is True
    assert result["state"] == "Registered"
    assert result["diff"]["before"]["state"] == "NotRegistered"
    assert result["diff"]["after"]["state"] == "Registered"
    features.register.assert_not_called()
    providers.register.assert_not_called()


def test_apply_registers_waits_and_propagates():
    module, features, providers = fake_module(["NotRegistered", "Registering", "Registering", "Registered"])
    result = fr.run(module)
    assert (result["changed"], result["state"], result["polls"], result["propagated"]) == (True, "Registered", 3, True)
    features.register.assert_called_once_with(NS, FEAT)
    providers.register.assert_called_once_with(NS)
    assert result["id"].endswith(f"/providers/{NS}/features/{FEAT}")


def test_registered_feature_is_left_alone():
    module, features, providers = fake_module(["Registered"])
    result = fr.run(module)
    assert (result["changed"], result["state"], result["polls"]) == (False, "Registered", 0)
    features.register.assert_not_called()
    providers.register.assert_not_called()


def test_pending_fails_with_the_approval_message():
    module, features, _unused = fake_module(["NotRegistered"])
    features.register.side_effect = lambda ns, name: feature_result("Pending")
    with pytest.raises(AzureModuleError, match="is Pending: it requires approval") as info:
        fr.run(module)
    assert info.value.code == "FeaturePendingApproval"
    assert info.value.details["changed"] is True


def test_timeout_fails_naming_the_last_state():
    module, _unused, providers = fake_module(["NotRegistered"] + ["Registering"] * 10, timeout=0)
    with pytest.raises(AzureModuleError, match="last state read was Registering") as info:
        fr.run(module)
    assert info.value.details["polls"] == 1
    providers.register.assert_not_called()


def test_a_registration_started_earlier_is_waited_for_and_propagated():
    module, features, providers = fake_module(["Registering", "Registering", "Registered"])
    result = fr.run(module)
    assert (result["changed"], result["state"], result["propagated"], result["polls"]) == (True, "Registered", True, 2)
    features.register.assert_not_called()
    providers.register.assert_called_once_with(NS)


def test_check_mode_predicts_the_propagation_of_a_registering_feature():
    module, _unused, providers = fake_module(["Registering"], check_mode=True)
    result = fr.run(module)
    assert (result["changed"], result["state"], result["propagated"]) == (True, "Registered", True)
    providers.register.assert_not_called()


def test_no_wait_skips_propagation_with_a_warning():
    module, _unused, providers = fake_module(["NotRegistered"], wait=False)
    result = fr.run(module)
    assert (result["state"], result["propagated"]) == ("Registering", False)
    providers.register.assert_not_called()
    assert "was not re-registered" in module.warn.call_args[0][0]


def test_malformed_name_fails_before_any_client_is_built():
    module, _unused, _unused = fake_module([], name="EnableNetworkPolicy")
    with pytest.raises(AzureModuleError, match="has no namespace"):
        fr.run(module)
    module.client.assert_not_called()
