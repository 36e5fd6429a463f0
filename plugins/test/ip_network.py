# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# ruff: noqa: E402  (plugins import after DOCUMENTATION, EXAMPLES and RETURN)
from __future__ import annotations

DOCUMENTATION = r"""
name: ip_network
short_description: Is the value an IP network in CIDR notation
version_added: 0.1.0
author: netpol.aks contributors
description:
  - True when the value is an IPv4 or IPv6 network written as address and prefix length, with no host bits
    set, as Azure wants address spaces, subnets and AKS service ranges (V(10.240.0.0/16), not
    V(10.240.0.1/16), V(10.240.0.0) or V(10.300.0.0/16)).
  - Parsed with Python's C(ipaddress) module, not a pattern.
  - To say why a value is not one, use the filter P(netpol.aks.ip_problem#filter).
options:
  _input:
    description: The value to test.
    type: raw
    required: true
  version:
    description: Also require this IP version.
    type: int
    choices: [4, 6]
"""

EXAMPLES = r"""
- name: Check the subnet's range
  ansible.builtin.assert:
    that: vnet_subnet_prefix is netpol.aks.ip_network
    fail_msg: "vnet_subnet_prefix: {{ vnet_subnet_prefix | netpol.aks.ip_problem }}"

- name: The networks of a list that are not IPv4 networks
  ansible.builtin.debug:
    msg: "{{ vnet_address_prefixes | reject('netpol.aks.ip_network', version=4) | list }}"
"""

RETURN = r"""
_value:
  description: Whether the value is an IP network in CIDR notation (and of O(version), when given).
  type: bool
"""

from ansible_collections.netpol.aks.plugins.plugin_utils._ip import network_problem


def ip_network(value, version=None):
    return not network_problem(value, version)


class TestModule:
    def tests(self):
        return {"ip_network": ip_network}
