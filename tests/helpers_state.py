"""Writing to a state in tests: a store's write in a transaction of its own, and records made
in one call, as a command's lifecycle would make them."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from waypoint_hooks.alerts.pipeline import store_reports
from waypoint_hooks.state import schema
from waypoint_hooks.state.database import Database
from waypoint_hooks.state.records import Record
from waypoint_hooks.state.store import State

__all__ = [
    "add_deployment",
    "add_release",
    "back_to_11",
    "open_database",
    "store_reports",
    "written",
]

T = TypeVar("T")


def written(state: State, write: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``write(tx, *args, **kwargs)``, a store's write, in a transaction of its own."""

    def body(tx: Database) -> T:
        return write(tx, *args, **kwargs)

    return state.write(body)


def add_deployment(
    state: State, app: str, workspace: str, plugin: str, value: Mapping[str, Any]
) -> Record:
    """A new live deployment of ``app``, with the next sequence number: its intent, then its
    outcome, each in its own transaction."""
    record = written(state, state.records.begin, "deployment", app, workspace, plugin)
    return written(state, state.records.complete, record, value)


def add_release(
    state: State,
    app: str,
    workspace: str,
    plugin: str,
    deployment_id: str,
    value: Mapping[str, Any],
) -> Record:
    """A new live release of the deployment ``deployment_id`` of ``app``."""
    records = state.records
    record = written(state, records.begin, "release", app, workspace, plugin, deployment_id)
    return written(state, records.complete, record, value)


def open_database(location: Path | str) -> Database:
    """The database of a state, a file or a PostgreSQL URL, opened as it is: not upgraded."""
    if isinstance(location, Path):
        from waypoint_hooks.state.sqlite import SQLiteDatabase

        database, _ = SQLiteDatabase.open(location, read_only=False)
    else:
        from waypoint_hooks.state.postgres import PostgresDatabase

        database, _ = PostgresDatabase.open(location, read_only=False)
    return database


#: What migrations 1 to 11 made of the reports table and its indexes, as they made it.
_REPORTS_OF_11 = [
    statement
    for statements in schema.MIGRATIONS[:11]
    for statement in statements
    if re.search(
        r"^(CREATE TABLE|ALTER TABLE|CREATE INDEX \w+ ON|DROP INDEX) reports", statement, re.M
    )
]

#: Migration 12 undone: the reports in the columns of before (their target's kind and id, their
#: app and workspace), under the ids they had, in the indexes of before; no keys.
_BACK_TO_11 = (
    "ALTER TABLE reports RENAME TO reports_of_12",
    "DROP INDEX reports_of_target",
    "DROP INDEX reports_of_app",
    *_REPORTS_OF_11,
    "INSERT INTO reports (id, kind, target_id, app, workspace, health, generated, report,"
    " duration, location, body) SELECT reports_of_12.id, kind, targets.id, targets.app,"
    " targets.workspace, health, generated, report, duration, location, body"
    " FROM reports_of_12 JOIN targets ON targets.key = reports_of_12.target",
    "DROP TABLE reports_of_12",
    "DROP TABLE apps",
    "DROP INDEX targets_of_key",
    "ALTER TABLE targets DROP COLUMN key",
)


def back_to_11(location: Path | str) -> None:
    """Take a state of schema version 12 back to 11, as waypoint-hooks of version 11 wrote it."""

    def back(tx: Database) -> None:
        for statement in _BACK_TO_11:
            tx.execute(tx.render(statement))
        tx.set_version(11)

    database = open_database(location)
    try:
        database.write(back)
    finally:
        database.close()
