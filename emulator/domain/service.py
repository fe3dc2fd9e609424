"""The one facade the HTTP layers call: submit, read, delete, gate, flush, reset.

Concurrency rule: every HTTP handler is ``async`` and every method here is synchronous with no
``await`` inside, so each call is atomic on the event loop and no lock is needed. Every public
method first applies what is due by the clock, so what a read sees depends only on the clock and
the order of calls, never on when a background task last woke up.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from emulator.domain.clock import Clock
from emulator.domain.gating import STATUSES, auto_decide, initial_gating
from emulator.domain.model import (
    ISSUE_ASSOCIATION_TYPES,
    SERVICE_ASSOCIATION_TYPE,
    Association,
    DeploymentInput,
    DeploymentKey,
    GatingState,
    Provider,
    StoredDeployment,
)
from emulator.domain.queue import ApplyQueue, DeleteByKey, DeleteByProperties, Operation, Pending, Run, Upsert
from emulator.domain.sites import ConnectApp, OAuthClient, Site, SiteRegistry
from emulator.domain.store import DeploymentStore, Partition

NO_VALID_ASSOCIATIONS = "No valid associations found for deployment"


class QueueFull(Exception):
    """The apply queue holds ``max_pending`` operations: the caller should retry later (503)."""


@dataclass(slots=True)
class SubmitOutcome:
    accepted: list[DeploymentKey] = field(default_factory=list)
    rejected: list[tuple[DeploymentKey, list[str]]] = field(default_factory=list)
    unknown_issue_keys: list[str] = field(default_factory=list)
    unknown_associations: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Applied:
    """What applying one operation did, for observers (journal, contract findings)."""

    pending: Pending
    changed: list[DeploymentKey]
    skipped: bool  # an upsert whose updateSequenceNumber did not grow


class DeploymentService:
    def __init__(
        self, sites: SiteRegistry, clock: Clock, *, apply_delay: float = 0.5, rng: random.Random | None = None
    ) -> None:
        self.sites = sites
        self.clock = clock
        self.apply_delay = apply_delay
        self.jitter = 0.0  # up to this many seconds more, drawn per operation
        self.out_of_order = False  # a write overtakes the pending writes of the same deployment
        self.paused = False  # nothing applies by itself; flush still does
        self.rng = rng or random.Random()
        self.max_pending: int | None = None  # bound on the apply queue; None: unbounded
        self.on_accept: list[Callable[[Pending], None]] = []
        # control changes that durable state must replay: ("reset", site), ("site-add", site), ...
        self.on_change: list[Callable[..., None]] = []
        self.store = DeploymentStore()
        self.queue = ApplyQueue()
        self.on_apply: list[Callable[[Applied], None]] = []

    # -- writes -------------------------------------------------------------------------------

    def submit(
        self, site: Site, provider: Provider, deployments: list[DeploymentInput], properties: Mapping[str, str]
    ) -> SubmitOutcome:
        self.apply_due()
        self._make_room(len(deployments))
        outcome = SubmitOutcome()
        unknown_groups: dict[str, list[Any]] = {}
        shared = dict(properties)  # one copy for the whole request; stored records never change it
        if not site.projects and not site.services:  # no catalogue: every value is known
            outcome.accepted = [deployment.key for deployment in deployments]
            self._enqueue_all(site, [Upsert(site.name, provider, d, shared) for d in deployments])
            return outcome
        known_values: dict[tuple[str, Any], bool] = {}  # one lookup per distinct value in the request
        upserts = []
        for deployment in deployments:
            known = _split_known(site, deployment, outcome.unknown_issue_keys, unknown_groups, known_values)
            if known is None:
                outcome.rejected.append((deployment.key, [NO_VALID_ASSOCIATIONS]))
                continue
            outcome.accepted.append(deployment.key)
            upserts.append(Upsert(site.name, provider, known, shared))
        self._enqueue_all(site, upserts)
        outcome.unknown_issue_keys = _once(outcome.unknown_issue_keys)
        outcome.unknown_associations = [
            {"associationType": kind, "values": _once(values)} for kind, values in unknown_groups.items()
        ]
        return outcome

    def delete(self, site: Site, provider: Provider, key: DeploymentKey, max_usn: int | None = None) -> None:
        self.apply_due()
        self._make_room(1)
        self._enqueue(site, DeleteByKey(site.name, provider, key, max_usn))

    def delete_by_properties(
        self, site: Site, provider: Provider, properties: Mapping[str, str], max_usn: int | None = None
    ) -> None:
        assert properties, "at least one property is required"
        self.apply_due()
        self._make_room(1)
        self._enqueue(site, DeleteByProperties(site.name, provider, dict(properties), max_usn))

    def seed(
        self, site: Site, provider: Provider, deployments: list[DeploymentInput], props: Mapping[str, str]
    ) -> None:
        """Store fixture deployments at once, as if their writes had already applied."""
        for deployment in deployments:
            self._apply(Upsert(site.name, provider, deployment, dict(props)))

    def _make_room(self, wanted: int) -> None:
        if self.max_pending is not None and len(self.queue) + wanted > self.max_pending:
            raise QueueFull(f"the apply queue holds {len(self.queue)} of at most {self.max_pending} operations")

    def delay_for(self, site: Site) -> float:
        return self.apply_delay if site.apply_delay is None else site.apply_delay

    def _enqueue_all(self, site: Site, ops: list[Upsert]) -> None:
        """Enqueue one request's writes, in order, as one run of the queue: as ``_enqueue`` one by one,
        with the clock read once and, at apply delay 0, the writes applied together after the last is
        queued."""
        if self.out_of_order or self.jitter or not ops:
            for op in ops:
                self._enqueue(site, op)
            return
        now = self.clock.now()
        due = now + self.delay_for(site)
        run = self.queue.push_all(ops, accepted_at=now, due=due)  # type: ignore[arg-type]
        observers = self.on_accept
        if observers:
            for pending in run.pendings():
                for observer in observers:
                    observer(pending)
        if due <= now:
            self.apply_due()

    def _enqueue(self, site: Site, op: Operation) -> None:
        now = self.clock.now()
        due = now + self.delay_for(site) + (self.rng.uniform(0, self.jitter) if self.jitter else 0.0)
        if self.out_of_order and isinstance(op, Upsert):
            overtaken = [p.due for p in self.queue if _same_deployment(p.op, op)]
            if overtaken:
                due = max(now, min(overtaken) - 1e-6)
        pending = self.queue.push(op, accepted_at=now, due=due)
        for observer in self.on_accept:
            observer(pending)
        if due <= now:
            self.apply_due()

    # -- reads --------------------------------------------------------------------------------

    def get(self, site: Site, provider: Provider, key: DeploymentKey) -> StoredDeployment | None:
        self.apply_due()
        return self.store.get(site.name, provider, key)

    def latest_accepted(
        self, site: Site, provider: Provider
    ) -> Callable[[DeploymentKey], tuple[int, DeploymentInput | StoredDeployment] | None]:
        """A lookup of the newest accepted write of a deployment, pending or applied: (updateSequenceNumber,
        the write), where the write has ``body`` and ``data``. One function for a request's keys, valid
        until the next change: it reads the queue's and the store's indexes of this site and provider."""
        pending = self.queue.latest_of(site.name, provider)
        records = self.store.records_of(site.name, provider)

        def latest(key: DeploymentKey) -> tuple[int, DeploymentInput | StoredDeployment] | None:
            upsert = pending.get(key)
            if upsert is not None:
                deployment = upsert.deployment
                return deployment.update_sequence_number, deployment
            record = records.get(key)
            return None if record is None else (record.update_sequence_number, record)

        return latest

    def gating_status(self, site: Site, provider: Provider, key: DeploymentKey) -> GatingState | None:
        """What a poll of the gating status sees; a poll counts towards a site's after-N-polls rule."""
        record = self.get(site, provider, key)
        if record is None or record.gating is None:
            return None
        record.gating.polls += 1
        auto_decide(site, record.gating, self.clock.now())
        return record.gating

    def decide_gating(
        self, site: Site, provider: Provider, key: DeploymentKey, status: str, details: list[dict[str, str]] | None
    ) -> GatingState | None:
        """An explicit decision, as a change manager in Jira Service Management would make it."""
        assert status in STATUSES, f"unknown gating status {status!r}"
        record = self.get(site, provider, key)
        if record is None or record.gating is None:
            return None
        gating = record.gating
        gating.status, gating.updated = status, self.clock.now()
        if details is not None:
            gating.details = details
        self._changed("gating", site.name, provider, key, gating)
        return gating

    # -- the applier --------------------------------------------------------------------------

    def apply_due(self) -> int:
        if self.paused:
            return 0
        now = self.clock.now()
        next_due = self.queue.next_due()
        if next_due is None or next_due > now:  # every read asks: most of the time nothing is due
            return 0
        return self._apply_all(self.queue.pop_due_runs(now), now)

    def flush(self) -> int:
        """Apply everything pending now, due or not."""
        return self._apply_all(self.queue.pop_all_runs(), self.clock.now())

    def next_due(self) -> float | None:
        return self.queue.next_due()

    def _apply_all(self, runs: Iterable[Run], now: float) -> int:
        """Apply runs taken off the queue at ``now``, in order, and tell the observers. If applying or an
        observer fails part way, the rest of the run goes back on the queue."""
        count = 0
        observers, store = self.on_apply, self.store
        site, provider, part = None, None, Partition()
        for run in runs:
            for index, op in enumerate(run.ops):
                try:
                    if op.site is not site or op.provider is not provider:  # a run's writes share them
                        site, provider = op.site, op.provider
                        part = store.partition(site, provider)
                    if type(op) is Upsert:
                        changed, skipped = self._apply_upsert(op, part, now)
                    else:
                        changed, skipped = self._apply_delete(op, part), False  # type: ignore[arg-type]
                    for observer in observers:
                        observer(Applied(run.pending(index), changed, skipped))
                except BaseException:
                    self.queue.put_back(run, index + 1)
                    raise
                count += 1
        return count

    def apply_one(self, pending: Pending) -> None:
        """Apply one operation already taken off the queue, and tell the observers."""
        changed, skipped = self._apply(pending.op, self.clock.now())
        for observer in self.on_apply:
            observer(Applied(pending, changed, skipped))

    def _apply(self, op: Operation, now: float | None = None) -> tuple[list[DeploymentKey], bool]:
        part = self.store.partition(op.site, op.provider)
        if type(op) is Upsert:
            return self._apply_upsert(op, part, self.clock.now() if now is None else now)
        return self._apply_delete(op, part), False

    def _apply_delete(self, op: DeleteByKey | DeleteByProperties, part: Partition) -> list[DeploymentKey]:
        if isinstance(op, DeleteByKey):
            record = part.records.get(op.key)
            if record is None or not _within(record, op.max_update_sequence_number):
                return []
            part.remove(op.key)
            return [op.key]
        doomed = part.matching(op.properties)
        bound = op.max_update_sequence_number
        if bound is not None:
            doomed = [key for key in doomed if part.records[key].update_sequence_number <= bound]
        part.remove_all(doomed)
        return doomed

    def _apply_upsert(self, op: Upsert, part: Partition, now: float) -> tuple[list[DeploymentKey], bool]:
        incoming = op.deployment
        key = incoming.key
        old = part.records.get(key)
        if old is not None and old.update_sequence_number >= incoming.update_sequence_number:
            return [], True
        gating = old.gating if old is not None else None
        if gating is None and incoming.gating_requested:
            site = self.sites.get(op.site)
            if site is not None:
                gating = initial_gating(site, incoming, now)
        body = incoming._body  # the fast parser's inputs have it; others make it on first use
        if body is None:
            body = incoming.body
        usn, environment_type = incoming.update_sequence_number, incoming.environment_type
        if old is None or not part.rewrite_in_place(old, op.properties, usn, body, environment_type, now, gating):
            part.put(StoredDeployment(key, usn, body, op.properties, environment_type, now, gating))
        return [key], False

    # -- control ------------------------------------------------------------------------------

    def _changed(self, kind: str, *args: Any) -> None:
        """Tell observers of a change that has already been made (durable state may snapshot right away)."""
        for observer in self.on_change:
            observer(kind, *args)

    def reset(self, site: str | None = None) -> None:
        if site is None:
            self.store.clear()
            self.queue.clear()
            for s in self.sites:
                s.change_requests = 0
        else:
            self.store.drop(site)
            self.queue.remove_site(site)
            found = self.sites.get(site)
            if found is not None:
                found.change_requests = 0
        self._changed("reset", site)

    def add_site(self, site: Site) -> None:
        self.sites.add(site)
        self._changed("site-add", site)

    def remove_site(self, name: str) -> bool:
        """A site goes with everything it holds."""
        if self.sites.get(name) is None:
            return False
        self.reset(name)
        self.sites.remove(name)
        self._changed("site-remove", name)
        return True

    def install_app(self, site: Site, app: ConnectApp) -> None:
        """Install, or re-install with new secret, scopes or modules (data is kept on re-install)."""
        site.connect_apps[app.key] = app
        self._changed("app-install", site.name, app)

    def uninstall_app(self, site: Site, key: str) -> int | None:
        app = site.connect_apps.pop(key, None)
        if app is None:
            return None
        removed = self.forget_provider(site.name, app.provider)
        self._changed("app-uninstall", site.name, key)
        return removed

    def add_oauth_client(self, site: Site, client: OAuthClient) -> None:
        site.oauth_clients[client.client_id] = client
        self._changed("client-add", site.name, client)

    def remove_oauth_client(self, site: Site, client_id: str) -> int | None:
        client = site.oauth_clients.pop(client_id, None)
        if client is None:
            return None
        removed = self.forget_provider(site.name, client.provider)
        self._changed("client-remove", site.name, client_id)
        return removed

    def forget_provider(self, site: str, provider: Provider) -> int:
        """An app was uninstalled: its data and its pending operations go, as in Jira."""
        self.queue.remove_site(site, provider)
        return self.store.drop(site, provider)


def _same_deployment(a: Operation, b: Upsert) -> bool:
    return isinstance(a, Upsert) and (a.site, a.provider, a.deployment.key) == (b.site, b.provider, b.deployment.key)


def _within(record: StoredDeployment, max_usn: int | None) -> bool:
    return max_usn is None or record.update_sequence_number <= max_usn


def _split_known(
    site: Site,
    deployment: DeploymentInput,
    unknown_keys: list[str],
    unknown_groups: dict[str, list[Any]],
    memo: dict[tuple[str, Any], bool],
) -> DeploymentInput | None:
    """Drop the associations a site with a catalogue does not know (reporting them); None when nothing
    valid is left (``submit`` takes a site without one, which knows every value, without a call; see
    "where Jira is silent"). ``memo`` keeps the answers for string values across the deployments of one
    request."""
    known_keys = []
    for value in deployment.issue_keys:
        (known_keys if _knows(site, "issueKeys", value, memo) else unknown_keys).append(value)
    known_groups: list[Association] = []
    for group in deployment.associations:
        keep = []
        for value in group.values:
            if _knows(site, group.type, value, memo):
                keep.append(value)
            else:
                unknown_groups.setdefault(group.type, []).append(value)
        if keep:
            known_groups.append(Association(group.type, tuple(keep)))
    if not known_keys and not known_groups:
        return None
    if len(known_keys) == len(deployment.issue_keys) and known_groups == list(deployment.associations):
        return deployment
    data = dict(deployment.data)
    if "issueKeys" in data:
        data["issueKeys"] = known_keys
        if not known_keys:
            del data["issueKeys"]
    if "associations" in data:
        data["associations"] = [{"associationType": g.type, "values": list(g.values)} for g in known_groups]
        if not known_groups:
            del data["associations"]
    return deployment.with_known(data, tuple(known_keys), tuple(known_groups))


def _once(values: list[Any]) -> list[Any]:
    """Each value once, where it first appears: an unknown key several deployments of a request name is
    one unknown key (see "where Jira is silent")."""
    try:
        return list(dict.fromkeys(values))
    except TypeError:  # an unhashable value (the full validator lets no such unknown value through)
        kept: list[Any] = []
        for value in values:
            if value not in kept:
                kept.append(value)
        return kept


def _knows(site: Site, kind: str, value: Any, memo: dict[tuple[str, Any], bool]) -> bool:
    if kind in ISSUE_ASSOCIATION_TYPES:
        if not isinstance(value, str):
            return False
        found = memo.get(("issue", value))
        if found is None:
            found = memo[("issue", value)] = site.knows_issue(value)
        return found
    if kind == SERVICE_ASSOCIATION_TYPE:
        return isinstance(value, str) and site.knows_service(value)
    return True
