from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx

from emulator.config import Settings
from emulator.domain.clock import ManualClock
from emulator.server import ThreadedServer
from tests.helpers import JSON_TYPE, SITES


def live_server(**settings: Any) -> Iterator[ThreadedServer]:
    """A real server on a free port with the test sites, on a manual clock started at the real time
    (atlassian-jwt stamps tokens with the real time)."""
    clock = ManualClock(start=float(int(time.time())))
    with ThreadedServer(Settings(port=0, fixtures=SITES, **settings), clock=clock) as running:
        yield running


def reset_client(server: ThreadedServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=5) as client:
        client.post("/_emulator/reset", headers=JSON_TYPE)
        yield client
