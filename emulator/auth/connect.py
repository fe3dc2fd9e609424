"""Verification of Atlassian Connect requests, ``Authorization: JWT <token>`` (auth.md section 1).

PyJWT does all token work; this module adds the Connect rules: HS256 only, ``iss`` is the app key, lifetimes
against the emulator's clock, and a ``qsh`` bound to this very request. Every refusal is an AuthError whose
reason tells the integrator exactly what was wrong, which real Jira does not.
"""

from __future__ import annotations

import base64
import json
import math
import re
import warnings
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal
from urllib.parse import unquote

from emulator.auth.qsh import canonical_request, query_string_hash

ALGORITHM = "HS256"
CONTEXT_QSH = "context-qsh"
DEFAULT_LEEWAY = 30
# Far above any real Connect token; real servers refuse such headers anyway (h11 allows 16 KiB).
MAX_TOKEN_CHARS = 64 * 1024

_DECODE_OPTIONS: Any = {
    "require": ["iss", "iat", "exp", "qsh"],
    "verify_aud": False,
    "verify_exp": False,
    "verify_nbf": False,
    "verify_iat": False,
    # auth.md: sub is optional and not checked; PyJWT would otherwise insist on a string.
    "verify_sub": False,
    "verify_jti": False,
}
_AUTHORIZATION = re.compile(r"(\S+)(\s*)(.*)", re.DOTALL)
_CLIENT_KEY_LIKE = re.compile(
    r"jira:.*|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE | re.DOTALL
)
_SHOW_LIMIT = 80
# PyJWT is imported by the functions that call it, when a token is first verified: importing it (with the
# urllib.request its JWKS client brings) is a noticeable part of the emulator's start-up.
_HS256_KEY_BYTES = 32  # PyJWT warns (InsecureKeyLengthWarning) about HS256 keys shorter than its digest
# Requests longer than this (header, path and query) are verified without the request cache: it keeps them.
_REQUEST_KEY_CHARS = 16 * 1024


class AuthError(Exception):
    """A refused request: status 401 or 403, and the precise reason for humans (log + response header)."""

    status: int
    reason: str

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"{status}: {reason}")
        self.status = status
        self.reason = reason


class TokenCache:
    """Tokens whose signature and claims PyJWT has already verified, by token, with the secret used; and
    whole verified requests, by (Authorization header, method, raw path, raw query).

    A token hit skips only the signature check, and only while the app's secret is unchanged; lifetimes and
    the qsh are still checked on every request, so nothing expired or replayed elsewhere gets through.
    A request hit also skips the qsh computation: the qsh is a pure function of the token's claims and of the
    method, path and query, all of which are the key; the secret is compared and the lifetime checked anew
    on every request all the same.
    Bounded (least recently used goes first), and owned by one emulator: nothing global.
    """

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._entries: OrderedDict[str, tuple[str, str, dict[str, Any]]] = OrderedDict()
        self._requests: OrderedDict[tuple[str, str, str, str], _VerifiedRequest] = OrderedDict()

    def get(self, token: str) -> tuple[str, str, dict[str, Any]] | None:
        entry = self._entries.get(token)
        if entry is not None:
            self._entries.move_to_end(token)
        return entry

    def put(self, token: str, issuer: str, secret: str, claims: dict[str, Any]) -> None:
        self._entries[token] = (issuer, secret, claims)
        if len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def request(self, key: tuple[str, str, str, str]) -> _VerifiedRequest | None:
        entry = self._requests.get(key)
        if entry is not None:
            self._requests.move_to_end(key)
        return entry

    def put_request(self, key: tuple[str, str, str, str], entry: _VerifiedRequest) -> None:
        self._requests[key] = entry
        if len(self._requests) > self.size:
            self._requests.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()
        self._requests.clear()


@dataclass(frozen=True)
class VerifiedToken:
    """A Connect token that passed every check, for one request."""

    app_key: str
    claims: dict[str, Any]
    qsh_form: Literal["raw", "decoded"]

    @cached_property
    def lifetime(self) -> float | None:
        """exp - iat in seconds, when both are numbers (worked out once: a verified token is cached)."""
        exp, iat = self.claims.get("exp"), self.claims.get("iat")
        return exp - iat if isinstance(exp, int | float) and isinstance(iat, int | float) else None


@dataclass(frozen=True, slots=True)
class _VerifiedRequest:
    """A request whose token passed every check: what a later identical request needs to be re-checked."""

    secret: str  # the app's sharedSecret the signature was verified with
    iat: float
    exp: float
    nbf: float | None
    verified: VerifiedToken


def parse_jwt_authorization(header: str | None) -> str:
    """The token of an ``Authorization: JWT <token>`` header; AuthError(401) for anything else."""
    # Servers strip the whitespace around a field value (RFC 9110); a direct caller may not have.
    match = _AUTHORIZATION.fullmatch((header or "").strip())
    if match is None:
        raise AuthError(401, "no Authorization header; Connect requests send 'Authorization: JWT <token>'")
    scheme, separator, token = match.groups()
    _check_scheme(scheme)
    if not token:
        raise AuthError(401, "Authorization header has the JWT scheme but no token after it")
    if separator != " ":
        got = _printable(separator)
        raise AuthError(401, f"Authorization header needs exactly one space after 'JWT', got '{got}'")
    if re.search(r"\s", token):
        raise AuthError(401, "the token in the Authorization header contains whitespace")
    return token


def verify_connect_request(
    authorization: str | None,
    *,
    method: str,
    raw_path: str,
    raw_query: str,
    secret_for: Callable[[str], str | None],
    now: float,
    leeway: int = DEFAULT_LEEWAY,
    cache: TokenCache | None = None,
) -> VerifiedToken:
    """Verify the Connect JWT of one request; AuthError(401, reason) on any failure, nothing else escapes.

    Only the Authorization header counts: a ``?jwt=`` query parameter is never taken as the token.
    """
    key = None
    if cache is not None and authorization is not None and _short(authorization, raw_path, raw_query):
        key = (authorization, method, raw_path, raw_query)
        seen = cache.request(key)
        if seen is not None and secret_for(seen.verified.app_key) == seen.secret:
            if seen.exp < now - leeway or seen.iat > now + leeway or (seen.nbf is not None and seen.nbf > now + leeway):
                _check_times(seen.verified.claims, now, leeway)  # raises, with the reason
            return seen.verified
    token = _token_from_header(authorization, raw_query)
    hit = cache.get(token) if cache is not None else None
    if hit is not None and secret_for(hit[0]) == hit[1]:
        app_key, secret, claims = hit
    else:
        app_key, claims = _verify(token, secret_for)
        secret = secret_for(app_key) or ""
        if cache is not None:
            cache.put(token, app_key, secret, claims)
    _check_times(claims, now, leeway)
    qsh_form = _check_qsh(claims["qsh"], method, raw_path, raw_query)
    verified = VerifiedToken(app_key=app_key, claims=claims, qsh_form=qsh_form)
    if cache is not None and key is not None:
        nbf = _epoch_claim(claims, "nbf") if "nbf" in claims else None
        cache.put_request(
            key, _VerifiedRequest(secret, _epoch_claim(claims, "iat"), _epoch_claim(claims, "exp"), nbf, verified)
        )
    return verified


def _short(authorization: str, raw_path: str, raw_query: str) -> bool:
    return len(authorization) + len(raw_path) + len(raw_query) <= _REQUEST_KEY_CHARS


def _verify(token: str, secret_for: Callable[[str], str | None]) -> tuple[str, dict[str, Any]]:
    """The app key and the claims of a token PyJWT verifies with that app's secret."""
    peeked = _peek(token)
    if peeked is None:  # something is wrong with it: let PyJWT say what
        _check_alg(_unverified_header(token))
        app_key = _unverified_issuer(token)
    else:
        _check_alg(peeked[0])
        app_key = _issuer(peeked[1])
    secret = secret_for(app_key)
    if secret is None:
        raise AuthError(401, _unknown_issuer_reason(app_key))
    return app_key, _verified_claims(token, secret, app_key)


def _check_scheme(scheme: str) -> None:
    lowered = scheme.lower() if scheme.isascii() else ""
    if lowered == "jwt":
        return
    if lowered == "bearer":
        raise AuthError(
            401,
            "Authorization uses the Bearer scheme, but Connect requests use the JWT scheme: "
            "'Authorization: JWT <token>' (Bearer is for OAuth 2.0 access tokens on api.atlassian.com)",
        )
    raise AuthError(
        401,
        f"unsupported Authorization scheme {_show(scheme)}; Connect requests use 'Authorization: JWT <token>'",
    )


def _token_from_header(authorization: str | None, raw_query: str) -> str:
    try:
        token = parse_jwt_authorization(authorization)
    except AuthError as error:
        if authorization is None and _has_jwt_parameter(raw_query):
            raise AuthError(
                401,
                f"{error.reason}; the ?jwt= query parameter was withdrawn for Jira APIs in 2022 and is ignored",
            ) from None
        raise
    if len(token) > MAX_TOKEN_CHARS:
        raise AuthError(401, f"token is {len(token)} characters long, more than the {MAX_TOKEN_CHARS} accepted")
    return token


def _has_jwt_parameter(raw_query: str) -> bool:
    return any(field.partition("=")[0] == "jwt" for field in raw_query.split("&"))


def _unverified_header(token: str) -> dict[str, Any]:
    import jwt  # on first use: see the module's note on PyJWT

    try:
        return jwt.get_unverified_header(token)
    # Hostile tokens also make PyJWT raise non-PyJWT errors (e.g. UnicodeEncodeError on lone surrogates).
    except Exception as error:
        raise AuthError(401, f"malformed token: {_describe(error)}") from None


def _check_alg(header: dict[str, Any]) -> None:
    if "alg" not in header:
        raise AuthError(401, f"token header has no alg; Connect tokens are signed with {ALGORITHM}")
    alg = header["alg"]
    if alg != ALGORITHM:
        raise AuthError(401, f"unsupported alg {_show(alg)}; only {ALGORITHM} is accepted for Connect tokens")


def _peek(token: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """The header and claims of a well-formed token, read (not verified) in one cheap pass; None
    otherwise. PyJWT verifies the token afterwards all the same; this only picks the secret."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        header, claims = (json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4))) for p in parts[:2])
    except (ValueError, TypeError, RecursionError):
        return None
    return (header, claims) if isinstance(header, dict) and isinstance(claims, dict) else None


def _unverified_issuer(token: str) -> str:
    import jwt

    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except Exception as error:
        raise AuthError(401, f"malformed token: {_describe(error)}") from None
    return _issuer(claims)


def _issuer(claims: dict[str, Any]) -> str:
    iss = claims.get("iss")
    if iss is None:
        raise AuthError(401, "token has no iss claim; iss must be the app key (the key of the app descriptor)")
    if not isinstance(iss, str) or not iss:
        raise AuthError(401, f"iss must be a non-empty string, the app key; got {_show(iss)}")
    return iss


def _unknown_issuer_reason(iss: str) -> str:
    reason = f"iss {_show(iss)} is not an app installed on this site"
    if _CLIENT_KEY_LIKE.fullmatch(iss):
        reason += " (it looks like a clientKey; iss must be the app key, the key of the app descriptor)"
    return reason


def _verified_claims(token: str, secret: str, app_key: str) -> dict[str, Any]:
    import jwt

    try:
        if len(secret.encode()) >= _HS256_KEY_BYTES:
            return jwt.decode(token, secret, algorithms=[ALGORITHM], options=_DECODE_OPTIONS)
        # Short fixture secrets make PyJWT warn on every request; the secret is the site's, not the caller's.
        # (Only then: entering catch_warnings costs more than the rest of the call.)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", jwt.InsecureKeyLengthWarning)
            return jwt.decode(token, secret, algorithms=[ALGORITHM], options=_DECODE_OPTIONS)
    except jwt.InvalidSignatureError:
        raise AuthError(
            401,
            f"bad signature: the token is not signed with the sharedSecret of app {_show(app_key)} on this site",
        ) from None
    except jwt.MissingRequiredClaimError as error:
        raise AuthError(401, f"{error}; Connect tokens must carry iss, iat, exp and qsh") from None
    except Exception as error:
        raise AuthError(401, f"token refused: {_describe(error)}") from None


def _check_times(claims: dict[str, Any], now: float, leeway: int) -> None:
    iat = _epoch_claim(claims, "iat")
    exp = _epoch_claim(claims, "exp")
    if exp < now - leeway:
        raise AuthError(401, f"token expired at {_number(exp)}, {_window(now, leeway)}")
    if "nbf" in claims:
        nbf = _epoch_claim(claims, "nbf")
        if nbf > now + leeway:
            raise AuthError(401, f"token not valid before {_number(nbf)} (nbf), {_window(now, leeway)}")
    if iat > now + leeway:
        raise AuthError(401, f"token issued in the future: iat {_number(iat)}, {_window(now, leeway)}")


def _window(now: float, leeway: int) -> str:
    return f"now {_number(now)} (leeway {leeway} s)"


def _epoch_claim(claims: dict[str, Any], name: str) -> float:
    value = claims[name]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise AuthError(401, f"claim {name} must be a number of seconds since the epoch, got {_show(value)}")
    if isinstance(value, float) and not math.isfinite(value):
        raise AuthError(401, f"claim {name} must be a finite number, got {value}")
    return value


def _check_qsh(qsh: Any, method: str, raw_path: str, raw_query: str) -> Literal["raw", "decoded"]:
    if not isinstance(qsh, str):
        raise AuthError(401, f"qsh must be a string, the query string hash of the request; got {_show(qsh)}")
    if qsh == CONTEXT_QSH:
        raise AuthError(
            401,
            "qsh is 'context-qsh': context tokens are not accepted for calls into Jira; "
            "sign each request with the query string hash of its method, path and query",
        )
    expected = query_string_hash(method, raw_path, raw_query)
    if qsh == expected:
        return "raw"
    decoded_path = unquote(raw_path)
    if decoded_path != raw_path and qsh == query_string_hash(method, decoded_path, raw_query):
        return "decoded"
    canonical = canonical_request(method, raw_path, raw_query)
    raise AuthError(
        401,
        f"qsh mismatch: expected the hash of canonical request '{_printable(canonical)}' "
        f"({expected}), token has {_show(qsh)}",
    )


def _show(value: Any) -> str:
    """A short rendering of a hostile value, safe for a log line or a response header."""
    if isinstance(value, str):
        text = _printable(value)
        return f"'{text}'" if len(text) <= _SHOW_LIMIT else f"'{text[:_SHOW_LIMIT]}...'"
    try:
        text = _printable(repr(value))
    except ValueError:  # an int beyond Python's digit limit for str()
        text = f"an integer of {value.bit_length()} bits"
    return text if len(text) <= _SHOW_LIMIT else f"{text[:_SHOW_LIMIT]}..."


def _number(value: float) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
        return str(int(value))
    return _show(value)


def _describe(error: Exception) -> str:
    message = _printable(str(error) or type(error).__name__)
    return message if len(message) <= 2 * _SHOW_LIMIT else f"{message[: 2 * _SHOW_LIMIT]}..."


def _printable(text: str) -> str:
    """ASCII without control characters: reasons end up in response headers and log lines."""
    return text.encode("unicode_escape").decode("ascii")
