"""A slow client stalls nobody; a clean shutdown applies and reports pending writes."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

from emulator.server import ThreadedServer
from tests.e2e.conftest import live_server
from tests.e2e.test_live_server import free_port, wait_for
from tests.factories import deployment_data
from tests.helpers import BASE, SITES, auth, body, key_path

pytestmark = pytest.mark.e2e
BULK = f"{BASE}/bulk"


@pytest.fixture(scope="module")
def server() -> Iterator[ThreadedServer]:
    yield from live_server(apply_delay=0)


def test_a_slow_client_does_not_stall_the_others(server: ThreadedServer) -> None:
    headers = auth("POST", BULK)["Authorization"]
    slow = socket.create_connection(("127.0.0.1", server.port))
    try:
        slow.sendall(
            f"POST {BULK} HTTP/1.1\r\nHost: jira.test\r\nAuthorization: {headers}\r\n"
            "Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n{".encode()
        )  # ... and then nothing more for a while: its body is 99,999 bytes short
        path = key_path("p", "e", 1)
        started = time.monotonic()
        with httpx.Client(base_url=server.url, headers={"Host": "jira.test"}, timeout=2) as http:
            for n in range(20):
                assert (
                    http.post(
                        BULK, content=body(deployment_data("p", "e", n + 1)), headers=auth("POST", BULK)
                    ).status_code
                    == 202
                )
                assert http.get(path, headers=auth("GET", path)).status_code == 200
        assert time.monotonic() - started < 2.0
    finally:
        slow.close()


def test_a_clean_shutdown_applies_pending_writes_and_says_so() -> None:
    port = free_port()
    env = {**os.environ, "EMULATOR_PORT": str(port), "EMULATOR_FIXTURES": SITES, "EMULATOR_APPLY_DELAY": "3600"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "emulator"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:

        def ready() -> bool:
            try:
                return httpx.get(f"http://127.0.0.1:{port}/_emulator/ready", timeout=0.5).status_code == 200
            except httpx.TransportError:
                return False

        assert wait_for(ready, timeout=15)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"Host": "jira.test"}) as http:
            assert http.post(BULK, content=body(deployment_data()), headers=auth("POST", BULK)).status_code == 202
        stopping = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=5)
        assert proc.returncode == 0 and time.monotonic() - stopping < 1.5
        assert b"shutdown: applied 1 pending operation(s) before exit" in output
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
