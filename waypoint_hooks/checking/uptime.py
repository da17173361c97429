"""Uptime over weeks and years (DESIGN §14, long history): an app's time in each health per hour
or day, from its roll-ups and the reports it still keeps, as ``GET /api/apps/{app}/uptime``
and ``history APP --csv`` give it.

A range is read strictly: ``step`` is ``hour`` or ``day``; ``from`` and ``to`` are ISO 8601
(a date, or a date and time; without an offset, UTC) or a time before now (``90d``, ``12h``,
``30m``); both are widened to the step's bounds (UTC), ``to`` is at most the end of the
current step, and a range is at most :data:`MOST_STEPS` steps.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import IO, Any, Final, final

import attrs

from ..config.project import App
from ..model.health import Health
from ..model.wire import format_time
from ..state.columns import micros, time
from ..state.rollups import STEPS, Step, Tally, quantile
from ..state.store import State
from .checker import gap

__all__ = [
    "CSV_COLUMNS",
    "MOST_STEPS",
    "Span",
    "UptimeRow",
    "Windows",
    "read_span",
    "uptime_csv",
    "uptime_json",
    "uptime_rows",
    "window_uptimes",
]

#: The most steps one range asks for (400 days of hours).
MOST_STEPS: Final = 9_600
#: How far back a range goes without ``from``: a day of hours, a month of days.
_DEFAULT_BACK: Final[Mapping[Step, timedelta]] = {
    "hour": timedelta(days=1),
    "day": timedelta(days=30),
}
_AGO: Final = re.compile(r"([0-9]{1,6})([mhd])")
_UNITS: Final = {"m": "minutes", "h": "hours", "d": "days"}
#: The check-duration percentiles given of each step.
PERCENTILES: Final = (("p50", 0.5), ("p95", 0.95), ("p99", 0.99))


@final
@attrs.frozen
class Span:
    """A range of whole steps: from ``start`` (included) to ``end`` (excluded), UTC."""

    step: Step
    start: datetime
    end: datetime


def _moment(name: str, text: str, now: datetime) -> datetime:
    ago = _AGO.fullmatch(text)
    if text == "now":
        return now
    try:
        if ago:
            return now - timedelta(**{_UNITS[ago[2]]: int(ago[1])})
        # isascii: fromisoformat takes other digits than 0-9.
        moment = datetime.fromisoformat(text) if text.isascii() else None
    except (ValueError, OverflowError):  # OverflowError: before the year 1
        moment = None
    if moment is None:
        raise ValueError(
            f"{name} must be an ISO 8601 date or time (2024-05-01, 2024-05-01T12:00:00Z), "
            f"now, or a time ago such as 90d, 12h or 30m; got {text!r}"
        )
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment


def read_span(step: str | None, start: str | None, end: str | None, now: datetime) -> Span:
    """The range that ``step``, ``from`` (``start``) and ``to`` (``end``) ask for, each
    ``None`` when not given; :class:`ValueError`, saying what is wrong, for a bad one."""
    if step not in (None, "hour", "day"):
        raise ValueError(f"step must be hour or day; got {step!r}")
    unit: Step = "hour" if step == "hour" else "day"
    last = _moment("to", end, now) if end is not None else now
    first = _moment("from", start, now) if start is not None else last - _DEFAULT_BACK[unit]
    span = _covering(unit, first, last, now)
    if span.end <= span.start:
        raise ValueError(f"from must be before to; got from {start!r} and to {end!r}")
    if (micros(span.end) - micros(span.start)) // STEPS[unit] > MOST_STEPS:
        raise ValueError(f"a range is at most {MOST_STEPS} steps of one {unit}; ask for less")
    return span


def _covering(step: Step, first: datetime, last: datetime, now: datetime) -> Span:
    """Whole steps: from the start of ``first``'s, to the end of ``last``'s (not past the
    current step)."""
    size = STEPS[step]
    low = micros(first) - micros(first) % size
    high = min(micros(last), micros(now))
    high = high - high % size + (size if high % size else 0)
    return Span(step, time(low), time(high))


@final
@attrs.frozen
class UptimeRow:
    """What is known of an app's deployments or releases (``kind``) over one step."""

    kind: str
    start: datetime
    end: datetime
    #: Seconds in each health, by name.
    seconds: Mapping[str, float]
    #: Seconds without data (no report, or one older than the gap), up to now.
    no_data: float
    checks: int
    #: Check durations' percentiles (seconds) by name; ``None`` where none was measured.
    durations: Mapping[str, float | None]

    @property
    def uptime(self) -> float | None:
        """The share of the time with data that was READY; ``None`` without data."""
        known = sum(self.seconds.values())
        return self.seconds["READY"] / known if known else None


def uptime_rows(
    state: State, app: App, workspace: str, span: Span, now: datetime
) -> list[UptimeRow]:
    """``app``'s uptime in each step of ``span``: of each kind it has data of in it, every
    step, oldest first."""
    size = STEPS[span.step]
    start, end, moment = micros(span.start), micros(span.end), micros(now)
    found = state.rollups.span(
        app.name, workspace, span.step, start, end, moment, round(gap(app) * 1e6)
    )
    rows = []
    for kind in sorted({kind for kind, _ in found}):
        for step_start in range(start, end, size):
            tally = found.get((kind, step_start), Tally())
            seconds = {health.name: tally.held[health] / 1e6 for health in Health}
            length = min(step_start + size, moment) - step_start
            rows.append(
                UptimeRow(
                    kind,
                    time(step_start),
                    time(step_start + size),
                    seconds,
                    max(0, length - sum(tally.held)) / 1e6,
                    tally.checks,
                    {name: quantile(tally.durations, share) for name, share in PERCENTILES},
                )
            )
    return rows


@final
@attrs.frozen
class Windows:
    """What :func:`window_uptimes` knows of one app: its uptime of each kind it has data of
    over each window, and, where a window is counted in hours, its time in each health in
    each of those hours (both kinds added up), by the hour's start."""

    shares: list[dict[str, float | None]]
    hours: dict[datetime, list[int]]


def window_uptimes(
    state: State,
    gaps: Mapping[str, float],
    workspace: str,
    windows: Sequence[timedelta],
    now: datetime,
) -> dict[str, Windows]:
    """For each app of ``gaps`` and each of ``windows`` (a time before ``now``), the app's
    uptime of each kind it has data of then: the share of the known time that was READY over
    the whole steps covering the window, hours for a window of a day or less and days for a
    longer one, exactly as the rows of :func:`uptime_rows` from the window's start to ``now``
    add up. One read of the roll-ups and the kept reports of a few hundred apps at a time,
    over the longest window of each step; a report of an app holds at most ``gaps[app]``
    seconds."""
    covering = [
        _covering("hour" if window <= _DEFAULT_BACK["hour"] else "day", now - window, now, now)
        for window in windows
    ]
    widest: dict[Step, tuple[int, int]] = {}
    for span in covering:
        if span.step not in widest or micros(span.start) < widest[span.step][0]:
            widest[span.step] = (micros(span.start), micros(span.end))
    found = state.rollups.of_apps(
        {app: round(gap * 1e6) for app, gap in gaps.items()}, workspace, widest, micros(now)
    )
    by_app: dict[str, list[tuple[str, Step, int, list[int]]]] = {app: [] for app in gaps}
    for (app, kind, step, start), held in found.items():
        by_app[app].append((kind, step, start, held))
    return {app: _windows(parts, covering) for app, parts in by_app.items()}


def _windows(parts: list[tuple[str, Step, int, list[int]]], covering: list[Span]) -> Windows:
    shares = []
    for span in covering:
        totals: dict[str, list[int]] = {}
        for kind, step, start, held in parts:
            if step == span.step and start >= micros(span.start):
                _add(totals.setdefault(kind, [0] * len(held)), held)
        shares.append({kind: _ready_share(held) for kind, held in sorted(totals.items())})
    hours: dict[datetime, list[int]] = {}
    for _, step, start, held in parts:
        if step == "hour":
            _add(hours.setdefault(time(start), [0] * len(held)), held)
    return Windows(shares, hours)


def _add(total: list[int], held: Sequence[int]) -> None:
    for index, value in enumerate(held):
        total[index] += value


def _ready_share(held: Sequence[int]) -> float | None:
    known = sum(held)
    return held[Health.READY.value] / known if known else None


def uptime_json(
    project: str, workspace: str, app: App, span: Span, rows: Sequence[UptimeRow]
) -> dict[str, Any]:
    """``GET /api/apps/{app}/uptime``: the range, the gap, and a row for each step."""
    return {
        "project": project,
        "workspace": workspace,
        "app": app.name,
        "step": span.step,
        "from": format_time(span.start),
        "to": format_time(span.end),
        "gap_seconds": gap(app),
        "rows": [
            {
                "kind": row.kind,
                "start": format_time(row.start),
                "end": format_time(row.end),
                "uptime": row.uptime,
                "checks": row.checks,
                "seconds": dict(row.seconds),
                "no_data_seconds": row.no_data,
                "duration_seconds": dict(row.durations),
            }
            for row in rows
        ],
    }


#: The columns of ``history APP --csv``, in order.
CSV_COLUMNS: Final = (
    "kind",
    "start",
    "end",
    "uptime",
    "checks",
    *(f"{health.name.lower()}_seconds" for health in Health),
    "no_data_seconds",
    *(f"duration_{name}_seconds" for name, _ in PERCENTILES),
)


def uptime_csv(rows: Iterable[UptimeRow], out: IO[str]) -> None:
    """Write ``rows`` as CSV with a header (:data:`CSV_COLUMNS`); a value not known (an
    uptime without data, a percentile without durations) is empty."""
    import csv  # only here: every status check imports this module (its gap)

    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        values: list[object] = [
            row.kind,
            format_time(row.start),
            format_time(row.end),
            row.uptime,
            row.checks,
            *(row.seconds[health.name] for health in Health),
            row.no_data,
            *(row.durations[name] for name, _ in PERCENTILES),
        ]
        writer.writerow(["" if value is None else value for value in values])
