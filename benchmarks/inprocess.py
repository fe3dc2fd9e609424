"""The per-request cost of the emulator's own code: calls straight into the ASGI app, no socket, no server.

Over HTTP a request's CPU time is mostly uvicorn's and the kernel's, the same for the emulator and the
baseline; in-process, what is left is what the emulator (and Starlette under it) does per request, which is
what to profile when the HTTP ratio is off target.

    .venv/bin/python -m benchmarks.inprocess get 20000             # signed GET of one deployment, one token
    .venv/bin/python -m benchmarks.inprocess get 20000 --fresh     # ... a new token on every request
    .venv/bin/python -m benchmarks.inprocess submit 2000           # POST /bulk of 100 deployments
    .venv/bin/python -m benchmarks.inprocess baseline 20000        # the bare Starlette static route
    .venv/bin/python -m benchmarks.inprocess get 20000 --profile --sort cumtime

It prints microseconds per request (wall clock, one event loop, nothing else running); ``--profile``
adds a cProfile table (which inflates the figures: compare profiles with profiles only).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import time
from collections.abc import Awaitable, Callable
from typing import Any

from benchmarks import payloads

Headers = list[tuple[bytes, bytes]]
HOST = (b"host", b"127.0.0.1:8080")
FLUSH_PATH = "/_emulator/queue/flush"
JSON_TYPE = (b"content-type", b"application/json")  # the control surface requires it of a POST
FLUSH_EVERY = 20  # submits between two flushes of the apply queue, so that it stays short
WARMUP = 50  # requests before the clock starts


def scope_for(method: str, path: str, headers: Headers) -> dict[str, Any]:
    """The scope uvicorn would give: raw path, no query, lower-case header names."""
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8080),
    }


async def call(app: Any, method: str, path: str, headers: Headers, body: bytes = b"") -> int:
    """One request through ``app``; its status."""
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.sleep(3600)  # a client that stays connected
        raise AssertionError("unreachable")

    messages: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    await app(scope_for(method, path, headers), receive, send)
    return int(messages[0]["status"])


def fresh_tokens(path: str, count: int) -> list[bytes]:
    """``count`` distinct Authorization headers for ``GET path`` (each its own ``jti``): no cache hits."""
    import jwt

    from emulator.auth.qsh import query_string_hash

    now = int(time.time())
    qsh = query_string_hash("GET", path, "")
    claims = {"iss": payloads.APP_KEY, "iat": now, "exp": now + payloads.TOKEN_LIFETIME, "qsh": qsh}
    return [
        f"JWT {jwt.encode({**claims, 'jti': str(i)}, payloads.SHARED_SECRET, 'HS256')}".encode() for i in range(count)
    ]


async def emulator_requests(
    mode: str, count: int, fresh: bool, tokens: int | None = None
) -> Callable[[int], Awaitable[None]]:
    """A function doing request number i of ``mode`` against a new emulator (default settings); ``fresh`` makes
    ``tokens`` tokens (by default one for each request and the warm-up's) before the first request."""
    from emulator.app import create_app
    from emulator.config import Settings

    app = create_app(Settings())
    post_headers = [HOST, (b"content-type", b"application/json")]
    post_headers.append((b"authorization", payloads.sign("POST", payloads.SUBMIT_PATH).encode()))
    parts = payloads.submit_template(100)
    usn = 1

    async def submit(i: int) -> None:
        nonlocal usn
        usn += 1
        status = await call(app, "POST", payloads.SUBMIT_PATH, post_headers, str(usn).encode().join(parts))
        assert status == 202, status
        if i % FLUSH_EVERY == 0:
            await call(app, "POST", FLUSH_PATH, [HOST, JSON_TYPE])

    await submit(0)  # the deployment every GET reads
    await call(app, "POST", FLUSH_PATH, [HOST, JSON_TYPE])
    if mode == "submit":
        return submit
    path = payloads.get_path(1)
    signed = fresh_tokens(path, tokens or count + WARMUP) if fresh else [payloads.sign("GET", path).encode()]

    async def get(i: int) -> None:
        status = await call(app, "GET", path, [HOST, (b"authorization", signed[i % len(signed)])])
        assert status == 200, status

    return get


async def baseline_requests() -> Callable[[int], Awaitable[None]]:
    """The bare Starlette static route of ``benchmarks.baseline_app``, with the same headers as a GET."""
    from benchmarks.baseline_app import starlette_app

    app = starlette_app()
    path = payloads.get_path(1)
    headers = [HOST, (b"authorization", payloads.sign("GET", path).encode())]

    async def get(i: int) -> None:
        status = await call(app, "GET", path, headers)
        assert status == 200, status

    return get


async def measure(mode: str, count: int, *, fresh: bool, profile: bool, sort: str, tokens: int | None = None) -> float:
    """Microseconds per request, over ``count`` requests after a warm-up."""
    one = await (baseline_requests() if mode == "baseline" else emulator_requests(mode, count, fresh, tokens))
    for i in range(WARMUP):
        await one(i)
    profiler = cProfile.Profile() if profile else None
    started = time.perf_counter()
    if profiler is not None:
        profiler.enable()
    for i in range(WARMUP, WARMUP + count):
        await one(i)
    if profiler is not None:
        profiler.disable()
    elapsed = time.perf_counter() - started
    if profiler is not None:
        pstats.Stats(profiler).sort_stats(sort).print_stats(40)
    return elapsed / count * 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.inprocess", description=__doc__.split("\n")[0])
    parser.add_argument("mode", choices=["get", "submit", "baseline"])
    parser.add_argument("count", type=int, nargs="?", default=20000, help="requests timed (default 20000)")
    parser.add_argument("--fresh", action="store_true", help="get: a new token for every request")
    parser.add_argument("--profile", action="store_true", help="print a cProfile table as well")
    parser.add_argument("--sort", default="tottime", help="cProfile sort key (tottime, cumtime, ...)")
    parser.add_argument("--tokens", type=int, help="get --fresh: tokens made before the first request")
    args = parser.parse_args(argv)
    micros = asyncio.run(
        measure(args.mode, args.count, fresh=args.fresh, profile=args.profile, sort=args.sort, tokens=args.tokens)
    )
    label = f"{args.mode} (fresh tokens)" if args.fresh else args.mode
    print(f"{label}: {micros:.1f} us per request")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
