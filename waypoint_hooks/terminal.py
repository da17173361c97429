"""The terminal UI that plugins receive as ``ui``: Waypoint's ``terminal.UI`` in Python.

A plugin shows progress with ``ui.output``, ``ui.step_group()`` and ``ui.status()``; every call
becomes an :class:`Event`, and the UI the framework passed in decides what to do with it: print
it, record it for a test, or drop it for ``--json``. One module, over 400 lines, because it is
one public page for plugin authors: the UI they call, the events it makes, and the UIs that
show them are read together.
"""

from __future__ import annotations

import itertools
import re
import sys
import threading
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Final, Literal, TextIO, final

import attrs

from .model.redaction import redact_urls

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
    "ConsoleUI",
    "Event",
    "PlainUI",
    "RecordingUI",
    "SilentUI",
    "Status",
    "Step",
    "StepGroup",
    "sanitize",
    "sanitize_line",
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

    def __init__(self, listener: Callable[[Event], None] | None = None) -> None:
        super().__init__()
        self.events: list[Event] = []
        #: Told of each event as it comes: how a running check's progress is shown live.
        self.listener = listener

    def emit(self, event: Event) -> None:
        with self._lock:
            self.events.append(event)
        if self.listener is not None:
            self.listener(event)

    def final_events(self) -> list[Event]:
        """The last state of every line, in the order the lines first appeared."""
        final_steps: dict[int, Event] = {}
        order: list[Event | int] = []
        for event in self.events:
            if event.kind == "step":
                if event.step not in final_steps:
                    order.append(event.step)
                final_steps[event.step] = event
            elif event.kind == "output" or event.done:
                order.append(event)
        return [final_steps[item] if isinstance(item, int) else item for item in order]

    def lines(self) -> list[str]:
        """The final state of every line, as ``status: message`` or ``message``."""
        return [f"{e.status}: {e.message}" if e.status else e.message for e in self.final_events()]


@final
class SilentUI(UI):
    """Drops every event (``--json`` runs)."""

    def emit(self, event: Event) -> None:
        pass


# Escape sequences (CSI, OSC with either terminator, and the two-byte ones), then every
# control character but tab and newline, and the bidirectional overrides and isolates that
# can make text read differently from what it is (CVE-2021-42574, "Trojan Source").
_ESCAPES: Final = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"
    r"|\x1b[@-Z\\-_]"
    r"|\x9b[0-?]*[ -/]*[@-~]"
    r"|[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]"
)


def sanitize(text: str) -> str:
    """``text`` without terminal control sequences, and with the secrets of the URLs it
    quotes redacted (``redact_urls``): safe to print, whoever wrote it."""
    return redact_urls(_ESCAPES.sub("", text))


def sanitize_line(text: str) -> str:
    """:func:`sanitize`, and on one line: for table cells and one-line messages."""
    return " ".join(sanitize(text).split())


_SYMBOLS: Final = {
    STATUS_OK: "✓",
    STATUS_ERROR: "✖",
    STATUS_WARN: "!",
    STATUS_TIMEOUT: "⏱",
    STATUS_ABORT: "-",
}
_COLORS: Final = {
    STATUS_OK: "green",
    STATUS_ERROR: "red",
    STATUS_WARN: "yellow",
    STATUS_TIMEOUT: "yellow",
    STATUS_ABORT: "bright_black",
    HEADER_STYLE: None,  # bold in the terminal's own colour: readable on light and dark
    ERROR_STYLE: "red",
    WARNING_STYLE: "yellow",
    SUCCESS_STYLE: "green",
    INFO_STYLE: "bright_black",
}


class StreamUI(UI):
    """Writes each line once it is final, indented under the header it belongs to.

    Every text a plugin gives is sanitized first: plugins and platforms must not be able to
    move the cursor, retitle the terminal or hide text.
    """

    def __init__(
        self, stream: TextIO | None = None, *, color: bool = False, indent: str = "  "
    ) -> None:
        super().__init__()
        self.stream = stream if stream is not None else sys.stdout
        self.color = color
        self.indent = indent
        self._write_lock = threading.RLock()
        self._reader_gone = False

    def header(self, text: str) -> None:
        """A line that introduces what follows (an app, a phase), not indented."""
        self.write(self._style(f"» {sanitize_line(text)}", HEADER_STYLE, bold=True), indent="")

    def group(self, title: str, events: Iterable[Event]) -> None:
        """A header and events recorded elsewhere (a concurrent check's), shown as one block
        that no other writer can interrupt."""
        with self._write_lock:
            self.header(title)
            for event in events:
                self.emit(event)

    def emit(self, event: Event) -> None:
        if event.kind == "output":
            self.write(self._style(sanitize(event.message), event.style))
        elif event.done:
            self.write(self._line(event))

    def write(self, text: str, indent: str | None = None) -> None:
        """Write ``text`` (already sanitized), each line indented."""
        prefix = self.indent if indent is None else indent
        with self._write_lock:
            if self._reader_gone:
                return
            try:
                for line in text.split("\n"):
                    self.stream.write(f"{prefix}{line}\n")
                self.stream.flush()
            except BrokenPipeError:
                # Nobody reads on (`| head`): the work goes on, and is recorded, unshown.
                self._reader_gone = True

    def running(self, key: str, text: str) -> None:
        """Work under ``key`` (a check) is in progress, doing ``text``: shown live on a
        terminal; plain output shows only finished lines."""

    def finished(self, key: str) -> None:
        """The work under ``key`` is done (its lines are shown with :meth:`group`)."""

    def close(self) -> None:
        """Finish the output; nothing is left open in plain output."""

    def _line(self, event: Event) -> str:
        symbol = _SYMBOLS.get(event.status, "•")
        return f"{self._style(symbol, event.status)} {sanitize(event.message)}"

    def _style(self, text: str, style: str, bold: bool = False) -> str:
        if not self.color or style not in _COLORS:
            return text
        import click  # the UI is importable without click; only colour needs it

        return click.style(text, fg=_COLORS[style], bold=bold)


@final
class PlainUI(StreamUI):
    """For logs and CI: finished lines only, never a control sequence."""


@final
class ConsoleUI(StreamUI):
    """For a terminal: colour, and a spinner on the step in progress."""

    _FRAMES: Final = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"

    def __init__(
        self, stream: TextIO | None = None, *, color: bool = True, indent: str = "  "
    ) -> None:
        super().__init__(stream, color=color, indent=indent)
        self._live = ""
        #: What each check in progress is doing, the latest news last.
        self._running: dict[str, str] = {}
        self._frames = itertools.cycle(self._FRAMES)
        self._ticker: threading.Thread | None = None
        self._stopped = threading.Event()

    def emit(self, event: Event) -> None:
        with self._write_lock:
            if event.kind != "output" and not event.done:
                self._live = sanitize_line(event.message)
                self._draw()
                self._tick()
                return
            if event.kind == "step":
                self._clear()  # while the line in progress is still known
                self._live = ""
            super().emit(event)

    def write(self, text: str, indent: str | None = None) -> None:
        with self._write_lock:
            self._clear()
            super().write(text, indent)
            self._draw()

    def running(self, key: str, text: str) -> None:
        with self._write_lock:
            self._clear()
            self._running.pop(key, None)
            self._running[key] = sanitize_line(text)
            self._draw()
            self._tick()

    def finished(self, key: str) -> None:
        with self._write_lock:
            self._clear()
            self._running.pop(key, None)
            self._draw()

    def close(self) -> None:
        """Stop the spinner and clear its line."""
        self._stopped.set()
        with self._write_lock:
            self._clear()
            self._live = ""
            self._running.clear()

    def _tick(self) -> None:
        if self._ticker is None:
            self._ticker = threading.Thread(target=self._spin, name="spinner", daemon=True)
            self._ticker.start()

    def _spin(self) -> None:
        while not self._stopped.wait(0.1):
            with self._write_lock:
                self._draw()

    def _line_in_progress(self) -> str:
        if self._live or not self._running:
            return self._live
        # Checks run at once: the one with the latest news, and how many others run.
        key, text = next(reversed(self._running.items()))
        others = len(self._running) - 1
        more = f" (and {others} more)" if others else ""
        return f"{sanitize_line(key)}: {text}{more}"

    def _draw(self) -> None:
        line = self._line_in_progress()
        if line:
            frame = self._style(next(self._frames), INFO_STYLE)
            self.stream.write(f"\r\x1b[2K{self.indent}{frame} {line}")
            self.stream.flush()

    def _clear(self) -> None:
        if self._line_in_progress():
            self.stream.write("\r\x1b[2K")
