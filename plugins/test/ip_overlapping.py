# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# ruff: noqa: E402  (plugins import after DOCUMENTATION, EXAMPLES and RETURN)
from __future__ import annotations

DOCUMENTATION = r"""
name: ip_overlapping
short_description: Does a network share addresses with one of the given networks
version_added: 0.1.0
author: netpol.aks contributors
description:
  - True when the network shares at least one address with the network, or with at least one network of the
    list, given as argument (V(10.0.0.0/16) overlaps V(10.0.0.0/8) and V(10.0.128.0/17), not V(10.240.0.0/16)).
    Networks of the other IP version never overlap it.
  - Parsed with Python's C(ipaddress) module. A value or argument that is not a network in CIDR notation is an
    error (check it first with P(netpol.aks.ip_network#test)).
options:
  _input:
    description: A network in CIDR notation.
    type: str
    required: true
  networks:
    description: A network in CIDR notation, or a list of them.
    type: raw
    required: true
"""

EXAMPLES = r"""
- name: The AKS service range stays clear of the node subnet
  ansible.builtin.assert:
    that: aks_service_cidr is not netpol.aks.ip_overlapping(aks_vnet_subnet_prefix)
"""

RETURN = r"""
_value:
  description: Whether the network overlaps (one of) the networks.
  type: bool
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.netpol.aks.plugins.plugin_utils._ip import as_network
from ansible_collections.netpol.aks.plugins.plugin_utils._ip import as_networks
from ansible_collections.netpol.aks.plugins.plugin_utils._ip import overlapping


def ip_overlapping(value, networks):
    try:
        return bool(overlapping(as_network(value, "ip_overlapping"), as_networks(networks, "ip_overlapping(networks)")))
    except ValueError as exc:
        raise AnsibleFilterError(str(exc)) from exc


class TestModule:
    def tests(self):
        return {"ip_overlapping": ip_overlapping}
