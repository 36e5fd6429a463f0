# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The real kubernetes.core modules, through ansible-playbook, against the real lab (`kube_lab`): a real API server, node and kube-router."""

from __future__ import annotations

import textwrap

import kubernetes
import pytest

NS = "netpol-demo"

WORKLOAD = textwrap.dedent(
    """\
    - name: Walkthrough workload on the lab cluster
      hosts: localhost
      gather_facts: false
      tasks:
        - name: Namespace
          kubernetes.core.k8s:
            definition:
              apiVersion: v1
              kind: Namespace
              metadata:
                name: netpol-demo
                labels: {pod-security.kubernetes.io/enforce: restricted}
        - name: Deployment api
          kubernetes.core.k8s:
            wait: true
            wait_sleep: 1
            wait_timeout: 60
            definition:
              apiVersion: apps/v1
              kind: Deployment
              metadata: {name: api, namespace: netpol-demo, labels: {app: api}}
              spec:
                replicas: 1
                selector: {matchLabels: {app: api}}
                template:
                  metadata: {labels: {app: api}}
                  spec:
                    securityContext: {runAsNonRoot: true, seccompProfile: {type: RuntimeDefault}}
                    containers:
                      - name: nginx
                        image: nginxinc/nginx-unprivileged:1.29
                        ports: [{name: http, containerPort: 8080}]
                        resources: {limits: {cpu: 100m, memory: 64Mi}}
                        securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}
        - name: Service api
          kubernetes.core.k8s:
            definition:
              apiVersion: v1
              kind: Service
              metadata: {name: api, namespace: netpol-demo}
              spec:
                selector: {app: api}
                ports: [{port: 80, targetPort: http}]
        - name: Client pod test-np
          kubernetes.core.k8s:
            wait: true
            wait_sleep: 1
            wait_timeout: 60
            definition:
              apiVersion: v1
              kind: Pod
              metadata: {name: test-np, namespace: netpol-demo}
              spec:
                securityContext: {runAsNonRoot: true, runAsUser: 65534, seccompProfile: {type: RuntimeDefault}}
                containers:
                  - name: client
                    image: busybox:1.36
                    command: [sleep, "3600"]
                    resources: {limits: {cpu: 50m, memory: 16Mi}}
                    securityContext:
                      allowPrivilegeEscalation: false
                      readOnlyRootFilesystem: true
                      capabilities: {drop: [ALL]}
        - name: Baseline probe
          kubernetes.core.k8s_exec:
            namespace: netpol-demo
            pod: test-np
            command: wget -qO- --timeout=2 http://api
          register: baseline
          changed_when: false
        - name: Check the baseline answer
          ansible.builtin.assert:
            that:
              - baseline.rc == 0
              - "'Welcome to nginx!' in baseline.stdout"
    """
)

LABELS = textwrap.dedent(
    """\
    - name: Labels, server-side apply and k8s_info on the lab cluster
      hosts: localhost
      gather_facts: false
      tasks:
        - name: Label the client
          kubernetes.core.k8s:
            state: patched
            definition:
              apiVersion: v1
              kind: Pod
              metadata: {name: test-np, namespace: netpol-demo, labels: {app: api}}
        - name: Remove the stale label
          kubernetes.core.k8s:
            state: patched
            merge_type: merge
            definition:
              apiVersion: v1
              kind: Pod
              metadata: {name: test-np, namespace: netpol-demo, labels: {stale: null}}
        - name: Deny policy (server-side apply)
          kubernetes.core.k8s:
            apply: true
            server_side_apply: {field_manager: netpol-aks}
            definition:
              apiVersion: networking.k8s.io/v1
              kind: NetworkPolicy
              metadata: {name: deny, namespace: netpol-demo}
              # Deny all ingress by policyTypes alone: a re-applied `ingress: []` is not a no-op on
              # kube-apiserver (stored as no rules, it differs from the empty list applied, so the
              # NetworkPolicy's generation goes up on every apply and kubernetes.core reports a change).
              spec:
                podSelector: {matchLabels: {app: api}}
                policyTypes: [Ingress]
        - name: Pods labelled app=api
          kubernetes.core.k8s_info:
            kind: Pod
            namespace: netpol-demo
            label_selectors: [app=api]
          register: api_pods
        - name: Pods with the stale label
          kubernetes.core.k8s_info:
            kind: Pod
            namespace: netpol-demo
            label_selectors: [stale]
          register: stale_pods
        - name: Probe under the deny policy
          kubernetes.core.k8s_exec:
            namespace: netpol-demo
            pod: test-np
            command: wget -qO- --timeout=1 http://api
          register: denied
          changed_when: false
          failed_when: denied.rc != 1
        - name: Check what the cluster says
          ansible.builtin.assert:
            that:
              - api_pods.resources | length == 2
              - "'test-np' in api_pods.resources | map(attribute='metadata.name')"
              - stale_pods.resources | length == 0
              - "'download timed out' in denied.stderr"
    """
)


@pytest.fixture
def playbooks(tmp_path):
    paths = {}
    for name, text in (("workload", WORKLOAD), ("labels", LABELS)):
        path = tmp_path / f"{name}.yml"
        path.write_text(text)
        paths[name] = path
    return paths


def _k8s_changes(run) -> dict[str, bool]:
    return {r["task"]: r.get("changed", False) for r in run.task_results()}


def test_workload_waits_probes_and_is_idempotent(kube_lab, ansible_playbook, playbooks):
    first = ansible_playbook(playbooks["workload"], env=kube_lab.env)
    assert first.rc == 0, first.output
    changes = _k8s_changes(first)
    for task in ("Namespace", "Deployment api", "Service api", "Client pod test-np"):
        assert changes[task] is True, task
    deployment = first.result("Deployment api")["result"]
    assert deployment["status"]["availableReplicas"] == 1
    pod = first.result("Client pod test-np")["result"]
    assert pod["status"]["containerStatuses"][0]["ready"] is True
    second = ansible_playbook(playbooks["workload"], env=kube_lab.env)
    assert second.rc == 0, second.output
    assert not any(_k8s_changes(second).values()), _k8s_changes(second)
    methods = {(r["method"], r["content_type"]) for r in kube_lab.requests()}
    assert ("PATCH", "application/strategic-merge-patch+json") in methods


def test_labels_server_side_apply_info_and_exec(kube_lab, ansible_playbook, playbooks):
    assert ansible_playbook(playbooks["workload"], env=kube_lab.env).rc == 0
    core = kubernetes.client.CoreV1Api(kube_lab.client())
    core.patch_namespaced_pod("test-np", NS, {"metadata": {"labels": {"stale": "yes"}}})
    run = ansible_playbook(playbooks["labels"], env=kube_lab.env)
    assert run.rc == 0, run.output
    assert run.result("Label the client")["changed"] is True
    assert run.result("Remove the stale label")["changed"] is True
    assert core.read_namespaced_pod("test-np", NS).metadata.labels == {"app": "api"}
    assert run.result("Deny policy (server-side apply)")["changed"] is True
    assert run.result("Deny policy (server-side apply)")["result"]["spec"]["policyTypes"] == ["Ingress"]
    again = ansible_playbook(playbooks["labels"], env=kube_lab.env)
    assert again.rc == 0, again.output
    for task in ("Label the client", "Remove the stale label", "Deny policy (server-side apply)"):
        assert again.result(task)["changed"] is False, task
    applies = [r for r in kube_lab.requests() if r["content_type"] == "application/apply-patch+yaml"]
    assert applies
    assert all("fieldManager=netpol-aks" in r["query"] for r in applies)
    selectors = [r for r in kube_lab.requests() if "labelSelector" in r["query"]]
    assert selectors
