"""``waypoint-hooks report``: a report from outside, stored as ``serve`` stores one pushed to
it (DESIGN §20)."""

from __future__ import annotations

import sys

import click

from .output import located_of, print_json
from .params import Command
from .session import USAGE, Session, fail, handle_errors, on_one_loop, pass_session

#: The file names read as protobuf unless ``--format`` says otherwise.
_PROTOBUF_SUFFIXES = (".pb", ".binpb")


@click.command(cls=Command)
@click.argument("app")
@click.argument("file", metavar="FILE|-")
@click.option("--release", is_flag=True, help="About APP's release, not its deployment.")
@click.option(
    "--format",
    "form",
    type=click.Choice(["json", "protobuf"]),
    help="How FILE is written: the wire format's JSON, or the SDK's StatusReport message "
    "[default: protobuf for a .pb or .binpb file, else json].",
)
@click.option("--json", "json_output", is_flag=True, help="Print the stored report as JSON.")
@pass_session
@handle_errors
def report(
    session: Session,
    app: str,
    file: str,
    release: bool,
    form: str | None,
    json_output: bool,
) -> None:
    """Store a report that APP's platform made of itself, read from FILE (- for standard
    input), for APP's latest live deployment (or release), marked external; alerts are
    raised as for any report.

    \b
    Examples:
      waypoint-hooks report web report.json
      my-platform-health --json | waypoint-hooks report web --release -
    """
    from datetime import datetime, timezone

    from ..checking import documents
    from ..checking.checker import store
    from ..checking.located import located_notes
    from ..checking.pushed import accept, decode, target_of
    from ..errors import ReportDecodeError, ReportRefusedError

    name = "standard input" if file == "-" else file
    protobuf = (form or ("protobuf" if name.endswith(_PROTOBUF_SUFFIXES) else "json")) == "protobuf"
    with session.checker(json_output, apps=(app,)) as checker:
        target, record = target_of(checker, app, "release" if release else "deployment")
        limit = target.status.limits.max_report_bytes
        data = _read(file, limit + 1)
        if len(data) > limit:
            fail(
                f"{name}: over {limit} bytes, the limit of a report of app {app!r} "
                "(max_report_bytes); nothing stored",
                USAGE,
            )
        try:
            decoded = decode(data, protobuf)
        except ReportDecodeError as exc:
            what = "a protobuf StatusReport" if protobuf else "a report in JSON"
            fail(f"{name} is not {what}: {exc}; nothing stored", USAGE)
        try:
            pushed = accept(target, record, decoded, datetime.now(timezone.utc))
        except ReportRefusedError as exc:
            fail(f"{name}: {exc}", USAGE)
        if store(checker.state, [(record, pushed)], checker.kept(), checker.alerting):

            async def deliver() -> None:
                checker.deliver()

            on_one_loop(checker, deliver())
        # An app checked from several locations: a report from outside is of none of them.
        located = located_of(checker, checker.cached([app]))
        if json_output:
            document = documents.pushed_json(
                checker.project.name, checker.workspace, record, pushed
            )
            print_json({**document, **located.get(app, {})})
            return
        assert pushed.health is not None  # finalized
        click.echo(
            f"Stored {app} {record.kind} v{record.sequence}'s report from outside: "
            f"{pushed.health.name} ({pushed.health_message})"
        )
        for line in located_notes(located):
            click.echo(line)


def _read(file: str, size: int) -> bytes:
    """At most ``size`` bytes of ``file`` (``-``: standard input)."""
    if file == "-":
        return sys.stdin.buffer.read(size)
    try:
        with open(file, "rb") as opened:
            return opened.read(size)
    except OSError as exc:
        fail(f"{file} cannot be read: {exc.strerror or exc}; nothing stored", USAGE)
