"""The builtin ``process`` platform through the real command line (DESIGN §12, process
tracking): whatever a deployment started is found again and stopped by ``destroy``, however
the command that deployed, released or destroyed it ended — SIGKILL, SIGINT or SIGTERM at
seeded random moments, in-process and isolated.

What runs is checked through ``/proc`` (by command line and by marker), never through the
state. Commands are ordered by gates in the deployed server, never by timing: it listens once
``GATE/listen`` exists, and a SIGTERM ends it once ``GATE/stop`` exists.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers_http import free_port
from helpers_proc import marked, running_with_argument
from hostile.harness import GUARD, App, Processes, Project, assert_survived, wait_until

from waypoint_hooks.state.store import State

pytestmark = pytest.mark.usefixtures("hostile_plugins")

PYTHON = sys.executable
#: The deployed server: ARGS are its gate directory and its port. It starts a daemon of its
#: own (fork, setsid, fork), notes in the gate that it has (``forked``: the middle process
#: is gone), then serves HTTP once the gate says "listen". Either of them, sent SIGTERM,
#: notes it in the gate (``term.PID``) and exits once the gate says "stop".
SERVER = """\
import http.server, os, signal, sys, time
gate, port = sys.argv[1], int(sys.argv[2])

def wait_for(name):
    while not os.path.exists(os.path.join(gate, name)):
        time.sleep(0.01)

def stop(signum, frame):
    open(os.path.join(gate, f"term.{os.getpid()}"), "w").close()
    wait_for("stop")
    os._exit(0)

signal.signal(signal.SIGTERM, stop)
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        while True:
            signal.pause()
    os._exit(0)
os.wait()
open(os.path.join(gate, "forked"), "w").close()
wait_for("listen")
http.server.HTTPServer(("127.0.0.1", port), http.server.SimpleHTTPRequestHandler).serve_forever()
"""
#: Where the random moments of the interruptions come from: the same on every run.
SEED = 20261126
COMMANDS = ("deploy", "up", "release", "destroy")
#: How many moments one signal may try before its command is found running: only a moment
#: after the gates opened can come too late, and rarely.
_TRIES = 5
SIGNALS = (signal.SIGKILL, signal.SIGINT, signal.SIGTERM)


class Tracking:
    """A project of one ``process`` app, ``web``, running ``SERVER``, released by ``http``;
    the ``wh_ledger`` wrapper notes every deploy, release and destroy hook that finished."""

    def __init__(self, root: Path, processes: Processes) -> None:
        self.gate = root / "gate"
        self.gate.mkdir(parents=True)
        self.ledger = root / "ledger"
        self.processes = processes
        self.project = Project(root / "project", [], name="tracking", plugins=("wh_ledger",))
        self.configure(free_port())

    def configure(self, port: int, isolate: bool = False) -> None:
        config = {
            "command": [PYTHON, "-c", SERVER, str(self.gate), str(port)],
            "ready_http": f"http://127.0.0.1:{port}/",
            "start_timeout": "2m",
            "grace": "2m",
        }
        self.project.apps = [App("web", "process", config, "http", {}, isolate)]
        self.project.write()

    def gates(self, *, listen: bool, stop: bool) -> None:
        for name, is_open in (("listen", listen), ("stop", stop)):
            path = self.gate / name
            path.touch() if is_open else path.unlink(missing_ok=True)

    def run(self, *args: str) -> str:
        """Run a command in this process; what it printed."""
        result = self.project.invoke(*args)
        assert_survived(result)
        return result.output

    def start(self, *args: str) -> subprocess.Popen[str]:
        """Start a command as the installed console script."""
        return self.processes.start(self.project.args(*args), cwd=self.project.root)

    def targets(self, sql: str) -> list[tuple[Any, ...]]:
        """The rows of a query of the state's targets; none before the command that creates
        the state has made them (it may still be at it, or have been killed at it)."""
        state = self.project.state
        if not state.exists() or not self.project.query(
            "SELECT 1 FROM sqlite_master WHERE name = 'targets'"
        ):
            return []
        return self.project.query(sql)

    def records(self) -> list[tuple[str, str, str, bool]]:
        """``(kind, id, status, destroyed)`` of every record, as the state stores it."""
        rows = self.targets("SELECT kind, id, status, destroyed IS NOT NULL FROM targets")
        return [(kind, id, status, bool(destroyed)) for kind, id, status, destroyed in rows]

    def intact(self) -> bool:
        """Whether SQLite finds the state intact (or there is none yet)."""
        return not self.project.state.exists() or self.project.integrity() == "ok"

    def checkpointed(self) -> bool:
        """Whether a deploy that has not finished has checkpointed."""
        return bool(
            self.targets(
                "SELECT 1 FROM targets WHERE status = 'pending' AND destroyed IS NULL"
                " AND checkpoint IS NOT NULL"
            )
        )

    def running(self) -> list[int]:
        """Every process of this project that runs: those with the server's gate among their
        arguments, and those that carry the marker of one of its deployments."""
        by_marker = [pid for _, id, _, _ in self.records() for pid in marked(id)]
        return sorted({*running_with_argument(str(self.gate)), *by_marker})

    def finished(self) -> list[tuple[str, str]]:
        """``(hook, record id)`` of every hook call that finished, in order."""
        if not self.ledger.exists():
            return []
        lines = self.ledger.read_text(encoding="utf-8").splitlines()
        return [(hook, id) for hook, id in map(str.split, lines)]


@pytest.fixture
def tracking(
    tmp_path: Path, processes: Processes, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Tracking]:
    project = Tracking(tmp_path, processes)
    monkeypatch.setenv("WH_LEDGER", str(project.ledger))
    yield project
    # Whatever a failed test left running.
    for pid in project.running():
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def test_up_twice_on_a_fixed_port_the_second_is_not_ready_and_destroy_leaves_nothing(
    tracking: Tracking,
) -> None:
    port = free_port()
    server = [PYTHON, "-m", "http.server", str(port), "--bind", "127.0.0.1"]
    tracking.project.apps = [
        App("site", "process", {"command": server, "ready_http": f"http://127.0.0.1:{port}/"})
    ]
    tracking.project.write()
    project = tracking.project
    first = tracking.processes.run(project.args("up"), cwd=project.root)
    assert first.returncode == 0, first.stdout + first.stderr
    second = tracking.processes.run(project.args("up"), cwd=project.root)
    output = second.stdout + second.stderr
    # The first deployment answers on the port; the second's server could not listen.
    assert second.returncode == 1, output
    assert "platform_deploy_func raised ProcessExited" in output
    assert "exited with status 1 before it was ready" in output
    assert "Address already in use" in output
    assert "is ready" not in output
    statuses = {status for kind, _, status, _ in tracking.records() if kind == "deployment"}
    assert statuses == {"live", "failed"}

    destroyed = tracking.processes.run(project.args("destroy"), cwd=project.root)
    assert destroyed.returncode in (0, 1), destroyed.stdout + destroyed.stderr
    assert running_with_argument(str(port)) == []
    assert [pid for _, id, _, _ in tracking.records() for pid in marked(id)] == []


@pytest.mark.parametrize("isolate", [False, True], ids=["in-process", "isolated"])
def test_a_deploy_killed_while_it_waits_for_readiness_is_destroyed_from_its_checkpoint(
    tracking: Tracking, isolate: bool
) -> None:
    tracking.configure(free_port(), isolate)
    tracking.gates(listen=False, stop=True)
    deploying = tracking.start("deploy")
    # The server and its daemon run, and the deploy waits for the server to listen.
    wait_until(tracking.checkpointed, "the deploy's checkpoint")
    wait_until((tracking.gate / "forked").exists, "the server's daemon")
    deploying.kill()
    deploying.communicate(timeout=GUARD)
    ((_, _, status, _),) = tracking.records()
    assert status == "pending"  # the command is gone: it reads as interrupted
    assert len(tracking.running()) == 2

    tracking.configure(free_port())
    tracking.run("destroy")
    assert tracking.running() == []
    assert [destroyed for *_, destroyed in tracking.records()] == [True]


class Interruptions:
    """Interrupt one command of a :class:`Tracking` project at random moments, then
    destroy, and check what is left; counts what it saw, for the summary."""

    def __init__(self, tracking: Tracking, rng: random.Random) -> None:
        self.tracking = tracking
        self.rng = rng
        #: How many commands were still running when their signal came, and how many had
        #: ended (and were signalled again at another moment).
        self.interrupted = 0
        self.ended_first = 0
        #: How many processes each interrupted command left for the next destroy to stop.
        self.left: list[int] = []
        #: How many destroys it took after each to leave nothing live.
        self.destroys: list[int] = []
        #: When each signal came: "start", "gate" or "opened" (see wait_for_a_moment).
        self.moments: list[str] = []

    def prepare(self, command: str) -> None:
        """Make what ``command`` works on, with nothing of it interrupted, and close the gate
        that holds ``command`` midway."""
        tracking = self.tracking
        tracking.gates(listen=True, stop=True)
        for term in tracking.gate.glob("term.*"):
            term.unlink()
        if command == "release":
            # Two deployments, on two ports: the release of the second prunes the first.
            tracking.run("deploy")
            tracking.configure(free_port())
            tracking.run("deploy")
        elif command == "destroy":
            tracking.run("up")
        if command in ("deploy", "up"):
            tracking.gates(listen=False, stop=True)
        else:
            tracking.gates(listen=True, stop=False)

    def interrupt(self, command: str, signum: int, isolate: bool) -> None:
        """Send ``signum`` to ``command`` at random moments until one finds it running (after
        the gates opened, it may have ended first), checking what is left after each."""
        for _ in range(_TRIES):
            if self.try_to_interrupt(command, signum, isolate):
                self.interrupted += 1
                return
            self.ended_first += 1
        pytest.fail(f"`{command}` ended before its signal {_TRIES} times")

    def try_to_interrupt(self, command: str, signum: int, isolate: bool) -> bool:
        """Whether ``command`` still ran when ``signum`` came."""
        tracking = self.tracking
        self.prepare(command)
        tracking.configure(free_port(), isolate)
        args = ("release", "--prune-retain", "0") if command == "release" else (command,)
        started = tracking.start(*args)
        self.wait_for_a_moment(command, isolate)
        running = started.poll() is None
        if running:
            os.kill(started.pid, signum)  # the launcher only, as `kill` would
        # Whatever waits at a gate may go on; a command that stops gracefully ends then.
        tracking.gates(listen=True, stop=True)
        started.communicate(timeout=GUARD)
        assert tracking.intact()
        self.check_recorded(signum)
        self.left.append(len(tracking.running()))
        self.destroy_everything()
        return running

    def wait_for_a_moment(self, command: str, isolate: bool) -> None:
        """Wait for a random moment of the command: soon after it started, while it waits at
        its gate, or after the gates opened.

        A deploy waits for its first checkpoint before the gates open, and an isolated one
        before any signal: its worker's checkpoints reach the launcher through a pipe, and the
        hook goes on without waiting for them to be stored, so one still in the pipe when the
        launcher dies is lost (a framework issue, not the plugin's).
        """
        tracking = self.tracking
        deploying = command in ("deploy", "up")
        moments = ["gate", "opened"] if isolate and deploying else ["start", "gate", "opened"]
        moment = self.rng.choice(moments)
        self.moments.append(moment)
        if moment != "start" and deploying:
            wait_until(tracking.checkpointed, "a deploy's checkpoint")
        elif moment == "gate":
            what = "a SIGTERM to a server"
            wait_until(lambda: any(tracking.gate.glob("term.*")), what)
        if moment == "opened":
            tracking.gates(listen=True, stop=True)
        time.sleep(self.rng.uniform(0, 1.0 if moment == "start" else 0.2))

    def check_recorded(self, signum: int) -> None:
        """Every hook that finished is recorded. After SIGINT or SIGTERM, which let running
        hooks end (DESIGN §12), a deployment or release is live. After SIGKILL, a deployment
        is still there with its value or its last checkpoint (the same), a release at least
        as its intent (the command may die between its hook's return and the write). A
        destroyed deployment's processes are gone either way."""
        tracking = self.tracking
        with State.open(tracking.project.state) as state:
            for hook, id in tracking.finished():
                kind = "release" if hook == "release" else "deployment"
                record = state.records.get(kind, id)
                assert record is not None, (hook, id)
                if hook == "destroy":
                    assert marked(id) == [], record
                elif signum != signal.SIGKILL:
                    assert record.status == "live", record
                elif hook == "deploy":
                    made = record.value if record.status == "live" else record.checkpoint
                    assert made is not None, record
                    states = {each["name"]: each["state"] for each in made["created"]}
                    assert states["process"]["pid"] > 0, record
        tracking.ledger.unlink(missing_ok=True)

    def destroy_everything(self) -> None:
        """``destroy`` (twice, if the first was interrupted mid-destroy and left something),
        then nothing of the project runs or is live."""
        tracking = self.tracking
        tracking.configure(free_port())
        destroys = 0
        while destroys < 2 and not all(destroyed for *_, destroyed in tracking.records()):
            tracking.run("destroy")
            destroys += 1
        self.destroys.append(destroys)
        assert tracking.running() == []
        assert [record for record in tracking.records() if not record[3]] == []
        assert tracking.intact()


@pytest.mark.parametrize("isolate", [False, True], ids=["in-process", "isolated"])
@pytest.mark.parametrize("command", COMMANDS)
def test_whatever_interrupts_a_command_destroy_then_leaves_nothing_running(
    tracking: Tracking, command: str, isolate: bool
) -> None:
    rng = random.Random(f"{SEED}-{command}-{isolate}")
    signals = [*SIGNALS, rng.choice(SIGNALS)]
    interruptions = Interruptions(tracking, rng)
    for signum in signals:
        interruptions.interrupt(command, signum, isolate)
    names = ", ".join(signal.Signals(signum).name for signum in signals)
    summary = {"command": command, "isolate": isolate, "signals": names}
    counts = {
        "moments": interruptions.moments,
        "interrupted": interruptions.interrupted,
        "ended_first": interruptions.ended_first,
        "left_for_destroy": interruptions.left,
        "destroys": interruptions.destroys,
    }
    print(json.dumps({**summary, **counts}))
