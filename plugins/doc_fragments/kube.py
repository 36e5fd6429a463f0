# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What the Kubernetes modules share beyond kubernetes.core's connection options (k8s_auth_options)."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options: {}
notes:
  - The connection options, their environment variables and the client are C(kubernetes.core)'s, so the same
    variables, or one C(module_defaults) for C(group/netpol.aks.kube) (which includes C(group/kubernetes.core.k8s)),
    serve both collections' modules.
  - A request the API server answers with HTTP 429 (after the C(Retry-After) it asks for), 500, 502, 503 or 504,
    or that fails to connect or loses its connection, is repeated up to 5 times with a growing, jittered delay;
    any other answer is reported at once.
requirements:
  - kubernetes >= 37.0.0 (Python library)
"""
