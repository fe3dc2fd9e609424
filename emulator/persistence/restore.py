"""Reading a data folder back into a service at start-up: the snapshot, then every log after it.

The folder holds ``snapshot.jsonl`` (the state as of the start of generation *g*) and ``log-<n>.jsonl``
for the generations *n* >= *g* (what changed since). A log older than the snapshot is left over from a
compaction that was cut short after its snapshot was in place: the snapshot holds what it held, so it is
removed. Anything else out of place is damage: a line whose checksum or fields are wrong, a snapshot
shorter than its header says, a missing generation. Damage stops the start with one line naming the file
and line, unless ``recover`` is set: then what is intact is kept and each thing dropped is reported.
A torn last line of the newest log is a write the process died in the middle of, never acknowledged: it
is cut off, with a warning.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from emulator.domain.kinds import DEPLOYMENTS
from emulator.domain.model import Provider
from emulator.domain.service import DevOpsService
from emulator.persistence import records as r
from emulator.persistence.files import checked, read_lines

FORMAT = "jira-deployments-emulator"
VERSION = 2
SNAPSHOT = "snapshot.jsonl"
LOG_NAME = re.compile(r"log-(\d{8})\.jsonl")


def log_name(generation: int) -> str:
    return f"log-{generation:08d}.jsonl"


class PersistenceError(Exception):
    """The data folder cannot be used: the message is one line naming the file, and what to do."""


@dataclass
class Restored:
    """What a start read from the folder."""

    generation: int = 0  # the snapshot's generation (0 without one)
    newest_log: tuple[int, Path] | None = None  # the log this run appends to, if the folder has one
    records: int = 0
    pending: int = 0
    log_lines: int = 0
    log_bytes: int = 0  # of the logs after the snapshot: how much a restart replays
    snapshot_bytes: int = 0
    dropped: list[str] = field(default_factory=list)  # recovery: each thing left out, in one line
    torn: tuple[Path, int] | None = None  # the newest log's torn last line: (log, size without it)
    obsolete: list[Path] = field(default_factory=list)  # logs the snapshot already holds
    damaged: list[Path] = field(default_factory=list)  # files recovery read around damage in

    def summary(self) -> dict[str, int]:
        return {"snapshotRecords": self.records, "snapshotPending": self.pending, "logRecords": self.log_lines}


class Reader:
    """Reads one folder into one service; ``recover`` keeps going past damage, noting what it drops."""

    def __init__(self, folder: Path, service: DevOpsService, *, recover: bool) -> None:
        self.folder = folder
        self.service = service
        self.recover = recover
        self.restored = Restored()

    def damage(self, path: Path, number: int | None, problem: str) -> None:
        where = f"{path}:{number}" if number else str(path)
        if not self.recover:
            raise PersistenceError(
                f"{where}: {problem}. Start with --recover-data to keep what is intact (the damaged files are "
                "kept aside), or move the folder away to start empty."
            )
        self.restored.dropped.append(f"{where}: {problem}")
        if path not in self.restored.damaged and path.exists():
            self.restored.damaged.append(path)

    # -- the whole folder -------------------------------------------------------------------------

    def read(self) -> Restored:
        logs = sorted((int(m.group(1)), p) for p in self.folder.iterdir() if (m := LOG_NAME.fullmatch(p.name)))
        snapshot = self.folder / SNAPSHOT
        generation = self.read_snapshot(snapshot) if snapshot.exists() else None
        if generation is None and logs and logs[0][0] > 0:
            self.damage(snapshot, None, f"missing, yet the logs start at generation {logs[0][0]}: what the "
                        "snapshot held is lost")  # fmt: skip
        start = generation or (logs[0][0] if logs else 0)
        self.restored.generation = generation or 0
        self.restored.obsolete = [path for number, path in logs if number < start]
        logs = [(number, path) for number, path in logs if number >= start]
        expected = start
        for index, (number, path) in enumerate(logs):
            if number != expected:
                self.damage(self.folder / log_name(expected), None, f"missing: the logs jump from generation "
                            f"{expected - 1} to {number}")  # fmt: skip
            self.read_log(path, number, newest=index == len(logs) - 1)
            expected = number + 1
        self.restored.newest_log = logs[-1] if logs else None
        return self.restored

    # -- the snapshot -----------------------------------------------------------------------------

    def header(self, path: Path, raw: bytes, kind: str) -> r.Header | None:
        try:
            head = r.HEADER.decode(checked(raw))
        except (ValueError, msgspec.ValidationError) as exc:
            self.damage(path, 1, f"not a {FORMAT} {kind} header ({exc})")
            return None
        if head.format != FORMAT or head.file != kind:
            self.damage(path, 1, f"not a {FORMAT} {kind} (format {head.format!r}, file {head.file!r})")
            return None
        if head.version != VERSION:
            raise PersistenceError(
                f"{path}: written in format version {head.version}; this emulator reads version {VERSION}. "
                "Use the emulator version that wrote it, or move the data folder away to start empty."
            )
        return head

    def read_snapshot(self, path: Path) -> int | None:
        lines = list(read_lines(path))
        head = self.header(path, lines[0][1], "snapshot") if lines else None
        if head is None:
            if not lines:
                self.damage(path, None, "empty")
            return None
        self.restored.snapshot_bytes = path.stat().st_size
        svc = self.service
        for site in list(svc.sites):
            svc.sites.remove(site.name)
        svc.clear_data()
        counts = {"site": 0, "record": 0, "pending": 0}
        for number, raw, _ in lines[1:]:
            kind = self.snapshot_line(path, number, raw)
            if kind is not None:
                counts[kind] += 1
        svc.restore_sequence(head.next_seq)
        announced = {"site": head.sites, "record": head.records, "pending": head.pending}
        missing = {kind: announced[kind] - counts[kind] for kind in counts if counts[kind] < announced[kind]}
        if missing:
            shown = ", ".join(f"{n} {kind} line(s)" for kind, n in missing.items())
            self.damage(path, None, f"holds less than its header announces: {shown} missing")
        self.restored.records, self.restored.pending = counts["record"], counts["pending"]
        return head.generation

    def snapshot_line(self, path: Path, number: int, raw: bytes) -> str | None:
        try:
            item = r.SNAPSHOT_LINE.decode(checked(raw))
            if isinstance(item, r.SiteLine):
                self.service.sites.add(r.site_from(item.site))
                return "site"
            if isinstance(item, r.RecordLine):
                record = r.record_from(item)
                self.service.restore_records(item.family, item.site, Provider(*item.provider), [record])
                return "record"
            self.service.replay_accepted(r.pending_from(item))
            return "pending"
        except (ValueError, msgspec.ValidationError) as exc:
            self.damage(path, number, f"a damaged line, left out ({exc})")
            return None

    # -- the logs ---------------------------------------------------------------------------------

    def read_log(self, path: Path, generation: int, *, newest: bool) -> None:
        lines = list(read_lines(path))
        if not lines:
            self.damage(path, None, "empty: not even its header")
            return
        head = self.header(path, lines[0][1], "log")
        if head is not None and head.generation != generation:
            self.damage(path, 1, f"its header says generation {head.generation}, its name {generation}")
        size = len(lines[0][1]) + 1
        for number, raw, torn in lines[1:]:
            if torn and newest:
                self.restored.torn = (path, size)
                break
            if torn:
                self.damage(path, number, "cut short, and it is not the newest log")
                break
            self.log_line(path, number, raw)
            size += len(raw) + 1
        self.restored.log_bytes += size

    def log_line(self, path: Path, number: int, raw: bytes) -> None:
        try:
            item = r.LOG_LINE.decode(checked(raw))
            _REPLAY[type(item)](self.service, item)
        except (ValueError, msgspec.ValidationError) as exc:
            self.damage(path, number, f"a damaged line, left out ({exc})")
            return
        self.restored.log_lines += 1


def _site_change(change: Callable[[DevOpsService, Any, Any], Any]) -> Callable[[DevOpsService, Any], None]:
    """A logged change to one site, made again if the site still exists."""

    def replay(svc: DevOpsService, item: Any) -> None:
        site = svc.sites.get(item.site)
        if site is not None:
            change(svc, site, item)

    return replay


def _gating(svc: DevOpsService, site: Any, item: r.GatingLine) -> None:
    key = r.family(DEPLOYMENTS.name).key(item.key)
    gating = None if item.gating is None else r.gating_from(item.gating)
    svc.restore_gating(site.name, Provider(*item.provider), key, gating)


# how each line of a log is made again
_REPLAY: dict[type, Callable[[DevOpsService, Any], Any]] = {
    r.AcceptLine: lambda svc, item: svc.replay_accepted(r.pending_from(item)),
    r.AppliedLine: lambda svc, item: svc.replay_applied(item.seq, item.at),
    r.ResetLine: lambda svc, item: svc.reset(item.site),
    r.SiteAddLine: lambda svc, item: svc.add_site(r.site_from(item.site)),
    r.SiteRemoveLine: lambda svc, item: svc.remove_site(item.name),
    r.AppInstallLine: _site_change(lambda svc, site, item: svc.install_app(site, r.app_from(item.app))),
    r.AppUninstallLine: _site_change(lambda svc, site, item: svc.uninstall_app(site, item.key)),
    r.ClientAddLine: _site_change(lambda svc, site, item: svc.add_oauth_client(site, r.client_from(item.client))),
    r.ClientRemoveLine: _site_change(lambda svc, site, item: svc.remove_oauth_client(site, item.client_id)),
    r.GatingLine: _site_change(_gating),
}
