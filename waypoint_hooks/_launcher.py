"""The launcher's work without click: deploy, release, status, destroy and history of apps.

Data flows one way: config → apps → runner → plugin → report → finalize → store; the CLI only
parses options and renders what these functions return.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Final, Literal, final

import attrs

from ._callers import HookFailed, HookTimeout, invoke
from ._codec import unstructure_value
from ._config import App, Project, Use
from ._context import Context, JobInfo, Target
from ._errors import PluginError
from ._isolate import invoke_isolated
from ._model import StatusReport
from ._plugins import PluginManager
from ._runner import Runner, StatusCheck
from ._state import Record, State, StoredReport
from ._workers import run_abandoning
from .terminal import RecordingUI, SilentUI, StreamUI

__all__ = ["AppStatus", "Launcher", "Outcome", "UnknownAppError"]

Kind = Literal["deployment", "release"]
_HOOKS: Final = {
    ("deployment", "create"): "platform_deploy_func",
    ("deployment", "destroy"): "platform_destroy_func",
    ("release", "create"): "release_manager_release_func",
    ("release", "destroy"): "release_manager_destroy_func",
}


class UnknownAppError(ValueError):
    """An app named on the command line is not in the config."""


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

    # --- phases ---------------------------------------------------------------------------

    def deploy(self, names: Sequence[str], check: bool = True) -> Outcome:
        """Deploy each app with its platform, record it, then check the apps' status."""
        outcome = Outcome()
        for app in self.select(names):
            self._create(app, "deployment", app.deploy, {}, outcome)
        return self._then_status(names, outcome, check)

    def release(self, names: Sequence[str], check: bool = True) -> Outcome:
        """Release each app's latest deployment, record it, then check the apps' status."""
        outcome = Outcome()
        for app in self.select(names):
            if app.release is None:
                continue
            deployment = self.state.latest("deployment", app.name, self.workspace)
            if deployment is None:
                outcome.failures.append(
                    f"app {app.name!r} has no deployment to release; run `deploy` first"
                )
                continue
            self._create(
                app, "release", app.release, {"deployment": deployment.value}, outcome, deployment
            )
        return self._then_status(names, outcome, check)

    def up(self, names: Sequence[str]) -> Outcome:
        """Deploy, release, then one status check of every app."""
        deployed = self.deploy(names, check=False)
        released = self.release(names, check=False)
        outcome = Outcome(failures=deployed.failures + released.failures)
        return self._then_status(names, outcome, True)

    def destroy(self, names: Sequence[str]) -> Outcome:
        """Destroy each app's latest release, then its latest deployment."""
        outcome = Outcome()
        for app in self.select(names):
            self._header(f"Destroying {app.name}")
            phases: tuple[tuple[Kind, Use | None], ...] = (
                ("release", app.release),
                ("deployment", app.deploy),
            )
            for kind, use in phases:
                record = self.state.latest(kind, app.name, self.workspace)
                if record is None:
                    continue
                values: dict[str, Any] = {kind: record.value}
                done = self._run(
                    app, kind, "destroy", record.plugin, _config(use, record), values, outcome
                )
                if done is None:
                    break  # never leave a release pointing at a destroyed deployment
                self.state.mark_destroyed(kind, record.id)
                self._say(f"Destroyed {app.name} {kind} v{record.sequence}")
        outcome.apps = self.cached(names)
        return outcome

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
        apps = self.select(names)
        targets = self._targets(apps)
        last = self.state.last_reports([record for _, record in targets])
        checks = [self._check(app, record, last.get(record.id), timeout) for app, record in targets]
        runner = Runner(
            self.plugins,
            concurrency=concurrency or self.project.status.concurrency,
            timeout=timeout or self.project.status.timeout,
            on_failure=self.on_failure,
        )
        reports = run_abandoning(runner.check_all(checks, self._show_check))
        by_keep: dict[int, list[tuple[Record, StatusReport]]] = {}
        for (app, record), report in zip(targets, reports, strict=True):
            by_keep.setdefault(keep or app.status.keep, []).append((record, report))
        for kept, checked in by_keep.items():
            self.state.add_reports(checked, keep=kept)
        fresh = {record.id: report for checked in by_keep.values() for record, report in checked}
        return Outcome(self._rows(apps, targets, fresh))

    def cached(self, names: Sequence[str]) -> list[AppStatus]:
        """The stored status of every named app: its latest records and their last reports."""
        apps = self.select(names)
        targets = self._targets(apps)
        last = self.state.last_reports([record for _, record in targets])
        return self._rows(apps, targets, last)

    def history(self, name: str, limit: int | None = None) -> list[StoredReport]:
        """Every stored report of an app in this workspace, newest first."""
        (app,) = self.select([name])
        return self.state.history(app.name, self.workspace, limit)

    # --- helpers --------------------------------------------------------------------------

    def _then_status(self, names: Sequence[str], outcome: Outcome, check: bool) -> Outcome:
        if check:
            outcome.apps = self.status(names).apps
        return outcome

    def _create(
        self,
        app: App,
        kind: Kind,
        use: Use,
        values: dict[str, Any],
        outcome: Outcome,
        deployment: Record | None = None,
    ) -> None:
        verb = "Deploying" if kind == "deployment" else "Releasing"
        self._header(f"{verb} {app.name} with {use.plugin}")
        value = self._run(app, kind, "create", use.plugin, use.config, values, outcome)
        if value is None:
            return
        if kind == "deployment":
            record = self.state.add_deployment(app.name, self.workspace, use.plugin, value)
        else:
            assert deployment is not None
            record = self.state.add_release(
                app.name, self.workspace, use.plugin, deployment.id, value
            )
        self._say(f"{app.name} {kind} v{record.sequence} recorded")

    def _run(
        self,
        app: App,
        kind: Kind,
        action: Literal["create", "destroy"],
        plugin: str,
        config: Mapping[str, Any],
        values: Mapping[str, Any],
        outcome: Outcome,
    ) -> Mapping[str, Any] | None:
        """Run one component hook; its value as stored (``{}`` for destroy), or None when it
        failed, with the failure added to ``outcome``."""
        hook = _HOOKS[kind, action]
        arguments = {
            "ctx": Context(),
            "job_info": self._job(app),
            "ui": self.output or SilentUI(),
            "config": config,
            "deployment": None,
            "release": None,
            **values,
        }
        try:
            call = self.plugins.call(hook, plugin)
            if app.isolate:
                running = invoke_isolated(call, self.plugins, arguments, None)
            else:
                running = invoke(call, arguments, None)
            value = run_abandoning(running)
            if action == "destroy":
                return {}
            if value is None:
                raise TypeError(
                    f"plugin {plugin!r} {hook} returned None; it must return "
                    "the value to record (an attrs instance or a mapping)"
                )
            return unstructure_value(value)
        except (PluginError, HookFailed, HookTimeout, TypeError) as exc:
            if isinstance(exc, HookFailed) and self.on_failure is not None:
                self.on_failure(exc)
            outcome.failures.append(f"app {app.name!r}: {exc}")
            self._say(f"✖ {exc}")
            return None

    def _targets(self, apps: Iterable[App]) -> list[tuple[App, Record]]:
        targets = []
        for app in apps:
            for kind in ("deployment", "release"):
                record = self.state.latest(kind, app.name, self.workspace)
                if record is not None:
                    targets.append((app, record))
        return targets

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
        return StatusCheck(
            Target(app.name, record.kind, record.id, record.plugin),
            self._job(app),
            _config(use, record),
            deployment,
            release,
            last,
            app.status.policy,
            RecordingUI(),
            timeout or app.status.timeout,
            app.isolate,
        )

    def _show_check(self, check: StatusCheck, report: StatusReport) -> None:
        # Checks run concurrently: each one's lines were recorded and are shown together,
        # under its app, once it is done.
        if self.output is None or not isinstance(check.ui, RecordingUI):
            return
        events = check.ui.final_events()
        if events:
            target = check.target
            self.output.group(f"{target.app} {target.kind} ({target.plugin})", events)

    def _rows(
        self,
        apps: Iterable[App],
        targets: Iterable[tuple[App, Record]],
        reports: Mapping[str, StatusReport],
    ) -> list[AppStatus]:
        # The records _targets read already: the state is not asked for them again.
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

    def _header(self, text: str) -> None:
        if self.output is not None:
            self.output.header(text)

    def _say(self, text: str) -> None:
        if self.output is not None:
            self.output.output(text)


def _config(use: Use | None, record: Record) -> Mapping[str, Any]:
    # The config of the plugin that made the record: a config file changed since then to
    # another plugin does not apply to it.
    return use.config if use is not None and use.plugin == record.plugin else {}
