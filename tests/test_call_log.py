"""The call log: one line per call to the Jira surface, through ``logging`` or, under the command line's own
handler alone, written by that handler directly (batched): the same bytes either way, none lost, none out
of order, and any handler, filter or level a user sets still obeyed."""

from __future__ import annotations

import asyncio
import contextlib
import io
import itertools
import json
import logging
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from unittest import mock

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from emulator.contract import Finding
from emulator.domain.model import Provider
from emulator.log_stream import CallLineHandler
from emulator.logs import CallLogger, log
from tests.helpers import SITES, auth, key_path
from tests.reliability.support import Cli


@dataclass
class FakeCall:
    """What the call log reads of a call (``emulator.logs.Call``)."""

    method: str = "GET"
    raw_path: str = "/rest/deployments/0.1/pipelines/p/environments/e/deployments/1"
    operation: str | None = "getDeploymentByKey"
    site: str | None = "main"
    provider: Provider | None = Provider("connect", "full-app")
    status: int = 200
    latency_ms: float = 1.25
    summary: str = ""
    reason: str | None = None
    found: list[Finding] = field(default_factory=list)


odd_text = st.text(st.characters(exclude_categories=()) | st.sampled_from("\n\r\u2028%\x00é😀"), max_size=30)
calls = st.builds(
    FakeCall,
    method=odd_text,
    raw_path=odd_text,
    operation=st.none() | odd_text,
    site=st.none() | odd_text,
    provider=st.none() | st.builds(Provider, st.sampled_from(["connect", "oauth"]), odd_text),
    status=st.integers(0, 999),
    latency_ms=st.floats(0, 1e7, allow_nan=False),
    summary=odd_text,
    reason=st.none() | odd_text,
    found=st.lists(st.builds(Finding, odd_text, odd_text), max_size=3),
)


@contextmanager
def default_logging(stream: io.StringIO, level: int = logging.INFO) -> Iterator[CallLineHandler]:
    """The command line's logging set-up, writing to ``stream``, as a fresh process has it: the handlers that
    pytest and other tests' fixtures keep on the root logger and on the call log's ancestors (a session's
    watch for tracebacks on ``emulator``, say) are set aside, and everything is restored after."""
    root = logging.getLogger()
    path = [log, logging.getLogger("emulator"), root]
    saved_handlers, saved_level = [logger.handlers[:] for logger in path], root.level
    handler = CallLineHandler(stream)
    for logger in path:
        logger.handlers[:] = []
    logging.basicConfig(level=level, handlers=[handler])
    try:
        yield handler
    finally:
        handler.flush()
        for logger, handlers in zip(path, saved_handlers, strict=True):
            logger.handlers[:] = handlers
        root.setLevel(saved_level)
        log.filters.clear()
        log.handlers.clear()
        log.setLevel(logging.NOTSET)
        log.propagate = True


@contextmanager
def clock_at(ns: int) -> Iterator[None]:
    """``time.time()`` and ``time.time_ns()`` (what a ``LogRecord`` reads, by Python version) stopped at ``ns``."""
    with mock.patch("time.time", return_value=ns / 1e9), mock.patch("time.time_ns", return_value=ns):
        yield


def line_of(call: FakeCall, fmt: str = "text") -> str:
    """The call's line as ``logging`` writes it with the command line's format (a record of its own)."""
    stream = io.StringIO()
    with default_logging(stream):
        log.addFilter(lambda record: True)
        CallLogger(fmt)(call)
    return stream.getvalue()


def an_hour_ahead_of_utc(seconds: float | None) -> time.struct_time:
    return time.gmtime(None if seconds is None else seconds + 3600)


just_before_a_millisecond = st.builds(  # in nanoseconds, a few float steps before a millisecond starts
    lambda second, msecs, before: max(0, second * 10**9 + msecs * 10**6 - before),
    st.integers(0, 4_000_000_000),
    st.integers(0, 1000),
    st.integers(1, 2000),
)


@given(
    call=calls,
    start=just_before_a_millisecond | st.integers(0, 4_000_000_000 * 10**9),
    steps=st.lists(st.integers(0, 3000) | st.integers(0, 1_500_000_000), max_size=4),  # nanoseconds
    fmt=st.sampled_from(["text", "json"]),
    converter=st.sampled_from([time.localtime, time.gmtime, an_hour_ahead_of_utc]),
    level_name=st.sampled_from(["INFO", "NOTE"]),
)
def test_lines_written_directly_are_the_lines_logging_writes(
    call: FakeCall, start: int, steps: list[int], fmt: str, converter: Any, level_name: str
) -> None:
    """After the first line, a user sets the formatter's converter and the name of the INFO level."""

    def written(through_logging: bool) -> str:
        stream = io.StringIO()
        making_no_record = mock.patch.object(logging.Logger, "makeRecord", side_effect=AssertionError("a record"))
        with default_logging(stream) as handler:
            if through_logging:
                log.addFilter(lambda record: True)  # a filter of the user's: the line goes through logging
            try:
                for ns in itertools.accumulate(steps, initial=start):
                    with clock_at(ns), contextlib.nullcontext() if through_logging else making_no_record:
                        CallLogger(fmt)(call)
                    handler.line_formatter.converter = converter
                    logging.addLevelName(logging.INFO, level_name)
            finally:
                logging.addLevelName(logging.INFO, "INFO")
        return stream.getvalue()

    direct = written(through_logging=False)
    assert direct and direct == written(through_logging=True)


@given(
    calls=st.lists(calls, min_size=1, max_size=5),
    start=just_before_a_millisecond | st.integers(0, 4_000_000_000 * 10**9),
    steps=st.lists(st.integers(0, 3000) | st.integers(0, 1_500_000_000), min_size=5, max_size=5),
    fmt=st.sampled_from(["text", "json"]),
)
def test_lines_written_together_are_the_lines_logging_writes(
    calls: list[FakeCall], start: int, steps: list[int], fmt: str
) -> None:
    """The calls of one event-loop turn, held and written in one write."""

    def written(through_logging: bool) -> str:
        stream = io.StringIO()

        async def serve() -> None:
            for call, ns in zip(calls, itertools.accumulate(steps, initial=start), strict=False):
                with clock_at(ns):
                    CallLogger(fmt)(call)
            assert through_logging or stream.getvalue() == ""  # held until the event loop comes round

        with default_logging(stream):
            if through_logging:
                log.addFilter(lambda record: True)
            asyncio.run(serve())
        return stream.getvalue()

    assert written(through_logging=False) == written(through_logging=True)


def test_the_line_says_what_it_always_said() -> None:
    call = FakeCall(
        summary="deployment p/e/1",
        reason="no\nsuch",
        found=[Finding("a-rule", "one"), Finding("b-rule", "two")],
        latency_ms=0.04,
    )
    with clock_at(1_700_000_000_123_456_789):
        text, as_json = line_of(call), line_of(call, "json")
    prefix = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(1_700_000_000)) + ",123 INFO emulator.calls: "
    assert text == (
        prefix + "GET /rest/deployments/0.1/pipelines/p/environments/e/deployments/1 -> 200 connect:full-app "
        "0.0ms deployment p/e/1 reason: no\nsuch findings: a-rule, b-rule\n"
    )
    assert as_json.startswith(prefix) and json.loads(as_json.removeprefix(prefix)) == {
        "method": "GET",
        "path": call.raw_path,
        "operation": "getDeploymentByKey",
        "site": "main",
        "provider": "connect:full-app",
        "status": 200,
        "latencyMs": 0.04,
        "summary": "deployment p/e/1",
        "reason": "no\nsuch",
        "findings": ["a-rule", "b-rule"],
    }


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def test_a_handler_added_while_serving_gets_the_calls_from_then_on() -> None:
    stream, own_stream, mine, theirs = io.StringIO(), io.StringIO(), Records(), Records()
    with default_logging(stream):
        CallLogger()(FakeCall(status=201))
        log.addHandler(mine)
        CallLogger()(FakeCall(status=202))
        logging.getLogger().addHandler(theirs)
        CallLogger()(FakeCall(status=203))
        log.propagate = False
        CallLogger()(FakeCall(status=204))
        logging.getLogger().removeHandler(theirs)
        log.removeHandler(mine)
        log.addHandler(CallLineHandler(own_stream))  # one of the user's, besides the command line's
        log.propagate = True
        CallLogger()(FakeCall(status=205))
    assert [m.split()[3] for m in mine.messages] == ["202", "203", "204"]
    assert [m.split()[3] for m in theirs.messages] == ["203"]
    assert [line.split()[7] for line in stream.getvalue().splitlines()] == ["201", "202", "203", "205"]
    assert [line.split()[7] for line in own_stream.getvalue().splitlines()] == ["205"]


def test_a_users_filter_and_formatter_are_obeyed() -> None:
    stream = io.StringIO()
    with default_logging(stream) as handler:
        handler.addFilter(lambda record: "-> 404" not in record.getMessage())
        CallLogger()(FakeCall(status=404))
        CallLogger()(FakeCall(status=200))
        handler.filters.clear()
        handler.setFormatter(logging.Formatter("%(levelname)s|%(message)s"))
        CallLogger()(FakeCall(status=500))
    first, second = stream.getvalue().splitlines()
    assert first.endswith(f"INFO emulator.calls: {line_of(FakeCall(status=200)).split(': ', 1)[1].rstrip()}")
    assert second == "INFO|" + line_of(FakeCall(status=500)).split(": ", 1)[1].rstrip()


def test_levels_are_obeyed() -> None:
    stream = io.StringIO()
    with default_logging(stream, level=logging.WARNING) as handler:
        CallLogger()(FakeCall(status=201))
        logging.getLogger().setLevel(logging.INFO)
        CallLogger()(FakeCall(status=202))
        log.setLevel(logging.WARNING)
        CallLogger()(FakeCall(status=203))
        log.setLevel(logging.NOTSET)
        handler.setLevel(logging.WARNING)
        CallLogger()(FakeCall(status=204))
        handler.setLevel(logging.NOTSET)
        logging.disable(logging.INFO)
        try:
            CallLogger()(FakeCall(status=205))
        finally:
            logging.disable(logging.NOTSET)
        CallLogger()(FakeCall(status=206))
    assert [line.split()[7] for line in stream.getvalue().splitlines()] == ["202", "206"]


def test_lines_keep_their_order_with_other_records_and_none_is_lost() -> None:
    stream = io.StringIO()
    uvicorn_like = logging.StreamHandler(stream)  # another handler on the same stream, as uvicorn's
    other = logging.getLogger("test_call_log.other")
    other.addHandler(uvicorn_like)
    other.propagate = False

    async def serve() -> tuple[str, str]:
        CallLogger()(FakeCall(status=201))
        CallLogger()(FakeCall(status=202))
        written_at_once = stream.getvalue()
        logging.getLogger("emulator").warning("between")
        CallLogger()(FakeCall(status=203))
        other.warning("uvicorn's")
        for status in range(300, 600):
            CallLogger()(FakeCall(status=status))
        await asyncio.sleep(0)  # the event loop comes round
        return written_at_once, stream.getvalue()

    try:
        with default_logging(stream) as handler:
            handler.writes_before([uvicorn_like])
            written_at_once, written = asyncio.run(serve())
    finally:
        other.removeHandler(uvicorn_like)
    lines = written.splitlines()
    assert written_at_once == ""  # held until the event loop comes round
    assert [line.split()[7] if "emulator.calls" in line else line.split()[-1] for line in lines] == [
        "201", "202", "between", "203", "uvicorn's", *map(str, range(300, 600))
    ]  # fmt: skip


def test_lines_held_are_written_when_the_handler_is_closed() -> None:
    stream = io.StringIO()

    async def serve(handler: CallLineHandler) -> tuple[str, str]:
        CallLogger("json")(FakeCall(status=201))
        held = stream.getvalue()
        handler.close()
        return held, stream.getvalue()

    with default_logging(stream) as handler:
        held, closed = asyncio.run(serve(handler))
    assert held == "" and '"status": 201' in closed


def test_a_line_the_stream_cannot_encode_is_lost_alone_as_through_logging() -> None:
    def written(through_logging: bool) -> bytes:
        raw = io.BytesIO()
        stream = io.TextIOWrapper(raw, encoding="ascii", errors="strict", write_through=True)

        async def serve() -> None:
            for path in ("/a", "/é", "/b"):
                CallLogger()(FakeCall(raw_path=path))

        with default_logging(stream), clock_at(1_700_000_000 * 10**9):  # type: ignore[arg-type]
            if through_logging:
                log.addFilter(lambda record: True)
            with mock.patch("sys.stderr", io.StringIO()):  # where logging reports the line it cannot write
                asyncio.run(serve())
        return raw.getvalue()

    direct = written(through_logging=False)
    assert [line.split()[5] for line in direct.decode().splitlines()] == ["/a", "/b"]
    assert direct == written(through_logging=True)


class BrokenPipe(io.StringIO):
    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")


def failing_converter(seconds: float | None) -> time.struct_time:
    raise ValueError("a converter of the user's that fails")


@pytest.mark.parametrize(
    ("stream", "converter", "error"),
    [
        pytest.param(BrokenPipe(), time.localtime, "BrokenPipeError", id="a broken stream"),
        pytest.param(io.StringIO(), failing_converter, "ValueError", id="a failing converter"),
    ],
)
def test_a_failure_to_write_fails_neither_the_call_nor_the_event_loop(
    stream: io.StringIO, converter: Any, error: str
) -> None:
    loop_errors: list[dict[str, Any]] = []

    async def serve() -> None:
        asyncio.get_running_loop().set_exception_handler(lambda loop, context: loop_errors.append(context))
        for status in range(200, 300):
            CallLogger()(FakeCall(status=status))
        await asyncio.sleep(0)

    with default_logging(stream) as handler, mock.patch("sys.stderr", io.StringIO()) as reports:
        handler.line_formatter.converter = converter
        asyncio.run(serve())
    assert loop_errors == [] and "--- Logging error ---" in reports.getvalue() and error in reports.getvalue()


# -- the command line, on a real port ---------------------------------------------------------------------

LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO emulator\.calls: (.*)$")


def call_lines(output: str) -> list[str]:
    """The messages of the call lines, and "(stop)" where uvicorn says it is shutting down."""
    lines = []
    for line in output.splitlines():
        if found := LINE.match(line):
            lines.append(found.group(1))
        elif "Shutting down" in line:
            lines.append("(stop)")
    return lines


def calls_over_http(port: int, count: int) -> None:
    path = key_path("p", "e", 1)
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"Host": "jira.test"}) as client:
        for n in range(count):
            headers = {} if n % 2 else auth("GET", path)
            client.get(path, headers=headers)


PATH_1 = "/rest/deployments/0.1/pipelines/p/environments/e/deployments/1"
NOT_FOUND = "no applied deployment with this key for this provider"
NO_TOKEN = "no Authorization header; Connect requests send 'Authorization: JWT <token>'"


def test_the_command_line_writes_every_call_line_before_it_stops() -> None:
    with Cli("--fixtures", SITES) as cli:
        calls_over_http(cli.port, 50)
        assert cli.stop() == 0
    lines = call_lines(cli.output)
    found = (
        re.escape(f"GET {PATH_1} -> 404 connect:full-app ")
        + r"\d+\.\dms"
        + re.escape(f" reason: {NOT_FOUND} findings: long-lived-jwt")
    )
    refused = re.escape(f"GET {PATH_1} -> 401 ") + r"\d+\.\dms" + re.escape(f" reason: {NO_TOKEN}")
    assert len(lines) == 51 and lines[-1] == "(stop)", cli.output
    for n, line in enumerate(lines[:-1]):
        assert re.fullmatch(refused if n % 2 else found, line), line


def test_the_command_line_writes_json_call_lines() -> None:
    with Cli("--fixtures", SITES, "--log-format", "json") as cli:
        calls_over_http(cli.port, 2)
        assert cli.stop() == 0
    lines = call_lines(cli.output)
    assert len(lines) == 3 and lines[-1] == "(stop)", cli.output
    answers = [json.loads(line) for line in lines[:-1]]
    assert all(isinstance(answer.pop("latencyMs"), float) for answer in answers)
    assert answers == [
        {
            "method": "GET", "path": PATH_1, "operation": "getDeploymentByKey", "site": "main",
            "provider": "connect:full-app", "status": 404, "reason": NOT_FOUND, "findings": ["long-lived-jwt"],
        },
        {"method": "GET", "path": PATH_1, "operation": "getDeploymentByKey", "site": "main", "status": 401,
         "reason": NO_TOKEN},
    ]  # fmt: skip
