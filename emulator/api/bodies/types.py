"""The value types of the Jira surface's bodies, with every limit, pattern and format, declared once.

They are msgspec annotations: the fast decoder checks them as it decodes, and ``derive.py`` turns them into
the pydantic types of the full validator (which words every 400) and of the OpenAPI document. Two kinds of
metadata ride along in ``Meta(extra=...)``: ``check`` names a format the fast path and the full validator
check in Python (``uri``, ``date-time``), and ``int64`` marks an integer Jira's Java backend also takes as
a decimal string or an integral float.

Where Jira is silent (see the docs): lengths count code points; issue-key patterns are ASCII, as Java reads
``\\w`` and ``\\d``; a pattern ends in ``\\Z``, since Python's ``$`` also matches before a final newline.
"""

from __future__ import annotations

import re
from typing import Annotated

from msgspec import Meta

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
MAX_TEXT = 255
MAX_URL = 2000
MAX_PROPERTIES = 5
# Jackson's default StreamReadConstraints.maxNumberLength; also keeps int() far from Python's digit limit.
MAX_NUMBER_CHARS = 1000
DEFAULT_SCHEMA_VERSION = "1.0"

ISSUE_KEY_PATTERN = r"^[A-Za-z0-9_]{1,255}-[0-9]{1,255}\Z"
ISSUE_ID_OR_KEY_PATTERN = r"^(?:[A-Za-z0-9_]{1,255}-[0-9]{1,255}|[0-9]{1,255})\Z"
PROPERTY_KEY_PATTERN = r"^[^:_][^:]*\Z"

Text = Annotated[str, Meta(max_length=MAX_TEXT)]
Url = Annotated[str, Meta(max_length=MAX_URL, extra_json_schema={"format": "uri"}, extra={"check": "uri"})]
DateTime = Annotated[str, Meta(extra_json_schema={"format": "date-time"}, extra={"check": "date-time"})]
Int64 = Annotated[int, Meta(ge=INT64_MIN, le=INT64_MAX, extra_json_schema={"format": "int64"}, extra={"int64": True})]
IssueKey = Annotated[str, Meta(pattern=ISSUE_KEY_PATTERN)]
IssueIdOrKey = Annotated[str, Meta(pattern=ISSUE_ID_OR_KEY_PATTERN)]
PropertyKey = Annotated[str, Meta(pattern=PROPERTY_KEY_PATTERN)]
Properties = Annotated[dict[PropertyKey, Text], Meta(max_length=MAX_PROPERTIES)]


# -- the formats checked in Python ------------------------------------------------------------------

# An absolute RFC 3986 URI, as one pattern. Non-ASCII, non-space characters pass as java.net.URI lets them.
# http(s) additionally needs a host: after "//", past the last "@" of the authority, a character that ends
# neither the authority nor the host ("https://", "https://user@/x" and "https://:80" have none). Possessive
# repeats: a long URL that fails at its end must not backtrack through every character. The host check
# stops at a newline too, which changes nothing for one URL (the rest refuses a newline) and lets a
# request's URLs, joined by newlines, be checked by one regex call (``all_uris``).
_HTTP_SCHEME = r"[Hh][Tt][Tt][Pp][Ss]?:"
_URI_BODY = (
    rf"(?:(?={_HTTP_SCHEME}//(?:[^/?#\n]*@)?+[^/?#:@\n])|(?!{_HTTP_SCHEME}))"  # http(s) with a host, or not http(s)
    r"[A-Za-z][A-Za-z0-9+.\-]*:"  # scheme
    r"(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/?#\[\]]++|%[0-9A-Fa-f]{2}|[^\x00-\x9f\s]++)++"
)
URI_PATTERN = rf"^{_URI_BODY}\Z"
_URI = re.compile(URI_PATTERN)
_URI_LINES = re.compile(rf"{_URI_BODY}(?:\n{_URI_BODY})*")


def is_uri(value: str) -> bool:
    """An absolute URI (``URI_PATTERN``): "https://" alone is a client bug worth catching."""
    return _URI.match(value) is not None


def all_uris(values: list[str]) -> bool:
    """``all(is_uri(v) for v in values)`` in one regex call (a call costs more than a URL's characters): on
    their shared part where the URLs share their scheme and authority (``_share_a_valid_authority``), else
    on them all, joined by newlines."""
    joined = "\n".join(values)
    if joined.count("\n") != len(values) - 1:
        return False
    if len(values) > 1 and _share_a_valid_authority(values, joined):
        return True
    return _URI_LINES.fullmatch(joined) is not None


# An http(s) URL's start through the end of its authority (the "/", "?" or "#" after it).
_HTTP_AUTHORITY = re.compile(rf"{_HTTP_SCHEME}//[^/?#\n]*[/?#]")
# The characters a URL's body takes as they are; "%" (which needs two hex digits after it) is not one.
_PLAIN_URI_BYTES = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,;=:@/?#[]"


def _share_a_valid_authority(values: list[str], joined: str) -> bool:
    """True when every value is surely a URI: all start with one http(s) scheme and authority, through the
    character that ends it, which is a valid URI itself, and the rest of each is plain ASCII URI characters.
    Then the host check (the lookahead of ``URI_PATTERN``) reads the shared part only, and each value is the
    shared part followed by what ``URI_PATTERN``'s body repeats. False means only that the regex must tell.
    A request's URLs mostly share their server: the regex runs once, on the shared part."""
    first, last = min(values), max(values)  # every value between them starts with what both start with
    authority = _HTTP_AUTHORITY.match(first)
    if authority is None or not last.startswith(shared := authority[0]):
        return False
    if not joined.isascii() or joined.encode().translate(None, _PLAIN_URI_BYTES + b"\n"):
        return False
    return is_uri(shared)


# Ranges in the pattern; only days 29 to 31 need the month (and the year) to tell.
_DATE_TIME = re.compile(
    r"([0-9]{4})-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])[Tt]([01][0-9]|2[0-3]):[0-5][0-9]:(?:[0-5][0-9]|60)"
    r"(?:\.[0-9]+)?(?:[Zz]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])"
)
_DAYS_IN_MONTH = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def is_date_time(value: str) -> bool:
    """RFC 3339 section 5.6 (JSON Schema's date-time): seconds and an offset are required; leap
    second 60 is allowed. The client's text is kept as it is, never normalised."""
    match = _DATE_TIME.fullmatch(value)
    if match is None:
        return False
    day = int(match.group(3))
    if day <= 28:
        return True
    year, month = int(match.group(1)), int(match.group(2))
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    return day <= _DAYS_IN_MONTH[month - 1] - (month == 2 and not leap)


def _lines(pattern: str) -> re.Pattern[str]:
    """The values of ``pattern`` (``^...\\Z``, and unable to match a newline) joined by newlines."""
    body = pattern.removeprefix("^").removesuffix(r"\Z")
    return re.compile(rf"(?:{body})(?:\n(?:{body}))*")


# The patterns whose values can be checked all at once, by one regex call on them joined by newlines: the
# ones that cannot match a newline, so that each value must match on its own line.
_LINE_PATTERNS = {pattern: _lines(pattern) for pattern in (ISSUE_KEY_PATTERN, ISSUE_ID_OR_KEY_PATTERN)}


def all_match(pattern: str, values: set[str]) -> bool:
    """Whether each of ``values`` matches ``pattern`` as msgspec checks it (``re.search``)."""
    lines = _LINE_PATTERNS.get(pattern)
    if lines is None:
        return all(map(re.compile(pattern).search, values))
    joined = "\n".join(values)
    return not values or (joined.count("\n") == len(values) - 1 and lines.fullmatch(joined) is not None)


def all_date_times(values: set[str]) -> bool:
    return all(is_date_time(value) for value in values)


CHECKS = {"uri": is_uri, "date-time": is_date_time}  # a format's check of one value
