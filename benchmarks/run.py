"""The benchmark suite of issue 8: one command, every target, a markdown table for the README.

    .venv/bin/python -m benchmarks            # the full run (about 12 minutes on 2 cores)
    .venv/bin/python -m benchmarks --quick    # a smoke run (about 1 minute; smaller store, fewer rounds)

It starts the emulator through its real CLI and a bare Starlette baseline on the same uvicorn settings,
alternates them (A B B A ...) for several rounds, and reports medians and emulator / baseline ratios. The
delete target is measured over HTTP on two emulators, one holding 1,000,000 deployments and one 1,000; the
domain benchmarks (the same deletes in-process, memory, reset) run in their own subprocesses. The table
goes to stdout and, with the raw figures and the profiles, to ``benchmarks/results/`` (or ``--out``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from benchmarks import payloads, profiling, servers
from benchmarks.client import Client
from benchmarks.load import LoadRunner, wrk_version
from benchmarks.report import Report, Row, log, markdown_table, median, ratio_text, verdict
from benchmarks.servers import HOST, ROOT, Pinning
from benchmarks.throughput import (
    COMPARISONS,
    contract_findings,
    get_request,
    prepare_emulator,
    submit_request,
    throughput,
)

GB = 1_000_000_000

TARGETS = {
    "delete_ratio": 1.5,  # 10 of 1,000,000 / 10 of 1,000, time per delete: "as fast", within noise
    "memory_bytes": 1.5 * GB,  # resident memory holding 1,000,000 deployments
    "startup_ratio": 1.30,  # emulator ready / bare app first answer
    "visibility_p99_ms": 5.0,  # 202 received -> first GET 200, apply delay 0
}


@dataclass
class Plan:
    """How much of everything one run does."""

    rounds: int
    seconds: float
    warmup: float
    startups: int
    visibility_pairs: int
    store_size: int  # the "1,000,000" of the delete and memory targets
    delete_rounds: int
    delete_per_round: int
    reset_size: int
    reset_repeats: int
    profile_seconds: float

    @classmethod
    def for_mode(cls, quick: bool) -> Plan:
        if quick:
            return cls(
                rounds=2,
                seconds=2,
                warmup=1,
                startups=3,
                visibility_pairs=300,
                store_size=100_000,
                delete_rounds=2,
                delete_per_round=200,
                reset_size=100_000,
                reset_repeats=1,
                profile_seconds=3,
            )
        return cls(
            rounds=5,
            seconds=5,
            warmup=2,
            startups=10,
            visibility_pairs=2000,
            store_size=1_000_000,
            delete_rounds=6,
            delete_per_round=500,
            reset_size=100_000,
            reset_repeats=3,
            profile_seconds=8,
        )


# -- in-process ---------------------------------------------------------------------------------------


def in_process_us(mode: str, count: int, *flags: str) -> float:
    """Microseconds per request (wall clock) from ``python -m benchmarks.inprocess``, in its own process."""
    argv = [sys.executable, "-m", "benchmarks.inprocess", mode, str(count), *flags]
    done = subprocess.run(argv, cwd=ROOT, env=servers.child_env(), capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"benchmarks.inprocess {mode} failed:\n{done.stderr[-2000:]}")
    return float(done.stdout.strip().splitlines()[-1].split(":")[1].split()[0])


def in_process(plan: Plan, report: Report) -> None:
    """Signed GETs straight into the ASGI app, with one reused token and with a new token per request,
    against the bare Starlette route: what our own code costs per request, without HTTP."""
    count = 5000 if plan.rounds < 5 else 20000
    runs: dict[str, list[float]] = {"cached": [], "fresh": [], "baseline": []}
    for _ in range(3):
        runs["baseline"].append(in_process_us("baseline", count))
        runs["cached"].append(in_process_us("get", count))
        runs["fresh"].append(in_process_us("get", count // 4, "--fresh"))
    base, cached, fresh = (median(runs[k]) for k in ("baseline", "cached", "fresh"))
    report.raw["in_process_get_us"] = runs
    for name, value, note in (
        ("the same token on every request (as the HTTP row: wrk resends one header)", cached, ""),
        (
            "a new token on every request (as a Connect client signs each call)",
            fresh,
            "nothing cached: every token is read and verified (the HS256 fast path; PyJWT for anything unusual)",
        ),
    ):
        report.rows.append(
            Row(
                name=f"`getDeploymentByKey` in-process, {name} (µs per request)",
                emulator=f"{value:.1f}",
                baseline=f"{base:.1f}",
                measured=f"{base / value:.2f}×",
                target="report",
                result="INFO",
                note=(note + "; " if note else "") + "bare Starlette static route as baseline; median of 3, "
                "alternated; no socket, no server",
            )
        )


# -- start-up -----------------------------------------------------------------------------------------


def startup(plan: Plan, pin: Pinning, log_dir: Path, report: Report) -> None:
    times: dict[str, list[float]] = {"emulator": [], "baseline": [], "raw": []}
    cpu: dict[str, list[float]] = {"emulator": [], "baseline": [], "raw": []}
    makers = {
        "emulator": lambda: servers.emulator(pin),
        "baseline": lambda: servers.baseline(pin),
        "raw": lambda: servers.baseline(pin, raw=True, name="raw"),
    }
    for index in range(plan.startups + 1):  # the first round only warms the page cache
        order = list(makers) if index % 2 == 0 else list(reversed(makers))
        for name in order:
            with makers[name]().start(log_dir) as server:
                if index:
                    times[name].append(server.startup_seconds)
                    cpu[name].append(server.ready_cpu)
    emu, base, raw = (median(times[k]) * 1000 for k in ("emulator", "baseline", "raw"))
    emu_cpu, base_cpu = (median(cpu[k]) * 1000 for k in ("emulator", "baseline"))
    ratio, cpu_ratio = emu / base, emu_cpu / base_cpu
    report.raw["startup_ms"] = {k: [t * 1000 for t in v] for k, v in times.items()}
    report.raw["startup_cpu_ms"] = {k: [t * 1000 for t in v] for k, v in cpu.items()}
    target = TARGETS["startup_ratio"]
    report.rows.append(
        Row(
            name="Start-up: process start to `/_emulator/ready` 200, vs a bare Starlette app's first answer (ms)",
            emulator=f"{emu:.0f}",
            baseline=f"{base:.0f}",
            measured=f"{ratio_text(ratio, target, at_most=True)} ({ratio_text(cpu_ratio, target, at_most=True)} CPU)",
            target=f"≤ {target:.2f}×",
            result=verdict(max(ratio, cpu_ratio) <= target),
            note=f"CPU time to ready {emu_cpu:.0f} vs {base_cpu:.0f} ms; "
            "bare uvicorn with a plain ASGI callable: "
            f"{raw:.0f} ms ({emu / raw:.2f}×); {plan.startups} starts of each, alternated",
        )
    )


# -- visibility ---------------------------------------------------------------------------------------


def pair(
    client: Client, post_headers: dict[str, str], body: bytes, path: str, headers: dict[str, str]
) -> tuple[float, int]:
    """Submit, then GET until 200: seconds from the 202's last byte to the 200's, and the GETs it took."""
    status, answer = client.request("POST", payloads.SUBMIT_PATH, post_headers, body)
    accepted_at = time.perf_counter()
    if status != 202:
        raise RuntimeError(f"visibility: submit answered {status}: {answer[:300]!r}")
    tries = 0
    while True:
        tries += 1
        status, _ = client.request("GET", path, headers)
        if status == 200:
            return time.perf_counter() - accepted_at, tries
        if status != 404 or time.perf_counter() - accepted_at > 2.0:
            raise RuntimeError(f"visibility: GET answered {status} after {tries} tries")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def visibility(plan: Plan, pin: Pinning, log_dir: Path, report: Report) -> None:
    """Submit → GET pairs on the emulator (--apply-delay 0), in blocks alternating with the same pairs on the
    baseline (parse-only POST, static GET): the baseline's figure is the floor that HTTP and the machine set."""
    n = plan.visibility_pairs
    block = 100
    post_auth = payloads.sign("POST", payloads.SUBMIT_PATH)
    numbers = range(21, 21 + n)  # 1..20 warm up; numbers only grow (a drop is a contract finding)
    gets = [(payloads.get_path(i), {"Authorization": payloads.sign("GET", payloads.get_path(i))}) for i in numbers]
    bodies = [payloads.submit_body(i, 1, 1) for i in numbers]
    post_headers = {"Authorization": post_auth, "Content-Type": "application/json"}
    delays: dict[str, list[float]] = {"emulator": [], "baseline": []}
    polls: list[int] = []
    # Sequential request pairs: client and server never compete, so neither is pinned; the scheduler may
    # then run the server on whichever CPU the other work on the machine leaves free.
    pinned = os.sched_getaffinity(0)
    os.sched_setaffinity(0, range(os.cpu_count() or 1))
    with (
        servers.emulator(Pinning(), apply_delay=0, name="emulator-delay0").start(log_dir) as emu,
        servers.baseline(Pinning(), name="baseline-visibility").start(log_dir) as base,
        Client(HOST, emu.port) as emu_client,
        Client(HOST, base.port) as base_client,
    ):
        for warm in range(1, 21):  # warm the connections and the code paths on keys that are not measured
            pair(
                emu_client,
                post_headers,
                payloads.submit_body(warm, 1, 1),
                payloads.get_path(warm),
                {"Authorization": payloads.sign("GET", payloads.get_path(warm))},
            )
            pair(base_client, post_headers, bodies[0], *gets[0])
        for first in range(0, n, block):
            for index in range(first, min(n, first + block)):
                took, tries = pair(emu_client, post_headers, bodies[index], *gets[index])
                delays["emulator"].append(took)
                polls.append(tries)
            for index in range(first, min(n, first + block)):
                delays["baseline"].append(pair(base_client, post_headers, bodies[index], *gets[index])[0])
        broken = contract_findings(emu)
    os.sched_setaffinity(0, pinned)
    if broken:
        report.notes.append("WARNING: the visibility traffic raised contract findings: " + ", ".join(broken))
    p50, p99 = (percentile(delays["emulator"], q) * 1000 for q in (0.5, 0.99))
    b50, b99 = (percentile(delays["baseline"], q) * 1000 for q in (0.5, 0.99))
    report.raw["visibility"] = {
        "pairs": n,
        "p50_ms": p50,
        "p99_ms": p99,
        "max_ms": max(delays["emulator"]) * 1000,
        "baseline_p50_ms": b50,
        "baseline_p99_ms": b99,
        "max_gets": max(polls),
        "first_get_hits": sum(1 for p in polls if p == 1),
    }
    report.rows.append(
        Row(
            name=f"Visibility with `--apply-delay 0`: 202 received to first GET 200, {n:,} sequential pairs (ms)",
            emulator=f"p50 {p50:.2f}, p99 {p99:.2f}",
            baseline=f"p50 {b50:.2f}, p99 {b99:.2f}",
            measured=f"p99 {p99:.2f} ms",
            target=f"p99 ≤ {TARGETS['visibility_p99_ms']:.0f} ms",
            result=verdict(p99 <= TARGETS["visibility_p99_ms"]),
            note=f"{sum(1 for p in polls if p == 1):,} of {n:,} visible to the first GET; baseline: the same pairs "
            "on the bare app (its GET round trip: the floor HTTP and the machine set); blocks of 100 alternated, "
            "one keep-alive connection each, not pinned",
        )
    )


# -- delete by properties over HTTP -------------------------------------------------------------------


def delete_http(plan: Plan, pin: Pinning, log_dir: Path, report: Report) -> None:
    from benchmarks.delete_http import delete_over_http

    log(f"delete over HTTP: filling {plan.store_size:,} and 1,000 deployments through POST /bulk")
    found = delete_over_http(plan.store_size, plan.delete_rounds, 100, pin, log_dir)
    report.raw["delete_http"] = found
    small, large = found["small"], found["large"]
    trip = large["median_round_trip_us"] / small["median_round_trip_us"]
    cpu = large["median_server_cpu_us"] / small["median_server_cpu_us"]
    ratio = max(trip, cpu)  # the less favourable of the two, as the throughput rows count theirs
    report.rows.append(
        Row(
            name=f"`deleteDeploymentsByProperty` over HTTP, 10 among {large['stored']:,} vs 10 among "
            f"{small['stored']:,} stored, as a client sees it (µs per delete, round trip)",
            emulator=f"{large['median_round_trip_us']:.0f}",
            baseline=f"{small['median_round_trip_us']:.0f}",
            measured=ratio_text(ratio, TARGETS["delete_ratio"], at_most=True),
            target=f"≤ {TARGETS['delete_ratio']:.1f}× (as fast)",
            result=verdict(ratio <= TARGETS["delete_ratio"]),
            note=f"round trip {trip:.2f}×, server CPU per delete {cpu:.2f}×; {small['deletes']:,} deletes of each, "
            "each with a token of its own, alternated, on two servers at `--apply-delay 0` (applied "
            f"before the 202); server CPU per delete {large['median_server_cpu_us']:.0f} vs "
            f"{small['median_server_cpu_us']:.0f} µs; filled through `POST /bulk` in requests of 10 "
            f"({large['fill_seconds']:.0f} s)",
        )
    )


# -- domain (in-process, own subprocesses) ------------------------------------------------------------


def durability(quick: bool) -> list[Row]:
    """The durable-state rows, from ``python -m benchmarks.durability`` in its own process."""
    from benchmarks.durability import rows

    argv = [sys.executable, "-m", "benchmarks.durability", *(["--quick"] if quick else [])]
    done = subprocess.run(argv, cwd=ROOT, env=servers.child_env(), capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        raise RuntimeError(f"benchmarks.durability failed:\n{done.stderr[-3000:]}")
    return rows(json.loads(done.stdout))


def domain(name: str, *args: str) -> dict[str, Any]:
    argv = [sys.executable, "-m", "benchmarks.domain", name, *args]
    done = subprocess.run(argv, cwd=ROOT, env=servers.child_env(), capture_output=True, text=True, timeout=3600)
    if done.returncode != 0:
        raise RuntimeError(f"benchmarks.domain {name} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def delete_row(large: dict[str, Any], small: dict[str, Any], how: str, note: str) -> Row:
    """An INFO row of in-process deletes by properties: 10 among ``large`` against 10 among ``small``."""
    return Row(
        name=f"`deleteDeploymentsByProperty` of 10 among {large['stored']:,} vs 10 among {small['stored']:,} "
        f"stored{how}, in-process (µs per delete)",
        emulator=f"{large['median_us']:.1f}",
        baseline=f"{small['median_us']:.1f}",
        measured=f"{large['median_us'] / small['median_us']:.2f}×",
        target="report",
        result="INFO",
        note=note,
    )


def domain_benchmarks(plan: Plan, report: Report) -> None:
    size = plan.store_size
    log(f"domain: filling {size:,} deployments through parse_submission + DeploymentService.submit")
    mem = domain(
        "memory-delete",
        "--size",
        str(size),
        "--rounds",
        str(plan.delete_rounds),
        "--per-round",
        str(plan.delete_per_round),
    )
    report.raw["memory_delete"] = mem
    small, large = mem["delete"]["small"], mem["delete"]["large"]
    middle = mem["delete"].get("middle")
    report.rows.append(
        delete_row(
            large,
            small,
            "",
            "the domain call alone, whose small store stays in the CPU cache (see docs/performance.md); "
            f"{small['samples']:,} deletes of each, alternated; p90 {large['p90_us']:.1f} vs {small['p90_us']:.1f} µs"
            + (f"; among {middle['stored']:,}: {middle['median_us']:.1f} µs" if middle else ""),
        )
    )
    if middle:
        report.rows.append(
            delete_row(
                large,
                middle,
                "",
                "both stores far larger than the CPU cache: how the cost grows with the store once the "
                "1,000-deployment store's advantage of fitting in cache is gone (see docs/performance.md)",
            )
        )
    if "delete_cold" in mem:
        cold_small, cold_large = mem["delete_cold"]["small"], mem["delete_cold"]["large"]
        report.rows.append(
            delete_row(
                cold_large,
                cold_small,
                ", each after emptying the CPU caches",
                f"{cold_small['samples']:,} deletes of each, each after writing a 64 MiB buffer: the same cold "
                "cache for both stores, so the store's size is the one difference (the control for the first "
                "in-process row; see docs/performance.md)",
            )
        )
    per = mem["bytes_per_deployment"]
    projected = mem["rss_before"] + per * 1_000_000
    at_million = mem["stored"] >= 1_000_000
    rss = mem["rss_after"] if at_million else projected
    report.rows.append(
        Row(
            name=f"Memory: 1,000,000 stored deployments of {mem['json_bytes_per_deployment']:.0f} bytes "
            "of JSON each (RSS)",
            emulator=f"{rss / GB:.2f} GB" + ("" if at_million else f" (projected from {mem['stored']:,})"),
            baseline=f"{mem['rss_before'] / 1e6:.0f} MB empty",
            measured=f"{per:,.0f} B/deployment",
            target="≤ 1.5 GB",
            result=verdict(rss <= TARGETS["memory_bytes"]),
            note=f"VmRSS after filling, gc.collect()ed; peak VmHWM {mem['rss_peak'] / GB:.2f} GB; "
            f"fill took {mem['fill_seconds']:.0f} s",
        )
    )
    log(f"domain: reset of {plan.reset_size:,}")
    reset = domain("reset", "--size", str(plan.reset_size), "--repeats", str(plan.reset_repeats))
    report.raw["reset"] = reset
    report.rows.append(
        Row(
            name=f"Reset of {reset['stored']:,} stored deployments, `DeploymentService.reset()` (ms)",
            emulator=f"{reset['median_ms']:.0f}",
            baseline="—",
            measured=f"{reset['median_ms']:.0f} ms",
            target="report",
            result="INFO",
            note=f"median of {reset['repeats']}",
        )
    )
    journal = domain("journal", "--size", "0")
    report.raw["journal"] = journal
    if "skipped" in journal:
        report.rows.append(
            Row(
                name="Journal at its cap",
                emulator="—",
                baseline="—",
                measured="—",
                target="report",
                result="SKIP",
                note=journal["skipped"],
            )
        )
    else:
        report.rows.append(
            Row(
                name=f"Journal at its cap of {journal['capacity']:,} entries: one more call (µs)",
                emulator=f"{journal['median_us_per_call_at_cap']:.1f}",
                baseline="—",
                measured=f"{journal['median_us_per_call_at_cap']:.1f} µs",
                target="report",
                result="INFO",
                note=f"full journal holds {journal['rss_bytes_full'] / 1e6:.1f} MB of RSS (7 KiB + 1 KiB bodies each); "
                f"{journal['dropped']:,} entries dropped, none kept past the cap",
            )
        )


# -- profiles -----------------------------------------------------------------------------------------


def profiles(plan: Plan, pin: Pinning, loader: LoadRunner, log_dir: Path, out: Path, report: Report) -> None:
    if profiling.py_spy() is None:
        report.notes.append("profiles skipped: py-spy is not installed")
        return
    for kind in ("get", "submit"):
        with servers.emulator(pin, name=f"emulator-profile-{kind}").start(log_dir) as server:
            prepare_emulator(server)
            request = get_request() if kind == "get" else submit_request(10**12)
            loader.run(server.port, request, plan.warmup, connections=8 if kind == "get" else 4)
            if kind == "submit":
                # updateSequenceNumbers above the warm-up's: resending the warm-up's would profile the
                # lost-update contract check (a client bug) instead of the normal path
                request = submit_request(2 * 10**12)
            raw = out / f"profile-{kind}.txt"
            spy = profiling.start(server.pid, plan.profile_seconds, raw, prefix=pin.client_prefix())
            time.sleep(0.3)
            loader.run(server.port, request, plan.profile_seconds + 1, connections=8 if kind == "get" else 4)
            _, err = spy.communicate(timeout=60)
            if spy.returncode != 0 or not raw.exists():
                report.notes.append(f"profile of {kind} failed: {err.decode(errors='replace').strip()[-300:]}")
                continue
            summary = profiling.summarise(raw)
            report.raw[f"profile_{kind}"] = summary
            title = "getDeploymentByKey" if kind == "get" else "submitDeployments (100 per request)"
            report.profiles.append(profiling.to_markdown(f"Profile: {title}", summary))
            log(f"profile {kind}: {summary['samples']} samples -> {raw}")


# -- the report ---------------------------------------------------------------------------------------


def machine_facts(pin: Pinning, loader: LoadRunner, libraries: dict[str, dict[str, bool]]) -> list[str]:
    import uvicorn

    wrk = wrk_version()
    tool = (
        f"wrk {wrk} (Debian), 1 thread"
        if loader.tool == "wrk"
        else "the Python load generator (benchmarks/loadgen.py: wrk not installed, or --python-load)"
    )
    fast = []
    for name, libs in libraries.items():
        used = [lib for lib, on in libs.items() if on]
        fast.append(f"{name}: {' + '.join(used) if used else 'asyncio + h11 (no uvloop/httptools loaded)'}")
    return [
        f"CPUs: {os.cpu_count()} (nproc), {platform.machine()}, Linux {platform.release()}",
        f"Python {platform.python_version()} ({sys.executable}), uvicorn {uvicorn.__version__}",
        f"Load generator: {tool}",
        f"Pinning: {pin.describe()}",
        f"Event loop and HTTP parser actually loaded: {'; '.join(fast)}",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: fewer rounds, 100,000 instead of 1,000,000")
    parser.add_argument(
        "--only",
        default="http,inprocess,startup,visibility,domain,delete-http,durability,profile",
        help="comma-separated phases: http, inprocess, startup, visibility, domain, delete-http, durability, profile",
    )
    parser.add_argument(
        "--profile",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="profile get and submit with py-spy (default: on for the full run, off with --quick)",
    )
    parser.add_argument(
        "--python-load", action="store_true", help="use the Python load generator even where wrk is installed"
    )
    parser.add_argument("--no-pin", action="store_true", help="do not pin servers and load generator to separate CPUs")
    parser.add_argument(
        "--rows",
        help="the http phase's rows to run, comma-separated (default all): " + ", ".join(c.key for c in COMPARISONS),
    )
    parser.add_argument("--rounds", type=int, help="override the number of emulator/baseline rounds")
    parser.add_argument("--seconds", type=float, help="override the seconds of each load run")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results", help="where results go")
    args = parser.parse_args(argv)

    plan = Plan.for_mode(args.quick)
    if args.rounds:
        plan.rounds = args.rounds
    if args.seconds:
        plan.seconds = args.seconds
    phases = {p.strip() for p in args.only.split(",") if p.strip()}
    if not ((not args.quick) if args.profile is None else args.profile):
        phases.discard("profile")
    pin = Pinning.choose(not args.no_pin)
    if pin.client is not None:
        os.sched_setaffinity(0, {int(pin.client)})  # this process polls and drives: keep it off the servers' CPU
    loader = LoadRunner(pin, use_wrk=not args.python_load)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    log_dir = out / "logs"
    log_dir.mkdir(exist_ok=True)
    report = Report()
    libraries: dict[str, dict[str, bool]] = {}
    started = time.perf_counter()
    load_before = Path("/proc/loadavg").read_text().split()[:3]
    log(
        f"{'quick' if args.quick else 'full'} run; load by {loader.tool}; {pin.describe()}; "
        f"load average {' '.join(load_before)}"
    )

    if "http" in phases:
        log("HTTP throughput")
        rows = {key.strip() for key in args.rows.split(",")} if args.rows else None
        libraries = throughput(plan, loader, pin, log_dir, report, rows)
    if "inprocess" in phases:
        log("in-process GET")
        in_process(plan, report)
    if "startup" in phases:
        log("start-up")
        startup(plan, pin, log_dir, report)
    if "visibility" in phases:
        log("visibility")
        visibility(plan, pin, log_dir, report)
    if "domain" in phases:
        domain_benchmarks(plan, report)
    if "delete-http" in phases:
        delete_http(plan, pin, log_dir, report)
    if "durability" in phases:
        log("durable state: replay, compaction, out-of-order submits")
        report.rows += durability(args.quick)
    if "profile" in phases:
        log("profiles (py-spy)")
        profiles(plan, pin, loader, log_dir, out, report)

    if not libraries:
        with servers.emulator(pin).start(log_dir) as emu:
            libraries = {"emulator": emu.loaded_libraries()}
    facts = machine_facts(pin, loader, libraries)
    load_after = Path("/proc/loadavg").read_text().split()[:3]
    facts.append(
        f"Load average (1, 5, 15 min) from other work on the machine: {' '.join(load_before)} at the start, "
        f"{' '.join(load_after)} at the end"
    )
    mode = "(quick smoke run)" if args.quick else "(full run)"
    table = markdown_table(report.rows)
    text = "\n".join(
        [
            f"Command: `.venv/bin/python -m benchmarks{' --quick' if args.quick else ''}` {mode}, "
            f"{plan.rounds} alternating rounds of {plan.seconds:g} s per HTTP figure. Ratios are emulator ÷ "
            "baseline, the median of the per-round ratios; a throughput row counts the lower of the "
            "requests-per-second ratio and the requests-per-server-CPU-second ratio, a start-up row the "
            "higher of the wall-clock and the CPU-time ratio.",
            "",
            table,
            *[f"- {fact}" for fact in facts],
            *[f"- {note}" for note in report.notes],
            f"- Took {time.perf_counter() - started:.0f} s; {time.strftime('%Y-%m-%d %H:%M %Z')}",
            "",
        ]
    )
    print(text)
    if report.profiles:
        print("\n".join(report.profiles))
    (out / ("latest-quick.md" if args.quick else "latest.md")).write_text(text + "\n" + "\n".join(report.profiles))
    (out / ("latest-quick.json" if args.quick else "latest.json")).write_text(
        json.dumps(
            {
                "plan": asdict(plan),
                "facts": facts,
                "rows": [asdict(r) for r in report.rows],
                "raw": report.raw,
            },
            indent=2,
        )
    )
    failed = [r.name for r in report.rows if r.result == "FAIL"]
    log(f"done: {len(report.rows)} rows, {len(failed)} failing; results in {out}")
    return 0
