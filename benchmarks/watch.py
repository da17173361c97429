"""B7: ``status --watch`` in its steady state: rounds stay as fast, and memory as small, once
retention deletes as many reports each round as the round stores."""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path

from waypoint_hooks.checking.checker import Checker
from waypoint_hooks.lifecycle.phases import Lifecycle
from waypoint_hooks.state.store import State

from ._measure import Row, sized
from .scale import _plugins, _project

APPS = sized(50, 2)
KEEP = sized(1_000, 20)
ROUNDS = sized(2_000, 30)
#: Rounds on either side of a round whose time is taken: the median of them is its time.
AROUND = 5


def _resident_mib() -> float:
    """This process's resident memory now (Linux): not its peak, which the benchmarks run
    before this one set."""
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def b7_watch() -> list[Row]:
    with tempfile.TemporaryDirectory() as directory:
        project = _project(Path(directory), APPS)
        with State.open(Path(directory) / "state.db") as state:
            plugins = _plugins()
            asyncio.run(Lifecycle(project, state, plugins).deploy(()))
            checker = Checker(project, state, plugins)
            seconds: list[float] = []
            resident: dict[int, float] = {}
            for round in range(1, ROUNDS + AROUND + 1):
                start = time.perf_counter()
                asyncio.run(checker.status((), keep=KEEP))
                seconds.append(time.perf_counter() - start)
                if round in (KEEP, ROUNDS):
                    resident[round] = _resident_mib()
    early = statistics.median(seconds[10 - AROUND - 1 : 10 + AROUND])
    late = statistics.median(seconds[ROUNDS - AROUND - 1 : ROUNDS + AROUND])
    return [
        Row(
            "B7 round",
            f"status round {ROUNDS:,} of {APPS} apps, keep = {KEEP:,}",
            late,
            "round 10",
            early,
            1.5,
        ),
        Row(
            "B7 memory",
            f"resident memory (MiB, not s) after round {ROUNDS:,}",
            resident[ROUNDS],
            f"after round {KEEP:,}: retention begins",
            resident[KEEP],
            1.05,
        ),
    ]


BENCHMARKS = (b7_watch,)
