"""Which installed app signed a Connect token, and the token's claims once verified (auth.md section 1).

PyJWT is the verifier of record: a token passes only where ``jwt.decode(token, secret, algorithms=["HS256"],
options=DECODE_OPTIONS)`` passes it. The usual token (compact HS256, nothing unusual) is read once and
verified by ``emulator.auth.hs256``, which accepts exactly what PyJWT accepts and leaves everything else to
PyJWT, so a refusal always carries PyJWT's verdict and reason. ``pyjwt_only`` skips that fast path (the
differential tests compare the two).

PyJWT is imported by the functions that call it, when a token is first verified: importing it (with the
urllib.request its JWKS client brings) is a noticeable part of the emulator's start-up.
"""

from __future__ import annotations

import base64
import json
import re
import warnings
from collections.abc import Callable
from typing import Any

from emulator.auth import hs256
from emulator.auth.hs256 import ALGORITHM, REQUIRED_CLAIMS
from emulator.auth.refusals import AuthError, describe, show

DECODE_OPTIONS: Any = {
    "require": list(REQUIRED_CLAIMS),
    "verify_aud": False,
    "verify_exp": False,
    "verify_nbf": False,
    "verify_iat": False,
    # auth.md: sub is optional and not checked; PyJWT would otherwise insist on a string.
    "verify_sub": False,
    "verify_jti": False,
}
_CLIENT_KEY_LIKE = re.compile(
    r"jira:.*|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE | re.DOTALL
)
_HS256_KEY_BYTES = 32  # PyJWT warns (InsecureKeyLengthWarning) about HS256 keys shorter than its digest


def app_and_claims(
    token: str, secret_for: Callable[[str], str | None], *, pyjwt_only: bool = False
) -> tuple[str, str, dict[str, Any]]:
    """The app key, its secret and the claims of a token verified with that secret; AuthError(401) if not."""
    found = None if pyjwt_only else hs256.verified(token, secret_for)
    if found is not None:
        return found
    # unusual, or not asked for: the header and issuer as PyJWT reads them, and PyJWT's verdict
    header_and_claims = _peek(token)
    if header_and_claims is None:  # something is wrong with it: let PyJWT say what
        _check_alg(_unverified_header(token))
        app_key = _unverified_issuer(token)
    else:
        _check_alg(header_and_claims[0])
        app_key = issuer(header_and_claims[1])
    secret = _secret(app_key, secret_for)
    return app_key, secret, _verified_claims(token, secret, app_key)


def issuer(claims: dict[str, Any]) -> str:
    """The app key a token's iss claim names; AuthError(401) when it is missing or not a non-empty string."""
    iss = claims.get("iss")
    if iss is None:
        raise AuthError(401, "token has no iss claim; iss must be the app key (the key of the app descriptor)")
    if not isinstance(iss, str) or not iss:
        raise AuthError(401, f"iss must be a non-empty string, the app key; got {show(iss)}")
    return iss


def _secret(app_key: str, secret_for: Callable[[str], str | None]) -> str:
    secret = secret_for(app_key)
    if secret is None:
        reason = f"iss {show(app_key)} is not an app installed on this site"
        if _CLIENT_KEY_LIKE.fullmatch(app_key):
            reason += " (it looks like a clientKey; iss must be the app key, the key of the app descriptor)"
        raise AuthError(401, reason)
    return secret


def _check_alg(header: dict[str, Any]) -> None:
    if "alg" not in header:
        raise AuthError(401, f"token header has no alg; Connect tokens are signed with {ALGORITHM}")
    alg = header["alg"]
    if alg != ALGORITHM:
        raise AuthError(401, f"unsupported alg {show(alg)}; only {ALGORITHM} is accepted for Connect tokens")


def _peek(token: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """The header and claims of a token, read leniently (not verified); None when they are not JSON objects.
    PyJWT verifies the token afterwards all the same; this only picks the secret."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        header, claims = (json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4))) for p in parts[:2])
    except (ValueError, TypeError, RecursionError):
        return None
    return (header, claims) if isinstance(header, dict) and isinstance(claims, dict) else None


def _unverified_header(token: str) -> dict[str, Any]:
    import jwt  # on first use: see the module's note on PyJWT

    try:
        return jwt.get_unverified_header(token)
    # Hostile tokens also make PyJWT raise non-PyJWT errors (e.g. UnicodeEncodeError on lone surrogates).
    except Exception as error:
        raise AuthError(401, f"malformed token: {describe(error)}") from None


def _unverified_issuer(token: str) -> str:
    import jwt

    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except Exception as error:
        raise AuthError(401, f"malformed token: {describe(error)}") from None
    return issuer(claims)


def _verified_claims(token: str, secret: str, app_key: str) -> dict[str, Any]:
    import jwt

    try:
        if len(secret.encode()) >= _HS256_KEY_BYTES:
            return jwt.decode(token, secret, algorithms=[ALGORITHM], options=DECODE_OPTIONS)
        # Short fixture secrets make PyJWT warn on every request; the secret is the site's, not the caller's.
        # (Only then: entering catch_warnings costs more than the rest of the call.)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", jwt.InsecureKeyLengthWarning)
            return jwt.decode(token, secret, algorithms=[ALGORITHM], options=DECODE_OPTIONS)
    except jwt.InvalidSignatureError:
        raise AuthError(
            401,
            f"bad signature: the token is not signed with the sharedSecret of app {show(app_key)} on this site",
        ) from None
    except jwt.MissingRequiredClaimError as error:
        raise AuthError(401, f"{error}; Connect tokens must carry iss, iat, exp and qsh") from None
    except Exception as error:
        raise AuthError(401, f"token refused: {describe(error)}") from None
