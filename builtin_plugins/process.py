"""``process``: a local long-running process as a platform (Linux: it reads ``/proc``).

Deploy starts the command detached, in a session of its own, with its output in a log file.
Status asks ``/proc`` whether that very process still runs (a pid is ours only while its start
time and boot match the recorded ones) and whether it passes its readiness probe. Destroy stops
its process group: SIGTERM, then SIGKILL once the grace period is over.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
import uuid
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Final

import attrs

from waypoint_hooks import (
    CategoryDisplayHint,
    Context,
    Duration,
    Health,
    JobInfo,
    Resource,
    StatusReport,
    StructureError,
    hookimpl,
)
from waypoint_hooks.terminal import STATUS_ERROR, STATUS_OK, STATUS_WARN, UI, WARNING_STYLE

from ._urls import url_problem

if TYPE_CHECKING:
    import subprocess

#: How long a readiness probe may take when the check's deadline leaves more time.
_PROBE_TIMEOUT: Final = 2.0
#: How often deploy probes the process until it is ready, and destroy looks whether its
#: process group has exited.
_POLL_INTERVAL: Final = 0.05
#: How long destroy waits for the group to vanish after SIGKILL (it cannot be ignored, but a
#: process in uninterruptible sleep only dies when the kernel call it waits in returns).
_KILL_WAIT: Final = 5.0
#: How many of the log's last lines a DOWN report carries, and how much of the log to read
#: for them (enough for 20 lines of any sane length, without reading a huge log whole).
_TAIL_LINES: Final = 20
_TAIL_BYTES: Final = 64 * 1024
#: /proc/<pid>/stat states of a process that has exited: zombie (not yet reaped) and dead.
_EXITED: Final = frozenset({"Z", "X"})

#: The processes this Python process started and has not reaped, by pid. Holding the Popen
#: keeps its finalizer from warning that the child still runs (it is meant to), and lets
#: destroy reap a child of its own (the CLI deploys and destroys in different processes, so
#: there the child has been handed to init; tests do both in one).
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
            f"expected a list of strings or a string, got {type(value).__name__} {value!r}",
        )
    try:
        argv = _argv(value)
    except ValueError as exc:  # an unclosed quote
        raise StructureError.at("command", f"cannot split {value!r} into words: {exc}") from None
    if not argv or not argv[0]:
        raise StructureError.at("command", "names no program to run")
    return value


def _tcp_address(text: str) -> tuple[str, int]:
    """``host:port`` (``[::1]:port`` for IPv6) as a host and a port number."""
    host, _, port = text.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not host or not port.isdecimal() or not 0 < int(port) < 65536:
        raise ValueError(f"{text!r} is not a host:port address such as 127.0.0.1:8000")
    return host, int(port)


def _check_ready_http(_: object, field: attrs.Attribute[str | None], value: str | None) -> None:
    problem = None if value is None else url_problem(value)
    if problem is not None:
        raise ValueError(problem)


def _check_ready_tcp(_: object, field: attrs.Attribute[str | None], value: str | None) -> None:
    if value is None:
        return
    try:
        _tcp_address(value)
    except ValueError as exc:
        raise ValueError(str(exc)) from None


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
    #: How long deploy waits for the readiness probe to pass ("0s": it does not wait).
    start_timeout: Duration = Duration("30s")
    #: How long it has between SIGTERM and SIGKILL when it is destroyed.
    grace: Duration = Duration("5s")
    #: Where its output is written, one file per deployment.
    log_dir: str = ".waypoint-hooks/logs"

    def __attrs_post_init__(self) -> None:
        if self.ready_http is not None and self.ready_tcp is not None:
            raise StructureError.at("ready_tcp", "set ready_http or ready_tcp, not both")


@attrs.define
class Deployment:
    pid: int
    command: list[str]
    cwd: str
    log: str
    #: When the process started, in clock ticks since boot (field 22 of /proc/<pid>/stat),
    #: and which boot that was: with the pid, they tell our process from a later one that
    #: was given the same pid.
    start_time: int
    boot_id: str
    ready_http: str | None = None
    ready_tcp: str | None = None
    grace: float = 5.0


@attrs.frozen
class _Stat:
    """The fields of ``/proc/<pid>/stat`` this plugin needs."""

    state: str
    process_group: int
    start_time: int


def _stat(pid: int) -> _Stat | None:
    """What ``/proc`` says about ``pid``, or ``None`` when there is no such process."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as file:
            data = file.read()
    except (FileNotFoundError, ProcessLookupError):  # the latter: it exited while we read
        return None
    # The command name (field 2) is in parentheses and may hold spaces and parentheses
    # itself: the fields after its last ")" start with field 3.
    fields = data[data.rindex(b")") + 2 :].split()
    return _Stat(fields[0].decode(), int(fields[2]), int(fields[19]))


def _boot_id() -> str:
    with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as file:
        return file.read().strip()


def _started_at(start_time: int) -> datetime:
    """The wall-clock time of a start time in clock ticks since boot."""
    with open("/proc/stat", encoding="ascii") as file:
        boot = next(int(line.split()[1]) for line in file if line.startswith("btime "))
    return datetime.fromtimestamp(boot + start_time / os.sysconf("SC_CLK_TCK"), timezone.utc)


def _name(deployment: Deployment) -> str:
    # program[pid], as syslog names a process.
    return f"{os.path.basename(deployment.command[0])}[{deployment.pid}]"


def _own_stat(deployment: Deployment) -> _Stat | str:
    """The deployed process's stat (it may have exited, unreaped), or why it has none."""
    if _boot_id() != deployment.boot_id:
        return f"the machine has restarted since process {deployment.pid} was started"
    stat = _stat(deployment.pid)
    if stat is None:
        return f"process {deployment.pid} is not running"
    if stat.start_time != deployment.start_time:
        return f"pid {deployment.pid} now belongs to another process, not the one deployed"
    return stat


@hookimpl
def platform_deploy_func(
    ctx: Context, job_info: JobInfo, ui: UI, config: PlatformConfig
) -> Deployment:
    import shlex
    import subprocess

    if not os.path.exists("/proc/self/stat"):
        raise RuntimeError("the process platform needs Linux's /proc to identify its processes")
    argv = _argv(config.command)
    cwd = os.path.abspath(config.cwd)
    if not os.path.isdir(cwd):
        raise NotADirectoryError(f"cwd {cwd} is not a directory")
    log_dir = os.path.abspath(config.log_dir)
    os.makedirs(log_dir, exist_ok=True)
    log = os.path.join(log_dir, f"{job_info.app}-{job_info.id or uuid.uuid4().hex[:12]}.log")
    steps = ui.step_group()
    step = steps.add("Starting %s...", shlex.join(argv))
    # Appended to, never truncated: the file may hold an earlier process's last words.
    with open(log, "ab") as output:
        child = subprocess.Popen(
            argv,
            cwd=cwd,
            env={**os.environ, **config.env},
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            # Its own session: no signal meant for this terminal reaches it, and destroy
            # can stop everything it starts as one process group.
            start_new_session=True,
        )
    _CHILDREN[child.pid] = child
    stat = _stat(child.pid)
    assert stat is not None, "an unreaped child always has its /proc entry"
    deployment = Deployment(
        pid=child.pid,
        command=argv,
        cwd=cwd,
        log=log,
        start_time=stat.start_time,
        boot_id=_boot_id(),
        ready_http=config.ready_http,
        ready_tcp=config.ready_tcp,
        grace=config.grace,
    )
    step.update("Started %s, its output goes to %s", _name(deployment), log)
    step.done()
    probe = deployment.ready_http or deployment.ready_tcp
    if probe is not None and config.start_timeout > 0:
        # As Waypoint's platforms wait for what they deployed; whatever the outcome, the
        # deployment stands, and status tells the rest.
        step = steps.add("Waiting for %s to answer...", probe)
        message, status = _await_readiness(ctx, deployment, config.start_timeout)
        step.update(message)
        step.status(status)
        step.done()
    return deployment


def _await_readiness(ctx: Context, deployment: Deployment, seconds: float) -> tuple[str, str]:
    """How waiting up to ``seconds`` for the readiness probe ended: a message, a step status."""
    deadline = time.monotonic() + seconds
    while True:
        down = _why_down(deployment)
        if down is not None:
            return f"Not ready: {down}; its output is in {deployment.log}", STATUS_ERROR
        failure = _readiness_failure(deployment, _PROBE_TIMEOUT)
        if failure is None:
            return f"{_name(deployment)} is ready", STATUS_OK
        left = deadline - time.monotonic()
        if left <= 0 or ctx.wait(min(_POLL_INTERVAL, left)):
            return f"Not ready after {seconds:g}s: {failure}", STATUS_WARN


@hookimpl
def platform_status_func(ctx: Context, deployment: Deployment) -> StatusReport:
    resource = Resource(
        _name(deployment),
        id=str(deployment.pid),
        type="process",
        category_display_hint=CategoryDisplayHint.INSTANCE,
    )
    state: dict[str, Any] = {
        "pid": deployment.pid,
        "command": deployment.command,
        "cwd": deployment.cwd,
        "log": deployment.log,
    }
    if deployment.boot_id == _boot_id():
        resource.created_time = _started_at(deployment.start_time)
    down = _why_down(deployment)
    if down is not None:
        resource.health, resource.health_message = Health.DOWN, down
        state["log_tail"] = _tail(deployment.log)
    else:
        failure = _readiness_failure(deployment, _probe_timeout(ctx))
        if failure is None:
            resource.health, resource.health_message = Health.READY, _ready_message(deployment)
        else:
            resource.health, resource.health_message = Health.ALIVE, f"running, but {failure}"
    resource.state_json = json.dumps(state)
    # The health is left to the app's status policy; the message of the only resource says
    # more than a count of one would.
    return StatusReport(resources=[resource], health_message=resource.health_message)


def _why_down(deployment: Deployment) -> str | None:
    """Why the deployed process is not running, or ``None`` while it runs."""
    stat = _own_stat(deployment)
    if isinstance(stat, str):
        return stat
    return f"process {deployment.pid} has exited" if stat.state in _EXITED else None


def _probe_timeout(ctx: Context) -> float:
    remaining = ctx.remaining()
    return _PROBE_TIMEOUT if remaining is None else min(_PROBE_TIMEOUT, remaining)


def _ready_message(deployment: Deployment) -> str:
    probe = deployment.ready_http or deployment.ready_tcp
    return "running" if probe is None else f"running, and {probe} answers"


def _readiness_failure(deployment: Deployment, timeout: float) -> str | None:
    """Why the readiness probe fails, or ``None`` when it passes (or there is none)."""
    if deployment.ready_http is not None:
        return _http_failure(deployment.ready_http, timeout)
    if deployment.ready_tcp is not None:
        return _tcp_failure(deployment.ready_tcp, timeout)
    return None


def _http_failure(url: str, timeout: float) -> str | None:
    import http.client
    import ssl
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    connection: http.client.HTTPConnection
    if parts.scheme == "https":
        # As Kubernetes' httpGet probe: the certificate is not verified, since the probe asks
        # whether the process serves, not whether to trust it; nothing secret is sent.
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        connection = http.client.HTTPSConnection(
            parts.hostname or "", parts.port, timeout=timeout, context=context
        )
    else:
        connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=timeout)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        connection.request("GET", target)
        status = connection.getresponse().status
    except (OSError, http.client.HTTPException) as exc:
        return f"{url} does not answer: {_reason(exc)}"
    finally:
        connection.close()
    # Any 2xx or 3xx passes, as in Kubernetes; a redirect is not followed.
    return None if 200 <= status < 400 else f"{url} answers {status}"


def _tcp_failure(address: str, timeout: float) -> str | None:
    import socket

    try:
        socket.create_connection(_tcp_address(address), timeout=timeout).close()
    except OSError as exc:
        return f"{address} does not accept connections: {_reason(exc)}"
    return None


def _reason(exc: BaseException) -> str:
    return (exc.strerror if isinstance(exc, OSError) else None) or str(exc) or type(exc).__name__


def _tail(path: str) -> list[str]:
    """The last lines of the log at ``path`` (none when it is gone)."""
    try:
        with open(path, "rb") as file:
            size = file.seek(0, os.SEEK_END)
            file.seek(max(0, size - _TAIL_BYTES))
            data = file.read()
    except FileNotFoundError:
        return []
    lines = data.decode("utf-8", "replace").splitlines()
    if size > _TAIL_BYTES:
        lines = lines[1:]  # read from the middle of a line
    return lines[-_TAIL_LINES:]


@hookimpl
def platform_destroy_func(ctx: Context, ui: UI, deployment: Deployment) -> None:
    _stop(ctx, ui, deployment)
    # Kept until now for the log tail of a DOWN report; the deployment is gone, so is it.
    with contextlib.suppress(FileNotFoundError):
        os.remove(deployment.log)


def _stop(ctx: Context, ui: UI, deployment: Deployment) -> None:
    name = _name(deployment)
    stat = _own_stat(deployment)
    if isinstance(stat, str):
        # Gone, or its pid belongs to someone else now: there is nothing of ours to signal.
        ui.output("%s; nothing to stop", stat)
        return
    group = deployment.pid  # the leader of its own session and process group
    if not _group_running(group):
        ui.output("process %d has exited; nothing to stop", deployment.pid)
        _reap(deployment.pid)
        return
    _signal_group(group, signal.SIGTERM)
    if _wait_for_exit(ctx, group, deployment.grace):
        ui.output("Stopped %s", name)
    else:
        _signal_group(group, signal.SIGKILL)
        ui.output("%s did not stop within %gs of SIGTERM; killed it", name, deployment.grace)
        # Not cut short by a cancelled ctx: what was killed is worth waiting for.
        if not _wait_for_exit(Context(), group, _KILL_WAIT):
            ui.output("%s is still running after SIGKILL", name, style=WARNING_STYLE)
    _reap(deployment.pid)


def _signal_group(group: int, signum: int) -> None:
    # ProcessLookupError: every process of the group has exited already.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, signum)


def _group_running(group: int) -> bool:
    """True while a process of ``group`` has not exited (zombies have)."""
    for entry in os.listdir("/proc"):
        if entry.isdecimal():
            stat = _stat(int(entry))
            if stat is not None and stat.process_group == group and stat.state not in _EXITED:
                return True
    return False


def _wait_for_exit(ctx: Context, group: int, seconds: float) -> bool:
    """Wait up to ``seconds`` (less when ``ctx`` is cancelled) for ``group`` to exit."""
    deadline = time.monotonic() + seconds
    while _group_running(group):
        left = deadline - time.monotonic()
        if left <= 0 or ctx.wait(min(_POLL_INTERVAL, left)):
            return False
    return True


def _reap(pid: int) -> None:
    child = _CHILDREN.get(pid)
    if child is not None and child.poll() is not None:
        del _CHILDREN[pid]
