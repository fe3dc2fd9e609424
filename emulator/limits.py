"""Connection limits: uvicorn's httptools protocol with a header timeout, a header size limit, a bound on
open connections and on pipelined requests; and the open-file limit raised at start.

uvicorn (httptools) closes a connection only when it has been idle for ``timeout_keep_alive`` after an
answer. A client that opens a connection and never finishes its request head keeps it forever, a request
head of any size is read to its end, and connections are accepted until the process runs out of file
descriptors, at which point even the readiness probe cannot connect. ``LimitedHttpToolsProtocol`` adds:

- **a header timeout**: the request line and headers must arrive within ``header_timeout`` seconds of the
  connection opening (first request) or of their first byte (later requests). Then a client that sent part
  of a head gets ``408`` and the connection closes; one that sent nothing is closed without an answer, as
  an idle keep-alive connection is.
- **a header size limit**: past ``max_header_bytes`` of request line and headers, ``431`` and the
  connection closes; the rest is never read.
- **a bound on open connections**: past ``max_connections`` (lowered to fit the open-file limit), the
  connection that has waited longest with nothing in progress (a slow or idle client) is closed to make
  room; when every connection has a request in progress, the new one is answered ``503`` with
  ``Retry-After: 1`` and closed. The probes keep working whatever slow clients hold.
- **a bound on pipelined requests**: at most ``MAX_PIPELINED`` requests wait behind the one being answered;
  past that the connection stops reading, answers what it holds and closes (a client that pipelines must
  resend what was not answered, RFC 9112 section 9.3.2). A client that pipelines requests and never reads
  the answers thus holds a bounded amount of memory, not everything it manages to send.

A refusal is JSON ``{"error": ...}`` with the reason in ``X-Emulator-Reason``, as the emulator's own are.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any, ClassVar

import uvicorn
from msgspec import Struct
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from emulator.config import Settings

log = logging.getLogger("emulator.limits")

MAX_PIPELINED = 32  # requests queued behind the one being answered, per connection
FD_RESERVE = 64  # file descriptors kept for everything but client connections (listener, logs, data dir)
OPEN_FILES_CEILING = 1 << 20  # never ask for more than this, even when the hard limit is unlimited
LINGER_SECONDS = 1.0  # after a refusal, how long the client's unread bytes are read and discarded ...
LINGER_BYTES = 4 * 1024 * 1024  # ... and how many, at most
_SLICE = 16 * 1024  # a request head is fed to the parser in pieces of at most this, to stop at the limit
_HEAD_END = b"\r\n\r\n"  # the blank line that ends a request head
_STATUS_TEXT = {408: "Request Timeout", 431: "Request Header Fields Too Large", 503: "Service Unavailable"}


class Limits(Struct, frozen=True):
    header_timeout: float = 10.0
    max_header_bytes: int = 64 * 1024
    max_connections: int = 1024


def refusal_bytes(status: int, error: str, reason: str, *, retry_after: int | None = None) -> bytes:
    """A whole HTTP/1.1 answer that closes the connection, for refusals made before any request is parsed."""
    body = json.dumps({"error": error}).encode("utf-8")
    head = [
        f"HTTP/1.1 {status} {_STATUS_TEXT[status]}",
        "content-type: application/json",
        f"content-length: {len(body)}",
        f"x-emulator-reason: {reason}",
        "connection: close",
    ]
    if retry_after is not None:
        head.append(f"retry-after: {retry_after}")
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


class _Tally:
    """Counts closings by cause and logs them at most once per ``period`` seconds: a flood of slow
    clients must not become a flood of log lines."""

    def __init__(self, period: float = 10.0) -> None:
        self.period = period
        self.counts: dict[str, int] = {}
        self.logged_at = 0.0

    def add(self, cause: str) -> None:
        self.counts[cause] = self.counts.get(cause, 0) + 1
        now = time.monotonic()
        if now - self.logged_at >= self.period:
            summary = ", ".join(f"{n} {what}" for what, n in sorted(self.counts.items()))
            log.warning("connection limits: %s", summary)
            self.counts.clear()
            self.logged_at = now


_tally = _Tally()


async def over_capacity(scope: Any, receive: Any, send: Any) -> None:
    """The app of a connection accepted past ``max_connections`` while every other one was busy."""
    body = json.dumps({"error": "the emulator has as many connections as it takes open; retry"}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"x-emulator-reason", b"connection limit reached (--max-connections), every connection busy"),
        (b"retry-after", b"1"),
        (b"connection", b"close"),
    ]
    await send({"type": "http.response.start", "status": 503, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the limits of this module; ``limits`` is set by ``protocol_class``."""

    limits: ClassVar[Limits] = Limits()

    # -- connection ------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        now = self.loop.time()
        self.head_bytes: int | None = 0  # bytes of the request head read so far; None while a body is read
        self.head_since: float | None = now  # when the wait for the current head began; None: no head due
        self.idle_since = now  # when the connection last had nothing in progress
        self.dropping = False  # reading stopped for good: what arrives is discarded
        self.discard_left: int | None = None  # after a refusal: how much more is read and discarded
        self.linger: asyncio.TimerHandle | None = None
        self.head_timer: asyncio.TimerHandle | None = self.loop.call_later(
            self.limits.header_timeout, self._on_head_timer
        )
        if len(self.connections) > self.limits.max_connections:
            self._make_room()

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        for timer in (self.head_timer, self.linger):
            if timer is not None:
                timer.cancel()
        self.head_timer = self.linger = None

    def handle_websocket_upgrade(self) -> None:
        # the transport goes to a WebSocket protocol (only where a caller of ``server_config`` asked for one):
        # this one's timer must not close it later
        self.head_since = None
        super().handle_websocket_upgrade()

    def _unsupported_upgrade_warning(self) -> None:
        # A request asking to upgrade (to a WebSocket, h2c, ...) was answered as plain HTTP, which is all the
        # emulator serves; uvicorn would warn that no WebSocket library is installed, which is not the case.
        log.debug("an upgrade request was answered as plain HTTP: the emulator serves no WebSocket endpoint")

    def busy(self) -> bool:
        """Whether a request is being answered or waits to be."""
        return bool(self.pipeline) or (self.cycle is not None and not self.cycle.response_complete)

    def _make_room(self) -> None:
        """Past the bound: close the connection idle the longest, or answer this one 503."""
        idle: list[LimitedHttpToolsProtocol] = []
        closing = 0
        for other in self.connections:
            if other is self or not isinstance(other, LimitedHttpToolsProtocol):
                continue
            if other.transport.is_closing():
                closing += 1
            elif not other.busy():
                idle.append(other)
        if len(self.connections) - closing <= self.limits.max_connections:
            return
        if idle:
            min(idle, key=lambda c: c.idle_since).transport.close()
            _tally.add("idle connections closed for new ones (--max-connections)")
        else:
            self.app = over_capacity
            _tally.add("connections answered 503 (--max-connections, all busy)")

    # -- reading the head ------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        if self.dropping:
            if self.discard_left is not None:
                self.discard_left -= len(data)
                if self.discard_left < 0:  # more than a client with a merely large head sends: cut it off
                    self.transport.close()
            return
        head = self.head_bytes
        if head is None:  # a body: uvicorn's flow control bounds what it buffers
            HttpToolsProtocol.data_received(self, data)
            return
        if head == 0 and self.head_since is None:  # the first bytes of a later request's head
            self.head_since = self.loop.time()
            if self.head_timer is None:
                self.head_timer = self.loop.call_later(self.limits.header_timeout, self._on_head_timer)
        if head + len(data) < self.limits.max_header_bytes:
            self.head_bytes = head + len(data)
            HttpToolsProtocol.data_received(self, data)
        elif head == 0 and data[:1].isalpha() and data.find(_HEAD_END, 0, self.limits.max_header_bytes) >= 0:
            # a whole head within the limit: it starts with the method and a head holds no blank line, so it
            # ends at or before this one; the large body that came with it is fed at once, not in copies
            self.head_bytes = head + len(data)
            HttpToolsProtocol.data_received(self, data)
        else:
            self._feed_near_the_limit(data)

    def _feed_near_the_limit(self, data: bytes) -> None:
        """Feed ``data`` in pieces that stop exactly at ``max_header_bytes`` of an unfinished head."""
        while data:
            if self.head_bytes is None:
                HttpToolsProtocol.data_received(self, data)
                return
            room = self.limits.max_header_bytes - self.head_bytes
            piece, data = data[: min(_SLICE, room)], data[min(_SLICE, room) :]
            self.head_bytes += len(piece)
            HttpToolsProtocol.data_received(self, piece)
            if self.transport.is_closing():
                return
            if self.head_bytes is not None and self.head_bytes >= self.limits.max_header_bytes:
                self._refuse_head_too_large()
                return

    def on_headers_complete(self) -> None:
        self.head_bytes = None
        self.head_since = None
        HttpToolsProtocol.on_headers_complete(self)
        if len(self.pipeline) > MAX_PIPELINED:
            self.pipeline.popleft()  # the request just read: not answered; the client resends it
            self._stop_reading()
            _tally.add(f"pipelined requests past {MAX_PIPELINED} refused (connection closed after the rest)")

    def on_message_complete(self) -> None:
        HttpToolsProtocol.on_message_complete(self)
        self.head_bytes = 0

    def on_response_complete(self) -> None:
        HttpToolsProtocol.on_response_complete(self)
        self.idle_since = self.loop.time()
        if self.dropping:  # uvicorn resumes reading after each answer: what would come is discarded anyway
            self.flow.pause_reading()

    # -- refusals --------------------------------------------------------------------------------

    def _stop_reading(self) -> None:
        """Read nothing more; the connection closes once the requests already read are answered."""
        self.dropping = True
        self.flow.pause_reading()
        if self.pipeline:
            self.pipeline[0][0].keep_alive = False
        elif self.cycle is not None:
            self.cycle.keep_alive = False

    def _refuse(self, status: int, error: str, reason: str) -> None:
        """Answer ``status`` and close. The close lingers (up to ``LINGER_SECONDS``, or ``LINGER_BYTES`` read
        and discarded): closing with the client's bytes unread sends a reset, which can destroy the answer
        before the client reads it."""
        if self.busy():  # an answer is owed first: no refusal can be written in front of it
            self._stop_reading()
            return
        self.dropping = True
        self.discard_left = LINGER_BYTES
        self.transport.write(refusal_bytes(status, error, reason))
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.linger = self.loop.call_later(LINGER_SECONDS, self.transport.close)

    def _refuse_head_too_large(self) -> None:
        limit = self.limits.max_header_bytes
        _tally.add("request heads over --max-header-bytes refused (431)")
        self._refuse(
            431,
            f"the request line and headers exceed {limit} bytes (--max-header-bytes); the rest was not read",
            f"request head over {limit} bytes",
        )

    def _on_head_timer(self) -> None:
        self.head_timer = None
        if self.head_since is None or self.transport.is_closing():
            return  # no head due: an idle keep-alive connection is uvicorn's to close
        now = self.loop.time()
        if self.busy():  # a request is being answered: the head's time starts once it is
            self.head_since = now
        deadline = self.head_since + self.limits.header_timeout
        if now < deadline:
            self.head_timer = self.loop.call_at(deadline, self._on_head_timer)
            return
        timeout = self.limits.header_timeout
        if not self.head_bytes:
            _tally.add("connections closed that sent no request within --header-timeout")
            self.dropping = True
            self.transport.close()
            return
        _tally.add("request heads not complete within --header-timeout (408)")
        self._refuse(
            408,
            f"the request line and headers did not arrive within {timeout:g} s (--header-timeout)",
            f"request head not complete within {timeout:g} s",
        )


def protocol_class(limits: Limits) -> type[LimitedHttpToolsProtocol]:
    """The protocol class uvicorn's ``Config(http=...)`` takes, bound to ``limits``."""
    return type("LimitedHttpToolsProtocol", (LimitedHttpToolsProtocol,), {"limits": limits})


def open_file_limit() -> int | None:
    """The soft limit on open files, or None where there is none to read (Windows)."""
    try:
        import resource
    except ImportError:
        return None
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return None if soft == resource.RLIM_INFINITY else soft


def raise_open_file_limit() -> tuple[int, int] | None:
    """Raise the soft limit on open files to the hard limit, where the process may; (before, after) when
    raised. Each connection is a file descriptor, and 1,024, a common default, is soon reached."""
    try:
        import resource
    except ImportError:
        return None
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = OPEN_FILES_CEILING if hard == resource.RLIM_INFINITY else min(hard, OPEN_FILES_CEILING)
    if soft != resource.RLIM_INFINITY and soft >= target:
        return None
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ValueError, OSError) as exc:
        log.debug("open-file limit left at %s: %s", soft, exc)
        return None
    return soft, target


def limits_for(header_timeout: float, max_header_bytes: int, max_connections: int) -> Limits:
    """The limits to serve with: ``max_connections`` lowered to what the open-file limit leaves room for."""
    files = open_file_limit()
    bound = max_connections if files is None else max(1, min(max_connections, files - FD_RESERVE))
    if bound < max_connections:
        log.info("max connections: %d, to fit the open-file limit of %d", bound, files)
    return Limits(header_timeout=header_timeout, max_header_bytes=max_header_bytes, max_connections=bound)


def server_config(app: Any, settings: Settings, **options: Any) -> uvicorn.Config:
    """uvicorn's configuration for the emulator, with this module's limits: the CLI's and ``ThreadedServer``'s."""
    limits = limits_for(settings.header_timeout, settings.max_header_bytes, settings.max_connections)
    options.setdefault("access_log", False)
    options.setdefault("lifespan", "on")
    options.setdefault("timeout_graceful_shutdown", 1)
    # Jira's REST APIs have no WebSocket endpoint: a request asking to upgrade is answered as plain HTTP,
    # and uvicorn's WebSocket implementation (a noticeable part of start-up) is never imported.
    options.setdefault("ws", "none")
    return uvicorn.Config(app, http=protocol_class(limits), **options)
