"""The operations of the Jira surface: one handler per kind of operation, shared by every API family.

Each handler reads the same way: parse and validate the request (a 400 or 404 raises ``Refusal``), note
the contract findings that must be known before the service acts (strict mode refuses there), make the
one service call, note what the call showed, render the answer. A family's own texts, key, parser and
answer shapes come from its declaration (``ctx.family``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, cast
from urllib.parse import parse_qsl

from starlette.responses import Response

from emulator.api import errors
from emulator.api.bodies.deployments import DeploymentGatingStatus
from emulator.api.calls import Answer, Refusal
from emulator.api.context import Context
from emulator.api.http import JSONBytes, header, parse_int64
from emulator.api.submissions import RejectedInput, RequestInvalid, encode_json, may_hold_astral, text_limits
from emulator.domain.clock import iso
from emulator.domain.model import EntityInput, Key
from emulator.journal import BODY_KEPT, AcceptedInResponse

Handler = Callable[[Context], Awaitable[Answer]]


async def submit(ctx: Context) -> Answer:
    ctx.note(ctx.contract.media_type(header(ctx.request, b"content-type")))
    family, body = ctx.family, await ctx.body()
    try:
        submission = family.parser.parse(body)
    except RequestInvalid as invalid:
        raise Refusal.invalid(invalid.messages) from None
    items = submission.items
    some_rejected = RejectedInput in map(type, items)  # seldom: a request is mostly valid as a whole
    valid = cast(list[EntityInput], [i for i in items if type(i) is not RejectedInput] if some_rejected else items)
    latest = ctx.service.latest_accepted(family.kind, ctx.site, ctx.provider)
    findings = ctx.contract.submission(family.kind, ctx.site.name, ctx.provider, valid, latest, ctx.now)
    if may_hold_astral(body):  # rare: then every limited string is measured in UTF-16 code units too
        shapes = family.parser.shapes
        limits = text_limits(shapes.request)
        findings += ctx.contract.text_lengths(valid, submission.properties, limits, shapes.items_field)
    ctx.note(findings)
    outcome = ctx.service.submit(family.kind, ctx.site, ctx.provider, valid, submission.properties)
    ctx.contract.accepted(family.kind, ctx.site.name, ctx.provider, outcome.accepted)
    ctx.note(ctx.contract.unknown(outcome.unknown_issue_keys, outcome.unknown_associations))
    rejected = [(i.key, i.messages) for i in items if type(i) is RejectedInput] if some_rejected else []
    rejected += outcome.rejected
    answer = encode_json(family.submit_answer(outcome, rejected))
    # the journal keeps all of a short answer: then it reads the touched keys from it
    touched = AcceptedInResponse(family.accepted_field) if len(answer) <= BODY_KEPT else outcome.accepted
    reason = "; ".join(f"{tuple(k)}: {' / '.join(msgs)}" for k, msgs in rejected) if rejected else None
    summary = f"accepted={len(outcome.accepted)} rejected={len(rejected)}"
    return Answer(JSONBytes(answer, 202), touched, summary, reason)


async def get_by_key(ctx: Context) -> Answer:
    family, key = ctx.family, _key(ctx)
    record = None if key is None else ctx.service.get(family.kind, ctx.site, ctx.provider, key)
    if key is not None:
        ctx.note(ctx.contract.read(key, ctx.service.has_pending_write(family.kind, ctx.site, ctx.provider, key)))
    if record is None:
        reason = f"no applied {family.kind.entity} with this key for this provider"
        raise Refusal.site(404, family.texts.not_found, reason)
    return Answer(JSONBytes(record.body), (record.key,))


async def delete_by_key(ctx: Context) -> Answer:
    family, key = ctx.family, _key(ctx)
    if key is None:
        raise Refusal.site(404, family.texts.not_found, f"{family.key_parameters[-1]} is not an int64")
    bound = _usn_bound(ctx)
    ctx.note(ctx.contract.deprecated_bound(bound is not None))
    ctx.service.delete(family.kind, ctx.site, ctx.provider, key, bound)
    return Answer(Response(status_code=202), (key,))


async def delete_by_properties(ctx: Context) -> Answer:
    bound = _usn_bound(ctx)
    properties: dict[str, str] = {}
    for name, value in parse_qsl(ctx.call.raw_query, keep_blank_values=True):
        if name in ("_updateSequenceNumber", "jwt"):
            continue
        if name in properties:
            raise Refusal.invalid(errors.PROPERTY_TWICE.format(name=name))
        properties[name] = value
    if not properties:
        raise Refusal.invalid(ctx.family.texts.no_properties)
    ctx.note(ctx.contract.deprecated_bound(bound is not None))
    ctx.service.delete_by_properties(ctx.family.kind, ctx.site, ctx.provider, properties, bound)
    summary = "properties=" + ",".join(f"{k}={v}" for k, v in properties.items())
    return Answer(Response(status_code=202), summary=summary)


async def gating_status(ctx: Context) -> Answer:
    key = _key(ctx)
    gating = None if key is None else ctx.service.gating_status(ctx.site, ctx.provider, key)
    if key is not None:
        ctx.note(ctx.contract.poll(ctx.site.name, ctx.provider, key, ctx.now))
    if key is None or gating is None:
        raise Refusal.site(404, ctx.family.texts.not_found, "no applied deployment with this key asked for gating")
    pipeline, environment, number = key
    status, details = cast(Any, gating.status), cast(Any, gating.details)  # as the domain checked them
    body = DeploymentGatingStatus(number, pipeline, environment, iso(gating.updated), status, details)
    return Answer(JSONBytes(encode_json(body)), (key,))


def _key(ctx: Context) -> Key | None:
    """The entity key the path names, or None when its number is not an int64."""
    params, family = ctx.params, ctx.family
    *ids, number = [params[name] for name in family.key_parameters]
    sequence = parse_int64(number)
    return None if sequence is None else family.key(*ids, sequence)


def _usn_bound(ctx: Context) -> int | None:
    """The deprecated ``_updateSequenceNumber`` bound of a delete, if given; a 400 when it is not one int64."""
    values = ctx.request.query_params.getlist("_updateSequenceNumber")
    if not values:
        return None
    bound = parse_int64(values[-1]) if len(values) == 1 else None
    if bound is None:
        raise Refusal.invalid(errors.BAD_USN)
    return bound
