"""The HTTP throughput rows: the emulator against a bare app, alternated round by round on live servers.

Four servers run for the whole phase: the emulator quiet (``--log-level warning``) and at its defaults
(``info``: one call-log line per call), the bare Starlette app quiet and with uvicorn's access log on. Each
comparison moves the two servers it compares onto the CPUs it asks for (one CPU, with the load generator on
the other; or any CPU, as a CI runner's load hits them), warms both up, then alternates them for the
plan's rounds. Ratios are subject ÷ reference per round; a row counts the lower of the requests-per-second
ratio and the requests-per-server-CPU-second ratio: the median over rounds, or for the submit rows (whose
target holds "in every round") the lowest round.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from benchmarks import payloads, servers
from benchmarks.client import Client
from benchmarks.load import LoadRunner, Request, Result
from benchmarks.report import Report, Row, log, median, ratio_text, verdict
from benchmarks.servers import HOST, Pinning, Server

if TYPE_CHECKING:
    from pathlib import Path

    from benchmarks.run import Plan


@dataclass(frozen=True)
class Workload:
    """What the load generator sends, and how a request counts."""

    title: str  # the operation, as the row names it
    per_request: int  # items per request: 100 for a submit, 1 for a read
    unit: str


WORKLOADS = {
    "get": Workload("`getDeploymentByKey`, Connect JWT + qsh verified", 1, "req/s"),
    "get-new-token": Workload("`getDeploymentByKey`, a new Connect JWT on every request", 1, "req/s"),
    "submit": Workload("`submitDeployments`, 100 deployments per request", 100, "deployments/s"),
    "build-get": Workload("`getBuildByKey`, Connect JWT + qsh verified", 1, "req/s"),
    "build-submit": Workload("`submitBuilds`, 100 builds per request", 100, "builds/s"),
}


@dataclass(frozen=True)
class Comparison:
    """One row: a workload on two servers, how they run, and the target of subject ÷ reference."""

    key: str  # the row's name in latest.json's raw figures
    workload: str
    subject: str  # a server of ``start_servers``
    reference: str
    against: str  # what the row names the reference
    pinned: bool  # server on one CPU, load generator on the other; else both anywhere
    connections: int
    target: float
    every_round: bool = False


BARE = "a bare static route"
PARSE_ONLY = "a parse-only route"
COMPARISONS = (
    Comparison("get", "get", "quiet", "bare", BARE, pinned=True, connections=8, target=0.70),
    Comparison("get_unpinned", "get", "quiet", "bare", BARE, pinned=False, connections=16, target=0.70),
    Comparison(
        "get_defaults",
        "get",
        "default",
        "bare-logged",
        "a bare static route with uvicorn's access log on (both at their defaults)",
        pinned=False,
        connections=16,
        target=1.0,
    ),
    Comparison(
        "get_call_log",
        "get",
        "default",
        "quiet",
        "the same emulator at `--log-level warning` (the call log's cost)",
        pinned=False,
        connections=16,
        target=0.90,
    ),
    Comparison("get_new_token", "get-new-token", "quiet", "bare", BARE, pinned=False, connections=16, target=0.60),
    Comparison(
        "submit", "submit", "quiet", "bare", PARSE_ONLY, pinned=True, connections=4, target=0.60, every_round=True
    ),
    Comparison("build_get", "build-get", "quiet", "bare", BARE, pinned=True, connections=8, target=0.70),
    Comparison(
        "build_submit",
        "build-submit",
        "quiet",
        "bare",
        PARSE_ONLY,
        pinned=True,
        connections=4,
        target=0.60,
        every_round=True,
    ),
)


# -- requests -----------------------------------------------------------------------------------------


def get_request(path: str | None = None) -> Request:
    path = path or payloads.get_path(1)
    return Request("GET", path, {"Authorization": payloads.sign("GET", path)})


def submit_request(usn_start: int, path: str = payloads.SUBMIT_PATH) -> Request:
    template = payloads.builds_submit_template(100) if path == payloads.BUILDS_SUBMIT_PATH else None
    parts = [p.decode() for p in (template or payloads.submit_template(100))]
    headers = {"Content-Type": "application/json", "Authorization": payloads.sign("POST", path)}
    return Request("POST", path, headers, body_parts=parts, usn_start=usn_start)


def new_token_request(seconds: float) -> Request:
    """A GET whose every request carries its own token: more tokens than the fastest server answers."""
    path = payloads.get_path(1)
    tokens = payloads.fresh_tokens("GET", path, int(20_000 * seconds) + 1)
    return Request("GET", path, {}, authorizations=tokens)


def request_maker(workload: str) -> Callable[[float], Request]:
    """A new request for each load run of ``workload`` (for ``seconds``): fresh tokens, growing USNs."""
    usn: Iterator[int] = iter(range(1, 10_000))
    makers: dict[str, Callable[[float], Request]] = {
        "get": lambda s: get_request(),
        "get-new-token": new_token_request,
        "submit": lambda s: submit_request(next(usn) * 100_000_000),
        "build-get": lambda s: get_request(payloads.build_get_path(1)),
        "build-submit": lambda s: submit_request(next(usn) * 100_000_000, payloads.BUILDS_SUBMIT_PATH),
    }
    return makers[workload]


# -- the servers --------------------------------------------------------------------------------------


def start_servers(log_dir: Path) -> dict[str, Server]:
    """The four servers of the phase, on any CPU; each comparison moves the two it runs."""
    made = {
        "quiet": servers.emulator(Pinning(), name="emulator"),
        "default": servers.emulator(Pinning(), name="emulator-default-log", log_level=None),
        "bare": servers.baseline(Pinning(), name="baseline"),
        "bare-logged": servers.baseline(Pinning(), name="baseline-access-log", access_log=True),
    }
    started: dict[str, Server] = {}
    try:
        for role, server in made.items():
            started[role] = server.start(log_dir)
            if role in ("quiet", "default"):
                prepare_emulator(server)
    except BaseException:
        stop_servers(started)
        raise
    return started


def stop_servers(running: dict[str, Server]) -> None:
    for server in running.values():
        server.stop()


def prepare_emulator(server: Server) -> None:
    """Store deployment 1 and build 1 (the GET targets), checking that 100-item submits are accepted whole."""
    with Client(HOST, server.port) as client:
        for path, body, field in (
            (payloads.SUBMIT_PATH, payloads.submit_body(1, 100, 1), "acceptedDeployments"),
            (payloads.BUILDS_SUBMIT_PATH, payloads.builds_submit_body(1, 100, 1), "acceptedBuilds"),
        ):
            headers = {"Authorization": payloads.sign("POST", path), "Content-Type": "application/json"}
            status, answer = client.request("POST", path, headers, body)
            if status != 202 or len(json.loads(answer)[field]) != 100:
                raise RuntimeError(f"the emulator refused the benchmark's submit: {status} {answer[:500]!r}")
        client.request("POST", "/_emulator/queue/flush", {"Content-Type": "application/json"})
        for path in (payloads.get_path(1), payloads.build_get_path(1)):
            req = get_request(path)
            status, answer = client.request("GET", req.path, req.headers)
            if status != 200:
                raise RuntimeError(f"the emulator did not serve the benchmark's GET: {status} {answer[:500]!r}")


def contract_findings(server: Server) -> list[str]:
    """Contract rules the benchmark's own traffic broke (it must break none: findings cost extra work)."""
    with Client(HOST, server.port) as client:
        status, body = client.request("GET", "/_emulator/contract-report")
    if status != 200:
        return []
    try:
        providers = json.loads(body).get("providers", [])
        return sorted({f"{f['rule']} x{f['count']}" for p in providers for f in p.get("findings", [])})
    except (ValueError, AttributeError, KeyError, TypeError):
        return []


def refusals(server: Server) -> str:
    """What the emulator's journal says about the calls it refused (status 400 or more), newest first: a run
    with errors names their statuses and a reason, not only a count."""
    with Client(HOST, server.port) as client:
        status, body = client.request("GET", "/_emulator/journal?status=4xx&limit=1000")
        status5, body5 = client.request("GET", "/_emulator/journal?status=5xx&limit=1000")
    calls = [c for s, b in ((status, body), (status5, body5)) if s == 200 for c in json.loads(b)["entries"]]
    if not calls:
        return "none in the journal (socket errors)"
    counts: dict[int, int] = {}
    for call in calls:
        counts[call["status"]] = counts.get(call["status"], 0) + 1
    shown = ", ".join(f"{n}x {code}" for code, n in sorted(counts.items()))
    return f"{shown} among the newest refusals the journal keeps; the newest: {calls[0].get('reason')}"


def flush(server: Server) -> None:
    with Client(HOST, server.port) as client:
        client.request("POST", "/_emulator/queue/flush", {"Content-Type": "application/json"})


# -- measuring ----------------------------------------------------------------------------------------

EMULATORS = ("quiet", "default")


@dataclass
class Rounds:
    """One comparison's load runs: warm-ups excluded, in the order they ran, and why any is invalid."""

    subject: list[Result]
    reference: list[Result]
    problems: list[str]


def throughput(
    plan: Plan, loader: LoadRunner, pin: Pinning, log_dir: Path, report: Report, keys: set[str] | None = None
) -> dict[str, dict[str, bool]]:
    """The rows of ``COMPARISONS`` (those of ``keys``, or all) on one set of live servers; the fast
    libraries each server loaded."""
    running = start_servers(log_dir)
    try:
        libraries = {"emulator": running["quiet"].loaded_libraries(), "baseline": running["bare"].loaded_libraries()}
        for comparison in (c for c in COMPARISONS if keys is None or c.key in keys):
            rounds = measure(comparison, plan, loader, pin, running)
            report.rows.append(to_row(comparison, rounds, report))
        for role in EMULATORS:
            broken = contract_findings(running[role])
            if broken:
                report.notes.append("WARNING: the benchmark's traffic raised contract findings: " + ", ".join(broken))
    finally:
        stop_servers(running)
    return libraries


def measure(comparison: Comparison, plan: Plan, loader: LoadRunner, pin: Pinning, running: dict[str, Server]) -> Rounds:
    roles = (comparison.subject, comparison.reference)
    cpus = {int(pin.server)} if comparison.pinned and pin.server is not None else None
    for role in roles:
        running[role].run_on(cpus)
    make = request_maker(comparison.workload)
    rounds = Rounds([], [], [])

    def one(role: str, seconds: float) -> Result:
        server, request = running[role], make(seconds)
        cpu = server.cpu_seconds()
        result = loader.run(server.port, request, seconds, comparison.connections, pinned=comparison.pinned)
        if role in EMULATORS:
            if result.errors:
                rounds.problems.append(f"{server.name} refused calls: {refusals(server)}")
            if request.body_parts is not None:
                flush(server)  # what is still pending is applied now, on this run's CPU account
            if request.authorizations is not None and result.requests > len(request.authorizations):
                rounds.problems.append(f"{server.name} got a token twice ({result.requests:,} requests)")
        result.server_cpu = (server.cpu_seconds() - cpu) / result.seconds
        return result

    log(f"{comparison.key}: warm-up")
    for role in roles:
        one(role, plan.warmup)
    for index in range(plan.rounds):
        for role in roles if index % 2 == 0 else roles[::-1]:
            result = one(role, plan.seconds)
            (rounds.subject if role == comparison.subject else rounds.reference).append(result)
            log(
                f"{comparison.key} round {index + 1}/{plan.rounds} {running[role].name}: {result.rate:,.0f} req/s"
                f" (p99 {result.p99_us / 1000:.1f} ms, server CPU {result.server_cpu:.0%}, errors {result.errors})"
            )
    return rounds


def to_row(comparison: Comparison, rounds: Rounds, report: Report) -> Row:
    workload = WORKLOADS[comparison.workload]
    subject, reference = rounds.subject, rounds.reference
    paired = [s.rate / r.rate for s, r in zip(subject, reference, strict=True) if r.rate]
    # requests per CPU-second of the server: steadier than throughput when other work takes CPU time
    per_cpu = [
        (s.rate / s.server_cpu) / (r.rate / r.server_cpu)
        for s, r in zip(subject, reference, strict=True)
        if s.server_cpu > 0 and r.server_cpu > 0
    ]
    by_round = [min(p, c) for p, c in zip(paired, per_cpu, strict=False)]
    measured = min(by_round) if comparison.every_round else min(median(paired), median(per_cpu))
    errors = sum(r.errors for r in subject + reference)
    report.raw[f"{comparison.key}_throughput"] = {
        "comparison": asdict(comparison),
        "subject": [asdict(r) | {"rate": r.rate} for r in subject],
        "reference": [asdict(r) | {"rate": r.rate} for r in reference],
        "paired_ratios": paired,
        "per_cpu_ratios": per_cpu,
        "problems": rounds.problems,
    }
    how = f"{'one CPU each' if comparison.pinned else 'unpinned'}, {comparison.connections} connections"
    return Row(
        name=f"{workload.title}, vs {comparison.against}; {how} ({workload.unit})",
        emulator=f"{median([r.rate * workload.per_request for r in subject]):,.0f}",
        baseline=f"{median([r.rate * workload.per_request for r in reference]):,.0f}",
        measured=ratio_text(measured, comparison.target) + (" (lowest round)" if comparison.every_round else ""),
        target=f"≥ {comparison.target:.2f}×" + (" every round" if comparison.every_round else ""),
        result="FAIL" if errors or rounds.problems else verdict(measured >= comparison.target),
        note=row_note(comparison, rounds, paired, per_cpu, errors),
    )


def row_note(comparison: Comparison, rounds: Rounds, paired: list[float], per_cpu: list[float], errors: int) -> str:
    how = (
        f"server on one CPU, wrk on the other, {comparison.connections} connections"
        if comparison.pinned
        else f"nothing pinned, {comparison.connections} connections"
    )
    cpu_use = " vs ".join(f"{median([r.server_cpu for r in side]):.0%}" for side in (rounds.subject, rounds.reference))
    note = (
        f"{how}; throughput ratio {median(paired):.2f}× (rounds {min(paired):.2f}–{max(paired):.2f}), "
        f"per server CPU-second {median(per_cpu):.2f}× (rounds {min(per_cpu):.2f}–{max(per_cpu):.2f}); "
        f"server CPU use {cpu_use}"
    )
    if errors or rounds.problems:
        note += f"; run invalid: {errors} non-2xx or socket errors; " + "; ".join(dict.fromkeys(rounds.problems))
    return note
