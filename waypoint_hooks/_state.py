"""The state: deployments, releases, their status reports and the alerts those raised (the
outbox of DESIGN §15), in one SQLite file.

One module, over 400 lines, because every method is one transaction on one connection, and the
schema, its migrations and the queries that depend on its indexes must be read together.
"""

from __future__ import annotations

import contextlib
import errno
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

from ._alert import Alert, AlertState
from ._alerting import Alerting, Checked, Key, Watch
from ._health import HEALTH_NAMES, Health
from ._model import StatusReport
from ._owners import alive, this_command
from ._redact import redact_urls, redact_value
from ._wire import ReportDecodeError, report_from_json, report_to_json

__all__ = [
    "STATE_ENV",
    "Attempt",
    "Delivery",
    "Kind",
    "Record",
    "RecordStatus",
    "State",
    "StateError",
    "StoredAlert",
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


# Creates the state file if it is missing, never through a symbolic link.
_CREATE: Final = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
#: The files SQLite keeps beside a database, named after it.
_COMPANIONS: Final = ("-wal", "-shm", "-journal")


def _refuse_links(path: Path) -> None:
    """A state is never read or written through a symbolic link (DESIGN §13): it could point
    anywhere, and a link planted in place of the state would have it written there."""
    for candidate in (path.parent, path, *(Path(f"{path}{end}") for end in _COMPANIONS)):
        if candidate.is_symlink():
            raise StateError(
                f"state {path}: {candidate} is a symbolic link, and a state is never used "
                f"through one; remove the link, or name the real file with --state or "
                f"{STATE_ENV}"
            )


def _state_error(path: Path, exc: BaseException) -> StateError:
    # An OSError's str() names the file again.
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    if "locked" in reason:
        hint = f"another waypoint-hooks command kept it busy for over {_BUSY_TIMEOUT:g}s; try again"
    elif "full" in reason:
        hint = "free some disk space and try again"
    elif isinstance(exc, OSError) or any(
        word in reason for word in ("unable to open", "readonly", "permission")
    ):
        hint = (
            "check that the file can be read, and for a command that writes, that it and its "
            f"directory can be written; or choose another state file with --state or {STATE_ENV}"
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

    __slots__ = ("_db", "_deferred", "_file", "_lock", "_read_only", "path")

    def __init__(
        self, path: Path, connection: sqlite3.Connection, *, read_only: bool = False
    ) -> None:
        self.path: Final = path
        self._db = connection
        self._read_only = read_only
        # A sync hook runs in a worker thread, and its ctx.checkpoint() writes from there:
        # one thread at a time uses the connection (opened with check_same_thread=False).
        self._lock = threading.RLock()
        #: Outcomes written by the next write transaction, first (``complete(deferred=True)``).
        self._deferred: list[tuple[str, tuple[object, ...]]] = []
        #: The file opened, absolute (the command may change directory) and as (device,
        #: inode); None for a state in memory.
        self._file: tuple[Path, tuple[int, int]] | None = None

    @classmethod
    def open(cls, path: Path, *, read_only: bool = False) -> State:
        """Open the state at ``path``, creating it if needed: its directory 0700, the file
        0600 (DESIGN §13).

        With ``read_only``, for commands that only read: nothing is ever written, so a state
        the user can read but not write works; a state that does not exist reads as an empty
        one, and no file is made.

        Raises :class:`StateError` for a path that is, or is in, a symbolic link, and for a
        file that is not a state, is damaged, cannot be written (or read), or was written by
        a newer waypoint-hooks.
        """
        _refuse_links(path)
        if not read_only:
            try:
                path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                # Made here, not by SQLite, for its mode; its -wal and -shm files take it.
                # Only when it is new: closing a descriptor of a database file drops every
                # POSIX lock this process holds on it, those of its other connections too,
                # and another process may then take their WAL for unused and reset it.
                os.close(os.open(path, _CREATE | os.O_EXCL, 0o600))
            except FileExistsError:
                if path.is_dir():
                    error = IsADirectoryError(errno.EISDIR, "Is a directory")
                    raise _state_error(path, error) from None
            except OSError as exc:
                raise _state_error(path, exc) from None
            return cls._connect(path, str(path))
        if not path.exists():
            return cls._connect(path, ":memory:")
        uri = f"{path.absolute().as_uri()}?mode=ro"
        try:
            return cls._connect(path, uri, read_only=True)
        except StateError:
            if os.path.lexists(f"{path}-wal"):
                raise
            # In a directory this user cannot write, SQLite cannot make the -shm file a
            # reader of a WAL database needs; with no -wal file there is nothing but the
            # file itself to read, which SQLite then reads as immutable.
            return cls._connect(path, f"{uri}&immutable=1", read_only=True)

    @classmethod
    def _connect(cls, path: Path, database: str, *, read_only: bool = False) -> State:
        try:
            found = None if database == ":memory:" else os.stat(path)
            # isolation_level=None: this class begins and commits its transactions itself.
            connection = sqlite3.connect(
                database,
                timeout=_BUSY_TIMEOUT,
                isolation_level=None,
                check_same_thread=False,
                uri=True,
            )
        except (OSError, sqlite3.Error) as exc:
            raise _state_error(path, exc) from None
        state = cls(path, connection, read_only=read_only)
        if found is not None:
            state._file = (path.absolute(), (found.st_dev, found.st_ino))
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
                self._check_in_place()
                yield self._db
        except (sqlite3.IntegrityError, sqlite3.ProgrammingError):
            raise  # the caller's bug (a broken constraint, a closed state), not the file's
        except sqlite3.DatabaseError as exc:
            raise _state_error(self.path, exc) from None

    def _check_in_place(self) -> None:
        """Refuse to go on with a file that was moved or deleted since it was opened (what
        the state's own advice for a damaged one says to do): a long-running command would
        keep writing into the moved file, and hold its -wal and -shm files, named after the
        state's path, away from the new state there."""
        if self._file is None:
            return
        absolute, identity = self._file
        try:
            found = os.stat(absolute)
        except FileNotFoundError:
            found = None
        if found is None or (found.st_dev, found.st_ino) != identity:
            # What this command committed may still be in the -wal file at the old path,
            # which SQLite leaves there when the database moved: into the moved file with it.
            with contextlib.suppress(sqlite3.Error):
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            raise StateError(
                f"state {self.path} was moved or deleted while this command ran; it stopped "
                "rather than go on with a file that is no longer the state. Run it again to "
                "start a new state there, or put the file back"
            )

    @contextmanager
    def _writing(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, rolled back if anything in it fails."""
        with self._guarded() as db:
            # IMMEDIATE takes the write lock now (waiting up to the busy timeout), so that
            # what the transaction reads, such as max(sequence), cannot change before it
            # writes; a deferred one would fail with SQLITE_BUSY at its first write instead.
            db.execute("BEGIN IMMEDIATE")
            try:
                for statement, parameters in self._deferred:
                    db.execute(statement, parameters)
                yield db
                db.execute("COMMIT")
                self._deferred.clear()
            finally:
                if db.in_transaction:
                    db.execute("ROLLBACK")

    def flush(self) -> None:
        """Write the outcomes deferred by :meth:`complete`, if any are left."""
        if self._deferred:
            with self._writing():
                pass

    def _prepare(self) -> None:
        with self._guarded() as db:
            # Per connection, and a no-op inside a transaction: set before any.
            db.execute("PRAGMA foreign_keys = ON")
            version = self._version()
            if version == len(_MIGRATIONS):
                return
            if self._read_only:
                raise StateError(
                    f"state {self.path} has schema version {version}, older than this "
                    f"waypoint-hooks' {len(_MIGRATIONS)}, and this command only reads it: "
                    "a command that writes (deploy, status) upgrades it"
                )
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
        with self._writing() as db:
            db.execute(statement, parameters)

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
                    f" SELECT {_RECORD_COLUMNS} FROM wanted CROSS JOIN kinds JOIN targets"
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
        self, kind: Kind, app: str, workspace: str, condition: str = "", limit: int = -1
    ) -> list[Record]:
        with self._guarded() as db:
            rows = db.execute(
                f"SELECT {_RECORD_COLUMNS} FROM targets"
                " WHERE kind = ? AND app = ? AND workspace = ? AND destroyed IS NULL"
                f"{condition} ORDER BY sequence DESC LIMIT ?",
                (kind, app, workspace, limit),
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
        with self._writing() as db:
            gone = self._gone(db, [record for record, _ in reports])
            stored = [pair for pair in reports if (pair[0].kind, pair[0].id) not in gone]
            checked = self._checked(db, stored) if alerting is not None else []
            try:
                db.executemany(
                    "INSERT INTO reports"
                    " (kind, target_id, app, workspace, health, generated, report)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [row for row in rows if (row[0], row[1]) not in gone],
                )
            except sqlite3.IntegrityError:
                raise ValueError(
                    f"a report's target is not in {self.path}: store reports only of records "
                    "this state returned"
                ) from None
            pruned = {(r.kind, r.id, keeps[r.app]) for r, _ in stored if keeps.get(r.app)}
            # A seek: what is older than the target's keep-th newest report goes. The subquery
            # reads keep entries of the target's index, not every report the target has.
            db.executemany(
                "DELETE FROM reports WHERE kind = ?1 AND target_id = ?2 AND (generated, id) < ("
                " SELECT generated, id FROM reports WHERE kind = ?1 AND target_id = ?2"
                " ORDER BY generated DESC, id DESC LIMIT 1 OFFSET ?3 - 1)",
                sorted(pruned),
            )
            if alerting is None or not checked:
                return []
            return self._raise(db, alerting, checked)

    def _gone(self, db: sqlite3.Connection, records: Sequence[Record]) -> set[tuple[str, str]]:
        """Which of ``records`` were destroyed, or are being destroyed, meanwhile."""
        gone: set[tuple[str, str]] = set()
        # Each target asked about once, however many of the reports are about it.
        asked = list({(record.kind, record.id): record for record in records}.values())
        for start in range(0, len(asked), _BATCH):
            batch = asked[start : start + _BATCH]
            values = ", ".join(["(?, ?)"] * len(batch))
            rows = db.execute(
                f"WITH asked (asked_kind, asked_id) AS (VALUES {values})"
                " SELECT kind, id FROM asked JOIN targets ON kind = asked_kind AND id = asked_id"
                " WHERE destroyed IS NOT NULL OR claimed IS NOT NULL",
                [item for record in batch for item in (record.kind, record.id)],
            ).fetchall()
            gone.update(rows)
        return gone

    def _checked(
        self, db: sqlite3.Connection, reports: Sequence[tuple[Record, StatusReport]]
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

    def _raise(
        self, db: sqlite3.Connection, alerting: Alerting, checked: Sequence[Checked]
    ) -> list[Alert]:
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
        return self._history(app, workspace, -1 if limit is None else limit)

    def _history(self, app: str, workspace: str, limit: int) -> Iterator[StoredReport]:
        # Each target's sequence and plugin read once, when its first report comes: a join
        # would look the target up again for every one of its reports.
        targets: dict[tuple[str, str], tuple[int, str]] = {}
        with self._guarded() as db:
            rows = db.execute(
                "SELECT kind, target_id, report,"
                # The target's report before this one, by the index of a target's reports.
                " (SELECT older.health FROM reports AS older"
                "  WHERE older.kind = reports.kind AND older.target_id = reports.target_id"
                "  AND (older.generated, older.id) < (reports.generated, reports.id)"
                "  ORDER BY older.generated DESC, older.id DESC LIMIT 1)"
                " FROM reports WHERE app = ? AND workspace = ?"
                " ORDER BY generated DESC, id DESC LIMIT ?",
                (app, workspace, limit),
            )
            for kind, target_id, text, previous in rows:
                target = targets.get((kind, target_id))
                if target is None:
                    target = targets[kind, target_id] = db.execute(
                        "SELECT sequence, plugin FROM targets WHERE kind = ? AND id = ?",
                        (kind, target_id),
                    ).fetchone()
                sequence, plugin = target
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
        with self._writing() as db:
            rows = db.execute(
                "SELECT id, alert, attempts, claimed, lease_until FROM alerts"
                " WHERE delivered IS NULL AND next_attempt <= ? ORDER BY id",
                (moment,),
            ).fetchall()
            taken = [
                (id, text, attempts)
                for id, text, attempts, owner, until in rows
                if owner is None or until <= moment or not alive(owner)
            ]
            db.executemany(
                "UPDATE alerts SET claimed = ?, lease_until = ? WHERE id = ?",
                [(this_command(), moment + round(lease * 1e6), id) for id, _, _ in taken],
            )
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
        with self._writing() as db:
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
                changes = "delivered = coalesce(delivered, ?3), last_error = ?4"
            else:
                changes = "next_attempt = ?3, last_error = ?4"
            db.execute(
                f"UPDATE alerts SET attempts = ?2, {changes}, claimed = NULL, lease_until = NULL"
                " WHERE id = ?1",
                (delivery.id, number, _micros(retry_at or ended), error),
            )

    def next_delivery(self, now: datetime) -> datetime | None:
        """When an attempt is next due: the earliest next attempt of an undelivered alert, or
        for one another command holds, the end of its lease; ``None`` when all are delivered."""
        moment = _micros(now)
        with self._guarded() as db:
            rows = db.execute(
                "SELECT next_attempt, claimed, lease_until FROM alerts WHERE delivered IS NULL"
            ).fetchall()
        due = [
            max(until, next_attempt)
            if owner is not None and until > moment and alive(owner)
            else next_attempt
            for next_attempt, owner, until in rows
        ]
        return _time(min(due)) if due else None

    def alerts(self, workspace: str, limit: int | None = None) -> list[StoredAlert]:
        """The alerts raised in ``workspace``, newest first, with their attempts; at most
        ``limit`` of them."""
        with self._guarded() as db:
            rows = db.execute(
                "SELECT id, alert, raised, delivered, next_attempt FROM alerts"
                " WHERE workspace = ? ORDER BY id DESC LIMIT ?",
                (workspace, -1 if limit is None else limit),
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

    def _alert(self, text: str, id: int) -> Alert:
        try:
            return Alert.from_wire(json.loads(text))
        except ValueError as exc:  # a StructureError too
            raise StateError(
                f"state {self.path}: alert {id} cannot be read ({exc}); it was changed by "
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
