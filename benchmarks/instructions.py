"""Instructions per request of an in-process path, counted by callgrind: a figure that other work on the
machine does not move.

On a shared machine the in-process timings of ``benchmarks.inprocess`` move by a fifth from one run to the
next on the same code, which hides a change of a few percent. The number of instructions executed does
not depend on the machine's load: this runs ``benchmarks.inprocess`` under valgrind's callgrind with two
request counts (the same warm-up and set-up for both) and divides the difference of the totals by the
difference of the counts. Hash randomisation is off (``PYTHONHASHSEED=0``) so that dict layouts, and the
instructions spent on them, are the same in both runs.

    .venv/bin/python -m benchmarks.instructions submit             # POST /bulk of 100 deployments
    .venv/bin/python -m benchmarks.instructions get --fresh        # signed GET, a new token each time
    .venv/bin/python -m benchmarks.instructions baseline           # the bare Starlette static route

It needs valgrind (``apt-get install valgrind``) and takes about a minute for a submit. Instructions are
not time (a cache miss costs far more than an instruction), so a change is also measured over HTTP.
``get --fresh`` makes the same tokens in both runs (one for each request of the larger), so that their
signing, which is not the emulator's work, cancels out.

``get --http`` and ``submit --http`` count a server's instructions instead: the quiet emulator and the bare
route each run under callgrind, serve a warm-up, and are counted over the next requests of one keep-alive
connection (callgrind's counters zeroed before them and dumped after). That is everything the server process
runs for a request, uvicorn, httptools and the event loop included, but not the kernel. What depends on the
clock is counted as valgrind slows it (some fifty times): uvicorn's tick, ten a second, falls on every few
requests, the apply queue applies a write some twenty requests after it instead of hundreds (each once all
the same), and the call log's batching and line prefixes, made per event-loop turn and per millisecond, would
be counted for every line, so the emulator runs without the call log here:

    .venv/bin/python -m benchmarks.instructions get --http [--fresh]   # about half a minute
    .venv/bin/python -m benchmarks.instructions submit --http
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from benchmarks import payloads, servers
from benchmarks.client import Client
from benchmarks.inprocess import WARMUP
from benchmarks.servers import HOST, Pinning, Server
from benchmarks.throughput import prepare_emulator

ROOT = Path(__file__).resolve().parent.parent
_COLLECTED = re.compile(r"Collected : (\d+)")
COUNTS = {"submit": (40, 120), "get": (400, 1200), "baseline": (400, 1200)}  # requests: fewer, more
HTTP_COUNTS = {"get": (300, 2000), "submit": (30, 200)}  # requests over HTTP: warm-up, then counted
SERVED = ("bare route", "emulator (--log-level warning)")
_TOTALS = re.compile(r"^(?:summary|totals): (\d+)", re.MULTILINE)


def instructions(mode: str, count: int, fresh: bool, tokens: int) -> int:
    """All instructions of one run of ``benchmarks.inprocess`` with ``count`` requests (and ``tokens`` made)."""
    argv = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable]
    argv += ["-m", "benchmarks.inprocess", mode, str(count)]
    argv += ["--fresh", "--tokens", str(tokens)] if fresh else []
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    found = _COLLECTED.search(done.stderr)
    if found is None:
        raise RuntimeError(f"callgrind reported no total:\n{done.stderr[-2000:]}")
    return int(found[1])


def per_request(mode: str, fresh: bool = False, counts: tuple[int, int] | None = None) -> float:
    low, high = counts or COUNTS[mode]
    tokens = high + WARMUP  # the same tokens made in both runs: their signing is not counted
    return (instructions(mode, high, fresh, tokens) - instructions(mode, low, fresh, tokens)) / (high - low)


HttpRequest = tuple[str, str, dict[str, str], bytes]  # method, path, headers, body


def served(role: str, mode: str, fresh: bool) -> float:
    """Instructions the server process of ``role`` (one of ``SERVED``) runs per request of ``mode`` (a
    signed GET, or a submit of 100 deployments) over HTTP."""
    warmup, count = HTTP_COUNTS[mode]
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "callgrind.out"
        server = servers.baseline(Pinning()) if role == SERVED[0] else servers.emulator(Pinning())
        server.argv = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", *server.argv]
        with server.start(Path(folder), timeout=600):
            if role != SERVED[0]:
                prepare_emulator(server)
            requests = http_requests(mode, fresh, warmup + count)
            with Client(HOST, server.port, timeout=120) as client:
                _send(client, requests[:warmup])
                _callgrind_control("--zero", server)
                _send(client, requests[warmup:])
                _callgrind_control("--dump", server)
        dumps = sorted(Path(folder).glob("callgrind.out.*"), key=lambda p: int(p.name.rpartition(".")[2]))
        found = _TOTALS.search(dumps[0].read_text())
        if found is None:
            raise RuntimeError(f"callgrind's dump has no total: {dumps[0]}")
        return int(found[1]) / count


def http_requests(mode: str, fresh: bool, count: int) -> list[HttpRequest]:
    """The benchmark's requests of ``mode``: GETs of one deployment (one token, or a new one each), or
    submits of the same 100 deployments with a higher ``updateSequenceNumber`` each time."""
    if mode == "submit":
        path, parts = payloads.SUBMIT_PATH, payloads.submit_template(100)
        headers = {"Authorization": payloads.sign("POST", path), "Content-Type": "application/json"}
        return [("POST", path, headers, str(10**12 + number).encode().join(parts)) for number in range(count)]
    path = payloads.get_path(1)
    if fresh:
        authorizations = payloads.fresh_tokens("GET", path, count)
    else:
        authorizations = [payloads.sign("GET", path)] * count
    return [("GET", path, {"Authorization": authorization}, b"") for authorization in authorizations]


def _send(client: Client, requests: list[HttpRequest]) -> None:
    for method, path, headers, body in requests:
        status, answer = client.request(method, path, headers, body)
        if status not in (200, 202):
            raise RuntimeError(f"the server answered {method} {path} with {status}: {answer[:300]!r}")


def _callgrind_control(action: str, server: Server) -> None:
    subprocess.run(["callgrind_control", action, str(server.pid)], check=True, capture_output=True)


def print_served(mode: str, fresh: bool) -> None:
    os.environ["PYTHONHASHSEED"] = "0"  # the servers' dict layouts the same from run to run
    with ThreadPoolExecutor(len(SERVED)) as pool:  # each server runs on valgrind's one thread
        counts = dict(zip(SERVED, pool.map(lambda role: served(role, mode, fresh), SERVED), strict=True))
    bare = counts[SERVED[0]]
    if mode == "submit":
        print("submit of 100 deployments over HTTP (the bare route parses it only), instructions of the server:")
    else:
        label = "a new token on every request" if fresh else "one token"
        print(f"signed GET over HTTP ({label}), instructions of the server per request:")
    for role, count in counts.items():
        print(f"  {role:45} {count:11,.0f}   {bare / count:.2f}x of the bare route's")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.instructions", description=__doc__.split("\n")[0])
    parser.add_argument("mode", choices=sorted(COUNTS))
    parser.add_argument("--fresh", action="store_true", help="get: a new token for every request")
    parser.add_argument("--http", action="store_true", help="get, submit: count whole servers' instructions over HTTP")
    args = parser.parse_args(argv)
    if shutil.which("valgrind") is None:
        parser.error("valgrind is not installed (apt-get install valgrind)")
    if args.http:
        if args.mode not in HTTP_COUNTS or (args.fresh and args.mode != "get"):
            parser.error("--http counts signed GETs (get, get --fresh) or submits (submit)")
        print_served(args.mode, args.fresh)
        return 0
    label = f"{args.mode} (fresh tokens)" if args.fresh else args.mode
    print(f"{label}: {per_request(args.mode, args.fresh):,.0f} instructions per request")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
