"""``create_app(settings)``: builds one emulator, with nothing global.

Every part is made here, from the settings, and handed to what uses it: the domain service, the
Jira surface's pipeline and its steps, the journal and the call log, durable state, the control surface.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
import re
import sys
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from emulator.api import errors
from emulator.api.admission import Admission
from emulator.api.authenticate import Authenticator
from emulator.api.calls import Call
from emulator.api.context import Surface
from emulator.api.families import BY_ID, FAMILIES, OPERATIONS
from emulator.api.pipeline import JiraSurface
from emulator.config import Settings
from emulator.contract import ContractChecker
from emulator.control.guard import ControlGuard
from emulator.control.routes import deferred
from emulator.control.routes import routes as control_routes
from emulator.domain.clock import Clock, SystemClock
from emulator.domain.model import Key
from emulator.domain.service import DevOpsService, QueueSettings, Unavailable
from emulator.faults import FaultSet, RateLimits
from emulator.fixtures import load_fault_rules, load_fixtures
from emulator.journal import Journal, clip
from emulator.logs import CallLogger
from emulator.redaction import kept_headers

if TYPE_CHECKING:
    from emulator.api.gateway import GatewayHandlers
    from emulator.persistence import DurableState

log = logging.getLogger("emulator")

IDLE_WAKE = 0.25  # seconds between applier wake-ups when nothing is due sooner
OWN_PREFIXES = ("/_emulator", "/openapi.json", "/oauth/", "/_edge/")


def _key_json(operation: str | None, key: Key) -> dict[str, Any]:
    """A touched key as the operation's family writes it, for the journal."""
    return BY_ID[operation].family.key_json(key) if operation in BY_ID else {"key": list(key)}


class Emulator:
    """Everything one running emulator owns (``control.ports.EmulatorParts`` is what the control surface
    reads of it)."""

    def __init__(self, settings: Settings, clock: Clock | None = None) -> None:
        self.settings = settings
        self.clock = clock or SystemClock()
        self.strict = settings.strict
        self.oauth_token_ttl = settings.oauth_token_ttl
        sites, seeds = load_fixtures(settings.fixtures)
        rng = random.Random(settings.seed)
        queue = QueueSettings(settings.apply_delay, settings.jitter, settings.out_of_order, settings.max_pending)
        self.service = DevOpsService(sites, self.clock, queue, kinds=[family.kind for family in FAMILIES], rng=rng)
        for seed in seeds:
            self.service.seed(seed.kind, seed.site, seed.provider, seed.entities, seed.properties)
        self.contract = ContractChecker(self.service)
        self.faults = FaultSet(rng, operations={op.id: op.method for op in OPERATIONS})
        self.rate_limits = RateLimits()
        self._configure_limits_and_faults(settings)
        families = {operation.id: operation.family.name for operation in OPERATIONS}
        self.journal = Journal(settings.journal_size, key_json=_key_json, families=families)
        surface = Surface(self.service, self.contract, settings.strict, settings.max_body_bytes)
        admission = Admission(self.faults, self.rate_limits, settings.max_body_bytes)
        self.jira = JiraSurface(surface, OPERATIONS, admission, Authenticator(sites, self.contract))
        self.jira.observers += [self.record, CallLogger(settings.log_format)]
        self.durable: DurableState | None = None
        if settings.data_dir:
            from emulator.persistence import DurableState  # only with --data-dir

            self.durable = DurableState(settings.data_dir, self.service, recover=settings.recover_data)
            began = time.perf_counter()
            restored = self.durable.open()
            seconds = time.perf_counter() - began
            log.info("durable state in %s: restored %s in %.3f s", settings.data_dir, restored, seconds)
        # after durable state's observer, which may stop a change (a full disk): these forget a removed site's
        # (or app's) parts only once it is sure to go
        self.service.before_change += [self.contract.registry_changing, self.rate_limits.registry_changing]
        self.ready = False

    def _configure_limits_and_faults(self, settings: Settings) -> None:
        if settings.rate_limit is not None:
            rate, _, burst = settings.rate_limit.partition("/")
            for site in self.service.sites:
                self.rate_limits.set(site.name, rate=float(rate), burst=int(burst), now=self.clock.now())
        if settings.faults is not None:
            for rule in load_fault_rules(settings.faults):
                self.faults.add(rule)

    @functools.cached_property
    def gateway(self) -> GatewayHandlers:
        """The OAuth token endpoint and ``/_edge/tenant_info``, built (and imported) on their first call."""
        from emulator.api.gateway import GatewayHandlers

        return GatewayHandlers(self.service, token_ttl=self.settings.oauth_token_ttl)

    def record(self, call: Call) -> None:
        """Journal one call."""
        request_body, response_body = call.request_body, call.response_body
        self.journal.record_values(
            (
                self.clock.now(),
                sys.intern(call.method),  # the ring holds one string per method, not one per call
                call.raw_path,
                call.raw_query,
                call.operation,
                call.site,
                call.provider or None,  # the journal shows it as text when read
                call.status,
                call.latency_ms,
                call.reason,
                call.touched,  # keys; the journal shows them as objects when read
                call.findings if call.found else (),
                clip(request_body),
                clip(response_body),
                len(request_body) if request_body else 0,
                len(response_body) if response_body else 0,
                kept_headers(call.headers),
            )
        )

    async def run_applier(self) -> None:
        """Apply operations as they fall due, in real time (reads also apply what is due), and keep the durable
        state's log and snapshot current. A failure is logged and the applier carries on: the operation that
        failed stays queued, to be tried at the next tick."""
        failing = False
        while True:
            next_due = self.service.next_due()
            wait = IDLE_WAKE if next_due is None else min(max(next_due - self.clock.now(), 0.0), IDLE_WAKE)
            await asyncio.sleep(wait if not failing else IDLE_WAKE)
            try:
                self.service.apply_due()
                if self.durable is not None:
                    self.durable.maintain()
            except Exception:
                if not failing:
                    log.exception("the applier failed; it tries again every %.2f s", IDLE_WAKE)
                failing = True
            else:
                if failing:
                    log.info("the applier works again")
                failing = False


async def unavailable(request: Request, exc: Exception) -> Response:
    """A control change that cannot be kept now (the data folder cannot be written): nothing changed."""
    reason = str(exc)
    headers = {"Retry-After": str(getattr(exc, "retry_after", 1)), errors.REASON_HEADER: errors.header_safe(reason)}
    return JSONResponse({"error": reason}, 503, headers=headers)


async def openapi(request: Request) -> Response:
    """The OpenAPI document, imported on first use: building its models is start-up time nobody needs."""
    from emulator.api.openapi import openapi_endpoint

    return await openapi_endpoint(request)


class EmulatorApp(Starlette):
    """Starlette, with two additions on the way in: the server's own ``send`` is kept in the scope (dropping
    a connection needs its transport), and a Jira call goes straight to the Jira surface instead of being
    tried against every control route first (it would end up there as the router's default anyway)."""

    jira: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        scope["emulator.send"] = send
        try:
            if self.jira is not None and scope["type"] == "http" and not scope["path"].startswith(OWN_PREFIXES):
                scope["app"] = self
                await self.jira(scope, receive, send)
                return
            await super().__call__(scope, receive, send)
        finally:
            # uvicorn's send is a method of the request cycle, which holds the scope: kept, it would make a
            # reference cycle of every request for the garbage collector to find
            scope.pop("emulator.send", None)


def _match_whole_paths(routes: list[Any]) -> None:
    """Starlette compiles a route's path to ``^...$``, and ``$`` also matches before a final newline, so
    ``/_emulator/health%0A`` would be the health probe. ``\\Z`` matches at the very end only: such a path
    falls through to the Jira surface's 404, as any unknown path does."""
    for route in routes:
        pattern = route.path_regex.pattern
        if pattern.endswith("$") and not pattern.endswith("\\$"):
            route.path_regex = re.compile(pattern[:-1] + r"\Z")


def create_app(settings: Settings | None = None, *, clock: Clock | None = None) -> Starlette:
    emulator = Emulator(settings or Settings(), clock)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        task = asyncio.create_task(emulator.run_applier())
        emulator.ready = True
        try:
            yield
        finally:
            emulator.ready = False
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            left = len(emulator.service.queue)
            if emulator.durable is not None:
                await emulator.durable.stop_compaction()
                emulator.durable.close()
                log.info("shutdown: %d pending operation(s) kept for the next start", left)
            elif left:
                applied = emulator.service.flush()
                log.info("shutdown: applied %d pending operation(s) before exit", applied)

    gateway = deferred(lambda: emulator.gateway)
    app = EmulatorApp(
        routes=[
            *control_routes(emulator),
            Route("/openapi.json", openapi, methods=["GET"]),
            Route("/oauth/token", gateway("token"), methods=["POST"]),
            Route("/_edge/tenant_info", gateway("tenant_info"), methods=["GET"]),
        ],
        lifespan=lifespan,
        exception_handlers={Unavailable: unavailable},
    )
    _match_whole_paths(app.router.routes)
    # the control surface refuses what a browser sends for a page of another origin (emulator/control/guard.py)
    app.add_middleware(
        ControlGuard, settings=emulator.settings, site_urls=lambda: [s.base_url for s in emulator.service.sites]
    )
    # Everything no route above takes is the Jira surface. A catch-all Route would miss paths holding
    # a newline (%0A decodes to one, and Starlette's path regex does not match it): the router's
    # default sees every path.
    app.router.default = app.jira = emulator.jira
    app.state.emulator = emulator
    return app
