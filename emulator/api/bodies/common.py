"""Bodies every API family shares: Jira's error arrays, the gateway's errors, a submission's provider metadata."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from msgspec import Meta, Struct

from emulator.api.bodies.types import IssueIdOrKey


class Root(Struct, frozen=True):
    """A named body that is not an object (Jira's bare error array): its name, type and description."""

    name: str
    annotation: Any
    doc: str


class Body(Struct, rename="camel", omit_defaults=True, forbid_unknown_fields=True, gc=False):
    """A JSON object of the Jira surface: camelCase members, optional ones left out when absent, and
    (as a request) no unknown member: the fast decoder leaves a request with one to the full validator,
    which drops it, as Jira's Jackson binding does."""


class ErrorMessage(Body):
    """One error. `errorTraceId` is sent with unexpected errors (500), and is also in the emulator's log."""

    message: str
    error_trace_id: str | None = None


class TracedErrorMessage(Body):
    """An unexpected error (500): the same `errorTraceId` is in the emulator's log, never a traceback."""

    message: str
    error_trace_id: str


ErrorMessages = Root(
    "ErrorMessages",
    Annotated[list[ErrorMessage], Meta(min_length=1)],
    'Jira\'s error body on the site path family: a bare JSON array, never `{"errors": [...]}`.',
)
UnexpectedErrorMessages = Root(
    "UnexpectedErrorMessages",
    Annotated[list[TracedErrorMessage], Meta(min_length=1)],
    "The 500 body: Jira's error array, each message with its `errorTraceId`.",
)


class GatewayUnauthorized(Body):
    """The gateway's 401: `{"code": 401, "message": "Unauthorized"}` (a missing, unknown or expired token)."""

    code: Literal[401]
    message: str


class GatewayForbidden(Body):
    """The gateway's 403: the OAuth client lacks the permission, or the cloudId is not its site's."""

    code: Literal[403]
    message: str


class GatewayNotFound(Body):
    """The gateway's 404 for a cloudId that names no site."""

    code: Literal[404]
    message: str


class GatewayError(Body):
    """The api.atlassian.com gateway's own error shape, not Jira's array (gateway family only)."""

    code: int
    message: str


class ProviderMetadata(Body):
    product: str | None = None


MAX_ASSOCIATION_VALUES = 500  # in one group, and in all of an entity's groups together
_Values = Meta(min_length=1, max_length=MAX_ASSOCIATION_VALUES)


class AssociationGroup(Body, tag_field="associationType"):
    """An association group: its type (the tag) and its values."""


class IssueIdOrKeysAssociation(AssociationGroup, tag="issueIdOrKeys"):
    values: Annotated[tuple[IssueIdOrKey, ...], _Values]


class IssueKeysAssociation(IssueIdOrKeysAssociation, tag="issueKeys"):
    """The older name of the issueIdOrKeys association type, with the same values."""


IssueAssociation = IssueIdOrKeysAssociation | IssueKeysAssociation  # the association types of issues
