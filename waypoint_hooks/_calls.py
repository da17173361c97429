"""Calling one hook: the wrapper loop, sync hooks in daemon threads, async ones on the loop,
timeouts, and finalizing what a status hook returned."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import queue
import threading
from collections.abc import Awaitable, Callable, Coroutine, Generator, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any, Final, TypeVar, final

import attrs

from ._aggregate import DEFAULT_POLICY, Policy
from ._codec import StructureError
from ._context import Context
from ._health import Health
from ._model import Resource, StatusReport
from ._plugins import HookCall, Impl

__all__ = [
    "HookFailed",
    "HookTimeout",
    "check_resources",
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
    return f"raised {name}: {error}" if str(error) else f"raised {name}"


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
    started, error = _enter(call.wrappers, values)
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
    return _exit(started, value, error)


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


def _in_daemon_thread(call: HookCall, values: Mapping[str, Any]) -> asyncio.Future[_Outcome]:
    loop = asyncio.get_running_loop()
    future: asyncio.Future[_Outcome] = loop.create_future()

    def settle(outcome: _Outcome) -> None:
        if not future.done():
            future.set_result(outcome)

    def run() -> None:
        outcome = _call_sync(call, values)
        # RuntimeError: the loop closed while this call hung; nobody waits for it any more.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(settle, outcome)

    _WORKERS.submit(run)
    return future


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


async def invoke(call: HookCall, values: Mapping[str, Any], timeout: float | None) -> Any:
    """Call ``call`` with ``values`` (every argument of its hook) within ``timeout`` seconds.

    Raises :class:`HookFailed` with whatever the plugin raised, and :class:`HookTimeout`
    after setting ``values["ctx"].cancelled`` when the time is up.
    """
    future: asyncio.Future[_Outcome]
    if call.impl.is_async:
        future = asyncio.ensure_future(_call_async(call, values))
    else:
        future = _in_daemon_thread(call, values)
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


def check_resources(report: StatusReport) -> None:
    """Raise :class:`TypeError` when something other than a Resource was put in the list
    (``append`` is not validated the way assignment is)."""
    for index, resource in enumerate(report.resources):
        if not isinstance(resource, Resource):
            raise TypeError(f"resources[{index}] is a {type(resource).__name__}, not a Resource")


def finalize(
    report: StatusReport, plugin: str, policy: Policy = DEFAULT_POLICY, now: datetime | None = None
) -> StatusReport:
    """Complete a report a plugin returned, in place (§2 of the design).

    ``generated_time`` defaults to now (UTC), each resource's empty ``platform`` to the
    plugin's name, and a ``health`` of ``None`` to the policy's verdict, whose message is used
    when the plugin left ``health_message`` empty. Raises :class:`TypeError` for a report
    whose resource list holds something else than resources.
    """
    check_resources(report)
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
    try:
        return loop.run_until_complete(main)
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
