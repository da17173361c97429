"""B6: ``deploy`` and ``status`` of many apps, against the least a hand-written program does.

The baseline calls the same plugin's hooks with pluggy on one event loop, encodes each value
or report with ``json.dumps``, and stores them in SQLite. The lifecycle and the checker do that
and what the design asks besides: each deployment recorded from intent to outcome, reports
finalized, bounded and redacted, retention applied.

``deploy``'s goal is anchored on a baseline that commits durably once per deployment, as a
deployment must be (a crash loses none that was made), with the state's journal mode and
synchronous setting; ``b6_fsyncs`` counts the fsyncs of both. The earlier baseline, all of
them in one transaction, is printed beside it.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pluggy

from waypoint_hooks import JobInfo, hookspecs
from waypoint_hooks.checking.checker import Checker
from waypoint_hooks.config.document import load_config
from waypoint_hooks.config.project import Project
from waypoint_hooks.host import PluginManager, PluginSpecs
from waypoint_hooks.lifecycle.phases import Lifecycle
from waypoint_hooks.plugins.markers import PROJECT
from waypoint_hooks.state.store import State

from . import trivial
from ._measure import Row, interleaved, sized

#: ``B6_APPS=100,1000`` in the environment picks other numbers of apps, for a quicker run: the
#: flat rows compare the last two.
SIZES = (
    tuple(int(n) for n in os.environ["B6_APPS"].split(","))
    if "B6_APPS" in os.environ
    else sized((1, 100, 1_000, 5_000), (1, 2, 3, 5))
)


def _config(apps: int) -> str:
    blocks = "".join(
        textwrap.dedent(
            f"""
            app "app{index}" {{
              deploy {{
                use "trivial" {{}}
              }}
            }}
            """
        )
        for index in range(apps)
    )
    return f'project = "bench"\n{blocks}'


def _project(directory: Path, apps: int) -> Project:
    path = directory / "waypoint.hcl"
    path.write_text(_config(apps))
    return load_config(path, cache_dir=directory / ".waypoint-hooks")


class _ByHand:
    """The baseline: pluggy on one event loop, json.dumps, one SQLite transaction."""

    def __init__(self, path: Path, apps: Sequence[str]) -> None:
        # The same tables and indexes as the state's, and its journal mode (kept in the file)
        # and synchronous setting (per connection): so a commit of either costs as many fsyncs.
        with State.open(path) as state:
            mode, synchronous = state.write(_durability)
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.execute(f"PRAGMA synchronous = {synchronous}")
        assert _durability(self.db) == (mode, synchronous)
        self.pm = pluggy.PluginManager(PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.pm.register(trivial, "trivial")
        self.apps = apps
        self.sequence = 0
        self.deployed: list[tuple[str, str, dict[str, Any]]] = []

    def _store(self, *statements: Any) -> None:
        """Each ``sql, rows`` pair of ``statements``, in one transaction."""
        self.db.execute("BEGIN IMMEDIATE")
        for sql, rows in zip(statements[::2], statements[1::2], strict=True):
            self.db.executemany(sql, rows)
        self.db.execute("COMMIT")

    def deploy(self, durably: bool = False) -> None:
        """Deploy every app; ``durably``: a commit (an fsync) after each deployment, not one
        for them all."""
        self.sequence += 1
        hook = self.pm.hook.platform_deploy_func

        def store(made: list[tuple[str, str, dict[str, Any]]]) -> None:
            now = time.time_ns() // 1000
            # An app's key with its first target, and each target the next key, as the state
            # numbers them.
            self._store(
                "INSERT INTO apps (app, workspace) VALUES (?, 'default')"
                " ON CONFLICT (app, workspace) DO NOTHING",
                [(app,) for app, _, _ in made],
                "INSERT INTO targets"
                " (kind, id, app, workspace, sequence, plugin, value, created, key)"
                " VALUES ('deployment', ?, ?, 'default', ?, 'trivial', ?, ?,"
                " (SELECT coalesce(max(key), 0) + 1 FROM targets))",
                [(id, app, self.sequence, json.dumps(value), now) for app, id, value in made],
            )

        async def deploy_all() -> list[tuple[str, str, dict[str, Any]]]:
            made = []
            for app in self.apps:
                id = os.urandom(16).hex()
                job = JobInfo("bench", app, "default", id)
                value = await hook(ctx=None, job_info=job, ui=None, config={})
                made.append((app, id, value))
                if durably:
                    store(made[-1:])
            return made

        self.deployed = asyncio.run(deploy_all())
        if not durably:
            store(self.deployed)

    def status(self) -> None:
        hook = self.pm.hook.platform_status_func

        async def check_all() -> list[tuple[object, ...]]:
            rows: list[tuple[object, ...]] = []
            for app, id, value in self.deployed:
                job = JobInfo("bench", app, "default", "job")
                report = await hook(
                    ctx=None, job_info=job, ui=None, config={}, deployment=value, last_report=None
                )
                generated = datetime.now(timezone.utc)
                wire = {
                    "resources": [],
                    "health": report.health.name,
                    "health_message": report.health_message,
                    "generated_time": generated.isoformat(),
                    "external": report.external,
                }
                micros = int(generated.timestamp() * 1e6)
                rows.append((id, app, "READY", micros, json.dumps(wire)))
            return rows

        # Rows name their target and app by key (the state's schema): found by their names.
        self._store(
            "INSERT INTO reports (target, app, health, generated, report) VALUES ("
            " (SELECT key FROM targets WHERE kind = 'deployment' AND id = ?),"
            " (SELECT key FROM apps WHERE app = ? AND workspace = 'default'), ?, ?, ?)",
            asyncio.run(check_all()),
        )


def _durability(db: Any) -> tuple[str, int]:
    """The journal mode and synchronous setting of a connection (the state's: read in one of
    its transactions, the way to its connection)."""
    (mode,) = db.execute("PRAGMA journal_mode").fetchone()
    (synchronous,) = db.execute("PRAGMA synchronous").fetchone()
    return mode, synchronous


def _plugins() -> PluginManager:
    return PluginManager.load(PluginSpecs(modules=("benchmarks.trivial",)), autoload=False)


def _rows(directory: Path, apps: int) -> tuple[Row, ...]:
    project = _project(directory, apps)
    names = list(project.apps)
    by_hand = _ByHand(directory / "baseline.db", names)
    repeat = 5 if apps <= 100 else 3
    with State.open(directory / "state.db") as state:
        plugins = _plugins()
        lifecycle, checker = Lifecycle(project, state, plugins), Checker(project, state, plugins)
        deploy_s, by_hand_deploy_s = interleaved(
            lambda: asyncio.run(lifecycle.deploy(())), by_hand.deploy, repeat=repeat
        )
        durable_deploy_s, by_hand_durable_s = interleaved(
            lambda: asyncio.run(lifecycle.deploy(())),
            lambda: by_hand.deploy(durably=True),
            repeat=repeat,
        )
        status_s, by_hand_status_s = interleaved(
            lambda: asyncio.run(checker.status(())), by_hand.status, repeat=repeat
        )
    by_hand.db.close()
    return (
        Row(
            f"B6 deploy {apps}",
            f"Lifecycle.deploy of {apps:,} apps of a trivial plugin",
            durable_deploy_s,
            "pluggy on one loop, json.dumps, a durable commit per deployment",
            by_hand_durable_s,
            2.0,
        ),
        Row(
            f"B6 deploy {apps} (one commit)",
            f"Lifecycle.deploy of {apps:,} apps of a trivial plugin",
            deploy_s,
            "pluggy on one loop, json.dumps, one transaction",
            by_hand_deploy_s,
            None,
        ),
        Row(
            f"B6 status {apps}",
            f"Checker.status of {apps:,} apps of a trivial plugin",
            status_s,
            "pluggy on one loop, json.dumps, one transaction",
            by_hand_status_s,
            2.0,
        ),
    )


def _first_read(directory: Path, apps: int) -> float:
    """Seconds per app of the first read of an ``apps``-app config (nothing cached)."""
    path = directory / f"read{apps}.hcl"
    path.write_text(_config(apps))
    start = time.perf_counter()
    load_config(path)
    return (time.perf_counter() - start) / apps


def b6_scale() -> list[Row]:
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as directory:
        for apps in SIZES:
            workspace = Path(directory) / str(apps)
            workspace.mkdir()
            rows.extend(_rows(workspace, apps))
        # Per app at the largest size against the one before it: what should stay flat.
        middle, largest = SIZES[-2:]
        per_app = {
            row.id: row.seconds / int(row.id.rsplit(" ", 1)[1])
            for row in rows
            if row.id.endswith((f" {middle}", f" {largest}"))
        }
        for phase in ("deploy", "status"):
            rows.append(
                Row(
                    f"B6 {phase} flat",
                    f"{phase}: seconds per app at {largest:,} apps",
                    per_app[f"B6 {phase} {largest}"],
                    f"at {middle:,} apps",
                    per_app[f"B6 {phase} {middle}"],
                    1.2,
                )
            )
        read = {
            apps: min(_first_read(Path(directory), apps) for _ in range(3)) for apps in SIZES[-2:]
        }
        rows.append(
            Row(
                "B6 read flat",
                f"first read of a {largest:,}-app config: seconds per app",
                read[largest],
                f"of a {middle:,}-app config",
                read[middle],
                1.2,
            )
        )
    return rows


def _deploy_once(directory: Path, who: str) -> None:
    """One deploy of every app of the project in ``directory``, by the lifecycle or by hand
    with a durable commit per deployment, in a process of its own: what :func:`b6_fsyncs`
    counts the syscalls of."""
    project = load_config(directory / "waypoint.hcl", cache_dir=directory / ".waypoint-hooks")
    if who == "by-hand":
        by_hand = _ByHand(directory / "baseline.db", list(project.apps))
        by_hand.deploy(durably=True)
        by_hand.db.close()
        return
    with State.open(directory / "state.db") as state:
        asyncio.run(Lifecycle(project, state, _plugins()).deploy(()))


def _fsyncs(strace: str, directory: Path, who: str) -> int:
    trace = directory / f"{who}.strace"
    traced = [sys.executable, "-m", "benchmarks.scale", str(directory), who]
    subprocess.run(
        [strace, "-f", "-e", "trace=fsync,fdatasync", "-o", str(trace), *traced],
        cwd=Path(__file__).parent.parent,
        check=True,
    )
    return sum("sync(" in line for line in trace.read_text().splitlines())


def b6_fsyncs() -> list[Row]:
    """The fsync and fdatasync calls of one deploy, by the lifecycle and by the baseline that
    commits durably once per deployment, counted by strace: the two pay the disk as often.
    The lifecycle commits once more, at the end of the phase (the last hook's outcome), and
    both count SQLite's checkpoints of the WAL into the file. Skipped without strace."""
    strace = shutil.which("strace")
    if strace is None:
        print("B6 fsyncs skipped: strace is not installed", file=sys.stderr)
        return []
    rows = []
    with tempfile.TemporaryDirectory() as directory:
        for apps in SIZES[1:3]:
            workspace = Path(directory) / str(apps)
            workspace.mkdir()
            # Made here, so that the counted processes only open them.
            project = _project(workspace, apps)
            State.open(workspace / "state.db").close()
            _ByHand(workspace / "baseline.db", list(project.apps)).db.close()
            rows.append(
                Row(
                    f"B6 fsyncs {apps}",
                    f"fsync calls (a count) of a deploy of {apps:,} apps",
                    _fsyncs(strace, workspace, "lifecycle"),
                    "a durable commit per deployment",
                    _fsyncs(strace, workspace, "by-hand"),
                    1.1,
                )
            )
    return rows


BENCHMARKS = (b6_fsyncs, b6_scale)

if __name__ == "__main__":
    _deploy_once(Path(sys.argv[1]), sys.argv[2])
