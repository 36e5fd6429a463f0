# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""One module_defaults for group/netpol.aks.kube serves the collection's Kubernetes modules and
kubernetes.core's (the group extends group/kubernetes.core.k8s; the options are kubernetes.core's).

On the real lab (`kube_lab`): the group impersonates a user, and the real API server's RBAC decides what
that user may read, so the answers show that both modules took the group's options."""

from __future__ import annotations

import os
import re

import pytest
from kubernetes import client

READER = "netpol-group-reader"


@pytest.fixture
def alice_may_view(kube_lab):
    """User alice gets the built-in `view` ClusterRole (namespaces, pods, NetworkPolicies); nobody else."""
    rbac = client.RbacAuthorizationV1Api(kube_lab.direct_client())
    rbac.create_cluster_role_binding(
        {
            "metadata": {"name": READER},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "alice"}],
        }
    )
    yield
    rbac.delete_cluster_role_binding(READER)


def _playbook(tmp_path, kube_lab, user):
    playbook = tmp_path / f"group-{user}.yml"
    playbook.write_text(
        f"""
- hosts: localhost
  gather_facts: false
  module_defaults:
    group/netpol.aks.kube:
      kubeconfig: {kube_lab.kubeconfig}
      impersonate_user: {user}
  tasks:
    - name: Core
      kubernetes.core.k8s_info:
        kind: Namespace
        name: default
      ignore_errors: true
    - name: Reach
      netpol.aks.reachability_info:
        ports: [{{port: 80}}]
      ignore_errors: true
"""
    )
    return playbook


def test_one_module_defaults_serves_both_collections(ansible_playbook, kube_lab, alice_may_view, tmp_path):
    env = {k: "" for k in os.environ if k.startswith("K8S_AUTH_") or k == "KUBECONFIG"}
    run = ansible_playbook(_playbook(tmp_path, kube_lab, "alice"), env=env)
    assert run.rc == 0, run.output
    assert run.result("Core")["resources"][0]["metadata"]["name"] == "default"
    assert run.result("Reach")["summary"]["namespaces"] >= 4
    assert len([r for r in kube_lab.requests() if r["path"] == "/api/v1/namespaces"]) >= 1
    # The same playbook as a user without the binding: both modules are refused, as that user.
    refused = ansible_playbook(_playbook(tmp_path, kube_lab, "mallory"), env=env)
    assert refused.result("Core")["failed"] is True
    # kubernetes.core quotes the API server's Status body, with its quotes escaped.
    assert re.search(r'User \\*"mallory\\*" cannot get resource \\*"namespaces', refused.result("Core")["msg"])
    assert refused.result("Reach")["failed"] is True
    assert refused.result("Reach")["status"] == 403
    assert 'User "mallory" cannot list resource "namespaces"' in refused.result("Reach")["msg"]
