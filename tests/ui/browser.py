"""What the dashboard's tests share: waiting on the page, its console, and writes through the signed Jira API."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

import httpx
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from tests.helpers import BASE, JSON_TYPE, auth, body

BULK = f"{BASE}/bulk"
BUILDS_BULK = "/rest/builds/0.1/bulk"
MAIN = {"Host": "jira.test"}  # the "main" site of tests/data/sites.json
T = TypeVar("T")


def wait(driver: WebDriver, check: Callable[[], T], timeout: float = 6.0, what: str = "") -> T:
    """``check()`` once it is truthy; stale elements (the page redrew) just mean "not yet"."""

    def attempt(_: Any) -> T | bool:
        try:
            return check() or False
        except StaleElementReferenceException:
            return False

    try:
        return WebDriverWait(driver, timeout, poll_frequency=0.05).until(attempt)  # type: ignore[no-any-return]
    except TimeoutException:
        raise AssertionError(f"timed out waiting for {what or check}") from None


def console_errors(driver: WebDriver) -> list[dict[str, Any]]:
    return [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def submit(http: httpx.Client, *deployments: dict[str, Any], **top: Any) -> httpx.Response:
    r = http.post(BULK, content=body(*deployments, **top), headers={**MAIN, **auth("POST", BULK)})
    assert r.status_code == 202, r.text
    return r


def build_data(pipeline: str = "web", number: int = 1, **changes: Any) -> dict[str, Any]:
    """One build as a client sends it (builds-api.md section 2.1); ``changes`` replace or add fields."""
    data: dict[str, Any] = {
        "pipelineId": pipeline,
        "buildNumber": number,
        "updateSequenceNumber": 1,
        "displayName": f"Build {number}",
        "url": f"https://ci.example.com/{pipeline}/{number}",
        "state": "successful",
        "lastUpdated": "2026-11-01T10:00:00Z",
        "associations": [{"associationType": "issueIdOrKeys", "values": ["ABC-1"]}],
    }
    return data | changes


def submit_builds(
    http: httpx.Client, *builds: dict[str, Any], headers: dict[str, str] | None = None, **top: Any
) -> httpx.Response:
    """POST /rest/builds/0.1/bulk on the main site, signed by the full-app Connect app; all accepted."""
    sent = json.dumps({"builds": list(builds), **top}).encode()
    signed = {**MAIN, **JSON_TYPE, **auth("POST", BUILDS_BULK), **(headers or {})}
    r = http.post(BUILDS_BULK, content=sent, headers=signed)
    assert r.status_code == 202 and r.json()["rejectedBuilds"] == [], r.text
    return r


def injected(driver: WebDriver) -> dict[str, Any]:
    """What data rendered as HTML would have left in the page: elements, a script's mark, links that are no URL."""
    return driver.execute_script(  # type: ignore[no-any-return]
        """
        return {
          imgs: document.images.length,
          scripts: document.scripts.length,
          bold: document.querySelectorAll('main b').length,
          xss: window.__xss === undefined ? null : window.__xss,
          jsLinks: [...document.querySelectorAll('main a[href]')]
            .filter(a => !/^https?:/.test(a.getAttribute('href'))).length,
        };
        """
    )


NOTHING_INJECTED = {"imgs": 0, "scripts": 1, "bold": 0, "xss": None, "jsLinks": 0}
