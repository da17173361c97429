"""The alert state machine (DESIGN §15), pure: no I/O, no clock but the reports' own times.

Each notify block keeps a :class:`Watch` over each deployment and release: how many failing or
READY reports came in a row, whether the trouble is real (``firing``: the failure threshold
was reached and the success threshold not since), and whether a person was told so
(``announced``). After each report the machine reconciles the two: a trouble that fires and
was not announced is announced (a ``firing`` alert), one that was announced and no longer
fires is resolved (a ``resolved`` alert, when the block sends those), one that still fires
gets a ``reminder`` when one is due. Nothing new is announced inside a maintenance window or
while a dependency's alert fires; the reconciliation at the next report sends what still
holds. Under a silence, a firing alert and reminders are raised *silenced* (recorded, never
sent): the trouble is not announced, so the first report after the silence sends its firing
alert; a trouble's silenced firing alert is raised once (``hushed``). A resolved is never held
nor silenced: what a person was told fired is told resolved, whatever holds the others
(Alertmanager #226). An alert's ``previous_health`` is the health last told of the
target (READY when nothing was, or what was told was resolved): the health before the trouble
began, for a firing alert; the health told, for a reminder or a resolved one.
"""

from __future__ import annotations

import graphlib
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Final, Literal, final

import attrs

from ..config.project import DAYS, Maintenance, Notify, Project
from ..model.alert import Alert, AlertState
from ..model.health import Health
from ..model.quorum import Quorum
from ..model.report import StatusReport
from ..state.silences import Silence

__all__ = ["Alerting", "Checked", "Key", "Raised", "Watch", "describe", "in_maintenance", "step"]

#: A watch's key: the app, the target's kind and id, and the notify block's name.
Key = tuple[str, str, str, str]


@final
@attrs.frozen
class Watch:
    """What one notify block knows of one target's health, between two reports."""

    #: Failing reports in a row (healths in the block's ``on``).
    failures: int = 0
    #: READY reports in a row.
    successes: int = 0
    #: The trouble is real: ``failure_threshold`` failures came in a row, and not
    #: ``success_threshold`` successes since.
    firing: bool = False
    #: A firing alert was sent for this trouble, and no resolved one since.
    announced: bool = False
    #: The first failing report of the run of failures (of the trouble, once it fires).
    since: datetime | None = None
    #: When the last firing alert or reminder was sent (or a reminder silenced).
    reminded: datetime | None = None
    #: The health the last firing alert or reminder told; ``None`` since a resolved one (or
    #: before any alert).
    told: Health | None = None
    #: A silenced firing alert was raised for this trouble, and it was not announced since.
    hushed: bool = False

    def to_json(self) -> str:
        from ..model.codec import converter

        return json.dumps(converter.unstructure(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Watch:
        from ..model.codec import structure

        return structure(json.loads(text), cls)


def step(
    notify: Notify,
    watch: Watch,
    health: Health,
    at: datetime,
    *,
    held: bool = False,
    suppressed: bool = False,
    silenced: bool = False,
) -> tuple[Watch, AlertState | None]:
    """The watch after a report of ``health`` made ``at``, and the alert it raises, if any.

    ``held``: ``at`` is inside a maintenance window of the app; ``suppressed``: an alert of a
    dependency of the app fires; ``silenced``: a silence of the target is in force at ``at``,
    and a firing alert or reminder raised is silenced (a resolved one never is).
    """
    failures, successes, since = 0, 0, watch.since
    if health in notify.on:
        failures = watch.failures + 1
        if failures == 1 and not watch.firing:
            since = at
    elif health is Health.READY:
        successes = watch.successes + 1
    firing = watch.firing
    if not firing and failures >= notify.failure_threshold:
        firing = True
    elif firing and successes >= notify.success_threshold:
        firing = False
    hushed = watch.hushed and firing
    watch = Watch(
        failures, successes, firing, watch.announced, since, watch.reminded, watch.told, hushed
    )
    if not firing and watch.announced:
        # Before the holds: what was told fired is told resolved, in a window or not.
        resolved = attrs.evolve(watch, announced=False, reminded=None, told=None)
        return resolved, "resolved" if notify.send_on_resolved else None
    if held:
        return watch, None
    if firing and not watch.announced:
        if suppressed or (silenced and watch.hushed):
            return watch, None
        if silenced:  # not announced: once the silence ends, the next report announces it
            return attrs.evolve(watch, hushed=True), "firing"
        announced = attrs.evolve(watch, announced=True, reminded=at, told=health, hushed=False)
        return announced, "firing"
    if firing and notify.remind is not None and not suppressed:
        assert watch.reminded is not None  # announced, so reminded is set
        if at - watch.reminded >= timedelta(seconds=notify.remind):
            # A silenced reminder tells nothing, but counts for when the next one is due.
            told = watch.told if silenced else health
            return attrs.evolve(watch, reminded=at, told=told), "reminder"
    return watch, None


def in_maintenance(windows: Iterable[Maintenance], app: str, at: datetime) -> bool:
    """Whether ``at`` is inside a maintenance window that holds ``app``'s alerts."""
    return any(window.holds(app) and _open(window, at) for window in windows)


def _open(window: Maintenance, at: datetime) -> bool:
    # Imported here: only a project with a maintenance window needs it.
    import zoneinfo

    zone = zoneinfo.ZoneInfo(window.timezone)
    hour, minute = (int(part) for part in window.start.split(":"))
    length = timedelta(seconds=window.duration)
    day = at.astimezone(zone).date()
    # A window that started on an earlier day may still be open: look back as far as it lasts.
    for back in range(length.days + 2):
        started = day - timedelta(days=back)
        if DAYS[started.weekday()] not in window.every:
            continue
        local = datetime(started.year, started.month, started.day, hour, minute, tzinfo=zone)
        begins = local.astimezone(timezone.utc)
        if begins <= at < begins + length:
            return True
    return False


@final
@attrs.frozen
class Checked:
    """A finalized report to raise alerts from, and what it is about."""

    app: str
    workspace: str
    kind: Literal["deployment", "release"]
    target_id: str
    report: StatusReport
    #: When the deployment or release was made (its start grace counts from then).
    created: datetime


@final
@attrs.frozen
class Raised:
    """An alert raised, and the silence it was raised under: then it is recorded, not sent."""

    alert: Alert
    silence: Silence | None = None


_MESSAGES: Final = {"firing": "is {}", "reminder": "is still {}", "resolved": "is READY again"}


@final
@attrs.frozen
class Alerting:
    """A project's alert rules: its notify blocks, maintenance windows and dependencies."""

    notify: Sequence[Notify]
    maintenance: Sequence[Maintenance] = ()
    #: Each app's ``depends_on``.
    depends_on: Mapping[str, Sequence[str]] = attrs.field(factory=dict)
    #: How the reports of the apps checked from several locations make their health (DESIGN
    #: §21): the machine is given that health, not each location's.
    quorums: Mapping[str, Quorum] = attrs.field(factory=dict)

    @classmethod
    def of(cls, project: Project) -> Alerting:
        apps = project.apps.values()
        return cls(
            tuple(project.notify.values()),
            tuple(project.maintenance.values()),
            {app.name: app.depends_on for app in apps},
            {app.name: rule for app in apps if (rule := app.status.quorum_rule) is not None},
        )

    def raise_alerts(
        self,
        watches: Mapping[Key, Watch],
        checked: Iterable[Checked],
        silences: Sequence[Silence] = (),
    ) -> tuple[dict[Key, Watch], list[Raised]]:
        """The watches after ``checked`` (one round's reports), and the alerts they raise, in
        order, each with the silence among ``silences`` it was raised under, if any.

        ``watches`` holds the watches of the targets checked and of the current targets of
        their dependencies. Dependencies are taken first, so that a dependent is held by what
        its dependency's report of the same round raised.
        """
        order = {
            app: index
            for index, app in enumerate(graphlib.TopologicalSorter(self.depends_on).static_order())
        }
        changed: dict[Key, Watch] = {}
        alerts: list[Raised] = []
        for item in sorted(checked, key=lambda item: order.get(item.app, -1)):
            report = item.report
            assert report.health is not None, "reports are finalized"
            assert report.generated_time is not None, "reports are finalized"
            at = report.generated_time
            held = in_maintenance(self.maintenance, item.app, at)
            suppressed = self._dependency_fires(item.app, {**watches, **changed})
            silence = next(
                (s for s in silences if s.covers(item.workspace, item.app, item.kind, at)), None
            )
            for notify in self.notify:
                if not notify.watches(item.app):
                    continue
                key = (item.app, item.kind, item.target_id, notify.name)
                before = changed.get(key) or watches.get(key) or Watch()
                young = notify.start_grace is not None and at - item.created < timedelta(
                    seconds=notify.start_grace
                )
                after, state = step(
                    notify,
                    before,
                    report.health,
                    at,
                    held=held or young,
                    suppressed=suppressed,
                    silenced=silence is not None,
                )
                changed[key] = after
                if state is not None:
                    told = before.told if before.told is not None else Health.READY
                    alert = _alert(notify, item, state, after, told)
                    alerts.append(Raised(alert, None if state == "resolved" else silence))
        return changed, alerts

    def _dependency_fires(self, app: str, watches: Mapping[Key, Watch]) -> bool:
        needed = self.depends_on.get(app, ())
        return any(watch.firing for key, watch in watches.items() if key[0] in needed)


def describe(app: str, kind: str, state: AlertState, report: StatusReport) -> str:
    """An alert's message: ``web deployment is DOWN: connection refused``."""
    assert report.health is not None, "reports are finalized"
    message = f"{app} {kind} {_MESSAGES[state].format(report.health.name)}"
    return f"{message}: {report.health_message}" if report.health_message else message


def _alert(
    notify: Notify, item: Checked, state: AlertState, watch: Watch, previous: Health
) -> Alert:
    report = item.report
    assert report.health is not None, "reports are finalized"
    assert watch.since is not None, "an alert's watch saw a failure"
    message = describe(item.app, item.kind, state, report)
    return Alert(
        notify.name,
        item.app,
        item.workspace,
        item.kind,
        item.target_id,
        state,
        report.health,
        previous,
        message,
        watch.since,
        report,
    )
