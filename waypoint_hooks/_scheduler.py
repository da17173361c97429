"""When each target is checked next: every interval, with jitter, one check of a target at a time.

Waypoint's server polled every app's status on a timer; a service that checks many targets
must also keep them from all coming due at the same moment, and keep a slow target from
holding up the others. Here each target has its own due time: a check starts when it is due,
unless the target's previous check still runs (then it starts when that one ends), and the
next is due one interval, give or take the jitter, after it started. The targets due at one
moment start together, as one batch; each ends on its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import random
import time
from collections import deque
from collections.abc import Callable, Coroutine, Hashable, Iterable, Mapping
from typing import Any, Final, Generic, TypeVar, final

__all__ = ["JITTER", "RESOLUTION", "Scheduler"]

#: Each interval is stretched or shrunk by up to this fraction, at random.
JITTER: Final = 0.1
#: Batches start at most this often (seconds): under load, the targets that come due within
#: it start together, which costs far less than one by one; it is the most they wait for that.
RESOLUTION: Final = 0.1
#: How many of the latest start delays ``lags`` keeps.
_LAGS: Final = 1000

K = TypeVar("K", bound=Hashable)


@final
class Scheduler(Generic[K]):
    """Runs ``check(keys)`` for the planned keys that are due, each every its interval, on
    the running event loop.

    ``check`` makes the checks of a batch and stores their reports, and calls :meth:`ended`
    with each key as that key's check is over (a key it does not say ended, ends with the
    batch). A batch that raises stops the scheduler, and :meth:`run` raises that error once
    the batches still running have ended.
    """

    def __init__(
        self,
        check: Callable[[list[K]], Coroutine[Any, Any, None]],
        *,
        jitter: float = JITTER,
        resolution: float = RESOLUTION,
        uniform: Callable[[float, float], float] = random.uniform,
    ) -> None:
        self._check = check
        self._jitter = jitter
        self._resolution = resolution
        self._uniform = uniform
        self._intervals: dict[K, float] = {}
        #: The due time of each key that is not running, and a heap of them (with stale
        #: entries, skipped: a key's entry is live only while it matches ``_due``).
        self._due: dict[K, float] = {}
        self._heap: list[tuple[float, int, K]] = []
        self._order = itertools.count()
        #: Each running key's end, to come.
        self._running: dict[K, asyncio.Future[None]] = {}
        self._batches: set[asyncio.Task[None]] = set()
        #: When each key's latest check started.
        self._started: dict[K, float] = {}
        self._wake = asyncio.Event()
        self._stopping = False
        self._failure: BaseException | None = None
        #: Seconds between when each of the latest checks was due and when it started.
        self.lags: deque[float] = deque(maxlen=_LAGS)
        #: True while :meth:`run` schedules checks.
        self.running = False

    @property
    def checking(self) -> int:
        """How many checks run now."""
        return len(self._running)

    def plan(self, intervals: Mapping[K, float]) -> None:
        """From now on check exactly these keys, each every ``intervals[key]`` seconds.

        A new key is due at once; a key no longer planned is not checked again (a check of it
        that runs ends as it would); a key whose interval changed is next due one new
        interval after its last check started, or at once if that is past.
        """
        now = time.monotonic()
        for key in [key for key in self._intervals if key not in intervals]:
            del self._intervals[key]
            self._due.pop(key, None)
            self._started.pop(key, None)
        for key, interval in intervals.items():
            before = self._intervals.get(key)
            self._intervals[key] = interval
            started = self._started.get(key)
            if before is None and key not in self._running:
                self._set_due(key, now)
            elif before != interval and key in self._due and started is not None:
                self._set_due(key, max(started + self._spread(interval), now))
        self._wake.set()

    async def run(self) -> None:
        """Start the checks that are due, until :meth:`stop`; then wait for the batches that
        run to end."""
        self.running = True
        last = -self._resolution
        try:
            while not self._stopping:
                now = time.monotonic()
                if now >= last + self._resolution and self._heap and self._heap[0][0] <= now:
                    self._start(self._pop_due(now))
                    last = now
                self._wake.clear()
                wait = None
                if self._heap:
                    wait = max(self._heap[0][0], last + self._resolution) - now
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), wait)
        finally:
            self.running = False
        await asyncio.gather(*self._batches, return_exceptions=True)
        if self._failure is not None:
            raise self._failure

    def stop(self) -> None:
        """Start no more checks; :meth:`run` returns once the running ones ended."""
        self._stopping = True
        self._wake.set()

    async def check_now(self, keys: Iterable[K]) -> None:
        """Check ``keys`` now, or wait for their checks that run already (never two of one
        key at once); their next checks are due an interval after these started."""
        keys = list(keys)
        if not self._stopping:
            now = time.monotonic()
            idle = [key for key in keys if key not in self._running and key in self._intervals]
            for key in idle:
                self._due.pop(key, None)
            if idle:
                self._start([(key, now) for key in idle])
        waiting = [self._running[key] for key in keys if key in self._running]
        # Shielded: a client that goes away must not cancel a check the schedule shares.
        await asyncio.gather(*(asyncio.shield(end) for end in waiting))

    def ended(self, key: K) -> None:
        """``key``'s check is over: its next one is due an interval after it started (at once
        if that is past: a check that overran delayed only its own target)."""
        end = self._running.pop(key, None)
        if end is None:
            return
        end.set_result(None)
        interval = self._intervals.get(key)
        if interval is not None and not self._stopping:
            started = self._started.get(key, time.monotonic())
            self._set_due(key, max(started + self._spread(interval), time.monotonic()))
            self._wake.set()

    def _pop_due(self, now: float) -> list[tuple[K, float]]:
        due = []
        while self._heap and self._heap[0][0] <= now:
            when, _, key = heapq.heappop(self._heap)
            if self._due.get(key) == when:
                del self._due[key]
                due.append((key, when))
        return due

    def _start(self, batch: list[tuple[K, float]]) -> None:
        loop = asyncio.get_running_loop()
        started = time.monotonic()
        for key, due in batch:
            self._started[key] = started
            self._running[key] = loop.create_future()
            self.lags.append(started - due)
        ends = {key: self._running[key] for key, _ in batch}
        task = loop.create_task(self._check(list(ends)))
        self._batches.add(task)
        task.add_done_callback(lambda task: self._batch_ended(ends, task))

    def _batch_ended(self, ends: dict[K, asyncio.Future[None]], task: asyncio.Task[None]) -> None:
        self._batches.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self._failure = self._failure or task.exception()
            self.stop()
        for key, end in ends.items():
            # Not a key that ended in this batch and runs again, in a later one.
            if self._running.get(key) is end:
                self.ended(key)

    def _spread(self, interval: float) -> float:
        return interval * self._uniform(1 - self._jitter, 1 + self._jitter)

    def _set_due(self, key: K, due: float) -> None:
        self._due[key] = due
        heapq.heappush(self._heap, (due, next(self._order), key))
