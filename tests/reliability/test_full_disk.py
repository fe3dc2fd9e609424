"""A data folder that cannot be written: writes are refused cleanly (Jira's 503, nothing kept), reads go on,
the applier survives, a refused write never comes back, and a stop says what it could not write.

The disk fills for real in two ways: the process's file-size limit (``ulimit -f``: a write past it fails
with EFBIG, on any machine and without privileges), and, where the test may mount one, a tmpfs of a few
hundred kilobytes that runs out of space (ENOSPC).
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.factories import deployment_data
from tests.helpers import BASE, JSON_TYPE, SITES, auth, body, key_path
from tests.reliability.support import Answer, Cli, send

BULK = f"{BASE}/bulk"
HOST = {"Host": "jira.test"}
LIMIT = 48_000  # bytes a data file may grow to (RLIMIT_FSIZE)


def submit(port: int, number: int) -> Answer:
    headers = {**HOST, **auth("POST", BULK), "Content-Type": "application/json"}
    return send(port, "POST", BULK, headers, body(deployment_data("disk", "prod", number)))


def read(port: int, number: int) -> Answer:
    path = key_path("disk", "prod", number)
    return send(port, "GET", path, {**HOST, **auth("GET", path)})


def stored(port: int) -> set[int]:
    answer = send(port, "GET", "/_emulator/state?pipeline=disk", {"Host": "127.0.0.1"})
    return {d["key"]["deploymentSequenceNumber"] for d in answer.json()["deployments"]}


def fill_until_refused(port: int) -> tuple[list[int], list[int]]:
    """Submit one deployment at a time until three are refused; (acknowledged, refused)."""
    acknowledged: list[int] = []
    refused: list[int] = []
    number = 0
    while len(refused) < 3:
        number += 1
        assert number < 2_000, "the data folder never filled"
        answer = submit(port, number)
        assert answer.status in (202, 503), (answer.status, answer.body)
        (acknowledged if answer.status == 202 else refused).append(number)
    return acknowledged, refused


def wait_for(condition: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def check_refusals_and_recovery(cli: Cli, free_space: object, error: str) -> tuple[list[int], list[int]]:
    """The folder fills up while one deployment after another is submitted: the refusals, what still works,
    and what works again once ``free_space()``; (acknowledged, refused)."""
    acknowledged, refused = fill_until_refused(cli.port)
    answer = submit(cli.port, 10_000)
    refused.append(10_000)
    assert answer.status == 503
    assert answer.json() == [{"message": "Service is unavailable due to maintenance or other reasons."}]  # Jira's
    assert answer.headers["retry-after"] == "5"
    assert "data folder cannot be written" in answer.reason and error in answer.reason
    wait_for(lambda: read(cli.port, acknowledged[-1]).status == 200)  # reads go on, and so does the applier
    app = {"key": "late", "clientKey": "ck", "sharedSecret": "s" * 32}
    installed = send(cli.port, "POST", "/_emulator/sites/main/apps", {**HOST, **JSON_TYPE}, json.dumps(app).encode())
    assert installed.status == 503 and "data folder cannot be written" in installed.json()["error"]
    assert "Traceback" not in cli.output
    free_space()  # type: ignore[operator]
    later = 20_000
    assert submit(cli.port, later).status == 202
    acknowledged.append(later)
    wait_for(lambda: read(cli.port, later).status == 200)
    return acknowledged, refused


def restart_and_check(data: Path, acknowledged: list[int], refused: list[int]) -> None:
    with Cli("--fixtures", SITES, "--data-dir", str(data), "--apply-delay", "0") as cli:
        kept = stored(cli.port)
        assert set(acknowledged) <= kept, f"acknowledged but lost: {sorted(set(acknowledged) - kept)}"
        assert not kept & set(refused), f"refused but restored: {sorted(kept & set(refused))}"
        assert "late" not in send(cli.port, "GET", "/_emulator/sites/main", {"Host": "127.0.0.1"}).body.decode()


def test_a_full_disk_refuses_writes_cleanly_and_a_refused_write_never_comes_back(tmp_path: Path) -> None:
    data = tmp_path / "data"
    args = ("--fixtures", SITES, "--data-dir", str(data), "--apply-delay", "0.2")
    with Cli(*args, file_size=LIMIT) as cli:
        acknowledged, refused = check_refusals_and_recovery(
            cli, lambda: cli.limit_file_size(resource.RLIM_INFINITY), "File too large"
        )
        cli.process.kill()  # kill -9: no snapshot
    restart_and_check(data, acknowledged, refused)


def test_a_stop_on_a_full_disk_says_what_it_could_not_write_and_exits_cleanly(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with Cli("--fixtures", SITES, "--data-dir", str(data), "--apply-delay", "0") as cli:
        for number in range(1, 40):
            assert submit(cli.port, number).status == 202
        cli.limit_file_size(2_000)  # the final snapshot cannot be written
        assert cli.stop() == 0
    assert "the final snapshot was not written" in cli.output
    assert "Traceback" not in cli.output and "Application shutdown failed" not in cli.output
    restart_and_check(data, list(range(1, 40)), [])


@pytest.fixture
def small_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A tmpfs of 512 KiB, if this process may mount one (root, or CAP_SYS_ADMIN); else the test is skipped."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.decode().strip()}): the file-size limit test covers it")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_disk_out_of_space_refuses_writes_cleanly(small_tmpfs: Path) -> None:
    data = small_tmpfs / "data"
    filler = small_tmpfs / "filler"
    filler.write_bytes(b"\0" * (512 * 1024 - 96 * 1024))  # leaves some 90 KiB for the emulator
    with Cli("--fixtures", SITES, "--data-dir", str(data), "--apply-delay", "0.2") as cli:
        acknowledged, refused = check_refusals_and_recovery(cli, filler.unlink, "No space left on device")
        cli.process.kill()
    restart_and_check(data, acknowledged, refused)


def test_a_read_only_data_folder_stops_the_start_with_one_line(small_tmpfs: Path) -> None:
    data = small_tmpfs / "data"
    data.mkdir()
    subprocess.run(["mount", "-o", "remount,ro", str(small_tmpfs)], check=True)
    done = subprocess.run(
        [sys.executable, "-m", "emulator", "--port", "0", "--data-dir", str(data)], capture_output=True, timeout=30
    )
    assert done.returncode == 3
    assert "Read-only file system" in done.stderr.decode() and "Traceback" not in done.stderr.decode()
