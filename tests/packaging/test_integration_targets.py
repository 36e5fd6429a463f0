"""ansible-test integration targets: one per module, and the lab's credentials in ansible-test's Azure config."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TARGETS = ROOT / "tests" / "integration" / "targets"
MODULES = sorted(path.stem for path in (ROOT / "plugins" / "modules").glob("*.py") if not path.stem.startswith("_"))


@pytest.mark.parametrize("module", MODULES)
def test_every_module_has_a_target(module):
    target = TARGETS / module
    aliases = (target / "aliases").read_text().splitlines()
    aliases = [line.strip() for line in aliases if line.strip() and not line.startswith("#")]
    assert "cloud/azure" in aliases, f"{module}: the lab reaches the run through the Azure cloud configuration"
    assert "context/controller" in aliases
    tasks = (target / "tasks" / "main.yml").read_text()
    assert f"netpol.aks.{module}:" in tasks
    assert "ansible.builtin.assert:" in tasks


def test_cloud_config_is_what_ansible_test_reads(tmp_path, monkeypatch):
    from ansible_test._internal.commands.integration.cloud.azure import get_config

    monkeypatch.syspath_prepend(str(ROOT / "scripts"))
    sys.modules.pop("integration_targets", None)
    import integration_targets

    lab_env = {
        "AZURE_CLIENT_ID": "client",
        "AZURE_CLIENT_SECRET": "s3cret%with%percent",
        "AZURE_SUBSCRIPTION_ID": "sub",
        "AZURE_TENANT_ID": "tenant",
        "AZURE_AUTHORITY_HOST": "https://127.0.0.1:1234",
        "K8S_AUTH_KUBECONFIG": "/tmp/kubeconfig",
    }
    path = tmp_path / "cloud-config-azure.ini"
    integration_targets.write_cloud_config(path, lab_env)
    config = get_config(str(path))
    assert config["AZURE_SECRET"] == "s3cret%with%percent"
    assert config["AZURE_TENANT"] == "tenant"
    # every variable the lab publishes reaches the run, under its own name
    for name, value in lab_env.items():
        assert config[name] == value
