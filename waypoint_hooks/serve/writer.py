"""The one writer of the service's reports: the checks' batches, the pushed reports and the
heartbeat's, stored one batch at a time through the alert pipeline, off the event loop."""

from __future__ import annotations

import asyncio
import functools
from typing import final

from ..alerts.pipeline import store_reports
from ..checking.checker import Checker, Reports
from ..state.owned import OnState
from ..state.store import State

__all__ = ["Writer"]


@final
class Writer:
    """Stores the reports of the service's checks off the event loop, on a connection of its
    own, in the thread that owns it (``on_state``), and as many as are waiting in one go:
    while one transaction commits (and syncs the disk), the reports of the checks that end
    meanwhile gather for the next."""

    def __init__(self, checker: Checker, state: State, location: str, on_state: OnState) -> None:
        self._checker = checker
        self._state = state
        #: Where ``state``'s connection is used: a thread that owns it.
        self._on_state = on_state
        self._location = location
        #: Each batch given, the seconds its checks took, where it was made from, and its end.
        self._waiting: list[tuple[Reports, list[float | None], str, asyncio.Future[None]]] = []
        self._writing: asyncio.Task[None] | None = None

    async def store(self, reports: Reports, seconds: float | None = None) -> None:
        """Store ``reports``, the checks of which took ``seconds`` each (``None``: they were
        not checked here); return once they are committed. Those checked here were made from
        the service's location; the others (pushed, the heartbeat's) from none: the instance
        that took them is not where they were made (DESIGN §21)."""
        await self.add(reports, seconds)

    def add(self, reports: Reports, seconds: float | None = None) -> asyncio.Future[None]:
        """Give ``reports`` to :meth:`store`, on the running event loop, without a task of
        their own (one a check, thousands a minute): their end, done once they are
        committed."""
        stored = asyncio.get_running_loop().create_future()
        location = "" if seconds is None else self._location
        self._waiting.append((reports, [seconds] * len(reports), location, stored))
        if self._writing is None or self._writing.done():
            self._writing = asyncio.ensure_future(self._write())
        return stored

    async def idle(self) -> None:
        """Return once what was given to store is stored (or failed)."""
        while self._writing is not None and not self._writing.done():
            await asyncio.wait([self._writing])

    async def _write(self) -> None:
        while self._waiting:
            waiting, self._waiting = self._waiting, []
            for location in dict.fromkeys(item[2] for item in waiting):
                await self._write_from([item for item in waiting if item[2] == location], location)

    async def _write_from(
        self,
        batch: list[tuple[Reports, list[float | None], str, asyncio.Future[None]]],
        location: str,
    ) -> None:
        checker = self._checker
        merged = [pair for reports, _, _, _ in batch for pair in reports]
        durations = [seconds for _, each, _, _ in batch for seconds in each]
        try:
            # As status stores: with the alerts the reports raise, delivered at once.
            raised = await self._on_state(
                functools.partial(
                    store_reports,
                    *(self._state, merged, checker.kept(), checker.alerting, durations),
                    location=location,
                )
            )
        except Exception as exc:
            for _, _, _, stored in batch:
                stored.set_exception(exc)
            return
        if raised:
            checker.deliver()
        for _, _, _, stored in batch:
            stored.set_result(None)
