"""The journal's ring against a simple model: a list of (id, fields) that keeps the newest ``capacity``."""

from __future__ import annotations

from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from emulator.journal import FIELDS, Journal


class JournalRing(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.journal: Journal | None = None
        self.capacity = 0
        self.kept: list[tuple[int, int]] = []  # (id, status) of the entries the ring should hold, oldest first
        self.recorded = 0
        self.dropped = 0

    @precondition(lambda self: self.journal is None)
    @rule(capacity=st.integers(1, 5))
    def start(self, capacity: int) -> None:
        self.journal, self.capacity = Journal(capacity), capacity

    @precondition(lambda self: self.journal is not None)
    @rule(status=st.sampled_from([200, 202, 404, 500]), by_fields=st.booleans())
    def record(self, status: int, by_fields: bool) -> None:
        assert self.journal is not None
        fields: dict[str, Any] = dict(
            time=float(self.recorded),
            method="GET",
            path="/p",
            query="",
            operation=None,
            site=None,
            provider=None,
            status=status,
            latency_ms=0.5,
            reason=None,
            touched=(),
        )
        if by_fields:
            entry_id = self.journal.record(**fields).id
        else:
            entry_id = self.journal.record_values(_values(fields))
        self.recorded += 1
        assert entry_id == self.recorded
        if len(self.kept) == self.capacity:
            self.kept.pop(0)
            self.dropped += 1
        self.kept.append((entry_id, status))

    @precondition(lambda self: self.journal is not None)
    @rule()
    def clear(self) -> None:
        assert self.journal is not None
        self.journal.clear()
        self.kept.clear()

    @invariant()
    def holds_what_the_model_holds(self) -> None:
        if self.journal is None:
            return
        journal = self.journal
        assert [(e.id, e.status) for e in journal] == self.kept
        assert [(e.id, e.status) for e in journal.query({})] == self.kept[::-1]
        assert [e.id for e in journal.query({"status": "404"})] == [i for i, s in self.kept[::-1] if s == 404]
        assert (len(journal), journal.dropped) == (len(self.kept), self.dropped)
        kept = dict(self.kept)
        for entry_id in range(-1, self.recorded + 3):
            entry = journal.get(entry_id)
            if entry_id in kept:
                assert entry is not None and (entry.id, entry.status) == (entry_id, kept[entry_id])
                assert entry.time == float(entry_id - 1)  # the fields of that call, not of a neighbour
            else:
                assert entry is None


def _values(fields: dict[str, Any]) -> tuple[Any, ...]:
    """Every field in ``FIELDS`` order, as the emulator records a call: the ones not given empty."""
    empty: dict[str, Any] = {"findings": (), "request_size": 0, "response_size": 0, "request_headers": ()}
    return tuple(fields[name] if name in fields else empty.get(name) for name in FIELDS)


JournalRing.TestCase.settings = settings(max_examples=150, stateful_step_count=30, deadline=None)
TestJournalRing = JournalRing.TestCase
