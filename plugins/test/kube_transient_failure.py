# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# ruff: noqa: E402  (plugins import after DOCUMENTATION, EXAMPLES and RETURN)
from __future__ import annotations

DOCUMENTATION = r"""
name: kube_transient_failure
short_description: Did a Kubernetes task fail for a reason that may pass if it is repeated
version_added: 0.1.0
author: netpol.aks contributors
description:
  - True when the registered result of a task (for example of M(kubernetes.core.k8s) or
    M(kubernetes.core.k8s_info)) failed and its message says why the way a passing failure reads - the API
    server answered 429 (too many requests), 500, 502, 503 or 504, or the connection could not be made or was
    dropped.
  - False for a task that did not fail, and for every other failure (an invalid object, a missing permission,
    a wrong certificate), which repeating cannot mend.
  - The reasons are those the collection's own Kubernetes modules retry; use it in C(until) to repeat only
    what may pass.
options:
  _input:
    description: The registered result of a task.
    type: raw
    required: true
"""

EXAMPLES = r"""
- name: Apply a NetworkPolicy, repeating it while the API server is briefly unavailable
  kubernetes.core.k8s:
    state: present
    definition: "{{ policy }}"
  register: applied
  retries: 5
  delay: 2
  until: applied is not netpol.aks.kube_transient_failure
"""

RETURN = r"""
_value:
  description: Whether the task failed for a reason that may pass.
  type: bool
"""

from collections.abc import Mapping

from ansible_collections.netpol.aks.plugins.module_utils._kube import TRANSIENT_MESSAGE


def kube_transient_failure(result):
    if not isinstance(result, Mapping) or not result.get("failed"):
        return False
    return TRANSIENT_MESSAGE.search(str(result.get("msg") or "")) is not None


class TestModule:
    def tests(self):
        return {"kube_transient_failure": kube_transient_failure}
