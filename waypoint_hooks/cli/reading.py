"""The commands that read what the state holds: ``history`` (reports, or uptime as CSV) and
``alerts``. They open the state read-only and call no plugin."""

from __future__ import annotations

import sys
from datetime import datetime, timezone

import click

from .output import print_json, print_json_streamed, style, width
from .params import Command
from .session import Session, handle_errors, pass_session

#: How many reports ``history`` shows unless told otherwise (DESIGN §13).
HISTORY_LIMIT = 100


@click.command(cls=Command)
@click.argument("app")
@click.option("--json", "json_output", is_flag=True, help="Print the reports as JSON.")
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    metavar="N",
    help=f"Only the N newest reports [default: {HISTORY_LIMIT}].",
)
@click.option(
    "--all", "every", is_flag=True, help="Every stored report, however many (read as shown)."
)
@click.option(
    "--csv", "csv_output", is_flag=True, help="Print uptime per step as CSV, not the reports."
)
@click.option(
    "--step", type=click.Choice(["hour", "day"]), help="With --csv: a row per hour or day [day]."
)
@click.option("--from", "start", metavar="WHEN", help="With --csv: from WHEN (2024-05-01, 90d).")
@click.option("--to", "end", metavar="WHEN", help="With --csv: up to WHEN [now].")
@pass_session
@handle_errors
def history(
    session: Session,
    app: str,
    json_output: bool,
    limit: int | None,
    every: bool,
    csv_output: bool,
    step: str | None,
    start: str | None,
    end: str | None,
) -> None:
    """Past status reports of APP, newest first, with each change of health; or, with --csv,
    its uptime per hour or day, rolled-up history included.

    \b
    Examples:
      waypoint-hooks history web --limit 20
      waypoint-hooks history web --all --json
      waypoint-hooks history web --csv --step day --from 90d
    """
    from ..checking import documents
    from . import render as _render

    if every and limit is not None:
        raise click.UsageError("--all shows every report; give it or --limit N, not both")
    if csv_output and (json_output or every or limit is not None):
        raise click.UsageError(
            "--csv prints uptime per step: give it without --json, --all, --limit"
        )
    if not csv_output and (step or start or end):
        raise click.UsageError("--step, --from and --to choose the rows of --csv: give --csv too")
    if csv_output:
        from ..checking import uptime

        try:
            span = uptime.read_span(step, start, end, now := datetime.now(timezone.utc))
        except ValueError as exc:
            raise click.UsageError(str(exc)) from None
        with session.checker(plugins=False) as checker:
            (chosen,) = checker.project.select([app])
            rows = uptime.uptime_rows(checker.state, chosen, checker.workspace, span, now)
        uptime.uptime_csv(rows, sys.stdout)
        return
    with session.checker(json_output, plugins=False) as checker:
        stored = checker.history(app, None if every else limit or HISTORY_LIMIT)
        if json_output:
            print_json_streamed(
                documents.history_json(checker.project.name, checker.workspace, app, stored)
            )
        else:
            # Their records alone: history shows no report of theirs but its own rows.
            unfinished = checker.records(app)
            lines = _render.history_table(
                stored,
                style=style(session),
                width=width(),
                unfinished=unfinished,
                empty=f"no reports of {app} in workspace {checker.workspace} yet",
            )
            for line in lines:
                click.echo(line)


@click.command(cls=Command)
@click.option("--json", "json_output", is_flag=True, help="Print the alerts as JSON.")
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=100,
    show_default=True,
    metavar="N",
    help="Only the N newest alerts.",
)
@pass_session
@handle_errors
def alerts(session: Session, json_output: bool, limit: int) -> None:
    """Alerts the notify blocks raised in this workspace, newest first, and how the delivery
    of each went: sent, waiting for its first attempt, or failed and when it is tried again.

    \b
    Example:
      waypoint-hooks alerts --limit 20
    """
    from ..checking import documents
    from . import render as _render

    with session.checker(json_output, plugins=False) as checker:
        stored = checker.alerts(limit)
        if json_output:
            print_json(documents.alerts_json(checker.project.name, checker.workspace, stored))
        else:
            empty = f"no alerts in workspace {checker.workspace} yet"
            if not checker.project.notify:
                empty += "; the config has no notify block to raise them"
            lines = _render.alerts_table(stored, style=style(session), width=width(), empty=empty)
            for line in lines:
                click.echo(line)
