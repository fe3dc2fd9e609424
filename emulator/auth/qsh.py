"""The Atlassian Connect query string hash (qsh): canonical request and its SHA-256 (auth.md section 2).

Pure stdlib. The query is parsed as bytes so that every str input canonicalises without raising: invalid
percent escapes stay literal, and percent-encoded bytes that are not UTF-8 come out exactly as they went in.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from urllib.parse import quote_from_bytes, unquote_to_bytes

_LOW_SURROGATE_ESCAPES = ("\udc80", "\udcff")


def canonical_uri(path: str) -> str:
    """Canonical URI of a site-relative path: one trailing "/" removed, "" -> "/", "&" -> "%26"."""
    if path.endswith("/"):
        path = path[:-1]
    return (path or "/").replace("&", "%26")


def canonical_query(raw_query: str) -> str:
    """Canonical query string of a raw (still percent-encoded) query, without the leading "?"."""
    groups: dict[bytes, list[bytes]] = {}
    for name, value in _parse_form(_utf8(raw_query)):
        if name != b"jwt":
            groups.setdefault(name, []).append(value)
    pairs = [(_encode(name), _encode_values(values)) for name, values in groups.items()]
    # Encoded names and values are ASCII, so str order is code-unit order.
    pairs.sort(key=lambda pair: f"{pair[0]} {pair[1]}")
    return "&".join(f"{name}={values}" for name, values in pairs)


def canonical_request(method: str, path: str, raw_query: str) -> str:
    """METHOD & canonical URI & canonical query, the string whose hash is the qsh."""
    return f"{method.upper()}&{canonical_uri(path)}&{canonical_query(raw_query)}"


def query_string_hash(method: str, path: str, raw_query: str) -> str:
    """Lower-case hex SHA-256 of the UTF-8 canonical request."""
    return hashlib.sha256(_utf8(canonical_request(method, path, raw_query))).hexdigest()


def _parse_form(data: bytes) -> Iterator[tuple[bytes, bytes]]:
    for field in data.split(b"&"):
        if field:
            name, _, value = field.partition(b"=")
            yield _form_decode(name), _form_decode(value)


def _form_decode(data: bytes) -> bytes:
    return unquote_to_bytes(data.replace(b"+", b" "))


def _encode_values(values: list[bytes]) -> str:
    return ",".join(_encode(value) for value in sorted(values, key=_decoded_order))


def _decoded_order(value: bytes) -> bytes:
    # Sort by the decoded text in UTF-16 code-unit order, as Jira (Java) and atlassian-connect-express (JS)
    # do; big-endian UTF-16 bytes compare exactly like code units.
    return value.decode("utf-8", "surrogateescape").encode("utf-16-be", "surrogatepass")


def _encode(data: bytes) -> str:
    """RFC 3986 percent-encoding, upper-case hex, only A-Z a-z 0-9 - . _ ~ kept."""
    return quote_from_bytes(data, safe="")


def _utf8(text: str) -> bytes:
    """UTF-8 that never raises: surrogate escapes give back their bytes, other lone surrogates pass."""
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return b"".join(_char_utf8(char) for char in text)


def _char_utf8(char: str) -> bytes:
    low, high = _LOW_SURROGATE_ESCAPES
    return char.encode("utf-8", "surrogateescape" if low <= char <= high else "surrogatepass")
