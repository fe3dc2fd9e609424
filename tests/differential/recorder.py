"""Record every HTTP exchange of the suites that drive the emulator on a manual clock; replay them later.

A refactoring must not change what a client sees. This pytest plugin records, for every app built on a
``ManualClock``, each request (method, raw path, query, headers, body, the clock's time) and its answer
(status, headers, body) into a JSON-lines corpus. ``replay.py`` feeds the same requests, in the same
order and at the same clock times, to the code of the working tree and reports every answer that
differs::

    # with the code before the change (a worktree of the old commit):
    DIFF_CORPUS=/tmp/corpus.jsonl python -m pytest -p tests.differential.recorder tests/e2e tests/api \\
        tests/robustness/test_hostile_input.py tests/robustness/test_jwt_attacks.py
    # with the code after it:
    python -m tests.differential.replay /tmp/corpus.jsonl

Only apps on a manual clock are recorded: their answers depend on nothing but the requests and the
clock, so a replay is exact. Suites that load the server from several threads at once are left out
(their interleaving is not reproducible).
"""

from __future__ import annotations

import base64
import itertools
import json
import os
from dataclasses import asdict
from typing import Any

import emulator.app
import emulator.server
from emulator.domain.clock import ManualClock

_OUT = os.environ.get("DIFF_CORPUS")
_APPS = itertools.count(1)
_real_create_app = emulator.app.create_app


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


class _Recorder:
    """An ASGI wrapper that writes each HTTP exchange of one app to the corpus."""

    def __init__(self, app: Any, app_id: int, clock: ManualClock, sink: Any) -> None:
        self.app, self.app_id, self.clock, self.sink = app, app_id, clock, sink
        self.seq = itertools.count(1)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.app, name)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        at, body, status, headers, out = self.clock.now(), [], 0, [], []

        async def recv() -> Any:
            message = await receive()
            if message["type"] == "http.request":
                body.append(message.get("body", b""))
            return message

        async def snd(message: Any) -> None:
            nonlocal status, headers
            if message["type"] == "http.response.start":
                status, headers = message["status"], message.get("headers", [])
            elif message["type"] == "http.response.body":
                out.append(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, recv, snd)
        finally:
            record = {
                "app": self.app_id,
                "seq": next(self.seq),
                "at": at,
                "method": scope["method"],
                "path": scope["path"],
                "raw_path": _b64(scope.get("raw_path") or scope["path"].encode()),
                "query": _b64(scope.get("query_string", b"")),
                "headers": [[_b64(k), _b64(v)] for k, v in scope["headers"]],
                "body": _b64(b"".join(body)),
                "status": status,
                "response_headers": [[_b64(k), _b64(v)] for k, v in headers],
                "response_body": _b64(b"".join(out)),
            }
            self.sink.write(json.dumps(record) + "\n")
            self.sink.flush()


def _recording_create_app(settings: Any = None, *, clock: Any = None) -> Any:
    app = _real_create_app(settings, clock=clock)
    if _OUT is None or not isinstance(clock, ManualClock):
        return app
    app_id = next(_APPS)
    settings_json = asdict(app.state.emulator.settings)
    _SINK[0].write(json.dumps({"app": app_id, "settings": settings_json, "start": clock.now()}) + "\n")
    return _Recorder(app, app_id, clock, _SINK[0])


_SINK: list[Any] = []


def pytest_configure(config: Any) -> None:
    if _OUT is not None:
        _SINK.append(open(_OUT, "a", encoding="utf-8"))  # closed at the end of the session
        emulator.app.create_app = _recording_create_app
        emulator.server.create_app = _recording_create_app


def pytest_unconfigure(config: Any) -> None:
    for sink in _SINK:
        sink.close()
