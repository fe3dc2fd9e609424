"""Issue 21, item 8: the emulator's memory is bounded by what it stores, whatever clients send.

Rounds of distinct entities, each deleted again, must leave nothing behind; nor must Host headers no site has,
polls of deployments that are not there, or sites and apps removed. Memory is measured over the whole
process, with the emulator in it (its ASGI app, lifespan and all, called by httpx in the test's event loop):

- as the blocks the process holds (``sys.getallocatedblocks``, after a full collection): a thing remembered
  per entity or per poll is a few blocks each, while a hash table that doubles (Python's table of interned
  strings, say) is one block however large, and must not make the count move;
- as the bytes allocated and kept (``tracemalloc``) where what is kept is a few large blocks: Host headers.

Each test fails on the code before the bounds: the contract checker kept every pipeline and environment
(and build pipeline) it ever saw, and every polled key, until a reset; the site resolution kept up to 1,024
Host headers of any length, in two caches; a removed site's rate limit and contract report stayed, and so
did an uninstalled app's highest numbers.
"""

from __future__ import annotations

import asyncio
import gc
import json
import sys
import time
import tracemalloc
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from emulator.app import create_app
from emulator.config import Settings
from emulator.domain.clock import ManualClock
from emulator.domain.model import DeploymentKey, Provider
from tests.factories import deployment_data
from tests.helpers import BASE, JSON_TYPE, SITES, auth

BUILDS = "/rest/builds/0.1"
ROUNDS = 6  # the first fills what is bounded by a constant (the journal, caches); the others must add nothing
BATCHES = 20  # requests of 100 entities per round, each deleted again before the next: 15 of deployments, 5 of builds
Client = httpx.AsyncClient


def run(scenario: Callable[[Client, Any], Awaitable[None]]) -> None:
    """``scenario(client, emulator)`` against a new emulator on the test fixtures, with a frozen clock: writes
    apply at once (apply delay 0), and no poll ever grows old. The journal keeps 20 calls, so that a round
    fills it."""

    async def main() -> None:
        clock = ManualClock(start=float(int(time.time())))
        app = create_app(Settings(fixtures=SITES, apply_delay=0, journal_size=20), clock=clock)
        async with app.router.lifespan_context(app):
            async with Client(transport=httpx.ASGITransport(app=app), base_url="http://jira.test") as client:
                await scenario(client, app.state.emulator)

    asyncio.run(main())


@contextmanager
def traced() -> Iterator[None]:
    tracemalloc.start()
    try:
        yield
    finally:
        tracemalloc.stop()


def retained() -> tuple[int, int]:
    """(blocks, bytes) allocated since ``tracemalloc`` started and still referenced, after a full collection."""
    gc.collect()
    stats = tracemalloc.take_snapshot().statistics("filename")
    return sum(stat.count for stat in stats), sum(stat.size for stat in stats)


def blocks() -> int:
    """The memory blocks the whole process holds, after a full collection (which also empties the free lists
    of tuples, dicts, floats...). Free of tracemalloc's cost, which slows the emulator tenfold."""
    gc.collect()
    return sys.getallocatedblocks()


def build_data(pipeline: str, number: int) -> dict[str, Any]:
    return {
        "pipelineId": pipeline,
        "buildNumber": number,
        "updateSequenceNumber": 1,
        "displayName": f"#{number}",
        "url": f"https://ci.example.com/{number}",
        "state": "successful",
        "lastUpdated": "2026-11-01T10:00:00Z",
        "issueKeys": ["ABC-1"],
    }


def batches(round_: int) -> list[tuple[str, bytes]]:
    """A round's requests: (API path, body), each of 100 entities of their own pipeline (and environment),
    all with the property the round's deletes name. Made before memory is traced: the test's own work is
    not the emulator's."""
    out = []
    for batch in range(BATCHES):
        names = [f"r{round_}-{batch}-{i}" for i in range(100)]
        if batch % 4:
            items = {"deployments": [deployment_data(f"p-{n}", f"e-{n}", 7) for n in names]}
            path = BASE
        else:
            items, path = {"builds": [build_data(f"b-{n}", 7) for n in names]}, BUILDS
        out.append((path, json.dumps({**items, "properties": {"batch": "doomed"}}).encode()))
    return out


def signed() -> dict[tuple[str, str], dict[str, str]]:
    """The Authorization of each request a round sends, by (API path, method), signed once for 3 minutes (the
    emulator's clock stands still). The requests of every round are the same but for their bodies: the
    bounded caches of whole requests (paths, verified tokens) do not fill up with them."""
    now = int(time.time())
    return {
        (path, method): auth(method, f"{path}/{rest}", iat=now, exp=now + 180)
        for path in (BASE, BUILDS)
        for method, rest in (("POST", "bulk"), ("DELETE", "bulkByProperties?batch=doomed"))
    }


async def one_round(client: Client, requests: list[tuple[str, bytes]], signs: dict[Any, dict[str, str]]) -> None:
    """Each batch submitted, applied (apply delay 0), then deleted by its property; the state is then what
    the fixtures seeded."""
    seeded = (await client.get("/_emulator/state")).json()
    for path, body in requests:
        answer = await client.post(f"{path}/bulk", content=body, headers={**JSON_TYPE, **signs[(path, "POST")]})
        assert answer.status_code == 202 and answer.json()["unknownIssueKeys"] == [], answer.text
        answer = await client.delete(f"{path}/bulkByProperties?batch=doomed", headers=signs[(path, "DELETE")])
        assert answer.status_code == 202, answer.text
    assert (await client.get("/_emulator/state")).json() == seeded


def test_rounds_of_distinct_entities_deleted_again_leave_nothing_behind() -> None:
    """One round of 2,000 entities, each keeping its pipeline and environment (a tuple and two strings; a
    tuple and a string for a build), would leave about 5,500 blocks: five rounds would leave 27,000. The
    checker may hold up to about 1,250 emptied groups between two looks (``PRUNE_FLOOR``, and the 100
    entities held at a time and a quarter of them), so whenever it last looked, less than 5,000 blocks are
    left."""
    rounds, signs = [batches(round_) for round_ in range(ROUNDS)], signed()
    growth = []

    async def scenario(client: Client, emulator: Any) -> None:
        await one_round(client, rounds[0], signs)
        before = blocks()
        for requests in rounds[1:]:
            await one_round(client, requests, signs)
            growth.append(blocks() - before)

    run(scenario)

    assert max(growth) < 5_000, f"blocks kept after each round, from the first: {growth}"


def test_host_headers_of_no_site_leave_nothing_behind() -> None:
    """Every request to the Jira surface resolves its Host, before any token is checked: a client with no
    credentials can send any number of Host headers, each up to the header size limit (64 KiB). Short ones
    are remembered, a bounded number of them (1,024, a few hundred bytes each); long ones, which no real host
    name is, are not."""
    kept: list[int] = []  # bytes kept by 1,100 short hosts, then by 100 long ones

    async def scenario(client: Client, emulator: Any) -> None:
        async def probe(host: str) -> None:
            answer = await client.get(f"{BASE}/pipelines/p/environments/e/deployments/1", headers={"Host": host})
            assert answer.status_code == 401

        for index in range(30):  # the journal's 20 calls, and the first of everything
            await probe(f"warm-{index}.example.com")
        with traced():
            start = retained()[1]
            for index in range(1100):
                await probe(f"short-{index}.example.com")
            middle = retained()[1]
            for index in range(100):
                await probe(f"h{index}-" + "x" * 48_000 + ".example.com")  # each would keep about 100 KB
            kept.extend((middle - start, retained()[1] - middle))

    run(scenario)
    assert kept[0] < 2_000_000 and kept[1] < 500_000, f"bytes kept: {kept}"


def test_polls_of_deployments_that_are_not_held_leave_nothing_behind() -> None:
    """The checker's memory of gating polls (what a poll of ``.../gating-status`` asks of it), at a frozen
    clock, so that no poll ever grows old: polls of keys the emulator does not hold are dropped (40,000 of
    them would keep some 120,000 blocks), and the rule still holds for a deployment it does hold."""
    kept: list[int] = []
    rules: list[list[str]] = []

    async def scenario(client: Client, emulator: Any) -> None:
        checker = emulator.contract
        provider, now, held = Provider("connect", "full-app"), time.time(), DeploymentKey("held", "prod", 1)
        body = json.dumps({"deployments": [deployment_data("held", "prod", 1, gating=True)]})
        answer = await client.post(f"{BASE}/bulk", content=body, headers={**JSON_TYPE, **auth("POST", f"{BASE}/bulk")})
        assert answer.status_code == 202
        for number in range(2000):  # past every bound the checker sets itself
            checker.poll("main", provider, DeploymentKey("gone", "prod", number), now)
        before = blocks()
        for number in range(2000, 40_000):
            checker.poll("main", provider, DeploymentKey("gone", "prod", number), now)
        rules.append([f.rule for f in checker.poll("main", provider, held, now)])
        for number in range(40_000, 42_000):
            checker.poll("main", provider, DeploymentKey("gone", "prod", number), now)
        kept.append(blocks() - before)
        rules.append([f.rule for f in checker.poll("main", provider, held, now + 0.5)])

    run(scenario)
    assert kept[0] < 5_000, f"blocks kept: {kept[0]}"
    assert rules == [[], ["polling-too-fast"]]


def test_the_rule_holds_for_a_group_that_holds_data_while_others_are_forgotten() -> None:
    """``sequence-number-went-backwards`` after the checker has dropped thousands of emptied groups: a
    group that still holds a deployment keeps its highest number."""
    findings: list[str] = []
    signs = signed()

    async def scenario(client: Client, emulator: Any) -> None:
        async def post(*deployments: dict[str, Any], **top: Any) -> httpx.Response:
            body = json.dumps({"deployments": list(deployments), **top})
            return await client.post(f"{BASE}/bulk", content=body, headers={**JSON_TYPE, **signs[(BASE, "POST")]})

        assert (await post(deployment_data("kept", "prod", 10))).status_code == 202
        for round_ in range(30):
            batch = [deployment_data(f"p{round_}-{i}", "e", 7) for i in range(100)]
            assert (await post(*batch, properties={"batch": "doomed"})).status_code == 202
            await client.delete(f"{BASE}/bulkByProperties?batch=doomed", headers=signs[(BASE, "DELETE")])
        findings.append((await post(deployment_data("kept", "prod", 5))).headers["X-Emulator-Findings"])

    run(scenario)

    assert findings == ["sequence-number-went-backwards"]


def test_a_removed_site_takes_its_rate_limit_and_contract_report_along() -> None:
    """Sites added and removed leave nothing behind: a site added again under a removed one's name starts
    with no rate limit and no findings."""
    site = {"name": "temp", "baseUrl": "http://temp.test", "cloudId": "33333333-3333-3333-3333-333333333333"}
    site["connectApps"] = [
        {"key": "full-app", "clientKey": "ck", "sharedSecret": "temp-secret-0123456789abcdef0123456789"}
    ]
    seen: dict[str, Any] = {}

    async def scenario(client: Client, emulator: Any) -> None:
        assert (await client.post("/_emulator/sites", json=site)).status_code == 201
        limit = await client.put("/_emulator/sites/temp/rate-limit", json={"rate": 5, "burst": 2})
        assert limit.json()["rateLimit"]["burst"] == 2
        late = deployment_data("p", "e", 1, lastUpdated="2000-01-01T00:00:00Z")  # a risk: in the report
        token = auth("POST", f"{BASE}/bulk", secret="temp-secret-0123456789abcdef0123456789")
        headers = {**JSON_TYPE, **token, "Host": "temp.test"}
        answer = await client.post(f"{BASE}/bulk", content=json.dumps({"deployments": [late]}), headers=headers)
        assert answer.status_code == 202
        seen["before"] = [p["site"] for p in (await client.get("/_emulator/contract-report")).json()["providers"]]
        assert (await client.delete("/_emulator/sites/temp", headers=JSON_TYPE)).status_code == 204
        assert (await client.post("/_emulator/sites", json=site)).status_code == 201
        seen["report"] = (await client.get("/_emulator/contract-report")).json()["providers"]
        seen["limit"] = (await client.get("/_emulator/sites/temp/rate-limit")).json()["rateLimit"]

    run(scenario)

    assert seen == {"before": ["temp"], "report": [], "limit": None}


def test_an_uninstalled_app_takes_its_highest_numbers_along() -> None:
    """An app uninstalled loses its data; installed again, it starts afresh: a deployment numbered lower
    than one of before is no finding."""
    app = {"key": "again", "clientKey": "ck-again", "sharedSecret": "again-secret-0123456789abcdef0123456789"}
    found: list[str | None] = []

    async def scenario(client: Client, emulator: Any) -> None:
        async def post(number: int) -> httpx.Response:
            now = int(time.time())
            token = auth("POST", f"{BASE}/bulk", "again", secret=app["sharedSecret"], iat=now, exp=now + 180)
            body = json.dumps({"deployments": [deployment_data("p", "e", number)]})
            return await client.post(f"{BASE}/bulk", content=body, headers={**JSON_TYPE, **token})

        for number in (10, 5):
            assert (await client.post("/_emulator/sites/main/apps", json=app)).status_code == 201
            found.append((await post(number)).headers.get("X-Emulator-Findings"))
            assert (await client.delete("/_emulator/sites/main/apps/again", headers=JSON_TYPE)).status_code == 200

    run(scenario)
    assert found == [None, None]
