"""The admission step: a site's rate limit, then the first fault rule that matches the call.

A rate-limited call gets Jira's 429 with ``Retry-After``; a fault rule answers in its stead, waits before
the call goes on, or drops the connection. Both are off until configured, and cost nothing then.
"""

from __future__ import annotations

import asyncio
import uuid

from starlette.requests import Request
from starlette.responses import Response

from emulator.api import errors
from emulator.api.calls import Call, Refusal
from emulator.api.families import Operation
from emulator.api.http import drop_connection, unread_body
from emulator.faults import FaultRule, FaultSet, RateLimits, retry_after_headers


class Admission:
    def __init__(self, faults: FaultSet, rate_limits: RateLimits, max_body_bytes: int) -> None:
        self.faults = faults
        self.rate_limits = rate_limits
        self.max_body_bytes = max_body_bytes

    @property
    def active(self) -> bool:
        """Whether any rate limit or fault rule is configured (otherwise ``admit`` has nothing to look up)."""
        return bool(self.rate_limits) or bool(self.faults)

    async def admit(self, request: Request, call: Call, operation: Operation, via: str, now: float) -> None:
        """Return when the call may go on; raise Refusal with the answer that replaces it otherwise."""
        wait = self.rate_limits.check(call.site or "", now)
        if wait > 0:
            reason = f"rate limit of site '{call.site}': next token in {wait:.3f} s"
            raise Refusal.site(429, errors.RATE_LIMITED, reason, headers=retry_after_headers(wait, now))
        rule = self.faults.match(
            operation=call.operation,
            method=call.method,
            site=call.site,
            provider=str(call.provider) if call.provider else None,
        )
        if rule is None:
            return
        reason = f"fault rule {rule.id}"
        if rule.latency_ms:
            await asyncio.sleep(rule.latency_ms / 1000)
        if rule.drop_connection:
            call.request_body = await unread_body(request, self.max_body_bytes)  # the attempt, for the journal
            raise Refusal(await drop_connection(request), reason)
        if rule.status is not None:
            raise Refusal(_answer(rule, operation, via, reason, now), reason)


def _answer(rule: FaultRule, operation: Operation, via: str, reason: str, now: float) -> Response:
    """What a fault rule with a status answers: its own body, or the documented text of that status."""
    assert rule.status is not None
    headers = dict(rule.headers)
    if rule.retry_after is not None:
        headers = {**retry_after_headers(rule.retry_after, now), **headers}
    if rule.body is not None:
        return errors.json_response(rule.body, rule.status, {errors.REASON_HEADER: reason, **headers})
    if via == "gateway" and rule.status in (401, 403):
        response = errors.gateway_error(
            rule.status, "Unauthorized" if rule.status == 401 else "Forbidden", reason=reason
        )
        response.headers.update(headers)
        return response
    texts = operation.family.texts
    text = {403: texts.forbidden, 404: texts.not_found, 413: texts.too_large}.get(
        rule.status, errors.STATUS_TEXTS.get(rule.status, errors.INJECTED)
    )
    trace_id = uuid.uuid4().hex if rule.status >= 500 else None
    message = text.format(scope=operation.connect_scope)
    return errors.error_response(rule.status, message, reason=reason, trace_id=trace_id, headers=headers)
