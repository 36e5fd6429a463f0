"""aks_credentials: kubeconfig handling without Azure (rename, describe, private write)."""

from __future__ import annotations

import os
import stat

import pytest
import yaml

from ansible_collections.netpol.aks.plugins.module_utils._azure import AzureModuleError
from ansible_collections.netpol.aks.plugins.modules import aks_credentials as creds

KUBECONFIG = yaml.safe_dump(
    {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "myAKSCluster", "cluster": {"server": "https://x.hcp.eastus.azmk8s.io:443"}}],
        "contexts": [
            {"name": "myAKSCluster", "context": {"cluster": "myAKSCluster", "user": "clusterUser_rg_myAKSCluster"}}
        ],
        "current-context": "myAKSCluster",
        "users": [{"name": "clusterUser_rg_myAKSCluster", "user": {"token": "s3cr3t"}}],
    }
).encode()


def test_describe():
    assert creds.describe_kubeconfig(KUBECONFIG) == ("myAKSCluster", "https://x.hcp.eastus.azmk8s.io:443")


def test_rename_context_is_stable():
    renamed = creds.rename_context(KUBECONFIG, "netpol-demo")
    assert creds.describe_kubeconfig(renamed) == ("netpol-demo", "https://x.hcp.eastus.azmk8s.io:443")
    assert creds.rename_context(KUBECONFIG, "netpol-demo") == renamed
    assert creds.rename_context(renamed, "netpol-demo") == renamed
    assert creds.rename_context(KUBECONFIG, "myAKSCluster") == KUBECONFIG


def test_invalid_kubeconfig_never_echoes_the_content():
    with pytest.raises(AzureModuleError) as excinfo:
        creds.parse_kubeconfig(b"token: [s3cr3t")
    assert "s3cr3t" not in str(excinfo.value)


def test_write_private_mode_0600(tmp_path):
    path = tmp_path / "sub" / "config"
    creds.write_private(str(path), b"abc")
    assert path.read_bytes() == b"abc"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert creds.read_existing(str(path)) == (b"abc", 0o600)
    assert creds.read_existing(str(tmp_path / "none")) == (None, None)
    assert [p.name for p in path.parent.iterdir()] == ["config"]  # no temporary file left


def test_every_missing_parent_directory_is_created_0700(tmp_path):
    existing = tmp_path / "home"
    existing.mkdir(mode=0o755)
    existing.chmod(0o755)
    path = existing / "a" / "b" / "c" / "config"
    old = os.umask(0o022)  # the usual umask: os.makedirs would give the parents 0755
    try:
        creds.write_private(str(path), b"abc")
    finally:
        os.umask(old)
    for directory in (existing / "a", existing / "a" / "b", existing / "a" / "b" / "c"):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700, directory
    assert stat.S_IMODE(existing.stat().st_mode) == 0o755  # what existed is left alone
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
