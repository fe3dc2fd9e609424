"""JSON views of the emulator's state for the control surface (and the dashboard)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from emulator.api.families import FAMILIES, Family
from emulator.domain.clock import iso
from emulator.domain.gating import auto_decide
from emulator.domain.model import (
    DeploymentInput,
    EntityInput,
    GatingState,
    Key,
    Provider,
    StoredDeployment,
    StoredEntity,
)
from emulator.domain.queue import DeleteByKey, DeleteByProperties, Pending, Upsert
from emulator.domain.service import DevOpsService

STATE_FILTERS = ("family", "site", "provider", "pipeline", "environment", "status")
_BY_KIND = {family.kind.name: family for family in FAMILIES}


class FilterError(ValueError):
    pass


def family_of(name: str) -> Family:
    """The API family named ``name`` (``deployments``, ``builds``); FilterError naming them otherwise."""
    found = _BY_KIND.get(name)
    if found is None:
        raise FilterError(f"family must be one of {', '.join(_BY_KIND)}, got {name!r}")
    return found


def gating_json(gating: GatingState | None) -> dict[str, Any] | None:
    if gating is None:
        return None
    return {
        "gatingStatus": gating.status,
        "details": gating.details,
        "updatedTimestamp": iso(gating.updated),
        "polls": gating.polls,
    }


def pending_json(p: Pending) -> dict[str, Any]:
    op = p.op
    family = _BY_KIND[op.kind]
    out: dict[str, Any] = {
        "seq": p.seq,
        "family": family.name,
        "site": op.site,
        "provider": str(op.provider),
        "acceptedAt": iso(p.accepted_at),
        "due": iso(p.due),
    }
    if isinstance(op, Upsert):
        out |= {
            "operation": "upsert",
            "key": family.key_json(op.entity.key),
            "updateSequenceNumber": op.entity.update_sequence_number,
        }
    elif isinstance(op, DeleteByKey):
        out |= {
            "operation": "deleteByKey",
            "key": family.key_json(op.key),
            "maxUpdateSequenceNumber": op.max_update_sequence_number,
        }
    elif isinstance(op, DeleteByProperties):
        out |= {
            "operation": "deleteByProperties",
            "properties": op.properties,
            "maxUpdateSequenceNumber": op.max_update_sequence_number,
        }
    return out


def state(service: DevOpsService, filters: Mapping[str, str]) -> dict[str, list[dict[str, Any]]]:
    """Stored entities (applied, each pipeline's newest first) and writes waiting in the queue (pending), by
    family: ``{"deployments": [...], "builds": [...]}``, or only the ``family`` the filters name."""
    unknown = set(filters) - set(STATE_FILTERS)
    if unknown:
        raise FilterError(f"unknown filter(s): {', '.join(sorted(unknown))}; use {', '.join(STATE_FILTERS)}")
    if filters.get("status") not in (None, "pending", "applied"):
        raise FilterError("status must be pending or applied")
    families = [family_of(filters["family"])] if "family" in filters else list(FAMILIES)
    return {family.name: list(_state(service, family, filters)) for family in families}


def _state(service: DevOpsService, family: Family, filters: Mapping[str, str]) -> Iterator[dict[str, Any]]:
    status = filters.get("status")
    if status != "pending":
        yield from _applied(service, family, filters)
    if status != "applied":
        for p in service.pending():
            op = p.op
            if (
                isinstance(op, Upsert)
                and op.kind == family.kind.name
                and _wanted(filters, op.site, op.provider, op.entity)
            ):
                yield _entity_json(family, op.site, str(op.provider), op.entity, op.properties) | {"due": iso(p.due)}


def _applied(service: DevOpsService, family: Family, filters: Mapping[str, str]) -> Iterator[dict[str, Any]]:
    now, environment = service.clock.now(), filters.get("environment")
    provider = _provider(filters.get("provider"))
    found = service.stored(
        family.kind.name, site=filters.get("site"), provider=provider, pipeline=filters.get("pipeline")
    )
    for site, owner, record in found:
        if environment is not None and (len(record.key) < 3 or record.key[1] != environment):
            continue
        rules = service.sites.get(site)
        if isinstance(record, StoredDeployment) and record.gating is not None and rules is not None:
            auto_decide(rules, record.gating, now)  # after N seconds: seen here too
        yield _entity_json(family, site, str(owner), record, record.properties)


def _entity_json(
    family: Family, site: str, provider: str, entity: EntityInput | StoredEntity, properties: dict[str, str]
) -> dict[str, Any]:
    """One entity as the state shows it; ``status`` says whether it is stored or waiting in the queue."""
    stored = isinstance(entity, StoredEntity)
    out: dict[str, Any] = {
        "family": family.name,
        "site": site,
        "provider": provider,
        "status": "applied" if stored else "pending",
        "key": family.key_json(entity.key),
        "updateSequenceNumber": entity.update_sequence_number,
    }
    if isinstance(entity, StoredDeployment | DeploymentInput):
        out["environmentType"] = entity.environment_type
    out |= {"properties": properties, "data": entity.data}
    if isinstance(entity, StoredDeployment):
        out["gating"] = gating_json(entity.gating)
    elif isinstance(entity, DeploymentInput):
        out["gating"] = None
    if stored:
        out["appliedAt"] = iso(entity.applied_at)  # type: ignore[union-attr]
    return out


def _provider(text: str | None) -> Provider | None:
    if text is None:
        return None
    kind, _, ident = text.partition(":")
    return Provider(kind, ident)


def _wanted(filters: Mapping[str, str], site: str, provider: Provider, entity: EntityInput) -> bool:
    key: Key = entity.key
    environment = filters.get("environment")
    return (
        filters.get("site", site) == site
        and filters.get("provider", str(provider)) == str(provider)
        and filters.get("pipeline", key[0]) == key[0]
        and (environment is None or len(key) == 3 and key[1] == environment)
    )
