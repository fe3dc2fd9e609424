"""In-process benchmarks of the domain core (no HTTP): delete by properties, memory, reset, journal.

Each runs in its own subprocess (``python -m benchmarks.domain NAME --size N``) so that its resident
memory and heap are its own; it prints one JSON object. The store is filled through the real write path,
``parse_submission`` (the request parser) then ``DevOpsService.submit`` with ``apply_delay=0`` and a
``ManualClock``, in requests of 10 deployments that share the request properties
``{"tenant": "bench", "batch": "<n>"}``: deleting ``?tenant=bench&batch=<n>`` matches exactly 10.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import statistics
import sys
import time
from typing import Any

from benchmarks.payloads import APP_KEY, SHARED_SECRET, dumps, submit_body

BATCH = 10  # deployments per request while filling = deployments one delete by properties matches
SMALL_STORE = 1_000


def vm_status(field: str) -> int:
    """A field of /proc/self/status (VmRSS, VmHWM) in bytes."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(field)


class Store:
    """A DevOpsService with one site and one Connect app, filled in batches of 10."""

    def __init__(self) -> None:
        from emulator.domain.clock import ManualClock
        from emulator.domain.kinds import DEPLOYMENTS
        from emulator.domain.service import DevOpsService, QueueSettings
        from emulator.domain.sites import ConnectApp, Site, SiteRegistry

        app = ConnectApp(
            APP_KEY,
            "bench-client",
            SHARED_SECRET,
            frozenset({"READ", "WRITE", "DELETE"}),
            frozenset({"jiraDeploymentInfoProvider"}),
        )
        self.site = Site(
            name="bench",
            base_url="https://bench.example.net",
            cloud_id="cloud-bench",
            connect_apps={APP_KEY: app},
        )
        self.provider = app.provider
        self.service = DevOpsService(SiteRegistry([self.site]), ManualClock(), QueueSettings(apply_delay=0))
        self.kind = DEPLOYMENTS
        self.batches = 0

    @staticmethod
    def properties(batch: int) -> dict[str, str]:
        return {"tenant": "bench", "batch": str(batch)}

    def parse(self, batch: int) -> tuple[list[Any], dict[str, str]]:
        from emulator.api.bodies.deployments import PARSER
        from emulator.domain.model import DeploymentInput

        submission = PARSER.parse(submit_body(batch * BATCH + 1, BATCH, 1, self.properties(batch)))
        valid = [item for item in submission.items if isinstance(item, DeploymentInput)]
        assert len(valid) == BATCH, submission.items[0]
        return valid, submission.properties

    def submit(self, batch: int) -> None:
        valid, properties = self.parse(batch)
        outcome = self.service.submit(self.kind, self.site, self.provider, valid, properties)
        assert len(outcome.accepted) == BATCH and not outcome.rejected

    def fill(self, count: int) -> None:
        for batch in range(self.batches, self.batches + count // BATCH):
            self.submit(batch)
        self.batches += count // BATCH

    def __len__(self) -> int:
        return len(self.service.store)

    def timed_delete(self, batch: int) -> int:
        """Delete the 10 deployments of ``batch``, return the nanoseconds it took."""
        before = len(self.service.store.partition("deployments", self.site.name, self.provider).records)
        started = time.perf_counter_ns()
        self.service.delete_by_properties(self.kind, self.site, self.provider, self.properties(batch))
        took = time.perf_counter_ns() - started
        after = len(self.service.store.partition("deployments", self.site.name, self.provider).records)
        assert before - after == BATCH, (before, after)
        return took


EVICTION_BYTES = 64 * 1024 * 1024  # twice the 32 MiB L3 of the machines the README's figures come from


class Evictor:
    """Pushes the CPU caches' contents out by writing one byte of every 64-byte line of a buffer twice
    the size of a large L3 (in C, through a strided slice assignment: about 4 ms)."""

    def __init__(self, size: int = EVICTION_BYTES) -> None:
        self.buffer = bytearray(size)

    def __call__(self) -> None:
        self.buffer[1::64] = self.buffer[2::64]


def delete_by_properties(
    stores: dict[str, Store], rounds: int, per_round: int, evict: Evictor | None = None
) -> dict[str, Any]:
    """Alternate the stores round by round; each sample deletes 10 deployments then puts them back.
    With ``evict``, the caches are emptied before each timed delete: every store then starts from the
    same cold cache, which leaves the size of the store as the one difference between them."""
    rng = random.Random(8)
    parsed = {name: {} for name in stores}  # batch -> parsed inputs, to put deleted batches back quickly
    samples: dict[str, list[int]] = {name: [] for name in stores}
    names = list(stores)
    for round_index in range(rounds):
        for name in names if round_index % 2 == 0 else reversed(names):
            store = stores[name]
            for _ in range(per_round):
                batch = rng.randrange(store.batches)
                if evict is not None:
                    evict()
                samples[name].append(store.timed_delete(batch))
                if batch not in parsed[name]:
                    parsed[name][batch] = store.parse(batch)
                valid, properties = parsed[name][batch]
                store.service.submit(store.kind, store.site, store.provider, valid, properties)
    out: dict[str, Any] = {}
    for name, values in samples.items():
        values.sort()
        out[name] = {
            "stored": len(stores[name]),
            "samples": len(values),
            "median_us": statistics.median(values) / 1000,
            "p90_us": values[int(0.9 * (len(values) - 1))] / 1000,
        }
    return out


def bench_memory_and_delete(size: int, rounds: int, per_round: int) -> dict[str, Any]:
    Store()  # imports the emulator's modules: the "before" figure is a process with the emulator loaded
    gc.collect()
    rss_before = vm_status("VmRSS")
    large = Store()
    started = time.perf_counter()
    large.fill(size)
    fill_seconds = time.perf_counter() - started
    gc.collect()
    rss_after = vm_status("VmRSS")
    peak = vm_status("VmHWM")
    sample = large.service.store.partition("deployments", large.site.name, large.provider).records
    json_bytes = statistics.mean(len(dumps(record.data)) for record in list(sample.values())[:1000])
    small = Store()
    small.fill(SMALL_STORE)
    stores = {"small": small, "large": large}
    if size // 10 > SMALL_STORE:  # a middle size shows how the cost grows with the store
        stores["middle"] = Store()
        stores["middle"].fill(size // 10)
    deletes = delete_by_properties(stores, rounds, per_round)
    cold = delete_by_properties(stores, rounds, max(10, per_round // 5), Evictor())
    return {
        "stored": len(large),
        "fill_seconds": fill_seconds,
        "rss_before": rss_before,
        "rss_after": rss_after,
        "rss_peak": peak,
        "bytes_per_deployment": (rss_after - rss_before) / size,
        "json_bytes_per_deployment": json_bytes,
        "delete": deletes,
        "delete_cold": cold,
    }


def bench_reset(size: int, repeats: int) -> dict[str, Any]:
    """service.reset() of ``size`` stored deployments (the whole work of POST /_emulator/reset)."""
    times = []
    for _ in range(repeats):
        store = Store()
        store.fill(size)
        gc.collect()
        assert len(store) == size
        started = time.perf_counter()
        store.service.reset()
        times.append(time.perf_counter() - started)
        assert len(store) == 0
        del store
    return {
        "stored": size,
        "repeats": repeats,
        "median_ms": statistics.median(times) * 1000,
        "all_ms": [t * 1000 for t in times],
    }


def bench_journal_at_cap(size: int, repeats: int) -> dict[str, Any]:
    """The request journal at its cap: fill it (``size`` entries, default 1,000, each with a 7 KiB request
    and a 1 KiB response body, a submit's usual size), then time further calls, each evicting the oldest
    entry, and report the median per call and the resident memory the full journal holds."""
    from emulator.journal import Journal, clip

    size = size or 1000
    # distinct bodies, as real calls have: identical ones would be one shared object and hide the memory
    bodies = [(b"%06d" % i + b"x" * (7 * 1024 - 6), b"%06d" % i + b"y" * (1024 - 6)) for i in range(size)]
    turn = iter(range(10**12))

    def record(journal: Journal) -> None:
        request_body, response_body = bodies[next(turn) % size]
        journal.record(
            time=0.0,
            method="POST",
            path="/rest/deployments/0.1/bulk",
            query="",
            operation="submitDeployments",
            site="default",
            provider="connect:emulator-app",
            status=202,
            latency_ms=1.0,
            reason=None,
            touched=[],
            request_body=clip(request_body),
            response_body=clip(response_body),
            request_size=len(request_body),
            response_size=len(response_body),
        )

    gc.collect()
    rss_before = vm_status("VmRSS")  # the bodies exist already: what follows is the journal's own
    journal = Journal(size)
    for _ in range(size):
        record(journal)
    gc.collect()
    rss_full = vm_status("VmRSS")
    per_call = []
    for _ in range(max(repeats, 3)):
        started = time.perf_counter()
        for _ in range(10_000):
            record(journal)
        per_call.append((time.perf_counter() - started) / 10_000 * 1e6)
    assert len(journal) == size
    return {
        "capacity": size,
        "median_us_per_call_at_cap": statistics.median(per_call),
        "rss_bytes_full": rss_full - rss_before,
        "dropped": journal.dropped,
    }


BENCHES = {"memory-delete": bench_memory_and_delete, "reset": bench_reset, "journal": bench_journal_at_cap}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.domain")
    parser.add_argument("bench", choices=sorted(BENCHES))
    parser.add_argument("--size", type=int, required=True)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--per-round", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    if args.bench == "memory-delete":
        result = bench_memory_and_delete(args.size, args.rounds, args.per_round)
    else:
        result = BENCHES[args.bench](args.size, args.repeats)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
