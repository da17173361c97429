"""The threads that own the service's connections to the state: its event loop hands them
every call that uses the state, and never waits for the disk or the network itself."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar, final

from ..state.store import State

__all__ = ["StateThread"]

T = TypeVar("T")


@final
class StateThread:
    """A thread of its own that owns ``state``'s connection from its first call on: every
    call given to :meth:`run` runs there, one at a time, in the order given."""

    def __init__(self, state: State, name: str) -> None:
        # The thread adopts the connection as it starts, before any call given to it.
        self._thread = ThreadPoolExecutor(
            1, thread_name_prefix=f"waypoint-hooks {name}", initializer=state.adopt
        )

    async def run(self, call: Callable[[], T]) -> T:
        """``call()`` in this thread; awaited without holding the event loop."""
        return await asyncio.wrap_future(self._thread.submit(call))

    def close(self) -> None:
        """Let the calls given end, then end the thread; the state is the caller's to close."""
        self._thread.shutdown(wait=True)
