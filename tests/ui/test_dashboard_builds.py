"""The dashboard's Builds view, its tabs beside the Deployments view, the filters of both, and what a build's
fields and a call's request headers become in the page (text, never HTML), in a real headless Chromium.

Builds go in through the Builds API over real HTTP, signed with Connect JWTs (atlassian-jwt, not our code)
or an OAuth 2.0 access token from the emulator's token endpoint; the browser and the server are conftest's.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import jwt
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import Select

from tests.factories import deployment_data
from tests.helpers import CLIENT_SECRETS, JSON_TYPE, MAIN_CLOUD, auth
from tests.ui.browser import (
    BUILDS_BULK,
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

CTX_SECRET = "ctx-secret-0123456789abcdef0123456789"  # full-app on the "ctx" site of tests/data/sites.json
HOSTILE = "<img src=x onerror=window.__xss=1>"


def builds_shown(driver: WebDriver) -> list[dict[str, Any]]:
    """What the builds panel shows, card by card, as plain text."""
    return driver.execute_script(  # type: ignore[no-any-return]
        """
        return [...document.querySelectorAll('#builds-body .pipeline')].map(card => ({
          site: card.closest('.site-group').querySelector('.site-head code').textContent,
          provider: card.closest('.provider').querySelector('.provider-head code').textContent,
          pipeline: card.querySelector('.pipeline-name').textContent,
          more: (card.querySelector('tr.more button') || {}).textContent || null,
          builds: [...card.querySelectorAll('tr.build')].map(row => ({
            number: row.querySelector('td.c-num').textContent,
            name: row.cells[1].firstChild.textContent,
            label: (row.querySelector('.build-label') || {}).textContent || null,
            state: row.querySelector('.state').textContent,
            tests: (row.querySelector('.tests-text') || row.querySelector('.c-tests')).textContent,
            references: [...row.querySelectorAll('.c-refs .assoc')].map(a => [a.textContent, a.title]),
            issues: [...row.querySelectorAll('.c-assoc .assoc')].map(a => [a.textContent, a.className]),
            updated: (row.querySelector('time') || {}).dateTime || null,
            store: [...row.querySelectorAll('.store')].map(badge => badge.textContent).join(' + '),
          })),
        }));
        """
    )


def deployment_pipelines(driver: WebDriver) -> list[str]:
    return driver.execute_script(  # type: ignore[no-any-return]
        "return [...document.querySelectorAll('#deployments-body .pipeline-head code')].map(c => c.textContent)"
    )


def shown_view(driver: WebDriver) -> str | None:
    """The view whose panel shows, if exactly one does and its tab says so."""
    shown = [name for name in ("deployments", "builds") if driver.find_element(By.ID, name).is_displayed()]
    selected = [
        name
        for name in ("deployments", "builds")
        if driver.find_element(By.ID, f"tab-{name}").get_attribute("aria-selected") == "true"
    ]
    return shown[0] if len(shown) == 1 and shown == selected else None


def stored_builds(http: httpx.Client, **filters: str) -> list[dict[str, Any]]:
    return http.get("/_emulator/state", params={"family": "builds", **filters}).json()["builds"]  # type: ignore[no-any-return]


def test_builds_appear_by_pipeline_newest_first_with_tests_references_and_issues(
    page: WebDriver, http: httpx.Client
) -> None:
    http.post("/_emulator/queue/pause", headers=JSON_TYPE)
    commit = "abcdef1234567890abcdef1234567890abcdef12"
    references = [
        {
            "commit": {"id": commit, "repositoryUri": "https://git.example.com/web"},
            "ref": {"name": "main", "uri": "https://git.example.com/web/tree/main"},
        }
    ]
    tests = {"totalNumber": 10, "numberPassed": 7, "numberFailed": 2, "numberSkipped": 1}
    # an updateSequenceNumber past 2^53: the page's JSON of the build writes it as the number it is
    newest = build_data("web", 7, state="failed", testInfo=tests, references=references, updateSequenceNumber=2**53 + 1)
    deprecated = build_data("web", 6, issueKeys=["OPS-3"])  # the deprecated field, alone
    del deprecated["associations"]
    submit_builds(
        http,
        *(build_data("web", n) for n in range(1, 6)),
        newest,
        deprecated,
        build_data("api", 3, label="nightly", state="in_progress"),
        properties={"repo": "web"},
    )
    page.find_element(By.ID, "tab-builds").click()
    wait(page, lambda: shown_view(page) == "builds", what="the builds view")
    # accepted, not applied: pending, already grouped
    cards = wait(page, lambda: builds_shown(page), what="the pending builds")
    assert {b["store"] for card in cards for b in card["builds"]} == {"pending"}
    queue = wait(page, lambda: (text := page.find_element(By.ID, "queue-body").text) and "web #7" in text and text)
    assert "BUILDS" in queue.upper()  # the family of each pending write

    http.post("/_emulator/queue/flush", headers=JSON_TYPE)
    cards = wait(
        page,
        lambda: (
            (shown := builds_shown(page)) and {b["store"] for c in shown for b in c["builds"]} == {"applied"} and shown
        ),
        what="the builds to apply",
    )
    assert [(card["site"], card["provider"], card["pipeline"]) for card in cards] == [
        ("main", "full-app", "api"),
        ("main", "full-app", "web"),
    ]
    api, web = cards
    assert api["builds"][0] | {"updated": None} == {
        "number": "3",
        "name": "Build 3",
        "label": "nightly",
        "state": "In progress",
        "tests": "—",
        "references": [],
        "issues": [["ABC-1", "assoc assoc-issue"]],
        "updated": None,
        "store": "applied",
    }
    # newest first, five shown and the older ones behind a button
    assert [b["number"] for b in web["builds"]] == ["7", "6", "5", "4", "3"] and web["more"] == "show 2 older"
    seven, six = web["builds"][:2]
    assert seven["state"] == "Failed" and seven["tests"] == "7 passed · 2 failed · 1 skipped of 10"
    assert seven["references"] == [
        [commit[:7], f"commit {commit} in https://git.example.com/web"],
        ["main", "ref main · https://git.example.com/web/tree/main"],
    ]
    assert seven["updated"] == "2026-11-01T10:00:00Z"
    assert six["issues"] == [["OPS-3", "assoc assoc-issue deprecated"]]  # struck through, as for deployments
    assert [page.find_element(By.ID, f"{where}-builds").text for where in ("n", "t")] == ["8", "8"]

    page.find_element(By.CSS_SELECTOR, "#builds-body tr.more button").click()
    wait(page, lambda: [b["number"] for b in builds_shown(page)[1]["builds"]] == [str(n) for n in range(7, 0, -1)])

    # a build's detail: what the emulator stores, exactly, and its properties
    row = next(r for r in page.find_elements(By.CSS_SELECTOR, "#builds-body tr.build") if r.text.startswith("7"))
    row.click()
    stored = wait(page, lambda: page.find_element(By.CSS_SELECTOR, "#builds-body .stored-json pre"), what="the JSON")
    expected = next(b for b in stored_builds(http, pipeline="web") if b["key"]["buildNumber"] == 7)
    assert json.loads(stored.get_attribute("textContent")) == expected["data"]
    assert expected["data"]["updateSequenceNumber"] == 2**53 + 1

    # a delete waiting in the queue is marked on the build it will remove, and on no other
    http.post("/_emulator/queue/pause", headers=JSON_TYPE)
    path = "/rest/builds/0.1/pipelines/web/builds/7"
    assert http.delete(path, headers={**MAIN, **auth("DELETE", path)}).status_code == 202
    wait(
        page,
        lambda: [b["store"] for b in builds_shown(page)[1]["builds"]][:2] == ["applied + delete pending", "applied"],
        what="the pending delete",
    )
    properties = page.find_element(By.CSS_SELECTOR, "#builds-body .stored-properties pre").get_attribute("textContent")
    assert json.loads(properties) == {"repo": "web"}
    assert page.execute_script("return window.__sameDocument") == "yes"  # live, not reloaded
    assert console_errors(page) == []


def test_the_tabs_switch_between_deployments_and_builds_and_the_choice_survives_a_reload(
    page: WebDriver, http: httpx.Client
) -> None:
    submit(http, deployment_data("shipit", "prod", 1))
    submit_builds(http, build_data("compile", 1))
    http.post("/_emulator/queue/flush", headers=JSON_TYPE)
    assert shown_view(page) == "deployments"
    wait(page, lambda: deployment_pipelines(page) == ["shipit"], what="the deployment")

    page.find_element(By.CSS_SELECTOR, ".tabs a[data-view='builds']").click()  # the link in the top bar
    wait(page, lambda: shown_view(page) == "builds", what="the builds view")
    assert page.current_url.endswith("#builds")
    assert "tab-on" in page.find_element(By.CSS_SELECTOR, ".tabs a[data-view='builds']").get_attribute("class")
    wait(page, lambda: [card["pipeline"] for card in builds_shown(page)] == ["compile"], what="the build")

    page.refresh()
    wait(page, lambda: page.find_element(By.ID, "conn").text == "live")
    wait(page, lambda: shown_view(page) == "builds" and builds_shown(page), what="builds after the reload")

    page.find_element(By.ID, "tab-builds").send_keys(Keys.ARROW_LEFT)  # a tab list: the arrows move
    wait(page, lambda: shown_view(page) == "deployments", what="the deployments view")
    assert page.switch_to.active_element.get_attribute("id") == "tab-deployments"
    assert deployment_pipelines(page) == ["shipit"] and page.current_url.endswith("#deployments")
    assert console_errors(page) == []


def test_the_site_provider_and_pipeline_filters_narrow_both_views(page: WebDriver, http: httpx.Client) -> None:
    submit(http, deployment_data("web", "prod", 1), deployment_data("api", "prod", 1))
    submit_builds(http, build_data("web", 1), build_data("api", 1))
    # the same pipeline from an OAuth 2.0 client through the gateway, and from the app on another site
    form = {"grant_type": "client_credentials", "client_id": "no-perm", "client_secret": CLIENT_SECRETS["no-perm"]}
    access = http.post("/oauth/token", data=form).json()["access_token"]
    gateway = f"/jira/builds/0.1/cloud/{MAIN_CLOUD}/bulk"
    sent = http.post(gateway, json={"builds": [build_data("web", 2)]}, headers={"Authorization": f"Bearer {access}"})
    assert sent.status_code == 202, sent.text
    ctx = {"Host": "corp.test", **auth("POST", BUILDS_BULK, secret=CTX_SECRET)}
    sent = http.post(f"/jira{BUILDS_BULK}", json={"builds": [build_data("web", 3)]}, headers=ctx)
    assert sent.status_code == 202, sent.text
    http.post("/_emulator/queue/flush", headers=JSON_TYPE)
    everything = [
        ("main", "full-app", "api"),
        ("main", "full-app", "web"),
        ("main", "no-perm", "web"),
        ("ctx", "full-app", "web"),
    ]

    def cards() -> list[tuple[str, str, str]]:
        return [(card["site"], card["provider"], card["pipeline"]) for card in builds_shown(page)]

    def choose(select: str, value: str) -> None:
        wait(
            page, lambda: value in [o.get_attribute("value") for o in Select(page.find_element(By.ID, select)).options]
        )
        Select(page.find_element(By.ID, select)).select_by_value(value)

    wait(page, lambda: sorted(deployment_pipelines(page)) == ["api", "web"], what="both deployment pipelines")
    choose("f-pipeline", "web")
    wait(page, lambda: deployment_pipelines(page) == ["web"], what="the deployments of web only")
    page.find_element(By.ID, "tab-builds").click()
    wait(page, lambda: sorted(cards()) == sorted(everything[1:]), what="the builds of web only")
    assert [b["number"] for card in builds_shown(page) for b in card["builds"]] == ["1", "2", "3"]  # sites in order

    choose("f-provider", "oauth:no-perm")
    wait(page, lambda: cards() == [("main", "no-perm", "web")], what="the OAuth client's builds")
    choose("f-provider", "")
    choose("f-site", "ctx")
    wait(page, lambda: cards() == [("ctx", "full-app", "web")], what="the ctx site's builds")
    choose("f-pipeline", "")
    choose("f-site", "")
    wait(page, lambda: sorted(cards()) == sorted(everything), what="every build again")
    assert page.find_element(By.ID, "n-builds").text == "4" and page.find_element(By.ID, "n-deployments").text == "2"
    assert console_errors(page) == []


def test_build_fields_and_request_headers_render_as_text_never_as_html(page: WebDriver, http: httpx.Client) -> None:
    hostile = build_data(
        HOSTILE,
        1,
        displayName='<b>"bold"</b> Zürich ✓',
        label=HOSTILE,
        description="\"'><script>window.__xss = 2</script>",
        url="javascript:alert(1)",
        references=[
            {
                "commit": {"id": HOSTILE, "repositoryUri": HOSTILE},
                "ref": {"name": HOSTILE, "uri": "javascript:alert(2)"},
            }
        ],
    )
    # a header value and a claim of a valid token, and the header and claims of a token signed with another key
    signed = auth("POST", BUILDS_BULK, sub=HOSTILE)
    submit_builds(http, hostile, properties={"note": HOSTILE}, headers={"X-Note": HOSTILE, **signed})
    forged = jwt.encode({"iss": "full-app", "qsh": HOSTILE}, "k" * 40, headers={"kid": HOSTILE})
    refused = http.post(BUILDS_BULK, json={"builds": [hostile]}, headers={**MAIN, "Authorization": f"JWT {forged}"})
    assert refused.status_code == 401
    http.post("/_emulator/queue/flush", headers=JSON_TYPE)

    page.find_element(By.ID, "tab-builds").click()
    card = wait(page, lambda: next((c for c in builds_shown(page) if c["pipeline"] == HOSTILE), None), what="it")
    build = card["builds"][0]
    assert build["name"] == '<b>"bold"</b> Zürich ✓' and build["label"] == HOSTILE
    assert build["references"] == [
        [HOSTILE[:7], f"commit {HOSTILE} in {HOSTILE}"],
        [HOSTILE, f"ref {HOSTILE} · javascript:alert(2)"],  # a name, not a link
    ]
    page.find_element(By.CSS_SELECTOR, "#builds-body tr.build").click()
    wait(page, lambda: HOSTILE in page.find_element(By.CSS_SELECTOR, "#builds-body .stored-properties pre").text)

    rows = wait(
        page, lambda: len(found := page.find_elements(By.CSS_SELECTOR, "#journal-rows tr.entry")) == 2 and found
    )
    for row in rows:
        row.click()
    headers = wait(page, lambda: len(found := page.find_elements(By.CSS_SELECTOR, ".request-headers")) == 2 and found)
    # the refused call's token (its kid and qsh), the accepted call's X-Note header and sub claim
    assert [block.text.count(HOSTILE) for block in headers] == [2, 2]
    assert injected(page) == NOTHING_INJECTED
    claims = page.execute_script("return [...document.querySelectorAll('.claims tr')].map(tr => tr.dataset.claim)")
    assert {"sub", "qsh"} <= set(claims)
    assert console_errors(page) == []
