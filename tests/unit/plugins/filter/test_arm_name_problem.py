"""The filter netpol.aks.arm_name_problem: the modules' naming rules, as a message naming the variable."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.netpol.aks.plugins.filter.arm_name_problem import FilterModule
from ansible_collections.netpol.aks.plugins.filter.arm_name_problem import arm_name_problem


def test_a_valid_name_has_no_problem():
    assert arm_name_problem("myResourceGroup-NP", "resource_group", "vnet_resource_group") == ""


@pytest.mark.parametrize(
    ("value", "kind", "option", "message"),
    [
        (
            "rg.",
            "resource_group",
            "vnet_resource_group",
            "vnet_resource_group: 'rg.' is not a valid resource group name",
        ),
        ("v", "virtual_network", "vnet_name", "vnet_name: 'v' is not a valid virtual network name; use 2-64"),
        (
            "my.cluster",
            "managed_cluster",
            "aks_cluster_name",
            "aks_cluster_name: 'my.cluster' is not a valid AKS cluster name",
        ),
        ("a_b", "dns_prefix", "aks_dns_prefix", "aks_dns_prefix: 'a_b' is not a valid DNS prefix"),
    ],
)
def test_a_bad_name_names_the_option_and_the_rule(value, kind, option, message):
    assert arm_name_problem(value, kind, option).startswith(message)


def test_the_option_defaults_to_name():
    assert arm_name_problem("", "subnet").startswith("name: '' is not a valid subnet name")


def test_an_unknown_kind_is_an_error():
    with pytest.raises(AnsibleFilterError, match="kind must be one of"):
        arm_name_problem("x", "vm")


def test_registered_name():
    assert FilterModule().filters() == {"arm_name_problem": arm_name_problem}
