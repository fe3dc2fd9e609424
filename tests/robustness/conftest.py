"""One real emulator for the hostile-input and JWT suites, and helpers to prove a refusal changed nothing.

The server is session-scoped: real uvicorn on a free loopback port, the fixture sites of
``tests/data/sites.json``, a manual clock started at the current second (so tokens signed now are
valid), and an apply delay of 0 (an accepted write is visible at once, so the queue stays empty and a
snapshot of the store is the whole state). ``seeded`` puts known deployments under each provider, so
a delete that wrongly went through would show.

The server takes request heads of up to 2 MiB (``--max-header-bytes``; 64 KiB by default), so that the
emulator's own answers to megabyte headers and tokens are still tried here; the default limit, which
refuses them with a 431 before the emulator sees them, is tested in ``tests/reliability``.
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

HEAD_LIMIT = 2 * 1024 * 1024


@pytest.fixture(scope="session")
def emu() -> Iterator[Emu]:
    clock = ManualClock(start=float(int(time.time())))
    settings = Settings(port=0, fixtures=SITES, apply_delay=0, max_header_bytes=HEAD_LIMIT)
    with ThreadedServer(settings, clock=clock) as server:
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
