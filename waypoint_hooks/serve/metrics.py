"""The status service's Prometheus metrics (DESIGN §14), on a registry of their own.

Only the pinned names are exposed: no process or platform collectors, no ``_created``
series. The duration histogram is labelled by workspace, kind and plugin, not by target: one
histogram per target would multiply the series of a thousand apps by its buckets.

The series of each target (its health, its last check, its failures) are most of the text,
and a check changes its own target's alone: each target's lines are kept, and made again only
when a check changes them (as kube-state-metrics keeps each object's lines until the object
changes). The exposition is joined from them once per change, not once per scrape; what
other processes change (the alerts they raise) is read again when it is older than
:data:`ALERTS_FRESHNESS`. Reading the counts is apart from joining the text
(:meth:`Metrics.count_alerts`, :meth:`Metrics.text`): the service reads them in the thread
that owns its connection to the state, and answers a scrape on its event loop, without
waiting for that thread, while they are fresh.

An instance in a location (``serve --location``, DESIGN §21) labels each target's series with
it, ``location``: the instances of each location expose what they saw from there. One without
a location has no such label, so its series are the ones it had before locations were.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from typing import Any, Final, final

import prometheus_client
from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from ..model.health import Health
from ..plugins.components import TargetKind
from ..plugins.runner import FAILURES, Checked

__all__ = ["ALERTS_FRESHNESS", "CONTENT_TYPE", "Metrics"]

#: The media type of :meth:`Metrics.exposition`.
CONTENT_TYPE: Final = prometheus_client.CONTENT_TYPE_LATEST

_TARGET: Final = ("app", "workspace", "kind", "plugin")
# From a few milliseconds to the longest timeouts people set.
_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
#: How old the alerts' counts may be in the text, in seconds: other processes raise alerts too.
ALERTS_FRESHNESS: Final = 5.0


@final
class Metrics:
    """What the checks of one workspace came to, as Prometheus metrics, with the alerts
    ``alert_counts()`` counts; their freshness is measured in ``clock()``'s seconds."""

    def __init__(
        self,
        workspace: str,
        alert_counts: Callable[[], Mapping[tuple[str, Any], int]] = dict,
        location: str = "",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        # A counter's _created series is not among the pinned names (this process serves
        # nothing else, so the switch is the process's).
        prometheus_client.disable_created_metrics()  # type: ignore[no-untyped-call]
        self.workspace = workspace
        #: The labels of a target's series, and the values of those after its own.
        labels = (*_TARGET, "location") if location else _TARGET
        self._where = (location,) if location else ()
        self._health = _Family(
            GaugeMetricFamily,
            "waypoint_hooks_target_health",
            "1 for the health of a deployment's or release's latest report, 0 for the others.",
            (*labels, "health"),
        )
        self._durations = CollectorRegistry(auto_describe=True)
        self._duration = Histogram(
            "waypoint_hooks_check_duration_seconds",
            "How long status checks took.",
            ("workspace", "kind", "plugin"),
            buckets=_BUCKETS,
            registry=self._durations,
        )
        self._failures = _Family(
            CounterMetricFamily,
            "waypoint_hooks_check_failures",
            "Checks that gave no report of the plugin's own: it raised, timed out, or "
            "returned an invalid report.",
            (*labels, "reason"),
        )
        #: How many checks of each target failed, by reason.
        self._failed: dict[tuple[str, TargetKind, str], int] = {}
        self._last_check = _Family(
            GaugeMetricFamily,
            "waypoint_hooks_last_check_timestamp_seconds",
            "When the latest report of a deployment or release was made (Unix time).",
            labels,
        )
        # Read from the state's outbox: the alerts every process raised.
        self._count = alert_counts
        self._clock = clock
        self._alert_counts = _AlertCounts()
        self._alerts = CollectorRegistry(auto_describe=True)
        self._alerts.register(self._alert_counts)
        #: When the counts were last read (in ``clock``'s seconds, as that read began).
        self._counted = -math.inf
        #: The plugin each target's series are labelled with, and its current health.
        self._plugins: dict[tuple[str, TargetKind], str] = {}
        self._current: dict[tuple[str, TargetKind], Health | None] = {}
        #: The exposition while nothing changed.
        self._text: bytes | None = None
        # Checks are observed on the event loop; the counts are read in another thread.
        self._lock = threading.Lock()

    def observe(self, app: str, kind: TargetKind, plugin: str, checked: Checked) -> None:
        """Count one check of ``app``'s ``kind`` by ``plugin``, and what it came to."""
        with self._lock:
            if self._plugins.get((app, kind), plugin) != plugin:
                self._forget(app, kind)  # a new version by another plugin: the old series go
            self._plugins[(app, kind)] = plugin
            target = (app, self.workspace, kind, plugin, *self._where)
            report = checked.report
            key = (app, kind)
            if key not in self._current or self._current[key] is not report.health:
                self._current[key] = report.health
                self._health.set(
                    key,
                    [((*target, h.name), float(h is report.health)) for h in Health],
                )
            self._duration.labels(self.workspace, kind, plugin).observe(checked.seconds)
            if checked.failure is not None:
                failed = (app, kind, checked.failure)
                self._failed[failed] = count = self._failed.get(failed, 0) + 1
                self._failures.set(failed, [((*target, checked.failure), float(count))])
            if report.generated_time is not None:
                self._last_check.set(key, [(target, report.generated_time.timestamp())])
            self._text = None

    def forget(self, app: str, kind: TargetKind) -> None:
        """Drop the series of a target that is gone (destroyed, or its app no longer served)."""
        with self._lock:
            self._forget(app, kind)

    def _forget(self, app: str, kind: TargetKind) -> None:
        if self._plugins.pop((app, kind), None) is None:
            return
        del self._current[(app, kind)]
        self._health.remove((app, kind))
        self._last_check.remove((app, kind))
        for reason in FAILURES:
            self._failed.pop((app, kind, reason), None)
            self._failures.remove((app, kind, reason))
        self._text = None

    @property
    def counted(self) -> bool:
        """Whether the alerts' counts were read within :data:`ALERTS_FRESHNESS` seconds: then
        :meth:`text` needs no read of them."""
        return self._clock() - self._counted <= ALERTS_FRESHNESS

    def count_alerts(self) -> None:
        """Read the alerts' counts again (from the state: where its connection may be used)."""
        began = self._clock()
        counts = dict(self._count())
        with self._lock:
            self._counted = max(self._counted, began)
            if counts != self._alert_counts.counts:
                self._alert_counts.counts = counts
                self._text = None

    def text(self) -> bytes:
        """The metrics in Prometheus' text format, with the alerts' counts as last read."""
        with self._lock:
            if self._text is None:
                self._text = b"".join(
                    (
                        self._health.text(),
                        prometheus_client.generate_latest(self._durations),
                        self._failures.text(),
                        self._last_check.text(),
                        prometheus_client.generate_latest(self._alerts),
                    )
                )
            return self._text

    def exposition(self) -> bytes:
        """The metrics in Prometheus' text format, the alerts' counts read again first if
        they are older than :data:`ALERTS_FRESHNESS`."""
        if not self.counted:
            self.count_alerts()
        return self.text()


@final
class _Family:
    """One metric family whose series are kept as text, by key (a target, or a target and a
    reason): a key's lines are made again only when its values are set."""

    def __init__(
        self,
        family: type[GaugeMetricFamily | CounterMetricFamily],
        name: str,
        documentation: str,
        labels: Sequence[str],
    ) -> None:
        self._family = family
        self._name, self._documentation, self._labels = name, documentation, labels
        self._header = prometheus_client.generate_latest(_Once(self._empty()))
        #: Each key's lines, in the order the keys were first set (as prometheus_client
        #: keeps a metric's series).
        self._lines: dict[Hashable, bytes] = {}
        #: Each key's samples' label values, and the start of each sample's line: all of it
        #: but the value, which is all a check changes (its last check's time).
        self._starts: dict[Hashable, tuple[tuple[tuple[str, ...], ...], tuple[bytes, ...]]] = {}
        #: The family's text while no key's lines changed.
        self._text: bytes | None = None

    def set(self, key: Hashable, samples: Sequence[tuple[Sequence[str], float]]) -> None:
        """The series of ``key``: each sample's label values and value."""
        labels = tuple(tuple(values) for values, _ in samples)
        known = self._starts.get(key)
        if known is not None and known[0] == labels:
            # The same series: their new values formatted as prometheus_client formats them
            # (a few microseconds of the event loop a check, where the family took twenty).
            self._lines[key] = b"".join(
                start + floatToGoString(value).encode() + b"\n"  # type: ignore[no-untyped-call]
                for start, (_, value) in zip(known[1], samples, strict=True)
            )
        else:
            family = self._empty()
            for values, value in samples:
                family.add_metric(values, value)
            # Formatted as prometheus_client formats every other series, less the header.
            text = prometheus_client.generate_latest(_Once(family))[len(self._header) :]
            self._lines[key] = text
            # A line is its series, a space and the value (which has no space); a label value
            # may hold a carriage return, so lines are split at line feeds alone.
            lines = text.split(b"\n")[:-1]
            if len(lines) == len(samples):
                starts = tuple(line[: line.rindex(b" ") + 1] for line in lines)
                self._starts[key] = (labels, starts)
        self._text = None

    def remove(self, key: Hashable) -> None:
        self._starts.pop(key, None)
        if self._lines.pop(key, None) is not None:
            self._text = None

    def text(self) -> bytes:
        if self._text is None:
            self._text = self._header + b"".join(self._lines.values())
        return self._text

    def _empty(self) -> GaugeMetricFamily | CounterMetricFamily:
        return self._family(self._name, self._documentation, labels=self._labels)


@final
class _Once(Collector):
    """A collector of one family, to format it."""

    def __init__(self, family: Metric) -> None:
        self._family = family

    def collect(self) -> Iterator[Metric]:
        yield self._family


@final
class _AlertCounts(Collector):
    """``waypoint_hooks_alerts_total{notify,state}``: the alerts raised, as the state counted
    them when last read (DESIGN §14, §15)."""

    def __init__(self) -> None:
        self.counts: dict[tuple[str, Any], int] = {}

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily(
            "waypoint_hooks_alerts",
            "Alerts raised, by notify block and state.",
            labels=("notify", "state"),
        )
        for (notify, state), count in sorted(self.counts.items()):
            family.add_metric((notify, state), count)
        yield family
