# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# ruff: noqa: E402  (plugins import after DOCUMENTATION, EXAMPLES and RETURN)
from __future__ import annotations

DOCUMENTATION = r"""
name: registration_name
short_description: Is the value a resource provider namespace, or a preview feature written as Namespace/Feature
version_added: 0.1.0
author: netpol.aks contributors
description:
  - With O(kind=provider), true when the value is a resource provider namespace (dot-separated words such as
    V(Microsoft.ContainerService)), as M(netpol.aks.provider_registration) takes it.
  - With O(kind=feature), true when the value is a preview feature written as C(Namespace/Feature) (such as
    V(Microsoft.ContainerService/EnableNetworkPolicy)), as M(netpol.aks.feature_registration) takes it.
  - The same patterns the modules check before their first request.
options:
  _input:
    description: The value to test.
    type: raw
    required: true
  kind:
    description: What the value should be.
    type: str
    required: true
    choices: [provider, feature]
"""

EXAMPLES = r"""
- name: Check the resource providers before registering any
  ansible.builtin.assert:
    that: aks_providers | reject('netpol.aks.registration_name', 'provider') | list | length == 0
    fail_msg: "Not resource provider namespaces: {{ aks_providers | reject('netpol.aks.registration_name', 'provider') }}"
"""

RETURN = r"""
_value:
  description: Whether the value is a resource provider namespace (O(kind=provider)) or a C(Namespace/Feature) name.
  type: bool
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.netpol.aks.plugins.module_utils._azure import FEATURE_PATTERN
from ansible_collections.netpol.aks.plugins.module_utils._azure import NAMESPACE_PATTERN

KINDS = ("provider", "feature")


def registration_name(value, kind):
    if kind not in KINDS:
        raise AnsibleFilterError(f"registration_name: kind must be one of {', '.join(KINDS)}, not {kind!r}")
    if not isinstance(value, str):
        return False
    if kind == "provider":
        return NAMESPACE_PATTERN.match(value) is not None
    namespace, slash, feature = value.partition("/")
    return bool(slash) and NAMESPACE_PATTERN.match(namespace) is not None and FEATURE_PATTERN.match(feature) is not None


class TestModule:
    def tests(self):
        return {"registration_name": registration_name}
