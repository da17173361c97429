"""Uptime as a share of time, gaps and incidents (waypoint_hooks.serve.timeline), over any
run of reports."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from waypoint_hooks import Health
from waypoint_hooks.serve.page import percent
from waypoint_hooks.serve.timeline import Sample, Span, hourly, incidents, moved, spans

T0 = datetime(2024, 5, 1, tzinfo=timezone.utc)
STALE = timedelta(seconds=120)
healths = st.sampled_from(list(Health))
runs = st.lists(st.tuples(st.integers(1, 600), healths), max_size=30)


def _ready_share(found: list[Span]) -> float | None:
    """The share of the known time of ``found`` that was READY (gaps left out)."""
    known = sum(span.seconds for span in found if span.health is not None)
    ready = sum(span.seconds for span in found if span.health is Health.READY)
    return ready / known if known else None


def _samples(run: list[tuple[int, Health]]) -> list[Sample]:
    found, at = [], T0
    for step, health in run:
        at += timedelta(seconds=step)
        found.append(Sample(at, health))
    return found


@given(runs)
def test_spans_cover_the_time_from_the_first_report_without_overlap(
    run: list[tuple[int, Health]],
) -> None:
    samples = _samples(run)
    until = (samples[-1].at if samples else T0) + timedelta(seconds=300)
    found = spans(samples, until, STALE)
    if samples:
        assert found[0].start == samples[0].at
        assert found[-1].end == until
    for before, after in itertools.pairwise(found):
        assert before.end == after.start
        assert before.health is not after.health
    # Every report stands for some time: nothing READY is 0%, all READY 100%.
    share = _ready_share(found)
    if not samples:
        assert share is None
    else:
        assert share is not None
        assert 0 <= share <= 1
        assert (share == 0) == all(s.health is not Health.READY for s in samples)
        assert (share == 1) == all(s.health is Health.READY for s in samples)


@given(runs)
def test_an_incident_for_each_run_of_reports_not_ready(run: list[tuple[int, Health]]) -> None:
    samples = _samples(run)
    starts = [
        sample.at
        for index, sample in enumerate(samples)
        if sample.health is not Health.READY
        and (index == 0 or samples[index - 1].health is Health.READY)
    ]
    found = incidents(samples)
    assert [incident.start for incident in reversed(found)] == starts
    assert all(incident.end is not None for incident in found[1:])


def test_uptime_is_a_share_of_time_with_gaps_left_out() -> None:
    # READY for 60 s, DOWN for 120 s (a report stands for two minutes at most), then nothing
    # until the next hour's report, then READY for 120 s.
    at = [
        T0,
        T0 + timedelta(seconds=60),
        T0 + timedelta(hours=1),
        T0 + timedelta(hours=1, seconds=60),
    ]
    samples = [
        Sample(at[0], Health.READY),
        Sample(at[1], Health.DOWN),
        Sample(at[2], Health.READY),
        Sample(at[3], Health.READY),
    ]
    found = spans(samples, at[3] + timedelta(seconds=60), STALE)
    assert [span.health for span in found] == [Health.READY, Health.DOWN, None, Health.READY]
    assert _ready_share(found) == 180 / 300
    assert percent(180 / 300) == "60.00%"
    assert percent(3 / 4) == "75.00%"
    assert percent(0.99999) == "99.99%"
    assert percent(None) == "-"


def test_the_overview_draws_each_hour_in_the_worst_health_it_held() -> None:
    hour = timedelta(hours=1)
    start = T0.replace(minute=0) + timedelta(minutes=30)
    ready, down = [0, 0, 60, 0, 0, 0], [0, 0, 50, 10, 0, 0]
    hours = {start - timedelta(minutes=30): ready, start + timedelta(minutes=30): down}
    hours[start + timedelta(minutes=90)] = ready
    found = hourly(hours, start, start + 3 * hour)
    assert [(span.health, span.start - start, span.end - start) for span in found] == [
        (Health.READY, timedelta(0), hour / 2),
        (Health.DOWN, hour / 2, 3 * hour / 2),
        (Health.READY, 3 * hour / 2, 5 * hour / 2),
        (None, 5 * hour / 2, 3 * hour),
    ]
    later = moved(found, start + hour, start + 4 * hour)
    assert [(span.health, span.start - start, span.end - start) for span in later] == [
        (Health.DOWN, hour, 3 * hour / 2),
        (Health.READY, 3 * hour / 2, 5 * hour / 2),
        (None, 5 * hour / 2, 4 * hour),
    ]
    assert moved(found, start + 4 * hour, start + 5 * hour) == []
