# Copyright: Contributors to the netpol.aks project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Entra ID (v2.0 endpoints): OIDC discovery and the client-credentials token endpoint.

Errors are the ones Entra ID returns (OAuth2 error JSON with an AADSTS code), so azure-identity
raises the same ClientAuthenticationError it raises against the real service.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from tests.fakes.azure.server import Request
from tests.fakes.azure.server import Response
from tests.fakes.azure.server import route


def _aad_error(status: int, error: str, aadsts: int, description: str) -> Response:
    trace, correlation = str(uuid.uuid4()), str(uuid.uuid4())
    stamp = time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime())
    return Response(
        status,
        {
            "error": error,
            "error_description": f"AADSTS{aadsts}: {description} Trace ID: {trace} Correlation ID: {correlation} "
            f"Timestamp: {stamp}",
            "error_codes": [aadsts],
            "timestamp": stamp,
            "trace_id": trace,
            "correlation_id": correlation,
            "error_uri": f"https://login.microsoftonline.com/error?code={aadsts}",
        },
    )


def _unknown_tenant(tenant: str) -> Response:
    return _aad_error(
        400,
        "invalid_request",
        90002,
        f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the "
        "correct cloud. Check with your subscription administrator, this may happen if there are no active "
        "subscriptions for the tenant.",
    )


@route("GET", "/{tenant}/v2.0/.well-known/openid-configuration", auth=False)
def openid_configuration(req: Request) -> Any:
    tenant = req.params["tenant"]
    if tenant.lower() != req.server.identity.tenant_id.lower():
        return _unknown_tenant(tenant)
    base = f"{req.base_url}/{tenant}"
    return {
        "issuer": f"{base}/v2.0",
        "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
        "token_endpoint": f"{base}/oauth2/v2.0/token",
        "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
        "jwks_uri": f"{base}/discovery/v2.0/keys",
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "tenant_region_scope": "EU",
        "cloud_instance_name": "simulated.invalid",
    }


@route("POST", "/{tenant}/oauth2/v2.0/token", auth=False)
def token(req: Request) -> Any:
    identity = req.server.identity
    tenant = req.params["tenant"]
    if tenant.lower() != identity.tenant_id.lower():
        return _unknown_tenant(tenant)
    form = req.form
    if form is None:
        return _aad_error(
            400, "invalid_request", 900144, "The request body must contain the following parameter: 'grant_type'."
        )
    grant = form.get("grant_type", "")
    if not grant:
        return _aad_error(
            400, "invalid_request", 900144, "The request body must contain the following parameter: 'grant_type'."
        )
    if grant != "client_credentials":
        return _aad_error(
            400, "unsupported_grant_type", 70003, f"The app requested an unsupported grant type '{grant}'."
        )
    client_id = form.get("client_id", "")
    if client_id.lower() != identity.client_id.lower():
        return _aad_error(
            400,
            "unauthorized_client",
            700016,
            f"Application with identifier '{client_id}' was not found in the directory '{tenant}'. This can happen if "
            "the application has not been installed by the administrator of the tenant or consented to by any user "
            "in the tenant. You may have sent your authentication request to the wrong tenant.",
        )
    if "client_secret" not in form:
        return _aad_error(
            401,
            "invalid_client",
            7000218,
            "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
        )
    if form["client_secret"] != identity.client_secret:
        return _aad_error(
            401,
            "invalid_client",
            7000215,
            "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, "
            f"not the client secret ID, for a secret added to app '{identity.client_id}'.",
        )
    scopes = form.get("scope", "").split()
    arm_scopes = {f"{req.base_url}/.default", f"{req.base_url}//.default"}
    if len(scopes) != 1 or scopes[0] not in arm_scopes:
        resource = scopes[0].rsplit("/.default", 1)[0] if scopes else ""
        return _aad_error(
            400,
            "invalid_resource" if scopes else "invalid_scope",
            500011 if scopes else 1002012,
            f"The resource principal named {resource} was not found in the tenant named {tenant}. This can happen if "
            "the application has not been installed by the administrator of the tenant or consented to by any user "
            "in the tenant. You might have sent your authentication request to the wrong tenant."
            if scopes
            else "The provided value for scope is not valid. Client credential flows must have a scope value with "
            "/.default suffixed to the resource identifier (application ID URI).",
        )
    access_token = req.server.issue_token(client_id, scopes[0].rsplit("/.default", 1)[0])
    return {
        "token_type": "Bearer",
        "expires_in": 3599,
        "ext_expires_in": 3599,
        "access_token": access_token,
    }
