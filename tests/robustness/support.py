"""Tools of the robustness suite: raw HTTP, an independent signer, store snapshots, error-shape checks.

Everything here talks to a real emulator (``ThreadedServer``) on 127.0.0.1 only. Requests that an HTTP
library would "fix" (``..`` segments, duplicated or non-ASCII headers, lying ``Content-Length``) go
through ``raw_request``, which writes the bytes exactly as given on a fresh TCP connection.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import logging
import socket
import threading
import time
import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote_from_bytes, unquote_to_bytes

import jwt

from emulator.server import ThreadedServer
from tests.factories import deployment_data
from tests.helpers import CLIENT_SECRETS, MAIN_CLOUD, SECRETS

HOST = b"jira.test"  # the site "main" of tests/data/sites.json
SITE_BASE = "/rest/deployments/0.1"
GATEWAY_BASE = f"/jira/deployments/0.1/cloud/{MAIN_CLOUD}"
FAMILIES = ("site", "gateway")
# What uvicorn (httptools) answers itself, before the emulator sees the request.
SERVER_LEVEL_400 = b"Invalid HTTP request received."

UNAUTHORIZED = "Missing a JWT token, or token is invalid."
# What this suite sent and what the servers answered, reported at the end of the run (conftest.py).
STATS = {"raw requests": 0, "Jira-surface calls observed": 0, "load requests": 0}
GATEWAY_TEXTS = {401: "Unauthorized", 403: "Forbidden", 404: "Not Found"}


JSON_HEADER = [(b"Content-Type", b"application/json")]  # the control surface requires it of a POST

# -- raw HTTP ------------------------------------------------------------------------------------------


@dataclass
class RawResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        return next((v for k, v in self.headers if k == wanted), None)

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def server_level(self) -> bool:
        """A refusal uvicorn wrote itself (malformed HTTP), not an answer of the emulator."""
        return self.status == 400 and self.body == SERVER_LEVEL_400 and self.header("x-emulator-reason") is None

    def __repr__(self) -> str:
        return f"RawResponse({self.status}, {self.headers!r}, {self.body[:300]!r})"


def raw_request(
    port: int,
    method: bytes,
    target: bytes,
    headers: Sequence[tuple[bytes, bytes]] = (),
    body: bytes = b"",
    *,
    host: bytes | None = HOST,
    content_length: bool = True,
    timeout: float = 20.0,
) -> RawResponse | None:
    """Send one HTTP/1.1 request byte for byte; the response, or None when the server closed without one."""
    head = [method + b" " + target + b" HTTP/1.1"]
    if host is not None:
        head.append(b"Host: " + host)
    head.append(b"Connection: close")
    if content_length:
        head.append(b"Content-Length: " + str(len(body)).encode())
    head += [name + b": " + value for name, value in headers]
    data = b"\r\n".join(head) + b"\r\n\r\n" + body
    STATS["raw requests"] += 1
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        try:
            sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered early (413) and closed; its answer may still be readable
        received = bytearray()
        try:
            while chunk := sock.recv(256 * 1024):
                received += chunk
        except ConnectionResetError:
            pass
    if not received:
        return None
    return parse_response(bytes(received), head_only=method == b"HEAD")


def parse_response(data: bytes, *, head_only: bool = False) -> RawResponse:
    head, _, rest = data.partition(b"\r\n\r\n")
    while head.startswith(b"HTTP/1.1 1"):  # an interim answer (100 Continue): the real one follows
        head, _, rest = rest.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    headers = []
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        headers.append((name.strip().lower().decode("latin-1"), value.strip().decode("latin-1")))
    response = RawResponse(status, headers, b"")
    if head_only:
        return response
    if (response.header("transfer-encoding") or "").lower() == "chunked":
        body = bytearray()
        while rest:
            size_line, _, rest = rest.partition(b"\r\n")
            size = int(size_line.split(b";")[0], 16)
            if size == 0:
                break
            body += rest[:size]
            rest = rest[size + 2 :]
        response.body = bytes(body)
    else:
        length = response.header("content-length")
        response.body = rest if length is None else rest[: int(length)]
    return response


# -- an independent Connect signer (auth.md section 2), for paths and queries no client library sends --


def _encode(data: bytes) -> str:
    return quote_from_bytes(data, safe="")  # RFC 3986: only A-Z a-z 0-9 - . _ ~ stay


def canonical_query(raw_query: bytes) -> str:
    groups: dict[bytes, list[bytes]] = {}
    for pair in raw_query.split(b"&"):
        if not pair:
            continue
        name, _, value = pair.partition(b"=")
        name, value = (unquote_to_bytes(part.replace(b"+", b" ")) for part in (name, value))
        if name != b"jwt":
            groups.setdefault(name, []).append(value)

    def utf16(value: bytes) -> bytes:
        return value.decode("utf-8", "surrogateescape").encode("utf-16-be", "surrogatepass")

    pairs = [
        (_encode(name), ",".join(_encode(v) for v in sorted(values, key=utf16))) for name, values in groups.items()
    ]
    return "&".join(f"{n}={v}" for n, v in sorted(pairs, key=lambda p: f"{p[0]} {p[1]}"))


def canonical_path(raw_path: bytes) -> str:
    path = raw_path.decode("ascii")
    if path.endswith("/"):
        path = path[:-1]
    return (path or "/").replace("&", "%26")


def qsh(method: str, target: bytes) -> str:
    """The query string hash of a site-relative request target (path and query, still percent-encoded)."""
    path, _, query = target.partition(b"?")
    canonical = f"{method.upper()}&{canonical_path(path)}&{canonical_query(query)}"
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


def connect_token(
    method: str,
    target: bytes | str,
    *,
    now: float,
    app: str = "full-app",
    secret: str | None = None,
    algorithm: str = "HS256",
    drop: Iterable[str] = (),
    **claims: Any,
) -> str:
    """A Connect JWT for ``method target``; ``claims`` override (or add to) iss, iat, exp and qsh."""
    raw_target = target.encode() if isinstance(target, str) else target
    payload: dict[str, Any] = {"iss": app, "iat": int(now), "exp": int(now) + 60, "qsh": qsh(method, raw_target)}
    payload.update(claims)
    for name in drop:
        payload.pop(name, None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jwt.InsecureKeyLengthWarning)
        return jwt.encode(payload, secret or SECRETS[app], algorithm=algorithm)


def jwt_header(method: str, target: bytes | str, *, now: float, app: str = "full-app") -> tuple[bytes, bytes]:
    return (b"Authorization", b"JWT " + connect_token(method, target, now=now, app=app).encode())


# -- snapshots of the store -----------------------------------------------------------------------------


Snapshot = tuple[dict[Any, Any], int]


def snapshot(server: ThreadedServer) -> Snapshot:
    """Everything applied (per partition and key: updateSequenceNumber, data, properties) and the queue length.

    Read from the test thread while no request is in flight: the event loop is idle, nothing mutates.
    """
    service = server.emulator.service
    for _ in range(100):
        try:
            records = {
                ((site, provider), rec.key): (rec.update_sequence_number, copy.deepcopy(rec.data), dict(rec.properties))
                for _, site, provider, rec in service.records()
            }
            return records, sum(1 for _ in service.pending())
        except RuntimeError:  # "dictionary changed size during iteration": the applier was running
            time.sleep(0.01)
    raise AssertionError("the store never stood still long enough to be read")


def describe_difference(before: Snapshot, after: Snapshot) -> str:
    gone = [k for k in before[0] if k not in after[0]]
    new = [k for k in after[0] if k not in before[0]]
    changed = [k for k in before[0] if k in after[0] and before[0][k] != after[0][k]]
    return f"removed {gone[:5]}, added {new[:5]}, changed {changed[:5]}, queue {before[1]} -> {after[1]}"


# -- 5xx and tracebacks the client may never see (e.g. after it hung up) --------------------------------


@dataclass
class FailureWatch:
    """Every call the Jira surface answered with a 5xx, and every log record with a traceback."""

    calls: list[str] = field(default_factory=list)
    tracebacks: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def observe(self, call: Any) -> None:
        STATS["Jira-surface calls observed"] += 1
        if call.status >= 500:
            with self.lock:
                self.calls.append(f"{call.status} {call.method} {call.raw_path[:200]} ({call.reason})")

    def take(self) -> list[str]:
        with self.lock:
            found = self.calls + self.tracebacks
            self.calls, self.tracebacks = [], []
        return found


class _TracebackHandler(logging.Handler):
    def __init__(self, watch: FailureWatch) -> None:
        super().__init__(logging.ERROR)
        self.watch = watch

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info:
            with self.watch.lock:
                self.watch.tracebacks.append(f"{record.name}: {record.getMessage()[:300]}")


@contextlib.contextmanager
def watch_failures(server: ThreadedServer) -> Iterator[FailureWatch]:
    watch = FailureWatch()
    server.emulator.jira.observers.append(watch.observe)
    handler = _TracebackHandler(watch)
    loggers = [logging.getLogger("emulator"), logging.getLogger("uvicorn.error")]
    for logger in loggers:
        logger.addHandler(handler)
    try:
        yield watch
    finally:
        for logger in loggers:
            logger.removeHandler(handler)
        server.emulator.jira.observers.remove(watch.observe)


# -- error shapes ---------------------------------------------------------------------------------------


def assert_site_error_body(body: bytes, status: int) -> None:
    """Jira's shape on the site family: a bare, non-empty JSON array of {"message"[, "errorTraceId"]}."""
    document = json.loads(body)
    assert isinstance(document, list) and document, f"{status}: not a non-empty array: {body[:300]!r}"
    for item in document:
        assert isinstance(item, dict) and isinstance(item.get("message"), str), body[:300]
        assert set(item) <= {"message", "errorTraceId"}, body[:300]
    if status == 401:
        assert document == [{"message": UNAUTHORIZED}]


def assert_gateway_error_body(body: bytes, status: int) -> None:
    assert json.loads(body) == {"code": status, "message": GATEWAY_TEXTS[status]}, body[:300]


def assert_refusal(
    status: int, reason: str | None, body: bytes, family: str, *, method: str = "GET", gateway_shape: bool | None = None
) -> None:
    """A documented 4xx of the emulator: the family's body, and the reason in X-Emulator-Reason."""
    assert 400 <= status < 500, f"not a 4xx: {status} {body[:300]!r}"
    assert reason, f"{status} without X-Emulator-Reason: {body[:300]!r}"
    if method == "HEAD":
        return
    if gateway_shape is None:
        # the gateway's own refusals (401, 403, an unknown cloudId's 404) have its {"code", "message"} shape;
        # Jira's errors behind it (400, 404 for a deployment, 405, 413) keep the bare array
        gateway_shape = family == "gateway" and (status in (401, 403) or (status == 404 and body.startswith(b"{")))
    if gateway_shape:
        assert_gateway_error_body(body, status)
    else:
        assert_site_error_body(body, status)


def check_raw_refusal(
    response: RawResponse | None, family: str, *, method: str = "GET", server_level_ok: bool = False
) -> None:
    """A raw answer that must be a refusal: the emulator's documented 4xx, or (when allowed) uvicorn's own 400."""
    if response is None:
        assert server_level_ok, "the server closed the connection without an answer"
        return
    if response.server_level:
        assert server_level_ok, f"uvicorn refused the request itself: {response!r}"
        return
    assert_refusal(response.status, response.header("x-emulator-reason"), response.body, family, method=method)


def oauth_token(base_url: str, client_id: str = "ci-bot") -> str:
    import httpx

    fields = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": CLIENT_SECRETS[client_id]}
    response = httpx.post(f"{base_url}/oauth/token", data=fields, timeout=10)
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


# -- one running emulator, as the tests drive it --------------------------------------------------------


class Emu:
    """A running emulator with the fixture sites, and what the tests need to talk to it."""

    def __init__(self, server: ThreadedServer, watch: FailureWatch) -> None:
        self.server = server
        self.watch = watch
        self.port = server.port
        self.url = server.url
        self.service = server.emulator.service
        self.clock = server.emulator.clock
        self._bearer: str | None = None

    def now(self) -> float:
        return float(self.clock.now())

    @property
    def bearer(self) -> str:
        if self._bearer is None:
            self._bearer = oauth_token(self.url)
        return self._bearer

    @staticmethod
    def prefix(family: str) -> str:
        return SITE_BASE if family == "site" else GATEWAY_BASE

    def authorization(self, family: str, method: str, target: bytes, app: str = "full-app") -> tuple[bytes, bytes]:
        """A valid Authorization header for this exact request (site: a Connect JWT; gateway: Bearer)."""
        if family == "gateway":
            return (b"Authorization", b"Bearer " + self.bearer.encode())
        return jwt_header(method, target, now=self.now(), app=app)

    def send(
        self,
        family: str,
        method: str,
        suffix: bytes | str,
        *,
        body: bytes = b"",
        headers: Sequence[tuple[bytes, bytes]] = (),
        signed: bool = True,
        **kwargs: Any,
    ) -> RawResponse | None:
        """``method prefix+suffix`` (suffix may carry a query), signed for exactly that target unless told not to."""
        target = self.prefix(family).encode() + (suffix.encode() if isinstance(suffix, str) else suffix)
        auth = [self.authorization(family, method, target)] if signed else []
        return raw_request(self.port, method.encode(), target, [*auth, *headers], body, **kwargs)

    def snapshot(self) -> Snapshot:
        return snapshot(self.server)

    def failures(self, wait: float = 0.0) -> list[str]:
        """5xx answers and logged tracebacks since the last call (the client may never have seen them).

        The emulator logs and observes a call before it answers, so after an answer nothing is late; ``wait``
        is for calls whose client hung up.
        """
        time.sleep(wait)
        return self.watch.take()

    def flush(self) -> None:
        raw_request(self.port, b"POST", b"/_emulator/queue/flush", JSON_HEADER, host=b"127.0.0.1")

    def reset(self) -> None:
        raw_request(self.port, b"POST", b"/_emulator/reset", JSON_HEADER, host=b"127.0.0.1")
        self.watch.take()


# -- known deployments under every provider ------------------------------------------------------------

SEED_PROPERTIES = {"robust-seed": "keep-9f3a", "team": "seed"}
SEED_PIPELINE = "robust-seed"
# (family, app) of every provider the seeds go to: two Connect apps and the OAuth client ci-bot
SEED_PROVIDERS = [("site", "full-app"), ("site", "admin-app"), ("gateway", "ci-bot")]


def seed(emu: Emu) -> None:
    """Reset, then store two deployments per provider (one of them gated), with SEED_PROPERTIES."""
    emu.reset()
    deployments = [
        deployment_data(SEED_PIPELINE, "prod", 1, usn=5),
        deployment_data(SEED_PIPELINE, "prod", 2, usn=5, gating=True),
    ]
    body = json.dumps({"deployments": deployments, "properties": SEED_PROPERTIES}).encode()
    for family, app in SEED_PROVIDERS:
        target = emu.prefix(family).encode() + b"/bulk"
        auth = emu.authorization(family, "POST", target, app=app)
        response = raw_request(emu.port, b"POST", target, [auth], body)
        assert response is not None and response.status == 202, response
        assert len(response.json()["acceptedDeployments"]) == 2, response
    emu.flush()
    records, pending = emu.snapshot()
    assert len(records) == 6 and pending == 0, records.keys()
