"""The cost of storing a check's report (issue 31): ``store_reports`` alone, as ``status``
stores the reports of ``apps`` apps, one deployment each, in CPU time per report.

``python -m benchmarks.store_cost [APPS…] [--profile]``: for each count, rounds of one report
of each target, as ``status`` makes them, each equal to the one before but for its time; then
reports stored one a transaction, as serve stores a probe's. CPU time (``time.process_time``),
not wall time: the machine is shared.
"""

from __future__ import annotations

import cProfile
import pstats
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

from waypoint_hooks import Health, StatusReport, finalize
from waypoint_hooks.alerts.pipeline import store_reports
from waypoint_hooks.config.project import DEFAULT_KEEP
from waypoint_hooks.state.records import Record
from waypoint_hooks.state.reports import Retention
from waypoint_hooks.state.store import State

from .store import T0, deployed

#: Rounds of each kind that is not a single round: their median is taken.
_ROUNDS = 3
_SMALL_KEEP = 2
#: Reports stored one a transaction, as serve stores a probe's.
_ALONE = 200


def _reports(records: Sequence[Record], round: int) -> list[tuple[Record, StatusReport]]:
    moment = T0 + timedelta(seconds=round)
    return [
        (
            record,
            finalize(
                StatusReport(health=Health.READY, health_message="ready", generated_time=moment),
                "trivial",
            ),
        )
        for record in records
    ]


def per_report(apps: int, profile: cProfile.Profile | None = None) -> dict[str, float]:
    """CPU seconds per stored report of each kind of round, the median of its rounds."""
    with tempfile.TemporaryDirectory() as directory, State.open(Path(directory) / "s.db") as state:
        records = [deployed(state, f"app{index}", {}) for index in range(apps)]
        durations = [0.001] * apps
        # The first round stores no report before it; the second makes each target's run
        # of equal reports a shared body; later ones refer to it; past a small keep, each
        # round rolls up and deletes the oldest.
        kinds = (("first", DEFAULT_KEEP, 1), ("shared", DEFAULT_KEEP, 1))
        kinds += (("repeat", DEFAULT_KEEP, _ROUNDS), ("retained", _SMALL_KEEP, _ROUNDS))
        seconds: dict[str, float] = {}
        round = 0
        for name, keep, rounds in kinds:
            kept = {record.app: Retention(keep) for record in records}
            times = []
            for _ in range(rounds):
                round += 1
                pairs = _reports(records, round)
                if profile is not None:
                    profile.enable()
                start = time.process_time()
                store_reports(state, pairs, kept, None, durations)
                times.append((time.process_time() - start) / apps)
                if profile is not None:
                    profile.disable()
            seconds[name] = sorted(times)[len(times) // 2]
        # As serve stores a probe's report: alone, with the retention of every app.
        kept = {record.app: Retention(DEFAULT_KEEP) for record in records}
        times = []
        for record, report in _reports(records[:_ALONE], round + 1):
            start = time.process_time()
            store_reports(state, [(record, report)], kept, None, durations[:1])
            times.append(time.process_time() - start)
        seconds["alone"] = sorted(times)[len(times) // 2]
        return seconds


def main(argv: list[str]) -> int:
    profile = cProfile.Profile() if "--profile" in argv else None
    sizes = [int(arg) for arg in argv if arg.isdigit()] or [1_000, 5_000]
    for apps in sizes:
        figures = per_report(apps, profile)
        shown = "  ".join(f"{name} {value * 1e6:7.1f} µs" for name, value in figures.items())
        print(f"{apps:>6} apps: {shown}")
    if profile is not None:
        pstats.Stats(profile).sort_stats("cumulative").print_stats(40)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
