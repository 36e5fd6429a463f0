"""resource_group: tags and location decisions (no I/O)."""

from __future__ import annotations

from ansible_collections.netpol.aks.plugins.modules import resource_group as rg


def test_desired_tags_merge_purge_and_leave_alone():
    current = {"tags": {"a": "1"}}
    assert rg.desired_tags({"tags": None, "purge_tags": False}, current) is None
    assert rg.desired_tags({"tags": {"b": 2}, "purge_tags": False}, current) == {"a": "1", "b": "2"}
    assert rg.desired_tags({"tags": {"b": 2}, "purge_tags": True}, current) == {"b": "2"}
    assert rg.desired_tags({"tags": {"b": "x"}, "purge_tags": False}, None) == {"b": "x"}


def test_same_location_ignores_case_and_spaces():
    assert rg.same_location("East US", "eastus")
    assert not rg.same_location("westeurope", "eastus")


def test_summarize():
    group = {"id": "/x", "name": "g", "location": "eastus", "properties": {"provisioningState": "Succeeded"}}
    assert rg.summarize(group) == {
        "id": "/x",
        "name": "g",
        "location": "eastus",
        "tags": {},
        "provisioning_state": "Succeeded",
    }
    assert rg.summarize(None) == {}
