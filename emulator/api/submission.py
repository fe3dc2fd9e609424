"""The submit request's parser: a fast path for requests that are valid as a whole, and the full one.

``parse_submission`` first decodes the body with msgspec into typed structs that carry every limit of
the 2026 schema, with unknown keys, nulls where a value is required, coercions and anything else
unusual refused. A request that passes, plus the URI and date-time checks below, is accepted
whole: the result is what the full validator (``emulator.api.schemas``, pydantic) would give, and
each deployment's stored body is encoded straight from the struct. Anything else, that is every
request with a problem or an unusual spelling, goes to the full validator, which is imported on
first use: it alone decides what is a 400 and words every message. Tests hold the two paths equal
(``tests/api/test_submission_paths.py``).

Why two paths: validating with pydantic, building dicts and dumping them cost about 25 µs per
deployment; msgspec decodes and checks a 100-deployment request faster than ``json.loads`` alone
parses it (see the README's Performance section). Keeping pydantic for the errors keeps one wording
of every message, and keeps it out of start-up.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from functools import cache
from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, Meta, Struct, UnsetType

from emulator.domain.model import GATING_COMMAND, DeploymentInput, DeploymentKey

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
MAX_DEPLOYMENTS = 100
MAX_PROPERTIES = 5
MAX_ASSOCIATIONS = 3
MAX_ASSOCIATION_VALUES = 500
MAX_ISSUE_KEYS = 100
MAX_TEXT = 255
MAX_URL = 2000
# Jackson's default StreamReadConstraints.maxNumberLength; also keeps int() far from Python's digit limit.
MAX_NUMBER_CHARS = 1000

# Upstream writes \w and \d; Java (and ECMA-262, the dialect of OpenAPI patterns) reads them as ASCII,
# while Python and Rust read them as Unicode, so the classes are spelled out. Anchored: a full match.
ISSUE_KEY_PATTERN = r"^[A-Za-z0-9_]{1,255}-[0-9]{1,255}$"
ISSUE_ID_OR_KEY_PATTERN = r"^(?:[A-Za-z0-9_]{1,255}-[0-9]{1,255}|[0-9]{1,255})$"
PROPERTY_KEY_PATTERN = r"^[^:_][^:]*$"
DEFAULT_SCHEMA_VERSION = "1.0"


class RequestInvalid(Exception):
    """The whole request is a 400: Jira answers a bare JSON array of {"message": ...}."""

    messages: list[str]

    def __init__(self, messages: list[str]) -> None:
        super().__init__("; ".join(messages))
        self.messages = list(messages)


@dataclass(frozen=True)
class RejectedInput:
    key: DeploymentKey
    messages: list[str]


@dataclass(frozen=True)
class Submission:
    properties: dict[str, str]
    items: list[DeploymentInput | RejectedInput]
    provider_metadata: dict[str, Any] | None
    deprecated_issue_keys_used: bool


# -- the format checks both paths share -------------------------------------------------------------

# An absolute RFC 3986 URI, as one pattern. Non-ASCII, non-space characters pass as java.net.URI lets them.
# http(s) additionally needs a host: after "//", past the last "@" of the authority, a character that ends
# neither the authority nor the host ("https://", "https://user@/x" and "https://:80" have none). Possessive
# repeats (Python 3.11+): a long URL that fails at its end must not backtrack through every character. The
# host check stops at a newline too, which changes nothing for one URL (the rest refuses a newline) and lets
# a request's URLs, joined by newlines, be checked by one regex call (``all_uris``).
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
    """``all(is_uri(v) for v in values)`` in one regex call (a call costs more than a URL's characters)."""
    joined = "\n".join(values)
    return joined.count("\n") == len(values) - 1 and _URI_LINES.fullmatch(joined) is not None


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


# -- the fast path: msgspec structs that accept a subset of what the full validator accepts ----------
#
# Every struct forbids unknown keys (the full validator drops them from `data`; the fast path would
# have to as well, so it leaves them to it). Required fields take no null, int64 fields take JSON
# integers only, and a pattern ends in \Z: Python's $ also matches before a final newline, which
# pydantic's Rust regex does not. Field order is the pydantic models' order, so that the encoded
# body is byte for byte what the full validator's model_dump gives.


def _anchored(pattern: str) -> str:
    return pattern.removesuffix("$") + r"\Z"


_Text = Annotated[str, Meta(max_length=MAX_TEXT)]
_Url = Annotated[str, Meta(max_length=MAX_URL)]
_Int64 = Annotated[int, Meta(ge=INT64_MIN, le=INT64_MAX)]
_IssueKey = Annotated[str, Meta(pattern=_anchored(ISSUE_KEY_PATTERN))]
_IssueIdOrKey = Annotated[str, Meta(pattern=_anchored(ISSUE_ID_OR_KEY_PATTERN))]
_PropertyKey = Annotated[str, Meta(pattern=_anchored(PROPERTY_KEY_PATTERN))]


class _Struct(Struct, rename="camel", omit_defaults=True, forbid_unknown_fields=True, gc=False):
    pass


class _Pipeline(_Struct):
    id: _Text
    display_name: _Text
    url: _Url


class _Environment(_Struct):
    id: _Text
    display_name: _Text
    type: Literal["unmapped", "development", "testing", "staging", "production"]


class _Command(_Struct):
    command: str | None = None


class _TriggeredBy(_Struct):
    email: _Text | None = None


class _Commit(_Struct):
    commit_hash: _Text
    repository_id: _Text


class _Repository(_Struct):
    repository_id: _Text


class _Group(_Struct, tag_field="associationType"):
    """An association group; the fast path only checks it: ``DeploymentInput.associations`` reads the
    groups back from the stored body when something needs them."""


_Values = Meta(min_length=1, max_length=MAX_ASSOCIATION_VALUES)


class _IssueIdOrKeys(_Group, tag="issueIdOrKeys"):
    values: Annotated[tuple[_IssueIdOrKey, ...], _Values]


class _IssueKeys(_Group, tag="issueKeys"):
    values: Annotated[tuple[_IssueIdOrKey, ...], _Values]


class _ServiceIdOrKeys(_Group, tag="serviceIdOrKeys"):
    values: Annotated[tuple[_Text, ...], _Values]


class _CommitGroup(_Group, tag="commit"):
    values: Annotated[tuple[_Commit, ...], _Values]


class _RepositoryGroup(_Group, tag="repository"):
    values: Annotated[tuple[_Repository, ...], _Values]


class _Deployment(_Struct, kw_only=True):
    deployment_sequence_number: _Int64
    update_sequence_number: _Int64
    issue_keys: Annotated[tuple[_IssueKey, ...], Meta(min_length=1, max_length=MAX_ISSUE_KEYS)] | None = None
    associations: (
        Annotated[
            tuple[_IssueIdOrKeys | _IssueKeys | _ServiceIdOrKeys | _CommitGroup | _RepositoryGroup, ...],
            Meta(min_length=1, max_length=MAX_ASSOCIATIONS),
        ]
        | None
    ) = None
    display_name: _Text
    url: _Url
    description: _Text
    last_updated: str
    label: _Text | None = None
    duration: _Int64 | None = None
    state: Literal["unknown", "pending", "in_progress", "cancelled", "failed", "rolled_back", "successful"]
    pipeline: _Pipeline
    environment: _Environment
    commands: list[_Command] | None = None
    schema_version: Literal["1.0"] | UnsetType = UNSET
    triggered_by: _TriggeredBy | None = None


class _ProviderMetadata(_Struct):
    product: str | None = None


class _Request(_Struct, kw_only=True):
    properties: Annotated[dict[_PropertyKey, _Text], Meta(max_length=MAX_PROPERTIES)] | None = None
    deployments: Annotated[list[_Deployment], Meta(min_length=1, max_length=MAX_DEPLOYMENTS)]
    provider_metadata: _ProviderMetadata | None = None


TextPath = tuple[str, ...]  # JSON member names from the request down to a string; "*" for any property name


@cache
def text_limits() -> dict[TextPath, int]:
    """The most characters each limited string of a request may hold, by its path of member names (list
    positions left out), read from the structs above: the same limits the full validator's models carry."""
    import msgspec.inspect as mi

    limits: dict[TextPath, int] = {}

    def walk(info: Any, path: TextPath) -> None:
        if isinstance(info, mi.StrType):
            if info.max_length is not None:
                limits[path] = min(limits.get(path, info.max_length), info.max_length)
        elif isinstance(info, mi.StructType):
            for field in info.fields:
                walk(field.type, (*path, field.encode_name))
        elif isinstance(info, (mi.ListType, mi.VarTupleType)):
            walk(info.item_type, path)
        elif isinstance(info, mi.DictType):
            walk(info.value_type, (*path, "*"))
        elif isinstance(info, mi.UnionType):
            for member in info.types:
                walk(member, path)

    walk(mi.type_info(_Request), ())
    return limits


_ASTRAL_LEADS = (b"\xf0", b"\xf1", b"\xf2", b"\xf3", b"\xf4")  # UTF-8 lead bytes of U+10000 and above
_ESCAPED_HIGH_SURROGATE = re.compile(rb"\\u[dD][89abAB]")


def may_hold_astral(body: bytes) -> bool:
    """Whether a request body can hold a character outside the Basic Multilingual Plane (an emoji, say):
    in UTF-8, which starts with a byte F0 to F4, or as an escaped surrogate pair. Each search is a memchr:
    about 3 µs for 100 deployments (searching for the two bytes ``\\u`` at once takes 54), and the regex
    runs only on a body that has a ``\\u`` escape at all."""
    if not body.isascii() and any(lead in body for lead in _ASTRAL_LEADS):
        return True
    return b"\\" in body and b"\\u" in body and _ESCAPED_HIGH_SURROGATE.search(body) is not None


@cache
def _decoder() -> msgspec.json.Decoder[_Request]:
    """Built on the first submit: msgspec reads every struct's field types then, about a millisecond
    that start-up does not need."""
    return msgspec.json.Decoder(_Request)


# A key's ids are the interned copies: a request's deployments, its pending writes and the store then share
# one string per id, whose hash is computed once, and every later hash and comparison of the key (the
# contract check, the queue's index, the store) reads that one hot string instead of a new copy per
# deployment. A 100-deployment submit: 542 -> 480 µs in-process, and 16% more requests a second over HTTP.
_intern = sys.intern
_new_key = tuple.__new__  # DeploymentKey(...) without its Python-level __new__: one key per deployment
_ENCODER = msgspec.json.Encoder()
_ENCODE = _ENCODER.encode
_ENCODE_INTO = _ENCODER.encode_into
encode_json = _ENCODE  # compact UTF-8 JSON, as errors.dumps writes it
_DEFAULT_SCHEMA_VERSION_TAIL = b',"schemaVersion":"1.0"}'


def parse_submission(body: bytes) -> Submission:
    """Parse a submitDeployments body; raise RequestInvalid when it is a 400 as a whole."""
    fast = parse_valid_submission(body)
    if fast is not None:
        return fast
    from emulator.api.schemas import validate_submission

    return validate_submission(body)


def parse_valid_submission(body: bytes) -> Submission | None:
    """The fast path: the Submission of a request every deployment of which is valid and plainly
    spelled, or None to leave the request to the full validator."""
    try:
        request = _decoder().decode(body)
    except (msgspec.MsgspecError, ValueError):  # ValueError: UnicodeDecodeError on invalid UTF-8
        return None
    deployments = request.deployments
    if not all_uris([deployment.url for deployment in deployments]):  # mostly one of its own each
        return None
    items: list[DeploymentInput | RejectedInput] = []
    deprecated = False
    uris: set[str] = set()
    date_times: set[str] = set()
    buffer = bytearray()  # each deployment is encoded into it, then copied out at its exact size
    for deployment in deployments:
        item = _to_input(deployment, uris, date_times, buffer)
        if item is None:
            return None
        deprecated = deprecated or deployment.issue_keys is not None
        items.append(item)
    metadata = request.provider_metadata
    product = None if metadata is None else metadata.product
    return Submission(
        properties=request.properties or {},
        items=items,
        provider_metadata=None if metadata is None else ({} if product is None else {"product": product}),
        deprecated_issue_keys_used=deprecated,
    )


def _to_input(
    deployment: _Deployment, uris: set[str], date_times: set[str], buffer: bytearray
) -> DeploymentInput | None:
    """The DeploymentInput of a deployment that passed msgspec (and whose url ``all_uris`` checked), or
    None where the full validator must decide. ``uris`` and ``date_times`` hold the pipeline URLs and
    lastUpdated values already found valid in this request (its deployments mostly share them): each
    distinct one is checked once."""
    pipeline = deployment.pipeline
    if pipeline.url not in uris:
        if _URI.match(pipeline.url) is None:
            return None
        uris.add(pipeline.url)
    if deployment.last_updated not in date_times:
        if not is_date_time(deployment.last_updated):
            return None
        date_times.add(deployment.last_updated)
    groups = deployment.associations
    if groups is None:
        if deployment.issue_keys is None:
            return None  # a rejection: "issueKeys or associations"
        associations: tuple[()] | None = ()
    else:
        if len(groups) > 1:  # one group holds at most MAX_ASSOCIATION_VALUES by its own limit
            total = 0
            for group in groups:
                total += len(group.values)  # type: ignore[attr-defined]
            if total > MAX_ASSOCIATION_VALUES:
                return None
        associations = None  # read from the body on first use: most requests never need them
    # pydantic's model_dump(exclude_unset=True) leaves an absent schemaVersion out, and the full validator
    # then appends the default. The body is encoded into the request's buffer, which msgspec leaves at the
    # JSON's exact length, and copied out: msgspec's own encode() hands back the buffer it grew, up to a
    # third larger than the JSON in it, and the store keeps a million of them (200 MB at 1,000,000).
    _ENCODE_INTO(deployment, buffer)
    if deployment.schema_version is UNSET:
        buffer[-1:] = _DEFAULT_SCHEMA_VERSION_TAIL
    body = bytes(buffer)
    commands = deployment.commands
    environment = deployment.environment
    key = (_intern(pipeline.id), _intern(environment.id), deployment.deployment_sequence_number)
    return DeploymentInput(
        _new_key(DeploymentKey, key),
        deployment.update_sequence_number,
        () if deployment.issue_keys is None else deployment.issue_keys,
        deployment.last_updated,
        None,
        body,
        associations,
        environment.type,
        commands is not None and any(c.command == GATING_COMMAND for c in commands),
    )
