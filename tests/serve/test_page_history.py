"""The page people keep open (DESIGN §14), in a real browser against a real ``serve``: each
version's own timeline, the response-time chart's points, an incident after a scripted
outage, the banner when the service goes away, reading without JavaScript, and no serious
axe-core violation. With ``WAYPOINT_HOOKS_SCREENS`` set, screenshots are saved there."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from helpers_browser import Visit, serving
from helpers_state import store_reports
from hostile.serving import Served, Service
from playwright.sync_api import Browser, expect

from waypoint_hooks import Health, Resource, StatusReport
from waypoint_hooks.state.store import State

pytestmark = pytest.mark.usefixtures("hostile_plugins")


def _reports(
    state: State, kind: str, app: str, health: Health, times: list[datetime], ms: int | None
) -> None:
    record = state.records.latest(kind, app, "default")  # type: ignore[arg-type]
    assert record is not None
    state_json = "" if ms is None else json.dumps({"response_time_ms": ms})
    made = [
        StatusReport(
            resources=[Resource(name="web", type="http", health=health, state_json=state_json)],
            health=health,
            health_message=f"{health.name} by the test",
            generated_time=at,
        )
        for at in times
    ]
    store_reports(state, [(record, report) for report in made])


def _serious(visit: Visit) -> list[Any]:
    """axe-core's serious and critical violations on the page (axe.min.js from its package:
    nothing is fetched)."""
    results = Axe().run(visit.page)
    return [
        (violation["id"], violation["impact"], [node["html"] for node in violation["nodes"]])
        for violation in results.response["violations"]
        if violation["impact"] in ("serious", "critical")
    ]


def test_each_version_has_its_own_timeline_and_chart(served: Served, visit: Visit) -> None:
    down = served.root / "health"
    down.write_text("DOWN")
    served.configure({"web": {"health_file": str(down)}})
    served.up()
    now = datetime.now(timezone.utc)
    with State.open(served.project.state) as state:
        _reports(state, "deployment", "web", Health.DOWN, [now - timedelta(minutes=30)], None)
    down.write_text("READY")
    served.up()  # deployment v2
    times = [now - timedelta(minutes=minutes) for minutes in (9, 6, 3)]
    with State.open(served.project.state) as state:
        _reports(state, "deployment", "web", Health.READY, times, 120)
        v2 = state.records.latest("deployment", "web", "default")
        assert v2 is not None
        assert v2.sequence == 2
    service = served.serve()
    # v1 is still live, but the service checks the latest: one check of v2 and its release.
    service.wait_for(lambda: _checked_once(served, service), "the first round of checks")
    stored = served.project.query(
        "SELECT count(*) FROM reports JOIN targets ON targets.key = reports.target"
        " WHERE targets.id = ?",
        (v2.id,),
    )
    visit.page.goto(service.url + "apps/web")
    target = visit.page.locator("#target-deployment")
    expect(target.locator("h2")).to_have_text("deployment v2 (wh_served)")
    # v2's reports, and none of v1's (which were DOWN and older).
    expect(target.locator("[data-reports]")).to_have_attribute("data-reports", str(stored[0][0]))
    assert target.locator("svg.timeline rect.span.DOWN").count() == 0
    expect(target.locator("svg.timeline rect.span.READY").first).to_be_visible()
    # A point for each report with a response time in the window: the three stored.
    expect(target.locator("svg.chart circle.point")).to_have_count(3)
    assert "120 ms" in target.locator("svg.chart circle.point").first.inner_html()
    # v1's outage is an incident of the app's, ended with v1's last report.
    incident = visit.page.locator("#incidents tbody tr", has_text="deployment v1")
    expect(incident.first).to_contain_text("✖ DOWN")
    assert "ongoing" not in incident.first.inner_text()
    assert visit.errors == []


def test_an_outage_is_an_incident_with_its_start_end_and_message(
    served: Served, visit: Visit
) -> None:
    health = served.root / "health"
    health.write_text("READY")
    service = serving(
        served,
        {
            "web": {"health_file": str(health), "message": "connection refused", "resources": True},
            "db": {},
        },
        interval="1s",
    )
    visit.page.goto(service.url + "apps/web")
    expect(visit.page.locator("#incidents")).to_contain_text("None in the last 30 days")
    health.write_text("DOWN")
    down = visit.page.locator("p.down").first
    expect(down).to_contain_text("deployment v1 (wh_served) is ✖ DOWN for")
    row = visit.page.locator("#incidents tbody tr", has_text="deployment v1")
    expect(row).to_contain_text("ongoing")
    expect(row).to_contain_text("connection refused")
    assert _serious(visit) == []
    visit.page.set_viewport_size({"width": 1200, "height": 900})
    visit.screenshot("incident")
    health.write_text("READY")
    expect(row.locator("td").nth(3)).not_to_have_text("ongoing")
    expect(visit.page.locator("p.down")).to_have_count(0)
    visit.screenshot("app-page")
    assert _serious(visit) == []
    visit.page.goto(service.url)
    expect(visit.page.locator("header .meta")).to_contain_text("2 apps")
    visit.screenshot("overview")
    assert _serious(visit) == []
    assert visit.errors == []


def test_a_banner_says_when_the_page_has_lost_its_service(served: Served, visit: Visit) -> None:
    service = serving(served, {"web": {}}, interval="1s")
    visit.page.goto(service.url)
    banner = visit.page.locator("#lost")
    expect(visit.page.locator("#row-web")).to_contain_text("✔ READY")
    expect(banner).to_be_hidden()
    service.stop()
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("cannot be reached")
    # What it showed stays, with the banner above it.
    expect(visit.page.locator("#row-web")).to_contain_text("✔ READY")


def test_the_pages_are_read_without_javascript(served: Served, browser: Browser) -> None:
    service = serving(served, {"web": {"resources": True}, "db": {}})
    visit = Visit(browser, java_script_enabled=False)
    try:
        visit.page.goto(service.url)
        expect(visit.page.locator("#row-web")).to_contain_text("v1 ✔ READY")
        expect(visit.page.locator("#app-web svg.timeline")).to_be_visible()
        expect(visit.page.locator("#lost")).to_be_hidden()
        visit.page.locator("a", has_text="web").first.click()
        expect(visit.page.locator("#target-deployment svg.timeline")).to_be_visible()
        expect(visit.page.locator("table.resources").first).to_contain_text("web-pod")
        visit.page.locator("nav a").click()
        expect(visit.page.locator("table.status tbody tr")).to_have_count(2)
    finally:
        visit.close()


def test_the_check_now_button_checks_the_app(served: Served, visit: Visit) -> None:
    service = serving(served, {"web": {}}, interval="1h")  # no check but the button's
    before = len(served.checks("web"))
    visit.page.goto(service.url + "apps/web")
    visit.page.get_by_role("button", name="Check now").click()
    expect(visit.page).to_have_url(service.url + "apps/web")
    assert len(served.checks("web")) == before + 1
    assert visit.errors == []


def _checked_once(served: Served, service: Service) -> bool:
    ledgers = served.checks("web", "deployment") and served.checks("web", "release")
    return bool(ledgers) and service.get("/healthz").json()["checking"] == 0
