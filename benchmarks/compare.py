"""Alternated rounds over HTTP between variants of the emulator: other checkouts of its code, other flags.

    .venv/bin/python -m benchmarks.compare get-new-token before=../before after=. --rounds 36
    .venv/bin/python -m benchmarks.compare get default=. "one-call=.:--journal-size 1" --rounds 30
    .venv/bin/python -m benchmarks.compare get-new-token bare=bare emulator=. --unpinned --connections 16

Each variant is ``NAME=DIR[:FLAGS]``: the emulator of the checkout in ``DIR`` (a ``git worktree`` of another
commit, say), started as ``make bench`` starts it (``--log-level warning``) with ``FLAGS`` (split at
whitespace) added; ``NAME=bare`` is the benchmark's bare route. The servers run on one CPU and the load
generator on the other, as the pinned rows of ``make bench`` run; ``--unpinned`` lets all of them run on
any CPU, as its unpinned rows do (``--unpinned --connections 16`` is the new-token row's load). Every round
loads each variant in turn (in the order given, then in the reverse order in the next round), with the
benchmark's own requests (``--connections``: by default 8 for reads, 4 for submits), and each variant's
rate is divided by the first variant's of the same round. It prints the rounds, then for each variant the
median, the geometric mean and the standard error of those ratios: a change of a few percent needs some
thirty rounds to stand out from a round's noise.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import tempfile
from pathlib import Path

from benchmarks import servers, throughput
from benchmarks.load import LoadRunner
from benchmarks.servers import Pinning, Server

WARMUP_SECONDS = 2.0


def variant(spec: str, pin: Pinning) -> tuple[str, Server, bool]:
    """The name and server (not started) of one ``NAME=DIR[:FLAGS]`` argument, and whether it is an emulator."""
    name, separator, rest = spec.partition("=")
    if not separator or not name:
        raise ValueError(f"a variant is NAME=DIR[:FLAGS] or NAME=bare, got {spec!r}")
    if rest == "bare":
        return name, servers.baseline(pin, name=name), False
    folder, _, flags = rest.partition(":")
    root = Path(folder).resolve()
    if not (root / "emulator" / "__main__.py").is_file():
        raise ValueError(f"{folder!r} is not a checkout of the emulator (no emulator/__main__.py)")
    server = servers.emulator(pin, name=name)
    server.argv += flags.split()
    server.root = root
    return name, server, True


def compare(
    workload: str,
    specs: list[str],
    rounds: int,
    seconds: float,
    *,
    pinned: bool = True,
    connections: int | None = None,
) -> dict[str, list[float]]:
    """Each variant's rate in each round, the variants loaded in turn."""
    pin = Pinning.choose(pinned)
    loader = LoadRunner(pin)
    make_request = throughput.request_maker(workload)
    connections = connections or (4 if "submit" in workload else 8)
    started: dict[str, Server] = {}
    rates: dict[str, list[float]] = {}
    logs = tempfile.TemporaryDirectory(prefix="bench-compare-")  # the servers' output
    try:
        for spec in specs:
            name, server, is_emulator = variant(spec, pin)
            if name in started:
                raise ValueError(f"two variants are named {name!r}")
            started[name] = server.start(Path(logs.name))
            if is_emulator:
                throughput.prepare_emulator(server)
            loader.run(server.port, make_request(WARMUP_SECONDS), WARMUP_SECONDS, connections=connections)
            rates[name] = []
        for round_number in range(1, rounds + 1):
            order = list(started.items())
            for name, server in order if round_number % 2 else order[::-1]:  # ABBA: no variant always first
                result = loader.run(server.port, make_request(seconds), seconds, connections=connections)
                rates[name].append(result.rate)
            shown = ", ".join(f"{name} {values[-1]:,.0f}" for name, values in rates.items())
            print(f"round {round_number}: {shown}", flush=True)
    finally:
        for server in started.values():
            server.stop()
        logs.cleanup()
    return rates


def summary(rates: dict[str, list[float]]) -> list[str]:
    """Per variant, its rounds' ratios to the first variant's: median, geometric mean, standard error."""
    first, *others = rates
    lines = []
    for name in others:
        ratios = [mine / theirs for mine, theirs in zip(rates[name], rates[first], strict=True)]
        error = statistics.stdev(ratios) / math.sqrt(len(ratios)) if len(ratios) > 1 else math.nan
        lines.append(
            f"{name} / {first}: median {statistics.median(ratios):.3f}, geometric mean "
            f"{statistics.geometric_mean(ratios):.3f}, standard error {error:.3f} ({len(ratios)} rounds; "
            f"lowest {min(ratios):.3f}, highest {max(ratios):.3f})"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.compare", description=__doc__.split("\n")[0])
    parser.add_argument("workload", choices=list(throughput.WORKLOADS))
    parser.add_argument("variants", nargs="+", metavar="NAME=DIR[:FLAGS]", help="the first is the reference")
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--seconds", type=float, default=3.0, help="per variant and round")
    parser.add_argument("--unpinned", action="store_true", help="servers and load generator on any CPU")
    parser.add_argument("--connections", type=int, help="default: 8 for reads, 4 for submits")
    args = parser.parse_args(argv)
    if len(args.variants) < 2:
        parser.error("compare needs two variants or more")
    if args.connections is not None and args.connections < 1:
        parser.error("--connections must be at least 1")
    try:
        rates = compare(
            args.workload,
            args.variants,
            args.rounds,
            args.seconds,
            pinned=not args.unpinned,
            connections=args.connections,
        )
    except ValueError as error:
        parser.error(str(error))
    print("\n".join(summary(rates)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
