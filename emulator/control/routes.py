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
    from emulator.control.ports import EmulatorParts

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

    def __init__(self, emulator: EmulatorParts) -> None:
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


# The whole control surface: (path, methods, the handlers' group, the handler's name). Each group is built on
# the first call of any of its handlers (``deferred``); the probes, at start-up.
ROUTES: tuple[tuple[str, tuple[str, ...], str, str], ...] = (
    ("/_emulator/ui", ("GET",), "dashboard", "ui_page"),
    ("/_emulator/ui/{name}", ("GET",), "dashboard", "ui_asset"),
    ("/_emulator/tokens/connect", ("POST",), "tokens", "connect"),
    ("/_emulator/tokens/oauth", ("POST",), "tokens", "oauth"),
    ("/_emulator/faults", ("GET",), "faults", "list"),
    ("/_emulator/faults", ("POST",), "faults", "add"),
    ("/_emulator/faults", ("DELETE",), "faults", "clear"),
    ("/_emulator/faults/{id}", ("DELETE",), "faults", "remove"),
    ("/_emulator/sites/{site}/rate-limit", ("GET", "PUT", "DELETE"), "faults", "rate_limit"),
    ("/_emulator/health", ("GET",), "probes", "health"),
    ("/_emulator/ready", ("GET",), "probes", "ready"),
    ("/_emulator/reset", ("POST",), "control", "reset"),
    ("/_emulator/queue", ("GET",), "control", "queue"),
    ("/_emulator/queue/flush", ("POST",), "control", "flush"),
    ("/_emulator/queue/pause", ("POST",), "control", "pause"),
    ("/_emulator/queue/resume", ("POST",), "control", "resume"),
    ("/_emulator/queue/config", ("PUT",), "control", "queue_config"),
    ("/_emulator/state", ("GET",), "control", "state"),
    ("/_emulator/journal", ("GET",), "control", "journal"),
    ("/_emulator/journal", ("DELETE",), "control", "clear_journal"),
    ("/_emulator/journal/count", ("GET",), "control", "journal_count"),
    ("/_emulator/journal/{id}", ("GET",), "control", "journal_entry"),
    ("/_emulator/gating", ("POST",), "control", "decide_gating"),
    ("/_emulator/contract-report", ("GET",), "control", "contract_report"),
    ("/_emulator/contract-report", ("DELETE",), "control", "clear_contract_report"),
    ("/_emulator/sites", ("GET",), "sites", "list"),
    ("/_emulator/sites", ("POST",), "sites", "add"),
    ("/_emulator/sites/{site}", ("GET",), "sites", "get"),
    ("/_emulator/sites/{site}", ("DELETE",), "sites", "remove"),
    ("/_emulator/sites/{site}/apply-delay", ("PUT",), "control", "site_apply_delay"),
    ("/_emulator/sites/{site}/gating-rules", ("GET", "PUT"), "control", "gating_rules"),
    ("/_emulator/sites/{site}/apps", ("POST",), "sites", "install_app"),
    ("/_emulator/sites/{site}/apps/{key}", ("DELETE",), "sites", "uninstall_app"),
    ("/_emulator/sites/{site}/oauth-clients", ("POST",), "sites", "add_client"),
    ("/_emulator/sites/{site}/oauth-clients/{client}", ("DELETE",), "sites", "remove_client"),
)


def _groups(emulator: EmulatorParts) -> dict[str, Callable[[], Any]]:
    """How each group of handlers is built (and its module imported)."""

    def control() -> Any:
        from emulator.control.handlers import ControlHandlers

        return ControlHandlers(emulator)

    def faults() -> Any:
        from emulator.control.handlers import FaultHandlers

        return FaultHandlers(emulator)

    def sites() -> Any:
        from emulator.control.sites import SiteHandlers

        return SiteHandlers(emulator.service)

    def tokens() -> Any:
        from emulator.control.tokens import TokenHandlers

        return TokenHandlers(emulator.service, oauth_ttl=emulator.oauth_token_ttl)

    def dashboard() -> Any:
        from emulator.control import ui

        return ui

    probes = Probes(emulator)
    return {"control": control, "faults": faults, "sites": sites, "tokens": tokens, "dashboard": dashboard,
            "probes": lambda: probes}  # fmt: skip


def routes(emulator: EmulatorParts) -> list[Route]:
    endpoints = {group: deferred(load) for group, load in _groups(emulator).items()}
    return [Route(path, endpoints[group](name), methods=list(methods)) for path, methods, group, name in ROUTES]
