"""Running a hook in a process of its own, for apps with ``isolate = true``.

Waypoint ran every plugin as a process of its own, so a plugin that crashed took only itself
down. In-process, nothing survives ``os._exit`` or a segfault; here the parent sees the exit
code or the signal and reports it, as an ``UNKNOWN`` report for a status check.

The parent writes one JSON request to the worker's stdin (``python -m
waypoint_hooks.plugins.isolation``); the worker loads the same plugins, runs the hook through
the same call loop, and writes JSON lines to what was its stdout: one per ``ctx.checkpoint`` as it
happens (the parent stores each at once), then the response. A plugin's own prints go to
stderr: the worker points file descriptor 1 there before it imports any plugin.

The launcher decides when a worker ends (its timeout, its second stop signal, its death): a
stop signal sent to the worker itself — a service manager signals every process of the
service, the launcher's and its workers' alike — is ignored there, from the worker's first
instruction on, so that it never ends a worker with a traceback (DESIGN §12).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Final

import attrs

from ..errors import HookFailed, HookTimeout
from ..model.alert import Alert
from ..model.codec import unstructure_value
from ..model.report import StatusReport, validate_report
from ..model.wire import report_from_json, report_to_wire
from ..terminal import UI, Event, RecordingUI
from .callers import invoke
from .context import JobInfo
from .logs import log_to_stderr
from .manager import HookCall, PluginManager, PluginSpecs
from .request import HookRequest
from .workers import run_abandoning

__all__ = ["invoke_isolated"]

#: The values of a request the parent sends as they are; ``ctx`` and ``ui`` are made anew on
#: each side, and the job, the last report and the alert are sent in their JSON forms.
_SENT: Final = ("hook", "plugin", "config", "deployment", "release", "timeout")
_LINE_LIMIT: Final = 2**31
#: The launcher's answer to a checkpoint: stored.
_STORED: Final = b"stored\n"
#: prctl(2) option: the signal the worker gets when its parent dies.
_PR_SET_PDEATHSIG: Final = 1
#: The signals that stop a command (plugins/signals.py).
_STOP_SIGNALS: Final = frozenset({signal.SIGINT, signal.SIGTERM, signal.SIGHUP})


async def invoke_isolated(call: HookCall, plugins: PluginManager, request: HookRequest) -> Any:
    """``request``'s call, made in a subprocess: the same value or the same errors as
    in-process, and a :class:`HookFailed` naming the exit code or signal when it dies."""
    if plugins.specs is None:
        raise HookFailed(
            call,
            RuntimeError(),
            "cannot run isolated: its plugin manager was not loaded from entry points and -p specs",
        )
    sent = {
        "blocked": sorted(plugins.specs.blocked),
        "modules": list(plugins.specs.modules),
        "autoload": plugins.autoload,
        "parent": os.getpid(),
        # Plugins' log records in the worker are shown as the launcher shows its own.
        "verbose": logging.getLogger().getEffectiveLevel() <= logging.INFO,
        "job_info": attrs.asdict(request.job_info),
        "last_report": _wire_or_none(request.last_report),
        "alert": None if request.alert is None else request.alert.to_wire(),
        **{name: getattr(request, name) for name in _SENT},
    }
    timeout = request.timeout
    with _stop_signals_held():
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            __name__,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            # Its own process group: a timeout kills whatever the plugin started, too.
            start_new_session=True,
            # One line holds a whole report, however many resources it has.
            limit=_LINE_LIMIT,
        )
    try:
        response = await asyncio.wait_for(_converse(process, sent, request), timeout)
    except asyncio.TimeoutError:
        raise HookTimeout(call, timeout or 0.0) from None
    finally:
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            await process.wait()
    if process.returncode != 0 or response is None:
        raise HookFailed(call, ChildProcessError(), _death(process.returncode))
    return _answer(call, response, request.ui)


_spawning = threading.local()


@contextlib.contextmanager
def _stop_signals_held() -> Iterator[None]:
    """The stop signals blocked in this thread while workers start in it: a worker inherits
    the mask, so that a signal sent to it waits until :func:`main` made it harmless (Python's
    own SIGINT handler would end the worker with a traceback, wherever its start-up was).

    Workers started concurrently in one thread share one hold, and the launcher's own stop
    signals wait too, a moment, unless another thread takes them meanwhile.
    """
    held = getattr(_spawning, "held", 0)
    if not held:
        _spawning.mask = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
    _spawning.held = held + 1
    try:
        yield
    finally:
        _spawning.held -= 1
        if not _spawning.held:
            signal.pthread_sigmask(signal.SIG_SETMASK, _spawning.mask)


async def _converse(
    process: asyncio.subprocess.Process, sent: Mapping[str, Any], request: HookRequest
) -> dict[str, Any] | None:
    """Send the request; store each checkpoint as it comes, and say so to the worker (its
    ``ctx.checkpoint`` returns only then); the response, if one came."""
    assert process.stdin is not None
    assert process.stdout is not None
    await _tell(process.stdin, json.dumps(sent).encode() + b"\n")
    response = None
    async for line in process.stdout:
        message = json.loads(line)
        if "checkpoint" not in message:
            response = message
            continue
        if request.checkpoint is not None:
            request.checkpoint(message["checkpoint"])
        await _tell(process.stdin, _STORED)
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        process.stdin.close()
    await process.wait()
    return response


async def _tell(stdin: asyncio.StreamWriter, data: bytes) -> None:
    # A worker that died (say, a plugin's import killed it) closed its stdin: its exit code
    # tells what happened, not this pipe.
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        stdin.write(data)
        await stdin.drain()


def _death(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"crashed: its isolated process was killed by {name}"
    return f"crashed: its isolated process exited with code {code}"


def _wire_or_none(report: StatusReport | None) -> dict[str, Any] | None:
    return None if report is None else report_to_wire(report)


def _answer(call: HookCall, response: Mapping[str, Any], ui: UI) -> Any:
    for event in response.get("events", []):
        ui.emit(Event(**event))
    if "error" in response:
        raise HookFailed(call, RuntimeError(), response["error"])
    if "report" in response:
        report = report_from_json(json.dumps(response["report"]))
        # Not finalized yet: a null health still means "derive it", which the wire form (for
        # finalized reports) reads as UNKNOWN.
        if response["report"]["health"] is None:
            report.health = None
        return report
    return response.get("value")


# --- the worker --------------------------------------------------------------------------


def _serve(sent: Mapping[str, Any], send: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    plugins = PluginManager.load(
        PluginSpecs(frozenset(sent["blocked"]), tuple(sent["modules"])),
        autoload=sent["autoload"],
    )
    ui = RecordingUI()
    response: dict[str, Any] = {}
    try:
        last, alert = sent["last_report"], sent["alert"]
        request = HookRequest(
            job_info=JobInfo(**sent["job_info"]),
            ui=ui,
            last_report=None if last is None else report_from_json(json.dumps(last)),
            alert=None if alert is None else Alert.from_wire(alert),
            checkpoint=lambda value: send({"checkpoint": value}),
            **{name: sent[name] for name in _SENT},
        )
        call = plugins.call(request.hook, request.plugin)
        # The hook sees its deadline, but the parent enforces it: it kills this process's
        # group, and with it whatever the plugin started.
        arguments = request.arguments(request.context())
        response.update(_result(request.hook, run_abandoning(invoke(call, arguments, None))))
    except HookFailed as exc:
        response["error"] = exc.message
    except Exception as exc:
        response["error"] = f"raised {type(exc).__name__}: {exc}"
    response["events"] = [attrs.asdict(event) for event in ui.events]
    return response


def _result(hook: str, value: object) -> dict[str, Any]:
    if isinstance(value, StatusReport):
        try:
            validate_report(value)
        except TypeError as exc:
            return {"error": f"returned an invalid report: {exc}"}
        return {"report": report_to_wire(value)}
    if value is None or hook.endswith("_status_func"):
        # The parent gives these the same messages as an in-process call.
        if value is None:
            return {"value": None}
        return {"error": f"returned a {type(value).__name__}, not a StatusReport"}
    return {"value": unstructure_value(value)}


def _die_with_parent(parent: int) -> None:
    """Linux's parent-death signal: a launcher killed with SIGKILL must not leave its worker
    running, holding its terminal. Elsewhere the worker ends with its hook as usual."""
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before the signal was asked for
        os._exit(1)


def _ignore_stop_signals() -> None:
    """Stop signals do nothing here: the launcher ends this worker. Not ``SIG_IGN``, which
    the processes a plugin starts would inherit (a deployed process that ignores SIGTERM);
    a handler is reset to the default in them, and so is the mask, unblocked here."""
    for number in _STOP_SIGNALS:
        signal.signal(number, _stopped_by_the_launcher)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)


def _stopped_by_the_launcher(_: int, __: object) -> None:
    pass


def main() -> None:
    _ignore_stop_signals()
    # The launcher's channel: the request, then an answer to each checkpoint. Fd 0 becomes
    # /dev/null, so that nothing a plugin starts can read those answers.
    launcher = os.fdopen(os.dup(0), "rb")
    os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
    try:
        request = json.loads(launcher.readline())
    except ValueError:
        # The launcher was stopped before it sent the request: nobody waits for an answer.
        os._exit(1)
    _die_with_parent(request["parent"])
    log_to_stderr(request["verbose"])
    # The response's channel; from here on, fd 1 is stderr for plugins and their children.
    channel = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    lock = threading.Lock()  # a plugin may checkpoint from threads of its own

    def send(message: dict[str, Any]) -> None:
        with lock:
            channel.write(json.dumps(message) + "\n")
            channel.flush()
            # A checkpoint is kept only once the launcher stored it: wait for its word.
            if "checkpoint" in message and launcher.readline() != _STORED:
                os._exit(1)  # the launcher is gone; so is whoever would store it

    send(_serve(request, send))
    # Daemon threads of hung plugins must not keep the worker alive.
    os._exit(0)


if __name__ == "__main__":
    main()
