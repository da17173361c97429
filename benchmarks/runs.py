"""B13: the bytes an unchanged check stores (issue 31): reports equal to their target's previous
one but for their time, which share one stored text (runs), against the same reports stored
as each was stored before runs (their own text, with its time, in the schema of version 9),
in the same run. What each takes is read from SQLite's page statistics (dbstat)
after VACUUM: the reports table, its indexes and the bodies, divided by the reports stored.

The report is what an HTTP check of one URL stores: the report and its endpoint resource. Its
message and state say nothing that changes from one check to the next; a report that says how
long its check took is another report each time (the row beside the goal).
"""

from __future__ import annotations

import random
import sqlite3
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

from waypoint_hooks import CategoryDisplayHint, Health, Resource, StatusReport, finalize
from waypoint_hooks.alerts.pipeline import store_reports
from waypoint_hooks.model.health import HEALTH_NAMES
from waypoint_hooks.model.wire import report_to_json
from waypoint_hooks.state import schema
from waypoint_hooks.state.columns import micros
from waypoint_hooks.state.database import Database
from waypoint_hooks.state.records import Record
from waypoint_hooks.state.store import State

from ._measure import Row, sized

T0 = datetime(2024, 5, 1, tzinfo=timezone.utc)
TARGETS = sized(20, 3)
ROUNDS = sized(300, 12)
INTERVAL = 60

#: The schema version before runs: its reports table stores each report's own text.
_BEFORE = 10
_TABLES = ("reports", "reports_of_target", "reports_of_app", "bodies", "apps", "targets_of_key")


def _check(app: int, round: int, timed: bool) -> StatusReport:
    url = f"https://app{app}.example.com/healthz"
    elapsed = f" in {80 + round % 17} ms" if timed else ""
    endpoint = Resource(
        url,
        health=Health.READY,
        health_message=f"200 OK{elapsed}",
        id=url,
        type="endpoint",
        platform_url=url,
        category_display_hint=CategoryDisplayHint.ROUTER,
        state_json='{"status": 200}',
    )
    report = StatusReport(
        resources=[endpoint],
        health=Health.READY,
        health_message=f"200 OK{elapsed}",
        generated_time=T0 + timedelta(seconds=round * INTERVAL + app),
    )
    return finalize(report, "http")


def _rounds(timed: bool) -> list[list[tuple[int, StatusReport, float]]]:
    """Each round's checks: of each app, its report and how long its check took."""
    chance = random.Random(13)
    return [
        [
            (app, _check(app, round, timed), chance.lognormvariate(-2.3, 0.5))
            for app in range(TARGETS)
        ]
        for round in range(ROUNDS)
    ]


def _stored(path: Path) -> int:
    """The bytes of the reports, their indexes and their bodies, once vacuumed."""
    with sqlite3.connect(path) as db:
        db.execute("VACUUM")
        marks = ", ".join("?" * len(_TABLES))
        (size,) = db.execute(
            f"SELECT sum(pgsize) FROM dbstat WHERE name IN ({marks})", _TABLES
        ).fetchone()
    db.close()
    return int(size)


def _with_runs(path: Path, rounds: list[list[tuple[int, StatusReport, float]]]) -> int:
    with State.open(path) as state:

        def deploy(tx: Database, app: int) -> Record:
            begun = state.records.begin(tx, "deployment", f"app{app}", "default", "http")
            return state.records.complete(tx, begun, {})

        records = [state.write(lambda tx, app=app: deploy(tx, app)) for app in range(TARGETS)]
        for checks in rounds:
            store_reports(
                state,
                [(records[app], report) for app, report, _ in checks],
                durations=[duration for *_, duration in checks],
            )
    return _stored(path)


def _before(path: Path, rounds: list[list[tuple[int, StatusReport, float]]]) -> int:
    db = sqlite3.connect(path, isolation_level=None)
    for statements in schema.MIGRATIONS[:_BEFORE]:
        for statement in statements:
            db.execute(statement)
    # Target ids as the state makes them: 32 hex digits.
    ids = [f"{app:032x}" for app in range(TARGETS)]
    for checks in rounds:
        db.execute("BEGIN")
        db.executemany(
            "INSERT INTO reports (kind, target_id, app, workspace, health, generated, report,"
            " duration) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    "deployment",
                    ids[app],
                    f"app{app}",
                    "default",
                    HEALTH_NAMES[Health.READY],
                    micros(report.generated_time or T0),
                    report_to_json(report),
                    round(duration * 1e6),
                )
                for app, report, duration in checks
            ],
        )
        db.execute("COMMIT")
    db.close()
    return _stored(path)


def b13_runs() -> list[Row]:
    count = TARGETS * ROUNDS
    unchanged, timed = _rounds(timed=False), _rounds(timed=True)
    with tempfile.TemporaryDirectory() as folder:
        place = Path(folder)
        before = _before(place / "before.db", unchanged) / count
        runs = _with_runs(place / "runs.db", unchanged) / count
        changing = _with_runs(place / "timed.db", timed) / count
        changing_before = _before(place / "timed-before.db", timed) / count
    label = f"bytes/check, {TARGETS} targets x {ROUNDS} checks"
    return [
        Row("B13", f"{label}, unchanged: runs", runs, "before runs", before, 0.2),
        Row("B13", f"{label}, each one new", changing, "before runs", changing_before, None),
    ]


BENCHMARKS = (b13_runs,)
