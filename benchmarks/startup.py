"""B4: whole-process wall time of the launcher against a bare ``import click``, and against
the floor of each command: a process that imports only what that command cannot do without
(issue 31), so that the ratio says how much is left to take out."""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

from ._measure import Row, interleaved, sized

PROJECT = """
    project = "bench"

    app "web" {
      deploy {
        use "filepath" {
          directory = "out"
        }
      }
    }
"""


def _launcher() -> list[str]:
    script = shutil.which("waypoint-hooks", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-m", "waypoint_hooks"]


# As a user's machine runs it: with bytecode caches (this workplace sets
# PYTHONDONTWRITEBYTECODE, which would time the compiler instead of the launcher).
_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def _runs(command: list[str], cwd: Path | None = None, ok: tuple[int, ...] = (0,)) -> None:
    done = subprocess.run(command, cwd=cwd, env=_ENV, capture_output=True, check=False)
    if done.returncode not in ok:
        raise RuntimeError(f"{command} failed: {done.stderr.decode()}")


#: What ``status`` cannot start without: the command line, the model, the event loop the
#: checks run on, the plugins' discovery and calls, the state.
STATUS_FLOOR = "import click, attrs, asyncio, importlib.metadata, sqlite3, pluggy"
#: What ``status --cached`` cannot: it reads the state and prints, and calls no plugin.
CACHED_FLOOR = "import click, attrs, cattrs, msgspec, sqlite3"


def b4_startup() -> list[Row]:
    baseline = [sys.executable, "-c", "import click"]
    _runs([*_launcher(), "--version"])  # writes the bytecode caches
    version_s, click_s = interleaved(
        lambda: _runs([*_launcher(), "--version"]), lambda: _runs(baseline), repeat=7
    )
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        (root / "waypoint.hcl").write_text(textwrap.dedent(PROJECT))
        _runs([*_launcher(), "deploy"], cwd=root)
        # The first status fills the config cache; the figure is of the ones a user repeats.
        status_s, click_again_s = interleaved(
            lambda: _runs([*_launcher(), "status"], cwd=root), lambda: _runs(baseline), repeat=7
        )
        cached_s, click_cached_s = interleaved(
            lambda: _runs([*_launcher(), "status", "--cached"], cwd=root),
            lambda: _runs(baseline),
            repeat=7,
        )
        status_floor_s, floor_s = interleaved(
            lambda: _runs([*_launcher(), "status"], cwd=root),
            lambda: _runs([sys.executable, "-c", STATUS_FLOOR]),
            repeat=7,
        )
        cached_floor_s, cached_floor_baseline_s = interleaved(
            lambda: _runs([*_launcher(), "status", "--cached"], cwd=root),
            lambda: _runs([sys.executable, "-c", CACHED_FLOOR]),
            repeat=7,
        )
    return [
        Row(
            "B4 version",
            "waypoint-hooks --version, whole process",
            version_s,
            "python -c 'import click'",
            click_s,
            1.2,
        ),
        Row(
            "B4 status",
            "waypoint-hooks status of a one-app filepath project",
            status_s,
            "python -c 'import click'",
            click_again_s,
            2.5,
        ),
        Row(
            "B4 cached",
            "waypoint-hooks status --cached of the same project",
            cached_s,
            "python -c 'import click'",
            click_cached_s,
            2.0,
        ),
        Row(
            "B4 status floor",
            "waypoint-hooks status of the same project",
            status_floor_s,
            f"python -c '{STATUS_FLOOR}'",
            floor_s,
            1.3,
        ),
        Row(
            "B4 cached floor",
            "waypoint-hooks status --cached of the same project",
            cached_floor_s,
            f"python -c '{CACHED_FLOOR}'",
            cached_floor_baseline_s,
            1.3,
        ),
    ]


def _cpu_seconds(command: list[str], cwd: Path) -> float:
    """The user and system CPU seconds of one run of ``command``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    _runs(command, cwd=cwd)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def b4_cpu() -> list[Row]:
    """The floors' figures in CPU time, the least of 7 runs each, alternated: on a machine
    shared with other work, wall time measures the others as much as the command."""
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        (root / "waypoint.hcl").write_text(textwrap.dedent(PROJECT))
        _runs([*_launcher(), "deploy"], cwd=root)
        commands = {
            "status": [*_launcher(), "status"],
            "cached": [*_launcher(), "status", "--cached"],
            "status floor": [sys.executable, "-c", STATUS_FLOOR],
            "cached floor": [sys.executable, "-c", CACHED_FLOOR],
        }
        least = dict.fromkeys(commands, float("inf"))
        for _ in range(sized(7, 1)):
            for name, command in commands.items():
                least[name] = min(least[name], _cpu_seconds(command, root))
    return [
        Row(
            "B4 cpu",
            f"CPU of waypoint-hooks {' '.join(commands[name][len(_launcher()) :])}",
            least[name],
            f"CPU of python -c '{floor}'",
            least[f"{name} floor"],
            1.3,
        )
        for name, floor in (("status", STATUS_FLOOR), ("cached", CACHED_FLOOR))
    ]


BENCHMARKS = (b4_startup, b4_cpu)
