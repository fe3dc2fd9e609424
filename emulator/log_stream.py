"""The command line's log handler, which also takes the call log's lines already formatted.

``CallLineHandler`` is the ``StreamHandler`` the command line installs on the root logger (stderr, the
format ``LINE_FORMAT``). When a call's record would reach it and nothing else (``sole_call_line_handler``),
the call log skips ``logging``'s record path: it formats the line itself, the same bytes the handler's
formatter would write, and hands it over with ``write_call_line``. The handler holds such lines and writes
them at once, when the event loop comes round again (one write for all the calls of that turn), after
``BATCH_LINES`` of them, and before anything else it writes: a record of its own, a ``flush`` (``close``
and the command line's stop call it) and, through ``CallLinesFirst``, a record of another handler on the
same stream. Without an event loop running in the thread, a line is written at once.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, TextIO

LINE_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
BATCH_LINES = 256  # call lines held at most before they are written


class CallLineHandler(logging.StreamHandler[TextIO]):
    """A ``StreamHandler`` with the command line's format, which also writes call lines formatted by the
    call log, batched."""

    def __init__(self, stream: TextIO | None = None) -> None:
        super().__init__(stream)
        self.line_formatter = logging.Formatter(LINE_FORMAT)
        self.setFormatter(self.line_formatter)
        self.pending: list[str] = []  # call lines not yet written, in the order they were made
        self.pending_lock = threading.Lock()  # taken after the handler's own lock, when both are
        self.prefix = LinePrefix()

    def formats_as_set_up(self) -> bool:
        """Whether it writes an INFO record as the command line set it up: no filter, its own formatter
        (with logging's date format), a level that lets INFO through."""
        return (
            not self.filters
            and self.formatter is self.line_formatter
            and self.line_formatter.datefmt is None
            and self.level <= logging.INFO
        )

    def write_call_line(self, message: str, logger_name: str) -> None:
        """Write ``message`` as an INFO record of ``logger_name`` made now would be written, batched."""
        line = self.prefix(self.line_formatter, logger_name) + message + self.terminator
        with self.pending_lock:
            self.pending.append(line)
            count = len(self.pending)
        if count == 1:
            self.write_soon()
        elif count >= BATCH_LINES:
            self.flush()

    def write_soon(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.flush()
        else:
            loop.call_soon(self.flush)

    def emit(self, record: logging.LogRecord) -> None:
        if self.pending:
            self.flush()
        super().emit(record)

    def flush(self) -> None:
        self.acquire()
        try:
            if self.pending:
                with self.pending_lock:
                    lines, self.pending = self.pending, []
                self.write_lines(lines)
            super().flush()
        finally:
            self.release()

    def close(self) -> None:
        self.flush()
        super().close()

    def write_lines(self, lines: list[str]) -> None:
        """One write for them all; if it fails, one write each, so that only a line that cannot be written
        is lost, and reported as ``logging`` reports a record it cannot write."""
        try:
            self.stream.write("".join(lines))
            return
        except RecursionError:
            raise
        except Exception:
            pass
        for line in lines:
            try:
                self.stream.write(line)
            except RecursionError:
                raise
            except Exception:
                self.handleError(logging.makeLogRecord({"msg": line, "levelno": logging.INFO, "levelname": "INFO"}))

    def writes_before(self, handlers: Iterable[logging.Handler]) -> None:
        """Before a record of any of ``handlers`` that writes to this handler's stream (uvicorn's), the call
        lines held are written."""
        for handler in handlers:
            if getattr(handler, "stream", None) is self.stream:
                handler.addFilter(CallLinesFirst(self))


class CallLinesFirst(logging.Filter):
    """On another handler of the same stream: the call lines held are written before its record."""

    def __init__(self, call_lines: CallLineHandler) -> None:
        super().__init__()
        self.call_lines = call_lines

    def filter(self, record: logging.LogRecord) -> bool:
        if self.call_lines.pending:
            self.call_lines.flush()
        return True


def sole_call_line_handler(logger: logging.Logger) -> CallLineHandler | None:
    """The command line's handler, if an INFO record of ``logger`` would reach it and no other handler,
    pass no filter on the way, and be written as the command line set it up; None otherwise: a user's
    handler, filter, formatter or record factory is in the way, and the record goes through ``logging``."""
    if logger.filters or logger.disabled or logging.getLogRecordFactory() is not logging.LogRecord:
        return None
    found: CallLineHandler | None = None
    current: logging.Logger | None = logger
    while current is not None:
        for handler in current.handlers:
            if found is not None or type(handler) is not CallLineHandler:
                return None
            found = handler
        current = current.parent if current.propagate else None
    return found if found is not None and found.formats_as_set_up() else None


class LinePrefix:
    """``%(asctime)s %(levelname)s %(name)s: `` of an INFO record made now, as a ``logging.Formatter`` writes
    it (with its converter and formats, which a user may change), the date and time of day formatted once
    a second. The record's time is read as ``LogRecord`` reads it: from Python 3.13 in nanoseconds."""

    def __init__(self) -> None:
        self.second = -1
        self.converter: Callable[..., Any] | None = None
        self.time_format = ""
        self.text = ""  # the date and time of day of ``second``

    def __call__(self, formatter: logging.Formatter, logger_name: str) -> str:
        if NANOSECOND_RECORD_TIMES:
            ns = time.time_ns()
            created = ns / 1e9
            msecs = (ns % 1_000_000_000) // 1_000_000 + 0.0
            if msecs == 999.0 and int(created) != ns // 1_000_000_000:
                msecs = 0.0  # the conversion to seconds rounded up to the next second
        else:
            created = time.time()
            msecs = int((created - int(created)) * 1000) + 0.0
        second = int(created)
        if (
            second != self.second
            or formatter.converter != self.converter
            or formatter.default_time_format != self.time_format
        ):
            self.second, self.converter, self.time_format = second, formatter.converter, formatter.default_time_format
            self.text = time.strftime(self.time_format, self.converter(created))
        msec_format = formatter.default_msec_format
        asctime = msec_format % (self.text, msecs) if msec_format else self.text
        return f"{asctime} {logging.getLevelName(logging.INFO)} {logger_name}: "


NANOSECOND_RECORD_TIMES = sys.version_info >= (3, 13)
