"""Real HTTP on a real port: the threaded server, and the CLI as a subprocess."""

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

from emulator.config import Settings
from emulator.server import ThreadedServer
from tests.factories import deployment_data
from tests.helpers import BASE, JSON_TYPE, SITES, auth, body, key_path

pytestmark = pytest.mark.e2e
BULK = f"{BASE}/bulk"


@pytest.fixture(scope="module")
def server() -> Iterator[ThreadedServer]:
    with ThreadedServer(Settings(port=0, fixtures=SITES, apply_delay=0.05)) as running:
        yield running


@pytest.fixture
def http(server: ThreadedServer) -> Iterator[httpx.Client]:
    # the Host header names the "main" site of tests/data/sites.json
    with httpx.Client(base_url=server.url, headers={"Host": "jira.test"}, timeout=5) as client:
        client.post("/_emulator/reset", headers=JSON_TYPE)
        yield client


def wait_for(check, timeout: float = 2.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.01)


def test_submit_then_get_after_the_delay(http: httpx.Client) -> None:
    sent = deployment_data("pipe", "prod", 1)
    r = http.post(BULK, content=body(sent), headers=auth("POST", BULK))
    assert r.status_code == 202
    path = key_path("pipe", "prod", 1)
    got = wait_for(lambda: http.get(path, headers=auth("GET", path)).status_code == 200)
    assert got
    assert http.get(path, headers=auth("GET", path)).json() == {**sent, "schemaVersion": "1.0"}


@pytest.mark.parametrize(
    "pipeline", ["team/app", "Zürich pipeline", "a+b&c"], ids=["slash", "unicode-space", "plus-amp"]
)
def test_ids_survive_the_wire(http: httpx.Client, pipeline: str) -> None:
    r = http.post(BULK, content=body(deployment_data(pipeline, "prod", 1)), headers=auth("POST", BULK))
    assert r.status_code == 202
    from urllib.parse import quote

    path = key_path(quote(pipeline, safe=""), "prod", 1)
    assert wait_for(lambda: http.get(path, headers=auth("GET", path)).status_code == 200)
    assert http.get(path, headers=auth("GET", path)).json()["pipeline"]["id"] == pipeline


def test_delete_by_properties_over_http(http: httpx.Client) -> None:
    http.post(BULK, content=body(deployment_data("p", "e", 1), properties={"run": "1"}), headers=auth("POST", BULK))
    http.post(BULK, content=body(deployment_data("p", "e", 2), properties={"run": "2"}), headers=auth("POST", BULK))
    http.post("/_emulator/queue/flush", headers=JSON_TYPE)
    url = f"{BASE}/bulkByProperties?run=1"
    assert http.delete(url, headers=auth("DELETE", url)).status_code == 202
    http.post("/_emulator/queue/flush", headers=JSON_TYPE)
    assert http.get(key_path("p", "e", 1), headers=auth("GET", key_path("p", "e", 1))).status_code == 404
    assert http.get(key_path("p", "e", 2), headers=auth("GET", key_path("p", "e", 2))).status_code == 200


def test_reset_empties_the_store(http: httpx.Client) -> None:
    http.post(BULK, content=body(deployment_data("p", "e", 1)), headers=auth("POST", BULK))
    http.post("/_emulator/queue/flush", headers=JSON_TYPE)
    assert http.post("/_emulator/reset", headers=JSON_TYPE).status_code == 200
    path = key_path("p", "e", 1)
    assert http.get(path, headers=auth("GET", path)).status_code == 404


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_cli_process_serves_and_stops_cleanly_on_sigterm() -> None:
    port = free_port()
    env = {**os.environ, "EMULATOR_PORT": str(port), "EMULATOR_FIXTURES": SITES, "EMULATOR_APPLY_DELAY": "0"}
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "emulator"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        base = f"http://127.0.0.1:{port}"

        def healthy() -> bool:
            try:
                return httpx.get(f"{base}/_emulator/health", timeout=0.5).status_code == 200
            except httpx.TransportError:
                return False

        assert wait_for(healthy, timeout=15), "the emulator did not become healthy"
        with httpx.Client(base_url=base, headers={"Host": "jira.test"}) as http:
            assert http.post(BULK, content=body(deployment_data()), headers=auth("POST", BULK)).status_code == 202
            path = key_path("pipe", "env", 1)
            assert http.get(path, headers=auth("GET", path)).status_code == 200  # delay 0 from the env var
        proc.send_signal(signal.SIGTERM)
        stopping = time.monotonic()
        assert proc.wait(timeout=5) == 0
        assert time.monotonic() - stopping < 2.0
        assert time.monotonic() - started < 30
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        assert proc.stdout is not None
        proc.stdout.close()


def test_requests_leave_no_reference_cycles_for_the_garbage_collector(http: httpx.Client) -> None:
    # uvicorn's send is a method of its request cycle, which holds the scope; the emulator keeps send in the
    # scope while a request runs (a dropped connection needs the transport) and must take it out after,
    # or every request leaves a cycle that only a collection frees (pauses of 10 to 25 ms under load)
    import gc

    from uvicorn.protocols.http.h11_impl import RequestResponseCycle as H11Cycle
    from uvicorn.protocols.http.httptools_impl import RequestResponseCycle as HttpToolsCycle

    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        for _ in range(20):
            http.get("/_emulator/health")
            http.get("/rest/deployments/0.1/pipelines/p/environments/e/deployments/1")
        gc.collect()
        cycles = [o for o in gc.garbage if isinstance(o, H11Cycle | HttpToolsCycle)]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
    assert cycles == []
