"""Replay a corpus recorded by ``recorder.py`` against the working tree's code, and report every difference.

    python -m tests.differential.replay CORPUS [--show N]

Each recorded app is rebuilt from its recorded settings on a manual clock; its requests are sent to it in
their recorded order, each at its recorded clock time, and each answer is compared with the recorded one
(status, headers, body), after replacing what is random by design: error trace ids, minted tokens, and
measured latencies. Exit status 0 when nothing differs.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import re
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

from emulator.app import create_app
from emulator.config import Settings
from emulator.domain.clock import ManualClock

ROOT = Path(__file__).resolve().parents[2]
_RANDOM = [
    (re.compile(rb"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+"), b"<jwt>"),
    (re.compile(rb"\b[0-9a-f]{32}\b"), b"<trace-id>"),
    (re.compile(rb'"latencyMs":\s*[0-9.e-]+'), b'"latencyMs":0'),
    (re.compile(rb'"version":"[0-9]+\.[0-9]+\.[0-9]+"'), b'"version":"<version>"'),  # the release, not behaviour
]
_SKIPPED_HEADERS = {b"date", b"server", b"content-length"}  # the body is compared itself


def _unb64(text: str) -> bytes:
    return base64.b64decode(text)


def _normal(data: bytes) -> bytes:
    for pattern, replacement in _RANDOM:
        data = pattern.sub(replacement, data)
    return data


def _headers(pairs: list[list[str]]) -> list[tuple[bytes, bytes]]:
    kept = [(_unb64(k).lower(), _normal(_unb64(v))) for k, v in pairs]
    return sorted((k, v) for k, v in kept if k not in _SKIPPED_HEADERS)


def _settings(recorded: dict[str, Any], old_root: str) -> Settings | None:
    if recorded.get("data_dir"):
        return None  # durable state lives in folders that are gone
    values = dict(recorded)
    fixtures = values.get("fixtures")
    if fixtures and old_root and fixtures.startswith(old_root):
        values["fixtures"] = str(ROOT) + fixtures[len(old_root) :]
    return Settings(**values)


async def _send(app: Any, record: dict[str, Any]) -> tuple[int, list[list[str]], bytes]:
    body = _unb64(record["body"])
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": record["method"],
        "scheme": "http",
        "path": record["path"],
        "raw_path": _unb64(record["raw_path"]),
        "query_string": _unb64(record["query"]),
        "root_path": "",
        "headers": [(_unb64(k), _unb64(v)) for k, v in record["headers"]],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8080),
    }
    sent = False
    status, headers, chunks = 0, [], []

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status, headers
        if message["type"] == "http.response.start":
            status = message["status"]
            headers = [[base64.b64encode(k).decode(), base64.b64encode(v).decode()] for k, v in message["headers"]]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await asyncio.wait_for(app(scope, receive, send), 30)
    return status, headers, b"".join(chunks)


async def replay(corpus: Path, old_root: str, show: int) -> int:
    settings: dict[int, dict[str, Any]] = {}
    requests: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for line in corpus.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        if "settings" in record:
            settings[record["app"]] = record
        else:
            requests[record["app"]].append(record)
    compared = differing = skipped = 0
    for app_id, head in settings.items():
        built = _settings(head["settings"], old_root)
        if built is None:
            skipped += len(requests[app_id])
            continue
        clock = ManualClock(head["start"])
        app = create_app(built, clock=clock)
        app.state.emulator.ready = True
        for record in requests[app_id]:
            if record["status"] in (0, 499):
                skipped += 1  # the client left mid-request: the recorded body is only part of what was sent
                continue
            clock.set(record["at"])
            status, headers, body = await _send(app, record)
            compared += 1
            want = (record["status"], _headers(record["response_headers"]), _normal(_unb64(record["response_body"])))
            got = (status, _headers(headers), _normal(body))
            if want != got:
                differing += 1
                if differing <= show:
                    print(f"--- app {app_id} request {record['seq']}: {record['method']} {record['path']}")
                    print(f"    recorded: {want[0]} {want[1]!r}\n              {want[2][:600]!r}")
                    print(f"    now:      {got[0]} {got[1]!r}\n              {got[2][:600]!r}")
    print(f"{compared} answers compared, {differing} differ, {skipped} skipped (durable state, or the client left)")
    return 1 if differing else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--old-root", default="", help="the recorded tree's root, to find its fixture files here")
    parser.add_argument("--show", type=int, default=20, help="how many differences to print")
    args = parser.parse_args(argv)
    return asyncio.run(replay(args.corpus, args.old_root, args.show))


if __name__ == "__main__":
    sys.exit(main())
