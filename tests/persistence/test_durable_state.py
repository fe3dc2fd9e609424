"""Durable state: a restart from the data folder gives back exactly what an uninterrupted run holds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emulator.domain.clock import ManualClock
from emulator.domain.kinds import DEPLOYMENTS
from emulator.domain.model import DeploymentKey, Provider
from emulator.domain.service import DevOpsService, QueueSettings
from emulator.domain.sites import ConnectApp, SiteRegistry
from emulator.persistence import WAL, DurableState, PersistenceError
from tests.factories import deployment_input, site

P, Q = Provider("connect", "app"), Provider("oauth", "bot")


def fresh(clock: ManualClock, delay: float = 1.0) -> DevOpsService:
    return DevOpsService(SiteRegistry([site("s"), site("t")]), clock, QueueSettings(apply_delay=delay))


def state(svc: DevOpsService) -> Any:
    store = {
        (pid, key): (r.update_sequence_number, r.data, r.properties, r.gating and (r.gating.status, r.gating.details))
        for pid, part in svc.store.partitions()
        for key, r in part.records.items()
    }
    queue = [(p.seq, p.due, p.op) for p in svc.queue]
    sites = {s.name: (sorted(s.connect_apps), s.change_requests) for s in svc.sites}
    return store, queue, sites


steps = st.lists(
    st.one_of(
        st.tuples(st.just("submit"), st.sampled_from([P, Q]), st.integers(1, 3), st.integers(0, 4), st.booleans()),
        st.tuples(st.just("delete"), st.sampled_from([P, Q]), st.integers(1, 3), st.none() | st.integers(0, 4)),
        st.tuples(st.just("props"), st.sampled_from([P, Q]), st.sampled_from(["1", "2"])),
        st.tuples(st.just("advance"), st.sampled_from([0.5, 1.0, 2.0])),
        st.tuples(st.just("flush")),
        st.tuples(st.just("pause"), st.booleans()),
        st.tuples(st.just("reset"), st.sampled_from([None, "s", "t"])),
        st.tuples(st.just("install"), st.sampled_from(["x", "y"])),
        st.tuples(st.just("uninstall"), st.sampled_from(["x", "y", "app"])),
        st.tuples(st.just("decide"), st.integers(1, 3), st.sampled_from(["allowed", "prevented"])),
        st.tuples(st.just("restart")),
    ),
    min_size=5,
    max_size=40,
)


def run(svc: DevOpsService, step: tuple) -> None:
    kind, s = step[0], svc.sites.get("s")
    assert s is not None
    if kind == "submit":
        _, who, n, usn, gated = step
        svc.submit(DEPLOYMENTS, s, who, [deployment_input("p", "e", n, usn, gating=gated)], {"v": str(usn % 2 + 1)})
    elif kind == "delete":
        svc.delete(DEPLOYMENTS, s, step[1], DeploymentKey("p", "e", step[2]), step[3])
    elif kind == "props":
        svc.delete_by_properties(DEPLOYMENTS, s, step[1], {"v": step[2]})
    elif kind == "advance":
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


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=steps)
def test_restarts_lose_nothing(tmp_path_factory: pytest.TempPathFactory, steps: list[tuple]) -> None:
    folder = tmp_path_factory.mktemp("data")
    twin_clock, clock = ManualClock(), ManualClock()
    twin = fresh(twin_clock)
    durable_svc = fresh(clock)
    durable = DurableState(folder, durable_svc, compact_every=7)
    durable.open()
    for step in steps:
        if step[0] == "restart":
            paused = durable_svc.paused
            durable.abandon()
            durable_svc = fresh(clock)  # the old process is gone without a clean stop (no close())
            durable = DurableState(folder, durable_svc, compact_every=7)
            durable.open()
            durable_svc.paused = paused  # runtime settings are not durable; the test carries this one over
            continue
        run(twin, step)
        run(durable_svc, step)
        assert state(durable_svc) == state(twin)
    durable.close()
    again = fresh(clock)
    again.paused = durable_svc.paused
    last = DurableState(folder, again)
    last.open()
    last.abandon()
    assert state(again) == state(twin)


def test_a_clean_stop_leaves_a_snapshot_and_an_empty_log(tmp_path: Path) -> None:
    clock = ManualClock()
    svc = fresh(clock)
    durable = DurableState(tmp_path, svc)
    durable.open()
    svc.submit(DEPLOYMENTS, svc.sites.get("s"), P, [deployment_input()], {})
    assert len((tmp_path / WAL).read_text().splitlines()) == 2  # header + the accepted write
    durable.close()
    assert len((tmp_path / WAL).read_text().splitlines()) == 1
    snapshot = json.loads((tmp_path / "snapshot.json").read_text())
    assert snapshot["version"] == 1 and len(snapshot["pending"]) == 1


def test_pending_writes_survive_and_still_apply(tmp_path: Path) -> None:
    clock = ManualClock()
    svc = fresh(clock, delay=5)
    first = DurableState(tmp_path, svc)
    first.open()
    svc.submit(DEPLOYMENTS, svc.sites.get("s"), P, [deployment_input()], {})
    first.abandon()
    restarted = fresh(clock, delay=5)
    second = DurableState(tmp_path, restarted)
    second.open()
    second.abandon()
    key = DeploymentKey("pipe", "env", 1)
    assert restarted.get(DEPLOYMENTS, restarted.sites.get("s"), P, key) is None
    clock.advance(5)
    assert restarted.get(DEPLOYMENTS, restarted.sites.get("s"), P, key) is not None


def test_a_torn_last_line_is_ignored(tmp_path: Path) -> None:
    clock = ManualClock()
    svc = fresh(clock, delay=0)
    first = DurableState(tmp_path, svc)
    first.open()
    svc.submit(DEPLOYMENTS, svc.sites.get("s"), P, [deployment_input()], {})
    first.abandon()
    with open(tmp_path / WAL, "a", encoding="utf-8") as f:
        f.write('{"t":"accept","seq":99,"acc')  # the process died mid-write
    restarted = fresh(clock, delay=0)
    second = DurableState(tmp_path, restarted)
    second.open()
    second.abandon()
    assert restarted.get(DEPLOYMENTS, restarted.sites.get("s"), P, DeploymentKey("pipe", "env", 1)) is not None


@pytest.mark.parametrize("name", ["snapshot.json", WAL], ids=["snapshot", "log"])
def test_an_unknown_format_version_is_refused_clearly(tmp_path: Path, name: str) -> None:
    (tmp_path / name).write_text(json.dumps({"format": "jira-deployments-emulator", "version": 2}) + "\n")
    with pytest.raises(PersistenceError, match="format version 2; this emulator reads version 1"):
        DurableState(tmp_path, fresh(ManualClock())).open()


def test_a_corrupt_middle_line_is_refused(tmp_path: Path) -> None:
    (tmp_path / WAL).write_text(
        '{"format": "jira-deployments-emulator", "version": 1}\nnot json\n{"t":"reset","site":null}\n'
    )
    with pytest.raises(PersistenceError, match=":2: not a JSON record"):
        DurableState(tmp_path, fresh(ManualClock())).open()


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
    second = DurableState(tmp_path, again)
    second.open()
    second.abandon()
    gating = again.get(DEPLOYMENTS, again.sites.get("s"), P, key).gating
    assert gating is not None and gating.status == "prevented" and gating.details[0]["issueKey"] == "CHG-9"
    assert "late" in again.sites.get("s").connect_apps
