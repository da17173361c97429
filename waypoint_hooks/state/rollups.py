"""Long history (DESIGN §14): the reports that retention deletes are first rolled up, in its
transaction, into a row per target for each hour and each UTC day they fall in, so that uptime
over a year holds while a target keeps only its newest ``keep`` reports.

**Time per health.** A report's health holds from its time until the target's next report,
for at most a gap (by default twice the default interval): longer than that, nothing was
known, and the time is no data, neither up nor down. Each report's span is counted once:
in the roll-ups once it is deleted, from the report itself while it is kept. So an hour
half rolled up and half still in reports is the sum of the two, never counted twice, as
long as both are read in one snapshot (:meth:`Rollups.span`).

**Durations.** A percentile of a day cannot be made from its hours' percentiles, so no
percentile is stored: each row keeps a sketch of its check durations, a count per
logarithmic bucket (growing by :data:`GAMMA`), which merges by adding counts. A percentile
read from it is within 5% of a duration that was measured (DDSketch's guarantee).
"""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final, Literal, final

import attrs

from ..model.health import Health
from . import queries
from .columns import BATCH
from .database import Database
from .records import Record

__all__ = [
    "DAYS_KEPT",
    "GAMMA",
    "GAP",
    "HOURS_KEPT",
    "STEPS",
    "Held",
    "Rollups",
    "Step",
    "Surplus",
    "Tally",
    "bucket",
    "hold",
    "quantile",
    "roll_up",
    "tally",
]

_SQL: Final = queries.load("rollups")

Step = Literal["hour", "day"]
_HOUR: Final = 3600 * 10**6
#: Each step's length, in microseconds (the state's unit of time); days are UTC days.
STEPS: Final[Mapping[Step, int]] = {"hour": _HOUR, "day": 24 * _HOUR}
#: The longest a report's health holds without a next report, in seconds: twice the default
#: ``interval`` (5m), for callers that do not know the app's own.
GAP: Final = 600.0
#: How long each step's roll-ups are kept, behind a target's newest rolled-up report: hours
#: for the last month (and a margin), days for the last year (and a margin).
HOURS_KEPT: Final = 35 * STEPS["day"]
DAYS_KEPT: Final = 400 * STEPS["day"]

#: The sketch's buckets grow by this factor: a bucket's middle is within
#: (GAMMA - 1) / (GAMMA + 1) < 5% of any duration in it.
GAMMA: Final = 1.1
_LOG_GAMMA: Final = math.log(GAMMA)

_HEALTHS: Final = len(Health)
_INDEX: Final = {health.name: health.value for health in Health}


def bucket(duration: int) -> int:
    """The sketch's bucket of a duration of ``duration`` microseconds."""
    return max(0, math.ceil(math.log(max(duration, 1)) / _LOG_GAMMA))


def quantile(sketch: Mapping[int, int], share: float) -> float | None:
    """The duration, in seconds, below which ``share`` of the sketch's durations fall (the
    nearest rank); ``None`` for an empty sketch."""
    count = sum(sketch.values())
    if not count:
        return None
    rank = max(1, math.ceil(share * count))
    seen = 0
    for index in sorted(sketch):
        seen += sketch[index]
        if seen >= rank:
            break
    # The bucket's middle: its bounds are GAMMA ** (index - 1) and GAMMA ** index.
    return 2 * GAMMA**index / (GAMMA + 1) / 1e6


@final
@attrs.define
class Tally:
    """What is known of one target (or app) over one step: microseconds in each health
    (indexed by :class:`Health`), how many checks were made, and their durations' sketch."""

    held: list[int] = attrs.field(factory=lambda: [0] * _HEALTHS)
    checks: int = 0
    durations: Counter[int] = attrs.field(factory=Counter)

    def add(self, other: Tally) -> None:
        self.held = [mine + theirs for mine, theirs in zip(self.held, other.held, strict=True)]
        self.checks += other.checks
        self.durations.update(other.durations)

    @classmethod
    def of_row(cls, row: Sequence[object]) -> Tally:
        """From a row's columns: the six healths, the checks, the sketch (as JSON)."""
        *held, checks, text = row
        durations = {int(index): count for index, count in json.loads(str(text)).items()}
        return cls([int(str(value)) for value in held], int(str(checks)), Counter(durations))

    def columns(self) -> tuple[object, ...]:
        # Buckets in order, so that equal sketches are equal text; written as compact JSON,
        # its keys and counts whole numbers, at a third of json.dumps' cost (a row a report
        # retention rolls up).
        durations = self.durations
        sketch = ",".join([f'"{index}":{durations[index]}' for index in sorted(durations)])
        return (*self.held, self.checks, f"{{{sketch}}}")


#: The microseconds in each health (indexed by :class:`Health`) of apps' deployments or
#: releases, by ``(app, kind, step, step start)``.
Held = dict[tuple[str, str, Step, int], list[int]]

#: A report as roll-ups see it: its time (microseconds), health (index) and duration.
Point = tuple[int, int, int | None]

#: What retention deletes of a target: its record, its key, how many of its oldest reports.
Surplus = tuple[Record, int, int]


def tally(
    points: Sequence[Point], until: int, gap: int, steps: Iterable[Step] = STEPS
) -> dict[tuple[Step, int], Tally]:
    """Roll up one target's reports (``points``, in time order) into a tally of each step
    they touch, by ``(step, start)``. Each report holds until the next one, the last until
    ``until``, and none longer than ``gap`` microseconds; a check is counted in the step of
    its time."""
    found: defaultdict[tuple[Step, int], Tally] = defaultdict(Tally)
    for step in steps:
        size = STEPS[step]
        for moment, _, duration in points:
            first = found[step, moment - moment % size]
            first.checks += 1
            if duration is not None:
                first.durations[bucket(duration)] += 1
        pairs = [(moment, health) for moment, health, _ in points]
        for start, held in hold(pairs, until, gap, size).items():
            found[step, start].held = [
                mine + theirs for mine, theirs in zip(found[step, start].held, held, strict=True)
            ]
    return dict(found)


def hold(
    points: Sequence[tuple[int, int]], until: int, gap: int, size: int
) -> dict[int, list[int]]:
    """The microseconds one target's reports (``points``: each one's time and health index,
    in time order) held each health in each step of ``size`` microseconds, by the step's
    start; as :func:`tally` counts them."""
    found: dict[int, list[int]] = {}
    last = len(points) - 1
    for index, (moment, health) in enumerate(points):
        after = points[index + 1][0] if index < last else until
        end = after if after < moment + gap else moment + gap
        while moment < end:
            start = moment - moment % size
            stop = end if end < start + size else start + size
            held = found.get(start)
            if held is None:
                held = found[start] = [0] * _HEALTHS
            held[health] += stop - moment
            moment = stop
    return found


def roll_up(tx: Database, surplus: Sequence[Surplus], gaps: Mapping[str, int]) -> None:
    """Before retention deletes the ``count`` oldest reports of each ``(record, key, count)``
    of ``surplus``, in its transaction ``tx``: add them to the target's roll-ups; a report
    holds at most ``gaps[id]`` microseconds. Then let the target's oldest roll-ups go.

    A few statements for a batch of targets, not four a target: past its keep, each report
    serve stores rolls one up."""
    if not surplus:
        return
    oldest = _oldest(tx, [(key, count) for _, key, count in surplus])
    tallies: dict[tuple[str, str], dict[tuple[Step, int], Tally]] = {}
    expired = []
    for record, key, count in surplus:
        points = oldest[key]
        tallies[record.kind, record.id] = tally(points[:count], points[count][0], gaps[record.id])
        newest = points[count - 1][0]
        expired.append((record.kind, record.id, newest - HOURS_KEPT, newest - DAYS_KEPT))
    for kind, id, step, start, *columns in _stored(tx, tallies):
        found = tallies[kind, id].get((step, start))
        if found is not None:
            found.add(Tally.of_row(columns))
    tx.executemany(
        _SQL["put"],
        [
            (record.kind, record.id, record.app, record.workspace, step, start, *found.columns())
            for record, _, _ in surplus
            for (step, start), found in sorted(tallies[record.kind, record.id].items())
        ],
    )
    tx.executemany(_SQL["expire"], expired)


#: Targets a statement of :func:`_oldest` reads: a compound of one ``SELECT`` each, within
#: SQLite's 500.
_OLDEST_BATCH: Final = 200


def _oldest(tx: Database, wanted: Sequence[tuple[int, int]]) -> dict[int, list[Point]]:
    """The surplus of each target ``(key, count)`` of ``wanted`` and the report after it
    (retention keeps at least one), in the order retention deletes them, by key."""
    read: defaultdict[int, list[tuple[int, int, int, int | None]]] = defaultdict(list)
    for index in range(0, len(wanted), _OLDEST_BATCH):
        batch = wanted[index : index + _OLDEST_BATCH]
        query = " UNION ALL ".join([_SQL["oldest"]] * len(batch))
        parameters = [value for key, count in batch for value in (key, count + 1)]
        for key, generated, id, health, duration in tx.execute(query, parameters).fetchall():
            read[key].append((generated, id, Health[health].value, duration))
    return {
        key: [(generated, health, duration) for generated, _, health, duration in sorted(rows)]
        for key, rows in read.items()
    }


def _stored(
    tx: Database, tallies: Mapping[tuple[str, str], Mapping[tuple[Step, int], Tally]]
) -> list[Any]:
    """The roll-ups stored of the targets of ``tallies`` (by kind and id) from the earliest
    start of theirs to the latest, to add to: those of starts they do not touch are read too,
    and left."""
    starts = [start for found in tallies.values() for _, start in found]
    rows: list[Any] = []
    for kind in ("deployment", "release"):
        ids = [id for of_kind, id in tallies if of_kind == kind]
        for index in range(0, len(ids), BATCH):
            batch = ids[index : index + BATCH]
            query = _SQL["rows"].format(values=", ".join(["?"] * len(batch)))
            parameters = (kind, *batch, min(starts), max(starts))
            rows += tx.execute(query, parameters).fetchall()
    return rows


@final
class Rollups:
    """The roll-ups of a state, read with the reports still kept."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def span(
        self, app: str, workspace: str, step: Step, start: int, end: int, now: int, gap: int
    ) -> dict[tuple[str, int], Tally]:
        """What is known of ``app``'s deployments and releases in each ``step`` from ``start``
        to ``end`` (microseconds, on the step's bounds), by ``(kind, step start)``: its
        roll-ups, and the spans of its reports still kept, each holding until the target's
        next report, the newest until ``now``, none longer than ``gap`` microseconds."""
        # Kept reports from a gap before (they may hold into the first step) to a gap after
        # (where the last in range ends).
        parameters = (app, workspace, start - gap, end + gap, app, workspace, step, start, end)
        with self._db.guarded() as db:
            rows = db.execute(_SQL["span"], parameters).fetchall()
        found: defaultdict[tuple[str, int], Tally] = defaultdict(Tally)
        points: defaultdict[tuple[str, str], list[Point]] = defaultdict(list)
        for kind, target_id, rolled, moment, _, health, duration, *columns in rows:
            if rolled:
                found[kind, moment].add(Tally.of_row(columns))
            else:
                points[kind, target_id].append((moment, Health[health].value, duration))
        for (kind, _), kept in points.items():
            for (_, step_start), part in tally(kept, now, gap, (step,)).items():
                if start <= step_start < end:
                    found[kind, step_start].add(part)
        return dict(found)

    def of_apps(
        self,
        gaps: Mapping[str, int],
        workspace: str,
        steps: Mapping[Step, tuple[int, int]],
        now: int,
    ) -> Held:
        """The time in each health of each app of ``gaps`` in each step from its start to its
        end in ``steps`` (microseconds, on the step's bounds), as :meth:`span` counts it, with
        neither checks nor durations: a report of an app holds at most ``gaps[app]``. A few
        statements for a thousand apps, each reading their reports' times and healths."""
        first = min(start for start, _ in steps.values()) - max(gaps.values(), default=0)
        last = max(end for _, end in steps.values()) + max(gaps.values(), default=0)
        hours, days = steps.get("hour", (0, 0)), steps.get("day", (0, 0))
        apps = sorted(gaps)
        found: Held = {}
        for index in range(0, len(apps), BATCH // 2):
            batch = apps[index : index + BATCH // 2]
            query = _SQL["of_apps"].format(values=", ".join(["?"] * len(batch)))
            parameters = (*batch, workspace, first, last, *batch, workspace, *hours, *days)
            with self._db.guarded() as db:
                rows = db.execute(query, parameters).fetchall()
            kept: defaultdict[tuple[str, str, str], list[tuple[int, int, int]]] = defaultdict(list)
            for row in rows:
                if row[3] == "kept":
                    kept[row[0], row[1], row[2]].append((row[4], row[5], _INDEX[row[6]]))
                else:
                    _add(found, (row[0], row[1], row[3], row[4]), [int(v) for v in row[7:]])
            for (app, kind, _), points in kept.items():
                points.sort()  # by time, then as stored: read as the index holds them
                pairs = [(moment, health) for moment, _, health in points]
                for start, held in hold(pairs, now, gaps[app], STEPS["hour"]).items():
                    if hours[0] <= start < hours[1]:
                        _add(found, (app, kind, "hour", start), held)
                    day = start - start % STEPS["day"]
                    if days[0] <= day < days[1]:
                        _add(found, (app, kind, "day", day), held)
        return found


def _add(found: Held, key: tuple[str, str, Step, int], held: Sequence[int]) -> None:
    mine = found.setdefault(key, [0] * _HEALTHS)
    for index, value in enumerate(held):
        mine[index] += value
