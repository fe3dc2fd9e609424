"""Value types of the domain core: keys, submitted deployments, stored records.

Nothing here knows about HTTP, JSON parsing or tokens. The API layer turns a request into
these types; the domain stores and answers with them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
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


class DeploymentInput:
    """One deployment of a submission that passed validation.

    ``data`` is the DeploymentData JSON object exactly as GET will return it (``schemaVersion``
    filled with its default), and ``body`` its compact JSON: the parser gives one of the two and the
    other is made on first use (the fast parser encodes ``body`` straight from the request, so the
    dict is only built when something reads it). ``issue_keys`` are the values of the deprecated
    ``issueKeys`` field; ``associations`` the groups of the ``associations`` field. Treated as immutable: nothing
    assigns to it after construction (a plain slots class, as construction is on the submit hot path).
    """

    __slots__ = (
        "key",
        "update_sequence_number",
        "environment_type",
        "issue_keys",
        "_associations",
        "gating_requested",
        "last_updated",
        "_data",
        "_body",
    )

    key: DeploymentKey
    update_sequence_number: int
    environment_type: str
    issue_keys: tuple[str, ...]
    _associations: tuple[Association, ...] | Callable[[], tuple[Association, ...]]
    gating_requested: bool
    last_updated: str | None
    _data: dict[str, Any] | None
    _body: bytes | None

    def __init__(
        self,
        key: DeploymentKey,
        update_sequence_number: int,
        data: dict[str, Any] | None = None,
        environment_type: str = "unmapped",
        issue_keys: tuple[str, ...] = (),
        associations: tuple[Association, ...] | Callable[[], tuple[Association, ...]] = (),
        gating_requested: bool = False,
        *,
        body: bytes | None = None,
        last_updated: str | None = None,
    ) -> None:
        if (data is None) == (body is None):
            raise TypeError("DeploymentInput needs exactly one of data and body")
        self.key = key
        self.update_sequence_number = update_sequence_number
        self.environment_type = environment_type
        self.issue_keys = issue_keys
        self._associations = associations  # or a function that makes them, called on first use
        self.gating_requested = gating_requested
        self.last_updated = last_updated if data is None else data.get("lastUpdated")
        self._data = data
        self._body = body

    @property
    def data(self) -> dict[str, Any]:
        if self._data is None:
            self._data = json.loads(self._body)  # type: ignore[arg-type]
        return self._data  # type: ignore[return-value]

    @property
    def associations(self) -> tuple[Association, ...]:
        groups = self._associations
        if not isinstance(groups, tuple):
            groups = self._associations = groups()
        return groups

    @property
    def body(self) -> bytes:
        if self._body is None:
            self._body = to_body(self._data)  # type: ignore[arg-type]
        return self._body  # type: ignore[return-value]

    def with_known(
        self, data: dict[str, Any], issue_keys: tuple[str, ...], associations: tuple[Association, ...]
    ) -> DeploymentInput:
        """The same deployment with only the associations the site knows (``data`` to match)."""
        return DeploymentInput(
            self.key,
            self.update_sequence_number,
            data,
            self.environment_type,
            issue_keys,
            associations,
            self.gating_requested,
        )

    def _fields(self) -> tuple[Any, ...]:
        return (
            self.key,
            self.update_sequence_number,
            self.data,
            self.environment_type,
            self.issue_keys,
            self.associations,
            self.gating_requested,
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, DeploymentInput):
            return NotImplemented
        return self._fields() == other._fields()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (
            f"DeploymentInput(key={self.key!r}, update_sequence_number={self.update_sequence_number!r}, "
            f"data={self.data!r}, environment_type={self.environment_type!r}, issue_keys={self.issue_keys!r}, "
            f"associations={self.associations!r}, gating_requested={self.gating_requested!r})"
        )


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
