"""B12: the status page of a thousand apps with a week of history (DESIGN §14, issue 25).

Each app's deployment is given 7 days of reports at a 5-minute interval, written through the
state's API with an explicit time for each (a day per transaction, with the default
retention, so the older reports are rolled up); then a real ``serve`` answers ``GET /`` (the
overview), an app's page and ``GET /api/status``. The baseline of the latency is
``GET /healthz`` asked of the same process in the same loop: what any request costs there (the
HTTP server, the event loop, the access check), so the ratio is what the page adds. The
baseline of the bytes is ``/api/status``: the same apps as a JSON document. Three serve
sessions on the same state; each row is their median, with their range in its label.
"""

from __future__ import annotations

import random
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

from waypoint_hooks import Health, StatusReport, finalize
from waypoint_hooks.alerts.pipeline import store_reports
from waypoint_hooks.config.project import DEFAULT_KEEP
from waypoint_hooks.state.reports import Retention
from waypoint_hooks.state.store import State, default_state_path

from ._measure import Row
from ._serving import filepath_project, get, serving
from .serve import _p99
from .startup import _launcher

APPS = 1000
DAYS = 7
INTERVAL = 300
#: Requests of each path in one session, and the sessions.
REQUESTS = 40
SESSIONS = 3


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


def _session(config: Path, paths: list[str]) -> dict[str, tuple[float, int]]:
    """Each path's p99 latency and its response's bytes, asked in turn ``REQUESTS`` times."""
    command = [*_launcher(), "-c", str(config), "serve", "--port", "0"]
    with serving(command) as (_, url):
        get(url)  # the first round of checks is under way: not what is measured
        times: dict[str, list[float]] = {path: [] for path in paths}
        sizes: dict[str, int] = {}
        for _ in range(REQUESTS):
            for path in paths:
                seconds, sizes[path] = _timed(url + path)
                times[path].append(seconds)
    return {path: (_p99(times[path]), sizes[path]) for path in paths}


def _median(values: list[float], unit: Callable[[float], str]) -> tuple[float, str]:
    return statistics.median(values), f"{unit(min(values))}-{unit(max(values))}"


def b12_page() -> list[Row]:
    paths = ["", "apps/app1", "api/status", "healthz"]
    with tempfile.TemporaryDirectory() as directory:
        config = filepath_project(Path(directory), APPS, INTERVAL)
        written = _history(config, datetime.now(timezone.utc))
        sessions = [_session(config, paths) for _ in range(SESSIONS)]
    load = f"{APPS} apps, {written // APPS} reports each over {DAYS} d, keep {DEFAULT_KEEP}"
    healthz, healthz_range = _median(
        [s["healthz"][0] for s in sessions], lambda v: f"{v * 1e3:.1f}"
    )
    rows = []
    for path, name in (
        ("", "GET /"),
        ("apps/app1", "GET /apps/app1"),
        ("api/status", "GET /api/status"),
    ):
        p99, spread = _median([s[path][0] for s in sessions], lambda v: f"{v * 1e3:.0f}")
        rows.append(
            Row(
                "B12",
                f"{name} p99 ({load}; {SESSIONS} runs {spread} ms)",
                p99,
                f"GET /healthz p99 ({healthz_range} ms)",
                healthz,
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
