"""The cluster store (DESIGN §16): the leases of the processes on a state, and the checks the
serve instances share — each due check held by one instance at a time, under its lease."""

from __future__ import annotations

import os
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Final, final

import attrs

from . import queries
from .columns import CheckKey, Kind, micros, time
from .database import Database
from .owners import this_command

__all__ = ["FORGOTTEN", "UNPLANNED", "Cluster", "Instance", "Taken"]

_SQL: Final = queries.load("cluster")
_FREE: Final = _SQL["free"]
_MINE_TO_TAKE: Final = _SQL["mine_to_take"].format(free=_FREE)

#: How long a check no serve instance said it serves is kept (seconds): instances say so
#: every :data:`~waypoint_hooks.serve.scheduler.REPLAN` seconds.
UNPLANNED: Final = 300.0
#: How long an instance whose lease ran out is still listed (seconds).
FORGOTTEN: Final = 24 * 3600.0


@final
@attrs.frozen
class Instance:
    """A process that shares the state with others, as ``GET /api/cluster`` lists it."""

    #: The process, as :func:`~waypoint_hooks.state.owners.this_command` names it.
    owner: str
    host: str
    pid: int
    #: Where it checks from (``serve --location``); empty: no location of its own.
    location: str
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
    """What :meth:`Cluster.take_checks` took."""

    #: The checks now held: ``(app, kind, due)`` of each.
    checks: list[tuple[str, Kind, datetime]]
    #: When the earliest check that none holds is due; ``None`` when there is none.
    next_due: datetime | None
    #: How many instances' leases last (1 at least: this one's).
    instances: int


@final
class Cluster:
    """The instances of a state and the checks they share."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def renew(
        self,
        tx: Database,
        moment: datetime,
        lease: float,
        *,
        serving: bool = False,
        location: str = "",
    ) -> None:
        """Say that this process runs, until ``lease`` seconds after ``moment``: until then,
        what it owns and holds stays its own, whichever machine looks. Renew well before the
        end. ``serving``: it is a serve instance, which takes its share of the checks (those
        of no location, and those of its ``location``)."""
        at = micros(moment)
        # Imported here: only a process that holds a lease needs it, not a reader.
        import socket

        row = (this_command(), socket.gethostname(), os.getpid(), at, at)
        tx.execute(_SQL["renew"], (*row, at + round(lease * 1e6), int(serving), location, at))
        tx.execute(_SQL["forget"], (at - round(FORGOTTEN * 1e6),))

    def leave(self, tx: Database) -> None:
        """This process stops: it holds no check any more, and has no lease."""
        tx.execute(_SQL["let_go"], (this_command(),))
        tx.execute(_SQL["leave"], (this_command(),))

    def plan_checks(
        self,
        tx: Database,
        workspace: str,
        keys: Sequence[CheckKey],
        moment: datetime,
        *,
        location: str = "",
        located: Collection[str] = (),
    ) -> None:
        """This instance serves ``keys`` (app, kind) of ``workspace``: each one the instances
        do not share yet is due at ``moment``; the others keep their due times. The apps
        ``located`` are checked from each of their locations: their checks are this
        instance's ``location``'s; the others', of no location, any instance's. Said again
        every little while: a check no instance said it serves for :data:`UNPLANNED` seconds
        (its app left every config) is dropped."""
        at = micros(moment)
        tx.executemany(
            _SQL["plan"],
            [
                (workspace, app, kind, location if app in located else "", at, at)
                for app, kind in sorted(set(keys))
            ],
        )
        tx.execute(_SQL["drop_unplanned"], (workspace, at - round(UNPLANNED * 1e6)))

    def take_checks(
        self,
        workspace: str,
        moment: datetime,
        released: Sequence[tuple[str, Kind, datetime]] = (),
        *,
        declined: Sequence[tuple[str, Kind, datetime]] = (),
        apps: Sequence[str] = (),
        keys: Sequence[CheckKey] | None = None,
        location: str = "",
    ) -> Taken:
        """In one transaction of its own: release this instance's checks that ended (each
        ``(app, kind, next due)``; one another instance took over meanwhile, as this one's
        lease ran out, is left to it) and those it ``declined`` (taken, but not its own to
        check: each is left to the others), then hold its share of the checks due at
        ``moment`` that no live instance holds, the longest due first (only those of
        ``apps``, when named). With nothing to give back and nothing due, no transaction:
        an idle instance writes nothing (no WAL, no transaction id) at each of its turns.

        Its share: the checks due and those the live instances hold, divided by the number
        of live instances, less those this one holds: so instances whose turns come at once
        take alike, and one busy with slow checks takes less. What one leaves, the next takes.
        With ``keys``, those checks are held whether due or not (a check asked for now),
        unless a live instance holds them.

        An instance takes the checks of no location and those of its ``location``; it shares
        them with the live instances of that location.
        """
        turn = _Turn(workspace, micros(moment), apps, location)
        if keys is None and not released and not declined:
            with self._db.guarded() as db:
                live, due, following = db.execute(turn.idle, turn.idle_parameters).fetchone()
            if not due:
                return Taken([], None if following is None else time(following), max(live, 1))
        return self._db.write(lambda tx: turn.take(tx, released, declined, keys))

    # --- reading ---------------------------------------------------------------------------

    def instances(self, moment: datetime, workspace: str) -> list[Instance]:
        """The serve instances that renewed a lease, the latest started first, with the checks
        of ``workspace`` each holds."""
        with self._db.guarded() as db:
            rows = db.execute(_SQL["instances"]).fetchall()
            held: dict[str, list[CheckKey]] = {}
            for holder, app, kind in db.execute(_SQL["held"], (workspace,)):
                held.setdefault(holder, []).append((app, kind))
        at = micros(moment)
        return [
            Instance(
                owner,
                host,
                pid,
                location,
                time(started),
                time(renewed),
                time(until),
                until > at,
                tuple(held.get(owner, ())),
            )
            for owner, host, pid, location, started, renewed, until in rows
        ]

    def locations_alive(self, moment: datetime) -> set[str]:
        """The locations where a serve instance's lease lasts at ``moment``."""
        with self._db.guarded() as db:
            rows = db.execute(_SQL["locations_alive"], (micros(moment),)).fetchall()
        return {location for (location,) in rows}


@final
class _Turn:
    """One turn of :meth:`Cluster.take_checks`: its queries, made of the named fragments, and
    their parameters."""

    def __init__(self, workspace: str, moment: int, apps: Sequence[str], location: str) -> None:
        self.workspace = workspace
        self.moment = moment
        self.location = location
        self.me = this_command()
        chosen = f" AND app IN ({', '.join(['?'] * len(apps))})" if apps else ""
        self.chosen = tuple(apps)
        due_here = _SQL["due_here"].format(mine_to_take=_MINE_TO_TAKE, chosen=chosen)
        #: The parameters of the free fragment, and of mine_to_take.
        self.free = (moment, self.me, moment, moment)
        self.mine = (*self.free, self.me)
        self.due_parameters = (workspace, moment, location, *self.mine, *self.chosen)
        fragments = {
            "due_here": due_here,
            "live_count": _SQL["live_count"],
            "next_due": _SQL["next_due"],
            "free": _FREE,
            "chosen": chosen,
            "mine_to_take": _MINE_TO_TAKE,
        }
        self.idle = _SQL["idle"].format(**fragments)
        self.idle_parameters = (moment, location, *self.due_parameters, workspace, location)
        self.shares = _SQL["shares"].format(**fragments)
        self.due = _SQL["due"].format(due_here=due_here, for_update_skip_locked="{lock}")
        self.following = _SQL["following"].format(next_due=_SQL["next_due"])

    def take(
        self,
        tx: Database,
        released: Sequence[tuple[str, Kind, datetime]],
        declined: Sequence[tuple[str, Kind, datetime]],
        keys: Sequence[CheckKey] | None,
    ) -> Taken:
        workspace, moment, me, location = self.workspace, self.moment, self.me, self.location
        for given, declined_by in ((released, None), (declined, me)):
            tx.executemany(
                _SQL["give_back"],
                [
                    (micros(due), declined_by, workspace, app, kind, me, location)
                    for app, kind, due in sorted(given)
                ],
            )
        if keys is not None:
            rows, live = self._asked(tx, keys), 1
        else:
            live, due, held, mine = tx.execute(
                self.shares,
                (
                    moment,
                    location,
                    *self.due_parameters,
                    *(workspace, location, *self.free, *self.chosen),
                    *(workspace, me, *self.chosen),
                ),
            ).fetchone()
            # What is due and what the live instances hold, evenly divided, less what this
            # one holds: instances whose turns come at once take alike.
            share = max(-(-(due + held) // max(live, 1)) - mine, 0)
            query = self.due.format(lock=tx.for_update_skip_locked)
            rows = tx.execute(query, (*self.due_parameters, share)).fetchall()
        tx.executemany(
            _SQL["hold"], [(me, workspace, app, kind, site) for app, kind, site, _ in rows]
        )
        (following,) = tx.execute(self.following, (workspace, location)).fetchone()
        return Taken(
            [(app, kind, time(due)) for app, kind, _, due in rows],
            None if following is None else time(following),
            max(live, 1),
        )

    def _asked(self, tx: Database, keys: Sequence[CheckKey]) -> list[tuple[str, Kind, str, int]]:
        wanted = sorted(set(keys))
        if not wanted:
            return []
        query = _SQL["asked"].format(
            mine_to_take=_MINE_TO_TAKE,
            values=", ".join(["(?, ?)"] * len(wanted)),
            for_update_skip_locked=tx.for_update_skip_locked,
        )
        parameters = (
            self.workspace,
            self.location,
            *self.mine,
            *[i for key in wanted for i in key],
        )
        return list(tx.execute(query, parameters).fetchall())
