"""The state: one database (an SQLite file, or PostgreSQL: DESIGN §16) opened, upgraded and
leased, and the stores over it — records (DESIGN §12), reports and their roll-ups (§14), the
alert outbox and the silences (§15), and the cluster (§16).

Reads go through a store; every write is one transaction that the caller opens with
:meth:`State.write` and hands to the stores' methods, so that what is written together is seen
together at the call site. A transaction's body may run again, whole, when the connection was
lost before it is known to have committed (PostgreSQL): it must do nothing but write.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Final, Generic, TypeVar, final, overload

from ..errors import StateError
from ..model.redaction import redact_urls
from .database import STATE_ENV, Database, is_url
from .heartbeat import LEASE, Heartbeat
from .records import Records
from .reports import Reports
from .rollups import Rollups
from .schema import prepare

if TYPE_CHECKING:
    from .cluster import Cluster
    from .outbox import Outbox
    from .silences import Silences

__all__ = ["STATE_ENV", "State", "default_state_path"]

T = TypeVar("T")


@final
class _Part(Generic[T]):
    """A store of the state made the first time it is used, then kept: its module is imported
    by the commands that use it only (``status --cached`` reads no alert, silence or lease)."""

    def __init__(self, make: Callable[[State], T]) -> None:
        self._make = make
        self._slot = ""

    def __set_name__(self, owner: type[State], name: str) -> None:
        self._slot = f"_{name}"

    @overload
    def __get__(self, state: None, owner: type[State]) -> _Part[T]: ...
    @overload
    def __get__(self, state: State, owner: type[State]) -> T: ...
    def __get__(self, state: State | None, owner: type[State]) -> _Part[T] | T:
        if state is None:
            return self
        part: T | None = getattr(state, self._slot)
        if part is None:
            part = self._make(state)
            setattr(state, self._slot, part)
        return part


def _new_outbox(state: State) -> Outbox:
    from .outbox import Outbox

    return Outbox(state._db, state.where)


def _new_silences(state: State) -> Silences:
    from .silences import Silences

    return Silences(state._db)


def _new_cluster(state: State) -> Cluster:
    from .cluster import Cluster

    return Cluster(state._db)


def default_state_path(config_path: Path) -> Path:
    """Where the state of the project configured by ``config_path`` lives by default."""
    return config_path.parent / ".waypoint-hooks" / "state.db"


@final
class State:
    """Deployments, releases, status reports and alerts of a project, in one SQLite file (WAL)
    or in a PostgreSQL database.

    Every write is one transaction in which what it reads cannot change before it writes
    (SQLite's ``BEGIN IMMEDIATE``; PostgreSQL's row and advisory locks), so that concurrent
    commands take turns (sequences stay distinct) instead of failing. Use :meth:`open`, and
    close it, or use it as a context manager.
    """

    __slots__ = (
        "_cluster",
        "_db",
        "_heartbeat",
        "_outbox",
        "_silences",
        "location",
        "read_only",
        "records",
        "reports",
        "rollups",
        "where",
    )

    outbox: Final = _Part(_new_outbox)
    silences: Final = _Part(_new_silences)
    cluster: Final = _Part(_new_cluster)

    def __init__(
        self, location: Path | str, database: Database, *, read_only: bool = False
    ) -> None:
        #: What it was opened from, to open it again (a URL with its password: never shown).
        self.location: Final = location
        #: How messages name the state: its file, or its URL without the password.
        self.where: Final = database.where
        self.read_only: Final = read_only
        self._db = database
        self._heartbeat: Heartbeat | None = None
        self.records: Final = Records(database, self.where)
        self.reports: Final = Reports(database, self.where)
        self.rollups: Final = Rollups(database)
        self._outbox: Outbox | None = None
        self._silences: Silences | None = None
        self._cluster: Cluster | None = None

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
            try:
                from .postgres import PostgresDatabase
            except ImportError as exc:  # the extra is not installed: said in a sentence
                raise StateError(f"state {redact_urls(location)}: {exc}") from None

            database, read_only = PostgresDatabase.open(location, read_only=read_only)
        else:
            from .sqlite import SQLiteDatabase

            database, read_only = SQLiteDatabase.open(Path(location), read_only=read_only)
        state = cls(location, database, read_only=read_only)
        try:
            prepare(database, state.where, read_only)
            if database.shared and leased:
                state.keep_alive()
        except BaseException:
            database.close()
            raise
        return state

    def write(self, body: Callable[[Database], T], patience: float | None = None) -> T:
        """Run ``body`` in one write transaction, handing it the transaction for the stores'
        writes: committed whole or not at all. A lost connection is opened again for up to
        ``patience`` seconds (by default, the database's own)."""
        return self._db.write(body, patience)

    def adopt(self) -> None:
        """The calling thread owns the state's connection from now on: the one thread that
        uses it (DESIGN §1)."""
        self._db.adopt()

    def keep_alive(
        self, lease: float = LEASE, *, serving: bool = False, location: str = ""
    ) -> None:
        """Keep a lease on the state while it is open (every third of ``lease`` renewed), so
        that other machines know this process runs (DESIGN §16): done on open where machines
        share it, and by ``serve`` (``serving``, in its ``location``), whose checks are held
        under it.

        Renewed on a connection of its own, so that a renewal never waits behind what this
        one does (a long reading of history), nor it behind a renewal that reconnects; and
        each renewal tries a lost connection again for a third of the lease at most, and the
        last farewell once: a process that stops while the database is away lets its lease
        run out instead of waiting for it."""
        if self._heartbeat is not None:
            self._heartbeat.stop()
        own = State.open(self.location, leased=False)
        beat = lease / 3

        def renew(moment: datetime, lease: float) -> None:
            own.adopt()  # the heartbeat's thread: the one that uses this connection
            own.write(
                lambda tx: own.cluster.renew(tx, moment, lease, serving=serving, location=location),
                beat,
            )

        def leave() -> None:
            try:
                own.write(own.cluster.leave, patience=0)
            finally:
                own.close()

        self._heartbeat = Heartbeat(renew, leave, lease)
        try:
            self._heartbeat.start()
        except BaseException:
            self._heartbeat = None
            own.close()
            raise

    @property
    def shared(self) -> bool:
        """Whether processes on several machines may share it: a PostgreSQL state."""
        return self._db.shared

    @property
    def cut_off(self) -> str | None:
        """Why the latest renewal of this process's lease failed (the database is away); ``None``
        while it is renewed, or without a lease."""
        return None if self._heartbeat is None else self._heartbeat.failure

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
