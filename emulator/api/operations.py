"""The operations of the Jira surface, one handler per kind of operation, shared by every API family.

The pipeline runs a handler's steps in this order: ``parse`` (validate the request: a 400 or 404 raises
``Refusal``), ``check`` (contract findings before the service acts; strict mode may refuse here), ``call``
(the one service call), ``checked`` (findings about what the call found), ``render`` (the answer). A
family's own texts, key and body parser come from its declaration (``ctx.family``).
"""

from __future__ import annotations

from typing import Any, NamedTuple, Protocol
from urllib.parse import parse_qsl

from msgspec import Struct
from starlette.responses import Response

from emulator.api import errors
from emulator.api.calls import Answer, Refusal
from emulator.api.context import Context
from emulator.api.http import JSONBytes, parse_int64
from emulator.api.submission import RejectedInput, RequestInvalid, encode_json, may_hold_astral, text_limits
from emulator.contract import Finding
from emulator.domain.model import EntityInput, Key, StoredEntity
from emulator.domain.service import SubmitOutcome
from emulator.journal import BODY_KEPT, AcceptedInResponse, iso


class Handler(Protocol):
    async def parse(self, ctx: Context) -> Any: ...

    def check(self, ctx: Context, request: Any) -> list[Finding]: ...

    def call(self, ctx: Context, request: Any) -> Any: ...

    def checked(self, ctx: Context, request: Any, outcome: Any) -> list[Finding]: ...

    def render(self, ctx: Context, request: Any, outcome: Any) -> Answer: ...


class _Steps:
    """No findings before or after, unless a handler has some."""

    def check(self, ctx: Context, request: Any) -> list[Finding]:
        return []

    def checked(self, ctx: Context, request: Any, outcome: Any) -> list[Finding]:
        return []


def _key(ctx: Context) -> Key | None:
    """The entity key the path names, or None when its number is not an int64."""
    values = [ctx.params[name] for name in ctx.family.key_parameters]
    number = parse_int64(values[-1])
    return None if number is None else ctx.family.key(*values[:-1], number)


def _usn_bound(ctx: Context) -> int | None:
    """The deprecated ``_updateSequenceNumber`` bound of a delete, if given; a 400 when it is not one int64."""
    values = ctx.request.query_params.getlist("_updateSequenceNumber")
    if not values:
        return None
    bound = parse_int64(values[-1]) if len(values) == 1 else None
    if bound is None:
        raise Refusal.invalid(errors.BAD_USN)
    return bound


class _KeyJson(Struct, gc=False):
    """A deployment's key as an accepted submit lists it: msgspec encodes it faster than a dict."""

    pipelineId: str
    environmentId: str
    deploymentSequenceNumber: int


class Submitted(NamedTuple):
    """A parsed submission, with its valid entities picked out once."""

    submission: Any  # the family's Submission: properties, items (valid inputs and rejections)
    valid: list[EntityInput]


class Submit(_Steps):
    async def parse(self, ctx: Context) -> Submitted:
        try:
            submission = ctx.family.parse_submission(await ctx.body())
        except RequestInvalid as invalid:
            raise Refusal.invalid(invalid.messages) from None
        return Submitted(submission, [item for item in submission.items if type(item) is not RejectedInput])

    def check(self, ctx: Context, request: Submitted) -> list[Finding]:
        latest = ctx.service.latest_accepted(ctx.family.kind, ctx.site, ctx.provider)
        kind, valid = ctx.family.kind, request.valid
        findings = ctx.contract.submission(kind, ctx.site.name, ctx.provider, valid, latest, ctx.now)
        if may_hold_astral(ctx.call.request_body or b""):  # rare: then limited strings are measured in UTF-16 too
            findings += ctx.contract.text_lengths(valid, request.submission.properties, text_limits())
        return findings

    def call(self, ctx: Context, request: Submitted) -> SubmitOutcome:
        properties = request.submission.properties
        return ctx.service.submit(ctx.family.kind, ctx.site, ctx.provider, request.valid, properties)

    def checked(self, ctx: Context, request: Submitted, outcome: SubmitOutcome) -> list[Finding]:
        ctx.contract.accepted(ctx.family.kind, ctx.site.name, ctx.provider, outcome.accepted)
        return ctx.contract.unknown(outcome.unknown_issue_keys, outcome.unknown_associations)

    def render(self, ctx: Context, request: Submitted, outcome: SubmitOutcome) -> Answer:
        items = request.submission.items
        invalid = (
            [(i.key, i.messages) for i in items if type(i) is RejectedInput] if len(request.valid) < len(items) else []
        )
        rejected = invalid + outcome.rejected
        body = encode_json(
            {
                ctx.family.accepted_field: [_KeyJson(*k) for k in outcome.accepted],
                "rejectedDeployments": [
                    {"key": ctx.family.key_json(k), "errors": [{"message": m} for m in msgs]} for k, msgs in rejected
                ],
                "unknownIssueKeys": outcome.unknown_issue_keys,
                "unknownAssociations": outcome.unknown_associations,
            }
        )
        # the journal keeps all of a short answer: then it reads the touched keys from it
        touched = AcceptedInResponse(ctx.family.accepted_field) if len(body) <= BODY_KEPT else outcome.accepted
        reason = "; ".join(f"{tuple(k)}: {' / '.join(msgs)}" for k, msgs in rejected) if rejected else None
        summary = f"accepted={len(outcome.accepted)} rejected={len(rejected)}"
        return Answer(JSONBytes(body, 202), touched, summary, reason)


class GetByKey(_Steps):
    async def parse(self, ctx: Context) -> Key | None:
        return _key(ctx)

    def call(self, ctx: Context, key: Key | None) -> StoredEntity | None:
        return None if key is None else ctx.service.get(ctx.family.kind, ctx.site, ctx.provider, key)

    def checked(self, ctx: Context, key: Key | None, record: StoredEntity | None) -> list[Finding]:
        if key is None:
            return []
        return ctx.contract.read(key, ctx.service.has_pending_write(ctx.family.kind, ctx.site, ctx.provider, key))

    def render(self, ctx: Context, key: Key | None, record: StoredEntity | None) -> Answer:
        if record is None:
            reason = f"no applied {ctx.family.kind.entity} with this key for this provider"
            raise Refusal.site(404, ctx.family.texts.not_found, reason)
        return Answer(JSONBytes(record.body), (record.key,))


class DeleteByKey(_Steps):
    async def parse(self, ctx: Context) -> tuple[Key, int | None]:
        key = _key(ctx)
        if key is None:
            number = ctx.family.key_parameters[-1]
            raise Refusal.site(404, ctx.family.texts.not_found, f"{number} is not an int64")
        return key, _usn_bound(ctx)

    def check(self, ctx: Context, request: tuple[Key, int | None]) -> list[Finding]:
        return ctx.contract.deprecated_bound(request[1] is not None)

    def call(self, ctx: Context, request: tuple[Key, int | None]) -> None:
        ctx.service.delete(ctx.family.kind, ctx.site, ctx.provider, *request)

    def render(self, ctx: Context, request: tuple[Key, int | None], outcome: None) -> Answer:
        return Answer(Response(status_code=202), (request[0],))


class DeleteByProperties(_Steps):
    async def parse(self, ctx: Context) -> tuple[dict[str, str], int | None]:
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
        return properties, bound

    def check(self, ctx: Context, request: tuple[dict[str, str], int | None]) -> list[Finding]:
        return ctx.contract.deprecated_bound(request[1] is not None)

    def call(self, ctx: Context, request: tuple[dict[str, str], int | None]) -> None:
        ctx.service.delete_by_properties(ctx.family.kind, ctx.site, ctx.provider, *request)

    def render(self, ctx: Context, request: tuple[dict[str, str], int | None], outcome: None) -> Answer:
        summary = "properties=" + ",".join(f"{k}={v}" for k, v in request[0].items())
        return Answer(Response(status_code=202), summary=summary)


class GatingStatus(_Steps):
    async def parse(self, ctx: Context) -> Key | None:
        return _key(ctx)

    def call(self, ctx: Context, key: Key | None) -> Any:
        return None if key is None else ctx.service.gating_status(ctx.site, ctx.provider, key)

    def checked(self, ctx: Context, key: Key | None, gating: Any) -> list[Finding]:
        return [] if key is None else ctx.contract.poll(ctx.site.name, ctx.provider, key, ctx.now)

    def render(self, ctx: Context, key: Key | None, gating: Any) -> Answer:
        if key is None or gating is None:
            reason = "no applied deployment with this key asked for gating"
            raise Refusal.site(404, ctx.family.texts.not_found, reason)
        body = {
            "deploymentSequenceNumber": key[2],
            "pipelineId": key[0],
            "environmentId": key[1],
            "updatedTimestamp": iso(gating.updated),
            "gatingStatus": gating.status,
            "details": gating.details,
        }
        return Answer(errors.json_response(body), (key,))
