"""Hypothesis strategies for Connect tokens, well made and odd: for the HS256 differential tests.

A token is drawn as its parts: header and payload JSON text (odd spellings included: duplicate keys, NaN
and Infinity, huge numbers, escapes, a BOM, whitespace, UTF-16), how each segment is encoded (canonical,
padded, standard alphabet, non-canonical trailing bits), a signature over exactly those segments (with the
app's secret, another key or another digest, encoded in the same ways), and at times a mutation of the
finished token (a changed, dropped or inserted character). Most tokens are signed with the right secret,
so that the odd ones get past the signature check and their content is what is compared.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

from hypothesis import strategies as st

from emulator.auth.qsh import query_string_hash

NOW = 1_750_000_000
METHOD, PATH = "POST", "/rest/deployments/0.1/bulk"
QSH = query_string_hash(METHOD, PATH, "")
APP = "full-app"
# Secrets PyJWT treats differently: long enough, short (it warns), empty, key-shaped (it refuses them as HMAC
# keys), non-ASCII, not encodable at all, and long.
SECRETS = {
    APP: "full-secret-0123456789abcdef0123456789",
    "short-app": "short",
    "empty-app": "",
    "pem-app": "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----",
    "ssh-app": "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7 someone@example.com",
    "jwk-app": '{"kty":"oct","k":"c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0"}',
    "unicode-app": "sécret-☃-0123456789abcdef0123456789",
    "surrogate-app": "secret-\ud800-0123456789abcdef0123456789",
    "long-app": "long-secret-" + "0123456789" * 110,
    "block-app": "block-secret-" + "0123456789" * 5 + "x",  # one SHA-256 block: the HMAC key as it is
    "wide-app": "wide-secret-☃-" + "0123456789" * 9,  # longer than a block: the HMAC key is its digest
}
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=8,
)
_times = st.one_of(
    st.integers(NOW - 100, NOW + 100),
    st.floats(NOW - 100, NOW + 100),
    st.sampled_from([True, False, None, "1750000000", [NOW], float("nan"), float("inf"), -float("inf")]),
    st.sampled_from([10**30, -(10**30), 2**63, 1e300, -0.0]),
)
_algs = st.sampled_from(["HS256", "HS256", "HS256", "hs256", "HS512", "none", "RS256", "", None, ["HS256"], 256])


@st.composite
def headers(draw: st.DrawFn) -> dict[str, Any]:
    header: dict[str, Any] = {} if draw(st.integers(0, 20)) == 0 else {"alg": draw(_algs)}
    optional = {"typ": st.sampled_from(["JWT", "jwt", None, 1]) | _json, "kid": st.text(max_size=5) | _json}
    optional |= {"crit": st.sampled_from([["b64"], ["exp"], [], "b64"]), "b64": st.sampled_from([True, False])}
    optional |= {"jku": st.just("http://127.0.0.1:9/keys"), "x5c": st.just(["MIIB"])}
    for name in draw(st.lists(st.sampled_from(sorted(optional)), max_size=3, unique=True)):
        header[name] = draw(optional[name])
    return header


@st.composite
def claims(draw: st.DrawFn) -> dict[str, Any]:
    found: dict[str, Any] = {"iss": APP, "iat": NOW - 10, "exp": NOW + 60, "qsh": QSH}
    changes = {
        "iss": st.sampled_from([*SECRETS, "no-such-app", "", 1, None, ["full-app"]]),
        "iat": _times,
        "exp": _times,
        "nbf": _times,
        "qsh": st.sampled_from([QSH, QSH.upper(), "context-qsh", "", None, 0, [QSH]]),
        "jti": st.text(max_size=8) | _json,
        "sub": _json,
        "aud": _json,
        "context": _json,
    }
    if draw(st.integers(0, 2)) == 0:  # the usual claims, a third of the time
        return found
    for name in draw(st.lists(st.sampled_from(sorted(changes)), min_size=1, max_size=3, unique=True)):
        found[name] = draw(changes[name])
    if draw(st.integers(0, 5)) == 0:
        del found[draw(st.sampled_from(["iss", "iat", "exp", "qsh"]))]
    return found


def usual_json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


@st.composite
def odd_json(draw: st.DrawFn, value: dict[str, Any]) -> bytes:
    """``value``'s JSON spelled one of the odd ways a client or an attacker might, as bytes."""
    text = json.dumps(
        value, separators=draw(st.sampled_from([(",", ":"), (", ", ": ")])), ensure_ascii=draw(st.booleans())
    )
    spelling = draw(st.integers(0, 7))
    if spelling == 1 and value:  # a duplicate of the first key, before it (the last one wins)
        text = "{" + json.dumps(next(iter(value))) + ':"decoy",' + text[1:]
    elif spelling == 2 and value:  # ... and after it
        text = text[:-1] + "," + json.dumps(next(iter(value))) + ":0}"
    elif spelling == 3:
        text = draw(st.sampled_from(["", " ", "\n", "\t"])) + text + draw(st.sampled_from(["", " ", "\r\n"]))
    elif spelling == 4:
        text = text.replace("a", "\\u0061")  # an escape for each a (which breaks NaN and false)
    elif spelling == 5:
        text = draw(st.sampled_from(["[", "null", "1", '"x"', "{", "{}}", "{}x", "\x00{}", "[]", "{}"]))
    elif spelling == 6:  # something after the document
        text += draw(st.sampled_from(["x", "}", "{}", " 1", "\x00", "\ufeff", "/**/"]))
    encoding = draw(st.sampled_from(["utf-8", "utf-8", "utf-8-sig", "utf-16-le", "utf-16", "utf-32", "latin-1"]))
    try:
        return text.encode(encoding, "surrogatepass" if encoding.startswith("utf") else "strict")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass")


@st.composite
def odd_segments(draw: st.DrawFn, data: bytes) -> bytes:
    """``data`` base64url-encoded as some client or attacker might, not as PyJWT writes it."""
    canonical = base64.urlsafe_b64encode(data).rstrip(b"=")
    form = draw(st.integers(0, 4))
    if form == 0:
        return base64.urlsafe_b64encode(data) + b"=" * draw(st.integers(0, 2))  # padded, or more than padded
    if form == 1:
        return base64.standard_b64encode(data).rstrip(b"=")  # + and / instead of - and _
    if form == 2 and canonical and len(canonical) % 4:  # other bits after the last whole byte
        last = ALPHABET.index(chr(canonical[-1]))
        return canonical[:-1] + ALPHABET[last ^ draw(st.sampled_from([1, 2, 3]))].encode()
    at = draw(st.integers(0, len(canonical)))
    return canonical[:at] + draw(st.sampled_from([b"!", b"=", b" ", b"\xc3\xa9", b"+", b"", b"A"])) + canonical[at:]


ODDITIES = ("header", "header-json", "payload-json", "header-segment", "payload-segment", "signature-segment")
ODDITIES += ("key", "digest", "mutation")


@st.composite
def tokens(draw: st.DrawFn) -> str:
    """A token for ``POST PATH`` at NOW, signed with the secret of the app its iss names, its claims drawn,
    and at most two things about it odd (see ODDITIES)."""
    count = draw(st.sampled_from([0, 0, 1, 1, 1, 2]))
    odd = draw(st.sets(st.sampled_from(ODDITIES), min_size=count, max_size=count))
    header_value = draw(headers()) if "header" in odd else {"typ": "JWT", "alg": "HS256"}
    payload_value = draw(claims())
    header_json = draw(odd_json(header_value)) if "header-json" in odd else usual_json(header_value)
    payload_json = draw(odd_json(payload_value)) if "payload-json" in odd else usual_json(payload_value)
    header, payload = (
        draw(odd_segments(data)) if f"{part}-segment" in odd else base64.urlsafe_b64encode(data).rstrip(b"=")
        for part, data in (("header", header_json), ("payload", payload_json))
    )
    signing_input = header + b"." + payload
    key = draw(st.sampled_from([*SECRETS.values(), "not-the-secret"])) if "key" in odd else SECRETS[APP]
    digest = draw(st.sampled_from([hashlib.sha512, hashlib.sha1, hashlib.md5])) if "digest" in odd else hashlib.sha256
    try:
        signature = hmac.new(key.encode(), signing_input, digest).digest()
    except UnicodeEncodeError:
        signature = b"\x00" * 32
    encoded = (
        draw(odd_segments(signature))
        if "signature-segment" in odd
        else base64.urlsafe_b64encode(signature).rstrip(b"=")
    )
    token = (signing_input + b"." + encoded).decode("utf-8", "surrogateescape")
    return draw(mutations(token)) if "mutation" in odd else token


@st.composite
def mutations(draw: st.DrawFn, token: str) -> str:
    """``token`` with one character changed, dropped or added."""
    at = draw(st.integers(0, len(token)))
    new = draw(
        st.sampled_from([".", "=", "A", "-", "_", "+", "/", "é", "\x00", "\ud800", ""]) | st.sampled_from(ALPHABET)
    )
    return token[:at] + new + token[at + draw(st.integers(0, 1)) :]
