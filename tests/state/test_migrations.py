"""Each numbered migration in ``waypoint_hooks/state/sql/migrations`` upgrades a state that the
version before it wrote, and keeps its data: on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from helpers_postgres import query
from helpers_state import add_deployment, add_release, back_to_11, open_database, store_reports

from waypoint_hooks import Health, StatusReport
from waypoint_hooks.state import schema
from waypoint_hooks.state.columns import micros, time
from waypoint_hooks.state.database import Database
from waypoint_hooks.state.records import Record
from waypoint_hooks.state.rollups import STEPS, bucket
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
    "apps": {"key": 1, "app": "web", "workspace": "default"},
    "checks": {
        "workspace": "default",
        "app": "web",
        "kind": "deployment",
        "due": 1_700_000_060_000_000,
        "planned": 1_700_000_000_000_000,
    },
}


#: How the newest schema reads a table's row of ROWS, where it holds it otherwise: a report names
#: its target and its app by their keys (migration 12), which numbered its id again.
_READ: dict[str, tuple[str, str]] = {
    "reports": (
        "SELECT targets.kind, targets.id, apps.app, apps.workspace, health, generated, report"
        " FROM reports JOIN targets ON targets.key = reports.target"
        " JOIN apps ON apps.key = reports.app",
        "id",
    )
}


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
    database = open_database(location)

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
        read, renumbered = _READ.get(table, (f"SELECT {', '.join(row)} FROM {table}", ""))
        kept = tuple(value for column, value in row.items() if column != renumbered)
        assert query(location, read) == [kept]


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


# --- version 11 to 12: reports keyed by their target's and their app's keys ------------------

_T0 = time(1_700_000_000_000_000)
_PLACES = (("web", "default"), ("web", "staging"), ("api", "default"))
_LOCATIONS = ("", "eu", "us")


def _checks(state: State) -> list[Record]:
    """Reports of three apps (one name in two workspaces), each with two deployments and a
    release: runs of equal reports, changes, three locations, retention that rolls up."""
    records: list[Record] = []
    for app, workspace in _PLACES:
        first = add_deployment(state, app, workspace, "filepath", {})
        records += [
            first,
            add_release(state, app, workspace, "filepath", first.id, {}),
            add_deployment(state, app, workspace, "filepath", {}),
        ]
    for round in range(40):
        location = _LOCATIONS[round % 3]
        health = Health.DOWN if round % 7 == 6 else Health.READY
        reports = [
            StatusReport(
                health=health,
                health_message=f"{record.app} in {record.workspace}",
                generated_time=_T0 + timedelta(minutes=round, seconds=number),
            )
            for number, record in enumerate(records)
        ]
        store_reports(
            state,
            list(zip(records, reports, strict=True)),
            # The first deployments keep all; the others keep 25, the rest rolled up.
            keep={"web": 25, "api": None},
            durations=[0.1 * (1 + round % 5)] * len(records),
            location=location,
        )
    return records


def _readings(state: State, records: Sequence[Record]) -> list[object]:
    """What every reader of reports reads of them."""
    targets = [(record.kind, record.id) for record in records]
    now = micros(_T0 + timedelta(hours=1))
    hour = STEPS["hour"]
    start = micros(_T0) - micros(_T0) % hour - hour
    found: list[object] = [
        state.reports.last_reports(records),
        [state.reports.last_report(record.kind, record.id) for record in records],
        state.reports.latest_by_location(targets, _LOCATIONS),
        state.write(lambda tx: state.reports.latest_healths(tx, targets, _LOCATIONS)),
    ]
    for app, workspace in _PLACES:
        found += [
            list(state.reports.history(app, workspace)),
            list(state.reports.history(app, workspace, 7)),
            state.reports.healths(app, workspace, "deployment", 30),
            state.reports.healths(app, workspace, "release", 30),
            state.reports.ready_counts(app, workspace, [_T0, _T0 + timedelta(minutes=20)]),
            state.rollups.span(app, workspace, "hour", start, start + 3 * hour, now, 600_000_000),
            state.rollups.span(app, workspace, "day", start, start + STEPS["day"], now, 60_000_000),
        ]
    for workspace in ("default", "staging"):
        steps = {"hour": (start, start + 3 * hour), "day": (start - start % STEPS["day"], now)}
        found.append(state.rollups.of_apps({"web": 600_000_000, "api": 1}, workspace, steps, now))
    return found


def test_a_state_of_version_11_reads_every_report_as_it_did_once_keyed(
    location: Path | str,
) -> None:
    """A state of reports, shared bodies, roll-ups and several locations, taken back to version
    11 and upgraded again: every reader reads what it read before; the reports after the upgrade
    go on its runs, and a record made after it takes the next key."""
    with State.open(location, leased=False) as state:
        records = _checks(state)
        before = _readings(state, records)
    assert query(location, "SELECT count(*) FROM rollups")[0][0] > 0
    assert query(location, "SELECT count(*) FROM bodies")[0][0] > 0
    back_to_11(location)
    order = query(location, "SELECT target_id, generated FROM reports ORDER BY id")
    with State.open(location, leased=False) as state:
        assert _readings(state, records) == before
        # The ids were numbered again in the order they were stored.
        assert (
            query(
                location,
                "SELECT targets.id, generated FROM reports"
                " JOIN targets ON targets.key = reports.target ORDER BY reports.id",
            )
            == order
        )
        web = records[0]
        bodies = query(location, "SELECT count(*) FROM bodies")
        (last,) = state.reports.last_reports([web]).values()
        again = StatusReport(
            health=last.health,
            health_message=last.health_message,
            generated_time=_T0 + timedelta(hours=2),
        )
        newest = [stored.report for stored in state.reports.history("web", "default", 2)]
        store_reports(state, [(web, again)], keep=25)
        assert query(location, "SELECT count(*) FROM bodies") == bodies
        assert [stored.report for stored in state.reports.history("web", "default", 3)] == [
            again,
            *newest,
        ]
        made = add_deployment(state, "new", "default", "filepath", {})
        store_reports(state, [(made, again)])
        assert [stored.target_id for stored in state.reports.history("new", "default")] == [made.id]
    keys = query(location, "SELECT key FROM targets ORDER BY key")
    assert [key for (key,) in keys] == list(range(1, len(records) + 2))
