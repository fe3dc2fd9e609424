"""A fast path for the usual Connect token: compact HS256 with nothing unusual about it.

PyJWT stays the verifier of record (``emulator.auth.connect_token``). This module reads a token once and
says "valid, here are the claims" only where PyJWT's ``jwt.decode(token, secret, algorithms=["HS256"],
options={"require": REQUIRED_CLAIMS, ...})`` surely accepts it and returns the same claims; for anything
else it answers None and the caller asks PyJWT, so every refusal keeps PyJWT's verdict and reason.

"Surely" means: three non-empty segments of the base64url alphabet without padding, the header and
payload segments each the canonical encoding of its bytes (PyJWT refuses other trailing bits), both JSON
objects read as ``json.loads`` reads them for PyJWT (by msgspec, where it reads them at all); a header of
only alg (exactly HS256), typ and a string kid (so no crit, no b64); a key PyJWT prepares for HMAC without
complaint; an HMAC-SHA256 that matches (compared in constant time); and every required claim present and
not null. PyJWT checks nothing else with these options (PyJWT 2.x; tests/auth/test_hs256_differential.py
compares the two over the JWT attack suite and generated tokens).
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
import json
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import msgspec

ALGORITHM = "HS256"
REQUIRED_CLAIMS = ("iss", "iat", "exp", "qsh")

_BASE64URL = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_HEADER_NAMES = frozenset({"alg", "typ", "kid"})
_TO_STANDARD = bytes.maketrans(b"-_", b"+/")
_TO_URLSAFE = bytes.maketrans(b"+/", b"-_")
_PADDING = (b"", None, b"==", b"=")  # by length % 4: one character more than a multiple of 4 encodes nothing
_JSON = json.JSONDecoder()  # json.loads's own configuration: NaN and Infinity read, the last duplicate key wins
_decode_json = msgspec.json.Decoder().decode  # into dicts, lists, str, int, float, bool and None
_KEPT_HEADER_CHARS = 256  # a longer header segment is not the usual one: PyJWT reads it
# Prepared keys are remembered per secret (PyJWT's key checks cost more than the rest of a verification);
# a longer secret is left to PyJWT on every request rather than kept.
_KEPT_SECRET_CHARS = 1024
_SHA256_BLOCK = 64  # bytes: an HMAC key is padded to one block (or hashed first if longer)
_XOR_IPAD = bytes(b ^ 0x36 for b in range(256))  # translate tables: each key byte XOR HMAC's ipad, opad
_XOR_OPAD = bytes(b ^ 0x5C for b in range(256))


def verified(token: str, secret_for: Callable[[str], str | None]) -> tuple[str, str, dict[str, Any]] | None:
    """The issuer, its secret and the claims of a token that PyJWT surely accepts with the secret its ``iss``
    names (``secret_for``); None for anything else, which only PyJWT may judge. One function for the whole
    check: a Connect client signs every call anew, so nearly every request passes here."""
    if not token.isascii():
        return None
    data = token.encode()
    if data.translate(None, _BASE64URL) != b"..":  # the alphabet and two dots, nothing else
        return None
    head, payload, signature = data.split(b".")
    if not (head and payload and signature) or len(head) > _KEPT_HEADER_CHARS or not _usual_header(head):
        return None
    claims = _json_object(payload)
    if claims is None:
        return None
    issuer: Any = claims.get("iss")  # a non-empty string, checked next
    secret = secret_for(issuer) if type(issuer) is str and issuer else None
    if secret is None or len(secret) > _KEPT_SECRET_CHARS:
        return None
    pads = _keyed_sha256(secret)
    if pads is None:
        return None
    inner, outer = pads[0].copy(), pads[1].copy()
    inner.update(data[: len(head) + 1 + len(payload)])
    outer.update(inner.digest())
    mac = binascii.b2a_base64(outer.digest(), newline=False).translate(_TO_URLSAFE).rstrip(b"=")
    # The segment is compared in its encoded form: the canonical encoding of a digest is the only segment
    # PyJWT takes for it, and any other segment (padded, non-canonical, wrong) goes to PyJWT.
    if not hmac.compare_digest(mac, signature):
        return None
    for name in REQUIRED_CLAIMS:
        if claims.get(name) is None:
            return None
    return issuer, secret, claims


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
    # PyJWT calls json.loads(data). msgspec reads strict UTF-8 JSON (whitespace around it allowed, as
    # json.loads allows it) and, where it reads a document at all, reads the one json.loads reads: the same
    # values, the last of duplicate keys, integers of any size. What it refuses and json.loads may take
    # (NaN, Infinity, a float out of range, a surrogate, a very long number) is read as json.loads reads it.
    try:
        value = _decode_json(data)
    except (msgspec.MsgspecError, ValueError, RecursionError):
        value = _json_loads_object(data)
    return value if isinstance(value, dict) else None


def _json_loads_object(data: bytes) -> Any:
    """``json.loads(data)`` where it surely reads what PyJWT's call reads, else None: json.loads reads bytes
    as UTF-8 (with surrogatepass) unless they open with a BOM or have a NUL in their first two, and then the
    UTF-8 text does not open with "{" and raw_decode, which skips no whitespace, reads no object from it.
    json.loads takes a document only if nothing but whitespace follows it; this takes it only if nothing
    does."""
    try:
        text = data.decode("utf-8", "surrogatepass")
        value, end = _JSON.raw_decode(text)
    except (ValueError, RecursionError):
        return None
    return value if end == len(text) else None


@lru_cache(maxsize=64)
def _usual_header(segment: bytes) -> bool:
    """Whether a header segment is the usual one: a JSON object of alg exactly HS256 and at most typ and a
    string kid beside it (so no crit, no b64). Remembered: a client sends the same header with every token."""
    header = _json_object(segment)
    return (
        header is not None
        and header.get("alg") == ALGORITHM
        and header.keys() <= _HEADER_NAMES
        and isinstance(header.get("kid", ""), str)
    )


@lru_cache(maxsize=64)
def _keyed_sha256(secret: str) -> tuple[Any, Any] | None:
    """HMAC-SHA256 (RFC 2104) keyed with the key PyJWT verifies HS256 with, by PyJWT's own rules (not empty,
    not PEM, SSH, DER or a JWK), as its two SHA-256 states after the padded key: a token's MAC is the outer
    state's copy fed the inner state's copy's digest of the signing input. Copies of keyed states skip the
    key set-up that ``hmac.digest`` does on every call, and no Python-level ``hmac.HMAC`` method runs.
    None when PyJWT refuses the secret."""
    import jwt  # on first use: see emulator.auth.connect_token

    try:
        key: bytes = jwt.get_algorithm_by_name(ALGORITHM).prepare_key(secret)
    except Exception:  # PyJWT refuses it (InvalidKeyError, or a str that is not UTF-8): it says how, later
        return None
    if len(key) > _SHA256_BLOCK:
        key = hashlib.sha256(key).digest()
    key = key.ljust(_SHA256_BLOCK, b"\0")
    return hashlib.sha256(key.translate(_XOR_IPAD)), hashlib.sha256(key.translate(_XOR_OPAD))
