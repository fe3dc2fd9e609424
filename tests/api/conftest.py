from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from emulator.app import create_app
from emulator.config import Settings
from emulator.domain.clock import ManualClock
from tests.helpers import SITES


@pytest.fixture
def clock() -> ManualClock:
    # atlassian-jwt stamps tokens with the real time, so the manual clock starts there
    return ManualClock(start=float(int(time.time())))


@pytest.fixture
def settings() -> Settings:
    return Settings(fixtures=SITES, apply_delay=0.5, max_body_bytes=64 * 1024)


@pytest.fixture
def client(settings: Settings, clock: ManualClock) -> Iterator[TestClient]:
    app = create_app(settings, clock=clock)
    with TestClient(app, base_url="http://jira.test", raise_server_exceptions=False) as c:
        yield c
