"""Issue 9: the dashboard at /_emulator/ui, in a real headless Chromium against a real server.

Debian's ``chromium`` and ``chromium-driver`` (``.ci/install-browser``) driven by Selenium, pointed at
``/usr/bin/chromedriver`` so that nothing is ever downloaded. Without them the module is skipped.
Deployments go in through the Jira API, signed and over real HTTP; what the page shows is checked in
the page, and what its buttons do is checked through the API.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

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
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402
from selenium.webdriver.remote.webelement import WebElement  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402
from starlette.applications import Starlette  # noqa: E402
from starlette.routing import Route  # noqa: E402

from emulator.config import Settings  # noqa: E402
from emulator.control.ui import ui_asset, ui_page  # noqa: E402
from emulator.server import ThreadedServer  # noqa: E402
from tests.factories import deployment_data  # noqa: E402
from tests.helpers import BASE, JSON_TYPE, SITES, auth, body, key_path  # noqa: E402

pytestmark = pytest.mark.e2e

BULK = f"{BASE}/bulk"
MAIN = {"Host": "jira.test"}  # the "main" site of tests/data/sites.json
PROVIDER = "connect:full-app"
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
T = TypeVar("T")


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


@pytest.fixture(scope="module")
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


# ---- helpers ------------------------------------------------------------------------------------------


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


def submit(http: httpx.Client, *deployments: dict[str, Any], **top: Any) -> httpx.Response:
    r = http.post(BULK, content=body(*deployments, **top), headers={**MAIN, **auth("POST", BULK)})
    assert r.status_code == 202, r.text
    return r


def pipelines(driver: WebDriver) -> list[dict[str, Any]]:
    """What the deployments panel shows, card by card, as plain text."""
    return driver.execute_script(  # type: ignore[no-any-return]
        """
        return [...document.querySelectorAll('#deployments-body .pipeline')].map(card => ({
          name: card.querySelector('.pipeline-name').textContent,
          id: card.querySelector('.pipeline-head code').textContent,
          environments: [...card.querySelectorAll('tbody.env')].map(env => ({
            name: env.querySelector('.env-name').textContent,
            type: env.querySelector('.envtype').textContent,
            rows: [...env.querySelectorAll('tr:not(.more)')].map(row => ({
              number: row.querySelector('td.c-num').textContent,
              state: row.querySelector('.state').textContent,
              store: row.querySelector('.store').textContent,
              associations: [...row.querySelectorAll('.assoc')].map(a => a.textContent),
              gate: (row.querySelector('.gate') || {}).textContent || null,
            })),
          })),
        }));
        """
    )


def gate_card(driver: WebDriver, pipeline: str, environment: str, number: int) -> WebElement | None:
    for card in driver.find_elements(By.CSS_SELECTOR, "#gating-body .gate-card"):
        pipe = card.find_element(By.CSS_SELECTOR, ".gate-pipe").text
        env = card.find_element(By.CSS_SELECTOR, ".gate-env").text
        if (
            pipe == pipeline
            and env == environment
            and card.find_element(By.CSS_SELECTOR, ".gate-key").text.endswith(f"#{number}")
        ):
            return card
    return None


def journal_row(driver: WebDriver, status: int) -> WebElement | None:
    for row in driver.find_elements(By.CSS_SELECTOR, "#journal-rows tr.entry"):
        if row.find_element(By.CSS_SELECTOR, ".c-status").text == str(status):
            return row
    return None


def console_errors(driver: WebDriver) -> list[dict[str, Any]]:
    return [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def gating_status(http: httpx.Client, pipeline: str, environment: str, number: int) -> str:
    path = key_path(pipeline, environment, number) + "/gating-status"
    r = http.get(path, headers={**MAIN, **auth("GET", path)})
    assert r.status_code == 200, r.text
    return r.json()["gatingStatus"]  # type: ignore[no-any-return]


# ---- the page itself ------------------------------------------------------------------------------


def test_the_page_and_its_files_are_served_with_a_strict_policy(server: ThreadedServer) -> None:
    with httpx.Client(base_url=server.url, timeout=5) as client:
        page = client.get("/_emulator/ui")
        script = client.get("/_emulator/ui/ui.js")
        style = client.get("/_emulator/ui/ui.css")
        missing = client.get("/_emulator/ui/..%2Fui.py")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "script-src 'self'" in policy and "unsafe" not in policy
    assert page.headers["x-content-type-options"] == "nosniff"
    assert script.headers["content-type"].startswith("text/javascript") and "fetch(" in script.text
    assert style.headers["content-type"].startswith("text/css") and script.headers["content-security-policy"] == policy
    assert missing.status_code == 404
    # nothing from the internet: no absolute URL in the page or the stylesheet, no @import, no url()
    assert (
        "http" not in page.text.replace("http-equiv", "") and "url(" not in style.text and "@import" not in style.text
    )


def test_the_header_names_the_version_and_the_sites(page: WebDriver, http: httpx.Client) -> None:
    ready = http.get("/_emulator/ready").json()
    assert page.find_element(By.ID, "version").text == f"v{ready['version']}"
    names = [el.text for el in page.find_elements(By.CSS_SELECTOR, "#sites .site-name")]
    assert names == [site["name"] for site in ready["sites"]] == ["main", "ctx"]
    assert console_errors(page) == []  # the policy blocked nothing the page needs
    # the page's own requests never reach the Jira surface (no /favicon.ico 404 in the journal)
    assert http.get("/_emulator/journal").json()["entries"] == []


# ---- deployments ----------------------------------------------------------------------------------


def test_submitted_deployments_appear_grouped_without_a_reload(page: WebDriver, http: httpx.Client) -> None:
    http.post("/_emulator/queue/pause", headers=JSON_TYPE)
    submit(
        http,
        deployment_data("web", "prod", 2, env_type="production", state="in_progress"),
        deployment_data(
            "web",
            "staging",
            3,
            env_type="staging",
            associations=[{"associationType": "issueIdOrKeys", "values": ["ABC-7", "OPS-3"]}],
        ),
        deployment_data("web", "staging", 2, env_type="staging", state="failed"),
        deployment_data("api", "dev", 9, env_type="development"),
    )
    # accepted, not applied: pending, already grouped
    shown = wait(page, lambda: [p for p in pipelines(page) if p["id"] == "web"], what="the web pipeline")
    assert {row["store"] for env in shown[0]["environments"] for row in env["rows"]} == {"pending"}

    http.post("/_emulator/queue/flush", headers=JSON_TYPE)

    def applied() -> list[dict[str, Any]] | None:
        cards = pipelines(page)
        stores = {row["store"] for card in cards for env in card["environments"] for row in env["rows"]}
        return cards if stores == {"applied"} and len(cards) == 2 else None

    cards = wait(page, applied, what="the deployments to apply")
    assert [card["id"] for card in cards] == ["api", "web"]
    web = cards[1]
    # environments in Jira's order of types, deployments newest first, with their state and associations
    assert [(env["name"], env["type"]) for env in web["environments"]] == [
        ("staging", "staging"),
        ("prod", "production"),
    ]
    staging = web["environments"][0]["rows"]
    assert [(row["number"], row["state"]) for row in staging] == [("3", "Successful"), ("2", "Failed")]
    assert staging[0]["associations"] == ["ABC-7", "OPS-3"]
    assert web["environments"][1]["rows"][0]["state"] == "In progress"
    assert page.find_element(By.ID, "n-deployments").text == "4"
    assert page.execute_script("return window.__sameDocument") == "yes"  # live, not reloaded
    assert console_errors(page) == []


# ---- gating ---------------------------------------------------------------------------------------


def test_prevent_a_gated_deployment_with_its_button(page: WebDriver, http: httpx.Client) -> None:
    http.post("/_emulator/queue/pause", headers=JSON_TYPE)
    submit(http, deployment_data("web", "prod", 5, env_type="production", gating=True))
    card = wait(page, lambda: gate_card(page, "web", "prod", 5), what="the gated deployment")
    assert "not applied yet" in card.text.lower()  # still in the queue: nothing to decide

    page.find_element(By.ID, "queue-flush").click()
    wait(
        page,
        lambda: (c := gate_card(page, "web", "prod", 5)) is not None and "awaiting" in c.text.lower(),
        what="awaiting",
    )
    assert gating_status(http, "web", "prod", 5) == "awaiting"

    gate_card(page, "web", "prod", 5).find_element(By.CSS_SELECTOR, "button[data-decision='prevented']").click()  # type: ignore[union-attr]
    wait(
        page,
        lambda: (
            (c := gate_card(page, "web", "prod", 5)) is not None
            and c.find_element(By.CSS_SELECTOR, ".badge").text == "PREVENTED"
        ),
    )

    assert gating_status(http, "web", "prod", 5) == "prevented"
    stored = http.get("/_emulator/state", params={"pipeline": "web", "environment": "prod"}).json()["deployments"]
    assert [d["gating"]["gatingStatus"] for d in stored] == ["prevented"]
    # the deployments view shows the decision too
    wait(
        page,
        lambda: any(
            row["gate"] == "gate prevented" for p in pipelines(page) for e in p["environments"] for row in e["rows"]
        ),
    )


# ---- the journal ------------------------------------------------------------------------------------


def test_a_refused_call_is_highlighted_with_its_reason_and_bodies(page: WebDriver, http: httpx.Client) -> None:
    refused = http.post(BULK, content=body(deployment_data()), headers={**MAIN, **auth("POST", BULK, secret="x" * 40)})
    assert refused.status_code == 401
    finding = deployment_data("journaled", "prod", 1, issue_keys=["ABC-1"])  # the deprecated issueKeys field
    submit(http, finding)

    row = wait(page, lambda: journal_row(page, 401), what="the 401 in the journal")
    assert "entry-refused" in row.get_attribute("class")
    reason = row.find_element(By.CSS_SELECTOR, ".reason").text
    assert reason == http.get("/_emulator/journal", params={"status": "401"}).json()["entries"][0]["reason"]
    assert "signature" in reason
    assert page.find_element(By.ID, "n-journal").text == "1 refused"

    row.click()
    detail = row.find_element(By.XPATH, "following-sibling::tr[1]")
    response_body = wait(
        page,
        lambda: detail.is_displayed() and detail.find_element(By.CSS_SELECTOR, ".response-body pre"),
        what="the bodies",
    )
    assert "Refused:" in detail.text and reason in detail.text
    assert "Missing a JWT token, or token is invalid." in response_body.text

    # a call with a contract finding: highlighted, the finding named, the request body on click
    ok = wait(page, lambda: journal_row(page, 202), what="the 202 in the journal")
    assert "entry-findings" in ok.get_attribute("class") and "entry-refused" not in ok.get_attribute("class")
    assert "deprecated-issue-keys" in [chip.text for chip in ok.find_elements(By.CSS_SELECTOR, ".finding")]
    ok.click()
    request_body = wait(
        page,
        lambda: ok.find_element(By.XPATH, "following-sibling::tr[1]").find_element(
            By.CSS_SELECTOR, ".request-body pre"
        ),
    )
    assert '"id": "journaled"' in request_body.text and '"issueKeys"' in request_body.text  # pretty-printed
    report = http.get("/_emulator/contract-report").json()["providers"]
    total = sum(f["count"] for group in report for f in group["findings"])
    wait(page, lambda: page.find_element(By.ID, "n-contract").text == str(total), what="the contract findings count")
    assert "deprecated-issue-keys" in page.find_element(By.ID, "contract-body").text


# ---- queue and faults ---------------------------------------------------------------------------


def test_queue_buttons_pause_resume_and_flush(page: WebDriver, http: httpx.Client) -> None:
    button = page.find_element(By.ID, "queue-pause")
    assert button.text == "Pause"
    button.click()
    wait(page, lambda: http.get("/_emulator/queue").json()["paused"] is True, what="the queue to pause")
    wait(page, lambda: page.find_element(By.ID, "queue-pause").text == "Resume")

    submit(http, deployment_data("q", "e", 1))
    wait(page, lambda: "q / e #1" in page.find_element(By.ID, "queue-body").text, what="the pending write")
    page.find_element(By.ID, "queue-flush").click()
    wait(page, lambda: http.get("/_emulator/queue").json()["pending"] == [], what="the flush")
    assert http.get("/_emulator/queue").json()["paused"] is True  # a flush does not resume

    page.find_element(By.ID, "queue-pause").click()
    wait(page, lambda: http.get("/_emulator/queue").json()["paused"] is False, what="the queue to resume")


def test_clear_fault_rules_with_the_button(page: WebDriver, http: httpx.Client) -> None:
    rule = http.post("/_emulator/faults", json={"operation": "submitDeployments", "status": 429, "times": 2}).json()
    http.post("/_emulator/faults", json={"provider": "oauth:ci-bot", "latencyMs": 50})
    wait(page, lambda: rule["id"] in page.find_element(By.ID, "faults-body").text, what="the fault rules")
    assert "status 429" in page.find_element(By.ID, "faults-body").text
    assert page.find_element(By.ID, "n-faults").text == "2"

    page.find_element(By.ID, "faults-clear").click()
    wait(page, lambda: http.get("/_emulator/faults").json()["rules"] == [], what="the rules to go")
    wait(page, lambda: "No fault rules" in page.find_element(By.ID, "faults-body").text)
    assert not page.find_element(By.ID, "faults-clear").is_enabled()


# ---- escaping -----------------------------------------------------------------------------------


def test_ids_and_names_render_as_text_never_as_html(page: WebDriver, http: httpx.Client) -> None:
    pipeline = "<img src=x onerror=alert(1)>"
    environment = "\"'><script>window.__xss = 1</script>"
    name = 'Zürich ✓ <b>"déploiement"</b> 🚀'
    data = deployment_data(pipeline, environment, 1, env_type="production", gating=True, displayName=name)
    data["pipeline"]["displayName"] = pipeline
    data["environment"]["displayName"] = environment
    data["url"] = "javascript:alert(2)"
    submit(http, data)
    http.post("/_emulator/queue/flush", headers=JSON_TYPE)

    card = wait(
        page, lambda: next((p for p in pipelines(page) if p["id"] == pipeline), None), what="the hostile pipeline"
    )
    assert card["name"] == pipeline and card["environments"][0]["name"] == environment
    assert name in page.find_element(By.ID, "deployments-body").text
    dom = page.execute_script(
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
    assert dom == {"imgs": 0, "scripts": 1, "bold": 0, "xss": None, "jsLinks": 0}

    # the ids go back to the control surface intact: allow it from the page
    gate = wait(page, lambda: gate_card(page, pipeline, environment, 1), what="the hostile gate")
    gate.find_element(By.CSS_SELECTOR, "button[data-decision='allowed']").click()
    wait(page, lambda: http.get("/_emulator/state").json()["deployments"][0]["gating"]["gatingStatus"] == "allowed")
    assert console_errors(page) == []


def test_live_updates_pause_and_resume(page: WebDriver, http: httpx.Client) -> None:
    page.find_element(By.ID, "live-toggle").click()
    wait(page, lambda: page.find_element(By.ID, "conn").text == "updates paused")
    submit(http, deployment_data("quiet", "e", 1))
    time.sleep(1.5)  # more than one polling period
    assert pipelines(page) == []  # a person reading the page is not disturbed

    page.find_element(By.ID, "live-toggle").click()
    wait(page, lambda: page.find_element(By.ID, "conn").text == "live")
    wait(page, lambda: [p["id"] for p in pipelines(page)] == ["quiet"], what="the update after resuming")


# ---- with a control token (issue 21) ------------------------------------------------------------------

CONTROL_TOKEN = "ui-control-token-0123"


def test_with_a_control_token_the_dashboard_takes_it_from_its_url(browser: WebDriver) -> None:
    locked = ThreadedServer(Settings(port=0, fixtures=SITES, control_token=CONTROL_TOKEN, apply_delay=30))
    with locked, httpx.Client(base_url=locked.url, timeout=5) as http:
        browser.get(f"{locked.url}/_emulator/ui")  # without the token: the page says how to give it
        wait(browser, lambda: "#token=" in browser.find_element(By.ID, "banner").text, what="the token hint")
        assert browser.find_element(By.ID, "conn").text == "unreachable"

        browser.get(f"{locked.url}/_emulator/ui#token={CONTROL_TOKEN}")
        wait(browser, lambda: browser.find_element(By.ID, "conn").text == "live", what="the page to read")
        assert "token" not in browser.current_url  # out of the address bar (and of the history)
        browser.get_log("browser")  # the refused reads before the token are logged: start afresh
        submit(http, deployment_data("locked", "e", 1))
        wait(browser, lambda: "locked / e #1" in browser.find_element(By.ID, "queue-body").text, what="the write")
        browser.find_element(By.ID, "queue-flush").click()  # a POST, with the token and JSON's content type
        token = {"X-Emulator-Control-Token": CONTROL_TOKEN}
        wait(browser, lambda: http.get("/_emulator/queue", headers=token).json()["pending"] == [], what="the flush")
        browser.refresh()  # the token stays for the tab's session
        wait(browser, lambda: browser.find_element(By.ID, "conn").text == "live", what="the page to read again")
        assert console_errors(browser) == []
