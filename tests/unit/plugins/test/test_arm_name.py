"""The test plugin netpol.aks.arm_name: ARM's naming rules, as the modules check them."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.netpol.aks.plugins.test.arm_name import TestModule as NameTests
from ansible_collections.netpol.aks.plugins.test.arm_name import arm_name


@pytest.mark.parametrize(
    ("value", "kind", "expected"),
    [
        ("myResourceGroup-NP", "resource_group", True),
        ("rg(1)_x.y", "resource_group", True),
        ("rg.", "resource_group", False),  # must not end in '.'
        ("", "resource_group", False),
        ("r" * 91, "resource_group", False),
        ("myVnet", "virtual_network", True),
        ("v", "virtual_network", False),  # 2-64
        ("-vnet", "virtual_network", False),
        ("myAKSSubnet", "subnet", True),
        ("s", "subnet", True),
        ("subnet-", "subnet", False),
        ("myAKSCluster", "managed_cluster", True),
        ("my.cluster", "managed_cluster", False),
        ("c" * 64, "managed_cluster", False),
        ("myakscluster-dns", "dns_prefix", True),
        ("dns_prefix", "dns_prefix", False),
        (None, "subnet", False),
        (12, "subnet", False),
    ],
)
def test_arm_name(value, kind, expected):
    assert arm_name(value, kind) is expected


def test_an_unknown_kind_is_an_error():
    with pytest.raises(AnsibleFilterError, match="kind must be one of resource_group, virtual_network"):
        arm_name("x", "storage_account")


def test_registered_name():
    assert NameTests().tests() == {"arm_name": arm_name}
