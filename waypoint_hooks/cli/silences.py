"""``silence``, ``silences`` and ``unsilence``: alerts of an app held back for a while (DESIGN
§15). Checks and reports go on; firing alerts and reminders raised meanwhile are listed by
``alerts`` as silenced, and never sent."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

import click

from .output import print_json, width
from .params import DURATION, Command
from .session import USAGE, Session, fail, handle_errors, pass_session

if TYPE_CHECKING:
    from ..state.columns import Kind

__all__ = ["silence", "silences", "unsilence"]


@click.command(cls=Command)
@click.argument("app")
@click.option(
    "--kind",
    type=click.Choice(["deployment", "release"]),
    help="Only the alerts of the app's deployment, or of its release [default: both].",
)
@click.option(
    "--for",
    "duration",
    type=DURATION,
    required=True,
    metavar="DURATION",
    help="How long, from now: 30m, 2h, 1h30m.",
)
@click.option("--comment", default="", metavar="TEXT", help="Why: shown wherever it is.")
@pass_session
@handle_errors
def silence(session: Session, app: str, kind: str | None, duration: float, comment: str) -> None:
    """Send none of APP's firing alerts and reminders for a while (a resolved alert of one
    that was sent is still sent). Its checks and reports go on; `alerts` lists what was
    silenced. Prints the silence's id, for `unsilence`.

    \b
    Example:
      waypoint-hooks silence web --for 2h --comment "moving the database"
    """
    from ..alerts.silencing import silence as make
    from ..checking.documents import until

    project = session.project()
    chosen = cast("Kind | None", kind)
    with session.state(project) as state:
        made = make(state, project, session.workspace, app, chosen, duration, comment, _who())
    what = f"the {kind} of {app}" if kind else app
    expires = until(made.expires, made.created)
    click.echo(f"Silenced the alerts of {what} until {expires}: silence {made.id}")
    click.echo(f"Lift it sooner with: {session.invocation()} unsilence {made.id}")


@click.command(cls=Command)
@click.option("--json", "json_output", is_flag=True, help="Print the silences as JSON.")
@pass_session
@handle_errors
def silences(session: Session, json_output: bool) -> None:
    """The silences in force in this workspace, the soonest to end first.

    \b
    Example:
      waypoint-hooks silences --json
    """
    from datetime import datetime, timezone

    from ..checking import documents
    from . import render as _render

    project = session.project()
    now = datetime.now(timezone.utc)
    with session.state(project, read_only=True) as state:
        found = state.silences.in_force(session.workspace, now)
    if json_output:
        print_json(documents.silences_json(project.name, session.workspace, found))
        return
    empty = f"no silences in force in workspace {session.workspace}"
    for line in _render.silences_table(found, now, width(), empty):
        click.echo(line)


@click.command(cls=Command)
@click.argument("id", type=click.IntRange(min=1), metavar="ID")
@pass_session
@handle_errors
def unsilence(session: Session, id: int) -> None:
    """Lift the silence ID (as `silence` and `silences` print it): the app's alerts are sent
    again, from its next report on.

    \b
    Example:
      waypoint-hooks unsilence 3
    """
    from datetime import datetime, timezone

    from ..alerts.silencing import lift
    from ..checking.documents import humanize_age

    project = session.project()
    now = datetime.now(timezone.utc)
    with session.state(project) as state:
        lifted = lift(state, session.workspace, id, now)
    if lifted is None:
        fail(
            f"no silence {id} in workspace {session.workspace}; `silences` lists those in force",
            USAGE,
        )
    if lifted.lifted == now:
        click.echo(f"Lifted silence {id}: the alerts of {lifted.app} are sent again")
    else:
        ended = humanize_age(lifted.ends, now)
        click.echo(f"Silence {id} of {lifted.app} had already ended ({ended}); nothing to lift")


def _who() -> str:
    """``user@host``, as far as this machine says."""
    import getpass
    import socket

    try:
        user = getpass.getuser()
    except (OSError, KeyError):  # no login name anywhere it looks
        user = "?"
    return f"{user}@{socket.gethostname()}"
