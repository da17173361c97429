"""The scheduler of ``serve`` on its own, on a state of its own: which keys start, in which
batches, and when they end; what another instance holds. Ordered by events the checks wait
on, never by timing."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from helpers_state import written

from waypoint_hooks.serve.scheduler import Scheduler
from waypoint_hooks.state.columns import CheckKey, micros
from waypoint_hooks.state.store import State

WEB: CheckKey = ("web", "deployment")
DB: CheckKey = ("db", "deployment")
SLOW: CheckKey = ("slow", "deployment")
FAST: CheckKey = ("fast", "deployment")


@pytest.fixture
def state(tmp_path: Path) -> Iterator[State]:
    with State.open(tmp_path / "state.db") as opened:
        written(opened, opened.cluster.renew, datetime.now(timezone.utc), 3600, serving=True)
        yield opened


class Checks:
    """A check function that records each batch and ends each key at once, but a key held:
    that one once released; and a key silent: that one it never says is over."""

    def __init__(self, state: State) -> None:
        self.batches: list[list[CheckKey]] = []
        self.held: dict[CheckKey, asyncio.Event] = {}
        self.silent: set[CheckKey] = set()
        self.failing = False
        #: When each key's latest check started.
        self.starts: dict[CheckKey, datetime] = {}
        self.scheduler = Scheduler(
            self.check, state, "default", jitter=0.0, resolution=0.0, poll=0.01
        )

    async def check(self, keys: list[CheckKey]) -> AsyncIterator[tuple[CheckKey, datetime]]:
        self.batches.append(keys)
        if self.failing:
            raise RuntimeError("the state went away")
        # The keys not held first: they end while the held ones still run.
        for key in sorted(keys, key=lambda key: key in self.held):
            if key in self.held:
                await self.held[key].wait()
            # A held key waited in the queue: its check starts once it is released.
            self.starts[key] = datetime.now(timezone.utc)
            if key not in self.silent:
                yield key, self.starts[key]

    def started(self, key: CheckKey) -> int:
        return sum(key in batch for batch in self.batches)


def _run(
    state: State,
    test: Callable[[Checks], Awaitable[Any]],
    planned: Mapping[CheckKey, float] | None = None,
) -> None:
    """Run ``test`` beside a scheduler, which plans ``planned`` before its first turn (as
    the service plans before it runs: a key due in the state that its first turn finds
    unplanned is declined, left to the other instances)."""

    async def main() -> None:
        checks = Checks(state)
        if planned is not None:
            checks.scheduler.plan(planned)
        running = asyncio.ensure_future(checks.scheduler.run())
        try:
            await asyncio.wait_for(test(checks), 60)
        finally:
            checks.scheduler.stop()
            for event in checks.held.values():
                event.set()
            await asyncio.wait([running], timeout=60)

    asyncio.run(main())


async def _until(condition: Callable[[], bool]) -> None:
    while not condition():
        await asyncio.sleep(0.001)


def test_keys_due_together_start_as_one_batch(state: State) -> None:
    async def test(checks: Checks) -> None:
        checks.scheduler.plan({WEB: 3600, DB: 3600})
        await _until(lambda: checks.batches != [])
        assert checks.batches == [[DB, WEB]]  # as due as each other: by app

    _run(state, test)


def test_check_now_of_a_running_key_waits_for_it_and_starts_no_other(state: State) -> None:
    async def test(checks: Checks) -> None:
        checks.held[WEB] = asyncio.Event()
        checks.scheduler.plan({WEB: 3600})
        await _until(lambda: checks.started(WEB) == 1)
        waiting = asyncio.ensure_future(checks.scheduler.check_now([WEB]))
        await asyncio.sleep(0.05)
        assert not waiting.done()
        checks.held[WEB].set()
        await waiting
        assert checks.started(WEB) == 1
        await checks.scheduler.check_now([WEB])
        assert checks.started(WEB) == 2

    _run(state, test)


def test_a_key_that_ended_runs_again_while_its_batch_waits_for_a_slow_one(state: State) -> None:
    async def test(checks: Checks) -> None:
        checks.held[SLOW] = asyncio.Event()
        checks.scheduler.plan({SLOW: 3600, FAST: 0.01})
        await _until(lambda: checks.started(FAST) == 3)
        assert checks.batches[0] == [FAST, SLOW]
        assert checks.started(SLOW) == 1
        assert checks.scheduler.checking >= 1

    _run(state, test)


def test_a_check_that_waited_to_start_is_due_an_interval_after_it_started(
    state: State, tmp_path: Path
) -> None:
    """Not after its batch was taken: a check that waited for a slot (or for the state) would
    come due early, and start less than an interval after the one before."""

    def due() -> int | None:
        with sqlite3.connect(tmp_path / "state.db") as db:
            ((value, holder),) = db.execute("SELECT due, holder FROM checks WHERE app = 'web'")
        return None if holder is not None else int(value)

    async def test(checks: Checks) -> None:
        checks.held[WEB] = asyncio.Event()
        await _until(lambda: checks.started(WEB) == 1)
        await asyncio.sleep(0.05)  # waiting in the queue, while the clock goes on
        checks.held[WEB].set()
        await _until(lambda: WEB in checks.starts and due() is not None)
        assert due() == micros(checks.starts[WEB] + timedelta(seconds=3600))

    _run(state, test, {WEB: 3600})


def test_a_key_its_check_does_not_yield_ends_with_its_batch(state: State) -> None:
    async def test(checks: Checks) -> None:
        checks.held[SLOW] = asyncio.Event()
        checks.silent.add(FAST)
        checks.scheduler.plan({SLOW: 3600, FAST: 0.01})
        await _until(lambda: checks.started(SLOW) == 1)
        await asyncio.sleep(0.05)
        assert checks.started(FAST) == 1  # still running, as far as the scheduler knows
        checks.held[SLOW].set()
        await _until(lambda: checks.started(FAST) == 2)

    _run(state, test)


def test_a_key_no_longer_planned_is_not_checked_again(state: State) -> None:
    async def test(checks: Checks) -> None:
        checks.scheduler.plan({WEB: 0.01, DB: 0.01})
        await _until(lambda: checks.started(DB) >= 2)
        checks.scheduler.plan({WEB: 0.01})
        seen = checks.started(DB)
        await _until(lambda: checks.started(WEB) >= seen + 5)
        assert checks.started(DB) <= seen + 1  # at most the one that was due

    _run(state, test)


def test_the_interval_is_jittered_by_ten_percent(state: State) -> None:
    asked: list[tuple[float, float]] = []

    def uniform(low: float, high: float) -> float:
        asked.append((low, high))
        return low

    async def main() -> None:
        scheduler = Scheduler(_noop, state, "default", uniform=uniform, resolution=0.0, poll=0.01)
        running = asyncio.ensure_future(scheduler.run())
        scheduler.plan({WEB: 3600})
        await _until(lambda: asked != [])
        scheduler.stop()
        await running

    asyncio.run(main())
    assert asked[0] == pytest.approx((0.9, 1.1))


async def _noop(keys: list[CheckKey]) -> AsyncIterator[tuple[CheckKey, datetime]]:
    for key in keys:
        yield key, datetime.now(timezone.utc)


def test_a_batch_that_raises_stops_the_scheduler_with_its_error(state: State) -> None:
    async def main() -> None:
        checks = Checks(state)
        checks.failing = True
        checks.scheduler.plan({WEB: 0.01})
        with pytest.raises(RuntimeError, match="the state went away"):
            await asyncio.wait_for(checks.scheduler.run(), 60)
        assert not checks.scheduler.running

    asyncio.run(main())


#: A process of another machine, whose lease lasts.
ELSEWHERE = "0f0f0f0f-other-boot:4242:777"


def test_a_check_another_instance_holds_is_not_started_and_checked_now_once_given_back(
    state: State, tmp_path: Path
) -> None:
    written(state, state.cluster.plan_checks, "default", [WEB, DB], datetime.now(timezone.utc))
    with sqlite3.connect(tmp_path / "state.db", isolation_level=None) as db:
        db.execute(
            "INSERT INTO instances (owner, host, pid, started, renewed, lease_until, serving)"
            " VALUES (?, 'elsewhere', 4242, 0, 0, ?, 1)",
            (ELSEWHERE, 2**62),
        )
        db.execute("UPDATE checks SET holder = ? WHERE app = 'web'", (ELSEWHERE,))

    async def test(checks: Checks) -> None:
        await _until(lambda: checks.started(DB) == 1)
        asked = asyncio.ensure_future(checks.scheduler.check_now([WEB]))
        await asyncio.sleep(0.05)
        assert not asked.done()
        assert checks.started(WEB) == 0
        with sqlite3.connect(tmp_path / "state.db", isolation_level=None) as db:
            # Given back as an instance gives a check back: due an interval later, so that
            # only the check asked for now takes it (not also this one's next turn).
            due = micros(datetime.now(timezone.utc) + timedelta(hours=1))
            db.execute("UPDATE checks SET holder = NULL, due = ? WHERE app = 'web'", (due,))
        await asked
        assert checks.started(WEB) == 1

    _run(state, test, {WEB: 3600, DB: 3600})


def test_a_check_asked_for_as_the_scheduler_stops_is_given_back(
    state: State, tmp_path: Path
) -> None:
    async def main() -> None:
        checks = Checks(state)
        running = asyncio.ensure_future(checks.scheduler.run())
        checks.scheduler.plan({WEB: 3600})
        await _until(lambda: checks.started(WEB) == 1)
        asking = asyncio.ensure_future(checks.scheduler.check_now([WEB]))
        await asyncio.sleep(0)  # its take is under way
        checks.scheduler.stop()
        await asyncio.wait_for(running, 60)
        await asyncio.wait_for(asking, 60)

    asyncio.run(main())
    with sqlite3.connect(tmp_path / "state.db") as db:
        assert db.execute("SELECT holder FROM checks").fetchall() == [(None,)]
