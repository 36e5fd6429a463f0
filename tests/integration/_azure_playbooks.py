"""Helpers for the Azure resource integration tests: write a playbook, run it, read the results."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

# The double answers long-running operations without a usable Retry-After (0 means "absent" to
# azure-core), so the SDK would wait its 30 s default between polls: poll at once instead.
FAST_POLLING = {"poll_interval": 0}

LOCALHOST = {
    "hosts": "localhost",
    "gather_facts": False,
    "vars": {"ansible_python_interpreter": "{{ ansible_playbook_python }}"},
    "module_defaults": {
        "netpol.aks.resource_group": FAST_POLLING,
        "netpol.aks.virtual_network": FAST_POLLING,
        "netpol.aks.aks_cluster": FAST_POLLING,
    },
}


def write_playbook(tmp_path: Path, tasks: list[dict[str, Any]], name: str = "play.yml") -> Path:
    """A one-play playbook on localhost running ``tasks``."""
    path = tmp_path / name
    path.write_text(yaml.safe_dump([{**LOCALHOST, "name": "Test", "tasks": tasks}], sort_keys=False))
    return path


def ladder(module: str, args: dict[str, Any], label: str) -> list[dict[str, Any]]:
    """The idempotence ladder: check, apply, check again, apply again (each registered)."""
    fqcn = f"netpol.aks.{module}"
    return [
        {"name": f"{label} (check)", fqcn: args, "check_mode": True},
        {"name": f"{label}", fqcn: args},
        {"name": f"{label} again (check)", fqcn: args, "check_mode": True},
        {"name": f"{label} again", fqcn: args},
    ]


def changed_flags(run, names: list[str]) -> list[bool]:
    return [bool(run.result(n).get("changed")) for n in names]


def ladder_names(label: str) -> list[str]:
    return [f"{label} (check)", label, f"{label} again (check)", f"{label} again"]


def writes(double, since_seq: int = 0) -> list[dict[str, Any]]:
    """ARM requests that change something (PUT, PATCH, DELETE, POST other than list*Credential)."""
    return [
        r
        for r in double.arm_requests()
        if r["seq"] > since_seq
        and (r["method"] in ("PUT", "PATCH", "DELETE") or (r["method"] == "POST" and "/list" not in r["path"]))
    ]


def sdk_clients(double) -> dict[str, Any]:
    """The real SDK clients, talking to the double (for tests of the double itself)."""
    from azure.identity import ClientSecretCredential
    from azure.mgmt.containerservice import ContainerServiceClient
    from azure.mgmt.network import NetworkManagementClient
    from azure.mgmt.resource.resources import ResourceManagementClient

    credential = ClientSecretCredential(
        double.tenant_id,
        double.client_id,
        double.client_secret,
        authority=double.url,
        disable_instance_discovery=True,
        connection_verify=double.ca_file,
    )
    common = {
        "base_url": double.url,
        "credential_scopes": [double.url + "/.default"],
        "polling_interval": 0,
        "connection_verify": double.ca_file,
    }
    sub = double.subscription_id
    return {
        "resources": ResourceManagementClient(credential, sub, **common),
        "network": NetworkManagementClient(credential, sub, **common),
        "aks": ContainerServiceClient(credential, sub, **common),
    }


def start_playbook(playbook: Path, env: dict[str, str], tmp_path: Path, *, json_output: bool = False):
    """Start ansible-playbook in the background, in its own process group (as a terminal runs it), so a test can
    interrupt it as Ctrl-C does: ``os.killpg(proc.pid, signal.SIGINT)``. With ``json_output`` its stdout is the
    JSON callback's (``PlaybookRun(proc.returncode, stdout, "")`` reads it)."""
    import os
    import subprocess

    from tests.integration.conftest import ANSIBLE_PLAYBOOK
    from tests.integration.conftest import ROOT

    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    run_env = {
        **os.environ,
        "HOME": str(home),
        "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
        "ANSIBLE_LOCAL_TEMP": str(tmp_path / "ansible-local"),
        "ANSIBLE_REMOTE_TEMP": str(tmp_path / "ansible-remote"),
        "TMPDIR": str(tmp_path),
        "ANSIBLE_NOCOLOR": "1",
        **({"ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json"} if json_output else {}),
        **env,
    }
    return subprocess.Popen(
        [str(ANSIBLE_PLAYBOOK), str(playbook)],
        cwd=ROOT,
        env=run_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
