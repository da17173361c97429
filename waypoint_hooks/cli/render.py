"""What the CLI prints: the status table, a resource tree, versions, history, alerts and
plugins, as tables (their JSON forms are ``checking.documents``').

Every text that came from a plugin or a platform goes through ``sanitize_line`` before it is
shown; the JSON forms carry it unchanged (json escapes it).
"""

from __future__ import annotations

import heapq
import itertools
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Final

from ..checking.documents import LABELS, humanize_age, notes, removed_notes, tree, until
from ..checking.located import located_notes
from ..model.health import Health
from ..terminal import sanitize_line

if TYPE_CHECKING:
    # Only named: each table's command imports what it shows (status: no plugin, alert or
    # silence).
    from ..checking.checker import AppStatus, RemovedApp
    from ..model.report import Resource, StatusReport
    from ..plugins.discovery import Plugin
    from ..state.outbox import StoredAlert
    from ..state.records import Record
    from ..state.reports import StoredReport
    from ..state.silences import Silence

__all__ = [
    "alerts_table",
    "history_table",
    "plugins_table",
    "resource_tree",
    "silences_table",
    "status_table",
    "versions_table",
]

_COLORS: Final = {
    Health.READY: "green",
    Health.ALIVE: "yellow",  # up, but not READY: it fails the exit code
    Health.DOWN: "red",
    Health.PARTIAL: "yellow",
    Health.UNKNOWN: "yellow",
    Health.MISSING: "red",
}

Style = Callable[[str, Health], str]


def plain(text: str, _: Health) -> str:
    return text


def colored(text: str, health: Health) -> str:
    import click

    return click.style(text, fg=_COLORS[health])


def _table(
    header: Sequence[str],
    rows: Iterable[Sequence[str]],
    widths_of: Callable[[str], int] = len,
    width: int | None = None,
    measured: int | None = None,
) -> Iterator[str]:
    """Aligned columns; with a ``width``, each line cut to it (a table that wraps is
    unreadable).

    Column widths come from the header and the first ``measured`` rows (every row when it
    is ``None``); a later row with a wider cell pushes the rest of its line right. So a
    table of any length is written as its rows are read, holding ``measured`` at a time.
    """
    rows = iter(rows)
    first: list[Sequence[str]] = [header, *itertools.islice(rows, measured)]
    widths = [max(widths_of(row[i]) for row in first) for i in range(len(header))]
    for row in itertools.chain(first, rows):
        pairs = zip(row, widths, strict=True)
        text = "  ".join(cell + " " * (size - widths_of(cell)) for cell, size in pairs).rstrip()
        yield text if width is None else _cut(text, width)


def _visible_width(text: str) -> int:
    # Colour codes take no room on screen.
    import click

    return len(click.unstyle(text))


# The only escape sequences in a line made here: the colours of click.style.
_COLOR_CODE: Final = re.compile(r"(\x1b\[[0-9;]*m)")


def _cut(line: str, width: int) -> str:
    """``line`` in at most ``width`` columns, ending with ``…`` where it was cut."""
    if _visible_width(line) <= width:
        return line
    kept, room = [], width - 1
    for part in _COLOR_CODE.split(line):
        if _COLOR_CODE.fullmatch(part):
            kept.append(part)
        else:
            kept.append(part[:room])
            room -= len(kept[-1])
    reset = "\x1b[0m" if _COLOR_CODE.search(line) else ""
    return "".join(kept) + "…" + reset


def _health_cell(report: StatusReport | None, style: Style) -> str:
    if report is None or report.health is None:
        return "-"
    return style(LABELS[report.health], report.health)


def _checked_cell(report: StatusReport | None, now: datetime, stale_after: float | None) -> str:
    if report is None:
        return "-"
    age = humanize_age(report.generated_time, now)
    if (
        stale_after is not None
        and report.generated_time is not None
        and ((now - report.generated_time).total_seconds() > stale_after)
    ):
        return f"{age} (stale)"
    return age


def status_table(
    rows: Sequence[AppStatus],
    workspace: str,
    command: str | None = None,
    now: datetime | None = None,
    stale_after: Mapping[str, float] | None = None,
    style: Style = plain,
    expect_live: bool = True,
    width: int | None = None,
    removed: Sequence[RemovedApp] = (),
    config: str = "waypoint.hcl",
    located: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[str]:
    """Waypoint's status table, then one line per app with nothing deployed (unless
    ``expect_live`` is false, as after a destroy) and per report that is not READY, saying why;
    one per app checked from several locations (``located``, as
    :func:`~waypoint_hooks.checking.located.located` reads them), saying what they agree on;
    and one per ``removed`` app, that the config file ``config`` no longer names.

    ``command`` is how the lines saying why name this program (see :func:`notes`).
    ``stale_after`` maps an app to the age (seconds) past which its reports are marked stale.
    With a ``width``, the table's lines are cut to it; the lines saying why stay whole.
    Without ``rows``, only those lines.
    """
    stale = stale_after or {}
    now = now or datetime.now(timezone.utc)
    table = _table(
        ("App", "Workspace", "Deployment", "Checked", "Release", "Checked"),
        (
            (
                sanitize_line(row.app),
                workspace,
                _version(row.deployment) + _health_cell(row.deployment_report, style),
                _checked_cell(row.deployment_report, now, stale.get(row.app)),
                _version(row.release) + _health_cell(row.release_report, style),
                _checked_cell(row.release_report, now, stale.get(row.app)),
            )
            for row in rows
        ),
        _visible_width,
        width,
    )
    why = [note for row in rows for note in notes(row, workspace, expect_live, command)]
    why += located_notes(located or {})
    why += removed_notes(removed, config, command or "waypoint-hooks")
    # No row, as after a stop signal came before any status ran: no table, not a bare header.
    return [*(table if rows else []), *(["", *why] if why and rows else why)]


def _version(record: Record | None) -> str:
    return "" if record is None else f"v{record.sequence} "


def resource_tree(
    report: StatusReport, style: Style = plain, width: int | None = None
) -> list[str]:
    """The report's resources as a tree (by ``parent_resource_id``) in a table."""
    if not report.resources:
        return ["(no resources reported)"]
    rows = [_resource_row(resource, branch, style) for branch, resource in tree(report)]
    header = ("Type", "Name", "Platform", "Health", "Message", "Created")
    return list(_table(header, rows, _visible_width, width))


def _resource_row(resource: Resource, branch: str, style: Style) -> tuple[str, ...]:
    created = resource.created_time
    return (
        branch + sanitize_line(resource.type),
        sanitize_line(resource.name),
        sanitize_line(resource.platform),
        style(LABELS[resource.health], resource.health),
        sanitize_line(resource.health_message),
        created.strftime("%Y-%m-%d %H:%M:%SZ") if created else "",
    )


def versions_table(
    versions: Sequence[tuple[Record, StatusReport | None]],
    now: datetime | None = None,
    style: Style = plain,
    width: int | None = None,
) -> list[str]:
    """Every version of an app not destroyed, with its state and its latest report: the
    live ones ``status`` checks, and those a failed or interrupted hook left for ``destroy``."""
    now = now or datetime.now(timezone.utc)
    table = _table(
        ("Kind", "Version", "State", "Health", "Checked", "Message"),
        (
            (
                record.kind,
                f"v{record.sequence}",
                _state(record),
                _health_cell(report, style),
                _checked_cell(report, now, None),
                _lifecycle_note(record) or sanitize_line(report.health_message if report else ""),
            )
            for record, report in versions
        ),
        _visible_width,
        width,
    )
    return list(table)


def _state(record: Record) -> str:
    return "running" if record.status == "pending" else record.status


def _lifecycle_note(record: Record) -> str:
    """Why a version that is not live is still there, and what ``destroy`` will do."""
    if record.status == "failed":
        return sanitize_line(record.error or "its hook failed")
    if record.status == "interrupted":
        left = "what it checkpointed" if record.checkpoint is not None else "nothing recorded"
        return f"its command stopped before the hook returned; destroy cleans up {left}"
    return ""


#: How many rows of a history set its table's column widths (the default --limit).
HISTORY_PAGE: Final = 100


def history_table(
    stored: Iterable[StoredReport],
    now: datetime | None = None,
    style: Style = plain,
    width: int | None = None,
    unfinished: Sequence[Record] = (),
    empty: str = "no reports yet",
) -> Iterator[str]:
    """Past reports, newest first, with the health each one changed from; among them, at
    the time each was made, the ``unfinished`` versions (failed or interrupted); ``empty``
    alone when there is none of either. Lines are made as the reports are read: a history
    of any length is shown in the same memory."""
    now = now or datetime.now(timezone.utc)
    reports = (
        (
            item.report.generated_time or now,
            (
                humanize_age(item.report.generated_time, now),
                item.kind,
                f"v{item.sequence}",
                _health_cell(item.report, style),
                _change(item),
                sanitize_line(item.report.health_message),
            ),
        )
        for item in stored
    )
    records = sorted(
        (
            (
                record.created,
                (
                    humanize_age(record.created, now),
                    record.kind,
                    f"v{record.sequence}",
                    "-",
                    _state(record),
                    _lifecycle_note(record),
                ),
            )
            for record in unfinished
            if record.status != "live"
        ),
        key=_first,
        reverse=True,
    )
    rows = heapq.merge(reports, records, key=_first, reverse=True)
    first = next(rows, None)
    if first is None:
        return iter([empty])
    header = ("Checked", "Kind", "Version", "Health", "Change", "Message")
    shown = (row for _, row in itertools.chain([first], rows))
    return _table(header, shown, _visible_width, width, HISTORY_PAGE)


def _first(row: tuple[datetime, tuple[str, ...]]) -> datetime:
    return row[0]


def _change(item: StoredReport) -> str:
    before, after = item.previous_health, item.report.health
    if before is None or after is None or before is after:
        return ""
    return f"{before.name} → {after.name}"


def plugins_table(plugins: Sequence[Plugin]) -> list[str]:
    """The ``plugins`` listing: one plugin a row, and why it failed when it did."""
    rows = [
        (
            sanitize_line(plugin.name),
            sanitize_line(plugin.version or "-"),
            plugin.source,
            ", ".join(plugin.kinds) or "-",
            str(len(plugin.hooks)) if plugin.error is None else "-",
            "" if plugin.error is None else f"✖ {sanitize_line(plugin.error)}",
        )
        for plugin in plugins
    ]
    return list(_table(("Name", "Version", "Source", "Kinds", "Hooks", "Error"), rows))


def alerts_table(
    stored: Sequence[StoredAlert],
    now: datetime | None = None,
    style: Style = plain,
    width: int | None = None,
    empty: str = "no alerts yet",
) -> list[str]:
    """The ``alerts`` listing, newest first: what each alert said and how its delivery went;
    then one line per alert not delivered yet that an attempt failed for, saying why;
    ``empty`` alone when there is none."""
    if not stored:
        return [empty]
    now = now or datetime.now(timezone.utc)
    rows = [
        (
            humanize_age(item.raised, now),
            sanitize_line(item.alert.notify),
            sanitize_line(item.alert.app),
            item.alert.kind,
            item.alert.state,
            style(LABELS[item.alert.health], item.alert.health),
            _delivery(item, now),
            sanitize_line(item.alert.message),
        )
        for item in stored
    ]
    header = ("Raised", "Notify", "App", "Kind", "State", "Health", "Delivery", "Message")
    table = list(_table(header, rows, _visible_width, width))
    notes = [
        f"alert {item.id}: attempt {item.attempts[-1].number} failed: "
        f"{sanitize_line(item.attempts[-1].error or '')}"
        for item in stored
        if item.delivered is None and item.attempts
    ]
    return table + (["", *notes] if notes else [])


def _delivery(item: StoredAlert, now: datetime) -> str:
    if item.silenced is not None:
        return f"silenced (silence {item.silenced}), not sent"
    tries = len(item.attempts)
    if item.delivered is not None:
        sent = f"sent {humanize_age(item.delivered, now)}"
        return sent if tries <= 1 else f"{sent}, attempt {tries}"
    if not tries:
        return "pending"
    due = item.next_attempt or now
    # humanize_age counts back from its second time: from the next attempt, to now.
    when = "now" if due <= now else "in " + humanize_age(now, due).removesuffix(" ago")
    return f"{tries} failed, next {when}"


def silences_table(
    silences: Sequence[Silence],
    now: datetime | None = None,
    width: int | None = None,
    empty: str = "no silences in force",
) -> list[str]:
    """The ``silences`` listing, the soonest to end first; ``empty`` alone when none is in
    force."""
    if not silences:
        return [empty]
    now = now or datetime.now(timezone.utc)
    rows = [
        (
            str(silence.id),
            sanitize_line(silence.app),
            silence.kind or "both",
            until(silence.expires, now),
            sanitize_line(silence.made_by) or "-",
            sanitize_line(silence.comment),
        )
        for silence in silences
    ]
    header = ("ID", "App", "Kind", "Expires", "By", "Comment")
    return list(_table(header, rows, width=width))
