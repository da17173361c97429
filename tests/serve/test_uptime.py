"""Uptime over a long history (DESIGN §14): ``GET /api/apps/{app}/uptime`` of a real service and
``history APP --csv``, over reports rolled up by retention and reports still kept."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta, timezone

import pytest
from helpers_state import store_reports
from hostile.serving import Served

from waypoint_hooks import Health, StatusReport, finalize
from waypoint_hooks.state.reports import Retention
from waypoint_hooks.state.store import State

pytestmark = pytest.mark.usefixtures("hostile_plugins")

HALF_HOUR = 1800
#: Twice the served apps' interval (1h): how long a report holds without a next one.
GAP = 7200


def _midnight(days_ago: int) -> datetime:
    today = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - timedelta(days=days_ago)


def _history(served: Served) -> None:
    """Two days of web's deployment from four days ago, a report every half hour: DOWN for an
    hour, five hours without a report, the rest READY; all but the newest five rolled up."""
    start = _midnight(4)
    steps = [step for step in range(96) if not 40 <= step < 50]
    with State.open(served.project.state) as state:
        record = state.records.latest("deployment", "web", "default")
        assert record is not None
        reports = [
            finalize(
                StatusReport(
                    health=Health.DOWN if step in (10, 11) else Health.READY,
                    generated_time=start + timedelta(seconds=step * HALF_HOUR),
                ),
                "wh_served",
            )
            for step in steps
        ]
        store_reports(
            state,
            [(record, report) for report in reports],
            keep=Retention(5, GAP),
            durations=[0.1] * len(reports),
        )


def test_the_api_and_history_csv_give_time_per_health_of_rolled_up_and_kept_reports(
    served: Served,
) -> None:
    served.configure({"web": {}})
    served.up()
    _history(served)
    days = f"from={_midnight(4).date()}&to={_midnight(1).date()}"
    answer = served.serve().get(f"/api/apps/web/uptime?step=day&{days}")
    assert answer.status == 200, answer.text
    document = answer.json()
    assert (document["app"], document["step"], document["gap_seconds"]) == ("web", "day", GAP)
    rows = document["rows"]
    assert [(row["kind"], row["start"]) for row in rows] == [
        ("deployment", f"{_midnight(day).date()}T00:00:00Z") for day in (4, 3, 2)
    ]
    # 84 READY reports, 2 of them followed by a gap (held 2h); 2 DOWN; 10 missing.
    assert sum(row["seconds"]["READY"] for row in rows) == 82 * HALF_HOUR + 2 * GAP
    assert sum(row["seconds"]["DOWN"] for row in rows) == 2 * HALF_HOUR
    assert sum(row["no_data_seconds"] for row in rows) == 3 * 86400 - 84 * HALF_HOUR - 2 * GAP
    assert sum(row["checks"] for row in rows) == 86
    # The first day: 40 reports, the last followed by the gap.
    known = 39 * HALF_HOUR + GAP
    assert rows[0]["uptime"] == pytest.approx((known - 2 * HALF_HOUR) / known)
    assert rows[0]["duration_seconds"]["p50"] == pytest.approx(0.1, rel=0.05)
    assert rows[2]["duration_seconds"] == {"p50": None, "p95": None, "p99": None}

    result = served.project.invoke(
        "history",
        "web",
        "--csv",
        "--step",
        "day",
        "--from",
        str(_midnight(4).date()),
        "--to",
        str(_midnight(1).date()),
    )
    assert result.exit_code == 0, result.output
    table = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [(line["kind"], line["start"]) for line in table] == [
        (row["kind"], row["start"]) for row in rows
    ]
    for line, row in zip(table, rows, strict=True):
        assert float(line["ready_seconds"]) == row["seconds"]["READY"]
        assert float(line["no_data_seconds"]) == row["no_data_seconds"]
        assert int(line["checks"]) == row["checks"]
        assert line["duration_p99_seconds"] == str(row["duration_seconds"]["p99"] or "")


def test_hours_split_a_day(served: Served) -> None:
    served.configure({"web": {}})
    served.up()
    _history(served)
    day = _midnight(4)
    query = f"step=hour&from={day.isoformat()}&to={(day + timedelta(days=1)).isoformat()}"
    rows = served.serve().get("/api/apps/web/uptime?" + query.replace("+", "%2B")).json()["rows"]
    assert len(rows) == 24
    # The fifth and sixth half hours were DOWN.
    assert [row["seconds"]["DOWN"] for row in rows[4:7]] == [0, 2 * HALF_HOUR, 0]
    assert [row["checks"] for row in rows[4:7]] == [2, 2, 2]


@pytest.mark.parametrize(
    ("query", "says"),
    [
        ("step=week", "step must be hour or day; got 'week'"),
        ("from=yesterday", "from must be an ISO 8601 date or time"),
        ("to=2024-13-01", "to must be an ISO 8601"),
        ("from=1d&to=2d", "from must be before to"),
        ("from=999999d", "from must be an ISO 8601"),
        ("step=hour&from=500d", "a range is at most 9600 steps"),
        pytest.param("from=%C2%B9d", "from must be", id="not-ascii"),
    ],
)
def test_the_api_refuses_a_range_it_cannot_read(served: Served, query: str, says: str) -> None:
    served.configure({"web": {}})
    served.up()
    service = served.serve()
    answer = service.get(f"/api/apps/web/uptime?{query}")
    assert (answer.status, answer.json()["error"][: len(says)]) == (400, says)
    assert service.get("/api/apps/nope/uptime").status == 404


def test_history_csv_refuses_what_does_not_go_with_it(served: Served) -> None:
    served.configure({"web": {}})
    for args, says in [
        (("--csv", "--json"), "--csv prints uptime per step"),
        (("--step", "hour"), "give --csv too"),
        (("--csv", "--from", "soon"), "from must be an ISO 8601"),
    ]:
        result = served.project.invoke("history", "web", *args)
        assert result.exit_code == 2, result.output
        assert says in result.output


def test_the_checks_of_status_and_of_serve_record_how_long_they_took(served: Served) -> None:
    """What the roll-ups' percentiles are made of: every checked report's duration; a
    report from outside has none."""
    served.configure({"web": {}})
    served.up()
    assert served.project.invoke("status", "web").exit_code == 0
    service = served.serve()
    service.wait_for(service.checked, "the first round of checks")

    def durations() -> list[float | None]:
        rows = served.project.query("SELECT duration FROM reports ORDER BY generated")
        return [row[0] for row in rows]

    # up's and status's reports, then serve's.
    service.wait_for(lambda: len(durations()) >= 3, "serve's first report stored")
    recorded = durations()
    assert all(micros is not None and micros > 0 for micros in recorded), recorded
