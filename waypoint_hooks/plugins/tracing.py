"""Tracing hook calls: which plugin did what (``WAYPOINT_HOOKS_TRACE=1``, or ``-vv``).

Each call a :class:`~.runner.Runner` makes, in-process or isolated, is one line on stderr:
the plugin, the hook, its arguments, what came of it and how long it took. pluggy's own
``add_hookcall_monitoring`` would see none of them: the framework calls the implementation
it dispatches to (inside its wrappers, within a timeout, perhaps in another process), not
pluggy's hook caller. The arguments are plugin settings and values that may hold secrets:
those of the keys that usually do are left out, and URLs are redacted (DESIGN §13).
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final, TypeVar

import attrs

from ..errors import PluginError
from ..model.redaction import REDACTED
from ..model.report import StatusReport
from ..terminal import sanitize_line
from .components import ARGUMENTS
from .request import HookRequest

__all__ = ["TRACE_ENV", "trace_to_stderr", "traced", "tracing"]

#: Set to 1 to trace every hook call on stderr.
TRACE_ENV: Final = "WAYPOINT_HOOKS_TRACE"
#: The arguments a trace leaves out: made anew for each call, they tell nothing of it.
_UNSHOWN: Final = frozenset(("ctx", "ui"))
#: Keys whose values are left out of a trace, at any depth: headers and environments carry
#: tokens, and so do settings named for them.
_SECRET: Final = re.compile(r"header|env|pass|token|secret|key|auth|credential|cookie", re.I)
#: How much of one value a trace shows.
_LONGEST: Final = 200

_T = TypeVar("_T")
_switched_on = False


def tracing() -> bool:
    """Whether hook calls are traced: ``-vv``, or ``WAYPOINT_HOOKS_TRACE`` set (but not 0)."""
    return _switched_on or os.environ.get(TRACE_ENV, "") not in ("", "0")


def trace_to_stderr(on: bool) -> Callable[[], None]:
    """Trace hook calls when ``on`` (else as the environment says); returns what undoes it."""
    global _switched_on
    before, _switched_on = _switched_on, on or _switched_on

    def undo() -> None:
        global _switched_on
        _switched_on = before

    return undo


async def traced(request: HookRequest, call: Awaitable[_T]) -> _T:
    """Await ``call``, the hook call ``request`` asks for; traced, when tracing is on."""
    if not tracing():
        return await call
    started = time.perf_counter()
    try:
        value = await call
    except PluginError as exc:  # "raised ValueError: ...", "timed out after 30s", ...
        _write(request, exc.message, started)
        raise
    except BaseException as exc:
        _write(request, f"failed: {type(exc).__name__}: {exc}", started)
        raise
    _write(request, f"returned {_shown(value)}", started)
    return value


def _write(request: HookRequest, outcome: str, started: float) -> None:
    milliseconds = (time.perf_counter() - started) * 1000
    arguments = ", ".join(
        f"{name}={_shown(getattr(request, name))}"
        for name in ARGUMENTS[request.hook]
        if name not in _UNSHOWN
    )
    where = ", isolated" if request.isolate else ""
    line = (
        f"trace: {request.plugin} {request.hook}({arguments}) {outcome} "
        f"in {milliseconds:.1f} ms{where}"
    )
    # Written whole, at once: checks run concurrently, and their lines must not interleave.
    sys.stderr.write(sanitize_line(line) + "\n")
    sys.stderr.flush()


def _shown(value: object) -> str:
    """``value`` as a trace shows it: a report by its health, other values as JSON, secrets
    left out; cut short when long."""
    if isinstance(value, StatusReport):
        health = value.health.name if value.health is not None else None
        return f"StatusReport({health}, {len(value.resources)} resources)"
    if attrs.has(type(value)):
        value = attrs.asdict(value)  # type: ignore[arg-type]
    text = json.dumps(_without_secrets(value), default=str, ensure_ascii=False)
    return text if len(text) <= _LONGEST else f"{text[: _LONGEST - 1]}…"


def _without_secrets(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {
            str(key): REDACTED if _SECRET.search(str(key)) else _without_secrets(item)
            for key, item in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [_without_secrets(item) for item in value]
    return value
