"""Timing helpers and the result row every benchmark returns."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from typing import Any, TypeVar

import attrs

T = TypeVar("T")

#: ``WAYPOINT_HOOKS_BENCH_SMOKE=1`` in the environment runs every benchmark at a tiny size and
#: once, only to prove that it still runs against today's code (the suite's
#: ``tests/test_benchmarks.py``): its figures mean nothing then, and none is written down.
SMOKE = os.environ.get("WAYPOINT_HOOKS_BENCH_SMOKE") == "1"


def sized(full: T, smoke: T) -> T:
    """``full`` for a measure, ``smoke`` when the benchmark only has to prove it runs."""
    return smoke if SMOKE else full


@attrs.frozen
class Row:
    """One figure: ``seconds`` of the measured thing against ``baseline_seconds``; a row
    without a ``target`` is printed beside a goal's row, for comparison only (an earlier
    baseline that a goal no longer uses)."""

    id: str
    measures: str
    seconds: float
    baseline: str
    baseline_seconds: float
    target: float | None

    @property
    def ratio(self) -> float:
        # A baseline too quick for its clock (a few probes, in ticks of 10 ms) compares to
        # nothing: printed as inf, not a ZeroDivisionError that loses the other rows.
        return self.seconds / self.baseline_seconds if self.baseline_seconds else math.inf

    @property
    def met(self) -> bool:
        return self.target is None or self.ratio <= self.target

    def to_json(self) -> dict[str, Any]:
        return {**attrs.asdict(self), "ratio": self.ratio, "met": self.met}


def best_of(function: Callable[[], object], repeat: int = 5, number: int = 1) -> float:
    """The fastest of ``repeat`` timings of ``number`` calls, per call: the least disturbed
    by whatever else the machine was doing."""
    best = float("inf")
    for _ in range(sized(repeat, 1)):
        start = time.perf_counter()
        for _ in range(number):
            function()
        best = min(best, (time.perf_counter() - start) / number)
    return best


def interleaved(
    measured: Callable[[], object],
    baseline: Callable[[], object],
    repeat: int = 5,
    number: int = 1,
) -> tuple[float, float]:
    """Best-of timings of two functions, alternated so that drift hits both alike."""
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(sized(repeat, 1)):
        for index, function in enumerate((measured, baseline)):
            times[index].append(best_of(function, repeat=1, number=number))
    return min(times[0]), min(times[1])
