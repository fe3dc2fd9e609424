"""No lost writes under concurrent load (issue 7, item 1), over real HTTP on 127.0.0.1.

8 clients x 60 requests (and at most 20 s), across four providers, twice: with a manual clock and an apply
delay of 0 (every write applies inside its request), and with the real clock and a delay of 50 ms (the
background applier and the requests race for the queue). After a flush the store must equal what the
reference model computes from the accepted operations in acceptance order; no 5xx; every 202 answered
maps to operations the emulator accepted, and nothing was accepted that no client was told about.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from emulator.config import Settings
from emulator.domain.clock import ManualClock
from emulator.domain.queue import DeleteByKey, DeleteByProperties
from emulator.domain.service import Applied
from emulator.server import ThreadedServer
from tests.helpers import SITES
from tests.robustness.load import run_load, verify
from tests.robustness.support import STATS, watch_failures

pytestmark = pytest.mark.e2e

CLIENTS, PER_CLIENT, SECONDS = 8, 60, 20.0


@pytest.fixture(params=["manual-clock-delay-0", "system-clock-delay-50ms"])
def server(request: pytest.FixtureRequest) -> Iterator[ThreadedServer]:
    if request.param == "manual-clock-delay-0":
        settings, clock = Settings(port=0, fixtures=SITES, apply_delay=0), ManualClock(start=float(int(time.time())))
    else:
        settings, clock = Settings(port=0, fixtures=SITES, apply_delay=0.05), None  # None: the SystemClock
    with ThreadedServer(settings, clock=clock) as running:
        yield running


def test_no_accepted_write_is_lost_under_concurrent_load(server: ThreadedServer) -> None:
    with watch_failures(server) as watch:
        outcome, accepted, before = run_load(server, clients=CLIENTS, per_client=PER_CLIENT, seconds=SECONDS)
        verdict = verify(server, outcome, accepted, before)
        STATS["load requests"] += outcome.requests
        assert watch.take() == [], "a 5xx or a traceback on the server"
    assert outcome.transport_errors == []
    assert outcome.server_errors == 0, outcome.statuses
    assert outcome.unexpected == []
    assert outcome.requests >= CLIENTS * 10, f"only {outcome.requests} requests in {outcome.duration:.1f} s"
    assert len(accepted) > outcome.requests // 3, "the load accepted too little to prove anything"
    assert verdict.missing_ops == [] and verdict.phantom_ops == [], verdict
    assert verdict.bad_data == []
    assert not verdict.out_of_order, "operations applied in another order than accepted"
    assert verdict.lost == [] and verdict.extra == [], verdict


def test_the_load_collides(server: ThreadedServer) -> None:
    """The key space is small on purpose: writes must be skipped as older and deletes must remove something,
    or the comparison with the model would prove little."""
    applied: list[Applied] = []
    server.emulator.service.on_apply.append(applied.append)
    try:
        outcome, accepted, before = run_load(server, clients=4, per_client=40, seconds=10, seed=11)
        verdict = verify(server, outcome, accepted, before)
    finally:
        server.emulator.service.on_apply.remove(applied.append)
    STATS["load requests"] += outcome.requests
    assert verdict.lost_writes == 0
    assert any(a.skipped for a in applied), "no write was skipped for an older updateSequenceNumber"
    assert any(a.changed and isinstance(a.pending.op, DeleteByKey) for a in applied), (
        "no delete by key removed anything"
    )
    assert any(a.changed and isinstance(a.pending.op, DeleteByProperties) for a in applied), (
        "no delete by properties removed anything"
    )
