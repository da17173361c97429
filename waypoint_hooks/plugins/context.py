"""What a hook is told about the job it runs in: ``Context``, ``JobInfo`` and ``Target``
(where it runs is ``directory.working_directory``)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Literal, final

import attrs

__all__ = ["Context", "JobInfo", "Target"]


@final
class Context:
    """The deadline of one hook call, and whether it was cancelled.

    Set ``cancelled`` when the call times out, so cooperative sync code (which the framework
    cannot interrupt) can stop: check ``ctx.cancelled`` in loops, or wait with
    ``ctx.wait(seconds)`` instead of ``time.sleep``.
    """

    __slots__ = ("_cancelled", "_event", "_keep", "deadline")

    def __init__(
        self,
        timeout: float | None = None,
        checkpoint: Callable[[Mapping[str, Any]], None] | None = None,
    ) -> None:
        #: ``time.monotonic()`` value by which the call must end, or ``None`` for no limit.
        self.deadline: float | None = None if timeout is None else time.monotonic() + timeout
        self._cancelled = False
        # Made on the first wait(): most calls never wait, and an Event is not cheap.
        self._event: threading.Event | None = None
        #: Stores a checkpoint; the launcher gives one to deploy and release hooks.
        self._keep = checkpoint

    def remaining(self) -> float | None:
        """Seconds left before the deadline (never negative), or ``None`` without one."""
        if self.deadline is None:
            return None
        return max(0.0, self.deadline - time.monotonic())

    @property
    def cancelled(self) -> bool:
        """True once the framework gave up on this call (it timed out)."""
        return self._cancelled

    def cancel(self) -> None:
        """Mark the call cancelled; the framework does this when it times out."""
        self._cancelled = True
        event = self._event
        if event is not None:
            event.set()

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``, waking early on cancellation; True if cancelled."""
        if self._event is None:
            self._event = threading.Event()
        if self._cancelled:  # cancelled before the event existed: cancel() could not set it
            self._event.set()
        return self._event.wait(seconds)

    def checkpoint(self, value: object) -> None:
        """Store ``value`` at once as what this deploy or release has made so far.

        Call it as soon as something is started that must be cleaned up (a process, a
        container): if the command dies before the hook returns, or the hook fails,
        ``destroy`` gives the last checkpointed value to the destroy hook. ``value`` is what
        the hook would return: an attrs instance, a dataclass or a mapping. Where nothing
        stores checkpoints (a status hook, a hook run by hand), the value is still checked
        to be storable, then dropped.
        """
        from ..model.codec import unstructure_value

        plain = unstructure_value(value)
        if self._keep is not None:
            self._keep(plain)

    def __repr__(self) -> str:
        return f"Context(remaining={self.remaining()}, cancelled={self.cancelled})"


@final
@attrs.frozen
class JobInfo:
    """Which project, app and workspace a hook runs for (Waypoint's ``component.JobInfo``)."""

    project: str
    app: str
    workspace: str = "default"
    #: The id of this job (one CLI command is one job).
    id: str = ""
    #: Always True: this framework runs plugins on the machine it runs on.
    local: bool = True


@final
@attrs.frozen
class Target:
    """What a status report is about: one deployment or release of an app."""

    app: str
    kind: Literal["deployment", "release"]
    id: str
    plugin: str
