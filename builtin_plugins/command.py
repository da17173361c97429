"""``command``: a notifier that runs a program with the alert, as JSON, on its standard input.

The program gets the alert's JSON form (``Alert.to_json``) on stdin, one object and the end of
the input, or what the ``body`` template makes of it; its title (the ``title`` template's, or
``[firing] web deployment is DOWN: …``) is in ``WAYPOINT_HOOKS_ALERT_TITLE``, and ``env`` is
added to the environment. Exit code 0 means delivered; another exit code, or running past
``timeout``, fails the attempt (and the program is killed, with whatever it started), and
delivery tries again later. Its stdout is dropped; the end of its stderr is the error. No
message holds a value of ``env``: it may carry credentials.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import signal
from typing import Final

import attrs

from waypoint_hooks import Alert, Context, Duration, StructureError, hookimpl

from ._messages import check_template, compose, default_title

#: How much of the program's stderr an error quotes: its end, where the reason usually is.
_QUOTED: Final = 500
#: The environment variable that holds the alert's title.
TITLE_ENV: Final = "WAYPOINT_HOOKS_ALERT_TITLE"


class CommandError(Exception):
    """The program did not take the alert."""


def _program(_: object, __: attrs.Attribute[list[str]], value: list[str]) -> None:
    if not value or not value[0]:
        raise StructureError.at("command", "names no program to run")


@attrs.define
class CommandConfig:
    """The ``use "command" { ... }`` block of a ``notify`` block."""

    #: The program and its arguments, as a list: ``["notify-send", "--urgency=critical"]``.
    #: A relative path is relative to waypoint.hcl.
    command: list[str] = attrs.field(validator=_program)
    #: Added to the program's environment; never shown anywhere.
    env: dict[str, str] = attrs.field(factory=dict, repr=False)
    #: How long the program may run (within the attempt's deadline).
    timeout: Duration = attrs.field(
        default=Duration("30s"), validator=attrs.validators.gt(Duration(0))
    )
    #: A template for the title, which the program finds in ``WAYPOINT_HOOKS_ALERT_TITLE``.
    title: str | None = attrs.field(default=None, validator=check_template)
    #: A template for what the program reads on stdin, instead of the alert's JSON.
    body: str | None = attrs.field(default=None, validator=check_template, repr=False)


@hookimpl
async def notifier_send(ctx: Context, config: CommandConfig, alert: Alert) -> None:
    title, body = compose(alert, config.title, config.body, default_title=default_title(alert))
    stdin = alert.to_json() if body is None else body
    remaining = ctx.remaining()
    limit = min(float(config.timeout), math.inf if remaining is None else remaining)
    program = config.command[0]
    try:
        process = await asyncio.create_subprocess_exec(
            *config.command,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            env={**os.environ, TITLE_ENV: title, **config.env},
            # Its own group: a timeout kills what it started too.
            start_new_session=True,
        )
    except OSError as exc:
        raise CommandError(f"cannot run {program}: {exc.strerror or exc}") from None
    try:
        _, errors = await asyncio.wait_for(process.communicate(stdin.encode()), limit)
    except asyncio.TimeoutError:
        raise CommandError(f"{program} did not finish within {Duration(limit)}") from None
    finally:
        if process.returncode is None:  # timed out, or the attempt was given up on
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            await process.wait()
    code = process.returncode
    assert code is not None, "the program was waited for"
    if code != 0:
        said = errors.decode("utf-8", "replace").strip()
        tail = f": {said[-_QUOTED:]}" if said else ""
        if code < 0:
            raise CommandError(f"{program} was killed by {signal.Signals(-code).name}{tail}")
        raise CommandError(f"{program} exited with code {code}{tail}")
