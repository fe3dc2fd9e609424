"""The kinds of entity the emulator stores: what the domain core needs to know of each API family.

A kind names its entities' partition of the store and its operations in the queue, words the rejection of
an entity none of whose associations the site knows, and applies an accepted write to a partition (a
deployment that asks for gating gets its gating state then). Everything else about a family (paths,
scopes, request shapes) belongs to the HTTP layer's declarations.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from msgspec import Struct

from emulator.domain.gating import initial_gating
from emulator.domain.model import DeploymentInput, EntityInput, GatingState, StoredDeployment, StoredEntity
from emulator.domain.sites import Site
from emulator.domain.store import Partition


class Kind(Struct, frozen=True):
    """One kind of entity; the base applies an upsert as a plain record of its data."""

    name: str  # "deployments": the store partition's and the queue's tag
    entity: str  # "deployment": one of them, in reasons and messages
    number: str  # "deploymentSequenceNumber": the field that numbers a group's entities, the key's last part
    no_valid_associations: str  # the rejection of an entity none of whose associations the site knows

    def apply(
        self, part: Partition, incoming: EntityInput, properties: dict[str, str], now: float, site: Site | None
    ) -> bool:
        """Store ``incoming`` unless the stored record's updateSequenceNumber is as high; whether it stored."""
        old = part.records.get(incoming.key)
        if old is not None and old.update_sequence_number >= incoming.update_sequence_number:
            return False
        body = incoming._body  # the fast parser's inputs have it; others make it on first use
        if body is None:
            body = incoming.body
        if old is not None and old.properties == properties:
            # mostly a write of the same request properties (in progress, then done): the record takes the
            # new values in place, and its key and index entries stay as they are
            old.update_sequence_number, old.body, old.applied_at = incoming.update_sequence_number, body, now
            self.rewritten(old, incoming, now, site)
        else:
            part.put(self.record(old, incoming, body, properties, now, site))
        return True

    def record(self, old: StoredEntity | None, incoming: EntityInput, *data: Any) -> StoredEntity:
        """The record of a new or replaced entity; ``data`` is (body, properties, applied_at, site)."""
        body, properties, now, _ = data
        return StoredEntity(incoming.key, incoming.update_sequence_number, body, properties, now)

    def rewritten(self, old: StoredEntity, incoming: EntityInput, now: float, site: Site | None) -> None:
        """A record rewritten in place takes what this kind keeps beside the data."""


class DeploymentKind(Kind, frozen=True):
    """Deployments keep their environment type, and their gating state from the first write that asks."""

    def record(self, old: StoredEntity | None, incoming: EntityInput, *data: Any) -> StoredEntity:
        assert isinstance(incoming, DeploymentInput), "a deployment write carries a DeploymentInput"
        body, properties, now, site = data
        gating = _gating(old, incoming, now, site)
        usn, environment = incoming.update_sequence_number, sys.intern(incoming.environment_type)
        return StoredDeployment(incoming.key, usn, body, properties, now, environment, gating)

    def rewritten(self, old: StoredEntity, incoming: EntityInput, now: float, site: Site | None) -> None:
        if TYPE_CHECKING:  # for the type checker only: this kind stores deployments, and this runs for every write
            assert isinstance(old, StoredDeployment) and isinstance(incoming, DeploymentInput)
        if old.environment_type != incoming.environment_type:
            old.environment_type = sys.intern(incoming.environment_type)
        if old.gating is None and incoming.gating_requested:
            old.gating = _gating(old, incoming, now, site)


def _gating(old: StoredEntity | None, incoming: DeploymentInput, now: float, site: Site | None) -> GatingState | None:
    """A deployment keeps the gating it has; one that asks for gating for the first time gets its start."""
    gating = old.gating if isinstance(old, StoredDeployment) else None
    if gating is None and incoming.gating_requested and site is not None:
        gating = initial_gating(site, incoming, now)
    return gating


BUILDS = Kind("builds", "build", "buildNumber", "No valid issues found for build")
DEPLOYMENTS = DeploymentKind(
    "deployments", "deployment", "deploymentSequenceNumber", "No valid associations found for deployment"
)
