"""A submit's Content-Type, over real HTTP: a body sent as anything but JSON is a contract finding of the
mistake class (Jira's REST endpoints answer 415 to such a body); strict mode answers 415."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from emulator.config import Settings
from emulator.domain.clock import ManualClock
from emulator.server import ThreadedServer
from tests.factories import deployment_data
from tests.helpers import BASE, SITES, body, token

pytestmark = pytest.mark.e2e

BULK = f"{BASE}/bulk"
NOT_JSON = {
    "fetch-string-body": "text/plain;charset=UTF-8",
    "form": "application/x-www-form-urlencoded",
    "none": None,
}
JSON = {"plain": "application/json", "charset": "application/json; charset=utf-8", "suffix": "application/vnd.ci+json"}


@pytest.fixture(scope="module", params=[False, True], ids=["lenient", "strict"])
def server(request: pytest.FixtureRequest) -> Iterator[ThreadedServer]:
    clock = ManualClock(start=float(int(time.time())))
    settings = Settings(port=0, fixtures=SITES, apply_delay=0, strict=request.param)
    with ThreadedServer(settings, clock=clock) as running:
        yield running


def post(server: ThreadedServer, content_type: str | None, number: int) -> httpx.Response:
    now = int(time.time())
    headers = {"Host": "jira.test", "Authorization": f"JWT {token('POST', BULK, iat=now, exp=now + 180)}"}
    if content_type is not None:
        headers["Content-Type"] = content_type
    with httpx.Client(base_url=server.url, timeout=5) as http:
        return http.post(BULK, content=body(deployment_data("ct", "e", number)), headers=headers)


@pytest.mark.parametrize("content_type", NOT_JSON.values(), ids=NOT_JSON.keys())
def test_a_body_not_sent_as_json_is_a_mistake(server: ThreadedServer, content_type: str | None) -> None:
    answer = post(server, content_type, 1)
    assert answer.headers["X-Emulator-Findings"] == "content-type-not-json"
    if server.settings.strict:
        assert answer.status_code == 415
        (message,) = answer.json()
        assert message["message"].startswith("Contract rule 'content-type-not-json' (strict mode)")
    else:
        assert answer.status_code == 202 and answer.json()["acceptedDeployments"]


@pytest.mark.parametrize("content_type", JSON.values(), ids=JSON.keys())
def test_json_with_parameters_or_a_json_suffix_is_json(server: ThreadedServer, content_type: str) -> None:
    answer = post(server, content_type, 2)
    assert answer.status_code == 202 and "X-Emulator-Findings" not in answer.headers
