"""Long history (DESIGN §14): what retention deletes is rolled up first, in its transaction, so
that time per health, checks and durations over the roll-ups and the reports still kept are
those of every report ever stored; on SQLite and on PostgreSQL."""

from __future__ import annotations

import itertools
import math
from collections import Counter
from datetime import datetime, timedelta, timezone

from helpers_postgres import query
from helpers_state import add_deployment, add_release, store_reports
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from waypoint_hooks import Health, StatusReport
from waypoint_hooks.state.columns import micros
from waypoint_hooks.state.reports import Retention
from waypoint_hooks.state.rollups import STEPS, Step, Tally, bucket, quantile, tally
from waypoint_hooks.state.store import State

T0 = datetime(2024, 5, 1, 23, 30, tzinfo=timezone.utc)
HOUR = 3600
#: Each example of a property writes to an app of its own on the test's one state.
_APPS = itertools.count()


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def report(health: Health, when: datetime) -> StatusReport:
    return StatusReport(health=health, health_message=health.name, generated_time=when)


def seconds_in(found: dict[tuple[str, int], Tally]) -> dict[str, float]:
    """Seconds in each health over every step of ``found``, by health name."""
    held = [sum(part.held[health] for part in found.values()) for health in Health]
    return {health.name: held[health] / 1e6 for health in Health if held[health]}


def whole_span(
    state: State, app: str, step: Step, until: datetime, gap: float
) -> dict[tuple[str, int], Tally]:
    """What is known of ``app`` in each ``step`` from before T0 to after ``until`` (now)."""
    start, end = whole_bounds(step, until)
    return state.rollups.span(app, "default", step, start, end, micros(until), round(gap * 1e6))


def whole_bounds(step: Step, until: datetime) -> tuple[int, int]:
    """From the step before T0's to the step after ``until``'s (microseconds)."""
    size = STEPS[step]
    return micros(T0) - micros(T0) % size - size, micros(until) + size


# --- the sketch of durations ------------------------------------------------------------------


@given(st.lists(st.floats(min_value=1e-6, max_value=600), min_size=1, max_size=200))
def test_a_percentile_of_the_sketch_is_within_5_percent_of_a_measured_duration(
    durations: list[float],
) -> None:
    sketch = Counter(bucket(round(duration * 1e6)) for duration in durations)
    ordered = sorted(round(duration * 1e6) / 1e6 for duration in durations)
    for share in (0.5, 0.95, 0.99):
        exact = ordered[max(1, math.ceil(share * len(ordered))) - 1]
        found = quantile(sketch, share)
        assert found is not None
        assert abs(found - exact) <= 0.05 * exact + 1e-6


def test_an_empty_sketch_has_no_percentile() -> None:
    assert quantile(Counter(), 0.5) is None


# --- time per health --------------------------------------------------------------------------


def test_a_report_holds_until_the_next_and_a_gap_is_no_data(state: State) -> None:
    record = add_deployment(state, "web", "default", "filepath", {})
    # READY for a minute, then READY again and nothing for an hour (a gap of 10 minutes
    # counted), then DOWN, which holds until now.
    reports = [(Health.READY, 0), (Health.READY, 60), (Health.DOWN, HOUR + 60)]
    store_reports(state, [(record, report(health, at(second))) for health, second in reports])
    now = at(HOUR + 180)
    assert seconds_in(whole_span(state, "web", "hour", now, 600)) == {"READY": 660, "DOWN": 120}
    # Rolled up (one report kept), the same.
    store_reports(state, [(record, report(Health.DOWN, now))], keep=Retention(1, 600))
    assert query(state.location, "SELECT count(*) FROM reports") == [(1,)]
    for step in STEPS:
        found = whole_span(state, "web", step, now, 600)
        assert seconds_in(found) == {"READY": 660, "DOWN": 120}
        assert sum(part.checks for part in found.values()) == 4


def test_hours_merge_into_days(state: State) -> None:
    record = add_deployment(state, "web", "default", "filepath", {})
    # Every 10 minutes for a day and a half, a duration of 10 ms to 1 s; each hour's first DOWN.
    times = range(0, 36 * HOUR, 600)
    store_reports(
        state,
        [
            (record, report(Health.DOWN if second % HOUR == 0 else Health.READY, at(second)))
            for second in times
        ],
        keep=Retention(1, 900),
        durations=[0.01 * (1 + second % 100) for second in times],
    )
    hours = query(
        state.location,
        "SELECT start, ready, down, checks, durations FROM rollups WHERE step = 'hour'",
    )
    days = query(
        state.location,
        "SELECT start, ready, down, checks, durations FROM rollups WHERE step = 'day'",
    )
    assert len(days) == 3  # 23:30 of the first day to 11:20 of the third
    for day, ready, down, checks, sketch in days:
        merged = Tally()
        for start, *columns in hours:
            if day <= start < day + STEPS["day"]:
                merged.add(Tally.of_row((0, 0, *columns[:2], 0, 0, *columns[2:])))
        assert merged.columns()[2:] == (ready, down, 0, 0, checks, sketch)
    total = sum(checks for *_, checks, _ in days)
    assert total == len(times) - 1


@st.composite
def histories(draw: st.DrawFn) -> tuple[list[tuple[Health, int, float | None]], int, list[int]]:
    """Reports of one target: each a health, its time (microseconds after T0, increasing, with
    gaps longer than the 600 s one now and then) and its duration; how many are kept; and the
    sizes of the batches they are stored in."""
    steps = draw(
        st.lists(
            st.tuples(
                st.sampled_from(Health),
                st.one_of(st.integers(1, 900 * 10**6), st.integers(1, 30 * HOUR * 10**6)),
                st.none() | st.floats(0.001, 30),
            ),
            min_size=2,
            max_size=60,
        )
    )
    moments = itertools.accumulate(delta for _, delta, _ in steps)
    points = [
        (health, moment, duration)
        for (health, _, duration), moment in zip(steps, moments, strict=True)
    ]
    keep = draw(st.integers(1, 5))
    sizes = draw(st.lists(st.integers(1, 10), min_size=1, max_size=len(points)))
    return points, keep, sizes


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(history=histories())
def test_rolled_up_and_kept_reports_hold_what_every_report_held(
    state: State, history: tuple[list[tuple[Health, int, float | None]], int, list[int]]
) -> None:
    points, keep, sizes = history
    app = f"app{next(_APPS)}"
    record = add_deployment(state, app, "default", "filepath", {})
    gap = 600.0
    now = at(points[-1][1] / 1e6 + 100)
    everything = tally(
        [
            (micros(T0) + moment, health.value, None if d is None else round(d * 1e6))
            for health, moment, d in points
        ],
        micros(now),
        round(gap * 1e6),
    )
    # Stored in batches, each followed by retention.
    rest = list(points)
    for size in itertools.cycle(sizes):
        batch, rest = rest[:size], rest[size:]
        store_reports(
            state,
            [(record, report(health, at(moment / 1e6))) for health, moment, _ in batch],
            keep=Retention(keep, gap),
            durations=[duration for *_, duration in batch],
        )
        if not rest:
            break
    kept = query(
        state.location,
        "SELECT count(*) FROM reports JOIN apps ON apps.key = reports.app WHERE apps.app = ?",
        (app,),
    )
    assert kept == [(min(keep, len(points)),)]
    for step in STEPS:
        found = whole_span(state, app, step, now, gap)
        expected = {start: part for (name, start), part in everything.items() if name == step}
        assert {start: part for (_, start), part in found.items()} == expected
    # The page's read of many apps at once: the same time in each health.
    bounds = {step: whole_bounds(step, now) for step in STEPS}
    held = state.rollups.of_apps({app: round(gap * 1e6)}, "default", bounds, micros(now))
    for step in STEPS:
        assert {
            start: part for (_, _, name, start), part in held.items() if name == step and any(part)
        } == {
            start: part.held
            for (name, start), part in everything.items()
            if name == step and any(part.held)
        }


def test_the_targets_of_one_batch_are_rolled_up_each_as_alone(state: State) -> None:
    # More targets than one statement reads the oldest reports of, deployments and releases,
    # each with a history of its own, stored together: each target's roll-ups are its own.
    deployments = [
        add_deployment(state, f"many{index}", "default", "filepath", {}) for index in range(130)
    ]
    releases = [
        add_release(state, record.app, "default", "filepath", record.id, {})
        for record in deployments[:90]
    ]
    targets = deployments + releases
    healths = list(Health)
    histories = {
        record.id: [
            (healths[(index + turn) % len(healths)], at(turn * 700 + index * 13))
            for turn in range(2 + index % 3)
        ]
        for index, record in enumerate(targets)
    }
    gap = 600.0
    for turn in range(4):
        batch = [
            (record, report(health, when))
            for record in targets
            for health, when in histories[record.id][turn : turn + 1]
        ]
        if batch:
            store_reports(state, batch, keep=Retention(1, gap))
    now = at(4 * 700 + 300 * 13)
    for record in targets[::7]:
        points = [(micros(when), health.value, None) for health, when in histories[record.id]]
        everything = tally(points, micros(now), round(gap * 1e6))
        for step in STEPS:
            found = {
                start: part
                for (kind, start), part in whole_span(state, record.app, step, now, gap).items()
                if kind == record.kind
            }
            assert found == {
                start: part for (name, start), part in everything.items() if name == step
            }
