"""Tokens for humans: the control surface mints a Connect JWT for one request, or an OAuth access token."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from emulator.api.errors import json_response
from emulator.auth.oauth import SCOPES, mint_access_token
from emulator.auth.qsh import canonical_request
from emulator.control.sites import json_body, problem
from emulator.domain.clock import iso
from emulator.domain.service import DevOpsService
from emulator.domain.sites import Site
from emulator.tokens import DEFAULT_TTL, connect_token, split_url


class TokenHandlers:
    def __init__(self, service: DevOpsService, *, oauth_ttl: int) -> None:
        self.service = service
        self.oauth_ttl = oauth_ttl

    async def _request(self, request: Request) -> tuple[dict[str, Any], Site] | Response:
        """The JSON body and the site it names (the default site when it names none)."""
        body = await json_body(request)
        if isinstance(body, Response):
            return body
        name = body.get("site")
        site = self.service.sites.default if name is None else self.service.sites.get(str(name))
        return problem(404, f"no site named {name!r}") if site is None else (body, site)

    async def connect(self, request: Request) -> Response:
        """A Connect JWT for one request (`{"app", "method", "url"}`), with the canonical request it hashed."""
        asked = await self._request(request)
        if isinstance(asked, Response):
            return asked
        body, site = asked
        app = site.connect_apps.get(str(body.get("app", "")))
        method, url, ttl = body.get("method", "GET"), body.get("url"), body.get("ttl", DEFAULT_TTL)
        if app is None:
            return problem(404, f"no Connect app {body.get('app')!r} on site {site.name!r}")
        if not isinstance(method, str) or not method.isalpha() or not isinstance(url, str) or not url:
            return problem(400, "give method (e.g. GET) and url (the request's path and query, or a whole URL)")
        if isinstance(ttl, bool) or not isinstance(ttl, int) or not 1 <= ttl <= 86400:
            return problem(400, "ttl must be a whole number of seconds from 1 to 86400")
        now = self.service.clock.now()
        token = connect_token(app.key, app.shared_secret, method, url, now=now, ttl=ttl, context_path=site.context_path)
        path, query = split_url(url, site.context_path)
        return json_response(
            {
                "token": token,
                "authorization": f"JWT {token}",
                "canonicalRequest": canonical_request(method, path, query),
                "expiresAt": iso(int(now) + ttl),
            }
        )

    async def oauth(self, request: Request) -> Response:
        """An OAuth 2.0 access token for `{"clientId"}`, as `POST /oauth/token` issues it."""
        asked = await self._request(request)
        if isinstance(asked, Response):
            return asked
        body, site = asked
        client = site.oauth_clients.get(str(body.get("clientId", "")))
        if client is None:
            return problem(404, f"no OAuth client {body.get('clientId')!r} on site {site.name!r}")
        token = mint_access_token(
            client.client_id, client.client_secret, site.cloud_id, now=self.service.clock.now(), ttl=self.oauth_ttl
        )
        return json_response(
            {"access_token": token, "token_type": "Bearer", "expires_in": self.oauth_ttl, "scope": SCOPES}
        )
