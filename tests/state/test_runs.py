"""Runs (issue 31): a report equal to its target's previous one but for its time stores no text
of its own, and every reader still gets back each report as it was given, with its own time;
retention keeps the newest of each target whole; on SQLite and on PostgreSQL."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone

from helpers_postgres import query
from helpers_state import add_deployment, add_release, store_reports
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from waypoint_hooks import Health, Resource, StatusReport
from waypoint_hooks.state.records import Record
from waypoint_hooks.state.reports import Retention
from waypoint_hooks.state.store import State

T0 = datetime(2024, 5, 1, tzinfo=timezone.utc)
#: Each example of a property writes to an app of its own on the test's one state.
_APPS = itertools.count()


def report(seconds: float, health: Health = Health.READY, message: str = "ok") -> StatusReport:
    return StatusReport(
        resources=[Resource("web", health=health, state_json='{"port": 80}')],
        health=health,
        health_message=message,
        generated_time=T0 + timedelta(seconds=seconds),
    )


def test_a_report_equal_but_for_its_time_stores_no_text(state: State) -> None:
    record = add_deployment(state, "web", "default", "filepath", {})
    store_reports(state, [(record, report(0))])
    store_reports(state, [(record, report(s)) for s in (60, 120)], durations=[0.1, 0.2])
    store_reports(state, [(record, report(180, Health.DOWN))])
    rows = query(state.location, "SELECT report, body FROM reports ORDER BY id")
    (body,) = {body for _, body in rows[:3]}
    # The first gave its text up to the run's body; the fourth differs, and keeps its own.
    assert [text for text, _ in rows[:3]] == ["", "", ""]
    assert body is not None
    assert rows[3][0] != ""
    assert rows[3][1] is None
    assert query(state.location, "SELECT count(*) FROM bodies") == [(1,)]
    assert [stored.report for stored in state.reports.history("web", "default")] == [
        report(s, health)
        for s, health in (
            (180, Health.DOWN),
            (120, Health.READY),
            (60, Health.READY),
            (0, Health.READY),
        )
    ]


def test_the_runs_that_one_batch_begins_each_get_a_body_of_their_own(state: State) -> None:
    records = [
        add_deployment(state, f"web{index}", "default", "filepath", {}) for index in range(3)
    ]
    # Equal texts of three targets: one run each, begun by a row stored before (the first
    # two) or by a row of the same batch (the third).
    store_reports(state, [(records[0], report(0)), (records[1], report(0))])
    store_reports(state, [(record, report(60)) for record in records] + [(records[2], report(90))])
    rows = query(
        state.location,
        "SELECT target, report, body FROM reports ORDER BY target, generated",
    )
    bodies = {target: {body for of, _, body in rows if of == target} for target, _, _ in rows}
    assert [text for _, text, _ in rows] == [""] * 6
    assert all(len(each) == 1 and None not in each for each in bodies.values())
    assert len(set.union(*bodies.values())) == 3
    assert query(state.location, "SELECT count(*) FROM bodies") == [(3,)]
    assert state.reports.last_reports(records) == {
        records[0].id: report(60),
        records[1].id: report(60),
        records[2].id: report(90),
    }


def test_retention_keeps_a_run_whole_and_lets_its_body_go_with_its_last_report(
    state: State,
) -> None:
    record = add_deployment(state, "web", "default", "filepath", {})
    # The first of the run, which holds the body's text no more, is deleted first.
    store_reports(state, [(record, report(s)) for s in range(5)], keep=2)
    assert [stored.report for stored in state.reports.history("web", "default")] == [
        report(4),
        report(3),
    ]
    assert state.reports.last_report("deployment", record.id) == report(4)
    assert query(state.location, "SELECT count(*) FROM bodies") == [(1,)]
    store_reports(state, [(record, report(9, Health.DOWN))], keep=1)
    assert state.reports.last_reports([record]) == {record.id: report(9, Health.DOWN)}
    assert query(state.location, "SELECT count(*) FROM bodies") == [(0,)]


Step = tuple[int, int, int, int]  # target, moment (s), variant, location


@st.composite
def runs(draw: st.DrawFn) -> tuple[list[Step], list[int], int | None]:
    """Reports of two targets of one app, mostly equal but for their time: each a target, a
    time (repeated and out of order now and then), one of a few contents, and a location;
    the sizes of the batches they are stored in; how many each target keeps (None: all)."""
    steps = draw(
        st.lists(
            st.tuples(
                st.integers(0, 1),
                st.integers(0, 40),
                st.sampled_from([0, 0, 0, 1, 2]),
                st.integers(0, 1),
            ),
            min_size=1,
            max_size=40,
        )
    )
    sizes = draw(st.lists(st.integers(1, 8), min_size=1, max_size=len(steps)))
    return steps, sizes, draw(st.none() | st.integers(1, 6))


_VARIANTS = (
    (Health.READY, "ok"),
    (Health.DOWN, "refused"),
    (Health.READY, "slow"),
)
_LOCATIONS = ("", "eu")


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(history=runs())
def test_every_reader_gets_back_the_reports_given_and_retention_keeps_the_newest(
    state: State, history: tuple[list[Step], list[int], int | None]
) -> None:
    steps, sizes, keep = history
    app = f"app{next(_APPS)}"
    deployment = add_deployment(state, app, "default", "filepath", {})
    targets = (deployment, add_release(state, app, "default", "filepath", deployment.id, {}))
    # Each report with its place in the order they were stored: ties in time go by it.
    given: list[tuple[int, Record, StatusReport, str]] = []
    rest = list(steps)
    for size in itertools.cycle(sizes):
        batch, rest = rest[:size], rest[size:]
        # A batch is made from one location (a command's, or a serve instance's).
        location = _LOCATIONS[batch[0][3]]
        pairs = [
            (targets[t], report(moment, *_VARIANTS[variant])) for t, moment, variant, _ in batch
        ]
        store_reports(
            state, pairs, keep=None if keep is None else Retention(keep), location=location
        )
        given.extend((len(given), record, made, location) for record, made in pairs)
        if not rest:
            break

    def newest_first(of: Record | None = None) -> list[tuple[int, Record, StatusReport, str]]:
        chosen = [item for item in given if of is None or item[1].id == of.id]
        ordered = sorted(chosen, key=lambda item: (item[2].generated_time, item[0]), reverse=True)
        return ordered if keep is None else ordered[:keep]

    kept = sorted(
        (item for record in targets for item in newest_first(record)),
        key=lambda item: (item[2].generated_time, item[0]),
        reverse=True,
    )
    found = [
        (stored.target_id, stored.report, stored.location)
        for stored in state.reports.history(app, "default")
    ]
    assert found == [(record.id, made, location) for _, record, made, location in kept]
    assert state.reports.last_reports(list(targets)) == {
        record.id: newest_first(record)[0][2] for record in targets if newest_first(record)
    }
    latest = state.reports.latest_by_location(
        [(record.kind, record.id) for record in targets], _LOCATIONS
    )
    expected = {}
    for _, record, made, location in reversed(kept):
        expected[record.kind, record.id, location] = made
    assert latest == expected
    for record in targets:
        assert state.reports.healths(app, "default", record.kind, 100) == [
            (made.generated_time, made.health) for _, of, made, _ in kept if of.id == record.id
        ]
    since = [T0, T0 + timedelta(seconds=20)]
    assert state.reports.ready_counts(app, "default", since) == [
        (
            sum(made.health is Health.READY for made in after),
            len(after),
        )
        for start in since
        for after in [[made for _, _, made, _ in kept if made.generated_time >= start]]
    ]
    # No body is left that no report refers to.
    assert query(
        state.location,
        "SELECT count(*) FROM bodies WHERE NOT EXISTS "
        "(SELECT 1 FROM reports WHERE reports.body = bodies.id)",
    ) == [(0,)]
