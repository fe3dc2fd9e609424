"""The data folder's files: checksummed lines, an append-only log that takes back a failed write, the
folder's lock, and writing a file whole or not at all.

Every line is ``<crc32 of the JSON, 8 hex digits> <JSON>\\n``, so a changed digit anywhere is noticed
when the line is read rather than loaded as a different value. A log is appended to with ``os.write``
on its own descriptor: each call's lines reach the operating system in one system call before the
caller answers, so a killed process loses nothing it acknowledged. A write that fails part way (a full
disk, a folder turned read-only) is cut off again, so a refused write never reappears at the next start.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import zlib
from collections.abc import Iterator
from pathlib import Path

LOCK = ".lock"


class StorageError(OSError):
    """The data folder cannot be written now (a full disk, a read-only folder): the write was not kept."""


def line(payload: bytes) -> bytes:
    return b"%08x %s\n" % (zlib.crc32(payload), payload)


def checked(raw: bytes) -> bytes:
    """The JSON of one line without its newline, after its checksum is verified; ValueError if it is not."""
    if len(raw) < 10 or raw[8:9] != b" ":
        raise ValueError("no checksum")
    try:
        crc = int(raw[:8], 16)
    except ValueError:
        raise ValueError("no checksum") from None
    payload = raw[9:]
    if zlib.crc32(payload) != crc:
        raise ValueError("checksum mismatch: the line was changed or damaged")
    return payload


def read_lines(path: Path) -> Iterator[tuple[int, bytes, bool]]:
    """(line number, the line without its newline, whether it is the last one and has no newline)."""
    with open(path, "rb") as f:
        data = f.read()
    lines = data.split(b"\n")
    torn_tail = lines[-1] != b""
    if not torn_tail:
        lines.pop()
    for number, raw in enumerate(lines, start=1):
        yield number, raw, torn_tail and number == len(lines)


class LogFile:
    """One log file opened for appending. ``append`` keeps all its bytes or none of them."""

    def __init__(self, path: Path, *, create: bool) -> None:
        self.path = path
        flags = os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC | (os.O_CREAT | os.O_EXCL if create else 0)
        try:
            self._fd: int | None = os.open(path, flags, 0o644)
            self.size = os.fstat(self._fd).st_size
        except OSError as exc:
            raise StorageError(exc.errno, f"cannot open {path} for writing: {exc.strerror}") from exc
        self._torn = False  # a failed write left bytes that could not be cut off yet

    def append(self, data: bytes) -> None:
        fd = self._fd
        assert fd is not None, "the log is closed"
        if self._torn:
            self._cut_back()
        view, written = memoryview(data), 0
        try:
            while written < len(data):
                written += os.write(fd, view[written:])
        except OSError as exc:
            self._torn = written > 0
            if self._torn:
                with contextlib.suppress(StorageError):
                    self._cut_back()
            raise StorageError(exc.errno, f"cannot write {self.path.name}: {exc.strerror}") from exc
        self.size += written

    def _cut_back(self) -> None:
        assert self._fd is not None
        try:
            os.ftruncate(self._fd, self.size)
        except OSError as exc:
            raise StorageError(
                exc.errno, f"cannot cut back a failed write to {self.path.name}: {exc.strerror}"
            ) from exc
        self._torn = False

    def sync(self) -> None:
        if self._fd is not None:
            os.fsync(self._fd)

    def close(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None


def truncate(path: Path, size: int) -> None:
    """Cut a file back to ``size`` bytes (a torn last line found at start-up)."""
    try:
        os.truncate(path, size)
    except OSError as exc:
        raise StorageError(exc.errno, f"cannot cut the torn last line off {path.name}: {exc.strerror}") from exc


class NewFile:
    """A file written beside its final name and moved into place once complete and on disk."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.temporary = path.with_name(path.name + ".tmp")
        try:
            self._file = open(self.temporary, "wb")  # closed by commit() or discard()
        except OSError as exc:
            raise StorageError(exc.errno, f"cannot create {self.temporary.name}: {exc.strerror}") from exc

    def write(self, data: bytes) -> None:
        try:
            self._file.write(data)
        except OSError as exc:
            raise StorageError(exc.errno, f"cannot write {self.temporary.name}: {exc.strerror}") from exc

    def sync(self) -> None:
        """Flush and fsync the file's content."""
        try:
            self._file.flush()
            os.fsync(self._file.fileno())
        except OSError as exc:
            raise StorageError(exc.errno, f"cannot write {self.temporary.name}: {exc.strerror}") from exc

    def commit(self) -> None:
        """Flush, fsync, rename into place and fsync the folder; the old file is replaced atomically."""
        try:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
            os.replace(self.temporary, self.path)
            sync_folder(self.path.parent)
        except OSError as exc:
            self.discard()
            raise StorageError(exc.errno, f"cannot write {self.path.name}: {exc.strerror}") from exc

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._file.close()

    def discard(self) -> None:
        self.close()
        with contextlib.suppress(OSError):
            self.temporary.unlink()


def held_open(path: Path) -> int | None:
    """A read-only descriptor of ``path``, None if it cannot be opened (there is none, say). While it is
    open, replacing or removing the file frees none of its blocks; closing it does (a large file's take a
    while)."""
    try:
        return os.open(path, os.O_RDONLY)
    except OSError:
        return None


def sync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class FolderLock:
    """An exclusive lock on the data folder, held while the process lives (released by the kernel when it
    dies, so a killed emulator leaves no stale lock). The lock file names the holder's process id."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / LOCK
        self._fd: int | None = None

    def acquire(self) -> str | None:
        """None once held; otherwise why not (another process holds it, or the file cannot be opened)."""
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            return f"cannot open the lock file {self.path}: {exc.strerror}"
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = os.read(fd, 32).decode("ascii", "replace").strip()
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                return f"another emulator (process {holder or 'unknown'}) is using this data folder"
            return f"cannot lock {self.path}: {exc.strerror}"
        with contextlib.suppress(OSError):  # the holder's pid is a courtesy: a full disk does not stop the lock
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return None

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
