"""aks_credentials through ansible-playbook against the Azure double."""

from __future__ import annotations

import base64
import stat

import trustme
import yaml

from tests.integration._azure_playbooks import changed_flags
from tests.integration._azure_playbooks import ladder
from tests.integration._azure_playbooks import ladder_names
from tests.integration._azure_playbooks import sdk_clients
from tests.integration._azure_playbooks import write_playbook

GROUP = "myResourceGroup-NP"
CLUSTER = [
    {"name": "Group", "netpol.aks.resource_group": {"name": GROUP, "location": "eastus"}},
    {
        "name": "Cluster",
        "netpol.aks.aks_cluster": {
            "name": "myAKSCluster",
            "resource_group": GROUP,
            "location": "eastus",
            "network_plugin": "azure",
            "network_policy": "calico",
        },
    },
]
TOKEN = "lab-kube-token-5f0c2a9e-never-printed"


def lab_kube_info(azure_double, tmp_path) -> dict:
    """What the lab hands the Azure double (``set_kube``): its Kubernetes url, CA file and token. Made up here:
    these tests read the kubeconfig, nothing connects to it (the real lab's: test_vnet_aks_roles.py)."""
    ca = trustme.CA()
    ca_file = tmp_path / "kube-ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    info = {"url": "https://127.0.0.1:16443", "ca_file": str(ca_file), "token": TOKEN}
    azure_double.set_kube(info)
    return info


def test_credentials_ladder_mode_and_delete(ansible_playbook, azure_double, tmp_path):
    info = lab_kube_info(azure_double, tmp_path)
    dest = tmp_path / "kube" / "netpol-aks"
    args = {"name": "myAKSCluster", "resource_group": GROUP, "dest": str(dest), "context_name": "netpol-demo"}
    absent = {**args, "state": "absent"}
    tasks = [
        *CLUSTER,
        *ladder("aks_credentials", args, "Credentials"),
        {"name": "Delete", "netpol.aks.aks_credentials": absent},
        {"name": "Delete again", "netpol.aks.aks_credentials": absent},
        *ladder("aks_credentials", args, "Credentials back"),
    ]
    playbook = write_playbook(tmp_path, tasks)
    run = ansible_playbook(playbook, env=azure_double.env, diff=True)
    assert run.rc == 0, run.output
    assert changed_flags(run, ladder_names("Credentials")) == [True, True, False, False]
    assert changed_flags(run, ["Delete", "Delete again"]) == [True, False]
    assert changed_flags(run, ladder_names("Credentials back")) == [True, True, False, False]

    assert stat.S_IMODE(dest.stat().st_mode) == 0o600
    config = yaml.safe_load(dest.read_text())
    assert config["current-context"] == "netpol-demo"
    assert config["clusters"][0]["cluster"]["server"] == info["url"]
    assert config["users"][0]["user"]["token"] == TOKEN
    result = run.result("Credentials")
    assert result["path"] == str(dest)
    assert result["context"] == "netpol-demo"
    assert result["server"] == info["url"]

    # the kubeconfig (token, CA data) appears in no output, even at -vvv with --diff (the default
    # callback, which prints module arguments and results); the same playbook writes it all again
    dest.unlink()
    verbose = ansible_playbook(playbook, env=azure_double.env, diff=True, verbosity=3, json_output=False)
    assert verbose.rc == 0, verbose.output
    assert "netpol-demo" in verbose.output  # the results are printed...
    ca_data = config["clusters"][0]["cluster"]["certificate-authority-data"]
    for secret in (TOKEN, ca_data[:60], base64.b64encode(dest.read_bytes()).decode()[:60]):
        assert secret not in verbose.output  # ...but never the kubeconfig
        assert secret not in run.output
    posts = [r for r in azure_double.arm_requests("POST") if r["path"].endswith("/listClusterUserCredential")]
    assert posts, "the user credentials were fetched"


def test_changed_only_when_content_or_mode_differs(ansible_playbook, azure_double, tmp_path):
    dest = tmp_path / "config"
    args = {"name": "myAKSCluster", "resource_group": GROUP, "dest": str(dest)}
    write = write_playbook(tmp_path, [*CLUSTER, {"name": "Write", "netpol.aks.aks_credentials": args}], "w.yml")
    again = write_playbook(tmp_path, [{"name": "Write", "netpol.aks.aks_credentials": args}], "again.yml")
    assert ansible_playbook(write, env=azure_double.env).rc == 0
    assert ansible_playbook(again, env=azure_double.env).result("Write")["changed"] is False

    dest.chmod(0o644)
    run = ansible_playbook(again, env=azure_double.env)
    assert run.result("Write")["changed"] is True
    assert stat.S_IMODE(dest.stat().st_mode) == 0o600

    dest.write_text(dest.read_text() + "# edited\n")
    assert ansible_playbook(again, env=azure_double.env).result("Write")["changed"] is True
    assert "# edited" not in dest.read_text()
    # without a linked Kubernetes the kubeconfig points at the cluster's fqdn
    server = yaml.safe_load(dest.read_text())["clusters"][0]["cluster"]["server"]
    assert server.startswith("https://myakscluster-")
    assert server.endswith(".hcp.eastus.azmk8s.io:443")
    assert yaml.safe_load(dest.read_text())["current-context"] == "myAKSCluster"


def test_admin_credentials_and_missing_cluster(ansible_playbook, azure_double, tmp_path):
    admin = {
        "name": "myAKSCluster",
        "resource_group": GROUP,
        "dest": str(tmp_path / "admin"),
        "credential_type": "admin",
    }
    missing = {"name": "nope", "resource_group": GROUP, "dest": str(tmp_path / "nope")}
    tasks = [
        *CLUSTER,
        {"name": "Admin", "netpol.aks.aks_credentials": admin},
        {"name": "Missing", "netpol.aks.aks_credentials": missing, "ignore_errors": True},
    ]
    run = ansible_playbook(write_playbook(tmp_path, tasks), env=azure_double.env)
    assert run.result("Admin")["context"] == "myAKSCluster-admin"
    assert any(r["path"].endswith("/listClusterAdminCredential") for r in azure_double.arm_requests("POST"))
    missing_result = run.result("Missing")
    assert missing_result["failed"]
    assert "ResourceNotFound" in missing_result["msg"]
    assert not (tmp_path / "nope").exists()


def test_fake_info_does_not_hand_out_the_kubernetes_token(azure_double, tmp_path):
    info = lab_kube_info(azure_double, tmp_path)
    published = azure_double.control("GET", "/_fake/info")
    assert TOKEN not in repr(published)
    assert published["kube"] == {"url": info["url"], "ca_file": info["ca_file"]}
    # the token still reaches the one place that needs it: the kubeconfig of listClusterUserCredential
    clients = sdk_clients(azure_double)
    clients["resources"].resource_groups.create_or_update(GROUP, {"location": "eastus"})
    cluster = {
        "location": "eastus",
        "identity": {"type": "SystemAssigned"},
        "properties": {"dnsPrefix": "np", "agentPoolProfiles": [{"name": "nodepool1", "count": 1, "mode": "System"}]},
    }
    clients["aks"].managed_clusters.begin_create_or_update(GROUP, "myAKSCluster", cluster).result()
    kubeconfig = clients["aks"].managed_clusters.list_cluster_user_credentials(GROUP, "myAKSCluster").kubeconfigs[0]
    assert yaml.safe_load(kubeconfig.value)["users"][0]["user"]["token"] == TOKEN
