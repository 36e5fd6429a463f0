# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The test plugin netpol.aks.registration_name: provider namespaces and Namespace/Feature names, judged by the
patterns the registration modules check, which exist once."""

from __future__ import annotations

from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.netpol.aks.plugins.module_utils._azure import NAMESPACE_PATTERN
from ansible_collections.netpol.aks.plugins.module_utils._azure import AzureModuleError
from ansible_collections.netpol.aks.plugins.module_utils._azure import validate_namespace
from ansible_collections.netpol.aks.plugins.modules.feature_registration import parse_feature
from ansible_collections.netpol.aks.plugins.test.registration_name import TestModule as RegistrationTests
from ansible_collections.netpol.aks.plugins.test.registration_name import registration_name

ROOT = Path(__file__).resolve().parents[4]

PROVIDERS = [
    ("Microsoft.ContainerService", True),
    ("Microsoft.Network", True),
    ("microsoft.network", True),
    ("Contoso.Widgets-2.Preview", True),
    ("Microsoft", False),  # one word is not a namespace
    ("Microsoft.", False),
    (".Network", False),
    ("Microsoft.Container Service", False),
    ("Microsoft.ContainerService/EnableNetworkPolicy", False),
    ("Microsoft.-Network", False),
    ("", False),
]
FEATURES = [
    ("Microsoft.ContainerService/EnableNetworkPolicy", True),
    ("Microsoft.ContainerService/AKS-Preview_2.1", True),
    ("EnableNetworkPolicy", False),  # no namespace
    ("Microsoft/EnableNetworkPolicy", False),
    ("Microsoft.ContainerService/", False),
    ("Microsoft.ContainerService/Enable NetworkPolicy", False),
    ("Microsoft.ContainerService/A/B", False),
    ("Microsoft.ContainerService/-x", False),
    ("", False),
]


@pytest.mark.parametrize(("value", "expected"), PROVIDERS)
def test_provider(value, expected):
    assert registration_name(value, "provider") is expected


@pytest.mark.parametrize(("value", "expected"), FEATURES)
def test_feature(value, expected):
    assert registration_name(value, "feature") is expected


def _module_accepts(check, *args) -> bool:
    try:
        check(*args)
    except AzureModuleError:
        return False
    return True


@pytest.mark.parametrize(("value", "expected"), PROVIDERS)
def test_the_plugin_agrees_with_provider_registration(value, expected):
    assert _module_accepts(validate_namespace, value) is expected


@pytest.mark.parametrize(("value", "expected"), FEATURES)
def test_the_plugin_agrees_with_feature_registration(value, expected):
    assert _module_accepts(parse_feature, value) is expected


def test_non_strings_and_unknown_kinds():
    assert registration_name(["Microsoft.Network"], "provider") is False
    assert registration_name(None, "feature") is False
    with pytest.raises(AnsibleFilterError, match="kind must be one of provider, feature, not 'namespace'"):
        registration_name("Microsoft.Network", "namespace")


def test_registered_under_its_name():
    assert RegistrationTests().tests() == {"registration_name": registration_name}


def test_roles_and_playbooks_do_not_repeat_the_namespace_pattern():
    """The pattern lives in module_utils/_azure.py; YAML reaches it through the test plugin."""
    core = NAMESPACE_PATTERN.pattern.strip("^$")[:30]
    repeats = [
        str(path.relative_to(ROOT))
        for folder in ("roles", "playbooks", "molecule", "extensions")
        for path in sorted((ROOT / folder).rglob("*.yml"))
        if core in path.read_text(encoding="utf-8")
    ]
    assert repeats == []
