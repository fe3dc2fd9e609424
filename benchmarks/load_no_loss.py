"""No lost writes, at scale: the load of tests/robustness/test_no_lost_writes.py, larger, as a script.

    .venv/bin/python benchmarks/load_no_loss.py --clients 32 --seconds 20

Starts its own emulator (real uvicorn on a free 127.0.0.1 port, the fixture sites of tests/data/sites.json,
the real clock, an apply delay of 50 ms by default so the background applier races the requests), runs
``--clients`` concurrent keep-alive clients for ``--seconds`` across four providers (submit with higher and
lower updateSequenceNumbers, delete by key and by properties, read, a few refused requests), flushes the
queue, and compares the store with the reference model replayed from the accepted operations in acceptance
order. Prints one markdown table row; exits 1 if anything was lost, any answer was a 5xx, or a client got
a status it should not have.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from emulator.config import Settings  # noqa: E402
from emulator.server import ThreadedServer  # noqa: E402
from tests.helpers import SITES  # noqa: E402
from tests.robustness.load import run_load, verify  # noqa: E402
from tests.robustness.support import watch_failures  # noqa: E402

HEADER = "| command | requests | concurrency | duration (s) | requests/s | accepted ops | 5xx | lost writes |"
RULE = "|---|---:|---:|---:|---:|---:|---:|---:|"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=32, help="concurrent clients (default 32)")
    parser.add_argument("--seconds", type=float, default=20.0, help="how long the load runs (default 20)")
    parser.add_argument("--requests", type=int, default=1_000_000, help="at most this many requests per client")
    parser.add_argument("--apply-delay", type=float, default=0.05, help="the emulator's apply delay (default 0.05)")
    parser.add_argument("--seed", type=int, default=7, help="seed of the clients' random choices")
    args = parser.parse_args(argv)

    settings = Settings(host="127.0.0.1", port=0, fixtures=SITES, apply_delay=args.apply_delay, log_level="warning")
    with ThreadedServer(settings) as server:
        with watch_failures(server) as watch:
            outcome, accepted, before = run_load(
                server, clients=args.clients, per_client=args.requests, seconds=args.seconds, seed=args.seed
            )
            verdict = verify(server, outcome, accepted, before)
            hidden = watch.take()

    command = f"`benchmarks/load_no_loss.py --clients {args.clients} --seconds {args.seconds:g}`"
    rate = outcome.requests / outcome.duration if outcome.duration else 0.0
    print(HEADER)
    print(RULE)
    print(
        f"| {command} | {outcome.requests} | {outcome.clients} | {outcome.duration:.1f} | {rate:.0f} | "
        f"{len(accepted)} | {outcome.server_errors} | {verdict.lost_writes} |"
    )
    statuses = ", ".join(f"{status}: {n}" for status, n in sorted(outcome.statuses.items()))
    print(f"\nstatuses {statuses}; deployments stored after the flush: {verdict.stored}", file=sys.stderr)
    problems = {
        "lost or differing records": verdict.lost[:5],
        "records the model does not have": verdict.extra[:5],
        "202s without an accepted operation": verdict.missing_ops,
        "accepted operations no client was told about": verdict.phantom_ops,
        "accepted data not as sent": verdict.bad_data,
        "unexpected statuses": outcome.unexpected[:5],
        "transport errors": outcome.transport_errors[:5],
        "5xx or tracebacks on the server": hidden[:5],
    }
    if verdict.out_of_order:
        problems["applied out of acceptance order"] = ["yes"]
    failed = {name: found for name, found in problems.items() if found}
    for name, found in failed.items():
        print(f"{name}: {found}", file=sys.stderr)
    return 1 if failed or outcome.server_errors else 0


if __name__ == "__main__":
    sys.exit(main())
