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
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from benchmarks.inprocess import WARMUP

ROOT = Path(__file__).resolve().parent.parent
_COLLECTED = re.compile(r"Collected : (\d+)")
COUNTS = {"submit": (40, 120), "get": (400, 1200), "baseline": (400, 1200)}  # requests: fewer, more


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.instructions", description=__doc__.split("\n")[0])
    parser.add_argument("mode", choices=sorted(COUNTS))
    parser.add_argument("--fresh", action="store_true", help="get: a new token for every request")
    args = parser.parse_args(argv)
    if shutil.which("valgrind") is None:
        parser.error("valgrind is not installed (apt-get install valgrind)")
    label = f"{args.mode} (fresh tokens)" if args.fresh else args.mode
    print(f"{label}: {per_request(args.mode, args.fresh):,.0f} instructions per request")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
