from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from emulator.domain.model import DeploymentKey, Provider
from emulator.domain.queue import ApplyQueue, DeleteByKey, Operation, Pending, Upsert
from tests.factories import deployment_input

P = Provider("connect", "app")


def op(n: int, site: str = "s") -> DeleteByKey:
    return DeleteByKey("deployments", site, P, DeploymentKey("p", "e", n), None)


def test_pops_only_what_is_due_in_due_then_acceptance_order() -> None:
    q = ApplyQueue()
    q.push(op(1), accepted_at=0, due=5)
    q.push(op(2), accepted_at=0, due=3)
    q.push(op(3), accepted_at=1, due=3)
    assert [p.op.key.sequence_number for p in q.pop_due(2.9)] == []
    assert [p.op.key.sequence_number for p in q.pop_due(3)] == [2, 3]
    assert q.next_due() == 5
    assert [p.op.key.sequence_number for p in q.pop_all()] == [1]
    assert q.next_due() is None


def test_remove_site_keeps_other_sites() -> None:
    q = ApplyQueue()
    q.push(op(1, "a"), accepted_at=0, due=1)
    q.push(op(2, "b"), accepted_at=0, due=1)
    assert q.remove_site("a") == 1
    assert [p.op.site for p in q] == ["b"]


def test_a_run_keeps_its_order_among_single_operations_of_the_same_due_time() -> None:
    q = ApplyQueue()
    q.push(op(1), accepted_at=0, due=2)
    run = q.push_all([op(2), op(3), op(4)], accepted_at=0, due=2)
    q.push(op(5), accepted_at=0, due=1)
    assert [p.seq for p in run.pendings()] == [1, 2, 3]
    assert len(q) == 5
    assert [p.op.key.sequence_number for p in q] == [5, 1, 2, 3, 4]
    assert [p.op.key.sequence_number for p in q.pop_due(2)] == [5, 1, 2, 3, 4]
    assert len(q) == 0


def test_a_caller_that_stops_early_leaves_the_rest_of_a_run_queued() -> None:
    q = ApplyQueue()
    q.push_all([op(1), op(2), op(3)], accepted_at=0, due=1)
    taken = q.pop_due(5)
    assert next(taken).op.key.sequence_number == 1
    taken.close()
    assert len(q) == 2
    assert [p.op.key.sequence_number for p in q.pop_all()] == [2, 3]


# -- the queue against a plain sorted list ---------------------------------------------------------

providers = st.sampled_from([P, Provider("oauth", "c")])
sites = st.sampled_from(["a", "b"])
keys = st.builds(DeploymentKey, st.just("p"), st.just("e"), st.integers(1, 3))
operations = st.one_of(
    st.builds(
        Upsert,
        st.just("deployments"),
        sites,
        providers,
        st.builds(lambda key: deployment_input(*key), keys),
        st.just({}),
    ),
    st.builds(DeleteByKey, st.just("deployments"), sites, providers, keys, st.none()),
)
times = st.sampled_from([0.0, 0.5, 1.0, 2.0])


class QueueMachine(RuleBasedStateMachine):
    """Every operation of ApplyQueue against a list of (due, seq, op) kept sorted."""

    def __init__(self) -> None:
        super().__init__()
        self.q = ApplyQueue()
        self.model: list[tuple[float, int, Operation]] = []
        self.seq = 0
        self.newest: dict[tuple[str, Provider, DeploymentKey], Upsert] = {}  # last accepted upsert per key

    def _add(self, ops: list[Operation], due: float) -> None:
        for one in ops:
            self.model.append((due, self.seq, one))
            self.seq += 1
            if type(one) is Upsert:
                self.newest[(one.site, one.provider, one.entity.key)] = one
        self.model.sort(key=lambda entry: entry[:2])

    @rule(one=operations, due=times)
    def push(self, one: Operation, due: float) -> None:
        assert self.q.push(one, accepted_at=0, due=due).seq == self.seq
        self._add([one], due)

    @rule(ops=st.lists(operations, max_size=5), due=times)
    def push_all(self, ops: list[Operation], due: float) -> None:
        run = self.q.push_all(ops, accepted_at=0, due=due)
        assert [p.op for p in run.pendings()] == ops
        self._add(ops, due)

    @rule(one=operations, due=times, gap=st.integers(0, 2))
    def restore(self, one: Operation, due: float, gap: int) -> None:
        """As durable state does: in sequence order, numbers possibly skipped."""
        self.seq += gap
        self.q.restore(Pending(due, self.seq, 0.0, one))
        self._add([one], due)
        assert self.q.next_seq == self.seq

    @rule(now=times, stop_after=st.none() | st.integers(0, 4))
    def pop_due(self, now: float, stop_after: int | None) -> None:
        due = [entry for entry in self.model if entry[0] <= now]
        expected = due if stop_after is None else due[:stop_after]
        taken = self.q.pop_due(now)
        got = [p for _, p in zip(range(len(expected)), taken, strict=False)]  # range first: zip takes no extra
        if stop_after is not None:
            taken.close()
        else:
            assert list(taken) == []
        assert [(p.due, p.seq, p.op) for p in got] == expected
        del self.model[: len(expected)]

    @rule(data=st.data())
    def take(self, data: st.DataObject) -> None:
        seq = data.draw(st.integers(0, self.seq))
        found = [entry for entry in self.model if entry[1] == seq]
        item = self.q.take(seq)
        assert (None if item is None else (item.due, item.seq, item.op)) == (found[0] if found else None)
        self.model = [entry for entry in self.model if entry[1] != seq]

    @rule(site=sites, provider=st.none() | providers)
    def remove_site(self, site: str, provider: Provider | None) -> None:
        def doomed(one: Operation) -> bool:
            return one.site == site and (provider is None or one.provider == provider)

        assert self.q.remove_site(site, provider) == sum(doomed(entry[2]) for entry in self.model)
        self.model = [entry for entry in self.model if not doomed(entry[2])]

    @invariant()
    def same_as_model(self) -> None:
        assert [(p.due, p.seq, p.op) for p in self.q] == self.model
        assert len(self.q) == len(self.model)
        assert self.q.next_due() == (self.model[0][0] if self.model else None)

    @invariant()
    def latest_upsert_is_the_last_accepted_while_it_is_pending(self) -> None:
        """Not the last pending one: once the newest write of a key has applied (or was taken out),
        an older one still pending is not "the latest accepted", and the answer is None."""
        pending = {id(entry[2]) for entry in self.model}
        for (site, provider, key), newest in self.newest.items():
            expected = newest if id(newest) in pending else None
            assert self.q.latest_upsert("deployments", site, provider, key) is expected


TestQueueMachine = QueueMachine.TestCase
TestQueueMachine.settings = settings(max_examples=150, stateful_step_count=30, deadline=None)
