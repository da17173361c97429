"""The silences store (DESIGN §15): while a silence is in force, the firing and reminder alerts
of its app (of one kind, or of both) are recorded silenced instead of sent. A silence is in
force from when it was made until it expires or is lifted; expiry is decided by the time it is
read at, so nothing needs to run when one ends. What a silence does to alerts is the alerts
wing's; here it is a row."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final, final

import attrs

from . import queries
from .columns import Kind, micros, time
from .database import Database

__all__ = ["Silence", "Silences"]

_SQL: Final = queries.load("silences")


@final
@attrs.frozen
class Silence:
    """A silence of the alerts of an app of a workspace: of its deployment's, its release's,
    or of both (``kind`` ``None``)."""

    id: int
    workspace: str
    app: str
    kind: Kind | None
    created: datetime
    expires: datetime
    comment: str = ""
    #: Who made it: ``user@host`` for a command, ``http client ADDRESS`` for the API.
    made_by: str = ""
    #: When it was lifted before it expired.
    lifted: datetime | None = None

    @property
    def ends(self) -> datetime:
        """When it stops (or stopped) being in force."""
        return self.expires if self.lifted is None else min(self.expires, self.lifted)

    def in_force(self, at: datetime) -> bool:
        return self.created <= at < self.ends

    def covers(self, workspace: str, app: str, kind: str, at: datetime) -> bool:
        """Whether it silences the alerts of ``app``'s ``kind`` raised by a report made ``at``."""
        return (
            (self.workspace, self.app) == (workspace, app)
            and self.kind in (None, kind)
            and self.in_force(at)
        )


@final
class Silences:
    """The silences of a state."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def add(
        self,
        tx: Database,
        workspace: str,
        app: str,
        kind: Kind | None,
        created: datetime,
        expires: datetime,
        comment: str = "",
        made_by: str = "",
    ) -> Silence:
        """Make a silence, in force from ``created`` until ``expires``."""
        row = (workspace, app, kind, micros(created), micros(expires), comment, made_by)
        (id,) = tx.execute(_SQL["insert"], row).fetchone()
        return Silence(id, workspace, app, kind, created, expires, comment, made_by)

    def lift(self, tx: Database, workspace: str, id: int, at: datetime) -> Silence | None:
        """Lift the silence ``id`` of ``workspace`` at ``at``, if it is in force then; the
        silence as it is after, or ``None`` when the workspace has no such silence."""
        row = tx.execute(_SQL["get"].format(for_update=tx.for_update), (workspace, id)).fetchone()
        if row is None:
            return None
        silence = _silence(row)
        if not silence.in_force(at):
            return silence
        tx.execute(_SQL["lift"], (micros(at), id))
        return attrs.evolve(silence, lifted=at)

    def since(self, tx: Database, workspaces: Sequence[str], at: datetime) -> list[Silence]:
        """The silences of ``workspaces`` in force at some time from ``at`` on: all that may
        cover a report made then or later."""
        moment = micros(at)
        return [
            _silence(row)
            for workspace in sorted(set(workspaces))
            for row in tx.execute(_SQL["since"], (workspace, moment, moment)).fetchall()
        ]

    # --- reading ---------------------------------------------------------------------------

    def in_force(self, workspace: str, at: datetime) -> list[Silence]:
        """The silences of ``workspace`` in force at ``at``, the soonest to end first."""
        moment = micros(at)
        with self._db.guarded() as db:
            rows = db.execute(_SQL["in_force"], (workspace, moment, moment, moment)).fetchall()
        return [_silence(row) for row in rows]


def _silence(row: Any) -> Silence:
    id, workspace, app, kind, created, expires, comment, made_by, lifted = row
    ended = None if lifted is None else time(lifted)
    return Silence(id, workspace, app, kind, time(created), time(expires), comment, made_by, ended)
