"""The submit parser's two paths give one answer.

``Parser.parse_valid`` (msgspec, the fast path) may leave any request to the full validator
(``Validator.validate``, pydantic), but whatever it accepts must come out exactly as the full validator
has it: the same items, the same ``data``, the same stored bytes. These tests hold it to that on
valid requests, on damaged ones and on unusual spellings, and check that plain valid requests do take
the fast path (else the fast path could silently rot into "always None").
"""

from __future__ import annotations

import contextlib
import json
import re
import sys
import threading
from typing import Annotated, Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emulator.api import patterns, submissions
from emulator.api.bodies.deployments import PARSER
from emulator.api.bodies.types import ISSUE_ID_OR_KEY_PATTERN, ISSUE_KEY_PATTERN, all_match, all_uris, is_uri
from emulator.api.patterns import Unpatterned
from emulator.api.submissions import RequestInvalid, Submission
from emulator.domain.model import DeploymentInput, DeploymentKey, to_body
from tests import strategies

parse_submission = PARSER.parse
parse_valid_submission = PARSER.parse_valid
validate_submission = PARSER.validator.validate

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def full(body: bytes) -> Submission | RequestInvalid:
    try:
        return validate_submission(body)
    except RequestInvalid as invalid:
        return invalid


def outcome(parse: Any, body: bytes) -> Submission | list[str]:
    """A parser's answer in a comparable form: the Submission, or the 400's messages."""
    try:
        return parse(body)  # type: ignore[no-any-return]
    except RequestInvalid as invalid:
        return invalid.messages


def assert_same(fast: Submission, slow: Submission | RequestInvalid) -> None:
    assert isinstance(slow, Submission), f"the fast path accepted what the full validator refuses: {slow}"
    assert fast.properties == slow.properties
    assert fast.provider_metadata == slow.provider_metadata
    assert fast.deprecated_issue_keys_used == slow.deprecated_issue_keys_used
    assert len(fast.items) == len(slow.items)
    for mine, theirs in zip(fast.items, slow.items, strict=True):
        assert isinstance(theirs, DeploymentInput), theirs
        assert isinstance(mine, DeploymentInput)
        assert mine == theirs  # key, updateSequenceNumber, data, environment type, associations, gating
        assert mine.body == to_body(theirs.data)  # the stored bytes, key order included
        assert list(mine.data) == list(theirs.data)
        assert mine.last_updated == theirs.last_updated == theirs.data["lastUpdated"]


def encode(document: Any) -> bytes:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


def request(deployments: list[Any], **extra: Any) -> bytes:
    return encode({"deployments": deployments, **extra})


properties = st.dictionaries(
    st.text(min_size=1, max_size=20).filter(lambda k: k[0] not in ":_" and ":" not in k),
    st.text(max_size=40),
    max_size=5,
)


@SETTINGS
@given(st.lists(strategies.deployment_data(), min_size=1, max_size=4), properties, st.booleans())
def test_valid_requests_take_the_fast_path_and_match_the_full_validator(
    deployments: list[dict[str, Any]], props: dict[str, str], with_metadata: bool
) -> None:
    extra: dict[str, Any] = {"properties": props}
    if with_metadata:
        extra["providerMetadata"] = {"product": "ci 1.0"}
    body = request(deployments, **extra)
    fast = parse_valid_submission(body)
    assert fast is not None, "a plainly spelled valid request left the fast path"
    assert_same(fast, full(body))


@SETTINGS
@given(st.lists(strategies.damaged_deployment_data() | strategies.deployment_data(), min_size=1, max_size=3))
def test_whatever_the_fast_path_accepts_the_full_validator_accepts_alike(deployments: list[dict[str, Any]]) -> None:
    body = request(deployments)
    fast = parse_valid_submission(body)
    if fast is not None:
        assert_same(fast, full(body))
    # and the entry point always answers as the full validator does
    assert outcome(parse_submission, body) == outcome(validate_submission, body)


def valid() -> dict[str, Any]:
    return {
        "deploymentSequenceNumber": 7,
        "updateSequenceNumber": 3,
        "associations": [{"associationType": "issueIdOrKeys", "values": ["ABC-1"]}],
        "displayName": "d",
        "url": "https://ci.example.com/1",
        "description": "x",
        "lastUpdated": "2026-01-01T00:00:00Z",
        "state": "successful",
        "pipeline": {"id": "p", "displayName": "P", "url": "https://ci.example.com"},
        "environment": {"id": "e", "displayName": "E", "type": "production"},
    }


UNUSUAL = {
    # each is valid (or a per-item rejection) for the full validator, spelled so the fast path must step aside
    "unknown key": lambda d: d.update(extra=1),
    "unknown nested key": lambda d: d["pipeline"].update(extra=1),
    "null optional": lambda d: d.update(label=None),
    "null required": lambda d: d.update(state=None),
    "int64 as string": lambda d: d.update(updateSequenceNumber="3"),
    "int64 as float": lambda d: d.update(updateSequenceNumber=3.0),
    "bad uri": lambda d: d.update(url="not a uri"),
    "host-less https": lambda d: d.update(url="https://"),
    "user but no host": lambda d: d.update(url="https://user@/x"),
    "port but no host": lambda d: d["pipeline"].update(url="https://:80"),
    "http without slashes": lambda d: d.update(url="http:x"),
    "url with a final newline": lambda d: d.update(url="https://e.com/\n"),
    "other scheme": lambda d: d["pipeline"].update(url="urn:isbn:0451450523"),
    "http with a user": lambda d: d.update(url="https://user@host"),
    "bad date": lambda d: d.update(lastUpdated="2026-02-30T00:00:00Z"),
    "no links": lambda d: d.pop("associations"),
    "issue key with newline": lambda d: d.update(issueKeys=["ABC-1\n"]),
    "issue key that is no key": lambda d: d.update(issueKeys=["ABC-1", "not a key"]),
    "issue id or key that is neither": lambda d: d["associations"][0].update(values=["ABC-1", "ABC-"]),
    "issue id or key with newline": lambda d: d["associations"][0].update(values=["ABC-1\nABC-2"]),
    "empty issue id or key": lambda d: d["associations"][0].update(values=[""]),
    "older issueKeys association, bad key": lambda d: d.update(
        associations=[{"associationType": "issueKeys", "values": ["ABC 1"]}]
    ),
    "service ids are no issue keys": lambda d: d.update(
        associations=[*d["associations"], {"associationType": "serviceIdOrKeys", "values": ["svc 1", "x"]}]
    ),
    "too many values in total": lambda d: d.update(
        associations=[
            {"associationType": "serviceIdOrKeys", "values": [str(i) for i in range(300)]},
            {"associationType": "serviceIdOrKeys", "values": [str(i) for i in range(201)]},
        ]
    ),
    "empty values": lambda d: d.update(associations=[{"associationType": "commit", "values": []}]),
    "255 astral characters": lambda d: d.update(displayName="🚀" * 255),
}


@pytest.mark.parametrize("change", UNUSUAL.values(), ids=UNUSUAL.keys())
def test_unusual_spellings_are_left_to_the_full_validator_or_agree(change: Any) -> None:
    data = valid()
    change(data)
    body = request([data])
    fast = parse_valid_submission(body)
    if fast is not None:
        assert_same(fast, full(body))
    assert outcome(parse_submission, body) == outcome(validate_submission, body)


@pytest.mark.parametrize(
    "body",
    [
        request([valid()]).replace(b'"d"', b'"\\ud800"'),  # a lone surrogate escape
        request([valid()]).replace(b'"deploymentSequenceNumber":7', b'"deploymentSequenceNumber":' + b"7" * 1200),
        request([valid()]) + b" x",
        b"[]",
        b'{"deployments":[]}',
        request([valid()] * 101),
        request([valid()], properties={"_hidden": "x"}),
        request([valid()], properties={str(i): "v" for i in range(6)}),
        request([valid()], providerMetadata={"product": 1}),
    ],
)
def test_requests_that_are_a_400_never_take_the_fast_path(body: bytes) -> None:
    assert parse_valid_submission(body) is None
    with pytest.raises(RequestInvalid):
        parse_submission(body)


def test_a_byte_order_mark_is_left_to_the_full_validator_which_skips_it() -> None:
    body = b"\xef\xbb\xbf" + request([valid()])
    assert parse_valid_submission(body) is None
    assert outcome(parse_submission, body) == outcome(validate_submission, request([valid()]))


def test_duplicate_keys_keep_the_last_value_on_both_paths() -> None:
    body = request([valid()]).replace(b'"state":"successful"', b'"state":"pending","state":"failed"')
    fast = parse_valid_submission(body)
    assert fast is not None
    assert_same(fast, full(body))
    assert fast.items[0].data["state"] == "failed"  # type: ignore[union-attr]


def test_schema_version_sits_where_the_full_validator_puts_it() -> None:
    given_version = {**valid(), "schemaVersion": "1.0", "triggeredBy": {"email": "a@b.c"}}
    absent = {**valid(), "triggeredBy": {"email": "a@b.c"}}
    for data in (given_version, absent):
        body = request([data])
        fast = parse_valid_submission(body)
        assert fast is not None
        assert_same(fast, full(body))
    assert list(json.loads(parse_valid_submission(request([absent])).items[0].body))[-1] == "schemaVersion"  # type: ignore[union-attr]


def test_the_full_validator_is_not_imported_for_a_valid_request() -> None:
    import subprocess

    code = (
        "import sys, json\n"
        "from emulator.api.bodies.deployments import PARSER\n"
        f"PARSER.parse({request([valid()])!r})\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith(('pydantic', 'emulator.api.validator')))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert json.loads(out) == []


def test_a_value_checked_as_a_url_is_still_checked_as_a_date_time() -> None:
    # the fast path remembers the values it found valid within a request, one memory per check
    first = valid()
    second = {**valid(), "deploymentSequenceNumber": 8, "lastUpdated": first["url"]}
    body = request([first, second])
    assert parse_valid_submission(body) is None
    items = parse_submission(body).items
    assert isinstance(items[0], DeploymentInput) and not isinstance(items[1], DeploymentInput)


def test_associations_are_made_on_first_use_and_equal_the_full_validators() -> None:
    data = {
        **valid(),
        "associations": [
            {"associationType": "commit", "values": [{"commitHash": "a" * 40, "repositoryId": "r"}]},
            {"associationType": "repository", "values": [{"repositoryId": "r"}]},
            {"associationType": "serviceIdOrKeys", "values": ["svc"]},
        ],
    }
    body = request([data])
    fast = parse_valid_submission(body)
    assert fast is not None
    item = fast.items[0]
    assert isinstance(item, DeploymentInput)
    assert not isinstance(item._associations, tuple)  # not made yet
    assert_same(fast, full(body))
    assert item.associations == item.associations and isinstance(item._associations, tuple)


_HTTP = re.compile(r"[Hh][Tt][Tt][Pp][Ss]?:")
_HOST = re.compile(r"//(?:[^/?#]*@)?+[^/?#:@]")
_ABSOLUTE = re.compile(
    r"[A-Za-z][A-Za-z0-9+.\-]*:(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/?#\[\]]++|%[0-9A-Fa-f]{2}|[^\x00-\x9f\s]++)++"
)


def spelled_out_is_uri(value: str) -> bool:
    """The URI rule in three steps, as it was written before it became one pattern for msgspec."""
    if _ABSOLUTE.fullmatch(value) is None:
        return False
    http = _HTTP.match(value)
    return http is None or _HOST.match(value, http.end()) is not None


uri_parts = st.sampled_from(["http", "HTTPS", "https", "ftp", "x", ":", "//", "/", "@", "?", "#", "%4a", "%z", "a"])
uri_parts |= st.sampled_from([" ", "\n", "\u00a0", "é", "[", "]", "1", ".", "-"])


@settings(max_examples=2000, deadline=None)
@given(st.lists(uri_parts, max_size=8).map("".join) | st.text(max_size=10))
def test_the_uri_pattern_is_the_rule_spelled_out(value: str) -> None:
    assert is_uri(value) == spelled_out_is_uri(value)


@settings(max_examples=1000, deadline=None)
@given(st.lists(st.lists(uri_parts, max_size=8).map("".join) | st.text(max_size=10), min_size=1, max_size=5))
def test_urls_checked_together_are_each_checked(values: list[str]) -> None:
    assert all_uris(values) == all(spelled_out_is_uri(value) for value in values)


uri_servers = st.sampled_from(
    ["https://a.example/", "HTTP://u@h/", "https://:80/", "https://@/", "https://u@:1/", "http://h?", "https://h#"]
) | st.sampled_from(["https:///", "https://é/", "https://h%20/", "https://a b/", "ftp://h/", "https://h"])


@settings(max_examples=1000, deadline=None)
@given(uri_servers, st.lists(st.lists(uri_parts, max_size=6).map("".join), min_size=2, max_size=5))
def test_urls_that_share_a_server_are_each_checked(server: str, paths: list[str]) -> None:
    values = [server + path for path in paths]
    assert all_uris(values) == all(spelled_out_is_uri(value) for value in values)


@pytest.mark.parametrize(
    "values",
    [["https://a.example/x\nhttps://b.example"], ["https://", "x:y"], ["https://a.example", ""], ["x:y\n", "x:y"]],
)
def test_a_newline_never_joins_two_halves_into_valid_urls(values: list[str]) -> None:
    assert not all_uris(values)


key_parts = st.sampled_from(["ABC", "a_1", "-", "1", "12", "\n", " ", "", "é", "٣", "A" * 256, "9" * 256])


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from([ISSUE_KEY_PATTERN, ISSUE_ID_OR_KEY_PATTERN]),
    st.sets(st.lists(key_parts, max_size=4).map("".join) | st.text(max_size=6), max_size=5),
)
def test_issue_keys_checked_together_are_each_checked(pattern: str, values: set[str]) -> None:
    assert all_match(pattern, values) == all(re.search(pattern, value) for value in values)


def test_the_fast_path_still_takes_valid_requests_with_every_kind_of_issue_association() -> None:
    data = valid()
    data["issueKeys"] = ["ABC-1"]
    data["associations"] = [
        {"associationType": "issueIdOrKeys", "values": ["ABC-1", "10001"]},
        {"associationType": "issueKeys", "values": ["XY_2-3"]},
        {"associationType": "serviceIdOrKeys", "values": ["not an issue key"]},
    ]
    body = request([data])
    fast = parse_valid_submission(body)
    assert fast is not None
    assert_same(fast, full(body))


class _Inner(msgspec.Struct):
    key: Annotated[str, msgspec.Meta(pattern=ISSUE_KEY_PATTERN)]


class _Item(msgspec.Struct):
    inner: _Inner | str | None = None


class _Request(msgspec.Struct):
    items: list[_Item]


@pytest.mark.parametrize(
    ("document", "holds"),
    [
        ({"items": [{"inner": {"key": "ABC-1"}}, {"inner": "free text"}, {}]}, True),
        ({"items": [{"inner": "free text"}, {"inner": {"key": "not a key"}}]}, False),
    ],
)
def test_lifted_patterns_are_checked_only_on_the_struct_that_declares_them(
    document: dict[str, Any], holds: bool
) -> None:
    lifted = Unpatterned(_Request, "items")
    decoded = msgspec.json.decode(encode(document), type=lifted.request)  # the copy takes any key
    assert lifted.hold(decoded.items) is holds
    with contextlib.nullcontext() if holds else pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(encode(document), type=_Request)  # as msgspec's own check decides


def test_writes_of_one_entity_share_its_key_and_the_key_table_stays_bounded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A client submits an entity several times: its writes carry one key object (the queue and the store
    then find it by identity), equal to the full validator's; the parser's table of keys lets go of its
    oldest keys past its size, and keys read after that are as right."""
    monkeypatch.setattr(submissions, "KEY_TABLE_SIZE", 150)
    parser = submissions.Parser(PARSER.shapes)  # a table of its own

    def keys(first: int, usn: int) -> list[Any]:
        items = [valid() | {"deploymentSequenceNumber": first + i, "updateSequenceNumber": usn} for i in range(100)]
        parsed = parser.parse_valid(request(items))
        assert parsed is not None
        return [item.key for item in parsed.items]

    first, again = keys(1, 1), keys(1, 2)
    assert all(a is b for a, b in zip(first, again, strict=True))
    assert first == [DeploymentKey("p", "e", n) for n in range(1, 101)]
    assert all(type(key) is DeploymentKey and key[0] is sys.intern("p") for key in first)
    for start in (101, 201, 301):  # the table passes its size and lets go of the oldest
        assert keys(start, 1) == [DeploymentKey("p", "e", n) for n in range(start, start + 100)]
        assert len(parser._keys) <= 150 + 100
    latest = keys(301, 2)
    assert all(a is b for a, b in zip(latest, keys(301, 3), strict=True))  # the newest are kept
    assert keys(1, 3) == first  # made anew after the oldest went: equal, if not the same objects


def test_values_known_to_match_are_not_matched_again_and_a_bad_one_beside_them_still_fails(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The fast decoder remembers the newest values that matched each pattern (a client names the same
    issues again and again): a request of known values holds, one value that does not match beside them
    still fails, a value that failed is never remembered, and no more than the bound are kept."""
    monkeypatch.setattr(patterns, "MATCHED_KEPT", 3)
    lifted = Unpatterned(_Request, "items")

    def holds(*keys: str) -> bool:
        document = {"items": [{"inner": {"key": key}} for key in keys]}
        return lifted.hold(msgspec.json.decode(encode(document), type=lifted.request).items)

    assert holds("ABC-1", "ABC-2")
    assert holds("ABC-1", "ABC-2")  # known now
    assert not holds("ABC-1", "not a key")
    assert not holds("not a key")  # still refused: never remembered
    assert holds("ABC-3", "ABC-4", "ABC-5")
    assert [len(known) for known in lifted._matched.values()] == [3]
    assert not holds("ABC-5", "ABC-1 ")


def test_a_memo_shared_by_threads_lets_go_of_its_oldest_without_errors() -> None:
    """Parsers (and their memos) are shared by the emulators of one process, which may serve in threads."""
    table: dict[tuple[int, int], None] = {}
    errors: list[BaseException] = []

    def fill(thread: int) -> None:
        try:
            for number in range(50_000):
                table[(thread, number)] = None
                submissions.keep_newest(table, 64)
        except BaseException as error:
            errors.append(error)

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads take turns as often as they can
    try:
        threads = [threading.Thread(target=fill, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    assert errors == [] and len(table) == 64
