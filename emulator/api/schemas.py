"""The submit request (``SubmitDeploymentRequest``): pydantic models and the full validator built on them.

The models carry the 2026 schema's limits (they also generate our OpenAPI document); they accept
everything the 2023 schema accepts. ``validate_submission`` turns request bytes into a ``Submission``
(``emulator.api.submission.parse_submission`` calls it for every request its fast path leaves,
which is every request with a problem, so this module is imported on first need, not at start-up):
a problem that stops the request from being processed item by item raises ``RequestInvalid`` (a 400);
any other problem inside one deployment rejects only that deployment, with one message per problem.

Where Jira is silent, this module decides (each decision is explained where it is made):
null means absent; int64 fields also take integral floats and decimal strings; string lengths count
code points; issue-key patterns are ASCII, as in Java; duplicate JSON keys keep the last value;
unknown keys are dropped from ``data``; lone surrogate escapes and numbers over 1000 characters make
the request a 400.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SkipValidation,
    Strict,
    TypeAdapter,
    ValidationError,
    field_validator,
)
from pydantic.alias_generators import to_camel
from pydantic_core import ErrorDetails, PydanticCustomError

from emulator.api import messages
from emulator.api.submission import (
    DEFAULT_SCHEMA_VERSION,
    INT64_MAX,
    INT64_MIN,
    ISSUE_ID_OR_KEY_PATTERN,
    ISSUE_KEY_PATTERN,
    MAX_ASSOCIATION_VALUES,
    MAX_ASSOCIATIONS,
    MAX_DEPLOYMENTS,
    MAX_ISSUE_KEYS,
    MAX_NUMBER_CHARS,
    MAX_PROPERTIES,
    MAX_TEXT,
    MAX_URL,
    PROPERTY_KEY_PATTERN,
    RejectedInput,
    RequestInvalid,
    Submission,
    is_date_time,
    is_uri,
)
from emulator.domain.model import GATING_COMMAND, Association, DeploymentInput, DeploymentKey

State = Literal["unknown", "pending", "in_progress", "cancelled", "failed", "rolled_back", "successful"]
EnvironmentType = Literal["unmapped", "development", "testing", "staging", "production"]
SchemaVersion = Literal["1.0"]


# -- value types ------------------------------------------------------------------------------------


def _without_nulls(value: Any, *, top: bool = False) -> Any:
    """Jackson maps an explicit null onto an absent property: a null required field is missing, a null
    optional one is left out of `data`. Every object of the request is a model except ``properties``,
    whose null values stay (and are refused as not strings)."""
    if isinstance(value, dict):
        return {k: (v if top and k == "properties" else _without_nulls(v)) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


_DECIMAL = re.compile(r"[+-]?[0-9]+")


def _coerce_int64(value: Any) -> Any:
    # Jira's Java backend coerces "63" to 63 (JavaScript clients send big int64s as strings) and
    # 63.0 to 63; anything else (bool, 63.5, " 63", "6.3e1") is left for the strict check to refuse.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and _DECIMAL.fullmatch(value):
        if len(value) > 25:
            return INT64_MIN - 1 if value.startswith("-") else INT64_MAX + 1
        return int(value)
    return value


def _check_uri(value: str) -> str:
    if not is_uri(value):
        raise PydanticCustomError("uri_format", "not a valid URI")
    return value


def _check_date_time(value: str) -> str:
    if not is_date_time(value):
        raise PydanticCustomError("date_time_format", "not an RFC 3339 date-time")
    return value


# Lengths count code points (Python's len), which is what JSON Schema's maxLength means; Java's
# String.length() would count an astral character twice, so Jira may refuse 128..255 of them.
Text = Annotated[str, Field(max_length=MAX_TEXT)]
Uri = Annotated[str, Field(max_length=MAX_URL, json_schema_extra={"format": "uri"}), AfterValidator(_check_uri)]
DateTime = Annotated[str, Field(json_schema_extra={"format": "date-time"}), AfterValidator(_check_date_time)]
Int64 = Annotated[
    int,
    Strict(),
    Field(ge=INT64_MIN, le=INT64_MAX, json_schema_extra={"format": "int64"}),
    BeforeValidator(_coerce_int64),
]
IssueKey = Annotated[str, Field(pattern=ISSUE_KEY_PATTERN)]
IssueKeys = Annotated[
    list[IssueKey], Field(min_length=1, max_length=MAX_ISSUE_KEYS, json_schema_extra={"deprecated": True})
]
IssueIdOrKey = Annotated[str, Field(pattern=ISSUE_ID_OR_KEY_PATTERN)]
PropertyKey = Annotated[str, Field(pattern=PROPERTY_KEY_PATTERN)]


# -- models -----------------------------------------------------------------------------------------


class _Model(BaseModel):
    # Unknown keys are tolerated but not kept: Jira's Jackson-bound DeploymentData has no place for
    # them, so a GET could never return them, and `data` must be what GET returns.
    # Nulls are dropped from the document before validation (``_without_nulls``), not by a Python
    # validator on every model: validation then runs in pydantic-core alone.
    model_config = ConfigDict(alias_generator=to_camel, extra="ignore", serialize_by_alias=True, frozen=True)


class Pipeline(_Model):
    """The CD pipeline a deployment belongs to."""

    id: Text
    display_name: Text
    url: Uri


class Environment(_Model):
    """The environment a deployment is present in."""

    id: Text
    display_name: Text
    type: EnvironmentType


class Command(_Model):
    """A command to action for the deployment; ``initiate_deployment_gating`` asks for gating."""

    command: str | None = None


class TriggeredBy(_Model):
    """Who triggered the deployment (upstream 2023-10..2024-02)."""

    email: Text | None = None


class Commit(_Model):
    commit_hash: Text
    repository_id: Text


class Repository(_Model):
    repository_id: Text


class IssueIdOrKeysAssociation(_Model):
    association_type: Literal["issueKeys", "issueIdOrKeys"]
    values: Annotated[list[IssueIdOrKey], Field(min_length=1, max_length=MAX_ASSOCIATION_VALUES)]


class ServiceIdOrKeysAssociation(_Model):
    association_type: Literal["serviceIdOrKeys"]
    values: Annotated[list[Text], Field(min_length=1, max_length=MAX_ASSOCIATION_VALUES)]


class CommitAssociation(_Model):
    association_type: Literal["commit"]
    values: Annotated[list[Commit], Field(min_length=1, max_length=MAX_ASSOCIATION_VALUES)]


class RepositoryAssociation(_Model):
    association_type: Literal["repository"]
    values: Annotated[list[Repository], Field(min_length=1, max_length=MAX_ASSOCIATION_VALUES)]


DeploymentAssociation = Annotated[
    IssueIdOrKeysAssociation | ServiceIdOrKeysAssociation | CommitAssociation | RepositoryAssociation,
    Field(discriminator="association_type"),
]
ASSOCIATION_TYPES = ("issueKeys", "issueIdOrKeys", "serviceIdOrKeys", "commit", "repository")


class DeploymentData(_Model):
    """A deployment in an environment: the submitted item, and the body GET returns."""

    model_config = ConfigDict(
        json_schema_extra={"anyOf": [{"required": ["issueKeys"]}, {"required": ["associations"]}]}
    )

    deployment_sequence_number: Int64
    update_sequence_number: Int64
    # Not Field(deprecated=True): pydantic would warn on every attribute read.
    issue_keys: IssueKeys | None = None
    associations: Annotated[list[DeploymentAssociation], Field(min_length=1, max_length=MAX_ASSOCIATIONS)] | None = None
    display_name: Text
    url: Uri
    description: Text
    last_updated: DateTime
    label: Text | None = None
    duration: Int64 | None = None
    state: State
    pipeline: Pipeline
    environment: Environment
    commands: list[Command] | None = None
    schema_version: SchemaVersion = "1.0"
    triggered_by: TriggeredBy | None = None

    @field_validator("associations")
    @classmethod
    def _values_in_total(cls, groups: list[Any] | None) -> list[Any] | None:
        total = sum(len(group.values) for group in groups or ())
        if total > MAX_ASSOCIATION_VALUES:
            raise PydanticCustomError(
                "association_values_total",
                "too many values",
                {"max_values": MAX_ASSOCIATION_VALUES, "actual": total},
            )
        return groups


class ProviderMetadata(_Model):
    product: str | None = None


class SubmitDeploymentRequest(_Model):
    """The body of submitDeployments. Deployments are validated one by one, so not here."""

    properties: Annotated[dict[PropertyKey, Text], Field(max_length=MAX_PROPERTIES)] | None = None
    deployments: Annotated[list[SkipValidation[DeploymentData]], Field(min_length=1, max_length=MAX_DEPLOYMENTS)]
    provider_metadata: ProviderMetadata | None = None


class _IdOnly(_Model):
    id: Text


class _KeyFields(_Model):
    """The part of a DeploymentData that must be readable for a per-deployment rejection."""

    deployment_sequence_number: Int64
    pipeline: _IdOnly
    environment: _IdOnly


_REQUEST = TypeAdapter(SubmitDeploymentRequest)
_KEY = TypeAdapter(_KeyFields)
_DEPLOYMENT = TypeAdapter(DeploymentData)


# -- pydantic errors to Jira-style messages ---------------------------------------------------------

_TEMPLATES: dict[str, str] = {
    "missing": messages.REQUIRED,
    "string_type": messages.MUST_BE_STRING,
    "int_type": messages.MUST_BE_INTEGER,
    "model_type": messages.MUST_BE_OBJECT,
    "model_attributes_type": messages.MUST_BE_OBJECT,
    "dict_type": messages.MUST_BE_OBJECT,
    "list_type": messages.MUST_BE_ARRAY,
    "greater_than_equal": messages.INT64_RANGE,
    "less_than_equal": messages.INT64_RANGE,
    "literal_error": messages.ONE_OF,
    "union_tag_invalid": messages.ONE_OF,
    "union_tag_not_found": messages.REQUIRED,
    "string_too_long": messages.TOO_LONG,
    "string_pattern_mismatch": messages.PATTERN_MISMATCH,
    "too_short": messages.TOO_FEW_ITEMS,
    "too_long": messages.TOO_MANY_ITEMS,
    "uri_format": messages.INVALID_URI,
    "date_time_format": messages.INVALID_DATE_TIME,
    "association_values_total": messages.TOO_MANY_ASSOCIATION_VALUES,
}
_QUOTED = re.compile(r"'([^']*)'")


def _messages(error: ValidationError, document: Any, prefix: tuple[str | int, ...] = ()) -> list[str]:
    found: list[str] = []
    for detail in error.errors(include_url=False, include_input=False):
        text = _message(detail, document, prefix)
        if text not in found:
            found.append(text)
    return found


def _message(detail: ErrorDetails, document: Any, prefix: tuple[str | int, ...]) -> str:
    loc = _without_union_tags(detail["loc"])
    ctx: dict[str, Any] = dict(detail.get("ctx") or {})
    kind = detail["type"]
    if loc and loc[-1] == "[key]":
        return messages.PROPERTY_KEY_INVALID.format(field=_path(prefix + loc[:-2]), key=loc[-2])
    if kind.startswith("union_tag"):
        loc += (_QUOTED.findall(ctx["discriminator"])[-1],)
    if "expected" in ctx or "expected_tags" in ctx:
        ctx["allowed"] = ", ".join(_QUOTED.findall(ctx.get("expected") or ctx["expected_tags"]))
    if kind in ("too_short", "too_long"):
        limit = ctx.get("min_length", ctx.get("max_length"))
        ctx["noun"] = "item" if limit == 1 else "items"
        if ctx.get("field_type") == "Dictionary":
            ctx["noun"] = "entries"
        if ctx.get("actual_length") is None:  # pydantic does not count a dict's entries
            ctx["actual_length"] = _length_at(document, loc)
    return _TEMPLATES.get(kind, messages.INVALID).format(field=_path(prefix + loc), **ctx)


def _without_union_tags(loc: tuple[str | int, ...]) -> tuple[str | int, ...]:
    # pydantic puts the chosen tag after the list index: ('associations', 0, 'commit', 'values').
    kept: list[str | int] = []
    for part in loc:
        if not (kept and isinstance(kept[-1], int) and part in ASSOCIATION_TYPES):
            kept.append(part)
    return tuple(kept)


def _path(loc: tuple[str | int, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else str(part)
    return text


def _length_at(document: Any, loc: tuple[str | int, ...]) -> int | str:
    try:
        for part in loc:
            document = document[part]
        return len(document)
    except (LookupError, TypeError):
        return "more"


# -- parsing ----------------------------------------------------------------------------------------


def validate_submission(body: bytes) -> Submission:
    """Validate a submitDeployments body in full, with a message for every problem; raise
    RequestInvalid when it is a 400 as a whole. (``submission.parse_submission`` is the entry point.)"""
    document = _load_json(body)
    if not isinstance(document, dict):
        raise RequestInvalid([messages.BODY_NOT_OBJECT])
    if b"null" in body:
        document = _without_nulls(document, top=True)
    request, problems = _validate_request(document)
    raw_items = document.get("deployments")
    checked: list[_Checked] = []
    if isinstance(raw_items, list) and len(raw_items) <= MAX_DEPLOYMENTS:
        checked, item_problems = _check_items(raw_items)
        problems += [p for p in item_problems if p not in problems]
    if problems or request is None or not isinstance(raw_items, list):
        raise RequestInvalid(problems)
    metadata = request.provider_metadata
    return Submission(
        properties=dict(request.properties or {}),
        items=[_parse_item(raw, item) for raw, item in zip(raw_items, checked, strict=True)],
        provider_metadata=None if metadata is None else metadata.model_dump(mode="json", exclude_unset=True),
        deprecated_issue_keys_used=any(raw.get("issueKeys") is not None for raw in raw_items),
    )


def _load_json(body: bytes) -> Any:
    try:
        # utf-8-sig: Jackson skips a byte order mark, so we do too.
        text = bytes(body).decode("utf-8-sig")
    except UnicodeDecodeError:
        raise RequestInvalid([messages.BODY_NOT_UTF8]) from None
    try:
        # The length check on integers costs a Python call per number: only pay it when a long run of
        # digits exists at all (in a string or a number).
        hook = _parse_int if _LONG_DIGITS.search(text) else None
        document = json.loads(text, parse_int=hook, parse_constant=_refuse_constant)
    except RecursionError:
        raise RequestInvalid([messages.BODY_TOO_DEEP]) from None
    except ValueError as error:  # JSONDecodeError, and the two hooks below
        raise RequestInvalid([messages.BODY_NOT_JSON.format(reason=error)]) from None
    if _SURROGATE_ESCAPE.search(text) and _has_lone_surrogate(document):
        # Lone surrogates are not Unicode text: nothing could store or answer them as UTF-8.
        raise RequestInvalid([messages.BODY_UNPAIRED_SURROGATE])
    return document


_LONG_DIGITS = re.compile(f"[0-9]{{{MAX_NUMBER_CHARS}}}")  # a number of MAX_NUMBER_CHARS may carry a sign


def _parse_int(text: str) -> int:
    if len(text) > MAX_NUMBER_CHARS:
        raise ValueError(messages.NUMBER_TOO_LONG.format(max_digits=MAX_NUMBER_CHARS))
    return int(text)


def _refuse_constant(name: str) -> Any:
    raise ValueError(messages.NOT_A_JSON_NUMBER.format(constant=name))


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _has_lone_surrogate(document: Any) -> bool:
    # Iterative: the document may be nested right up to the recursion limit. After json.loads any
    # surrogate left in a str is unpaired (a valid pair became one astral character).
    pending = [document]
    while pending:
        value = pending.pop()
        if isinstance(value, str) and _SURROGATE.search(value):
            return True
        if isinstance(value, dict):
            pending.extend(value.keys())
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
    return False


def _validate_request(document: dict[str, Any]) -> tuple[SubmitDeploymentRequest | None, list[str]]:
    try:
        return _REQUEST.validate_python(document), []
    except ValidationError as error:
        return None, _messages(error, document)


@dataclass(frozen=True)
class _Checked:
    """One deployment validated once: its key, and the model or the validation error."""

    key: DeploymentKey
    deployment: DeploymentData | None
    error: ValidationError | None


def _check_items(raw_items: list[Any]) -> tuple[list[_Checked], list[str]]:
    """Validate each deployment once; where that fails, see whether at least its key can be read."""
    checked: list[_Checked] = []
    problems: list[str] = []
    for index, raw in enumerate(raw_items):
        try:
            deployment = _DEPLOYMENT.validate_python(raw)
            key = DeploymentKey(
                deployment.pipeline.id, deployment.environment.id, deployment.deployment_sequence_number
            )
            checked.append(_Checked(key, deployment, None))
        except ValidationError as error:
            try:
                fields = _KEY.validate_python(raw)
                key = DeploymentKey(fields.pipeline.id, fields.environment.id, fields.deployment_sequence_number)
                checked.append(_Checked(key, None, error))
            except ValidationError as key_error:
                problems += _messages(key_error, raw, ("deployments", index))
        if _has_empty_association_values(raw) and messages.EMPTY_ASSOCIATION_VALUES not in problems:
            problems.append(messages.EMPTY_ASSOCIATION_VALUES)
    return checked, problems


def _has_empty_association_values(raw: Any) -> bool:
    groups = raw.get("associations") if isinstance(raw, dict) else None
    return isinstance(groups, list) and any(isinstance(g, dict) and g.get("values") == [] for g in groups)


def _parse_item(raw: dict[str, Any], item: _Checked) -> DeploymentInput | RejectedInput:
    problems = _messages(item.error, raw) if item.error is not None else []
    if raw.get("issueKeys") is None and raw.get("associations") is None:
        problems.append(messages.ISSUE_KEYS_OR_ASSOCIATIONS)
    if item.deployment is None or problems:
        return RejectedInput(item.key, problems)
    return _to_input(item.deployment, item.key)


def _to_input(deployment: DeploymentData, key: DeploymentKey) -> DeploymentInput:
    data = deployment.model_dump(mode="json", exclude_unset=True)
    data.setdefault("schemaVersion", DEFAULT_SCHEMA_VERSION)
    groups = [Association(g["associationType"], tuple(g["values"])) for g in data.get("associations", [])]
    return DeploymentInput.from_data(
        key=key,
        update_sequence_number=deployment.update_sequence_number,
        data=data,
        environment_type=deployment.environment.type,
        issue_keys=tuple(deployment.issue_keys or ()),
        associations=tuple(groups),
        gating_requested=any(c.command == GATING_COMMAND for c in deployment.commands or ()),
    )
