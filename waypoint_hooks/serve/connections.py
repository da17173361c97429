"""What the service's HTTP connections may hold (DESIGN §14, issue 29): a request's headers
must arrive within a deadline, and the connections open at once are bounded.

uvicorn closes an idle keep-alive connection, but it has no deadline for a request that is
being received: a client that sends its headers a byte at a time (slowloris), or never ends
them, holds its socket for as long as it likes, and ``limit_concurrency`` counts those sockets
too, so that it would answer 503 to every honest client once they are enough. The guard is
therefore on uvicorn's h11 protocol itself, where the bytes arrive.
"""

from __future__ import annotations

import asyncio
from typing import Any, final

from uvicorn.protocols.http.h11_impl import H11Protocol

from .service import ConnectionLimits

__all__ = ["guarded"]


def guarded(limits: ConnectionLimits) -> type[asyncio.Protocol]:
    """uvicorn's h11 protocol under ``limits``: the ``http`` of its config."""

    @final
    class Guarded(_Guarded):
        LIMITS = limits

    return Guarded


class _Guarded(H11Protocol):
    """A connection that is closed when a request's headers have not all arrived within
    ``LIMITS.header_timeout`` of the connection, or of the previous response; and that, when
    it would be one more than ``LIMITS.max_connections``, closes the connection that has
    waited longest for a request (an idle or a slow one: one whose request is being answered
    is left alone), itself when every other one is being answered."""

    LIMITS: ConnectionLimits

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: The loop's time since which a request is awaited; ``None`` while one is answered.
        self.waiting_since: float | None = None
        self._deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._await_request()
        if len(self.connections) > self.LIMITS.max_connections:
            self._make_room()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_waiting()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        before = self.cycle
        super().data_received(data)
        if self.cycle is not before:  # a request's headers arrived: it is answered
            self._stop_waiting()

    def on_response_complete(self) -> None:
        answered = self.cycle
        super().on_response_complete()
        # Unless a pipelined request was read at once, the next one is awaited.
        if self.cycle is answered and not self.transport.is_closing():
            self._await_request()

    def _await_request(self) -> None:
        self._stop_waiting()
        self.waiting_since = self.loop.time()
        self._deadline = self.loop.call_later(self.LIMITS.header_timeout, self.transport.close)

    def _stop_waiting(self) -> None:
        self.waiting_since = None
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _make_room(self) -> None:
        # Those closed already are still counted until their loss is told.
        open_ = [c for c in self.connections if not c.transport.is_closing()]
        if len(open_) <= self.LIMITS.max_connections:
            return
        waiting = [c for c in open_ if isinstance(c, _Guarded) and c.waiting_since is not None]
        # This one waits too, the newest: it goes only when no other one waits.
        oldest = min(waiting, key=lambda c: c.waiting_since or 0.0)
        oldest.transport.close()
