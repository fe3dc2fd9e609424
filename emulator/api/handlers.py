"""The Jira surface: one entry point that routes on the raw path, authenticates, and calls the service.

Every call goes through ``JiraSurface.handle``: match the raw path, find the site, verify the
caller, check the module and scope, run the operation (one service call), render. Whatever goes
wrong becomes a documented 4xx with Jira's body; an unexpected error is a 500 with an
``errorTraceId`` that is also in the log, never a traceback.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from msgspec import Struct
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from emulator.api import errors
from emulator.api.routing import Match, PathEncodingError, match
from emulator.api.submission import (
    RejectedInput,
    RequestInvalid,
    encode_json,
    may_hold_astral,
    parse_submission,
    text_limits,
)
from emulator.auth.connect import AuthError, TokenCache, verify_connect_request
from emulator.auth.oauth import OAuthError, verify_access_token
from emulator.auth.scopes import scope_satisfies
from emulator.contract import FINDINGS_HEADER, ContractChecker, Finding
from emulator.domain.kinds import DEPLOYMENTS
from emulator.domain.model import DeploymentInput, DeploymentKey, Provider
from emulator.domain.service import DevOpsService, QueueFull
from emulator.domain.sites import Site
from emulator.faults import FaultSet, RateLimits, retry_after_headers
from emulator.journal import ACCEPTED_IN_RESPONSE, BODY_KEPT

log = logging.getLogger("emulator.calls")

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
SCOPE = {
    "submitDeployments": "WRITE",
    "deleteDeploymentsByProperty": "DELETE",
    "deleteDeploymentByKey": "DELETE",
    "getDeploymentByKey": "READ",
    "getDeploymentGatingStatusByKey": "READ",
}


class BodyTooLarge(Exception):
    pass


class ClientGone(Exception):
    """The client closed the connection before its body was complete: nobody is left to answer."""


@dataclass(slots=True)
class Call:
    """What one call to the Jira surface was and did: logged, later journalled."""

    method: str
    raw_path: str
    raw_query: str
    started: float
    operation: str | None = None
    site: str | None = None
    provider: Provider | None = None
    status: int = 0
    reason: str | None = None
    # the journal keeps it: a tuple, the outcome's own list, or ACCEPTED_IN_RESPONSE (a submit's answer has them)
    touched: Sequence[DeploymentKey] | tuple[str] = ()
    summary: str = ""
    latency_ms: float = 0.0
    request_body: bytes | None = None
    response_body: bytes | None = None
    findings: list[dict[str, Any]] = field(default_factory=list)
    found: list[Finding] = field(default_factory=list)


@dataclass(slots=True)
class Caller:
    site: Site
    provider: Provider
    match: Match
    operation: str
    call: Call


def parse_int64(text: str) -> int | None:
    stripped = text.strip()
    # an int64 has at most 19 digits: refuse longer text before int() (which gives up past 4300 digits)
    if not stripped or len(stripped) > 21 or not stripped.lstrip("+-").isdigit() or not stripped.isascii():
        return None
    value = int(stripped)
    return value if INT64_MIN <= value <= INT64_MAX else None


UNREAD_BODY_WAIT = 1.0  # seconds a refusal waits for the body it journals; a stalled client gets it anyway


async def unread_body(request: Request, limit: int) -> bytes | None:
    """For the journal, the body of a call refused before its handler read it: None when there is none, it
    has been read (or partly read) already, it passes ``limit``, the client has gone, or it has not arrived
    within ``UNREAD_BODY_WAIT`` (the refusal is not held up longer by a client that stalls)."""
    length = header(request, b"content-length")
    if (length is None or length == "0") and header(request, b"transfer-encoding") is None:
        return None  # no body: a GET's 404 (a client polling for its write) does not wait on receive()
    try:
        return await asyncio.wait_for(read_body(request, limit), UNREAD_BODY_WAIT) or None
    except (BodyTooLarge, ClientGone, RuntimeError, TimeoutError):  # RuntimeError: Starlette's "Stream consumed"
        return None


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refusing (without reading on) as soon as it passes ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    chunks, size = [], 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise BodyTooLarge
            chunks.append(chunk)
    except ClientDisconnect:
        raise ClientGone from None
    return b"".join(chunks)


def header(request: Request, name: bytes) -> str | None:
    """The first value of a header (``name`` lower-case, as ASGI servers give names), like
    ``request.headers.get`` without building the Headers object."""
    for key, value in request.scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None


_JSON_CONTENT_TYPE = (b"content-type", b"application/json")


class JSONBytes(Response):
    """``Response(body, media_type="application/json")`` for a body already serialised: the same status,
    headers (content-length, content-type) and body, without Starlette's generic header assembly."""

    media_type = "application/json"

    def __init__(self, body: bytes) -> None:
        self.status_code = 200
        self.background = None
        self.body = body
        self.raw_headers = [(b"content-length", str(len(body)).encode("latin-1")), _JSON_CONTENT_TYPE]


def deployment_key_json(key: DeploymentKey) -> dict[str, Any]:
    return {
        "pipelineId": key.pipeline_id,
        "environmentId": key.environment_id,
        "deploymentSequenceNumber": key.sequence_number,
    }


class _KeyJson(Struct, gc=False):
    """``deployment_key_json`` as a struct, for the 100 keys of an accepted submit: msgspec encodes the
    same bytes from it, and making one costs a fraction of a dict."""

    pipelineId: str
    environmentId: str
    deploymentSequenceNumber: int


class JiraSurface:
    def __init__(
        self,
        service: DevOpsService,
        *,
        max_body_bytes: int,
        faults: FaultSet | None = None,
        contract: ContractChecker | None = None,
        strict: bool = False,
    ) -> None:
        self.service = service
        self.contract = contract or ContractChecker()
        self.strict = strict
        self.max_body_bytes = max_body_bytes
        self.faults = faults or FaultSet()
        self.token_cache = TokenCache()
        self.rate_limits = RateLimits()
        self.operations: dict[str, Callable[[Request, Caller], Awaitable[Response]]] = {
            "submitDeployments": self.submit,
            "getDeploymentByKey": self.get,
            "deleteDeploymentByKey": self.delete,
            "deleteDeploymentsByProperty": self.delete_by_properties,
            "getDeploymentGatingStatusByKey": self.gating_status,
        }
        self.observers: list[Callable[[Call], None]] = []

    async def asgi(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The surface as a plain ASGI app (the router's default)."""
        if scope["type"] != "http":
            return
        response = await self.handle(Request(scope, receive))
        await response(scope, receive, send)

    async def handle(self, request: Request) -> Response:
        raw_path = (request.scope.get("raw_path") or request.scope["path"].encode()).split(b"?", 1)[0]
        call = Call(
            method=request.method,
            raw_path=raw_path.decode("latin-1"),
            raw_query=request.scope.get("query_string", b"").decode("utf-8", "replace"),
            started=time.perf_counter(),
        )
        try:
            response = await self.dispatch(request, call)
        except ClientGone:
            call.reason = "the client closed the connection before its body was complete; nothing was done"
            response = Response(status_code=499)  # as nginx logs it: no one receives this answer
        except Exception:
            trace_id = uuid.uuid4().hex
            log.exception("unexpected error on %s %s (errorTraceId %s)", call.method, call.raw_path, trace_id)
            response = errors.error_response(500, errors.UNEXPECTED, reason="unexpected error", trace_id=trace_id)
            call.reason = f"unexpected error, errorTraceId {trace_id}"
        if call.found:
            call.findings = [f.to_json() for f in call.found]
            response.headers[FINDINGS_HEADER] = ", ".join(dict.fromkeys(f.rule for f in call.found))
            example = {
                "method": call.method,
                "path": call.raw_path,
                "query": call.raw_query,
                "time": iso_timestamp(self.service.clock.now()),
            }
            self.contract.record(call.site, str(call.provider) if call.provider else None, call.found, example)
        if call.request_body is None and response.status_code >= 400 and response.status_code not in (413, 499):
            # refused before its body was read (a token, a fault rule, a rate limit, a wrong path): the journal
            # still shows what was sent, so that a test can compare an attempt with its retry
            call.request_body = await unread_body(request, self.max_body_bytes)
        call.status = response.status_code
        call.response_body = response.body if isinstance(response.body, bytes) else None
        call.latency_ms = (time.perf_counter() - call.started) * 1000
        for observer in self.observers:
            observer(call)
        return response

    def refuse(self, call: Call, status: int, messages: list[str] | str, reason: str) -> Response:
        call.reason = reason
        return errors.error_response(status, messages, reason=reason)

    async def dispatch(self, request: Request, call: Call) -> Response:
        host = header(request, b"host") or ""
        site, context_path = self.service.sites.resolve(host, call.raw_path)
        relative = call.raw_path[len(context_path) :] or "/"
        try:
            found = match(relative)
        except PathEncodingError:
            return self.refuse(call, 400, errors.BAD_PATH_ENCODING, "a path segment is not percent-encoded UTF-8")
        if found is None:
            return self.refuse(call, 404, errors.NO_RESOURCE, f"no Jira operation at {relative}")
        operation = found.operations.get(call.method)
        if operation is None:
            allowed = ", ".join(found.operations)
            response = self.refuse(
                call, 405, errors.METHOD_NOT_ALLOWED.format(method=call.method), f"allowed here: {allowed}"
            )
            response.headers["Allow"] = allowed
            return response
        call.operation = operation
        if found.family == "gateway":
            site = self.service.sites.by_cloud_id(found.cloud_id or "")
            if site is None:
                call.reason = f"no site has cloudId '{found.cloud_id}'"
                return errors.gateway_error(404, "Not Found", reason=call.reason)
        elif site is None:
            return self.refuse(call, 404, errors.NO_RESOURCE, "no site is configured for this request")
        call.site = site.name
        now = self.service.clock.now()
        try:
            if found.family == "gateway":
                provider = self.authenticate_gateway(request, site, call, now)
            else:
                provider = self.authenticate(request, site, relative, call, operation, now)
        except AuthError as refusal:
            message = errors.UNAUTHORIZED if refusal.status == 401 else errors.FORBIDDEN.format(scope=SCOPE[operation])
            return self.refuse(call, refusal.status, message, refusal.reason)
        except OAuthError as refusal:
            call.reason = refusal.reason
            text = "Unauthorized" if refusal.status == 401 else "Forbidden"
            return errors.gateway_error(refusal.status, text, reason=refusal.reason)
        if self.rate_limits.sites() or self.faults.rules():  # nothing to look up otherwise
            injected = await self.inject(request, call, found.family, now)
            if injected is not None:
                return injected
        refusal = self.note(call, call.found)
        if refusal is not None:
            return refusal
        caller = Caller(site, provider, found, operation, call)
        try:
            return await self.operations[operation](request, caller)
        except BodyTooLarge:
            return self.refuse(call, 413, errors.TOO_LARGE, f"the body is larger than {self.max_body_bytes} bytes")
        except QueueFull as full:
            call.reason = str(full)
            return errors.error_response(503, errors.UNAVAILABLE, reason=call.reason, headers={"Retry-After": "1"})

    def note(self, call: Call, findings: list[Finding]) -> Response | None:
        """Keep findings for the call (``call.found`` may already hold them); in strict mode a mistake is a 400."""
        if not findings:
            return None
        if findings is not call.found:
            call.found.extend(findings)
        mistakes = [f for f in findings if f.kind == "mistake"]
        if not self.strict or not mistakes:
            return None
        messages = [f.strict_message() for f in mistakes]
        return self.refuse(call, 400, messages, "strict mode: " + ", ".join(f.rule for f in mistakes))

    async def inject(self, request: Request, call: Call, family: str, now: float | None = None) -> Response | None:
        """A site's rate limit, then the first matching fault rule: an answer, a delay, or a dropped connection."""
        if now is None:
            now = self.service.clock.now()
        wait = self.rate_limits.check(call.site or "", now)
        if wait > 0:
            call.reason = f"rate limit of site '{call.site}': next token in {wait:.3f} s"
            return errors.error_response(
                429, errors.RATE_LIMITED, reason=call.reason, headers=retry_after_headers(wait, now)
            )
        rule = self.faults.match(
            operation=call.operation,
            method=call.method,
            site=call.site,
            provider=str(call.provider) if call.provider else None,
        )
        if rule is None:
            return None
        call.reason = f"fault rule {rule.id}"
        if rule.latency_ms:
            await asyncio.sleep(rule.latency_ms / 1000)
        if rule.drop_connection:
            call.request_body = await unread_body(request, self.max_body_bytes)  # the attempt, for the journal
            return await drop_connection(request)
        if rule.status is None:
            call.reason = None
            return None
        headers = dict(rule.headers)
        if rule.retry_after is not None:
            headers = {**retry_after_headers(rule.retry_after, now), **headers}
        if rule.body is not None:
            return errors.json_response(rule.body, rule.status, {errors.REASON_HEADER: call.reason, **headers})
        if family == "gateway" and rule.status in (401, 403):
            response = errors.gateway_error(
                rule.status, "Unauthorized" if rule.status == 401 else "Forbidden", reason=call.reason
            )
            response.headers.update(headers)
            return response
        text = errors.STATUS_TEXTS.get(rule.status, errors.INJECTED)
        trace_id = uuid.uuid4().hex if rule.status >= 500 else None
        message = text.format(scope=SCOPE.get(call.operation or "", "READ"))
        return errors.error_response(rule.status, message, reason=call.reason, trace_id=trace_id, headers=headers)

    def authenticate_gateway(self, request: Request, site: Site, call: Call, now: float | None = None) -> Provider:
        """OAuth 2.0 bearer token of a client installed on the site named by the path's cloudId."""

        def secret_for(client_id: str, cloud_id: str) -> str | None:
            owner = self.service.sites.by_cloud_id(cloud_id)
            client = None if owner is None else owner.oauth_clients.get(client_id)
            return None if client is None else client.client_secret

        verified = verify_access_token(
            header(request, b"authorization"),
            secret_for=secret_for,
            now=self.service.clock.now() if now is None else now,
        )
        call.provider = Provider("oauth", verified.client_id)
        if verified.cloud_id != site.cloud_id:
            raise OAuthError(403, f"the token was issued for cloudId '{verified.cloud_id}', not '{site.cloud_id}'")
        client = site.oauth_clients[verified.client_id]
        if "deployments" not in client.permissions:
            granted = ", ".join(sorted(client.permissions)) or "none"
            raise OAuthError(
                403, f"OAuth client '{client.client_id}' lacks the deployments permission (it has: {granted})"
            )
        return call.provider

    def authenticate(
        self, request: Request, site: Site, relative: str, call: Call, operation: str, now: float | None = None
    ) -> Provider:
        apps = site.connect_apps

        def secret_for(app_key: str) -> str | None:
            app = apps.get(app_key)
            return None if app is None else app.shared_secret

        verified = verify_connect_request(
            header(request, b"authorization"),
            method=call.method,
            raw_path=relative,
            raw_query=call.raw_query,
            secret_for=secret_for,
            now=self.service.clock.now() if now is None else now,
            cache=self.token_cache,
        )
        app = apps[verified.app_key]
        call.provider = provider = app.provider
        found = self.contract.token(verified.qsh_form, verified.lifetime)
        if found:
            call.found.extend(found)
        if not app.has_deployment_module:
            raise AuthError(403, f"app '{app.key}' does not declare the jiraDeploymentInfoProvider module")
        needed = SCOPE[operation]
        if not scope_satisfies(app.scopes, needed):
            granted = ", ".join(sorted(app.scopes)) or "none"
            raise AuthError(403, f"app '{app.key}' lacks the {needed} scope (it has: {granted})")
        return provider

    # -- operations --------------------------------------------------------------------------

    def _key(self, caller: Caller) -> DeploymentKey | None:
        m = caller.match
        number = parse_int64(m.sequence_number or "")
        if number is None or m.pipeline_id is None or m.environment_id is None:
            return None
        return DeploymentKey(m.pipeline_id, m.environment_id, number)

    async def submit(self, request: Request, caller: Caller) -> Response:
        body = await read_body(request, self.max_body_bytes)
        caller.call.request_body = body
        try:
            submission = parse_submission(body)
        except RequestInvalid as invalid:
            return self.refuse(caller.call, 400, invalid.messages, "; ".join(invalid.messages))
        items = submission.items
        valid = [item for item in items if type(item) is DeploymentInput]
        site, provider = caller.site, caller.provider
        self.service.apply_due()
        findings = self.contract.submission(
            site.name,
            provider,
            valid,
            self.service.latest_accepted(DEPLOYMENTS, site, provider),
            self.service.clock.now(),
        )
        if may_hold_astral(body):  # rare: then every limited string is measured in UTF-16 code units too
            findings += self.contract.text_lengths(valid, submission.properties, text_limits())
        refusal = self.note(caller.call, findings)
        if refusal is not None:
            return refusal
        outcome = self.service.submit(DEPLOYMENTS, site, provider, valid, submission.properties)
        self.contract.accepted(site.name, provider, outcome.accepted)
        self.note(caller.call, self.contract.unknown(outcome.unknown_issue_keys, outcome.unknown_associations))
        rejected = [(i.key, i.messages) for i in items if type(i) is RejectedInput] if len(valid) < len(items) else []
        rejected += outcome.rejected
        caller.call.touched = outcome.accepted
        caller.call.summary = f"accepted={len(outcome.accepted)} rejected={len(rejected)}"
        if rejected:
            caller.call.reason = "; ".join(f"{tuple(k)}: {' / '.join(msgs)}" for k, msgs in rejected)
        body_out = {
            "acceptedDeployments": [_KeyJson(*k) for k in outcome.accepted],
            "rejectedDeployments": [
                {"key": deployment_key_json(k), "errors": [{"message": m} for m in msgs]} for k, msgs in rejected
            ],
            "unknownIssueKeys": outcome.unknown_issue_keys,
            "unknownAssociations": outcome.unknown_associations,
        }
        # msgspec writes the same compact UTF-8 JSON as errors.dumps, at a quarter of the cost for 100 keys
        answer = encode_json(body_out)
        if len(answer) <= BODY_KEPT:  # the journal keeps all of it: the touched keys are read from it
            caller.call.touched = ACCEPTED_IN_RESPONSE
        return Response(answer, status_code=202, media_type="application/json")

    async def get(self, request: Request, caller: Caller) -> Response:
        key = self._key(caller)
        record = None if key is None else self.service.get(DEPLOYMENTS, caller.site, caller.provider, key)
        if key is not None:
            pending = self.service.has_pending_write(DEPLOYMENTS, caller.site, caller.provider, key)
            self.note(caller.call, self.contract.read(key, pending))
        if record is None:
            return self.refuse(
                caller.call, 404, errors.NOT_FOUND, "no applied deployment with this key for this provider"
            )
        caller.call.touched = (record.key,)
        return JSONBytes(record.body)

    def _usn_bound(self, request: Request) -> tuple[int | None, str | None]:
        values = request.query_params.getlist("_updateSequenceNumber")
        if not values:
            return None, None
        bound = parse_int64(values[-1]) if len(values) == 1 else None
        return bound, (None if bound is not None else errors.BAD_USN)

    async def delete(self, request: Request, caller: Caller) -> Response:
        key = self._key(caller)
        if key is None:
            return self.refuse(caller.call, 404, errors.NOT_FOUND, "deploymentSequenceNumber is not an int64")
        bound, problem = self._usn_bound(request)
        if problem:
            return self.refuse(caller.call, 400, problem, problem)
        refusal = self.note(caller.call, self.contract.deprecated_bound(bound is not None))
        if refusal is not None:
            return refusal
        self.service.delete(DEPLOYMENTS, caller.site, caller.provider, key, bound)
        caller.call.touched = (key,)
        return Response(status_code=202)

    async def delete_by_properties(self, request: Request, caller: Caller) -> Response:
        bound, problem = self._usn_bound(request)
        if problem:
            return self.refuse(caller.call, 400, problem, problem)
        properties: dict[str, str] = {}
        for name, value in parse_qsl(caller.call.raw_query, keep_blank_values=True):
            if name in ("_updateSequenceNumber", "jwt"):
                continue
            if name in properties:
                text = errors.PROPERTY_TWICE.format(name=name)
                return self.refuse(caller.call, 400, text, text)
            properties[name] = value
        if not properties:
            return self.refuse(caller.call, 400, errors.PROPERTIES_REQUIRED, errors.PROPERTIES_REQUIRED)
        refusal = self.note(caller.call, self.contract.deprecated_bound(bound is not None))
        if refusal is not None:
            return refusal
        self.service.delete_by_properties(DEPLOYMENTS, caller.site, caller.provider, properties, bound)
        caller.call.summary = "properties=" + ",".join(f"{k}={v}" for k, v in properties.items())
        return Response(status_code=202)

    async def gating_status(self, request: Request, caller: Caller) -> Response:
        key = self._key(caller)
        gating = None if key is None else self.service.gating_status(caller.site, caller.provider, key)
        if key is not None:
            self.note(caller.call, self.contract.poll(caller.site.name, caller.provider, key, self.service.clock.now()))
        if key is None or gating is None:
            return self.refuse(
                caller.call, 404, errors.NOT_FOUND, "no applied deployment with this key asked for gating"
            )
        caller.call.touched = (key,)
        return errors.json_response(
            {
                "deploymentSequenceNumber": key.sequence_number,
                "pipelineId": key.pipeline_id,
                "environmentId": key.environment_id,
                "updatedTimestamp": iso_timestamp(gating.updated),
                "gatingStatus": gating.status,
                "details": gating.details,
            }
        )


async def drop_connection(request: Request) -> Response:
    """Close the TCP connection without an answer. uvicorn's ``send`` is a bound method of its request
    cycle, which holds the transport; an in-process client has none, and gets a 503 instead."""
    send = request.scope.get("emulator.send")
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if transport is None:
        return errors.error_response(503, errors.UNAVAILABLE, reason="dropConnection needs a real server; answered 503")
    transport.abort()
    await asyncio.sleep(0)  # let uvicorn see the disconnect, so it sends nothing more
    return Response(status_code=499)


def iso_timestamp(epoch: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
