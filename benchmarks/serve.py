"""B8: ``waypoint-hooks serve`` with a thousand apps of the trivial ``filepath`` plugin, their
interval scaled down: scheduling lag, CPU per check against a ``status`` run of the same apps,
memory over 200 rounds, and how fast ``/api/status`` and ``/metrics`` answer meanwhile; and
``/metrics`` alone at 1,000 and 10,000 apps, with and without two busy loops beside it."""

from __future__ import annotations

import contextlib
import json
import os
import re
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

from waypoint_hooks.model.health import Health
from waypoint_hooks.model.report import StatusReport
from waypoint_hooks.plugins.runner import Checked
from waypoint_hooks.serve.metrics import Metrics
from waypoint_hooks.state.store import default_state_path

from ._measure import Row, sized
from ._serving import filepath_project, get, serving, until
from .startup import _ENV, _launcher

#: The apps of the lag, CPU and latency figures, and their interval (seconds).
APPS = sized(1000, 5)
INTERVAL = sized(5.0, 1.0)
#: How long those figures are measured, after the first round.
WINDOW = sized(30.0, 2.0)
#: Requests of each endpoint during the window.
REQUESTS = sized(200, 5)
#: The rounds of the memory figure, its apps and their interval: 200 rounds of a thousand
#: apps would take this machine most of an hour.
ROUNDS = sized(200, 22)
MEMORY_APPS = sized(100, 3)
MEMORY_INTERVAL = 0.25
#: The bounds the issue sets, in seconds.
LAG_BOUND = 1.0
LATENCY_BOUND = 0.1
#: The apps of the /metrics figures, and the bound of each (seconds). Their interval grows
#: with them, so that each serve checks as many apps a second.
METRICS_BOUNDS = sized({1000: 0.1, 10000: 0.3}, {5: 0.1, 10: 0.3})
#: Scrapes of /metrics for each figure, within a few seconds at most: Prometheus scrapes
#: every 15 s or so, what is measured is the answer, not the rate (and a slow answer of
#: 10,000 apps would take hours of a hundred).
SCRAPES = sized(100, 5)
SCRAPING = sized(30.0, 5.0)
_TICK = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def _rss_mib(pid: int) -> float:
    found = re.search(r"VmRSS:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text())
    assert found is not None
    return int(found.group(1)) / 1024


def _reports(config: Path) -> int:
    with contextlib.closing(sqlite3.connect(default_state_path(config), timeout=60)) as db:
        (count,) = db.execute("SELECT count(*) FROM reports").fetchone()
    return int(count)


def _p99(seconds: list[float]) -> float:
    ordered = sorted(seconds)
    return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]


def _serving(config: Path) -> contextlib.AbstractContextManager[tuple[subprocess.Popen[str], str]]:
    return serving([*_launcher(), "-c", str(config), "serve", "--port", "0"])


def _status_cpu_per_check(config: Path) -> float:
    """CPU seconds per check of a whole ``status`` process over every app; the least of 3."""
    best = float("inf")
    for _ in range(3):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run([*_launcher(), "-c", str(config), "status"], env=_ENV, capture_output=True)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        used = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        best = min(best, used / APPS)
    return best


def b8_serve() -> list[Row]:
    with tempfile.TemporaryDirectory() as directory:
        config = filepath_project(Path(directory), APPS, INTERVAL)
        baseline_cpu = _status_cpu_per_check(config)
        stored = _reports(config)
        with _serving(config) as (process, url):
            until(lambda: _reports(config) >= stored + APPS, "the first round of serve")
            # CPU per check over a window of its own: the requests below cost CPU too.
            cpu, reports, started = _cpu_seconds(process.pid), _reports(config), time.monotonic()
            time.sleep(WINDOW)
            checks = _reports(config) - reports
            serve_cpu = (_cpu_seconds(process.pid) - cpu) / checks
            elapsed = time.monotonic() - started
            status_s, metrics_s = [], []
            pause = WINDOW / REQUESTS / 2
            for _ in range(REQUESTS):
                for url_path, times in (("api/status", status_s), ("metrics", metrics_s)):
                    began = time.perf_counter()
                    get(url + url_path)
                    times.append(time.perf_counter() - began)
                    time.sleep(pause)
            lag = json.loads(get(url + "healthz"))["lag_seconds"]["p99"]
    with tempfile.TemporaryDirectory() as directory:
        config = filepath_project(Path(directory), MEMORY_APPS, MEMORY_INTERVAL)
        with _serving(config) as (process, _):
            until(lambda: _reports(config) >= 20 * MEMORY_APPS, "20 rounds")
            early = _rss_mib(process.pid)
            until(lambda: _reports(config) >= ROUNDS * MEMORY_APPS, f"{ROUNDS} rounds")
            late = _rss_mib(process.pid)
    load = f"{APPS} apps every {INTERVAL:g}s, {checks} checks in {elapsed:.0f}s"
    bound = "the bound, 100 ms"
    return [
        Row("B8 lag", f"serve: scheduling lag p99 ({load})", lag, "the bound, 1 s", LAG_BOUND, 1.0),
        Row(
            "B8 cpu",
            "serve: CPU seconds per check",
            serve_cpu,
            f"a status process of the {APPS} apps, per check",
            baseline_cpu,
            1.5,
        ),
        Row(
            "B8 memory",
            f"serve: RSS MiB at round {ROUNDS} ({MEMORY_APPS} apps every {MEMORY_INTERVAL:g}s)",
            late,
            "RSS MiB at round 20",
            early,
            1.1,
        ),
        Row("B8 status", f"GET /api/status p99 ({load})", _p99(status_s), bound, LATENCY_BOUND, 1),
        Row("B8 metrics", f"GET /metrics p99 ({load})", _p99(metrics_s), bound, LATENCY_BOUND, 1),
    ]


def _scrapes(url: str) -> list[float]:
    """The seconds of :data:`SCRAPES` scrapes of ``url``, a few checks apart, or of as many
    as :data:`SCRAPING` seconds allow."""
    seconds: list[float] = []
    ending = time.monotonic() + SCRAPING
    while len(seconds) < SCRAPES and time.monotonic() < ending:
        began = time.perf_counter()
        get(url)
        seconds.append(time.perf_counter() - began)
        time.sleep(0.05)
    return seconds


@contextlib.contextmanager
def _busy_loops(count: int = 2) -> Iterator[None]:
    """``count`` processes that spin on the CPU until the block ends."""
    loops = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]
    try:
        yield
    finally:
        for loop in loops:
            loop.kill()
            loop.wait()


#: The seconds of each scrape as a client saw it, and each scrape as the serve process timed it.
_Scrapes = tuple[list[float], list[dict[str, float]]]


def _metrics_scrapes(apps: int, interval: float) -> list[_Scrapes]:
    """Scrapes of /metrics of a serve of ``apps`` apps once each has been checked, alone and
    then with two busy loops beside it: for each, the seconds of each scrape as the client
    saw it, and each scrape as the serve process timed it (:mod:`._timed_serve`)."""
    with tempfile.TemporaryDirectory() as directory:
        config = filepath_project(Path(directory), apps, interval)
        timings = Path(directory) / "timings.json"
        stored = _reports(config)
        timed = [sys.executable, str(Path(__file__).with_name("_timed_serve.py")), str(timings)]
        with serving([*timed, "-c", str(config), "serve", "--port", "0"]) as (_, url):
            until(lambda: _reports(config) >= stored + apps, "the first round of serve")
            calm = _scrapes(url + "metrics")
            busy_from = time.perf_counter()
            with _busy_loops():
                busy = _scrapes(url + "metrics")
        inside = json.loads(timings.read_text())
    return [
        (calm, [scrape for scrape in inside if scrape["began"] < busy_from]),
        (busy, [scrape for scrape in inside if scrape["began"] >= busy_from]),
    ]


def b8_metrics() -> list[Row]:
    """/metrics p99 as a client sees it, and beside it as the serve process timed it: from
    the request to the answer's last byte, how long it waited for the state's threads, the
    event loop's longest stall meanwhile (each p99), and the loop's CPU time per scrape (the
    median)."""
    rows = []
    for apps, bound in METRICS_BOUNDS.items():
        interval = INTERVAL * apps / APPS
        load = f"{apps} apps every {interval:g}s"
        figures = zip(
            (f"GET /metrics p99 ({load})", "the same, two busy loops beside"),
            _metrics_scrapes(apps, interval),
            strict=True,
        )
        for measures, (seconds, inside) in figures:
            rows.append(Row("B8 metrics", measures, _p99(seconds), f"{bound:g} s", bound, 1))
            for what, each, figure in (
                ("answered in (inside serve)", lambda s: s["ended"] - s["began"], _p99),
                ("waited for a state thread", lambda s: s["waited"], _p99),
                ("event loop's longest stall", lambda s: s["stall"], _p99),
                ("event loop's CPU (median)", lambda s: s["cpu"], statistics.median),
            ):
                figured = figure([each(scrape) for scrape in inside])
                rows.append(Row("B8 inside", f"  {what}", figured, f"{bound:g} s", bound, None))
    return rows


def b8_exposition() -> list[Row]:
    """The exposition alone, in this process: made again after one check of ``apps``
    targets, the median of 5, against the bound of /metrics at that many apps."""
    rows = []
    for apps, bound in METRICS_BOUNDS.items():
        metrics = Metrics("default")
        report = StatusReport(health=Health.READY, generated_time=datetime.now(timezone.utc))
        checked = Checked(report, None, 0.001)
        for index in range(apps):
            metrics.observe(f"app{index}", "deployment", "filepath", checked)
        metrics.exposition()
        seconds = []
        for index in range(5):
            metrics.observe(f"app{index}", "deployment", "filepath", checked)
            began = time.perf_counter()
            metrics.exposition()
            seconds.append(time.perf_counter() - began)
        measures = f"Metrics.exposition() after a check, {apps} targets"
        rows.append(Row("B8 text", measures, statistics.median(seconds), f"{bound:g} s", bound, 1))
    return rows


BENCHMARKS = (b8_serve, b8_metrics, b8_exposition)
