"""``python benchmarks/_timed_serve.py FILE ARGS``: ``waypoint-hooks ARGS``, a ``serve`` that times
its answers to ``/metrics`` from inside (B8), for figures that the machine's load moves less
than a client's: for each scrape, when the application was handed the request and when it
gave the answer's last byte to the socket, the CPU time of the event loop's thread in the
request's own steps, how long the request waited for the threads that own the state's
connections, and the event loop's longest stall meanwhile (how late a timer of
:data:`TICK` seconds ran). Where the rest of a scrape went, from the kernel's account of
each thread (``/proc/self/task/*/schedstat``, Linux): the loop thread's time on the
processor and waiting in the run queue (for the OS scheduler) from the request to the last
byte, what remains being the loop thread asleep (for the GIL, or for the client to read), and
the other threads' time on the processor meanwhile, by thread. And the loop's callbacks
that ran longer than :data:`_SLOW` seconds (what ``loop.slow_callback_duration`` would log
in debug mode, without its cost), with their CPU time. Written to ``FILE``, as JSON, as the
process ends.

The service is timed by wrapping its application and its state threads' calls, the code of
any version alike: what the older code does is timed the same way.
"""

from __future__ import annotations

import asyncio
import atexit
import contextvars
import ctypes
import json
import os
import re
import struct
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine, Generator, Mapping
from typing import Any, TypeVar, cast

from starlette.types import ASGIApp, Receive, Scope, Send

from waypoint_hooks.cli import main
from waypoint_hooks.serve import threads, web

T = TypeVar("T")

#: The period of the timer whose lateness is the event loop's stall (seconds).
TICK = 0.005
#: A callback of the loop's that ran longer than this is kept (seconds).
_SLOW = 0.01

_scrapes: list[dict[str, Any]] = []
#: When the timer was due, how late it ran, and where the time went since the one before.
_stalls: list[tuple[float, float, dict[str, Any]]] = []
#: The loop's slow callbacks: when each began, its wall and CPU seconds, and what it was.
_slow: list[tuple[float, float, float, str]] = []
#: The scrape the running task answers, if any.
_scrape: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "scrape", default=None
)

#: Each thread's seconds on the processor and in the run queue, by its native id.
_Accounts = dict[int, tuple[float, float]]


def _accounts() -> _Accounts:
    accounts = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/schedstat") as file:
                run, queued, _ = file.read().split()
        except FileNotFoundError:  # it ended meanwhile
            continue
        accounts[int(tid)] = (int(run) / 1e9, int(queued) / 1e9)
    return accounts


def _spent(before: _Accounts, after: _Accounts, loop: int) -> dict[str, Any]:
    """The loop thread's seconds on the processor and in the run queue from ``before`` to
    ``after``, and the other threads' on the processor, summed by name (less a pool's
    numbering)."""
    names = {thread.native_id: thread.name for thread in threading.enumerate()}
    spent: dict[str, Any] = {"loop_run": 0.0, "loop_queued": 0.0, "others": {}}
    for tid, (run, queued) in after.items():
        ran, was_queued = before.get(tid, (0.0, 0.0))
        if tid == loop:
            spent["loop_run"], spent["loop_queued"] = run - ran, queued - was_queued
        elif run > ran:
            name = re.sub(r"[-_]\d+$", "", names.get(tid, "other"))
            spent["others"][name] = spent["others"].get(name, 0.0) + run - ran
    return spent


def _callback_name(handle: asyncio.Handle) -> str:
    callback = handle._callback  # type: ignore[attr-defined]
    owner = getattr(callback, "__self__", None)
    if isinstance(owner, asyncio.Task):
        return f"task {owner.get_coro().__qualname__}"  # type: ignore[union-attr]
    return str(getattr(callback, "__qualname__", callback))


def _timing_callbacks(run: Callable[[asyncio.Handle], None]) -> Callable[[asyncio.Handle], None]:
    def timed_run(handle: asyncio.Handle) -> None:
        began, cpu = time.perf_counter(), time.thread_time()
        run(handle)
        wall = time.perf_counter() - began
        if wall > _SLOW:
            _slow.append((began, wall, time.thread_time() - cpu, _callback_name(handle)))

    return timed_run


class _Stepped:
    """Awaits ``coroutine``, adding the CPU time of this thread in each of its steps to
    ``scrape["cpu"]``."""

    def __init__(self, coroutine: Awaitable[None], scrape: dict[str, Any]) -> None:
        # A coroutine: an ASGI application is an async function.
        self._coroutine = cast(Coroutine[Any, Any, None], coroutine)
        self._scrape = scrape

    def __await__(self) -> Generator[Any, Any, None]:
        sent: Any = None
        error: BaseException | None = None
        while True:
            began = time.thread_time()
            try:
                if error is None:
                    awaited = self._coroutine.send(sent)
                else:
                    awaited = self._coroutine.throw(error)
            except StopIteration:
                return
            finally:
                self._scrape["cpu"] += time.thread_time() - began
            try:
                sent, error = (yield awaited), None
            except BaseException as exc:  # a cancellation too: the coroutine's to handle
                sent, error = None, exc


async def _watch_stalls() -> None:
    loop, accounts = threading.get_native_id(), _accounts()
    while True:
        due = time.perf_counter() + TICK
        await asyncio.sleep(TICK)
        late = time.perf_counter() - due
        accounts, before = _accounts(), accounts
        if late > TICK / 10:  # what is less is no stall: kept short, the list is scanned
            _stalls.append((due, late, _spent(before, accounts, loop)))


def _timed(application: Callable[..., ASGIApp]) -> Callable[..., ASGIApp]:
    def timed_application(*args: Any) -> ASGIApp:
        inner = application(*args)
        watching: list[asyncio.Task[None]] = []

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http" or scope["path"] != "/metrics":
                await inner(scope, receive, send)
                return
            if not watching:
                watching.append(asyncio.create_task(_watch_stalls()))
            loop, accounts = threading.get_native_id(), _accounts()
            scrape = {"began": time.perf_counter(), "cpu": 0.0, "waited": 0.0}
            _scrape.set(scrape)

            async def sent(message: Any) -> None:
                await send(message)
                if message["type"] == "http.response.body" and not message.get("more_body"):
                    scrape["ended"] = time.perf_counter()
                    now = _accounts()
                    scrape.update(_spent(accounts, now, loop))
                    # The loop thread's seconds since it began, for its share over many scrapes.
                    scrape["loop_ran"], scrape["loop_waited"] = now[loop]

            await _Stepped(inner(scope, receive, sent), scrape)
            _scrapes.append(scrape)

        return app

    return timed_application


def _waits(run: Callable[[Any, Callable[[], T]], Awaitable[T]]) -> Any:
    async def timed_run(self: Any, call: Callable[[], T]) -> T:
        scrape = _scrape.get()
        began = time.perf_counter()
        try:
            return await run(self, call)
        finally:
            if scrape is not None:
                scrape["waited"] += time.perf_counter() - began

    return timed_run


#: ``sched_setattr``'s number on the machines that have one here (Linux).
_SCHED_SETATTR = {"x86_64": 314, "aarch64": 274}


def _tune(environ: Mapping[str, str]) -> None:
    """What the fifth round tried on ``serve`` from outside, each set by the environment:
    ``B8_SWITCH_INTERVAL``, the interpreter's switch interval (seconds: how long a thread
    that wants the GIL waits before the holder is asked to drop it); ``B8_LOOP_SLICE``, the
    slice the scheduler gives the event loop's thread (seconds, 0.0001 to 0.1; Linux 6.12
    and later: a shorter slice gets an earlier deadline, so that its wake-ups preempt a
    busy loop sooner)."""
    if "B8_SWITCH_INTERVAL" in environ:
        sys.setswitchinterval(float(environ["B8_SWITCH_INTERVAL"]))
    if "B8_LOOP_SLICE" in environ:
        # struct sched_attr (VER1): SCHED_OTHER, no flags, nice 0, the slice as its runtime.
        nanoseconds = int(float(environ["B8_LOOP_SLICE"]) * 1e9)
        attr = struct.pack("IIQiIQQQII", 56, 0, 0, 0, 0, nanoseconds, 0, 0, 0, 0)
        libc = ctypes.CDLL(None, use_errno=True)
        # This thread (0) is the one the event loop will run in.
        if libc.syscall(_SCHED_SETATTR[os.uname().machine], 0, attr, 0) != 0:
            raise OSError(ctypes.get_errno(), "sched_setattr")


def _write(path: str) -> None:
    for scrape in _scrapes:
        began, ended = scrape["began"], scrape["ended"]
        # The stalls that overlap the scrape: a timer due before it ends, run after it began.
        scrape["stall"] = max(
            [late for due, late, _ in _stalls if due < ended and due + late > began], default=0.0
        )
        # The slowest of the loop's callbacks that overlap it (the scrape's own steps too).
        scrape["slow"] = max(
            [slow for slow in _slow if slow[0] < ended and slow[0] + slow[1] > began],
            default=None,
        )
    with open(path, "w") as file:
        json.dump({"scrapes": _scrapes, "stalls": _stalls, "slow": _slow}, file)


if __name__ == "__main__":
    web.application = _timed(web.application)
    threads.StateThread.run = _waits(threads.StateThread.run)  # type: ignore[method-assign]
    asyncio.Handle._run = _timing_callbacks(asyncio.Handle._run)  # type: ignore[method-assign,assignment]
    atexit.register(_write, sys.argv[1])
    _tune(os.environ)
    sys.argv = ["waypoint-hooks", *sys.argv[2:]]
    sys.exit(main())
