"""``deleteDeploymentsByProperty`` over HTTP, as a client sees it: 10 among a large store vs 10 among 1,000.

The delete target's row (the same deletes in-process, the domain call alone, are an INFO row from
``benchmarks/domain.py``): deletes sent to two real emulator servers (``--apply-delay 0``, so a delete has
applied when its 202 arrives) filled through ``POST /bulk`` in requests of 10 deployments that share the
properties ``tenant=bench, batch=<n>``. Each round sends ``per_round`` deletes of distinct random batches to
one server, each with a token of its own, timing each round trip and the server's CPU time over the block,
then checks (untimed) that the first and last deployment of each batch answer 404 and puts the batches
back; the servers alternate round by round. Re-submitting a deleted batch raises the contract finding
``sequence-number-went-backwards`` (its numbers are below the highest the pipeline has sent), on those
untimed calls only.
"""

from __future__ import annotations

import random
import statistics
import time
from pathlib import Path
from typing import Any

from benchmarks import payloads, servers
from benchmarks.client import Client
from benchmarks.servers import HOST, Pinning, Server

BATCH = 10  # deployments per fill request = deployments one delete matches
SMALL_STORE = 1_000
DELETE_PATH = "/rest/deployments/0.1/bulkByProperties"


def properties(batch: int) -> dict[str, str]:
    return {"tenant": "bench", "batch": str(batch)}


def delete_path(batch: int) -> str:
    return f"{DELETE_PATH}?tenant=bench&batch={batch}"


def submit_batch(client: Client, headers: dict[str, str], batch: int) -> None:
    body = payloads.submit_body(batch * BATCH + 1, BATCH, 1, properties(batch))
    status, answer = client.request("POST", payloads.SUBMIT_PATH, headers, body)
    if status != 202:
        raise RuntimeError(f"delete-http: a fill submit answered {status}: {answer[:300]!r}")


def fill(server: Server, size: int) -> float:
    """Store ``size`` deployments; the seconds it took."""
    headers = {"Authorization": payloads.sign("POST", payloads.SUBMIT_PATH), "Content-Type": "application/json"}
    started = time.perf_counter()
    with Client(HOST, server.port) as client:
        for batch in range(size // BATCH):
            submit_batch(client, headers, batch)
    return time.perf_counter() - started


def check_a_delete_applies_before_its_answer(server: Server) -> None:
    """Batch 0 deleted: its first deployment answers 404 at once; then it is put back."""
    get = payloads.get_path(1)
    with Client(HOST, server.port) as client:
        status, _ = client.request("DELETE", delete_path(0), {"Authorization": payloads.sign("DELETE", delete_path(0))})
        gone, _ = client.request("GET", get, {"Authorization": payloads.sign("GET", get)})
        post = {"Authorization": payloads.sign("POST", payloads.SUBMIT_PATH), "Content-Type": "application/json"}
        submit_batch(client, post, 0)
    if (status, gone) != (202, 404):
        raise RuntimeError(f"delete-http: the delete answered {status} and the GET after it {gone}, not 202 and 404")


def one_round(server: Server, batches: list[int]) -> tuple[list[float], float]:
    """Delete each batch (timed), then put them back: round trips in µs, and server CPU µs per delete."""
    # a new token for every delete: the small store's 100 batches are all deleted in every round, and a token
    # signed again within the same second would be the same bytes, served from the emulator's cache of
    # verified requests, which the large store's random batches never are (it made them 1.9x apart)
    signed = [
        (delete_path(b), {"Authorization": payloads.sign("DELETE", delete_path(b), unique=True)}) for b in batches
    ]
    post = {"Authorization": payloads.sign("POST", payloads.SUBMIT_PATH), "Content-Type": "application/json"}
    trips = []
    with Client(HOST, server.port) as client:
        client.request("GET", "/_emulator/ready")  # connected before the clock starts
        cpu = server.cpu_seconds()
        for path, headers in signed:
            started = time.perf_counter()
            status, answer = client.request("DELETE", path, headers)
            trips.append((time.perf_counter() - started) * 1e6)
            if status != 202:
                raise RuntimeError(f"delete-http: a delete answered {status}: {answer[:300]!r}")
        cpu_us = (server.cpu_seconds() - cpu) / len(signed) * 1e6
        for batch in batches:  # untimed: the first and the last deployment of each batch are gone
            for number in (batch * BATCH + 1, batch * BATCH + BATCH):
                get = payloads.get_path(number)
                status, _ = client.request("GET", get, {"Authorization": payloads.sign("GET", get)})
                if status != 404:
                    raise RuntimeError(f"delete-http: deployment {number} answers {status} after its batch's delete")
        for batch in batches:
            submit_batch(client, post, batch)
    return trips, cpu_us


def delete_over_http(size: int, rounds: int, per_round: int, pin: Pinning, log_dir: Path) -> dict[str, Any]:
    rng = random.Random(8)
    with (
        servers.emulator(pin, apply_delay=0, name="emulator-delete-large").start(log_dir) as large,
        servers.emulator(pin, apply_delay=0, name="emulator-delete-small").start(log_dir) as small,
    ):
        stores = {"small": (small, SMALL_STORE), "large": (large, size)}
        fill_seconds = {name: fill(server, stored) for name, (server, stored) in stores.items()}
        for server, _ in stores.values():
            check_a_delete_applies_before_its_answer(server)
        trips: dict[str, list[float]] = {name: [] for name in stores}
        cpu: dict[str, list[float]] = {name: [] for name in stores}
        names = list(stores)
        for index in range(rounds):
            for name in names if index % 2 == 0 else reversed(names):
                server, stored = stores[name]
                batches = rng.sample(range(stored // BATCH), min(per_round, stored // BATCH))
                round_trips, cpu_us = one_round(server, batches)
                trips[name] += round_trips
                cpu[name].append(cpu_us)
    return {
        name: {
            "stored": stored,
            "fill_seconds": fill_seconds[name],
            "deletes": len(trips[name]),
            "median_round_trip_us": statistics.median(trips[name]),
            "median_server_cpu_us": statistics.median(cpu[name]),
        }
        for name, (_, stored) in stores.items()
    }
