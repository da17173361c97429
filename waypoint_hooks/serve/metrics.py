"""The status service's Prometheus metrics (DESIGN §14), on a registry of their own.

Only the pinned names are exposed: no process or platform collectors, no ``_created``
series. The duration histogram is labelled by workspace, kind and plugin, not by target: one
histogram per target would multiply the series of a thousand apps by its buckets.

The health gauge is six series a target, most of the text; healths seldom change, so its
text is kept, on a registry of its own, until one does (as kube-state-metrics keeps each
object's lines until the object changes).

An instance in a location (``serve --location``, DESIGN §21) labels each target's series with
it, ``location``: the instances of each location expose what they saw from there. One without
a location has no such label, so its series are the ones it had before locations were.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any, Final, final

import prometheus_client
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from ..model.health import Health
from ..plugins.components import TargetKind
from ..plugins.runner import FAILURES, Checked

__all__ = ["CONTENT_TYPE", "Metrics"]

#: The media type of :meth:`Metrics.exposition`.
CONTENT_TYPE: Final = prometheus_client.CONTENT_TYPE_LATEST

_TARGET: Final = ("app", "workspace", "kind", "plugin")
# From a few milliseconds to the longest timeouts people set.
_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


@final
class Metrics:
    """What the checks of one workspace came to, as Prometheus metrics."""

    def __init__(
        self,
        workspace: str,
        alert_counts: Callable[[], Mapping[tuple[str, Any], int]] = dict,
        location: str = "",
    ) -> None:
        # A counter's _created series is not among the pinned names (this process serves
        # nothing else, so the switch is the process's).
        prometheus_client.disable_created_metrics()  # type: ignore[no-untyped-call]
        self.workspace = workspace
        #: The labels of a target's series, and the values of those after its own.
        labels = (*_TARGET, "location") if location else _TARGET
        self._where = (location,) if location else ()
        self.registry = CollectorRegistry(auto_describe=True)
        self._healths = CollectorRegistry(auto_describe=True)
        self._health = Gauge(
            "waypoint_hooks_target_health",
            "1 for the health of a deployment's or release's latest report, 0 for the others.",
            (*labels, "health"),
            registry=self._healths,
        )
        #: Each target's current health, and the health gauge's text while none changed.
        self._current: dict[tuple[str, TargetKind], Health | None] = {}
        self._health_text: bytes | None = None
        self._duration = Histogram(
            "waypoint_hooks_check_duration_seconds",
            "How long status checks took.",
            ("workspace", "kind", "plugin"),
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self._failures = Counter(
            "waypoint_hooks_check_failures",
            "Checks that gave no report of the plugin's own: it raised, timed out, or "
            "returned an invalid report.",
            (*labels, "reason"),
            registry=self.registry,
        )
        self._last_check = Gauge(
            "waypoint_hooks_last_check_timestamp_seconds",
            "When the latest report of a deployment or release was made (Unix time).",
            labels,
            registry=self.registry,
        )
        # Read from the state's outbox at each scrape: the alerts every process raised.
        self.registry.register(_AlertCounts(alert_counts))
        #: The plugin each target's series are labelled with.
        self._plugins: dict[tuple[str, TargetKind], str] = {}

    def observe(self, app: str, kind: TargetKind, plugin: str, checked: Checked) -> None:
        """Count one check of ``app``'s ``kind`` by ``plugin``, and what it came to."""
        if self._plugins.get((app, kind), plugin) != plugin:
            self.forget(app, kind)  # a new version by another plugin: the old series go
        self._plugins[(app, kind)] = plugin
        target = (app, self.workspace, kind, plugin, *self._where)
        report = checked.report
        if (app, kind) not in self._current or self._current[(app, kind)] is not report.health:
            self._current[(app, kind)] = report.health
            self._health_text = None
            for health in Health:
                self._health.labels(*target, health.name).set(int(health is report.health))
        self._duration.labels(self.workspace, kind, plugin).observe(checked.seconds)
        if checked.failure is not None:
            self._failures.labels(*target, checked.failure).inc()
        if report.generated_time is not None:
            self._last_check.labels(*target).set(report.generated_time.timestamp())

    def forget(self, app: str, kind: TargetKind) -> None:
        """Drop the series of a target that is gone (destroyed, or its app no longer served)."""
        plugin = self._plugins.pop((app, kind), None)
        if plugin is None:
            return
        del self._current[(app, kind)]
        self._health_text = None
        target = (app, self.workspace, kind, plugin, *self._where)
        for health in Health:
            self._health.remove(*target, health.name)
        self._last_check.remove(*target)
        for reason in FAILURES:
            self._failures.remove(*target, reason)

    def exposition(self) -> bytes:
        """The metrics in Prometheus' text format."""
        if self._health_text is None:
            self._health_text = prometheus_client.generate_latest(self._healths)
        return self._health_text + prometheus_client.generate_latest(self.registry)


@final
class _AlertCounts(Collector):
    """``waypoint_hooks_alerts_total{notify,state}``: the alerts raised, as the state counts
    them (DESIGN §14, §15)."""

    def __init__(self, counts: Callable[[], Mapping[tuple[str, Any], int]]) -> None:
        self._counts = counts

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily(
            "waypoint_hooks_alerts",
            "Alerts raised, by notify block and state.",
            labels=("notify", "state"),
        )
        for (notify, state), count in sorted(self._counts().items()):
            family.add_metric((notify, state), count)
        yield family
