"""Sites and what is installed on them: Connect apps, OAuth clients, projects, services, gating rules."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from urllib.parse import urlsplit

from emulator.domain.model import Provider

ISSUE_KEY = re.compile(r"^(\w{1,255})-(\d{1,255})$")
MODULE = "jiraDeploymentInfoProvider"


@lru_cache(maxsize=4096)
def _provider(kind: str, key: str) -> Provider:
    """One Provider object per app or client: every call's provider, journal entry and store lookup then
    shares it instead of making its own."""
    return Provider(kind, key)


@dataclass(frozen=True, slots=True)
class ConnectApp:
    key: str
    client_key: str
    shared_secret: str
    scopes: frozenset[str]
    modules: frozenset[str]

    @property
    def provider(self) -> Provider:
        return _provider("connect", self.key)

    @property
    def has_deployment_module(self) -> bool:
        return MODULE in self.modules


@dataclass(frozen=True, slots=True)
class OAuthClient:
    client_id: str
    client_secret: str
    permissions: frozenset[str]

    @property
    def provider(self) -> Provider:
        return _provider("oauth", self.client_id)


@dataclass(slots=True)
class GatingRules:
    """Which environment types are gated, the project that holds change requests, and an optional
    automatic decision (``auto_status``) after so many seconds or polls of an awaiting deployment."""

    gated_environment_types: frozenset[str] = frozenset({"production"})
    change_project: str = "CHG"
    auto_status: str | None = None
    auto_after_seconds: float | None = None
    auto_after_polls: int | None = None


@dataclass(slots=True)
class Site:
    name: str
    base_url: str
    cloud_id: str
    projects: dict[str, int | None] = field(default_factory=dict)  # key prefix -> highest issue number
    services: frozenset[str] = frozenset()
    connect_apps: dict[str, ConnectApp] = field(default_factory=dict)  # by app key
    oauth_clients: dict[str, OAuthClient] = field(default_factory=dict)  # by client id
    gating: GatingRules = field(default_factory=GatingRules)
    apply_delay: float | None = None  # overrides the global delay when set
    change_requests: int = 0

    @property
    def host(self) -> str:
        return _split_base_url(self.base_url)[0]

    @property
    def context_path(self) -> str:
        return _split_base_url(self.base_url)[1]

    def knows_issue(self, value: str) -> bool:
        """Whether an issue key (or numeric id) exists here; see the README's "where Jira is silent"."""
        if value.isdigit() or not self.projects:
            return True
        match = ISSUE_KEY.match(value)
        if match is None:
            return False
        project, number = match.group(1).upper(), int(match.group(2))
        if project not in self.projects:
            return False
        highest = self.projects[project]
        return highest is None or 1 <= number <= highest

    def knows_service(self, value: str) -> bool:
        return not self.services or value in self.services

    def next_change_request(self) -> str:
        self.change_requests += 1
        return f"{self.gating.change_project}-{self.change_requests}"


@lru_cache(maxsize=1024)
def _split_base_url(base_url: str) -> tuple[str, str]:
    """(host, context path) of a base URL; every request resolves its site with these, so they are
    computed once per URL, not per request."""
    parts = urlsplit(base_url)
    return (parts.netloc or "").lower(), parts.path.rstrip("/")


class SiteRegistry:
    """The sites of one emulator; the first one is the default for requests no base URL matches."""

    def __init__(self, sites: list[Site] | None = None) -> None:
        self._sites: dict[str, Site] = {}
        for site in sites or []:
            self.add(site)

    def add(self, site: Site) -> None:
        if site.name in self._sites:
            raise ValueError(f"site {site.name!r} is declared twice")
        if any(s.cloud_id == site.cloud_id for s in self._sites.values()):
            raise ValueError(f"cloudId {site.cloud_id!r} is declared twice")
        self._sites[site.name] = site

    def remove(self, name: str) -> Site | None:
        return self._sites.pop(name, None)

    def get(self, name: str) -> Site | None:
        return self._sites.get(name)

    def by_cloud_id(self, cloud_id: str) -> Site | None:
        return next((s for s in self._sites.values() if s.cloud_id == cloud_id), None)

    def by_host(self, host: str) -> Site | None:
        host = host.lower()
        return next((s for s in self._sites.values() if s.host == host), None)

    @property
    def default(self) -> Site | None:
        return next(iter(self._sites.values()), None)

    def resolve(self, host: str, path: str) -> tuple[Site | None, str]:
        """The site a site-relative request belongs to, and the context path to strip from it.

        A site matches when its base URL's host equals ``host`` and ``path`` starts with its
        context path; the longest context path wins. Otherwise the default site, no context path.
        """
        host = host.lower()
        best: Site | None = None
        for site in self._sites.values():
            ctx = site.context_path
            if site.host == host and (path == ctx or path.startswith(ctx + "/")):
                if best is None or len(ctx) > len(best.context_path):
                    best = site
        if best is not None:
            return best, best.context_path
        return self.default, ""

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(list(self._sites.values()))

    def __len__(self) -> int:
        return len(self._sites)
