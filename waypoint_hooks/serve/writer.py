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
        self._waiting: list[tuple[Reports, list[float | None], asyncio.Future[None]]] = []
        self._writing: asyncio.Task[None] | None = None

    async def store(self, reports: Reports, seconds: float | None = None) -> None:
        """Store ``reports``, the checks of which took ``seconds`` each (``None``: they were
        not checked here); return once they are committed."""
        stored = asyncio.get_running_loop().create_future()
        self._waiting.append((reports, [seconds] * len(reports), stored))
        if self._writing is None or self._writing.done():
            self._writing = asyncio.ensure_future(self._write())
        await stored

    async def idle(self) -> None:
        """Return once what was given to store is stored (or failed)."""
        while self._writing is not None and not self._writing.done():
            await asyncio.wait([self._writing])

    async def _write(self) -> None:
        checker = self._checker
        while self._waiting:
            batch, self._waiting = self._waiting, []
            merged = [pair for reports, _, _ in batch for pair in reports]
            durations = [seconds for _, each, _ in batch for seconds in each]
            try:
                # As status stores: with the alerts the reports raise, delivered at once.
                raised = await self._on_state(
                    functools.partial(
                        store_reports,
                        *(self._state, merged, checker.kept(), checker.alerting, durations),
                        location=self._location,
                    )
                )
            except Exception as exc:
                for _, _, stored in batch:
                    stored.set_exception(exc)
                continue
            if raised:
                checker.deliver()
            for _, _, stored in batch:
                stored.set_result(None)
