"""The state: deployments, releases and their status reports, in one SQLite file.

One module, over 400 lines, because every method is one transaction on one connection, and the
schema, its migrations and the queries that depend on its indexes must be read together.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Literal, final

import attrs

from ._health import HEALTH_NAMES, Health
from ._model import StatusReport
from ._owners import alive, this_command
from ._wire import ReportDecodeError, report_from_json, report_to_json

__all__ = [
    "STATE_ENV",
    "Kind",
    "Record",
    "RecordStatus",
    "State",
    "StateError",
    "StoredReport",
    "default_state_path",
]

#: Overrides the state file's path, as ``--state`` does.
STATE_ENV: Final = "WAYPOINT_HOOKS_STATE"

Kind = Literal["deployment", "release"]
#: ``interrupted`` is a ``pending`` record whose command is gone.
RecordStatus = Literal["pending", "live", "failed", "interrupted"]

# Long enough to outwait any other command's write (each is one short transaction), so that
# concurrent commands queue instead of failing with "database is locked".
_BUSY_TIMEOUT: Final = 30.0

# Forward migrations: entry N takes the schema from version N to N + 1 (PRAGMA user_version).
# Statements run one by one, not as a script: executescript() would commit in between, and a
# migration must apply whole or not at all. Never edit a released entry; append a new one.
_MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        # Deployments and releases. A sequence is never reused: rows are marked destroyed,
        # never deleted, so max(sequence) + 1 only grows.
        """CREATE TABLE targets (
            kind TEXT NOT NULL CHECK (kind IN ('deployment', 'release')),
            id TEXT NOT NULL,
            app TEXT NOT NULL,
            workspace TEXT NOT NULL,
            sequence INTEGER NOT NULL,
            plugin TEXT NOT NULL,
            value TEXT NOT NULL,
            created INTEGER NOT NULL,
            destroyed INTEGER,
            deployment_id TEXT,
            PRIMARY KEY (kind, id),
            UNIQUE (kind, app, workspace, sequence)
        )""",
        # The latest target still alive, however many were destroyed after it.
        """CREATE INDEX targets_alive ON targets (kind, app, workspace, sequence)
            WHERE destroyed IS NULL""",
        # app and workspace are copied from the target so that an app's history is one range
        # of one index, already in time order; id is the insertion order that breaks ties.
        """CREATE TABLE reports (
            id INTEGER PRIMARY KEY,
            kind TEXT NOT NULL,
            target_id TEXT NOT NULL,
            app TEXT NOT NULL,
            workspace TEXT NOT NULL,
            health TEXT NOT NULL,
            generated INTEGER NOT NULL,
            report TEXT NOT NULL,
            FOREIGN KEY (kind, target_id) REFERENCES targets (kind, id)
        )""",
        "CREATE INDEX reports_of_target ON reports (kind, target_id, generated)",
        "CREATE INDEX reports_of_app ON reports (app, workspace, generated)",
    ),
    (
        # Intent first (DESIGN §12): a record is written 'pending' before its hook runs, by
        # its owner (see _owners), and becomes 'live' or 'failed'. Records of before are live.
        """ALTER TABLE targets ADD COLUMN status TEXT NOT NULL DEFAULT 'live'
            CHECK (status IN ('pending', 'live', 'failed'))""",
        "ALTER TABLE targets ADD COLUMN owner TEXT",
        # The last value the hook checkpointed, for a destroy of what it left half-made.
        "ALTER TABLE targets ADD COLUMN checkpoint TEXT",
        "ALTER TABLE targets ADD COLUMN error TEXT",
        # The command destroying it: two destroys at once run its destroy hook once.
        "ALTER TABLE targets ADD COLUMN claimed TEXT",
    ),
)

_RECORD_COLUMNS: Final = (
    "kind, id, app, workspace, plugin, sequence, value, created, destroyed, deployment_id,"
    " status, owner, checkpoint, error"
)
_INSERT: Final = (
    f"INSERT INTO targets ({_RECORD_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)

# SQLite's oldest limit on the number of ? in one statement is 999; each target takes two.
_BATCH: Final = 400


# Times are stored as integer microseconds since the Unix epoch: sortable, exact, compact.
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MICROSECOND: Final = timedelta(microseconds=1)


def default_state_path(config_path: Path) -> Path:
    """Where the state of the project configured by ``config_path`` lives by default."""
    return config_path.parent / ".waypoint-hooks" / "state.db"


class StateError(Exception):
    """The state file cannot be used; the message names the file and what to do."""


@final
@attrs.frozen
class Record:
    """A deployment or a release, as the state holds it."""

    kind: Kind
    #: Opaque and unique across the state.
    id: str
    app: str
    workspace: str
    plugin: str
    #: 1, 2, 3… per kind, app and workspace; never reused, even after a destroy.
    sequence: int
    #: What the plugin's deploy or release hook returned, as JSON.
    value: Mapping[str, Any]
    created: datetime
    destroyed: datetime | None
    #: For a release, the deployment it released.
    deployment_id: str | None
    status: RecordStatus = "live"
    #: The last value its hook checkpointed (``ctx.checkpoint``), if it did.
    checkpoint: Mapping[str, Any] | None = None
    #: Why its hook failed, for a ``failed`` record.
    error: str | None = None

    @property
    def cleanup_value(self) -> Mapping[str, Any] | None:
        """What its destroy hook is given: the value, or for a record whose hook did not
        finish, the last checkpoint (``None``: nothing was recorded to clean up)."""
        return self.value if self.status == "live" else self.checkpoint


@final
@attrs.frozen
class StoredReport:
    """A finalized status report and the target it is about, as ``history`` lists them."""

    kind: Kind
    target_id: str
    sequence: int
    plugin: str
    app: str
    workspace: str
    report: StatusReport
    #: The health of the target's report before this one (None for its first): what the
    #: health changed from, even when that report is not among those read.
    previous_health: Health | None = None


def _micros(value: datetime) -> int:
    return (value - _EPOCH) // _MICROSECOND


def _time(micros: int) -> datetime:
    return _EPOCH + timedelta(microseconds=micros)


def _record(row: Any) -> Record:
    (kind, id, app, workspace, plugin, sequence, value, created, destroyed, deployment_id) = row[
        :10
    ]
    status, owner, checkpoint, error = row[10:]
    if status == "pending" and not alive(owner or ""):
        status = "interrupted"
    return Record(
        kind,
        id,
        app,
        workspace,
        plugin,
        sequence,
        json.loads(value),
        _time(created),
        None if destroyed is None else _time(destroyed),
        deployment_id,
        status,
        None if checkpoint is None else json.loads(checkpoint),
        error,
    )


def _report_row(record: Record, report: StatusReport) -> tuple[object, ...]:
    if report.health is None or report.generated_time is None:
        raise ValueError(
            f"the report of {record.kind} {record.id} is not finalized "
            "(health and generated_time must be set): finalize() it before storing it"
        )
    return (
        record.kind,
        record.id,
        record.app,
        record.workspace,
        HEALTH_NAMES[report.health],
        _micros(report.generated_time),
        report_to_json(report),
    )


def _state_error(path: Path, exc: BaseException) -> StateError:
    reason = str(exc)
    if "locked" in reason:
        hint = f"another waypoint-hooks command kept it busy for over {_BUSY_TIMEOUT:g}s; try again"
    elif "full" in reason:
        hint = "free some disk space and try again"
    elif isinstance(exc, OSError) or any(
        word in reason for word in ("unable to open", "readonly", "permission")
    ):
        hint = (
            "check that the file and its directory can be written, or choose another state "
            f"file with --state or {STATE_ENV}"
        )
    else:
        hint = (
            "it is damaged or not a waypoint-hooks state: move it aside to start a new state, "
            "or restore it from a backup"
        )
    return StateError(f"state {path}: {reason}; {hint}")


@final
class State:
    """Deployments, releases and status reports of a project, in one SQLite file (WAL).

    Every write is one ``BEGIN IMMEDIATE`` transaction, so that concurrent commands take
    turns (sequences stay distinct) instead of failing. Use :meth:`open`, and close it, or
    use it as a context manager.
    """

    __slots__ = ("_db", "_lock", "path")

    def __init__(self, path: Path, connection: sqlite3.Connection) -> None:
        self.path: Final = path
        self._db = connection
        # A sync hook runs in a worker thread, and its ctx.checkpoint() writes from there:
        # one thread at a time uses the connection (opened with check_same_thread=False).
        self._lock = threading.RLock()

    @classmethod
    def open(cls, path: Path) -> State:
        """Open the state at ``path``, creating it (and its directory) if needed.

        Raises :class:`StateError` for a file that is not a state, is damaged, cannot be
        written, or was written by a newer waypoint-hooks.
        """
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # isolation_level=None: this class begins and commits its transactions itself.
            connection = sqlite3.connect(
                path, timeout=_BUSY_TIMEOUT, isolation_level=None, check_same_thread=False
            )
        except (OSError, sqlite3.Error) as exc:
            raise _state_error(path, exc) from None
        state = cls(path, connection)
        try:
            state._prepare()
        except BaseException:
            connection.close()
            raise
        return state

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> State:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"State({str(self.path)!r})"

    @contextmanager
    def _guarded(self) -> Iterator[sqlite3.Connection]:
        """The connection, for this thread alone; SQLite's errors about the file become
        :class:`StateError`."""
        try:
            with self._lock:
                yield self._db
        except (sqlite3.IntegrityError, sqlite3.ProgrammingError):
            raise  # the caller's bug (a broken constraint, a closed state), not the file's
        except sqlite3.DatabaseError as exc:
            raise _state_error(self.path, exc) from None

    @contextmanager
    def _writing(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, rolled back if anything in it fails."""
        with self._guarded() as db:
            # IMMEDIATE takes the write lock now (waiting up to the busy timeout), so that
            # what the transaction reads, such as max(sequence), cannot change before it
            # writes; a deferred one would fail with SQLITE_BUSY at its first write instead.
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
                db.execute("COMMIT")
            finally:
                if db.in_transaction:
                    db.execute("ROLLBACK")

    def _prepare(self) -> None:
        with self._guarded() as db:
            # Per connection, and a no-op inside a transaction: set before any.
            db.execute("PRAGMA foreign_keys = ON")
            if self._version() < len(_MIGRATIONS):
                self._migrate()
                self._use_wal()

    def _use_wal(self) -> None:
        """Switch the file to WAL, which lets readers and one writer work at once.

        The mode is stored in the file, so only a new or older state needs this; after the
        migration, so that a file refused as foreign is left as it was. It cannot be done
        inside a transaction, and when processes race to switch a new file, SQLite fails
        all but one with "database is locked" at once rather than wait (they would deadlock):
        so this retries, for as long as the busy timeout.
        """
        deadline = time.monotonic() + _BUSY_TIMEOUT
        while True:
            try:
                self._db.execute("PRAGMA journal_mode = WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
            time.sleep(0.005)

    def _version(self) -> int:
        version: int = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version > len(_MIGRATIONS):
            raise StateError(
                f"state {self.path} was written by a newer waypoint-hooks (schema version "
                f"{version}; this one knows up to {len(_MIGRATIONS)}): upgrade waypoint-hooks, "
                f"or choose another state file with --state or {STATE_ENV}"
            )
        return version

    def _migrate(self) -> None:
        with self._writing() as db:
            # Read again under the write lock: another process may have migrated meanwhile.
            version = self._version()
            if version == 0 and db.execute("SELECT 1 FROM sqlite_master").fetchone():
                raise StateError(
                    f"state {self.path} is a database of something else than waypoint-hooks: "
                    f"choose another state file with --state or {STATE_ENV}"
                )
            for statements in _MIGRATIONS[version:]:
                for statement in statements:
                    db.execute(statement)
            db.execute(f"PRAGMA user_version = {len(_MIGRATIONS)}")

    def add_deployment(
        self, app: str, workspace: str, plugin: str, value: Mapping[str, Any]
    ) -> Record:
        """Record a new live deployment of ``app``; it gets the next sequence number."""
        record = self.begin("deployment", app, workspace, plugin)
        return self.complete(record, value)

    def add_release(
        self,
        app: str,
        workspace: str,
        plugin: str,
        deployment_id: str,
        value: Mapping[str, Any],
    ) -> Record:
        """Record a new live release of the deployment ``deployment_id`` of ``app``."""
        record = self.begin("release", app, workspace, plugin, deployment_id)
        return self.complete(record, value)

    def begin(
        self,
        kind: Kind,
        app: str,
        workspace: str,
        plugin: str,
        deployment_id: str | None = None,
    ) -> Record:
        """Record the intent to make a deployment or release, before its hook runs: a
        ``pending`` record with the next sequence number, owned by this command. Its id is
        the hook's ``job_info.id``; :meth:`complete` or :meth:`fail` it when the hook ends."""
        # As opaque and unique as uuid4().hex, without importing uuid at start-up.
        id = os.urandom(16).hex()
        created = datetime.now(timezone.utc)
        with self._writing() as db:
            if deployment_id is not None:
                self._check_deployment(app, workspace, deployment_id)
            (sequence,) = db.execute(
                "SELECT coalesce(max(sequence), 0) + 1 FROM targets"
                " WHERE kind = ? AND app = ? AND workspace = ?",
                (kind, app, workspace),
            ).fetchone()
            row = (kind, id, app, workspace, plugin, sequence, "{}", _micros(created), None)
            db.execute(_INSERT, (*row, deployment_id, "pending", this_command(), None, None))
        return Record(
            kind, id, app, workspace, plugin, sequence, {}, created, None, deployment_id, "pending"
        )

    def checkpoint(self, record: Record, value: Mapping[str, Any]) -> None:
        """Keep ``value`` as what ``record``'s unfinished hook has made so far, at once."""
        self._update(record, "checkpoint = ?", json.dumps(dict(value)))

    def complete(self, record: Record, value: Mapping[str, Any]) -> Record:
        """``record``'s hook returned ``value``: the record is live."""
        text = json.dumps(dict(value))
        self._update(record, "status = 'live', value = ?", text)
        # Read back as get() gives it (tuples become lists), not as the caller's object.
        return attrs.evolve(record, value=json.loads(text), status="live")

    def fail(self, record: Record, error: str) -> None:
        """``record``'s hook failed with ``error``; its checkpoint, if any, stays."""
        self._update(record, "status = 'failed', error = ?", error)

    def _update(self, record: Record, assignments: str, value: object) -> None:
        with self._writing() as db:
            db.execute(
                f"UPDATE targets SET {assignments} WHERE kind = ? AND id = ?",
                (value, record.kind, record.id),
            )

    def _check_deployment(self, app: str, workspace: str, deployment_id: str) -> None:
        found = self._db.execute(
            "SELECT 1 FROM targets"
            " WHERE kind = 'deployment' AND id = ? AND app = ? AND workspace = ?",
            (deployment_id, app, workspace),
        ).fetchone()
        if found is None:
            raise ValueError(
                f"no deployment {deployment_id!r} of app {app!r} in workspace {workspace!r} "
                f"in {self.path}"
            )

    def latest(self, kind: Kind, app: str, workspace: str) -> Record | None:
        """The newest live deployment or release of ``app`` that is not destroyed."""
        with self._guarded() as db:
            row = db.execute(
                f"SELECT {_RECORD_COLUMNS} FROM targets"
                " WHERE kind = ? AND app = ? AND workspace = ? AND destroyed IS NULL"
                " AND status = 'live' ORDER BY sequence DESC LIMIT 1",
                (kind, app, workspace),
            ).fetchone()
        return None if row is None else _record(row)

    def versions(self, kind: Kind, app: str, workspace: str) -> list[Record]:
        """Every deployment or release of ``app`` not destroyed, newest first: live ones,
        failed ones and pending ones (running, or interrupted)."""
        with self._guarded() as db:
            rows = db.execute(
                f"SELECT {_RECORD_COLUMNS} FROM targets"
                " WHERE kind = ? AND app = ? AND workspace = ? AND destroyed IS NULL"
                " ORDER BY sequence DESC",
                (kind, app, workspace),
            ).fetchall()
        return [_record(row) for row in rows]

    def get(self, kind: Kind, id: str) -> Record | None:
        """The deployment or release ``id``, destroyed or not."""
        with self._guarded() as db:
            row = db.execute(
                f"SELECT {_RECORD_COLUMNS} FROM targets WHERE kind = ? AND id = ?", (kind, id)
            ).fetchone()
        return None if row is None else _record(row)

    def claim(self, record: Record) -> bool:
        """Claim ``record`` for this command to destroy: False when it is destroyed already
        or another running command claimed it. From now on no report of it is stored."""
        with self._writing() as db:
            row = db.execute(
                "SELECT destroyed, claimed FROM targets WHERE kind = ? AND id = ?",
                (record.kind, record.id),
            ).fetchone()
            if row is None:
                raise ValueError(f"no {record.kind} {record.id!r} in {self.path}")
            destroyed, claimed = row
            if destroyed is not None or (claimed is not None and alive(claimed)):
                return False
            db.execute(
                "UPDATE targets SET claimed = ? WHERE kind = ? AND id = ?",
                (this_command(), record.kind, record.id),
            )
        return True

    def unclaim(self, record: Record) -> None:
        """Give up the claim of a destroy that failed: a later destroy may try again."""
        self._update(record, "claimed = ?", None)

    def mark_destroyed(self, kind: Kind, id: str) -> None:
        """Mark a target destroyed: it is never ``latest`` again, so never checked again.
        Marking it twice keeps the first time."""
        now = _micros(datetime.now(timezone.utc))
        with self._writing() as db:
            changed = db.execute(
                "UPDATE targets SET destroyed = coalesce(destroyed, ?) WHERE kind = ? AND id = ?",
                (now, kind, id),
            ).rowcount
            if not changed:
                raise ValueError(f"no {kind} {id!r} in {self.path}")

    def add_reports(
        self, reports: Sequence[tuple[Record, StatusReport]], keep: int | None = None
    ) -> None:
        """Store finalized reports, each about its record's target, in one transaction.

        With ``keep``, only the newest ``keep`` reports of each of those targets remain
        afterwards (history retention), pruned in the same transaction.
        """
        if keep is not None and keep < 1:
            raise ValueError(f"keep must be 1 or more, got {keep}")
        # Encoded before the write lock is taken, so that other commands wait less.
        rows = [_report_row(record, report) for record, report in reports]
        if not rows:
            return
        with self._writing() as db:
            try:
                # Not for a target destroyed, or being destroyed, while it was checked.
                db.executemany(
                    "INSERT INTO reports"
                    " (kind, target_id, app, workspace, health, generated, report)"
                    " SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7 WHERE NOT EXISTS ("
                    "  SELECT 1 FROM targets WHERE kind = ?1 AND id = ?2"
                    "  AND (destroyed IS NOT NULL OR claimed IS NOT NULL))",
                    rows,
                )
            except sqlite3.IntegrityError:
                raise ValueError(
                    f"a report's target is not in {self.path}: store reports only of records "
                    "this state returned"
                ) from None
            if keep is not None:
                targets = {(record.kind, record.id) for record, _ in reports}
                db.executemany(
                    "DELETE FROM reports WHERE kind = ?1 AND target_id = ?2 AND id NOT IN ("
                    " SELECT id FROM reports WHERE kind = ?1 AND target_id = ?2"
                    " ORDER BY generated DESC, id DESC LIMIT ?3)",
                    [(kind, target_id, keep) for kind, target_id in sorted(targets)],
                )

    def last_report(self, kind: Kind, target_id: str) -> StatusReport | None:
        """The newest report stored for a target (the last stored when times are equal)."""
        with self._guarded() as db:
            row = db.execute(
                "SELECT report FROM reports WHERE kind = ? AND target_id = ?"
                " ORDER BY generated DESC, id DESC LIMIT 1",
                (kind, target_id),
            ).fetchone()
        return None if row is None else self._decode(row[0], kind, target_id)

    def last_reports(self, targets: Sequence[Record]) -> dict[str, StatusReport]:
        """The newest report of each target that has one, by target id."""
        found: dict[str, StatusReport] = {}
        for start in range(0, len(targets), _BATCH):
            batch = targets[start : start + _BATCH]
            values = ", ".join(["(?, ?)"] * len(batch))
            # One index seek per target, however many reports each has.
            query = (
                f"WITH wanted (wanted_kind, wanted_id) AS (VALUES {values})"
                " SELECT kind, target_id, report FROM wanted JOIN reports ON reports.id = ("
                "  SELECT id FROM reports WHERE kind = wanted_kind AND target_id = wanted_id"
                "  ORDER BY generated DESC, id DESC LIMIT 1)"
            )
            parameters = [item for record in batch for item in (record.kind, record.id)]
            with self._guarded() as db:
                rows = db.execute(query, parameters).fetchall()
            for kind, target_id, text in rows:
                found[target_id] = self._decode(text, kind, target_id)
        return found

    def history(self, app: str, workspace: str, limit: int | None = None) -> list[StoredReport]:
        """The reports of ``app``'s deployments and releases, destroyed ones included,
        newest first; at most ``limit`` of them."""
        if limit is not None and limit < 0:
            raise ValueError(f"limit must be 0 or more, got {limit}")
        with self._guarded() as db:
            rows = db.execute(
                "SELECT reports.kind, target_id, sequence, plugin, report,"
                # The target's report before this one, by the index of a target's reports.
                " (SELECT older.health FROM reports AS older"
                "  WHERE older.kind = reports.kind AND older.target_id = reports.target_id"
                "  AND (older.generated, older.id) < (reports.generated, reports.id)"
                "  ORDER BY older.generated DESC, older.id DESC LIMIT 1)"
                " FROM reports JOIN targets"
                " ON targets.kind = reports.kind AND targets.id = reports.target_id"
                " WHERE reports.app = ? AND reports.workspace = ?"
                " ORDER BY generated DESC, reports.id DESC LIMIT ?",
                (app, workspace, -1 if limit is None else limit),
            ).fetchall()
        return [
            StoredReport(
                kind,
                target_id,
                sequence,
                plugin,
                app,
                workspace,
                self._decode(text, kind, target_id),
                None if previous is None else Health[previous],
            )
            for kind, target_id, sequence, plugin, text, previous in rows
        ]

    def healths(
        self, app: str, workspace: str, kind: Kind, limit: int
    ) -> list[tuple[datetime, Health]]:
        """When each of the newest ``limit`` reports of ``app``'s deployments (or releases)
        was made, and its health, newest first; no report is decoded."""
        with self._guarded() as db:
            rows = db.execute(
                "SELECT generated, health FROM reports"
                " WHERE app = ? AND workspace = ? AND kind = ?"
                " ORDER BY generated DESC, id DESC LIMIT ?",
                (app, workspace, kind, limit),
            ).fetchall()
        return [(_time(generated), Health[health]) for generated, health in rows]

    def ready_counts(
        self, app: str, workspace: str, since: Sequence[datetime]
    ) -> list[tuple[int, int]]:
        """For each time in ``since``: how many of ``app``'s reports were made since then,
        and how many of those were READY, as ``(ready, all)``; one pass over its reports."""
        if not since:
            return []
        starts = [_micros(moment) for moment in since]
        counts = ", ".join(
            "coalesce(sum(generated >= ? AND health = 'READY'), 0),"
            " coalesce(sum(generated >= ?), 0)"
            for _ in starts
        )
        with self._guarded() as db:
            row = db.execute(
                f"SELECT {counts} FROM reports WHERE app = ? AND workspace = ? AND generated >= ?",
                (*[start for start in starts for _ in range(2)], app, workspace, min(starts)),
            ).fetchone()
        return [(row[index], row[index + 1]) for index in range(0, len(row), 2)]

    def _decode(self, text: str, kind: str, target_id: str) -> StatusReport:
        try:
            return report_from_json(text)
        except ReportDecodeError as exc:
            raise StateError(
                f"state {self.path}: a stored report of {kind} {target_id} cannot be read "
                f"({exc}); it was changed by something else than waypoint-hooks"
            ) from None
