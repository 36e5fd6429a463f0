# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""One module_defaults for group/netpol.aks.kube serves the collection's Kubernetes modules and
kubernetes.core's (the group extends group/kubernetes.core.k8s; the options are kubernetes.core's)."""

from __future__ import annotations

import os


def test_one_module_defaults_serves_both_collections(ansible_playbook, kube_double, tmp_path):
    playbook = tmp_path / "group.yml"
    playbook.write_text(
        f"""
- hosts: localhost
  gather_facts: false
  module_defaults:
    group/netpol.aks.kube:
      kubeconfig: {kube_double.kubeconfig}
      impersonate_user: alice
  tasks:
    - name: Core
      kubernetes.core.k8s_info:
        kind: Namespace
        name: default
    - name: Reach
      netpol.aks.reachability_info:
        ports: [{{port: 80}}]
"""
    )
    env = {k: "" for k in os.environ if k.startswith("K8S_AUTH_") or k == "KUBECONFIG"}
    run = ansible_playbook(playbook, env=env)
    assert run.rc == 0, run.output
    assert run.result("Core")["resources"][0]["metadata"]["name"] == "default"
    assert run.result("Reach")["summary"]["namespaces"] >= 4
    # Both modules connected with the group's options (the double records who asked).
    assert len([r for r in kube_double.requests() if r["path"] == "/api/v1/namespaces"]) >= 1
