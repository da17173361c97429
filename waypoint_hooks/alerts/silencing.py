"""Making and lifting silences (DESIGN §15), as ``silence``/``unsilence`` and ``POST`` and
``DELETE /api/silences`` do: the same checks, the same rows. While a silence is in force, the
state machine raises the app's firing alerts and reminders silenced (recorded, never sent);
the resolved of a firing alert that was sent is sent all the same."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Final

from ..config.project import Project
from ..errors import UsageError
from ..model.durations import Duration
from ..state.columns import Kind
from ..state.database import Database
from ..state.silences import Silence
from ..state.store import State

__all__ = ["LONGEST", "MAX_COMMENT", "lift", "silence"]

#: The longest a silence lasts: one meant to last for ever is a notify block to change.
LONGEST: Final = timedelta(days=366)
#: The longest comment kept, in characters.
MAX_COMMENT: Final = 500


def silence(
    state: State,
    project: Project,
    workspace: str,
    app: str,
    kind: Kind | None,
    duration: float,
    comment: str = "",
    made_by: str = "",
    now: datetime | None = None,
) -> Silence:
    """Silence the alerts of ``app`` (of its ``kind``, or of both kinds) for ``duration``
    seconds from ``now``. :class:`UnknownAppError` for an app the config does not have;
    :class:`UsageError` for a duration or a comment that cannot be kept."""
    project.select([app])
    length = timedelta(seconds=duration)
    if not timedelta(0) < length <= LONGEST:
        raise UsageError(
            f"a silence lasts more than 0s and at most {LONGEST.days} days "
            f"({Duration(LONGEST.total_seconds())}); got {Duration(duration)}"
        )
    if len(comment) > MAX_COMMENT:
        raise UsageError(f"a silence's comment is at most {MAX_COMMENT} characters")
    created = now or datetime.now(timezone.utc)

    def write(tx: Database) -> Silence:
        expires = created + length
        return state.silences.add(tx, workspace, app, kind, created, expires, comment, made_by)

    return state.write(write)


def lift(state: State, workspace: str, id: int, now: datetime | None = None) -> Silence | None:
    """Lift the silence ``id`` of ``workspace`` now; the silence after (unchanged when it had
    ended already), or ``None`` when there is no such silence."""
    at = now or datetime.now(timezone.utc)
    return state.write(lambda tx: state.silences.lift(tx, workspace, id, at))
