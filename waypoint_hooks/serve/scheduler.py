"""When each target is checked next: every interval, with jitter, one check of a target at a
time, shared by every ``serve`` instance on the state (DESIGN §14, §16).

Waypoint's server polled every app's status on a timer; a service that checks many targets
must also keep them from all coming due at the same moment, and keep a slow target from
holding up the others. Each app's deployment and release has its own due time, kept in the
state's ``checks`` table, so that any number of instances on one state share them: an instance
takes its share of the checks that are due (holding each under its lease, so that no other
starts it meanwhile), runs them, and gives each back due one interval, give or take the
jitter, after it started. A target whose check overran is due again at once: it delayed only
itself. An instance that dies holds its checks until its lease runs out; then the others take
them.

One transaction a turn gives back what ended and takes what is due, so the state is asked a
few times per batch of checks, not per check; the turns come when the earliest check falls
due, and at least every :data:`POLL` seconds (what other instances gave back).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Collection, Iterable, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Final, final

from ..errors import StateError
from ..state.cluster import Taken
from ..state.columns import CheckKey, Kind
from ..state.owned import OnState, inline
from ..state.store import State

__all__ = ["JITTER", "POLL", "REPLAN", "RESOLUTION", "Scheduler"]

logger = logging.getLogger("waypoint_hooks.serve")

#: Each interval is stretched or shrunk by up to this fraction, at random.
JITTER: Final = 0.1
#: Turns come at most this often (seconds): under load, the checks that come due within it
#: start together, which costs far less than one by one; it is the most they wait for that.
RESOLUTION: Final = 0.1
#: Turns come at least this often (seconds): checks other instances gave back, or left when
#: they took their share, are taken within it.
POLL: Final = 0.5
#: How often an instance says again which checks it serves (seconds): a check no instance
#: serves any more is dropped (:data:`~waypoint_hooks.state.store.UNPLANNED`).
REPLAN: Final = 60.0
#: How many of the latest start delays ``lags`` keeps.
_LAGS: Final = 1000


def _now() -> datetime:
    return datetime.now(timezone.utc)


@final
class Scheduler:
    """Runs ``check(keys)`` for the planned keys (an app's deployment or release) that are
    due, each every its interval, on the running event loop; the due times are in ``state``,
    shared with the other instances of ``workspace`` (those of ``apps`` only, when named);
    an instance in a ``location`` takes the checks of no location and those of its own.

    ``check`` makes the checks of a batch and stores their reports, yielding each key as that
    key's check is over, with when that check started: its next check is due an interval
    after that, while the slower ones of its batch still run (a key it does not yield ends
    with the batch, as though it started with it). A batch that raises stops the scheduler,
    and :meth:`run` raises that error once the batches still running have ended.
    """

    def __init__(
        self,
        check: Callable[[list[CheckKey]], AsyncIterator[tuple[CheckKey, datetime]]],
        state: State,
        workspace: str,
        *,
        apps: Sequence[str] = (),
        location: str = "",
        jitter: float = JITTER,
        resolution: float = RESOLUTION,
        poll: float = POLL,
        uniform: Callable[[float, float], float] = random.uniform,
        on_state: OnState = inline,
    ) -> None:
        self._check = check
        self._state = state
        #: Where ``state``'s connection is used: in the service, a thread that owns it.
        self._on_state = on_state
        self._workspace = workspace
        self._apps = tuple(apps)
        self._location = location
        #: The apps checked from each of their locations: from this instance's, here.
        self._located: frozenset[str] = frozenset()
        self._jitter = jitter
        self._resolution = resolution
        self._poll = poll
        self._uniform = uniform
        self._intervals: dict[CheckKey, float] = {}
        #: When the state was last told the keys of ``_intervals`` (monotonic); ``None``: at
        #: the next turn. Nothing to tell until :meth:`plan`.
        self._planned: float | None = float("inf")
        #: The checks that ended, each with its next due time, to give back at the next turn;
        #: and those taken that are not this instance's to check, given back as they were.
        self._ended: list[tuple[str, Kind, datetime]] = []
        self._declined: list[tuple[str, Kind, datetime]] = []
        #: The takes of checks asked for now that are under way.
        self._taking: set[asyncio.Future[Taken]] = set()
        #: Each running key's end, to come.
        self._running: dict[CheckKey, asyncio.Future[None]] = {}
        self._batches: set[asyncio.Task[None]] = set()
        #: When each running key's batch started: its check started then at the earliest.
        self._started: dict[CheckKey, datetime] = {}
        self._wake = asyncio.Event()
        self._stopping = False
        self._failure: BaseException | None = None
        #: Seconds between when each of the latest checks was due and when it started.
        self._lags: deque[float] = deque(maxlen=_LAGS)
        #: True while :meth:`run` schedules checks.
        self.running = False
        #: How many instances shared the checks at the latest turn (this one included).
        self.instances = 1
        #: Why the state could not be reached at the latest turn; ``None`` while it can.
        self.unreachable: str | None = None

    @property
    def checking(self) -> int:
        """How many checks run now."""
        return len(self._running)

    def lag_seconds(self) -> dict[str, float | None]:
        """How late the latest checks started after they were due: median, 99th percentile
        and worst, in seconds (``None`` before any started)."""
        lags = sorted(self._lags)
        return {
            "p50": _quantile(lags, 0.5),
            "p99": _quantile(lags, 0.99),
            "max": lags[-1] if lags else None,
        }

    def plan(self, intervals: Mapping[CheckKey, float], located: Collection[str] = ()) -> None:
        """From now on check exactly these keys, each every ``intervals[key]`` seconds; the
        keys of the apps ``located`` from this instance's location (DESIGN §21), the others
        once, by any instance.

        A key new to the state is due at once; a key no longer planned is not checked again
        (a check of it that runs ends as it would); a changed interval applies from the
        key's next check on.
        """
        self._intervals = dict(intervals)
        self._located = frozenset(located)
        self._planned = None
        self._wake.set()

    async def run(self) -> None:
        """Take and start the checks that are due, until :meth:`stop`; then wait for the
        batches that run to end, and give their checks back."""
        self.running = True
        try:
            while not self._stopping:
                self._wake.clear()
                wait = await self._turn_or_wait()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), wait)
        finally:
            self.running = False
            # A take under way for check_now ends first: what it took is given back.
            await asyncio.gather(*self._taking, return_exceptions=True)
            await asyncio.gather(*self._batches, return_exceptions=True)
        if self._ended or self._declined:
            ended, self._ended = self._ended, []
            declined, self._declined = self._declined, []
            try:
                await self._on_state(
                    lambda: self._state.cluster.take_checks(
                        self._workspace,
                        _now(),
                        ended,
                        declined=declined,
                        keys=[],
                        location=self._location,
                    )
                )
            except StateError as exc:
                logger.warning(
                    "the checks held were not given back (%s): the lease frees them", exc
                )
        if self._failure is not None:
            raise self._failure

    def stop(self) -> None:
        """Start no more checks; :meth:`run` returns once the running ones ended."""
        self._stopping = True
        self._wake.set()

    async def check_now(self, keys: Iterable[CheckKey]) -> None:
        """Check ``keys`` now, or wait for their checks that run already (never two of one
        key at once, in any instance: one another instance runs is waited for, and then
        made here); their next checks are due an interval after these started."""
        keys = [key for key in keys if key in self._intervals]
        waiting = [self._running[key] for key in keys if key in self._running]
        wanted = [key for key in keys if key not in self._running]
        while wanted and not self._stopping:
            taking = asyncio.ensure_future(self._take(wanted))
            self._taking.add(taking)
            # Registered before anyone awaits it, so it runs first: what the take held is
            # started, or given back, even when the request that asked goes away meanwhile.
            taking.add_done_callback(self._taken)
            taken = await asyncio.shield(taking)
            held = {(app, kind) for app, kind, _ in taken.checks}
            waiting += [self._running[key] for key in held if key in self._running]
            wanted = [key for key in wanted if key not in held]
            if wanted:  # held by another instance until its check ends
                await asyncio.sleep(self._resolution)
        # Shielded: a client that goes away must not cancel a check the schedule shares.
        await asyncio.gather(*(asyncio.shield(end) for end in waiting))

    async def _take(self, keys: list[CheckKey]) -> Taken:
        return await self._on_state(
            lambda: self._state.cluster.take_checks(
                self._workspace, _now(), keys=keys, location=self._location
            )
        )

    def _taken(self, taking: asyncio.Future[Taken]) -> None:
        self._taking.discard(taking)
        if taking.cancelled() or taking.exception() is not None:
            return  # the caller sees it; nothing was held
        self._start_or_give_back(
            [((app, kind), when) for app, kind, when in taking.result().checks]
        )

    def _end(self, key: CheckKey, end: asyncio.Future[None], started: datetime | None) -> None:
        """``key``'s check whose end is ``end`` is over: its next one is due an interval after
        it ``started`` (``None``: with its batch), at once if that is past: a check that
        overran delayed only its own target. Not from when its batch started: a check that
        waited for a slot, or for the state, would come due early by as long as it waited.
        Nothing if that check ended already (``key`` may run again, in a later batch, with an
        end of its own)."""
        if self._running.get(key) is not end:
            return
        del self._running[key]
        batch = self._started.pop(key)
        end.set_result(None)
        interval = self._intervals.get(key)
        due = _now()
        if interval is not None:
            since = started or batch
            due = max(since + timedelta(seconds=self._spread(interval)), due)
        self._ended.append((*key, due))

    async def _turn_or_wait(self) -> float:
        """A turn; while the state cannot be reached, a wait until the next try, the checks
        that ended kept to give back then (a check never starts unheld)."""
        ended, self._ended = self._ended, []
        declined, self._declined = self._declined, []
        try:
            wait = await self._turn(ended, declined)
        except StateError as exc:
            self._ended = ended + self._ended
            self._declined = declined + self._declined
            if self.unreachable is None:
                logger.warning("the state cannot be reached (%s): checks wait for it", exc)
            self.unreachable = str(exc)
            return self._poll
        if self.unreachable is not None:
            logger.info("the state can be reached again: checks go on")
            self.unreachable = None
        return wait

    async def _turn(
        self,
        ended: list[tuple[str, Kind, datetime]],
        declined: list[tuple[str, Kind, datetime]],
    ) -> float:
        """Give back what ended, take what is due and start it; how long until the next
        turn."""
        now = _now()
        if self._planned is None or time.monotonic() - self._planned >= REPLAN:
            keys, located = list(self._intervals), self._located
            await self._on_state(
                lambda: self._state.write(
                    lambda tx: self._state.cluster.plan_checks(
                        tx, self._workspace, keys, now, location=self._location, located=located
                    )
                )
            )
            self._planned = time.monotonic()
        taken = await self._on_state(
            lambda: self._state.cluster.take_checks(
                self._workspace,
                now,
                ended,
                declined=declined,
                apps=self._apps,
                location=self._location,
            )
        )
        self.instances = taken.instances
        due = [((app, kind), due) for app, kind, due in taken.checks]
        mine = [(key, when) for key, when in due if key in self._intervals]
        # Not this instance's to check (its config has no such app; another's has): left to
        # the others.
        self._declined += [(*key, when) for key, when in due if key not in self._intervals]
        self._start_or_give_back(mine)
        if taken.next_due is None:
            return self._poll
        until = (taken.next_due - _now()).total_seconds()
        return min(max(until, self._resolution), self._poll)

    def _start_or_give_back(self, batch: list[tuple[CheckKey, datetime]]) -> None:
        if self._stopping:  # taken as the service stopped: given back as they were
            self._ended += [(*key, when) for key, when in batch]
        else:
            self._start(batch)

    def _start(self, batch: list[tuple[CheckKey, datetime]]) -> None:
        if not batch:
            return
        loop = asyncio.get_running_loop()
        started = _now()
        for key, due in batch:
            self._started[key] = started
            self._running[key] = loop.create_future()
            self._lags.append(max((started - due).total_seconds(), 0.0))
        ends = {key: self._running[key] for key, _ in batch}
        task = loop.create_task(self._run_batch(ends))
        self._batches.add(task)
        task.add_done_callback(lambda task: self._batch_ended(ends, task))

    async def _run_batch(self, ends: dict[CheckKey, asyncio.Future[None]]) -> None:
        async for key, started in self._check(list(ends)):
            if key in ends:
                self._end(key, ends[key], started)

    def _batch_ended(
        self, ends: dict[CheckKey, asyncio.Future[None]], task: asyncio.Task[None]
    ) -> None:
        self._batches.discard(task)
        failure = None if task.cancelled() else task.exception()
        if isinstance(failure, StateError):
            # Its reports were not stored; its checks are given back, due as they were.
            logger.warning("checks of %s not stored: %s", ", ".join(map(str, ends)), failure)
            self.unreachable = str(failure)
        elif failure is not None:
            self._failure = self._failure or failure
            self.stop()
        for key, end in ends.items():
            self._end(key, end, None)

    def _spread(self, interval: float) -> float:
        return interval * self._uniform(1 - self._jitter, 1 + self._jitter)


def _quantile(ordered: Sequence[float], fraction: float) -> float | None:
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]
