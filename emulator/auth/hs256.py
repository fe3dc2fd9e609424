"""A fast path for the usual Connect token: compact HS256 with nothing unusual about it.

PyJWT stays the verifier of record (``emulator.auth.connect_token``). This module reads a token once and
says "valid, here are the claims" only where PyJWT's ``jwt.decode(token, secret, algorithms=["HS256"],
options={"require": REQUIRED_CLAIMS, ...})`` surely accepts it and returns the same claims; for anything
else it answers None and the caller asks PyJWT, so every refusal keeps PyJWT's verdict and reason.

"Surely" means: three non-empty segments of the base64url alphabet without padding, the header and
payload segments each the canonical encoding of its bytes (PyJWT refuses other trailing bits), both UTF-8
JSON objects and nothing after them, read as ``json.loads`` reads them for PyJWT; a header of only alg
(exactly HS256), typ and a string kid (so no crit, no b64); a key PyJWT prepares for HMAC without
complaint; an HMAC-SHA256 that matches (compared in constant time); and every required claim present and
not null. PyJWT checks nothing else with these options (PyJWT 2.x; tests/auth/test_hs256_differential.py
compares the two over the JWT attack suite and generated tokens).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from functools import lru_cache
from typing import Any, NamedTuple

ALGORITHM = "HS256"
REQUIRED_CLAIMS = ("iss", "iat", "exp", "qsh")

_COMPACT = re.compile(rb"([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)")
_HEADER_NAMES = frozenset({"alg", "typ", "kid"})
_TO_STANDARD = bytes.maketrans(b"-_", b"+/")
_PADDING = (b"", None, b"==", b"=")  # by length % 4: one character more than a multiple of 4 encodes nothing
_JSON = json.JSONDecoder()  # json.loads's own configuration: NaN and Infinity read, the last duplicate key wins
_KEPT_HEADER_CHARS = 256  # longer header segments are read anew each time, not remembered
# Prepared keys are remembered per secret (PyJWT's key checks cost more than the rest of a verification);
# a longer secret is left to PyJWT on every request rather than kept.
_KEPT_SECRET_CHARS = 1024


class CompactToken(NamedTuple):
    """A token in strict compact form, read but not verified."""

    header: dict[str, Any]
    claims: dict[str, Any]
    signing_input: bytes  # the header and payload segments, as signed
    signature: bytes  # the signature segment, still base64url


def read(token: str) -> CompactToken | None:
    """The header and claims of a token in strict compact form whose header and payload are JSON objects;
    None for anything else (which only PyJWT may judge)."""
    if not token.isascii():
        return None
    data = token.encode()
    match = _COMPACT.fullmatch(data)
    if match is None:
        return None
    header = _json_object(match[1]) if len(match[1]) > _KEPT_HEADER_CHARS else _header(match[1])
    claims = None if header is None else _json_object(match[2])
    if header is None or claims is None:
        return None
    return CompactToken(header, claims, data[: match.end(2)], match[3])


def verified_claims(token: CompactToken, secret: str) -> dict[str, Any] | None:
    """The token's claims when PyJWT would accept it with ``secret``; None when only PyJWT can tell."""
    header = token.header
    if header.get("alg") != ALGORITHM or not header.keys() <= _HEADER_NAMES:
        return None
    if not isinstance(header.get("kid", ""), str):
        return None
    keyed = _keyed_hmac(secret) if len(secret) <= _KEPT_SECRET_CHARS else None
    if keyed is None:
        return None
    mac = keyed.copy()
    mac.update(token.signing_input)
    signature = base64.urlsafe_b64encode(mac.digest()).rstrip(b"=")
    # The segment is compared in its encoded form: the canonical encoding of a digest is the only segment
    # PyJWT takes for it, and any other segment (padded, non-canonical, wrong) goes to PyJWT.
    if not hmac.compare_digest(signature, token.signature):
        return None
    claims = token.claims
    for name in REQUIRED_CLAIMS:
        if claims.get(name) is None:
            return None
    return claims


def _json_object(segment: bytes) -> dict[str, Any] | None:
    """The JSON object a header or payload segment encodes, as PyJWT reads it; None where PyJWT would
    refuse the segment, or where the fast reading could differ from PyJWT's (which then reads it)."""
    padding = _PADDING[len(segment) % 4]
    if padding is None:
        return None
    encoded = segment.translate(_TO_STANDARD) + padding
    data = binascii.a2b_base64(encoded)
    if binascii.b2a_base64(data, newline=False) != encoded:  # not canonical: PyJWT refuses it
        return None
    # PyJWT calls json.loads(data), which reads bytes as UTF-8 (with surrogatepass) unless they open with a
    # BOM or have a NUL in their first two: then the UTF-8 text does not open with "{", and raw_decode, which
    # skips no whitespace, reads no object from it. json.loads takes a document only if nothing but
    # whitespace follows it; the fast path takes it only if nothing does.
    try:
        text = data.decode("utf-8", "surrogatepass")
        value, end = _JSON.raw_decode(text)
    except (ValueError, RecursionError):
        return None
    return value if end == len(text) and isinstance(value, dict) else None


@lru_cache(maxsize=64)
def _header(segment: bytes) -> dict[str, Any] | None:
    """The header a segment encodes, remembered: a client sends the same header with every token. The dict
    is shared between the tokens, which only read it."""
    return _json_object(segment)


@lru_cache(maxsize=64)
def _keyed_hmac(secret: str) -> hmac.HMAC | None:
    """An HMAC-SHA256 keyed with the key PyJWT verifies HS256 with, by PyJWT's own rules (not empty, not
    PEM, SSH, DER or a JWK), to be copied for each token: a copy skips the key set-up (and OpenSSL's
    look-up of the digest) that a one-shot ``hmac.digest`` does on every call. None when PyJWT refuses the
    secret."""
    import jwt  # on first use: see emulator.auth.connect_token

    try:
        key: bytes = jwt.get_algorithm_by_name(ALGORITHM).prepare_key(secret)
    except Exception:  # PyJWT refuses it (InvalidKeyError, or a str that is not UTF-8): it says how, later
        return None
    return hmac.new(key, digestmod=hashlib.sha256)
