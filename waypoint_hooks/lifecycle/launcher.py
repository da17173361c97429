"""The launcher's work without click: deploy, release, status, destroy, history and alerts of
apps.

Data flows one way: config → apps → runner → plugin → report → finalize → store (with the
alerts the reports raise) → deliver; the CLI only parses options and renders what these
functions return. One module, over 400 lines, because
the phases share the rules of one lifecycle (DESIGN §12): the intent written before a hook, the
claim before a destroy, pruning after a release; split, each phase would restate them.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable, Coroutine, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar, final

import attrs

from ..alerts.machine import Alerting
from ..config.project import App, Project, Use
from ..errors import PluginError, UnknownAppError
from ..model.report import StatusReport
from ..plugins.components import OBSERVER_HOOK, TargetKind, lifecycle_of
from ..plugins.context import JobInfo, Target
from ..plugins.request import HookRequest
from ..plugins.signals import STOP
from ..state.store import Record, State, StoredAlert, StoredReport
from ..terminal import Event, RecordingUI, SilentUI, StreamUI

if TYPE_CHECKING:
    # What runs hooks (asyncio, threads) is imported by the phases that run them: status
    # --cached, history and alerts start without it.
    from ..alerts.delivery import Courier
    from ..plugins.manager import PluginManager
    from ..plugins.runner import Checked, Runner, StatusCheck

__all__ = ["AppStatus", "Launcher", "Outcome", "Reports", "store"]

_T = TypeVar("_T")
#: Reports to store, by how many reports of each of their targets to keep.
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

    def reports(self) -> list[StatusReport]:
        return [r for r in (self.deployment_report, self.release_report) if r is not None]


@final
@attrs.define
class Outcome:
    """What a command did: the apps' status, and what failed on the way (one line each)."""

    apps: list[AppStatus] = attrs.field(factory=list)
    failures: list[str] = attrs.field(factory=list)
    #: The deployments or releases the command made, by app.
    created: dict[str, Record] = attrs.field(factory=dict)


@final
class Launcher:
    """Runs the phases of the apps of one project, in one workspace, against one state."""

    def __init__(
        self,
        project: Project,
        state: State,
        plugins: PluginManager,
        *,
        workspace: str = "default",
        output: StreamUI | None = None,
        on_failure: Callable[[BaseException], None] | None = None,
    ) -> None:
        self.project = project
        #: Told of every exception a plugin raised (the CLI's -v prints its traceback).
        self.on_failure = on_failure
        self.state = state
        self.plugins = plugins
        self.workspace = workspace
        self.output = output
        #: One command is one job, as in Waypoint.
        self.job_id = uuid.uuid4().hex[:12]
        self.alerting = Alerting.of(project) if project.notify else None
        #: Delivers alerts once the first status check ran (DESIGN §15), until :meth:`close`.
        self.courier: Courier | None = None

    @functools.cached_property
    def runner(self) -> Runner:
        """Runs deploy, release and destroy hooks: with no timeout (Ctrl-C stops them)."""
        from ..plugins.runner import Runner

        return Runner(self.plugins, timeout=None, on_failure=self.on_failure)

    def close(self) -> None:
        """Deliver what is due and stop delivering: each attempt ends within its deadline."""
        if self.courier is not None:
            self.courier.close()

    def select(self, names: Sequence[str]) -> list[App]:
        """The apps named (all of them when none is), in the config's order."""
        if not names:
            return list(self.project.apps.values())
        unknown = [name for name in names if name not in self.project.apps]
        if unknown:
            known = ", ".join(self.project.apps)
            raise UnknownAppError(
                f"no app {unknown[0]!r} in {self.project.path.name} (apps: {known})"
            )
        return [self.project.apps[name] for name in dict.fromkeys(names)]

    def targets(
        self, apps: Iterable[App], kinds: Iterable[TargetKind] = ("deployment", "release")
    ) -> list[tuple[App, Record]]:
        """Each app's latest live deployment and release (of ``kinds``), where it has one:
        one query for all of them."""
        apps = list(apps)
        latest = self.state.latest_of([app.name for app in apps], self.workspace)
        return [
            (app, latest[app.name, kind])
            for app in apps
            for kind in kinds
            if (app.name, kind) in latest
        ]

    # --- phases ---------------------------------------------------------------------------

    def deploy(self, names: Sequence[str], check: bool = True) -> Outcome:
        """Deploy each app with its platform, record it, then check the apps' status."""
        outcome = Outcome()
        self._run_phase(self._deploy_all(names, outcome))
        return self._then_status(names, outcome, check)

    async def _deploy_all(self, names: Sequence[str], outcome: Outcome) -> None:
        for app in self._until_stopped(names):
            record = await self._create(app, "deployment", outcome)
            if record is not None:
                outcome.created[app.name] = record

    def release(
        self,
        names: Sequence[str],
        check: bool = True,
        *,
        prune: bool = True,
        prune_retain: int = 2,
        deployments: Mapping[str, Record] | None = None,
    ) -> Outcome:
        """Release each app's latest deployment (or the one ``deployments`` names for it),
        record it, prune the deployments it superseded, then check the apps' status.

        A new release replaces the app's older ones: they are marked destroyed without their
        destroy hook, which would undo what the new one set up. With ``prune``, the app's
        deployments other than the released one are destroyed but the newest
        ``prune_retain``, as Waypoint's ``release -prune-retain`` does.
        """
        if prune_retain < 0:
            raise ValueError(f"prune_retain must be 0 or more, got {prune_retain}")
        outcome = Outcome()
        self._run_phase(self._release_all(names, outcome, prune, prune_retain, deployments))
        return self._then_status(names, outcome, check)

    async def _release_all(
        self,
        names: Sequence[str],
        outcome: Outcome,
        prune: bool,
        prune_retain: int,
        deployments: Mapping[str, Record] | None,
    ) -> None:
        for app in self._until_stopped(names):
            if app.release is None:
                continue
            if deployments is None:
                deployment = self.state.latest("deployment", app.name, self.workspace)
            else:
                deployment = deployments.get(app.name)
                if deployment is None:
                    continue  # its deploy failed, and said so: an older one is not released
            if deployment is None:
                outcome.failures.append(
                    f"app {app.name!r} has no deployment to release; run `deploy` first"
                )
                continue
            record = await self._create(app, "release", outcome, deployment)
            if record is None:
                continue
            for older in self.state.versions("release", app.name, self.workspace):
                if older.sequence < record.sequence and older.status == "live":
                    self.state.mark_destroyed("release", older.id)
            if prune:
                await self._prune(app, deployment, prune_retain, outcome)

    def up(self, names: Sequence[str], *, prune: bool = True, prune_retain: int = 2) -> Outcome:
        """Deploy, release what was deployed, then one status check of every app."""
        deployed = self.deploy(names, check=False)
        released = self.release(
            names,
            check=False,
            prune=prune,
            prune_retain=prune_retain,
            deployments=deployed.created,
        )
        outcome = Outcome(failures=deployed.failures + released.failures)
        return self._then_status(names, outcome, True)

    def destroy(self, names: Sequence[str]) -> Outcome:
        """Destroy every version of each app: its releases, then its deployments, newest
        first; failed and interrupted ones with what their hooks checkpointed."""
        outcome = Outcome()
        self._run_phase(self._destroy_all(names, outcome))
        outcome.apps = self.cached(names)
        return outcome

    async def _destroy_all(self, names: Sequence[str], outcome: Outcome) -> None:
        for app in self._until_stopped(names):
            self._header(f"Destroying {app.name}")
            for kind in ("release", "deployment"):
                destroyed = [
                    await self._destroy(app, record, outcome)
                    for record in self.state.versions(kind, app.name, self.workspace)
                    if record.status != "pending"  # another command is making it
                ]
                if not all(destroyed):
                    break  # never leave a release pointing at a destroyed deployment

    def status(
        self,
        names: Sequence[str],
        *,
        timeout: float | None = None,
        concurrency: int | None = None,
        keep: int | None = None,
    ) -> Outcome:
        """Check every named app's latest deployment and release now; store the reports,
        keeping the newest ``keep`` of each target (default: each app's ``keep``)."""
        from ..plugins.workers import run_abandoning

        apps = self.select(names)
        targets = self.targets(apps)
        runner = self.status_runner(concurrency=concurrency, timeout=timeout)
        self.deliver()
        checked = run_abandoning(self.check(targets, runner, timeout=timeout))
        if store(self.state, checked, self.kept(keep), self.alerting):
            self.deliver()
        fresh = {record.id: report for record, report in checked}
        return Outcome(self._rows(apps, targets, fresh))

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

    def kept(self, keep: int | None = None) -> dict[str, int]:
        """How many reports of each app's targets are kept: ``keep``, or the app's own."""
        return {app.name: keep or app.status.keep for app in self.project.apps.values()}

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
        last = self.state.last_reports([r for _, r in targets if self._given_last_report(r)])
        checks = [self._check(app, record, last.get(record.id), timeout) for app, record in targets]
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
        """Deliver the outbox now, beside the checks: started by the first status check of a
        project that has notify blocks (what an earlier command left is due at once)."""
        if self.alerting is None:
            return
        if self.courier is None:
            from ..alerts.delivery import Courier

            self.courier = Courier(
                self.project,
                self.state,
                self.plugins,
                job_id=self.job_id,
                on_failure=self.on_failure,
            )
            self.courier.start()
        else:
            self.courier.wake()

    def cached(self, names: Sequence[str]) -> list[AppStatus]:
        """The stored status of every named app: its latest records and their last reports."""
        apps = self.select(names)
        targets = self.targets(apps)
        last = self.state.last_reports([record for _, record in targets])
        return self._rows(apps, targets, last)

    def records(self, name: str) -> list[Record]:
        """Every version of an app not destroyed — live, failed, pending or interrupted —
        releases first, newest first."""
        (app,) = self.select([name])
        return [
            record
            for kind in ("release", "deployment")
            for record in self.state.versions(kind, app.name, self.workspace)
        ]

    def versions(self, name: str) -> list[tuple[Record, StatusReport | None]]:
        """:meth:`records`, each with its latest report."""
        records = self.records(name)
        last = self.state.last_reports(records)
        return [(record, last.get(record.id)) for record in records]

    def history(self, name: str, limit: int | None = None) -> Iterator[StoredReport]:
        """Every stored report of an app in this workspace (at most ``limit``), newest
        first, read as it is iterated."""
        (app,) = self.select([name])
        return self.state.history(app.name, self.workspace, limit)

    def alerts(self, limit: int | None = None) -> list[StoredAlert]:
        """The alerts raised in this workspace, newest first, with how their delivery went."""
        return self.state.alerts(self.workspace, limit)

    # --- helpers --------------------------------------------------------------------------

    def _until_stopped(self, names: Sequence[str]) -> Iterator[App]:
        """The apps named, one at a time, until a stop signal came: none starts after it."""
        for app in self.select(names):
            if STOP.requested:
                return
            yield app

    def _run_phase(self, phase: Coroutine[Any, Any, None]) -> None:
        """Run the hooks of a deploy, release or destroy of every app on one event loop; the
        outcome the last hook left for the state's next write is written whatever happens."""
        from ..plugins.workers import run_abandoning

        try:
            run_abandoning(phase)
        finally:
            self.state.flush()

    def _then_status(self, names: Sequence[str], outcome: Outcome, check: bool) -> Outcome:
        if check and not STOP.requested:
            outcome.apps = self.status(names).apps
        return outcome

    async def _create(
        self, app: App, kind: TargetKind, outcome: Outcome, deployment: Record | None = None
    ) -> Record | None:
        """Run a deploy or release hook, recorded from intent to outcome (DESIGN §12).

        A hook's value is written with the state's next write, in its transaction: the next
        app's intent, most often, which must be written before that app's hook runs anyway.
        So no other hook runs before it is stored (a crash in one cannot lose it), and a
        deployment costs one transaction, not two: a commit waits for the disk.
        """
        use = app.deploy if deployment is None else app.release
        assert use is not None
        verb = "Deploying" if kind == "deployment" else "Releasing"
        self._header(f"{verb} {app.name} with {use.plugin}")
        record = self.state.begin(
            kind,
            app.name,
            self.workspace,
            use.plugin,
            None if deployment is None else deployment.id,
        )
        request = self._request(
            app,
            lifecycle_of(kind).create,
            use.plugin,
            use.config,
            record,
            checkpoint=functools.partial(self.state.checkpoint, record),
            **({} if deployment is None else {"deployment": deployment.value}),
        )
        made = await self._run(app, self.runner.make(request), outcome)
        if isinstance(made, str):
            self.state.fail(record, made)
            return None
        (value,) = made
        record = self.state.complete(record, value, deferred=True)
        self._say(f"{app.name} {kind} v{record.sequence} recorded")
        return record

    async def _destroy(self, app: App, record: Record, outcome: Outcome) -> bool:
        """Destroy one version of an app; False when its destroy hook failed."""
        what = f"{app.name} {record.kind} v{record.sequence}"
        if not self.state.claim(record):
            self._say(f"{what} is being destroyed by another command")
            return True
        value = record.cleanup_value
        if value is None:
            self.state.mark_destroyed(record.kind, record.id)
            self._say(f"{what} is {record.status}; nothing was recorded to clean up")
            return True
        use = app.deploy if record.kind == "deployment" else app.release
        request = self._request(
            app,
            lifecycle_of(record.kind).destroy,
            record.plugin,
            _config(use, record),
            record,
            **{record.kind: value},
        )
        if isinstance(await self._run(app, self.runner.call(request), outcome), str):
            self.state.unclaim(record)
            return False
        self.state.mark_destroyed(record.kind, record.id)
        self._say(f"Destroyed {what}")
        return True

    async def _prune(self, app: App, released: Record, retain: int, outcome: Outcome) -> None:
        """Destroy ``app``'s deployments superseded by ``released``, but the newest
        ``retain`` live ones; failed and interrupted ones are never worth retaining."""
        kept = 0
        for record in self.state.versions("deployment", app.name, self.workspace):
            if record.id == released.id or record.status == "pending":
                continue
            if record.status == "live" and kept < retain:
                kept += 1
                continue
            await self._destroy(app, record, outcome)

    def _request(
        self,
        app: App,
        hook: str,
        plugin: str,
        config: Mapping[str, Any],
        record: Record,
        **values: Any,
    ) -> HookRequest:
        # A deploy, release or destroy hook's job is its record: job_info.id is the record's.
        job = JobInfo(self.project.name, app.name, self.workspace, record.id)
        ui = self.output or SilentUI()
        return HookRequest(hook, plugin, job, ui, config, isolate=app.isolate, **values)

    async def _run(
        self, app: App, call: Coroutine[Any, Any, _T], outcome: Outcome
    ) -> tuple[_T] | str:
        """Run one deploy, release or destroy call: ``(its value,)``, or why it failed, the
        failure added to ``outcome`` and shown."""
        try:
            return (await call,)
        except (PluginError, TypeError) as exc:
            outcome.failures.append(f"app {app.name!r}: {exc}")
            self._say(f"✖ {exc}")
            return str(exc)

    def _given_last_report(self, record: Record) -> bool:
        """Whether a check of ``record`` needs its last report: its status hook or a wrapper
        of it takes ``last_report``, or observers are told it (decoding every previous report
        of 5,000 apps would be a fifth of a status)."""
        if self.plugins.observers(OBSERVER_HOOK):
            return True
        try:
            call = self.plugins.call(lifecycle_of(record.kind).status, record.plugin)
        except PluginError:
            return False  # the check fails before any hook runs
        return call.takes("last_report")

    def _check(
        self, app: App, record: Record, last: StatusReport | None, timeout: float | None
    ) -> StatusCheck:
        deployment = record.value
        release = None
        if record.kind == "release":
            release = record.value
            released = self.state.get("deployment", record.deployment_id or "")
            deployment = released.value if released is not None else {}
        use = app.deploy if record.kind == "deployment" else app.release
        from ..plugins.runner import StatusCheck

        target = Target(app.name, record.kind, record.id, record.plugin)
        return StatusCheck(
            target,
            self._job(app),
            _config(use, record),
            deployment,
            release,
            last,
            app.status.policy,
            RecordingUI(self._progress(_title(target))),
            timeout or app.status.timeout,
            app.isolate,
            app.status.limits,
        )

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
                )
            )
        return rows

    def _job(self, app: App) -> JobInfo:
        return JobInfo(self.project.name, app.name, self.workspace, self.job_id)

    def _progress(self, title: str) -> Callable[[Event], None] | None:
        """What relays a check's steps in progress to the output, live (a terminal shows
        them; plain output shows only the finished block)."""
        output = self.output
        if output is None:
            return None

        def relay(event: Event) -> None:
            if event.kind != "output" and not event.done:
                output.running(title, event.message)

        return relay

    def _header(self, text: str) -> None:
        if self.output is not None:
            self.output.header(text)

    def _say(self, text: str) -> None:
        if self.output is not None:
            self.output.output(text)


def store(
    state: State, reports: Reports, kept: Mapping[str, int], alerting: Alerting | None
) -> bool:
    """Store reports as :meth:`Launcher.check` gave them, in one transaction with the alerts
    they raise (DESIGN §15), keeping the newest ``kept[app]`` of each target; whether any
    alert was raised (then :meth:`Launcher.deliver`)."""
    return bool(state.add_reports(reports, keep=kept, alerting=alerting))


def _title(target: Target) -> str:
    return f"{target.app} {target.kind} ({target.plugin})"


def _config(use: Use | None, record: Record) -> Mapping[str, Any]:
    # The config of the plugin that made the record: a config file changed since then to
    # another plugin does not apply to it.
    return use.config if use is not None and use.plugin == record.plugin else {}
