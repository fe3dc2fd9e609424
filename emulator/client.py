"""A small Python client for the emulator: Connect signing for ``httpx`` and the ``/_emulator/`` surface.

``ConnectAuth`` plugs into any ``httpx.Client`` and signs each request with a fresh Connect JWT whose qsh
matches that request. ``EmulatorClient`` drives the control surface (reset, flush, state, journal) and
hands out clients for the code under test. Needs ``httpx``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Generator, Mapping
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx

from emulator.tokens import DEFAULT_TTL, connect_authorization

if TYPE_CHECKING:
    from emulator.server import ThreadedServer

DEFAULT_APP = "emulator-app"
DEFAULT_SHARED_SECRET = "emulator-shared-secret-for-local-tests-only"
DEFAULT_OAUTH_CLIENT = "emulator-oauth-client"
DEFAULT_OAUTH_SECRET = "emulator-oauth-secret-for-local-tests-only"
CONTROL_TOKEN_ENV = "EMULATOR_CONTROL_TOKEN"
CONTROL_TOKEN_HEADER = "X-Emulator-Control-Token"
JSON = "application/json"


class ConnectAuth(httpx.Auth):
    """Signs every request with a fresh Connect JWT: ``Authorization: JWT <token>``.

    The qsh covers the request's method, raw path (minus ``context_path``, the path of the site's base
    URL) and raw query, exactly as they go on the wire.
    """

    def __init__(self, app_key: str, shared_secret: str, *, context_path: str = "", ttl: int = DEFAULT_TTL) -> None:
        self.app_key = app_key
        self.shared_secret = shared_secret
        self.context_path = context_path
        self.ttl = ttl

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        # raw_path is "/path?query", percent-encoded as sent; httpx keeps an encoded "%2F" as it is
        target = request.url.raw_path.decode("ascii")
        request.headers["Authorization"] = connect_authorization(
            self.app_key,
            self.shared_secret,
            request.method,
            target,
            now=time.time(),
            ttl=self.ttl,
            context_path=self.context_path,
        )
        yield request

    def __repr__(self) -> str:
        return f"ConnectAuth(app_key={self.app_key!r}, context_path={self.context_path!r})"


class EmulatorError(Exception):
    """The control surface answered with an error status."""

    def __init__(self, message: str, *, response: httpx.Response) -> None:
        super().__init__(message)
        self.response = response
        self.status_code = response.status_code


class BearerAuth(httpx.Auth):
    """``Authorization: Bearer <access_token>``, for the gateway (OAuth 2.0) family of the API."""

    def __init__(self, access_token: str) -> None:
        self.access_token = access_token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self.access_token}"
        yield request


class EmulatorClient:
    """A synchronous client of one running emulator's control surface, ``/_emulator/``.

    ``control_token`` is the emulator's ``--control-token``, sent with every control call; it defaults to
    the ``EMULATOR_CONTROL_TOKEN`` variable, as the emulator's own setting does. Every call that changes
    something says ``Content-Type: application/json``, which the control surface requires of them.
    """

    #: the in-process server behind this client, when the pytest plugin started one
    server: ThreadedServer | None = None

    def __init__(
        self,
        url: str,
        *,
        http: httpx.Client | None = None,
        timeout: float = 10.0,
        control_token: str | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.control_token = control_token or os.environ.get(CONTROL_TOKEN_ENV) or None
        self._owns_http = http is None
        self.http = http if http is not None else httpx.Client(base_url=self.url, timeout=timeout)

    # -- lifecycle ---------------------------------------------------------------------------

    def close(self) -> None:
        if self._owns_http:
            self.http.close()

    def __enter__(self) -> EmulatorClient:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"EmulatorClient({self.url!r})"

    # -- readiness ---------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        return self._call("GET", "/_emulator/health").json()

    def ready(self) -> dict[str, Any]:
        """The ready document (version, sites); EmulatorError with status 503 while it starts."""
        return self._call("GET", "/_emulator/ready").json()

    def wait_until_ready(self, timeout: float = 30.0, interval: float = 0.1) -> dict[str, Any]:
        """Poll ``/_emulator/ready`` until it answers 200 (for a sidecar that is still starting)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                return self.ready()
            except (httpx.TransportError, EmulatorError) as exc:
                if time.monotonic() > deadline:
                    message = f"the emulator at {self.url} was not ready after {timeout:g} s: {exc}"
                    raise TimeoutError(message) from exc
            time.sleep(interval)

    def sites(self) -> list[dict[str, Any]]:
        """The loaded sites: ``[{"name", "baseUrl", "cloudId"}, ...]``, the default site first."""
        sites: list[dict[str, Any]] = self.ready()["sites"]
        return sites

    def site(self, name: str | None = None) -> dict[str, Any]:
        """One loaded site by name; the default site when ``name`` is None."""
        sites = self.sites()
        if name is None:
            return sites[0]
        for site in sites:
            if site["name"] == name:
                return site
        known = ", ".join(s["name"] for s in sites)
        raise KeyError(f"no site named {name!r} (sites: {known})")

    def cloud_id(self, site: str | None = None) -> str:
        return str(self.site(site)["cloudId"])

    # -- control -----------------------------------------------------------------------------

    def reset(self, site: str | None = None) -> None:
        """Forget stored and pending deployments and builds, of every site or of one."""
        self._call("POST", "/_emulator/reset", params={"site": site})

    def flush(self) -> int:
        """Apply every pending write and delete now; the number applied."""
        return int(self._call("POST", "/_emulator/queue/flush").json()["applied"])

    def state(self, family: str = "deployments", **filters: Any) -> list[dict[str, Any]]:
        """Stored and pending entities of one API family (``deployments`` or ``builds``), each pipeline's newest
        first; filters: site, provider, pipeline, environment (deployments), status (pending, applied)."""
        response = self._call("GET", "/_emulator/state", params={"family": family, **filters})
        found: list[dict[str, Any]] = response.json()[family]
        return found

    def journal(self, **filters: Any) -> list[dict[str, Any]]:
        """Journal entries, newest first; filters: family, method, operation, status, provider, site, since,
        limit."""
        response = self._call("GET", "/_emulator/journal", params=filters)
        entries: list[dict[str, Any]] = response.json()["entries"]
        return entries

    def journal_count(self, **filters: Any) -> int:
        return int(self._call("GET", "/_emulator/journal/count", params=filters).json()["count"])

    def clear_journal(self) -> None:
        self._call("DELETE", "/_emulator/journal")

    # -- credentials and clients for the code under test -------------------------------------

    def connect_auth(
        self, app: str = DEFAULT_APP, site: str | None = None, shared_secret: str | None = None
    ) -> ConnectAuth:
        """A ``ConnectAuth`` for an app installed on ``site`` (the default site when None).

        The control surface never reveals secrets: pass the app's ``sharedSecret`` from your fixture. It
        defaults to the documented secret of the built-in default site's ``emulator-app``.
        """
        if shared_secret is None:
            if app != DEFAULT_APP:
                raise ValueError(f"pass shared_secret= for app {app!r}: the emulator does not reveal secrets")
            shared_secret = DEFAULT_SHARED_SECRET
        context_path = "" if site is None else _context_path(self.site(site)["baseUrl"])
        return ConnectAuth(app, shared_secret, context_path=context_path)

    def oauth_token(self, client_id: str = DEFAULT_OAUTH_CLIENT, client_secret: str = DEFAULT_OAUTH_SECRET) -> str:
        """An OAuth 2.0 access token (client credentials grant) from ``POST /oauth/token``."""
        form = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": client_secret}
        return str(self._call("POST", "/oauth/token", data=form).json()["access_token"])

    def jira(self, auth: httpx.Auth | str | None = None, *, site: str | None = None, **kwargs: Any) -> httpx.Client:
        """An ``httpx.Client`` on the emulator for the code under test; close it (or use ``with``).

        ``auth`` is an ``httpx.Auth`` (e.g. ``connect_auth()``) or an OAuth access token (sent as Bearer).
        With ``site``, requests go to that site: its base URL's path is kept and its host is sent as the
        ``Host`` header, which is how the emulator tells sites apart.
        """
        base_url = self.url
        headers: dict[str, str] = dict(kwargs.pop("headers", None) or {})
        if site is not None:
            site_url = urlsplit(self.site(site)["baseUrl"])
            base_url += site_url.path.rstrip("/")
            headers.setdefault("Host", site_url.netloc)
        if isinstance(auth, str):
            auth = BearerAuth(auth)
        kwargs.setdefault("timeout", 10.0)
        return httpx.Client(base_url=base_url, auth=auth, headers=headers, **kwargs)

    # -- plumbing ----------------------------------------------------------------------------

    def _call(
        self, method: str, path: str, *, params: Mapping[str, Any] | None = None, **kwargs: Any
    ) -> httpx.Response:
        query = {name: _param(value) for name, value in (params or {}).items() if value is not None}
        if path.startswith("/_emulator/"):
            headers = kwargs.setdefault("headers", {})
            if method not in ("GET", "HEAD"):
                headers.setdefault("Content-Type", JSON)
            if self.control_token is not None:
                headers.setdefault(CONTROL_TOKEN_HEADER, self.control_token)
        response = self.http.request(method, self.url + path, params=query, **kwargs)
        if response.is_error:
            raise EmulatorError(
                f"{method} {path} answered {response.status_code}: {response.text[:500]}", response=response
            )
        return response


def _context_path(base_url: str) -> str:
    return urlsplit(base_url).path.rstrip("/")


def _param(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)
