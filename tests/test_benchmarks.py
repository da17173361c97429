"""Each benchmark still runs against today's code, at a tiny size and once.

No test runs the benchmarks at their real sizes (they take minutes to hours), so a change that
breaks one went unseen: twice, a migration changed the schema under a benchmark's hand-written
baseline. Here each runs as a user runs it, ``python -m benchmarks NAME``, with
``WAYPOINT_HOOKS_BENCH_SMOKE=1`` (``benchmarks/_measure.py``): tiny sizes, short windows, one
repeat. Nothing is timed and no figure is judged; a benchmark fails here if it raises or
gives no row without saying which tool it missed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import require_system_package
from helpers_postgres import installed

from benchmarks.__main__ import _ALL

ROOT = Path(__file__).resolve().parent.parent
#: What a row's line ends with (``python -m benchmarks`` prints one per figure).
_MARKS = (" ok", " MISSED", " beside")
#: A benchmark whose tool is missing from the machine prints this and gives no row.
_LEFT_OUT = ("not installed", "skipped")


@pytest.mark.parametrize("name", [benchmark.__name__ for benchmark in _ALL])
def test_each_benchmark_runs_at_a_tiny_size(name: str) -> None:
    if name.startswith("b9_"):
        require_system_package("postgresql", installed(), "B9 serves a PostgreSQL state")
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", name],
        cwd=ROOT,
        env={**os.environ, "WAYPOINT_HOOKS_BENCH_SMOKE": "1"},
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    rows = [line for line in done.stdout.splitlines() if line.endswith(_MARKS)]
    said = done.stdout + done.stderr
    assert rows or any(words in said for words in _LEFT_OUT), said


def test_a_smoke_run_leaves_the_recorded_results_alone() -> None:
    # Not in a fresh clone (git ignores it): then the smoke run must not make one.
    results = ROOT / "benchmarks" / "results.json"
    before = results.read_bytes() if results.exists() else None
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "b13_runs"],
        cwd=ROOT,
        env={**os.environ, "WAYPOINT_HOOKS_BENCH_SMOKE": "1"},
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr
    assert (results.read_bytes() if results.exists() else None) == before
