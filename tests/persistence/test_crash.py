"""kill -9 in the middle of a load run loses no acknowledged operation; SIGTERM writes a snapshot."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import zlib
from pathlib import Path

import httpx
import pytest

from tests.factories import deployment_data
from tests.helpers import BASE, JSON_TYPE, SITES, auth, body, key_path

pytestmark = pytest.mark.e2e
BULK = f"{BASE}/bulk"
MAIN = {"Host": "jira.test"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(data_dir: Path, port: int, delay: str = "0") -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "EMULATOR_PORT": str(port),
        "EMULATOR_FIXTURES": SITES,
        "EMULATOR_APPLY_DELAY": delay,
        "EMULATOR_DATA_DIR": str(data_dir),
        "EMULATOR_LOG_LEVEL": "warning",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "emulator"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/_emulator/ready", timeout=0.5).status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.02)
    proc.kill()
    raise AssertionError(f"the emulator did not start: {proc.communicate()[1].decode()[-2000:]}")


def stop(proc: subprocess.Popen[bytes], sig: int) -> int:
    proc.send_signal(sig)
    try:
        return proc.wait(timeout=10)
    finally:
        assert proc.stderr is not None
        proc.stderr.close()


def test_kill_9_under_load_loses_no_acknowledged_write(tmp_path: Path) -> None:
    port = free_port()
    proc = start(tmp_path, port)
    acknowledged: list[tuple[str, int, int]] = []
    lock = threading.Lock()
    stop_flag = threading.Event()

    def client(worker: int) -> None:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=MAIN, timeout=2) as http:
            n = 0
            while not stop_flag.is_set() and n < 2000:
                n += 1
                try:
                    r = http.post(
                        BULK, content=body(deployment_data(f"w{worker}", "prod", n, usn=n)), headers=auth("POST", BULK)
                    )
                except httpx.TransportError:
                    return
                if r.status_code == 202:
                    with lock:
                        acknowledged.append((f"w{worker}", n, n))

    workers = [threading.Thread(target=client, args=(w,)) for w in range(4)]
    for w in workers:
        w.start()
    while len(acknowledged) < 150:
        time.sleep(0.01)
    proc.kill()  # SIGKILL: no shutdown, no snapshot
    proc.wait()
    assert proc.stderr is not None
    proc.stderr.close()
    stop_flag.set()
    for w in workers:
        w.join()
    assert sum(p.stat().st_size for p in tmp_path.glob("log-*.jsonl")) > 0

    proc = start(tmp_path, port)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=MAIN, timeout=5) as http:
            http.post("/_emulator/queue/flush", headers=JSON_TYPE)
            stored = {
                (d["key"]["pipelineId"], d["key"]["deploymentSequenceNumber"])
                for d in http.get("/_emulator/state", params={"provider": "connect:full-app"}).json()["deployments"]
            }
            missing = [(p, n) for p, n, _ in acknowledged if (p, n) not in stored]
            assert missing == [], f"{len(missing)} of {len(acknowledged)} acknowledged writes lost"
            pipeline, number, _ = acknowledged[-1]
            path = key_path(pipeline, "prod", number)
            assert http.get(path, headers=auth("GET", path)).status_code == 200
    finally:
        assert stop(proc, signal.SIGTERM) == 0


def test_pending_writes_survive_sigterm_and_sigterm_leaves_a_snapshot(tmp_path: Path) -> None:
    port = free_port()
    proc = start(tmp_path, port, delay="3600")
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=MAIN, timeout=5) as http:
        assert (
            http.post(BULK, content=body(deployment_data("p", "e", 1)), headers=auth("POST", BULK)).status_code == 202
        )
    started = time.monotonic()
    assert stop(proc, signal.SIGTERM) == 0
    assert time.monotonic() - started < 3
    snapshot = (tmp_path / "snapshot.jsonl").read_text().splitlines()
    assert json.loads(snapshot[0].split(" ", 1)[1])["pending"] == 1
    assert sum(1 for line in snapshot if '"t":"pending"' in line) == 1
    (log,) = tmp_path.glob("log-*.jsonl")
    assert log.read_text().count("\n") == 1  # its header only: everything is in the snapshot

    proc = start(tmp_path, port, delay="3600")
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=MAIN, timeout=5) as http:
            pending = http.get("/_emulator/state", params={"status": "pending"}).json()["deployments"]
            assert [d["key"]["pipelineId"] for d in pending] == ["p"]
            http.post("/_emulator/queue/flush", headers=JSON_TYPE)
            path = key_path("p", "e", 1)
            assert http.get(path, headers=auth("GET", path)).status_code == 200
    finally:
        stop(proc, signal.SIGTERM)


def test_a_data_folder_of_an_unknown_version_stops_start_up_clearly(tmp_path: Path) -> None:
    header = json.dumps({"format": "jira-deployments-emulator", "version": 99, "file": "snapshot", "generation": 1})
    (tmp_path / "snapshot.jsonl").write_text(f"{zlib.crc32(header.encode()):08x} {header}\n")
    env = {**os.environ, "EMULATOR_PORT": str(free_port()), "EMULATOR_DATA_DIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "emulator"], env=env, capture_output=True, timeout=30)
    assert done.returncode == 3
    assert b"format version 99; this emulator reads version 2" in done.stderr
    assert b"Traceback" not in done.stderr
