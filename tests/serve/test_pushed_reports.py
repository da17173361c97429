"""Reports from outside and the heartbeat (DESIGN §20), without a server: what a pushed report
becomes before it is stored, and which targets the heartbeat finds overdue, on a real state
(SQLite and PostgreSQL). ``test_pushed_serve.py`` asks a real ``serve`` the same."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from helpers_state import add_deployment, store_reports
from hypothesis import given
from hypothesis import strategies as st
from report_strategies import reports

from waypoint_hooks import Health, Resource, StatusReport
from waypoint_hooks.checking.checker import Checker
from waypoint_hooks.checking.pushed import accept, overdue
from waypoint_hooks.config.document import load_config
from waypoint_hooks.config.project import Project
from waypoint_hooks.errors import ReportRefusedError
from waypoint_hooks.host import PluginManager
from waypoint_hooks.state.records import Record
from waypoint_hooks.state.store import State

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=timezone.utc)


def _project(root: Path, status: str) -> Project:
    config = root / "waypoint.hcl"
    config.write_text(
        f'project = "p"\n\napp "web" {{\n  status {{\n    {status}\n  }}\n'
        '  deploy {\n    use "wh_served" {}\n  }\n}\n',
        encoding="utf-8",
    )
    return load_config(config)


@pytest.fixture
def checker(tmp_path: Path, state: State) -> Checker:
    return Checker(_project(tmp_path, 'heartbeat = "5m"'), state, PluginManager())


def _deployed(checker: Checker) -> Record:
    return add_deployment(checker.state, "web", "default", "wh_served", {})


def _at(checker: Checker, record: Record, when: datetime, **fields: object) -> None:
    report = StatusReport(health=Health.READY, generated_time=when, **fields)  # type: ignore[arg-type]
    store_reports(checker.state, [(record, report)])


def _overdue(checker: Checker, when: datetime) -> list[tuple[str, str]]:
    missing = overdue(checker, checker.project.apps.values(), when)
    return [(record.id, report.health_message) for record, report in missing]


def test_the_heartbeat_finds_a_target_no_report_reached_within_it_once(
    checker: Checker,
) -> None:
    record = _deployed(checker)
    _at(checker, record, T0)
    assert _overdue(checker, T0 + timedelta(minutes=4, seconds=59)) == []
    late = T0 + timedelta(minutes=5)
    assert _overdue(checker, late) == [(record.id, "no report for 5m")]
    (missing,) = overdue(checker, checker.project.apps.values(), late)
    store_reports(checker.state, [missing])
    assert missing[1].health is Health.MISSING
    assert missing[1].generated_time == late
    # Once: its own report is not a report that came.
    assert _overdue(checker, late + timedelta(hours=3)) == []
    # A report that came (a pushed one too) sets it going again.
    _at(checker, record, late + timedelta(minutes=1), external=True)
    assert _overdue(checker, late + timedelta(minutes=5, seconds=59)) == []
    assert _overdue(checker, late + timedelta(minutes=6)) == [(record.id, "no report for 5m")]


def test_a_target_never_reported_on_is_overdue_a_heartbeat_after_it_was_made(
    checker: Checker,
) -> None:
    record = _deployed(checker)
    assert _overdue(checker, record.created) == []
    due = record.created + timedelta(minutes=5)
    assert _overdue(checker, due) == [(record.id, "no report for 5m")]


def test_an_app_without_a_heartbeat_is_never_overdue(tmp_path: Path, state: State) -> None:
    checker = Checker(_project(tmp_path, 'interval = "1m"'), state, PluginManager())
    _deployed(checker)
    assert _overdue(checker, datetime.now(timezone.utc) + timedelta(days=400)) == []


# --- what a pushed report becomes --------------------------------------------------------------


@given(report=reports(), ahead=st.integers(min_value=-(10**6), max_value=10**6))
def test_a_pushed_report_is_stored_external_finalized_and_never_from_the_future(
    tmp_path_factory: pytest.TempPathFactory, report: StatusReport, ahead: int
) -> None:
    root = tmp_path_factory.mktemp("p")
    app = _project(root, 'heartbeat = "5m"').apps["web"]
    record = Record("deployment", "d1", "web", "default", "acme", 1, {}, T0, None, None)
    if report.generated_time is not None:
        report.generated_time = T0 + timedelta(seconds=ahead)
    accepted = accept(app, record, report, T0)
    assert accepted.external is True
    assert accepted.health is not None
    assert accepted.generated_time is not None
    assert accepted.generated_time <= T0
    assert all(resource.platform for resource in accepted.resources)


def test_a_pushed_report_is_finalized_as_a_plugins_is(tmp_path: Path) -> None:
    app = _project(tmp_path, 'heartbeat = "5m"').apps["web"]
    record = Record("deployment", "d1", "web", "default", "acme", 1, {}, T0, None, None)
    pushed = StatusReport(
        resources=[
            Resource(name="a", health=Health.READY),
            Resource(name="b", health=Health.DOWN, platform="k8s"),
        ],
        health_message="see https://user:pw@example.test/x?token=abc",
    )
    accepted = accept(app, record, pushed, T0)
    assert accepted.health is Health.PARTIAL  # the app's policy (waypoint) decides
    assert [resource.platform for resource in accepted.resources] == ["acme", "k8s"]
    assert accepted.generated_time == T0
    assert "pw" not in accepted.health_message
    assert "abc" not in accepted.health_message


def test_a_pushed_report_over_a_limit_is_refused_naming_it(tmp_path: Path) -> None:
    app = _project(tmp_path, "max_resources = 2\n    max_state_json_bytes = 1024").apps["web"]
    record = Record("deployment", "d1", "web", "default", "acme", 1, {}, T0, None, None)
    many = StatusReport(resources=[Resource(name=str(n)) for n in range(3)])
    with pytest.raises(ReportRefusedError, match=r"3 resources.*max_resources.*'web'"):
        accept(app, record, many, T0)
    big = StatusReport(resources=[Resource(name="a", state_json='"' + "x" * 2000 + '"')])
    with pytest.raises(ReportRefusedError, match=r"resources\[0\]\.state_json.*max_state_json"):
        accept(app, record, big, T0)
    # Messages are cut, not refused (DESIGN §13).
    long = StatusReport(health=Health.READY, health_message="x" * 20_000)
    assert accept(app, record, long, T0).health_message.endswith("…")


# --- how many pushes an app takes --------------------------------------------------------------


def test_the_push_bucket_takes_a_burst_then_its_rate_and_says_how_long_to_wait() -> None:
    from waypoint_hooks.serve.web import _Bucket

    now = [0.0]
    bucket = _Bucket(3, 2.0, clock=lambda: now[0])
    assert [bucket.take("web") for _ in range(3)] == [None, None, None]
    assert bucket.take("web") == pytest.approx(0.5)
    assert bucket.take("db") is None  # each app its own
    now[0] = 0.25
    assert bucket.take("web") == pytest.approx(0.25)
    now[0] = 0.5
    assert bucket.take("web") is None


@given(steps=st.lists(st.floats(min_value=0, max_value=5), max_size=200))
def test_the_push_bucket_never_takes_more_than_its_burst_and_rate_allow(
    steps: list[float],
) -> None:
    from waypoint_hooks.serve.web import _Bucket

    now = [0.0]
    bucket = _Bucket(10, 1.0, clock=lambda: now[0])
    taken = 0
    for step in steps:
        now[0] += step
        taken += bucket.take("web") is None
        assert taken <= 10 + now[0] * 1.0 + 1e-9
