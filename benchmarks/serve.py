"""B8: ``waypoint-hooks serve`` with a thousand apps of the trivial ``filepath`` plugin, their
interval scaled down: scheduling lag, CPU per check against a ``status`` run of the same apps,
memory over 200 rounds, and how fast ``/api/status`` and ``/metrics`` answer meanwhile; and
``/metrics`` alone at 1,000 and 10,000 apps, with and without two busy loops beside it, where
each scrape's time went, and the floor: a bare application answering the same text."""

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
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import attrs

from waypoint_hooks.model.health import Health
from waypoint_hooks.model.report import StatusReport
from waypoint_hooks.plugins.runner import Checked
from waypoint_hooks.serve.metrics import Metrics
from waypoint_hooks.state.store import default_state_path

from ._measure import Row, sized
from ._serving import filepath_project, get, serving, until
from ._timed_serve import TICK
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


#: A scrape as the client saw it: when it asked and when it had the whole answer, in
#: ``time.perf_counter()`` seconds (CLOCK_MONOTONIC on Linux: the serve process's clock too).
_Scrape = tuple[float, float]


def _scrapes(url: str) -> list[_Scrape]:
    """:data:`SCRAPES` scrapes of ``url``, a few checks apart, or as many as :data:`SCRAPING`
    seconds allow."""
    scrapes: list[_Scrape] = []
    ending = time.monotonic() + SCRAPING
    while len(scrapes) < SCRAPES and time.monotonic() < ending:
        began = time.perf_counter()
        get(url)
        scrapes.append((began, time.perf_counter()))
        time.sleep(0.05)
    return scrapes


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


@attrs.frozen
class _Scraped:
    """The scrapes of one serve, alone or with the busy loops beside: as its client saw
    them, as the serve process timed them (:mod:`._timed_serve`), and those of the floor
    (:mod:`._bare_serve`: the same text from a bare application) in the same conditions."""

    client: list[_Scrape]
    inside: list[dict[str, Any]]
    floor: list[_Scrape]
    #: The event loop's stalls meanwhile: when its timer was due, how late it ran, and
    #: where the time went (:mod:`._timed_serve`).
    stalls: list[tuple[float, float, dict[str, Any]]]


def _calm_and_busy(url: str) -> tuple[list[_Scrape], list[_Scrape]]:
    calm = _scrapes(url)
    with _busy_loops():
        busy = _scrapes(url)
    return calm, busy


def _metrics_scrapes(apps: int, interval: float) -> list[_Scraped]:
    """Scrapes of /metrics of a serve of ``apps`` apps once each has been checked, and then
    of the floor answering the text that serve gave last, each alone and then with two busy
    loops beside it."""
    with tempfile.TemporaryDirectory() as directory:
        config = filepath_project(Path(directory), apps, interval)
        timings, text = Path(directory) / "timings.json", Path(directory) / "metrics.txt"
        stored = _reports(config)
        timed = [sys.executable, str(Path(__file__).with_name("_timed_serve.py")), str(timings)]
        with serving([*timed, "-c", str(config), "serve", "--port", "0"]) as (_, url):
            until(lambda: _reports(config) >= stored + apps, "the first round of serve")
            calm, busy = _calm_and_busy(url + "metrics")
            text.write_bytes(get(url + "metrics"))
        timed = json.loads(timings.read_text())
        with serving([sys.executable, "-m", "benchmarks._bare_serve", str(text)]) as (_, url):
            floors = _calm_and_busy(url + "metrics")
    return [
        _Scraped(
            scrapes,
            [s for s in timed["scrapes"] if scrapes[0][0] <= s["began"] < scrapes[-1][1]],
            floor,
            [s for s in timed["stalls"] if scrapes[0][0] <= s[0] < scrapes[-1][1]],
        )
        for scrapes, floor in zip((calm, busy), floors, strict=True)
    ]


def _seconds(scrapes: list[_Scrape]) -> list[float]:
    return [ended - began for began, ended in scrapes]


def _inside_rows(scraped: _Scraped, bound: float) -> list[Row]:
    """Where the scrapes' time went, each figure a p99 but the CPU's (a median)."""
    # Each scrape inside serve, with the client's of which it is the answer.
    asked = [
        (scrape, client)
        for scrape in scraped.inside
        for client in scraped.client
        if client[0] <= scrape["began"] <= client[1]
    ]
    figures: tuple[tuple[str, Callable[[dict[str, Any], _Scrape], float], bool], ...] = (
        ("before the application: asked, accepted, read", lambda s, c: s["began"] - c[0], True),
        ("answered in (inside serve)", lambda s, c: s["ended"] - s["began"], True),
        ("after the last byte: the client reads it", lambda s, c: c[1] - s["ended"], True),
        ("  waited for a state thread", lambda s, c: s["waited"], True),
        ("  event loop's longest stall", lambda s, c: s["stall"], True),
        ("  loop thread waiting for a processor", lambda s, c: s["loop_queued"], True),
        ("  loop thread on a processor", lambda s, c: s["loop_run"], True),
        ("  other threads on a processor", lambda s, c: sum(s["others"].values()), True),
        ("  the request's own steps' CPU (median)", lambda s, c: s["cpu"], False),
    )
    return [
        Row(
            "B8 inside",
            f"  {what}",
            (_p99 if p99 else statistics.median)([each(s, c) for s, c in asked]),
            f"{bound:g} s",
            bound,
            None,
        )
        for what, each, p99 in figures
    ]


#: The stalls of the event loop that :func:`_stall_rows` accounts for (seconds late).
_STALL = 0.02


def _stall_rows(scraped: _Scraped) -> list[Row]:
    """Where the time of the event loop's stalls went, against their sum: its thread on a
    processor, waiting in the run queue for one, or asleep (for the GIL: a stall is a timer
    that is due); and the other threads of serve on a processor meanwhile."""
    stalls = [spent for _, late, spent in scraped.stalls if late > _STALL]
    # A stall's time is the tick's own and its lateness: from the timer's start to its run.
    wall = sum(late + TICK for _, late, _ in scraped.stalls if late > _STALL)
    run = sum(spent["loop_run"] for spent in stalls)
    queued = sum(spent["loop_queued"] for spent in stalls)
    others = sum(sum(spent["others"].values()) for spent in stalls)
    if not stalls:
        return []
    return [
        Row("B8 stalls", f"  {what}", seconds, f"{len(stalls)} stalls over 20 ms", wall, None)
        for what, seconds in (
            ("in the loop's stalls: its thread on a processor", run),
            ("  waiting for a processor", queued),
            ("  asleep: waiting for the GIL", wall - run - queued),
            ("  serve's other threads on a processor", others),
        )
    ]


def _loop_rows(scraped: _Scraped) -> list[Row]:
    """The event loop's thread from the first scrape's end to the last's, against that span:
    on a processor (what serve's loop needs, the checks' work most of it), and waiting for
    one."""
    first, last = scraped.inside[0], scraped.inside[-1]
    span = last["ended"] - first["ended"]
    return [
        Row("B8 loop", f"  {what}", seconds, "the scrapes' span", span, None)
        for what, seconds in (
            ("the loop thread on a processor", last["loop_ran"] - first["loop_ran"]),
            ("  waiting for one", last["loop_waited"] - first["loop_waited"]),
        )
    ]


def b8_metrics() -> list[Row]:
    """/metrics p99 as a client sees it; the floor's beside it, the same text from a bare
    application in the same conditions; and where serve's scrapes' time went."""
    rows = []
    for apps, bound in METRICS_BOUNDS.items():
        interval = INTERVAL * apps / APPS
        load = f"{apps} apps every {interval:g}s"
        figures = zip(
            (f"GET /metrics p99 ({load})", "the same, two busy loops beside"),
            _metrics_scrapes(apps, interval),
            strict=True,
        )
        for measures, scraped in figures:
            seconds = _p99(_seconds(scraped.client))
            rows.append(Row("B8 metrics", measures, seconds, f"{bound:g} s", bound, 1))
            floor = _p99(_seconds(scraped.floor))
            what = "  the floor: a bare Starlette app, the same text"
            rows.append(Row("B8 floor", what, floor, f"{bound:g} s", bound, None))
            rows.extend(_inside_rows(scraped, bound))
            rows.extend(_stall_rows(scraped))
            rows.extend(_loop_rows(scraped))
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
