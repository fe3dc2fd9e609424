"""One real emulator for the hostile-input and JWT suites, and helpers to prove a refusal changed nothing.

The server is session-scoped: real uvicorn on a free loopback port, the fixture sites of
``tests/data/sites.json``, a manual clock started at the current second (so tokens signed now are
valid), and an apply delay of 0 (an accepted write is visible at once, so the queue stays empty and a
snapshot of the store is the whole state). ``seeded`` puts known deployments under each provider, so
a delete that wrongly went through would show.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from emulator.config import Settings
from emulator.domain.clock import ManualClock
from emulator.server import ThreadedServer
from tests.helpers import SITES
from tests.robustness.support import STATS, Emu, seed, watch_failures


@pytest.fixture(scope="session")
def emu() -> Iterator[Emu]:
    clock = ManualClock(start=float(int(time.time())))
    with ThreadedServer(Settings(port=0, fixtures=SITES, apply_delay=0), clock=clock) as server:
        with watch_failures(server) as watch:
            yield Emu(server, watch)


@pytest.fixture(scope="module")
def seeded(emu: Emu) -> Emu:
    seed(emu)
    return emu


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if any(STATS.values()):
        counts = ", ".join(f"{n} {what}" for what, n in STATS.items())
        terminalreporter.write_line(f"robustness: {counts}")
