"""Issue 21, item 10: SIGHUP writes a snapshot (or is logged and ignored), and a second SIGINT during a stop
ends it without a traceback, still running the shutdown. Each test runs the real command line."""

from __future__ import annotations

import signal
import socket
import time
from pathlib import Path

import httpx
import pytest

from tests.factories import deployment_data
from tests.helpers import BASE, SITES, auth, body
from tests.reliability.support import Cli

pytestmark = pytest.mark.e2e

BULK = f"{BASE}/bulk"


def submit(cli: Cli, pipeline: str) -> None:
    headers = {"Host": "jira.test", **auth("POST", BULK)}
    answer = httpx.post(
        f"http://127.0.0.1:{cli.port}{BULK}", headers=headers, content=body(deployment_data(pipeline, "env", 1))
    )
    assert answer.status_code == 202, answer.text


def ready(cli: Cli) -> int:
    return httpx.get(f"http://127.0.0.1:{cli.port}/_emulator/ready", timeout=5).status_code


def in_snapshot(data: Path, pipeline: str) -> bool:
    """Whether the snapshot (``PATH/snapshot.jsonl``) holds ``pipeline``, in whatever layout."""
    snapshot = data / "snapshot.jsonl"
    return snapshot.exists() and f'"{pipeline}"' in snapshot.read_text(encoding="utf-8")


def test_sighup_with_a_data_folder_writes_a_snapshot_and_keeps_serving(tmp_path: Path) -> None:
    with Cli("--fixtures", SITES, "--data-dir", str(tmp_path), "--apply-delay", "3600") as cli:
        submit(cli, "before-hup")
        assert not in_snapshot(tmp_path, "before-hup")  # only in the log so far
        cli.process.send_signal(signal.SIGHUP)
        cli.wait_for_line("snapshot written in")
        assert in_snapshot(tmp_path, "before-hup")
        assert ready(cli) == 200
        submit(cli, "after-hup")
        assert cli.stop() == 0
    assert "Traceback" not in cli.output


def test_a_snapshot_replaced_by_sighup_is_closed_and_its_logs_removed(tmp_path: Path) -> None:
    """The replaced snapshot is held open across the rename and closed by a thread: none stays open."""
    with Cli("--fixtures", SITES, "--data-dir", str(tmp_path), "--apply-delay", "3600") as cli:
        for round_ in range(2):
            submit(cli, f"round-{round_}")
            cli.process.send_signal(signal.SIGHUP)
            deadline = time.monotonic() + 15
            while cli.output.count("snapshot written in") <= round_ and time.monotonic() < deadline:
                time.sleep(0.02)
        fds = Path(f"/proc/{cli.process.pid}/fd")
        open_files = [str(fd.readlink()) for fd in fds.iterdir() if fd.is_symlink()]
        assert not [name for name in open_files if Path(name).name.startswith("snapshot")], open_files
        assert len(list(tmp_path.glob("log-*.jsonl"))) == 1  # the current log only
        assert in_snapshot(tmp_path, "round-1") and ready(cli) == 200
        assert cli.stop() == 0
    assert "Traceback" not in cli.output


def test_sighup_without_a_data_folder_is_logged_and_ignored() -> None:
    with Cli("--fixtures", SITES) as cli:
        cli.process.send_signal(signal.SIGHUP)
        cli.wait_for_line("SIGHUP: no --data-dir")
        assert ready(cli) == 200
        assert cli.stop() == 0


def test_a_second_sigint_during_the_stop_ends_it_without_a_traceback(tmp_path: Path) -> None:
    with Cli("--fixtures", SITES, "--data-dir", str(tmp_path), "--apply-delay", "3600") as cli:
        submit(cli, "kept")
        # a request in progress keeps the first stop waiting: a submit whose body is still coming
        headers = {"Host": "jira.test", **auth("POST", BULK)}
        head = f"POST {BULK} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        with socket.create_connection(("127.0.0.1", cli.port)) as slow:
            slow.sendall((head + "Content-Length: 1000\r\n\r\n{").encode())
            time.sleep(0.3)  # for the emulator to read the head and start the request
            cli.process.send_signal(signal.SIGINT)
            cli.wait_for_line("Waiting for connections to close")
            code = cli.stop(signal.SIGINT)
    assert code == 130
    assert "Traceback" not in cli.output and "CancelledError" not in cli.output, cli.output
    assert "snapshot written" in cli.output  # the shutdown still ran
    assert in_snapshot(tmp_path, "kept")


def test_sigterm_stops_cleanly_with_exit_code_0() -> None:
    with Cli("--fixtures", SITES) as cli:
        assert ready(cli) == 200
        assert cli.stop(signal.SIGTERM) == 0
    assert "Traceback" not in cli.output
