"""A process's lease on a state that several machines share (DESIGN §16), renewed in a thread
of its own while the process runs: what it owns or holds stays its own until the lease ends."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
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
        # The first lease is taken before anything is owned under it.
        self._renew(_now(), self.lease)
        self._thread = threading.Thread(target=self._run, name="waypoint-hooks lease")
        self._thread.daemon = True
        self._thread.start()

    def stop(self) -> None:
        if self._thread is None:
            return
        self._stopping.set()
        self._thread.join()
        self._thread = None
        # A state that cannot be reached now lets the lease run out instead.
        with contextlib.suppress(StateError):
            self._leave()

    def _run(self) -> None:
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
