"""JSON views of the emulator's state for the control surface (and the dashboard)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from emulator.api.families import DEPLOYMENTS as DEPLOYMENTS_API
from emulator.domain.clock import iso
from emulator.domain.gating import auto_decide
from emulator.domain.kinds import DEPLOYMENTS
from emulator.domain.model import DeploymentInput, GatingState, Key, Provider, StoredDeployment
from emulator.domain.queue import DeleteByKey, DeleteByProperties, Pending, Upsert
from emulator.domain.service import DevOpsService

STATE_FILTERS = ("site", "provider", "pipeline", "environment", "status")


class FilterError(ValueError):
    pass


def key_json(key: Key) -> dict[str, Any]:
    return DEPLOYMENTS_API.key_json(key)


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
    out: dict[str, Any] = {
        "seq": p.seq,
        "site": op.site,
        "provider": str(op.provider),
        "acceptedAt": iso(p.accepted_at),
        "due": iso(p.due),
    }
    if isinstance(op, Upsert):
        out |= {
            "operation": "upsert",
            "key": key_json(op.entity.key),
            "updateSequenceNumber": op.entity.update_sequence_number,
        }
    elif isinstance(op, DeleteByKey):
        out |= {
            "operation": "deleteByKey",
            "key": key_json(op.key),
            "maxUpdateSequenceNumber": op.max_update_sequence_number,
        }
    elif isinstance(op, DeleteByProperties):
        out |= {
            "operation": "deleteByProperties",
            "properties": op.properties,
            "maxUpdateSequenceNumber": op.max_update_sequence_number,
        }
    return out


def _applied_json(site: str, provider: str, record: StoredDeployment) -> dict[str, Any]:
    return {
        "site": site,
        "provider": provider,
        "status": "applied",
        "key": key_json(record.key),
        "updateSequenceNumber": record.update_sequence_number,
        "environmentType": record.environment_type,
        "properties": record.properties,
        "data": record.data,
        "gating": gating_json(record.gating),
        "appliedAt": iso(record.applied_at),
    }


def state(service: DevOpsService, filters: Mapping[str, str]) -> list[dict[str, Any]]:
    """Stored deployments (applied, each pipeline's newest first) and writes waiting in the queue (pending)."""
    unknown = set(filters) - set(STATE_FILTERS)
    if unknown:
        raise FilterError(f"unknown filter(s): {', '.join(sorted(unknown))}; use {', '.join(STATE_FILTERS)}")
    status = filters.get("status")
    if status not in (None, "pending", "applied"):
        raise FilterError("status must be pending or applied")
    return list(_state(service, filters, status))


def _provider(text: str | None) -> Provider | None:
    if text is None:
        return None
    kind, _, ident = text.partition(":")
    return Provider(kind, ident)


def _state(service: DevOpsService, filters: Mapping[str, str], status: str | None) -> Iterator[dict[str, Any]]:
    now = service.clock.now()
    environment = filters.get("environment")
    if status != "pending":
        found = service.stored(
            DEPLOYMENTS.name,
            site=filters.get("site"),
            provider=_provider(filters.get("provider")),
            pipeline=filters.get("pipeline"),
        )
        for site, provider, record in found:
            if environment is not None and record.key[1] != environment:
                continue
            assert isinstance(record, StoredDeployment)
            rules = service.sites.get(site)
            if record.gating is not None and rules is not None:
                auto_decide(rules, record.gating, now)  # after N seconds: seen here too
            yield _applied_json(site, str(provider), record)
    if status != "applied":
        for p in service.pending():
            op = p.op
            if isinstance(op, Upsert) and _wanted(filters, op.site, str(op.provider), op.entity.key):
                entity = op.entity
                assert isinstance(entity, DeploymentInput)
                yield {
                    "site": op.site,
                    "provider": str(op.provider),
                    "status": "pending",
                    "key": key_json(entity.key),
                    "updateSequenceNumber": entity.update_sequence_number,
                    "environmentType": entity.environment_type,
                    "properties": op.properties,
                    "data": entity.data,
                    "gating": None,
                    "due": iso(p.due),
                }


def _wanted(filters: Mapping[str, str], site: str, provider: str, key: Any) -> bool:
    return (
        filters.get("site", site) == site
        and filters.get("provider", provider) == provider
        and filters.get("pipeline", key[0]) == key[0]
        and filters.get("environment", key[1]) == key[1]
    )
