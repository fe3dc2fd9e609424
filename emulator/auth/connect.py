"""Verification of Atlassian Connect requests, ``Authorization: JWT <token>`` (auth.md section 1).

PyJWT verifies the tokens (``emulator.auth.connect_token``); this module adds the Connect rules: HS256 only,
``iss`` is the app key, lifetimes against the emulator's clock, and a ``qsh`` bound to this very request.
Every refusal is an AuthError whose reason tells the integrator exactly what was wrong, which real Jira does
not.
"""

from __future__ import annotations

import math
import re
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Literal
from urllib.parse import unquote

from msgspec import Struct

from emulator.auth import hs256
from emulator.auth.connect_token import app_and_claims
from emulator.auth.qsh import canonical_request, query_string_hash
from emulator.auth.refusals import AuthError, number, printable, show

CONTEXT_QSH = "context-qsh"
DEFAULT_LEEWAY = 30
# Far above any real Connect token; real servers refuse such headers anyway (h11 allows 16 KiB).
MAX_TOKEN_CHARS = 64 * 1024
# The longest token TokenCache keeps: a real Connect token is well under 1 KiB, and a client sending
# megabyte tokens must not fill the memory of the emulator with them.
KEPT_TOKEN_CHARS = 4 * 1024

_AUTHORIZATION = re.compile(r"(\S+)(\s*)(.*)", re.DOTALL)
_WHITESPACE = re.compile(r"\s")
_JWT_SCHEME = "JWT "
# A request whose path and query are longer than this is verified without the cache: it keeps nothing of it.
_REQUEST_KEY_CHARS = 16 * 1024


class TokenCache:
    """What one emulator has verified before, per request (method, raw path, raw query): the request's query
    string hash, and the last Authorization header verified for it.

    A Connect client signs each call anew, so the tokens differ while the requests repeat: the qsh of each
    request is worked out once. A client that sends the same header again (one that signs a token once and
    reuses it) finds it here: the qsh is a pure function of the token's claims and of the method, path and
    query, so a hit skips the signature check and the qsh computation; the app's current secret is compared
    and the lifetime checked anew on every request all the same, so nothing expired or re-keyed gets through.

    A request is kept once a token is verified for it, with that header, which the next token verified for
    the same request replaces: a client that signs every call leaves one header per request, and finding out
    that a header is new costs one comparison. Refusals keep nothing, so requests that no valid token signs
    hold no memory. A token longer than KEPT_TOKEN_CHARS is never kept, nor a request whose path and query are
    longer than 16 KiB, so the memory held stays bounded whatever clients send: at most ``size`` requests
    (the oldest goes first: a request that comes often is at worst kept again, its qsh worked out anew).
    Owned by one emulator: nothing global.
    """

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self.requests: OrderedDict[tuple[str, str, str], KnownRequest] = OrderedDict()  # the oldest first

    def request(self, method: str, raw_path: str, raw_query: str) -> KnownRequest:
        """What is known of a request: kept once a token is verified for it, made anew (its qsh worked out)
        until then."""
        key = (method, raw_path, raw_query)
        return self.requests.get(key) or KnownRequest(key)

    def keep(self, known: KnownRequest, authorization: str, verified: _VerifiedRequest) -> None:
        """Remember the header just verified for a request, in place of the one before, and keep the request
        (the oldest kept goes past ``size``) unless its path and query are longer than 16 KiB."""
        if len(authorization) > len(_JWT_SCHEME) + KEPT_TOKEN_CHARS:
            return
        known.authorization, known.verified = authorization, verified
        _, raw_path, raw_query = key = known.key
        if key not in self.requests and len(raw_path) + len(raw_query) <= _REQUEST_KEY_CHARS:
            self.requests[key] = known
            if len(self.requests) > self.size:
                self.requests.popitem(last=False)

    def query_string_hash(self, method: str, raw_path: str, raw_query: str) -> str:
        """``emulator.auth.qsh.query_string_hash``, worked out once per request (while it is kept)."""
        return self.request(method, raw_path, raw_query).qsh

    def kept_header(self, method: str, raw_path: str, raw_query: str) -> str | None:
        """The Authorization header kept for a request, if any; a look that changes nothing."""
        known = self.requests.get((method, raw_path, raw_query))
        return None if known is None else known.authorization

    def clear(self) -> None:
        self.requests.clear()


class KnownRequest:
    """A request (method, raw path, raw query), its query string hash, and the last Authorization header
    verified for it."""

    __slots__ = ("key", "qsh", "authorization", "verified")

    def __init__(self, key: tuple[str, str, str]) -> None:
        self.key = key
        self.qsh = query_string_hash(*key)
        self.authorization: str | None = None
        self.verified: _VerifiedRequest | None = None


class VerifiedToken(Struct, frozen=True, gc=False):
    """A Connect token that passed every check, for one request."""

    app_key: str
    claims: dict[str, Any]
    qsh_form: Literal["raw", "decoded"]
    lifetime: float  # exp - iat, in seconds


class _VerifiedRequest(Struct, frozen=True, gc=False):
    """A request whose token passed every check: what a later identical request needs to be re-checked."""

    secret: str  # the app's sharedSecret the signature was verified with
    iat: float
    exp: float
    nbf: float | None
    verified: VerifiedToken


def parse_jwt_authorization(header: str | None) -> str:
    """The token of an ``Authorization: JWT <token>`` header; AuthError(401) for anything else."""
    if header is not None and header.startswith(_JWT_SCHEME):
        token = header[len(_JWT_SCHEME) :]
        words = token.split()  # one word as long as the token: no whitespace in it (str.split's is re's \s)
        if len(words) == 1 and len(words[0]) == len(token):  # "JWT <token>" exactly, which the rules below take
            return token
    # Servers strip the whitespace around a field value (RFC 9110); a direct caller may not have.
    match = _AUTHORIZATION.fullmatch((header or "").strip())
    if match is None:
        raise AuthError(401, "no Authorization header; Connect requests send 'Authorization: JWT <token>'")
    scheme, separator, token = match.groups()
    _check_scheme(scheme)
    if not token:
        raise AuthError(401, "Authorization header has the JWT scheme but no token after it")
    if separator != " ":
        got = printable(separator)
        raise AuthError(401, f"Authorization header needs exactly one space after 'JWT', got '{got}'")
    if _WHITESPACE.search(token):
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
    pyjwt_only: bool = False,
) -> VerifiedToken:
    """Verify the Connect JWT of one request; AuthError(401, reason) on any failure, nothing else escapes.

    Only the Authorization header counts: a ``?jwt=`` query parameter is never taken as the token.
    ``pyjwt_only`` has PyJWT alone verify the token, without the fast path for the usual HS256 token
    (``emulator.auth.hs256``): the verdict is the same either way, which the differential tests check.
    """
    known = None
    if cache is not None:  # TokenCache.request, without a call more: nearly every request is one kept
        key = (method, raw_path, raw_query)
        known = cache.requests.get(key) or KnownRequest(key)
    if known is not None and known.verified is not None and known.authorization == authorization:
        seen = known.verified
        if secret_for(seen.verified.app_key) == seen.secret:
            if seen.exp < now - leeway or seen.iat > now + leeway or (seen.nbf is not None and seen.nbf > now + leeway):
                _check_times(seen.verified.claims, now, leeway)  # raises, with the reason
            return seen.verified
    expected = query_string_hash(method, raw_path, raw_query) if known is None else known.qsh
    if authorization is not None and not pyjwt_only:
        usual = _usual_request(authorization, expected, secret_for, now, leeway)
        if usual is not None:
            if cache is not None and known is not None:
                cache.keep(known, authorization, usual)
            return usual.verified
    token = _token_from_header(authorization, raw_query)
    app_key, secret, claims = app_and_claims(token, secret_for, pyjwt_only=pyjwt_only)
    iat, exp, nbf = _check_times(claims, now, leeway)
    hash_of = query_string_hash if cache is None else cache.query_string_hash
    qsh_form = _check_qsh(claims["qsh"], expected, method, raw_path, raw_query, hash_of)
    verified = VerifiedToken(app_key, claims, qsh_form, _lifetime(iat, exp))
    if cache is not None and known is not None and authorization is not None:
        cache.keep(known, authorization, _VerifiedRequest(secret, iat, exp, nbf, verified))
    return verified


def _usual_request(
    authorization: str, expected_qsh: str, secret_for: Callable[[str], str | None], now: float, leeway: int
) -> _VerifiedRequest | None:
    """The usual Connect request, checked in one pass: ``JWT <token>`` with a token that ``hs256`` verifies,
    integer ``iat`` and ``exp`` inside the window, no ``nbf``, and the qsh of the request as sent
    (``expected_qsh``). None for anything else, which ``verify_connect_request`` then checks rule by rule (and
    refuses with the reason): this answers only where those rules accept, with the same result. A Connect
    client signs every call anew, so nearly every request takes this path, and it makes as few calls as its
    checks allow."""
    if not authorization.startswith(_JWT_SCHEME) or len(authorization) > len(_JWT_SCHEME) + MAX_TOKEN_CHARS:
        return None
    found = hs256.verified(authorization[len(_JWT_SCHEME) :], secret_for)  # its alphabet has no whitespace
    if found is None:
        return None
    app_key, secret, claims = found
    iat, exp, qsh = claims["iat"], claims["exp"], claims["qsh"]
    if type(iat) is not int or type(exp) is not int or "nbf" in claims:
        return None
    if exp < now - leeway or iat > now + leeway or qsh != expected_qsh:
        return None
    return _VerifiedRequest(secret, iat, exp, None, VerifiedToken(app_key, claims, "raw", exp - iat))


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
        f"unsupported Authorization scheme {show(scheme)}; Connect requests use 'Authorization: JWT <token>'",
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


def _check_times(claims: dict[str, Any], now: float, leeway: int) -> tuple[float, float, float | None]:
    """The token's iat, exp and nbf (None when it has none), when they are numbers and ``now`` is inside."""
    iat = _epoch_claim(claims, "iat")
    exp = _epoch_claim(claims, "exp")
    if exp < now - leeway:
        raise AuthError(401, f"token expired at {number(exp)}, {_window(now, leeway)}")
    nbf = None
    if "nbf" in claims:
        nbf = _epoch_claim(claims, "nbf")
        if nbf > now + leeway:
            raise AuthError(401, f"token not valid before {number(nbf)} (nbf), {_window(now, leeway)}")
    if iat > now + leeway:
        raise AuthError(401, f"token issued in the future: iat {number(iat)}, {_window(now, leeway)}")
    return iat, exp, nbf


def _lifetime(iat: float, exp: float) -> float:
    """exp - iat in seconds; infinite when that is too large for a float (exp 10**400 and iat 0.5)."""
    try:
        return exp - iat
    except OverflowError:
        return math.inf


def _window(now: float, leeway: int) -> str:
    return f"now {number(now)} (leeway {leeway} s)"


def _epoch_claim(claims: dict[str, Any], name: str) -> float:
    value = claims[name]
    if type(value) is int:  # the usual claim, which the checks below would pass
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise AuthError(401, f"claim {name} must be a number of seconds since the epoch, got {show(value)}")
    if isinstance(value, float) and not math.isfinite(value):
        raise AuthError(401, f"claim {name} must be a finite number, got {value}")
    return value


def _check_qsh(
    qsh: Any, expected: str, method: str, raw_path: str, raw_query: str, hash_of: Callable[[str, str, str], str]
) -> Literal["raw", "decoded"]:
    """How the token's qsh matches the request: the hash of the request as sent (``expected``), or of its path
    percent-decoded (``hash_of`` works that out); AuthError(401) with the canonical request otherwise."""
    if not isinstance(qsh, str):
        raise AuthError(401, f"qsh must be a string, the query string hash of the request; got {show(qsh)}")
    if qsh == CONTEXT_QSH:
        raise AuthError(
            401,
            "qsh is 'context-qsh': context tokens are not accepted for calls into Jira; "
            "sign each request with the query string hash of its method, path and query",
        )
    if qsh == expected:
        return "raw"
    decoded_path = unquote(raw_path)
    if decoded_path != raw_path and qsh == hash_of(method, decoded_path, raw_query):
        return "decoded"
    canonical = canonical_request(method, raw_path, raw_query)
    raise AuthError(
        401,
        f"qsh mismatch: expected the hash of canonical request '{printable(canonical)}' "
        f"({expected}), token has {show(qsh)}",
    )
