"""Work a caller may give up on: daemon worker threads, stuck sync calls, abandoned tasks."""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
import time
from collections.abc import Callable, Coroutine, Hashable
from typing import Any, Final, TypeVar, final

__all__ = [
    "abandon",
    "in_worker",
    "leave_behind",
    "leave_running",
    "run_abandoning",
    "still_running",
]

_T = TypeVar("_T")


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


def in_worker(
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


def leave_running(key: Hashable, finished: threading.Event) -> None:
    """Remember that the sync call under ``key`` timed out and runs until ``finished``."""
    _STUCK[key] = (finished, time.monotonic())


def still_running(key: Hashable | None) -> float | None:
    """Seconds since the sync call under ``key`` timed out, if it has not returned since."""
    if key is None or key not in _STUCK:
        return None
    finished, since = _STUCK[key]
    if finished.is_set():
        del _STUCK[key]
        return None
    return time.monotonic() - since


def run_abandoning(main: Coroutine[Any, Any, _T]) -> _T:
    """``asyncio.run(main)``, except that tasks still pending at the end are left behind.

    asyncio.run cancels leftover tasks and then waits for them: a plugin coroutine that
    swallows its cancellation after timing out would hang the whole command there.
    """
    loop = asyncio.new_event_loop()
    loop.set_exception_handler(_QuietAboutAbandoned())
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


def abandon(future: asyncio.Future[Any]) -> None:
    """Cancel ``future`` and stop waiting for it.

    Not awaited: a coroutine that swallows the cancellation must not hang its caller too.
    A task that is still pending when its ``run_abandoning`` loop ends is left behind
    without a word: it was reported already, as the call that timed out.
    """
    future.cancel()
    _unmentioned(future)


def leave_behind(coroutine: Coroutine[Any, Any, Any]) -> None:
    """Run ``coroutine`` in a task of its own that nobody waits for: what is left of a call
    that went on after it was cancelled. Left behind without a word, as :func:`abandon`'s."""
    _unmentioned(asyncio.get_running_loop().create_task(coroutine))


def _unmentioned(future: asyncio.Future[Any]) -> None:
    quiet = future.get_loop().get_exception_handler()
    if isinstance(quiet, _QuietAboutAbandoned) and not future.done():
        quiet.tasks.add(future)
        future.add_done_callback(quiet.tasks.discard)


@final
class _QuietAboutAbandoned:
    """A loop's exception handler that says nothing of the tasks given up on."""

    def __init__(self) -> None:
        # Strong references, not a WeakSet: the garbage collector clears weak references
        # before it runs the finalizer that reports a pending task; held here, the tasks go
        # with their loop and this handler, in the same collection.
        self.tasks: set[asyncio.Future[Any]] = set()

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if context.get("task") not in self.tasks:
            loop.default_exception_handler(context)
