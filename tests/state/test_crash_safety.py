"""Crash safety of the state (issue 6, area 3): ``kill -9`` at random moments, and several
processes writing one state at once.

A ``status --watch`` is SIGKILLed at seeded random moments, many times: after each kill the
SQLite file passes ``PRAGMA integrity_check``, every report seen in it before is still there,
and every round whose table the process printed (it prints after committing) is in it. Then
three processes run ``up`` and ``status`` on one state at once, round after round: none fails
with "database is locked", sequences stay distinct, and not one report is lost.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest
from hostile import harness
from hostile.harness import App, Processes, Project, kill_group, parse

APPS = 6
TARGETS = APPS * 2  # a deployment and a release each
KILLS = 15
ROUNDS = 5
PROCESSES = 3


# The hostile plugin modules on the path, only builtins besides them (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("hostile_plugins")


def many_apps(root: Path) -> Project:
    # Reports with 50 resources each: a round writes 12 of them in one transaction, long
    # enough for some kills to land in the middle of it.
    config = {"resources": 50}
    apps = [
        App(f"app{index}", config=config, release="wh_steady", release_config=config)
        for index in range(APPS)
    ]
    # keep: far more than a run stores, so that retention never deletes what is counted.
    return Project(root, apps, status={"timeout": "60s", "keep": 1_000_000})


def tables_printed(stdout: str) -> int:
    return sum(line.startswith("App ") for line in stdout.splitlines())


def test_kill_9_during_status_watch_never_loses_a_committed_report(
    tmp_path: Path, processes: Processes
) -> None:
    project = many_apps(tmp_path / "project")
    up = project.invoke("up")
    assert up.exit_code == 0, up.output
    seen = project.report_ids()
    assert len(seen) == TARGETS
    moments = random.Random(6)  # seeded: the same moments on every run
    printed = 0
    for kill in range(KILLS):
        process = processes.start(project.args("status", "--watch", "0.1"), cwd=project.root)
        if kill % 2:
            # Every other kill lands after the first round committed, however long a loaded
            # machine takes to start the command: some kills come after a round.
            before = len(seen)
            harness.wait_until(
                lambda: len(project.report_ids()) > before,  # noqa: B023 (waited for here)
                "a round of status --watch",
            )
        # From during start-up (about 0.4s) to several rounds in.
        time.sleep(moments.uniform(0.05, 2.5))
        kill_group(process)
        out, err = process.communicate(timeout=harness.GUARD)
        assert process.returncode == -9, (process.returncode, err)
        assert project.integrity() == "ok"
        now = project.report_ids()
        assert seen <= now, f"{len(seen - now)} committed reports are gone"
        # The table of a round is printed after its reports were committed.
        shown = tables_printed(out)
        assert len(now - seen) >= shown * TARGETS, (shown, len(now - seen))
        printed += shown
        seen = now
    print(f"\n{KILLS} kills: {len(seen)} reports committed, {printed} rounds shown; none lost")
    assert printed > 0  # some kills came after a round, not all of them before the first
    # The state is still fully usable: every stored report reads back.
    cached = project.invoke("status", "--cached")
    assert cached.exit_code == 0, cached.output
    for index in range(APPS):
        history = project.invoke("history", f"app{index}", "--json")
        assert history.exit_code == 0, history.output
        assert parse(history.stdout)["reports"]


def test_three_processes_writing_one_state_at_once_lose_nothing(
    tmp_path: Path, processes: Processes
) -> None:
    # No state yet: the three also race to create it and switch it to WAL.
    project = many_apps(tmp_path / "project")
    commands = [["up"]] + [["status"]] * ROUNDS
    after_up = 0
    for command in commands:
        started = [
            processes.start(project.args(*command), cwd=project.root) for _ in range(PROCESSES)
        ]
        for process in started:
            out, err = process.communicate(timeout=harness.GUARD)
            assert process.returncode == 0, out + err
            assert "locked" not in err, err
            assert "Traceback" not in err, err
        if command == ["up"]:
            # A release of one `up` supersedes another's checked at the same time: that
            # one's report is not stored (DESIGN §12); each status round stores all of its.
            after_up = project.report_count()
            assert 0 < after_up <= PROCESSES * TARGETS
    assert project.integrity() == "ok"
    assert project.report_count() == after_up + ROUNDS * PROCESSES * TARGETS
    sequences = project.query(
        "SELECT kind, app, group_concat(sequence) FROM"
        " (SELECT kind, app, sequence FROM targets ORDER BY sequence) GROUP BY kind, app"
    )
    assert len(sequences) == TARGETS
    for kind, app, numbers in sequences:
        assert numbers == "1,2,3", (kind, app, numbers)
