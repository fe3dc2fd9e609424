"""The apply queue: accepted writes and deletes wait here until they are due.

Jira applies submissions and deletions asynchronously; GET shows only what has been applied.
Operations are ordered by (due time, acceptance sequence), so with one constant delay they apply
in the order they were accepted, and an operation never applies before it is due.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass

from sortedcontainers import SortedKeyList

from emulator.domain.model import DeploymentInput, DeploymentKey, Provider


@dataclass(frozen=True, slots=True)
class Upsert:
    site: str
    provider: Provider
    deployment: DeploymentInput
    properties: dict[str, str]


@dataclass(frozen=True, slots=True)
class DeleteByKey:
    site: str
    provider: Provider
    key: DeploymentKey
    max_update_sequence_number: int | None


@dataclass(frozen=True, slots=True)
class DeleteByProperties:
    site: str
    provider: Provider
    properties: dict[str, str]
    max_update_sequence_number: int | None


Operation = Upsert | DeleteByKey | DeleteByProperties


@dataclass(frozen=True, slots=True)
class Pending:
    due: float
    seq: int
    accepted_at: float
    op: Operation


class ApplyQueue:
    def __init__(self) -> None:
        self._items: SortedKeyList = SortedKeyList(key=lambda p: (p.due, p.seq))
        self._seq = itertools.count()
        self._latest: dict[tuple[str, Provider, DeploymentKey], Pending] = {}  # last accepted upsert per key

    def push(self, op: Operation, *, accepted_at: float, due: float) -> Pending:
        item = Pending(due=due, seq=next(self._seq), accepted_at=accepted_at, op=op)
        self._items.add(item)
        if isinstance(op, Upsert):
            self._latest[(op.site, op.provider, op.deployment.key)] = item
        return item

    def restore(self, item: Pending) -> None:
        """Put back an operation read from durable state, keeping its sequence number and due time."""
        self._items.add(item)
        if isinstance(item.op, Upsert):
            index = (item.op.site, item.op.provider, item.op.deployment.key)
            current = self._latest.get(index)
            if current is None or current.seq < item.seq:
                self._latest[index] = item
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
        item = next((p for p in self._items if p.seq == seq), None)
        if item is not None:
            self._items.remove(item)
            self._forget(item)
        return item

    def latest_upsert(self, site: str, provider: Provider, key: DeploymentKey) -> Upsert | None:
        """The most recently accepted write of this deployment that has not applied yet."""
        item = self._latest.get((site, provider, key))
        return None if item is None else item.op  # type: ignore[return-value]

    def _forget(self, item: Pending) -> Pending:
        op = item.op
        if isinstance(op, Upsert):
            index = (op.site, op.provider, op.deployment.key)
            if self._latest.get(index) is item:
                del self._latest[index]
        return item

    def pop_due(self, now: float) -> Iterator[Pending]:
        """Remove and yield, in order, every operation due at or before ``now``."""
        while self._items and self._items[0].due <= now:
            yield self._forget(self._items.pop(0))

    def pop_all(self) -> Iterator[Pending]:
        while self._items:
            yield self._forget(self._items.pop(0))

    def next_due(self) -> float | None:
        return self._items[0].due if self._items else None

    def remove_site(self, site: str, provider: Provider | None = None) -> int:
        doomed = [p for p in self._items if p.op.site == site and (provider is None or p.op.provider == provider)]
        for p in doomed:
            self._items.remove(p)
            self._forget(p)
        return len(doomed)

    def clear(self) -> None:
        self._items.clear()
        self._latest.clear()

    def __iter__(self) -> Iterator[Pending]:
        return iter(list(self._items))

    def __len__(self) -> int:
        return len(self._items)
