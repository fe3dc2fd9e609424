"""The emulator's own control surface under ``/_emulator/``: never part of the Jira API."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from emulator import __version__
from emulator.api.errors import json_response
from emulator.control.sites import SiteHandlers

if TYPE_CHECKING:
    from emulator.app import Emulator


class ControlHandlers:
    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator

    async def health(self, request: Request) -> Response:
        return json_response({"status": "ok", "version": __version__})

    async def ready(self, request: Request) -> Response:
        if not self.emulator.ready:
            return json_response({"status": "starting"}, 503)
        sites = [{"name": s.name, "baseUrl": s.base_url, "cloudId": s.cloud_id} for s in self.emulator.service.sites]
        return json_response({"status": "ready", "version": __version__, "sites": sites})

    async def flush(self, request: Request) -> Response:
        applied = self.emulator.service.flush()
        return json_response({"applied": applied})

    async def reset(self, request: Request) -> Response:
        site = request.query_params.get("site")
        service = self.emulator.service
        if site is not None and service.sites.get(site) is None:
            return json_response({"error": f"no site named {site!r}"}, 404)
        service.reset(site)
        return json_response({"reset": site or "all"})


def routes(emulator: Emulator) -> list[Route]:
    h = ControlHandlers(emulator)
    sites = SiteHandlers(emulator.service)
    return [
        Route("/_emulator/sites", sites.list, methods=["GET"]),
        Route("/_emulator/sites", sites.add, methods=["POST"]),
        Route("/_emulator/sites/{site}", sites.get, methods=["GET"]),
        Route("/_emulator/sites/{site}", sites.remove, methods=["DELETE"]),
        Route("/_emulator/sites/{site}/apps", sites.install_app, methods=["POST"]),
        Route("/_emulator/sites/{site}/apps/{key}", sites.uninstall_app, methods=["DELETE"]),
        Route("/_emulator/sites/{site}/oauth-clients", sites.add_client, methods=["POST"]),
        Route("/_emulator/sites/{site}/oauth-clients/{client}", sites.remove_client, methods=["DELETE"]),
        Route("/_emulator/health", h.health, methods=["GET"]),
        Route("/_emulator/ready", h.ready, methods=["GET"]),
        Route("/_emulator/queue/flush", h.flush, methods=["POST"]),
        Route("/_emulator/reset", h.reset, methods=["POST"]),
    ]
