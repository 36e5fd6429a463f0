"""virtual_network through ansible-playbook against the Azure double."""

from __future__ import annotations

from tests.integration._azure_playbooks import changed_flags
from tests.integration._azure_playbooks import ladder
from tests.integration._azure_playbooks import ladder_names
from tests.integration._azure_playbooks import write_playbook
from tests.integration._azure_playbooks import writes

RG = {"name": "myResourceGroup-NP", "location": "eastus"}
VNET = {
    "name": "myVnet",
    "resource_group": "myResourceGroup-NP",
    "location": "eastus",
    "address_prefixes": ["10.0.0.0/8"],
    "subnets": [{"name": "myAKSSubnet", "address_prefix": "10.240.0.0/16"}],
}


def test_virtual_network_ladder_and_delete(ansible_playbook, azure_double, tmp_path):
    absent = {"name": "myVnet", "resource_group": "myResourceGroup-NP", "state": "absent"}
    second = {
        "name": "myVnet",
        "resource_group": "myResourceGroup-NP",
        "subnets": [{"name": "other", "address_prefix": "10.241.0.0/16"}],
    }
    tasks = [
        {"name": "Group", "netpol.aks.resource_group": RG},
        *ladder("virtual_network", VNET, "Create network"),
        *ladder("virtual_network", second, "Add a subnet"),
        {"name": "Delete network", "netpol.aks.virtual_network": absent},
        {"name": "Delete network again", "netpol.aks.virtual_network": absent},
    ]
    run = ansible_playbook(write_playbook(tmp_path, tasks), env=azure_double.env, diff=True)
    assert run.rc == 0, run.output
    assert changed_flags(run, ladder_names("Create network")) == [True, True, False, False]
    assert changed_flags(run, ladder_names("Add a subnet")) == [True, True, False, False]
    assert changed_flags(run, ["Delete network", "Delete network again"]) == [True, False]

    subnet_id = (
        f"/subscriptions/{azure_double.subscription_id}/resourceGroups/myResourceGroup-NP/providers/"
        "Microsoft.Network/virtualNetworks/myVnet/subnets/myAKSSubnet"
    )
    assert run.result("Create network")["subnet_ids"] == {"myAKSSubnet": subnet_id}
    assert run.result("Create network (check)")["subnet_ids"] == {"myAKSSubnet": subnet_id}
    # purge_subnets is false: the first subnet stays when another is added
    assert set(run.result("Add a subnet")["subnet_ids"]) == {"myAKSSubnet", "other"}

    puts = [r for r in writes(azure_double) if r["method"] == "PUT" and "/virtualNetworks/" in r["path"]]
    assert len(puts) == 2
    assert puts[0]["query"]["api-version"] == "2026-03-01"
    assert puts[0]["body"] == {
        "location": "eastus",
        "properties": {
            "addressSpace": {"addressPrefixes": ["10.0.0.0/8"]},
            "subnets": [{"name": "myAKSSubnet", "properties": {"addressPrefix": "10.240.0.0/16"}}],
        },
    }
    # the update sends back what it read, under If-Match: a concurrent change would be a 412, not lost
    assert puts[0]["if_match"] is None
    assert puts[1]["if_match"].startswith('W/"')
    names = [s["name"] for s in puts[1]["body"]["properties"]["subnets"]]
    assert names == ["other", "myAKSSubnet"]
    assert len([r for r in writes(azure_double) if r["method"] == "DELETE"]) == 1  # delete again sent none
    # the long-running operation was polled until it ended
    assert any("/operations/" in r["path"] for r in azure_double.arm_requests("GET"))


def test_location_defaults_to_the_group_and_purge(ansible_playbook, azure_double, tmp_path):
    vnet = {k: v for k, v in VNET.items() if k != "location"}
    purge = {**vnet, "subnets": [{"name": "b", "address_prefix": "10.250.0.0/16"}], "purge_subnets": True}
    tasks = [
        {"name": "Group", "netpol.aks.resource_group": {**RG, "location": "westeurope"}},
        {"name": "Create", "netpol.aks.virtual_network": vnet},
        {"name": "Purge", "netpol.aks.virtual_network": purge},
    ]
    run = ansible_playbook(write_playbook(tmp_path, tasks), env=azure_double.env)
    assert run.rc == 0, run.output
    assert run.result("Create")["virtual_network"]["location"] == "westeurope"
    assert [s["name"] for s in run.result("Purge")["virtual_network"]["subnets"]] == ["b"]


def test_bad_address_plan_fails_before_any_request(ansible_playbook, azure_double, tmp_path):
    cases = {
        "Bad prefix": ({**VNET, "address_prefixes": ["10.0.0.0/33"]}, "address_prefixes[0]:"),
        "Outside": (
            {**VNET, "subnets": [{"name": "s", "address_prefix": "192.168.0.0/24"}]},
            "subnets[0].address_prefix:",
        ),
        "Host bits": (
            {**VNET, "subnets": [{"name": "s", "address_prefix": "10.240.0.1/16"}]},
            "subnets[0].address_prefix:",
        ),
        "Overlap": (
            {
                **VNET,
                "subnets": [
                    {"name": "a", "address_prefix": "10.240.0.0/16"},
                    {"name": "b", "address_prefix": "10.240.128.0/17"},
                ],
            },
            "subnets[1].address_prefix:",
        ),
    }
    tasks = [
        {"name": n, "netpol.aks.virtual_network": args, "ignore_errors": True} for n, (args, _unused) in cases.items()
    ]
    run = ansible_playbook(write_playbook(tmp_path, tasks), env=azure_double.env)
    for name, (_args, field) in cases.items():
        result = run.result(name)
        assert result["failed"], name
        assert result["msg"].startswith(field), result["msg"]
    assert azure_double.requests() == []


def test_double_rejects_snake_case_and_failed_operation(ansible_playbook, azure_double, tmp_path):
    """The double is as strict as ARM: a hybrid-model dict with snake_case keys is refused."""
    import json
    import ssl
    import urllib.request

    token_url = f"{azure_double.url}/{azure_double.tenant_id}/oauth2/v2.0/token"
    ctx = ssl.create_default_context(cafile=azure_double.ca_file)
    form = (
        f"grant_type=client_credentials&client_id={azure_double.client_id}&client_secret={azure_double.client_secret}"
        f"&scope={azure_double.url}/.default"
    ).encode()
    with urllib.request.urlopen(urllib.request.Request(token_url, data=form), context=ctx) as resp:
        token = json.loads(resp.read())["access_token"]
    base = f"{azure_double.url}/subscriptions/{azure_double.subscription_id}/resourcegroups/rg"

    def put(url, body):
        req = urllib.request.Request(
            url,
            data=json.dumps(body).encode(),
            method="PUT",
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, context=ctx) as resp:
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read())

    assert put(base + "?api-version=2025-04-01", {"location": "eastus"})[0] == 201
    status, body = put(
        base + "/providers/Microsoft.Network/virtualNetworks/v?api-version=2026-03-01",
        {"location": "eastus", "address_space": {"address_prefixes": ["10.0.0.0/8"]}},
    )
    assert status == 400
    assert body["error"]["code"] == "InvalidRequestContent"
    assert "Could not find member 'address_space'" in body["error"]["message"]

    azure_double.faults(fault="lro_failed", method="PUT", path="*/virtualNetworks/*", code="NetcfgInternalError")
    tasks = [{"name": "Create", "netpol.aks.virtual_network": {**VNET, "resource_group": "rg"}, "ignore_errors": True}]
    run = ansible_playbook(write_playbook(tmp_path, tasks), env=azure_double.env)
    assert run.result("Create")["failed"]
    assert "NetcfgInternalError" in run.result("Create")["msg"]


def test_failed_network_is_reported_as_a_change_and_repaired_by_the_next_run(ansible_playbook, azure_double, tmp_path):
    azure_double.faults(fault="lro_failed", method="PUT", path="*/virtualNetworks/myVnet", code="NetcfgInternalError")
    tasks = [
        {"name": "Group", "netpol.aks.resource_group": RG},
        {"name": "Create", "netpol.aks.virtual_network": VNET, "ignore_errors": True},
        *ladder("virtual_network", VNET, "Rerun"),
    ]
    run = ansible_playbook(write_playbook(tmp_path, tasks), env=azure_double.env)
    assert run.rc == 0, run.output
    failed = run.result("Create")
    assert failed["failed"]
    assert failed["changed"] is True
    assert "NetcfgInternalError" in failed["msg"]
    assert "is now in state Failed: run the task again to retry" in failed["msg"]
    assert changed_flags(run, ladder_names("Rerun")) == [True, True, False, False]
    assert run.result("Rerun")["virtual_network"]["provisioning_state"] == "Succeeded"
    puts = [r for r in writes(azure_double) if r["method"] == "PUT" and "/virtualNetworks/" in r["path"]]
    assert len(puts) == 2  # the create, then one repair


def test_timing_options_of_every_azure_module_are_checked_before_any_request(ansible_playbook, azure_double, tmp_path):
    cases = {
        "Network poll interval": ("virtual_network", {**VNET, "poll_interval": -1}, "poll_interval: -1.0"),
        "Network wait timeout": ("virtual_network", {**VNET, "wait_timeout": -1}, "wait_timeout: -1"),
        "Group wait timeout": ("resource_group", {**RG, "wait_timeout": -1}, "wait_timeout: -1"),
        "Cluster poll interval": (
            "aks_cluster",
            {"name": "c", "resource_group": "rg", "location": "eastus", "poll_interval": "inf"},
            "poll_interval: inf",
        ),
        "Feature timeout": (
            "feature_registration",
            {"name": "Microsoft.ContainerService/EnableNetworkPolicy", "timeout": -1},
            "timeout: -1",
        ),
        "Provider poll interval": (
            "provider_registration",
            {"name": "Microsoft.ContainerService", "poll_interval": -0.5},
            "poll_interval: -0.5",
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
        assert result["msg"].startswith(message), result["msg"]
        assert "use zero or more" in result["msg"]
    assert azure_double.requests() == []  # not even a token request
