"""The metrics' text (issue 31, B8): kept by target and joined once per change, it is the text
prometheus-client's own metrics give for the same checks, byte for byte, whatever the checks,
the targets forgotten and the scrapes between them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone

import prometheus_client
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from waypoint_hooks.model.health import Health
from waypoint_hooks.model.report import StatusReport
from waypoint_hooks.plugins.runner import FAILURES, Checked
from waypoint_hooks.serve.metrics import ALERTS_FRESHNESS, Metrics

_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


class NoAlerts(Collector):
    def collect(self) -> Iterator[CounterMetricFamily]:
        yield CounterMetricFamily(
            "waypoint_hooks_alerts",
            "Alerts raised, by notify block and state.",
            labels=("notify", "state"),
        )


class Reference:
    """What the checks come to as prometheus-client's gauges and counters count them: every
    series in one registry, formatted at each scrape."""

    def __init__(self, location: str) -> None:
        labels = ("app", "workspace", "kind", "plugin", *(("location",) if location else ()))
        self.where = (location,) if location else ()
        self.registry = CollectorRegistry()
        self.health = Gauge(
            "waypoint_hooks_target_health",
            "1 for the health of a deployment's or release's latest report, 0 for the others.",
            (*labels, "health"),
            registry=self.registry,
        )
        self.duration = Histogram(
            "waypoint_hooks_check_duration_seconds",
            "How long status checks took.",
            ("workspace", "kind", "plugin"),
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self.failures = Counter(
            "waypoint_hooks_check_failures",
            "Checks that gave no report of the plugin's own: it raised, timed out, or "
            "returned an invalid report.",
            (*labels, "reason"),
            registry=self.registry,
        )
        self.last_check = Gauge(
            "waypoint_hooks_last_check_timestamp_seconds",
            "When the latest report of a deployment or release was made (Unix time).",
            labels,
            registry=self.registry,
        )
        self.registry.register(NoAlerts())
        self.plugins: dict[tuple[str, str], str] = {}

    def observe(self, app: str, kind: str, plugin: str, checked: Checked) -> None:
        if self.plugins.get((app, kind), plugin) != plugin:
            self.forget(app, kind)
        self.plugins[(app, kind)] = plugin
        target = (app, "default", kind, plugin, *self.where)
        for health in Health:
            self.health.labels(*target, health.name).set(int(health is checked.report.health))
        self.duration.labels("default", kind, plugin).observe(checked.seconds)
        if checked.failure is not None:
            self.failures.labels(*target, checked.failure).inc()
        if checked.report.generated_time is not None:
            self.last_check.labels(*target).set(checked.report.generated_time.timestamp())

    def forget(self, app: str, kind: str) -> None:
        plugin = self.plugins.pop((app, kind), None)
        if plugin is None:
            return
        target = (app, "default", kind, plugin, *self.where)
        for health in Health:
            self.health.remove(*target, health.name)
        for reason in FAILURES:
            self.failures.remove(*target, reason)
        self.last_check.remove(*target)

    def exposition(self) -> bytes:
        return prometheus_client.generate_latest(self.registry)


_TARGETS = st.tuples(
    # Quotes, backslashes and line feeds are escaped in the text; spaces and carriage returns
    # are not: a series' line is cut before its value at its last space, at line feeds alone.
    st.sampled_from(["web", 'a"p\\p\nx', "d b\r 1", "db"]),
    st.sampled_from(["deployment", "release"]),
)
_CHECKS = st.builds(
    lambda target, plugin, health, failure, when, seconds: (
        "observe",
        target,
        plugin,
        health,
        failure,
        when,
        seconds,
    ),
    _TARGETS,
    st.sampled_from(["filepath", "http"]),
    st.sampled_from(list(Health)),
    st.none() | st.sampled_from(FAILURES),
    st.none() | st.floats(min_value=0, max_value=4e9),
    st.floats(min_value=0, max_value=200),
)
_STEPS = st.lists(
    st.one_of(
        _CHECKS,
        st.builds(lambda target: ("forget", target), _TARGETS),
        st.just(("scrape",)),
    ),
    max_size=40,
)


@settings(max_examples=60, deadline=None)
@given(steps=_STEPS, location=st.sampled_from(["", "eu"]))
def test_the_text_is_prometheus_clients_for_the_same_checks(
    steps: list[tuple[object, ...]], location: str
) -> None:
    metrics = Metrics("default", location=location)
    reference = Reference(location)
    for step in steps:
        if step[0] == "observe":
            _, (app, kind), plugin, health, failure, when, seconds = step
            report = StatusReport(health=health)
            if when is not None:
                report.generated_time = datetime.fromtimestamp(when, timezone.utc)
            checked = Checked(report, failure, seconds)
            metrics.observe(app, kind, plugin, checked)
            reference.observe(app, kind, plugin, checked)
        elif step[0] == "forget":
            metrics.forget(*step[1])
            reference.forget(*step[1])
        else:
            assert metrics.exposition() == reference.exposition()
    assert metrics.exposition() == reference.exposition()


def test_the_text_is_kept_until_a_check_changes_it() -> None:
    metrics = Metrics("default")
    report = StatusReport(health=Health.READY)
    metrics.observe("web", "deployment", "filepath", Checked(report, None, 0.1))
    first = metrics.exposition()
    assert metrics.exposition() is first  # nothing changed: the same text, not made again
    metrics.observe("web", "deployment", "filepath", Checked(report, None, 0.1))
    assert metrics.exposition() is not first
    count = b'_count{kind="deployment",plugin="filepath",workspace="default"} 2.0'
    assert b"waypoint_hooks_check_duration_seconds" + count in metrics.exposition()


def test_the_alerts_are_counted_again_only_once_their_counts_are_stale() -> None:
    now = [0.0]
    counts = {("oncall", "firing"): 1}
    reads: list[float] = []

    def count() -> dict[tuple[str, str], int]:
        reads.append(now[0])
        now[0] += 2  # a slow read: its counts are as old as when it began
        return dict(counts)

    metrics = Metrics("default", count, clock=lambda: now[0])
    assert not metrics.counted
    first = metrics.exposition()
    assert reads == [0.0]
    assert b'waypoint_hooks_alerts_total{notify="oncall",state="firing"} 1.0' in first
    now[0] = ALERTS_FRESHNESS
    assert metrics.counted
    assert metrics.exposition() is first  # fresh: neither read nor made again
    now[0] = ALERTS_FRESHNESS + 0.5
    assert not metrics.counted
    assert metrics.text() is first  # the text alone never reads them
    assert reads == [0.0]
    assert metrics.exposition() is first  # read again, and the same: the same text
    assert reads == [0.0, ALERTS_FRESHNESS + 0.5]
    counts[("oncall", "resolved")] = 2
    metrics.count_alerts()
    assert b'waypoint_hooks_alerts_total{notify="oncall",state="resolved"} 2.0' in metrics.text()
