"""The phases of a version's life (DESIGN §12): deploy, release, destroy and prune, each
recorded from intent to outcome. One class, because the phases share the rules of one
lifecycle: the intent written before a hook, the outcome held for the phase's next write, the
claim before a destroy, pruning after a release.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Callable, Coroutine, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar, final

import attrs

from ..config.project import App, Project
from ..errors import PluginError, RollbackError
from ..plugins.components import TargetKind, lifecycle_of
from ..plugins.context import JobInfo
from ..plugins.request import HookRequest
from ..plugins.signals import STOP
from ..state.database import Database
from ..state.records import Record
from ..state.store import State
from ..terminal import SilentUI, StreamUI

if TYPE_CHECKING:
    from ..plugins.manager import PluginManager
    from ..plugins.runner import Runner

__all__ = ["Lifecycle", "Outcome"]

_T = TypeVar("_T")


def _versions(created: Mapping[str, Record]) -> str:
    return repr({name: f"v{record.sequence}" for name, record in created.items()})


@final
@attrs.define
class Outcome:
    """What a phase did: the versions it made, by app, and what failed (one line each)."""

    failures: list[str] = attrs.field(factory=list)
    #: Shown by version: on Python 3.11, ``asyncio.run`` formats the result of its main task
    #: when it ends, and whole records cost a millisecond per 100 apps.
    created: dict[str, Record] = attrs.field(factory=dict, repr=_versions)


@final
class Lifecycle:
    """Deploys, releases and destroys the apps of one project, in one workspace, recording
    every version in one state."""

    def __init__(
        self,
        project: Project,
        state: State,
        plugins: PluginManager,
        *,
        workspace: str = "default",
        output: StreamUI | None = None,
        on_failure: Callable[[BaseException], None] | None = None,
        invocation: str = "waypoint-hooks",
    ) -> None:
        self.project = project
        self.state = state
        self.plugins = plugins
        self.workspace = workspace
        self.output = output
        #: Told of every exception a plugin raised (the CLI's -v prints its traceback).
        self.on_failure = on_failure
        #: How a message that says what to run names the program: with the global options
        #: the user gave, so that it runs on the same project, workspace and state.
        self.invocation = invocation
        #: The outcome of the last deploy or release hook, until the phase's next write.
        self._held: Callable[[Database], object] | None = None

    @functools.cached_property
    def runner(self) -> Runner:
        """Runs deploy, release and destroy hooks: with no timeout (Ctrl-C stops them)."""
        from ..plugins.runner import Runner

        return Runner(self.plugins, timeout=None, on_failure=self.on_failure)

    async def deploy(self, names: Sequence[str]) -> Outcome:
        """Deploy each app with its platform, and record it."""
        outcome = Outcome()
        await self._phase(self._deploy_all(names, outcome))
        return outcome

    async def _deploy_all(self, names: Sequence[str], outcome: Outcome) -> None:
        for app in self._until_stopped(self.project.select(names)):
            record = await self._create(app, "deployment", outcome)
            if record is not None:
                outcome.created[app.name] = record

    async def release(
        self,
        names: Sequence[str],
        *,
        prune: bool = True,
        prune_retain: int = 2,
        deployments: Mapping[str, Record] | None = None,
        deployment: int | None = None,
    ) -> Outcome:
        """Release each app's latest deployment (or the one ``deployments`` names for it),
        record it, and prune the deployments it superseded. With ``deployment``, the one
        app named releases its live deployment of that sequence instead: a rollback
        (:class:`~waypoint_hooks.errors.RollbackError` when there is none).

        A new release replaces the app's older ones: they are marked destroyed without their
        destroy hook, which would undo what the new one set up. With ``prune``, the app's
        deployments other than the released one are destroyed but the newest
        ``prune_retain``, as Waypoint's ``release -prune-retain`` does.
        """
        if prune_retain < 0:
            raise ValueError(f"prune_retain must be 0 or more, got {prune_retain}")
        if deployment is not None:
            deployments = self._rollback(names, deployment)
        outcome = Outcome()
        await self._phase(self._release_all(names, outcome, prune, prune_retain, deployments))
        return outcome

    async def _release_all(
        self,
        names: Sequence[str],
        outcome: Outcome,
        prune: bool,
        prune_retain: int,
        deployments: Mapping[str, Record] | None,
    ) -> None:
        for app in self._until_stopped(self.project.select(names)):
            if app.release is None:
                continue
            if deployments is None:
                deployment = self.state.records.latest("deployment", app.name, self.workspace)
            else:
                deployment = deployments.get(app.name)
                if deployment is None:
                    continue  # its deploy failed, and said so: an older one is not released
            if deployment is None:
                outcome.failures.append(
                    f"app {app.name!r} has no deployment to release; "
                    f"run `{self.invocation} deploy {app.name}` first"
                )
                continue
            record = await self._create(app, "release", outcome, deployment)
            if record is None:
                continue
            superseded = [
                older.id
                for older in self.state.records.versions("release", app.name, self.workspace)
                if older.sequence < record.sequence and older.status == "live"
            ]
            if superseded:
                self._write(functools.partial(self._mark_destroyed, "release", superseded))
            if prune:
                await self._prune(app, deployment, prune_retain, outcome)

    def _rollback(self, names: Sequence[str], sequence: int) -> dict[str, Record]:
        """The live deployment v``sequence`` of the one app named, by its name."""
        if len(set(names)) != 1:
            raise RollbackError("a rollback releases one app's deployment: name the app")
        (app,) = self.project.select(names)
        if app.release is None:
            raise RollbackError(f"app {app.name!r} has no release block: nothing releases it")
        versions = self.state.records.versions("deployment", app.name, self.workspace)
        live = [record for record in versions if record.status == "live"]
        for record in live:
            if record.sequence == sequence:
                return {app.name: record}
        listed = ", ".join(f"v{record.sequence}" for record in reversed(live)) or "none"
        raise RollbackError(f"app {app.name!r} has no live deployment v{sequence} (live: {listed})")

    async def up(
        self, names: Sequence[str], *, prune: bool = True, prune_retain: int = 2
    ) -> Outcome:
        """Deploy, then release what was deployed."""
        deployed = await self.deploy(names)
        released = await self.release(
            names,
            prune=prune,
            prune_retain=prune_retain,
            deployments=deployed.created,
        )
        return Outcome(deployed.failures + released.failures)

    async def destroy(self, names: Sequence[str], *, removed: bool = False) -> Outcome:
        """Destroy every version of each app named (every app of the config when none is,
        unless ``removed``): its releases, then its deployments, newest first; failed and
        interrupted ones with what their hooks checkpointed.

        An app the config no longer names but the state holds versions of may be named too,
        and ``removed`` adds every such app. Their destroy hooks are given no settings: those
        went with the app's use blocks (DESIGN §8).
        """
        outcome = Outcome()
        await self._phase(self._destroy_all(self._to_destroy(names, removed), outcome))
        return outcome

    def _to_destroy(self, names: Sequence[str], removed: bool) -> list[tuple[str, App | None]]:
        """The apps to destroy, by name, each with its app of the config: ``None`` for one
        the config no longer names."""
        if not names and not removed:
            return [(app.name, app) for app in self.project.select(())]
        known = self.state.records.apps(self.workspace)
        gone = [name for name in known if name not in self.project.apps]
        named = list(dict.fromkeys(names))
        # An app neither in the config nor in the state is an unknown app, as select says.
        in_config = [name for name in named if name not in gone]
        apps = {app.name: app for app in self.project.select(in_config)} if in_config else {}
        added = [name for name in gone if removed and name not in named]
        return [(name, apps.get(name)) for name in [*named, *added]]

    async def _destroy_all(self, apps: Sequence[tuple[str, App | None]], outcome: Outcome) -> None:
        for name, app in self._until_stopped(apps):
            self._header(f"Destroying {name}" if app else f"Destroying {name} ({self._gone})")
            for kind in ("release", "deployment"):
                destroyed = [
                    await self._destroy(name, app, record, outcome)
                    for record in self.state.records.versions(kind, name, self.workspace)
                    if record.status != "pending"  # another command is making it
                ]
                if not all(destroyed):
                    break  # never leave a release pointing at a destroyed deployment

    @property
    def _gone(self) -> str:
        return f"not in {self.project.path.name}"

    def _until_stopped(self, apps: Iterable[_T]) -> Iterator[_T]:
        """The apps, one at a time, until a stop signal came: none starts after it."""
        for app in apps:
            if STOP.requested:
                return
            yield app

    async def _phase(self, phase: Coroutine[Any, Any, None]) -> None:
        """Run the hooks of a deploy, release or destroy of every app; the outcome the last
        hook left for the state's next write is written whatever happens."""
        try:
            await phase
        finally:
            if self._held is not None:
                self._write(lambda tx: None)

    def _write(self, body: Callable[[Database], _T]) -> _T:
        """One write of a phase, in one transaction with the outcome the last hook left
        (:meth:`_create`): what a finished hook made is on disk before another hook can run,
        without a commit of its own (a commit waits for the disk)."""
        held, self._held = self._held, None

        def write(tx: Database) -> _T:
            if held is not None:
                held(tx)
            return body(tx)

        try:
            return self.state.write(write)
        except BaseException:
            self._held = held  # not written: the phase's last write tries again
            raise

    async def _create(
        self, app: App, kind: TargetKind, outcome: Outcome, deployment: Record | None = None
    ) -> Record | None:
        """Run a deploy or release hook, recorded from intent to outcome (DESIGN §12).

        A hook's value is held for the phase's next write (:meth:`_write`), in its
        transaction: the next app's intent, most often, which must be written before that
        app's hook runs anyway. So no other hook runs before it is stored (a crash in one
        cannot lose it), and a deployment costs one transaction, not two.
        """
        use = app.deploy if deployment is None else app.release
        assert use is not None
        verb = "Deploying" if kind == "deployment" else "Releasing"
        self._header(f"{verb} {app.name} with {use.plugin}")
        records = self.state.records
        deployment_id = None if deployment is None else deployment.id
        record = self._write(
            lambda tx: records.begin(tx, kind, app.name, self.workspace, use.plugin, deployment_id)
        )
        request = self._request(
            app.name,
            app.isolate,
            lifecycle_of(kind).create,
            use.plugin,
            use.config,
            record,
            checkpoint=_from_any_thread(
                lambda value: self.state.write(lambda tx: records.checkpoint(tx, record, value))
            ),
            **({} if deployment is None else {"deployment": deployment.value}),
        )
        made = await self._run(f"app {app.name!r}", self.runner.make(request), outcome)
        if isinstance(made, str):
            self._write(lambda tx: records.fail(tx, record, made))
            return None
        (value,) = made
        pending = record
        self._held = lambda tx: records.complete(tx, pending, value)
        record = records.live(record, value)
        self._say(f"{app.name} {kind} v{record.sequence} recorded")
        return record

    async def _destroy(self, name: str, app: App | None, record: Record, outcome: Outcome) -> bool:
        """Destroy one version of the app ``name``, ``app`` in the config (``None``: the
        config no longer names it); False when its destroy hook failed."""
        what = f"{name} {record.kind} v{record.sequence}"
        records = self.state.records
        if not self._write(lambda tx: records.claim(tx, record)):
            self._say(f"{what} is being destroyed by another command")
            return True
        value = record.cleanup_value
        if value is None:
            self._write(lambda tx: records.mark_destroyed(tx, record.kind, record.id))
            self._say(f"{what} is {record.status}; nothing was recorded to clean up")
            return True
        request = self._request(
            name,
            app.isolate if app else False,
            lifecycle_of(record.kind).destroy,
            record.plugin,
            app.settings_of(record.kind, record.plugin) if app else {},
            record,
            **{record.kind: value},
        )
        # Why a hook that needs its settings fails on an app gone from the config.
        failing = (
            f"app {name!r}"
            if app
            else f"app {name!r} ({self._gone}: its plugin was given no settings)"
        )
        if isinstance(await self._run(failing, self.runner.call(request), outcome), str):
            self._write(lambda tx: records.unclaim(tx, record))
            return False
        self._write(lambda tx: records.mark_destroyed(tx, record.kind, record.id))
        self._say(f"Destroyed {what}")
        return True

    async def _prune(self, app: App, released: Record, retain: int, outcome: Outcome) -> None:
        """Destroy ``app``'s deployments superseded by ``released``, but the newest
        ``retain`` live ones; failed and interrupted ones are never worth retaining."""
        kept = 0
        for record in self.state.records.versions("deployment", app.name, self.workspace):
            if record.id == released.id or record.status == "pending":
                continue
            if record.status == "live" and kept < retain:
                kept += 1
                continue
            await self._destroy(app.name, app, record, outcome)

    def _mark_destroyed(self, kind: TargetKind, ids: Sequence[str], tx: Database) -> None:
        for id in ids:
            self.state.records.mark_destroyed(tx, kind, id)

    def _request(
        self,
        name: str,
        isolate: bool,
        hook: str,
        plugin: str,
        config: Mapping[str, Any],
        record: Record,
        **values: Any,
    ) -> HookRequest:
        # A deploy, release or destroy hook's job is its record: job_info.id is the record's.
        job = JobInfo(self.project.name, name, self.workspace, record.id)
        ui = self.output or SilentUI()
        return HookRequest(hook, plugin, job, ui, config, isolate=isolate, **values)

    async def _run(
        self, what: str, call: Coroutine[Any, Any, _T], outcome: Outcome
    ) -> tuple[_T] | str:
        """Run one deploy, release or destroy call for ``what`` (``app 'web'``): ``(its
        value,)``, or why it failed, the failure added to ``outcome`` and shown."""
        try:
            return (await call,)
        except (PluginError, TypeError) as exc:
            outcome.failures.append(f"{what}: {exc}")
            # Its first line: the whole of it, as a log tail, is the error the command prints.
            first, _, rest = str(exc).partition("\n")
            self._say(f"✖ {first}{' …' if rest else ''}")
            return str(exc)

    def _header(self, text: str) -> None:
        if self.output is not None:
            self.output.header(text)

    def _say(self, text: str) -> None:
        if self.output is not None:
            self.output.output(text)


def _from_any_thread(keep: Callable[[Any], None]) -> Callable[[Any], None]:
    """``keep``, called on the running event loop's thread, which owns the state's connection,
    from whichever thread calls it: a sync hook's ``ctx.checkpoint()`` runs in a worker thread,
    and waits there until its checkpoint is written."""
    loop = asyncio.get_running_loop()
    owner = threading.get_ident()

    def call(value: Any) -> None:
        if threading.get_ident() == owner:
            keep(value)
            return

        async def on_loop() -> None:
            keep(value)

        asyncio.run_coroutine_threadsafe(on_loop(), loop).result()

    return call
