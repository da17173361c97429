"""The harness of the reliability tests (``test_hostile_plugins``, ``test_fuzz``,
``test_crash_safety``, ``test_injection``, ``test_bounds``).

Projects are written to disk and run through the real CLI: in-process with click's
``CliRunner`` where nothing can take the test process down, else as the installed console
script, each run in a process group of its own that is killed whole at the end. The plugin
modules beside this file (``wh_*.py``) are loaded with ``-p MODULE``.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pty
import select
import shutil
import signal
import sqlite3
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from helpers_postgres import query

from waypoint_hooks.cli.commands import main
from waypoint_hooks.host import AUTOLOAD_ENV

PLUGIN_DIR = Path(__file__).resolve().parent
#: Seconds a console-script run may take before the test calls it hung. A guard against
#: hanging the suite, never a timing assertion: a loaded machine may be slow.
GUARD = 120.0


def prepare(monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process runs see the plugin modules here (and so do the processes they start for
    isolated apps), and only builtins besides ``-p`` ones."""
    monkeypatch.syspath_prepend(str(PLUGIN_DIR))
    monkeypatch.setenv("PYTHONPATH", script_env()["PYTHONPATH"])
    monkeypatch.setenv(AUTOLOAD_ENV, "1")
    monkeypatch.delenv("WAYPOINT_HOOKS_STATE", raising=False)


# --- config files --------------------------------------------------------------------------


@dataclass
class App:
    """One ``app`` block: its platform (and release manager), their config, and options."""

    name: str
    plugin: str = "wh_steady"
    config: Mapping[str, Any] = field(default_factory=dict)
    release: str | None = None
    release_config: Mapping[str, Any] = field(default_factory=dict)
    isolate: bool | None = None
    status: Mapping[str, Any] | None = None


def hcl_value(value: Any) -> str:
    """``value`` written as an HCL literal."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return hcl_string(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(hcl_value(item) for item in value) + "]"
    raise TypeError(f"no HCL literal for {value!r}")


_HCL_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def hcl_string(text: str) -> str:
    """``text`` as an HCL string literal: HCL's escapes (it has no ``\\b`` or ``\\f``),
    ``\\uNNNN`` for other control characters, template sequences doubled."""
    escaped = "".join(
        _HCL_ESCAPES.get(char)
        or (f"\\u{ord(char):04x}" if ord(char) < 0x20 or 0x7F <= ord(char) <= 0x9F else char)
        for char in text
    )
    return '"' + escaped.replace("${", "$${").replace("%{", "%%{") + '"'


def _hcl_block(header: str, body: Mapping[str, Any], indent: str) -> list[str]:
    if not body:
        return [f"{indent}{header} {{}}"]
    inner = [f"{indent}  {key} = {hcl_value(value)}" for key, value in body.items()]
    return [f"{indent}{header} {{", *inner, f"{indent}}}"]


def render_hcl(project: str, apps: Sequence[App], status: Mapping[str, Any] | None) -> str:
    lines = [f"project = {hcl_value(project)}", ""]
    if status:
        lines += [*_hcl_block("status", status, ""), ""]
    for app in apps:
        lines.append(f"app {hcl_value(app.name)} {{")
        if app.isolate is not None:
            lines += [f"  isolate = {hcl_value(app.isolate)}", ""]
        lines += ["  deploy {", *_hcl_block(f"use {hcl_value(app.plugin)}", app.config, "    ")]
        lines.append("  }")
        if app.release is not None:
            lines += ["", "  release {"]
            lines += _hcl_block(f"use {hcl_value(app.release)}", app.release_config, "    ")
            lines.append("  }")
        if app.status:
            lines += ["", *_hcl_block("status", app.status, "  ")]
        lines += ["}", ""]
    return "\n".join(lines)


def render_json(project: str, apps: Sequence[App], status: Mapping[str, Any] | None) -> str:
    document: dict[str, Any] = {"project": project}
    if status:
        document["status"] = dict(status)
    blocks: dict[str, Any] = {}
    for app in apps:
        block: dict[str, Any] = {}
        if app.isolate is not None:
            block["isolate"] = app.isolate
        block["deploy"] = {"use": {app.plugin: dict(app.config)}}
        if app.release is not None:
            block["release"] = {"use": {app.release: dict(app.release_config)}}
        if app.status:
            block["status"] = dict(app.status)
        blocks[app.name] = block
    document["app"] = blocks
    return json.dumps(document, indent=2)


# --- the console script --------------------------------------------------------------------


def script() -> str:
    """The installed ``waypoint-hooks`` beside this Python."""
    found = shutil.which("waypoint-hooks", path=str(Path(sys.executable).parent))
    assert found, "the console script is not installed beside this Python"
    return found


def script_env(**extra: str) -> dict[str, str]:
    paths = [str(PLUGIN_DIR), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(paths),
        AUTOLOAD_ENV: "1",
        # What a process printed before it was killed reached the pipe.
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("WAYPOINT_HOOKS_STATE", None)
    env.update(extra)
    return env


class Processes:
    """Every console-script process a test starts; each is a process group of its own
    (the launcher and whatever it started), killed whole when the test ends."""

    def __init__(self) -> None:
        self.started: list[subprocess.Popen[str]] = []

    def start(
        self, args: Sequence[str], *, cwd: Path, env: Mapping[str, str] | None = None
    ) -> subprocess.Popen[str]:
        process = subprocess.Popen(
            [script(), *args],
            cwd=cwd,
            env=dict(env) if env is not None else script_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
            start_new_session=True,
        )
        self.started.append(process)
        return process

    def run(
        self,
        args: Sequence[str],
        *,
        cwd: Path,
        timeout: float = GUARD,
        env: Mapping[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        process = self.start(args, cwd=cwd, env=env)
        try:
            out, err = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            kill_group(process)
            out, err = process.communicate()
            pytest.fail(
                f"`waypoint-hooks {' '.join(args)}` still ran after {timeout:g}s (hang guard)\n"
                f"stdout: {out[-3000:]}\nstderr: {err[-3000:]}"
            )
        return subprocess.CompletedProcess(process.args, process.returncode, out, err)

    def close(self) -> None:
        for process in self.started:
            kill_group(process)
            # A test's own reader threads may still hold the pipes: whatever they left.
            with contextlib.suppress(Exception):
                process.communicate(timeout=30)


# Run by measure(): runs the command it is given, reads its stdout as it comes (counting it,
# keeping its ends), and prints one JSON line of what it saw, its peak memory included.
_MEASURE = """
import json, resource, subprocess, sys, time
start = time.monotonic()
child = subprocess.Popen(sys.argv[1:], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
head, tail, size, lines = b"", b"", 0, 0
for chunk in iter(lambda: child.stdout.read(65536), b""):
    size += len(chunk)
    lines += chunk.count(b"\\n")
    head = head or chunk[:4096]
    tail = (tail + chunk)[-4096:]
stderr = child.stderr.read()
code = child.wait()
print(json.dumps({
    "returncode": code,
    "seconds": time.monotonic() - start,
    "peak_rss": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024,
    "stdout_bytes": size,
    "stdout_lines": lines,
    "head": head.decode(errors="replace"),
    "tail": tail.decode(errors="replace"),
    "stderr": stderr.decode(errors="replace"),
}))
"""


@dataclass
class Measured:
    """What :func:`measure` saw of one console-script run."""

    returncode: int
    seconds: float
    #: The most memory (RSS) the command held, in bytes, as its parent's getrusage says.
    peak_rss: int
    stdout_bytes: int
    stdout_lines: int
    #: The first and the last 4 KiB of stdout.
    head: str
    tail: str
    stderr: str


def measure(
    args: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str] | None = None,
    timeout: float = GUARD,
) -> Measured:
    """Run the console script with ``args`` under a small Python parent that measures its
    peak memory; stdout is counted, not kept, so that any amount of it costs nothing here."""
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE, script(), *args],
        cwd=cwd,
        env=dict(env) if env is not None else script_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=True,
    )
    return Measured(**json.loads(done.stdout))


def run_on_terminal(
    args: Sequence[str], *, cwd: Path, env: Mapping[str, str], columns: int = 80
) -> subprocess.CompletedProcess[str]:
    """Run the console script with a pseudo-terminal ``columns`` wide as stdin, stdout and
    stderr; ``stdout`` is all the terminal received (each "\n" as "\r\n")."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    process = subprocess.Popen(
        [script(), *args],
        cwd=cwd,
        env={name: value for name, value in env.items() if name not in ("COLUMNS", "LINES")},
        stdin=follower,
        stdout=follower,
        stderr=follower,
        start_new_session=True,
    )
    os.close(follower)
    chunks: list[bytes] = []
    try:
        deadline = time.monotonic() + GUARD
        while time.monotonic() < deadline:
            ready, _, _ = select.select([leader], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(leader, 65536)
                except OSError:  # EIO: every holder of the terminal closed it
                    break
                if not chunk:
                    break
                chunks.append(chunk)
            elif process.poll() is not None:
                break
        code = process.wait(timeout=GUARD)
    finally:
        kill_group(process)
        process.wait()
        os.close(leader)
    screen = b"".join(chunks).decode("utf-8", "replace")
    return subprocess.CompletedProcess(process.args, code, screen, "")


def wait_until(condition: Callable[[], object], what: str) -> None:
    """Wait until ``condition()`` is true; fail, naming ``what``, after the hang guard."""
    deadline = time.monotonic() + GUARD
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"still waiting after {GUARD:g}s (hang guard) for {what}")
        time.sleep(0.01)


def kill_group(process: subprocess.Popen[Any], sig: int = signal.SIGKILL) -> None:
    """Send ``sig`` to the process group ``process`` leads (it was started in its own), and
    to every process it started: isolated apps' workers run in sessions of their own.

    Only while ``process`` runs: once it is reaped, its id may belong to someone else."""
    if process.poll() is not None:
        return
    started = descendants(process.pid)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)
    for pid in started:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def _parents() -> dict[int, int]:
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            path = f"/proc/{entry}/stat"
            with (
                contextlib.suppress(OSError, ValueError, IndexError),
                open(path, encoding="ascii", errors="replace") as file,
            ):
                # pid (comm) state ppid ...: comm may hold spaces and parentheses.
                parents[int(entry)] = int(file.read().rsplit(")", 1)[1].split()[1])
    return parents


def children(pid: int) -> list[int]:
    """The processes ``pid`` started and has not reaped (zombies included)."""
    return [child for child, parent in _parents().items() if parent == pid]


def descendants(pid: int) -> list[int]:
    """The processes ``pid`` started, and those they started, and so on."""
    parents = _parents()
    found, frontier = [], [pid]
    while frontier:
        frontier = [child for child, parent in parents.items() if parent in frontier]
        found += frontier
    return found


# --- projects ------------------------------------------------------------------------------


class Project:
    """A project directory: a config file, an ``armed`` switch for the hostile plugins, and
    the default state beside the config, or the PostgreSQL state ``state_url`` names."""

    def __init__(
        self,
        root: Path,
        apps: Sequence[App],
        *,
        status: Mapping[str, Any] | None = None,
        name: str = "reliability",
        plugins: Sequence[str] = ("wh_steady",),
        json_config: bool = False,
        state_url: str | None = None,
    ) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.apps = list(apps)
        self.status = status
        self.name = name
        self.plugins = tuple(plugins)
        self.config = root / ("waypoint.hcl.json" if json_config else "waypoint.hcl")
        self.state = root / ".waypoint-hooks" / "state.db"
        self.state_url = state_url
        #: Where its state is: the file, or the URL.
        self.location: Path | str = state_url or self.state
        self.armed = root / "armed"
        self.write()

    def write(self) -> None:
        render = render_json if self.config.name.endswith(".json") else render_hcl
        self.config.write_text(render(self.name, self.apps, self.status), encoding="utf-8")

    def arm(self) -> None:
        self.armed.touch()

    def disarm(self) -> None:
        self.armed.unlink(missing_ok=True)

    def args(self, *args: str) -> list[str]:
        plugins = [flag for plugin in self.plugins for flag in ("-p", plugin)]
        state = ["--state", self.state_url] if self.state_url else []
        return ["-c", str(self.config), *state, *plugins, *args]

    def invoke(self, *args: str, color: bool = False) -> Result:
        """Run the CLI in this process. ``color=True`` stops click from stripping ANSI codes
        (as it does when output is not a terminal): what a terminal would get."""
        return CliRunner().invoke(main, self.args(*args), color=color)

    def query(self, sql: str, parameters: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return query(self.location, sql, parameters)

    def report_count(self) -> int:
        if self.location == self.state and not self.state.exists():
            return 0
        ((count,),) = self.query("SELECT count(*) FROM reports")
        return int(count)

    def report_ids(self) -> set[int]:
        return {row[0] for row in self.query("SELECT id FROM reports")}

    def reports_per_target(self) -> dict[tuple[str, str], int]:
        rows = self.query(
            "SELECT kind, targets.id, count(*) FROM reports"
            " JOIN targets ON targets.key = reports.target GROUP BY kind, targets.id"
        )
        return {(kind, target): count for kind, target, count in rows}

    def integrity(self) -> str:
        rows = self.query("PRAGMA integrity_check")
        return "; ".join(str(row[0]) for row in rows)


def copy_report(state: Path, count: int) -> None:
    """Add ``count`` copies of the one report ``state`` holds, each a microsecond older than
    the one before, by SQL: a long history made in seconds."""
    with contextlib.closing(sqlite3.connect(state)) as db, db:
        ((target, app, health, generated, report),) = db.execute(
            "SELECT target, app, health, generated, report FROM reports"
        ).fetchall()
        db.execute(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)"
            " INSERT INTO reports (target, app, health, generated, report)"
            " SELECT ?, ?, ?, ? - i, ? FROM n",
            (count, target, app, health, generated, report),
        )


def assert_survived(result: Result) -> None:
    """The in-process CLI ended by exiting, not by an exception escaping it."""
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(
            f"an exception escaped the CLI: {result.exception!r}\n{result.output}"
        ) from result.exception
    assert "Traceback" not in result.output, result.output


def parse(stdout: str) -> Any:
    """``stdout`` as one JSON document, or a failure that shows it."""
    try:
        return json.loads(stdout)
    except ValueError as exc:
        pytest.fail(f"stdout is not one JSON document ({exc}):\n{stdout[:3000]}")


def report_of(document: Mapping[str, Any], app: str, kind: str = "deployment") -> dict[str, Any]:
    """The report of ``app``'s ``kind`` in a ``status --json`` document."""
    for row in document["apps"]:
        if row["app"] == app:
            target = row[kind]
            assert target is not None, f"{app} has no {kind}: {row}"
            report: dict[str, Any] = target["report"]
            return report
    raise AssertionError(f"no app {app!r} in {[row['app'] for row in document['apps']]}")
