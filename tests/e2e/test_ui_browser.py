"""The /ui pages in a real browser (Debian's chromium through Playwright) against a real
``provledger serve`` whose ledger was filled through Kafka with the demo story.

Set PROVLEDGER_UPDATE_SCREENSHOT=1 to refresh docs/incident-page.png from the run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlparse

import httpx
import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, expect, sync_playwright

from provenance_ledger.ledger.settings import Settings
from provenance_ledger.producers.demo import DEMO_INCIDENT, IMPACT, SOURCE, demo_events
from provenance_ledger.producers.emitter import Emitter
from provenance_ledger.producers.envelope import build_event
from provenance_ledger.query.ui import views
from tests.support.servers import server_env
from tests.support.waiting import wait_until

SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "incident-page.png"
INCIDENT = f"/ui/incidents/{DEMO_INCIDENT}"
# Besides the demo: an earlier checkout release and an agent's scaling in the window (so
# there is a second suspect to confirm), and the rollback of the culprit during the impact.
EXTRA = [
    (
        "service.deployed",
        {"service": "checkout", "environment": "prod", "version": "2026.11.20-0"},
        "dep-checkout-prod-early",
        IMPACT - timedelta(hours=5),
    ),
    (
        "agent.action",
        {
            "agent": {"tool": "claude-code", "session": "ops-7"},
            "action": "scale",
            "target": {"service": "checkout", "environment": "prod"},
            "destructive": False,
        },
        "act-scale",
        IMPACT - timedelta(minutes=50),
    ),
    (
        "service.rolledback",
        {
            "service": "checkout",
            "environment": "prod",
            "from_version": "2026.11.20-1",
            "to_version": "2026.11.20-0",
            "reason": "card payments failing",
        },
        "rb-checkout",
        IMPACT + timedelta(minutes=12),
    ),
]


def chromium_path() -> str:
    found = shutil.which("chromium")
    if found is None:  # CI installs it (.ci/run); a missing browser fails, never skips
        pytest.fail("chromium is not installed: apt-get install -y chromium")
    return found


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        # --no-sandbox: CI runs as root, where chromium's sandbox refuses to start.
        launched = playwright.chromium.launch(
            executable_path=chromium_path(), args=["--no-sandbox"]
        )
        yield launched
        launched.close()


def load_story(settings: Settings) -> int:
    story = [*demo_events(), *EXTRA]
    with Emitter(settings.kafka_bootstrap, settings.topic) as emitter:
        for event_type, data, event_id, at in story:
            emitter.send(build_event(event_type, data, SOURCE, event_id=event_id, time=at))
    return len(story)


def new_page(browser: Browser, width: int = 1280, height: int = 800) -> Page:
    page = browser.new_context(viewport={"width": width, "height": height}).new_page()
    # A script or style the pages' Content-Security-Policy blocks, a missing asset or a
    # script error shows up here; assert_accessible checks that there was none.
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.console_errors = errors  # type: ignore[attr-defined]
    return page


def assert_accessible(page: Page) -> None:
    results = Axe().run(page)
    bad = [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert not bad, f"{page.url}: {bad}"
    assert page.console_errors == [], page.console_errors  # type: ignore[attr-defined]


def suspect_ids(page: Page) -> list[str]:
    return page.locator("#suspects li.suspect").evaluate_all(
        "items => items.map(item => item.dataset.eventId)"
    )


def test_a_responder_reads_the_incident_confirms_a_suspect_and_checks_the_metrics(
    start_server, settings, browser, tmp_path
):
    server = start_server({"PROVLEDGER_TOKENS_FILE": str(tmp_path / "no-tokens.json")})
    server.wait_for_events(load_story(settings))
    api = server.get(f"/v1/incidents/{DEMO_INCIDENT}/suspects").json()["suspects"]
    page = new_page(browser)

    # The list: the open demo incident with its top suspect.
    page.goto(f"{server.url}/ui/")
    row = page.locator("table.incidents tbody tr", has_text=DEMO_INCIDENT)
    expect(row).to_contain_text("dep-checkout-prod")
    expect(row).to_contain_text("open")
    assert_accessible(page)

    # The incident: the culprit first, with the API's reasons in words.
    row.get_by_role("link", name=DEMO_INCIDENT).click()
    expect(page).to_have_url(f"{server.url}{INCIDENT}")
    assert suspect_ids(page) == [s["event_id"] for s in api]
    assert suspect_ids(page)[0] == "dep-checkout-prod"
    first = page.locator("#suspect-1")
    reasons = first.locator(".reasons li").all_inner_texts()
    assert reasons == [r["detail"] for r in api[0]["reasons"]]
    codes = first.locator(".reasons li").evaluate_all("items => items.map(i => i.dataset.code)")
    assert {"rolled_back_during_incident", "ai_without_senior_approval"} <= set(codes)

    # Expanding it by keyboard shows the AI use and the missing senior approval.
    expect(first.locator(".ai")).to_be_hidden()
    first.locator("summary").focus()
    page.keyboard.press("Enter")
    expect(first.locator(".ai").first).to_have_text(
        "claude-code claude-sonnet-4-5 (agent mode), 190 lines"
    )
    expect(first.locator(".no-senior")).to_have_text("✘ no senior approval")
    expect(first.locator(".change dd").nth(2)).to_contain_text("Dave Silva (junior) approved")

    # The timeline: a marker per suspect, the rollback linked to what it reverted; focusing
    # a marker says what it is.
    top_marker = page.locator('.marker[data-target="suspect-1"]')
    expect(top_marker).to_have_class("marker r1 k-deployment")
    expect(page.locator(".marker.k-rollback")).to_have_count(1)
    assert page.locator("path.revert").count() >= 1
    top_marker.focus()
    expect(page.locator("#tip")).to_be_visible()
    expect(page.locator("#tip")).to_contain_text("#1 deployment dep-checkout-prod")
    page.keyboard.press("Escape")
    assert_accessible(page)
    page.screenshot(path=str(tmp_path / "incident-page.png"))
    if os.environ.get("PROVLEDGER_UPDATE_SCREENSHOT"):
        page.screenshot(path=str(SCREENSHOT))

    # Confirm the second suspect: it goes to the top once the ledger has the verdict.
    second = suspect_ids(page)[1]
    page.locator("#suspect-2 button.confirmed").click()
    expect(page.locator("#suspects li.suspect").first).to_have_attribute(
        "data-event-id", second, timeout=30_000
    )
    expect(page.locator("#verdict-status")).to_contain_text("Verdict recorded")
    now = server.get(f"/v1/incidents/{DEMO_INCIDENT}/suspects").json()["suspects"]
    assert now[0]["event_id"] == second
    assert now[0]["reasons"][0]["code"] == "confirmed_attribution"
    assert suspect_ids(page) == [s["event_id"] for s in now]

    # Phone width: no sideways scrolling of the page (the timeline scrolls in its box).
    phone = new_page(browser, 390, 844)
    phone.goto(f"{server.url}{INCIDENT}")
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    assert_accessible(phone)

    # The commit page: the provenance chain of the culprit's change.
    culprit = page.locator('#suspects li.suspect[data-event-id="dep-checkout-prod"]')
    culprit.locator("summary").click()
    culprit.locator(".change h3 a").first.click()
    expect(page.locator("h1")).to_contain_text("in acme/checkout")
    expect(page.locator(".chain")).to_contain_text("claude-code claude-sonnet-4-5")
    expect(page.locator(".chain")).to_contain_text("checkout 2026.11.20-1 to prod")
    assert_accessible(page)

    # Metrics: the page's numbers are the API's for the same range.
    page.goto(f"{server.url}/ui/metrics")
    since = page.locator("#range").get_attribute("data-since")
    until = page.locator("#range").get_attribute("data-until")
    for by in ("ai_tool", "review"):
        groups = server.get(
            "/v1/metrics/change-failure-rate", by=by, since=since, until=until
        ).json()["groups"]
        shown = page.locator(f'section[data-by="{by}"] table.totals tbody tr').evaluate_all(
            """rows => rows.map(r => [r.dataset.group,
                Number(r.querySelector('.deployments').textContent),
                Number(r.querySelector('.failed').textContent),
                Number(r.querySelector('.rate').dataset.rate)])"""
        )
        assert shown == [[g["group"], g["deployments"], g["failed"], g["rate"]] for g in groups]
        assert any(g["failed"] for g in groups)  # the rollback and the verdict count
    expect(page.locator("svg.chart polyline")).not_to_have_count(0)
    assert_accessible(page)


def later_incidents(count: int) -> list[tuple[str, dict, str, object]]:
    """Open incidents opened after the demo one, so the list shows the demo's row below them."""
    return [
        (
            "incident.opened",
            {
                "incident": f"INC-LATER-{n}",
                "severity": "sev3",
                "services": ["search"],
                "environment": "prod",
                "impact_started_at": (IMPACT + timedelta(hours=1, minutes=n)).isoformat(),
            },
            f"inc-later-{n}",
            IMPACT + timedelta(hours=1, minutes=n),
        )
        for n in range(count)
    ]


def test_the_list_loads_lower_rows_top_suspects_after_the_page(
    start_server, settings, browser, tmp_path
):
    """The list ranks only its first rows before answering (ranking is the costly part);
    a lower row's top suspect arrives from /ui/incidents/{id}/top, and without scripts the
    row links to the incident instead."""
    server = start_server({"PROVLEDGER_TOKENS_FILE": str(tmp_path / "no-tokens.json")})
    later = later_incidents(views.RANKED_FIRST)
    with Emitter(settings.kafka_bootstrap, settings.topic) as emitter:
        for event_type, data, event_id, at in later:
            emitter.send(build_event(event_type, data, SOURCE, event_id=event_id, time=at))
    server.wait_for_events(load_story(settings) + len(later))

    plain = browser.new_context(java_script_enabled=False).new_page()
    plain.goto(f"{server.url}/ui/")
    row = plain.locator("table.incidents tbody tr", has_text=DEMO_INCIDENT)
    expect(row.get_by_role("link", name="see the suspects")).to_have_attribute("href", INCIDENT)
    expect(row).not_to_contain_text("dep-checkout-prod")

    page = new_page(browser)
    page.goto(f"{server.url}/ui/")
    row = page.locator("table.incidents tbody tr", has_text=DEMO_INCIDENT)
    expect(row).to_contain_text("deployment dep-checkout-prod")
    expect(row.get_by_role("link", name="see the suspects")).to_have_count(0)
    assert_accessible(page)
    assert server.get(f"/ui/incidents/{DEMO_INCIDENT}/top").status_code == 200
    assert server.get("/ui/incidents/INC-NOPE/top").status_code == 404


def test_api_docs_load_with_no_outside_network(start_server, browser, tmp_path):
    server = start_server({"PROVLEDGER_TOKENS_FILE": str(tmp_path / "no-tokens.json")})
    page = new_page(browser)
    outside: list[str] = []

    def only_local(route):
        if urlparse(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.route("**/*", only_local)
    page.goto(f"{server.url}/docs")
    expect(page.locator(".opblock").first).to_be_visible(timeout=30_000)
    assert page.locator(".opblock").count() >= 10
    assert outside == []


def _token(env: dict[str, str], scope: str) -> str:
    made = subprocess.run(
        [
            sys.executable,
            "-m",
            "provenance_ledger.query",
            "token",
            "create",
            "--scope",
            scope,
            "--name",
            scope,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert made.returncode == 0, made.stderr
    return made.stdout.strip()


def _sign_in(page: Page, url: str, token: str) -> None:
    page.goto(f"{url}{INCIDENT}")
    expect(page).to_have_url(f"{url}/ui/login?next={INCIDENT}")
    page.get_by_label("Token (read or admin)").fill(token)
    page.get_by_label("Your id, to sign verdicts").fill("oncall@acme.example")
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{url}{INCIDENT}")


def test_a_read_token_sees_no_verdict_buttons_and_its_forged_post_is_refused(
    start_server, settings, browser, tmp_path
):
    tokens_file = tmp_path / "tokens.json"
    env = {**server_env(settings, 0), "PROVLEDGER_TOKENS_FILE": str(tokens_file)}
    read, admin = _token(env, "read"), _token(env, "admin")
    server = start_server({"PROVLEDGER_TOKENS_FILE": str(tokens_file)})
    # Through the API with a token, as any emitter on a secured server.
    events = [build_event(t, d, SOURCE, event_id=i, time=at) for t, d, i, at in demo_events()]
    posted = httpx.post(
        f"{server.url}/v1/events",
        json=[e.event.model_dump(mode="json", exclude_none=True) for e in events],
        headers={"Authorization": f"Bearer {admin}"},
        timeout=30,
    )
    assert posted.status_code == 202, posted.text
    reader = {"Authorization": f"Bearer {read}"}
    wait_until(
        lambda: httpx.get(f"{server.url}/v1/incidents/{DEMO_INCIDENT}", headers=reader).is_success,
        60,
        "the demo incident to reach the ledger",
    )

    page = new_page(browser)
    _sign_in(page, server.url, read)
    expect(page.locator("#suspect-1")).to_have_attribute("data-event-id", "dep-checkout-prod")
    expect(page.locator("button.confirmed")).to_have_count(0)
    expect(page.locator("button.rejected")).to_have_count(0)
    expect(page.locator("header .who")).to_contain_text("read only")
    cookie = next(c for c in page.context.cookies() if c["name"] == "provledger_ui")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert read not in page.url and read not in page.content()
    assert_accessible(page)

    # A forged verdict with the read token's cookie and a valid CSRF token: 403, not stored.
    csrf = page.locator('header form input[name="csrf"]').get_attribute("value")
    verdict = {"kind": "deployment", "event_id": "dep-checkout-prod", "verdict": "confirmed"}
    url = f"{server.url}{INCIDENT}/verdicts"
    forged = page.request.post(url, data=verdict, headers={"X-CSRF-Token": csrf})
    assert forged.status == 403 and "ingest" in forged.json()["error"]
    no_csrf = page.request.post(url, data=verdict)
    assert no_csrf.status == 403

    # The admin token may give verdicts; without the CSRF token it may not.
    voter = new_page(browser)
    _sign_in(voter, server.url, admin)
    expect(voter.locator("button.confirmed")).not_to_have_count(0)
    assert voter.request.post(url, data=verdict).status == 403

    output = server.stop()
    assert read not in output and admin not in output
