"""A call's request headers as the journal keeps and shows them: bounded in bytes, and with no secret in clear.

``Authorization`` is shown as its scheme and, for a JWT (a Connect token, or an access token the emulator
minted), the token's decoded header and claims: never its signature, and nothing that would let anyone
replay it or sign another. Any other credential is shown by its length only. A request's headers are kept
as they came while they fit in ``HEADERS_KEPT`` bytes; past that, the first that fit, and a note of what
was left out.
"""

from __future__ import annotations

import base64
import binascii
import json
from itertools import chain
from typing import Any

import msgspec

HEADERS_KEPT = 8 * 1024  # bytes of request headers (names and values) kept per journal entry
RawHeaders = list[tuple[bytes, bytes]] | tuple[tuple[bytes, bytes], ...]
_CREDENTIALS = {b"authorization", b"proxy-authorization"}  # shown as their scheme and a JWT's claims
_SECRETS = {b"cookie", b"x-emulator-control-token"}  # shown by their length only
_pack = msgspec.msgpack.Encoder().encode
_unpack = msgspec.msgpack.Decoder(list[tuple[bytes, bytes]]).decode


def kept_headers(headers: RawHeaders) -> bytes:
    """``headers`` as the journal keeps them: as they are when they fit, else the first that fit and a note;
    packed into one msgpack document, so that an entry holds one object for them rather than a list and a
    tuple and two bytes objects per header (a server under load turns a thousand entries over: see the
    performance page's journal paragraph). ``shown_headers`` reads them back."""
    packed = _pack(headers)
    # msgpack adds a few bytes to each name and value and never fewer: a document within the limit holds
    # names and values within it, which spares adding up their lengths on every call
    if len(packed) <= HEADERS_KEPT or sum(map(len, chain.from_iterable(headers))) <= HEADERS_KEPT:
        return packed
    kept: list[tuple[bytes, bytes]] = []
    size = 0
    for name, value in headers:
        size += len(name) + len(value)
        if size > HEADERS_KEPT:
            break
        kept.append((name, value))
    left = len(headers) - len(kept)
    note = f"{left} more header(s) not kept: the journal keeps {HEADERS_KEPT} bytes".encode()
    return _pack([*kept, (b"...", note)])


def shown_headers(headers: RawHeaders | bytes) -> list[list[str]]:
    """The headers as the journal shows them: ``[[name, value], ...]``, credentials redacted; ``headers`` as
    ``kept_headers`` packed them, or as a request carried them."""
    if isinstance(headers, bytes):
        headers = _unpack(headers)
    shown = []
    for name, value in headers:
        text = value.decode("latin-1")
        if name.lower() in _CREDENTIALS:
            text = redact_authorization(text)
        elif name.lower() in _SECRETS:
            text = f"(not kept: {len(text)} characters)"
        shown.append([name.decode("latin-1"), text])
    return shown


def redact_authorization(value: str) -> str:
    """``JWT {header} {claims} (signature not kept)`` for a JWT; the scheme and a length for anything else."""
    scheme, _, credentials = value.strip().partition(" ")
    credentials = credentials.strip()
    if not credentials:
        return f"(not kept: {len(value)} characters)"
    decoded = _jwt_parts(credentials)
    if decoded is None:
        return f"{scheme} (not kept: {len(credentials)} characters, not a JWT)"
    header, claims = (json.dumps(part, ensure_ascii=False, separators=(",", ":")) for part in decoded)
    return f"{scheme} {header} {claims} (signature not kept)"


def _jwt_parts(token: str) -> tuple[Any, Any] | None:
    """The decoded header and claims of a compact JWT (nothing is verified), or None."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        decoded = [json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))) for part in parts[:2]]
    except (ValueError, binascii.Error, RecursionError):
        return None
    return (decoded[0], decoded[1]) if all(isinstance(part, dict) for part in decoded) else None
