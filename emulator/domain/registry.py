"""The sites of one emulator and what is installed on them, changed at run time by the control surface.

Each change is told to the ``before_change`` observers, then made: durable state logs it first, to replay
it at the next start, and an observer that fails (a full disk) stops the change before anything changed:
``("reset", site)``, ``("site-add", site)``, ``("site-remove", name)``, ``("app-install",
site, app)``, ``("app-uninstall", site, key)``, ``("client-add", site, client)``, ``("client-remove", site,
client_id)`` and ``("gating", site, provider, key, gating)``. Taking an app, a client or a site away takes
its data with it, as uninstalling an app does in Jira: the subclass that holds the data forgets it
(``_forget``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from emulator.domain.model import Provider
from emulator.domain.sites import ConnectApp, OAuthClient, Site, SiteRegistry


class Registry:
    def __init__(self, sites: SiteRegistry) -> None:
        self.sites = sites
        self.before_change: list[Callable[..., None]] = []

    def _changing(self, kind: str, *args: Any) -> None:
        """Tell observers of a change about to be made; one that raises stops it."""
        for observer in self.before_change:
            observer(kind, *args)

    def _forget(self, site: str | None, provider: Provider | None = None) -> dict[str, int]:
        """Forget the data of a provider on a site (of every provider when None, of every site when the site is
        None); how many records of each kind went."""
        raise NotImplementedError

    def reset(self, site: str | None = None) -> None:
        """Every site's data (or one's) goes, and it starts again from its fixtures' numbering of change
        requests."""
        self._changing("reset", site)
        self._forget(site)
        for each in self.sites:
            if site is None or each.name == site:
                each.change_requests = 0

    def add_site(self, site: Site) -> None:
        self._changing("site-add", site)
        self.sites.add(site)

    def remove_site(self, name: str) -> bool:
        """A site goes with everything it holds."""
        if self.sites.get(name) is None:
            return False
        self.reset(name)
        self._changing("site-remove", name)
        self.sites.remove(name)
        return True

    def install_app(self, site: Site, app: ConnectApp) -> None:
        """Install, or re-install with new secret, scopes or modules (data is kept on re-install)."""
        self._changing("app-install", site.name, app)
        site.connect_apps[app.key] = app

    def uninstall_app(self, site: Site, key: str) -> dict[str, int] | None:
        app = site.connect_apps.get(key)
        if app is None:
            return None
        self._changing("app-uninstall", site.name, key)
        del site.connect_apps[key]
        return self._forget(site.name, app.provider)

    def add_oauth_client(self, site: Site, client: OAuthClient) -> None:
        self._changing("client-add", site.name, client)
        site.oauth_clients[client.client_id] = client

    def remove_oauth_client(self, site: Site, client_id: str) -> dict[str, int] | None:
        client = site.oauth_clients.get(client_id)
        if client is None:
            return None
        self._changing("client-remove", site.name, client_id)
        del site.oauth_clients[client_id]
        return self._forget(site.name, client.provider)
