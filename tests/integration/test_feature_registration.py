"""feature_registration (and the aks role's step 1) through ansible-playbook against the Azure double."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration._azure_playbooks import write_playbook

ROOT = Path(__file__).resolve().parents[2]
ENP = "Microsoft.ContainerService/EnableNetworkPolicy"
FAST = {"poll_interval": 0}


def task(label, /, **args):
    return {"name": label, "netpol.aks.feature_registration": {**FAST, **args}}


def posts(double, since=0):
    return [r for r in double.arm_requests("POST") if r["seq"] > since]


def last_seq(double):
    log = double.requests()
    return log[-1]["seq"] if log else 0


def test_check_apply_check_apply(ansible_playbook, azure_double, tmp_path):
    first = [{**task("Register (check)", name=ENP), "check_mode": True}, task("Register", name=ENP)]
    run = ansible_playbook(write_playbook(tmp_path, first, "first.yml"), env=azure_double.env, diff=True)
    assert run.rc == 0, run.output
    check, apply = run.result("Register (check)"), run.result("Register")
    assert (check["changed"], check["state"], check["polls"]) == (True, "Registered", 0)
    assert check["diff"] == {
        "before": {"name": ENP, "state": "NotRegistered"},
        "after": {"name": ENP, "state": "Registered"},
    }
    assert (apply["changed"], apply["state"], apply["propagated"]) == (True, "Registered", True)
    # EnableNetworkPolicy stays Registering for three reads: the module waited through several polls
    assert apply["polls"] >= 2
    assert apply["diff"]["before"]["state"] == "NotRegistered"
    assert apply["id"] == (
        f"/subscriptions/{azure_double.subscription_id}/providers/Microsoft.Features/providers/"
        "Microsoft.ContainerService/features/EnableNetworkPolicy"
    )
    assert [r["path"].rsplit("/", 2)[-2:] for r in posts(azure_double)] == [
        ["EnableNetworkPolicy", "register"],  # the registration
        ["Microsoft.ContainerService", "register"],  # propagate: az provider register -n Microsoft.ContainerService
    ]

    seq = last_seq(azure_double)
    again = [{**task("Register again (check)", name=ENP), "check_mode": True}, task("Register again", name=ENP)]
    run = ansible_playbook(write_playbook(tmp_path, again, "again.yml"), env=azure_double.env, diff=True)
    assert run.rc == 0, run.output
    for name in ("Register again (check)", "Register again"):
        result = run.result(name)
        assert (result["changed"], result["state"], result["polls"]) == (False, "Registered", 0)
    assert posts(azure_double, since=seq) == []
    assert [r["method"] for r in azure_double.arm_requests() if r["seq"] > seq] == ["GET", "GET"]


def test_namespace_and_feature_options_no_wait_then_wait(ansible_playbook, azure_double, tmp_path):
    args = {"namespace": "Microsoft.ContainerService", "feature": "EnableNetworkPolicy"}  # Registering for 3 reads
    tasks = [
        task("Register without waiting", **args, wait=False),
        task("Wait for it", **args),
        task("Again", **args),
    ]
    run = ansible_playbook(write_playbook(tmp_path, tasks), env=azure_double.env)
    assert run.rc == 0, run.output
    no_wait = run.result("Register without waiting")
    assert (no_wait["changed"], no_wait["state"], no_wait["polls"], no_wait["propagated"]) == (
        True,
        "Registering",
        0,
        False,
    )
    assert any("was not re-registered" in w for w in no_wait.get("warnings", []))
    # the next run finds it Registering, waits, and propagates what the first run could not
    waited = run.result("Wait for it")
    assert (waited["changed"], waited["state"], waited["propagated"]) == (True, "Registered", True)
    again = run.result("Again")
    assert (again["changed"], again["propagated"]) == (False, False)
    assert [r["path"].rsplit("/", 2)[-2:] for r in posts(azure_double)] == [
        ["EnableNetworkPolicy", "register"],
        ["Microsoft.ContainerService", "register"],
    ]


def test_unregister(ansible_playbook, azure_double, tmp_path):
    name = "Microsoft.ContainerService/EnableAPIServerVnetIntegrationPreview"
    tasks = [
        task("Unregister", name=name, state="unregistered"),
        task("Unregister again", name=name, state="unregistered"),
    ]
    run = ansible_playbook(write_playbook(tmp_path, tasks), env=azure_double.env)
    assert run.rc == 0, run.output
    assert (run.result("Unregister")["changed"], run.result("Unregister")["state"]) == (True, "Unregistered")
    assert (run.result("Unregister again")["changed"], run.result("Unregister again")["state"]) == (
        False,
        "Unregistered",
    )
    assert [r["path"].rsplit("/", 1)[-1] for r in posts(azure_double)] == ["unregister", "register"]


def test_pending_approval_ends_with_the_approval_message(ansible_playbook, azure_double, tmp_path):
    name = "Microsoft.ContainerService/AKSApprovalGatedPreview"
    tasks = [
        {**task("Register gated", name=name, timeout=3600), "ignore_errors": True},
        {**task("Register gated again", name=name, timeout=3600), "ignore_errors": True},
    ]
    run = ansible_playbook(write_playbook(tmp_path, tasks), env=azure_double.env)
    first, again = run.result("Register gated"), run.result("Register gated again")
    assert first["failed"]
    assert again["failed"]
    assert first["msg"].startswith(f"Feature {name} is Pending: it requires approval")
    assert "approval is granted by Microsoft" in first["msg"]
    assert "Timed out" not in first["msg"]
    assert "Traceback" not in first["msg"]
    assert (first["changed"], first["state"]) == (True, "Pending")
    assert (again["changed"], again["state"]) == (False, "Pending")
    assert len(posts(azure_double)) == 1  # the second run sent nothing new


def test_timeout_names_the_last_state_and_the_time(ansible_playbook, azure_double, tmp_path):
    azure_double.set_feature("Microsoft.ContainerService", "EnableNetworkPolicy", reads=1000)
    tasks = [{**task("Register slowly", name=ENP, timeout=0), "ignore_errors": True}]
    run = ansible_playbook(write_playbook(tmp_path, tasks), env=azure_double.env)
    result = run.result("Register slowly")
    assert result["failed"]
    assert result["msg"].startswith(
        f"Timed out waiting for feature {ENP} to become Registered: the last state read was Registering, after waiting "
    )
    assert "seconds (1 reads)" in result["msg"]
    assert result["azure_error"]["code"] == "Timeout"
    # no propagation for a feature that is not Registered
    assert [r["path"].rsplit("/", 1)[-1] for r in posts(azure_double)] == ["register"]


def test_throttling_and_unavailability_are_survived(ansible_playbook, azure_double, tmp_path):
    azure_double.faults(
        {"fault": "429", "method": "POST", "path": "*/features/EnableNetworkPolicy/register", "retry_after": "1"},
        {"fault": "503", "method": "GET", "path": "*/features/EnableNetworkPolicy", "count": 2},
        {"fault": "503", "method": "POST", "path": "*/providers/Microsoft.ContainerService/register"},
    )
    run = ansible_playbook(write_playbook(tmp_path, [task("Register", name=ENP)]), env=azure_double.env)
    assert run.rc == 0, run.output
    assert run.result("Register")["state"] == "Registered"
    log = [(r["method"], r["status"], r["fault"]) for r in azure_double.arm_requests()]
    assert log[:3] == [("GET", 503, "503"), ("GET", 503, "503"), ("GET", 200, None)]
    assert ("POST", 429, "429") in log
    assert ("POST", 503, "503") in log
    assert [s for m, s, _unused in log if m == "POST"] == [429, 200, 503, 200]
    assert all(f["count"] == 0 for f in azure_double.control("GET", "/_fake/faults")["faults"])


def test_wrong_secret_is_a_clear_authentication_error(ansible_playbook, azure_double, tmp_path):
    env = {**azure_double.env, "AZURE_CLIENT_SECRET": "wrong-secret-value"}
    tasks = [{**task("Register", name=ENP), "ignore_errors": True}]
    run = ansible_playbook(write_playbook(tmp_path, tasks), env=env)
    result = run.result("Register")
    assert result["failed"]
    assert result["msg"].startswith(f"Failed to read feature {ENP}: authentication failed: ")
    assert "AADSTS7000215: Invalid client secret provided" in result["msg"]
    assert "Authentication failed" not in result["msg"]  # said once, not twice
    assert result["azure_error"]["code"] == "AADSTS7000215"
    assert "Check tenant_id, client_id and client_secret" in result["msg"]
    assert "wrong-secret-value" not in run.output
    assert azure_double.arm_requests() == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"name": "EnableNetworkPolicy"}, "name: 'EnableNetworkPolicy' has no namespace"),
        ({"name": ""}, "name: the feature name is empty"),
        ({"name": "Microsoft.ContainerService/Enable Network Policy"}, "contains whitespace"),
        ({"name": "Microsoft.ContainerService/EnableNetworkPolicy/extra"}, "has 2 slashes"),
        (
            {"namespace": "Microsoft ContainerService", "feature": "EnableNetworkPolicy"},
            "namespace: 'Microsoft ContainerService'",
        ),
        ({"name": ENP, "namespace": "Microsoft.ContainerService"}, "parameters are mutually exclusive: name|namespace"),
        ({"namespace": "Microsoft.ContainerService"}, "parameters are required together: namespace, feature"),
    ],
)
def test_malformed_names_fail_before_any_request(ansible_playbook, azure_double, tmp_path, args, message):
    tasks = [{**task("Register", **args), "ignore_errors": True}]
    run = ansible_playbook(write_playbook(tmp_path, tasks), env=azure_double.env)
    result = run.result("Register")
    assert result["failed"]
    assert message in result["msg"]
    assert azure_double.requests() == []  # not even a token request


def test_unknown_feature_reports_the_arm_error(ansible_playbook, azure_double, tmp_path):
    tasks = [{**task("Register", name="Microsoft.ContainerService/NoSuchFeature"), "ignore_errors": True}]
    run = ansible_playbook(write_playbook(tmp_path, tasks), env=azure_double.env)
    result = run.result("Register")
    assert result["msg"].startswith(
        "Failed to read feature Microsoft.ContainerService/NoSuchFeature: (FeatureNotFound) The feature "
        "'NoSuchFeature' could not be found. [HTTP 404, request id "
    )
    assert result["azure_error"]["code"] == "FeatureNotFound"
    assert result["azure_error"]["request_id"] == azure_double.arm_requests()[-1]["request_id"]


def test_secret_appears_in_no_output_even_at_vvvv(ansible_playbook, azure_double, tmp_path):
    secret = azure_double.client_secret
    env = {k: v for k, v in azure_double.env.items() if k != "AZURE_CLIENT_SECRET"}
    tasks = [
        # the secret as a module option, through module_defaults
        {
            "name": "Register with explicit credentials",
            "module_defaults": {
                "group/netpol.aks.azure": {"client_secret": "{{ sp_secret }}", "auth_source": "credentials"}
            },
            "netpol.aks.feature_registration": {"name": ENP, **FAST},
        },
        # and a failing one, whose error must not echo it either
        {
            "name": "Fail with explicit credentials",
            "netpol.aks.feature_registration": {
                "name": "Microsoft.ContainerService/NoSuchFeature",
                "client_secret": "{{ sp_secret }}",
                **FAST,
            },
            "ignore_errors": True,
        },
    ]
    playbook = write_playbook(tmp_path, tasks)
    vars_file = tmp_path / "secret.yml"
    vars_file.write_text(f"sp_secret: {secret}\n")
    text = playbook.read_text().replace("  tasks:\n", f"  vars_files:\n  - {vars_file}\n  tasks:\n", 1)
    playbook.write_text(text)
    run = ansible_playbook(playbook, env=env, json_output=False, verbosity=4, diff=True)
    assert "Register with explicit credentials" in run.output
    assert "changed: [localhost]" in run.output, run.output
    assert "FeatureNotFound" in run.output
    assert secret not in run.output


# --- the aks role's step 1 (playbooks/steps/feature.yml) ----------------------------------------------


def step_playbook(tmp_path, extra_vars_file_text: str) -> Path:
    vars_file = tmp_path / "vars.yml"
    vars_file.write_text(extra_vars_file_text)
    playbook = tmp_path / "step.yml"
    playbook.write_text(
        "---\n"
        "- name: Step 1\n"
        "  hosts: localhost\n"
        "  gather_facts: false\n"
        f"  vars_files: [{vars_file}]\n"
        "  tasks:\n"
        f"    - name: Feature step\n"
        f"      ansible.builtin.import_tasks: {ROOT / 'playbooks' / 'steps' / 'feature.yml'}\n"
    )
    return playbook


def test_role_step_registers_the_walkthrough_feature_with_explicit_auth(ansible_playbook, azure_double, tmp_path):
    d = azure_double
    # only the CA in the environment: credentials come from aks_azure_auth through module_defaults
    env = {k: v for k, v in d.env.items() if not k.startswith("AZURE_")}
    vars_text = (
        "aks_features: [Microsoft.ContainerService/EnableNetworkPolicy]\n"
        "aks_registration_poll_interval: 0\n"
        "aks_azure_auth:\n"
        f"  subscription_id: {d.subscription_id}\n"
        f"  tenant_id: {d.tenant_id}\n"
        f"  client_id: {d.client_id}\n"
        f"  client_secret: {d.client_secret}\n"
        f"  authority_host: {d.url}\n"
        f"  resource_manager_endpoint: {d.url}\n"
    )
    playbook = step_playbook(tmp_path, vars_text)
    run = ansible_playbook(playbook, env=env, tags="feature")
    assert run.rc == 0, run.output
    features = run.result("netpol.aks.aks : Register the preview features")
    assert features["changed"] is True
    assert [r["state"] for r in features["results"]] == ["Registered"]
    providers = run.result("netpol.aks.aks : Register the resource providers")
    assert [(r["item"], r["state"]) for r in providers["results"]] == [
        ("Microsoft.ContainerService", "Registered"),
        ("Microsoft.Network", "Registered"),
    ]
    seq = last_seq(d)
    run = ansible_playbook(playbook, env=env, tags="feature")
    assert run.rc == 0, run.output
    assert run.result("netpol.aks.aks : Register the preview features")["changed"] is False
    assert run.result("netpol.aks.aks : Register the resource providers")["changed"] is False
    assert posts(d, since=seq) == []
    assert d.client_secret not in run.output


def test_role_step_defaults_use_the_environment(ansible_playbook, azure_double, tmp_path):
    run = ansible_playbook(step_playbook(tmp_path, "aks_registration_poll_interval: 0\n"), env=azure_double.env)
    assert run.rc == 0, run.output
    assert run.result("netpol.aks.aks : Register the preview features").get("results", []) == []
    providers = run.result("netpol.aks.aks : Register the resource providers")
    assert [(r["item"], r["changed"]) for r in providers["results"]] == [
        ("Microsoft.ContainerService", True),
        ("Microsoft.Network", False),
    ]


@pytest.mark.parametrize(
    ("variables", "task", "message"),
    [
        (
            "aks_features: [Microsoft.ContainerService/EnableNetworkPolicy, EnableNetworkPolicy]\n",
            "Check that the preview features are written as Namespace/Feature",
            "aks_features: ['EnableNetworkPolicy'] must be written as Namespace/Feature",
        ),
        (
            "aks_providers: [Microsoft.Network, Microsoft.Container Service]\n",
            "Check that the resource providers are namespaces",
            "aks_providers: ['Microsoft.Container Service'] must be resource provider namespaces",
        ),
    ],
)
def test_role_preflight_rejects_malformed_names(ansible_playbook, azure_double, tmp_path, variables, task, message):
    run = ansible_playbook(step_playbook(tmp_path, variables), env=azure_double.env)
    assert run.rc != 0
    result = run.result(f"netpol.aks.aks : {task}")
    assert result["failed"]
    assert message in result["msg"]
    assert azure_double.requests() == []
