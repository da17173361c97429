"""SIGINT, SIGTERM and SIGHUP stop every command alike (DESIGN §12): no new hook starts, the
running ones end and are recorded, the exit code is 128 + the signal, one line and no
traceback — isolated workers included. Real console-script processes; moments are seeded."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers_lifecycle import Lifecycle
from hostile.harness import GUARD, App, Processes, Project, descendants, wait_until

pytestmark = pytest.mark.usefixtures("hostile_plugins")

SIGNALS = [signal.SIGINT, signal.SIGTERM, signal.SIGHUP]


@pytest.mark.parametrize("signum", SIGNALS, ids=lambda s: signal.Signals(s).name)
def test_status_watch_stops_on_a_signal_with_its_exit_code(
    tmp_path: Path, processes: Processes, signum: int
) -> None:
    project = Project(
        tmp_path / "project",
        [App("a", isolate=True), App("b", isolate=True)],
        status={"timeout": "60s"},
    )
    assert project.invoke("up").exit_code == 0
    moments = random.Random(signum)
    for _ in range(10):
        before = project.report_count()
        watching = processes.start(project.args("status", "--watch", "0.1"), cwd=project.root)
        deadline = time.monotonic() + GUARD
        while project.report_count() < before + 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        # Somewhere in a later round, or between two.
        time.sleep(moments.uniform(0, 0.3))
        workers = descendants(watching.pid)
        watching.send_signal(signum)
        _, err = watching.communicate(timeout=GUARD)
        assert watching.returncode == 128 + signum, err
        assert f"Interrupted by {signal.Signals(signum).name}" in err
        assert "Traceback" not in err, err
        assert project.integrity() == "ok"
        # Whatever the launcher started is gone with it.
        assert not [pid for pid in workers if _running(pid)]


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as file:
            return file.read().rpartition(")")[2].split()[0] not in ("Z", "X")
    except OSError:
        return False


@pytest.mark.parametrize("signum", SIGNALS, ids=lambda s: signal.Signals(s).name)
def test_up_stopped_midway_records_the_running_deploy_and_starts_nothing_more(
    tmp_path: Path, processes: Processes, signum: int
) -> None:
    for attempt in range(7):
        lifecycle = Lifecycle(tmp_path / f"try{attempt}")
        lifecycle.configure(isolate=True, hold=["deploy"])
        project = lifecycle.project
        up = processes.start(project.args("up"), cwd=project.root)
        lifecycle.held("deploy")
        up.send_signal(signum)
        lifecycle.open()
        out, err = up.communicate(timeout=GUARD)
        assert up.returncode == 128 + signum, out + err
        assert f"Interrupted by {signal.Signals(signum).name}" in err
        assert "Traceback" not in err, err
        assert "Workspace" not in out, out  # no status ran: no table, not even its header
        # The deploy that ran is recorded; the release it would have started never started.
        assert [row[:3] for row in lifecycle.targets("deployment")] == [(1, "live", 1)]
        assert lifecycle.targets("release") == []
        assert lifecycle.done("release") == []


def test_a_second_signal_stops_at_once_and_leaves_the_deploy_interrupted(
    tmp_path: Path, processes: Processes
) -> None:
    lifecycle = Lifecycle(tmp_path)
    lifecycle.configure(hold=["deploy"])
    project = lifecycle.project
    up = processes.start(project.args("up"), cwd=project.root)
    lifecycle.held("deploy")
    # The gate stays shut: only a second signal can end the command. Signals of one kind
    # sent close together may arrive as one, so they are sent until one is the second.
    wait_until(lambda: _signalled(up, signal.SIGTERM), "the command to stop")
    out, err = up.communicate(timeout=GUARD)
    assert up.returncode == 143, out + err
    assert "Traceback" not in err, err
    ((sequence, status, alive, _, checkpoint),) = lifecycle.targets("deployment")
    assert (sequence, status, alive) == (1, "pending", 1)  # its command is gone: interrupted
    assert checkpoint is not None


def _signalled(process: subprocess.Popen[str], signum: int) -> bool:
    """Send ``signum`` unless ``process`` has ended; True once it has."""
    if process.poll() is not None:
        return True
    process.send_signal(signum)
    try:
        process.wait(timeout=0.2)
    except subprocess.TimeoutExpired:
        return False
    return True


EXITING = """
import os, signal, sys, time
from waypoint_hooks.plugins.signals import STOP, Interrupted

try:
    with STOP.handling():
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.1)  # the first: asked to stop
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the second raises here
except Interrupted as stop:
    code = 128 + stop.signum
# On the way out, as a supervisor may still send them: ignored, the exit code stays ours.
os.kill(os.getpid(), signal.SIGTERM)
os.kill(os.getpid(), signal.SIGINT)
time.sleep(0.1)
sys.exit(code)
"""


def test_signals_after_the_second_cannot_end_the_command_by_default_action() -> None:
    done = subprocess.run(
        [sys.executable, "-c", EXITING], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 143, done.stderr
