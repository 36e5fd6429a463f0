"""provider_registration through ansible-playbook against the Azure double."""

from __future__ import annotations

import pytest

from tests.integration._azure_playbooks import write_playbook

AKS = "Microsoft.ContainerService"


def task(label, /, **args):
    return {"name": label, "netpol.aks.provider_registration": {"poll_interval": 0, **args}}


def posts(double, since=0):
    return [r for r in double.arm_requests("POST") if r["seq"] > since]


def test_check_apply_check_apply(ansible_playbook, azure_double, tmp_path):
    first = [{**task("Register (check)", name=AKS), "check_mode": True}, task("Register", name=AKS)]
    run = ansible_playbook(write_playbook(tmp_path, first, "first.yml"), env=azure_double.env, diff=True)
    assert run.rc == 0, run.output
    check, apply = run.result("Register (check)"), run.result("Register")
    assert (check["changed"], check["state"], check["polls"]) == (True, "Registered", 0)
    assert check["diff"] == {
        "before": {"name": AKS, "state": "NotRegistered"},
        "after": {"name": AKS, "state": "Registered"},
    }
    assert (apply["changed"], apply["state"]) == (True, "Registered")
    assert apply["polls"] >= 1  # the double keeps it Registering for two reads
    assert apply["id"] == f"/subscriptions/{azure_double.subscription_id}/providers/{AKS}"
    assert [r["path"] for r in posts(azure_double)] == [
        f"/subscriptions/{azure_double.subscription_id}/providers/{AKS}/register"
    ]

    seq = azure_double.requests()[-1]["seq"]
    again = [{**task("Register again (check)", name=AKS), "check_mode": True}, task("Register again", name=AKS)]
    run = ansible_playbook(write_playbook(tmp_path, again, "again.yml"), env=azure_double.env, diff=True)
    assert run.rc == 0, run.output
    for name in ("Register again (check)", "Register again"):
        result = run.result(name)
        assert (result["changed"], result["state"], result["polls"]) == (False, "Registered", 0)
        assert result["diff"]["before"] == result["diff"]["after"]
    assert posts(azure_double, since=seq) == []


def test_namespace_alias_no_wait_and_unregister(ansible_playbook, azure_double, tmp_path):
    tasks = [
        task("Register without waiting", namespace="Microsoft.Compute", wait=False),
        task("Unregister", name="Microsoft.Network", state="unregistered"),
        task("Unregister again", name="Microsoft.Network", state="unregistered"),
    ]
    run = ansible_playbook(write_playbook(tmp_path, tasks), env=azure_double.env)
    assert run.rc == 0, run.output
    no_wait = run.result("Register without waiting")
    assert (no_wait["changed"], no_wait["state"], no_wait["polls"]) == (True, "Registering", 0)
    assert (run.result("Unregister")["changed"], run.result("Unregister")["state"]) == (True, "Unregistered")
    assert run.result("Unregister again")["changed"] is False
    assert [r["path"].rsplit("/", 2)[-2:] for r in posts(azure_double)] == [
        ["Microsoft.Compute", "register"],
        ["Microsoft.Network", "unregister"],
    ]


def test_faults_are_survived(ansible_playbook, azure_double, tmp_path):
    azure_double.faults(
        {"fault": "503", "method": "GET", "path": f"*/providers/{AKS}", "count": 1, "retry_after": "1"},
        {"fault": "429", "method": "POST", "path": f"*/providers/{AKS}/register", "count": 1},
    )
    run = ansible_playbook(write_playbook(tmp_path, [task("Register", name=AKS)]), env=azure_double.env)
    assert run.rc == 0, run.output
    assert run.result("Register")["state"] == "Registered"
    statuses = [(r["method"], r["status"]) for r in azure_double.arm_requests()]
    assert statuses[:2] == [("GET", 503), ("GET", 200)]
    assert [s for m, s in statuses if m == "POST"] == [429, 200]


def test_timeout_names_the_last_state(ansible_playbook, azure_double, tmp_path):
    azure_double.set_provider(AKS, reads=1000)
    run = ansible_playbook(
        write_playbook(tmp_path, [{**task("Register", name=AKS, timeout=0), "ignore_errors": True}]),
        env=azure_double.env,
    )
    result = run.result("Register")
    assert result["failed"]
    assert result["msg"].startswith(
        f"Timed out waiting for resource provider {AKS} to become Registered: the last state read was Registering"
    )
    assert result["changed"] is True


def test_unknown_namespace_reports_the_arm_error(ansible_playbook, azure_double, tmp_path):
    run = ansible_playbook(
        write_playbook(tmp_path, [{**task("Register", name="Microsoft.Nope"), "ignore_errors": True}]),
        env=azure_double.env,
    )
    result = run.result("Register")
    assert result["msg"].startswith(
        "Failed to read resource provider Microsoft.Nope: (InvalidResourceNamespace) The resource namespace "
        "'Microsoft.Nope' is invalid. [HTTP 404, request id "
    )
    assert posts(azure_double) == []


def test_wrong_secret(ansible_playbook, azure_double, tmp_path):
    env = {**azure_double.env, "AZURE_CLIENT_SECRET": "not-it"}
    run = ansible_playbook(write_playbook(tmp_path, [{**task("Register", name=AKS), "ignore_errors": True}]), env=env)
    result = run.result("Register")
    assert result["msg"].startswith(f"Failed to read resource provider {AKS}: authentication failed: ")
    assert "AADSTS7000215" in result["msg"]
    assert azure_double.arm_requests() == []


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("ContainerService", "name: 'ContainerService' is not a resource provider namespace"),
        ("", "name: '' is not a resource provider namespace"),
        ("Microsoft. ContainerService", "name: 'Microsoft. ContainerService' is not a resource provider namespace"),
        (
            "Microsoft.ContainerService/managedClusters",
            "name: 'Microsoft.ContainerService/managedClusters' is not a resource provider namespace",
        ),
    ],
)
def test_malformed_namespaces_fail_before_any_request(ansible_playbook, azure_double, tmp_path, name, message):
    run = ansible_playbook(
        write_playbook(tmp_path, [{**task("Register", name=name), "ignore_errors": True}]), env=azure_double.env
    )
    result = run.result("Register")
    assert result["failed"]
    assert result["msg"].startswith(message)
    assert azure_double.requests() == []
