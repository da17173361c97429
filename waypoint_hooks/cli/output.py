"""What the commands print: JSON documents on a stdout that carries nothing else, and the
status tables, styled for a terminal or plain for a pipe."""

from __future__ import annotations

import contextlib
import itertools
import os
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from ..checking.checker import AppStatus, Checker, RemovedApp
    from .session import Session


def _json_text(document: Any) -> str:
    """``document`` indented by two spaces, as ``json.dumps(indent=2, ensure_ascii=False)``
    writes it; but in C, where json's indenting encoder is Python (5,000 apps' status)."""
    import msgspec

    try:
        return msgspec.json.format(msgspec.json.encode(document), indent=2).decode()
    except UnicodeEncodeError:
        # A lone surrogate (os.fsdecode makes them of undecodable file names) has no UTF-8
        # form; json keeps it in the text, as it always did.
        import json

        return json.dumps(document, indent=2, ensure_ascii=False)


def print_json(document: Any) -> None:
    click.echo(_json_text(document))


def print_json_streamed(document: Mapping[str, Any]) -> None:
    """``print_json(document)`` when its last member is an iterable of any length: written
    one item at a time, as it is read."""
    *_, key = document
    items = iter(document[key])
    first = next(items, None)
    if first is None:
        print_json({**document, key: []})
        return
    # The text around the list, as _json_text writes it, split at a one-item list's item.
    opening, closing = _json_text({**document, key: [0]}).rsplit("0", 1)
    click.echo(opening, nl=False)
    for index, item in enumerate(itertools.chain([first], items)):
        # An item of a list in an object: indented two levels, as _json_text indents it.
        text = _json_text(item).replace("\n", "\n    ")
        click.echo(f",\n    {text}" if index else text, nl=False)
    click.echo(closing)


@contextlib.contextmanager
def json_stdout(json_output: bool) -> Iterator[Callable[[Any], None]]:
    """For ``--json``: stdout carries the JSON documents and nothing else.

    While the command runs, whatever plugins print goes to stderr: Python's ``sys.stdout`` is
    swapped, and when it is the process's real file descriptor 1, that descriptor is pointed
    at stderr too (for plugins that write to it, or start programs that do, and for hung
    plugin threads that print between ``--watch`` rounds). Yields the function that writes a
    document to the real stdout.
    """
    if not json_output:
        yield print_json
        return
    sys.stdout.flush()
    real = sys.stdout
    saved = _dup_stdout()
    channel = os.fdopen(saved, "w", encoding="utf-8", closefd=False) if saved is not None else real

    def emit(document: Any) -> None:
        channel.write(_json_text(document) + "\n")
        channel.flush()

    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield emit
    finally:
        if saved is not None:
            # Its reader may be gone (`| head`): what it could not write is dropped.
            with contextlib.suppress(BrokenPipeError):
                channel.close()
            sys.stderr.flush()
            os.dup2(saved, 1)
            os.close(saved)


def _dup_stdout() -> int | None:
    try:
        if sys.stdout.fileno() != 1:
            return None
    except (AttributeError, OSError, ValueError):  # not a real file (a test runner's buffer)
        return None
    saved = os.dup(1)
    os.dup2(2, 1)
    return saved


def live_terminal() -> bool:
    """Standard output is a terminal that takes colours and moves its cursor (not "dumb")."""
    return sys.stdout.isatty() and os.environ.get("TERM") != "dumb"


def style(session: Session) -> Callable[[str, Any], str]:
    from . import render as _render

    return _render.colored if session.color and live_terminal() else _render.plain


def width(indent: str = "") -> int | None:
    """How wide a table may be: the terminal's width, on one; a pipe takes any line whole."""
    if not sys.stdout.isatty():
        return None
    import shutil  # on a terminal only: it imports the compression modules

    return shutil.get_terminal_size().columns - len(indent)


def located_of(checker: Checker, rows: Sequence[AppStatus]) -> dict[str, dict[str, Any]]:
    """What the locations of the apps of ``rows`` checked from several say (DESIGN §21): the
    members each adds to ``status --json``, by app."""
    from ..checking.located import located

    apps = [checker.project.apps[row.app] for row in rows if row.app in checker.project.apps]
    return located(checker.state, apps, {row.app: row for row in rows})


def show_status(
    session: Session,
    checker: Checker,
    rows: Sequence[AppStatus],
    stale_after: Mapping[str, float] | None = None,
    tree: bool = False,
    expect_live: bool = True,
    removed: Sequence[RemovedApp] = (),
) -> None:
    from ..terminal import sanitize_line
    from . import render as _render

    if rows or removed:
        click.echo("")
    located = located_of(checker, rows)
    for line in _render.status_table(
        rows,
        checker.workspace,
        command=session.invocation(),
        stale_after=stale_after,
        style=style(session),
        expect_live=expect_live,
        width=width(),
        removed=removed,
        config=checker.project.path.name,
        located=located,
    ):
        click.echo(line)
    if not tree:
        return
    for row in rows:
        click.echo(f"\n{sanitize_line(row.app)} versions (every one not destroyed):")
        versions = checker.versions(row.app)
        for line in _render.versions_table(versions, style=style(session), width=width("  ")):
            click.echo(f"  {line}")
    for row in rows:
        for kind, record, report in (
            ("deployment", row.deployment, row.deployment_report),
            ("release", row.release, row.release_report),
        ):
            if record is None or report is None:
                continue
            title = f"{row.app} {kind} v{record.sequence} ({record.plugin}) resources:"
            click.echo(f"\n{sanitize_line(title)}")
            indent = "  "
            for line in _render.resource_tree(report, style(session), width(indent)):
                click.echo(f"{indent}{line}")
