"""OAuth 2.0 client credentials for on-premises integrations (auth.md section 3).

Access tokens are JWTs (HS256) signed with the client's secret: the emulator keeps no token table,
so a token survives a restart, the CLI can mint one offline from the fixtures, and removing or
re-keying a client invalidates its tokens at once. ``cid`` binds the token to one site.
"""

from __future__ import annotations

import secrets
import warnings
from collections.abc import Callable
from typing import Any

from msgspec import Struct

ISSUER = "jira-deployments-emulator"
AUDIENCE = "api.atlassian.com"
DEFAULT_TTL = 3600
# what a token minted by an emulator that knew only the Deployments API carried
DEPLOYMENT_SCOPES = "read:deployment-info:jira write:deployment-info:jira delete:deployment-info:jira"


class OAuthError(Exception):
    """A refused bearer token; ``status`` 401 or 403 and the precise reason."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"{status}: {reason}")
        self.status = status
        self.reason = reason


class VerifiedAccessToken(Struct, frozen=True):
    client_id: str
    cloud_id: str
    claims: dict[str, Any]


def mint_access_token(
    client_id: str, client_secret: str, cloud_id: str, *, now: float, scopes: str, ttl: int = DEFAULT_TTL
) -> str:
    """An access token of ``client_id`` for the site of ``cloud_id``, granting ``scopes`` (space-separated)."""
    claims = {
        "iss": ISSUER,
        "sub": client_id,
        "aud": AUDIENCE,
        "cid": cloud_id,
        "iat": int(now),
        "exp": int(now) + ttl,
        "scope": scopes,
        "jti": secrets.token_hex(8),
    }
    import jwt  # on first use, as in auth/connect.py

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jwt.InsecureKeyLengthWarning)
        return jwt.encode(claims, client_secret, algorithm="HS256")


def parse_bearer(header: str | None) -> str:
    scheme, _, token = (header or "").strip().partition(" ")
    if not header:
        raise OAuthError(401, "no Authorization header; gateway requests send 'Authorization: Bearer <access_token>'")
    if scheme.lower() != "bearer" or not token or " " in token:
        raise OAuthError(401, f"the gateway expects 'Authorization: Bearer <access_token>', got scheme '{scheme[:20]}'")
    return token


def verify_access_token(
    header: str | None, *, secret_for: Callable[[str, str], str | None], now: float
) -> VerifiedAccessToken:
    """Verify a bearer token; ``secret_for(client_id, cloud_id)`` is the client's secret on that site, or None."""
    token = parse_bearer(header)
    import jwt

    try:
        if jwt.get_unverified_header(token).get("alg") != "HS256":
            raise OAuthError(401, "unknown access token (not issued by this emulator)")
        unverified = jwt.decode(token, options={"verify_signature": False})
    except OAuthError:
        raise
    except Exception:
        raise OAuthError(401, "unknown access token (not issued by this emulator)") from None
    client_id, cloud_id = unverified.get("sub"), unverified.get("cid")
    if not isinstance(client_id, str) or not isinstance(cloud_id, str):
        raise OAuthError(401, "unknown access token (not issued by this emulator)")
    secret = secret_for(client_id, cloud_id)
    if secret is None:
        raise OAuthError(401, f"access token of OAuth client '{client_id[:80]}', which is not (or no longer) installed")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", jwt.InsecureKeyLengthWarning)
            claims = jwt.decode(
                token,
                secret,
                algorithms=["HS256"],
                audience=AUDIENCE,
                issuer=ISSUER,
                options={"require": ["exp", "iat", "sub", "cid"], "verify_exp": False, "verify_iat": False},
            )
    except Exception as exc:
        raise OAuthError(401, f"access token refused: {str(exc)[:120]}") from None
    exp = claims["exp"]
    if isinstance(exp, bool) or not isinstance(exp, int | float) or exp <= now:
        raise OAuthError(401, f"access token expired at {exp}, now {int(now)}")
    return VerifiedAccessToken(client_id, cloud_id, claims)


def granted_scopes(claims: dict[str, Any]) -> frozenset[str]:
    """The scopes a verified access token grants (a token without a ``scope`` claim grants the Deployments
    API's, as every token an earlier emulator minted did)."""
    scope = claims.get("scope", DEPLOYMENT_SCOPES)
    return frozenset(scope.split()) if isinstance(scope, str) else frozenset()
