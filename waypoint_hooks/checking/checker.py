"""Checking the status of apps: each app's latest live deployment and release, checked now
by the runner, their reports stored with the alerts they raise (DESIGN §15), the outbox
delivered beside; and the stored status read back. The one way every status check is made, by
``status``, ``status --watch`` and ``serve`` alike.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, final

import attrs

from ..config.project import App, Project
from ..errors import ConfigFileError, PluginError, UsageError
from ..model.collector import paused
from ..model.report import StatusReport
from ..state.owned import OnState, inline
from ..state.records import Record
from ..state.reports import Retention, StoredReport
from ..state.store import State
from ..terminal import UI, Event, RecordingUI, SilentUI, StreamUI

if TYPE_CHECKING:
    import asyncio

    # What runs hooks (asyncio, threads, the plugins and their hooks' contexts) is imported by
    # the checks that run them: status --cached, history and alerts start without it; nor do
    # they raise alerts.
    from ..alerts.delivery import Courier
    from ..alerts.machine import Alerting
    from ..plugins.components import TargetKind
    from ..plugins.context import Target
    from ..plugins.manager import PluginManager
    from ..plugins.runner import Checked, Runner, StatusCheck
    from ..state.outbox import StoredAlert

__all__ = ["AppStatus", "Checker", "RemovedApp", "Reports", "gap", "store"]

#: Reports of checks, each with the deployment or release it is about: what :func:`store` writes.
Reports = list[tuple[Record, StatusReport]]


@final
@attrs.frozen
class AppStatus:
    """One app's latest deployment and release, and their latest reports."""

    app: str
    deployment: Record | None = None
    deployment_report: StatusReport | None = None
    release: Record | None = None
    release_report: StatusReport | None = None
    #: Where nothing of a kind is live, its newest version when that one's hook failed or was
    #: interrupted: what is left to clean up, though nothing is deployed.
    unfinished: tuple[Record, ...] = ()

    def reports(self) -> list[StatusReport]:
        return [r for r in (self.deployment_report, self.release_report) if r is not None]


@final
@attrs.frozen
class RemovedApp:
    """An app the state holds versions of that the config no longer names (removed or
    renamed): nothing checks it, and only ``destroy`` ends what it runs."""

    app: str
    #: Every version of it not destroyed, releases first, newest first.
    versions: tuple[Record, ...]


@final
class Checker:
    """Checks the apps of one project, in one workspace, against one state, and reads back
    what was stored. :meth:`use` swaps the project for a config read again.

    Without ``plugins``, a checker that only reads what was stored (``status --cached``):
    the plugins are then none, made only if asked for."""

    def __init__(
        self,
        project: Project,
        state: State,
        plugins: PluginManager | None = None,
        *,
        workspace: str = "default",
        output: StreamUI | None = None,
        on_failure: Callable[[BaseException], None] | None = None,
        on_state: OnState = inline,
    ) -> None:
        self.state = state
        #: Where the state's connection is used from the event loop (DESIGN §1: one owner
        #: per connection): here, on a command's loop; in a thread of its own, under serve.
        self.on_state = on_state
        self._plugins = plugins
        self.workspace = workspace
        self.output = output
        #: Told of every exception a plugin raised (the CLI's -v prints its traceback).
        self.on_failure = on_failure
        #: One command is one job, as in Waypoint.
        self.job_id = uuid.uuid4().hex[:12]
        #: Delivers alerts once the first status check ran (DESIGN §15), until :meth:`close`.
        self.courier: Courier | None = None
        self._delivering: asyncio.Future[None] | None = None
        self.use(project)

    @property
    def plugins(self) -> PluginManager:
        """The plugins the checks call; given none, an empty manager, made when first asked."""
        if self._plugins is None:
            from ..plugins.manager import PluginManager

            self._plugins = PluginManager()
        return self._plugins

    def use(self, project: Project) -> None:
        """Check ``project`` from now on: the config as it was read again."""
        self.project = project
        self.alerting = _alerting(project) if project.notify else None
        # Asked for at every write of reports (serve: every batch), made once per config.
        self._kept = {
            app.name: Retention(app.status.keep, gap(app)) for app in project.apps.values()
        }

    async def close(self) -> None:
        """Deliver what is due and stop delivering: each attempt ends within its deadline."""
        if self.courier is None or self._delivering is None:
            return
        self.courier.close()
        await self._delivering

    def targets(
        self, apps: Iterable[App], kinds: Iterable[TargetKind] = ("deployment", "release")
    ) -> list[tuple[App, Record]]:
        """Each app's latest live deployment and release (of ``kinds``), where it has one:
        one query for all of them."""
        apps = list(apps)
        # Records, their values and times: thousands of objects, all kept, none in a cycle.
        with paused():
            latest = self.state.records.latest_of([app.name for app in apps], self.workspace)
        return [
            (app, latest[app.name, kind])
            for app in apps
            for kind in kinds
            if (app.name, kind) in latest
        ]

    async def status(
        self,
        names: Sequence[str],
        *,
        timeout: float | None = None,
        concurrency: int | None = None,
        keep: int | None = None,
    ) -> list[AppStatus]:
        """Check every named app's latest deployment and release now; store the reports,
        keeping the newest ``keep`` of each target (default: each app's ``keep``)."""
        apps = self.project.select(names)
        targets = self.targets(apps)
        runner = self.status_runner(concurrency=concurrency, timeout=timeout)
        self.deliver()
        seconds: list[float | None] = []

        def timed(_: StatusCheck, checked: Checked, __: Reports) -> None:
            seconds.append(checked.seconds)

        checked = await self.check(targets, runner, timeout=timeout, on_done=timed)
        # Rows and texts of every report, then the rows of the status: no plugin code runs.
        with paused():
            raised = store(self.state, checked, self.kept(keep), self.alerting, seconds)
            fresh = {record.id: report for record, report in checked}
            rows = self._rows(apps, targets, fresh)
        if raised:
            self.deliver()
        return rows

    def status_runner(
        self, *, concurrency: int | None = None, timeout: float | None = None
    ) -> Runner:
        """A runner of status checks, with the project's limits unless others are given."""
        from ..plugins.runner import Runner

        return Runner(
            self.plugins,
            concurrency=concurrency or self.project.status.concurrency,
            timeout=timeout or self.project.status.timeout,
            on_failure=self.on_failure,
        )

    def kept(self, keep: int | None = None) -> Mapping[str, Retention]:
        """How many reports of each app's targets are kept (``keep``, or the app's own), the
        older rolled up with a gap of twice the app's interval."""
        if not keep:
            return self._kept
        return {name: Retention(keep, kept.gap) for name, kept in self._kept.items()}

    async def check(
        self,
        targets: Sequence[tuple[App, Record]],
        runner: Runner,
        *,
        timeout: float | None = None,
        on_done: Callable[[StatusCheck, Checked, Reports], None] | None = None,
    ) -> Reports:
        """Check ``targets`` (apps' deployments and releases) now with ``runner``; their
        reports, to :func:`store`. ``on_done`` is told of each check as it ends, with what to
        store of it.

        The one way every status check is made, by ``status`` and by ``serve`` alike.
        """

        def read() -> list[StatusCheck]:
            with paused():  # the checks, as the targets (:meth:`targets`)
                last = self.state.reports.last_reports(
                    self._given_last_report([record for _, record in targets])
                )
                return self._checks(targets, last, timeout)

        checks = await self.on_state(read)
        by_id = {record.id: record for _, record in targets}
        reports: Reports = []

        def done(check: StatusCheck, checked: Checked) -> None:
            # Only the checks that ran: after a stop signal the others never start.
            record = by_id[check.target.id]
            reports.append((record, checked.report))
            self._show_check(check, checked.report)
            if on_done is not None:
                on_done(check, checked, [(record, checked.report)])

        await runner.check_all(checks, done, self._show_start)
        return reports

    def deliver(self) -> None:
        """Deliver the outbox now, beside the checks, in a task of the running event loop:
        started by the first status check of a project that has notify blocks (what an earlier
        command left is due at once)."""
        if self.alerting is None:
            return
        if self.courier is None:
            import asyncio

            from ..alerts.delivery import Courier

            self.courier = Courier(
                self.project,
                self.state,
                self.plugins,
                job_id=self.job_id,
                on_failure=self.on_failure,
                on_state=self.on_state,
            )
            self._delivering = asyncio.ensure_future(self.courier.run())
        else:
            self.courier.wake()

    def cached(self, names: Sequence[str]) -> list[AppStatus]:
        """The stored status of every named app: its latest records and their last reports."""
        return self.cached_of(self.project.select(names))

    def cached_of(self, apps: Sequence[App]) -> list[AppStatus]:
        """:meth:`cached` of ``apps``, of this project or of the config as it was read again."""
        targets = self.targets(apps)
        last = self.state.reports.last_reports([record for _, record in targets])
        return self._rows(apps, targets, last)

    def records(self, name: str) -> list[Record]:
        """Every version of an app not destroyed — live, failed, pending or interrupted —
        releases first, newest first."""
        (app,) = self.project.select([name])
        return self._records(app.name)

    def removed(self) -> list[RemovedApp]:
        """The apps of this workspace that the state holds versions of and the config no
        longer names, by name, each with those versions."""
        names = self.state.records.apps(self.workspace)
        return [
            RemovedApp(name, tuple(self._records(name)))
            for name in names
            if name not in self.project.apps
        ]

    def _records(self, name: str) -> list[Record]:
        return [
            record
            for kind in ("release", "deployment")
            for record in self.state.records.versions(kind, name, self.workspace)
        ]

    def versions(self, name: str) -> list[tuple[Record, StatusReport | None]]:
        """:meth:`records`, each with its latest report."""
        records = self.records(name)
        last = self.state.reports.last_reports(records)
        return [(record, last.get(record.id)) for record in records]

    def history(self, name: str, limit: int | None = None) -> Iterator[StoredReport]:
        """Every stored report of an app in this workspace (at most ``limit``), newest
        first, read as it is iterated."""
        (app,) = self.project.select([name])
        return self.state.reports.history(app.name, self.workspace, limit)

    def alerts(self, limit: int | None = None) -> list[StoredAlert]:
        """The alerts raised in this workspace, newest first, with how their delivery went."""
        return self.state.outbox.alerts(self.workspace, limit)

    def _given_last_report(self, records: Sequence[Record]) -> list[Record]:
        """Those of ``records`` whose check needs its last report: its status hook or a wrapper
        of it takes ``last_report``, or observers are told it (decoding every previous report
        of 5,000 apps would be a fifth of a status). Each hook of each plugin asked once."""
        from ..plugins.components import OBSERVER_HOOK, lifecycle_of

        if self.plugins.observers(OBSERVER_HOOK):
            return list(records)
        takes: dict[tuple[TargetKind, str], bool] = {}
        for kind, plugin in {(record.kind, record.plugin) for record in records}:
            try:
                call = self.plugins.call(lifecycle_of(kind).status, plugin)
            except PluginError:
                takes[kind, plugin] = False  # the check fails before any hook runs
            else:
                takes[kind, plugin] = call.takes("last_report")
        return [record for record in records if takes[record.kind, record.plugin]]

    def _checks(
        self,
        targets: Sequence[tuple[App, Record]],
        last: Mapping[str, StatusReport],
        timeout: float | None,
    ) -> list[StatusCheck]:
        """The check of each of ``targets``, with its last report where ``last`` has one."""
        from ..plugins.context import JobInfo, Target
        from ..plugins.runner import StatusCheck

        checks = []
        for app, record in targets:
            deployment = record.value
            release = None
            if record.kind == "release":
                release = record.value
                released = self.state.records.get("deployment", record.deployment_id or "")
                deployment = released.value if released is not None else {}
            target = Target(app.name, record.kind, record.id, record.plugin)
            job = JobInfo(self.project.name, app.name, self.workspace, self.job_id)
            checks.append(
                StatusCheck(
                    target,
                    job,
                    app.settings_of(record.kind, record.plugin),
                    deployment,
                    release,
                    last.get(record.id),
                    app.status.policy,
                    self._ui(target),
                    timeout or app.status.timeout,
                    app.isolate,
                    app.status.limits,
                )
            )
        return checks

    def _show_start(self, check: StatusCheck) -> None:
        if self.output is not None:
            self.output.running(_title(check.target), "checking...")

    def _show_check(self, check: StatusCheck, report: StatusReport) -> None:
        # Checks run concurrently: each one's lines were recorded and are shown together,
        # under its app, once it is done; until then, a terminal shows its progress live.
        if self.output is None or not isinstance(check.ui, RecordingUI):
            return
        title = _title(check.target)
        self.output.finished(title)
        events = check.ui.final_events()
        if events:
            self.output.group(title, events)

    def _rows(
        self,
        apps: Iterable[App],
        targets: Iterable[tuple[App, Record]],
        reports: Mapping[str, StatusReport],
    ) -> list[AppStatus]:
        # The records targets() read already: the state is not asked for them again.
        latest = {(app.name, record.kind): record for app, record in targets}
        apps = list(apps)
        unfinished = self._unfinished(apps, latest)
        rows = []
        for app in apps:
            deployment = latest.get((app.name, "deployment"))
            release = latest.get((app.name, "release"))
            rows.append(
                AppStatus(
                    app.name,
                    deployment,
                    reports.get(deployment.id) if deployment else None,
                    release,
                    reports.get(release.id) if release else None,
                    tuple(unfinished.get(app.name, ())),
                )
            )
        return rows

    def _unfinished(
        self, apps: Sequence[App], latest: Mapping[tuple[str, TargetKind], Record]
    ) -> dict[str, list[Record]]:
        """By app, the newest version of each kind that nothing live of its kind hides, when
        its hook failed or was interrupted. Only apps missing a live version are asked about:
        a status of apps that are all deployed reads nothing more."""
        # Every app deploys; only one with a release block releases. Spelled out: a generator
        # for each app took two fifths of the time of a status's rows.
        missing = [
            app.name
            for app in apps
            if (app.name, "deployment") not in latest
            or (app.release is not None and (app.name, "release") not in latest)
        ]
        found: dict[str, list[Record]] = {}
        if not missing:
            return found
        for (name, kind), record in self.state.records.newest_of(missing, self.workspace).items():
            if (name, kind) not in latest and record.status in ("failed", "interrupted"):
                found.setdefault(name, []).append(record)
        return found

    def _ui(self, target: Target) -> UI:
        """What a check tells of its steps goes to: recorded, to be shown once it is done,
        and relayed to the output as it comes (a terminal shows them live; plain output
        shows only the finished block). With no output (serve, ``--json``), nowhere."""
        output = self.output
        if output is None:
            return SilentUI()
        title = _title(target)

        def relay(event: Event) -> None:
            if event.kind != "output" and not event.done:
                output.running(title, event.message)

        return RecordingUI(relay)


def store(
    state: State,
    reports: Reports,
    kept: Mapping[str, Retention],
    alerting: Alerting | None,
    durations: Sequence[float | None] | None = None,
) -> bool:
    """Store reports as :meth:`Checker.check` gave them, in one transaction with the alerts
    they raise (DESIGN §15), keeping the newest ``kept[app]`` of each target, with the
    seconds each one's check took (``durations``, where known: the roll-ups' percentiles);
    whether any alert was raised (then :meth:`Checker.deliver`)."""
    from ..alerts.pipeline import store_reports

    return bool(store_reports(state, reports, kept, alerting, durations))


def gap(app: App) -> float:
    """How long (seconds) a report of ``app`` holds without a next one before its time is
    no data (in uptime, and in the roll-ups' gaps): twice its interval, which a late check
    (jitter, a slow check) stays well within."""
    return 2 * app.status.interval


def _alerting(project: Project) -> Alerting:
    from ..alerts.machine import Alerting

    return Alerting.of(project)


def _title(target: Target) -> str:
    return f"{target.app} {target.kind} ({target.plugin})"


def check_locations(project: Project, state: State, location: str) -> None:
    """Refuse to check from a ``location`` (``serve --location``), or apps checked from several
    (DESIGN §21), on a state that instances elsewhere cannot share: a SQLite file. Every
    command that checks asks, ``serve`` each time it reads the config again."""
    if state.shared:
        return
    if location:
        raise UsageError(
            f"serve --location {location}: a location is where one of several instances on a "
            f"PostgreSQL state checks from, and {state.where} is a SQLite file; give "
            "--state postgresql://... (or WAYPOINT_HOOKS_STATE), or leave --location out"
        )
    for app in project.apps.values():
        if app.status.locations:
            raise ConfigFileError(
                project.path,
                app.line,
                f'app "{app.name}": locations ({", ".join(app.status.locations)}) are checked '
                f"by serve instances in each, which share a PostgreSQL state, and "
                f"{state.where} is a SQLite file; give --state postgresql://... (or "
                "WAYPOINT_HOOKS_STATE), or leave locations out",
            )
