"""Writing a snapshot: the state captured at one moment, written in steps so that a large store never stops
the server for long, then moved into place whole.

The capture takes references, not copies (``DevOpsService.capture``), and the new log starts at the same
moment. A record that changes in place before its step writes it is written as it is then, newer than the
capture: the new log replays what changed since the capture, and replaying a write that a record already
holds changes nothing (a write applies only over a lower updateSequenceNumber, a delete removes what is
there), so the snapshot and the log together still give the state exactly.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

from emulator.domain.service import Capture
from emulator.domain.sites import Site
from emulator.persistence import records as r
from emulator.persistence.files import NewFile, line
from emulator.persistence.restore import FORMAT, SNAPSHOT, VERSION

CHUNK = 2_000  # lines encoded per step: a few milliseconds


class SnapshotWriter:
    """One snapshot of generation ``generation`` (the log of that generation holds what follows it)."""

    def __init__(self, folder: Path, generation: int, sites: list[Site], capture: Capture) -> None:
        self.generation = generation
        self.file = NewFile(folder / SNAPSHOT)
        self.size = 0
        self.records, self.pending = capture.record_count, capture.pending_count
        header = r.Header(FORMAT, VERSION, "snapshot", generation, len(sites), self.records, self.pending,
                          capture.next_seq)  # fmt: skip
        site_lines = (r.SiteLine(r.site_json(site)) for site in sites)  # encoded now: sites change in place
        self._lines = itertools.chain([line(r.encode(header))], [line(r.encode(s)) for s in site_lines],
                                      self._data_lines(capture))  # fmt: skip

    @staticmethod
    def _data_lines(capture: Capture) -> Iterator[bytes]:
        for kind, site, provider, records in capture.partitions:
            for record in records:
                yield line(r.encode(r.record_json(kind, site, provider, record)))
        for run in capture.runs:
            for pending in run.pendings():
                yield line(r.encode(r.PendingLine(pending.seq, pending.accepted_at, pending.due,
                                                  r.op_json(pending.op))))  # fmt: skip

    def step(self, budget: int = CHUNK) -> bool:
        """Write up to ``budget`` more lines; True once every line is written."""
        chunk = b"".join(itertools.islice(self._lines, budget))
        if chunk:
            self.file.write(chunk)
            self.size += len(chunk)
        return len(chunk) == 0

    def write_all(self) -> None:
        while not self.step():
            pass

    def sync(self) -> None:
        """Flush and fsync the new file (slow for a large one: a thread may do it)."""
        self.file.sync()

    def commit(self) -> None:
        """Move the new snapshot into place, replacing the old one atomically."""
        self.file.commit()

    def discard(self) -> None:
        self.file.discard()

    def abandon(self) -> None:
        """Stop writing, leaving the unfinished file as a crash would (tests use this)."""
        self.file.close()
