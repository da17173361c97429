"""Stopping on SIGINT, SIGTERM and SIGHUP alike (DESIGN §12).

The first signal asks the command to stop: no new hook starts, and those running end as they
would (within their timeout), so that their outcomes are recorded. A second signal stops at
once: it raises :class:`Interrupted` in the main thread. Either way the command exits with
128 + the first signal's number.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Iterator
from types import FrameType
from typing import Final, final

__all__ = ["STOP", "Interrupted", "Stop"]

_SIGNALS: Final = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
#: How often :meth:`Stop.sleep` looks for a stop, in seconds.
_LOOK: Final = 0.05


class Interrupted(KeyboardInterrupt):
    """A second stop signal: stop now. A ``KeyboardInterrupt``, so that what lets Ctrl-C
    through (asyncio's loop among others) lets this through too."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(signal.Signals(signum).name)


@final
class Stop:
    """Whether a stop signal came, and which first."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.signum: int | None = None
        #: The second signal's number, once one came. It raised :class:`Interrupted` wherever
        #: the main thread was, where a server may have caught it: it says so again.
        self.second: int | None = None

    @property
    def requested(self) -> bool:
        return self._event.is_set()

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``, waking when a stop is asked for; True if it was."""
        return self._event.wait(seconds)

    async def sleep(self, seconds: float) -> bool:
        """:meth:`wait` on the running event loop, which goes on meanwhile. It looks every
        :data:`_LOOK` seconds: a signal runs its handler in the loop's thread, but does not
        wake the loop."""
        import asyncio

        deadline = time.monotonic() + seconds
        while not self._event.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            await asyncio.sleep(min(left, _LOOK))
        return True

    @property
    def exit_code(self) -> int | None:
        """128 + the signal's number (130, 143, 129), once one came."""
        return None if self.signum is None else 128 + self.signum

    def _handle(self, signum: int, _: FrameType | None) -> None:
        if self.second is not None:
            return  # stopping at once already: a third signal changes nothing
        if self._event.is_set():
            self.second = signum
            raise Interrupted(signum)
        self.signum = signum
        self._event.set()

    @contextlib.contextmanager
    def handling(self) -> Iterator[None]:
        """Handle the stop signals while the block runs (in the main thread only: Python
        delivers signals there), and forget them after.

        After a second signal the process is ending at once: from then on the stop signals
        are ignored, so that one more, sent while it exits, cannot end it by the signal's
        default action instead of its exit code (a supervisor sends them until it sees one).
        """
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {number: signal.signal(number, self._handle) for number in _SIGNALS}
        try:
            yield
        finally:
            for number, handler in previous.items():
                signal.signal(number, signal.SIG_IGN if self.second is not None else handler)
            self.signum = None
            self.second = None
            self._event.clear()


#: The process's one: signals are the process's.
STOP: Final = Stop()
