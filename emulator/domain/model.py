"""Value types of the domain core: providers, keys, submitted entities, stored records.

Nothing here knows about HTTP, JSON parsing or tokens. The API layer turns a request into these
types; the domain stores and answers with them. An *entity* is one deployment or one build: each
API family stores its own kind, under its own key.
"""

from __future__ import annotations

import json
from typing import Any, NamedTuple, Self

from msgspec import Struct, structs


class DeploymentKey(NamedTuple):
    """A deployment's identity within one provider on one site."""

    pipeline_id: str
    environment_id: str
    sequence_number: int


class BuildKey(NamedTuple):
    """A build's identity within one provider on one site."""

    pipeline_id: str
    build_number: int


Key = tuple[Any, ...]  # an entity's key: a DeploymentKey or a BuildKey


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


class EntityInput(Struct, gc=False, eq=False):
    """One entity of a submission that passed validation.

    ``data`` is the entity's JSON object exactly as GET will return it (``schemaVersion`` filled with
    its default), and ``body`` its compact JSON: the parser gives one of the two and the other is made
    on first use (the fast parser encodes ``body`` straight from the request, so the dict is only built
    when something reads it). ``issue_keys`` are the values of the deprecated ``issueKeys`` field;
    ``associations`` the groups of the ``associations`` field, which the fast parser leaves as None, to
    be read from ``data`` on first use. Treated as immutable: nothing but those caches changes after
    construction.

    Untracked by the cyclic garbage collector (``gc=False``; it never takes part in a cycle): a busy
    emulator holds tens of thousands of pending writes, and one from the fast parser holds no tracked
    object but its key, so collections do not walk them.
    """

    key: Key
    update_sequence_number: int
    issue_keys: tuple[str, ...]
    last_updated: str | None
    _data: dict[str, Any] | None
    _body: bytes | None
    _associations: tuple[Association, ...] | None

    @property
    def data(self) -> dict[str, Any]:
        data = self._data
        if data is None:
            assert self._body is not None, "an entity has its data or its body"
            data = self._data = json.loads(self._body)
        return data

    @property
    def associations(self) -> tuple[Association, ...]:
        groups = self._associations
        if groups is None:
            made = [Association(g["associationType"], tuple(g["values"])) for g in self.data.get("associations", ())]
            groups = self._associations = tuple(made)
        return groups

    @property
    def names_no_issue(self) -> bool:
        """Whether it has no issue key and no association, read without parsing its data: the parsers give
        ``_associations`` as the groups, as ``()`` when there are none, or None for groups left in the data."""
        return not self.issue_keys and self._associations is not None and not self._associations

    @property
    def body(self) -> bytes:
        body = self._body
        if body is None:
            assert self._data is not None, "an entity has its data or its body"
            body = self._body = to_body(self._data)
        return body

    def with_known(
        self, data: dict[str, Any], issue_keys: tuple[str, ...], associations: tuple[Association, ...]
    ) -> Self:
        """The same entity with only the associations the site knows (``data`` to match)."""
        return structs.replace(self, _data=data, _body=None, issue_keys=issue_keys, _associations=associations)

    def _fields(self) -> tuple[Any, ...]:
        return (type(self), self.key, self.update_sequence_number, self.data, self.issue_keys, self.associations)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, EntityInput):
            return NotImplemented
        return self._fields() == other._fields()

    __hash__ = None  # type: ignore[assignment]


class DeploymentInput(EntityInput, gc=False, eq=False):
    """A deployment of a submission: an entity with its environment type and whether it asks for gating."""

    environment_type: str
    gating_requested: bool

    @classmethod
    def from_data(
        cls,
        key: DeploymentKey,
        update_sequence_number: int,
        data: dict[str, Any],
        environment_type: str = "unmapped",
        issue_keys: tuple[str, ...] = (),
        associations: tuple[Association, ...] = (),
        gating_requested: bool = False,
    ) -> DeploymentInput:
        """A deployment given as its JSON object (the full validator, fixtures, durable state)."""
        last_updated = data.get("lastUpdated")
        return cls(
            key, update_sequence_number, issue_keys, last_updated, data, None, associations, environment_type,
            gating_requested,
        )  # fmt: skip

    def _fields(self) -> tuple[Any, ...]:
        return (*super()._fields(), self.environment_type, self.gating_requested)

    def __repr__(self) -> str:
        return (
            f"DeploymentInput(key={self.key!r}, update_sequence_number={self.update_sequence_number!r}, "
            f"data={self.data!r}, environment_type={self.environment_type!r}, issue_keys={self.issue_keys!r}, "
            f"associations={self.associations!r}, gating_requested={self.gating_requested!r})"
        )


class BuildInput(EntityInput, gc=False, eq=False):
    """A build of a submission: an entity and nothing more (its tests and references are in its data)."""

    @classmethod
    def from_data(
        cls,
        key: BuildKey,
        update_sequence_number: int,
        data: dict[str, Any],
        issue_keys: tuple[str, ...] = (),
        associations: tuple[Association, ...] = (),
    ) -> BuildInput:
        """A build given as its JSON object (the full validator, fixtures, durable state)."""
        return cls(key, update_sequence_number, issue_keys, data.get("lastUpdated"), data, None, associations)

    def __repr__(self) -> str:
        return (
            f"BuildInput(key={self.key!r}, update_sequence_number={self.update_sequence_number!r}, "
            f"data={self.data!r}, issue_keys={self.issue_keys!r}, associations={self.associations!r})"
        )


class GatingState(Struct):
    status: str  # allowed, prevented, awaiting, invalid
    details: list[dict[str, str]]
    updated: float  # epoch seconds
    polls: int = 0


class StoredEntity(Struct, gc=False):
    """What the store holds for one key: the last applied data and its request properties.

    The data is kept as its compact JSON (``body``), made once when the write applies: GET answers
    with those bytes as they are, and a million of them fit in far less memory than dicts would.
    Untracked by the cyclic garbage collector (``gc=False``; it never takes part in a cycle), so a
    large store is nothing a collection walks.
    """

    key: Key
    update_sequence_number: int
    body: bytes
    properties: dict[str, str]
    applied_at: float

    @property
    def data(self) -> dict[str, Any]:
        return json.loads(self.body)  # type: ignore[no-any-return]


class StoredDeployment(StoredEntity, gc=False):
    """A stored deployment: an entity with its environment type and its gating, if it asked for one."""

    environment_type: str = "unmapped"
    gating: GatingState | None = None


def to_body(data: dict[str, Any]) -> bytes:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
