"""Hypothesis strategies for hostile input: broken bodies, odd queries and path segments, limit-sized values."""

from __future__ import annotations

import json
import string
from typing import Any
from urllib.parse import quote

from hypothesis import strategies as st

from tests.factories import deployment_data

# -- bodies ---------------------------------------------------------------------------------------------

# object keys with any character: control characters too (they end up quoted in X-Emulator-Reason)
_keys = st.text(max_size=12)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(_keys, children, max_size=4),
    max_leaves=12,
)

JSON_PUNCTUATION = '{}[]",:\\ \t\n-+.eE0123456789'


@st.composite
def valid_bodies(draw: st.DrawFn) -> str:
    """A small valid submit body (its deployment may or may not be accepted): the seed for mutations."""
    number = draw(st.integers(1, 10**6))
    data = deployment_data(f"fuzz-{number % 7}", "env", number, usn=draw(st.integers(1, 100)))
    top: dict[str, Any] = {"deployments": [data]}
    if draw(st.booleans()):
        top["properties"] = {"fuzz": str(number)}
    return json.dumps(top, ensure_ascii=draw(st.booleans()))


@st.composite
def malformed_json(draw: st.DrawFn) -> bytes:
    """A valid body damaged one to four times: truncated, a character dropped, inserted or replaced."""
    text = draw(valid_bodies())
    for _ in range(draw(st.integers(1, 4))):
        if not text:
            break
        at = draw(st.integers(0, len(text) - 1))
        action = draw(st.sampled_from(["truncate", "drop", "insert", "replace", "duplicate"]))
        noise = draw(st.sampled_from(JSON_PUNCTUATION) | st.characters(exclude_categories=["Cs"]))
        if action == "truncate":
            text = text[:at]
        elif action == "drop":
            text = text[:at] + text[at + 1 :]
        elif action == "insert":
            text = text[:at] + noise + text[at:]
        elif action == "replace":
            text = text[:at] + noise + text[at + 1 :]
        else:
            text = text[:at] + text[at : at + 20] + text[at:]
    return text.encode("utf-8")


def _with(**fields: Any) -> dict[str, Any]:
    data = deployment_data("fuzz-doc", "env", 1)
    data.update(fields)
    return data


def _dump(value: Any) -> bytes:
    return json.dumps(value, allow_nan=True).encode()


json_documents = st.one_of(
    json_values.map(_dump),
    json_values.map(lambda v: _dump({"deployments": v})),
    json_values.map(lambda v: _dump({"deployments": [v]})),
    json_values.map(lambda v: _dump({"deployments": [deployment_data("fuzz-doc", "env", 1)], "properties": v})),
    json_values.map(lambda v: _dump({"deployments": [_with(pipeline=v)]})),
    json_values.map(lambda v: _dump({"deployments": [_with(environment=v)]})),
    json_values.map(lambda v: _dump({"deployments": [_with(associations=v)]})),
    json_values.map(lambda v: _dump({"deployments": [_with(deploymentSequenceNumber=v)]})),
    json_values.map(lambda v: _dump({"deployments": [_with(commands=v, triggeredBy=v, label=v)]})),
    st.sampled_from(
        [
            b"",
            b"null",
            b"[]",
            b"{}",
            b'{"deployments": []}',
            b'{"deployments": null}',
            b'{"deployments": NaN}',
            b'{"deployments": [Infinity]}',
            b'{"deployments": [1e999999]}',
            b'{"deployments": [' + b"9" * 5000 + b"]}",
            b'{"deployments": "' + b"\\ud800" + b'"}',
            b'\xef\xbb\xbf{"deployments": []}',
            b'{"deployments": [], "deployments": {}}',
        ]
    ),
)

# Byte sequences that are not UTF-8: a lone continuation byte, overlong forms, an encoded surrogate,
# a truncated multi-byte character, bytes that never occur in UTF-8, a code point past U+10FFFF.
INVALID_UTF8 = [
    b"\x80",
    b"\xbf",
    b"\xc0\x80",
    b"\xc1\xbf",
    b"\xe0\x80\x80",
    b"\xed\xa0\x80",
    b"\xed\xbf\xbf",
    b"\xc3",
    b"\xe2\x82",
    b"\xf0\x9f\x9a",
    b"\xfe",
    b"\xff",
    b"\xf4\x90\x80\x80",
    b"\xf8\x88\x80\x80\x80",
]


@st.composite
def invalid_utf8_bodies(draw: st.DrawFn) -> bytes:
    """A valid body with an invalid UTF-8 sequence inside one of its strings."""
    text = draw(valid_bodies()).encode("utf-8")
    quotes = [i for i, byte in enumerate(text) if byte == ord('"')]
    at = draw(st.sampled_from(quotes)) + 1
    bad = b"".join(draw(st.lists(st.sampled_from(INVALID_UTF8), min_size=1, max_size=3)))
    body = text[:at] + bad + text[at:]
    try:  # two fragments can join into a valid character ("\xf0\x9f\x9a" + "\xbf")
        body.decode("utf-8")
    except UnicodeDecodeError:
        return body
    return text[:at] + b"\xff" + text[at:]


# -- query strings --------------------------------------------------------------------------------------

QUERY_ATOMS = [
    *string.ascii_letters[:6],
    *string.digits[:4],
    "-",
    ".",
    "_",
    "~",
    "+",
    "*",
    "!",
    "$",
    "'",
    "(",
    ")",
    ",",
    ";",
    ":",
    "@",
    "/",
    "?",
    "=",
    "&",
    "%",
    "%2",
    "%zz",
    "%00",
    "%20",
    "%2B",
    "%26",
    "%3D",
    "%25",
    "%ff",
    "%c3%28",
    "%e2%82%ac",
    "%F0%9F%9A%80",
    "%ed%a0%80",
    "jwt",
    "_updateSequenceNumber",
    "%5FupdateSequenceNumber",
]
query_names = st.sampled_from(
    ["a", "b", "A", "jwt", "_updateSequenceNumber", "team", "", "%00", "%01", "a%20b", "%zz"]
) | st.lists(st.sampled_from(QUERY_ATOMS), max_size=6).map("".join)
query_values = st.one_of(
    st.lists(st.sampled_from(QUERY_ATOMS), max_size=8).map("".join),
    st.integers(-(2**64), 2**64).map(str),
    st.sampled_from(["9" * 4301, "-" + "9" * 5000, "1e400", "0x10", "%2B1", "%20"]),
    st.text(max_size=10).map(lambda t: quote(t, safe="")),
)


@st.composite
def odd_queries(draw: st.DrawFn) -> bytes:
    """A raw query string (without '?'): repeated names, '%00', invalid escapes, bare names, stray '&' and '='."""
    fields = []
    for _ in range(draw(st.integers(0, 8))):
        name = draw(query_names)
        shape = draw(st.sampled_from(["pair", "pair", "bare", "empty", "equals"]))
        fields.append({"pair": f"{name}={draw(query_values)}", "bare": name, "empty": "", "equals": f"{name}=="}[shape])
    return "&".join(fields).encode("ascii")


# -- path segments --------------------------------------------------------------------------------------

SPECIAL_SEGMENTS = [
    "..",
    ".",
    "%2e%2e",
    "%2E%2E",
    "%2e",
    ".%2e",
    "%2F",
    "a%2Fb",
    "%2F..%2F",
    "..%2F..%2Fetc%2Fpasswd",
    "",
    "%00",
    "a%00b",
    "%20",
    "+",
    "%",
    "%zz",
    "%f",
    "%ff",
    "%c3%28",
    "%ed%a0%80",
    "%C0%AE%C0%AE",
    "~",
    "%7E",
    ";",
    "a;b=c",
    "%3B",
    "@",
    ":",
    "%3A",
    "%E2%80%AE",
    "%EF%BB%BF",
    "robust-seed%00",
]


def encode_segment(text: str) -> str:
    return quote(text, safe="")


path_segments = st.one_of(
    st.sampled_from(SPECIAL_SEGMENTS),
    st.text(max_size=20).map(encode_segment),
    st.text(st.sampled_from(string.ascii_letters + string.digits + "-._~!$&'()*+,;=:@"), max_size=20),
    st.lists(st.sampled_from(SPECIAL_SEGMENTS), min_size=2, max_size=4).map("".join),
)
sequence_numbers = st.one_of(
    st.integers(-(2**63), 2**63 - 1).map(str),
    st.sampled_from(
        [
            str(2**63),
            str(-(2**63) - 1),
            "9" * 30,
            "-0",
            "+1",
            "%201",
            "1%20",
            "1.0",
            "1e3",
            "0x1F",
            "%D9%A1%D9%A2",
            "%31",
            "%2B1",
            "",
            "..",
            "%00",
            "1%00",
            "NaN",
            "-",
            "+",
            "0" * 200 + "1",
        ]
    ),
    st.text(max_size=8).map(encode_segment),
)
