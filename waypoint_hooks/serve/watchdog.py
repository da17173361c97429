"""The watchdog of the heartbeats under ``serve`` (DESIGN §20): a dead-man's switch for apps
whose reports come from outside. Every little while, each live target of an app with a
``heartbeat`` that no report reached within it is given a stored ``MISSING`` report, which
raises alerts as any report does (:func:`~waypoint_hooks.checking.pushed.overdue` says
which, once each)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timezone
from typing import Final, final

from ..checking.checker import Checker, Reports
from ..checking.pushed import overdue
from ..config.project import App
from ..errors import StateError

__all__ = ["Watchdog"]

logger = logging.getLogger("waypoint_hooks.serve")

#: A heartbeat is looked at ten times within its length: a MISSING report comes at most a
#: tenth late; but no more often than :data:`_FASTEST` and at least every :data:`_SLOWEST`
#: seconds (a heartbeat added by an edit of the config is seen within it).
_SHARE: Final = 0.1
_FASTEST: Final = 0.1
_SLOWEST: Final = 10.0


@final
class Watchdog:
    """Looks at the heartbeats of ``apps()`` (the apps served, as the config is now) and
    stores what is overdue with ``store``, as the service stores its checks' reports."""

    def __init__(
        self,
        checker: Checker,
        apps: Callable[[], Sequence[App]],
        store: Callable[[Reports], Awaitable[None]],
    ) -> None:
        self._checker = checker
        self._apps = apps
        self._store = store

    def period(self) -> float:
        """How long until the heartbeats are looked at again, in seconds."""
        beats = [float(app.status.heartbeat) for app in self._apps() if app.status.heartbeat]
        return min(max(min(beats, default=_SLOWEST) * _SHARE, _FASTEST), _SLOWEST)

    async def run(self) -> None:
        """Look at the heartbeats every :meth:`period`, until cancelled."""
        while True:
            await asyncio.sleep(self.period())
            try:
                await self.beat()
            except StateError as exc:  # the scheduler says so too; tried again next time
                logger.warning("the heartbeats could not be looked at: %s", exc)

    async def beat(self) -> None:
        """Store a MISSING report for each target overdue now."""
        apps = [app for app in self._apps() if app.status.heartbeat is not None]
        if not apps:
            return
        now = datetime.now(timezone.utc)
        # Off the event loop, as every read of the state: the database may be slow to answer.
        missing = await self._checker.on_state(lambda: overdue(self._checker, apps, now))
        if missing:
            await self._store(missing)
