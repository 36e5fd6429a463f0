"""playbooks/demo.yml refuses what would mislead: bad input, unknown tags, missing earlier steps, lab vs Azure.

Each refusal happens before the first write to the Azure double or to the real lab's Kubernetes (whose
requests the fault proxy logs), and its message says what to do. Needs root and `make lab-build`.
"""

from __future__ import annotations

import os
import re
import subprocess

import pytest
import yaml

from tests.integration.conftest import ANSIBLE_PLAYBOOK
from tests.integration.conftest import ROOT

DEMO = ROOT / "playbooks" / "demo.yml"
FAST = {"netpol_probe_retries": 2, "netpol_probe_delay": 0.5, "vnet_poll_interval": 0, "aks_poll_interval": 0}
STEPS = ["feature", "network", "cluster", "credentials", "workload", "baseline", "deny", "allow", "label", "teardown"]


@pytest.fixture
def lab(azure_double, kube_lab, tmp_path) -> dict[str, str]:
    """The environment `source .lab/env` gives: the Azure double, its kubeconfigs reaching the real lab."""
    azure_double.set_kube(kube_lab.link)
    lab_dir = tmp_path / "lab"
    lab_dir.mkdir()
    return {**azure_double.env, **kube_lab.env, "NETPOL_LAB_DIR": str(lab_dir)}


def kube_writes(kube_lab) -> list[dict]:
    """Every request that is not a read (server-side dry runs included: the guards send nothing at all)."""
    return [r for r in kube_lab.requests() if r["method"] not in ("GET", "HEAD")]


def failure(run) -> str:
    """The message of the task that failed (JSON callback)."""
    failed = [r for r in run.task_results() if r.get("failed")]
    assert failed, run.output
    return failed[-1]["msg"]


# --- item 13: bad addresses stop the run before anything is created -----------------------------------


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            {"vnet_subnet_prefix": "10.300.0.0/16"},
            "vnet_subnet_prefix: '10.300.0.0/16' is not an IPv4 network in CIDR notation: Octet 300 (> 255)",
        ),
        (
            {"vnet_subnet_prefix": "10.240.0.1/16"},
            "vnet_subnet_prefix: '10.240.0.1/16' is not an IPv4 network in CIDR notation: 10.240.0.1/16 has host "
            "bits set; did you mean 10.240.0.0/16?",
        ),
        (
            {"vnet_subnet_prefix": "192.168.0.0/16"},
            "vnet_subnet_prefix: 192.168.0.0/16 is not inside vnet_address_prefixes 10.0.0.0/8",
        ),
        (
            {"vnet_address_prefixes": ["10.0.0.0/8", "10.256.0.0/16"]},
            "vnet_address_prefixes: '10.256.0.0/16' is not an IPv4",
        ),
        ({"aks_service_cidr": "10.0.0.0/33"}, "aks_service_cidr: '10.0.0.0/33' is not an IPv4 network"),
        ({"aks_dns_service_ip": "10.0.0.300"}, "aks_dns_service_ip: '10.0.0.300' is not an IPv4 address"),
        ({"aks_dns_service_ip": "10.1.0.10"}, "aks_dns_service_ip: 10.1.0.10 is outside aks_service_cidr 10.0.0.0/16"),
        (
            {"aks_service_cidr": "10.240.0.0/16", "aks_dns_service_ip": "10.240.0.10"},
            "aks_service_cidr: 10.240.0.0/16 overlaps the node subnet 10.240.0.0/16 (aks_vnet_subnet_prefix, by "
            "default vnet_subnet_prefix)",
        ),
        ({"aks_docker_bridge_cidr": "172.17.0.1"}, "aks_docker_bridge_cidr: '172.17.0.1' has no prefix length"),
        ({"netpol_namespace": "Netpol_Demo"}, "workload_namespace (Netpol_Demo)"),
        ({"vnet_name": "v"}, "vnet_name: 'v' is not a valid virtual network name; use 2-64 letters"),
        ({"aks_dns_prefix": "my_cluster"}, "aks_dns_prefix: 'my_cluster' is not a valid DNS prefix"),
        ({"netpol_engine": "calicoo"}, "netpol_engine (calicoo) must be one of auto, upstream, calico, cilium, azure"),
    ],
    ids=[
        "subnet-octet-300",
        "subnet-host-bits",
        "subnet-outside-vnet",
        "vnet-prefix-octet-256",
        "service-cidr-prefix-33",
        "dns-ip-octet-300",
        "dns-ip-outside-service-cidr",
        "service-cidr-overlaps-subnet",
        "docker-bridge-without-prefix",
        "namespace-not-a-kubernetes-name",
        "vnet-name-too-short",
        "dns-prefix-underscore",
        "engine-misspelt",
    ],
)
def test_a_bad_input_stops_the_demo_before_any_write(ansible_playbook, lab, azure_double, kube_lab, extra, message):
    run = ansible_playbook(DEMO, env=lab, extra_vars={**FAST, **extra})
    assert run.rc != 0
    assert message in failure(run)
    # Nothing registered, created or even read: the inputs are checked before step 1.
    assert azure_double.requests() == []
    assert kube_writes(kube_lab) == []


def test_the_walkthrough_values_pass_the_address_checks(ansible_playbook, azure_double, tmp_path):
    """The checks accept what the walkthrough uses (and IPv6), so they can tell good from bad."""
    play = [
        {
            "name": "Preflight of the vnet and aks roles",
            "hosts": "localhost",
            "gather_facts": False,
            "vars_files": [str(ROOT / "playbooks" / "vars" / "demo.yml")],
            "tasks": [
                {"name": "Check", "ansible.builtin.import_tasks": str(ROOT / "playbooks/steps/preflight_azure.yml")}
            ],
        }
    ]
    path = tmp_path / "preflight.yml"
    path.write_text(yaml.safe_dump(play, sort_keys=False))
    walkthrough = ansible_playbook(path, env=azure_double.env)
    assert walkthrough.rc == 0, walkthrough.output
    other = {
        "vnet_address_prefixes": ["10.0.0.0/8", "fd00:db8::/48"],
        "vnet_subnet_prefix": "fd00:db8:0:1::/64",
        "aks_service_cidr": "172.16.0.0/16",
        "aks_dns_service_ip": "172.16.0.10",
        "aks_docker_bridge_cidr": "",
    }
    assert ansible_playbook(path, env=azure_double.env, extra_vars=other).rc == 0
    assert azure_double.requests() == []


# --- item 10: a misspelled tag fails with the walkthrough's tags ----------------------------------------


def run_demo(args: list[str], env: dict[str, str], tmp_path) -> subprocess.CompletedProcess:
    """ansible-playbook playbooks/demo.yml ARGS, as the ansible_playbook fixture runs it (for options it lacks)."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    return subprocess.run(
        [str(ANSIBLE_PLAYBOOK), str(DEMO), *args],
        cwd=ROOT,
        env={
            **os.environ,
            "HOME": str(home),
            "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
            "ANSIBLE_NOCOLOR": "1",
            **env,
        },
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


@pytest.mark.parametrize("option", ["--tags", "--skip-tags"])
def test_an_unknown_tag_fails_with_the_list_of_steps(lab, azure_double, kube_lab, tmp_path, option):
    run = run_demo([option, "deyn"], lab, tmp_path)
    assert run.returncode != 0
    out = run.stdout + run.stderr
    assert "Unknown tag: deyn." in out
    assert "The walkthrough's steps are, in order: " + ", ".join(STEPS) in out
    assert azure_double.requests() == []
    assert kube_writes(kube_lab) == []


def test_step_and_role_tags_pass_the_tag_check(lab, kube_lab, tmp_path):
    """Known tags get past the check (here to the next one: the workload of step 5 is missing)."""
    run = run_demo(
        ["--tags", "deny,policies_deny", "--skip-tags", "feature", "-e", "netpol_target=existing"],
        kube_lab.env,
        tmp_path,
    )
    out = run.stdout + run.stderr
    assert run.returncode != 0
    assert "Unknown tag" not in out, out
    assert "Run `ansible-playbook playbooks/demo.yml --tags workload` first" in out, out


def test_molecules_own_skip_tags_pass_the_tag_check(lab, kube_lab, tmp_path):
    """Molecule skips notest, molecule-notest and molecule-idempotence-notest on every converge."""
    run = run_demo(
        ["--tags", "deny", "--skip-tags", "molecule-notest,notest,molecule-idempotence-notest,nottest"],
        kube_lab.env,
        tmp_path,
    )
    out = run.stdout + run.stderr
    assert run.returncode != 0
    assert "Unknown tag: nottest." in out, out  # a near miss is still refused


def test_the_known_tags_are_the_playbooks_tags():
    """The list the tag check accepts is exactly what the playbook carries (no drift either way)."""
    listed = subprocess.run(
        [str(ANSIBLE_PLAYBOOK), str(DEMO), "--list-tags"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    tags = set()
    for found in re.findall(r"TAGS: \[([^\]]*)\]", listed):
        tags.update(t.strip() for t in found.split(",") if t.strip())
    play = yaml.safe_load(DEMO.read_text())[0]
    assert set(play["vars"]["__netpol_steps"]) == set(STEPS)
    assert tags - {"always", "never"} == set(play["vars"]["__netpol_steps"]) | set(play["vars"]["__netpol_role_tags"])


def test_the_engine_check_accepts_what_probe_connectivity_accepts():
    """The demo's netpol_engine check lists exactly the module's engine choices (no drift either way)."""
    from ansible_collections.netpol.aks.plugins.modules import probe_connectivity

    tasks = yaml.safe_load((ROOT / "playbooks" / "steps" / "preflight_kube.yml").read_text())
    (check,) = [t for t in tasks if t["name"].startswith("Check the engine")]
    assert check["vars"]["__netpol_engines"] == probe_connectivity.argument_spec()["engine"]["choices"]


# --- item 11: a step that needs an earlier one says which ---------------------------------------------


def test_a_kubernetes_step_on_a_fresh_lab_asks_for_the_credentials_step(ansible_playbook, lab, azure_double, kube_lab):
    run = ansible_playbook(DEMO, env=lab, extra_vars=FAST, tags="deny")
    assert run.rc != 0
    message = failure(run)
    assert "aks-kubeconfig does not exist: the Kubernetes steps use the kubeconfig that step 4 writes" in message
    assert "Run `ansible-playbook playbooks/demo.yml --tags credentials` first" in message
    assert "Could not find or access" not in run.output
    assert kube_writes(kube_lab) == []


def test_a_probe_step_without_the_workload_asks_for_the_workload_step(ansible_playbook, lab, azure_double, kube_lab):
    azure = ansible_playbook(DEMO, env=lab, extra_vars=FAST, tags="feature,network,cluster,credentials")
    assert azure.rc == 0, azure.output
    run = ansible_playbook(DEMO, env=lab, extra_vars=FAST, tags="deny")
    assert run.rc != 0
    message = failure(run)
    assert "Pod test-np and Service api in namespace netpol-demo do not exist" in message
    assert "Run `ansible-playbook playbooks/demo.yml --tags workload` first" in message
    assert 'namespaces \\"netpol-demo\\" not found' not in run.output
    assert kube_writes(kube_lab) == []


# --- item 12: the lab is never confused with Azure ----------------------------------------------------


def test_a_lab_that_is_up_but_not_loaded_stops_the_run(tmp_path):
    """Real-looking AZURE_* in the shell, a .lab/env in the working directory, no `source .lab/env`."""
    (tmp_path / ".lab").mkdir()
    (tmp_path / ".lab" / "env").write_text("export NETPOL_LAB_DIR=...\n")
    env = {"PWD": str(tmp_path), "AZURE_SUBSCRIPTION_ID": "00000000-0000-0000-0000-00000000cafe", "NETPOL_LAB_DIR": ""}
    # A safety net: were the check missing, preflight would still stop the run before Azure is contacted.
    run = run_demo(["--tags", "feature", "-e", '{"aks_providers": ["not a provider"]}'], env, tmp_path)
    out = run.stdout + run.stderr
    assert run.returncode != 0
    assert f"A local lab is up ({tmp_path.resolve()}/.lab/env) but its environment is not loaded" in out
    assert (
        "this run would go to REAL Azure (https://management.azure.com, subscription 00000000-0000-0000-0000-00000000cafe)"
        in out
    )
    assert "To run on the lab: `source .lab/env`" in out
    assert "must be resource provider namespaces" not in out


def test_a_loaded_lab_environment_without_the_lab_stops_the_run(azure_double, kube_lab, tmp_path):
    env = {**azure_double.env, **kube_lab.env, "NETPOL_LAB_DIR": str(tmp_path / "removed-by-lab-down")}
    run = run_demo(["--tags", "deny"], env, tmp_path)
    out = run.stdout + run.stderr
    assert run.returncode != 0
    assert "The local lab's environment is loaded" in out
    assert "but the lab is down" in out
    assert "open a new shell, or unset what .lab/env exported" in out
    assert azure_double.requests() == []
    assert kube_writes(kube_lab) == []


def test_the_subscription_is_named_before_the_first_write(ansible_playbook, azure_double, tmp_path):
    extra = {**FAST, "aks_kubeconfig_path": str(tmp_path / "kubeconfig")}
    run = ansible_playbook(DEMO, env=azure_double.env, extra_vars=extra, tags="network")
    assert run.rc == 0, run.output
    tasks = [r["task"] for r in run.task_results()]
    said = tasks.index("Say which Azure subscription this run changes")
    first_write = next(i for i, r in enumerate(run.task_results()) if r.get("changed"))
    assert said < first_write
    msg = run.result("Say which Azure subscription this run changes")["msg"]
    assert f"subscription {azure_double.subscription_id} at {azure_double.url} is changed" in msg
    assert msg.startswith("A LOCAL AZURE DOUBLE (not Azure)")


def test_real_azure_is_named_as_such(ansible_playbook, tmp_path):
    """The message for real Azure, from the task file alone (nothing is sent anywhere)."""
    play = [
        {
            "name": "Say where the Azure steps go",
            "hosts": "localhost",
            "gather_facts": False,
            # The demo's play imports the vnet role (step 2), so its defaults (vnet_location) are visible here too.
            "vars_files": [str(ROOT / "playbooks" / "vars" / "demo.yml"), str(ROOT / "roles/vnet/defaults/main.yml")],
            "tasks": [{"name": "Say", "ansible.builtin.import_tasks": str(ROOT / "playbooks/steps/subscription.yml")}],
        }
    ]
    path = tmp_path / "say.yml"
    path.write_text(yaml.safe_dump(play, sort_keys=False))
    run = ansible_playbook(
        path, env={"AZURE_SUBSCRIPTION_ID": "1234", "AZURE_RESOURCE_MANAGER_ENDPOINT": "", "NETPOL_LAB_DIR": ""}
    )
    assert run.rc == 0, run.output
    msg = run.result("Say which Azure subscription this run changes")["msg"]
    assert msg.startswith("REAL AZURE: the subscription 1234 at https://management.azure.com is changed")
    assert "billed until `--tags teardown`" in msg


def test_no_subscription_stops_the_azure_steps(ansible_playbook, tmp_path):
    env = {"AZURE_SUBSCRIPTION_ID": "", "NETPOL_LAB_DIR": ""}
    run = ansible_playbook(DEMO, env=env, tags="network")
    assert run.rc != 0
    assert "No Azure subscription is set, so the Azure steps cannot run. On the local lab: `make lab-up" in failure(run)


# --- issue 11 item 12: check mode end to end -----------------------------------------------------------


def test_check_mode_on_a_fresh_lab_runs_through_and_says_what_it_cannot_predict(
    ansible_playbook, lab, azure_double, kube_lab
):
    run = ansible_playbook(DEMO, env=lab, extra_vars=FAST, check=True, diff=True, json_output=False)
    assert run.rc == 0, run.output
    # Steps 1-4 are predicted ...
    assert "changed: [localhost]" in run.stdout
    assert re.search(
        r"TASK \[netpol\.aks\.aks : Create or update the cluster\][^\n]*\n(?:[^\n]*\n)*?changed:", run.stdout
    )
    # ... steps 5-9 cannot be, and the run says so instead of failing on a missing kubeconfig.
    assert "so steps 5-9 (workload, baseline, deny, allow, label) cannot be predicted and are not run" in run.stdout
    assert "Could not find or access" not in run.output
    assert [
        r
        for r in azure_double.arm_requests()
        if r["method"] in ("PUT", "PATCH", "DELETE", "POST") and "/list" not in r["path"]
    ] == []
    assert kube_writes(kube_lab) == []
