"""The state in one SQLite file (the embedded default): WAL, ``BEGIN IMMEDIATE`` writes, the
schema version in ``PRAGMA user_version``, and the rules of the state directory (DESIGN §13):
private, never through a link, read-only for commands that only read, and a file moved away
under a running command stops it."""

from __future__ import annotations

import contextlib
import errno
import os
import sqlite3
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from pathlib import Path
from typing import Any, Final, TypeVar, final

from ..errors import StateError
from .database import STATE_ENV, Database, Owner, Rows

__all__ = ["SQLiteDatabase"]

T = TypeVar("T")

# Long enough to outwait any other command's write (each is one short transaction), so that
# concurrent commands queue instead of failing with "database is locked".
_BUSY_TIMEOUT: Final = 30.0
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
class SQLiteDatabase:
    """A connection to the state file, used by the one thread that owns it."""

    # Every write transaction holds the file's one write lock: reads in it cannot go stale.
    shared = False
    for_update = ""
    for_update_skip_locked = ""

    def __init__(self, path: Path, connection: sqlite3.Connection) -> None:
        self.path: Final = path
        self.where: Final = str(path)
        self._db = connection
        self._owner = Owner()
        #: The file opened, absolute (the command may change directory) and as (device,
        #: inode); None for a state in memory.
        self._file: tuple[Path, tuple[int, int]] | None = None

    @classmethod
    def open(cls, path: Path, *, read_only: bool = False) -> tuple[SQLiteDatabase, bool]:
        """The file at ``path``, created if needed (its directory 0700, the file 0600); and
        whether it is opened read-only. A read-only open of a file that does not exist is a
        database in memory, which reads as an empty state, and no file is made."""
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
            return cls._connect(path, str(path)), False
        if not path.exists():
            return cls._connect(path, ":memory:"), False
        uri = f"{path.absolute().as_uri()}?mode=ro"
        try:
            return cls._connect(path, uri), True
        except StateError:
            if os.path.lexists(f"{path}-wal"):
                raise
            # In a directory this user cannot write, SQLite cannot make the -shm file a
            # reader of a WAL database needs; with no -wal file there is nothing but the
            # file itself to read, which SQLite then reads as immutable.
            return cls._connect(path, f"{uri}&immutable=1"), True

    @classmethod
    def _connect(cls, path: Path, database: str) -> SQLiteDatabase:
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
        opened = cls(path, connection)
        if found is not None:
            opened._file = (path.absolute(), (found.st_dev, found.st_ino))
        try:
            with opened.guarded():
                # Per connection, and a no-op inside a transaction: set before any.
                connection.execute("PRAGMA foreign_keys = ON")
                # Read now, so that a file that cannot be read is known at once.
                opened.version()
        except BaseException:
            connection.close()
            raise
        return opened

    def adopt(self) -> None:
        self._owner.adopt()

    def close(self) -> None:
        self._db.close()

    @contextlib.contextmanager
    def guarded(self) -> Iterator[Database]:
        self._owner.check(self.where)
        try:
            self._check_in_place()
            yield self
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

    def execute(self, query: str, parameters: Sequence[object] = ()) -> Rows:
        return self._db.execute(query, parameters)

    def executemany(self, query: str, rows: Sequence[Sequence[object]]) -> None:
        self._db.executemany(query, rows)

    def stream(self, query: str, parameters: Sequence[object] = ()) -> Generator[Any, None, None]:
        # A cursor steps through the rows as they are read; closed, it ends its read
        # transaction, which would keep the WAL from being checkpointed.
        rows = self._db.execute(query, parameters)
        try:
            # Not ``yield from``: it would close the cursor itself, unguarded.
            for row in rows:  # noqa: UP028
                yield row
        finally:
            # A reading left to the collector may end after the state was closed: its
            # cursor then went with the connection.
            with contextlib.suppress(sqlite3.ProgrammingError):
                rows.close()

    def write(self, body: Callable[[Database], T], patience: float | None = None) -> T:
        # A file is never lost as a connection is: nothing to wait for.
        with self.guarded():
            # IMMEDIATE takes the write lock now (waiting up to the busy timeout), so that
            # what the transaction reads, such as max(sequence), cannot change before it
            # writes; a deferred one would fail with SQLITE_BUSY at its first write instead.
            self._db.execute("BEGIN IMMEDIATE")
            try:
                result = body(self)
                self._db.execute("COMMIT")
            finally:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
        return result

    def lock(self, name: str) -> None:
        """Nothing to do: ``BEGIN IMMEDIATE`` holds the file's one write lock already."""

    def render(self, statement: str) -> str:
        return statement

    def version(self) -> int:
        version: int = self._db.execute("PRAGMA user_version").fetchone()[0]
        return version

    def set_version(self, version: int) -> None:
        self._db.execute(f"PRAGMA user_version = {version}")

    def has_tables(self) -> bool:
        return self._db.execute("SELECT 1 FROM sqlite_master").fetchone() is not None

    def upgraded(self) -> None:
        """Switch the file to WAL, which lets readers and one writer work at once.

        The mode is stored in the file, so only a new or older state needs this; after the
        migration, so that a file refused as foreign is left as it was. It cannot be done
        inside a transaction, and when processes race to switch a new file, SQLite fails
        all but one with "database is locked" at once rather than wait (they would deadlock):
        so this retries, for as long as the busy timeout.
        """
        deadline = time.monotonic() + _BUSY_TIMEOUT
        with self.guarded():
            while True:
                try:
                    self._db.execute("PRAGMA journal_mode = WAL")
                    return
                except sqlite3.OperationalError as exc:
                    if "locked" not in str(exc) or time.monotonic() > deadline:
                        raise
                time.sleep(0.005)
