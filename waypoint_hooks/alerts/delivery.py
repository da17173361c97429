"""Delivering the outbox (DESIGN §15): alerts claimed, sent through their notify block's
notifier within a deadline, each attempt recorded, a failed one tried again later with
exponential backoff, until one succeeds (at least once, never lost).

A :class:`Courier` delivers in a task of its own beside the checks, on the command's one event
loop, so that a receiver that never answers delays no check; ``status``, ``status --watch``,
``report`` and ``serve`` run one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Final, TypeVar, final

from ..config.project import Project
from ..errors import PluginError, StateError
from ..plugins.context import JobInfo
from ..plugins.manager import PluginManager
from ..plugins.request import HookRequest
from ..plugins.runner import Runner
from ..plugins.signals import STOP
from ..state.database import Database
from ..state.outbox import Delivery
from ..state.owned import OnState, inline
from ..state.store import State

__all__ = ["FIRST_RETRY", "LONGEST_RETRY", "Courier", "backoff"]

T = TypeVar("T")

#: The wait after a first failed attempt; each further failure doubles it...
FIRST_RETRY: Final = 2.0
#: ... up to this, so that a receiver back after a long outage hears soon.
LONGEST_RETRY: Final = 600.0
#: How much longer than its deadline a claim lasts: a command that overruns it (a plugin
#: that ignores its deadline) may see another take the alert over.
_LEASE_MARGIN: Final = 60.0
_log = logging.getLogger("waypoint_hooks.alerts")


def backoff(attempts: int, random: Callable[[], float] = random.random) -> float:
    """Seconds to wait after ``attempts`` failed attempts: doubling from :data:`FIRST_RETRY`,
    at most :data:`LONGEST_RETRY`, each between half and the whole of that ("equal jitter"),
    so that the alerts of one outage are not all tried again at once."""
    ceiling = min(LONGEST_RETRY, FIRST_RETRY * 2.0 ** min(attempts - 1, 32))
    return ceiling * (1 + random()) / 2


def _now() -> datetime:
    return datetime.now(timezone.utc)


@final
class Courier:
    """Delivers a project's outbox through the notifiers its ``notify`` blocks use.

    :meth:`deliver_due` makes one pass (every alert due now gets one attempt); :meth:`run`
    makes passes, each as soon as :meth:`wake` says new alerts were stored or the next retry
    is due, until :meth:`close`, after which it makes a last pass and returns. The state is
    used through ``on_state`` (where its connection is owned); ``clock`` and ``random`` are
    what times and jitters the attempts (tests give their own).
    """

    def __init__(
        self,
        project: Project,
        state: State,
        plugins: PluginManager,
        *,
        job_id: str = "",
        timeout: float | None = None,
        on_failure: Callable[[BaseException], None] | None = None,
        on_state: OnState = inline,
        clock: Callable[[], datetime] = _now,
        random: Callable[[], float] = random.random,
    ) -> None:
        self.project = project
        self.state = state
        self.runner = Runner(plugins, on_failure=on_failure)
        self.job_id = job_id
        #: Seconds each attempt may take: the project's check timeout by default.
        self.timeout = float(project.status.timeout) if timeout is None else timeout
        self.clock = clock
        self.random = random
        self._on_state = on_state
        self._wake = asyncio.Event()
        self._closing = False

    async def deliver_due(self) -> int:
        """Attempt every alert due now, at once; how many were delivered."""
        outbox, moment, lease = self.state.outbox, self.clock(), self.timeout + _LEASE_MARGIN
        deliveries = await self._write(lambda tx: outbox.claim(tx, moment, lease))
        if not deliveries:
            return 0
        return sum(await asyncio.gather(*(self._attempt(delivery) for delivery in deliveries)))

    async def _write(self, body: Callable[[Database], T]) -> T:
        return await self._on_state(lambda: self.state.write(body))

    async def _attempt(self, delivery: Delivery) -> bool:
        alert = delivery.alert
        started = self.clock()
        error = None
        notify = self.project.notify.get(alert.notify)
        if notify is None:
            error = f'the notify block "{alert.notify}" is no longer in the config'
        else:
            job = JobInfo(self.project.name, alert.app, alert.workspace, self.job_id)
            request = HookRequest(
                "notifier_send",
                notify.use.plugin,
                job,
                config=notify.use.config,
                alert=alert,
                timeout=self.timeout,
            )
            try:
                await self.runner.call(request)
            except PluginError as exc:
                error = str(exc)
        ended = self.clock()
        what = f"{alert.state} alert {delivery.id} of notify {alert.notify!r} ({alert.message})"
        outbox = self.state.outbox
        if error is None:
            await self._write(lambda tx: outbox.record_attempt(tx, delivery, started, ended))
            _log.info("sent the %s", what)
            return True
        wait = backoff(delivery.attempts + 1, self.random)
        retry_at = ended + timedelta(seconds=wait)
        await self._write(
            lambda tx: outbox.record_attempt(tx, delivery, started, ended, error, retry_at)
        )
        _log.warning("could not send the %s: %s; trying again in %.0fs", what, error, wait)
        return False

    # --- a task beside the checks -----------------------------------------------------

    def wake(self) -> None:
        """New alerts were stored: deliver them now."""
        self._wake.set()

    def close(self) -> None:
        """Make a last pass over what is due now (unless a stop signal came), and end
        :meth:`run`. Each attempt of it ends within its deadline; alerts waiting for a retry
        are left to the next command."""
        self._closing = True
        self._wake.set()

    async def run(self) -> None:
        """Deliver: a pass now (what an earlier command left), then whenever woken or a retry
        is due, until :meth:`close` (or a stop signal)."""
        try:
            while not STOP.requested:
                closing = self._closing
                self._wake.clear()
                await self.deliver_due()
                if closing:
                    return
                due = await self._on_state(lambda: self.state.outbox.next_delivery(self.clock()))
                wait = None if due is None else max(0.0, (due - self.clock()).total_seconds())
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), wait)
        except StateError as exc:
            # The checks meet the same state and say so; alerts wait in it for the next command.
            _log.error("alerts are not delivered: %s", exc)
