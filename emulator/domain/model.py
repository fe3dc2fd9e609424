"""Value types of the domain core: keys, submitted deployments, stored records.

Nothing here knows about HTTP, JSON parsing or tokens. The API layer turns a request into
these types; the domain stores and answers with them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, NamedTuple


class DeploymentKey(NamedTuple):
    """A deployment's identity within one provider on one site."""

    pipeline_id: str
    environment_id: str
    sequence_number: int


class Provider(NamedTuple):
    """Who submitted data: a Connect app (by app key) or an OAuth client (by client id)."""

    kind: str  # "connect" or "oauth"
    id: str

    def __str__(self) -> str:
        return f"{self.kind}:{self.id}"


class Association(NamedTuple):
    """One association group as submitted: its type and its values (strings or objects)."""

    type: str
    values: tuple[Any, ...]


ISSUE_ASSOCIATION_TYPES = frozenset({"issueKeys", "issueIdOrKeys"})
SERVICE_ASSOCIATION_TYPE = "serviceIdOrKeys"
GATING_COMMAND = "initiate_deployment_gating"


@dataclass(frozen=True, slots=True)
class DeploymentInput:
    """One deployment of a submission that passed validation.

    ``data`` is the DeploymentData JSON object exactly as GET will return it (``schemaVersion``
    filled with its default). ``issue_keys`` are the values of the deprecated ``issueKeys`` field;
    ``associations`` the groups of the ``associations`` field.
    """

    key: DeploymentKey
    update_sequence_number: int
    data: dict[str, Any]
    environment_type: str
    issue_keys: tuple[str, ...] = ()
    associations: tuple[Association, ...] = ()
    gating_requested: bool = False


@dataclass(slots=True)
class GatingState:
    status: str  # allowed, prevented, awaiting, invalid
    details: list[dict[str, str]]
    updated: float  # epoch seconds
    polls: int = 0


@dataclass(slots=True)
class StoredDeployment:
    """What the store holds for one key: the last applied data and its request properties.

    The data is kept as its compact JSON (``body``), made once when the write applies: GET answers
    with those bytes as they are, and a million of them fit in far less memory than dicts would.
    """

    key: DeploymentKey
    update_sequence_number: int
    body: bytes
    properties: dict[str, str]
    environment_type: str
    applied_at: float
    gating: GatingState | None = field(default=None)

    @property
    def data(self) -> dict[str, Any]:
        return json.loads(self.body)  # type: ignore[no-any-return]


def to_body(data: dict[str, Any]) -> bytes:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
