"""Silences in the state (DESIGN §15): made, in force until they expire or are lifted (decided
by the time they are read at), and the alerts raised under them recorded, never delivered;
on both databases."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone

import pytest
from helpers_state import add_deployment, store_reports, written
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from waypoint_hooks import Health, StatusReport, finalize
from waypoint_hooks.alerts.machine import Alerting
from waypoint_hooks.config.project import Notify, Use
from waypoint_hooks.state.records import Record
from waypoint_hooks.state.store import State

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
HOUR = timedelta(hours=1)
RULES = Alerting([Notify("oncall", None, Use("pager", {}, None), send_on_resolved=True)])
_workspaces = itertools.count()


def report(health: Health, minutes: int) -> StatusReport:
    when = T0 + timedelta(minutes=minutes)
    return finalize(StatusReport(health=health, health_message=health.name), "p", now=when)


@pytest.fixture
def web(state: State) -> Record:
    return add_deployment(state, "web", "default", "filepath", {})


def test_a_silence_is_kept_with_what_it_was_made_with_and_lifted_once(state: State) -> None:
    made = written(
        state, state.silences.add, "default", "web", "release", T0, T0 + HOUR, "db", "ops@here"
    )
    assert state.silences.in_force("default", T0) == [made]
    assert (made.app, made.kind, made.comment, made.made_by) == ("web", "release", "db", "ops@here")
    assert state.silences.in_force("staging", T0) == []
    # Another workspace's silence is not this one's to lift.
    assert written(state, state.silences.lift, "staging", made.id, T0) is None
    lifted = written(state, state.silences.lift, "default", made.id, T0 + timedelta(minutes=5))
    assert lifted is not None
    assert lifted.lifted == T0 + timedelta(minutes=5)
    assert state.silences.in_force("default", T0 + timedelta(minutes=5)) == []
    assert state.silences.in_force("default", T0 + timedelta(minutes=4)) == [lifted]
    # Lifting again changes nothing: it ended when it was first lifted.
    again = written(state, state.silences.lift, "default", made.id, T0 + timedelta(minutes=9))
    assert again == lifted
    assert written(state, state.silences.lift, "default", made.id + 1, T0) is None


def test_a_silence_that_ended_is_not_lifted(state: State) -> None:
    made = written(state, state.silences.add, "default", "web", None, T0, T0 + HOUR)
    assert written(state, state.silences.lift, "default", made.id, T0 + HOUR) == made
    assert state.silences.in_force("default", T0 + HOUR) == []


offsets = st.integers(-120, 120)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=30)
@given(
    st.lists(st.tuples(offsets, st.integers(1, 120), st.one_of(st.none(), offsets)), max_size=6),
    offsets,
)
def test_a_silence_is_in_force_exactly_from_its_making_until_it_expires_or_is_lifted(
    state: State, silences: list[tuple[int, int, int | None]], read_at: int
) -> None:
    """In force at T iff created <= T < expires and not lifted at or before T."""
    workspace = f"w{next(_workspaces)}"
    minute = timedelta(minutes=1)
    expected = []
    for created, length, lift in silences:
        made = written(
            state,
            state.silences.add,
            workspace,
            "web",
            None,
            T0 + created * minute,
            T0 + (created + length) * minute,
        )
        if lift is not None:
            written(state, state.silences.lift, workspace, made.id, T0 + lift * minute)
        lifted = lift if lift is not None and created <= lift < created + length else None
        if created <= read_at < created + length and (lifted is None or read_at < lifted):
            expected.append(made.id)
    found = state.silences.in_force(workspace, T0 + read_at * minute)
    assert sorted(item.id for item in found) == sorted(expected)
    assert all(item.in_force(T0 + read_at * minute) for item in found)


# --- alerts under a silence ------------------------------------------------------------------


def test_a_firing_alert_raised_under_a_silence_is_recorded_not_sent(
    state: State, web: Record
) -> None:
    quiet = written(state, state.silences.add, "default", "web", None, T0, T0 + HOUR)
    assert store_reports(state, [(web, report(Health.DOWN, 1))], alerting=RULES) == []
    (listed,) = state.outbox.alerts("default")
    assert (listed.alert.state, listed.silenced, listed.next_attempt) == ("firing", quiet.id, None)
    # Due alerts are due from when they were raised: a minute from now, all are.
    later = datetime.now(timezone.utc) + timedelta(minutes=1)
    assert written(state, state.outbox.claim, later, 60.0) == []
    assert state.outbox.next_delivery(later) is None
    assert state.outbox.counts() == {}
    # Silenced once a trouble: still DOWN, nothing more is raised.
    assert store_reports(state, [(web, report(Health.DOWN, 2))], alerting=RULES) == []
    assert len(state.outbox.alerts("default")) == 1
    # Lifted: the next report sends the firing alert, which nothing silenced holds back.
    written(state, state.silences.lift, "default", quiet.id, T0 + timedelta(minutes=3))
    (firing,) = store_reports(state, [(web, report(Health.DOWN, 4))], alerting=RULES)
    assert (firing.state, firing.since) == ("firing", T0 + timedelta(minutes=1))
    (delivery,) = written(state, state.outbox.claim, later + timedelta(minutes=1), 60.0)
    assert delivery.alert == firing


def test_the_resolved_of_a_firing_sent_is_sent_under_a_silence(state: State, web: Record) -> None:
    store_reports(state, [(web, report(Health.DOWN, 1))], alerting=RULES)
    written(state, state.silences.add, "default", "web", "deployment", T0, T0 + HOUR)
    (resolved,) = store_reports(state, [(web, report(Health.READY, 2))], alerting=RULES)
    assert resolved.state == "resolved"
    assert [item.silenced for item in state.outbox.alerts("default")] == [None, None]


def test_an_expired_silence_silences_nothing(state: State, web: Record) -> None:
    written(state, state.silences.add, "default", "web", None, T0, T0 + timedelta(minutes=1))
    (firing,) = store_reports(state, [(web, report(Health.DOWN, 1))], alerting=RULES)
    assert firing.state == "firing"


def test_a_silence_of_one_kind_or_app_leaves_the_others_alone(state: State, web: Record) -> None:
    written(state, state.silences.add, "default", "web", "release", T0, T0 + HOUR)
    written(state, state.silences.add, "default", "db", None, T0, T0 + HOUR)
    written(state, state.silences.add, "staging", "web", None, T0, T0 + HOUR)
    (firing,) = store_reports(state, [(web, report(Health.DOWN, 1))], alerting=RULES)
    assert firing.state == "firing"
