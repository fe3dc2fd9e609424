"""The baseline: a bare Starlette app on exactly the uvicorn settings of the emulator's CLI.

It answers the URLs the benchmarks call on the emulator, so both get byte-identical load:

- ``GET`` of any deployment (build) path: a static route answering pre-serialised DeploymentData
  (BuildData) bytes;
- ``POST /rest/deployments/0.1/bulk`` and ``/rest/builds/0.1/bulk``: reads the body, parses it with
  ``json.loads`` (nothing else) and answers 202;
- ``GET /_emulator/ready``: 200, the start-up probe.

``--raw`` serves a plain ASGI callable instead (no Starlette): the start-up floor of uvicorn itself.
``--access-log`` turns on uvicorn's access log (one line per request, its default), as a bare app runs
when nobody turns it off. Both run with the emulator CLI's garbage-collector settings (``GC_THRESHOLDS``).

    python -m benchmarks.baseline_app --host 127.0.0.1 --port 9000 [--raw] [--access-log]
"""

from __future__ import annotations

import argparse
import gc
import json
import signal
import sys
from typing import Any

READY = b'{"status":"ready"}'


def static_bodies() -> tuple[bytes, bytes]:
    """What the emulator answers to the benchmarks' GETs: deployment 1 and build 1."""
    from benchmarks.payloads import build, deployment, dumps

    return dumps(deployment(1)), dumps(build(1))


def starlette_app() -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    deployment_body, build_body = static_bodies()

    async def static(request: Request) -> Response:
        return Response(deployment_body, media_type="application/json")

    async def static_build(request: Request) -> Response:
        return Response(build_body, media_type="application/json")

    async def parse_only(request: Request) -> Response:
        json.loads(await request.body())
        return Response(b"{}", status_code=202, media_type="application/json")

    async def ready(request: Request) -> Response:
        return Response(READY, media_type="application/json")

    return Starlette(
        routes=[
            Route("/_emulator/ready", ready, methods=["GET"]),
            Route("/rest/deployments/0.1/bulk", parse_only, methods=["POST"]),
            Route("/rest/builds/0.1/bulk", parse_only, methods=["POST"]),
            # one static route each: the benchmark always reads the same deployment and the same build
            Route("/rest/deployments/0.1/pipelines/{rest:path}", static, methods=["GET"]),
            Route("/rest/builds/0.1/pipelines/{rest:path}", static_build, methods=["GET"]),
        ]
    )


def raw_app() -> Any:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(READY)).encode())]

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": READY})

    return app


# The emulator's CLI raises the collector's thresholds before its imports and freezes what start-up made
# (emulator/cli.py GC_THRESHOLDS, tune_garbage_collector); the baseline does the same, so that a ratio
# measures the emulator's own work. With Python's defaults the parse-only route answered 2,580 submits a
# second where it answers 3,070 with these (tests/test_gc_tuning.py keeps the two equal).
GC_THRESHOLDS = (50_000, 20, 10)


def main(argv: list[str] | None = None) -> int:
    gc.set_threshold(*GC_THRESHOLDS)
    parser = argparse.ArgumentParser(prog="python -m benchmarks.baseline_app")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--raw", action="store_true", help="a plain ASGI callable, no Starlette")
    parser.add_argument("--access-log", action="store_true", help="uvicorn's access log on, at level info")
    args = parser.parse_args(argv)
    import uvicorn

    app = raw_app() if args.raw else starlette_app()
    gc.freeze()  # as tune_garbage_collector: start-up's objects stay out of every collection
    # the same exit handling and uvicorn.run arguments as emulator/cli.py serve(), but for ws: a bare app runs
    # with uvicorn's default and loads its WebSocket implementation, which the emulator, serving no WebSocket
    # endpoint, does not (ws="none"); only the start-up row sees the difference (docs/performance.md)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    signal.signal(signal.SIGINT, lambda *_: sys.exit(130))
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_level="info" if args.access_log else "warning",
        access_log=args.access_log,
        lifespan="on",
        timeout_graceful_shutdown=1,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
