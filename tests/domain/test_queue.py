from emulator.domain.model import DeploymentKey, Provider
from emulator.domain.queue import ApplyQueue, DeleteByKey

P = Provider("connect", "app")


def op(n: int, site: str = "s") -> DeleteByKey:
    return DeleteByKey(site, P, DeploymentKey("p", "e", n), None)


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
