"""The Builds API's bodies, declared once (builds-api.md sections 2 and 3; the 2026-01 document).

The request shapes accept everything the 2023 document accepts, and what production clients send that
Jira takes (builds-api.md 4.11): explicit nulls (left out), numbers as decimal strings, numeric property
values (kept as their decimal text), an empty ``issueKeys`` (a build without issue, stored unlinked).
Field order is the order GET returns a build's members in.
"""

from __future__ import annotations

import sys
from itertools import starmap
from typing import Annotated, Any, ClassVar, Literal

from msgspec import UNSET, Meta, UnsetType

from emulator.api.bodies.common import (
    MAX_ASSOCIATION_VALUES,
    Body,
    ErrorMessage,
    IssueAssociation,
    ProviderMetadata,
)
from emulator.api.bodies.types import (
    DEFAULT_SCHEMA_VERSION,
    MAX_PROPERTIES,
    MAX_URL,
    DateTime,
    Int64,
    IssueKey,
    PropertyKey,
    Text,
    Url,
)
from emulator.api.submissions import Parser, Shapes, encode_into
from emulator.domain.model import Association, BuildInput, Key
from emulator.domain.model import BuildKey as DomainKey

MAX_BUILDS = 100
MAX_ISSUE_KEYS = 100
MAX_REFERENCES = 5

BuildState = Literal["pending", "in_progress", "successful", "failed", "cancelled", "unknown"]
_LongText = Annotated[str, Meta(max_length=MAX_URL)]  # an identifier or URL of up to 2000 characters

# Jira's texts for builds, where a client has seen them (builds-api.md 3.1): an enum, a required list
MESSAGES = {
    "literal_error": "'{field}' is not valid. Allowed values are: [{allowed}].",
    "union_tag_invalid": "'{field}' is not valid. Allowed values are: [{allowed}].",
    "too_short:1": "At least one '{field}' is required",
}


class TestInfo(Body, kw_only=True):
    """Information about tests that were executed during a build."""

    __test__: ClassVar[bool] = False  # not a test class, for pytest

    total_number: Int64
    number_passed: Int64
    number_failed: Int64
    number_skipped: Int64 | None = None


class BuildCommitReference(Body):
    """Details about the commit the build was run against."""

    id: Text
    repository_uri: _LongText


class BuildRefReference(Body):
    """Details about the ref the build was run on."""

    name: Text
    uri: _LongText


class BuildReferences(Body):
    """Links a build to a commit, or a branch or tag, supplied by another app."""

    commit: BuildCommitReference | None = None
    ref: BuildRefReference | None = None


class BuildData(Body, kw_only=True):
    """A build of a pipeline: the submitted item, and the body GET returns."""

    schema_version: Annotated[Literal["1.0"], Meta(extra={"default": DEFAULT_SCHEMA_VERSION})] | UnsetType = UNSET
    pipeline_id: Text
    build_number: Int64
    update_sequence_number: Int64
    display_name: Text
    description: Text | None = None
    label: Text | None = None
    url: Url
    state: BuildState
    last_updated: DateTime
    issue_keys: (
        Annotated[tuple[IssueKey, ...], Meta(max_length=MAX_ISSUE_KEYS, extra_json_schema={"deprecated": True})] | None
    ) = None
    associations: (
        Annotated[tuple[IssueAssociation, ...], Meta(extra={"max_total_values": MAX_ASSOCIATION_VALUES})] | None
    ) = None
    test_info: TestInfo | None = None
    references: Annotated[tuple[BuildReferences, ...], Meta(min_length=1, max_length=MAX_REFERENCES)] | None = None


class SubmitBuildsRequest(Body, kw_only=True):
    """The body of submitBuilds. Builds are validated one by one, so not here."""

    items_field: ClassVar[str] = "builds"

    properties: Annotated[dict[PropertyKey, Text | Int64], Meta(max_length=MAX_PROPERTIES)] | None = None
    builds: Annotated[list[BuildData], Meta(min_length=1, max_length=MAX_BUILDS)]
    provider_metadata: ProviderMetadata | None = None


class BuildKeyFields(Body):
    """The part of a build that must be readable for a rejection of it alone (not a 400)."""

    pipeline_id: Text
    build_number: Int64


# -- answers ----------------------------------------------------------------------------------------


class BuildKey(Body):
    """The key of a build: unique per provider (Connect app or OAuth client) on a site."""

    pipeline_id: Text
    build_number: Int64


class RejectedBuild(Body):
    """A build that was not stored, with one message per problem."""

    key: BuildKey
    errors: list[ErrorMessage]


class SubmitBuildsResponse(Body):
    """The 202 body of submitBuilds: all four arrays are always present, empty or not."""

    accepted_builds: list[BuildKey]
    rejected_builds: list[RejectedBuild]
    unknown_issue_keys: list[IssueKey]
    unknown_associations: list[IssueAssociation]


def submit_answer(outcome: Any, rejected: list[tuple[DomainKey, list[str]]]) -> SubmitBuildsResponse:
    """The 202 body of a submit: ``outcome`` is the domain's SubmitOutcome, ``rejected`` every rejection."""
    return SubmitBuildsResponse(
        list(starmap(BuildKey, outcome.accepted)),
        [RejectedBuild(BuildKey(*key), [ErrorMessage(m) for m in messages]) for key, messages in rejected],
        outcome.unknown_issue_keys,
        outcome.unknown_associations,
    )


# -- a submitted build as the domain takes it --------------------------------------------------------

_intern = sys.intern


def key_of(item: Any) -> DomainKey:
    """The key of a validated build (its full model, or only its key fields)."""
    return DomainKey(item.pipeline_id, item.build_number)


def fast_input(build: BuildData, buffer: bytearray, keys: dict[Key, Key]) -> BuildInput:
    """The input of a build the fast decoder read and whose rules hold, its body encoded as GET returns it
    (``schemaVersion`` first, as the declaration orders it, filled with its default when absent), its key
    the parser's key table's (made and added when missing)."""
    if build.schema_version is UNSET:
        buffer[:] = b'{"schemaVersion":"1.0",'
        encode_into(build, buffer, len(buffer))
        del buffer[len(b'{"schemaVersion":"1.0",')]  # the decoded struct's own "{"
    else:
        encode_into(build, buffer)
    key = keys.get((build.pipeline_id, build.build_number))
    if key is None:
        key = tuple.__new__(DomainKey, (_intern(build.pipeline_id), build.build_number))
        keys[key] = key
    issue_keys = () if build.issue_keys is None else build.issue_keys
    return BuildInput(key, build.update_sequence_number, issue_keys, build.last_updated, None, bytes(buffer),
                      None if build.associations else ())  # fmt: skip


def full_input(data: dict[str, Any], build: Any) -> BuildInput:
    """The input of a build the full validator read: ``data`` is its model's dump, without what was not
    sent; ``schemaVersion`` comes first, with its default when absent."""
    data = {"schemaVersion": data.pop("schemaVersion", DEFAULT_SCHEMA_VERSION), **data}
    groups = [Association(g["associationType"], tuple(g["values"])) for g in data.get("associations", [])]
    return BuildInput.from_data(
        key_of(build), build.update_sequence_number, data, tuple(build.issue_keys or ()), tuple(groups)
    )


PARSER = Parser(Shapes(SubmitBuildsRequest, BuildKeyFields, key_of, fast_input, full_input, messages=MESSAGES))
