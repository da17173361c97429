"""Where a state's connection is used: each connection has one owner, the one thread that uses
it (:class:`~waypoint_hooks.state.database.Owner`). Code on an event loop reaches the state
only through an :data:`OnState`: :func:`inline` on a command's loop, whose thread owns the
connection; a call handed to a thread that owns it under ``serve``, whose loop must never
wait for the disk or the network.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

__all__ = ["OnState", "inline"]

T = TypeVar("T")


class OnState(Protocol):
    """Runs a call that uses the state where its connection is owned, and gives its result."""

    def __call__(self, call: Callable[[], T], /) -> Awaitable[T]: ...


async def inline(call: Callable[[], T]) -> T:
    """Run ``call`` here: the event loop's own thread owns the connection (a command)."""
    return call()
