"""JSON views of the emulator's state for the control surface (and the dashboard)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from emulator.domain.gating import auto_decide
from emulator.domain.model import DeploymentKey, GatingState, StoredDeployment
from emulator.domain.queue import DeleteByKey, DeleteByProperties, Pending, Upsert
from emulator.domain.service import DeploymentService
from emulator.journal import iso

STATE_FILTERS = ("site", "provider", "pipeline", "environment", "status")


class FilterError(ValueError):
    pass


def key_json(key: DeploymentKey) -> dict[str, Any]:
    return {
        "pipelineId": key.pipeline_id,
        "environmentId": key.environment_id,
        "deploymentSequenceNumber": key.sequence_number,
    }


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
            "key": key_json(op.deployment.key),
            "updateSequenceNumber": op.deployment.update_sequence_number,
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


def _wanted(filters: Mapping[str, str], site: str, provider: str, key: DeploymentKey) -> bool:
    return (
        filters.get("site", site) == site
        and filters.get("provider", provider) == provider
        and filters.get("pipeline", key.pipeline_id) == key.pipeline_id
        and filters.get("environment", key.environment_id) == key.environment_id
    )


def state(service: DeploymentService, filters: Mapping[str, str]) -> list[dict[str, Any]]:
    """Stored deployments (applied) and writes waiting in the queue (pending), filtered."""
    unknown = set(filters) - set(STATE_FILTERS)
    if unknown:
        raise FilterError(f"unknown filter(s): {', '.join(sorted(unknown))}; use {', '.join(STATE_FILTERS)}")
    status = filters.get("status")
    if status not in (None, "pending", "applied"):
        raise FilterError("status must be pending or applied")
    return list(_state(service, filters, status))


def _state(service: DeploymentService, filters: Mapping[str, str], status: str | None) -> Iterator[dict[str, Any]]:
    now = service.clock.now()
    if status != "pending":
        for (site, provider), part in service.store.partitions():
            if filters.get("site", site) != site or filters.get("provider", str(provider)) != str(provider):
                continue
            rules = service.sites.get(site)
            for key, record in part.records.items():
                if _wanted(filters, site, str(provider), key):
                    if record.gating is not None and rules is not None:
                        auto_decide(rules, record.gating, now)  # after N seconds: seen here too
                    yield _applied_json(site, str(provider), record)
    if status != "applied":
        for p in service.queue:
            op = p.op
            if isinstance(op, Upsert) and _wanted(filters, op.site, str(op.provider), op.deployment.key):
                yield {
                    "site": op.site,
                    "provider": str(op.provider),
                    "status": "pending",
                    "key": key_json(op.deployment.key),
                    "updateSequenceNumber": op.deployment.update_sequence_number,
                    "environmentType": op.deployment.environment_type,
                    "properties": op.properties,
                    "data": op.deployment.data,
                    "gating": None,
                    "due": iso(p.due),
                }
