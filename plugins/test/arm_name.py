# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# ruff: noqa: E402  (plugins import after DOCUMENTATION, EXAMPLES and RETURN)
from __future__ import annotations

DOCUMENTATION = r"""
name: arm_name
short_description: Is the value a valid Azure Resource Manager name for a kind of resource
version_added: 0.1.0
author: netpol.aks contributors
description:
  - True when the value follows the naming rule of Azure Resource Manager (length and characters) for the kind of
    resource, the rule the collection's modules check before their first request.
  - To say why a name is not valid, use the filter P(netpol.aks.arm_name_problem#filter).
options:
  _input:
    description: The name to test.
    type: raw
    required: true
  kind:
    description: The kind of resource the name is for.
    type: str
    required: true
    choices: [resource_group, virtual_network, subnet, managed_cluster, dns_prefix]
"""

EXAMPLES = r"""
- name: Check the cluster's name
  ansible.builtin.assert:
    that: aks_cluster_name is netpol.aks.arm_name('managed_cluster')
"""

RETURN = r"""
_value:
  description: Whether the value is a valid name for the kind of resource.
  type: bool
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.netpol.aks.plugins.module_utils._arm import NAME_RULES
from ansible_collections.netpol.aks.plugins.module_utils._arm import name_error


def arm_name(value, kind):
    if kind not in NAME_RULES:
        raise AnsibleFilterError(f"arm_name: kind must be one of {', '.join(NAME_RULES)}, not {kind!r}")
    return name_error(kind, str(value) if isinstance(value, str) else value, "name") is None


class TestModule:
    def tests(self):
        return {"arm_name": arm_name}
