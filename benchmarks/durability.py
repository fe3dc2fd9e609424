"""Durable state as users run it (``--data-dir``): how long a start replays a log, how long compaction holds
up requests, and what a submit costs out of order with a long queue.

    .venv/bin/python -m benchmarks.durability [--quick]      # prints the rows as JSON

- **Replay**: a data folder whose log holds N accepted writes (half of them applied, the rest pending),
  left as ``kill -9`` leaves it; the emulator's CLI is started on it, and the replay is the restore time
  its log line ``durable state in ...: restored ... in X s`` gives; linear replay makes the time for 4N
  about four times the time for N. The starts are also timed to ``/_emulator/ready``, against a start on
  an empty folder in the same run (the note: start-up noise on a shared machine is of the order of the
  smaller replay, so that difference is no measure of it).
- **Compaction**: an emulator holding a large store (a snapshot) is sent SIGHUP, which writes a snapshot
  while it serves; a client reads a stored deployment every 2 ms throughout, and the slowest answers during
  the compaction are compared with those outside it.
- **Out of order**: in-process, the cost of one submit with ``--out-of-order`` when 1,000 and when 5,000
  writes are pending.

Folders are built in-process through the real durable state (``DurableState``), on the built-in default
site that the CLI serves, so the CLI reads exactly what it would have written.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from benchmarks import payloads
from benchmarks.client import Client, first_ok
from benchmarks.report import Row, ratio_text, verdict
from benchmarks.servers import HOST, ROOT, child_env, free_port

READY = "/_emulator/ready"


# -- folders built in-process ------------------------------------------------------------------------


def _service(apply_delay: float, *, out_of_order: bool = False) -> Any:
    from emulator.domain.clock import ManualClock
    from emulator.domain.kinds import BUILDS, DEPLOYMENTS
    from emulator.domain.service import DevOpsService, QueueSettings
    from emulator.fixtures import load_fixtures

    sites, _ = load_fixtures(None)
    settings = QueueSettings(apply_delay=apply_delay, out_of_order=out_of_order)
    return DevOpsService(sites, ManualClock(start=time.time()), settings, kinds=[DEPLOYMENTS, BUILDS])


def _deployment(number: int, usn: int = 1) -> Any:
    from emulator.domain.model import DeploymentInput, DeploymentKey

    data = {"schemaVersion": "1.0", **payloads.deployment(number, usn)}
    key = DeploymentKey(payloads.PIPELINE, payloads.ENVIRONMENT, number)
    return DeploymentInput.from_data(key, usn, data, environment_type="production")


def _owner(service: Any) -> tuple[Any, Any, Any]:
    from emulator.domain.kinds import DEPLOYMENTS

    site = next(iter(service.sites))
    return DEPLOYMENTS, site, site.connect_apps[payloads.APP_KEY].provider


def folder_with_log(folder: Path, writes: int) -> None:
    """``writes`` single-deployment submits in the log, the first half applied, none in a snapshot."""
    from emulator.persistence import DurableState

    service = _service(apply_delay=10.0)
    durable = DurableState(folder, service, compact_every=10**9)
    durable.open()
    kind, site, provider = _owner(service)
    for number in range(1, writes + 1):
        service.submit(kind, site, provider, [_deployment(number)], {})
        if number == writes // 2:
            service.clock.advance(11.0)
            service.apply_due()
    service.clock.advance(1.0)
    durable.abandon()  # as kill -9 leaves it: the log only


def folder_with_store(folder: Path, records: int) -> None:
    """A snapshot of ``records`` stored deployments."""
    from emulator.persistence import DurableState

    service = _service(apply_delay=0.0)
    durable = DurableState(folder, service, compact_every=10**9)
    durable.open()
    kind, site, provider = _owner(service)
    for first in range(1, records + 1, 100):
        service.submit(kind, site, provider, [_deployment(n) for n in range(first, min(first + 100, records + 1))], {})
    durable.close()


# -- the CLI on a folder -----------------------------------------------------------------------------


def start(folder: Path, *extra: str) -> tuple[subprocess.Popen[bytes], int, float]:
    """The emulator's CLI on ``folder``, as users start it (call log on); (process, port, seconds from start
    to ready). Its output goes to ``folder``'s sibling ``<folder>.log``."""
    port = free_port()
    argv = [sys.executable, "-m", "emulator", "--host", HOST, "--port", str(port), "--data-dir", str(folder), *extra]
    started = time.perf_counter()
    with open(folder.with_suffix(".log"), "wb") as output:
        process = subprocess.Popen(argv, cwd=ROOT, env=child_env(), stdout=output, stderr=subprocess.STDOUT)
    ready = first_ok(HOST, port, READY, started + 120)
    return process, port, ready - started


def stop(process: subprocess.Popen[bytes], folder: Path) -> str:
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=120)
    return folder.with_suffix(".log").read_text(errors="replace")


_RESTORED = re.compile(r"durable state in .*: restored .* in (\d+\.\d+) s$", re.MULTILINE)


def ready_and_restore_seconds(folder: Path) -> tuple[float, float]:
    """Seconds from start to ready, and the restore's seconds as the emulator logs them."""
    process, _, seconds = start(folder)
    output = stop(process, folder)
    restored = _RESTORED.search(output)
    if restored is None:
        raise RuntimeError(f"the emulator did not log its restore:\n{output[-2000:]}")
    return seconds, float(restored[1])


def replay(sizes: tuple[int, int], repeats: int) -> dict[str, Any]:
    """Start-up on logs of ``sizes`` writes, and on an empty folder, alternated ``repeats`` times."""
    times: dict[str, list[float]] = {"empty": [], **{str(n): [] for n in sizes}}
    restores: dict[str, list[float]] = {name: [] for name in times}
    with tempfile.TemporaryDirectory() as tmp:
        folders = {"empty": Path(tmp) / "empty"}
        folders["empty"].mkdir()
        for n in sizes:
            folders[str(n)] = Path(tmp) / f"log-{n}"
            folder_with_log(folders[str(n)], n)
        for index in range(repeats):
            names = list(folders) if index % 2 == 0 else list(reversed(folders))
            for name in names:
                work = Path(tmp) / "work"
                subprocess.run(["rm", "-rf", str(work)], check=True)
                subprocess.run(["cp", "-a", str(folders[name]), str(work)], check=True)
                os.sync()  # the copy's data on disk first: the emulator's fsyncs must not write it out in its time
                ready, restore = ready_and_restore_seconds(work)
                times[name].append(ready)
                restores[name].append(restore)
    medians = {name: statistics.median(values) for name, values in times.items()}
    small, large = (medians[str(n)] - medians["empty"] for n in sizes)
    restored = [statistics.median(restores[str(n)]) for n in sizes]
    return {"sizes": list(sizes), "ready_s": medians, "restore_s": restored,
            "ratio": restored[1] / max(restored[0], 1e-6), "ready_ratio": large / max(small, 1e-6),
            "raw": times, "raw_restore": restores}  # fmt: skip


def compaction_pauses(records: int, probe_interval: float = 0.002) -> dict[str, Any]:
    """Probe latencies outside and during a SIGHUP compaction of a store of ``records``."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "store"
        folder_with_store(folder, records)
        process, port, _ = start(folder, "--apply-delay", "0")
        path = payloads.get_path(1)
        headers = {"Authorization": payloads.sign("GET", path)}
        samples: list[tuple[float, float]] = []  # (when, latency)
        done = threading.Event()

        def probe() -> None:
            with Client(HOST, port) as client:
                while not done.is_set():
                    began = time.perf_counter()
                    status, _ = client.request("GET", path, headers)
                    assert status == 200, status
                    samples.append((began, time.perf_counter() - began))
                    time.sleep(probe_interval)

        prober = threading.Thread(target=probe)
        prober.start()
        time.sleep(1.0)
        hup = time.perf_counter()
        process.send_signal(signal.SIGHUP)
        snapshot = folder / "snapshot.jsonl"
        before = snapshot.stat().st_mtime_ns
        while snapshot.stat().st_mtime_ns == before:
            time.sleep(0.01)
        written = time.perf_counter()
        time.sleep(1.0)
        done.set()
        prober.join()
        output = stop(process, folder)
    outside = [latency for when, latency in samples if when < hup or when > written]
    during = [latency for when, latency in samples if hup <= when <= written]
    line = next((text for text in output.splitlines() if "snapshot written in" in text), "")
    return {
        "records": records,
        "compaction_s": written - hup,
        "outside_ms": {"p99": _p(outside, 99) * 1000, "max": max(outside) * 1000, "n": len(outside)},
        "during_ms": {"p99": _p(during, 99) * 1000, "max": max(during, default=0) * 1000, "n": len(during)},
        "log_line": line.split("emulator.persistence: ", 1)[-1],
    }


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q / 100))] if ordered else 0.0


def out_of_order_submit(pending: tuple[int, int], submits: int = 2_000) -> dict[str, Any]:
    """Microseconds per out-of-order submit of one deployment (half of them overtaking a pending write)."""
    result = {}
    for count in pending:
        service = _service(apply_delay=3600.0, out_of_order=True)
        kind, site, provider = _owner(service)
        for number in range(1, count + 1):
            service.submit(kind, site, provider, [_deployment(number)], {})
        began = time.perf_counter()
        for index in range(submits):
            number = index + 1 if index % 2 else count + index  # an entity with a pending write, or a new one
            service.submit(kind, site, provider, [_deployment(number, usn=2)], {})
        result[str(count)] = (time.perf_counter() - began) / submits * 1e6
    small, large = (result[str(n)] for n in pending)
    return {"pending": list(pending), "us_per_submit": result, "ratio": large / small}


def run(quick: bool) -> dict[str, Any]:
    # Each folder starts seven times and the medians count: a replay of the smaller log takes about 0.08 s,
    # of the order of a start-up's noise on a shared machine.
    return {
        "replay": replay((2_500, 10_000) if quick else (5_000, 20_000), repeats=2 if quick else 7),
        "compaction": compaction_pauses(50_000 if quick else 175_000),
        "out_of_order": out_of_order_submit((1_000, 5_000)),
    }


# what ``make bench`` holds the figures to: replay linear in the log (4× the writes, at most 5× the time),
# a compaction that holds no request up for more than 100 ms, out-of-order submits whose cost does not
# follow the queue's length (5× the pending writes, at most 1.5× the time)
TARGETS = {"replay_ratio": 5.0, "compaction_max_ms": 100.0, "out_of_order_ratio": 1.5}


def rows(result: dict[str, Any]) -> list[Row]:
    """The benchmark table's rows of one ``run``."""
    replayed, compaction, ooo = result["replay"], result["compaction"], result["out_of_order"]
    small, large = replayed["sizes"]
    during, outside = compaction["during_ms"], compaction["outside_ms"]
    fewer, more = ooo["pending"]
    return [
        Row(
            name=f"Durable state: replay of a log of {large:,} writes vs {small:,} (s of restore, as the emulator "
            "logs it)",
            emulator=f"{replayed['restore_s'][1]:.3f}",
            baseline=f"{replayed['restore_s'][0]:.3f}",
            measured=ratio_text(replayed["ratio"], TARGETS["replay_ratio"], at_most=True),
            target=f"≤ {TARGETS['replay_ratio']:.1f}× (linear: 4×)",
            result=verdict(replayed["ratio"] <= TARGETS["replay_ratio"]),
            note=f"ready after {', '.join(f'{k}: {v:.2f} s' for k, v in replayed['ready_s'].items())} "
            f"(less the empty start: {replayed['ready_ratio']:.2f}×); the CLI started on a copy of the folder, "
            f"as kill -9 left it; medians of {len(replayed['raw']['empty'])} starts each, alternated",
        ),
        Row(
            name=f"Durable state: a read every 2 ms while SIGHUP compacts {compaction['records']:,} records (ms)",
            emulator=f"max {during['max']:.1f}, p99 {during['p99']:.1f}",
            baseline=f"max {outside['max']:.1f}, p99 {outside['p99']:.1f}",
            measured=f"max {during['max']:.1f} ms",
            target=f"≤ {TARGETS['compaction_max_ms']:.0f} ms",
            result=verdict(during["max"] <= TARGETS["compaction_max_ms"]),
            note=f"baseline: the same reads outside the compaction; {during['n']} reads during its "
            f"{compaction['compaction_s']:.2f} s; the emulator's log: {compaction['log_line'].rpartition(': ')[2]}",
        ),
        Row(
            name=f"`--out-of-order` submit with {more:,} writes pending vs {fewer:,} (µs per submit, in-process)",
            emulator=f"{ooo['us_per_submit'][str(more)]:.1f}",
            baseline=f"{ooo['us_per_submit'][str(fewer)]:.1f}",
            measured=ratio_text(ooo["ratio"], TARGETS["out_of_order_ratio"], at_most=True),
            target=f"≤ {TARGETS['out_of_order_ratio']:.1f}×",
            result=verdict(ooo["ratio"] <= TARGETS["out_of_order_ratio"]),
            note="one deployment per submit, half of them overtaking a pending write",
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    print(json.dumps(run(args.quick), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
