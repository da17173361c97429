"""B11: the storage of a year of history, rolled up (DESIGN §14, long history).

One target is checked every 60 s for 365 days, with durations and an outage now and then,
written through the state's API with an explicit time for each report (a day per
transaction, keeping the default 100): what it then holds is what each of 100 such apps
holds, as no row is shared between targets. Two baselines: the same state holding only
the kept reports (retention without roll-ups), and every report of the year kept (its size
from the bytes per report of the first). The figures are bytes, not seconds.
"""

from __future__ import annotations

import random
import sqlite3
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

from waypoint_hooks import Health, StatusReport, finalize
from waypoint_hooks.alerts.pipeline import store_reports
from waypoint_hooks.state.database import Database
from waypoint_hooks.state.records import Record
from waypoint_hooks.state.reports import Retention
from waypoint_hooks.state.store import State

from ._measure import Row, sized

T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
DAYS = sized(365, 2)
INTERVAL = 60
KEEP = 100
APPS = 100


def _year(state: State) -> int:
    """Write a year of one target's reports; how many were written."""

    def deploy(tx: Database) -> Record:
        begun = state.records.begin(tx, "deployment", "web", "default", "http")
        return state.records.complete(tx, begun, {})

    record = state.write(deploy)
    chance = random.Random(11)
    written = 0
    for day in range(DAYS):
        moments = [T0 + timedelta(days=day, seconds=s) for s in range(0, 86400, INTERVAL)]
        reports = [
            finalize(
                StatusReport(
                    health=Health.DOWN if chance.random() < 0.002 else Health.READY,
                    health_message="200 OK in 87 ms",
                    generated_time=moment,
                ),
                "http",
            )
            for moment in moments
        ]
        durations = [chance.lognormvariate(-2.3, 0.5) for _ in reports]
        store_reports(
            state,
            [(record, report) for report in reports],
            keep=Retention(KEEP, 2 * INTERVAL),
            durations=durations,
        )
        written += len(reports)
    return written


def _size(path: Path) -> int:
    with sqlite3.connect(path) as db:
        db.execute("VACUUM")
    db.close()
    return path.stat().st_size


def b11_history() -> list[Row]:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "state.db"
        with State.open(path) as state:
            written = _year(state)
        rolled = _size(path)
        with sqlite3.connect(path) as db:
            (rows,) = db.execute("SELECT count(*) FROM rollups").fetchone()
            db.execute("DELETE FROM rollups")
        db.close()
        kept = _size(path)
    per_report = kept / KEEP  # an upper bound: the empty state's pages are counted in
    everything = per_report * written
    label = f"bytes/target, {DAYS} d at {INTERVAL}s ({rows} roll-ups; x{APPS} apps: "
    label += f"{rolled * APPS / 1e6:.1f} MB)"
    return [
        Row("B11", label + " vs keep only", rolled, f"keep {KEEP}", kept, 20.0),
        Row("B11", label + " vs every report", rolled, "every report", everything, 0.01),
    ]


BENCHMARKS = (b11_history,)
