"""B5: the SQLite state against sqlite3 written by hand, writing and reading reports."""

from __future__ import annotations

import os
import sqlite3
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from waypoint_hooks import Health, StatusReport, finalize, report_from_json, report_to_json
from waypoint_hooks.alerts.pipeline import store_reports
from waypoint_hooks.state.database import Database
from waypoint_hooks.state.records import Record
from waypoint_hooks.state.store import State

from ._measure import Row, interleaved, sized

T0 = datetime(2024, 5, 1, tzinfo=timezone.utc)
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def _report(seconds: int) -> StatusReport:
    """A small finalized report: the seed's filepath plugin reports no resources."""
    report = StatusReport(
        health=Health.READY,
        health_message="File is ready",
        generated_time=T0 + timedelta(seconds=seconds),
    )
    return finalize(report, "filepath")


# The hand-written equivalent of the state's report table: the same columns and indexes,
# without the foreign key to the targets.
_BASELINE_TABLE = (
    """CREATE TABLE reports (
        id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL,
        target_id TEXT NOT NULL,
        app TEXT NOT NULL,
        workspace TEXT NOT NULL,
        health TEXT NOT NULL,
        generated INTEGER NOT NULL,
        report TEXT NOT NULL
    )""",
    "CREATE INDEX reports_of_target ON reports (kind, target_id, generated)",
    "CREATE INDEX reports_of_app ON reports (app, workspace, generated)",
)

_BASELINE_INSERT = (
    "INSERT INTO reports (kind, target_id, app, workspace, health, generated, report)"
    " VALUES (?, ?, ?, ?, ?, ?, ?)"
)


def _baseline_db(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    for statement in _BASELINE_TABLE:
        db.execute(statement)
    return db


def _write_row(directory: Path, count: int = 10_000, apps: int = 100) -> Row:
    state = State.open(directory / "write.db")
    records = [deployed(state, f"app{a}", {}) for a in range(apps)]
    pairs = [(records[i % apps], _report(i)) for i in range(count)]
    db = _baseline_db(directory / "baseline.db")

    def by_hand() -> None:
        # Both sides start from the same finalized reports and store the same JSON texts in
        # one transaction, so both encode with report_to_json (the codec is B3's subject).
        rows = [_row_by_hand(record, report) for record, report in pairs]
        db.execute("BEGIN IMMEDIATE")
        db.executemany(_BASELINE_INSERT, rows)
        db.execute("COMMIT")

    try:
        seconds, baseline = interleaved(lambda: store_reports(state, pairs), by_hand, repeat=5)
    finally:
        state.close()
        db.close()
    return Row(
        "B5 write",
        f"State.add_reports of {count:,} finalized reports",
        seconds,
        "sqlite3 executemany of their report_to_json texts",
        baseline,
        1.5,
    )


def _row_by_hand(record: Record, report: StatusReport) -> tuple[object, ...]:
    assert report.health is not None
    assert report.generated_time is not None
    micros = (report.generated_time - EPOCH) // timedelta(microseconds=1)
    return (
        record.kind,
        record.id,
        record.app,
        record.workspace,
        report.health.name,
        micros,
        report_to_json(report),
    )


def _build(path: Path, count: int, apps: int) -> None:
    """A state of ``count`` reports, one a second, of ``apps`` apps in turn, each with a
    deployment and a release; the reports alternate between the two every round."""
    State.open(path).close()  # the schema, as the state makes it
    db = sqlite3.connect(path, isolation_level=None)
    # A bulk load: no journal to write, and the indexes built once at the end (one sort is
    # far faster than a million inserts at random places in them).
    db.execute("PRAGMA journal_mode = OFF")
    db.execute("PRAGMA synchronous = OFF")
    indexes = db.execute(
        "SELECT name, sql FROM sqlite_master"
        " WHERE type = 'index' AND tbl_name = 'reports' AND sql IS NOT NULL"
    ).fetchall()
    # Keyed as the state keys them: targets from 1, apps from 1, in the order they are made.
    targets = [
        (kind, os.urandom(16).hex(), f"app{a}", number * apps + a + 1)
        for number, kind in enumerate(("deployment", "release"))
        for a in range(apps)
    ]
    text = report_to_json(_report(0))
    start = (T0 - EPOCH) // timedelta(microseconds=1)
    db.execute("BEGIN")
    for name, _ in indexes:
        db.execute(f"DROP INDEX {name}")
    db.executemany(
        "INSERT INTO apps (key, app, workspace) VALUES (?, ?, 'default')",
        ((a + 1, f"app{a}") for a in range(apps)),
    )
    db.executemany(
        "INSERT INTO targets (kind, id, app, workspace, sequence, plugin, value, created, key)"
        " VALUES (?, ?, ?, 'default', 1, 'filepath', '{}', 0, ?)",
        targets,
    )
    db.executemany(
        "INSERT INTO reports (target, app, health, generated, report) VALUES (?, ?, 'READY', ?, ?)",
        (
            (targets[i % (2 * apps)][3], i % apps + 1, start + i * 1_000_000, text)
            for i in range(count)
        ),
    )
    for _, sql in indexes:
        db.execute(sql)
    db.execute("COMMIT")
    db.execute("PRAGMA journal_mode = WAL")
    db.close()


def _read_row(directory: Path, count: int = 1_000_000, apps: int = 1_000, limit: int = 100) -> Row:
    path = directory / "read.db"
    _build(path, count, apps)
    app = f"app{apps // 2}"
    state = State.open(path)
    db = sqlite3.connect(path, isolation_level=None)

    def by_hand() -> list[StatusReport]:
        # The same rows' JSON texts through the same index, decoded with report_from_json as
        # the state does (the codec is B3's subject), with the row's time, which is the
        # report's. The state also joins each report to its target, for the sequence and
        # plugin that history shows, and to the text it shares with reports equal to it.
        found = []
        for text, generated in db.execute(
            "SELECT report, generated FROM reports"
            " WHERE app = (SELECT key FROM apps WHERE app = ? AND workspace = ?)"
            " ORDER BY generated DESC, id DESC LIMIT ?",
            (app, "default", limit),
        ):
            report = report_from_json(text)
            report.generated_time = EPOCH + timedelta(microseconds=generated)
            found.append(report)
        return found

    def by_state() -> list[StatusReport]:
        return [stored.report for stored in state.reports.history(app, "default", limit)]

    try:
        expected = by_hand()
        assert len(expected) == limit, "B5 read: too few rows"
        assert by_state() == expected, "B5 read: the state read other rows"
        seconds, baseline = interleaved(by_state, by_hand, repeat=7, number=20)
    finally:
        state.close()
        db.close()
    return Row(
        "B5 read",
        f"State.history of an app's last {limit} among {count:,} reports",
        seconds,
        "an indexed SELECT of their texts + report_from_json",
        baseline,
        2.0,
    )


def b5_store() -> list[Row]:
    with tempfile.TemporaryDirectory() as directory:
        return [
            _write_row(Path(directory), count=sized(10_000, 40), apps=sized(100, 4)),
            _read_row(Path(directory), count=sized(1_000_000, 400), apps=sized(1_000, 4)),
        ]


BENCHMARKS = (b5_store,)


def deployed(state: State, app: str, value: dict[str, Any], plugin: str = "filepath") -> Record:
    """A live deployment of ``app`` by ``plugin``, as ``deploy`` records one."""

    def write(tx: Database) -> Record:
        records = state.records
        made = records.begin(tx, "deployment", app, "default", plugin)
        return records.complete(tx, made, value)

    return state.write(write)
