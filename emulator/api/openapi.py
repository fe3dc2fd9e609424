"""The OpenAPI 3.1 document of the Jira surface, served at ``GET /openapi.json``.

The paths and operations come from the table of families and operations (``families.py``); the components
(schemas, parameters, responses, headers, security) from ``openapi_parts.py``, which derives every schema
from the declared bodies. Both path families of every API family are described: the site family
(``/rest/deployments/0.1/...``, Connect JWT) under Jira's own operationIds, and the OAuth 2.0 gateway family
(``/jira/deployments/0.1/cloud/{cloudId}/...``) under the same operationIds with the suffix
``GATEWAY_SUFFIX``, since operationIds must be unique.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from emulator import __version__
from emulator.api.families import DEPLOYMENTS, FAMILIES, OPERATIONS, Family, Operation
from emulator.api.openapi_parts import (
    component_schemas,
    family_response_names,
    headers,
    parameters,
    ref,
    responses,
    security_schemes,
)

OPENAPI_VERSION = "3.1.0"
SITE_BASE = DEPLOYMENTS.site_prefix
GATEWAY_BASE = DEPLOYMENTS.gateway_prefix
GATEWAY_SUFFIX = "ViaGateway"


def _gateway_tag(family: Family) -> str:
    return f"{family.tag} (OAuth 2.0 gateway)"


# -- operations -------------------------------------------------------------------------------------

_SITE_ERRORS = {
    "400": "BadRequest",
    "401": "Unauthorized",
    "429": "RateLimited",
    "500": "UnexpectedError",
    "503": "Unavailable",
}
_GATEWAY_ERRORS = {**_SITE_ERRORS, "401": "GatewayUnauthorized", "403": "GatewayForbidden"}


def _error_names(family: Family, gateway: bool) -> dict[str, str]:
    """The response component of each error status an operation of ``family`` may answer."""
    own = family_response_names(family)
    if gateway:
        return {**_GATEWAY_ERRORS, "404": own["gateway 404"], "413": own["413"]}
    return {**_SITE_ERRORS, "403": own["403"], "404": own["404"], "413": own["413"]}


def _operation(spec: Operation, via: str) -> dict[str, Any]:
    gateway = via == "gateway"
    success_code, success_text, success_schema = spec.success
    success: dict[str, Any] = {"description": success_text}
    if success_schema is not None:
        success["content"] = {"application/json": {"schema": {"$ref": ref(success_schema)}}}
    codes = sorted({*spec.errors, "401", "403", "429", "500", "503", *(["404"] if gateway else [])})
    names = _error_names(spec.family, gateway)
    answers = {success_code: success}
    answers.update({code: {"$ref": ref(names[code], "responses")} for code in codes})
    answers["default"] = {"$ref": ref("Error", "responses")}
    key = spec.family.key_parameters if "{key}" in spec.path else ()
    names_of_parameters = (*(["cloudId"] if gateway else []), *key, *spec.parameters)
    refs = [{"$ref": ref(name, "parameters")} for name in names_of_parameters]
    operation: dict[str, Any] = {
        "operationId": spec.id + (GATEWAY_SUFFIX if gateway else ""),
        "summary": spec.summary + (" (OAuth 2.0 gateway)" if gateway else ""),
        "description": spec.description,
        "tags": [_gateway_tag(spec.family) if gateway else spec.family.tag],
    }
    if refs:
        operation["parameters"] = refs
    if spec.request is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": ref(spec.request)}}},
        }
    operation["responses"] = answers
    if gateway:
        operation["security"] = [{"OAuth2": [spec.oauth_scope]}]
    else:
        operation["security"] = [{"ConnectJWT": []}]
        operation["x-atlassian-connect-scope"] = spec.connect_scope
    return operation


def _paths() -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for via in ("site", "gateway"):
        for spec in OPERATIONS:
            base = spec.family.site_prefix if via == "site" else spec.family.gateway_prefix
            paths.setdefault(f"{base}/{spec.full_path}", {})[spec.method.lower()] = _operation(spec, via)
    return paths


_DESCRIPTION = f"""\
The Jira Software Cloud Deployments and Builds APIs as this emulator serves them, generated from the
declarations that validate their requests. Both path families of each API are on one port:

- the site family, `/rest/deployments/0.1/...` and `/rest/builds/0.1/...`, for Connect apps
  (`Authorization: JWT <token>`), with Jira's operationIds; its errors are bare JSON arrays of
  `{{"message", "errorTraceId"?}}`;
- the OAuth 2.0 gateway family, `/jira/deployments/0.1/cloud/{{cloudId}}/...` and
  `/jira/builds/0.1/cloud/{{cloudId}}/...` (api.atlassian.com on Jira Cloud), for on-premises integrations
  (`Authorization: Bearer <access_token>` from `POST /oauth/token`),
  with the same operations, the operationIds suffixed with `{GATEWAY_SUFFIX}`; the gateway itself answers
  401, 403 and an unknown cloudId's 404 in its own shape, `{{"code": 401, "message": "Unauthorized"}}`.

A known path called with another method answers 405 with an `Allow` header. Where this document differs
from Atlassian's published one, the difference is deliberate: see docs/openapi.md."""


def build_openapi() -> dict[str, Any]:
    """The OpenAPI document of the Jira surface (a new dict each call)."""
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "Jira Deployments and Builds APIs (emulator)",
            "version": __version__,
            "description": _DESCRIPTION,
            "license": {"name": "MIT", "identifier": "MIT"},
        },
        "servers": [{"url": "/", "description": "This emulator: both path families on one port."}],
        "tags": [
            *({"name": f.tag, "description": "Site path family: Atlassian Connect apps."} for f in FAMILIES),
            *(
                {"name": _gateway_tag(f), "description": "api.atlassian.com path family: OAuth 2.0 client credentials."}
                for f in FAMILIES
            ),
        ],
        "paths": _paths(),
        "components": {
            "schemas": component_schemas(),
            "parameters": parameters(),
            "responses": responses(),
            "headers": headers(),
            "securitySchemes": security_schemes(),
        },
    }


@functools.cache
def _document_bytes() -> bytes:
    return json.dumps(build_openapi(), ensure_ascii=False, separators=(",", ":")).encode("utf-8")


async def openapi_endpoint(request: Request) -> Response:
    """``GET /openapi.json``: the document, built once per process."""
    return Response(_document_bytes(), media_type="application/json")
