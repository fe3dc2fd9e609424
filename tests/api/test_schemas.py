"""Parsing a submit request: what makes the whole request a 400, what rejects one deployment, what is kept.

Parametrized cases are tables: ``{id: (input, expected)}``.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from emulator.api import messages
from emulator.api.bodies import deployments
from emulator.api.bodies.derive import model
from emulator.api.submissions import RejectedInput, RequestInvalid, Submission
from emulator.domain.model import Association, DeploymentInput, DeploymentKey
from tests import strategies

parse_submission = deployments.PARSER.parse
DeploymentData = model(deployments.DeploymentData)
SubmitDeploymentRequest = model(deployments.SubmitDeploymentRequest)

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
UPSTREAM = Path(__file__).resolve().parents[3] / "shared" / "upstream-openapi"
KEY = DeploymentKey("pipe-1", "env-1", 100)
DELETE = object()


def deployment(**changes: Any) -> dict[str, Any]:
    """A valid DeploymentData; ``changes`` set dotted paths (``pipeline__id`` for ``pipeline.id``)."""
    data: dict[str, Any] = {
        "deploymentSequenceNumber": 100,
        "updateSequenceNumber": 1,
        "associations": [{"associationType": "issueIdOrKeys", "values": ["ABC-123"]}],
        "displayName": "Deployment number 16 of Data Depot",
        "url": "http://mydeployer.com/project1/1111-222-333/prod-east",
        "description": "The bits are being transferred",
        "lastUpdated": "2018-01-20T23:27:25Z",
        "state": "in_progress",
        "pipeline": {
            "id": "pipe-1",
            "displayName": "Data Depot Deployment",
            "url": "http://mydeployer.com/p1",
        },
        "environment": {"id": "env-1", "displayName": "US East", "type": "production"},
    }
    for path, value in changes.items():
        set_path(data, path.replace("__", "."), value)
    return data


def set_path(data: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    for part in parents:
        data = data[part]
    if value is DELETE:
        data.pop(last, None)
    else:
        data[last] = value


def with_path(dotted: str, value: Any) -> dict[str, Any]:
    return deployment(**{dotted.replace(".", "__"): value})


def submit(*deployments: Any, **top: Any) -> Submission:
    return parse_submission(json.dumps({"deployments": list(deployments), **top}).encode())


def accepted(data: dict[str, Any] | bytes) -> DeploymentInput:
    item = (parse_submission(data) if isinstance(data, bytes) else submit(data)).items[0]
    assert isinstance(item, DeploymentInput), item
    return item


def rejected(data: dict[str, Any]) -> list[str]:
    item = submit(data).items[0]
    assert isinstance(item, RejectedInput), item
    assert item.key == KEY
    return item.messages


def invalid(body: bytes | dict[str, Any]) -> list[str]:
    with pytest.raises(RequestInvalid) as caught:
        parse_submission(body if isinstance(body, bytes) else json.dumps(body).encode())
    assert caught.value.messages and str(caught.value) == "; ".join(caught.value.messages)
    return caught.value.messages


def table(cases: dict[str, Any]) -> dict[str, Any]:
    """Keyword arguments for pytest.mark.parametrize from an ``{id: case}`` table."""
    return {"argvalues": list(cases.values()), "ids": list(cases)}


# -- the whole request is a 400 ---------------------------------------------------------------------

NOT_JSON = messages.BODY_NOT_JSON.format
BAD_BODIES = {
    "not-utf8": (b"\xff{}", messages.BODY_NOT_UTF8),
    "empty": (b"", NOT_JSON(reason="Expecting value: line 1 column 1 (char 0)")),
    "array": (b"[]", messages.BODY_NOT_OBJECT),
    "string": (b'"x"', messages.BODY_NOT_OBJECT),
    "null": (b"null", messages.BODY_NOT_OBJECT),
    "nan": (b'{"deployments": [NaN]}', NOT_JSON(reason="NaN is not a JSON number")),
    "infinity": (b'{"a": -Infinity}', NOT_JSON(reason="-Infinity is not a JSON number")),
    "number-1001-chars": (
        b'{"a": ' + b"9" * 1001 + b"}",
        NOT_JSON(reason="a number is longer than 1000 characters"),
    ),
    "deep-nesting": (b"[" * 100_000, messages.BODY_TOO_DEEP),
    "lone-high-surrogate": (b'{"a": "\\ud800"}', messages.BODY_UNPAIRED_SURROGATE),
    "lone-low-surrogate": (b'{"a": ["\\udc00x"]}', messages.BODY_UNPAIRED_SURROGATE),
    "no-deployments": (b"{}", "'deployments' is required"),
    "null-deployments": (b'{"deployments": null}', "'deployments' is required"),
    "deployments-object": (b'{"deployments": {}}', "'deployments' must be an array"),
    "no-items": (b'{"deployments": []}', "'deployments' must contain at least 1 item, got 0"),
}


@pytest.mark.parametrize(("body", "expected"), **table(BAD_BODIES))
def test_a_body_that_cannot_be_read_item_by_item_is_a_400(body: bytes, expected: str) -> None:
    assert invalid(body) == [expected]


def test_paired_surrogate_escapes_and_a_byte_order_mark_are_fine() -> None:
    body = "\ufeff" + json.dumps({"deployments": [deployment(displayName="\ud83d\ude80")]}, ensure_ascii=True)
    assert accepted(body.encode()).data["displayName"] == "🚀"


def test_duplicate_keys_keep_the_last_value_as_jackson_does() -> None:
    body = json.dumps({"deployments": [deployment()]})
    body = body.replace('"state": "in_progress"', '"state": "x", "state": "failed"')
    assert accepted(body.encode()).data["state"] == "failed"


@pytest.mark.parametrize("count", [100, 101])
def test_deployments_are_at_most_100(count: int) -> None:
    items = [deployment(deploymentSequenceNumber=n) for n in range(count)]
    if count == 100:
        assert len(submit(*items).items) == count
    else:
        assert invalid({"deployments": items}) == ["'deployments' must contain at most 100 items, got 101"]


BAD_PROPERTIES = {
    "6-entries": ({f"k{i}": "v" for i in range(6)}, "'properties' must contain at most 5 entries, got 6"),
    "value-256": ({"k": "v" * 256}, "'properties.k' must be at most 255 characters"),
    "value-not-string": ({"k": 1}, "'properties.k' must be a string"),
    "colon": ({"a:b": "v"}, messages.PROPERTY_KEY_INVALID.format(field="properties", key="a:b")),
    "underscore": ({"_a": "v"}, messages.PROPERTY_KEY_INVALID.format(field="properties", key="_a")),
    "empty-key": ({"": "v"}, messages.PROPERTY_KEY_INVALID.format(field="properties", key="")),
    "not-object": (["a"], "'properties' must be an object"),
}


@pytest.mark.parametrize(("properties", "expected"), **table(BAD_PROPERTIES))
def test_properties_breaking_their_rules_are_a_400(properties: Any, expected: str) -> None:
    assert invalid({"deployments": [deployment()], "properties": properties}) == [expected]


def test_properties_at_their_limits_belong_to_the_submission() -> None:
    properties = {"a_b": "v" * 255, "k2": "", "k3": "🚀", "k4": "x", "k5": "y"}
    assert submit(deployment(), properties=properties).properties == properties
    assert submit(deployment(), properties=None).properties == {}


BAD_METADATA = {
    "not-object": ("Bamboo", "'providerMetadata' must be an object"),
    "product-not-string": ({"product": 6}, "'providerMetadata.product' must be a string"),
}


@pytest.mark.parametrize(("metadata", "expected"), **table(BAD_METADATA))
def test_bad_provider_metadata_is_a_400(metadata: Any, expected: str) -> None:
    assert invalid({"deployments": [deployment()], "providerMetadata": metadata}) == [expected]


def test_provider_metadata_keeps_its_known_fields() -> None:
    metadata = {"product": "Bamboo 6.10.2", "x": 1}
    assert submit(deployment(), providerMetadata=metadata).provider_metadata == {"product": "Bamboo 6.10.2"}
    assert submit(deployment()).provider_metadata is None


def test_unknown_top_level_keys_are_tolerated() -> None:
    assert len(submit(deployment(), preventTransitions=False, operationType="NORMAL").items) == 1


def test_an_empty_association_values_array_anywhere_is_a_400_with_jiras_text() -> None:
    empty = {"associationType": "serviceIdOrKeys", "values": []}
    items = [
        deployment(),
        deployment(associations=[empty]),
        deployment(associations=[GROUPS["commit"], empty]),
    ]
    assert invalid({"deployments": items}) == ["Associations must provide at least one value."]


UNREADABLE_KEYS = {
    "not-object": ("x", "'deployments[1]' must be an object"),
    "no-pipeline": (with_path("pipeline", DELETE), "'deployments[1].pipeline' is required"),
    "pipeline-id-int": (with_path("pipeline.id", 7), "'deployments[1].pipeline.id' must be a string"),
    "pipeline-id-256": (
        with_path("pipeline.id", "p" * 256),
        "'deployments[1].pipeline.id' must be at most 255 characters",
    ),
    "env-id-256": (
        with_path("environment.id", "e" * 256),
        "'deployments[1].environment.id' must be at most 255 characters",
    ),
    "env-array": (with_path("environment", []), "'deployments[1].environment' must be an object"),
    "dsn-null": (
        with_path("deploymentSequenceNumber", None),
        "'deployments[1].deploymentSequenceNumber' is required",
    ),
    "dsn-bool": (
        with_path("deploymentSequenceNumber", True),
        "'deployments[1].deploymentSequenceNumber' must be an integer",
    ),
    "dsn-past-int64": (
        with_path("deploymentSequenceNumber", INT64_MAX + 1),
        messages.INT64_RANGE.format(field="deployments[1].deploymentSequenceNumber"),
    ),
}


@pytest.mark.parametrize(("item", "expected"), **table(UNREADABLE_KEYS))
def test_a_deployment_whose_key_cannot_be_read_is_a_400(item: Any, expected: str) -> None:
    assert invalid({"deployments": [deployment(), item]}) == [expected]


def test_key_fields_at_their_limits_make_the_key() -> None:
    item = accepted(deployment(pipeline__id="p" * 255, environment__id="", deploymentSequenceNumber=INT64_MIN))
    assert item.key == DeploymentKey("p" * 255, "", INT64_MIN)


def test_all_request_problems_are_reported_together() -> None:
    body = {"deployments": [1, deployment(pipeline=DELETE)], "properties": {"_x": "v"}}
    assert invalid(body) == [
        messages.PROPERTY_KEY_INVALID.format(field="properties", key="_x"),
        "'deployments[0]' must be an object",
        "'deployments[1].pipeline' is required",
    ]


# -- one deployment is rejected ---------------------------------------------------------------------


def test_a_bad_deployment_is_rejected_alone_and_order_is_kept() -> None:
    items = submit(deployment(deploymentSequenceNumber=1), deployment(url=DELETE), deployment()).items
    assert [type(item) for item in items] == [DeploymentInput, RejectedInput, DeploymentInput]
    assert items[1] == RejectedInput(KEY, ["'url' is required"])


REQUIRED = ["updateSequenceNumber", "displayName", "url", "description", "lastUpdated", "state"]
REQUIRED += ["pipeline.displayName", "pipeline.url", "environment.displayName", "environment.type"]


@pytest.mark.parametrize("path", REQUIRED)
@pytest.mark.parametrize("value", [DELETE, None], ids=["absent", "null"])
def test_required_fields(path: str, value: Any) -> None:
    assert rejected(with_path(path, value)) == [f"'{path}' is required"]


def test_every_problem_gets_its_own_message_in_field_order() -> None:
    data = deployment(url=DELETE, state="done", displayName="d" * 256, environment__type="prod")
    assert rejected(data) == [
        "'displayName' must be at most 255 characters",
        "'url' is required",
        "'state' must be one of [unknown, pending, in_progress, cancelled, failed, rolled_back, successful]",
        "'environment.type' must be one of [unmapped, development, testing, staging, production]",
    ]


TEXTS = ["displayName", "description", "label", "pipeline.displayName", "environment.displayName"]


@pytest.mark.parametrize("path", [*TEXTS, "triggeredBy.email"])
@pytest.mark.parametrize("char", ["x", "🚀"], ids=["ascii", "astral-counts-once"])
def test_text_fields_hold_255_code_points(path: str, char: str) -> None:
    data = deployment(triggeredBy={})
    set_path(data, path, char * 255)
    assert accepted(data).data == {**data, "schemaVersion": "1.0"}
    set_path(data, path, char * 256)
    assert rejected(data) == [f"'{path}' must be at most 255 characters"]


@pytest.mark.parametrize("path", ["url", "pipeline.url"])
def test_urls_hold_2000_characters(path: str) -> None:
    url = "https://example.com/" + "p" * 1980
    assert accepted(with_path(path, url)).data == {**with_path(path, url), "schemaVersion": "1.0"}
    assert rejected(with_path(path, url + "p")) == [f"'{path}' must be at most 2000 characters"]


VALID_URIS = [
    "https://例え.jp/パス?q=1#f",
    "http://[::1]:8080/x",
    "https://user@host",
    "mailto:ops@example.com",
]
VALID_URIS += ["urn:isbn:0451450523", "HTTPS://EXAMPLE.COM/%7E"]


@pytest.mark.parametrize("url", VALID_URIS)
def test_valid_uris(url: str) -> None:
    assert accepted(deployment(url=url)).data["url"] == url


INVALID_URIS = ["", "example.com/path", "/relative", "http://", "https:///x", "https://@", "1http://e.com"]
INVALID_URIS += ["http://exa mple.com", "http://e.com/%zz", "http://e.com/\u00a0", 'http://e.com/"q"']


@pytest.mark.parametrize("url", INVALID_URIS)
def test_invalid_uris(url: str) -> None:
    assert rejected(deployment(url=url)) == ["'url' must be a valid URI"]


DATE_TIMES = ["2018-01-20T23:27:25Z", "2018-01-20t23:27:25z", "2018-01-20T23:27:25.123456789+05:30"]
DATE_TIMES += ["2016-12-31T23:59:60Z", "2024-02-29T00:00:00-00:00"]


@pytest.mark.parametrize("moment", DATE_TIMES)
def test_rfc3339_date_times_are_kept_as_written(moment: str) -> None:
    assert accepted(deployment(lastUpdated=moment)).data["lastUpdated"] == moment


NOT_DATE_TIMES = ["2018-01-20T23:27:25", "2018-01-20 23:27:25Z", "2018-01-20T23:27Z", "2018-01-20"]
NOT_DATE_TIMES += ["2023-02-29T00:00:00Z", "2018-13-01T00:00:00Z", "2018-01-20T24:00:00Z", "1516490845"]
NOT_DATE_TIMES += ["2018-01-20T23:27:25+0100", "2018-01-20T23:27:25+24:00", "١٢٣٤-01-20T23:27:25Z"]


@pytest.mark.parametrize("moment", NOT_DATE_TIMES)
def test_other_date_times_are_rejected(moment: str) -> None:
    assert rejected(deployment(lastUpdated=moment)) == ["'lastUpdated' must be an RFC 3339 date-time"]


@pytest.mark.parametrize(
    "state", ["unknown", "pending", "in_progress", "cancelled", "failed", "rolled_back", "successful"]
)
def test_every_state(state: str) -> None:
    assert accepted(deployment(state=state)).data["state"] == state


@pytest.mark.parametrize("kind", ["unmapped", "development", "testing", "staging", "production"])
def test_every_environment_type(kind: str) -> None:
    assert accepted(deployment(environment__type=kind)).environment_type == kind


OTHER_ENUM_VALUES = {
    "state-case": ("state", "SUCCESSFUL"),
    "state-number": ("state", 1),
    "environment-type": ("environment.type", "prod"),
    "schema-version": ("schemaVersion", "2.0"),
    "schema-version-number": ("schemaVersion", 1.0),
}


@pytest.mark.parametrize(("path", "value"), **table(OTHER_ENUM_VALUES))
def test_enums_refuse_other_values(path: str, value: Any) -> None:
    (message,) = rejected(with_path(path, value))
    assert message.startswith(f"'{path}' must be one of [")


def test_schema_version_is_filled_and_only_1_0_is_known() -> None:
    assert accepted(deployment()).data["schemaVersion"] == "1.0"
    assert rejected(deployment(schemaVersion="2.0")) == ["'schemaVersion' must be one of [1.0]"]


INT64S = {
    "min": (INT64_MIN, INT64_MIN),
    "max": (INT64_MAX, INT64_MAX),
    "integral-float": (2.0, 2),
    "decimal-string": ("63", 63),
    "signed-padded-string": ("-0063", -63),
    "max-string": (str(INT64_MAX), INT64_MAX),
}


@pytest.mark.parametrize("path", ["updateSequenceNumber", "duration"])
@pytest.mark.parametrize(("value", "stored"), **table(INT64S))
def test_int64_values_are_stored_as_json_integers(path: str, value: Any, stored: int) -> None:
    assert accepted(with_path(path, value)).data[path] == stored


NOT_INT64S = {
    "below-min": (INT64_MIN - 1, messages.INT64_RANGE),
    "above-max": (INT64_MAX + 1, messages.INT64_RANGE),
    "string-above-max": (str(INT64_MAX + 1), messages.INT64_RANGE),
    "string-40-digits": ("9" * 40, messages.INT64_RANGE),
    "huge-float": (1e300, messages.INT64_RANGE),
    "bool": (True, messages.MUST_BE_INTEGER),
    "fraction": (1.5, messages.MUST_BE_INTEGER),
    "padded-string": (" 63", messages.MUST_BE_INTEGER),
    "exponent-string": ("6.3e1", messages.MUST_BE_INTEGER),
    "arabic-digits": ("٦٣", messages.MUST_BE_INTEGER),
    "array": ([1], messages.MUST_BE_INTEGER),
}


@pytest.mark.parametrize("path", ["updateSequenceNumber", "duration"])
@pytest.mark.parametrize(("value", "template"), **table(NOT_INT64S))
def test_other_int64_values_are_rejected(path: str, value: Any, template: str) -> None:
    assert rejected(with_path(path, value)) == [template.format(field=path)]


def test_a_decimal_string_sequence_number_makes_the_key() -> None:
    item = accepted(deployment(deploymentSequenceNumber="63"))
    assert item.key == DeploymentKey("pipe-1", "env-1", 63) and item.data["deploymentSequenceNumber"] == 63


def test_issue_keys_or_associations_must_be_given() -> None:
    assert rejected(deployment(associations=DELETE)) == ["Either 'issueKeys' or 'associations' must be provided"]
    assert rejected(deployment(associations=None)) == ["Either 'issueKeys' or 'associations' must be provided"]


def test_deprecated_issue_keys_alone_or_with_associations() -> None:
    alone = accepted(deployment(associations=DELETE, issueKeys=["ABC-1", "ABC-2"]))
    assert alone.issue_keys == ("ABC-1", "ABC-2") and alone.associations == ()
    both = accepted(deployment(issueKeys=["ABC-1"]))
    assert both.issue_keys == ("ABC-1",) and both.associations == (Association("issueIdOrKeys", ("ABC-123",)),)
    assert submit(deployment(issueKeys=["ABC-1"])).deprecated_issue_keys_used
    assert not submit(deployment(associations=[GROUPS["issueKeys"]])).deprecated_issue_keys_used


ISSUE_KEY = "^[A-Za-z0-9_]{1,255}-[0-9]{1,255}$"
ISSUE_ID_OR_KEY = "^(?:[A-Za-z0-9_]{1,255}-[0-9]{1,255}|[0-9]{1,255})$"
ISSUE_KEYS = {"plain": "ABC-123", "underscore-lower": "a_1-0", "255-255": "A" * 255 + "-" + "1" * 255}
NOT_ISSUE_KEYS = {"no-number": "ABC", "dash-only": "ABC-", "no-project": "-1", "numeric-id": "10001"}
NOT_ISSUE_KEYS |= {"letters-in-number": "ABC-12a", "non-ascii-letter": "ÄBC-1", "arabic-digit": "ABC-١"}
NOT_ISSUE_KEYS |= {
    "newline": "ABC-1\n",
    "leading-space": " ABC-1",
    "256-1": "A" * 256 + "-1",
    "1-256": "A-" + "1" * 256,
}


@pytest.mark.parametrize("key", **table(ISSUE_KEYS))
def test_valid_issue_keys(key: str) -> None:
    assert accepted(deployment(issueKeys=[key])).issue_keys == (key,)


@pytest.mark.parametrize("key", **table(NOT_ISSUE_KEYS))
def test_invalid_issue_keys(key: str) -> None:
    assert rejected(deployment(issueKeys=[key])) == [f"'issueKeys[0]' must match {ISSUE_KEY}"]


@pytest.mark.parametrize("count", [1, 100, 0, 101])
def test_issue_keys_hold_1_to_100(count: int) -> None:
    data = deployment(issueKeys=[f"A-{n}" for n in range(count)])
    if 1 <= count <= 100:
        assert len(accepted(data).issue_keys) == count
    else:
        bound = "at least 1 item" if count == 0 else "at most 100 items"
        assert rejected(data) == [f"'issueKeys' must contain {bound}, got {count}"]


GROUPS: dict[str, dict[str, Any]] = {
    "issueKeys": {"associationType": "issueKeys", "values": ["ABC-1"]},
    "issueIdOrKeys": {"associationType": "issueIdOrKeys", "values": ["ABC-1", "10001"]},
    "serviceIdOrKeys": {"associationType": "serviceIdOrKeys", "values": ["", "svc-🚀", "s" * 255]},
    "commit": {
        "associationType": "commit",
        "values": [{"commitHash": "b00152456cf4", "repositoryId": "de7"}],
    },
    "repository": {"associationType": "repository", "values": [{"repositoryId": "r" * 255}]},
}


@pytest.mark.parametrize("kind", GROUPS)
def test_every_association_type(kind: str) -> None:
    item = accepted(deployment(associations=[GROUPS[kind]]))
    assert item.associations == (Association(kind, tuple(GROUPS[kind]["values"])),)


def group(kind: str | None, *values: Any) -> dict[str, Any]:
    return {"associationType": kind, "values": list(values)}


A0 = "'associations[0]"
ALL_TYPES = "[issueKeys, issueIdOrKeys, serviceIdOrKeys, commit, repository]"
LONG = "must be at most 255 characters"
BAD_GROUPS = {
    "no-type": ({"values": ["A-1"]}, f"{A0}.associationType' is required"),
    "null-type": (group(None, "A-1"), f"{A0}.associationType' is required"),
    "unknown-type": (group("issue", "A-1"), f"{A0}.associationType' must be one of {ALL_TYPES}"),
    "no-values": ({"associationType": "issueKeys"}, f"{A0}.values' is required"),
    "bad-id": (group("issueIdOrKeys", "ABC 1"), f"{A0}.values[0]' must match {ISSUE_ID_OR_KEY}"),
    "service-256": (group("serviceIdOrKeys", "s" * 256), f"{A0}.values[0]' {LONG}"),
    "commit-no-repo": (group("commit", {"commitHash": "c"}), f"{A0}.values[0].repositoryId' is required"),
    "commit-256": (
        group("commit", {"commitHash": "c" * 256, "repositoryId": "r"}),
        f"{A0}.values[0].commitHash' {LONG}",
    ),
    "repository-256": (
        group("repository", {"repositoryId": "r" * 256}),
        f"{A0}.values[0].repositoryId' {LONG}",
    ),
    "repository-str": (group("repository", "r"), f"{A0}.values[0]' must be an object"),
    "not-object": ("ABC-1", f"{A0}' must be an object"),
}


@pytest.mark.parametrize(("group", "expected"), **table(BAD_GROUPS))
def test_bad_associations_are_rejected(group: Any, expected: str) -> None:
    assert rejected(deployment(associations=[group])) == [expected]


@pytest.mark.parametrize("count", [3, 4, 0])
def test_associations_hold_1_to_3_groups(count: int) -> None:
    data = deployment(associations=[GROUPS["commit"]] * count)
    if count == 3:
        assert len(accepted(data).associations) == count
    else:
        bound = "at least 1 item" if count == 0 else "at most 3 items"
        assert rejected(data) == [f"'associations' must contain {bound}, got {count}"]


ASSOCIATION_VALUE_COUNTS = {
    "500-in-one": ((500,), None),
    "500-in-three": ((250, 249, 1), None),
    "501-in-one": ((501,), "'associations[0].values' must contain at most 500 items, got 501"),
    "501-in-two": ((250, 251), "'associations' must contain at most 500 values in total, got 501"),
}


@pytest.mark.parametrize(("sizes", "expected"), **table(ASSOCIATION_VALUE_COUNTS))
def test_at_most_500_association_values(sizes: tuple[int, ...], expected: str | None) -> None:
    groups = [{"associationType": "issueIdOrKeys", "values": [str(n) for n in range(size)]} for size in sizes]
    if expected is None:
        assert sum(len(group.values) for group in accepted(deployment(associations=groups)).associations) == 500
    else:
        assert rejected(deployment(associations=groups)) == [expected]


COMMANDS = {
    "gating": ([{"command": "initiate_deployment_gating"}], True),
    "other-and-empty": ([{"command": "other"}, {}], False),
    "none": ([], False),
}


@pytest.mark.parametrize(("commands", "gating"), **table(COMMANDS))
def test_gating_is_requested_by_command(commands: list[dict[str, str]], gating: bool) -> None:
    assert accepted(deployment(commands=commands)).gating_requested is gating


def test_bad_commands_and_triggered_by_are_rejected() -> None:
    assert rejected(deployment(commands=[{"command": 1}], triggeredBy="me")) == [
        "'commands[0].command' must be a string",
        "'triggeredBy' must be an object",
    ]


# -- what an accepted deployment carries ------------------------------------------------------------


def test_data_is_what_was_sent_with_schema_version_and_without_unknown_keys() -> None:
    sent = deployment(lastUpdated="2018-01-20T23:27:25.120+01:00", label=" padded ", duration=47)
    noisy = copy.deepcopy(sent) | {"extra": {"deep": [1]}, "display_name": "snake_case is unknown"}
    noisy["pipeline"]["extra"] = 1
    noisy["associations"][0]["extra"] = 1
    item = accepted(noisy)
    assert item.data == {**sent, "schemaVersion": "1.0"}
    assert item.key == KEY and item.update_sequence_number == 1 and item.environment_type == "production"


def test_null_optional_fields_are_left_out() -> None:
    assert accepted(deployment(label=None, duration=None, commands=None)).data == {
        **deployment(),
        "schemaVersion": "1.0",
    }


def test_odd_unicode_is_data() -> None:
    odd = "nul\x00 e\u0301 🚀 \u202e\ufeff"
    item = accepted(deployment(displayName=odd, pipeline__id=odd, environment__id=odd))
    assert item.data["displayName"] == odd and item.key == DeploymentKey(odd, odd, 100)


def test_the_2023_shape_is_accepted() -> None:
    groups = [GROUPS["issueKeys"], GROUPS["serviceIdOrKeys"], GROUPS["commit"]]
    commands = [{"command": "initiate_deployment_gating"}]
    data = deployment(issueKeys=["ABC-123"], associations=groups, label="Release 1", commands=commands)
    assert accepted(data).data == {**data, "schemaVersion": "1.0"}


@pytest.mark.skipif(not UPSTREAM.is_dir(), reason="../shared/upstream-openapi is not checked out")
def test_the_2026_upstream_example_request_is_accepted() -> None:
    spec = json.loads((UPSTREAM / "deployments-2026-01-normalized.json").read_text())
    example = spec["components"]["schemas"]["SubmitDeploymentRequest"]["example"]
    submission = parse_submission(json.dumps(example).encode())
    data = [item.data for item in submission.items if isinstance(item, DeploymentInput)]
    assert data == example["deployments"]


def test_the_models_carry_the_limits_for_the_openapi_document() -> None:
    request = SubmitDeploymentRequest.model_json_schema()
    assert (
        request["properties"]["deployments"]["minItems"],
        request["properties"]["deployments"]["maxItems"],
    ) == (1, 100)
    data = DeploymentData.model_json_schema()
    assert data["properties"]["url"] == {"type": "string", "format": "uri", "maxLength": 2000, "title": "Url"}
    assert data["properties"]["deploymentSequenceNumber"]["format"] == "int64"


# -- properties -------------------------------------------------------------------------------------


def outcome(body: bytes) -> Submission | None:
    try:
        submission = parse_submission(body)
    except RequestInvalid as problem:
        assert problem.messages and all(isinstance(m, str) for m in problem.messages)
        return None
    assert isinstance(submission, Submission)
    return submission


@given(st.binary())
def test_any_bytes_give_a_submission_or_a_400(body: bytes) -> None:
    outcome(body)


@given(strategies.json_values)
def test_any_json_gives_a_submission_or_a_400(document: Any) -> None:
    outcome(json.dumps(document).encode())
    outcome(json.dumps({"deployments": document, "properties": document}).encode())


@given(st.lists(strategies.damaged_deployment_data(), min_size=1, max_size=3))
def test_damaged_deployments_get_known_messages(items: list[dict[str, Any]]) -> None:
    submission = outcome(json.dumps({"deployments": items}).encode())
    for item in submission.items if submission else ():
        if isinstance(item, RejectedInput):
            assert item.messages and not any(m.endswith("' is invalid") for m in item.messages)
        else:
            json.dumps(item.data, ensure_ascii=False).encode()


@given(strategies.deployment_data())
def test_valid_deployment_data_round_trips(data: dict[str, Any]) -> None:
    item = accepted(data)
    assert item.data == {"schemaVersion": "1.0", **data}
    assert item.key == DeploymentKey(
        data["pipeline"]["id"], data["environment"]["id"], data["deploymentSequenceNumber"]
    )
    assert item.issue_keys == tuple(data.get("issueKeys", ()))
    assert [group.type for group in item.associations] == [g["associationType"] for g in data.get("associations", [])]
    assert item.gating_requested == any(c.get("command") == strategies.GATING_COMMAND for c in data.get("commands", []))
