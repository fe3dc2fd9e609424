import msgspec
import pytest

from emulator.domain.clock import ManualClock
from emulator.domain.kinds import DEPLOYMENTS, DeploymentKind
from emulator.domain.model import DeploymentKey, Provider
from emulator.domain.service import DevOpsService, QueueSettings
from emulator.domain.sites import SiteRegistry
from tests.factories import deployment_input, site

P = Provider("connect", "app")
Q = Provider("oauth", "client")
K = DeploymentKey("pipe", "env", 1)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def svc(clock: ManualClock) -> DevOpsService:
    return DevOpsService(
        SiteRegistry([site("s", projects={"ABC": 10}, services=frozenset({"svc-1"}))]),
        clock,
        QueueSettings(apply_delay=0.5),
    )


def S(svc: DevOpsService):  # type: ignore[no-untyped-def]
    return svc.sites.get("s")


def test_write_is_visible_only_after_the_delay(svc: DevOpsService, clock: ManualClock) -> None:
    svc.submit(DEPLOYMENTS, S(svc), P, [deployment_input()], {})
    assert svc.get(DEPLOYMENTS, S(svc), P, K) is None
    clock.advance(0.49)
    assert svc.get(DEPLOYMENTS, S(svc), P, K) is None
    clock.advance(0.01)
    assert svc.get(DEPLOYMENTS, S(svc), P, K) is not None


def test_zero_delay_applies_before_submit_returns(clock: ManualClock) -> None:
    svc = DevOpsService(SiteRegistry([site("s")]), clock, QueueSettings(apply_delay=0))
    svc.submit(DEPLOYMENTS, svc.sites.get("s"), P, [deployment_input()], {})
    assert len(svc.queue) == 0
    assert svc.get(DEPLOYMENTS, svc.sites.get("s"), P, K) is not None


@pytest.mark.parametrize(
    ("second", "kept"), [(2, 2), (1, 1), (0, 1)], ids=["higher-replaces", "equal-skipped", "lower-skipped"]
)
def test_update_sequence_number_rule(svc: DevOpsService, second: int, kept: int) -> None:
    svc.submit(DEPLOYMENTS, S(svc), P, [deployment_input(usn=1)], {"v": "first"})
    svc.submit(DEPLOYMENTS, S(svc), P, [deployment_input(usn=second)], {"v": "second"})
    svc.flush()
    stored = svc.get(DEPLOYMENTS, S(svc), P, K)
    assert stored is not None and stored.update_sequence_number == kept
    assert stored.properties == {"v": "first" if kept == 1 else "second"}


def test_providers_are_isolated(svc: DevOpsService) -> None:
    svc.submit(DEPLOYMENTS, S(svc), P, [deployment_input(usn=5)], {})
    svc.submit(DEPLOYMENTS, S(svc), Q, [deployment_input(usn=1)], {})
    svc.flush()
    assert svc.get(DEPLOYMENTS, S(svc), P, K).update_sequence_number == 5
    assert svc.get(DEPLOYMENTS, S(svc), Q, K).update_sequence_number == 1
    svc.delete(DEPLOYMENTS, S(svc), Q, K)
    svc.flush()
    assert svc.get(DEPLOYMENTS, S(svc), P, K) is not None and svc.get(DEPLOYMENTS, S(svc), Q, K) is None


def test_delete_by_key_honours_the_deprecated_bound(svc: DevOpsService) -> None:
    svc.submit(DEPLOYMENTS, S(svc), P, [deployment_input(usn=5)], {})
    svc.delete(DEPLOYMENTS, S(svc), P, K, max_usn=4)
    svc.flush()
    assert svc.get(DEPLOYMENTS, S(svc), P, K) is not None
    svc.delete(DEPLOYMENTS, S(svc), P, K, max_usn=5)
    svc.flush()
    assert svc.get(DEPLOYMENTS, S(svc), P, K) is None


def test_delete_by_properties_is_an_and(svc: DevOpsService) -> None:
    svc.submit(DEPLOYMENTS, S(svc), P, [deployment_input(number=1)], {"a": "1", "b": "1"})
    svc.submit(DEPLOYMENTS, S(svc), P, [deployment_input(number=2)], {"a": "1", "b": "2"})
    svc.submit(DEPLOYMENTS, S(svc), P, [deployment_input(number=3, usn=9)], {"a": "1", "b": "1"})
    svc.delete_by_properties(DEPLOYMENTS, S(svc), P, {"a": "1", "b": "1"}, max_usn=5)
    svc.flush()
    left = sorted(k.sequence_number for k in svc.store.partition("deployments", "s", P).records)
    assert left == [2, 3]


def test_unknown_associations_are_reported_and_dropped(svc: DevOpsService) -> None:
    dep = deployment_input(issues=("ABC-1", "ABC-11", "XYZ-1"))
    out = svc.submit(DEPLOYMENTS, S(svc), P, [dep], {})
    assert out.accepted == [K]
    assert out.unknown_associations == [{"associationType": "issueIdOrKeys", "values": ["ABC-11", "XYZ-1"]}]
    svc.flush()
    stored = svc.get(DEPLOYMENTS, S(svc), P, K)
    assert stored.data["associations"] == [{"associationType": "issueIdOrKeys", "values": ["ABC-1"]}]


def test_a_deployment_with_no_known_association_is_rejected(svc: DevOpsService) -> None:
    out = svc.submit(DEPLOYMENTS, S(svc), P, [deployment_input(issues=("XYZ-1",))], {})
    assert out.accepted == [] and out.rejected == [(K, [DEPLOYMENTS.no_valid_associations])]
    svc.flush()
    assert svc.get(DEPLOYMENTS, S(svc), P, K) is None


@pytest.mark.parametrize(
    ("env_type", "issues", "status"),
    [("production", ("ABC-1",), "awaiting"), ("staging", ("ABC-1",), "allowed"), ("production", (), "invalid")],
    ids=["production-awaits", "staging-allowed", "no-issue-invalid"],
)
def test_initial_gating(svc: DevOpsService, env_type: str, issues: tuple[str, ...], status: str) -> None:
    svc.submit(DEPLOYMENTS, S(svc), P, [deployment_input(env_type=env_type, issues=issues, gating=True)], {})
    svc.flush()
    gating = svc.gating_status(S(svc), P, K)
    assert gating is not None and gating.status == status
    if status == "awaiting":
        assert gating.details == [
            {
                "type": "issue",
                "issueKey": "CHG-1",
                "issueLink": "https://s.example.net/servicedesk/customer/portal/1/CHG-1",
            }
        ]


def test_never_gated_has_no_gating_status(svc: DevOpsService) -> None:
    svc.submit(DEPLOYMENTS, S(svc), P, [deployment_input()], {})
    svc.flush()
    assert svc.gating_status(S(svc), P, K) is None


def test_reset_one_site_keeps_the_others(clock: ManualClock) -> None:
    svc = DevOpsService(SiteRegistry([site("a"), site("b")]), clock, QueueSettings(apply_delay=0))
    for name in ("a", "b"):
        svc.submit(DEPLOYMENTS, svc.sites.get(name), P, [deployment_input()], {})
    svc.reset("a")
    assert svc.get(DEPLOYMENTS, svc.sites.get("a"), P, K) is None
    assert svc.get(DEPLOYMENTS, svc.sites.get("b"), P, K) is not None
    svc.reset()
    assert len(svc.store) == 0


def test_a_run_that_fails_part_way_puts_the_rest_back(clock: ManualClock) -> None:
    """A bug while applying must not lose the writes after it: they go back on the queue, in order."""

    class Failing(DeploymentKind, frozen=True):
        broken: list[bool] = msgspec.field(default_factory=lambda: [True])

        def apply(self, part, incoming, properties, now, site):  # type: ignore[no-untyped-def]
            if incoming.key.sequence_number == 2 and self.broken[0]:
                raise RuntimeError("a bug")
            return super().apply(part, incoming, properties, now, site)

    kind = Failing(DEPLOYMENTS.name, DEPLOYMENTS.entity, DEPLOYMENTS.number, DEPLOYMENTS.no_valid_associations)
    svc = DevOpsService(SiteRegistry([site("s")]), clock, QueueSettings(apply_delay=0.5), kinds=[kind])
    s = svc.sites.get("s")
    svc.submit(kind, s, P, [deployment_input(number=n) for n in (1, 2, 3)], {})
    with pytest.raises(RuntimeError):
        svc.flush()
    assert [p.op.entity.key.sequence_number for p in svc.pending()] == [3]
    assert svc.has_pending_write(kind, s, P, DeploymentKey("pipe", "env", 3))
    kind.broken[0] = False
    svc.flush()
    assert sorted(k.sequence_number for _, _, r in svc.stored(kind.name) for k in [r.key]) == [1, 3]


def test_an_observer_that_fails_part_way_leaves_the_rest_of_the_run_queued(svc: DevOpsService) -> None:
    s = svc.sites.get("s")
    svc.submit(DEPLOYMENTS, s, P, [deployment_input(number=n) for n in (1, 2, 3)], {})
    seen: list[int] = []

    def observer(applied) -> None:  # type: ignore[no-untyped-def]
        seen.append(applied.pending.op.entity.key.sequence_number)
        if len(seen) == 1:
            raise OSError("the disk is full")

    svc.on_apply.append(observer)
    with pytest.raises(OSError):
        svc.flush()
    assert [p.op.entity.key.sequence_number for p in svc.queue] == [2, 3]
    svc.flush()
    assert seen == [1, 2, 3]
