"""Which site a request's ``Host`` names (see "where Jira is silent").

A site is named by the host name of its base URL, compared without case, whatever the port: the port says
how the emulator was reached (``:443`` and ``:80``, which Go's ``net/http`` writes for a URL spelled with
them, are no exception), and loopback names (``localhost``, ``127.0.0.1``, ``::1``) are one name. When
several sites share a host name, the one whose context path the request's path starts with answers (the
longest such), and a port equal to a site's own port breaks a tie.

A host that names no site is one of two things:

- a *site-style* host: under the same parent domain as a declared site's host (``nosuchsite.atlassian.net``
  when a site is ``acme.atlassian.net``), or a declared site's host with a path outside its context path.
  Jira has no such site: the answer is 404, and nothing is touched;
- any other host (``localhost``, an IP address, a container name such as ``emulator``, or a host of a domain
  no declared site is under): the default site (the first declared) answers, and the call says so.

Every request asks, so answers are remembered, in caches of a constant size whatever clients send: a bounded
number of answers, each for a text of at most ``CACHED_CHARS`` characters (no real host name is longer; a
longer ``Host`` is worked out each time).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from functools import lru_cache, wraps
from typing import TypeVar
from urllib.parse import urlsplit

from msgspec import Struct

_LOOPBACK = "localhost"
_DEFAULT_PORTS = {"http": 80, "https": 443}
CACHED_CHARS = 300  # texts up to this long are remembered: a DNS name has at most 253 characters
CACHED_ANSWERS = 1024  # answers remembered per function, least recently used first out

Answer = TypeVar("Answer")


def bounded_cache(function: Callable[[str], Answer]) -> Callable[[str], Answer]:
    """``function`` of one text, its answers remembered for texts of at most ``CACHED_CHARS`` characters
    (``CACHED_ANSWERS`` of them): a cache of a constant size, whatever texts clients send."""
    remembered = lru_cache(maxsize=CACHED_ANSWERS)(function)

    @wraps(function)
    def answer(text: str) -> Answer:
        return remembered(text) if len(text) <= CACHED_CHARS else function(text)

    return answer


class UnknownSite(LookupError):
    """The host is a site-style host that no site has: ``reason`` says what was asked and what exists."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class HostName(Struct, frozen=True):
    """A host as the rule compares it: the lower-case name (loopback names as ``localhost``) and the port."""

    name: str
    port: int | None

    @property
    def parent(self) -> str | None:
        """The parent domain of a name of two labels or more (``atlassian.net`` of ``acme.atlassian.net``);
        None for a single label, an IP address or a loopback name."""
        if self.name == _LOOPBACK or _is_ip(self.name) or "." not in self.name.strip("."):
            return None
        return self.name.strip(".").split(".", 1)[1]


@bounded_cache
def host_of_header(header: str) -> HostName:
    """A request's ``Host`` header (``name``, ``name:port``, ``[v6]:port``) as the rule compares it."""
    text = header.strip().lower()
    name, port = text, None
    if text.startswith("["):  # an IPv6 literal
        name, _, rest = text[1:].partition("]")
        port = _port(rest[1:]) if rest.startswith(":") else None
    elif text.count(":") == 1:
        name, _, number = text.partition(":")
        port = _port(number)
    return HostName(_canonical(name), port)


@bounded_cache
def host_of_base_url(base_url: str) -> tuple[HostName, str]:
    """A site's host, its port written out (the scheme's default when the URL names none), and its context
    path (the base URL's path without its last ``/``)."""
    parts = urlsplit(base_url)
    try:
        port = parts.port
    except ValueError:
        port = None
    port = port if port is not None else _DEFAULT_PORTS.get(parts.scheme.lower())
    return HostName(_canonical((parts.hostname or "").lower()), port), parts.path.rstrip("/")


def _canonical(name: str) -> str:
    name = name.rstrip(".")
    if name in ("localhost", "::1", "0.0.0.0", "::") or name.startswith("127.") and _is_ip(name):
        return _LOOPBACK
    return name


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def _port(text: str) -> int | None:
    return int(text) if text.isdigit() and len(text) <= 5 else None
