# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# ruff: noqa: E402  (plugins import after DOCUMENTATION, EXAMPLES and RETURN)
from __future__ import annotations

DOCUMENTATION = r"""
name: ip_address
short_description: Is the value a single IP address
version_added: 0.1.0
author: netpol.aks contributors
description:
  - True when the value is one IPv4 or IPv6 address without a prefix length (V(10.0.0.10), not
    V(10.0.0.10/32) or V(10.0.0.300)).
  - Parsed with Python's C(ipaddress) module, not a pattern.
  - To say why a value is not one, use the filter P(netpol.aks.ip_problem#filter) with V(address).
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
- name: Check the cluster DNS address
  ansible.builtin.assert:
    that: aks_dns_service_ip is netpol.aks.ip_address
    fail_msg: "aks_dns_service_ip: {{ aks_dns_service_ip | netpol.aks.ip_problem('address') }}"
"""

RETURN = r"""
_value:
  description: Whether the value is a single IP address (and of O(version), when given).
  type: bool
"""

from ansible_collections.netpol.aks.plugins.plugin_utils._ip import address_problem


def ip_address(value, version=None):
    return not address_problem(value, version)


class TestModule:
    def tests(self):
        return {"ip_address": ip_address}
