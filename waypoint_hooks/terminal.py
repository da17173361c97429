"""The terminal UI that plugins receive as ``ui``: Waypoint's ``terminal.UI`` in Python.

A plugin shows progress with ``ui.output``, ``ui.step_group()`` and ``ui.status()``; every call
becomes an :class:`Event`, and the UI the framework passed in decides what to do with it: print
it, record it for a test, or drop it for ``--json``.
"""

from __future__ import annotations

import threading
from types import TracebackType
from typing import Final, Literal, final

import attrs

__all__ = [
    "ERROR_STYLE",
    "HEADER_STYLE",
    "INFO_STYLE",
    "STATUS_ABORT",
    "STATUS_ERROR",
    "STATUS_OK",
    "STATUS_TIMEOUT",
    "STATUS_WARN",
    "SUCCESS_STYLE",
    "UI",
    "WARNING_STYLE",
    "Event",
    "RecordingUI",
    "SilentUI",
    "Status",
    "Step",
    "StepGroup",
]

STATUS_OK: Final = "ok"
STATUS_ERROR: Final = "error"
STATUS_WARN: Final = "warning"
STATUS_TIMEOUT: Final = "timeout"
STATUS_ABORT: Final = "abort"

HEADER_STYLE: Final = "header"
ERROR_STYLE: Final = "error"
WARNING_STYLE: Final = "warning"
SUCCESS_STYLE: Final = "success"
INFO_STYLE: Final = "info"


@final
@attrs.frozen
class Event:
    """One thing a plugin showed.

    ``kind`` is ``output`` (a line, with ``style``), ``step`` (a step of a step group, whose
    ``step`` number identifies it across updates) or ``status`` (a line of a status display).
    """

    kind: Literal["output", "step", "status"]
    message: str
    status: str = ""
    style: str = ""
    step: int = 0
    done: bool = False


class UI:
    """What a plugin receives as ``ui``. Subclasses decide what :meth:`emit` does.

    Safe to use from several threads: a sync plugin runs in a worker thread.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._steps = 0

    def emit(self, event: Event) -> None:
        """Show (or keep, or drop) one event."""
        raise NotImplementedError

    def output(self, message: str, *args: object, style: str = "") -> None:
        """Show a line; ``args`` are %-formatted into ``message`` as Waypoint's ``Output``."""
        self.emit(Event("output", _format(message, args), style=style))

    def step_group(self) -> StepGroup:
        """A group of steps, each shown with a spinner until it is done."""
        return StepGroup(self)

    def status(self) -> Status:
        """A status display: one line that updates, and finished steps below it."""
        return Status(self)

    def _next_step(self) -> int:
        with self._lock:
            self._steps += 1
            return self._steps


def _format(message: str, args: tuple[object, ...]) -> str:
    return message % args if args else message


class _Closing:
    """Context-manager support: ``close()`` on exit."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> _Closing:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


@final
class Step:
    """One step of a :class:`StepGroup`: a message and, once known, a status."""

    def __init__(self, ui: UI, message: str) -> None:
        self._ui = ui
        self._number = ui._next_step()
        self._message = message
        self._status = ""
        self._done = False
        self._show()

    @property
    def finished(self) -> bool:
        """True once :meth:`done` or :meth:`abort` was called."""
        return self._done

    def update(self, message: str, *args: object) -> None:
        """Replace the step's message."""
        self._message = _format(message, args)
        self._show()

    def status(self, status: str) -> None:
        """Set the step's status, e.g. ``terminal.STATUS_ERROR``."""
        self._status = status
        self._show()

    def done(self) -> None:
        """Finish the step (with ``STATUS_OK`` unless another status was set)."""
        if not self._done:
            self._done = True
            self._status = self._status or STATUS_OK
            self._show()

    def abort(self) -> None:
        """Finish the step as aborted."""
        if not self._done:
            self._done = True
            self._status = STATUS_ABORT
            self._show()

    def _show(self) -> None:
        self._ui.emit(
            Event("step", self._message, self._status, step=self._number, done=self._done)
        )


@final
class StepGroup(_Closing):
    """Steps shown together; closing the group aborts the steps left unfinished."""

    def __init__(self, ui: UI) -> None:
        self._ui = ui
        self._steps: list[Step] = []

    def add(self, message: str, *args: object) -> Step:
        """Start a new step."""
        step = Step(self._ui, _format(message, args))
        self._steps.append(step)
        return step

    def wait(self) -> None:
        """Waypoint's ``Wait``: finish the group."""
        self.close()

    def close(self) -> None:
        for step in self._steps:
            step.abort()

    def __enter__(self) -> StepGroup:
        return self


@final
class Status(_Closing):
    """A status display: ``update`` the current line, ``step`` to leave a finished line."""

    def __init__(self, ui: UI) -> None:
        self._ui = ui

    def update(self, message: str) -> None:
        """Show ``message`` as the current, unfinished line."""
        self._ui.emit(Event("status", message))

    def step(self, status: str, message: str) -> None:
        """Show a finished line with ``status``, e.g. ``terminal.STATUS_ERROR``."""
        self._ui.emit(Event("status", message, status, done=True))

    def close(self) -> None:
        # Each line is an event of its own: nothing is left open to stop.
        pass

    def __enter__(self) -> Status:
        return self


@final
class RecordingUI(UI):
    """Keeps every event, for tests and for grouping concurrent checks' output."""

    def __init__(self) -> None:
        super().__init__()
        self.events: list[Event] = []

    def emit(self, event: Event) -> None:
        with self._lock:
            self.events.append(event)

    def lines(self) -> list[str]:
        """The final state of every line: outputs, steps (last update) and status lines."""
        final_steps: dict[int, Event] = {}
        order: list[Event | int] = []
        for event in self.events:
            if event.kind == "step":
                if event.step not in final_steps:
                    order.append(event.step)
                final_steps[event.step] = event
            elif event.kind == "output" or event.done:
                order.append(event)
        shown = [final_steps[item] if isinstance(item, int) else item for item in order]
        return [f"{e.status}: {e.message}" if e.status else e.message for e in shown]


@final
class SilentUI(UI):
    """Drops every event (``--json`` runs)."""

    def emit(self, event: Event) -> None:
        pass
