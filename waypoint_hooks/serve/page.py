"""The status page of the service (DESIGN §14), rendered with Jinja2 from ``status_page/``:
the overview of every app (its health, "down for", uptime, a day's timeline and its silences
in force) and each app's own page (each version's timeline and response times on a time axis,
its resources, incidents, alerts and maintenance windows in force, and a check-now button);
and the badges.

Uptime is a share of *time* (:mod:`.timeline`), the same two decimals everywhere. An app's
uptime over 24 h, 7 d and 30 d is read from its hourly and daily roll-ups and the reports it
still keeps (:func:`~waypoint_hooks.checking.uptime.window_uptimes`), as
``GET /api/apps/{app}/uptime`` gives it, never from every report: of its deployments and of
its releases, the lower of the two. Every text from a plugin or a platform is escaped by Jinja2's
autoescaping (and stripped of control characters, as the terminal's are); the pictures are
SVG drawn here (:mod:`.svg`); the page runs no inline script, which the service's
Content-Security-Policy forbids anyway.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any, Final, final

import attrs
import jinja2
from markupsafe import Markup

from ..alerts.machine import in_maintenance
from ..checking import documents
from ..checking.checker import AppStatus
from ..checking.uptime import Windows, window_uptimes
from ..config.project import Maintenance
from ..model.health import Health
from ..model.report import StatusReport
from ..plugins.components import TargetKind
from ..state.outbox import StoredAlert
from ..state.records import Record
from ..state.reports import StoredReport
from ..state.store import State
from ..terminal import sanitize_line
from . import svg
from .timeline import (
    Incident,
    Sample,
    Span,
    hourly,
    incidents,
    moved,
    spans,
    stale_after,
    worst,
)

__all__ = ["REFRESH", "UPTIME_WINDOWS", "Page", "counted", "length", "percent", "refresh_after"]

#: The windows uptime is computed over, with their labels (and their badges' names).
UPTIME_WINDOWS: Final = (
    ("24 h", "uptime-24h", timedelta(days=1)),
    ("7 d", "uptime-7d", timedelta(days=7)),
    ("30 d", "uptime-30d", timedelta(days=30)),
)
#: How far back an app's own page reads its reports (for incidents).
_HISTORY: Final = UPTIME_WINDOWS[-1][2]
#: The window of the timelines and the response-time charts.
_TIMELINE: Final = timedelta(days=1)
#: The most reports of an app, of each kind, read for its own page and for a timeline.
_REPORTS: Final = 10_000
#: How many reports a timeline reads for each interval of its day: a check every interval,
#: and as many again made by hand (``status``) or by other instances.
_PER_INTERVAL: Final = 2
#: How many of an app's alerts its page lists.
_ALERTS: Final = 10
#: How long the page waits before it fetches itself again, at least and at most (seconds).
REFRESH: Final = (1.0, 10.0)
_KINDS: Final[tuple[TargetKind, ...]] = ("deployment", "release")


def refresh_after(intervals: Iterable[float]) -> float:
    """How long the page waits before it fetches itself again: the shortest of the apps'
    ``intervals``, within :data:`REFRESH`."""
    return max(min([*intervals, REFRESH[1]]), REFRESH[0])


def location_lines(located: Mapping[str, Any] | None) -> list[str]:
    """What each location says of an app checked from several (DESIGN §21), a line each:
    its latest health of each kind there, and whether an instance of it is alive (one that
    is not checks nothing there: its reports only grow old)."""
    if located is None:
        return []
    lines = [f"Checked from {len(located['locations'])} locations; {located['quorum']} must agree"]
    for item in located["locations"]:
        seen = [
            f"{kind} {documents.LABELS[Health[brief['health']]]}"
            for kind in _KINDS
            if (brief := item.get(kind)) is not None
        ]
        line = f"from {item['location']}: {', '.join(seen) or 'no report yet'}"
        if not item["alive"]:
            line += "; no instance there is alive"
        lines.append(line)
    return lines


def percent(share: float | None) -> str:
    """A share as the page and the badges write it: two decimals, always, cut rather than
    rounded (99.999% is not 100.00%); ``-`` for nothing known."""
    if share is None:
        return "-"
    return f"{math.floor(share * 10000) / 100:.2f}%"


def length(span: timedelta) -> str:
    """``32s``, ``12m``, ``1h 5m``, ``2d 3h``: two units at most."""
    seconds = max(0, int(span.total_seconds()))
    units = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))
    for index, (unit, size) in enumerate(units[:-1]):
        if seconds >= size:
            below, small = units[index + 1]
            rest = (seconds % size) // small
            return f"{seconds // size}{unit}" + (f" {rest}{below}" if rest else "")
    return f"{seconds}s"


def counted(count: int, noun: str) -> str:
    """``1 app``, ``2 apps``."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


#: What is known of an app with nothing live: nothing.
_NOTHING: Final = (Windows([{} for _ in UPTIME_WINDOWS], {}), ())


@final
@attrs.frozen
class _Counted:
    """What the page made of an app's stored reports: from the reports ``shown`` (each
    target's id and its latest report's time), at ``at``."""

    shown: tuple[tuple[str, datetime | None], ...]
    at: datetime
    value: Any


@final
class Page:
    """Renders the status page of a project's apps from their status and stored reports."""

    def __init__(self, state: State, workspace: str) -> None:
        self.state = state
        self.workspace = workspace
        # What was read and counted of each app's stored reports (its uptimes, its last day's
        # hours, how long it has not been READY), with what from and when: that reads weeks of
        # roll-ups and every kept report, and a page of a thousand apps is drawn every few
        # seconds while each app changes once an interval.
        self._counted: dict[tuple[object, ...], _Counted] = {}
        environment = jinja2.Environment(
            loader=jinja2.PackageLoader("waypoint_hooks.serve", "status_page"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        environment.filters["counted"] = counted
        self._overview = environment.get_template("status.html")
        self._app_page = environment.get_template("app.html")

    def render(
        self,
        project: str,
        rows: Sequence[tuple[AppStatus, float]],
        *,
        refresh: float,
        config_error: str | None = None,
        now: datetime | None = None,
        located: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> str:
        """The overview of ``rows`` (each app's status and interval); it fetches itself again
        every ``refresh`` seconds. ``located``: what each location says of the apps checked
        from several (their part of ``/api/status``)."""
        now = now or datetime.now(timezone.utc)
        silenced = self._silenced(now)
        located = located or {}
        counted = self._windows(rows, now)
        return self._overview.render(
            **self._frame(project, refresh, config_error, now),
            apps=[
                {
                    **self._summary(row, interval, counted[row.app], now),
                    "silences": silenced.get(row.app, []),
                    "locations": location_lines(located.get(row.app)),
                }
                for row, interval in rows
            ],
        )

    def _silenced(self, now: datetime) -> dict[str, list[str]]:
        """Each app's silences in force, as one line each."""
        silenced: dict[str, list[str]] = {}
        for silence in self.state.silences.in_force(self.workspace, now):
            silenced.setdefault(silence.app, []).append(documents.silence_note(silence, now))
        return silenced

    def render_app(
        self,
        project: str,
        row: AppStatus,
        interval: float,
        *,
        refresh: float,
        alerts: Sequence[StoredAlert] = (),
        maintenance: Iterable[Maintenance] = (),
        writer: bool = False,
        config_error: str | None = None,
        now: datetime | None = None,
        located: Mapping[str, Any] | None = None,
    ) -> str:
        """The page of one app: ``alerts`` are the newest of the workspace's."""
        now = now or datetime.now(timezone.utc)
        history = self._history(row.app, now)
        stale = stale_after(interval)
        live = {record.id for _, record, _ in _live(row)}
        targets = [
            self._target(kind, record, report, history.get(record.id, ("", []))[1], stale, now)
            for kind, record, report in _live(row)
        ]
        found = sorted(
            (
                _incident(version, incident, now)
                for id, (version, samples) in history.items()
                for incident in _ended(incidents(samples), samples, id in live)
            ),
            key=lambda incident: incident["start"],
            reverse=True,
        )
        return self._app_page.render(
            **self._frame(project, refresh, config_error, now),
            app={
                **self._summary(row, interval, self._windows([(row, interval)], now)[row.app], now),
                "silences": self._silenced(now).get(row.app, []),
                "locations": location_lines(located),
            },
            targets=targets,
            incidents=found,
            alerts=[_alert(item) for item in alerts if item.alert.app == row.app][:_ALERTS],
            maintenance=[
                _window(window) for window in maintenance if in_maintenance([window], row.app, now)
            ],
            writer=writer,
        )

    def badge(self, row: AppStatus, interval: float, which: str) -> str:
        """The badge ``which`` (``health``, ``uptime-24h``… ``response-time``) of an app."""
        now = datetime.now(timezone.utc)
        if which == "health":
            health = worst([report.health for report in row.reports() if report.health])
            label = "-" if health is None else documents.LABELS[health]
            return svg.badge("health", label, svg.COLOURS[health])
        if which == "response-time":
            samples = [
                sample
                for _, record, _ in _live(row)
                for sample in self._history(row.app, now, _TIMELINE).get(record.id, ("", []))[1]
                if sample.response_ms is not None
            ]
            if not samples:
                return svg.badge("response time", "-", svg.COLOURS[None])
            mean = sum(sample.response_ms or 0.0 for sample in samples) / len(samples)
            return svg.badge("response time", f"{mean:.0f} ms", svg.COLOURS[Health.READY])
        index, label = next(
            (index, label) for index, (label, name, _) in enumerate(UPTIME_WINDOWS) if name == which
        )
        share = _lowest(self._windows([(row, interval)], now)[row.app][0].shares[index])
        colour = svg.COLOURS[
            None if share is None else Health.READY if share >= 0.99 else Health.DOWN
        ]
        return svg.badge(f"uptime {label}", percent(share), colour)

    # --- what the pages show ------------------------------------------------------------------

    def _frame(
        self, project: str, refresh: float, config_error: str | None, now: datetime
    ) -> dict[str, Any]:
        return {
            "project": project,
            "workspace": self.workspace,
            "refresh": refresh,
            "config_error": config_error,
            "generated": _time(now),
            "windows": [label for label, _, _ in UPTIME_WINDOWS],
        }

    def _windows(
        self, rows: Sequence[tuple[AppStatus, float]], now: datetime
    ) -> dict[str, tuple[Windows, Sequence[Span]]]:
        """Each app's uptimes and its last day's hours (:func:`window_uptimes`), with the
        spans of its last day drawn from them, counted again, for all the apps that need it
        at once, when a report shown changed and at least once an interval, as the windows
        move on."""
        found: dict[str, tuple[Windows, Sequence[Span]]] = {}
        gaps: dict[str, float] = {}
        for row, interval in rows:
            kept = self._fresh(("windows", row.app), row, interval, now)
            if kept is not None:
                found[row.app] = kept
            elif row.deployment is None and row.release is None:
                found[row.app] = _NOTHING
            else:
                gaps[row.app] = stale_after(interval).total_seconds()
        if gaps:
            windows = [window for _, _, window in UPTIME_WINDOWS]
            counted = window_uptimes(self.state, gaps, self.workspace, windows, now)
            for row, _ in rows:
                if row.app in counted:
                    day = hourly(counted[row.app].hours, now - _TIMELINE, now)
                    value = (counted[row.app], day)
                    found[row.app] = self._keep(("windows", row.app), row, now, value)
        return found

    def _fresh(
        self, key: tuple[object, ...], row: AppStatus, interval: float, now: datetime
    ) -> Any:
        """What was kept under ``key`` of the app's stored reports, unless a report shown
        changed since (a check's, or one pushed that is the newest) or an interval went by;
        ``None`` then."""
        counted = self._counted.get(key)
        if (
            counted is not None
            and counted.shown == _shown(row)
            and timedelta(0) <= now - counted.at < timedelta(seconds=interval)
        ):
            return counted.value
        return None

    def _keep(self, key: tuple[object, ...], row: AppStatus, now: datetime, value: Any) -> Any:
        self._counted[key] = _Counted(_shown(row), now, value)
        return value

    def _since(
        self, row: AppStatus, kind: TargetKind, interval: float, now: datetime
    ) -> datetime | None:
        """Since when the app's ``kind`` has not been READY: its first report of the run its
        latest is in, of those a timeline reads; read only of an app that is not READY."""
        key = ("since", row.app, kind)
        kept = self._fresh(key, row, interval, now)
        if kept is None:
            count = min(_REPORTS, math.ceil(_PER_INTERVAL * _TIMELINE.total_seconds() / interval))
            healths = self.state.reports.healths(row.app, self.workspace, kind, count)
            run = list(itertools.takewhile(lambda pair: pair[1] is not Health.READY, healths))
            kept = self._keep(key, row, now, (run[-1][0] if run else None,))
        since: datetime | None = kept[0]
        return since

    def _summary(
        self,
        row: AppStatus,
        interval: float,
        counted: tuple[Windows, Sequence[Span]],
        now: datetime,
    ) -> dict[str, Any]:
        start = now - _TIMELINE
        cells = [
            self._cell(row, kind, record, report, interval, now)
            for kind, record, report in _pairs(row)
        ]
        return {
            "name": row.app,
            "cells": cells,
            "notes": list(documents.notes(row, self.workspace)),
            "uptime": [percent(_lowest(kinds)) for kinds in counted[0].shares],
            "timeline": Markup(
                svg.timeline(
                    moved(counted[1], start, now),
                    start,
                    now,
                    f"{row.app}: the worst health of each hour of the last 24 hours",
                )
            ),
        }

    def _cell(
        self,
        row: AppStatus,
        kind: TargetKind,
        record: Record | None,
        report: StatusReport | None,
        interval: float,
        now: datetime,
    ) -> dict[str, Any]:
        health = None if report is None else report.health
        cell = {
            "kind": kind,
            "version": "" if record is None else f"v{record.sequence}",
            "label": "-" if health is None else documents.LABELS[health],
            "health": "NONE" if health is None else health.name,
            "checked": (
                "-" if report is None else documents.humanize_age(report.generated_time, now)
            ),
            "for": "",
        }
        if health is not None and health is not Health.READY:
            since = self._since(row, kind, interval, now)
            cell["for"] = f"for {length(now - since)}" if since is not None else ""
        return cell

    def _target(
        self,
        kind: TargetKind,
        record: Record,
        report: StatusReport | None,
        samples: Sequence[Sample],
        stale: timedelta,
        now: datetime,
    ) -> dict[str, Any]:
        title = sanitize_line(f"{kind} v{record.sequence} ({record.plugin})")
        shown = [sample for sample in samples if sample.at >= now - _TIMELINE]
        start = shown[0].at if shown else now - _TIMELINE
        if now - start < stale:
            start = now - stale  # a first report: an axis long enough to see it on
        ongoing = incidents(samples)[:1]
        return {
            "kind": kind,
            "title": title,
            "reports": len(shown),
            "start": _time(start),
            "timeline": Markup(
                svg.timeline(
                    spans(shown, now, stale), start, now, f"{title}: health of its reports"
                )
            ),
            "chart": Markup(svg.response_chart(shown, start, now, f"{title}: response times")),
            "measured": sum(1 for sample in shown if sample.response_ms is not None),
            "down": (
                f"{documents.LABELS[ongoing[0].health]} for {length(now - ongoing[0].start)}"
                if ongoing and ongoing[0].end is None
                else ""
            ),
            "resources": [] if report is None else _resources(report),
            "reported": report is not None,
        }

    def _history(
        self, app: str, now: datetime, window: timedelta = _HISTORY
    ) -> dict[str, tuple[str, list[Sample]]]:
        """The samples of the app's reports within ``window`` (destroyed versions' too), by
        target id, each version's with its name (``deployment v2``), oldest first."""
        found: dict[str, tuple[str, list[Sample]]] = {}
        stored = self.state.reports.history(app, self.workspace, 2 * _REPORTS)
        for item in _recent(stored, now - window):
            version = found.setdefault(item.target_id, (f"{item.kind} v{item.sequence}", []))
            version[1].append(_sample(item.report))
        for _, samples in found.values():
            samples.reverse()
        return found


def _shown(row: AppStatus) -> tuple[tuple[str, datetime | None], ...]:
    """What the page's counts of an app are made from: each target's id and its latest
    report's time."""
    return tuple(
        (record.id, report.generated_time if report is not None else None)
        for _, record, report in _live(row)
    )


def _lowest(kinds: Mapping[str, float | None]) -> float | None:
    """An app's uptime from its deployments' and its releases': the lower of the two (an app
    is up at most as long as the less up of the two)."""
    return min((share for share in kinds.values() if share is not None), default=None)


def _recent(stored: Iterator[StoredReport], since: datetime) -> Iterator[StoredReport]:
    """The reports of ``stored`` (newest first) made since ``since``: read no further."""
    return itertools.takewhile(
        lambda item: item.report.generated_time is not None and item.report.generated_time >= since,
        stored,
    )


def _ended(found: list[Incident], samples: Sequence[Sample], live: bool) -> list[Incident]:
    """The incidents of a version; one that lasts in a version no longer live ended with
    that version's last report."""
    if live or not found or found[0].end is not None:
        return found
    return [attrs.evolve(found[0], end=samples[-1].at), *found[1:]]


def _pairs(row: AppStatus) -> list[tuple[TargetKind, Record | None, StatusReport | None]]:
    return [
        ("deployment", row.deployment, row.deployment_report),
        ("release", row.release, row.release_report),
    ]


def _live(row: AppStatus) -> list[tuple[TargetKind, Record, StatusReport | None]]:
    return [(kind, record, report) for kind, record, report in _pairs(row) if record is not None]


def _sample(report: StatusReport) -> Sample:
    # Stored, so finalized: both are set.
    assert report.health is not None
    assert report.generated_time is not None
    return Sample(
        report.generated_time,
        report.health,
        sanitize_line(report.health_message),
        _response_ms(report),
    )


def _response_ms(report: StatusReport) -> float | None:
    """The response time a probe measured (``response_time_ms`` in a resource's
    ``state_json``), the longest of the report's resources."""
    found: list[float] = []
    for resource in report.resources:
        if "response_time_ms" not in resource.state_json:
            continue  # not parsed: most resources say nothing of it
        value = json.loads(resource.state_json)
        measured = value.get("response_time_ms") if isinstance(value, dict) else None
        if isinstance(measured, (int, float)) and not isinstance(measured, bool):
            found.append(float(measured))
    return max(found, default=None)


def _incident(target: str, incident: Incident, now: datetime) -> dict[str, Any]:
    return {
        "id": f"incident-{target.replace(' ', '-')}-{incident.start.strftime('%Y%m%dT%H%M%S%f')}",
        "target": target,
        "start": _time(incident.start),
        "end": "ongoing" if incident.end is None else _time(incident.end),
        "length": length(incident.length(now)),
        "label": documents.LABELS[incident.health],
        "health": incident.health.name,
        "message": incident.message,
    }


def _alert(item: StoredAlert) -> dict[str, Any]:
    alert = item.alert
    if item.delivered is not None:
        delivery = f"delivered {_time(item.delivered)}"
    else:
        tried = counted(len(item.attempts), "attempt")
        last = item.attempts[-1].error if item.attempts else None
        delivery = f"not delivered yet ({tried}" + (f"; last: {last}" if last else "") + ")"
        if item.next_attempt is not None:
            delivery += f"; next attempt {_time(item.next_attempt)}"
    return {
        "raised": _time(item.raised),
        "notify": sanitize_line(alert.notify),
        "state": alert.state,
        "kind": alert.kind,
        "label": documents.LABELS[alert.health],
        "health": alert.health.name,
        "message": sanitize_line(alert.message),
        "delivery": sanitize_line(delivery),
        "delivered": item.delivered is not None,
    }


def _window(window: Maintenance) -> dict[str, str]:
    days = "every day" if len(window.every) == 7 else ", ".join(window.every)
    return {
        "name": sanitize_line(window.name),
        "when": f"{window.start} {window.timezone}, {window.duration} long, {days}",
    }


def _resources(report: StatusReport) -> list[dict[str, str]]:
    return [
        {
            "branch": branch,
            "type": sanitize_line(resource.type),
            "name": sanitize_line(resource.name),
            "platform": sanitize_line(resource.platform),
            "health": resource.health.name,
            "label": documents.LABELS[resource.health],
            "message": sanitize_line(resource.health_message),
            "created": "" if resource.created_time is None else _time(resource.created_time),
        }
        for branch, resource in documents.tree(report)
    ]


def _time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%SZ")
