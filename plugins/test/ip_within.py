# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# ruff: noqa: E402  (plugins import after DOCUMENTATION, EXAMPLES and RETURN)
from __future__ import annotations

DOCUMENTATION = r"""
name: ip_within
short_description: Does an address or network lie inside one of the given networks
version_added: 0.1.0
author: netpol.aks contributors
description:
  - True when the address (V(10.0.0.10)) or the whole network (V(10.240.0.0/16)) lies inside the network,
    or inside at least one network of the list, given as argument; networks of the other IP version never
    contain it.
  - Parsed with Python's C(ipaddress) module. A value or argument that is not an address or network in CIDR
    notation is an error (check it first with P(netpol.aks.ip_network#test) or P(netpol.aks.ip_address#test)).
options:
  _input:
    description: An IP address, or a network in CIDR notation.
    type: str
    required: true
  networks:
    description: A network in CIDR notation, or a list of them.
    type: raw
    required: true
"""

EXAMPLES = r"""
- name: The subnet lies inside the virtual network's address space
  ansible.builtin.assert:
    that: vnet_subnet_prefix is netpol.aks.ip_within(vnet_address_prefixes)

- name: The cluster DNS address lies inside the service range
  ansible.builtin.assert:
    that: aks_dns_service_ip is netpol.aks.ip_within(aks_service_cidr)
"""

RETURN = r"""
_value:
  description: Whether the value lies inside (one of) the networks.
  type: bool
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.netpol.aks.plugins.plugin_utils._ip import as_address_or_network
from ansible_collections.netpol.aks.plugins.plugin_utils._ip import as_networks
from ansible_collections.netpol.aks.plugins.plugin_utils._ip import within


def ip_within(value, networks):
    try:
        return within(as_address_or_network(value, "ip_within"), as_networks(networks, "ip_within(networks)"))
    except ValueError as exc:
        raise AnsibleFilterError(str(exc)) from exc


class TestModule:
    def tests(self):
        return {"ip_within": ip_within}
