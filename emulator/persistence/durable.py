"""Durable state for ``--data-dir``: every change is logged before it is made, and the log is compacted into
a snapshot in the background.

- An accepted operation's line reaches the operating system before it is queued, so before its 202: a
  ``kill -9`` loses nothing acknowledged. If the line cannot be written (a full disk, a read-only folder),
  nothing of the request is queued and the caller answers 503 (``StorageRefused``).
- A control change that touches data (reset, sites, apps, clients, gating decisions) is logged the same
  way before it is made.
- That operations applied, and when, is written at the end of each pass of the applier, in one write. If
  that write fails (a full disk), the lines wait in memory and go with the next write that succeeds: reads
  never fail for it. Operations apply in the order of the queue, so a restart that lost these lines
  applies the same operations in the same order; only when they apply may differ.
- Compaction starts a new log and writes a snapshot in steps between requests (``snapshot.py``); the old
  logs go once the snapshot is in place. A failed compaction (a full disk) leaves the logs as they were
  and is tried again later.
- One process per folder: a lock is held while the emulator runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from emulator.domain.queue import Pending
from emulator.domain.service import Applied, DevOpsService, Unavailable
from emulator.persistence import legacy
from emulator.persistence import records as r
from emulator.persistence.files import FolderLock, LogFile, StorageError, held_open, line, truncate
from emulator.persistence.restore import FORMAT, VERSION, PersistenceError, Reader, Restored, log_name
from emulator.persistence.snapshot import SnapshotWriter

log = logging.getLogger("emulator.persistence")
RETRY_AFTER_FAILURE = 30.0  # seconds before a failed compaction is tried again


class StorageRefused(Unavailable):
    """The data folder cannot be written now: the change was not made, and nothing of it is kept."""

    retry_after = 5


class DurableState:
    """Keeps one service's state in ``data_dir``; ``open()`` restores it, then every change is logged."""

    def __init__(
        self, data_dir: str | Path, service: DevOpsService, *, compact_every: int = 50_000, recover: bool = False
    ) -> None:
        self.dir = Path(data_dir)
        self.service = service
        self.compact_every = compact_every
        self.recover = recover
        self._lock = FolderLock(self.dir)
        self._log: LogFile | None = None
        self._generation = 0  # the generation of the log being written
        self._applied: list[bytes] = []  # applied lines not written yet
        self._lines = 0  # lines in the logs after the snapshot
        self._log_bytes = 0  # bytes in the logs after the snapshot
        self._snapshot_bytes = 0
        self._task: asyncio.Task[None] | None = None
        self._retry_at = 0.0
        self._warned = False  # a failure to write applied lines is reported once until writing works again

    # -- start-up -------------------------------------------------------------------------------

    def open(self) -> dict[str, int]:
        """Lock the folder, restore what it holds, and start logging; return what was read."""
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise PersistenceError(f"{self.dir}: cannot create the data folder: {exc.strerror}") from exc
        refused = self._lock.acquire()
        if refused is not None:
            raise PersistenceError(f"{self.dir}: {refused}")
        try:
            restored = self._restore()
            self._start_logging(restored)
        except BaseException:
            self._lock.release()
            raise
        self.service.before_accept.append(self._accepting)
        self.service.on_apply.append(self._applied_now)
        self.service.after_apply.append(self.sync)
        self.service.before_change.append(self._changing)
        return {**restored.summary(), "dropped": len(restored.dropped)}

    def _restore(self) -> Restored:
        for stale in self.dir.glob("*.tmp"):
            stale.unlink(missing_ok=True)  # a snapshot a crash cut short: the one in place is whole
        current = (self.dir / "snapshot.jsonl").exists() or any(self.dir.glob("log-*.jsonl"))
        if legacy.present(self.dir) and not current:
            try:
                lines = legacy.load(self.dir, self.service)
            except legacy.LegacyDamage as exc:
                raise PersistenceError(f"{exc}. Move the data folder away to start empty.") from exc
            log.info("%s: read a version-1 data folder (%d log records); writing it in version %d", self.dir,
                     lines, VERSION)  # fmt: skip
            return Restored(log_lines=lines, damaged=legacy.files(self.dir))
        restored = Reader(self.dir, self.service, recover=self.recover).read()
        for dropped in restored.dropped:
            log.warning("recovering %s: dropped %s", self.dir, dropped)
        if restored.torn is not None:
            path, size = restored.torn
            log.warning("%s: cutting off a torn last line (a write the process died in, never acknowledged)", path)
            self._refuse_on_storage_error(lambda: truncate(path, size))
        for obsolete in [*restored.obsolete, *(legacy.files(self.dir) if current else [])]:
            obsolete.unlink(missing_ok=True)  # what the snapshot in place already holds
        return restored

    def _start_logging(self, restored: Restored) -> None:
        self._snapshot_bytes, self._log_bytes = restored.snapshot_bytes, restored.log_bytes
        self._lines = restored.log_lines
        if restored.dropped or restored.damaged or legacy.present(self.dir):  # recovered or migrated: rewrite it now
            self._set_aside(restored)
            self._generation = restored.newest_log[0] if restored.newest_log else restored.generation
            self._refuse_on_storage_error(self.compact)
            for path in legacy.files(self.dir):
                path.unlink()
            return
        if restored.newest_log is not None:
            self._generation, path = restored.newest_log
            self._log = self._refuse_on_storage_error(lambda: LogFile(path, create=False))
        else:
            self._generation = restored.generation
            self._log = self._refuse_on_storage_error(lambda: self._new_log(self._generation))

    def _set_aside(self, restored: Restored) -> None:
        """Recovery keeps the damaged files in a folder of their own, for a look; the state is rewritten."""
        damaged = [path for path in restored.damaged if path.exists() and path.parent == self.dir]
        if not damaged or not restored.dropped:
            return
        aside = self.dir / time.strftime("damaged-%Y%m%dT%H%M%S")
        aside.mkdir(exist_ok=True)
        for path in damaged:
            path.rename(aside / path.name)
        log.warning("%s: the damaged files are kept in %s", self.dir, aside)

    @staticmethod
    def _refuse_on_storage_error(action: Any) -> Any:
        try:
            return action()
        except StorageError as exc:
            raise PersistenceError(f"{exc.strerror}: the data folder must be writable") from exc

    def _new_log(self, generation: int) -> LogFile:
        new = LogFile(self.dir / log_name(generation), create=True)
        header = line(r.encode(r.Header(FORMAT, VERSION, "log", generation)))
        new.append(header)
        return new

    # -- logging --------------------------------------------------------------------------------

    def _write(self, data: bytes, count: int) -> None:
        """Append the applied lines waiting and ``data`` (``count`` lines) in one write, or raise
        StorageRefused having kept none of it."""
        if self._log is None:
            return
        waiting = self._applied
        if waiting:
            data = b"".join(waiting) + data
        try:
            self._log.append(data)
        except StorageError as exc:
            raise StorageRefused(f"the data folder cannot be written ({exc.strerror}): nothing was kept") from None
        self._lines += count + len(waiting)
        self._log_bytes += len(data)
        waiting.clear()
        self._warned = False

    def _accepting(self, pendings: Sequence[Pending]) -> None:
        data = b"".join(line(r.encode(r.AcceptLine(p.seq, p.accepted_at, p.due, r.op_json(p.op)))) for p in pendings)
        self._write(data, len(pendings))

    def _applied_now(self, applied: Applied) -> None:
        self._applied.append(line(r.encode(r.AppliedLine(applied.pending.seq, self.service.clock.now()))))

    def _changing(self, kind: str, *args: Any) -> None:
        self._write(line(r.encode(_CHANGES[kind](*args))), 1)

    def sync(self) -> None:
        """Write the applied lines waiting; a failure is reported (once) and they wait for the next try."""
        if not self._applied:
            return
        try:
            self._write(b"", 0)
        except StorageRefused as exc:
            if not self._warned:
                log.warning("%s: %s; applied operations are noted in memory until it can be", self.dir, exc)
                self._warned = True

    # -- compaction -----------------------------------------------------------------------------

    def wants_compaction(self) -> bool:
        """Enough has been logged since the snapshot: as many lines as ``compact_every``, and bytes at least
        half the snapshot's, so that a large store is not rewritten for every few writes."""
        return self._lines >= self.compact_every and self._log_bytes >= self._snapshot_bytes // 2

    def maintain(self) -> None:
        """The applier's tick: write applied lines, and start a compaction in the background when due."""
        self.sync()
        if self._log is not None and self._task is None and self.wants_compaction():
            if time.monotonic() >= self._retry_at:
                self._task = asyncio.get_running_loop().create_task(self._compact_in_steps())

    def checkpoint(self) -> None:
        """Write a snapshot now, in the background (SIGHUP); it logs when it is in place."""
        if self._log is not None and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._compact_in_steps())

    def begin_compaction(self) -> SnapshotWriter:
        """Start the next log and capture the state, at one moment between two service calls; the writer
        returned writes the snapshot in steps, and ``finish_compaction`` puts it in place."""
        self.sync()
        generation = self._generation + 1
        new_log = self._new_log(generation)
        old, self._log, self._generation = self._log, new_log, generation
        if old is not None:
            old.close()
        self._lines, self._log_bytes = 0, new_log.size
        return SnapshotWriter(self.dir, generation, list(self.service.sites), self.service.capture())

    def finish_compaction(self, writer: SnapshotWriter, started: float | None = None) -> None:
        """Put a written snapshot in place and remove the logs it holds."""
        writer.commit()
        self._remove_logs_before(writer.generation)
        self._compacted(writer, started)

    def _remove_logs_before(self, generation: int) -> None:
        for path in self.dir.glob("log-*.jsonl"):
            if path.name < log_name(generation):
                path.unlink(missing_ok=True)

    def _compacted(self, writer: SnapshotWriter, started: float | None) -> None:
        self._snapshot_bytes = writer.size
        log.info("snapshot written in %s: %d records, %d pending, %.1f MB, %.2f s", self.dir, writer.records,
                 writer.pending, writer.size / 1e6, time.monotonic() - (started or time.monotonic()))  # fmt: skip

    async def _compact_in_steps(self) -> None:
        started = time.monotonic()
        writer = None
        try:
            writer = self.begin_compaction()
            while not writer.step():
                await asyncio.sleep(0)  # the requests waiting go first
            await asyncio.to_thread(writer.sync)
            # Freeing a large file's blocks takes a while and holds up whoever frees them: the
            # snapshot replaced is kept open across the rename and closed, as the old logs are removed, by
            # a thread, while requests go on.
            replaced = held_open(writer.file.path)
            try:
                writer.commit()
            finally:
                if replaced is not None:
                    await asyncio.to_thread(os.close, replaced)
            await asyncio.to_thread(self._remove_logs_before, writer.generation)
            self._compacted(writer, started)
        except StorageError as exc:
            self._compaction_failed(writer, exc)
        except asyncio.CancelledError:
            if writer is not None:
                writer.discard()
            raise
        finally:
            self._task = None

    def _compaction_failed(self, writer: SnapshotWriter | None, exc: StorageError) -> None:
        if writer is not None:
            writer.discard()
        self._retry_at = time.monotonic() + RETRY_AFTER_FAILURE
        log.warning("%s: the snapshot was not written (%s); the logs keep everything, and it is tried again",
                    self.dir, exc.strerror)  # fmt: skip

    def compact(self) -> None:
        """Write a snapshot now, all at once (start-up, a clean stop, tests); StorageError if it cannot."""
        started = time.monotonic()
        writer = self.begin_compaction()
        try:
            writer.write_all()
            writer.sync()
            self.finish_compaction(writer, started)
        except BaseException:
            writer.discard()
            raise

    # -- stopping -------------------------------------------------------------------------------

    async def stop_compaction(self) -> None:
        """Cancel a compaction in the background, leaving the logs as they were."""
        task = self._task
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def close(self) -> None:
        """A clean stop: a final snapshot, so the next start reads no log. If it cannot be written, the logs
        hold every acknowledged write: that is said, and the stop goes on."""
        if self._log is None:
            return
        try:
            self.compact()
        except StorageError as exc:
            self.sync()
            log.warning("%s: the final snapshot was not written (%s); the logs hold every acknowledged write, "
                        "and the next start replays them", self.dir, exc.strerror)  # fmt: skip
        self._stop()

    def abandon(self) -> None:
        """Stop logging without a snapshot, leaving the folder as a crash would (tests use this)."""
        self._stop()

    def _stop(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None
        self._lock.release()


# how a control change is written: the line for each kind of change the registry tells
_CHANGES: dict[str, Any] = {
    "reset": lambda site: r.ResetLine(site),
    "site-add": lambda site: r.SiteAddLine(r.site_json(site)),
    "site-remove": lambda name: r.SiteRemoveLine(name),
    "app-install": lambda site, app: r.AppInstallLine(site, r.app_json(app)),
    "app-uninstall": lambda site, key: r.AppUninstallLine(site, key),
    "client-add": lambda site, client: r.ClientAddLine(site, r.client_json(client)),
    "client-remove": lambda site, client_id: r.ClientRemoveLine(site, client_id),
    "gating": lambda site, provider, key, gating: r.GatingLine(
        site, tuple(provider), list(key), r.gating_json(gating)
    ),  # fmt: skip
}
