"""The outbox in the state (DESIGN §15): alerts written in the transaction of their report,
claimed for delivery by one command at a time, taken over from a command that died, and every
attempt recorded; on both databases."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from helpers_postgres import query
from helpers_state import add_deployment, store_reports, written

from waypoint_hooks import Health, StatusReport, finalize
from waypoint_hooks.alerts.machine import Alerting
from waypoint_hooks.config.project import Notify, Use
from waypoint_hooks.state.records import Record
from waypoint_hooks.state.store import State

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
LEASE = 60.0
#: Rules that fire on the first report that is not READY, and resolve on the first READY one.
RULES = Alerting([Notify("oncall", None, Use("pager", {}, None), send_on_resolved=True)])


def report(health: Health, seconds: int = 0) -> StatusReport:
    when = T0 + timedelta(seconds=seconds)
    return finalize(StatusReport(health=health, health_message=health.name), "p", now=when)


@pytest.fixture
def web(state: State) -> Record:
    return add_deployment(state, "web", "default", "filepath", {})


def raise_one(state: State, web: Record) -> datetime:
    """Raise a firing alert; a time when its first attempt is due."""
    (alert,) = store_reports(state, [(web, report(Health.DOWN))], alerting=RULES)
    assert alert.state == "firing"
    return datetime.now(timezone.utc) + timedelta(minutes=1)


def test_the_alerts_a_report_raises_are_stored_with_it(state: State, web: Record) -> None:
    alerts = store_reports(
        state,
        [
            (web, report(Health.DOWN, 1)),
            (web, report(Health.DOWN, 2)),
            (web, report(Health.READY, 3)),
        ],
        alerting=RULES,
    )
    assert [(a.state, a.previous_health) for a in alerts] == [
        ("firing", Health.READY),
        ("resolved", Health.DOWN),
    ]
    stored = state.outbox.alerts("default")
    assert [item.alert for item in stored] == alerts[::-1]
    assert [item.delivered for item in stored] == [None, None]
    assert state.outbox.alerts("staging") == []
    assert state.outbox.counts() == {("oncall", "firing"): 1, ("oncall", "resolved"): 1}


def test_a_report_that_cannot_be_stored_raises_no_alert(
    state: State, web: Record, tmp_path: Path, location: Path | str
) -> None:
    with State.open(tmp_path / "other.db") as other:
        stranger = add_deployment(other, "api", "default", "filepath", {})
    with pytest.raises(ValueError, match="a report's target is not in"):
        store_reports(
            state, [(web, report(Health.DOWN)), (stranger, report(Health.DOWN))], alerting=RULES
        )
    assert query(location, "SELECT count(*) FROM alerts") == [(0,)]
    assert query(location, "SELECT count(*) FROM watches") == [(0,)]


def test_a_report_of_a_target_destroyed_meanwhile_raises_no_alert(
    state: State, web: Record
) -> None:
    written(state, state.records.mark_destroyed, "deployment", web.id)
    assert store_reports(state, [(web, report(Health.DOWN))], alerting=RULES) == []
    assert state.outbox.alerts("default") == []


def test_the_watch_is_kept_between_reports(state: State, web: Record) -> None:
    raise_one(state, web)
    assert store_reports(state, [(web, report(Health.DOWN, 1))], alerting=RULES) == []
    (resolved,) = store_reports(state, [(web, report(Health.READY, 2))], alerting=RULES)
    assert (resolved.state, resolved.since) == ("resolved", T0)


def test_a_claimed_alert_is_left_to_its_command_until_its_lease_ends(
    state: State, web: Record
) -> None:
    now = raise_one(state, web)
    (delivery,) = written(state, state.outbox.claim, now, LEASE)
    assert delivery.attempts == 0
    assert written(state, state.outbox.claim, now + timedelta(seconds=LEASE - 1), LEASE) == []
    assert state.outbox.next_delivery(now) == now + timedelta(seconds=LEASE)
    (again,) = written(state, state.outbox.claim, now + timedelta(seconds=LEASE), LEASE)
    assert again.id == delivery.id


def test_the_claim_of_a_command_that_is_gone_is_taken_over_at_once(
    state: State, web: Record, location: Path | str
) -> None:
    now = raise_one(state, web)
    written(state, state.outbox.claim, now, LEASE)
    # As a killed command leaves it: claimed by a process that no longer runs.
    query(location, "UPDATE alerts SET claimed = ':999999999:1'")
    assert len(written(state, state.outbox.claim, now, LEASE)) == 1


def test_a_delivered_alert_is_not_claimed_again(state: State, web: Record) -> None:
    now = raise_one(state, web)
    (delivery,) = written(state, state.outbox.claim, now, LEASE)
    written(state, state.outbox.record_attempt, delivery, now, now + timedelta(seconds=1))
    assert written(state, state.outbox.claim, now + timedelta(days=1), LEASE) == []
    assert state.outbox.next_delivery(now) is None
    (stored,) = state.outbox.alerts("default")
    assert stored.delivered == now + timedelta(seconds=1)
    assert stored.next_attempt is None
    assert [(a.number, a.error) for a in stored.attempts] == [(1, None)]


def test_a_failed_attempt_is_recorded_and_the_alert_claimed_again_when_its_retry_is_due(
    state: State, web: Record
) -> None:
    now = raise_one(state, web)
    retry = now + timedelta(seconds=5)
    (delivery,) = written(state, state.outbox.claim, now, LEASE)
    written(state, state.outbox.record_attempt, delivery, now, now, "the receiver is down", retry)
    assert state.outbox.next_delivery(now) == retry
    assert written(state, state.outbox.claim, retry - timedelta(microseconds=1), LEASE) == []
    (second,) = written(state, state.outbox.claim, retry, LEASE)
    assert second.attempts == 1
    written(state, state.outbox.record_attempt, second, retry, retry)
    (stored,) = state.outbox.alerts("default")
    assert [(a.number, a.error) for a in stored.attempts] == [
        (1, "the receiver is down"),
        (2, None),
    ]
    assert stored.delivered == retry


def test_the_alerts_of_a_target_are_delivered_in_the_order_they_were_raised(
    state: State, web: Record
) -> None:
    """A later alert waits while an earlier one of the same target and notify block waits for
    its retry: a receiver back from an outage never gets the resolved before the firing."""
    now = raise_one(state, web)
    retry = now + timedelta(minutes=10)
    (firing,) = written(state, state.outbox.claim, now, LEASE)
    written(state, state.outbox.record_attempt, firing, now, now, "the receiver is down", retry)
    (resolved,) = store_reports(state, [(web, report(Health.READY, 1))], alerting=RULES)
    assert resolved.state == "resolved"
    assert written(state, state.outbox.claim, now, LEASE) == []
    assert state.outbox.next_delivery(now) == retry  # not the waiting one's: no busy loop
    (again,) = written(state, state.outbox.claim, retry, LEASE)
    assert again.alert.state == "firing"
    written(state, state.outbox.record_attempt, again, retry, retry)
    (then,) = written(state, state.outbox.claim, retry, LEASE)
    assert then.alert.state == "resolved"


def test_two_alerts_of_one_target_due_at_once_are_claimed_one_after_the_other(
    state: State, web: Record
) -> None:
    now = raise_one(state, web)
    store_reports(state, [(web, report(Health.READY, 1))], alerting=RULES)
    (first,) = written(state, state.outbox.claim, now, LEASE)
    assert first.alert.state == "firing"
    written(state, state.outbox.record_attempt, first, now, now)
    (second,) = written(state, state.outbox.claim, now, LEASE)
    assert second.alert.state == "resolved"


def test_alerts_are_listed_newest_first_up_to_a_limit(state: State, web: Record) -> None:
    healths = [Health.DOWN, Health.READY, Health.DOWN, Health.READY]
    for second, health in enumerate(healths):
        store_reports(state, [(web, report(health, second))], alerting=RULES)
    assert [item.alert.state for item in state.outbox.alerts("default", limit=3)] == [
        "resolved",
        "firing",
        "resolved",
    ]
