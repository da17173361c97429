"""The outbox store (DESIGN §15): what the alert state machine keeps between two reports (its
watches, as JSON), the alerts raised, written in the transaction of the report that raised
them, and every attempt to deliver them. An alert raised under a silence is recorded with it
and never delivered. What the watches mean is the alerts wing's; here they are text."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Final, final

import attrs

from ..errors import StateError
from ..model.alert import Alert, AlertState
from . import queries
from .columns import BATCH, micros, now, running, time
from .database import NO_LIMIT, Database
from .owners import this_command

__all__ = ["Attempt", "Delivery", "Outbox", "StoredAlert", "WatchKey"]

_SQL: Final = queries.load("outbox")

#: A notify block's watch over a target: ``(app, kind, target id, notify)``.
WatchKey = tuple[str, str, str, str]


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
    #: When the next attempt is due, while it is undelivered (and not silenced).
    next_attempt: datetime | None
    attempts: tuple[Attempt, ...] = ()
    #: The id of the silence it was raised under: it is never sent.
    silenced: int | None = None


@final
class Outbox:
    """The alerts of a state; ``where`` names the state in messages."""

    def __init__(self, db: Database, where: str) -> None:
        self._db = db
        self._where = where

    def watches(
        self, tx: Database, workspaces: Sequence[str], targets: Sequence[tuple[str, str, str]]
    ) -> dict[WatchKey, str]:
        """The watches of each app's current deployment and release in ``workspaces``, and
        those of ``targets`` (``(app, kind, target id)`` of each), as JSON."""
        found: dict[WatchKey, str] = {}
        for workspace in sorted(set(workspaces)):
            rows = tx.execute(_SQL["current_watches"], (workspace,)).fetchall()
            found |= {(app, kind, id, notify): text for app, kind, id, notify, text in rows}
        for app, kind, id in targets:
            rows = tx.execute(_SQL["target_watches"], (kind, id)).fetchall()
            found |= {(app, kind, id, notify): text for notify, text in rows}
        return found

    def raise_alerts(
        self,
        tx: Database,
        watches: Mapping[WatchKey, str],
        alerts: Sequence[tuple[Alert, int | None]],
    ) -> None:
        """Keep the watches that changed, and put ``alerts`` in the outbox, in order, each
        with the id of the silence it was raised under: those without one are due at once."""
        tx.executemany(
            _SQL["save_watch"],
            [(kind, id, notify, text) for (_, kind, id, notify), text in watches.items()],
        )
        moment = micros(now())
        tx.executemany(
            _SQL["insert_alert"],
            [
                (
                    a.notify,
                    a.app,
                    a.workspace,
                    a.kind,
                    a.target_id,
                    a.state,
                    moment,
                    a.to_json(),
                    moment,
                    silence,
                )
                for a, silence in alerts
            ],
        )

    def claim(self, tx: Database, moment: datetime, lease: float) -> list[Delivery]:
        """Claim for this command, for ``lease`` seconds, every undelivered alert whose next
        attempt is due at ``moment``, oldest first. One claimed by another command is left to
        it while that command runs and its lease lasts: two commands never attempt one alert
        at once, and what a command that died had claimed is taken over at once."""
        at = micros(moment)
        query = _SQL["due"].format(
            first=_SQL["first"], for_update_skip_locked=tx.for_update_skip_locked
        )
        taken = [
            (id, text, attempts)
            for id, text, attempts, owner, until, leased in tx.execute(query, (at,)).fetchall()
            if owner is None or until <= at or not running(owner, leased, at)
        ]
        tx.executemany(
            _SQL["claim"],
            [(this_command(), at + round(lease * 1e6), id) for id, _, _ in taken],
        )
        return [Delivery(id, self._alert(text, id), attempts) for id, text, attempts in taken]

    def record_attempt(
        self,
        tx: Database,
        delivery: Delivery,
        started: datetime,
        ended: datetime,
        error: str | None = None,
        retry_at: datetime | None = None,
    ) -> None:
        """Record an attempt to deliver a claimed alert: it delivered the alert (no
        ``error``), or it failed and the next one is due at ``retry_at``. Either way the
        claim ends."""
        (number,) = tx.execute(_SQL["next_attempt_number"], (delivery.id,)).fetchone()
        tx.execute(
            _SQL["insert_attempt"],
            (delivery.id, number, micros(started), micros(ended), error, this_command()),
        )
        after = _SQL["delivered"] if error is None else _SQL["retry"]
        tx.execute(after, (number, micros(retry_at or ended), error, delivery.id))

    # --- reading ---------------------------------------------------------------------------

    def next_delivery(self, moment: datetime) -> datetime | None:
        """When an attempt is next due: the earliest next attempt of an undelivered alert, or
        for one another command holds, the end of its lease; ``None`` when all are delivered."""
        at = micros(moment)
        with self._db.guarded() as db:
            rows = db.execute(_SQL["undelivered"].format(first=_SQL["first"])).fetchall()
        due = [
            max(until, next_attempt)
            if owner is not None and until > at and running(owner, leased, at)
            else next_attempt
            for next_attempt, owner, until, leased in rows
        ]
        return time(min(due)) if due else None

    def alerts(self, workspace: str, limit: int | None = None) -> list[StoredAlert]:
        """The alerts raised in ``workspace``, newest first, with their attempts; at most
        ``limit`` of them."""
        with self._db.guarded() as db:
            rows = db.execute(
                _SQL["alerts"], (workspace, NO_LIMIT if limit is None else limit)
            ).fetchall()
            attempts: dict[int, list[Attempt]] = {}
            for start in range(0, len(rows), BATCH):
                ids = [row[0] for row in rows[start : start + BATCH]]
                query = _SQL["attempts"].format(ids=", ".join("?" * len(ids)))
                for id, number, started, ended, error in db.execute(query, ids):
                    attempts.setdefault(id, []).append(
                        Attempt(number, time(started), time(ended), error)
                    )
        return [
            StoredAlert(
                id,
                self._alert(text, id),
                time(raised),
                None if delivered is None else time(delivered),
                None if delivered is not None or silenced is not None else time(next_attempt),
                tuple(attempts.get(id, ())),
                silenced,
            )
            for id, text, raised, delivered, next_attempt, silenced in rows
        ]

    def counts(self) -> dict[tuple[str, AlertState], int]:
        """How many alerts each notify block raised to be sent (not silenced), by state
        (``waypoint_hooks_alerts_total``)."""
        with self._db.guarded() as db:
            rows = db.execute(_SQL["counts"])
            return {(notify, state): count for notify, state, count in rows}

    def _alert(self, text: str, id: int) -> Alert:
        try:
            return Alert.from_wire(json.loads(text))
        except ValueError as exc:  # a StructureError too
            raise StateError(
                f"state {self._where}: alert {id} cannot be read ({exc}); it was changed by "
                "something else than waypoint-hooks"
            ) from None
