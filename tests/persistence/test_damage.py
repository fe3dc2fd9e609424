"""A damaged data folder: one clear line naming the file and the line, or, with recovery, what is intact
kept and each thing dropped reported; one process per folder; a folder of the previous format read."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest

from emulator.domain.clock import ManualClock
from emulator.domain.kinds import BUILDS, DEPLOYMENTS
from emulator.domain.model import BuildKey, DeploymentKey, Provider
from emulator.domain.service import DevOpsService, QueueSettings
from emulator.domain.sites import SiteRegistry
from emulator.persistence import SNAPSHOT, DurableState, PersistenceError, log_name
from tests.factories import build_input, deployment_input, site

P = Provider("connect", "app")


def fresh(clock: ManualClock | None = None) -> DevOpsService:
    sites = SiteRegistry([site("s")])
    return DevOpsService(sites, clock or ManualClock(), QueueSettings(apply_delay=0), kinds=[DEPLOYMENTS, BUILDS])


def folder_with_data(folder: Path) -> None:
    """A snapshot of three deployments and a build, then a log of two more deployments."""
    svc = fresh()
    durable = DurableState(folder, svc)
    durable.open()
    s = svc.sites.get("s")
    svc.submit(DEPLOYMENTS, s, P, [deployment_input("p", "e", n) for n in (1, 2, 3)], {})
    svc.submit(BUILDS, s, P, [build_input("b", 7)], {})
    durable.compact()
    svc.submit(DEPLOYMENTS, s, P, [deployment_input("p", "e", n) for n in (4, 5)], {})
    durable.abandon()


def open_again(folder: Path, *, recover: bool = False) -> tuple[DevOpsService, dict[str, int]]:
    svc = fresh()
    durable = DurableState(folder, svc, recover=recover)
    summary = durable.open()
    durable.abandon()
    return svc, summary


def numbers(svc: DevOpsService) -> list[int]:
    return sorted(key.sequence_number for _, _, _, record in svc.records() if (key := record.key) and len(key) == 3)


def lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def rewrite(path: Path, index: int, change: Callable[[dict], dict | None]) -> None:
    """Change line ``index`` (0: the header) as JSON, with a correct checksum: damage a checksum cannot see."""
    text = lines(path)
    doc = change(json.loads(text[index].split(" ", 1)[1]))
    payload = json.dumps(doc, separators=(",", ":"))
    text[index] = f"{zlib.crc32(payload.encode()):08x} {payload}"
    path.write_text("\n".join(text) + "\n", encoding="utf-8")


def record_line(path: Path, number: int) -> int:
    return next(i for i, text in enumerate(lines(path)) if f'"key":["p","e",{number}]' in text)


def change_a_digit(path: Path, index: int) -> None:
    text = lines(path)
    text[index] = text[index].replace('"usn":1', '"usn":7', 1)
    path.write_text("\n".join(text) + "\n", encoding="utf-8")


def drop_field(field: str) -> Callable[[dict], dict]:
    def change(doc: dict) -> dict:
        doc.pop(field)
        return doc

    return change


# each damage: how it is made, the start's refusal, and what recovery keeps of deployments 1-5
DAMAGE: dict[str, tuple[Callable[[Path], None], str, list[int]]] = {
    "changed-digit-in-snapshot": (
        lambda f: change_a_digit(f / SNAPSHOT, record_line(f / SNAPSHOT, 2)),
        r"snapshot\.jsonl:\d+: a damaged line, left out \(checksum mismatch",
        [1, 3, 4, 5],
    ),
    "changed-digit-in-log": (
        lambda f: change_a_digit(f / log_name(1), 1),
        r"log-00000001\.jsonl:2: a damaged line, left out \(checksum mismatch",
        [1, 2, 3, 5],
    ),
    "damaged-stored-body": (
        lambda f: (f / SNAPSHOT).write_text(
            (f / SNAPSHOT).read_text().replace('"displayName":"Deployment 3"', '"displayName":"Deployment 3', 1)
        ),
        r"snapshot\.jsonl:\d+: a damaged line",
        [1, 2, 4, 5],
    ),
    "field-missing-in-log": (
        lambda f: rewrite(f / log_name(1), 1, drop_field("seq")),
        r"log-00000001\.jsonl:2: a damaged line, left out \(Object missing required field `seq`",
        [1, 2, 3, 5],
    ),
    "wrong-type-in-snapshot": (
        lambda f: rewrite(f / SNAPSHOT, record_line(f / SNAPSHOT, 1), lambda d: {**d, "usn": "one"}),
        r"snapshot\.jsonl:\d+: a damaged line, left out \(Expected `int`, got `str` - at `\$\.usn`\)",
        [2, 3, 4, 5],
    ),
    "key-of-the-wrong-shape": (
        lambda f: rewrite(f / SNAPSHOT, record_line(f / SNAPSHOT, 1), lambda d: {**d, "key": ["p", 1]}),
        r"snapshot\.jsonl:\d+: a damaged line, left out \(the key \['p', 1\] is not \(str, str, int\)\)",
        [2, 3, 4, 5],
    ),
    "snapshot-cut-short": (
        lambda f: (f / SNAPSHOT).write_text("\n".join(lines(f / SNAPSHOT)[:-2]) + "\n"),
        r"snapshot\.jsonl: holds less than its header announces: 2 record line\(s\) missing",
        [1, 2, 4, 5],
    ),
    "snapshot-deleted": (
        lambda f: (f / SNAPSHOT).unlink(),
        r"snapshot\.jsonl: missing, yet the logs start at generation 1: what the snapshot held is lost",
        [4, 5],
    ),
    "not-our-file": (
        lambda f: (f / SNAPSHOT).write_text("hello\n"),
        r"snapshot\.jsonl:1: not a jira-deployments-emulator snapshot header",
        [4, 5],
    ),
    "log-torn-in-the-middle": (
        lambda f: (f / log_name(1)).write_bytes((f / log_name(1)).read_bytes()[:-20] + b"\n" + b"0" * 8 + b" {}\n"),
        r"log-00000001\.jsonl:\d+: a damaged line",
        [1, 2, 3, 4],
    ),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_damage_stops_the_start_with_one_line_naming_file_and_line(tmp_path: Path, damage: str) -> None:
    folder_with_data(tmp_path)
    make, message, _ = DAMAGE[damage]
    make(tmp_path)
    with pytest.raises(PersistenceError) as refused:
        open_again(tmp_path)
    text = str(refused.value)
    assert "\n" not in text
    assert __import__("re").search(message, text), text
    assert "--recover-data" in text


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_recovery_keeps_what_is_intact_and_reports_what_it_dropped(
    tmp_path: Path, damage: str, caplog: pytest.LogCaptureFixture
) -> None:
    folder_with_data(tmp_path)
    DAMAGE[damage][0](tmp_path)
    with caplog.at_level(logging.WARNING, logger="emulator.persistence"):
        svc, summary = open_again(tmp_path, recover=True)
    assert summary["dropped"] >= 1
    dropped = [r.getMessage() for r in caplog.records if "dropped" in r.getMessage()]
    assert len(dropped) == summary["dropped"]
    assert numbers(svc) == DAMAGE[damage][2]
    build_kept = svc.store.get(BUILDS.name, "s", P, BuildKey("b", 7)) is not None
    assert build_kept == (damage not in ("snapshot-deleted", "not-our-file", "snapshot-cut-short"))
    aside = [p for p in tmp_path.iterdir() if p.name.startswith("damaged-")]
    assert bool(aside) == (damage != "snapshot-deleted")  # the damaged files, kept for a look
    again, summary = open_again(tmp_path)  # recovery wrote the state again: the next start is clean
    assert summary["dropped"] == 0 and numbers(again) == numbers(svc)


def test_a_torn_last_line_is_cut_off_and_the_log_goes_on(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    folder_with_data(tmp_path)
    log = tmp_path / log_name(1)
    with open(log, "ab") as f:
        f.write(b'0badc0de {"t":"accept","seq":99,"acc')  # the process died in the middle of a write
    svc = fresh()
    durable = DurableState(tmp_path, svc)
    with caplog.at_level(logging.WARNING, logger="emulator.persistence"):
        durable.open()
    assert "torn last line" in caplog.text
    assert numbers(svc) == [1, 2, 3, 4, 5]
    svc.submit(DEPLOYMENTS, svc.sites.get("s"), P, [deployment_input("p", "e", 6)], {})
    durable.abandon()
    again, summary = open_again(tmp_path)
    assert numbers(again) == [1, 2, 3, 4, 5, 6] and summary["dropped"] == 0


def test_a_log_older_than_the_snapshot_and_an_unfinished_snapshot_are_removed(tmp_path: Path) -> None:
    folder_with_data(tmp_path)
    (tmp_path / log_name(0)).write_text("left over by a compaction cut short after its snapshot was in place\n")
    (tmp_path / (SNAPSHOT + ".tmp")).write_text("a snapshot a crash cut short")
    svc, _ = open_again(tmp_path)
    assert numbers(svc) == [1, 2, 3, 4, 5]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".lock", log_name(1), SNAPSHOT]


@pytest.mark.parametrize("name", [SNAPSHOT, log_name(0)])
def test_a_folder_of_another_format_version_is_refused_even_when_recovering(tmp_path: Path, name: str) -> None:
    header = json.dumps(
        {
            "format": "jira-deployments-emulator",
            "version": 3,
            "file": name[:3].replace("sna", "snapshot"),
            "generation": 0,
        }
    )
    (tmp_path / name).write_text(f"{zlib.crc32(header.encode()):08x} {header}\n")
    with pytest.raises(PersistenceError, match="format version 3; this emulator reads version 2"):
        open_again(tmp_path, recover=True)


def test_one_process_per_folder(tmp_path: Path) -> None:
    first = DurableState(tmp_path, fresh())
    first.open()
    with pytest.raises(
        PersistenceError, match=rf"another emulator \(process {os.getpid()}\) is using this data folder"
    ):
        DurableState(tmp_path, fresh()).open()
    first.close()
    second = DurableState(tmp_path, fresh())
    second.open()  # the lock went with the first
    second.close()


def test_a_second_emulator_on_the_folder_exits_with_one_line(tmp_path: Path) -> None:
    first = DurableState(tmp_path, fresh())
    first.open()
    try:
        env = {**os.environ, "EMULATOR_PORT": "0", "EMULATOR_DATA_DIR": str(tmp_path)}
        done = subprocess.run([sys.executable, "-m", "emulator"], env=env, capture_output=True, timeout=30)
    finally:
        first.close()
    assert done.returncode == 3
    assert b"is using this data folder" in done.stderr and b"Traceback" not in done.stderr
    assert len(done.stderr.decode().strip().splitlines()) == 1, done.stderr


def test_a_folder_of_the_previous_format_is_read_and_written_again(tmp_path: Path) -> None:
    """Format version 1 (release 0.1): snapshot.json and wal.jsonl, deployments only."""
    key = {"key": ["p", "e", 1], "usn": 1, "envType": "production", "issueKeys": [], "gating": False,
           "associations": [["issueIdOrKeys", ["ABC-1"]]], "data": {"deploymentSequenceNumber": 2}}  # fmt: skip
    snapshot = {
        "format": "jira-deployments-emulator", "version": 1, "nextSeq": 5, "pending": [],
        "sites": [{"name": "s", "baseUrl": "https://s.example.net", "cloudId": "cloud-s", "projects": {},
                   "services": [], "connectApps": [], "oauthClients": [],
                   "gating": {"types": ["production"], "changeProject": "CHG"}, "applyDelay": None,
                   "changeRequests": 0}],
        "records": [{"site": "s", "provider": ["connect", "app"], "key": ["p", "e", 1], "usn": 1,
                     "body": '{"deploymentSequenceNumber":1}', "properties": {}, "envType": "production",
                     "appliedAt": 1.0, "gating": None}],
    }  # fmt: skip
    accept = {"t": "accept", "seq": 5, "acceptedAt": 2.0, "due": 2.0,
              "op": {"site": "s", "provider": ["connect", "app"], "kind": "upsert", "properties": {},
                     "deployment": {**key, "key": ["p", "e", 2]}}}  # fmt: skip
    (tmp_path / "snapshot.json").write_text(json.dumps(snapshot))
    header = {"format": "jira-deployments-emulator", "version": 1}
    (tmp_path / "wal.jsonl").write_text(json.dumps(header) + "\n" + json.dumps(accept) + "\n")
    svc, _ = open_again(tmp_path)
    assert svc.store.get(DEPLOYMENTS.name, "s", P, DeploymentKey("p", "e", 1)) is not None
    assert [p.op.entity.key for p in svc.queue] == [DeploymentKey("p", "e", 2)]  # type: ignore[union-attr]
    assert not (tmp_path / "snapshot.json").exists() and not (tmp_path / "wal.jsonl").exists()
    again, _ = open_again(tmp_path)
    assert [p.seq for p in again.queue] == [5] and numbers(again) == [1]
