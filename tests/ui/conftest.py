"""The dashboard's browser tests: a real headless Chromium against a real server on a free port.

Debian's ``chromium`` and ``chromium-driver`` (``.ci/install-browser``) driven by Selenium, pointed at
``/usr/bin/chromedriver`` so that nothing is ever downloaded. Without them every test here is skipped.
One browser serves every module; each module has its own server.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"

if not (os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)):
    pytest.skip(
        f"the dashboard tests need Debian's chromium and chromium-driver ({CHROMIUM}, {CHROMEDRIVER}); "
        "install them with .ci/install-browser",
        allow_module_level=True,
    )
webdriver = pytest.importorskip("selenium.webdriver", reason="the dashboard tests need selenium (pip install selenium)")

import httpx  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402
from starlette.applications import Starlette  # noqa: E402
from starlette.routing import Route  # noqa: E402

from emulator.config import Settings  # noqa: E402
from emulator.control.ui import ui_asset, ui_page  # noqa: E402
from emulator.server import ThreadedServer  # noqa: E402
from tests.helpers import JSON_TYPE, SITES  # noqa: E402
from tests.ui.browser import wait  # noqa: E402

CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1400,1000",
)


def with_ui_routes(app: Starlette) -> Starlette:
    """The dashboard's routes, in front of the catch-all Jira route, unless the app has them already."""
    if not any(getattr(route, "path", None) == "/_emulator/ui" for route in app.router.routes):
        app.router.routes[0:0] = [
            Route("/_emulator/ui", ui_page, methods=["GET"]),
            Route("/_emulator/ui/{name}", ui_asset, methods=["GET"]),
        ]
    return app


@pytest.fixture(scope="module")
def server() -> Iterator[ThreadedServer]:
    running = ThreadedServer(Settings(port=0, fixtures=SITES, apply_delay=0.2, journal_size=200))
    with_ui_routes(running.app)
    with running:
        yield running


@pytest.fixture(scope="session")
def browser() -> Iterator[WebDriver]:
    profile = tempfile.mkdtemp(prefix="emulator-ui-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # an explicit driver path: Selenium Manager (which would download a driver) never runs
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(10)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def http(server: ThreadedServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=5) as client:
        client.post("/_emulator/reset", headers=JSON_TYPE)
        client.put("/_emulator/queue/config", json={"applyDelay": 0.2, "jitter": 0, "outOfOrder": False})
        client.post("/_emulator/queue/resume", headers=JSON_TYPE)
        yield client


@pytest.fixture
def page(browser: WebDriver, server: ThreadedServer, http: httpx.Client) -> WebDriver:
    """The dashboard, loaded and showing live data; a marker on ``window`` proves it is never reloaded."""
    browser.get(f"{server.url}/_emulator/ui")
    wait(browser, lambda: browser.find_element(By.ID, "conn").text == "live")
    browser.execute_script("window.__sameDocument = 'yes'")
    browser.get_log("browser")  # start each test with an empty console
    return browser
