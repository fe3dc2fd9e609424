"""The apply queue: accepted writes and deletes wait here until they are due.

Jira applies submissions and deletions asynchronously; GET shows only what has been applied.
Operations are ordered by (due time, acceptance sequence), so with one constant delay they apply
in the order they were accepted, and an operation never applies before it is due.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from heapq import heapify, heappop, heappush

from msgspec import Struct

from emulator.domain.model import EntityInput, Key, Provider

# The operation types are msgspec structs, frozen and untracked by the cyclic garbage collector (gc=False;
# they never form a cycle): a busy emulator holds tens of thousands of pending writes, which collections
# then do not walk. Each names the kind of entity it writes (``deployments``, ``builds``).

Owner = tuple[str, str, Provider]  # (kind, site, provider): whose data an operation changes


class _Op(Struct, frozen=True, gc=False):
    pass


class Upsert(_Op, frozen=True, gc=False):
    kind: str
    site: str
    provider: Provider
    entity: EntityInput
    properties: dict[str, str]


class DeleteByKey(_Op, frozen=True, gc=False):
    kind: str
    site: str
    provider: Provider
    key: Key
    max_update_sequence_number: int | None


class DeleteByProperties(_Op, frozen=True, gc=False):
    kind: str
    site: str
    provider: Provider
    properties: dict[str, str]
    max_update_sequence_number: int | None


Operation = Upsert | DeleteByKey | DeleteByProperties


class Pending(_Op, frozen=True, gc=False):
    due: float
    seq: int
    accepted_at: float
    op: Operation


class Run(Struct, gc=False):
    """Operations accepted together and due together (the writes of one submit), in order: ``seqs[i]`` is
    the sequence number of ``ops[i]``. A range until an operation is taken out of the middle."""

    due: float
    accepted_at: float
    ops: list[Operation]
    seqs: range | list[int]
    unindexed: list[Upsert] | None = None  # taken off the queue: its writes that were the latest of their key

    def pending(self, index: int) -> Pending:
        return Pending(self.due, self.seqs[index], self.accepted_at, self.ops[index])

    def pendings(self, start: int = 0) -> Iterator[Pending]:
        return (self.pending(index) for index in range(start, len(self.ops)))


class ApplyQueue:
    """A binary heap of runs: (due, seq of the run's first operation, Run).

    Runs' sequence numbers are consecutive when they are made, so taking runs in heap order and each run
    in its own order is (due, seq) order. A submit of 100 entities is one heap entry, not 100: pushing it
    and taking it off cost one ``heapq`` step each, and tens of thousands of pending writes make a heap of
    a few hundred entries. A run keeps its operations and their sequence numbers, not a ``Pending`` per
    operation: those are made when something asks (listing the queue, an observer, a replay), and the
    applier reads only the operations. Listing the queue, which only the control surface does, sorts a
    copy. Operations are distinct objects: the index of latest writes tells them apart by identity."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Run]] = []
        self._count = 0
        self._seq = itertools.count()
        # the last accepted upsert of each key, per owner: keyed by the entity key itself, a pending write
        # adds no tracked object for the garbage collector to walk
        self._latest: dict[Owner, dict[Key, Upsert]] = {}
        # out of order: the latest upsert of a key with its due time, which is its key's soonest (it overtook
        # the others); valid while that upsert is still the latest
        self._overtaking: dict[Owner, dict[Key, tuple[Upsert, float]]] = {}

    def push(self, op: Operation, *, accepted_at: float, due: float, track_due: bool = False) -> Pending:
        """Queue one operation; ``track_due`` (out of order) remembers an upsert's due time for
        ``first_due_of``."""
        pending = self.push_all([op], accepted_at=accepted_at, due=due).pending(0)
        if track_due and type(op) is Upsert:
            self._overtaking.setdefault((op.kind, op.site, op.provider), {})[op.entity.key] = (op, due)
        return pending

    def first_due_of(self, kind: str, site: str, provider: Provider, key: Key) -> float | None:
        """The soonest due time of the pending upserts of one entity, or None if it has none."""
        latest = self.latest_upsert(kind, site, provider, key)
        if latest is None:
            return None
        tracked = self._overtaking.get((kind, site, provider), {}).get(key)
        if tracked is not None and tracked[0] is latest:
            return tracked[1]
        owner = (kind, site, provider)
        return min(
            due
            for due, _, run in self._heap
            for op in run.ops
            if type(op) is Upsert and (op.kind, op.site, op.provider) == owner and op.entity.key == key
        )

    def runs_in_sequence(self) -> list[Run]:
        """The queue's runs, by the sequence number of their first operation (their operations' numbers
        never interleave, so this is every pending operation in sequence order): the queue's own, to read."""
        return sorted((run for _, _, run in self._heap), key=lambda run: run.seqs[0])

    def push_all(self, ops: Sequence[Operation], *, accepted_at: float, due: float) -> Run:
        """Queue operations accepted and due together, as one run, in the order given (the run keeps its
        own copy of the list). They are one request's, of one owner: the service applies a run's operations
        to the owner of its first. The run returned is the queue's own: read it, never change it."""
        first = next(self._seq)
        self._seq = itertools.count(first + len(ops))
        run = Run(due, accepted_at, list(ops), range(first, first + len(ops)))
        if ops:
            heappush(self._heap, (due, first, run))
            self._count += len(ops)
            self._note_latest(ops)
        return run

    def _note_latest(self, ops: Sequence[Operation]) -> None:
        """Index the upserts of ``ops``, just queued in this order, as the latest writes of their keys."""
        site, provider, latest = None, None, {}
        for op in ops:
            if type(op) is Upsert:
                if op.site is not site or op.provider is not provider:  # a run's writes share their owner
                    site, provider = op.site, op.provider
                    latest = self.latest_of(op.kind, site, provider)
                latest[op.entity.key] = op

    def latest_of(self, kind: str, site: str, provider: Provider) -> dict[Key, Upsert]:
        """The last accepted upsert of each key of an owner that has not applied: the queue's own index,
        to read, never to change."""
        latest = self._latest.get((kind, site, provider))
        if latest is None:
            latest = self._latest[(kind, site, provider)] = {}
        return latest

    def restore(self, item: Pending) -> None:
        """Put back an operation read from durable state, keeping its sequence number and due time.
        Restoring in sequence order (as durable state does) keeps this O(log n)."""
        newest = item.seq >= self.next_seq
        heappush(self._heap, (item.due, item.seq, Run(item.due, item.accepted_at, [item.op], [item.seq])))
        self._count += 1
        op = item.op
        if isinstance(op, Upsert):
            latest = self.latest_of(op.kind, op.site, op.provider)
            current = latest.get(op.entity.key)
            if current is None or newest or next(p.seq for p in self if p.op is current) < item.seq:
                latest[op.entity.key] = op
        self._seq = itertools.count(max(item.seq + 1, self.next_seq))

    def restore_seq(self, next_seq: int) -> None:
        self._seq = itertools.count(max(next_seq, self.next_seq))

    @property
    def next_seq(self) -> int:
        """The sequence number the next operation will get (without taking it)."""
        upcoming = next(self._seq)
        self._seq = itertools.count(upcoming)
        return upcoming

    def take(self, seq: int) -> Pending | None:
        """Remove one operation by its sequence number (replaying the order operations applied in). Replay
        mostly takes them in the order they apply, from the head of the queue: that costs one heap step."""
        heap = self._heap
        if heap and heap[0][2].seqs[0] == seq:
            run = heap[0][2]
            item = run.pending(0)
            if len(run.ops) == 1:
                heappop(heap)
            else:
                run.ops = run.ops[1:]
                run.seqs = list(run.seqs[1:])
            self._count -= 1
            self._forget([item.op])
            return item
        for position, (_, _, run) in enumerate(heap):
            if seq not in run.seqs:
                continue
            index = run.seqs.index(seq)
            item = run.pending(index)
            run.seqs = list(run.seqs)
            del run.ops[index], run.seqs[index]
            self._count -= 1
            if not run.ops:
                heap[position] = heap[-1]
                heap.pop()
                heapify(heap)
            # else the run keeps its heap key: the seq ranges of runs never interleave, so the seq of
            # an operation no longer in it still puts it in the right place
            self._forget([item.op])
            return item
        return None

    def latest_upsert(self, kind: str, site: str, provider: Provider, key: Key) -> Upsert | None:
        """The most recently accepted write of this entity that has not applied yet."""
        latest = self._latest.get((kind, site, provider))
        return None if latest is None else latest.get(key)

    def _forget(self, ops: list[Operation]) -> list[Upsert]:
        """Operations leave the queue: each that is the latest write of its key no longer is. Answers
        those."""
        owner: Owner | None = None
        latest = overtaking = None
        forgotten = []
        for op in ops:
            if type(op) is Upsert:
                if owner is None or op.site is not owner[1] or op.kind is not owner[0] or op.provider != owner[2]:
                    owner = (op.kind, op.site, op.provider)
                    latest = self._latest.get(owner)
                    overtaking = self._overtaking.get(owner)
                key = op.entity.key
                if latest is not None and latest.get(key) is op:
                    del latest[key]
                    forgotten.append(op)
                    if overtaking:
                        overtaking.pop(key, None)
        return forgotten

    def pop_due_runs(self, now: float) -> Iterator[Run]:
        """Remove and yield, in order, the runs due at or before ``now``. A caller that cannot apply a run
        to its end gives the rest back (``put_back``)."""
        heap = self._heap
        while heap and heap[0][0] <= now:
            run = heappop(heap)[2]
            self._count -= len(run.ops)
            run.unindexed = self._forget(run.ops)
            yield run

    def pop_all_runs(self) -> Iterator[Run]:
        return self.pop_due_runs(float("inf"))

    def put_back(self, run: Run, start: int) -> None:
        """The operations of a run from ``start`` on were not applied: queue them again, as they were."""
        rest = Run(run.due, run.accepted_at, run.ops[start:], list(run.seqs[start:]))
        if rest.ops:
            heappush(self._heap, (rest.due, rest.seqs[0], rest))
            self._count += len(rest.ops)
            # the writes that were the latest of their key when the run was taken are again, unless a
            # newer one has been queued since
            was_latest = {id(op) for op in run.unindexed or ()}
            for op in rest.ops:
                if id(op) in was_latest and isinstance(op, Upsert):
                    self.latest_of(op.kind, op.site, op.provider).setdefault(op.entity.key, op)

    def pop_due(self, now: float) -> Iterator[Pending]:
        """Remove and yield, in order, every operation due at or before ``now``; a caller that stops early
        leaves the rest queued."""
        for run in self.pop_due_runs(now):
            for index in range(len(run.ops)):
                try:
                    yield run.pending(index)
                except GeneratorExit:
                    self.put_back(run, index + 1)
                    raise

    def pop_all(self) -> Iterator[Pending]:
        return self.pop_due(float("inf"))

    def next_due(self) -> float | None:
        return self._heap[0][0] if self._heap else None

    def remove_site(self, site: str, provider: Provider | None = None) -> int:
        kept: list[tuple[float, int, Run]] = []
        doomed: list[Operation] = []
        for due, first, run in self._heap:
            gone = [op.site == site and (provider is None or op.provider == provider) for op in run.ops]
            if any(gone):
                doomed += [op for op, out in zip(run.ops, gone, strict=True) if out]
                ops = [op for op, out in zip(run.ops, gone, strict=True) if not out]
                seqs = [seq for seq, out in zip(run.seqs, gone, strict=True) if not out]
                run = Run(run.due, run.accepted_at, ops, seqs)
            if run.ops:
                kept.append((due, first, run))
        if doomed:
            heapify(kept)
            self._heap = kept
            self._count -= len(doomed)
            self._forget(doomed)
        for index in (self._latest, self._overtaking):  # a site or provider that goes leaves no empty entry
            for owner in [owner for owner, entries in index.items() if not entries]:
                del index[owner]
        return len(doomed)

    def clear(self) -> None:
        self._heap.clear()
        self._count = 0
        self._latest.clear()
        self._overtaking.clear()

    def __iter__(self) -> Iterator[Pending]:
        """In the order they will apply: (due, seq)."""
        for _, _, run in sorted(self._heap, key=lambda entry: entry[:2]):
            yield from run.pendings()

    def __len__(self) -> int:
        return self._count
