"""The emulator's own control surface under ``/_emulator/``: never part of the Jira API.

The whole surface on one screen is the table in ``routes()``. Only the probes (``health``, ``ready``) are
built at start-up; every other handler is built, and its module imported, on its first call.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from emulator import __version__
from emulator.api.errors import json_response

if TYPE_CHECKING:
    from emulator.app import Emulator

Endpoint = Callable[[Request], Awaitable[Response]]


def deferred(load: Callable[[], Any]) -> Callable[[str], Endpoint]:
    """Endpoints whose handlers are built by ``load()`` on the first call of any of them, not at start-up:
    ``deferred(load)("connect")`` calls ``load().connect``. Their modules are imported then: none of them
    is needed to serve Jira calls or to answer the readiness probe."""
    built: list[Any] = []

    def endpoint(name: str) -> Endpoint:
        async def call(request: Request) -> Response:
            if not built:
                built.append(load())
            return await getattr(built[0], name)(request)

        call.__name__ = call.__qualname__ = name  # the route's name, as with the handler itself
        return call

    return endpoint


class Probes:
    """``/_emulator/health`` and ``/_emulator/ready``: built at start-up, the readiness probe's first answer
    must not wait for an import."""

    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator
        self.service = emulator.service

    async def health(self, request: Request) -> Response:
        """Liveness: `{"status": "ok", "version"}` as soon as the server answers."""
        return json_response({"status": "ok", "version": __version__})

    async def ready(self, request: Request) -> Response:
        """Readiness: 503 while the fixtures load, then 200 with the version and every site."""
        if not self.emulator.ready:
            return json_response({"status": "starting", "version": __version__}, 503)
        sites = [{"name": s.name, "baseUrl": s.base_url, "cloudId": s.cloud_id} for s in self.service.sites]
        return json_response({"status": "ready", "version": __version__, "sites": sites})


def routes(emulator: Emulator) -> list[Route]:
    probes = Probes(emulator)

    def control_handlers() -> Any:
        from emulator.control.handlers import ControlHandlers

        return ControlHandlers(emulator)

    def fault_handlers() -> Any:
        from emulator.control.handlers import FaultHandlers

        return FaultHandlers(emulator)

    def site_handlers() -> Any:
        from emulator.control.sites import SiteHandlers

        return SiteHandlers(emulator.service)

    def token_handlers() -> Any:
        from emulator.control.tokens import TokenHandlers

        return TokenHandlers(emulator.service, oauth_ttl=emulator.settings.oauth_token_ttl)

    def dashboard() -> Any:
        from emulator.control import ui

        return ui

    h, faults, sites = deferred(control_handlers), deferred(fault_handlers), deferred(site_handlers)
    tokens, ui = deferred(token_handlers), deferred(dashboard)
    return [
        Route("/_emulator/ui", ui("ui_page"), methods=["GET"]),
        Route("/_emulator/ui/{name}", ui("ui_asset"), methods=["GET"]),
        Route("/_emulator/tokens/connect", tokens("connect"), methods=["POST"]),
        Route("/_emulator/tokens/oauth", tokens("oauth"), methods=["POST"]),
        Route("/_emulator/faults", faults("list"), methods=["GET"]),
        Route("/_emulator/faults", faults("add"), methods=["POST"]),
        Route("/_emulator/faults", faults("clear"), methods=["DELETE"]),
        Route("/_emulator/faults/{id}", faults("remove"), methods=["DELETE"]),
        Route("/_emulator/sites/{site}/rate-limit", faults("rate_limit"), methods=["GET", "PUT", "DELETE"]),
        Route("/_emulator/health", probes.health, methods=["GET"]),
        Route("/_emulator/ready", probes.ready, methods=["GET"]),
        Route("/_emulator/reset", h("reset"), methods=["POST"]),
        Route("/_emulator/queue", h("queue"), methods=["GET"]),
        Route("/_emulator/queue/flush", h("flush"), methods=["POST"]),
        Route("/_emulator/queue/pause", h("pause"), methods=["POST"]),
        Route("/_emulator/queue/resume", h("resume"), methods=["POST"]),
        Route("/_emulator/queue/config", h("queue_config"), methods=["PUT"]),
        Route("/_emulator/state", h("state"), methods=["GET"]),
        Route("/_emulator/journal", h("journal"), methods=["GET"]),
        Route("/_emulator/journal", h("clear_journal"), methods=["DELETE"]),
        Route("/_emulator/journal/count", h("journal_count"), methods=["GET"]),
        Route("/_emulator/journal/{id}", h("journal_entry"), methods=["GET"]),
        Route("/_emulator/gating", h("decide_gating"), methods=["POST"]),
        Route("/_emulator/contract-report", h("contract_report"), methods=["GET"]),
        Route("/_emulator/contract-report", h("clear_contract_report"), methods=["DELETE"]),
        Route("/_emulator/sites", sites("list"), methods=["GET"]),
        Route("/_emulator/sites", sites("add"), methods=["POST"]),
        Route("/_emulator/sites/{site}", sites("get"), methods=["GET"]),
        Route("/_emulator/sites/{site}", sites("remove"), methods=["DELETE"]),
        Route("/_emulator/sites/{site}/apply-delay", h("site_apply_delay"), methods=["PUT"]),
        Route("/_emulator/sites/{site}/gating-rules", h("gating_rules"), methods=["GET", "PUT"]),
        Route("/_emulator/sites/{site}/apps", sites("install_app"), methods=["POST"]),
        Route("/_emulator/sites/{site}/apps/{key}", sites("uninstall_app"), methods=["DELETE"]),
        Route("/_emulator/sites/{site}/oauth-clients", sites("add_client"), methods=["POST"]),
        Route("/_emulator/sites/{site}/oauth-clients/{client}", sites("remove_client"), methods=["DELETE"]),
    ]
