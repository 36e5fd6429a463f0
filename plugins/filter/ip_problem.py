# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# ruff: noqa: E402  (plugins import after DOCUMENTATION, EXAMPLES and RETURN)
from __future__ import annotations

DOCUMENTATION = r"""
name: ip_problem
short_description: Why a value is not an IP network (or address)
version_added: 0.1.0
author: netpol.aks contributors
description:
  - Returns why the value is not an IP network in CIDR notation (or, with V(address), not a single IP address;
    with V(interface), not an address with a prefix length such as V(172.17.0.1/16)), in words a person can act
    on, or an empty string when it is one.
  - For error messages next to the tests P(netpol.aks.ip_network#test) and P(netpol.aks.ip_address#test).
    Parsed with Python's C(ipaddress) module, not a pattern.
positional: kind
options:
  _input:
    description: The value to check.
    type: raw
    required: true
  kind:
    description: What the value should be.
    type: str
    default: network
    choices: [network, address, interface]
"""

EXAMPLES = r"""
- name: Check the subnet's range, and say what is wrong with it
  ansible.builtin.assert:
    that: vnet_subnet_prefix is netpol.aks.ip_network
    fail_msg: "vnet_subnet_prefix: {{ vnet_subnet_prefix | netpol.aks.ip_problem }}"
  # -e vnet_subnet_prefix=10.300.0.0/16:
  #   vnet_subnet_prefix: '10.300.0.0/16' is not an IPv4 network in CIDR notation: Octet 300 (> 255) not
  #   permitted in '10.300.0.0'

- name: Every problem in a list of networks
  ansible.builtin.debug:
    msg: "{{ vnet_address_prefixes | map('netpol.aks.ip_problem') | select | list }}"
"""

RETURN = r"""
_value:
  description: What is wrong with the value; empty when it is what O(kind) asks for.
  type: str
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.netpol.aks.plugins.plugin_utils._ip import address_problem
from ansible_collections.netpol.aks.plugins.plugin_utils._ip import interface_problem
from ansible_collections.netpol.aks.plugins.plugin_utils._ip import network_problem


def ip_problem(value, kind="network"):
    if kind == "network":
        return network_problem(value)
    if kind == "address":
        return address_problem(value)
    if kind == "interface":
        return interface_problem(value)
    raise AnsibleFilterError(f"ip_problem: kind must be network, address or interface, not {kind!r}")


class FilterModule:
    def filters(self):
        return {"ip_problem": ip_problem}
