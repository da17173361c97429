"""Live progress (issue 12): on a terminal, what each check is doing shows while it runs, not
all at once at the end; piped, only finished lines. A check is held at a gate in its hook, so
"while it runs" is a condition, not a time."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import struct
import subprocess
import termios
import time
from pathlib import Path

import pytest
from helpers_lifecycle import Lifecycle
from hostile.harness import GUARD, Processes, kill_group, script, script_env

pytestmark = pytest.mark.usefixtures("hostile_plugins")


class Terminal:
    """A console-script run on a pseudo-terminal, its screen read as it comes."""

    def __init__(self, args: list[str], cwd: Path) -> None:
        self._leader, follower = pty.openpty()
        fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))
        env = {k: v for k, v in script_env().items() if k not in ("COLUMNS", "LINES", "TERM")}
        self.process = subprocess.Popen(
            [script(), *args],
            cwd=cwd,
            env={**env, "TERM": "xterm"},
            stdin=follower,
            stdout=follower,
            stderr=follower,
            start_new_session=True,
        )
        os.close(follower)
        self.screen = ""

    def read_until(self, text: str) -> str:
        """What the terminal received up to and including ``text``'s first appearance."""
        deadline = time.monotonic() + GUARD
        while text not in self.screen:
            if time.monotonic() > deadline:
                pytest.fail(f"{text!r} not shown after {GUARD:g}s; the screen:\n{self.screen}")
            ready, _, _ = select.select([self._leader], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(self._leader, 65536)
                except OSError:  # EIO: the command ended and closed the terminal
                    chunk = b""
                if not chunk:
                    pytest.fail(f"the command ended without showing {text!r}:\n{self.screen}")
                self.screen += chunk.decode("utf-8", "replace")
        return self.screen

    def close(self) -> int:
        try:
            return self.process.wait(timeout=GUARD)
        finally:
            kill_group(self.process)
            os.close(self._leader)


def test_a_running_check_shows_its_step_on_a_terminal_before_it_ends(
    tmp_path: Path, processes: Processes
) -> None:
    lifecycle = Lifecycle(tmp_path)
    lifecycle.run("up")
    lifecycle.configure(hold=["status"])
    terminal = Terminal(lifecycle.project.args("status", "web"), lifecycle.project.root)
    try:
        lifecycle.held("status")
        # The check is held inside its hook: its step in progress is on the screen already,
        # and no table yet.
        shown = terminal.read_until("Asking the slow thing...")
        assert "web deployment (wh_lifecycle): Asking the slow thing..." in shown
        assert "App " not in shown
        lifecycle.open()
        shown = terminal.read_until("App ")
        assert "The slow thing answered" in shown
    finally:
        lifecycle.open()
        assert terminal.close() == 0


def test_piped_output_shows_only_finished_lines(tmp_path: Path, processes: Processes) -> None:
    lifecycle = Lifecycle(tmp_path)
    lifecycle.run("up")
    done = processes.run(lifecycle.project.args("status"), cwd=lifecycle.project.root)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Asking the slow thing..." not in done.stdout
    assert "\x1b" not in done.stdout
    assert "✓ The slow thing answered" in done.stdout
