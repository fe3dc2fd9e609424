"""Installing at run time: sites, Connect apps and OAuth clients, without a restart."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from emulator.api.errors import json_response
from emulator.api.families import FAMILIES
from emulator.domain.service import DevOpsService
from emulator.domain.sites import Site
from emulator.fixtures import ConnectAppSpec, OAuthClientSpec, SiteSpec, parse
from emulator.validation import Invalid

Spec = SiteSpec | ConnectAppSpec | OAuthClientSpec


def problem(status: int, message: str) -> Response:
    return json_response({"error": message}, status)


async def json_body(request: Request) -> dict[str, Any] | Response:
    try:
        value = json.loads(await request.body() or b"{}")
    except (ValueError, RecursionError):
        return problem(400, "the body must be a JSON object")
    return value if isinstance(value, dict) else problem(400, "the body must be a JSON object")


async def read_spec(request: Request, model: type[Spec]) -> Spec | Response:
    try:
        raw = json.loads(await request.body())
        return parse(raw, model)
    except Invalid as exc:
        return problem(400, str(exc))
    except (ValueError, RecursionError):
        return problem(400, "the body must be a JSON object")


def site_json(site: Site) -> dict[str, Any]:
    return {
        "name": site.name,
        "baseUrl": site.base_url,
        "cloudId": site.cloud_id,
        "projects": [{"key": k, "maxIssueNumber": n} for k, n in site.projects.items()],
        "services": sorted(site.services),
        "connectApps": [
            {"key": a.key, "clientKey": a.client_key, "scopes": sorted(a.scopes), "modules": sorted(a.modules)}
            for a in site.connect_apps.values()
        ],
        "oauthClients": [
            {"clientId": c.client_id, "permissions": sorted(c.permissions)} for c in site.oauth_clients.values()
        ],
        "gating": {
            "environmentTypes": sorted(site.gating.gated_environment_types),
            "changeProject": site.gating.change_project,
        },
        "applyDelay": site.apply_delay,
    }


class SiteHandlers:
    def __init__(self, service: DevOpsService) -> None:
        self.service = service

    def _site(self, request: Request) -> Site | Response:
        name = request.path_params["site"]
        site = self.service.sites.get(name)
        return problem(404, f"no site named {name!r}") if site is None else site

    async def list(self, request: Request) -> Response:
        """Every site with its apps (key, clientKey, scopes, modules) and OAuth clients, without secrets."""
        return json_response({"sites": [site_json(s) for s in self.service.sites]})

    async def get(self, request: Request) -> Response:
        """One site, as the list shows it."""
        site = self._site(request)
        return site if isinstance(site, Response) else json_response(site_json(site))

    async def add(self, request: Request) -> Response:
        """Add a site, given as one entry of a fixture's `sites` (201; 409 if its name or cloudId exists)."""
        spec = await read_spec(request, SiteSpec)
        if isinstance(spec, Response):
            return spec
        assert isinstance(spec, SiteSpec)
        try:
            self.service.add_site(spec.build())
        except ValueError as exc:
            return problem(409, str(exc))
        return json_response(site_json(self.service.sites.get(spec.name)), 201)  # type: ignore[arg-type]

    async def remove(self, request: Request) -> Response:
        """Remove a site with all its data (204)."""
        if not self.service.remove_site(request.path_params["site"]):
            return problem(404, f"no site named {request.path_params['site']!r}")
        return Response(status_code=204)

    async def _install(self, request: Request, model: type[ConnectAppSpec] | type[OAuthClientSpec]) -> Response:
        site = self._site(request)
        if isinstance(site, Response):
            return site
        spec = await read_spec(request, model)
        if isinstance(spec, Response):
            return spec
        if isinstance(spec, ConnectAppSpec):
            self.service.install_app(site, spec.build())
        elif isinstance(spec, OAuthClientSpec):
            self.service.add_oauth_client(site, spec.build())
        return json_response(site_json(site), 201)

    async def _uninstall(self, request: Request, param: str, what: str) -> Response:
        site = self._site(request)
        if isinstance(site, Response):
            return site
        name = request.path_params[param]
        remove = self.service.uninstall_app if param == "key" else self.service.remove_oauth_client
        removed = remove(site, name)
        if removed is None:
            return problem(404, f"no {what} {name!r} on site {site.name!r}")
        return json_response({f"deleted{family.name.capitalize()}": removed.get(family.name, 0) for family in FAMILIES})

    async def install_app(self, request: Request) -> Response:
        """Install a Connect app; installing the same key again updates it and keeps its data."""
        return await self._install(request, ConnectAppSpec)

    async def uninstall_app(self, request: Request) -> Response:
        """Uninstall an app: its deployments, builds and pending writes go (`{"deletedDeployments": N,
        "deletedBuilds": M}`)."""
        return await self._uninstall(request, "key", "app")

    async def add_client(self, request: Request) -> Response:
        """Add OAuth 2.0 credentials `{"clientId", "clientSecret", "permissions"}`."""
        return await self._install(request, OAuthClientSpec)

    async def remove_client(self, request: Request) -> Response:
        """Remove OAuth credentials with their data (`{"deletedDeployments": N, "deletedBuilds": M}`); their
        tokens stop working at once."""
        return await self._uninstall(request, "client", "OAuth client")
