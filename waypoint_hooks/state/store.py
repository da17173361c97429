"""The state: deployments, releases, their status reports and the alerts those raised (the
outbox of DESIGN §15), in one SQLite file or in PostgreSQL (DESIGN §16).

One module, over 400 lines, because every method is one transaction on one connection, and the
schema, its migrations and the queries that depend on its indexes must be read together. The
queries are written once, for both databases (``_database``); what differs between them is in
``_sqlite`` and ``_postgres``.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Literal, TypeVar, final

import attrs

from ..alerts.machine import Alerting, Checked, Key, Watch
from ..errors import ReportDecodeError, StateError
from ..model.alert import Alert, AlertState
from ..model.health import HEALTH_NAMES, Health
from ..model.redaction import redact_urls, redact_value
from ..model.report import StatusReport
from ..model.wire import report_from_json, report_to_json
from .database import NO_LIMIT, STATE_ENV, Database, is_url
from .heartbeat import LEASE, Heartbeat
from .owners import alive, this_command

__all__ = [
    "STATE_ENV",
    "Attempt",
    "CheckKey",
    "Delivery",
    "Instance",
    "Kind",
    "Record",
    "RecordStatus",
    "State",
    "StoredAlert",
    "StoredReport",
    "Taken",
    "default_state_path",
]

T = TypeVar("T")

Kind = Literal["deployment", "release"]
#: ``interrupted`` is a ``pending`` record whose command is gone.
RecordStatus = Literal["pending", "live", "failed", "interrupted"]
#: A check that the serve instances share: an app's deployment or release, ``(app, kind)``.
CheckKey = tuple[str, Kind]

# Forward migrations: entry N takes the schema from version N to N + 1. Written in SQLite's
# words; PostgreSQL renders them in its own (_postgres). Statements run one by one, in one
# transaction: a migration applies whole or not at all. Never edit a released entry; append
# a new one.
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
    (
        # Alerts (DESIGN §15). Each notify block's watch over each target: what the alert
        # state machine knows between two reports, written with the report that changed it.
        """CREATE TABLE watches (
            kind TEXT NOT NULL,
            target_id TEXT NOT NULL,
            notify TEXT NOT NULL,
            watch TEXT NOT NULL,
            PRIMARY KEY (kind, target_id, notify),
            FOREIGN KEY (kind, target_id) REFERENCES targets (kind, id)
        )""",
        # The outbox: an alert is written in the transaction of the report that raised it,
        # and is undelivered (delivered IS NULL) until an attempt succeeds. A command that
        # takes it for an attempt claims it until lease_until; a claim of a command that is
        # gone, or whose lease ran out, is taken over.
        """CREATE TABLE alerts (
            id INTEGER PRIMARY KEY,
            notify TEXT NOT NULL,
            app TEXT NOT NULL,
            workspace TEXT NOT NULL,
            kind TEXT NOT NULL,
            target_id TEXT NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('firing', 'resolved', 'reminder')),
            raised INTEGER NOT NULL,
            alert TEXT NOT NULL,
            delivered INTEGER,
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt INTEGER NOT NULL,
            last_error TEXT,
            claimed TEXT,
            lease_until INTEGER,
            FOREIGN KEY (kind, target_id) REFERENCES targets (kind, id)
        )""",
        "CREATE INDEX alerts_undelivered ON alerts (next_attempt) WHERE delivered IS NULL",
        "CREATE INDEX alerts_of_workspace ON alerts (workspace, id)",
        # Every attempt to deliver an alert, failed or not.
        """CREATE TABLE alert_attempts (
            alert_id INTEGER NOT NULL REFERENCES alerts (id),
            number INTEGER NOT NULL,
            started INTEGER NOT NULL,
            ended INTEGER NOT NULL,
            error TEXT,
            owner TEXT NOT NULL,
            PRIMARY KEY (alert_id, number)
        )""",
    ),
    (
        # Several machines on one state (DESIGN §16). A process whose liveness another
        # machine must judge (a pid says nothing there) renews its lease here while it runs:
        # every serve, and every command on a state that machines share. What it owns or
        # claims is taken over once its lease ran out.
        """CREATE TABLE instances (
            owner TEXT PRIMARY KEY,
            host TEXT NOT NULL,
            pid INTEGER NOT NULL,
            started INTEGER NOT NULL,
            renewed INTEGER NOT NULL,
            lease_until INTEGER NOT NULL,
            -- 1 for a serve instance, which takes checks; 0 for any other command.
            serving INTEGER NOT NULL DEFAULT 0
        )""",
        # The checks the serve instances share: when each app's deployment (or release) of a
        # workspace is next due, and the instance that holds it while its check runs (one at
        # a time, by the holder's lease). By app, not by target: a new deployment made
        # meanwhile is the one its check checks.
        """CREATE TABLE checks (
            workspace TEXT NOT NULL,
            app TEXT NOT NULL,
            kind TEXT NOT NULL,
            due INTEGER NOT NULL,
            holder TEXT,
            -- When an instance last said it serves this app: one no instance serves any
            -- more is dropped.
            planned INTEGER NOT NULL,
            -- The instance that gave it back unchecked (its config has no such app): it
            -- leaves it to the others.
            declined TEXT,
            PRIMARY KEY (workspace, app, kind)
        )""",
        "CREATE INDEX checks_due ON checks (workspace, due)",
        "CREATE INDEX checks_held ON checks (workspace, holder) WHERE holder IS NOT NULL",
    ),
    (
        # How many reports each target has stored, kept in the transaction that stores or
        # prunes them: retention then deletes only the surplus, read from the oldest end of
        # the target's index, instead of seeking past the keep newest every time. NULL until
        # retention first needs it (counted then, once): writes without retention, and the
        # upgrade of a big state, do without it.
        "ALTER TABLE targets ADD COLUMN report_count INTEGER",
    ),
)

#: How long a check no serve instance said it serves is kept (seconds): instances say so
#: every :data:`~waypoint_hooks.serve.scheduler.REPLAN` seconds.
UNPLANNED: Final = 300.0
#: How long an instance whose lease ran out is still listed (seconds).
_FORGOTTEN: Final = 24 * 3600.0
# The end of the lease of the instance that ``column`` names (NULL: none, so no lease).
_LEASE_OF: Final = "(SELECT lease_until FROM instances WHERE instances.owner = {})"

_RECORD_COLUMNS: Final = (
    "kind, id, app, workspace, plugin, sequence, value, created, destroyed, deployment_id,"
    " status, owner, checkpoint, error"
)
_INSERT: Final = (
    f"INSERT INTO targets ({_RECORD_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
#: A record as :func:`_record` reads it: its columns and its owner's lease.
_RECORD_SELECT: Final = f"{_RECORD_COLUMNS}, {_LEASE_OF.format('targets.owner')}"

# SQLite's oldest limit on the number of ? in one statement is 999; each target takes two.
_BATCH: Final = 400


# Times are stored as integer microseconds since the Unix epoch: sortable, exact, compact.
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MICROSECOND: Final = timedelta(microseconds=1)


def default_state_path(config_path: Path) -> Path:
    """Where the state of the project configured by ``config_path`` lives by default."""
    return config_path.parent / ".waypoint-hooks" / "state.db"


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


@final
@attrs.frozen
class Instance:
    """A process that shares the state with others, as ``GET /api/cluster`` lists it."""

    #: The process, as :func:`~waypoint_hooks.state.owners.this_command` names it.
    owner: str
    host: str
    pid: int
    started: datetime
    renewed: datetime
    lease_until: datetime
    #: Whether its lease lasts: it runs, or was cut off less than a lease ago.
    alive: bool
    #: The checks it holds: ``(app, kind)`` of each, in the workspace asked about.
    holding: tuple[CheckKey, ...] = ()


@final
@attrs.frozen
class Taken:
    """What :meth:`State.take_checks` took."""

    #: The checks now held: ``(app, kind, due)`` of each.
    checks: list[tuple[str, Kind, datetime]]
    #: When the earliest check that none holds is due; ``None`` when there is none.
    next_due: datetime | None
    #: How many instances' leases last (1 at least: this one's).
    instances: int


@final
@attrs.frozen
class Attempt:
    """One attempt to deliver an alert."""

    number: int
    started: datetime
    ended: datetime
    #: Why it failed; ``None`` for the attempt that delivered it.
    error: str | None


@final
@attrs.frozen
class Delivery:
    """An alert of the outbox, claimed by this command for its next attempt."""

    id: int
    alert: Alert
    #: Attempts made before this one.
    attempts: int


@final
@attrs.frozen
class StoredAlert:
    """An alert of the outbox and how its delivery went, as ``alerts`` lists them."""

    id: int
    alert: Alert
    raised: datetime
    delivered: datetime | None
    #: When the next attempt is due, while it is undelivered.
    next_attempt: datetime | None
    attempts: tuple[Attempt, ...] = ()


def _micros(value: datetime) -> int:
    return (value - _EPOCH) // _MICROSECOND


def _time(micros: int) -> datetime:
    return _EPOCH + timedelta(microseconds=micros)


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _alive(owner: str, lease_until: int | None, now: int) -> bool:
    """Whether ``owner`` runs: by its pid on this machine, elsewhere by its lease."""
    return alive(owner, leased=lease_until is not None and lease_until > now)


def _record(row: Any) -> Record:
    (kind, id, app, workspace, plugin, sequence, value, created, destroyed, deployment_id) = row[
        :10
    ]
    status, owner, checkpoint, error, lease_until = row[10:]
    if status == "pending" and not _alive(owner or "", lease_until, _micros(_now())):
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


def _value_text(value: Mapping[str, Any]) -> str:
    """A hook's value as stored: JSON, without the secrets URLs in it carry (DESIGN §13)."""
    return json.dumps(redact_value(dict(value)))


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


#: An app's reports, newest first, with their targets in one query: each row and its target
#: are of one snapshot.
_HISTORY: Final = (
    "SELECT reports.kind, target_id, sequence, plugin, report,"
    # The target's report before this one, by the index of a target's reports.
    " (SELECT older.health FROM reports AS older"
    "  WHERE older.kind = reports.kind AND older.target_id = reports.target_id"
    "  AND (older.generated, older.id) < (reports.generated, reports.id)"
    "  ORDER BY older.generated DESC, older.id DESC LIMIT 1)"
    " FROM reports JOIN targets ON targets.kind = reports.kind AND targets.id = target_id"
    " WHERE reports.app = ? AND reports.workspace = ?"
    " ORDER BY generated DESC, reports.id DESC LIMIT ?"
)


@final
class State:
    """Deployments, releases and status reports of a project, in one SQLite file (WAL) or in
    a PostgreSQL database.

    Every write is one transaction in which what it reads cannot change before it writes
    (SQLite's ``BEGIN IMMEDIATE``; PostgreSQL's row and advisory locks), so that concurrent
    commands take turns (sequences stay distinct) instead of failing. Use :meth:`open`, and
    close it, or use it as a context manager.
    """

    __slots__ = ("_db", "_deferred", "_heartbeat", "_lock", "_read_only", "location", "where")

    def __init__(
        self, location: Path | str, database: Database, *, read_only: bool = False
    ) -> None:
        #: What it was opened from, to open it again (a URL with its password: never shown).
        self.location: Final = location
        #: How messages name the state: its file, or its URL without the password.
        self.where: Final = database.where
        self._db = database
        self._read_only = read_only
        self._heartbeat: Heartbeat | None = None
        # Outcomes a write transaction of this state writes first (``complete(deferred=True)``),
        # appended from the thread of a sync hook too: the lock guards the list, and is taken
        # before the database's own.
        self._lock = threading.RLock()
        self._deferred: list[tuple[str, tuple[object, ...]]] = []

    @classmethod
    def open(cls, location: Path | str, *, read_only: bool = False, leased: bool = True) -> State:
        """Open the state at ``location``: a file, created if needed (its directory 0700,
        the file 0600: DESIGN §13), or a ``postgresql://`` URL (DESIGN §16).

        With ``read_only``, for commands that only read: nothing is ever written, so a state
        the user can read but not write works; a state that does not exist reads as an empty
        one, and nothing is made.

        Where machines share the state, a command that writes keeps a lease on it while it
        is open (:meth:`keep_alive`); not with ``leased=False``, for a second connection of a
        process that keeps one already.

        Raises :class:`StateError` for a path that is, or is in, a symbolic link, a server
        that cannot be reached, and a database that is not a state, is damaged, cannot be
        written (or read), or was written by a newer waypoint-hooks.
        """
        # Asked to only read: then no lease either, whatever the database makes of it (one
        # without a state is read in tables of the session's own, which it may write).
        leased = leased and not read_only
        database: Database
        if isinstance(location, str) and is_url(location):
            from .postgres import PostgresDatabase

            database, read_only = PostgresDatabase.open(location, read_only=read_only)
        else:
            from .sqlite import SQLiteDatabase

            database, read_only = SQLiteDatabase.open(Path(location), read_only=read_only)
        state = cls(location, database, read_only=read_only)
        try:
            state._prepare()
            if database.shared and leased:
                state.keep_alive()
        except BaseException:
            database.close()
            raise
        return state

    def keep_alive(self, lease: float = LEASE, *, serving: bool = False) -> None:
        """Keep a lease on the state while it is open (every third of ``lease`` renewed), so
        that other machines know this process runs (DESIGN §16): done on open where machines
        share it, and by ``serve`` (``serving``), whose checks are held under it.

        Renewed on a connection of its own, so that a renewal never waits behind what this
        one does (a long reading of history), nor it behind a renewal that reconnects; and
        each renewal tries a lost connection again for a third of the lease at most, and the
        last farewell once: a process that stops while the database is away lets its lease
        run out instead of waiting for it."""
        if self._heartbeat is not None:
            self._heartbeat.stop()
        own = State.open(self.location, leased=False)
        beat = lease / 3

        def renew(now: datetime, lease: float) -> None:
            own.renew(now, lease, serving=serving, patience=beat)

        def leave() -> None:
            try:
                own.leave(patience=0)
            finally:
                own.close()

        self._heartbeat = Heartbeat(renew, leave, lease)
        try:
            self._heartbeat.start()
        except BaseException:
            own.close()
            raise

    def close(self) -> None:
        try:
            if self._heartbeat is not None:
                self._heartbeat.stop()
        finally:
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
        return f"State({self.where!r})"

    def _guarded(self) -> AbstractContextManager[Database]:
        return self._db.guarded()

    def _write(self, body: Callable[[Database], T], patience: float | None = None) -> T:
        """``body`` in one write transaction, which writes the deferred outcomes first."""

        def write(db: Database) -> T:
            for statement, parameters in self._deferred:
                db.execute(statement, parameters)
            return body(db)

        with self._lock:
            result = self._db.write(write, patience)
            self._deferred.clear()
        return result

    def flush(self) -> None:
        """Write the outcomes deferred by :meth:`complete`, if any are left."""
        if self._deferred:
            self._write(lambda db: None)

    def _prepare(self) -> None:
        with self._guarded() as db:
            version = self._version(db)
            if version == len(_MIGRATIONS):
                return
            if self._read_only:
                raise StateError(
                    f"state {self.where} has schema version {version}, older than this "
                    f"waypoint-hooks' {len(_MIGRATIONS)}, and this command only reads it: "
                    "a command that writes (deploy, status) upgrades it"
                )
            db.write(self._migrate)
            db.upgraded()

    def _version(self, db: Database) -> int:
        version = db.version()
        if version > len(_MIGRATIONS):
            raise StateError(
                f"state {self.where} was written by a newer waypoint-hooks (schema version "
                f"{version}; this one knows up to {len(_MIGRATIONS)}): upgrade waypoint-hooks, "
                f"or choose another state with --state or {STATE_ENV}"
            )
        return version

    def _migrate(self, db: Database) -> None:
        # Read again under the lock: another process may have migrated meanwhile.
        db.lock("schema")
        version = self._version(db)
        if version == 0 and db.has_tables():
            raise StateError(
                f"state {self.where} is a database of something else than waypoint-hooks: "
                f"choose another state with --state or {STATE_ENV}"
            )
        for statements in _MIGRATIONS[version:]:
            for statement in statements:
                db.execute(db.render(statement))
        db.set_version(len(_MIGRATIONS))

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

        def write(db: Database) -> int:
            if deployment_id is not None:
                self._check_deployment(db, app, workspace, deployment_id)
            # Until the transaction ends, no other can read the same max(sequence).
            db.lock(f"sequence {kind} {app} {workspace}")
            (sequence,) = db.execute(
                "SELECT coalesce(max(sequence), 0) + 1 FROM targets"
                " WHERE kind = ? AND app = ? AND workspace = ?",
                (kind, app, workspace),
            ).fetchone()
            row = (kind, id, app, workspace, plugin, sequence, "{}", _micros(created), None)
            db.execute(_INSERT, (*row, deployment_id, "pending", this_command(), None, None))
            return int(sequence)

        sequence = self._write(write)
        return Record(
            kind, id, app, workspace, plugin, sequence, {}, created, None, deployment_id, "pending"
        )

    def checkpoint(self, record: Record, value: Mapping[str, Any]) -> None:
        """Keep ``value`` as what ``record``'s unfinished hook has made so far, at once."""
        self._update(record, "checkpoint = ?", _value_text(value))

    def complete(
        self, record: Record, value: Mapping[str, Any], *, deferred: bool = False
    ) -> Record:
        """``record``'s hook returned ``value``: the record is live.

        ``deferred``: written by the next write transaction of this state, first, or by
        :meth:`flush`; the caller makes one of them come before any other hook can run, so
        that what a finished hook made is on disk before anything else may crash the command.
        """
        text = _value_text(value)
        self._update(record, "status = 'live', value = ?", text, deferred)
        # Read back as get() gives it (tuples become lists, URLs redacted), not as the
        # caller's object.
        return attrs.evolve(record, value=json.loads(text), status="live")

    def fail(self, record: Record, error: str) -> None:
        """``record``'s hook failed with ``error``; its checkpoint, if any, stays."""
        self._update(record, "status = 'failed', error = ?", redact_urls(error))

    def _update(
        self, record: Record, assignments: str, value: object, deferred: bool = False
    ) -> None:
        statement = f"UPDATE targets SET {assignments} WHERE kind = ? AND id = ?"
        parameters = (value, record.kind, record.id)
        if deferred:
            with self._lock:
                self._deferred.append((statement, parameters))
            return
        self._write(lambda db: db.execute(statement, parameters))

    def _check_deployment(self, db: Database, app: str, workspace: str, deployment_id: str) -> None:
        found = db.execute(
            "SELECT 1 FROM targets"
            " WHERE kind = 'deployment' AND id = ? AND app = ? AND workspace = ?",
            (deployment_id, app, workspace),
        ).fetchone()
        if found is None:
            raise ValueError(
                f"no deployment {deployment_id!r} of app {app!r} in workspace {workspace!r} "
                f"in {self.where}"
            )

    def latest(self, kind: Kind, app: str, workspace: str) -> Record | None:
        """The newest live deployment or release of ``app`` that is not destroyed."""
        found = self._not_destroyed(kind, app, workspace, " AND status = 'live'", 1)
        return found[0] if found else None

    def latest_of(self, apps: Sequence[str], workspace: str) -> dict[tuple[str, Kind], Record]:
        """:meth:`latest` of both kinds for each of ``apps``, by (app, kind), in one query per
        few hundred apps."""
        found: dict[tuple[str, Kind], Record] = {}
        for start in range(0, len(apps), _BATCH):
            batch = apps[start : start + _BATCH]
            values = ", ".join(["(?)"] * len(batch))
            # One seek of the index of targets alive per app and kind, as latest() makes.
            with self._guarded() as db:
                rows = db.execute(
                    f"WITH wanted (wanted_app) AS (VALUES {values}),"
                    " kinds (wanted_kind) AS (VALUES ('deployment'), ('release'))"
                    f" SELECT {_RECORD_SELECT} FROM wanted CROSS JOIN kinds JOIN targets"
                    " ON targets.kind = wanted_kind AND targets.id = ("
                    "  SELECT id FROM targets WHERE kind = wanted_kind AND app = wanted_app"
                    "  AND workspace = ? AND destroyed IS NULL AND status = 'live'"
                    "  ORDER BY sequence DESC LIMIT 1)",
                    [*batch, workspace],
                ).fetchall()
            for row in rows:
                record = _record(row)
                found[record.app, record.kind] = record
        return found

    def versions(self, kind: Kind, app: str, workspace: str) -> list[Record]:
        """Every deployment or release of ``app`` not destroyed, newest first: live ones,
        failed ones and pending ones (running, or interrupted)."""
        return self._not_destroyed(kind, app, workspace)

    def _not_destroyed(
        self, kind: Kind, app: str, workspace: str, condition: str = "", limit: int = NO_LIMIT
    ) -> list[Record]:
        with self._guarded() as db:
            rows = db.execute(
                f"SELECT {_RECORD_SELECT} FROM targets"
                " WHERE kind = ? AND app = ? AND workspace = ? AND destroyed IS NULL"
                f"{condition} ORDER BY sequence DESC LIMIT ?",
                (kind, app, workspace, limit),
            ).fetchall()
        return [_record(row) for row in rows]

    def get(self, kind: Kind, id: str) -> Record | None:
        """The deployment or release ``id``, destroyed or not."""
        with self._guarded() as db:
            row = db.execute(
                f"SELECT {_RECORD_SELECT} FROM targets WHERE kind = ? AND id = ?", (kind, id)
            ).fetchone()
        return None if row is None else _record(row)

    def claim(self, record: Record) -> bool:
        """Claim ``record`` for this command to destroy: False when it is destroyed already
        or another running command claimed it. From now on no report of it is stored."""

        def write(db: Database) -> bool:
            row = db.execute(
                f"SELECT destroyed, claimed, {_LEASE_OF.format('claimed')} FROM targets"
                f" WHERE kind = ? AND id = ?{db.for_update}",
                (record.kind, record.id),
            ).fetchone()
            if row is None:
                raise ValueError(f"no {record.kind} {record.id!r} in {self.where}")
            destroyed, claimed, lease_until = row
            if destroyed is not None or (
                claimed is not None and _alive(claimed, lease_until, _micros(_now()))
            ):
                return False
            db.execute(
                "UPDATE targets SET claimed = ? WHERE kind = ? AND id = ?",
                (this_command(), record.kind, record.id),
            )
            return True

        return self._write(write)

    def unclaim(self, record: Record) -> None:
        """Give up the claim of a destroy that failed: a later destroy may try again."""
        self._update(record, "claimed = ?", None)

    def mark_destroyed(self, kind: Kind, id: str) -> None:
        """Mark a target destroyed: it is never ``latest`` again, so never checked again.
        Marking it twice keeps the first time."""
        now = _micros(datetime.now(timezone.utc))

        def write(db: Database) -> int:
            return db.execute(
                "UPDATE targets SET destroyed = coalesce(destroyed, ?) WHERE kind = ? AND id = ?",
                (now, kind, id),
            ).rowcount

        if not self._write(write):
            raise ValueError(f"no {kind} {id!r} in {self.where}")

    def add_reports(
        self,
        reports: Sequence[tuple[Record, StatusReport]],
        keep: int | Mapping[str, int] | None = None,
        alerting: Alerting | None = None,
    ) -> list[Alert]:
        """Store finalized reports, each about its record's target, in one transaction.

        With ``keep`` (one number, or one per app), only the newest ``keep`` reports of each
        of those targets remain afterwards (history retention), pruned in the same
        transaction. With ``alerting``, the reports go through the alert state machine in the
        same transaction too: the watches it changes and the alerts it raises (the outbox) are
        written with them, and those alerts returned. A report of a target destroyed, or being
        destroyed, while it was checked is not stored and raises nothing.
        """
        keeps = keep if isinstance(keep, Mapping) else {record.app: keep for record, _ in reports}
        for count in keeps.values():
            if count is not None and count < 1:
                raise ValueError(f"keep must be 1 or more, got {count}")
        # Encoded before the write lock is taken, so that other commands wait less.
        rows = [_report_row(record, report) for record, report in reports]
        if not rows:
            return []

        def write(db: Database) -> list[Alert]:
            gone, counts = self._targets(db, [record for record, _ in reports])
            stored = [pair for pair in reports if (pair[0].kind, pair[0].id) not in gone]
            checked = self._checked(db, stored) if alerting is not None else []
            try:
                db.executemany(
                    "INSERT INTO reports"
                    " (kind, target_id, app, workspace, health, generated, report)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [row for row in rows if (row[0], row[1]) not in gone],
                )
            except db.integrity_error:
                raise ValueError(
                    f"a report's target is not in {self.where}: store reports only of records "
                    "this state returned"
                ) from None
            # By id alone, unique across the state (Record.id): no tuple made for each report.
            added = Counter([record.id for record, _ in stored])
            targets = {record.id: record for record, _ in stored}
            surplus: list[tuple[str, str, int]] = []
            recounted: list[tuple[int, str, str]] = []
            for id, record in sorted(targets.items()):
                kind, keep, known = record.kind, keeps.get(record.app), counts[record.kind, id]
                if keep is None and known is None:
                    continue  # not counted until retention needs it
                if known is None:
                    # Retention's first need of it: the target's index read once, the
                    # reports just stored included.
                    (count,) = db.execute(
                        "SELECT count(*) FROM reports WHERE kind = ? AND target_id = ?",
                        (kind, id),
                    ).fetchone()
                else:
                    count = known + added[id]
                if keep is not None and count > keep:
                    surplus.append((kind, id, count - keep))
                    count = keep
                # A target that keeps as many as it has stored (a --watch round once
                # retention began) has nothing to write.
                if count != known:
                    recounted.append((count, kind, id))
            # Only the oldest surplus rows are read, from the old end of the target's index.
            db.executemany(
                "DELETE FROM reports WHERE id IN (SELECT id FROM reports"
                " WHERE kind = ? AND target_id = ? ORDER BY generated, id LIMIT ?)",
                surplus,
            )
            db.executemany(
                "UPDATE targets SET report_count = ? WHERE kind = ? AND id = ?", recounted
            )
            if alerting is None or not checked:
                return []
            return self._raise(db, alerting, checked)

        return self._write(write)

    def _targets(
        self, db: Database, records: Sequence[Record]
    ) -> tuple[set[tuple[str, str]], dict[tuple[str, str], int | None]]:
        """Which of ``records`` were destroyed, or are being destroyed, meanwhile, and how
        many reports each has stored (``None``: not counted yet). They stay as they are
        until the transaction ends: locked where writers do not take turns (in one order, so
        that two transactions never wait for each other), so that the counts are still right
        when this one writes them."""
        gone: set[tuple[str, str]] = set()
        counts: dict[tuple[str, str], int | None] = {}
        # Each target asked about once, however many of the reports are about it.
        keys = sorted({(record.kind, record.id) for record in records})
        for start in range(0, len(keys), _BATCH):
            batch = keys[start : start + _BATCH]
            values = ", ".join(["(?, ?)"] * len(batch))
            rows = db.execute(
                f"WITH asked (asked_kind, asked_id) AS (VALUES {values})"
                " SELECT kind, id, destroyed IS NOT NULL OR claimed IS NOT NULL, report_count"
                " FROM asked JOIN targets ON kind = asked_kind AND id = asked_id"
                f" ORDER BY kind, id{db.for_update}",
                [item for key in batch for item in key],
            ).fetchall()
            gone.update((kind, id) for kind, id, away, _ in rows if away)
            counts.update(((kind, id), count) for kind, id, _, count in rows)
        return gone, counts

    def _checked(
        self, db: Database, reports: Sequence[tuple[Record, StatusReport]]
    ) -> list[Checked]:
        """The reports as the alert state machine takes them, each with the health of its
        target's report before it (read before they are stored)."""
        last: dict[tuple[str, str], Health | None] = {}
        checked = []
        for record, report in reports:
            key = (record.kind, record.id)
            if key not in last:
                row = db.execute(
                    "SELECT health FROM reports WHERE kind = ? AND target_id = ?"
                    " ORDER BY generated DESC, id DESC LIMIT 1",
                    key,
                ).fetchone()
                last[key] = None if row is None else Health[row[0]]
            previous, last[key] = last[key], report.health
            kind, app, workspace = record.kind, record.app, record.workspace
            checked.append(Checked(app, workspace, kind, record.id, report, previous))
        return checked

    def _raise(self, db: Database, alerting: Alerting, checked: Sequence[Checked]) -> list[Alert]:
        """Run ``checked`` through the alert state machine; store what it changed and raised."""
        watches: dict[Key, Watch] = {}
        for workspace in sorted({item.workspace for item in checked}):
            # The watches of each app's current deployment and release (what a dependent's
            # alerts wait on), and of the targets checked.
            rows = db.execute(
                "SELECT app, watches.kind, target_id, notify, watch FROM watches JOIN targets"
                " ON targets.kind = watches.kind AND targets.id = watches.target_id"
                " WHERE workspace = ? AND destroyed IS NULL AND status = 'live' AND sequence = ("
                "  SELECT max(sequence) FROM targets AS newer WHERE newer.kind = targets.kind"
                "  AND newer.app = targets.app AND newer.workspace = targets.workspace"
                "  AND newer.destroyed IS NULL AND newer.status = 'live')",
                (workspace,),
            ).fetchall()
            watches |= {(app, k, t, n): Watch.from_json(text) for app, k, t, n, text in rows}
        for item in checked:
            rows = db.execute(
                "SELECT notify, watch FROM watches WHERE kind = ? AND target_id = ?",
                (item.kind, item.target_id),
            ).fetchall()
            key = (item.app, item.kind, item.target_id)
            watches |= {(*key, notify): Watch.from_json(text) for notify, text in rows}
        changed, alerts = alerting.raise_alerts(watches, checked)
        db.executemany(
            "INSERT INTO watches (kind, target_id, notify, watch) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (kind, target_id, notify) DO UPDATE SET watch = excluded.watch",
            [
                (kind, target, notify, w.to_json())
                for (_, kind, target, notify), w in changed.items()
            ],
        )
        now = _micros(datetime.now(timezone.utc))
        db.executemany(
            "INSERT INTO alerts (notify, app, workspace, kind, target_id, state, raised, alert,"
            " next_attempt) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (a.notify, a.app, a.workspace, a.kind, a.target_id, a.state, now, a.to_json(), now)
                for a in alerts
            ],
        )
        return alerts

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

    def history(self, app: str, workspace: str, limit: int | None = None) -> Iterator[StoredReport]:
        """The reports of ``app``'s deployments and releases, destroyed ones included,
        newest first; at most ``limit`` of them. Read as they are iterated, one row at a
        time, so that a history of any length takes no more memory than one report."""
        if limit is not None and limit < 0:
            raise ValueError(f"limit must be 0 or more, got {limit}")
        return self._history(app, workspace, NO_LIMIT if limit is None else limit)

    def _history(self, app: str, workspace: str, limit: int) -> Iterator[StoredReport]:
        # Closed however the reading ends: a stream left open would keep the connection
        # (PostgreSQL) or hold a read transaction (SQLite).
        with (
            self._guarded() as db,
            contextlib.closing(db.stream(_HISTORY, (app, workspace, limit))) as rows,
        ):
            for kind, target_id, sequence, plugin, text, previous in rows:
                yield StoredReport(
                    kind,
                    target_id,
                    sequence,
                    plugin,
                    app,
                    workspace,
                    self._decode(text, kind, target_id),
                    None if previous is None else Health[previous],
                )

    # --- the outbox (DESIGN §15) ---------------------------------------------------------

    def claim_deliveries(self, now: datetime, lease: float) -> list[Delivery]:
        """Claim for this command, for ``lease`` seconds, every undelivered alert whose next
        attempt is due at ``now``, oldest first. One claimed by another command is left to it
        while that command runs and its lease lasts: two commands never attempt one alert at
        once, and what a command that died had claimed is taken over at once."""
        moment = _micros(now)

        def write(db: Database) -> list[tuple[int, str, int]]:
            # Skipping those another command is claiming at this moment: it takes them.
            rows = db.execute(
                f"SELECT id, alert, attempts, claimed, lease_until, {_LEASE_OF.format('claimed')}"
                " FROM alerts WHERE delivered IS NULL AND next_attempt <= ? ORDER BY id"
                f"{db.for_update_skip_locked}",
                (moment,),
            ).fetchall()
            taken = [
                (id, text, attempts)
                for id, text, attempts, owner, until, leased in rows
                if owner is None or until <= moment or not _alive(owner, leased, moment)
            ]
            db.executemany(
                "UPDATE alerts SET claimed = ?, lease_until = ? WHERE id = ?",
                [(this_command(), moment + round(lease * 1e6), id) for id, _, _ in taken],
            )
            return taken

        taken = self._write(write)
        return [Delivery(id, self._alert(text, id), attempts) for id, text, attempts in taken]

    def record_attempt(
        self,
        delivery: Delivery,
        started: datetime,
        ended: datetime,
        error: str | None = None,
        retry_at: datetime | None = None,
    ) -> None:
        """Record an attempt to deliver a claimed alert: it delivered the alert (no
        ``error``), or it failed and the next one is due at ``retry_at``. Either way the
        claim ends."""

        def write(db: Database) -> None:
            (number,) = db.execute(
                "SELECT coalesce(max(number), 0) + 1 FROM alert_attempts WHERE alert_id = ?",
                (delivery.id,),
            ).fetchone()
            db.execute(
                "INSERT INTO alert_attempts (alert_id, number, started, ended, error, owner)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (delivery.id, number, _micros(started), _micros(ended), error, this_command()),
            )
            if error is None:
                changes = "delivered = coalesce(delivered, ?), last_error = ?"
            else:
                changes = "next_attempt = ?, last_error = ?"
            db.execute(
                f"UPDATE alerts SET attempts = ?, {changes}, claimed = NULL, lease_until = NULL"
                " WHERE id = ?",
                (number, _micros(retry_at or ended), error, delivery.id),
            )

        self._write(write)

    def next_delivery(self, now: datetime) -> datetime | None:
        """When an attempt is next due: the earliest next attempt of an undelivered alert, or
        for one another command holds, the end of its lease; ``None`` when all are delivered."""
        moment = _micros(now)
        with self._guarded() as db:
            rows = db.execute(
                f"SELECT next_attempt, claimed, lease_until, {_LEASE_OF.format('claimed')}"
                " FROM alerts WHERE delivered IS NULL"
            ).fetchall()
        due = [
            max(until, next_attempt)
            if owner is not None and until > moment and _alive(owner, leased, moment)
            else next_attempt
            for next_attempt, owner, until, leased in rows
        ]
        return _time(min(due)) if due else None

    def alerts(self, workspace: str, limit: int | None = None) -> list[StoredAlert]:
        """The alerts raised in ``workspace``, newest first, with their attempts; at most
        ``limit`` of them."""
        with self._guarded() as db:
            rows = db.execute(
                "SELECT id, alert, raised, delivered, next_attempt FROM alerts"
                " WHERE workspace = ? ORDER BY id DESC LIMIT ?",
                (workspace, NO_LIMIT if limit is None else limit),
            ).fetchall()
            attempts: dict[int, list[Attempt]] = {}
            for start in range(0, len(rows), _BATCH):
                ids = [row[0] for row in rows[start : start + _BATCH]]
                for id, number, started, ended, error in db.execute(
                    "SELECT alert_id, number, started, ended, error FROM alert_attempts"
                    f" WHERE alert_id IN ({', '.join('?' * len(ids))}) ORDER BY number",
                    ids,
                ):
                    attempts.setdefault(id, []).append(
                        Attempt(number, _time(started), _time(ended), error)
                    )
        return [
            StoredAlert(
                id,
                self._alert(text, id),
                _time(raised),
                None if delivered is None else _time(delivered),
                None if delivered is not None else _time(next_attempt),
                tuple(attempts.get(id, ())),
            )
            for id, text, raised, delivered, next_attempt in rows
        ]

    def alert_counts(self) -> dict[tuple[str, AlertState], int]:
        """How many alerts each notify block raised, by state (``waypoint_hooks_alerts_total``)."""
        with self._guarded() as db:
            rows = db.execute("SELECT notify, state, count(*) FROM alerts GROUP BY notify, state")
            return {(notify, state): count for notify, state, count in rows}

    # --- several instances on one state (DESIGN §16) -----------------------------------------

    def renew(
        self,
        now: datetime,
        lease: float,
        *,
        serving: bool = False,
        patience: float | None = None,
    ) -> None:
        """Say that this process runs, until ``lease`` seconds after ``now``: until then, what
        it owns and holds stays its own, whichever machine looks. Renew well before the end.
        ``serving``: it is a serve instance, which takes its share of the checks. A lost
        connection is tried again for ``patience`` seconds (by default, the database's)."""
        moment = _micros(now)
        row = (this_command(), socket.gethostname(), os.getpid(), moment, moment)
        until = moment + round(lease * 1e6)

        def write(db: Database) -> None:
            db.execute(
                "INSERT INTO instances (owner, host, pid, started, renewed, lease_until, serving)"
                " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (owner) DO UPDATE"
                " SET renewed = excluded.renewed, lease_until = excluded.lease_until,"
                " serving = excluded.serving",
                (*row, until, int(serving)),
            )
            # An instance that died is listed (as not alive) for a while, then forgotten: it
            # owns nothing any more either way.
            db.execute(
                "DELETE FROM instances WHERE lease_until < ?", (moment - round(_FORGOTTEN * 1e6),)
            )

        self._write(write, patience)

    def leave(self, patience: float | None = None) -> None:
        """This process stops: it holds no check any more, and has no lease. A lost
        connection is tried again for ``patience`` seconds (by default, the database's)."""

        def write(db: Database) -> None:
            db.execute("UPDATE checks SET holder = NULL WHERE holder = ?", (this_command(),))
            db.execute("DELETE FROM instances WHERE owner = ?", (this_command(),))

        self._write(write, patience)

    def plan_checks(self, workspace: str, keys: Sequence[CheckKey], now: datetime) -> None:
        """This instance serves ``keys`` (app, kind) of ``workspace``: each one the instances
        do not share yet is due at ``now``; the others keep their due times. Said again every
        little while: a check no instance said it serves for :data:`UNPLANNED` seconds (its
        app left every config) is dropped."""
        wanted = sorted(set(keys))
        moment = _micros(now)

        def write(db: Database) -> None:
            db.executemany(
                "INSERT INTO checks (workspace, app, kind, due, planned) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (workspace, app, kind) DO UPDATE SET planned = excluded.planned",
                [(workspace, app, kind, moment, moment) for app, kind in wanted],
            )
            db.execute(
                "DELETE FROM checks WHERE workspace = ? AND planned < ?",
                (workspace, moment - round(UNPLANNED * 1e6)),
            )

        self._write(write)

    def take_checks(
        self,
        workspace: str,
        now: datetime,
        released: Sequence[tuple[str, Kind, datetime]] = (),
        *,
        declined: Sequence[tuple[str, Kind, datetime]] = (),
        apps: Sequence[str] = (),
        keys: Sequence[CheckKey] | None = None,
    ) -> Taken:
        """In one transaction: release this instance's checks that ended (each ``(app, kind,
        next due)``; one another instance took over meanwhile, as this one's lease ran out,
        is left to it) and those it ``declined`` (taken, but not its own to check: each is
        left to the others), then hold its share of the checks due at ``now`` that no live
        instance holds, the longest due first (only those of ``apps``, when named).

        Its share: the checks due and those the live instances hold, divided by the number
        of live instances, less those this one holds: so instances whose turns come at once
        take alike, and one busy with slow checks takes less. What one leaves, the next takes.
        With ``keys``, those checks are held whether due or not (a check asked for now),
        unless a live instance holds them.
        """
        moment = _micros(now)
        me = this_command()
        free = (
            "(holder IS NULL OR NOT EXISTS"
            " (SELECT 1 FROM instances WHERE owner = holder AND lease_until > ?))"
        )
        # What this instance declined is free for the others only.
        mine_to_take = f"{free} AND (declined IS NULL OR declined <> ?)"
        chosen = ""
        chosen_parameters: tuple[str, ...] = ()
        if apps:
            chosen = f" AND app IN ({', '.join(['?'] * len(apps))})"
            chosen_parameters = tuple(apps)
        # The checks this instance may take now, the live serve instances, and when the
        # earliest check none holds is due: asked by both ways a turn goes.
        due_here = f"workspace = ? AND due <= ? AND {mine_to_take}{chosen}"
        due_parameters = (workspace, moment, moment, me, *chosen_parameters)
        live_count = "(SELECT count(*) FROM instances WHERE serving = 1 AND lease_until > ?)"
        next_due = "(SELECT min(due) FROM checks WHERE workspace = ? AND holder IS NULL)"

        def write(db: Database) -> Taken:
            for given, declined_by in ((released, None), (declined, me)):
                db.executemany(
                    "UPDATE checks SET due = ?, holder = NULL, declined = ?"
                    " WHERE workspace = ? AND app = ? AND kind = ? AND holder = ?",
                    [
                        (_micros(due), declined_by, workspace, app, kind, me)
                        for app, kind, due in sorted(given)
                    ],
                )
            if keys is not None:
                wanted = sorted(set(keys))
                rows = (
                    []
                    if not wanted
                    else db.execute(
                        f"SELECT app, kind, due FROM checks WHERE workspace = ? AND {mine_to_take}"
                        f" AND (app, kind) IN (VALUES {', '.join(['(?, ?)'] * len(wanted))})"
                        f" ORDER BY app, kind{db.for_update_skip_locked}",
                        (workspace, moment, me, *[item for key in wanted for item in key]),
                    ).fetchall()
                )
                live = 1
            else:
                live, due, held, mine = db.execute(
                    f"SELECT {live_count}, (SELECT count(*) FROM checks WHERE {due_here}),"
                    f" (SELECT count(*) FROM checks WHERE workspace = ? AND holder IS NOT NULL"
                    f" AND NOT {free}{chosen}),"
                    f" (SELECT count(*) FROM checks WHERE workspace = ? AND holder = ?{chosen})",
                    (
                        moment,
                        *due_parameters,
                        *(workspace, moment, *chosen_parameters),
                        *(workspace, me, *chosen_parameters),
                    ),
                ).fetchone()
                # What is due and what the live instances hold, evenly divided, less what
                # this one holds: instances whose turns come at once take alike.
                share = max(-(-(due + held) // max(live, 1)) - mine, 0)
                rows = db.execute(
                    f"SELECT app, kind, due FROM checks WHERE {due_here}"
                    f" ORDER BY due, app, kind LIMIT ?{db.for_update_skip_locked}",
                    (*due_parameters, share),
                ).fetchall()
            db.executemany(
                "UPDATE checks SET holder = ? WHERE workspace = ? AND app = ? AND kind = ?",
                [(me, workspace, app, kind) for app, kind, _ in rows],
            )
            (following,) = db.execute(f"SELECT {next_due}", (workspace,)).fetchone()
            return Taken(
                [(app, kind, _time(due)) for app, kind, due in rows],
                None if following is None else _time(following),
                max(live, 1),
            )

        if keys is None and not released and not declined:
            # Nothing to give back: whether anything is due is read first, outside a write
            # transaction, so that an idle instance writes nothing (no WAL, no transaction
            # id) at each of its turns.
            with self._guarded() as db:
                live, due, following = db.execute(
                    f"SELECT {live_count}, (SELECT count(*) FROM checks WHERE {due_here}),"
                    f" {next_due}",
                    (moment, *due_parameters, workspace),
                ).fetchone()
            if not due:
                return Taken([], None if following is None else _time(following), max(live, 1))
        return self._write(write)

    def instances(self, now: datetime, workspace: str) -> list[Instance]:
        """The serve instances that renewed a lease, the latest started first, with the checks
        of ``workspace`` each holds."""
        with self._guarded() as db:
            rows = db.execute(
                "SELECT owner, host, pid, started, renewed, lease_until FROM instances"
                " WHERE serving = 1 ORDER BY started DESC, owner"
            ).fetchall()
            held: dict[str, list[CheckKey]] = {}
            for holder, app, kind in db.execute(
                "SELECT holder, app, kind FROM checks WHERE workspace = ? AND holder IS NOT NULL"
                " ORDER BY app, kind",
                (workspace,),
            ):
                held.setdefault(holder, []).append((app, kind))
        moment = _micros(now)
        return [
            Instance(
                owner,
                host,
                pid,
                _time(started),
                _time(renewed),
                _time(until),
                until > moment,
                tuple(held.get(owner, ())),
            )
            for owner, host, pid, started, renewed, until in rows
        ]

    def _alert(self, text: str, id: int) -> Alert:
        try:
            return Alert.from_wire(json.loads(text))
        except ValueError as exc:  # a StructureError too
            raise StateError(
                f"state {self.where}: alert {id} cannot be read ({exc}); it was changed by "
                "something else than waypoint-hooks"
            ) from None

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
            # CASE, not FILTER: SQLite has that only since 3.30, and PostgreSQL no sum of
            # booleans.
            "coalesce(sum(CASE WHEN generated >= ? AND health = 'READY' THEN 1 ELSE 0 END), 0),"
            " coalesce(sum(CASE WHEN generated >= ? THEN 1 ELSE 0 END), 0)"
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
                f"state {self.where}: a stored report of {kind} {target_id} cannot be read "
                f"({exc}); it was changed by something else than waypoint-hooks"
            ) from None
