"""The scheduler of ``serve`` on its own: which keys start, in which batches, and when they
end. Ordered by events the checks wait on, never by timing."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from waypoint_hooks._scheduler import Scheduler


class Checks:
    """A check function that records each batch and, for keys held, waits until released."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.held: dict[str, asyncio.Event] = {}
        self.failing = False
        self.scheduler: Scheduler[str] = Scheduler(self.check, resolution=0.0)

    async def check(self, keys: list[str]) -> None:
        self.batches.append(keys)
        if self.failing:
            raise RuntimeError("the state went away")
        await asyncio.gather(*(self.held[key].wait() for key in keys if key in self.held))

    def started(self, key: str) -> int:
        return sum(key in batch for batch in self.batches)


def _run(test: Callable[[Checks], Awaitable[Any]]) -> None:
    async def main() -> None:
        checks = Checks()
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


def test_keys_due_together_start_as_one_batch() -> None:
    async def test(checks: Checks) -> None:
        checks.scheduler.plan({"web": 3600, "db": 3600})
        await _until(lambda: checks.batches != [])
        assert checks.batches == [["web", "db"]]

    _run(test)


def test_check_now_of_a_running_key_waits_for_it_and_starts_no_other() -> None:
    async def test(checks: Checks) -> None:
        checks.held["web"] = asyncio.Event()
        checks.scheduler.plan({"web": 3600})
        await _until(lambda: checks.started("web") == 1)
        waiting = asyncio.ensure_future(checks.scheduler.check_now(["web"]))
        await asyncio.sleep(0.05)
        assert not waiting.done()
        checks.held["web"].set()
        await waiting
        assert checks.started("web") == 1
        await checks.scheduler.check_now(["web"])
        assert checks.started("web") == 2

    _run(test)


def test_a_key_that_ended_runs_again_while_its_batch_waits_for_a_slow_one() -> None:
    async def test(checks: Checks) -> None:
        checks.held["slow"] = asyncio.Event()
        checks.scheduler.plan({"slow": 3600, "fast": 0.01})
        await _until(lambda: checks.started("fast") == 1)
        checks.scheduler.ended("fast")  # as serve says once its report is stored
        await _until(lambda: checks.started("fast") == 3)
        assert checks.started("slow") == 1
        assert checks.scheduler.checking >= 1

    _run(test)


def test_a_key_no_longer_planned_is_not_checked_again() -> None:
    async def test(checks: Checks) -> None:
        checks.scheduler.plan({"web": 0.01, "db": 0.01})
        await _until(lambda: checks.started("db") >= 2)
        checks.scheduler.plan({"web": 0.01})
        seen = checks.started("db")
        await _until(lambda: checks.started("web") >= seen + 5)
        assert checks.started("db") <= seen + 1  # at most the one that was due

    _run(test)


def test_the_interval_is_jittered_by_ten_percent() -> None:
    asked: list[tuple[float, float]] = []

    def uniform(low: float, high: float) -> float:
        asked.append((low, high))
        return low

    async def main() -> None:
        scheduler: Scheduler[str] = Scheduler(_noop, uniform=uniform, resolution=0.0)
        running = asyncio.ensure_future(scheduler.run())
        scheduler.plan({"web": 3600})
        await _until(lambda: asked != [])
        scheduler.stop()
        await running

    asyncio.run(main())
    assert asked[0] == pytest.approx((0.9, 1.1))


async def _noop(keys: list[str]) -> None:
    return None


def test_a_batch_that_raises_stops_the_scheduler_with_its_error() -> None:
    async def main() -> None:
        checks = Checks()
        checks.failing = True
        checks.scheduler.plan({"web": 0.01})
        with pytest.raises(RuntimeError, match="the state went away"):
            await asyncio.wait_for(checks.scheduler.run(), 60)
        assert not checks.scheduler.running

    asyncio.run(main())
