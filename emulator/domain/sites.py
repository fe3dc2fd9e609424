"""Sites and what is installed on them: Connect apps, OAuth clients, projects, services, gating rules."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import NamedTuple
from urllib.parse import urlsplit

from msgspec import Struct, field

from emulator.domain.hosts import (
    CACHED_ANSWERS,
    CACHED_CHARS,
    HostName,
    UnknownSite,
    bounded_cache,
    host_of_base_url,
    host_of_header,
)
from emulator.domain.model import Provider

ISSUE_KEY = re.compile(r"^(\w{1,255})-(\d{1,255})$")


@lru_cache(maxsize=4096)
def _provider(kind: str, key: str) -> Provider:
    """One Provider object per app or client: every call's provider, journal entry and store lookup then
    shares it instead of making its own."""
    return Provider(kind, key)


class ConnectApp(Struct, frozen=True):
    key: str
    client_key: str
    shared_secret: str
    scopes: frozenset[str]
    modules: frozenset[str]

    @property
    def provider(self) -> Provider:
        return _provider("connect", self.key)


class OAuthClient(Struct, frozen=True):
    client_id: str
    client_secret: str
    permissions: frozenset[str]

    @property
    def provider(self) -> Provider:
        return _provider("oauth", self.client_id)


class GatingRules(Struct):
    """Which environment types are gated, the project that holds change requests, and an optional
    automatic decision (``auto_status``) after so many seconds or polls of an awaiting deployment."""

    gated_environment_types: frozenset[str] = frozenset({"production"})
    change_project: str = "CHG"
    auto_status: str | None = None
    auto_after_seconds: float | None = None
    auto_after_polls: int | None = None


class Site(Struct):
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


@bounded_cache
def _split_base_url(base_url: str) -> tuple[str, str]:
    """(host, context path) of a base URL; every request resolves its site with these, so they are
    computed once per URL, not per request."""
    parts = urlsplit(base_url)
    return (parts.netloc or "").lower(), parts.path.rstrip("/")


class SiteMatch(NamedTuple):
    site: Site | None  # None only when no site is declared at all
    context_path: str  # to strip from the request's path
    note: str | None  # why the default site answers, when it answers a host that names no site


def _within(path: str, context_path: str) -> bool:
    return not context_path or path == context_path or path.startswith(context_path + "/")


def _shown(host: str) -> str:
    return repr(host if len(host) <= 80 else host[:80] + "...")


def _port_of(site: Site) -> int | None:
    return host_of_base_url(site.base_url)[0].port


class SiteRegistry:
    """The sites of one emulator; the first one is the default for requests no base URL matches."""

    def __init__(self, sites: list[Site] | None = None) -> None:
        self._sites: dict[str, Site] = {}
        # what each Host header names: CACHED_ANSWERS of them at most, each at most CACHED_CHARS long (any
        # client may send any number of Host headers, of any length)
        self._hosts: dict[str, SiteMatch | UnknownSite | list[Site]] = {}
        for site in sites or []:
            self.add(site)

    def add(self, site: Site) -> None:
        if site.name in self._sites:
            raise ValueError(f"site {site.name!r} is declared twice")
        if any(s.cloud_id == site.cloud_id for s in self._sites.values()):
            raise ValueError(f"cloudId {site.cloud_id!r} is declared twice")
        self._sites[site.name] = site
        self._hosts.clear()

    def remove(self, name: str) -> Site | None:
        self._hosts.clear()
        return self._sites.pop(name, None)

    def get(self, name: str) -> Site | None:
        return self._sites.get(name)

    def by_cloud_id(self, cloud_id: str) -> Site | None:
        return next((s for s in self._sites.values() if s.cloud_id == cloud_id), None)

    @property
    def default(self) -> Site | None:
        return next(iter(self._sites.values()), None)

    def resolve(self, host: str, path: str | None) -> SiteMatch:
        """The site a request to ``host`` and ``path`` belongs to, the context path to strip from the path,
        and, when the default site answers a host that names no site, why (``emulator.domain.hosts``).
        UnknownSite when the host is a site-style host no site has. A ``path`` of None is at the host's root
        whatever the sites' context paths (``/_edge/tenant_info``)."""
        found = self._hosts.get(host)
        if found is None:
            found = self._learn(host)
        if isinstance(found, SiteMatch):
            return found
        if isinstance(found, UnknownSite):
            raise UnknownSite(found.reason)  # a new one each time: a raised exception keeps its traceback
        within = [site for site in found if path is None or _within(path, site.context_path)]
        if not within:
            urls = ", ".join(site.base_url for site in found)
            raise UnknownSite(f"host {_shown(host)} is the host of {urls}: the path must start with its path")
        port = host_of_header(host).port
        best = max(within, key=lambda site: (len(site.context_path), _port_of(site) == port))
        return SiteMatch(best, best.context_path, None)

    def _learn(self, host: str) -> SiteMatch | UnknownSite | list[Site]:
        """What a host names, whatever the path: one site (or the default one, noted), no site (a site-style
        host), or the sites whose context paths the path chooses from. Remembered until the sites change."""
        asked = host_of_header(host)
        named = [site for site in self._sites.values() if host_of_base_url(site.base_url)[0].name == asked.name]
        found: SiteMatch | UnknownSite | list[Site]
        if len(named) == 1 and not named[0].context_path:
            found = SiteMatch(named[0], "", None)
        elif named:
            found = named
        else:
            found = self._no_site_named(host, asked)
        if len(host) <= CACHED_CHARS:
            if len(self._hosts) >= CACHED_ANSWERS:
                self._hosts.clear()
            self._hosts[host] = found
        return found

    def _no_site_named(self, host: str, asked: HostName) -> SiteMatch | UnknownSite:
        parent = asked.parent
        under = [site.base_url for site in self._sites.values() if host_of_base_url(site.base_url)[0].parent == parent]
        if parent is not None and under:
            return UnknownSite(f"no site has host {_shown(host)} (sites under {parent}: {', '.join(under)})")
        default = self.default
        if default is None:
            return SiteMatch(None, "", None)
        note = f"host {_shown(host)} names no site; the default site {default.name!r} ({default.base_url}) answers"
        return SiteMatch(default, "", note)

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(list(self._sites.values()))

    def __len__(self) -> int:
        return len(self._sites)
