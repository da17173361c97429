"""The overview's and the badges' uptime (DESIGN §14) read from roll-ups and kept reports, over a
real SQLite state: the same figures as ``GET /api/apps/{app}/uptime`` gives for the same windows
(hours for 24 h, days for 7 and 30 d), the lower of the deployment's and the release's."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace
from typing import cast

from helpers_state import store_reports

from waypoint_hooks import Health, StatusReport, finalize
from waypoint_hooks.checking.checker import AppStatus
from waypoint_hooks.checking.uptime import read_span, uptime_rows
from waypoint_hooks.config.project import App
from waypoint_hooks.serve.page import Page, percent
from waypoint_hooks.state.database import Database
from waypoint_hooks.state.records import Record
from waypoint_hooks.state.reports import Retention
from waypoint_hooks.state.store import State

NOW = datetime(2024, 5, 20, 12, 34, 56, tzinfo=timezone.utc)
INTERVAL = 1800.0


def _target(state: State, kind: str) -> Record:
    def write(tx: Database) -> Record:
        begun = state.records.begin(tx, kind, "web", "default", "p")  # type: ignore[arg-type]
        return state.records.complete(tx, begun, {})

    return state.write(write)


def _history(state: State, record: Record, days: int, down: set[int]) -> None:
    """A report every half hour for ``days`` before NOW (DOWN at the steps in ``down``, and
    none for five hours two days ago); all but the newest 20 rolled up."""
    steps = [step for step in range(days * 48) if not 48 * days - 96 <= step < 48 * days - 86]
    reports = [
        finalize(
            StatusReport(
                health=Health.DOWN if step in down else Health.READY,
                generated_time=NOW - timedelta(days=days) + timedelta(seconds=step * INTERVAL),
            ),
            "p",
        )
        for step in steps
    ]
    store_reports(state, [(record, report) for report in reports], keep=Retention(20, 2 * INTERVAL))


def _api(state: State, step: str, start: str) -> list[float | None]:
    """The uptime of each kind over the rows the API gives for ``from=start``, lowest first."""
    app = cast(App, SimpleNamespace(name="web", status=SimpleNamespace(interval=INTERVAL)))
    rows = uptime_rows(state, app, "default", read_span(step, start, None, NOW), NOW)
    shares = []
    for kind in sorted({row.kind for row in rows}):
        ready = sum(row.seconds["READY"] for row in rows if row.kind == kind)
        known = sum(sum(row.seconds.values()) for row in rows if row.kind == kind)
        shares.append(ready / known if known else None)
    return sorted(shares, key=lambda share: -1 if share is None else share)


def test_the_overview_gives_the_uptime_api_s_figures_the_lower_of_both_kinds(
    state: State,
) -> None:
    deployment, release = _target(state, "deployment"), _target(state, "release")
    _history(state, deployment, 40, down={5, 6, 900, 1900})
    _history(state, release, 9, down={100, 101, 102, 400, 430})
    row = AppStatus("web", deployment=deployment, release=release)
    html = Page(state, "default").render("p", [(row, INTERVAL)], refresh=5.0, now=NOW)
    shown = re.findall(r'<td class="uptime">([^<]*)</td>', html)
    expected = [
        percent(_api(state, step, start)[0])
        for step, start in (("hour", "24h"), ("day", "7d"), ("day", "30d"))
    ]
    assert shown == expected
    # Each window's figure is the lower of the two kinds', and they differ: the release's
    # outages are in the last week, the deployment's older one only in 30 days.
    assert len(set(shown)) == 3
    assert _api(state, "day", "7d")[0] != _api(state, "day", "7d")[1]


def test_an_app_with_nothing_live_shows_no_uptime(state: State) -> None:
    deployment = _target(state, "deployment")
    _history(state, deployment, 2, down=set())
    html = Page(state, "default").render("p", [(AppStatus("web"), INTERVAL)], refresh=5.0, now=NOW)
    assert re.findall(r'<td class="uptime">([^<]*)</td>', html) == ["-", "-", "-"]


def _uptime_cells(html: str) -> list[str]:
    return re.findall(r'<td class="uptime">([^<]*)</td>', html)


def test_the_overview_counts_again_when_a_report_shown_changes_and_once_an_interval(
    state: State,
) -> None:
    """The uptimes are kept between pages: a page drawn again with the same reports shown,
    within the interval, gives the same figures; a new report shown, or an interval gone by,
    has them counted again."""
    deployment = _target(state, "deployment")
    _history(state, deployment, 2, down=set())
    page = Page(state, "default")
    last = state.reports.last_reports([deployment])[deployment.id]
    row = AppStatus("web", deployment=deployment, deployment_report=last)
    before = _uptime_cells(page.render("p", [(row, INTERVAL)], refresh=5.0, now=NOW))
    assert before[0] == "100.00%"
    # An outage stored meanwhile, not yet shown: the figures counted before stand.
    down = finalize(
        StatusReport(health=Health.DOWN, generated_time=NOW + timedelta(minutes=1)), "p"
    )
    store_reports(state, [(deployment, down)], keep=Retention(20, 2 * INTERVAL))
    later = NOW + timedelta(minutes=10)
    assert _uptime_cells(page.render("p", [(row, INTERVAL)], refresh=5.0, now=later)) == before
    # Shown: counted again, the outage in the last 24 hours.
    shown = AppStatus("web", deployment=deployment, deployment_report=down)
    after = _uptime_cells(page.render("p", [(shown, INTERVAL)], refresh=5.0, now=later))
    assert after[0] != before[0]
    # Or once the interval is gone by, with the same report shown.
    again = Page(state, "default")
    assert _uptime_cells(again.render("p", [(row, INTERVAL)], refresh=5.0, now=NOW)) == before
    aged = NOW + timedelta(seconds=INTERVAL + 1)
    assert _uptime_cells(again.render("p", [(row, INTERVAL)], refresh=5.0, now=aged)) != before


def test_the_overview_draws_each_hour_of_the_last_day_in_the_worst_health_it_held(
    state: State,
) -> None:
    deployment = _target(state, "deployment")
    # DOWN from 09:34:56 to 10:04:56 (NOW is 12:34:56): two hours drawn DOWN.
    _history(state, deployment, 2, down={90})
    rows = [(AppStatus("web", deployment=deployment), INTERVAL), (AppStatus("none"), INTERVAL)]
    page = Page(state, "default")
    html = page.render("p", rows, refresh=5.0, now=NOW)
    day = "2024-05-19 12:34:56Z", "2024-05-20 09:00:00Z", "2024-05-20 11:00:00Z"
    assert _parts(html, "web") == [
        ("READY", day[0], day[1]),
        ("DOWN", day[1], day[2]),
        ("READY", day[2], "2024-05-20 12:34:56Z"),
    ]
    assert _parts(html, "none") == []
    # Drawn again a minute later, nothing changed: the last part lasts until then.
    later = page.render("p", rows, refresh=5.0, now=NOW + timedelta(minutes=1))
    assert _parts(later, "web")[-1] == ("READY", day[2], "2024-05-20 12:35:56Z")


def _parts(html: str, app: str) -> list[tuple[str, str, str]]:
    """The parts of ``app``'s timeline on the overview: each one's health, start and end."""
    section = html[html.index(f'id="app-{app}"') :]
    section = section[: section.index("</section>")]
    return re.findall(r'<rect class="span (\w+)"[^>]*><title>\w+ from ([^<]*) to ([^<]*)<', section)
