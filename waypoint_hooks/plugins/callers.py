"""Call loop machinery: one hook implementation inside its wrappers, within a timeout."""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import math
import threading
import types
import weakref
from collections.abc import Awaitable, Callable, Generator, Hashable, Mapping, Sequence
from typing import Any, Final, TypeVar, final

import attrs

from ..errors import HookFailed, HookTimeout, StructureError, describe_error
from ..model.durations import Duration
from .components import RELEASE_MANAGER
from .context import Context
from .manager import HookCall, Impl, _where
from .workers import abandon, in_worker, leave_running, still_running

__all__ = ["invoke"]

_T = TypeVar("_T")


@final
@attrs.frozen
class _Outcome:
    value: Any = None
    error: BaseException | None = None


#: The wrappers that ran up to their ``yield``, outermost first, each with its generator.
_Started = list[tuple[Impl, Generator[None, Any, Any]]]


def _enter(
    wrappers: Sequence[Impl], values: Mapping[str, Any]
) -> tuple[_Started, BaseException | None]:
    """Run each wrapper up to its ``yield``, outermost first (pluggy's wrapper=True rule)."""
    started: _Started = []
    for wrapper in wrappers:
        try:
            generator: Generator[None, Any, Any]
            generator = wrapper.hookimpl.function(**wrapper.arguments(values))  # type: ignore[assignment]
            next(generator)
        except StopIteration:
            return started, _misused(wrapper, "did not yield")
        except BaseException as exc:
            return started, exc
        started.append((wrapper, generator))
    return started, None


def _exit(started: _Started, value: Any, error: BaseException | None) -> _Outcome:
    """Send the result (or throw the error) into each started wrapper, innermost first."""
    for wrapper, generator in reversed(started):
        try:
            if error is not None:
                generator.throw(error)
            else:
                generator.send(value)
            # Only a wrapper that yields again gets here. Closed now, as pluggy does, its
            # finally blocks run before the wrappers around it end, not when it is collected.
            generator.close()
        except StopIteration as stop:
            value, error = stop.value, None
        except BaseException as exc:
            error = exc
        else:
            error = _misused(wrapper, "yielded twice; it must yield exactly once")
    return _Outcome(value, error)


def _misused(wrapper: Impl, what: str) -> RuntimeError:
    """A wrapper that broke the one-yield rule, named by its plugin and its file:line."""
    where = _where(wrapper.hookimpl.function)
    return RuntimeError(f"wrapper {wrapper.hookimpl.plugin_name!r} ({where}) {what}")


def _call_sync(call: HookCall, values: Mapping[str, Any]) -> _Outcome:
    started, error = _enter(call.wrappers, values)
    value = None
    if error is None:
        try:
            value = call.impl.hookimpl.function(**call.impl.arguments(values))
        except BaseException as exc:
            error = exc
    return _exit(started, value, error)


async def _call_async(
    call: HookCall, values: Mapping[str, Any], context: contextvars.Context
) -> _Outcome:
    # Wrappers are plain generators that may block: around an async hook they run in a
    # worker thread, so that one that hangs is timed out like a sync hook, not the loop.
    # They run in the call's context, and so does the hook: what a wrapper sets before its
    # yield, the hook sees, as with pluggy, where the two share one stack.
    if call.wrappers:
        started, error = await in_worker(lambda: context.run(_enter, call.wrappers, values))
    else:
        started, error = [], None
    value = None
    if error is None:
        try:
            coroutine: Awaitable[Any] = call.impl.hookimpl.function(  # type: ignore[assignment]
                **call.impl.arguments(values)
            )
            # Without wrappers there is no context to share with them: this task's own, a
            # copy of the caller's as ``context`` is, will do without stepping the hook.
            value = await (_in_context(context, coroutine) if call.wrappers else coroutine)
        except BaseException as exc:
            # Even SystemExit and KeyboardInterrupt: raised from a task they would stop the
            # event loop and every other check with it.
            error = exc
    if started:
        return await in_worker(lambda: context.run(_exit, started, value, error))
    return _Outcome(value, error)


@types.coroutine
def _in_context(context: contextvars.Context, awaitable: Awaitable[_T]) -> Generator[Any, Any, _T]:
    """Await ``awaitable`` with each of its steps run in ``context``, as ``yield from`` would.

    The task that runs ``_call_async`` keeps a context of its own, and must: after a timeout
    it is cancelled while a hung wrapper may still be inside ``context`` in its worker
    thread, and one context cannot be entered twice at once. ``create_task(context=)`` would
    take a second task and Python 3.11; this runs on 3.10 too.
    """
    steps = awaitable.__await__()
    step: Callable[[Any], Any] = steps.send
    argument: Any = None
    while True:
        try:
            yielded = context.run(step, argument)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        try:
            argument = yield yielded
            step = steps.send
        except GeneratorExit:
            context.run(steps.close)
            raise
        except BaseException as exc:
            step, argument = steps.throw, exc


@final
class _Deadlines:
    """One timer of a loop for all the waits that end in the same millisecond.

    A timer each would put 1,000 checks started at once into the loop's heap of timers one
    by one, each push and pop comparing timers in Python; their deadlines differ by less
    than a millisecond, and a timeout may well end that much late. Kept by loop in a weak
    mapping, so it holds no reference to its loop, nor (weakly) to the timers it set there.
    """

    def __init__(self) -> None:
        self._due: dict[int, tuple[weakref.ref[asyncio.TimerHandle], set[Callable[[], None]]]]
        self._due = {}

    def add(self, loop: asyncio.AbstractEventLoop, delay: float, wake: Callable[[], None]) -> int:
        """Call ``wake`` once ``delay`` seconds have passed; the key to :meth:`discard` it."""
        due = math.ceil((loop.time() + delay) * 1000)
        entry = self._due.get(due)
        if entry is None:
            timer = loop.call_at(due / 1000, self._fire, due)
            entry = self._due[due] = (weakref.ref(timer), set())
        entry[1].add(wake)
        return due

    def discard(self, due: int, wake: Callable[[], None]) -> None:
        entry = self._due.get(due)
        if entry is None:
            return  # fired
        timer, wakes = entry
        wakes.discard(wake)
        if not wakes:
            del self._due[due]
            handle = timer()
            if handle is not None:
                handle.cancel()

    def _fire(self, due: int) -> None:
        _, wakes = self._due.pop(due)
        for wake in wakes:
            wake()


_DEADLINES: Final[weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Deadlines]] = (
    weakref.WeakKeyDictionary()
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
    deadlines = _DEADLINES.get(loop)
    if deadlines is None:
        deadlines = _DEADLINES[loop] = _Deadlines()
    due = deadlines.add(loop, timeout, wake)
    try:
        await waiter
    finally:
        deadlines.discard(due, wake)
        future.remove_done_callback(wake)


def _another_shape(hook: str, error: BaseException) -> str:
    """Why a release manager's hook cannot take the deployment it is given, where that is
    what it cannot take: the deployment was most likely made by another platform."""
    if hook not in RELEASE_MANAGER.hooks or not isinstance(error, StructureError):
        return ""
    paths = [path for path, _ in error.problems]
    if not any(p == "deployment" or p.startswith(("deployment.", "deployment[")) for p in paths):
        return ""
    return (
        "; the deployment is not of the shape this release manager takes: a release manager "
        "works on the deployments of the platform it goes with, and the app's deploy block "
        "may use another"
    )


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
    # One context per call, copied from the caller's: a sync hook must not see what the
    # previous call on its reused worker thread left in that thread's context.
    context = contextvars.copy_context()
    if call.impl.is_async:
        future = asyncio.get_running_loop().create_task(_call_async(call, values, context))
    else:
        stuck_for = still_running(key)
        if stuck_for is not None:
            raise HookFailed(
                call,
                TimeoutError(),
                f"is still running: it timed out {Duration(round(stuck_for))} ago "
                "and has not returned since, so it was not started again",
            )
        finished = threading.Event()
        future = in_worker(lambda: context.run(_call_sync, call, values), finished)
    try:
        await _settled(future, timeout)
    finally:
        timed_out = not future.done()
        if timed_out:
            ctx = values.get("ctx")
            if isinstance(ctx, Context):
                ctx.cancel()
            abandon(future)
    if timed_out:
        if key is not None and finished is not None:
            leave_running(key, finished)
        raise HookTimeout(call, timeout or 0.0)
    outcome = future.result()
    if outcome.error is not None:
        error = outcome.error
        raise HookFailed(call, error, describe_error(error) + _another_shape(call.hook, error))
    value = outcome.value
    if not call.impl.is_async and inspect.isawaitable(value):
        # A plain def that returned a coroutine: the plugin meant async def.
        if inspect.iscoroutine(value):
            value.close()
        raise HookFailed(
            call, TypeError("returned an awaitable from a plain function; declare it `async def`")
        )
    return value
