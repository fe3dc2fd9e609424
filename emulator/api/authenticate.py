"""The authentication step: who calls, and may they call this operation (auth.md).

On the site path family a Connect app signs each request with a JWT (``Authorization: JWT <token>``): the
app must be installed on the site, declare the family's Connect module and hold the operation's scope. On
the gateway family an OAuth 2.0 client sends its access token (``Authorization: Bearer ...``): the token
must be for the site the path's cloudId names, and the client must be granted the family's permission.
A refusal is a 401 or 403 in the family's shape, with the precise reason.
"""

from __future__ import annotations

from starlette.requests import Request

from emulator.api import errors
from emulator.api.calls import Call, Refusal
from emulator.api.families import Operation
from emulator.api.http import header
from emulator.auth.connect import TokenCache, verify_connect_request
from emulator.auth.oauth import OAuthError, granted_scopes, verify_access_token
from emulator.auth.refusals import AuthError
from emulator.auth.scopes import scope_satisfies
from emulator.contract import ContractChecker
from emulator.domain.model import Provider
from emulator.domain.sites import Site, SiteRegistry


class Authenticator:
    def __init__(self, sites: SiteRegistry, contract: ContractChecker) -> None:
        self.sites = sites
        self.contract = contract
        self.token_cache = TokenCache()

    def connect(
        self, request: Request, call: Call, operation: Operation, site: Site, path: str, now: float
    ) -> Provider:
        """The Connect app that signed this request; its token's contract findings go to the call."""
        try:
            return self._connect(request, call, operation, site, path, now)
        except AuthError as refusal:
            family = operation.family
            text = errors.UNAUTHORIZED if refusal.status == 401 else family.texts.forbidden
            raise Refusal.site(refusal.status, text.format(scope=operation.connect_scope), refusal.reason) from None

    def _connect(
        self, request: Request, call: Call, operation: Operation, site: Site, path: str, now: float
    ) -> Provider:
        apps = site.connect_apps

        def secret_for(app_key: str) -> str | None:
            app = apps.get(app_key)
            return None if app is None else app.shared_secret

        verified = verify_connect_request(
            header(request, b"authorization"),
            method=call.method,
            raw_path=path,
            raw_query=call.raw_query,
            secret_for=secret_for,
            now=now,
            cache=self.token_cache,
        )
        app = apps[verified.app_key]
        call.provider = app.provider
        call.note(self.contract.token(verified.qsh_form, verified.lifetime))
        module = operation.family.connect_module
        if module not in app.modules:
            raise AuthError(403, f"app '{app.key}' does not declare the {module} module")
        needed = operation.connect_scope
        if not scope_satisfies(app.scopes, needed):
            granted = ", ".join(sorted(app.scopes)) or "none"
            raise AuthError(403, f"app '{app.key}' lacks the {needed} scope (it has: {granted})")
        return app.provider

    def oauth(self, request: Request, call: Call, operation: Operation, site: Site, now: float) -> Provider:
        """The OAuth 2.0 client whose access token this request carries, on the site of the path's cloudId."""
        try:
            return self._oauth(request, call, operation, site, now)
        except OAuthError as refusal:
            text = "Unauthorized" if refusal.status == 401 else "Forbidden"
            raise Refusal.gateway(refusal.status, text, refusal.reason) from None

    def _oauth(self, request: Request, call: Call, operation: Operation, site: Site, now: float) -> Provider:
        def secret_for(client_id: str, cloud_id: str) -> str | None:
            owner = self.sites.by_cloud_id(cloud_id)
            client = None if owner is None else owner.oauth_clients.get(client_id)
            return None if client is None else client.client_secret

        verified = verify_access_token(header(request, b"authorization"), secret_for=secret_for, now=now)
        client = site.oauth_clients.get(verified.client_id)
        call.provider = provider = Provider("oauth", verified.client_id) if client is None else client.provider
        if verified.cloud_id != site.cloud_id:
            raise OAuthError(403, f"the token was issued for cloudId '{verified.cloud_id}', not '{site.cloud_id}'")
        assert client is not None, "a token of this site verified with its client's secret"
        permission = operation.family.oauth_permission
        if permission not in client.permissions:
            granted = ", ".join(sorted(client.permissions)) or "none"
            raise OAuthError(
                403, f"OAuth client '{client.client_id}' lacks the {permission} permission (it has: {granted})"
            )
        if operation.oauth_scope not in granted_scopes(verified.claims):
            raise OAuthError(403, f"the access token lacks the {operation.oauth_scope} scope: mint a new one")
        return provider
