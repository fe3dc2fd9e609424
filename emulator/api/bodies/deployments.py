"""The Deployments API's bodies, declared once (api.md sections 2, 3 and 5.7; the 2026-01 document).

The request shapes accept everything the 2023 document accepts. The fast decoder reads requests with these
structs as they are; the full validator and the OpenAPI document read them through ``derive.py``. Field
order is the order GET returns a deployment's members in.
"""

from __future__ import annotations

import sys
from itertools import starmap
from typing import Annotated, Any, ClassVar, Literal

from msgspec import UNSET, Meta, UnsetType

from emulator.api.bodies.common import (
    MAX_ASSOCIATION_VALUES,
    AssociationGroup,
    Body,
    ErrorMessage,
    IssueIdOrKeysAssociation,
    IssueKeysAssociation,
    ProviderMetadata,
)
from emulator.api.bodies.types import (
    DEFAULT_SCHEMA_VERSION,
    DateTime,
    Int64,
    IssueKey,
    Properties,
    Text,
    Url,
)
from emulator.api.submissions import Parser, Shapes, encode_into
from emulator.domain.model import GATING_COMMAND, Association, DeploymentInput, Key
from emulator.domain.model import DeploymentKey as DomainKey

MAX_DEPLOYMENTS = 100
MAX_ASSOCIATIONS = 3
MAX_ISSUE_KEYS = 100

DeploymentState = Literal["unknown", "pending", "in_progress", "cancelled", "failed", "rolled_back", "successful"]
EnvironmentType = Literal["unmapped", "development", "testing", "staging", "production"]
GatingStatusValue = Literal["allowed", "prevented", "awaiting", "invalid"]
_Values = Meta(min_length=1, max_length=MAX_ASSOCIATION_VALUES)


class Pipeline(Body):
    """The CD pipeline a deployment belongs to."""

    id: Text
    display_name: Text
    url: Url


class Environment(Body):
    """The environment a deployment is present in."""

    id: Text
    display_name: Text
    type: EnvironmentType


class Command(Body):
    """A command to action for the deployment; ``initiate_deployment_gating`` asks for gating."""

    command: str | None = None


class TriggeredBy(Body):
    """Who triggered the deployment (upstream 2023-10..2024-02)."""

    email: Text | None = None


class Commit(Body):
    commit_hash: Text
    repository_id: Text


class Repository(Body):
    repository_id: Text


class ServiceIdOrKeysAssociation(AssociationGroup, tag="serviceIdOrKeys"):
    values: Annotated[tuple[Text, ...], _Values]


class CommitAssociation(AssociationGroup, tag="commit"):
    values: Annotated[tuple[Commit, ...], _Values]


class RepositoryAssociation(AssociationGroup, tag="repository"):
    values: Annotated[tuple[Repository, ...], _Values]


DeploymentAssociation = (
    IssueIdOrKeysAssociation
    | IssueKeysAssociation
    | ServiceIdOrKeysAssociation
    | CommitAssociation
    | RepositoryAssociation
)
ASSOCIATION_TYPES = ("issueKeys", "issueIdOrKeys", "serviceIdOrKeys", "commit", "repository")


class DeploymentData(Body, kw_only=True):
    """A deployment in an environment: the submitted item, and the body GET returns."""

    required_any: ClassVar[tuple[str, ...]] = ("issueKeys", "associations")

    deployment_sequence_number: Int64
    update_sequence_number: Int64
    issue_keys: (
        Annotated[
            tuple[IssueKey, ...],
            Meta(min_length=1, max_length=MAX_ISSUE_KEYS, extra_json_schema={"deprecated": True}),
        ]
        | None
    ) = None
    associations: (
        Annotated[
            tuple[DeploymentAssociation, ...],
            Meta(min_length=1, max_length=MAX_ASSOCIATIONS, extra={"max_total_values": MAX_ASSOCIATION_VALUES}),
        ]
        | None
    ) = None
    display_name: Text
    url: Url
    description: Text
    last_updated: DateTime
    label: Text | None = None
    duration: Int64 | None = None
    state: DeploymentState
    pipeline: Pipeline
    environment: Environment
    commands: list[Command] | None = None
    schema_version: Annotated[Literal["1.0"], Meta(extra={"default": DEFAULT_SCHEMA_VERSION})] | UnsetType = UNSET
    triggered_by: TriggeredBy | None = None


class SubmitDeploymentRequest(Body, kw_only=True):
    """The body of submitDeployments. Deployments are validated one by one, so not here."""

    items_field: ClassVar[str] = "deployments"

    properties: Properties | None = None
    deployments: Annotated[list[DeploymentData], Meta(min_length=1, max_length=MAX_DEPLOYMENTS)]
    provider_metadata: ProviderMetadata | None = None


class _IdOnly(Body):
    id: Text


class DeploymentKeyFields(Body):
    """The part of a deployment that must be readable for a rejection of it alone (not a 400)."""

    deployment_sequence_number: Int64
    pipeline: _IdOnly
    environment: _IdOnly


# -- answers ----------------------------------------------------------------------------------------


class DeploymentKey(Body):
    """The key of a deployment: unique per provider (Connect app or OAuth client) on a site."""

    pipeline_id: Text
    environment_id: Text
    deployment_sequence_number: Int64


class RejectedDeployment(Body):
    """A deployment that was not stored, with one message per problem."""

    key: DeploymentKey
    errors: list[ErrorMessage]


class SubmitDeploymentsResponse(Body):
    """The 202 body of submitDeployments: all four arrays are always present, empty or not."""

    accepted_deployments: list[DeploymentKey]
    rejected_deployments: list[RejectedDeployment]
    unknown_issue_keys: list[IssueKey]
    unknown_associations: list[DeploymentAssociation]


class GatingDetail(Body):
    """The change request issue a gating decision waits on or was made with."""

    type: Literal["issue"]
    issue_key: IssueKey
    issue_link: Url


class DeploymentGatingStatus(Body):
    """The 200 body of getDeploymentGatingStatusByKey."""

    deployment_sequence_number: Int64
    pipeline_id: Text
    environment_id: Text
    updated_timestamp: DateTime
    gating_status: GatingStatusValue
    details: list[GatingDetail]


# -- a submitted deployment as the domain takes it ------------------------------------------------------

_DEFAULT_SCHEMA_VERSION_TAIL = b',"schemaVersion":"1.0"}'
_intern = sys.intern


def key_of(item: Any) -> DomainKey:
    """The key of a validated deployment (its full model, or only its key fields)."""
    return DomainKey(item.pipeline.id, item.environment.id, item.deployment_sequence_number)


def fast_input(deployment: DeploymentData, buffer: bytearray, keys: dict[Key, Key]) -> DeploymentInput:
    """The input of a deployment the fast decoder read and whose rules hold: its body is encoded into the
    request's buffer and copied out at its exact size (msgspec's own encode() hands back the buffer it
    grew, larger than the JSON in it, and the store keeps a million of them). Its key is the parser's key
    table's (``Parser``), made and added when missing, with interned ids: a request's entities, its pending
    writes and the store then share one string per id."""
    encode_into(deployment, buffer)
    if deployment.schema_version is UNSET:  # the full validator appends the default last, as Jackson writes it
        buffer[-1:] = _DEFAULT_SCHEMA_VERSION_TAIL
    pipeline, environment, commands = deployment.pipeline, deployment.environment, deployment.commands
    number = deployment.deployment_sequence_number
    key = keys.get((pipeline.id, environment.id, number))
    if key is None:
        key = tuple.__new__(DomainKey, (_intern(pipeline.id), _intern(environment.id), number))
        keys[key] = key
    return DeploymentInput(
        key,
        deployment.update_sequence_number,
        () if deployment.issue_keys is None else deployment.issue_keys,
        deployment.last_updated,
        None,
        bytes(buffer),
        () if deployment.associations is None else None,  # None: read from the body on first use
        environment.type,
        commands is not None and any(c.command == GATING_COMMAND for c in commands),
    )


def full_input(data: dict[str, Any], deployment: Any) -> DeploymentInput:
    """The input of a deployment the full validator read: ``data`` is its model's dump, without what was
    not sent."""
    data.setdefault("schemaVersion", DEFAULT_SCHEMA_VERSION)
    groups = [Association(g["associationType"], tuple(g["values"])) for g in data.get("associations", [])]
    return DeploymentInput.from_data(
        key=key_of(deployment),
        update_sequence_number=deployment.update_sequence_number,
        data=data,
        environment_type=deployment.environment.type,
        issue_keys=tuple(deployment.issue_keys or ()),
        associations=tuple(groups),
        gating_requested=any(c.command == GATING_COMMAND for c in deployment.commands or ()),
    )


def submit_answer(outcome: Any, rejected: list[tuple[DomainKey, list[str]]]) -> SubmitDeploymentsResponse:
    """The 202 body of a submit: ``outcome`` is the domain's SubmitOutcome, ``rejected`` every rejection."""
    return SubmitDeploymentsResponse(
        list(starmap(DeploymentKey, outcome.accepted)),
        [RejectedDeployment(DeploymentKey(*key), [ErrorMessage(m) for m in messages]) for key, messages in rejected],
        outcome.unknown_issue_keys,
        outcome.unknown_associations,
    )


PARSER = Parser(Shapes(SubmitDeploymentRequest, DeploymentKeyFields, key_of, fast_input, full_input))
