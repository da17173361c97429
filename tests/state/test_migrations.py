"""Each numbered migration in ``waypoint_hooks/state/sql/migrations`` upgrades a state that the
version before it wrote, and keeps its data: on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from helpers_postgres import query
from helpers_state import store_reports

from waypoint_hooks import Health, StatusReport
from waypoint_hooks.state import schema
from waypoint_hooks.state.columns import time
from waypoint_hooks.state.database import Database
from waypoint_hooks.state.rollups import bucket
from waypoint_hooks.state.store import State

#: A row of each table, in the columns its first migration made: what an older state holds.
ROWS: dict[str, dict[str, Any]] = {
    "targets": {
        "kind": "deployment",
        "id": "d1",
        "app": "web",
        "workspace": "default",
        "sequence": 1,
        "plugin": "filepath",
        "value": '{"path": "/srv/web"}',
        "created": 1_700_000_000_000_000,
        "destroyed": None,
        "deployment_id": None,
    },
    "reports": {
        "id": 7,
        "kind": "deployment",
        "target_id": "d1",
        "app": "web",
        "workspace": "default",
        "health": "READY",
        "generated": 1_700_000_001_000_000,
        "report": '{"health": "READY"}',
    },
    "watches": {"kind": "deployment", "target_id": "d1", "notify": "oncall", "watch": "{}"},
    "alerts": {
        "id": 3,
        "notify": "oncall",
        "app": "web",
        "workspace": "default",
        "kind": "deployment",
        "target_id": "d1",
        "state": "firing",
        "raised": 1_700_000_002_000_000,
        "alert": "{}",
        "next_attempt": 1_700_000_002_000_000,
    },
    "alert_attempts": {
        "alert_id": 3,
        "number": 1,
        "started": 1_700_000_003_000_000,
        "ended": 1_700_000_004_000_000,
        "error": "refused",
        "owner": "pid 1",
    },
    "instances": {
        "owner": "pid 1",
        "host": "here",
        "pid": 1,
        "started": 1_700_000_000_000_000,
        "renewed": 1_700_000_000_000_000,
        "lease_until": 1_700_000_030_000_000,
    },
    "rollups": {
        "kind": "deployment",
        "target_id": "d1",
        "app": "web",
        "workspace": "default",
        "step": "hour",
        "start": 1_699_999_200_000_000,
        "unknown": 0,
        "alive": 0,
        "ready": 3_600_000_000,
        "down": 0,
        "partial": 0,
        "missing": 0,
        "checks": 60,
        "durations": '{"120":60}',
    },
    "silences": {
        "id": 4,
        "workspace": "default",
        "app": "web",
        "kind": None,
        "created": 1_700_000_000_000_000,
        "expires": 1_700_007_200_000_000,
        "comment": "upgrading the database",
        "made_by": "ops@here",
        "lifted": None,
    },
    "bodies": {"id": 5, "report": '{"health": "READY"}'},
    "checks": {
        "workspace": "default",
        "app": "web",
        "kind": "deployment",
        "due": 1_700_000_060_000_000,
        "planned": 1_700_000_000_000_000,
    },
}


def _open(location: Path | str) -> Database:
    if isinstance(location, Path):
        from waypoint_hooks.state.sqlite import SQLiteDatabase

        database, _ = SQLiteDatabase.open(location, read_only=False)
    else:
        from waypoint_hooks.state.postgres import PostgresDatabase

        database, _ = PostgresDatabase.open(location, read_only=False)
    return database


def _tables_made(migrations: Sequence[tuple[str, ...]]) -> list[str]:
    """The tables that ``migrations`` leave, in the order they were first made: one made
    anew under another name and renamed to the one it replaces is that table still."""
    made: list[str] = []
    for statement in (statement for statements in migrations for statement in statements):
        words = statement.split()
        if "CREATE TABLE" in statement:
            made.append(statement.split("CREATE TABLE ", 1)[1].split()[0])
        elif words[:2] == ["DROP", "TABLE"]:
            made[made.index(words[2])] = f"{words[2]} (dropped)"
        elif words[:2] == ["ALTER", "TABLE"] and words[3:5] == ["RENAME", "TO"]:
            made.remove(words[2])
            made[made.index(f"{words[5]} (dropped)")] = words[5]
    return made


def _state_at(location: Path | str, version: int) -> list[str]:
    """A state as waypoint-hooks at schema ``version`` left it, with a row in each table;
    the tables, in the order they were made."""
    made = _tables_made(schema.MIGRATIONS[:version])
    database = _open(location)

    def write(tx: Database) -> None:
        for statements in schema.MIGRATIONS[:version]:
            for statement in statements:
                tx.execute(tx.render(statement))
        for table in made:
            row = ROWS[table]
            marks = ", ".join("?" * len(row))
            tx.execute(
                f"INSERT INTO {table} ({', '.join(row)}) VALUES ({marks})", list(row.values())
            )
        tx.set_version(version)

    try:
        database.write(write)
    finally:
        database.close()
    return made


def test_every_table_has_a_row_to_keep() -> None:
    """A migration that makes a table adds its row to ROWS, or the upgrade tests miss it."""
    made = _tables_made(schema.MIGRATIONS)
    assert sorted(made) == sorted(ROWS)


@pytest.mark.parametrize("number", range(2, len(schema.MIGRATIONS) + 1))
def test_a_migration_upgrades_the_state_before_it_and_keeps_its_data(
    location: Path | str, number: int
) -> None:
    tables = _state_at(location, number - 1)
    # Without a lease of its own, which would forget the old instance's long-ended one.
    with State.open(location, leased=False):
        pass
    if isinstance(location, Path):
        (found,) = query(location, "PRAGMA user_version")
    else:
        (found,) = query(location, "SELECT version FROM waypoint_hooks_schema")
    assert found == (len(schema.MIGRATIONS),)
    for table in tables:
        row = ROWS[table]
        assert query(location, f"SELECT {', '.join(row)} FROM {table}") == [tuple(row.values())]


def test_a_state_of_before_the_rollups_rolls_up_its_reports(location: Path | str) -> None:
    """Upgraded from version 6, its report (without a duration) is rolled up with the new
    ones once retention deletes it."""
    _state_at(location, 6)
    with State.open(location, leased=False) as state:
        record = state.records.get("deployment", "d1")
        assert record is not None
        later = [
            StatusReport(
                health=Health.DOWN, generated_time=time(1_700_000_001_000_000 + 60_000_000 * i)
            )
            for i in (1, 2)
        ]
        store_reports(state, [(record, report) for report in later], keep=1, durations=[0.5, 1.0])
    # READY for a minute, DOWN for a minute; the first two reports rolled up, one duration.
    assert query(
        location, "SELECT ready, down, checks, durations FROM rollups WHERE step = 'day'"
    ) == [(60_000_000, 60_000_000, 2, f'{{"{bucket(500_000)}":1}}')]


def test_a_state_of_before_runs_reads_its_reports_and_starts_runs_after_them(
    location: Path | str,
) -> None:
    """Upgraded from version 10, its report (its text with its time) reads as it did, and the
    reports after it that repeat one another share a body."""
    _state_at(location, 10)
    text = '{"resources":[],"health":"READY","generated_time":"2023-11-14T22:13:21Z"}'
    query(location, "UPDATE reports SET report = ?", (text,))
    first = time(1_700_000_001_000_000)
    with State.open(location, leased=False) as state:
        record = state.records.get("deployment", "d1")
        assert record is not None
        history = [stored.report for stored in state.reports.history("web", "default")]
        assert history == [StatusReport(health=Health.READY, generated_time=first)]
        later = [
            StatusReport(health=Health.READY, generated_time=first + timedelta(seconds=i))
            for i in (1, 2, 3)
        ]
        store_reports(state, [(record, report) for report in later], keep=3)
        history = [stored.report for stored in state.reports.history("web", "default")]
        assert history == later[::-1]
    assert query(location, "SELECT report, body IS NOT NULL FROM reports") == [("", True)] * 3
    assert query(location, "SELECT count(*) FROM bodies") == [(1,)]


def test_the_migrations_are_numbered_from_one_without_a_gap() -> None:
    folder = Path(schema.__file__).parent / "sql" / "migrations"
    numbers = sorted(int(path.name.split("_", 1)[0]) for path in folder.glob("*.sql"))
    assert numbers == list(range(1, len(schema.MIGRATIONS) + 1))
