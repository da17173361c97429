"""``python benchmarks/_timed_serve.py FILE ARGS``: ``waypoint-hooks ARGS``, a ``serve`` that times
its answers to ``/metrics`` from inside (B8), for figures that the machine's load moves less
than a client's: for each scrape, when the application was handed the request and when it
gave the answer's last byte to the socket, the CPU time of the event loop's thread in the
request's own steps, how long the request waited for the threads that own the state's
connections, and the event loop's longest stall meanwhile (how late a timer of
:data:`_TICK` seconds ran). Written to ``FILE``, as JSON, as the process ends.

The service is timed by wrapping its application and its state threads' calls, the code of
any version alike: what the older code does is timed the same way.
"""

from __future__ import annotations

import asyncio
import atexit
import contextvars
import json
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine, Generator
from typing import Any, TypeVar, cast

from starlette.types import ASGIApp, Receive, Scope, Send

from waypoint_hooks.cli import main
from waypoint_hooks.serve import threads, web

T = TypeVar("T")

#: The period of the timer whose lateness is the event loop's stall (seconds).
_TICK = 0.005

_scrapes: list[dict[str, float]] = []
#: When the timer was due, and how late it ran.
_stalls: list[tuple[float, float]] = []
#: The scrape the running task answers, if any.
_scrape: contextvars.ContextVar[dict[str, float] | None] = contextvars.ContextVar(
    "scrape", default=None
)


class _Stepped:
    """Awaits ``coroutine``, adding the CPU time of this thread in each of its steps to
    ``scrape["cpu"]``."""

    def __init__(self, coroutine: Awaitable[None], scrape: dict[str, float]) -> None:
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
    while True:
        due = time.perf_counter() + _TICK
        await asyncio.sleep(_TICK)
        late = time.perf_counter() - due
        if late > _TICK / 10:  # what is less is no stall: kept short, the list is scanned
            _stalls.append((due, late))


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
            scrape = {"began": time.perf_counter(), "cpu": 0.0, "waited": 0.0}
            _scrape.set(scrape)

            async def sent(message: Any) -> None:
                await send(message)
                if message["type"] == "http.response.body" and not message.get("more_body"):
                    scrape["ended"] = time.perf_counter()

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


def _write(path: str) -> None:
    for scrape in _scrapes:
        # The stalls that overlap the scrape: a timer due before it ends, run after it began.
        scrape["stall"] = max(
            [
                late
                for due, late in _stalls
                if due < scrape["ended"] and due + late > scrape["began"]
            ],
            default=0.0,
        )
    with open(path, "w") as file:
        json.dump(_scrapes, file)


if __name__ == "__main__":
    web.application = _timed(web.application)
    threads.StateThread.run = _waits(threads.StateThread.run)  # type: ignore[method-assign]
    atexit.register(_write, sys.argv[1])
    sys.argv = ["waypoint-hooks", *sys.argv[2:]]
    sys.exit(main())
