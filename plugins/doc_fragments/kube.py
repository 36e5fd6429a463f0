# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Kubernetes connection options, named (and read from K8S_AUTH_* variables) as kubernetes.core does."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  kubeconfig:
    description:
      - Path to a kubeconfig file, several paths separated by V(:), or the kubeconfig itself as a mapping.
      - Without it and without O(host) credentials, the in-cluster service account is tried, then C(~/.kube/config).
      - Can also be set with the E(K8S_AUTH_KUBECONFIG) environment variable.
    type: raw
  context:
    description:
      - The name of a context in the kubeconfig. Can also be set with E(K8S_AUTH_CONTEXT).
    type: str
  host:
    description:
      - URL of the Kubernetes API server. Can also be set with E(K8S_AUTH_HOST).
    type: str
  api_key:
    description:
      - Bearer token to authenticate with the API. Can also be set with E(K8S_AUTH_API_KEY).
    type: str
  username:
    description:
      - User name for HTTP basic authentication (only for clusters that allow it). Can also be set with
        E(K8S_AUTH_USERNAME).
    type: str
  password:
    description:
      - Password for HTTP basic authentication. Can also be set with E(K8S_AUTH_PASSWORD).
    type: str
  validate_certs:
    description:
      - Whether to verify the API server's TLS certificate. Can also be set with E(K8S_AUTH_VERIFY_SSL)
        (or E(K8S_AUTH_VALIDATE_CERTS)).
    type: bool
    aliases: [verify_ssl]
  ca_cert:
    description:
      - Path to the CA certificate (full chain) that signed the API server's certificate. Can also be set with
        E(K8S_AUTH_SSL_CA_CERT) (or E(K8S_AUTH_CA_CERT)).
    type: path
    aliases: [ssl_ca_cert]
  client_cert:
    description:
      - Path to a client certificate to authenticate with the API. Can also be set with E(K8S_AUTH_CERT_FILE)
        (or E(K8S_AUTH_CLIENT_CERT)).
    type: path
    aliases: [cert_file]
  client_key:
    description:
      - Path to the key of O(client_cert). Can also be set with E(K8S_AUTH_KEY_FILE) (or E(K8S_AUTH_CLIENT_KEY)).
    type: path
    aliases: [key_file]
  proxy:
    description:
      - URL of an HTTP proxy for the API connection. Can also be set with E(K8S_AUTH_PROXY).
      - The usual E(HTTP_PROXY) variables are not read.
    type: str
  no_proxy:
    description:
      - Comma-separated hosts, domains, IPs or CIDRs that bypass O(proxy). Can also be set with E(K8S_AUTH_NO_PROXY).
    type: str
  proxy_headers:
    description:
      - Headers for the HTTP proxy.
    type: dict
    suboptions:
      proxy_basic_auth:
        description:
          - V(username:password) for proxy basic authentication. Can also be set with
            E(K8S_AUTH_PROXY_HEADERS_PROXY_BASIC_AUTH).
        type: str
      basic_auth:
        description:
          - V(username:password) for a basic authentication header. Can also be set with
            E(K8S_AUTH_PROXY_HEADERS_BASIC_AUTH).
        type: str
      user_agent:
        description:
          - The user agent to send, such as V(foo/1.0). Can also be set with E(K8S_AUTH_PROXY_HEADERS_USER_AGENT).
        type: str
notes:
  - The connection options have the names, aliases and environment variables of the C(kubernetes.core) modules,
    so the same variables (or C(module_defaults)) serve both.
  - A request the API server answers with HTTP 429 (after the C(Retry-After) it asks for), 500, 502, 503 or 504,
    or that fails to connect or loses its connection, is repeated up to 5 times with a growing, jittered delay;
    any other answer is reported at once.
requirements:
  - kubernetes >= 37.0.0 (Python library)
"""
