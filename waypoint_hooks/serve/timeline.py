"""What a target's stored reports say over time (DESIGN §14, "the page people keep open"):
the spans of time each health held, with the gaps where nothing was known, which the
timelines draw; and incidents, each non-READY period. Uptime, a share of that time, is read
from roll-ups and kept reports alike (:func:`~waypoint_hooks.checking.uptime.window_uptimes`).

A report stands for its target's health from the moment it was made until the next report,
but no longer than ``stale`` (two of the app's intervals): past that, nothing is known, and
that gap is shown and left out of uptime rather than counted as up or down, as the roll-ups
do.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Final, final

import attrs

from ..model.health import Health

__all__ = [
    "Incident",
    "Sample",
    "Span",
    "hourly",
    "incidents",
    "moved",
    "spans",
    "stale_after",
    "worst",
]

#: How many intervals a report stands for before its target's health is unknown: one check
#: late (a slow check, the scheduler's jitter) is not yet a gap.
STALE_INTERVALS: Final = 2
_HOUR: Final = timedelta(hours=1)
#: The order in which healths are worse, for an app whose targets disagree.
_WORST_FIRST: Final = (
    Health.DOWN,
    Health.MISSING,
    Health.PARTIAL,
    Health.UNKNOWN,
    Health.ALIVE,
    Health.READY,
)


def stale_after(interval: float) -> timedelta:
    """How long a report of a target checked every ``interval`` seconds stands for."""
    return timedelta(seconds=STALE_INTERVALS * interval)


@final
@attrs.frozen
class Sample:
    """One stored report, as the page reads it: when it was made, its health, its message
    and the response time a probe measured (milliseconds), if any."""

    at: datetime
    health: Health
    message: str = ""
    response_ms: float | None = None


@final
@attrs.frozen
class Span:
    """A period during which one health held; ``None`` when nothing was known."""

    start: datetime
    end: datetime
    health: Health | None

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()


@final
@attrs.frozen
class Incident:
    """A period when a target was not READY: from its first report that was not, until the
    next READY one (``end`` ``None`` while it lasts); ``message`` is that first report's."""

    start: datetime
    end: datetime | None
    health: Health
    message: str

    def length(self, now: datetime) -> timedelta:
        return (self.end or now) - self.start


def spans(samples: Sequence[Sample], until: datetime, stale: timedelta) -> list[Span]:
    """The spans of ``samples`` (oldest first) up to ``until``: each report's health until the
    next report or for ``stale`` at most, a gap after that; neighbours of one health joined."""
    found: list[Span] = []
    for index, sample in enumerate(samples):
        following = samples[index + 1].at if index + 1 < len(samples) else until
        following = min(following, until)
        end = min(following, sample.at + stale)
        _append(found, Span(sample.at, end, sample.health))
        _append(found, Span(end, following, None))
    return found


def _append(found: list[Span], span: Span) -> None:
    if span.end <= span.start:
        return
    if found and found[-1].health is span.health and found[-1].end == span.start:
        found[-1] = Span(found[-1].start, span.end, span.health)
    else:
        found.append(span)


def hourly(hours: Mapping[datetime, Sequence[int]], start: datetime, end: datetime) -> list[Span]:
    """The spans of an app's last hours from its time in each health in each (by the hour's
    start, indexed by :class:`Health`) from ``start`` to ``end``: each hour in the worst health
    it held at all, a gap in an hour it held none; neighbours of one health joined. A bar
    drawn from roll-ups, a few parts for a day, where :func:`spans` has one for each change."""
    found: list[Span] = []
    moment = start.replace(minute=0, second=0, microsecond=0)  # in UTC, hours are whole
    while moment < end:
        held = hours.get(moment, ())
        health = worst([Health(index) for index, value in enumerate(held) if value > 0])
        _append(found, Span(max(moment, start), min(moment + _HOUR, end), health))
        moment += _HOUR
    return found


def moved(found: Sequence[Span], start: datetime, end: datetime) -> list[Span]:
    """Spans drawn earlier, from ``start`` to ``end`` now: those before ``start`` left out or
    cut, the last one lasting until ``end`` (the latest report still stands, or its gap
    goes on)."""
    shown = [span for span in found if span.end > start]
    if not shown:
        return []
    shown[0] = Span(max(shown[0].start, start), shown[0].end, shown[0].health)
    shown[-1] = Span(shown[-1].start, max(shown[-1].end, end), shown[-1].health)
    return shown


def worst(healths: Sequence[Health]) -> Health | None:
    """The worst of ``healths``; ``None`` for none."""
    return min(healths, key=_WORST_FIRST.index) if healths else None


def incidents(samples: Sequence[Sample]) -> list[Incident]:
    """The incidents of ``samples`` (oldest first), newest first. A gap within an incident
    does not end it: no report is no sign of recovery."""
    found: list[Incident] = []
    opened: Sample | None = None
    for sample in samples:
        if sample.health is not Health.READY and opened is None:
            opened = sample
        elif sample.health is Health.READY and opened is not None:
            found.append(Incident(opened.at, sample.at, opened.health, opened.message))
            opened = None
    if opened is not None:
        found.append(Incident(opened.at, None, opened.health, opened.message))
    found.reverse()
    return found
