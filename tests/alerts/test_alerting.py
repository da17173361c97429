"""The alert state machine (DESIGN §15), property-tested: thresholds, alternation, reminders,
maintenance holds and dependency suppression, on any series of healths."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Literal

import attrs
from hypothesis import given
from hypothesis import strategies as st

from waypoint_hooks import Duration, Health, StatusReport, finalize
from waypoint_hooks.alerts.machine import Alerting, Checked, Key, Watch, in_maintenance, step
from waypoint_hooks.config.project import FIRING_HEALTHS, Maintenance, Notify, Use
from waypoint_hooks.model.alert import Alert, AlertState
from waypoint_hooks.state.silences import Silence

START = datetime(2024, 3, 1, tzinfo=timezone.utc)


def notify(**settings: object) -> Notify:
    return Notify("oncall", None, Use("pager", {}, None), **settings)  # type: ignore[arg-type]


notify_blocks = st.builds(
    notify,
    on=st.sets(st.sampled_from(sorted(FIRING_HEALTHS)), min_size=1).map(frozenset),
    failure_threshold=st.integers(1, 4),
    success_threshold=st.integers(1, 3),
    send_on_resolved=st.booleans(),
    remind=st.one_of(st.none(), st.integers(1, 30).map(lambda m: Duration(m * 60))),
)
healths = st.lists(st.sampled_from(list(Health)), max_size=60)
#: Minutes between two reports.
gaps = st.lists(st.integers(1, 20), min_size=60, max_size=60)


def times(minutes: Sequence[int]) -> list[datetime]:
    at, found = START, []
    for gap in minutes:
        at += timedelta(minutes=gap)
        found.append(at)
    return found


def run(
    block: Notify, series: Sequence[Health], at: Sequence[datetime]
) -> list[tuple[Watch, AlertState | None]]:
    watch, steps = Watch(), []
    for health, moment in zip(series, at, strict=False):
        watch, state = step(block, watch, health, moment)
        steps.append((watch, state))
    return steps


def raise_alerts(
    rules: Alerting, watches: Mapping[Key, Watch], items: Sequence[Checked]
) -> tuple[dict[Key, Watch], list[Alert]]:
    """The watches after ``items``, and the alerts raised (none under a silence here)."""
    changed, raised = rules.raise_alerts(watches, items)
    assert all(item.silence is None for item in raised)
    return changed, [item.alert for item in raised]


def sent(steps: Sequence[tuple[Watch, AlertState | None]]) -> list[AlertState]:
    return [state for _, state in steps if state is not None]


# --- thresholds, alternation, reminders ------------------------------------------------------


@given(notify_blocks, healths, gaps)
def test_a_flapping_series_that_never_reaches_the_failure_threshold_never_fires(
    block: Notify, series: list[Health], minutes: list[int]
) -> None:
    run_of_failures = longest = 0
    for health in series:
        run_of_failures = run_of_failures + 1 if health in block.on else 0
        longest = max(longest, run_of_failures)
    steps = run(block, series, times(minutes))
    assert ("firing" in sent(steps)) == (longest >= block.failure_threshold)


@given(notify_blocks, healths, gaps)
def test_firing_and_resolved_strictly_alternate_starting_with_firing(
    block: Notify, series: list[Health], minutes: list[int]
) -> None:
    told = [state for state in sent(run(block, series, times(minutes))) if state != "reminder"]
    if block.send_on_resolved:
        assert told == ["firing", "resolved"] * (len(told) // 2) + ["firing"] * (len(told) % 2)
    else:
        assert set(told) <= {"firing"}


@given(notify_blocks, healths, gaps)
def test_a_firing_alert_is_resolved_only_after_success_threshold_ready_reports(
    block: Notify, series: list[Health], minutes: list[int]
) -> None:
    steps = run(block, series, times(minutes))
    for index, (watch, _) in enumerate(steps):
        was_firing = index > 0 and steps[index - 1][0].firing
        if was_firing and not watch.firing:
            recent = series[index + 1 - block.success_threshold : index + 1]
            assert recent == [Health.READY] * block.success_threshold


@given(notify_blocks, healths, gaps)
def test_reminders_come_only_while_firing_and_no_sooner_than_remind(
    block: Notify, series: list[Health], minutes: list[int]
) -> None:
    at = times(minutes)
    last_told: datetime | None = None
    for (watch, state), moment in zip(run(block, series, at), at, strict=False):
        if state == "reminder":
            assert block.remind is not None
            assert watch.firing
            assert last_told is not None
            assert moment - last_told >= timedelta(seconds=block.remind)
        if state in ("firing", "reminder"):
            last_told = moment
        elif state == "resolved" or not watch.firing:
            last_told = None


holds = st.lists(st.tuples(st.booleans(), st.booleans()), min_size=60, max_size=60)


@given(notify_blocks, healths, gaps, holds)
def test_a_resolved_follows_every_firing_told_whatever_holds_or_suppresses_it(
    block: Notify, series: list[Health], minutes: list[int], flags: list[tuple[bool, bool]]
) -> None:
    """Maintenance windows and firing dependencies hold what is new, never the resolved of
    what a person was told fired (Alertmanager #226)."""
    watch, told = Watch(), []
    for health, at, (held, suppressed) in zip(series, times(minutes), flags, strict=False):
        watch, state = step(block, watch, health, at, held=held, suppressed=suppressed)
        assert not watch.announced or watch.firing
        if state in ("firing", "resolved"):
            told.append(state)
    if block.send_on_resolved:
        assert told == ["firing", "resolved"] * (len(told) // 2) + ["firing"] * (len(told) % 2)


@given(notify_blocks, healths, gaps)
def test_previous_health_is_the_health_last_told_or_ready(
    block: Notify, series: list[Health], minutes: list[int]
) -> None:
    """Not the report before: the health before the trouble began (READY, or what was told
    before) for a firing alert; the health told, for a reminder and a resolved one."""
    rules = Alerting([block])
    watches: dict[Key, Watch] = {}
    last_told = Health.READY
    for health, at in zip(series, times(minutes), strict=False):
        changed, alerts = raise_alerts(rules, watches, [checked("web", health, at)])
        watches.update(changed)
        for alert in alerts:
            assert alert.previous_health is last_told
            last_told = Health.READY if alert.state == "resolved" else alert.health
        if not alerts and not changed[("web", "deployment", "web-1", "oncall")].announced:
            last_told = Health.READY


def test_a_version_younger_than_its_start_grace_raises_nothing() -> None:
    """It may still be starting (Argo CD #6287): what it reports in its grace is followed, and
    told once the grace is over if it still holds."""
    rules = Alerting([notify(start_grace=Duration("2m"))])
    watches: dict[Key, Watch] = {}
    told = []
    for minutes in (1, 2, 3):
        at = START + timedelta(minutes=minutes, seconds=-1)
        changed, alerts = raise_alerts(rules, watches, [checked("web", Health.DOWN, at)])
        watches.update(changed)
        told.append([(alert.state, alert.since) for alert in alerts])
    assert told == [[], [], [("firing", START + timedelta(seconds=59))]]


def test_since_is_the_first_failure_of_the_run_that_fired() -> None:
    block = notify(failure_threshold=2)
    at = times([1] * 5)
    steps = run(block, [Health.DOWN, Health.READY, Health.DOWN, Health.MISSING, Health.DOWN], at)
    assert sent(steps) == ["firing"]
    assert steps[3][0].since == at[2]


# --- maintenance -----------------------------------------------------------------------------


def window(**settings: object) -> Maintenance:
    values: dict[str, object] = {"start": "02:00", "duration": Duration("1h"), **settings}
    return Maintenance("nightly", None, **values)  # type: ignore[arg-type]


def test_a_window_holds_from_its_start_for_its_duration_on_its_days() -> None:
    sunday = window(every=("sun",), start="23:30", duration=Duration("1h"))
    # 2024-03-03 is a Sunday: the window runs into Monday.
    inside = [datetime(2024, 3, 3, 23, 30), datetime(2024, 3, 4, 0, 29, 59)]
    outside = [
        datetime(2024, 3, 3, 23, 29),
        datetime(2024, 3, 4, 0, 30),
        datetime(2024, 3, 2, 23, 45),
    ]
    for moment in inside:
        assert in_maintenance([sunday], "web", moment.replace(tzinfo=timezone.utc))
    for moment in outside:
        assert not in_maintenance([sunday], "web", moment.replace(tzinfo=timezone.utc))


def test_a_window_starts_at_its_local_time_across_daylight_saving() -> None:
    paris = window(timezone="Europe/Paris")
    # 02:00 in Paris is 01:00 UTC in winter, 00:00 UTC in summer.
    assert in_maintenance([paris], "web", datetime(2024, 1, 15, 1, 30, tzinfo=timezone.utc))
    assert not in_maintenance([paris], "web", datetime(2024, 1, 15, 0, 30, tzinfo=timezone.utc))
    assert in_maintenance([paris], "web", datetime(2024, 7, 15, 0, 30, tzinfo=timezone.utc))
    assert not in_maintenance([paris], "web", datetime(2024, 7, 15, 1, 30, tzinfo=timezone.utc))


def test_a_window_holds_only_its_apps() -> None:
    web_only = window(apps=("web",))
    at = datetime(2024, 3, 3, 2, 30, tzinfo=timezone.utc)
    assert in_maintenance([web_only], "web", at)
    assert not in_maintenance([web_only], "db", at)


def report(health: Health, at: datetime) -> StatusReport:
    return finalize(StatusReport(health=health, health_message=health.name), "p", now=at)


def checked(app: str, health: Health, at: datetime) -> Checked:
    return Checked(app, "default", "deployment", f"{app}-1", report(health, at), START)


windows = st.builds(
    window,
    start=st.sampled_from(["00:00", "00:30", "01:15", "02:00"]),
    duration=st.sampled_from([Duration("15m"), Duration("45m"), Duration("2h")]),
)


@given(notify_blocks, healths, gaps, windows)
def test_nothing_new_is_told_inside_a_window_and_what_fires_is_sent_after_it(
    block: Notify, series: list[Health], minutes: list[int], held: Maintenance
) -> None:
    rules = Alerting([block], [held])
    watches: dict[Key, Watch] = {}
    for health, at in zip(series, times(minutes), strict=False):
        changed, alerts = raise_alerts(rules, watches, [checked("web", health, at)])
        watches.update(changed)
        (watch,) = changed.values()
        # What was told fired is told resolved at once, inside a window too.
        assert not watch.announced or watch.firing
        if in_maintenance([held], "web", at):
            assert {alert.state for alert in alerts} <= {"resolved"}
        else:
            # Outside, a person knows what holds: what fired during the window is sent now.
            assert watch.announced == watch.firing


# --- dependencies ----------------------------------------------------------------------------


@given(
    notify_blocks,
    st.lists(st.tuples(st.sampled_from(list(Health)), st.sampled_from(list(Health))), max_size=60),
)
def test_a_dependent_never_fires_while_its_dependency_fires(
    block: Notify, rounds: list[tuple[Health, Health]]
) -> None:
    rules = Alerting([block], depends_on={"web": ["db"], "db": []})
    watches: dict[Key, Watch] = {}
    for at, (web, db) in zip(times([1] * len(rounds)), rounds, strict=True):
        # The dependent's report first: the machine takes dependencies first anyway.
        changed, alerts = raise_alerts(
            rules, watches, [checked("web", web, at), checked("db", db, at)]
        )
        watches.update(changed)
        db_fires = watches[("db", "deployment", "db-1", "oncall")].firing
        web_watch = watches[("web", "deployment", "web-1", "oncall")]
        if db_fires:
            assert [a.state for a in alerts if a.app == "web"] in ([], ["resolved"])
        else:
            # Once the dependency is quiet, what still fires is sent.
            assert web_watch.announced == web_watch.firing


def test_an_alert_says_what_happened_since_when_and_about_what() -> None:
    rules = Alerting([notify(send_on_resolved=True)])
    at = times([1, 1])
    _, (fired,) = raise_alerts(rules, {}, [checked("web", Health.DOWN, at[0])])
    assert (fired.state, fired.notify, fired.app, fired.kind) == (
        "firing",
        "oncall",
        "web",
        "deployment",
    )
    assert fired.message == "web deployment is DOWN: DOWN"
    assert fired.since == at[0]
    watches = {("web", "deployment", "web-1", "oncall"): Watch(1, 0, True, True, at[0], at[0])}
    _, (resolved,) = raise_alerts(rules, watches, [checked("web", Health.READY, at[1])])
    assert (resolved.state, resolved.message, resolved.since) == (
        "resolved",
        "web deployment is READY again: READY",
        at[0],
    )


# --- silences --------------------------------------------------------------------------------

silenced_flags = st.lists(st.booleans(), min_size=60, max_size=60)


@given(notify_blocks, healths, gaps, holds, silenced_flags)
def test_under_a_silence_only_a_resolved_is_sent_and_it_follows_every_firing_sent(
    block: Notify,
    series: list[Health],
    minutes: list[int],
    flags: list[tuple[bool, bool]],
    silences: list[bool],
) -> None:
    """A silenced firing alert or reminder is raised (to be seen) but not sent: the trouble
    is not announced, so once nothing holds or silences it, it is sent. A resolved of a
    firing sent is sent under a silence too (Alertmanager #226), and only of one sent."""
    watch, told = Watch(), []
    # A silenced firing alert was raised for the trouble of now, which was not told since.
    hushed = False
    steps = zip(series, times(minutes), flags, silences, strict=False)
    for health, at, (held, suppressed), silenced in steps:
        before = watch
        watch, state = step(
            block, watch, health, at, held=held, suppressed=suppressed, silenced=silenced
        )
        if silenced and state in ("firing", "reminder"):
            assert watch.announced == (state == "reminder")
            assert watch.told == before.told  # nothing was told
            if state == "firing":
                assert not hushed  # once a trouble
                hushed = True
        elif state in ("firing", "resolved"):
            told.append(state)
        if not (held or suppressed or silenced):
            assert watch.announced == watch.firing
        if watch.announced or not watch.firing:
            hushed = False
    if block.send_on_resolved:
        assert told == ["firing", "resolved"] * (len(told) // 2) + ["firing"] * (len(told) % 2)
    else:
        assert set(told) <= {"firing"}


def silence(kind: Literal["deployment", "release"] | None = None) -> Silence:
    return Silence(1, "default", "web", kind, START, START + timedelta(minutes=60))


def test_a_silence_covers_its_app_and_kind_from_its_making_until_it_ends() -> None:
    every_kind, releases = silence(), silence(kind="release")
    inside, ending = START + timedelta(minutes=1), START + timedelta(minutes=60)
    assert every_kind.covers("default", "web", "deployment", START)
    assert every_kind.covers("default", "web", "release", inside)
    assert not every_kind.covers("default", "web", "deployment", ending)
    assert not every_kind.covers("default", "web", "deployment", START - timedelta(seconds=1))
    assert not every_kind.covers("staging", "web", "deployment", inside)
    assert not every_kind.covers("default", "db", "deployment", inside)
    assert not releases.covers("default", "web", "deployment", inside)
    lifted = attrs.evolve(every_kind, lifted=inside)
    assert lifted.ends == inside
    assert not lifted.covers("default", "web", "deployment", inside)


def test_silenced_alerts_name_their_silence_and_the_resolved_of_a_sent_firing_is_sent() -> None:
    rules = Alerting([notify(send_on_resolved=True, remind=Duration("1m"))])
    quiet = silence()
    at = times([1, 1, 1, 1])
    # Told it fires before the silence was made; silenced since.
    watches = {("web", "deployment", "web-1", "oncall"): Watch(1, 0, True, True, START, START)}
    raised = []
    series = [Health.DOWN, Health.DOWN, Health.READY, Health.DOWN]
    for moment, health in zip(at, series, strict=True):
        changed, alerts = rules.raise_alerts(watches, [checked("web", health, moment)], [quiet])
        watches.update(changed)
        raised += [(item.alert.state, item.silence) for item in alerts]
    assert raised == [
        ("reminder", quiet),
        ("reminder", quiet),
        ("resolved", None),
        ("firing", quiet),
    ]
