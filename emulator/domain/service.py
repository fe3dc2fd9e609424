"""The one facade the HTTP layers call: submit, read, delete, gate, list, apply, reset.

Concurrency rule: every HTTP handler is ``async`` and every method here is synchronous with no
``await`` inside, so each call is atomic on the event loop and no lock is needed. Every public
method first applies what is due by the clock, so what a read sees depends only on the clock and
the order of calls, never on when a background task last woke up.

Every write names the kind of entity it concerns (``emulator.domain.kinds``): deployments and builds
live in their own partitions of one store, and wait in one apply queue.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from msgspec import Struct, field
from msgspec.structs import replace

from emulator.domain.catalogue import Memo, Unknown, known_part
from emulator.domain.clock import Clock
from emulator.domain.gating import STATUSES, auto_decide
from emulator.domain.kinds import DEPLOYMENTS, Kind
from emulator.domain.model import EntityInput, GatingState, Key, Provider, StoredDeployment, StoredEntity
from emulator.domain.queue import ApplyQueue, DeleteByKey, DeleteByProperties, Operation, Pending, Run, Upsert
from emulator.domain.registry import Registry
from emulator.domain.sites import Site, SiteRegistry
from emulator.domain.store import EntityStore, Partition, newest_first


class Unavailable(Exception):
    """A write cannot be accepted now and nothing of it was kept: the caller should retry later (503)."""

    retry_after = 1  # seconds


class QueueFull(Unavailable):
    """The apply queue holds ``max_pending`` operations."""


class QueueSettings(Struct, frozen=True):
    """How accepted writes wait before they apply."""

    apply_delay: float = 0.5  # seconds from acceptance to visibility (a site may override it)
    jitter: float = 0.0  # up to this many seconds more, drawn per operation
    out_of_order: bool = False  # a write overtakes the pending writes of the same entity
    max_pending: int | None = None  # bound on the apply queue; None: unbounded


class SubmitOutcome(Struct):
    accepted: list[Key] = field(default_factory=list)
    rejected: list[tuple[Key, list[str]]] = field(default_factory=list)
    unknown_issue_keys: list[str] = field(default_factory=list)
    unknown_associations: list[dict[str, Any]] = field(default_factory=list)


class Capture(Struct, frozen=True):
    """The whole state at one moment, cheap to take (references, no copies of records): what a snapshot
    writes. Records may change in place after it is taken (a write that applies later); durable state's
    replay of what happened since makes them right again."""

    partitions: list[tuple[str, str, Provider, list[StoredEntity]]]  # (kind, site, provider, records)
    runs: list[Run]  # the pending operations, in sequence order
    next_seq: int

    @property
    def record_count(self) -> int:
        return sum(len(records) for *_, records in self.partitions)

    @property
    def pending_count(self) -> int:
        return sum(len(run.ops) for run in self.runs)


class Applied(Struct, frozen=True):
    """What applying one operation did, for observers (durable state)."""

    pending: Pending
    changed: list[Key]
    skipped: bool  # an upsert whose updateSequenceNumber did not grow


class DevOpsService(Registry):
    """Entities of every kind, site and provider; the apply queue that makes writes visible."""

    def __init__(
        self,
        sites: SiteRegistry,
        clock: Clock,
        settings: QueueSettings | None = None,
        *,
        kinds: Iterable[Kind] = (DEPLOYMENTS,),
        rng: random.Random | None = None,
    ) -> None:
        super().__init__(sites)
        self.clock = clock
        self.settings = settings or QueueSettings()
        self.kinds = {kind.name: kind for kind in kinds}
        self.rng = rng or random.Random()
        self.paused = False  # nothing applies by itself; flush still does
        self.store = EntityStore()
        self.queue = ApplyQueue()
        # operations about to be queued, in order: durable state logs them first, and if an observer raises
        # none of them is queued
        self.before_accept: list[Callable[[Sequence[Pending]], None]] = []
        self.on_apply: list[Callable[[Applied], None]] = []  # an operation applied
        self.after_apply: list[Callable[[], None]] = []  # a pass of the applier ended (durable state writes it)

    def configure(self, **changes: Any) -> QueueSettings:
        """Change queue settings at run time (``apply_delay``, ``jitter``, ``out_of_order``)."""
        self.settings = replace(self.settings, **changes)
        return self.settings

    # -- writes -------------------------------------------------------------------------------

    def submit(
        self, kind: Kind, site: Site, provider: Provider, entities: list[EntityInput], properties: Mapping[str, str]
    ) -> SubmitOutcome:
        self.apply_due()
        self._make_room(len(entities))
        outcome = SubmitOutcome()
        shared = dict(properties)  # one copy for the whole request; stored records never change it
        kind_name, site_name = kind.name, site.name
        if not site.projects and not site.services:  # no catalogue: every value is known
            outcome.accepted = [entity.key for entity in entities]
            self._enqueue_all(site, [Upsert(kind_name, site_name, provider, e, shared) for e in entities])
            return outcome
        unknown, memo, upserts = Unknown(), Memo(), []
        for entity in entities:
            known = known_part(site, entity, unknown, memo)
            if known is None:
                outcome.rejected.append((entity.key, [kind.no_valid_associations]))
                continue
            outcome.accepted.append(entity.key)
            upserts.append(Upsert(kind_name, site_name, provider, known, shared))
        self._enqueue_all(site, upserts)
        outcome.unknown_issue_keys = unknown.issue_keys_once()
        outcome.unknown_associations = unknown.associations_once()
        return outcome

    def delete(self, kind: Kind, site: Site, provider: Provider, key: Key, max_usn: int | None = None) -> None:
        self.apply_due()
        self._make_room(1)
        self._enqueue(site, DeleteByKey(kind.name, site.name, provider, key, max_usn))

    def delete_by_properties(
        self, kind: Kind, site: Site, provider: Provider, properties: Mapping[str, str], max_usn: int | None = None
    ) -> None:
        assert properties, "at least one property is required"
        self.apply_due()
        self._make_room(1)
        self._enqueue(site, DeleteByProperties(kind.name, site.name, provider, dict(properties), max_usn))

    def seed(
        self, kind: Kind, site: Site, provider: Provider, entities: list[EntityInput], props: Mapping[str, str]
    ) -> None:
        """Store fixture entities at once, as if their writes had already applied."""
        for entity in entities:
            self._apply(Upsert(kind.name, site.name, provider, entity, dict(props)), self.clock.now())

    def _make_room(self, wanted: int) -> None:
        bound = self.settings.max_pending
        if bound is not None and len(self.queue) + wanted > bound:
            raise QueueFull(f"the apply queue holds {len(self.queue)} of at most {bound} operations")

    def delay_for(self, site: Site) -> float:
        return self.settings.apply_delay if site.apply_delay is None else site.apply_delay

    def _enqueue_all(self, site: Site, ops: Sequence[Operation]) -> None:
        """Enqueue one request's operations, in order: all of them, or none if an accept observer refuses.
        With one delay for all (no jitter, in order) they are one run of the queue, the clock read once;
        when they are due at once they apply together after the last is queued."""
        if not ops:
            return
        now, settings = self.clock.now(), self.settings
        if settings.out_of_order or settings.jitter:
            dues = self._dues(site, ops, now)
            if self.before_accept:
                first = self.queue.next_seq
                pairs = enumerate(zip(ops, dues, strict=True))
                self._accepting([Pending(due, first + i, now, op) for i, (op, due) in pairs])
            for op, due in zip(ops, dues, strict=True):
                self.queue.push(op, accepted_at=now, due=due, track_due=settings.out_of_order)
            soonest = min(dues)
        else:
            soonest = now + self.delay_for(site)
            if self.before_accept:
                first = self.queue.next_seq
                self._accepting([Pending(soonest, first + i, now, op) for i, op in enumerate(ops)])
            self.queue.push_all(ops, accepted_at=now, due=soonest)
        if soonest <= now:
            self.apply_due()

    def _enqueue(self, site: Site, op: Operation) -> None:
        self._enqueue_all(site, [op])

    def _dues(self, site: Site, ops: Sequence[Operation], now: float) -> list[float]:
        """Each operation's due time with jitter drawn per operation; out of order, a write is due just before
        the pending writes of its entity (those queued before, and the request's own earlier ones)."""
        settings, delay = self.settings, self.delay_for(site)
        first_due: dict[Key, float] = {}  # per entity of this request: the soonest due of its writes
        dues = []
        for op in ops:
            due = now + delay + (self.rng.uniform(0, settings.jitter) if settings.jitter else 0.0)
            if settings.out_of_order and type(op) is Upsert:
                key = op.entity.key
                soonest = first_due.get(key)
                if soonest is None:
                    soonest = self.queue.first_due_of(op.kind, op.site, op.provider, key)
                if soonest is not None:
                    due = max(now, soonest - 1e-6)
                first_due[key] = due if soonest is None else min(soonest, due)
            dues.append(due)
        return dues

    def _accepting(self, pendings: Sequence[Pending]) -> None:
        for observer in self.before_accept:
            observer(pendings)

    # -- reads --------------------------------------------------------------------------------

    def get(self, kind: Kind, site: Site, provider: Provider, key: Key) -> StoredEntity | None:
        self.apply_due()
        return self.store.get(kind.name, site.name, provider, key)

    def has_pending_write(self, kind: Kind, site: Site, provider: Provider, key: Key) -> bool:
        """Whether a write of this entity was accepted and has not applied yet."""
        return self.queue.latest_upsert(kind.name, site.name, provider, key) is not None

    def latest_accepted(
        self, kind: Kind, site: Site, provider: Provider
    ) -> Callable[[Key], EntityInput | StoredEntity | None]:
        """A lookup of the newest accepted write of an entity, pending or applied, or None: the write has
        ``update_sequence_number``, ``body`` and ``data``. One function for a request's keys, valid until the
        next change: it reads the queue's and the store's indexes of this owner."""
        self.apply_due()
        pending = self.queue.latest_of(kind.name, site.name, provider)
        records = self.store.records_of(kind.name, site.name, provider)

        def latest(key: Key) -> EntityInput | StoredEntity | None:
            upsert = pending.get(key)
            return records.get(key) if upsert is None else upsert.entity

        return latest

    def stored(
        self, kind: str, *, site: str | None = None, provider: Provider | None = None, pipeline: str | None = None
    ) -> Iterator[tuple[str, Provider, StoredEntity]]:
        """Applied entities of one kind, by site and provider, each pipeline's newest first; a pipeline's are
        read from the store's pipeline index, not found by a scan."""
        self.apply_due()
        for (part_kind, part_site, part_provider), part in sorted(self.store.partitions(), key=lambda p: p[0]):
            if part_kind != kind or site not in (None, part_site) or provider not in (None, part_provider):
                continue
            keys = part.records.keys() if pipeline is None else part.of_pipeline(pipeline)
            for key in newest_first(keys):
                yield part_site, part_provider, part.records[key]

    def pending(self) -> Iterator[Pending]:
        """Operations waiting in the queue, in the order they will apply."""
        return iter(self.queue)

    def gating_status(self, site: Site, provider: Provider, key: Key) -> GatingState | None:
        """What a poll of the gating status sees; a poll counts towards a site's after-N-polls rule."""
        record = self.get(DEPLOYMENTS, site, provider, key)
        if not isinstance(record, StoredDeployment) or record.gating is None:
            return None
        record.gating.polls += 1
        auto_decide(site, record.gating, self.clock.now())
        return record.gating

    def decide_gating(
        self, site: Site, provider: Provider, key: Key, status: str, details: list[dict[str, str]] | None
    ) -> GatingState | None:
        """An explicit decision, as a change manager in Jira Service Management would make it."""
        assert status in STATUSES, f"unknown gating status {status!r}"
        record = self.get(DEPLOYMENTS, site, provider, key)
        if not isinstance(record, StoredDeployment) or record.gating is None:
            return None
        old = record.gating
        gating = GatingState(status, old.details if details is None else details, self.clock.now(), old.polls)
        self._changing("gating", site.name, provider, key, gating)
        record.gating = gating
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
        try:
            count = self._apply_runs(runs, now)
        finally:
            if count:
                for observer in self.after_apply:
                    observer()
        return count

    def _apply_runs(self, runs: Iterable[Run], now: float) -> int:
        count = 0
        observers = self.on_apply
        for run in runs:
            index = 0  # of the operation being applied: on a failure, the run goes back on the queue after it
            try:
                part, applier, where = self._owner(run.ops[0])  # a run is one request's: its operations share it
                for op in run.ops:
                    if type(op) is Upsert:
                        stored = applier.apply(part, op.entity, op.properties, now, where)
                        if observers:  # what it did is told only to someone who listens
                            self._tell(observers, run, index, [op.entity.key] if stored else [], not stored)
                    else:
                        changed = _apply_delete(op, part)  # type: ignore[arg-type]
                        if observers:
                            self._tell(observers, run, index, changed, False)
                    index += 1
            except BaseException:
                self.queue.put_back(run, index + 1)
                raise
            count += index
        return count

    @staticmethod
    def _tell(
        observers: list[Callable[[Applied], None]], run: Run, index: int, changed: list[Key], skipped: bool
    ) -> None:
        applied = Applied(run.pending(index), changed, skipped)
        for observer in observers:
            observer(applied)

    def _owner(self, op: Operation) -> tuple[Partition, Kind, Site | None]:
        return self.store.partition(op.kind, op.site, op.provider), self.kinds[op.kind], self.sites.get(op.site)

    def _apply(self, op: Operation, now: float) -> None:
        """Apply one operation at ``now`` (a fixture's seed, or a replayed one), telling no observer."""
        part, kind, site = self._owner(op)
        if type(op) is Upsert:
            kind.apply(part, op.entity, op.properties, now, site)
        else:
            _apply_delete(op, part)  # type: ignore[arg-type]

    # -- durable state ------------------------------------------------------------------------

    def replay_accepted(self, pending: Pending) -> None:
        """Queue again an operation that a previous run of the emulator accepted (durable state)."""
        self.queue.restore(pending)

    def replay_applied(self, seq: int, at: float) -> bool:
        """Apply, as of ``at``, the queued operation that a previous run applied then; False if none is queued
        with that sequence number."""
        item = self.queue.take(seq)
        if item is None:
            return False
        self._apply(item.op, at)
        return True

    def capture(self) -> Capture:
        """The state as it is now (nothing due is applied first), for a snapshot: see ``Capture``."""
        partitions = [(kind, site, provider, list(part.records.values()))
                      for (kind, site, provider), part in self.store.partitions()]  # fmt: skip
        return Capture(partitions, self.queue.runs_in_sequence(), self.queue.next_seq)

    def records(self) -> Iterator[tuple[str, str, Provider, StoredEntity]]:
        """Every stored record, with its kind, site and provider, as it is (nothing due is applied first)."""
        for (kind, site, provider), part in self.store.partitions():
            for record in part.records.values():
                yield kind, site, provider, record

    def next_sequence(self) -> int:
        """The sequence number the next accepted operation gets (durable state keeps it)."""
        return self.queue.next_seq

    def restore_records(self, kind: str, site: str, provider: Provider, records: Iterable[StoredEntity]) -> None:
        """Put back stored records as a previous run left them (durable state)."""
        part = self.store.partition(kind, site, provider)
        for record in records:
            part.put(record)

    def restore_gating(self, site: str, provider: Provider, key: Key, gating: GatingState | None) -> None:
        record = self.store.get(DEPLOYMENTS.name, site, provider, key)
        if isinstance(record, StoredDeployment):
            record.gating = gating

    def restore_sequence(self, next_seq: int) -> None:
        self.queue.restore_seq(next_seq)

    def clear_data(self) -> None:
        """Forget every record and pending operation (durable state restores them next)."""
        self.store.clear()
        self.queue.clear()

    # -- data a control change takes away -------------------------------------------------------

    def _forget(self, site: str | None, provider: Provider | None = None) -> dict[str, int]:
        if site is None:
            gone: dict[str, int] = {}
            for (kind, _, _), part in self.store.partitions():
                gone[kind] = gone.get(kind, 0) + len(part.records)
            self.clear_data()
            return gone
        self.queue.remove_site(site, provider)
        return self.store.drop(site, provider)


def _apply_delete(op: DeleteByKey | DeleteByProperties, part: Partition) -> list[Key]:
    bound = op.max_update_sequence_number
    if isinstance(op, DeleteByKey):
        record = part.records.get(op.key)
        if record is None or (bound is not None and record.update_sequence_number > bound):
            return []
        part.remove(op.key)
        return [op.key]
    doomed = part.matching(op.properties)
    if bound is not None:
        doomed = [key for key in doomed if part.records[key].update_sequence_number <= bound]
    part.remove_all(doomed)
    return doomed
