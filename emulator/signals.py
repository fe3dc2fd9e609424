"""How the command line's server answers signals.

- SIGTERM (``docker stop``) and SIGINT (Ctrl+C) stop it gracefully: it stops accepting, lets the requests
  in progress finish (at most a second), then shuts down: with ``--data-dir`` a snapshot, without it the
  pending operations applied. The exit code is 0 after SIGTERM and 130 after SIGINT.
- A second SIGTERM or SIGINT during that stop means "now": the connections still open are closed and
  their requests cancelled, each logged as one line, not as a traceback; the shutdown itself (snapshot or
  flush) still runs. uvicorn's own handling skipped it and re-raised the signal inside the event loop,
  which logged a ``CancelledError`` traceback for the lifespan and every request still running.
- SIGHUP writes a snapshot when there is a data folder (``on_hangup``), and is otherwise logged and
  ignored: the emulator keeps serving either way. Its default action would have killed the process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import threading
from collections.abc import Callable, Generator
from types import FrameType
from typing import Any

import uvicorn

log = logging.getLogger("emulator")

EXIT_CODES = {signal.SIGTERM: 0, signal.SIGINT: 130}


class CancelledAtShutdown(logging.Filter):
    """uvicorn logs a request cancelled at shutdown as "Exception in ASGI application" with the
    ``CancelledError``'s traceback: it is no error, so it becomes one line without one."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, asyncio.CancelledError):
            record.msg, record.args, record.exc_info, record.exc_text = (
                "a request still running was cancelled",
                (),
                None,
                None,
            )
            record.levelno, record.levelname = logging.INFO, "INFO"
        return True


class EmulatorServer(uvicorn.Server):
    """uvicorn's server with the signal handling described in this module's docstring."""

    def __init__(self, config: uvicorn.Config, *, on_hangup: Callable[[], None] | None = None) -> None:
        super().__init__(config)
        self.on_hangup = on_hangup
        self.exit_code = 0
        self.loop: asyncio.AbstractEventLoop | None = None

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        self.loop = asyncio.get_running_loop()
        cancelled = CancelledAtShutdown()
        logging.getLogger("uvicorn.error").addFilter(cancelled)
        try:
            await super().serve(sockets)
        finally:
            logging.getLogger("uvicorn.error").removeFilter(cancelled)

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        if threading.current_thread() is not threading.main_thread():
            yield  # signals reach the main thread only
            return
        handled = [signal.SIGINT, signal.SIGTERM] + ([signal.SIGHUP] if hasattr(signal, "SIGHUP") else [])
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in handled}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        # unlike uvicorn, no signal is raised again here: the command line exits with exit_code

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        """A signal handler: it runs between two bytecodes of whatever the loop is doing, so anything more
        than setting a flag is handed to the loop."""
        if hasattr(signal, "SIGHUP") and sig == signal.SIGHUP:
            self._soon(self._hangup)
        elif self.should_exit:
            self._soon(self._hurry)
        else:
            self.exit_code = EXIT_CODES.get(signal.Signals(sig), 0)
            self.should_exit = True

    def _soon(self, callback: Callable[[], Any]) -> None:
        if self.loop is not None and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(callback)

    def _hangup(self) -> None:
        if self.on_hangup is None:
            log.info("SIGHUP: nothing to do; still serving")
            return
        self.on_hangup()

    def _hurry(self) -> None:
        connections, tasks = list(self.server_state.connections), list(self.server_state.tasks)
        log.info("stopping now: closing %d connection(s), cancelling %d request(s)", len(connections), len(tasks))
        for connection in connections:
            transport = getattr(connection, "transport", None)
            if transport is not None:
                transport.abort()
        for task in tasks:
            task.cancel()


def snapshot_on_hangup(emulator: Any) -> Callable[[], None]:
    """SIGHUP's action for ``emulator``: a snapshot of its durable state, written in the background while the
    emulator keeps serving (durable state logs when it is in place, or why not), or a log line when it keeps
    none."""

    def hangup() -> None:
        durable = emulator.durable
        if durable is None:
            log.info("SIGHUP: no --data-dir, so no snapshot to write; still serving")
            return
        log.info("SIGHUP: writing a snapshot in %s", emulator.settings.data_dir)
        durable.checkpoint()

    return hangup
