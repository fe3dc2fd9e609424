"""Durable state: a restart from the data folder gives back exactly what an uninterrupted run holds.

The model test runs the same steps against a twin without durable state and against a service kept in a
real data folder, which is abandoned (as a crash leaves it) and restarted at random points: in the middle
of a compaction, between a compaction's steps, right after a multi-entity submit applied at once. After
every step both must hold the same records, queue and sites.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emulator.domain.clock import ManualClock
from emulator.domain.kinds import BUILDS, DEPLOYMENTS
from emulator.domain.model import BuildKey, DeploymentKey, Provider, StoredDeployment
from emulator.domain.service import DevOpsService, QueueSettings
from emulator.domain.sites import ConnectApp, SiteRegistry
from emulator.persistence import DurableState, log_name
from emulator.persistence.snapshot import SnapshotWriter
from tests.factories import build_input, deployment_input, site

P, Q = Provider("connect", "app"), Provider("oauth", "bot")


def fresh(clock: ManualClock, delay: float = 1.0) -> DevOpsService:
    sites = SiteRegistry([site("s"), site("t")])
    return DevOpsService(sites, clock, QueueSettings(apply_delay=delay), kinds=[DEPLOYMENTS, BUILDS])


def state(svc: DevOpsService) -> Any:
    def gating(r: Any) -> Any:
        return isinstance(r, StoredDeployment) and r.gating and (r.gating.status, r.gating.details)

    store = {
        (pid, key): (r.update_sequence_number, r.data, r.properties, gating(r))
        for pid, part in svc.store.partitions()
        for key, r in part.records.items()
    }
    queue = [(p.seq, p.due, p.op) for p in svc.queue]
    sites = {s.name: (sorted(s.connect_apps), s.change_requests) for s in svc.sites}
    return store, queue, sites


numbers = st.lists(st.integers(1, 3), min_size=1, max_size=3)
steps = st.lists(
    st.one_of(
        st.tuples(st.just("submit"), st.sampled_from([P, Q]), numbers, st.integers(0, 4), st.booleans()),
        st.tuples(st.just("build"), st.sampled_from([P, Q]), numbers, st.integers(0, 4)),
        st.tuples(st.just("delete"), st.sampled_from([P, Q]), st.integers(1, 3), st.none() | st.integers(0, 4)),
        st.tuples(st.just("delete-build"), st.sampled_from([P, Q]), st.integers(1, 3)),
        st.tuples(st.just("props"), st.sampled_from([P, Q]), st.sampled_from(["1", "2"])),
        st.tuples(st.just("advance"), st.sampled_from([0.5, 1.0, 2.0])),
        st.tuples(st.just("flush")),
        st.tuples(st.just("pause"), st.booleans()),
        st.tuples(st.just("reset"), st.sampled_from([None, "s", "t"])),
        st.tuples(st.just("install"), st.sampled_from(["x", "y"])),
        st.tuples(st.just("uninstall"), st.sampled_from(["x", "y", "app"])),
        st.tuples(st.just("decide"), st.integers(1, 3), st.sampled_from(["allowed", "prevented"])),
        st.tuples(st.just("compact-begin")),
        st.tuples(st.just("compact-step"), st.integers(1, 4)),
        st.tuples(st.just("compact-finish")),
        st.tuples(st.just("restart")),
    ),
    min_size=5,
    max_size=40,
)


def run(svc: DevOpsService, step: tuple) -> None:
    kind, s = step[0], svc.sites.get("s")
    assert s is not None
    if kind == "submit":
        _, who, ns, usn, gated = step
        entities = [deployment_input("p", "e", n, usn, gating=gated) for n in ns]
        svc.submit(DEPLOYMENTS, s, who, entities, {"v": str(usn % 2 + 1)})  # type: ignore[arg-type]
    elif kind == "build":
        _, who, ns, usn = step
        svc.submit(BUILDS, s, who, [build_input("b", n, usn) for n in ns], {"v": str(usn % 2 + 1)})  # type: ignore[misc]
    elif kind == "delete":
        svc.delete(DEPLOYMENTS, s, step[1], DeploymentKey("p", "e", step[2]), step[3])
    elif kind == "delete-build":
        svc.delete(BUILDS, s, step[1], BuildKey("b", step[2]))
    elif kind == "props":
        svc.delete_by_properties(DEPLOYMENTS, s, step[1], {"v": step[2]})
    else:
        run_control(svc, step)


def run_control(svc: DevOpsService, step: tuple) -> None:
    kind, s = step[0], svc.sites.get("s")
    assert s is not None
    if kind == "advance":
        svc.clock.advance(step[1])  # type: ignore[attr-defined]
        svc.apply_due()
    elif kind == "flush":
        svc.flush()
    elif kind == "pause":
        svc.paused = step[1]
    elif kind == "reset":
        svc.reset(step[1])
    elif kind == "install":
        svc.install_app(s, ConnectApp(step[1], "ck", "secret", frozenset({"WRITE"}), frozenset()))
    elif kind == "uninstall":
        svc.uninstall_app(s, step[1])
    elif kind == "decide":
        svc.decide_gating(s, P, DeploymentKey("p", "e", step[1]), step[2], None)


class Durable:
    """The service kept in the folder, its durable state, and a compaction it may be in the middle of."""

    def __init__(self, folder: Path, clock: ManualClock, paused: bool = False) -> None:
        self.svc = fresh(clock)
        self.svc.paused = paused  # runtime settings are not durable: the test carries this one over
        self.state = DurableState(folder, self.svc, compact_every=7)
        self.state.open()
        self.writer: SnapshotWriter | None = None

    def compaction(self, step: tuple) -> None:
        if step[0] == "compact-begin" and self.writer is None:
            self.writer = self.state.begin_compaction()
        elif step[0] == "compact-step" and self.writer is not None:
            self.writer.step(budget=step[1])  # a line or a few: the state changes between steps
        elif step[0] == "compact-finish" and self.writer is not None:
            self.writer.write_all()
            self.writer.sync()
            self.state.finish_compaction(self.writer)
            self.writer = None


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=steps)
def test_restarts_lose_nothing(tmp_path_factory: pytest.TempPathFactory, steps: list[tuple]) -> None:
    folder = tmp_path_factory.mktemp("data")
    twin_clock, clock = ManualClock(), ManualClock()
    twin = fresh(twin_clock)
    durable = Durable(folder, clock)
    for step in steps:
        if step[0] == "restart":
            durable.state.abandon()  # the old process is gone without a clean stop, maybe mid-compaction
            if durable.writer is not None:
                durable.writer.abandon()
            durable = Durable(folder, clock, durable.svc.paused)
        elif step[0].startswith("compact"):
            durable.compaction(step)
        else:
            run(twin, step)
            run(durable.svc, step)
            if step[0] == "advance":
                durable.state.sync()  # the applier's tick writes what applied
        assert state(durable.svc) == state(twin)
    if durable.writer is not None:
        durable.writer.abandon()  # a clean stop writes a snapshot of its own
    durable.state.close()
    last = Durable(folder, clock, durable.svc.paused)
    last.state.abandon()
    assert state(last.svc) == state(twin)


def test_a_clean_stop_leaves_a_snapshot_and_a_log_with_nothing_to_replay(tmp_path: Path) -> None:
    clock = ManualClock()
    svc = fresh(clock)
    durable = DurableState(tmp_path, svc)
    durable.open()
    svc.submit(DEPLOYMENTS, svc.sites.get("s"), P, [deployment_input()], {})
    svc.submit(BUILDS, svc.sites.get("s"), P, [build_input()], {})
    assert len((tmp_path / log_name(0)).read_text().splitlines()) == 3  # header + the two accepted writes
    durable.close()
    logs = sorted(tmp_path.glob("log-*.jsonl"))
    assert [p.name for p in logs] == [log_name(1)] and len(logs[0].read_text().splitlines()) == 1
    again = fresh(clock)
    summary = DurableState(tmp_path, again).open()
    assert summary == {"snapshotRecords": 0, "snapshotPending": 2, "logRecords": 0, "dropped": 0}


def test_pending_writes_of_both_families_survive_and_still_apply(tmp_path: Path) -> None:
    clock = ManualClock()
    svc = fresh(clock, delay=5)
    first = DurableState(tmp_path, svc)
    first.open()
    svc.submit(DEPLOYMENTS, svc.sites.get("s"), P, [deployment_input()], {})
    svc.submit(BUILDS, svc.sites.get("s"), P, [build_input("ci", 42)], {"run": "7"})
    first.abandon()
    restarted = fresh(clock, delay=5)
    DurableState(tmp_path, restarted).open()
    s = restarted.sites.get("s")
    assert restarted.get(DEPLOYMENTS, s, P, DeploymentKey("pipe", "env", 1)) is None
    clock.advance(5)
    assert restarted.get(DEPLOYMENTS, s, P, DeploymentKey("pipe", "env", 1)) is not None
    build = restarted.get(BUILDS, s, P, BuildKey("ci", 42))
    assert build is not None and build.properties == {"run": "7"} and build.data["buildNumber"] == 42
    assert build.body == build_input("ci", 42).body  # the bytes GET answers with, as they were


def test_gating_decisions_and_runtime_installs_survive_a_crash(tmp_path: Path) -> None:
    clock = ManualClock()
    svc = fresh(clock, delay=0)
    first = DurableState(tmp_path, svc)
    first.open()
    s = svc.sites.get("s")
    svc.install_app(s, ConnectApp("late", "ck", "secret", frozenset({"WRITE"}), frozenset()))
    svc.submit(DEPLOYMENTS, s, P, [deployment_input(gating=True)], {})
    key = DeploymentKey("pipe", "env", 1)
    svc.decide_gating(s, P, key, "prevented", [{"type": "issue", "issueKey": "CHG-9", "issueLink": "x"}])
    first.abandon()
    again = fresh(clock, delay=0)
    DurableState(tmp_path, again).open()
    record = again.get(DEPLOYMENTS, again.sites.get("s"), P, key)
    assert isinstance(record, StoredDeployment) and record.gating is not None
    assert record.gating.status == "prevented" and record.gating.details[0]["issueKey"] == "CHG-9"
    assert "late" in again.sites.get("s").connect_apps
