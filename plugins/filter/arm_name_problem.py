# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# ruff: noqa: E402  (plugins import after DOCUMENTATION, EXAMPLES and RETURN)
from __future__ import annotations

DOCUMENTATION = r"""
name: arm_name_problem
short_description: Why a value breaks Azure Resource Manager's naming rule for a kind of resource
version_added: 0.1.0
author: netpol.aks contributors
description:
  - Returns why the value is not a valid name for the kind of resource, naming O(option) and the rule
    (length and characters), or an empty string when it is valid.
  - The rules are the ones the collection's modules check before their first request (ARM's naming rules for
    resource groups, virtual networks, subnets, AKS clusters and their DNS prefixes), so a role can stop before
    anything is created. See also the test P(netpol.aks.arm_name#test).
positional: kind, option
options:
  _input:
    description: The name to check.
    type: raw
    required: true
  kind:
    description: The kind of resource the name is for.
    type: str
    required: true
    choices: [resource_group, virtual_network, subnet, managed_cluster, dns_prefix]
  option:
    description: The variable or option the name came from, to start the message with.
    type: str
    default: name
"""

EXAMPLES = r"""
- name: Check the resource group's name before creating anything
  ansible.builtin.assert:
    that: vnet_resource_group is netpol.aks.arm_name('resource_group')
    fail_msg: "{{ vnet_resource_group | netpol.aks.arm_name_problem('resource_group', 'vnet_resource_group') }}"
  # -e vnet_resource_group=rg.:
  #   vnet_resource_group: 'rg.' is not a valid resource group name; use 1-90 letters, digits, '.', '_', '-',
  #   '(' or ')', not ending in '.'
"""

RETURN = r"""
_value:
  description: What is wrong with the name, starting with O(option); empty when the name is valid.
  type: str
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.netpol.aks.plugins.module_utils._arm import NAME_RULES
from ansible_collections.netpol.aks.plugins.module_utils._arm import name_error


def arm_name_problem(value, kind, option="name"):
    if kind not in NAME_RULES:
        raise AnsibleFilterError(f"arm_name_problem: kind must be one of {', '.join(NAME_RULES)}, not {kind!r}")
    return name_error(kind, str(value) if isinstance(value, str) else value, option) or ""


class FilterModule:
    def filters(self):
        return {"arm_name_problem": arm_name_problem}
