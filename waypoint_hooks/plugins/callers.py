"""Call loop machinery: one hook implementation inside its wrappers, within a timeout."""

from __future__ import annotations

import asyncio
import contextvars
import heapq
import inspect
import math
import threading
import types
import weakref
from collections.abc import Awaitable, Callable, Generator, Hashable, Mapping, Sequence
from typing import Any, ClassVar, Final, TypeVar, final

import attrs

from ..errors import HookFailed, HookTimeout, StructureError, describe_error
from ..model.durations import Duration
from .components import RELEASE_MANAGER
from .context import Context
from .manager import HookCall, Impl, _where
from .workers import in_worker, leave_behind, leave_running, still_running

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


async def _call_wrapped(
    call: HookCall, values: Mapping[str, Any], context: contextvars.Context
) -> _Outcome:
    """An async hook inside its wrappers."""
    # Wrappers are plain generators that may block: around an async hook they run in a
    # worker thread, so that one that hangs is timed out like a sync hook, not the loop.
    # They run in the call's context, and so does the hook: what a wrapper sets before its
    # yield, the hook sees, as with pluggy, where the two share one stack.
    started, error = await in_worker(lambda: context.run(_enter, call.wrappers, values))
    value = None
    if error is None:
        try:
            coroutine: Awaitable[Any] = call.impl.hookimpl.function(  # type: ignore[assignment]
                **call.impl.arguments(values)
            )
            value = await _stepped(coroutine.__await__(), context)
        except BaseException as exc:
            # Even SystemExit and KeyboardInterrupt: raised from a task they would stop the
            # event loop and every other check with it.
            error = exc
    if started:
        return await in_worker(lambda: context.run(_exit, started, value, error))
    return _Outcome(value, error)


@final
class _Timeout:
    """The timeout of one call awaited in its caller's task: at the deadline, what the call
    waits for is cancelled, as ``Task.cancel`` would cancel it; the caller's task itself is
    not (Python 3.10 could not tell that cancellation from one of the caller's own)."""

    __slots__ = ("expired", "finished", "raised", "waiting")

    def __init__(self, waiting: object = None) -> None:
        self.expired = False
        #: The call ended (or was given up on) before its deadline: nothing to expire.
        self.finished = False
        #: What the call waits for now: a future, or ``None`` for the loop's next round.
        self.waiting = waiting
        #: What the call's stepping raised in the caller that the call did not raise of
        #: itself: the cancellation (the timeout's or the caller's), or the caller's closing.
        self.raised: BaseException | None = None

    def expire(self) -> None:
        self.expired = True
        waiting = self.waiting
        if asyncio.isfuture(waiting):
            waiting.cancel()


@types.coroutine
def _stepped(
    steps: Generator[Any, Any, _T],
    context: contextvars.Context,
    timeout: _Timeout | None = None,
    first: Callable[[Any], Any] | None = None,
) -> Generator[Any, Any, _T]:
    """Await ``steps`` (an awaitable's) in the caller's task, each step run in ``context``,
    as ``yield from`` would but for the context; from ``first`` when given, the step that
    stopped where it is.

    Not a task of its own per call, which would double what a status check costs the loop;
    so it does here what a task would: at ``timeout``, or when the caller's task is asked to
    cancel, the cancellation is thrown in. A call that goes on regardless (it swallowed the
    cancellation, or awaits its clean-up) is left behind, stepped by a task of its own
    from then on, and the cancellation raised here at once: its caller never waits for it.
    """
    task = asyncio.current_task() if timeout is not None else None
    counted = getattr(task, "cancelling", None)  # Python 3.11
    requests = 0 if counted is None else counted()
    step: Callable[[Any], Any] = steps.send if first is None else first
    argument: Any = None
    cancelled: BaseException | None = None
    while True:
        try:
            yielded = context.run(step, argument)
        except StopIteration as stop:
            if cancelled is None or _withdrawn(timeout, counted, requests):
                return stop.value  # type: ignore[no-any-return]
            break
        except BaseException:
            if cancelled is None or _withdrawn(timeout, counted, requests):
                raise
            break
        if cancelled is not None:
            if not _withdrawn(timeout, counted, requests):
                leave_behind(_left(steps, context, yielded))
                break
            cancelled = None
        if timeout is not None:
            timeout.waiting = yielded
        try:
            argument = yield yielded
            step = steps.send
        except GeneratorExit as closed:
            if timeout is not None:
                timeout.raised = closed
            context.run(steps.close)
            raise
        except BaseException as exc:
            step, argument = steps.throw, exc
            # A cancellation that is neither the timeout's nor asked of the task is the
            # call's own business (say, a future of its own that something cancelled);
            # before 3.11 there is no telling, and every one counts as the task's.
            if (
                timeout is not None
                and isinstance(exc, asyncio.CancelledError)
                and (timeout.expired or counted is None or counted() > requests)
            ):
                cancelled = exc
        if timeout is not None and timeout.expired and cancelled is None:
            # What it waited for was done already when the deadline passed.
            cancelled = asyncio.CancelledError()
            step, argument = steps.throw, cancelled
    # Cancelled, whatever the call made of it: only a call with a timeout is.
    assert timeout is not None
    assert cancelled is not None
    timeout.raised = cancelled
    raise cancelled


def _withdrawn(timeout: _Timeout | None, counted: Callable[[], int] | None, requests: int) -> bool:
    """Whether the cancellation just thrown into a call was the call's own after all: asked
    of the task by the call itself (``asyncio.timeout``) and taken back
    (``Task.uncancel``) in the step that handled it. Never the timeout's.

    A request taken back only steps later is not seen: a ``TaskGroup`` whose child failed
    waits for its other children first, and the call is left behind by then."""
    return (
        timeout is not None
        and not timeout.expired
        and counted is not None
        and counted() <= requests
    )


async def _left(
    steps: Generator[Any, Any, Any], context: contextvars.Context, waiting: Any
) -> None:
    """What is left of a call given up on, from where it waits for ``waiting``; how it ends
    is nobody's business any more: it was reported as timed out (or cancelled) already."""
    await _stepped(steps, context, first=lambda _: waiting)


@final
class _Deadlines:
    """The deadlines of a loop's calls in a heap of their own, under one timer of the loop.

    A timer each would put 1,000 checks started at once into the loop's heap of timers, each
    push and pop comparing timers in Python, and make the heap that the hooks' own timers
    (their sleeps) go through twice as deep. Here a deadline is a tuple pushed by ``heapq``,
    compared in C; the loop's one timer is armed for the earliest, rounded up to the
    millisecond, and expires at once every call due by then: a timeout may well end that much
    late. A call that ends first is marked finished and left in the heap, popped once it
    reaches the top. A timer is never cancelled (asyncio would keep it in its heap until its
    time all the same): one armed for an earlier deadline takes over, and the one it replaced
    only expires what is due by its time. Kept by loop in a weak mapping; it holds no
    reference to its loop.
    """

    #: The loop asked for last, weakly, and its deadlines: every call of a batch asks.
    _latest: ClassVar[tuple[weakref.ref[asyncio.AbstractEventLoop], _Deadlines] | None] = None

    @classmethod
    def of(cls, loop: asyncio.AbstractEventLoop) -> _Deadlines:
        latest = cls._latest
        if latest is not None and latest[0]() is loop:
            return latest[1]
        deadlines = _DEADLINES.get(loop)
        if deadlines is None:
            deadlines = _DEADLINES[loop] = _Deadlines()
        cls._latest = (weakref.ref(loop), deadlines)
        return deadlines

    def __init__(self) -> None:
        # By deadline; ``id`` breaks a tie, so that two timeouts are never compared.
        self._heap: list[tuple[float, int, _Timeout]] = []
        #: When the timer in charge fires, if one is armed.
        self._armed: float | None = None

    def add(self, loop: asyncio.AbstractEventLoop, delay: float, timeout: _Timeout) -> None:
        """Expire ``timeout`` once ``delay`` seconds have passed, unless it is finished by then.

        The timeout itself, not its bound ``expire``: a method bound for each call would be
        one more object for each check to make and collect."""
        when = loop.time() + delay
        heapq.heappush(self._heap, (when, id(timeout), timeout))
        armed = self._armed
        if armed is None or when < armed - 0.001:
            self._arm(loop, when)

    def _arm(self, loop: asyncio.AbstractEventLoop, when: float) -> None:
        armed = self._armed = math.ceil(when * 1000) / 1000
        loop.call_at(armed, self._fire, loop, armed)

    def _fire(self, loop: asyncio.AbstractEventLoop, armed: float) -> None:
        heap = self._heap
        while heap and (heap[0][0] <= armed or heap[0][2].finished):
            timeout = heapq.heappop(heap)[2]
            if not timeout.finished:
                timeout.expire()
        if armed == self._armed:
            self._armed = None
            if heap:
                self._arm(loop, heap[0][0])


_DEADLINES: Final[weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Deadlines]] = (
    weakref.WeakKeyDictionary()
)


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
    awaited: Awaitable[Any]
    finished: threading.Event | None = None
    # One context per call, copied from the caller's: a sync hook must not see what the
    # previous call on its reused worker thread left in that thread's context.
    context = contextvars.copy_context()
    expiry = _Timeout()
    # An async hook without wrappers is awaited as it is; wrapped, or sync, its outcome
    # comes back as an _Outcome.
    direct = call.impl.is_async and not call.wrappers
    if direct:
        try:
            coroutine: Awaitable[Any] = call.impl.hookimpl.function(  # type: ignore[assignment]
                **call.impl.arguments(values)
            )
        except BaseException as exc:
            raise _failed(call, exc) from None
        awaited = _stepped(coroutine.__await__(), context, expiry)
    elif call.impl.is_async:
        # A wrapper may still be in ``context`` in its thread when the call is cancelled,
        # and a context cannot be entered twice at once: the call loop is stepped in a copy
        # of its own, the hook in ``context`` (_call_wrapped).
        wrapped = _call_wrapped(call, values, context).__await__()
        awaited = _stepped(wrapped, contextvars.copy_context(), expiry)
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
        awaited = in_worker(lambda: context.run(_call_sync, call, values), finished)
        expiry.waiting = awaited
    if timeout is not None:
        loop = asyncio.get_running_loop()
        _Deadlines.of(loop).add(loop, timeout, expiry)
    try:
        result = await awaited
    except BaseException as exc:
        if direct and exc is not expiry.raised:
            raise _failed(call, exc) from None
        # Timed out, or its caller cancelled or stopped: either way nobody waits for it.
        ctx = values.get("ctx")
        if isinstance(ctx, Context):
            ctx.cancel()
        if not (expiry.expired and isinstance(exc, asyncio.CancelledError)):
            raise
        if key is not None and finished is not None:
            leave_running(key, finished)
        raise HookTimeout(call, timeout or 0.0) from None
    finally:
        expiry.finished, expiry.waiting = True, None
    if direct:
        return result
    if result.error is not None:
        raise _failed(call, result.error)
    value = result.value
    if not call.impl.is_async and inspect.isawaitable(value):
        # A plain def that returned a coroutine: the plugin meant async def.
        if inspect.iscoroutine(value):
            value.close()
        raise HookFailed(
            call, TypeError("returned an awaitable from a plain function; declare it `async def`")
        )
    return value


def _failed(call: HookCall, error: BaseException) -> HookFailed:
    """The plugin raised ``error``."""
    return HookFailed(call, error, describe_error(error) + _another_shape(call.hook, error))
