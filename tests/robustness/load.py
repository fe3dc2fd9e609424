"""A concurrent write load with a reference model: nothing accepted may be lost (issue 7, item 1).

``run_load`` drives N concurrent clients (asyncio tasks, each with its own keep-alive ``httpx.AsyncClient``)
against a running emulator, across several providers: two Connect apps on the site "main", the same app
key on the site "ctx" (context path ``/jira``), and the OAuth client ci-bot through the gateway. They
submit (a small key space, so writes collide, with random higher and lower ``updateSequenceNumber``s),
delete by key and by properties (with and without the deprecated bound), read, and send a few requests
that must be refused. The service's ``before_accept`` hook records every accepted operation in acceptance
order. ``verify`` then flushes the queue, replays the accepted operations with the plain rules of the API
on the store as it was before the run, and compares the result with the store, exactly.

Used by ``tests/robustness/test_no_lost_writes.py`` and, larger, by ``benchmarks/load_no_loss.py``.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx

from emulator.domain.model import DeploymentKey, Provider
from emulator.domain.queue import DeleteByKey, DeleteByProperties, Pending, Upsert
from emulator.server import ThreadedServer
from tests.factories import deployment_data
from tests.helpers import JSON_TYPE, SECRETS
from tests.robustness.support import GATEWAY_BASE, SITE_BASE, Snapshot, connect_token, oauth_token, snapshot

CTX_SECRET = "ctx-secret-0123456789abcdef0123456789"
PIPELINES = ("web", "api")
ENVIRONMENTS = ("prod", "stage")
NUMBERS = (1, 2, 3)
KEYS = [DeploymentKey(p, e, n) for p in PIPELINES for e in ENVIRONMENTS for n in NUMBERS]
PROPERTY_VALUES = {"team": ("red", "blue", "green"), "wave": ("1", "2")}
MAX_USN = 60


@dataclass(frozen=True)
class Target:
    """One provider as a client reaches it: path prefix as sent, Host, how it signs."""

    name: str
    site: str
    provider: Provider
    host: str
    prefix: str  # what the client sends before /bulk, /pipelines/...
    context: str = ""  # the site's context path, left out of the qsh
    secret: str | None = None  # a Connect app's sharedSecret; None: an OAuth bearer token

    @property
    def partition(self) -> tuple[str, Provider]:
        return (self.site, self.provider)


TARGETS = [
    Target("full-app", "main", Provider("connect", "full-app"), "jira.test", SITE_BASE, secret=SECRETS["full-app"]),
    Target("admin-app", "main", Provider("connect", "admin-app"), "jira.test", SITE_BASE, secret=SECRETS["admin-app"]),
    Target(
        "ctx-full-app", "ctx", Provider("connect", "full-app"), "corp.test", "/jira" + SITE_BASE, "/jira", CTX_SECRET
    ),
    Target("ci-bot", "main", Provider("oauth", "ci-bot"), "127.0.0.1", GATEWAY_BASE),
]


def key_path(target: Target, key: DeploymentKey) -> str:
    ids = f"/pipelines/{key.pipeline_id}/environments/{key.environment_id}/deployments/{key.sequence_number}"
    return target.prefix + ids


def deployment(target: Target, key: DeploymentKey, usn: int) -> dict[str, Any]:
    """The data a client sends for (provider, key, usn): always the same, so the model can rebuild it."""
    return deployment_data(
        key.pipeline_id,
        key.environment_id,
        key.sequence_number,
        usn=usn,
        displayName=f"{target.name} {key.pipeline_id}/{key.environment_id}/{key.sequence_number} #{usn}",
        state=("successful", "failed", "in_progress")[usn % 3],
        associations=[{"associationType": "issueIdOrKeys", "values": [f"ABC-{usn}"]}],
    )


@dataclass
class Outcome:
    """What the clients saw, and the operations they expect the emulator to have accepted."""

    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    unexpected: list[str] = field(default_factory=list)  # a status that this request must not get
    transport_errors: list[str] = field(default_factory=list)
    expected_ops: Counter[tuple[Any, ...]] = field(default_factory=Counter)  # from every 202
    duration: float = 0.0
    clients: int = 0

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)


def op_signature(op: Any) -> tuple[Any, ...]:
    if isinstance(op, Upsert):
        props = frozenset(op.properties.items())
        return ("upsert", op.site, op.provider, op.entity.key, op.entity.update_sequence_number, props)
    if isinstance(op, DeleteByKey):
        return ("delete", op.site, op.provider, op.key, op.max_update_sequence_number)
    assert isinstance(op, DeleteByProperties)
    return (
        "delete-by-properties",
        op.site,
        op.provider,
        frozenset(op.properties.items()),
        op.max_update_sequence_number,
    )


class Client:
    def __init__(
        self, index: int, base_url: str, bearer: str, now: Callable[[], float], seed: int, outcome: Outcome
    ) -> None:
        self.rng = random.Random(seed * 1000 + index)
        self.base_url = base_url
        self.bearer = bearer
        self.now = now
        self.outcome = outcome

    def headers(self, target: Target, method: str, path_and_query: str) -> dict[str, str]:
        if target.secret is None:
            return {"Authorization": f"Bearer {self.bearer}", "Host": target.host}
        relative = path_and_query[len(target.context) :]
        signed = connect_token(method, relative, now=self.now(), app=target.provider.id, secret=target.secret)
        return {"Authorization": f"JWT {signed}", "Host": target.host}

    def properties(self) -> dict[str, str]:
        names = self.rng.sample(sorted(PROPERTY_VALUES), self.rng.randint(0, 2))
        return {name: self.rng.choice(PROPERTY_VALUES[name]) for name in names}

    def bound(self, chance: float) -> int | None:
        return self.rng.randint(1, MAX_USN) if self.rng.random() < chance else None

    def next_request(self) -> tuple[Target, str, str, bytes | None, set[int], list[tuple[Any, ...]], dict[str, Any]]:
        """(target, method, path+query, body, statuses it may get, ops a 202 means, context for the 202 body)."""
        rng, target = self.rng, self.rng.choice(TARGETS)
        roll = rng.random()
        if roll < 0.55:
            keys = rng.sample(KEYS, rng.randint(1, 4))
            usns = {key: rng.randint(1, MAX_USN) for key in keys}
            items = [deployment(target, key, usns[key]) for key in keys]
            doomed = set()
            # one item whose only issue the site does not know: rejected, never applied (the site "ctx" declares
            # no projects, so it knows every well-formed key)
            if target.site == "main" and rng.random() < 0.15:
                bad = deployment(target, DeploymentKey("web", "qa", 9), 1)
                bad["associations"] = [{"associationType": "issueIdOrKeys", "values": ["XYZ-1"]}]
                items.append(bad)
                doomed.add(DeploymentKey("web", "qa", 9))
            if rng.random() < 0.10:  # one item without a url: rejected
                bad = deployment(target, DeploymentKey("web", "qa", 8), 1)
                del bad["url"]
                items.append(bad)
                doomed.add(DeploymentKey("web", "qa", 8))
            props = self.properties()
            body = _json({"deployments": items, **({"properties": props} if props else {})})
            ops = [("upsert", target.site, target.provider, key, usns[key], frozenset(props.items())) for key in keys]
            return target, "POST", target.prefix + "/bulk", body, {202}, ops, {"keys": keys, "doomed": doomed}
        if roll < 0.70:
            key, bound = rng.choice(KEYS), self.bound(0.5)
            path = key_path(target, key)
            if bound is not None:
                path += f"?_updateSequenceNumber={bound}"
            return target, "DELETE", path, None, {202}, [("delete", target.site, target.provider, key, bound)], {}
        if roll < 0.85:
            props = self.properties() or {"team": rng.choice(PROPERTY_VALUES["team"])}
            bound = self.bound(0.3)
            query = dict(props, **({"_updateSequenceNumber": str(bound)} if bound is not None else {}))
            path = f"{target.prefix}/bulkByProperties?{urlencode(query)}"
            op = ("delete-by-properties", target.site, target.provider, frozenset(props.items()), bound)
            return target, "DELETE", path, None, {202}, [op], {}
        if roll < 0.95:
            key = rng.choice(KEYS)
            path = key_path(target, key)
            return target, "GET", path, None, {200, 404}, [], {}
        if rng.random() < 0.5:  # refused: a property given twice
            return target, "DELETE", f"{target.prefix}/bulkByProperties?team=red&team=blue", None, {400}, [], {}
        return target, "POST", target.prefix + "/bulk", b'{"deployments": []}', {400}, [], {}

    async def run(self, count: int, deadline: float, http: httpx.AsyncClient) -> None:
        while count > 0 and time.monotonic() < deadline:
            count -= 1
            target, method, path, body, allowed, ops, context = self.next_request()
            headers = self.headers(target, method, path)
            if body is not None:
                headers["Content-Type"] = "application/json"
            self.outcome.requests += 1
            try:
                response = await http.request(method, self.base_url + path, content=body, headers=headers)
            except httpx.HTTPError as error:
                self.outcome.transport_errors.append(f"{method} {path}: {error!r}")
                continue
            self.outcome.statuses[response.status_code] += 1
            if response.status_code not in allowed:
                self.outcome.unexpected.append(f"{method} {path} -> {response.status_code} {response.text[:200]}")
                continue
            if response.status_code != 202:
                continue
            if method == "POST":
                out = response.json()
                accepted = [
                    DeploymentKey(k["pipelineId"], k["environmentId"], k["deploymentSequenceNumber"])
                    for k in out["acceptedDeployments"]
                ]
                rejected = {DeploymentKey(**_key(r["key"])) for r in out["rejectedDeployments"]}
                if sorted(accepted) != sorted(context["keys"]) or rejected != context["doomed"]:
                    self.outcome.unexpected.append(
                        f"POST {path}: accepted {accepted}, rejected {rejected}, sent {context}"
                    )
            self.outcome.expected_ops.update(ops)


def _json(value: Any) -> bytes:
    return json.dumps(value).encode()


def _key(wire: dict[str, Any]) -> dict[str, Any]:
    return {
        "pipeline_id": wire["pipelineId"],
        "environment_id": wire["environmentId"],
        "sequence_number": wire["deploymentSequenceNumber"],
    }


async def _drive(
    base_url: str, clients: int, per_client: int, seconds: float, now: Callable[[], float], seed: int
) -> Outcome:
    outcome = Outcome(clients=clients)
    bearer = await asyncio.to_thread(oauth_token, base_url)
    deadline = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    started = time.perf_counter()
    async with _clients(clients, limits) as pool:
        await asyncio.gather(
            *(
                Client(i, base_url, bearer, now, seed, outcome).run(per_client, deadline, http)
                for i, http in enumerate(pool)
            )
        )
    outcome.duration = time.perf_counter() - started
    return outcome


class _clients:
    """N independent keep-alive clients (one connection each), closed together."""

    def __init__(self, n: int, limits: httpx.Limits) -> None:
        self.pool = [httpx.AsyncClient(timeout=30, limits=limits) for _ in range(n)]

    async def __aenter__(self) -> list[httpx.AsyncClient]:
        return self.pool

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.gather(*(client.aclose() for client in self.pool))


def run_load(
    server: ThreadedServer, *, clients: int, per_client: int, seconds: float, seed: int = 7
) -> tuple[Outcome, list[Pending], Snapshot]:
    """Run the load against ``server``; return what clients saw, the accepted operations, the store before."""
    accepted: list[Pending] = []
    service = server.emulator.service
    before = snapshot(server)
    service.before_accept.append(accepted.extend)  # called on the event-loop thread, in acceptance order
    try:
        outcome = asyncio.run(_drive(server.url, clients, per_client, seconds, server.emulator.clock.now, seed))
    finally:
        service.before_accept.remove(accepted.extend)
    return outcome, accepted, before


# -- the reference model ------------------------------------------------------------------------------------


def replay(before: Snapshot, accepted: list[Pending]) -> dict[Any, Any]:
    """The store after applying ``accepted`` in acceptance order to ``before``, by the API's plain rules.

    Upsert replaces only when the stored updateSequenceNumber is lower than the incoming one; delete by key
    removes the key (if stored, and within the optional bound); delete by properties removes every key of the
    partition whose stored properties hold every given pair (AND), within the optional bound. One partition
    per (site, provider).
    """
    model = dict(before[0])
    for pending in sorted(accepted, key=lambda p: p.seq):
        op = pending.op
        pid = (op.site, op.provider)
        if isinstance(op, Upsert):
            incoming = op.entity
            old = model.get((pid, incoming.key))
            if old is None or old[0] < incoming.update_sequence_number:
                model[(pid, incoming.key)] = (incoming.update_sequence_number, incoming.data, dict(op.properties))
        elif isinstance(op, DeleteByKey):
            old = model.get((pid, op.key))
            if old is not None and (op.max_update_sequence_number is None or old[0] <= op.max_update_sequence_number):
                del model[(pid, op.key)]
        else:
            for (part, key), (usn, _, props) in list(model.items()):
                if part != pid or op.max_update_sequence_number is not None and usn > op.max_update_sequence_number:
                    continue
                if all(props.get(name) == value for name, value in op.properties.items()):
                    del model[(part, key)]
    return model


@dataclass
class Verdict:
    lost: list[Any]  # in the model, not in the store (or stored differently)
    extra: list[Any]  # in the store, not in the model
    phantom_ops: list[Any]  # accepted by the emulator, not answered 202 to any client
    missing_ops: list[Any]  # answered 202, not accepted
    bad_data: list[Any]  # an accepted upsert whose data is not what the client sent
    out_of_order: bool  # apply order (due, seq) differs from acceptance order
    stored: int  # deployments in the store after the flush

    @property
    def lost_writes(self) -> int:
        return len(self.lost) + len(self.extra) + len(self.missing_ops)


def verify(server: ThreadedServer, outcome: Outcome, accepted: list[Pending], before: Snapshot) -> Verdict:
    httpx.post(f"{server.url}/_emulator/queue/flush", timeout=30, headers=JSON_TYPE).raise_for_status()
    after, pending = snapshot(server)
    assert pending == 0, f"{pending} operations still queued after a flush"
    model = replay(before, accepted)
    lost = [k for k in model if after.get(k) != model[k]]
    extra = [k for k in after if k not in model]
    got = Counter(op_signature(p.op) for p in accepted)
    bad = []
    by_name = {t.partition: t for t in TARGETS}
    for p in accepted:
        if isinstance(p.op, Upsert):
            sent = deployment(by_name[(p.op.site, p.op.provider)], p.op.entity.key, p.op.entity.update_sequence_number)
            if p.op.entity.data != {**sent, "schemaVersion": "1.0"}:
                bad.append(p.op.entity.key)
    apply_order = sorted(accepted, key=lambda p: (p.due, p.seq))
    return Verdict(
        lost=lost,
        extra=extra,
        phantom_ops=list((got - outcome.expected_ops).elements())[:10],
        missing_ops=list((outcome.expected_ops - got).elements())[:10],
        bad_data=bad[:10],
        out_of_order=[p.seq for p in apply_order] != sorted(p.seq for p in accepted),
        stored=len(after),
    )
