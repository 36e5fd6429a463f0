"""virtual_network: address checks, the body to PUT and the change decision (no I/O)."""

from __future__ import annotations

import pytest
from azure.mgmt.network import models

from ansible_collections.netpol.aks.plugins.module_utils._azure import AzureModuleError
from ansible_collections.netpol.aks.plugins.modules import virtual_network as vn


def params(**overrides):
    base = {
        "name": "myVnet",
        "resource_group": "rg",
        "location": "eastus",
        "address_prefixes": ["10.0.0.0/8"],
        "subnets": [{"name": "myAKSSubnet", "address_prefix": "10.240.0.0/16"}],
        "purge_subnets": False,
        "tags": None,
        "purge_tags": False,
    }
    base.update(overrides)
    return base


CURRENT = {
    "id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/myVnet",
    "name": "myVnet",
    "location": "eastus",
    "tags": {"a": "1"},
    "etag": 'W/"x"',
    "properties": {
        "provisioningState": "Succeeded",
        "addressSpace": {"addressPrefixes": ["10.0.0.0/8"]},
        "subnets": [
            {
                "name": "myAKSSubnet",
                "id": "/subscriptions/s/.../subnets/myAKSSubnet",
                "properties": {
                    "addressPrefix": "10.240.0.0/16",
                    "serviceEndpoints": [{"service": "Microsoft.Storage"}],
                },
            },
            {"name": "other", "id": "/x/other", "properties": {"addressPrefix": "10.1.0.0/16"}},
        ],
    },
}


def test_new_network_body_is_the_rest_contract():
    body = vn.desired_body(params(), None)
    assert models.VirtualNetwork(body).as_dict() == {
        "location": "eastus",
        "properties": {
            "addressSpace": {"addressPrefixes": ["10.0.0.0/8"]},
            "subnets": [{"name": "myAKSSubnet", "properties": {"addressPrefix": "10.240.0.0/16"}}],
        },
    }


def test_same_values_are_no_change_and_other_subnets_are_kept():
    body = vn.desired_body(params(), CURRENT)
    assert not vn.differs(vn.summarize(CURRENT), vn.summarize(body))
    assert [s["name"] for s in body["properties"]["subnets"]] == ["myAKSSubnet", "other"]
    # the existing subnet keeps what the module does not manage
    assert body["properties"]["subnets"][0]["properties"]["serviceEndpoints"] == [{"service": "Microsoft.Storage"}]


def test_purge_subnets_and_prefix_change():
    body = vn.desired_body(
        params(purge_subnets=True, subnets=[{"name": "myAKSSubnet", "address_prefix": "10.240.0.0/17"}]), CURRENT
    )
    assert [s["name"] for s in body["properties"]["subnets"]] == ["myAKSSubnet"]
    assert body["properties"]["subnets"][0]["properties"]["addressPrefix"] == "10.240.0.0/17"
    assert vn.differs(vn.summarize(CURRENT), vn.summarize(body))


def test_tags_merge_or_purge():
    assert vn.desired_body(params(tags={"b": 2}), CURRENT)["tags"] == {"a": "1", "b": "2"}
    assert vn.desired_body(params(tags={"b": 2}, purge_tags=True), CURRENT)["tags"] == {"b": "2"}
    assert "tags" not in vn.desired_body(params(), None)


def test_unset_options_leave_the_network_alone():
    body = vn.desired_body(params(address_prefixes=None, subnets=None), CURRENT)
    assert not vn.differs(vn.summarize(CURRENT), vn.summarize(body))


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"address_prefixes": ["10.0.0.0/33"]}, "address_prefixes[0]:"),
        ({"address_prefixes": ["10.0.0.1/8"]}, "address_prefixes[0]:"),
        ({"subnets": [{"name": "s", "address_prefix": "nope"}]}, "subnets[0].address_prefix:"),
        ({"subnets": [{"name": "s", "address_prefix": "192.168.0.0/16"}]}, "subnets[0].address_prefix:"),
        (
            {
                "subnets": [
                    {"name": "s", "address_prefix": "10.1.0.0/16"},
                    {"name": "s", "address_prefix": "10.2.0.0/16"},
                ]
            },
            "subnets[1].name:",
        ),
        (
            {
                "subnets": [
                    {"name": "a", "address_prefix": "10.1.0.0/16"},
                    {"name": "b", "address_prefix": "10.1.0.0/24"},
                ]
            },
            "subnets[1].address_prefix:",
        ),
    ],
)
def test_validate_names_the_field(overrides, field):
    with pytest.raises(AzureModuleError) as excinfo:
        vn.validate(params(**overrides))
    assert str(excinfo.value).startswith(field)


def test_validate_accepts_the_walkthrough():
    vn.validate(params())
