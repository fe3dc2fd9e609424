"""The Jira surface: every call passes the same steps, composed in ``JiraSurface.run``.

1. site: the site the request's host (and context path) names;
2. route: the operation the raw path and method name (``routing.py``, from the declarations);
3. authenticate: the Connect app or OAuth client, its module or permission, its scope;
4. admit: the site's rate limit and the fault rules;
5. the operation: validate, contract notes, one service call, render (``operations.py``);
6. finish: contract findings on the answer, then the journal and the log (the observers).

A step that refuses the call raises ``Refusal`` with Jira's answer; an unexpected error is a 500 with an
``errorTraceId`` that is also in the log, never a traceback.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from emulator.api import errors
from emulator.api.admission import Admission
from emulator.api.authenticate import Authenticator
from emulator.api.calls import Answer, Call, ClientGone, Refusal
from emulator.api.context import Context, Surface, refuse_if_strict
from emulator.api.families import Operation
from emulator.api.http import header, unread_body
from emulator.api.routing import Match, PathEncodingError, Router
from emulator.contract import FINDINGS_HEADER
from emulator.domain.clock import iso
from emulator.domain.hosts import UnknownSite
from emulator.domain.service import Unavailable
from emulator.domain.sites import Site, SiteMatch

log = logging.getLogger("emulator.calls")


class JiraSurface:
    def __init__(
        self, surface: Surface, operations: Iterable[Operation], admission: Admission, authenticator: Authenticator
    ) -> None:
        self.surface = surface
        self.service = surface.service
        self.router = Router(operations)
        self.admission = admission
        self.authenticator = authenticator
        self.observers: list[Callable[[Call], None]] = []  # the journal and the log, told of every call

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The surface as a plain ASGI app (the router's default)."""
        if scope["type"] != "http":
            return
        response = await self.handle(Request(scope, receive))
        await response(scope, receive, send)

    async def handle(self, request: Request) -> Response:
        call = Call.of(request)
        reason = None
        try:
            response = await self.run(request, call)
        except Refusal as refusal:
            response, reason = refusal.response, refusal.reason
        except ClientGone:
            reason = "the client closed the connection before its body was complete; nothing was done"
            response = Response(status_code=499)  # as nginx logs it: no one receives this answer
        except Exception:
            trace_id = uuid.uuid4().hex
            log.exception("unexpected error on %s %s (errorTraceId %s)", call.method, call.raw_path, trace_id)
            reason = f"unexpected error, errorTraceId {trace_id}"
            response = errors.error_response(500, errors.UNEXPECTED, reason="unexpected error", trace_id=trace_id)
        await self.finish(request, call, response, reason)
        return response

    async def run(self, request: Request, call: Call) -> Response:
        found, path = self.site(request, call)
        match = self.route(path, call)
        operation = match.operations[call.method]
        site = self.gateway_site(match) if match.via == "gateway" else self.named_site(found, call)
        call.site = site.name
        now = self.service.clock.now()
        if match.via == "gateway":
            provider = self.authenticator.oauth(request, call, operation, site, now)
        else:
            provider = self.authenticator.connect(request, call, operation, site, path, now)
        if self.admission.active:
            await self.admission.admit(request, call, operation, match.via, now)
        if call.found:
            refuse_if_strict(self.surface.strict, call.found)  # the token's own findings
        ctx = Context(self.surface, request, call, operation, match.params, site, provider, now)
        answer = await self.perform(ctx)
        call.touched, call.summary = answer.touched, answer.summary
        if answer.reason is not None:
            call.reason = answer.reason
        return answer.response

    def site(self, request: Request, call: Call) -> tuple[SiteMatch | UnknownSite, str]:
        """The site the request's host names (``domain.hosts``), and the request's path within it (its
        context path removed); an unknown site-style host refuses only site-family calls (``named_site``)."""
        try:
            found = self.service.sites.resolve(header(request, b"host") or "", call.raw_path)
        except UnknownSite as unknown:
            return unknown, call.raw_path
        return found, call.raw_path[len(found.context_path) :] or "/"

    def named_site(self, found: SiteMatch | UnknownSite, call: Call) -> Site:
        """The site of a site-family call: a 404 for a site-style host no site has; the default site, noted,
        for any other host that names no site."""
        if isinstance(found, UnknownSite):
            raise Refusal.site(404, errors.NO_SITE, found.reason)
        if found.site is None:
            raise Refusal.site(404, errors.NO_RESOURCE, "no site is configured for this request")
        call.site_note = found.note
        return found.site

    def route(self, path: str, call: Call) -> Match:
        """The operations at ``path`` for the call's method: a 400, 404 or 405 otherwise."""
        try:
            match = self.router.match(path)
        except PathEncodingError:
            raise Refusal.site(400, errors.BAD_PATH_ENCODING, "a path segment is not percent-encoded UTF-8") from None
        if match is None:
            raise Refusal.site(404, errors.NO_RESOURCE, f"no Jira operation at {path}")
        operation = match.operations.get(call.method)
        if operation is None:
            allowed = ", ".join(match.operations)
            message = errors.METHOD_NOT_ALLOWED.format(method=call.method)
            raise Refusal.site(405, message, f"allowed here: {allowed}", headers={"Allow": allowed})
        call.operation = operation.id
        return match

    def gateway_site(self, match: Match) -> Site:
        cloud_id = match.params["cloudId"]
        site = self.service.sites.by_cloud_id(cloud_id)
        if site is None:
            raise Refusal.gateway(404, "Not Found", f"no site has cloudId '{cloud_id}'")
        return site

    async def perform(self, ctx: Context) -> Answer:
        """The operation itself; a write that cannot be accepted now (a full apply queue, a data folder that
        cannot be written) is Jira's 503."""
        try:
            return await ctx.operation.handler(ctx)
        except Unavailable as busy:
            headers = {"Retry-After": str(busy.retry_after)}
            raise Refusal.site(503, errors.UNAVAILABLE, str(busy), headers=headers) from None

    async def finish(self, request: Request, call: Call, response: Response, reason: str | None) -> None:
        """The findings on the answer and in the report; the body a refusal left unread; the observers."""
        if call.found:
            response.headers[FINDINGS_HEADER] = ", ".join(dict.fromkeys(f.rule for f in call.found))
            example = {"method": call.method, "path": call.raw_path, "query": call.raw_query}
            example["time"] = iso(self.service.clock.now())
            provider = str(call.provider) if call.provider else None
            self.surface.contract.record(call.site, provider, call.found, example)
        if call.request_body is None and response.status_code >= 400 and response.status_code not in (413, 499):
            # refused before its body was read (a token, a fault rule, a rate limit, a wrong path): the journal
            # still shows what was sent, so that a test can compare an attempt with its retry
            call.request_body = await unread_body(request, self.surface.max_body_bytes)
        if call.site_note is not None and errors.REASON_HEADER not in response.headers:
            response.headers[errors.REASON_HEADER] = errors.header_safe(call.site_note)
        call.answered(response, reason)
        for observer in self.observers:
            observer(call)
