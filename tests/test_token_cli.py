"""``jira-deployments-emulator token``: tokens printed for humans are accepted by a running emulator."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import emulator
from emulator.auth.connect import verify_connect_request
from emulator.auth.oauth import verify_access_token
from emulator.cli import main
from emulator.config import Settings
from emulator.server import ThreadedServer
from tests.factories import deployment_data
from tests.helpers import BASE, JSON_TYPE, SECRETS, SITES, body, key_path

BULK = f"{BASE}/bulk"
DEFAULT_SECRET = "emulator-shared-secret-for-local-tests-only"
CTX_SECRET = "ctx-secret-0123456789abcdef0123456789"
PACKAGE_ROOT = str(Path(emulator.__file__).resolve().parent.parent)


@pytest.fixture(autouse=True)
def no_fixtures_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EMULATOR_FIXTURES", raising=False)


@pytest.fixture(scope="module")
def server() -> Iterator[ThreadedServer]:
    with ThreadedServer(Settings(port=0, fixtures=SITES, apply_delay=0)) as running:
        yield running


def run(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert main(["token", *args]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert out.endswith("\n") and out.count("\n") == 1
    return out.strip()


def connect_ok(token: str, method: str, raw_path: str, raw_query: str = "", secrets: dict[str, str] = SECRETS) -> str:
    verified = verify_connect_request(
        f"JWT {token}",
        method=method,
        raw_path=raw_path,
        raw_query=raw_query,
        secret_for=secrets.get,
        now=time.time(),
    )
    return verified.app_key


def test_prints_a_token_the_verifier_accepts(capsys: pytest.CaptureFixture[str]) -> None:
    url = key_path("team%2Fapp", "prod", 3) + "?_updateSequenceNumber=4&x=a+b"
    token = run(capsys, "--app", "full-app", "--method", "DELETE", "--url", url, "--fixtures", SITES)
    assert connect_ok(token, "DELETE", key_path("team%2Fapp", "prod", 3), "_updateSequenceNumber=4&x=a+b") == "full-app"


def test_header_flag_prints_an_authorization_line(capsys: pytest.CaptureFixture[str]) -> None:
    line = run(capsys, "--header", "--app", "full-app", "--method", "post", "--url", BULK, "--fixtures", SITES)
    name, _, value = line.partition(": ")
    assert name == "Authorization"
    assert value.startswith("JWT ")
    assert connect_ok(value.removeprefix("JWT "), "POST", BULK) == "full-app"


def test_method_defaults_to_get(capsys: pytest.CaptureFixture[str]) -> None:
    token = run(capsys, "--app", "reader", "--url", key_path("p", "e", 1), "--fixtures", SITES)
    assert connect_ok(token, "GET", key_path("p", "e", 1)) == "reader"


def test_default_site_and_fixtures_env(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    token = run(capsys, "--app", "emulator-app", "--url", BULK, "--method", "POST")
    assert connect_ok(token, "POST", BULK, secrets={"emulator-app": DEFAULT_SECRET}) == "emulator-app"
    monkeypatch.setenv("EMULATOR_FIXTURES", SITES)
    token = run(capsys, "--app", "full-app", "--url", BULK, "--method", "POST")
    assert connect_ok(token, "POST", BULK) == "full-app"


def test_site_with_a_context_path(capsys: pytest.CaptureFixture[str]) -> None:
    token = run(
        capsys,
        "--app",
        "full-app",
        "--site",
        "ctx",
        "--url",
        f"http://corp.test/jira{BULK}",
        "--method",
        "POST",
        "--fixtures",
        SITES,
    )
    assert connect_ok(token, "POST", BULK, secrets={"full-app": CTX_SECRET}) == "full-app"


def test_ttl(capsys: pytest.CaptureFixture[str]) -> None:
    import jwt

    token = run(capsys, "--app", "full-app", "--url", BULK, "--ttl", "5", "--fixtures", SITES)
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 5


def test_oauth_access_token(capsys: pytest.CaptureFixture[str]) -> None:
    token = run(capsys, "--oauth-client", "emulator-oauth-client")
    verified = verify_access_token(
        f"Bearer {token}",
        secret_for=lambda client, cloud: (
            "emulator-oauth-secret-for-local-tests-only"
            if (client, cloud) == ("emulator-oauth-client", "0d3f2b9e-5a4c-4e1f-9b8a-7c6d5e4f3a21")
            else None
        ),
        now=time.time(),
    )
    assert verified.client_id == "emulator-oauth-client"
    line = run(capsys, "--header", "--oauth-client", "emulator-oauth-client")
    assert line.startswith("Authorization: Bearer ey")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--app", "nope", "--url", BULK, "--fixtures", SITES],
            "no Connect app 'nope' on site 'main' (apps: full-app, reader",
        ),
        (
            ["--app", "full-app", "--url", BULK, "--site", "moon", "--fixtures", SITES],
            "no site named 'moon' (sites: main, ctx)",
        ),
        (
            ["--oauth-client", "nobody"],
            "no OAuth client 'nobody' on site 'default' (clients: emulator-oauth-client)",
        ),
        (["--app", "full-app", "--fixtures", SITES], "--app needs --url"),
        (["--app", "full-app", "--url", BULK, "--ttl", "0"], "--ttl must be at least 1 second"),
        (
            ["--app", "a", "--url", "/", "--fixtures", "/no/such/file.json"],
            "/no/such/file.json: no such fixture",
        ),
    ],
    ids=["unknown-app", "unknown-site", "unknown-client", "no-url", "bad-ttl", "no-fixtures"],
)
def test_clear_errors_exit_2(capsys: pytest.CaptureFixture[str], args: list[str], message: str) -> None:
    assert main(["token", *args]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("jira-deployments-emulator token: ")
    assert message in err


def test_site_without_oauth_clients(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    site = {"name": "bare", "baseUrl": "http://bare.test", "cloudId": "c-1"}
    (tmp_path / "bare.json").write_text(json.dumps({"sites": [site]}))
    assert main(["token", "--oauth-client", "x", "--fixtures", str(tmp_path)]) == 2
    assert "no OAuth client 'x' on site 'bare' (clients: none)" in capsys.readouterr().err
    assert main(["token", "--app", "x", "--url", "/", "--fixtures", str(tmp_path)]) == 2
    assert "no Connect app 'x' on site 'bare' (apps: none)" in capsys.readouterr().err


def test_app_or_client_is_required(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["token", "--url", BULK])
    assert exited.value.code == 2
    assert "one of the arguments --app --oauth-client is required" in capsys.readouterr().err


def test_serve_stays_the_default_command() -> None:
    from emulator.cli import build_parser

    assert build_parser().parse_args(["serve"]).command == "serve"
    with pytest.raises(SystemExit):
        main(["--version"])


@pytest.mark.e2e
def test_printed_tokens_are_accepted_by_a_running_emulator(
    capsys: pytest.CaptureFixture[str], server: ThreadedServer
) -> None:
    with httpx.Client(base_url=server.url, headers={"Host": "jira.test"}, timeout=5) as http:
        http.post("/_emulator/reset", headers=JSON_TYPE)
        header = run(capsys, "--header", "--app", "full-app", "--method", "POST", "--url", BULK, "--fixtures", SITES)
        name, _, value = header.partition(": ")
        sent = deployment_data("team/app", "prod", 1)
        assert http.post(BULK, content=body(sent), headers={name: value}).status_code == 202
        path = key_path("team%2Fapp", "prod", 1)
        token = run(capsys, "--app", "full-app", "--url", f"http://jira.test{path}", "--fixtures", SITES)
        got = http.get(path, headers={"Authorization": f"JWT {token}"})
        assert got.status_code == 200
        assert got.json()["pipeline"]["id"] == "team/app"
        # the token is for this very request: the same one on another path is refused
        assert http.get(key_path("other", "prod", 1), headers={"Authorization": f"JWT {token}"}).status_code == 401


@pytest.mark.e2e
def test_context_path_site_over_http(capsys: pytest.CaptureFixture[str], server: ThreadedServer) -> None:
    url = f"http://corp.test/jira{BASE}/bulkByProperties?run=a%2Fb"
    token = run(capsys, "--app", "full-app", "--site", "ctx", "--method", "DELETE", "--url", url, "--fixtures", SITES)
    with httpx.Client(base_url=server.url, headers={"Host": "corp.test"}, timeout=5) as http:
        response = http.delete(f"/jira{BASE}/bulkByProperties?run=a%2Fb", headers={"Authorization": f"JWT {token}"})
    assert response.status_code == 202


@pytest.mark.e2e
def test_subprocess_curl_style(server: ThreadedServer) -> None:
    path = f"{BASE}/bulkByProperties?run=1&team=a%2Fb"
    env = {
        **os.environ,
        "EMULATOR_FIXTURES": SITES,
        "PYTHONPATH": os.pathsep.join(filter(None, [PACKAGE_ROOT, os.environ.get("PYTHONPATH")])),
    }
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "emulator",
            "token",
            "--header",
            "--app",
            "full-app",
            "--method",
            "DELETE",
            "--url",
            path,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    name, _, value = done.stdout.strip().partition(": ")
    with httpx.Client(base_url=server.url, headers={"Host": "jira.test"}, timeout=5) as http:
        assert http.delete(path, headers={name: value}).status_code == 202
        assert http.delete(path + "&more=1", headers={name: value}).status_code == 401

    failed = subprocess.run(
        [sys.executable, "-m", "emulator", "token", "--app", "ghost", "--url", path],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert failed.returncode == 2
    assert failed.stdout == ""
    assert "no Connect app 'ghost'" in failed.stderr


def test_a_reader_that_stops_early_gets_no_traceback() -> None:
    """``token ... | head -c 8``: the pipe closes before the token is written whole."""
    reader = subprocess.Popen(["head", "-c", "0"], stdin=subprocess.PIPE)
    assert reader.stdin is not None
    reader.wait(timeout=10)  # gone before the token is printed: the write meets a closed pipe
    command = [sys.executable, "-m", "emulator", "token", "--app", "emulator-app", "--method", "GET", "--url", "/x"]
    done = subprocess.run(command, stdout=reader.stdin, stderr=subprocess.PIPE, timeout=30)
    reader.stdin.close()
    assert done.returncode == 0 and b"Traceback" not in done.stderr, done.stderr
