# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The walkthrough's steps 5-9 through ansible-playbook and the real kubernetes.core modules, on the real lab
(`kube_lab`): real kube-proxy, CoreDNS and kube-router decide every probe. kube-router takes about a second
to program a policy or a new label: the steps' probes wait through their own retries."""

from __future__ import annotations

import json
from pathlib import Path

from tests.integration.probe import cluster

HERE = Path(__file__).resolve().parent
STEPS = HERE / "probe" / "steps.yml"
FAST = {"netpol_target": "existing", "netpol_probe_retries": 10, "netpol_probe_delay": 0.5}

PROBES = {
    "baseline": "Run wget -qO- --timeout=2 http://api in the client - Baseline: expect allowed",
    "deny": "Run wget -qO- --timeout=2 http://api in the client - Deny: expect blocked",
    "allow": "Run wget -qO- --timeout=2 http://api in the client - Allow: expect blocked",
    "label": "Run wget -qO- --timeout=2 http://api in the client - Label: expect allowed",
}


def _changed(run) -> int:
    return json.loads(run.stdout)["stats"]["localhost"]["changed"]


def test_walkthrough_each_step_on_its_own_and_idempotent(kube_lab, ansible_playbook):
    def step(tag: str):
        run = ansible_playbook(STEPS, env=kube_lab.env, tags=tag, extra_vars=FAST)
        assert run.rc == 0, run.output
        return run

    # Step 5: the workload, then again: no change.
    first = step("workload")
    assert _changed(first) > 0
    assert _changed(step("workload")) == 0
    namespace = json.loads(cluster.core(kube_lab).read_namespace(cluster.NAMESPACE, _preload_content=False).data)
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    assert cluster.client_labels(kube_lab) == {"run": "test-np"}

    expected = {"baseline": "allowed", "deny": "blocked", "allow": "blocked", "label": "allowed"}
    for tag, result in expected.items():
        run = step(tag)
        probe = run.result(PROBES[tag])
        assert probe["result"] == result, run.output
        assert probe["changed"] is False
        assert probe["summary"] == [
            f"netpol-demo/test-np -> service netpol-demo/api:80 (http): expected {result}, observed {result}"
            f" in {probe['elapsed']:.1f}s"
        ]
        again = step(tag)
        assert _changed(again) == 0, f"second run of {tag} changed something:\n{again.output}"
        assert again.result(PROBES[tag])["result"] == result
    assert cluster.policy_names(kube_lab) == ["api-allow", "api-deny"]
    assert cluster.client_labels(kube_lab) == {"run": "test-np", "app": "api"}

    # --check: nothing changes, the probe only reports what it sees (the label step's state: allowed).
    checked = ansible_playbook(STEPS, env=kube_lab.env, tags="deny", extra_vars=FAST, check=True)
    assert checked.rc == 0, checked.output
    assert checked.result(PROBES["deny"])["result"] == "allowed"
    assert cluster.policy_names(kube_lab) == ["api-allow", "api-deny"]
    assert cluster.client_labels(kube_lab) == {"run": "test-np", "app": "api"}

    # --tags deny after the label step: it undoes the label and the allow policy first.
    run = step("deny")
    assert run.result(PROBES["deny"])["result"] == "blocked"
    assert cluster.policy_names(kube_lab) == ["api-deny"]
    assert cluster.client_labels(kube_lab) == {"run": "test-np"}

    # --tags baseline removes both policies.
    run = step("baseline")
    assert run.result(PROBES["baseline"])["result"] == "allowed"
    assert cluster.policy_names(kube_lab) == []
    assert cluster.probe_pods(kube_lab) == []


def test_deny_step_without_enforcement_says_the_cluster_does_not_enforce(kube_lab, ansible_playbook):
    cluster.seed(kube_lab)
    kube_lab.config(enforcement="none")
    unenforced = {**FAST, "netpol_probe_retries": 2}  # nothing to wait for: the probe stays allowed
    run = ansible_playbook(STEPS, env=kube_lab.env, tags="deny", extra_vars=unenforced)
    assert run.rc != 0
    failure = run.result("Explain the failure - Deny")
    message = failure["msg"]
    assert "does not enforce NetworkPolicy" in message
    assert "--network-policy azure|calico|cilium" in message
    assert "kind v0.24.0" in message
    assert "Calico" in message
    probe = run.result(PROBES["deny"])
    assert probe["result"] == "allowed"
    assert probe["verdict"] == "not_enforcing"
    # the one-line summary is printed before the explanation
    shown = run.result("Show the probe - Deny")
    assert "expected blocked, observed allowed" in shown["msg"]
    # What a person reads: the summary and the explanation, not the page wget fetched through the policy.
    human = ansible_playbook(STEPS, env=kube_lab.env, tags="deny", extra_vars=unenforced, json_output=False)
    assert human.rc != 0
    assert "does not enforce NetworkPolicy" in human.stdout
    assert "expected blocked, observed allowed" in human.stdout
    assert "nginx" not in human.output


def test_policies_role_refuses_an_invalid_policy_before_applying_anything(kube_lab, ansible_playbook, tmp_path):
    cluster.seed(kube_lab)
    playbook = tmp_path / "policies.yml"
    playbook.write_text(
        """---
- name: Policies with a bad extra policy
  hosts: localhost
  gather_facts: false
  roles:
    - role: netpol.aks.policies
      vars:
        policies_extra:
          - metadata:
              name: broken
            spec:
              podSelector: {}
              policyTypes: [Ingres]
"""
    )
    run = ansible_playbook(playbook, env=kube_lab.env)
    assert run.rc != 0
    failure = run.result("netpol.aks.policies : Validate the policies to be applied with the NetworkPolicy engine")
    assert "netpol-demo/broken" in failure["msg"]
    assert "policyTypes" in failure["msg"]
    assert cluster.policy_names(kube_lab) == []
