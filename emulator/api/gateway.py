"""What surrounds the Jira surface: the OAuth token endpoint and ``/_edge/tenant_info``.

Errors of the token endpoint use the OAuth 2.0 shape (RFC 6749 §5.2):
``{"error": "invalid_client", "error_description": "..."}``.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response

from emulator.api.errors import REASON_HEADER, header_safe, json_response
from emulator.auth.oauth import AUDIENCE, SCOPES, mint_access_token
from emulator.domain.hosts import UnknownSite
from emulator.domain.service import DevOpsService

MAX_TOKEN_REQUEST = 64 * 1024


def oauth_error(status: int, error: str, description: str) -> Response:
    headers = {REASON_HEADER: header_safe(description), "Cache-Control": "no-store"}
    return json_response({"error": error, "error_description": description}, status, headers)


class GatewayHandlers:
    def __init__(self, service: DevOpsService, *, token_ttl: int) -> None:
        self.service = service
        self.token_ttl = token_ttl

    async def token(self, request: Request) -> Response:
        raw = await request.body()
        if len(raw) > MAX_TOKEN_REQUEST:
            return oauth_error(400, "invalid_request", "the token request is too large")
        form = _parse_token_request(raw, request.headers.get("content-type", ""))
        if form is None:
            return oauth_error(
                400, "invalid_request", "send a JSON object or a form (application/x-www-form-urlencoded)"
            )
        grant = form.get("grant_type")
        if grant != "client_credentials":
            return oauth_error(400, "unsupported_grant_type", f"grant_type must be client_credentials, got {grant!r}")
        audience = form.get("audience")
        if audience is not None and audience != AUDIENCE:
            return oauth_error(403, "access_denied", f"audience must be {AUDIENCE!r}, got {audience!r}")
        client_id, secret = form.get("client_id"), form.get("client_secret")
        if not isinstance(client_id, str) or not isinstance(secret, str) or not client_id or not secret:
            return oauth_error(401, "invalid_client", "client_id and client_secret are required")
        for site in self.service.sites:
            client = site.oauth_clients.get(client_id)
            if client is not None and client.client_secret == secret:
                token = mint_access_token(
                    client_id, secret, site.cloud_id, now=self.service.clock.now(), ttl=self.token_ttl
                )
                body = {"access_token": token, "token_type": "Bearer", "expires_in": self.token_ttl, "scope": SCOPES}
                return json_response(body, 200, {"Cache-Control": "no-store"})
            if client is not None:
                return oauth_error(401, "invalid_client", f"wrong client_secret for client {client_id!r}")
        return oauth_error(401, "invalid_client", f"no OAuth client {client_id!r} on any site")

    async def tenant_info(self, request: Request) -> Response:
        try:
            found = self.service.sites.resolve(request.headers.get("host", ""), None)
        except UnknownSite as unknown:
            return json_response({"error": "no site"}, 404, {REASON_HEADER: header_safe(unknown.reason)})
        if found.site is None:
            return json_response({"error": "no site"}, 404)
        headers = {REASON_HEADER: header_safe(found.note)} if found.note else None
        return json_response({"cloudId": found.site.cloud_id}, 200, headers)


def _parse_token_request(raw: bytes, content_type: str) -> dict[str, Any] | None:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if "json" in content_type or text.lstrip().startswith("{"):
        try:
            value = json.loads(text)
        except (ValueError, RecursionError):
            return None
        return value if isinstance(value, dict) else None
    return dict(parse_qsl(text, keep_blank_values=True))
