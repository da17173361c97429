"""The state's schema: numbered migrations in ``sql/migrations/NNNN_name.sql``, each taking
the schema from version N - 1 to N, and the upgrade that applies those a state lacks.

They are written in SQLite's words; PostgreSQL renders them in its own (``postgres``). A
migration's statements run in one transaction with the others: a state is upgraded whole or
not at all. Never edit a released migration; add the next one.
"""

from __future__ import annotations

import re
from typing import Final

from ..errors import StateError
from .database import STATE_ENV, Database
from .queries import SQL

__all__ = ["MIGRATIONS", "prepare"]

# A statement ends with a semicolon that ends its line (a comment's semicolon is inside one).
_END: Final = re.compile(r";[ \t]*$", re.MULTILINE)


def _load() -> tuple[tuple[str, ...], ...]:
    folder = SQL / "migrations"
    files = sorted(entry.name for entry in folder.iterdir() if entry.name.endswith(".sql"))
    numbers = [int(name.split("_", 1)[0]) for name in files]
    # A gap or a repeated number would silently change what version N means.
    assert numbers == list(range(1, len(files) + 1)), f"migrations misnumbered: {files}"
    return tuple(_statements((folder / name).read_text(encoding="utf-8")) for name in files)


def _statements(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in _END.split(text) if part.strip())


#: The statements of each migration, in order: entry N - 1 takes a state to version N.
MIGRATIONS: Final = _load()


def prepare(db: Database, where: str, read_only: bool) -> None:
    """Bring the state at ``db`` to the newest version, or say why it cannot be used."""
    with db.guarded() as guarded:
        version = _version(guarded, where)
        if version == len(MIGRATIONS):
            return
        if read_only:
            raise StateError(
                f"state {where} has schema version {version}, older than this "
                f"waypoint-hooks' {len(MIGRATIONS)}, and this command only reads it: "
                "a command that writes (deploy, status) upgrades it"
            )
        guarded.write(lambda tx: _migrate(tx, where))
        guarded.upgraded()


def _version(db: Database, where: str) -> int:
    version = db.version()
    if version > len(MIGRATIONS):
        raise StateError(
            f"state {where} was written by a newer waypoint-hooks (schema version "
            f"{version}; this one knows up to {len(MIGRATIONS)}): upgrade waypoint-hooks, "
            f"or choose another state with --state or {STATE_ENV}"
        )
    return version


def _migrate(tx: Database, where: str) -> None:
    # Read again under the lock: another process may have migrated meanwhile.
    tx.lock("schema")
    version = _version(tx, where)
    if version == 0 and tx.has_tables():
        raise StateError(
            f"state {where} is a database of something else than waypoint-hooks: "
            f"choose another state with --state or {STATE_ENV}"
        )
    for statements in MIGRATIONS[version:]:
        for statement in statements:
            tx.execute(tx.render(statement))
    tx.set_version(len(MIGRATIONS))
