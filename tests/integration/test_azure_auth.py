"""Azure auth as azure.azcollection users write it, against the Azure double (each through ansible-playbook)."""

from __future__ import annotations

from tests.integration._azure_playbooks import write_playbook

GROUP = {"name": "myResourceGroup-NP", "location": "eastus"}
CREDENTIALS = ("AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_SUBSCRIPTION_ID")


def connection_only(double) -> dict[str, str]:
    """The double's endpoints and CA, without its service principal."""
    return {k: v for k, v in double.env.items() if k not in CREDENTIALS}


def token_requests(double) -> list[dict]:
    return [r for r in double.requests() if r["path"].endswith("/oauth2/v2.0/token")]


def test_azcollection_environment_names(ansible_playbook, azure_double, tmp_path):
    env = {
        **connection_only(azure_double),
        "AZURE_SUBSCRIPTION_ID": azure_double.subscription_id,
        "AZURE_CLIENT_ID": azure_double.client_id,
        "AZURE_SECRET": azure_double.client_secret,
        "AZURE_TENANT": azure_double.tenant_id,
    }
    run = ansible_playbook(write_playbook(tmp_path, [{"name": "Group", "netpol.aks.resource_group": GROUP}]), env=env)
    assert run.rc == 0, run.output
    assert run.result("Group")["changed"] is True
    assert token_requests(azure_double)[0]["path"] == f"/{azure_double.tenant_id}/oauth2/v2.0/token"


def test_azcollection_option_aliases(ansible_playbook, azure_double, tmp_path):
    args = {
        **GROUP,
        "subscription_id": azure_double.subscription_id,
        "client_id": azure_double.client_id,
        "secret": azure_double.client_secret,
        "tenant": azure_double.tenant_id,
    }
    run = ansible_playbook(
        write_playbook(tmp_path, [{"name": "Group", "netpol.aks.resource_group": args}]),
        env=connection_only(azure_double),
    )
    assert run.rc == 0, run.output
    assert run.result("Group")["changed"] is True
    assert azure_double.client_secret not in run.output  # the alias is no_log too


def test_credential_file_profile_and_auth_source_from_the_environment(ansible_playbook, azure_double, tmp_path):
    credentials = tmp_path / "home" / ".azure" / "credentials"
    credentials.parent.mkdir(parents=True)
    credentials.write_text(
        "[default]\nclient_id = someone-else\n\n"
        f"[lab]\nsubscription_id = {azure_double.subscription_id}\nclient_id = {azure_double.client_id}\n"
        f"secret = {azure_double.client_secret}\ntenant = {azure_double.tenant_id}\n"
    )
    env = {**connection_only(azure_double), "ANSIBLE_AZURE_AUTH_SOURCE": "credential_file", "AZURE_PROFILE": "lab"}
    tasks = [
        {"name": "Group", "netpol.aks.resource_group": GROUP},
        {"name": "Missing profile", "netpol.aks.resource_group": {**GROUP, "profile": "prod"}, "ignore_errors": True},
    ]
    run = ansible_playbook(write_playbook(tmp_path, tasks), env=env)
    assert run.result("Group")["changed"] is True
    assert token_requests(azure_double)[0]["body"]["client_id"] == azure_double.client_id
    missing = run.result("Missing profile")
    assert missing["failed"]
    assert "has no [prod] section (it has: default, lab)" in missing["msg"]


def test_cloud_environment(ansible_playbook, azure_double, tmp_path):
    tasks = [
        # explicit endpoints (here the double's, from the environment) win over the cloud's
        {"name": "Gov", "netpol.aks.resource_group": {**GROUP, "cloud_environment": "AzureUSGovernment"}},
        {
            "name": "Unknown",
            "netpol.aks.resource_group": {**GROUP, "cloud_environment": "AzureGermanCloud"},
            "ignore_errors": True,
        },
    ]
    run = ansible_playbook(write_playbook(tmp_path, tasks), env=azure_double.env)
    assert run.result("Gov")["changed"] is True
    unknown = run.result("Unknown")
    assert unknown["failed"]
    assert unknown["msg"].startswith(
        "cloud_environment: 'AzureGermanCloud' is not a known cloud; use one of AzureCloud"
    )
    assert len(token_requests(azure_double)) == 1  # the unknown cloud sent nothing
