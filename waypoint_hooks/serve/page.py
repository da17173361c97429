"""The status page of the service: the status table, each app's uptime, health timeline,
resource trees and silences in force, rendered with Jinja2 from ``status_page/``.

Every text from a plugin or a platform is escaped by Jinja2's autoescaping (and stripped of
control characters, as the terminal's are); the page runs no inline script, which the
service's Content-Security-Policy forbids anyway.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any, Final, final

import jinja2

from ..checking import documents
from ..checking.checker import AppStatus
from ..model.report import StatusReport
from ..plugins.components import TargetKind
from ..state.records import Record
from ..state.store import State
from ..terminal import sanitize_line

__all__ = ["REFRESH", "UPTIME_WINDOWS", "Page", "refresh_after"]

#: The windows uptime is computed over, with their labels.
UPTIME_WINDOWS: Final = (
    ("24 h", timedelta(days=1)),
    ("7 d", timedelta(days=7)),
    ("30 d", timedelta(days=30)),
)
#: How many of the latest reports of each target the timeline shows.
TIMELINE: Final = 30
#: How long the page waits before it fetches itself again, at least and at most (seconds).
REFRESH: Final = (1.0, 10.0)


def refresh_after(intervals: Iterable[float]) -> float:
    """How long the page waits before it fetches itself again: the shortest of the apps'
    ``intervals``, within :data:`REFRESH`."""
    return max(min([*intervals, REFRESH[1]]), REFRESH[0])


@final
class Page:
    """Renders the status page of a project's apps from their status and stored reports."""

    def __init__(self, state: State, workspace: str) -> None:
        self.state = state
        self.workspace = workspace
        self._template = jinja2.Environment(
            loader=jinja2.PackageLoader("waypoint_hooks.serve", "status_page"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        ).get_template("status.html")

    def render(
        self,
        project: str,
        rows: Sequence[AppStatus],
        *,
        refresh: float,
        config_error: str | None = None,
        now: datetime | None = None,
    ) -> str:
        """The page of ``rows``; it fetches itself again every ``refresh`` seconds."""
        now = now or datetime.now(timezone.utc)
        silenced: dict[str, list[str]] = {}
        for silence in self.state.silences.in_force(self.workspace, now):
            silenced.setdefault(silence.app, []).append(documents.silence_note(silence, now))
        return self._template.render(
            project=project,
            workspace=self.workspace,
            apps=[{**self._app(row, now), "silences": silenced.get(row.app, [])} for row in rows],
            refresh=refresh,
            config_error=config_error,
            generated=now.strftime("%Y-%m-%d %H:%M:%SZ"),
            windows=[label for label, _ in UPTIME_WINDOWS],
        )

    def _app(self, row: AppStatus, now: datetime) -> dict[str, Any]:
        pairs: tuple[tuple[TargetKind, Record | None, StatusReport | None], ...] = (
            ("deployment", row.deployment, row.deployment_report),
            ("release", row.release, row.release_report),
        )
        targets = [(kind, record, report) for kind, record, report in pairs if record is not None]
        counts = self.state.reports.ready_counts(
            row.app, self.workspace, [now - window for _, window in UPTIME_WINDOWS]
        )
        return {
            "name": row.app,
            "cells": [
                _cell(row.deployment, row.deployment_report, now),
                _cell(row.release, row.release_report, now),
            ],
            "notes": list(documents.notes(row, self.workspace)),
            "uptime": [_percent(ready, total) for ready, total in counts],
            "targets": [self._target(kind, record, report) for kind, record, report in targets],
        }

    def _target(
        self, kind: TargetKind, record: Record, report: StatusReport | None
    ) -> dict[str, Any]:
        healths = self.state.reports.healths(record.app, self.workspace, kind, TIMELINE)
        return {
            "title": sanitize_line(f"{kind} v{record.sequence} ({record.plugin})"),
            "timeline": [
                {"health": health.name, "title": f"{health.name} at {_time(when)}"}
                for when, health in reversed(healths)
            ],
            "resources": [] if report is None else _resources(report),
            "reported": report is not None,
        }


def _cell(record: Record | None, report: StatusReport | None, now: datetime) -> dict[str, Any]:
    health = None if report is None else report.health
    return {
        "version": "" if record is None else f"v{record.sequence}",
        "label": "-" if health is None else documents.LABELS[health],
        "health": "NONE" if health is None else health.name,
        "checked": "-" if report is None else documents.humanize_age(report.generated_time, now),
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


def _percent(ready: int, total: int) -> str:
    # Two decimals: 99.99% and 100% are not the same promise.
    return "-" if total == 0 else f"{100 * ready / total:.2f}%".replace(".00%", "%")


def _time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%SZ")
