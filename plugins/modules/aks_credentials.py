#!/usr/bin/python
# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# ruff: noqa: E402  (Ansible modules import after DOCUMENTATION, EXAMPLES and RETURN)
from __future__ import annotations

DOCUMENTATION = r"""
module: aks_credentials
short_description: Write the kubeconfig of an AKS cluster to a file
version_added: "0.1.0"
description:
  - Fetches the user or admin credentials of an AKS cluster (C(az aks get-credentials [--admin])) and writes the
    kubeconfig to O(dest) with mode C(0600). Unlike C(az aks get-credentials) it writes a file of its own instead
    of merging into C(~/.kube/config).
  - Reports a change only when the file content (or its mode) differs.
  - The kubeconfig holds secrets - its content is never returned or printed, not even in diff mode or at C(-vvv);
    the diff shows a checksum.
options:
  name:
    description: Name of the managed cluster.
    type: str
    required: true
  resource_group:
    description: Resource group of the cluster.
    type: str
    required: true
  credential_type:
    description:
      - V(user) calls C(listClusterUserCredential); V(admin) calls C(listClusterAdminCredential), which fails on
        clusters with local accounts disabled.
    type: str
    choices: [user, admin]
    default: user
  dest:
    description: Path of the kubeconfig file to write (parent directories are created with mode C(0700)).
    type: path
    required: true
  context_name:
    description: Rename the kubeconfig's context (and current context) to this name.
    type: str
  state:
    description: V(present) writes the file; V(absent) removes it (without contacting Azure).
    type: str
    choices: [present, absent]
    default: present
extends_documentation_fragment:
  - netpol.aks.azure
  - netpol.aks.attributes
attributes:
  check_mode:
    support: full
    details:
      - The credentials are read (a read-only POST) to predict whether the file would change; nothing is written.
  diff_mode:
    support: full
    details:
      - The diff shows the path, context and a SHA-256 checksum, never the content.
  idempotent:
    support: full
author:
  - netpol.aks contributors (@netpol)
"""

EXAMPLES = r"""
- name: Get the cluster's credentials (az aks get-credentials)
  netpol.aks.aks_credentials:
    name: myAKSCluster
    resource_group: myResourceGroup-NP
    dest: ~/.kube/netpol-aks
    context_name: netpol-demo
  register: creds

- name: Use them with kubernetes.core
  kubernetes.core.k8s_info:
    kind: Namespace
    kubeconfig: "{{ creds.path }}"
"""

RETURN = r"""
path:
  description: Absolute path of the kubeconfig file.
  returned: always
  type: str
  sample: /home/me/.kube/netpol-aks
context:
  description:
    - The kubeconfig's current context (O(context_name) when given; otherwise AKS's, the cluster name).
    - The C(aks) role keeps it, with RV(path), as the facts C(aks_kubeconfig_context_name) and C(aks_kubeconfig).
  returned: when state is present
  type: str
  sample: myAKSCluster
server:
  description:
    - API server URL of the current context's cluster.
    - Null in check mode when the cluster does not exist yet (the kubeconfig is predicted, not fetched).
  returned: when state is present
  type: str
  sample: https://myaksclust-myresourcegroup-0000-1a2b3c4d.hcp.eastus.azmk8s.io:443
checksum:
  description:
    - SHA-256 of the file content (the content itself is never returned).
    - Null in check mode when the cluster does not exist yet.
  returned: when state is present
  type: str
  sample: 9f2c4e0b8d1a7c3e5f6a2b4d8e0c1f3a5b7d9e2c4a6f8b0d2e4c6a8f0b2d4e6c
"""

import hashlib
import os
import stat
import tempfile
import traceback
from typing import Any

from ansible_collections.netpol.aks.plugins.module_utils._arm import check_names
from ansible_collections.netpol.aks.plugins.module_utils._azure import AzureModule
from ansible_collections.netpol.aks.plugins.module_utils._azure import AzureModuleError
from ansible_collections.netpol.aks.plugins.module_utils._azure import azure_call

try:
    import yaml
    from azure.mgmt.containerservice import ContainerServiceClient
except ImportError:
    IMPORT_ERROR: str | None = traceback.format_exc()
else:
    IMPORT_ERROR = None

FILE_MODE = 0o600
DIR_MODE = 0o700

ARGSPEC: dict[str, Any] = {
    "name": {"type": "str", "required": True},
    "resource_group": {"type": "str", "required": True},
    "credential_type": {"type": "str", "choices": ["user", "admin"], "default": "user"},
    "dest": {"type": "path", "required": True},
    "context_name": {"type": "str"},
    "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
}


def fetch_kubeconfig(module: AzureModule) -> bytes:
    params = module.params
    name, group, kind = params["name"], params["resource_group"], params["credential_type"]
    client = module.client(ContainerServiceClient)
    with azure_call(f"list the {kind} credentials of AKS cluster {name}"):
        if kind == "admin":
            results = client.managed_clusters.list_cluster_admin_credentials(group, name)
        else:
            results = client.managed_clusters.list_cluster_user_credentials(group, name)
    kubeconfigs = list(results.kubeconfigs or [])
    if not kubeconfigs or not kubeconfigs[0].value:
        raise AzureModuleError(f"Failed to list the {kind} credentials of AKS cluster {name}: no kubeconfig returned")
    return bytes(kubeconfigs[0].value)


def parse_kubeconfig(content: bytes) -> dict[str, Any]:
    """Load a kubeconfig; errors never echo the content (it holds secrets)."""
    try:
        config = yaml.safe_load(content)
    except yaml.YAMLError:
        config = None
    if not isinstance(config, dict):
        raise AzureModuleError(
            "The kubeconfig returned by AKS is not a YAML mapping (content not shown: it holds secrets)"
        )
    return config


def rename_context(content: bytes, new_name: str) -> bytes:
    """The kubeconfig with its current context (or its only context) renamed to ``new_name``."""
    config = parse_kubeconfig(content)
    contexts = config.get("contexts") or []
    current = config.get("current-context") or (contexts[0].get("name") if contexts else None)
    if current == new_name:
        return content
    for ctx in contexts:
        if ctx.get("name") == current:
            ctx["name"] = new_name
    config["current-context"] = new_name
    return yaml.safe_dump(config, default_flow_style=False, sort_keys=False).encode()


def describe_kubeconfig(content: bytes) -> tuple[str | None, str | None]:
    """(current context, its cluster's server URL)."""
    config = parse_kubeconfig(content)
    context = config.get("current-context")
    cluster_name = None
    for ctx in config.get("contexts") or []:
        if ctx.get("name") == context:
            cluster_name = (ctx.get("context") or {}).get("cluster")
    server = None
    for cluster in config.get("clusters") or []:
        if cluster.get("name") == cluster_name:
            server = (cluster.get("cluster") or {}).get("server")
    return context, server


def checksum(content: bytes | None) -> str | None:
    return hashlib.sha256(content).hexdigest() if content is not None else None


def read_existing(path: str) -> tuple[bytes | None, int | None]:
    try:
        with open(path, "rb") as handle:
            return handle.read(), stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        return None, None


def make_private_dirs(directory: str) -> None:
    """Create ``directory`` and every missing parent with mode 0700 (os.makedirs gives the parents the umask's
    default, usually 0755); directories that exist are left as they are."""
    missing = []
    current = os.path.abspath(directory)
    while not os.path.isdir(current):
        missing.append(current)
        parent = os.path.dirname(current)
        if parent == current:
            break
        current = parent
    for new in reversed(missing):
        try:
            os.mkdir(new, DIR_MODE)
        except FileExistsError:
            continue
        os.chmod(new, DIR_MODE)  # mkdir's mode is reduced by the umask


def write_private(path: str, content: bytes) -> None:
    """Write ``content`` atomically with mode 0600 (never world- or group-readable, even briefly)."""
    directory = os.path.dirname(path) or "."
    make_private_dirs(directory)
    fd, tmp = tempfile.mkstemp(prefix=".kubeconfig-", dir=directory)
    try:
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def ensure_present(module: AzureModule, path: str) -> dict[str, Any]:
    try:
        content = fetch_kubeconfig(module)
    except AzureModuleError as err:
        if not (module.check_mode and err.status == 404):
            raise
        # check mode before the cluster exists (e.g. the whole demo with --check): the file would be written
        module.warn(
            f"AKS cluster {module.params['name']} does not exist (yet); in check mode the kubeconfig is predicted"
        )
        existing, mode = read_existing(path)
        return {
            "changed": True,
            "path": path,
            "context": module.params["context_name"] or module.params["name"],
            "server": None,
            "checksum": None,
            "diff": {
                "before": {"path": path, "checksum": checksum(existing), "mode": f"{mode:04o}" if mode else None},
                "after": {"path": path, "checksum": None, "mode": f"{FILE_MODE:04o}"},
            },
        }
    if module.params["context_name"]:
        content = rename_context(content, module.params["context_name"])
    context, server = describe_kubeconfig(content)
    existing, mode = read_existing(path)
    changed = existing != content or mode != FILE_MODE
    if changed and not module.check_mode:
        if existing == content:
            os.chmod(path, FILE_MODE)
        else:
            write_private(path, content)
    before = {"path": path, "checksum": checksum(existing), "mode": f"{mode:04o}" if mode is not None else None}
    after = {"path": path, "checksum": checksum(content), "mode": f"{FILE_MODE:04o}"}
    return {
        "changed": changed,
        "path": path,
        "context": context,
        "server": server,
        "checksum": checksum(content),
        "diff": {"before": before, "after": after},
    }


def ensure_absent(module: AzureModule, path: str) -> dict[str, Any]:
    existing, _mode = read_existing(path)
    if existing is not None and not module.check_mode:
        os.unlink(path)
    return {
        "changed": existing is not None,
        "path": path,
        "diff": {"before": {"path": path, "checksum": checksum(existing)}, "after": {"path": path, "checksum": None}},
    }


def run(module: AzureModule) -> dict[str, Any]:
    path = os.path.abspath(module.params["dest"])  # type path: ~ and variables already expanded
    if os.path.isdir(path):
        raise AzureModuleError(f"dest: {path} is a directory; give the path of the kubeconfig file to write")
    if module.params["state"] == "absent":
        return ensure_absent(module, path)
    check_names(
        ("resource_group", module.params["resource_group"], "resource_group"),
        ("managed_cluster", module.params["name"], "name"),
    )
    return ensure_present(module, path)


def main() -> None:
    module = AzureModule(argument_spec=ARGSPEC, supports_check_mode=True)
    module.require_library("azure-mgmt-containerservice and PyYAML", IMPORT_ERROR)
    try:
        result = run(module)
    except AzureModuleError as err:
        module.fail_from_error(err)
    except OSError as err:
        module.fail_json(msg=f"dest: cannot write {module.params['dest']}: {err.strerror}")
    module.exit_json(**result)


if __name__ == "__main__":
    main()
