"""B12: the status page of a thousand apps with a week of history (DESIGN §14, issue 25).

Each app's deployment is given 7 days of reports at a 5-minute interval, written through the
state's API with an explicit time for each (a day per transaction, with the default
retention, so the older reports are rolled up). First ``Page.render`` of the overview on the
state itself: the first render (nothing kept) and the later ones, against one ``SELECT`` of
every report's time and health (the least a first render reads). Then a real ``serve``, once
its first round of checks is over and it has drawn the page once, answers ``GET /`` (the
overview), an app's page and ``GET /api/status``, in turn, ``REQUESTS`` times each; the
baseline of their p50 and p99 is ``GET /healthz``'s, asked of the same process in the same
loop: what any request costs there (the HTTP server, the event loop, the access check), so the
ratio is what the page adds. The baseline of the bytes is ``/api/status``: the same apps as a
JSON document. Three serve sessions on the same state; each row is their median, with their
range in its label.
"""

from __future__ import annotations

import contextlib
import json
import random
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

from waypoint_hooks import Health, StatusReport, finalize
from waypoint_hooks.alerts.pipeline import store_reports
from waypoint_hooks.checking.checker import AppStatus
from waypoint_hooks.config.project import DEFAULT_KEEP
from waypoint_hooks.serve.page import Page
from waypoint_hooks.state.reports import Retention
from waypoint_hooks.state.store import State, default_state_path

from ._measure import Row, sized
from ._serving import filepath_project, get, serving, until
from .serve import _p99
from .startup import _launcher

APPS = sized(1000, 3)
DAYS = sized(7, 1)
INTERVAL = 300
#: Requests of each path in one session, and the sessions.
REQUESTS = sized(40, 3)
SESSIONS = sized(3, 1)
#: How long the first round of checks and the first page may take (seconds): a thousand apps
#: on a loaded machine.
WARM_UP = 900.0


def _history(config: Path, now: datetime) -> int:
    """Write ``DAYS`` of reports of every app, ending at ``now``; how many were written."""
    chance = random.Random(12)
    written = 0
    with State.open(default_state_path(config)) as state:
        records = list(
            state.records.latest_of([f"app{i}" for i in range(APPS)], "default").values()
        )
        start = now - timedelta(days=DAYS)
        for day in range(DAYS):
            moments = [start + timedelta(days=day, seconds=s) for s in range(0, 86400, INTERVAL)]
            batch = [
                (
                    record,
                    finalize(
                        StatusReport(
                            health=Health.DOWN if chance.random() < 0.01 else Health.READY,
                            health_message="ok",
                            generated_time=moment,
                        ),
                        "filepath",
                    ),
                )
                for record in records
                for moment in moments
            ]
            store_reports(state, batch, keep=Retention(DEFAULT_KEEP, 2 * INTERVAL))
            written += len(batch)
    return written


def _timed(url: str) -> tuple[float, int]:
    began = time.perf_counter()
    body = get(url)
    return time.perf_counter() - began, len(body)


def _checked(url: str, since: datetime) -> bool:
    """Whether every app has a report made since ``since``: serve's first round is over."""
    apps = json.loads(get(url + "api/status", timeout=WARM_UP))["apps"]
    return all(
        app["deployment"]["report"] is not None
        and datetime.fromisoformat(app["deployment"]["report"]["generated_time"]) >= since
        for app in apps
    )


def _session(config: Path, paths: list[str]) -> dict[str, tuple[list[float], int]]:
    """Each path's latencies and its response's bytes, asked in turn ``REQUESTS`` times once
    serve's first round of checks is over and the page has been drawn once (what a reader
    who keeps the page open sees, not a service starting)."""
    command = [*_launcher(), "-c", str(config), "serve", "--port", "0"]
    began = datetime.now(timezone.utc)
    with serving(command) as (_, url):
        until(lambda: _checked(url, began), "the first round of checks")
        get(url, timeout=WARM_UP)
        times: dict[str, list[float]] = {path: [] for path in paths}
        sizes: dict[str, int] = {}
        for _ in range(REQUESTS):
            for path in paths:
                seconds, sizes[path] = _timed(url + path)
                times[path].append(seconds)
    return {path: (times[path], sizes[path]) for path in paths}


def _median(values: list[float], unit: Callable[[float], str]) -> tuple[float, str]:
    return statistics.median(values), f"{unit(min(values))}-{unit(max(values))}"


def _in_process(config: Path, now: datetime) -> list[Row]:
    """``Page.render`` of the overview on the state itself: the first (a new page, nothing
    kept) and the later ones (a second later each, nothing changed), against a read of each
    kept report's time and health, the least the first render must read."""
    with State.open(default_state_path(config)) as state:
        latest = state.records.latest_of([f"app{i}" for i in range(APPS)], "default")
        reports = state.reports.last_reports(list(latest.values()))
        rows = [
            (AppStatus(app, deployment=record, deployment_report=reports.get(record.id)), 300.0)
            for (app, _), record in latest.items()
        ]

        def render(page: Page, moment: datetime) -> float:
            began = time.perf_counter()
            page.render("bench", rows, refresh=5.0, now=moment)
            return time.perf_counter() - began

        def read() -> float:
            began = time.perf_counter()
            with contextlib.closing(sqlite3.connect(default_state_path(config))) as db:
                db.execute("SELECT generated, health FROM reports").fetchall()
            return time.perf_counter() - began

        first, later, baseline = [], [], []
        for _ in range(SESSIONS):
            page = Page(state, "default")
            first.append(render(page, now))
            later.extend(render(page, now + timedelta(seconds=k)) for k in range(1, REQUESTS))
            baseline.append(read())
    load = f"{APPS} apps, {DAYS} d"
    read_s, read_range = _median(baseline, lambda v: f"{v:.2f}")
    first_s, first_range = _median(first, lambda v: f"{v:.2f}")
    return [
        Row(
            "B12 first",
            f"Page.render first ({load}; {SESSIONS} runs {first_range} s)",
            first_s,
            f"SELECT of every report's time and health ({read_range} s)",
            read_s,
            None,
        ),
        Row(
            "B12 later",
            f"Page.render later, p50 ({load}; p99 {_p99(later):.2f} s)",
            statistics.median(later),
            "the same SELECT",
            read_s,
            None,
        ),
    ]


def b12_page() -> list[Row]:
    paths = ["", "apps/app1", "api/status", "healthz"]
    with tempfile.TemporaryDirectory() as directory:
        config = filepath_project(Path(directory), APPS, INTERVAL)
        now = datetime.now(timezone.utc)
        written = _history(config, now)
        rows = _in_process(config, now)
        sessions = [_session(config, paths) for _ in range(SESSIONS)]
    load = f"{APPS} apps, {written // APPS} reports each over {DAYS} d, keep {DEFAULT_KEEP}"
    healthz = [seconds for session in sessions for seconds in session["healthz"][0]]
    for path, name in (
        ("", "GET /"),
        ("apps/app1", "GET /apps/app1"),
        ("api/status", "GET /api/status"),
    ):
        asked = [session[path][0] for session in sessions]
        for label, figure in (("p50", statistics.median), ("p99", _p99)):
            value, spread = _median([figure(times) for times in asked], lambda v: f"{v * 1e3:.0f}")
            rows.append(
                Row(
                    f"B12 {label}",
                    f"{name} {label} ({load}; {SESSIONS} runs {spread} ms)",
                    value,
                    f"GET /healthz {label}",
                    figure(healthz),
                    None,
                )
            )
    status_bytes = sessions[0]["api/status"][1]
    for path, name in (("", "GET /"), ("apps/app1", "GET /apps/app1")):
        rows.append(
            Row(
                "B12 bytes",
                f"{name} bytes",
                sessions[0][path][1],
                "/api/status bytes",
                status_bytes,
                None,
            )
        )
    return rows


BENCHMARKS = (b12_page,)
