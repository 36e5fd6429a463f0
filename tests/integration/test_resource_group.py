"""resource_group through ansible-playbook against the Azure double."""

from __future__ import annotations

from tests.integration._azure_playbooks import changed_flags
from tests.integration._azure_playbooks import ladder
from tests.integration._azure_playbooks import ladder_names
from tests.integration._azure_playbooks import write_playbook
from tests.integration._azure_playbooks import writes

RG = {"name": "myResourceGroup-NP", "location": "eastus", "tags": {"demo": "netpol"}}


def test_resource_group_ladder_and_delete(ansible_playbook, azure_double, tmp_path):
    absent = {"name": RG["name"], "state": "absent"}
    tasks = [
        *ladder("resource_group", RG, "Create group"),
        *ladder("resource_group", {**RG, "tags": {"owner": "me"}}, "Add a tag"),
        {"name": "Delete group", "netpol.aks.resource_group": absent},
        {"name": "Delete group again", "netpol.aks.resource_group": absent},
    ]
    run = ansible_playbook(write_playbook(tmp_path, tasks), env=azure_double.env, diff=True)
    assert run.rc == 0, run.output
    assert changed_flags(run, ladder_names("Create group")) == [True, True, False, False]
    assert changed_flags(run, ladder_names("Add a tag")) == [True, True, False, False]
    assert changed_flags(run, ["Delete group", "Delete group again"]) == [True, False]

    created = run.result("Create group")["resource_group"]
    assert created["name"] == "myResourceGroup-NP"
    assert created["location"] == "eastus"
    assert created["provisioning_state"] == "Succeeded"
    assert created["id"] == f"/subscriptions/{azure_double.subscription_id}/resourceGroups/myResourceGroup-NP"
    assert run.result("Create group (check)")["resource_group"]["id"] == created["id"]
    # tags are merged by default: the second ladder kept "demo"
    assert run.result("Add a tag")["resource_group"]["tags"] == {"demo": "netpol", "owner": "me"}
    assert run.result("Add a tag")["diff"]["before"]["tags"] == {"demo": "netpol"}

    puts = [r for r in writes(azure_double) if r["method"] == "PUT"]
    assert len(puts) == 2  # create, add tag: check mode and idempotent runs sent none
    assert puts[0]["body"] == {"location": "eastus", "tags": {"demo": "netpol"}}
    deletes = [r for r in writes(azure_double) if r["method"] == "DELETE"]
    assert len(deletes) == 1
    assert azure_double.state()["resource_groups"] == {}


def test_purge_tags_and_location_change(ansible_playbook, azure_double, tmp_path):
    tasks = [
        {"name": "Create", "netpol.aks.resource_group": RG},
        {"name": "Purge", "netpol.aks.resource_group": {**RG, "tags": {"x": "1"}, "purge_tags": True}},
        {
            "name": "Move",
            "netpol.aks.resource_group": {**RG, "location": "westeurope"},
            "ignore_errors": True,
        },
    ]
    run = ansible_playbook(write_playbook(tmp_path, tasks), env=azure_double.env)
    assert run.result("Purge")["resource_group"]["tags"] == {"x": "1"}
    moved = run.result("Move")
    assert moved["failed"]
    assert moved["msg"].startswith("location:")
    assert "cannot move" in moved["msg"]


def test_failed_delete_reports_arm_code(ansible_playbook, azure_double, tmp_path):
    create = write_playbook(tmp_path, [{"name": "Create", "netpol.aks.resource_group": RG}], "create.yml")
    assert ansible_playbook(create, env=azure_double.env).rc == 0
    azure_double.faults(
        fault="lro_failed", method="DELETE", path="*/resourcegroups/*", code="ResourceGroupDeletionBlocked"
    )
    delete = write_playbook(
        tmp_path, [{"name": "Delete", "netpol.aks.resource_group": {"name": RG["name"], "state": "absent"}}], "del.yml"
    )
    run = ansible_playbook(delete, env=azure_double.env)
    assert run.rc != 0
    assert "ResourceGroupDeletionBlocked" in run.result("Delete")["msg"]
    assert run.result("Delete")["changed"] is True  # the DELETE was accepted


def test_a_group_being_deleted_is_waited_for_then_created_again(ansible_playbook, azure_double, tmp_path):
    azure_double.control(
        "POST", "/_fake/operations", {"namespace": "Microsoft.Resources", "polls": None, "seconds": 12}
    )
    absent = {"name": RG["name"], "state": "absent"}
    tasks = [
        {"name": "Create", "netpol.aks.resource_group": RG},
        {"name": "Start deleting", "netpol.aks.resource_group": {**absent, "wait": False}},
        {"name": "Delete without wait again", "netpol.aks.resource_group": {**absent, "wait": False}},
        {"name": "Present without wait", "netpol.aks.resource_group": {**RG, "wait": False}, "ignore_errors": True},
        {"name": "Present", "netpol.aks.resource_group": {**RG, "poll_interval": 0.2}},
    ]
    run = ansible_playbook(write_playbook(tmp_path, tasks), env=azure_double.env)
    assert run.rc == 0, run.output
    assert changed_flags(run, ["Start deleting", "Delete without wait again"]) == [True, False]
    refused = run.result("Present without wait")
    assert refused["failed"]
    assert "resource group myResourceGroup-NP is Deleting: an operation started earlier" in refused["msg"]
    present = run.result("Present")
    assert present["changed"] is True
    assert present["resource_group"]["provisioning_state"] == "Succeeded"
    assert [r["method"] for r in writes(azure_double)] == ["PUT", "DELETE", "PUT"]
    assert list(azure_double.state()["resource_groups"]) == ["myresourcegroup-np"]


def test_names_are_checked_with_arm_rules_before_any_request(ansible_playbook, azure_double, tmp_path):
    vnet = {"resource_group": "rg", "name": "vnet", "address_prefixes": ["10.0.0.0/8"]}
    cases = {
        "Empty group": ("resource_group", {"name": "", "location": "eastus"}, "name: '' is not a valid resource group"),
        "Group ending with a dot": ("resource_group", {"name": "rg.", "state": "absent"}, "name: 'rg.'"),
        "Network too short": ("virtual_network", {**vnet, "name": "v"}, "name: 'v' is not a valid virtual network"),
        "Network group": ("virtual_network", {**vnet, "resource_group": "my rg"}, "resource_group: 'my rg'"),
        "Subnet": (
            "virtual_network",
            {**vnet, "subnets": [{"name": "-s", "address_prefix": "10.240.0.0/16"}]},
            "subnets[0].name: '-s' is not a valid subnet name",
        ),
        "Cluster": (
            "aks_cluster",
            {"name": "my.cluster", "resource_group": "rg", "state": "absent"},
            "name: 'my.cluster' is not a valid AKS cluster name",
        ),
        "DNS prefix": (
            "aks_cluster",
            {"name": "c", "resource_group": "rg", "location": "eastus", "dns_prefix": "my_prefix"},
            "dns_prefix: 'my_prefix' is not a valid DNS prefix",
        ),
        "Credentials": (
            "aks_credentials",
            {"name": "c_", "resource_group": "rg", "dest": str(tmp_path / "kubeconfig")},
            "name: 'c_' is not a valid AKS cluster name",
        ),
    }
    tasks = [
        {"name": name, f"netpol.aks.{module}": args, "ignore_errors": True}
        for name, (module, args, _unused) in cases.items()
    ]
    run = ansible_playbook(write_playbook(tmp_path, tasks), env=azure_double.env)
    for name, (_module, _args, message) in cases.items():
        result = run.result(name)
        assert result["failed"], name
        assert message in result["msg"], (name, result["msg"])
        assert "nothing was" in result["msg"].lower()
    assert azure_double.requests() == []  # not even a token request
    assert not (tmp_path / "kubeconfig").exists()


def test_more_than_50_tags_fail_before_the_write(ansible_playbook, azure_double, tmp_path):
    many = {f"t{i}": "x" for i in range(48)}
    tasks = [
        {"name": "Create", "netpol.aks.resource_group": {**RG, "tags": many}},
        {
            "name": "Three more",
            "netpol.aks.resource_group": {**RG, "tags": {"a": 1, "b": 2, "c": 3}},
            "ignore_errors": True,
        },
        {
            "name": "Network",
            "netpol.aks.virtual_network": {
                "name": "vnet",
                "resource_group": RG["name"],
                "address_prefixes": ["10.0.0.0/8"],
                "tags": {f"n{i}": i for i in range(51)},
            },
            "ignore_errors": True,
        },
    ]
    run = ansible_playbook(write_playbook(tmp_path, tasks), env=azure_double.env)
    more = run.result("Three more")
    assert more["failed"]
    assert more["msg"].startswith("tags: 51 tags (48 already on the resource are kept: purge_tags is false)")
    assert run.result("Network")["msg"].startswith("tags: 51 tags; Azure allows at most 50")
    assert [r["method"] for r in writes(azure_double)] == ["PUT"]  # only the create
