"""Issue 9: the dashboard at /_emulator/ui, in a real headless Chromium against a real server.

Deployments go in through the Jira API, signed and over real HTTP; what the page shows is checked in
the page, and what its buttons do is checked through the API. The browser and the server are
``conftest.py``'s; without Chromium the directory is skipped.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import httpx
import jwt
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import Select

from emulator.config import Settings
from emulator.server import ThreadedServer
from tests.factories import deployment_data
from tests.helpers import JSON_TYPE, SITES, auth, body, key_path
from tests.ui.browser import (
    BUILDS_BULK,
    BULK,
    MAIN,
    NOTHING_INJECTED,
    build_data,
    console_errors,
    injected,
    submit,
    submit_builds,
    wait,
)

pytestmark = pytest.mark.e2e


# ---- helpers ------------------------------------------------------------------------------------------


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


def test_the_journal_shows_each_calls_family_and_its_headers_with_the_token_decoded(
    page: WebDriver, http: httpx.Client
) -> None:
    submit(http, deployment_data("journaled", "prod", 1))
    signed = auth("POST", BUILDS_BULK)
    token = signed["Authorization"].removeprefix("JWT ")
    cookie = "session=cookie-secret-0123"
    submit_builds(http, build_data("journaled", 1), headers={"Cookie": cookie, **signed})

    def families() -> list[str]:
        return page.execute_script(  # type: ignore[no-any-return]
            "return [...document.querySelectorAll('#journal-rows tr.entry .family')].map(b => b.textContent)"
        )

    wait(page, lambda: families() == ["builds", "deployments"], what="both calls with their family")
    Select(page.find_element(By.ID, "f-family")).select_by_value("builds")
    wait(page, lambda: families() == ["builds"], what="the builds call only")
    assert all(
        e["family"] == "builds" for e in http.get("/_emulator/journal", params={"family": "builds"}).json()["entries"]
    )

    page.find_element(By.CSS_SELECTOR, "#journal-rows tr.entry").click()
    block = wait(page, lambda: page.find_element(By.CSS_SELECTOR, "#journal-rows .request-headers"), what="headers")
    shown = page.execute_script(
        """
        const block = arguments[0];
        return {
          headers: Object.fromEntries([...block.querySelectorAll('tr[data-header]')]
            .map(tr => [tr.dataset.header, tr.querySelector('.header-value').firstChild.textContent])),
          claims: Object.fromEntries([...block.querySelectorAll('.claims tr')]
            .map(tr => [tr.dataset.claim, tr.querySelector('td code').textContent])),
          exp: block.querySelector('.claims tr[data-claim="exp"] td').textContent,
        };
        """,
        block,
    )
    claims = jwt.decode(token, options={"verify_signature": False})
    assert shown["claims"] == {name: str(value) for name, value in claims.items()}  # iss, qsh, iat, exp...
    assert {"iss", "qsh", "exp"} <= set(shown["claims"]) and shown["claims"]["iss"] == "full-app"
    when = datetime.fromtimestamp(claims["exp"], UTC).strftime("%Y-%m-%dT%H:%M:%S")
    assert when in shown["exp"]  # the expiry as a time too
    assert shown["headers"]["host"] == "jira.test" and shown["headers"]["content-type"] == "application/json"
    assert shown["headers"]["cookie"] == f"(not kept: {len(cookie)} characters)"
    # never the signature nor a secret: not in the page, not in anything it was given
    signature = token.rsplit(".", 1)[1]
    assert signature not in page.page_source and "cookie-secret" not in page.page_source
    assert console_errors(page) == []


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
    assert injected(page) == NOTHING_INJECTED

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
