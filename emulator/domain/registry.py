"""The sites of one emulator and what is installed on them, changed at run time by the control surface.

Each change is made, then told to the ``on_change`` observers (durable state logs it to replay it at the
next start): ``("reset", site)``, ``("site-add", site)``, ``("site-remove", name)``, ``("app-install",
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
        self.on_change: list[Callable[..., None]] = []

    def _changed(self, kind: str, *args: Any) -> None:
        """Tell observers of a change that has already been made (durable state may log it right away)."""
        for observer in self.on_change:
            observer(kind, *args)

    def _forget(self, site: str, provider: Provider | None = None) -> int:
        """Forget the data of a provider on a site (of every provider when None); how many records went."""
        raise NotImplementedError

    def reset(self, site: str | None = None) -> None:
        """Every site (or one) starts again from its fixtures' numbering of change requests."""
        for each in self.sites:
            if site is None or each.name == site:
                each.change_requests = 0
        self._changed("reset", site)

    def add_site(self, site: Site) -> None:
        self.sites.add(site)
        self._changed("site-add", site)

    def remove_site(self, name: str) -> bool:
        """A site goes with everything it holds."""
        if self.sites.get(name) is None:
            return False
        self.reset(name)
        self.sites.remove(name)
        self._changed("site-remove", name)
        return True

    def install_app(self, site: Site, app: ConnectApp) -> None:
        """Install, or re-install with new secret, scopes or modules (data is kept on re-install)."""
        site.connect_apps[app.key] = app
        self._changed("app-install", site.name, app)

    def uninstall_app(self, site: Site, key: str) -> int | None:
        app = site.connect_apps.pop(key, None)
        if app is None:
            return None
        removed = self._forget(site.name, app.provider)
        self._changed("app-uninstall", site.name, key)
        return removed

    def add_oauth_client(self, site: Site, client: OAuthClient) -> None:
        site.oauth_clients[client.client_id] = client
        self._changed("client-add", site.name, client)

    def remove_oauth_client(self, site: Site, client_id: str) -> int | None:
        client = site.oauth_clients.pop(client_id, None)
        if client is None:
            return None
        removed = self._forget(site.name, client.provider)
        self._changed("client-remove", site.name, client_id)
        return removed
