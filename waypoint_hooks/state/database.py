"""What the state asks of the database that keeps it: SQLite's file (the embedded default) or a
PostgreSQL server (DESIGN §16). Both run the same queries, written once with ``?`` parameters;
each database says how it locks, versions its schema and reports its own failures."""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any, Final, Protocol, TypeVar, final

__all__ = ["NO_LIMIT", "STATE_ENV", "Database", "Owner", "Rows", "is_url"]

#: Overrides the state's location (a file, or a ``postgresql://`` URL), as ``--state`` does.
STATE_ENV: Final = "WAYPOINT_HOOKS_STATE"
#: A ``LIMIT`` that limits nothing: the largest 64-bit integer, which both databases take.
NO_LIMIT: Final = 2**63 - 1

T = TypeVar("T")


def is_url(location: str) -> bool:
    """Whether a state's location (``--state``) names a PostgreSQL database, not a file."""
    return location.startswith(("postgresql://", "postgres://"))


@final
class Owner:
    """The one thread that may use a connection: the one that opened it, until another
    :meth:`adopt` s it (a thread made to own it). A connection is never shared by threads
    taking turns under a lock: a use from any other thread is a bug, raised at once."""

    __slots__ = ("_thread",)

    def __init__(self) -> None:
        self._thread = threading.get_ident()

    def adopt(self) -> None:
        """The calling thread owns the connection from now on."""
        self._thread = threading.get_ident()

    def check(self, where: str) -> None:
        if threading.get_ident() != self._thread:
            raise RuntimeError(
                f"the state {where} was used from thread {threading.current_thread().name!r}, "
                "which does not own its connection"
            )


class Rows(Protocol):
    """What a query gives back (a DB-API cursor)."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Database(Protocol):
    """One connection to the state's database, used by the one thread that owns it."""

    @property
    def where(self) -> str:
        """How messages name the state: its file, or its URL without the password."""

    @property
    def shared(self) -> bool:
        """Whether processes of several machines may use it (then a pid says nothing)."""

    @property
    def for_update(self) -> str:
        """What makes a ``SELECT`` lock the rows it reads until the transaction ends: empty
        where writes take turns anyway (SQLite)."""

    @property
    def for_update_skip_locked(self) -> str:
        """The same, skipping the rows another transaction locked."""

    def guarded(self) -> AbstractContextManager[Database]:
        """The connection, for the thread that owns it (:class:`Owner`); the database's
        failures become :class:`StateError`."""

    def adopt(self) -> None:
        """The calling thread owns the connection from now on."""

    def execute(self, query: str, parameters: Sequence[object] = ()) -> Rows: ...

    def executemany(self, query: str, rows: Sequence[Sequence[object]]) -> None: ...

    def stream(self, query: str, parameters: Sequence[object] = ()) -> Generator[Any, None, None]:
        """The rows of ``query`` as they come, without holding all of them; close it if it
        is not read to the end."""

    def write(self, body: Callable[[Database], T], patience: float | None = None) -> T:
        """Run ``body`` in one write transaction: committed whole or not at all, and run again
        if the connection was lost before it is known to have committed; a lost connection is
        opened again for up to ``patience`` seconds (by default the database's own)."""

    def lock(self, name: str) -> None:
        """In a write transaction: hold the lock ``name`` until it ends, so that transactions
        that read and then write what the lock names take turns."""

    def render(self, statement: str) -> str:
        """A statement of the schema's migrations, in this database's dialect."""

    def version(self) -> int:
        """The schema version of the state: 0 for a database without one."""

    def set_version(self, version: int) -> None: ...

    def has_tables(self) -> bool:
        """Whether the database holds any table (of another program, when unversioned)."""

    def upgraded(self) -> None:
        """The schema was just created or migrated: settle what is set once per state."""

    def close(self) -> None: ...
