# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Shared Azure auth options; mirrors AZURE_AUTH_ARGSPEC in plugins/module_utils/_azure.py exactly."""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  auth_source:
    description:
      - Where the Azure credential comes from.
      - V(credentials) uses O(tenant_id), O(client_id) and O(client_secret) (a service principal secret).
      - V(env) uses azure-identity's C(EnvironmentCredential) (the C(AZURE_*) variables, including
        certificate and workload-identity variants).
      - V(cli) uses the token of the signed-in Azure CLI; V(msi) uses a managed identity (O(client_id) selects
        a user-assigned one).
      - V(credential_file) uses the service principal of profile O(profile) in C(~/.azure/credentials), the INI
        file azure.azcollection reads (keys C(subscription_id), C(client_id), C(secret), C(tenant) and optionally
        C(cloud_environment)).
      - V(auto) uses V(credentials) when O(tenant_id), O(client_id) and O(client_secret) are all set, else
        V(credential_file) when C(~/.azure/credentials) exists, and azure-identity's C(DefaultAzureCredential)
        chain otherwise.
      - If not set, the E(ANSIBLE_AZURE_AUTH_SOURCE) environment variable is used (as in azure.azcollection).
    type: str
    default: auto
    choices: [auto, env, cli, msi, credentials, credential_file]
  profile:
    description:
      - The section of C(~/.azure/credentials) used by O(auth_source=credential_file) (and by V(auto)); default
        C(default).
      - If not set, the E(AZURE_PROFILE) environment variable is used.
    type: str
  cloud_environment:
    description:
      - The Azure cloud, by the names azure.azcollection and the Azure CLI use - V(AzureCloud) (the default),
        V(AzureChinaCloud) or V(AzureUSGovernment). It sets the authority and the Resource Manager endpoint;
        O(authority_host) and O(resource_manager_endpoint) override them.
      - If not set, the E(AZURE_CLOUD_ENVIRONMENT) environment variable is used.
    type: str
  subscription_id:
    description:
      - The Azure subscription to work in.
      - Required; if not set, the E(AZURE_SUBSCRIPTION_ID) environment variable is used.
    type: str
  tenant_id:
    description:
      - The Entra ID tenant (directory) of the service principal.
      - If not set, the E(AZURE_TENANT_ID) environment variable is used, then E(AZURE_TENANT) (azure.azcollection's
        name).
    type: str
    aliases: [tenant]
  client_id:
    description:
      - The application (client) id of the service principal, or of the user-assigned managed identity when
        O(auth_source=msi).
      - If not set, the E(AZURE_CLIENT_ID) environment variable is used.
    type: str
  client_secret:
    description:
      - The service principal's client secret (its value, not its id).
      - If not set, the E(AZURE_CLIENT_SECRET) environment variable is used, then E(AZURE_SECRET)
        (azure.azcollection's name). It is never logged.
    type: str
    aliases: [secret]
  authority_host:
    description:
      - The Entra ID authority, for example V(https://login.microsoftonline.us) for Azure Government.
      - Must be an https URL. Defaults to V(https://login.microsoftonline.com).
      - If not set, the E(AZURE_AUTHORITY_HOST) environment variable is used.
    type: str
  resource_manager_endpoint:
    description:
      - The Azure Resource Manager endpoint, for sovereign clouds and Azure Stack, for example
        V(https://management.usgovcloudapi.net). Tokens are requested for its C(/.default) scope.
      - Must be an https URL. Defaults to V(https://management.azure.com).
      - If not set, the E(AZURE_RESOURCE_MANAGER_ENDPOINT) environment variable is used.
    type: str
  disable_instance_discovery:
    description:
      - Skip Entra ID instance discovery (validation of the authority by C(login.microsoftonline.com)).
      - Left unset, it is V(true) when O(authority_host) is not a Microsoft authority (Azure Stack, ADFS, a
        private or test authority) and V(false) otherwise.
      - If not set, the E(AZURE_DISABLE_INSTANCE_DISCOVERY) environment variable is used.
    type: bool
notes:
  - The Azure modules run on the controller (or the host they are delegated to) and need C(azure-identity),
    C(azure-core) and the C(azure-mgmt-*) package of the module.
  - Throttling (HTTP 429) and server errors (5xx) are retried by azure-core, honouring C(Retry-After).
  - Use C(module_defaults) with C(group/netpol.aks.azure) to give every Azure module the same credentials.
requirements:
  - azure-identity >= 1.27
  - azure-core >= 1.41
"""

    # Options of the modules that start long-running operations (LRO_ARGSPEC in module_utils/_arm.py).
    LRO = r"""
options:
  poll_interval:
    description:
      - Seconds between status polls of a long-running operation when Azure sends no C(Retry-After) header
        (the SDK default is 30), and between reads while waiting for an operation started earlier.
      - Zero or more; like every timing option of the Azure modules it is checked before any request.
    type: float
    default: 5
"""
