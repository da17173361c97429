"""A process's lease on a state that several machines share (DESIGN §16), renewed in a thread
of its own while the process runs (on a connection that thread owns, so that a renewal never
waits for the command's event loop nor for its work): what it owns or holds stays its own
until the lease ends."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future
from datetime import datetime, timezone
from typing import Final, final

from ..errors import StateError

__all__ = ["LEASE", "Heartbeat"]

#: How long a lease lasts (seconds) unless renewed: what a dead process held is taken over
#: within it. It is renewed every third of it, so that two renewals may fail in a row.
LEASE: Final = 30.0
_log = logging.getLogger("waypoint_hooks.state")


def _now() -> datetime:
    return datetime.now(timezone.utc)


@final
class Heartbeat:
    """Calls ``renew(now, lease)`` now, then every third of ``lease``, until :meth:`stop`,
    which calls ``leave()``."""

    def __init__(
        self,
        renew: Callable[[datetime, float], None],
        leave: Callable[[], None],
        lease: float = LEASE,
    ) -> None:
        self._renew = renew
        self._leave = leave
        self.lease = lease
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        #: Why the latest renewal failed; ``None`` while the lease is renewed.
        self.failure: str | None = None

    def start(self) -> None:
        """Take the first lease (its failure is raised here), then renew it in a thread of
        its own, the one that uses the lease's connection, until :meth:`stop`."""
        first: Future[None] = Future()
        self._thread = threading.Thread(
            target=self._run, args=(first,), name="waypoint-hooks lease", daemon=True
        )
        self._thread.start()
        try:
            first.result()
        except BaseException:
            self._thread.join()
            self._thread = None
            raise

    def stop(self) -> None:
        """Stop renewing and leave the lease (a state that cannot be reached now lets it run
        out instead)."""
        if self._thread is None:
            return
        self._stopping.set()
        self._thread.join()
        self._thread = None

    def _run(self, first: Future[None]) -> None:
        # The first lease is taken before anything is owned under it.
        try:
            self._renew(_now(), self.lease)
        except BaseException as exc:
            first.set_exception(exc)
            return
        first.set_result(None)
        while not self._stopping.wait(self.lease / 3):
            try:
                self._renew(_now(), self.lease)
            except StateError as exc:
                # Tried again at the next beat; meanwhile the lease may run out, and other
                # instances take over what this one held.
                _log.warning("the lease on the state was not renewed: %s", exc)
                self.failure = str(exc)
            else:
                self.failure = None
        with contextlib.suppress(StateError):
            self._leave()
