"""The apply queue: accepted writes and deletes wait here until they are due.

Jira applies submissions and deletions asynchronously; GET shows only what has been applied.
Operations are ordered by (due time, acceptance sequence), so with one constant delay they apply
in the order they were accepted, and an operation never applies before it is due.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from heapq import heapify, heappop, heappush

from msgspec import Struct

from emulator.domain.model import DeploymentInput, DeploymentKey, Provider

# The operation types are msgspec structs, frozen and untracked by the cyclic garbage collector (gc=False;
# they never form a cycle). A busy emulator holds tens of thousands of pending writes, and as tracked
# objects every full collection walked them all: at 0.5 s apply delay under a submit load, collections
# took 40% of the server's time. Constructing one also costs a quarter of a frozen dataclass.


class _Op(Struct, frozen=True, gc=False):
    pass


class Upsert(_Op):
    site: str
    provider: Provider
    deployment: DeploymentInput
    properties: dict[str, str]


class DeleteByKey(_Op):
    site: str
    provider: Provider
    key: DeploymentKey
    max_update_sequence_number: int | None


class DeleteByProperties(_Op):
    site: str
    provider: Provider
    properties: dict[str, str]
    max_update_sequence_number: int | None


Operation = Upsert | DeleteByKey | DeleteByProperties


class Pending(_Op):
    due: float
    seq: int
    accepted_at: float
    op: Operation


class ApplyQueue:
    """A binary heap of runs: (due, seq of the run's first operation, [Pending, ...]).

    A run is operations accepted together and due together (the writes of one submit), with
    consecutive sequence numbers, so taking runs in heap order and each run in its own order is (due,
    seq) order. A submit of 100 deployments is one heap entry, not 100: pushing it and taking it off
    cost one ``heapq`` step each, and tens of thousands of pending writes make a heap of a few hundred
    entries. (Taking writes one by one off a 100,000-entry heap cost 0.9 µs each, more than half of
    applying them.) Listing the queue, which only the control surface does, sorts a copy."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, list[Pending]]] = []
        self._count = 0
        self._seq = itertools.count()
        # the last accepted upsert of each key, per (site, provider): keyed by the deployment key itself,
        # a pending write adds no tracked object (a (site, provider, key) tuple would be one more per write
        # for the garbage collector to walk)
        self._latest: dict[tuple[str, Provider], dict[DeploymentKey, Pending]] = {}

    def push(self, op: Operation, *, accepted_at: float, due: float) -> Pending:
        return self.push_all((op,), accepted_at=accepted_at, due=due)[0]

    def push_all(self, ops: Iterable[Operation], *, accepted_at: float, due: float) -> list[Pending]:
        """Queue operations accepted and due together, as one run, in the order given. The list returned
        is the queue's own: read it, never change it."""
        seq = self._seq
        run = [Pending(due, next(seq), accepted_at, op) for op in ops]
        if run:
            heappush(self._heap, (due, run[0].seq, run))
            self._count += len(run)
            site, provider, latest = None, None, {}
            for item in run:
                op = item.op
                if type(op) is Upsert:
                    if op.site is not site or op.provider is not provider:  # a run's writes mostly share them
                        site, provider = op.site, op.provider
                        latest = self.latest_of(site, provider)
                    latest[op.deployment.key] = item
        return run

    def latest_of(self, site: str, provider: Provider) -> dict[DeploymentKey, Pending]:
        """The last accepted upsert of each key of a site and provider that has not applied: the queue's
        own index, to read, never to change."""
        latest = self._latest.get((site, provider))
        if latest is None:
            latest = self._latest[(site, provider)] = {}
        return latest

    def restore(self, item: Pending) -> None:
        """Put back an operation read from durable state, keeping its sequence number and due time."""
        heappush(self._heap, (item.due, item.seq, [item]))
        self._count += 1
        op = item.op
        if isinstance(op, Upsert):
            latest = self.latest_of(op.site, op.provider)
            current = latest.get(op.deployment.key)
            if current is None or current.seq < item.seq:
                latest[op.deployment.key] = item
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
        """Remove one operation by its sequence number (replaying the order operations applied in)."""
        heap = self._heap
        for position, (_, _, run) in enumerate(heap):
            index = next((i for i, item in enumerate(run) if item.seq == seq), None)
            if index is None:
                continue
            item = run.pop(index)
            self._count -= 1
            if not run:
                heap[position] = heap[-1]
                heap.pop()
                heapify(heap)
            # else the run keeps its heap key: the seq ranges of runs never interleave, so the seq of
            # an operation no longer in it still puts it in the right place
            return self._forget(item)
        return None

    def latest_upsert(self, site: str, provider: Provider, key: DeploymentKey) -> Upsert | None:
        """The most recently accepted write of this deployment that has not applied yet."""
        latest = self._latest.get((site, provider))
        item = None if latest is None else latest.get(key)
        return None if item is None else item.op  # type: ignore[return-value]

    def _forget(self, item: Pending) -> Pending:
        op = item.op
        if type(op) is Upsert:
            latest = self._latest.get((op.site, op.provider))
            key = op.deployment.key
            if latest is not None and latest.get(key) is item:
                del latest[key]
        return item

    def pop_due(self, now: float) -> Iterator[Pending]:
        """Remove and yield, in order, every operation due at or before ``now``."""
        heap = self._heap
        while heap and heap[0][0] <= now:
            yield from self._drain(heappop(heap)[2])

    def pop_all(self) -> Iterator[Pending]:
        heap = self._heap
        while heap:
            yield from self._drain(heappop(heap)[2])

    def _drain(self, run: list[Pending]) -> Iterator[Pending]:
        """Yield the operations of a run taken off the heap; if the caller stops early, the ones it
        has not been given go back on the heap."""
        self._count -= len(run)
        site, provider, latest = None, None, None
        for index, item in enumerate(run):
            op = item.op
            if type(op) is Upsert:  # _forget(item), with the index of a run's (site, provider) looked up once
                if op.site is not site or op.provider is not provider:
                    site, provider = op.site, op.provider
                    latest = self._latest.get((site, provider))
                key = op.deployment.key
                if latest is not None and latest.get(key) is item:
                    del latest[key]
            try:
                yield item
            except GeneratorExit:
                rest = run[index + 1 :]
                if rest:
                    heappush(self._heap, (rest[0].due, rest[0].seq, rest))
                    self._count += len(rest)
                raise

    def next_due(self) -> float | None:
        return self._heap[0][0] if self._heap else None

    def remove_site(self, site: str, provider: Provider | None = None) -> int:
        kept: list[tuple[float, int, list[Pending]]] = []
        doomed: list[Pending] = []
        for due, first, run in self._heap:
            keep = []
            for item in run:
                op = item.op
                (doomed if op.site == site and (provider is None or op.provider == provider) else keep).append(item)
            if keep:
                kept.append((due, first, keep))
        if doomed:
            heapify(kept)
            self._heap = kept
            self._count -= len(doomed)
            for item in doomed:
                self._forget(item)
        return len(doomed)

    def clear(self) -> None:
        self._heap.clear()
        self._count = 0
        self._latest.clear()

    def __iter__(self) -> Iterator[Pending]:
        """In the order they will apply: (due, seq)."""
        for _, _, run in sorted(self._heap):  # first seqs are unique: tuples never compare their runs
            yield from run

    def __len__(self) -> int:
        return self._count
