"""The Python load generator, used when wrk is not installed: one process, asyncio, keep-alive connections.

It reads a JSON spec (argv[1]) and prints one JSON line: requests answered, seconds, statuses. A request
is either fixed bytes (GET), a GET whose ``Authorization`` takes the next line of ``token_file`` in turn
(a new token per request), or a body template whose ``updateSequenceNumber`` placeholders get a number
that grows with every request (submit), so that every submission really replaces the stored data.

    python -m benchmarks.loadgen '{"port": 9000, "method": "GET", "path": "/...", "headers": {...},
                                   "connections": 8, "duration": 5}'
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.client import encode_request


class Connection(asyncio.Protocol):
    def __init__(self, gen: Generator) -> None:
        self.gen = gen
        self.buffer = b""
        self.transport: asyncio.Transport | None = None
        self.expected: int | None = None
        self.status = 0
        self.sent_at = 0.0
        self.closed = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.send()

    def send(self) -> None:
        assert self.transport is not None
        if time.perf_counter() >= self.gen.stop_at:
            self.transport.close()
            return
        self.sent_at = time.perf_counter()
        self.transport.write(self.gen.next_request())

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            if self.expected is None:
                end = self.buffer.find(b"\r\n\r\n")
                if end < 0:
                    return
                head = self.buffer[:end]
                self.status = int(head[9:12])
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                self.buffer = self.buffer[end + 4 :]
                self.expected = length
            if len(self.buffer) < self.expected:
                return
            self.buffer = self.buffer[self.expected :]
            self.expected = None
            self.gen.record(self.status, time.perf_counter() - self.sent_at)
            self.send()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(exc)


class Generator:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.host = spec.get("host", "127.0.0.1")
        self.port = int(spec["port"])
        self.method = spec.get("method", "GET")
        self.path = spec["path"]
        self.headers = dict(spec.get("headers", {}))
        self.parts = [p.encode() for p in spec["body_parts"]] if spec.get("body_parts") else None
        self.usn = int(spec.get("usn_start", 1))
        self.tokens = Path(spec["token_file"]).read_text().splitlines() if spec.get("token_file") else None
        self.turn = 0
        fixed = self.parts or self.tokens
        self.fixed = None if fixed else encode_request(self.method, self.path, self.host, self.port, self.headers)
        self.stop_at = 0.0
        self.requests = 0
        self.statuses: dict[int, int] = {}
        self.latencies: list[float] = []

    def next_request(self) -> bytes:
        if self.fixed is not None:
            return self.fixed
        if self.tokens:
            self.turn = (self.turn + 1) % len(self.tokens)
            headers = self.headers | {"Authorization": self.tokens[self.turn]}
            return encode_request(self.method, self.path, self.host, self.port, headers)
        self.usn += 1
        body = str(self.usn).encode().join(self.parts or [])
        return encode_request(self.method, self.path, self.host, self.port, self.headers, body)

    def record(self, status: int, latency: float) -> None:
        self.requests += 1
        self.statuses[status] = self.statuses.get(status, 0) + 1
        if len(self.latencies) < 200_000:
            self.latencies.append(latency)

    async def run(self) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        self.stop_at = time.perf_counter() + float(self.spec["duration"])
        started = time.perf_counter()
        protocols = []
        for _ in range(int(self.spec.get("connections", 8))):
            _, protocol = await loop.create_connection(lambda: Connection(self), self.host, self.port)
            protocols.append(protocol)
        await asyncio.wait_for(asyncio.gather(*(p.closed for p in protocols)), float(self.spec["duration"]) + 30)
        seconds = time.perf_counter() - started
        lat = sorted(self.latencies)

        def pct(q: float) -> float:
            return lat[min(len(lat) - 1, int(q * len(lat)))] * 1e6 if lat else 0.0

        errors = sum(n for status, n in self.statuses.items() if status >= 400)
        return {
            "requests": self.requests,
            "seconds": seconds,
            "errors": errors,
            "statuses": {str(k): v for k, v in self.statuses.items()},
            "p50_us": pct(0.5),
            "p99_us": pct(0.99),
        }


def main() -> int:
    spec = json.loads(sys.argv[1])
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:
        runner = asyncio.run
    print(json.dumps(runner(Generator(spec).run())))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
