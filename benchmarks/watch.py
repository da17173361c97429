"""B7: ``status --watch`` in its steady state: rounds stay as fast, and memory as small, once
retention deletes as many reports each round as the round stores."""

from __future__ import annotations

import resource
import statistics
import tempfile
import time
from pathlib import Path

from waypoint_hooks._launcher import Launcher
from waypoint_hooks._state import State

from ._measure import Row
from .scale import _plugins, _project

APPS = 50
KEEP = 1_000
ROUNDS = 2_000
#: Rounds on either side of a round whose time is taken: the median of them is its time.
AROUND = 5


def _peak_mib() -> float:
    # Linux counts ru_maxrss in KiB.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def b7_watch() -> list[Row]:
    with tempfile.TemporaryDirectory() as directory:
        project = _project(Path(directory), APPS)
        with State.open(Path(directory) / "state.db") as state:
            launcher = Launcher(project, state, _plugins())
            launcher.deploy((), check=False)
            seconds: list[float] = []
            peak: dict[int, float] = {}
            for round in range(1, ROUNDS + AROUND + 1):
                start = time.perf_counter()
                launcher.status((), keep=KEEP)
                seconds.append(time.perf_counter() - start)
                if round in (10 + AROUND, ROUNDS + AROUND):
                    peak[round - AROUND] = _peak_mib()
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
            f"peak RSS (MiB, not s) after round {ROUNDS:,}",
            peak[ROUNDS],
            "after round 10",
            peak[10],
            1.1,
        ),
    ]


BENCHMARKS = (b7_watch,)
