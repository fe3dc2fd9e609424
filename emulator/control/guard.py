"""The control surface's guard: what a browser sends for a page of another origin never drives ``/_emulator/``.

The control surface takes no credentials, as WireMock's and LocalStack's do not, so whatever reaches the port
can reset the emulator or install an app with its own secret. A web page can reach the port too, through
the browser of whoever runs the emulator. Three checks refuse what such a browser sends:

- **Host** must be a name the emulator answers to: loopback (``localhost``, ``*.localhost``), an IP address,
  a name without a dot (a Compose service, a network alias), the host of a site's base URL, the bound
  address, or a name in ``allowed_hosts``. A DNS-rebinding page is served under its own dotted name
  (``rebind.attacker.example``), which the browser keeps sending as ``Host`` after the name has been pointed
  at 127.0.0.1; an IP address or a dotless name cannot be rebound from the internet.
- **Origin** (sent with every cross-origin request and every same-origin POST) must be the emulator's own
  origin as the browser sees it: its host and port are those of ``Host``, or its host is listed in
  ``allowed_hosts`` (a reverse proxy in front of the dashboard). ``Sec-Fetch-Site: cross-site`` or
  ``same-site`` is refused too, except for a top-level navigation (a link to the dashboard).
- **Content-Type: application/json** is required on every call that is not a GET, HEAD or OPTIONS. A browser
  sends a cross-origin request without a CORS preflight only with ``text/plain``, a form type or no
  type; with ``application/json`` it asks first, and the preflight is refused (the emulator grants no CORS).

With ``control_token`` set, every control call also needs the token (``X-Emulator-Control-Token: <token>``
or ``Authorization: Bearer <token>``), except the probes (``health``, ``ready``: health checks send no
token) and the dashboard's three files, which hold no data; the dashboard's script takes the token from
``/_emulator/ui#token=<token>``.

A refusal is a JSON ``{"error": ...}`` with the precise reason in ``X-Emulator-Reason``: 403 for a Host or
an origin, 401 for the token, 415 for the content type. ``/openapi.json``, ``/oauth/token`` and
``/_edge/tenant_info`` are not guarded: they answer as Jira's own endpoints do, hold no emulator state, and
the token endpoint checks the client's secret.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import re
from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from emulator.api.errors import REASON_HEADER, header_safe
from emulator.config import Settings

PREFIX = "/_emulator"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# GETs that need no control token: health checks send none, and the dashboard's files hold no data
TOKEN_FREE = frozenset(
    {"/_emulator/health", "/_emulator/ready", "/_emulator/ui", "/_emulator/ui/ui.js", "/_emulator/ui/ui.css"}
)
TOKEN_HEADER = "X-Emulator-Control-Token"
_HOST = re.compile(r"(?:\[(?P<ip6>[0-9a-f:.]+)\]|(?P<name>[a-z0-9_.-]+))(?::(?P<port>[0-9]{1,5}))?")
_DEFAULT_PORTS = {"http": 80, "https": 443}
_CACHED_LENGTH = 300  # header values are remembered up to this length: longer ones, from no browser, are not

Scope = dict[str, Any]
Refusal = tuple[int, str, str]  # status, the error for the body, the reason for X-Emulator-Reason


def split_host(value: str) -> tuple[str, int | None] | None:
    """(name, port) of a ``Host`` header, lower-cased, IPv6 without its brackets; None when malformed."""
    return _split_host(value) if len(value) <= _CACHED_LENGTH else _split_host.__wrapped__(value)


@lru_cache(maxsize=512)
def _split_host(value: str) -> tuple[str, int | None] | None:
    found = _HOST.fullmatch(value.strip().lower())
    if found is None:
        return None
    name = found.group("ip6") or found.group("name").rstrip(".")
    port = found.group("port")
    return (name, int(port) if port else None) if name else None


def split_origin(value: str) -> tuple[str, str, int] | None:
    """(scheme, host name, port) of an ``Origin`` header; None for ``null`` and anything malformed."""
    return _split_origin(value) if len(value) <= _CACHED_LENGTH else _split_origin.__wrapped__(value)


@lru_cache(maxsize=256)
def _split_origin(value: str) -> tuple[str, str, int] | None:
    parts = urlsplit(value.strip().lower())
    try:
        port = parts.port or _DEFAULT_PORTS.get(parts.scheme)
    except ValueError:
        return None
    name = (parts.hostname or "").rstrip(".")
    if port is None or not name or parts.path not in ("", "/") or parts.query or parts.username is not None:
        return None
    return parts.scheme, name, port


def is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


@lru_cache(maxsize=256)
def _url_host(url: str) -> str:
    return (urlsplit(url).hostname or "").rstrip(".")


class HostPolicy:
    """The names the emulator answers to as ``Host``; see the module's docstring."""

    def __init__(self, settings: Settings, site_urls: Callable[[], Iterable[str]]) -> None:
        listed = [n.strip().lower().rstrip(".") for n in (settings.allowed_hosts or "").split(",") if n.strip()]
        self.any = "*" in listed
        self.exact = frozenset(n for n in listed if not n.startswith(".") and n != "*")
        self.domains = tuple(n for n in listed if n.startswith("."))
        self.bound = settings.host.lower().strip("[]")
        self.site_urls = site_urls
        self._fixed: dict[str, bool] = {}

    def listed(self, name: str) -> bool:
        """Whether ``allowed_hosts`` names ``name`` itself (not through ``*``)."""
        return name in self.exact or any(name.endswith(d) or name == d[1:] for d in self.domains)

    def allows(self, name: str) -> bool:
        return self.fixed(name) or any(name == _url_host(url) for url in self.site_urls())

    def fixed(self, name: str) -> bool:
        """Allowed whatever the sites are; remembered, as the same few names come with every call."""
        found = self._fixed.get(name)
        if found is None:
            found = self.any or "." not in name or name.endswith(".localhost") or is_ip(name) or name == self.bound
            found = found or self.listed(name)
            if len(self._fixed) < 512 and len(name) <= _CACHED_LENGTH:
                self._fixed[name] = found
        return found


class ControlGuard:
    """Pure ASGI middleware: checks calls under ``/_emulator`` and passes everything else through untouched."""

    def __init__(self, app: Any, *, settings: Settings, site_urls: Callable[[], Iterable[str]]) -> None:
        self.app = app
        self.hosts = HostPolicy(settings, site_urls)
        token = settings.control_token
        self.token = token.encode("utf-8") if token else None

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"].startswith(PREFIX):
            refusal = self.check(scope)
            if refusal is not None:
                await _refuse(send, *refusal)
                return
        await self.app(scope, receive, send)

    def check(self, scope: Scope) -> Refusal | None:
        headers = _headers(scope)
        return (
            self._check_host(headers.get(b"host", []))
            or self._check_origin(headers)
            or self._check_token(scope, headers)
            or self._check_content_type(scope, headers.get(b"content-type", []))
        )

    def _check_host(self, values: list[str]) -> Refusal | None:
        for value in values:
            if not value:  # no browser sends an empty Host (nor none: then there is no value at all)
                continue
            parts = split_host(value)
            if parts is None or not self.hosts.allows(parts[0]):
                return (
                    403,
                    f"the control surface does not answer to Host {_quote(value)}: a page on a name rebound to "
                    "this address must not drive it. Use localhost, an IP address or a site's host, or add the "
                    "name to --allowed-hosts (EMULATOR_ALLOWED_HOSTS)",
                    f"Host {_quote(value)} is not a name this emulator answers to (see --allowed-hosts)",
                )
        return None

    def _check_origin(self, headers: dict[bytes, list[str]]) -> Refusal | None:
        hosts = headers.get(b"host", [])
        for origin in headers.get(b"origin", []):
            if not (hosts and self._same_origin(origin, hosts[0])):
                return (
                    403,
                    f"the control surface refuses calls from pages of another origin ({_quote(origin)}); only the "
                    "emulator's own dashboard, and clients that send no Origin, may call it",
                    f"cross-origin call refused: Origin {_quote(origin)} is not this emulator",
                )
        fetch_site = headers.get(b"sec-fetch-site", [""])[0].lower()
        navigation = headers.get(b"sec-fetch-mode", [""])[0].lower() == "navigate"
        if fetch_site in ("cross-site", "same-site") and not navigation:
            return (
                403,
                "the control surface refuses calls from pages of another origin "
                f"(Sec-Fetch-Site: {fetch_site}); only the emulator's own dashboard may call it from a browser",
                f"cross-origin call refused: Sec-Fetch-Site is {fetch_site}",
            )
        return None

    def _same_origin(self, origin: str, host: str) -> bool:
        parts = split_origin(origin)
        if parts is None:
            return False
        scheme, name, port = parts
        if self.hosts.listed(name):
            return True
        own = split_host(host)
        if own is None or own[0] != name:
            return False
        # a Host without a port is the default port of the scheme the browser used (a TLS proxy: https)
        return own[1] == port if own[1] is not None else port == _DEFAULT_PORTS[scheme]

    def _check_token(self, scope: Scope, headers: dict[bytes, list[str]]) -> Refusal | None:
        if self.token is None or (scope["method"] in ("GET", "HEAD") and scope["path"] in TOKEN_FREE):
            return None
        given = headers.get(TOKEN_HEADER.lower().encode(), [None])[0]
        if given is None:
            scheme, _, value = headers.get(b"authorization", [""])[0].partition(" ")
            given = value if scheme.lower() == "bearer" else None
        if given is not None and hmac.compare_digest(given.strip().encode("latin-1"), self.token):
            return None
        what = "a wrong control token" if given is not None else "no control token"
        return (
            401,
            f"this emulator has a control token, and the call sent {what}: send it as {TOKEN_HEADER}: <token> "
            "or Authorization: Bearer <token>; the dashboard takes it as /_emulator/ui#token=<token>",
            f"{what} for the control surface (--control-token is set)",
        )

    def _check_content_type(self, scope: Scope, values: list[str]) -> Refusal | None:
        if scope["method"] in SAFE_METHODS:
            return None
        media = values[0].partition(";")[0].strip().lower() if values else ""
        if media == "application/json":
            return None
        sent = f"Content-Type {_quote(values[0])}" if values else "no Content-Type"
        return (
            415,
            f"a {scope['method']} to the control surface must say Content-Type: application/json, even without "
            f"a body; it sent {sent}. (A browser sends a cross-origin call without asking first only with "
            "another type, so such calls are refused before they do anything.)",
            f"a {scope['method']} to the control surface needs Content-Type: application/json; it sent {sent}",
        )


def _quote(value: str, limit: int = 200) -> str:
    """A header value as the refusal quotes it: repr, cut to ``limit`` characters."""
    return repr(value if len(value) <= limit else value[:limit] + "...")


_CHECKED = frozenset(
    {
        b"host",
        b"origin",
        b"sec-fetch-site",
        b"sec-fetch-mode",
        b"content-type",
        b"authorization",
        b"x-emulator-control-token",
    }
)


def _headers(scope: Scope) -> dict[bytes, list[str]]:
    """The headers the checks read, by lower-case name."""
    found: dict[bytes, list[str]] = {}
    for name, value in scope["headers"]:
        name = name.lower()
        if name in _CHECKED:
            found.setdefault(name, []).append(value.decode("latin-1"))
    return found


async def _refuse(send: Any, status: int, error: str, reason: str) -> None:
    body = json.dumps({"error": error}, ensure_ascii=False).encode("utf-8")
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode("ascii")),
        (REASON_HEADER.lower().encode("ascii"), header_safe(reason).encode("latin-1")),
        (b"cache-control", b"no-store"),
    ]
    if status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="emulator control surface"'))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
