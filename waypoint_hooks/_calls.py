"""Calling one hook: the wrapper loop, sync hooks in daemon threads, async ones on the loop,
timeouts, and finalizing what a status hook returned."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import queue
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine, Generator, Hashable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any, Final, TypeVar, final

import attrs

from ._aggregate import DEFAULT_POLICY, Policy
from ._context import Context
from ._errors import StructureError
from ._health import Health
from ._model import StatusReport, validate_report
from ._plugins import HookCall, Impl

__all__ = [
    "HookFailed",
    "HookTimeout",
    "describe_error",
    "finalize",
    "format_seconds",
    "invoke",
    "run_abandoning",
    "unknown_report",
]

_T = TypeVar("_T")


class HookFailed(Exception):
    """A hook implementation (or a wrapper of it) raised ``error``."""

    def __init__(self, call: HookCall, error: BaseException, what: str | None = None) -> None:
        self.call = call
        self.error = error
        if what is None:
            what = describe_error(error)
        super().__init__(f"plugin {call.plugin!r} {call.hook} {what}")


def describe_error(error: BaseException) -> str:
    """What a hook did wrong, as the end of a sentence that names the plugin and hook."""
    if isinstance(error, StructureError):
        return f"cannot take its arguments: {error}"
    name = type(error).__name__
    try:
        text = str(error)
    except Exception:  # a plugin's exception may fail even to describe itself
        text = "<its message cannot be shown: str() of it raised too>"
    return f"raised {name}: {text}" if text else f"raised {name}"


class HookTimeout(Exception):
    """A hook did not return within its timeout."""

    def __init__(self, call: HookCall, timeout: float) -> None:
        self.call = call
        self.timeout = timeout
        super().__init__(
            f"plugin {call.plugin!r} {call.hook} timed out after {format_seconds(timeout)}"
        )


def format_seconds(seconds: float) -> str:
    """``30s``, ``0.5s``, ``2m``: how a timeout is written in the config."""
    if seconds >= 60 and seconds % 60 == 0:
        return f"{int(seconds // 60)}m"
    return f"{seconds:g}s"


@final
@attrs.frozen
class _Outcome:
    value: Any = None
    error: BaseException | None = None


def _enter(
    wrappers: Sequence[Impl], values: Mapping[str, Any]
) -> tuple[list[Generator[None, Any, Any]], BaseException | None]:
    """Run each wrapper up to its ``yield``, outermost first (pluggy's wrapper=True rule)."""
    started: list[Generator[None, Any, Any]] = []
    for wrapper in wrappers:
        try:
            generator: Generator[None, Any, Any]
            generator = wrapper.hookimpl.function(**wrapper.arguments(values))  # type: ignore[assignment]
            next(generator)
        except StopIteration:
            return started, RuntimeError(f"wrapper {wrapper.hookimpl.plugin_name!r} did not yield")
        except BaseException as exc:
            return started, exc
        started.append(generator)
    return started, None


def _exit(
    started: list[Generator[None, Any, Any]], value: Any, error: BaseException | None
) -> _Outcome:
    """Send the result (or throw the error) into each started wrapper, innermost first."""
    for generator in reversed(started):
        try:
            if error is not None:
                generator.throw(error)
            else:
                generator.send(value)
            error = RuntimeError("a wrapper yielded twice; it must yield exactly once")
        except StopIteration as stop:
            value, error = stop.value, None
        except BaseException as exc:
            error = exc
    return _Outcome(value, error)


def _call_sync(call: HookCall, values: Mapping[str, Any]) -> _Outcome:
    started, error = _enter(call.wrappers, values)
    value = None
    if error is None:
        try:
            value = call.impl.hookimpl.function(**call.impl.arguments(values))
        except BaseException as exc:
            error = exc
    return _exit(started, value, error)


async def _call_async(call: HookCall, values: Mapping[str, Any]) -> _Outcome:
    # Wrappers are plain generators that may block: around an async hook they run in a
    # worker thread, so that one that hangs is timed out like a sync hook, not the loop.
    if call.wrappers:
        started, error = await _in_worker(lambda: _enter(call.wrappers, values))
    else:
        started, error = [], None
    value = None
    if error is None:
        try:
            coroutine: Awaitable[Any] = call.impl.hookimpl.function(  # type: ignore[assignment]
                **call.impl.arguments(values)
            )
            value = await coroutine
        except BaseException as exc:
            # Even SystemExit and KeyboardInterrupt: raised from a task they would stop the
            # event loop and every other check with it.
            error = exc
    if started:
        return await _in_worker(lambda: _exit(started, value, error))
    return _Outcome(value, error)


@final
class _DaemonWorkers:
    """Reusable daemon threads for sync hooks.

    Not an executor: its threads are joined at exit, so a plugin that hangs would keep the
    process alive forever. These are daemons, and a worker stuck in a hung plugin is simply
    never idle again: the next call starts a new one.
    """

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._idle = 0

    def submit(self, job: Callable[[], None]) -> None:
        with self._lock:
            start = self._idle == 0
            if not start:
                self._idle -= 1
        self._jobs.put(job)
        if start:
            threading.Thread(target=self._work, name="waypoint-hooks worker", daemon=True).start()

    def _work(self) -> None:
        while True:
            self._jobs.get()()
            with self._lock:
                self._idle += 1


_WORKERS: Final = _DaemonWorkers()


def _in_worker(
    work: Callable[[], _T], finished: threading.Event | None = None
) -> asyncio.Future[_T]:
    """Run ``work`` in a daemon worker thread; its result as a future of the running loop.

    ``finished`` is set when ``work`` returns, even after the loop is gone: the mark that a
    timed-out call has ended at last.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[_T] = loop.create_future()

    def settle(result: _T) -> None:
        if not future.done():
            future.set_result(result)

    def run() -> None:
        result = work()
        if finished is not None:
            finished.set()
        # RuntimeError: the loop closed while this call hung; nobody waits for it any more.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(settle, result)

    _WORKERS.submit(run)
    return future


#: Sync calls that timed out and are still running, by the key their caller gave: a check
#: that hangs every round must not take one more thread every round.
_STUCK: Final[dict[Hashable, tuple[threading.Event, float]]] = {}


def _still_running(call: HookCall, key: Hashable | None) -> HookFailed | None:
    if key is None or key not in _STUCK:
        return None
    finished, since = _STUCK[key]
    if finished.is_set():
        del _STUCK[key]
        return None
    return HookFailed(
        call,
        TimeoutError(),
        f"is still running: it timed out {format_seconds(round(time.monotonic() - since))} "
        "ago and has not returned since, so it was not started again",
    )


async def _settled(future: asyncio.Future[_Outcome], timeout: float | None) -> None:
    """Wait until ``future`` is done or ``timeout`` passes, whichever is first.

    asyncio.wait does the same with a set, a second future and a counter per call; this is
    the one-future case, and the runner makes one per check.
    """
    if timeout is None:
        await future
        return
    loop = asyncio.get_running_loop()
    waiter = loop.create_future()

    def wake(_: object = None) -> None:
        if not waiter.done():
            waiter.set_result(None)

    future.add_done_callback(wake)
    timer = loop.call_later(timeout, wake)
    try:
        await waiter
    finally:
        timer.cancel()
        future.remove_done_callback(wake)


async def invoke(
    call: HookCall, values: Mapping[str, Any], timeout: float | None, key: Hashable | None = None
) -> Any:
    """Call ``call`` with ``values`` (every argument of its hook) within ``timeout`` seconds.

    Raises :class:`HookFailed` with whatever the plugin raised, and :class:`HookTimeout`
    after setting ``values["ctx"].cancelled`` when the time is up. A sync call that timed
    out under the same ``key`` (say, a deployment's id) and still runs is not started again.
    """
    future: asyncio.Future[_Outcome]
    finished: threading.Event | None = None
    if call.impl.is_async:
        future = asyncio.ensure_future(_call_async(call, values))
    else:
        stuck = _still_running(call, key)
        if stuck is not None:
            raise stuck
        finished = threading.Event()
        future = _in_worker(lambda: _call_sync(call, values), finished)
    try:
        await _settled(future, timeout)
    finally:
        timed_out = not future.done()
        if timed_out:
            ctx = values.get("ctx")
            if isinstance(ctx, Context):
                ctx.cancel()
            # Not awaited: a coroutine that swallows the cancellation must not hang us too.
            future.cancel()
    if timed_out:
        if key is not None and finished is not None:
            _STUCK[key] = (finished, time.monotonic())
        raise HookTimeout(call, timeout or 0.0)
    outcome = future.result()
    if outcome.error is not None:
        raise HookFailed(call, outcome.error)
    value = outcome.value
    if inspect.isawaitable(value) and not call.impl.is_async:
        # A plain def that returned a coroutine: the plugin meant async def.
        if inspect.iscoroutine(value):
            value.close()
        raise HookFailed(
            call, TypeError("returned an awaitable from a plain function; declare it `async def`")
        )
    return value


def finalize(
    report: StatusReport, plugin: str, policy: Policy = DEFAULT_POLICY, now: datetime | None = None
) -> StatusReport:
    """Complete a report a plugin returned, in place (§2 of the design).

    ``generated_time`` defaults to now (UTC), each resource's empty ``platform`` to the
    plugin's name, and a ``health`` of ``None`` to the policy's verdict, whose message is used
    when the plugin left ``health_message`` empty. Raises :class:`TypeError` for a report
    with a field that assignment would have refused (see ``validate_report``).
    """
    validate_report(report)
    for resource in report.resources:
        if not resource.platform:
            resource.platform = plugin
    if report.generated_time is None:
        report.generated_time = now or datetime.now(timezone.utc)
    if report.health is None:
        report.health, message = policy.evaluate(report.resources)
        if not report.health_message:
            report.health_message = message
    return report


def unknown_report(message: str) -> StatusReport:
    """The report that stands for a check that could not be made."""
    return StatusReport(health=Health.UNKNOWN, health_message=message)


def run_abandoning(main: Coroutine[Any, Any, _T]) -> _T:
    """``asyncio.run(main)``, except that tasks still pending at the end are left behind.

    asyncio.run cancels leftover tasks and then waits for them: a plugin coroutine that
    swallows its cancellation after timing out would hang the whole command there.
    """
    loop = asyncio.new_event_loop()
    loop.set_exception_handler(_quiet_about_abandoned)
    task = loop.create_task(main)
    try:
        return loop.run_until_complete(task)
    except BaseException:
        # Interrupted (Ctrl-C): the caller says so; asyncio must not also print the tasks
        # left behind, with tracebacks, when they are collected.
        loop.set_exception_handler(lambda loop, context: None)
        if task.done() and not task.cancelled():
            task.exception()
        raise
    finally:
        try:
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            loop.close()


def _quiet_about_abandoned(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    task = context.get("task")
    if (
        isinstance(task, asyncio.Task)
        and task.get_coro() is not None
        and getattr(task.get_coro(), "__qualname__", "") == _call_async.__qualname__
    ):
        return  # a timed-out plugin call, reported already as an UNKNOWN report
    loop.default_exception_handler(context)
