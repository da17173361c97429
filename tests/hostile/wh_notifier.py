"""A notifier that appends each alert it delivers to a ledger, one JSON line each; it can fail
its first attempts, or be held at a gate, so that tests count deliveries without timing them.

Config: ``ledger`` (the file), ``fail`` (how many attempts fail before one succeeds; attempts
are counted in ``LEDGER.attempts``), ``gate`` (a directory: with ``hold``, each attempt writes
``GATE/send.PID.waiting`` and waits until ``GATE/open`` exists).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import attrs

from waypoint_hooks import Alert, Context, hookimpl

#: A guard against hanging the suite when a test never opens the gate, not a timing.
_GUARD = 120.0


@attrs.define
class NotifierConfig:
    ledger: str
    fail: int = 0
    gate: str = ""
    hold: bool = False


@hookimpl
def notifier_send(ctx: Context, config: NotifierConfig, alert: Alert) -> None:
    attempts = Path(f"{config.ledger}.attempts")
    with attempts.open("a", encoding="utf-8") as file:
        file.write(f"{alert.state} {os.getpid()}\n")
    if config.hold:
        gate = Path(config.gate)
        (gate / f"send.{os.getpid()}.waiting").touch()
        deadline = time.monotonic() + _GUARD
        while not (gate / "open").exists() and time.monotonic() < deadline:
            ctx.wait(0.01)
    if len(attempts.read_text(encoding="utf-8").splitlines()) <= config.fail:
        raise ConnectionError("the receiver is down")
    with open(config.ledger, "a", encoding="utf-8") as file:
        file.write(alert.to_json() + "\n")
