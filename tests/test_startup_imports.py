"""What start-up leaves for later.

Start-up (process start to the readiness probe's first 200) is a benchmark target, so PyJWT and pydantic are
imported on first use (persistence and the control handlers are covered in tests/test_config.py). These tests
hold that nothing deferred is built at start-up, and that the first use
still works. No timings here: the benchmark measures those.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any


def fresh(code: str) -> Any:
    """What ``code`` prints as JSON, run in a fresh interpreter: what other tests imported does not count."""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    return json.loads(done.stdout)


START_UP = "import sys, json, uvicorn, emulator.cli; from emulator.app import create_app; app = create_app(); "


def test_start_up_imports_no_jwt() -> None:
    """PyJWT (and the urllib.request its JWKS client imports) comes with the first token to verify or mint."""
    loaded = fresh(START_UP + "print(json.dumps([m for m in ('jwt', 'urllib.request') if m in sys.modules]))")
    assert loaded == []


def test_start_up_imports_no_pydantic() -> None:
    """pydantic (the full validator and the OpenAPI document) comes with the first request that needs it."""
    assert fresh(START_UP + "print(json.dumps([m for m in sys.modules if m.startswith('pydantic')]))") == []


def test_the_first_signed_request_imports_jwt_and_is_verified() -> None:
    code = START_UP + (
        "from starlette.testclient import TestClient; from emulator.tokens import connect_token; import time; "
        "path = '/rest/deployments/0.1/pipelines/p/environments/e/deployments/1'; "
        "token = connect_token('emulator-app', 'emulator-shared-secret-for-local-tests-only', 'GET', path, "
        "now=time.time()); "
        "client = TestClient(app); "
        "good = client.get(path, headers={'Authorization': 'JWT ' + token}).status_code; "
        "bad = client.get(path, headers={'Authorization': 'JWT ' + token[:-2] + 'xx'}).status_code; "
        "print(json.dumps([good, bad]))"
    )
    assert fresh(code) == [404, 401]  # verified then not found; a damaged signature refused


def test_serving_imports_no_websocket_implementation() -> None:
    """The server's configuration, loaded as the command line loads it, brings no WebSocket library: the
    emulator serves none, and importing one is a noticeable part of start-up."""
    code = START_UP + (
        "from emulator.config import Settings; from emulator.limits import server_config; "
        "server_config(app, Settings()).load(); "
        "kinds = ('websockets', 'wsproto', 'uvicorn.protocols.websockets'); "
        "print(json.dumps([m for m in sys.modules if m.startswith(kinds)]))"
    )
    assert fresh(code) == []
