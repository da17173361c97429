"""``process``: a local long-running process as a platform (Linux 5.3 or later: it reads
``/proc`` and signals through pidfds).

Deploy starts the command detached, in a session of its own, with its output in a log file and
a marker in its environment, ``WAYPOINT_HOOKS_DEPLOYMENT``, that every process it starts
inherits. A process belongs to the deployment only while its boot and start time fit *and* it
carries that marker, so a pid given to another process is never taken for ours. Status reports
each of them that runs, and whether a probe of the deployment is answered on a socket of its
own; destroy stops all of them, whether in the command's group, left by a leader that exited, or
double-forked daemons: SIGTERM, then SIGKILL once the grace period is over. The log and the
processes are two resources of the resource manager (DESIGN §18): the log made first and
removed last, the marker checkpointed before the command starts (§12). What ``/proc`` says is
read by ``_proc``; one module, over 400 lines, because a plugin is one entry point: its config,
resources, hooks and probes ship together.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
import uuid
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Final

import attrs

from waypoint_hooks import (
    CategoryDisplayHint,
    Context,
    Duration,
    Health,
    JobInfo,
    StatusReport,
    StructureError,
    hookimpl,
    redact_urls,
)
from waypoint_hooks.resources import ReportedResources, ResourceManager, resource
from waypoint_hooks.terminal import STATUS_ERROR, STATUS_OK, STATUS_WARN, UI, WARNING_STYLE

from . import _proc
from ._expect import BODY_LIMIT, Expect
from ._http import Client, Request
from ._urls import tcp_address, url_problem

if TYPE_CHECKING:
    import subprocess

#: The environment variable that marks every process of a deployment. Its value is the
#: deployment's id and a random suffix: unique even where hooks are run by hand with one id.
MARKER: Final = "WAYPOINT_HOOKS_DEPLOYMENT"
#: How long a readiness probe may take when the check's deadline leaves more time.
_PROBE_TIMEOUT: Final = 2.0
#: How often deploy probes the deployment until it is ready, and destroy looks whether its
#: processes have exited.
_POLL_INTERVAL: Final = 0.05
#: How long destroy waits for the processes to vanish after SIGKILL (it cannot be ignored,
#: but a process in uninterruptible sleep only dies when the kernel call it waits in returns).
_KILL_WAIT: Final = 5.0
#: How much of the end of the log a report or an error carries: its last 20 lines, and no
#: more than 4 KiB of them (DESIGN §13).
_TAIL_LINES: Final = 20
_TAIL_BYTES: Final = 4096

#: The processes this Python process started and has not reaped, by pid. Holding the Popen
#: keeps its finalizer from warning that the child still runs (it is meant to), tells deploy
#: how its child exited, and lets destroy reap a child of its own (the CLI deploys and
#: destroys in different processes, so there the child has been handed to init; tests do
#: both in one).
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


def _argv(command: list[str] | str) -> list[str]:
    """The program and its arguments; a string is split as a POSIX shell would split it."""
    import shlex

    return shlex.split(command) if isinstance(command, str) else command


def _check_command(value: object) -> list[str] | str:
    # A converter, not a validator: cattrs has no hook for this union, and then it hands the
    # value to the field's converter as written.
    if not isinstance(value, str) and not (
        isinstance(value, list) and all(isinstance(word, str) for word in value)
    ):
        raise StructureError.at(
            "command",
            # Not the value itself: a command line may hold a credential.
            f"expected a list of strings or a string, got {type(value).__name__}",
        )
    try:
        argv = _argv(value)
    except ValueError as exc:  # an unclosed quote
        raise StructureError.at("command", f"cannot split it into words: {exc}") from None
    if not argv or not argv[0]:
        raise StructureError.at("command", "names no program to run")
    return value


def _check_ready_http(_: object, field: attrs.Attribute[str | None], value: str | None) -> None:
    problem = None if value is None else url_problem(value)
    if problem is not None:
        raise ValueError(problem)


def _check_ready_tcp(_: object, field: attrs.Attribute[str | None], value: str | None) -> None:
    if value is not None:
        tcp_address(value)


@attrs.define
class PlatformConfig:
    #: The program and its arguments: a list, or one string split as a shell would split it
    #: (no shell runs it).
    command: list[str] | str = attrs.field(converter=_check_command)
    #: The directory it runs in, relative to where the hook runs.
    cwd: str = "."
    #: Added to the environment it inherits.
    env: dict[str, str] = attrs.field(factory=dict)
    #: Ready once a GET of this URL answers 200-399; ALIVE until then.
    ready_http: str | None = attrs.field(default=None, validator=_check_ready_http)
    #: Ready once this ``host:port`` accepts a TCP connection; ALIVE until then.
    ready_tcp: str | None = attrs.field(default=None, validator=_check_ready_tcp)
    #: What ``ready_http``'s answer must be, as ``http``'s expect block (instead of 200-399).
    expect: Expect | None = None
    #: How long deploy waits for the readiness probe to pass ("0s": it does not wait).
    start_timeout: Duration = Duration("30s")
    #: How long it has between SIGTERM and SIGKILL when it is destroyed.
    grace: Duration = Duration("5s")
    #: Where its output is written, one file per deployment.
    log_dir: str = ".waypoint-hooks/logs"

    def __attrs_post_init__(self) -> None:
        if self.ready_http is not None and self.ready_tcp is not None:
            raise StructureError.at("ready_tcp", "set ready_http or ready_tcp, not both")
        if self.expect is not None and self.ready_http is None:
            raise StructureError.at("expect", "is what ready_http's answer must be: set ready_http")


@attrs.define
class LogState:
    """The file the deployment's output goes to; empty until deploy names it."""

    path: str = ""


@attrs.define
class ProcessState:
    """The deployment's processes, as deploy recorded them; blank until it is about to start
    the command (``boot_id`` empty: it never did)."""

    command: list[str] = attrs.field(factory=list)
    cwd: str = ""
    #: The process deploy started, the deployment's leader; 0 in the checkpoint taken just
    #: before it was started.
    pid: int = 0
    #: When the leader started, in clock ticks since boot (field 22 of /proc/<pid>/stat), or,
    #: while ``pid`` is 0, a moment before; and which boot that was. No process of the
    #: deployment started earlier.
    start_time: int = 0
    boot_id: str = ""
    ready_http: str | None = None
    ready_tcp: str | None = None
    grace: float = 5.0
    #: The value of ``WAYPOINT_HOOKS_DEPLOYMENT`` in the environment of its processes; empty
    #: for a deployment made before markers, of which only the leader is known.
    marker: str = ""


class ProcessExited(RuntimeError):
    """Every process of a deployment exited before its probe passed."""

    def __init__(self, reason: str, log: str) -> None:
        self.reason = reason
        tail = "\n".join(_tail(log))
        output = f"the end of its output ({log}):\n{tail}" if tail else f"its log {log} is empty"
        super().__init__(f"{reason} before it was ready; {output}")


def _name(deployment: ProcessState) -> str:
    if not deployment.command:
        return "process"  # blank: its deploy never got as far as the command
    # program[pid], as syslog names a process.
    return f"{os.path.basename(deployment.command[0])}[{deployment.pid}]"


def _ours(deployment: ProcessState, process: _proc.Stat) -> bool:
    """Whether ``process`` is one the deployment started and still runs (a zombie has
    exited). The caller checked that the boot is the deployment's."""
    if not process.running or process.start_time < deployment.start_time:
        return False
    if not deployment.marker:  # made before markers: its leader alone is known
        return process.pid == deployment.pid and process.start_time == deployment.start_time
    return _proc.has_environment_entry(process, f"{MARKER}={deployment.marker}")


def _find(deployment: ProcessState) -> list[_proc.Stat]:
    """The processes of the deployment that run now, oldest first."""
    if deployment.boot_id != _proc.boot_id():
        return []  # every process of that boot is gone
    found = [process for process in _proc.processes() if _ours(deployment, process)]
    return sorted(found, key=lambda process: (process.start_time, process.pid))


def _why_down(deployment: ProcessState) -> str:
    """Why none of the deployment's processes runs, as said of its leader."""
    pid = deployment.pid
    if not deployment.boot_id:
        return "its command was never started"
    if deployment.boot_id != _proc.boot_id():
        return f"the machine has restarted since process {pid} was started"
    if not pid:
        return "no process of it is running"
    stat = _proc.stat(pid)
    if stat is None:
        return f"process {pid} is not running"
    if stat.start_time != deployment.start_time:
        return f"pid {pid} now belongs to another process, not the one deployed"
    if not stat.running:
        return f"process {pid} has exited"
    return f"process {pid} runs without {MARKER} in its environment"


# --- the log -------------------------------------------------------------------------------


def _name_log(config: PlatformConfig, job_info: JobInfo, state: LogState) -> None:
    log_dir = os.path.abspath(config.log_dir)
    # Only for this user: a process's output may hold what it should not show to others.
    os.makedirs(log_dir, mode=0o700, exist_ok=True)
    name = f"{job_info.app}-{job_info.id or uuid.uuid4().hex[:12]}.log"
    state.path = os.path.join(log_dir, name)


def _remove_log(state: LogState) -> None:
    # Kept until now for the log tail of a DOWN report: the processes, destroyed before it,
    # are gone, so is it.
    if state.path:
        with contextlib.suppress(FileNotFoundError):
            os.remove(state.path)


# --- the processes -------------------------------------------------------------------------


def _start(
    job_info: JobInfo,
    ui: UI,
    config: PlatformConfig,
    log: LogState,
    state: ProcessState,
    checkpoint: Callable[[], None],
) -> None:
    import secrets
    import shlex
    import subprocess

    if not os.path.exists("/proc/self/stat"):
        raise RuntimeError("the process platform needs Linux's /proc to identify its processes")
    argv = _argv(config.command)
    cwd = os.path.abspath(config.cwd)
    if not os.path.isdir(cwd):
        raise NotADirectoryError(f"cwd {cwd} is not a directory")
    suffix = secrets.token_hex(8)
    state.command, state.cwd = argv, cwd
    state.start_time, state.boot_id = _proc.ticks_since_boot(), _proc.boot_id()
    state.ready_http, state.ready_tcp = config.ready_http, config.ready_tcp
    state.grace = config.grace
    state.marker = f"{job_info.id}.{suffix}" if job_info.id else suffix
    # Before anything starts: from here on destroy finds by the marker whatever this
    # deployment starts, even should this process die before it learns a pid.
    checkpoint()
    with ui.step_group() as steps:
        step = steps.add("Starting %s...", shlex.join(argv))
        # Appended to, never truncated: the file may hold an earlier process's last words.
        descriptor = os.open(
            log.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600
        )
        with os.fdopen(descriptor, "ab") as output:
            child = subprocess.Popen(
                argv,
                cwd=cwd,
                env={**os.environ, **config.env, MARKER: state.marker},
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                # Its own session: no signal meant for this terminal reaches it.
                start_new_session=True,
            )
        _CHILDREN[child.pid] = child
        started = _proc.stat(child.pid)
        assert started is not None, "an unreaped child always has its /proc entry"
        state.pid, state.start_time = child.pid, started.start_time
        step.update("Started %s, its output goes to %s", _name(state), log.path)
        step.done()


def _await_start(
    ctx: Context, ui: UI, deployment: ProcessState, log: str, config: PlatformConfig
) -> None:
    """Wait for the readiness probe, as Waypoint's platforms wait for what they deployed. Not
    ready in time, the deployment stands and status tells the rest; gone, the deploy fails."""
    with ui.step_group() as steps:
        step = steps.add(
            "Waiting for %s to answer...", deployment.ready_http or deployment.ready_tcp
        )
        try:
            message, status = _await_readiness(ctx, deployment, log, config)
        except ProcessExited as exc:
            step.update("Not ready: %s; its output is in %s", exc.reason, log)
            step.status(STATUS_ERROR)
            step.done()
            raise
        step.update(message)
        step.status(status)
        step.done()


def _await_readiness(
    ctx: Context, deployment: ProcessState, log: str, config: PlatformConfig
) -> tuple[str, str]:
    """How waiting up to ``start_timeout`` for the readiness probe ended: a message, a step
    status.

    Raises :class:`ProcessExited` once no process of the deployment runs.
    """
    seconds = config.start_timeout
    deadline = time.monotonic() + seconds
    while True:
        running = _find(deployment)
        if not running:
            raise ProcessExited(_exit_reason(deployment), log)
        failure = _readiness_failure(deployment, running, _PROBE_TIMEOUT, config.expect)
        if failure is None:
            return f"{_name(deployment)} is ready", STATUS_OK
        left = deadline - time.monotonic()
        if left <= 0 or ctx.wait(min(_POLL_INTERVAL, left)):
            return f"Not ready after {seconds:g}s: {failure}", STATUS_WARN


def _exit_reason(deployment: ProcessState) -> str:
    """How the leader, a child of this process, ended."""
    import subprocess

    leader = _proc.stat(deployment.pid)
    if leader is not None and leader.running:
        return _why_down(deployment)  # it runs, but no longer as the deployment's
    try:
        # Exited, or about to be: its exit status comes at once (unless threads of it run
        # on after its first one exited, which /proc shows as a zombie too).
        code = _CHILDREN[deployment.pid].wait(_KILL_WAIT)
    except subprocess.TimeoutExpired:
        return _why_down(deployment)
    if code >= 0:
        return f"{_name(deployment)} exited with status {code}"
    try:
        name = signal.Signals(-code).name
    except ValueError:
        name = f"signal {-code}"
    return f"{_name(deployment)} was killed by {name}"


def _report(
    ctx: Context,
    config: Mapping[str, Any],
    log: LogState,
    state: ProcessState,
    resources: ReportedResources,
) -> None:
    """Report each process of the deployment that runs; none running, its leader, DOWN."""
    running = _find(state)
    if not running:
        _report_down(state, log.path, resources)
        return
    # The state keeps the probe's URL without its query values (DESIGN §13): the config's
    # own is probed, when it is the one the deployment was made with. The config as written
    # (not structured): a deployment outlives a change of its app's config.
    configured = config.get("ready_http")
    if isinstance(configured, str) and redact_urls(configured) == state.ready_http:
        state = attrs.evolve(state, ready_http=configured)
    # The config as written: its expect block was checked against PlatformConfig when the
    # config was loaded (and is none when the app now deploys with another plugin).
    written = config.get("expect")
    expect = Expect(**written) if isinstance(written, Mapping) else None
    failure = _readiness_failure(state, running, _probe_timeout(ctx), expect)
    if failure is None:
        health, message = Health.READY, _ready_message(state)
    else:
        health, message = Health.ALIVE, f"running, but {failure}"
    pids = {process.pid for process in running}
    for process in running:
        resources.add(
            process.label,
            health=health,
            health_message=message,
            id=str(process.pid),
            # A tree of who started whom, as far as they run.
            parent_resource_id=str(process.parent) if process.parent in pids else "",
            created_time=_proc.started_at(process.start_time),
            state_json=json.dumps(
                {"pid": process.pid, "command": _proc.command_line(process.pid), "log": log.path}
            ),
        )


def _report_down(deployment: ProcessState, log: str, resources: ReportedResources) -> None:
    """Report the leader of a deployment none of whose processes runs, DOWN."""
    resource = resources.add(
        _name(deployment),
        health=Health.DOWN,
        health_message=_why_down(deployment),
        id=str(deployment.pid),
        state_json=json.dumps(
            {
                "pid": deployment.pid,
                "command": deployment.command,
                "log": log,
                "log_tail": _tail(log),
            }
        ),
    )
    if deployment.boot_id == _proc.boot_id():
        resource.created_time = _proc.started_at(deployment.start_time)


def _probe_timeout(ctx: Context) -> float:
    remaining = ctx.remaining()
    return _PROBE_TIMEOUT if remaining is None else min(_PROBE_TIMEOUT, remaining)


def _ready_message(deployment: ProcessState) -> str:
    probe = deployment.ready_http or deployment.ready_tcp
    return "running" if probe is None else f"running, and {probe} answers"


def _readiness_failure(
    deployment: ProcessState, running: list[_proc.Stat], timeout: float, expect: Expect | None
) -> str | None:
    """Why the deployment is not ready, or ``None`` when its probe passes (or it has none).

    A probe passes only when the socket that accepted it is one of ``running``'s: an older
    process on the same port answers for itself, not for this deployment.
    """
    if deployment.ready_http is not None:
        probe = deployment.ready_http
        answer = _http_answer(deployment.ready_http, timeout, expect)
    elif deployment.ready_tcp is not None:
        probe, answer = deployment.ready_tcp, _tcp_answer(deployment.ready_tcp, timeout)
    else:
        return None
    if isinstance(answer, str):
        return answer
    listening = _proc.listeners(answer)
    # Nothing on this machine listens there: another machine answered, as only it can tell.
    if not listening or any(listening & _proc.socket_inodes(process.pid) for process in running):
        return None
    return f"{probe} is answered by another process, not by this deployment"


def _http_answer(url: str, timeout: float, expect: Expect | None) -> tuple[str, int] | str:
    """The address that answered a GET of ``url`` with 200-399, or as ``expect`` says, or
    why it did not."""
    # As Kubernetes' httpGet probe: the certificate is not verified, since the probe asks
    # whether the process serves, not whether to trust it; nothing secret is sent.
    client = Client(verify_tls=False)
    reads = expect is not None and expect.reads_body
    request = Request("GET", url, read_body=reads, body_limit=BODY_LIMIT if reads else None)
    try:
        answer = client.fetch(request, timeout=timeout)
    except OSError as exc:
        return f"{url} does not answer: {_reason(exc)}"
    if expect is not None:
        failures = expect.failures(answer.status, answer.body, answer.truncated)
        if failures:
            return f"{url} answers {answer.status}: {'; '.join(failures)}"
    # Any 2xx or 3xx passes, as in Kubernetes; a redirect is not followed.
    elif not 200 <= answer.status < 400:
        return f"{url} answers {answer.status}"
    assert answer.peer is not None, "a URL is reached over TCP"
    return answer.peer


def _tcp_answer(address: str, timeout: float) -> tuple[str, int] | str:
    """The address that accepted a TCP connection to ``address``, or why none did."""
    import socket

    try:
        with socket.create_connection(tcp_address(address), timeout=timeout) as connection:
            peer: tuple[str, int] = connection.getpeername()[:2]
    except OSError as exc:
        return f"{address} does not accept connections: {_reason(exc)}"
    return peer


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc) or type(exc).__name__


def _tail(path: str) -> list[str]:
    """The last lines of the log at ``path``, within its last 4 KiB (none when it is gone)."""
    try:
        with open(path, "rb") as file:
            size = file.seek(0, os.SEEK_END)
            file.seek(max(0, size - _TAIL_BYTES))
            data = file.read(_TAIL_BYTES)
    except FileNotFoundError:
        return []
    lines = data.decode("utf-8", "replace").splitlines()
    if size > _TAIL_BYTES and len(lines) > 1:
        lines = lines[1:]  # read from the middle of a line
    return lines[-_TAIL_LINES:]


def _stop(ctx: Context, ui: UI, state: ProcessState) -> None:
    """Stop every process of the deployment: SIGTERM, then SIGKILL once its grace is over."""
    signalled, running = _signal_until_gone(ctx, state, signal.SIGTERM, state.grace)
    if not signalled:
        ui.output("%s; nothing to stop", _why_down(state))
    elif not running:
        ui.output("Stopped %s", _labels(signalled))
    else:
        # Not cut short by a cancelled ctx: what was killed is worth waiting for.
        _, left = _signal_until_gone(Context(), state, signal.SIGKILL, _KILL_WAIT)
        ui.output(
            "%s did not stop within %gs of SIGTERM; killed %s",
            _labels(running),
            state.grace,
            "it" if len(running) == 1 else "them",
        )
        if left:
            ui.output("%s still running after SIGKILL", _labels(left), style=WARNING_STYLE)
    _reap(state.pid)


def _labels(processes: list[_proc.Stat]) -> str:
    return ", ".join(process.label for process in processes)


def _signal_until_gone(
    ctx: Context, deployment: ProcessState, signum: int, seconds: float
) -> tuple[list[_proc.Stat], list[_proc.Stat]]:
    """Send ``signum`` to every process of the deployment, and to each one it starts
    meanwhile, until none runs or ``seconds`` have passed (less once ``ctx`` is cancelled).

    Returns those signalled and those that ran when it stopped waiting.
    """
    deadline = time.monotonic() + seconds
    signalled: dict[tuple[int, int], _proc.Stat] = {}
    while True:
        running = _find(deployment)
        for process in running:
            if (process.pid, process.start_time) not in signalled:
                _signal(process, signum)
                signalled[process.pid, process.start_time] = process
        left = deadline - time.monotonic()
        if not running or left <= 0 or ctx.wait(min(_POLL_INTERVAL, left)):
            return list(signalled.values()), running


def _signal(process: _proc.Stat, signum: int) -> None:
    """Send ``signum`` to ``process``, and never to a later holder of its pid."""
    try:
        descriptor = os.pidfd_open(process.pid)
    except ProcessLookupError:
        return  # gone, and reaped
    try:
        # The descriptor refers to whichever process held the pid when it was opened: if the
        # pid still has our start time, that one is ours, and only it gets the signal.
        again = _proc.stat(process.pid)
        if again is not None and again.start_time == process.start_time:
            signal.pidfd_send_signal(descriptor, signum)
    except ProcessLookupError:
        pass  # it exited meanwhile
    finally:
        os.close(descriptor)


def _reap(pid: int) -> None:
    child = _CHILDREN.get(pid)
    if child is not None and child.poll() is not None:
        del _CHILDREN[pid]


RESOURCES: Final = ResourceManager(
    # First, so that it is destroyed last: the log outlives every process writing to it.
    resource("log", create=_name_log, destroy=_remove_log, state=LogState),
    resource(
        "process",
        create=_start,
        destroy=_stop,
        status=_report,
        state=ProcessState,
        after=["log"],
        category_display_hint=CategoryDisplayHint.INSTANCE,
    ),
)


def _adopted(deployment: Mapping[str, Any]) -> Mapping[str, Any]:
    """``deployment`` as the resource manager's state. One written before this platform used
    the manager (the process's fields, the log's path among them) is made into one."""
    if "created" in deployment:
        return deployment
    process = {name: value for name, value in deployment.items() if name != "log"}
    return {
        "created": [
            {"name": "log", "state": {"path": deployment.get("log", "")}},
            {"name": "process", "state": process},
        ]
    }


# --- hooks ---------------------------------------------------------------------------------


@hookimpl
def platform_deploy_func(
    ctx: Context, job_info: JobInfo, ui: UI, config: PlatformConfig
) -> dict[str, Any]:
    deployment = RESOURCES.create_all(ctx, job_info=job_info, ui=ui, config=config)
    if (config.ready_http or config.ready_tcp) and config.start_timeout > 0:
        created = RESOURCES.load(deployment)
        _await_start(ctx, ui, created["process"], created["log"].path, config)
    return deployment


@hookimpl
def platform_status_func(
    ctx: Context, config: Mapping[str, Any], deployment: dict[str, Any]
) -> StatusReport:
    report = RESOURCES.status_report(ctx, _adopted(deployment), config=config)
    # The health is left to the app's status policy; the message of a lone resource says
    # more than a count of one would.
    if len(report.resources) == 1:
        report.health_message = report.resources[0].health_message
    return report


@hookimpl
def platform_destroy_func(ctx: Context, ui: UI, deployment: dict[str, Any]) -> None:
    RESOURCES.destroy_all(ctx, _adopted(deployment), ui=ui)
