"""Timing helpers and the result row every benchmark returns."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import attrs


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
        return self.seconds / self.baseline_seconds

    @property
    def met(self) -> bool:
        return self.target is None or self.ratio <= self.target

    def to_json(self) -> dict[str, Any]:
        return {**attrs.asdict(self), "ratio": self.ratio, "met": self.met}


def best_of(function: Callable[[], object], repeat: int = 5, number: int = 1) -> float:
    """The fastest of ``repeat`` timings of ``number`` calls, per call: the least disturbed
    by whatever else the machine was doing."""
    best = float("inf")
    for _ in range(repeat):
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
    for _ in range(repeat):
        for index, function in enumerate((measured, baseline)):
            times[index].append(best_of(function, repeat=1, number=number))
    return min(times[0]), min(times[1])
