"""The command line's log handler, which also takes the call log's messages, to write them batched.

``CallLineHandler`` is the ``StreamHandler`` the command line installs on the root logger (stderr, the
format ``LINE_FORMAT``). When a call's record would reach it and nothing else (``sole_call_line_handler``),
the call log skips ``logging``'s record path: it formats the message itself and hands it over with
``write_call_line``, which reads the time as a ``LogRecord`` would. The handler holds such lines and
writes them together, each after the prefix its formatter would write (``LinePrefix``: the same bytes),
when the event loop comes round again (one write for all the calls of that turn), after ``BATCH_LINES``
of them, and before anything else it writes: a record of its own, a ``flush`` (``close`` and the command
line's stop call it) and, through ``CallLinesFirst``, a record of another handler on the same stream.
Without an event loop running in the thread, a line is written at once.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import Iterable
from typing import Any, TextIO

LINE_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
BATCH_LINES = 256  # call lines held at most before they are written
Held = tuple[float, str, str]  # a call line held: its time (time.time(), or time.time_ns()), message, logger


class CallLineHandler(logging.StreamHandler[TextIO]):
    """A ``StreamHandler`` with the command line's format, which also writes the call log's messages,
    batched."""

    def __init__(self, stream: TextIO | None = None) -> None:
        super().__init__(stream)
        self.line_formatter = logging.Formatter(LINE_FORMAT)
        self.setFormatter(self.line_formatter)
        # call lines not yet written, in the order they were made: appended without a lock (one atomic
        # append), taken under the handler's lock by slices, so that no line is lost to another thread
        self.pending: list[Held] = []
        self.prefix = LinePrefix()

    def write_call_line(self, message: str, logger_name: str) -> None:
        """Write ``message`` as an INFO record of ``logger_name`` made now would be written, batched: the
        time is read now, the line's prefix made when it is written."""
        pending = self.pending
        pending.append((time.time_ns() if NANOSECOND_RECORD_TIMES else time.time(), message, logger_name))
        if len(pending) == 1:
            self.write_soon()
        elif len(pending) >= BATCH_LINES:
            self.write_held()

    def write_soon(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.write_held()
        else:
            loop.call_soon(self.write_held)

    def write_held(self) -> None:
        """Write the call lines held. It never raises: neither the call that made a line nor the event loop
        is the place for a logging error."""
        self.acquire()
        try:
            pending = self.pending
            if pending:
                held = pending[: len(pending)]  # a line another thread appends now stays for the next write
                del pending[: len(held)]
                self.write_lines(self.lines_of(held))
        finally:
            self.release()

    def lines_of(self, held: list[Held]) -> list[str]:
        """The lines, as the formatter writes them now (none if a converter or format of a user's fails)."""
        try:
            self.prefix.read_settings(self.line_formatter)
            return self.prefix.lines(held, self.terminator)
        except RecursionError:
            raise
        except Exception:
            self.handleError(logging.makeLogRecord({"msg": [message for _, message, _ in held], "levelname": "INFO"}))
            return []

    def write_lines(self, lines: list[str]) -> None:
        """One write (and flush) for them all. A line the stream cannot encode is lost alone; a failure is
        reported as ``logging`` reports a record it cannot write."""
        if not lines:
            return
        try:
            self.stream.write("".join(lines))
            self.stream.flush()
        except RecursionError:
            raise
        except Exception as error:
            if isinstance(error, UnicodeError) and len(lines) > 1:
                for line in lines:
                    self.write_lines([line])
            else:
                self.handleError(logging.makeLogRecord({"msg": "".join(lines), "levelname": "INFO"}))

    def emit(self, record: logging.LogRecord) -> None:
        if self.pending:
            self.write_held()
        super().emit(record)

    def flush(self) -> None:
        self.write_held()
        super().flush()

    def close(self) -> None:
        self.write_held()
        super().close()

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
            self.call_lines.write_held()
        return True


def sole_call_line_handler(logger: logging.Logger) -> CallLineHandler | None:
    """The command line's handler, if an INFO record of ``logger`` would reach it and no other handler,
    pass no filter on the way, and be written as the command line set it up (no filter on the handler,
    its own formatter with logging's date format, a level that lets INFO through); None otherwise: a
    user's handler, filter, formatter or record factory is in the way, and the record goes through
    ``logging``."""
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
    if (
        found is None
        or found.filters
        or found.formatter is not found.line_formatter
        or found.line_formatter.datefmt is not None
        or found.level > logging.INFO
    ):
        return None
    return found


class LinePrefix:
    """``%(asctime)s %(levelname)s %(name)s: `` of an INFO record made at a clock value (``time.time()``,
    from Python 3.13 ``time.time_ns()``: what ``LogRecord`` reads), as a ``logging.Formatter`` writes it,
    with the formatter's converter and formats and the INFO level's name as ``read_settings`` found them.
    It is made again when the second, the millisecond or the logger changes; the date and time of day,
    when the second does."""

    def __init__(self) -> None:
        self.settings: tuple[Any, ...] = ()  # converter, time format, millisecond format, level name
        self.second = self.msecs = -1.0  # of the record ``text`` is for
        self.name = ""
        self.text = ""
        self.date_of: tuple[Any, ...] = ()
        self.date = ""  # time.strftime(time format, converter(created))

    def read_settings(self, formatter: logging.Formatter) -> None:
        converter, time_format, msec_format = (
            formatter.converter,
            formatter.default_time_format,
            formatter.default_msec_format,
        )
        settings = (converter, time_format, msec_format, logging.getLevelName(logging.INFO))
        if settings != self.settings:
            self.settings, self.second = settings, -1.0  # made again for the next line

    def lines(self, held: list[Held], end: str) -> list[str]:
        """The lines of call lines held: each message after its prefix, then ``end``."""
        lines = []
        for clock, message, name in held:
            if NANOSECOND_RECORD_TIMES or clock < 0:
                created, msecs = record_time(clock)
                second = float(int(created))
            else:  # record_time's second and millisecond without its costly int(): for clock >= 0 the same
                second, msecs = clock // 1, clock % 1.0 * 1000 // 1
            if second != self.second or msecs != self.msecs or name != self.name:
                self.make(clock, name)
            lines.append(self.text + message + end)
        return lines

    def make(self, clock: float, logger_name: str) -> None:
        created, msecs = record_time(clock)
        converter, time_format, msec_format, level_name = self.settings
        date_of = (int(created), converter, time_format)
        if date_of != self.date_of:
            self.date_of, self.date = date_of, time.strftime(time_format, converter(created))
        asctime = msec_format % (self.date, msecs) if msec_format else self.date
        self.text, self.name = f"{asctime} {level_name} {logger_name}: ", logger_name
        self.second, self.msecs = float(int(created)), msecs


NANOSECOND_RECORD_TIMES = sys.version_info >= (3, 13)  # LogRecord reads time.time_ns() from Python 3.13

if NANOSECOND_RECORD_TIMES:

    def record_time(clock: float) -> tuple[float, float]:
        """The ``created`` and ``msecs`` of a ``LogRecord`` made when ``time.time_ns()`` was ``clock``."""
        ns = int(clock)
        created = ns / 1e9
        msecs = (ns % 1_000_000_000) // 1_000_000 + 0.0
        if msecs == 999.0 and int(created) != ns // 1_000_000_000:
            msecs = 0.0  # the conversion to seconds rounded up to the next second
        return created, msecs

else:

    def record_time(clock: float) -> tuple[float, float]:
        """The ``created`` and ``msecs`` of a ``LogRecord`` made when ``time.time()`` was ``clock``."""
        return clock, int((clock - int(clock)) * 1000) + 0.0
