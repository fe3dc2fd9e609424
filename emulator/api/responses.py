"""The response bodies of the Jira surface, as pydantic models: they exist to generate the OpenAPI document.

``schemas.py`` holds what the server validates (requests); this module describes what it answers, with
the same field types (``Int64``, ``Text``, ``Uri``, ``IssueKey``...) so that limits are stated once.
The handlers build these bodies by hand today (``handlers.py``, ``errors.py``); the names, fields and
shapes here follow them and api.md sections 3, 4 and 5.7. Optional fields are ``X | None = None`` and
are left out of a body rather than sent as null: the OpenAPI generator drops the null branch for them.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel
from pydantic.alias_generators import to_camel

from emulator.api.schemas import DateTime, DeploymentAssociation, Int64, IssueKey, Text, Uri

GatingStatusValue = Literal["allowed", "prevented", "awaiting", "invalid"]


class _Response(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, serialize_by_alias=True, frozen=True)


class DeploymentKey(_Response):
    """The key of a deployment: unique per provider (Connect app or OAuth client) on a site."""

    pipeline_id: Text
    environment_id: Text
    deployment_sequence_number: Int64


class ErrorMessage(_Response):
    """One error. `errorTraceId` is sent with unexpected errors (500), and is also in the emulator's log."""

    message: str
    error_trace_id: str | None = None


class ErrorMessages(RootModel[Annotated[list[ErrorMessage], Field(min_length=1)]]):
    """Jira's error body on the site path family: a bare JSON array, never `{"errors": [...]}`."""


class TracedErrorMessage(_Response):
    """An unexpected error (500): the same `errorTraceId` is in the emulator's log, never a traceback."""

    message: str
    error_trace_id: str


class UnexpectedErrorMessages(RootModel[Annotated[list[TracedErrorMessage], Field(min_length=1)]]):
    """The 500 body: Jira's error array, each message with its `errorTraceId`."""


class RejectedDeployment(_Response):
    """A deployment that was not stored, with one message per problem."""

    key: DeploymentKey
    errors: list[ErrorMessage]


class SubmitDeploymentsResponse(_Response):
    """The 202 body of submitDeployments: all four arrays are always present, empty or not."""

    accepted_deployments: list[DeploymentKey]
    rejected_deployments: list[RejectedDeployment]
    unknown_issue_keys: list[IssueKey]
    unknown_associations: list[DeploymentAssociation]


class GatingDetail(_Response):
    """The change request issue a gating decision waits on or was made with."""

    type: Literal["issue"]
    issue_key: IssueKey
    issue_link: Uri


class DeploymentGatingStatus(_Response):
    """The 200 body of getDeploymentGatingStatusByKey."""

    deployment_sequence_number: Int64
    pipeline_id: Text
    environment_id: Text
    updated_timestamp: DateTime
    gating_status: GatingStatusValue
    details: list[GatingDetail]


class _GatewayError(_Response):
    """The api.atlassian.com gateway's own error shape, not Jira's array (gateway family only)."""

    code: int
    message: str


class GatewayUnauthorized(_GatewayError):
    """The gateway's 401: `{"code": 401, "message": "Unauthorized"}` (a missing, unknown or expired token)."""

    code: Literal[401]


class GatewayForbidden(_GatewayError):
    """The gateway's 403: the OAuth client lacks the permission, or the cloudId is not its site's."""

    code: Literal[403]


class GatewayNotFound(_GatewayError):
    """The gateway's 404 for a cloudId that names no site."""

    code: Literal[404]


RESPONSE_MODELS: tuple[type[BaseModel], ...] = (
    SubmitDeploymentsResponse,
    ErrorMessages,
    UnexpectedErrorMessages,
    DeploymentGatingStatus,
    GatewayUnauthorized,
    GatewayForbidden,
    GatewayNotFound,
)
