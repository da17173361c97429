"""The status service's work without HTTP (DESIGN §14): checking the served apps on schedule,
keeping their latest status for the API, the page and the metrics, and re-reading the config.

Checks go the one way every status check goes, :meth:`Launcher.check`: their reports are
stored exactly as ``status`` stores them. The schedule is shared with the other instances on
the state (DESIGN §16): what the API and the page show is read from the state while others
check too.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Final, final

import attrs

from ..cli import render as _render
from ..config.project import App, Project
from ..errors import UnknownAppError, UsageError
from ..lifecycle.launcher import AppStatus, Launcher, Reports, store
from ..model.report import StatusReport
from ..plugins.components import TargetKind
from ..plugins.runner import Checked, StatusCheck
from ..plugins.signals import STOP, Interrupted
from ..state.heartbeat import LEASE
from ..state.owners import this_command
from ..state.store import CheckKey, Record, State
from .metrics import Metrics
from .scheduler import Scheduler

__all__ = ["KINDS", "StatusService"]

logger = logging.getLogger("waypoint_hooks.serve")

KINDS: Final[tuple[TargetKind, ...]] = ("deployment", "release")
#: How often the config file and the stop signal are looked at, in seconds.
_POLL: Final = 0.1
_CONFIG_POLL: Final = 1.0
#: While other instances check too, how old what the API and the page show may be (seconds)
#: before it is read from the state again.
_SHARED_FRESHNESS: Final = 1.0


@final
class StatusService:
    """Checks the apps ``names`` (every app when none is named) of the launcher's project,
    each on its interval, until a stop signal, holding its checks under a lease of
    ``lease`` seconds; ``reread`` reads and checks the config file again (raising
    :class:`ConfigFileError` when it is bad)."""

    def __init__(
        self,
        launcher: Launcher,
        names: Sequence[str],
        reread: Callable[[Path], Project],
        *,
        lease: float = LEASE,
    ) -> None:
        self.launcher = launcher
        self.names = tuple(names)
        self._reread = reread
        self._lease = lease
        self.metrics = Metrics(launcher.workspace, launcher.state.alert_counts)
        self.runner = launcher.status_runner()
        # A connection of its own for the schedule and the reports, used off the event loop;
        # the process's lease is kept by the launcher's.
        self._work = State.open(launcher.state.location, leased=False)
        self.scheduler = Scheduler(self._check, self._work, launcher.workspace, apps=self.names)
        #: Why the config file as it is now is not the one that runs, if it is not.
        self.config_error: str | None = None
        self._writer = _Writer(launcher, self._work)
        self._rows = {row.app: row for row in launcher.cached(self.names)}
        self._rows_read = time.monotonic()
        # Each app's part of the status document, made again only when its row changes.
        self._documents: dict[str, dict[str, Any]] = {}
        # The file as it was read: an edit made before the service runs is an edit too.
        self._config_seen = _signature(launcher.project.path)
        self._plan()

    @property
    def project(self) -> Project:
        return self.launcher.project

    @property
    def workspace(self) -> str:
        return self.launcher.workspace

    def apps(self) -> list[App]:
        """The apps served, in the config's order."""
        return self.launcher.select(self.names)

    def rows(self) -> list[AppStatus]:
        """Each served app's latest deployment and release and their latest reports (as of
        the latest :meth:`refresh`)."""
        return [self._rows[app.name] for app in self.apps()]

    async def refresh(self) -> None:
        """While other instances check too, read what they stored (off the event loop: the
        database may be slow to answer, or away)."""
        if self.scheduler.instances < 2:
            return
        if time.monotonic() - self._rows_read < _SHARED_FRESHNESS:
            return
        self._rows_read = time.monotonic()
        rows = await asyncio.to_thread(self.launcher.cached, self.names)
        self._rows = {row.app: row for row in rows}
        self._documents.clear()

    def status_document(self, names: Sequence[str] = ()) -> dict[str, Any]:
        """The document of ``status --json``, of the apps ``names`` (all when none is)."""
        apps = self.launcher.select(names) if names else self.apps()
        return _render.status_document(
            self.project.name, self.workspace, [self._document(app.name) for app in apps]
        )

    def alerts_document(self, limit: int) -> dict[str, Any]:
        """The document of ``alerts --json``."""
        stored = self.launcher.state.alerts(self.workspace, limit)
        return _render.alerts_json(self.project.name, self.workspace, stored)

    def cluster_document(self) -> dict[str, Any]:
        """The document of ``GET /api/cluster``: the instances on the state."""
        instances = self.launcher.state.instances(datetime.now(timezone.utc), self.workspace)
        return _render.cluster_json(self.project.name, self.workspace, instances, this_command())

    def history_document(self, name: str, limit: int) -> dict[str, Any]:
        """The document of ``history APP --json``."""
        self.served(name)
        stored = self.launcher.history(name, limit)
        document = _render.history_json(self.project.name, self.workspace, name, stored)
        # Its reports are made as they are read; a response is one JSON document.
        return {**document, "reports": list(document["reports"])}

    def served(self, name: str) -> App:
        """The app ``name``, if it is served; else :class:`UnknownAppError`."""
        (app,) = self.launcher.select([name])
        if self.names and name not in self.names:
            raise UnknownAppError(f"app {name!r} is not served (served: {', '.join(self.names)})")
        return app

    async def check_now(self, name: str) -> dict[str, Any]:
        """Check the app ``name`` now (or wait for its checks that run); its status document."""
        self.served(name)
        await self.scheduler.check_now([(name, kind) for kind in KINDS])
        return self.status_document([name])

    async def run(self, until_stopped: Callable[[], bool] = lambda: STOP.requested) -> None:
        """Check on schedule and follow the config file until ``until_stopped()``; then let
        the checks that run end, and return once their reports are stored."""
        # Every instance holds its checks under its lease, on either database.
        self.launcher.state.keep_alive(self._lease, serving=True)
        scheduling = asyncio.ensure_future(self.scheduler.run())
        following = asyncio.ensure_future(self._follow_config())
        while not until_stopped() and not scheduling.done():
            await asyncio.sleep(_POLL)
        following.cancel()
        self.scheduler.stop()
        while not scheduling.done():
            if STOP.second is not None:  # stop at once, leaving the checks that run
                raise Interrupted(STOP.second)
            await asyncio.wait([scheduling], timeout=_POLL)
        self._work.close()
        scheduling.result()

    # --- checks ---------------------------------------------------------------------------

    def _plan(self) -> None:
        self.scheduler.plan(
            {(app.name, kind): float(app.status.interval) for app in self.apps() for kind in KINDS}
        )

    async def _check(self, keys: list[CheckKey]) -> None:
        """Check a batch of targets; each ends once its report is stored."""
        wanted = set(keys)
        # None: dropped from the config while due.
        apps = [
            app
            for name in dict.fromkeys(name for name, _ in keys)
            if (app := self.project.apps.get(name))
        ]
        targets = [
            (app, record)
            for app, record in await asyncio.to_thread(self.launcher.targets, apps)
            if (app.name, record.kind) in wanted
        ]
        keyed: dict[str, CheckKey] = {record.id: (app.name, record.kind) for app, record in targets}
        for key in wanted - set(keyed.values()):  # not deployed (or released), or gone
            self._update(*key, None, None)
            self.scheduler.ended(key)
        storing: list[asyncio.Future[None]] = []

        def done(check: StatusCheck, checked: Checked, reports: Reports) -> None:
            key = keyed[check.target.id]
            self.metrics.observe(*key, check.target.plugin, checked)
            storing.append(asyncio.ensure_future(self._store(key, reports)))

        await self.launcher.check(targets, self.runner, on_done=done)
        await asyncio.gather(*storing)

    async def _store(self, key: CheckKey, reports: Reports) -> None:
        await self._writer.store(reports)
        ((record, report),) = reports
        self._update(*key, record, report)
        self.scheduler.ended(key)

    def _update(
        self, name: str, kind: TargetKind, record: Record | None, report: StatusReport | None
    ) -> None:
        row = self._rows.get(name)
        if row is None:
            return  # no longer served
        if record is None:
            self.metrics.forget(name, kind)
        if kind == "deployment":
            row = attrs.evolve(row, deployment=record, deployment_report=report)
        else:
            row = attrs.evolve(row, release=record, release_report=report)
        self._rows[name] = row
        self._documents.pop(name, None)

    def _document(self, name: str) -> dict[str, Any]:
        document = self._documents.get(name)
        if document is None:
            document = self._documents[name] = _render.app_json(self._rows[name])
        return document

    # --- the config file ------------------------------------------------------------------

    async def _follow_config(self) -> None:
        path = self.project.path
        while True:
            await asyncio.sleep(_CONFIG_POLL)
            now = _signature(path)
            if now != self._config_seen:
                self._config_seen = now
                await self._reload(path)

    async def _reload(self, path: Path) -> None:
        try:
            project = await asyncio.to_thread(self._reread, path)
            missing = [name for name in self.names if name not in project.apps]
            if missing:
                raise UnknownAppError(f"{path}: no app {missing[0]!r}, which is served")
        except UsageError as exc:  # the file as it is now cannot be served: the user fixes it
            self.config_error = str(exc)
            logger.warning("%s; the config read before goes on running", exc)
            return
        self.config_error = None
        self.launcher.project = project
        self.runner = self.launcher.status_runner()
        served = {app.name for app in self.apps()}
        for name in [name for name in self._rows if name not in served]:
            del self._rows[name]
            self._documents.pop(name, None)
            for kind in KINDS:
                self.metrics.forget(name, kind)
        added = [name for name in served if name not in self._rows]
        if added:
            self._rows.update((row.app, row) for row in self.launcher.cached(added))
        self._plan()
        logger.info("%s read again: %d apps served", path, len(served))


def _signature(path: Path) -> tuple[int, int, int] | None:
    """What changes when the file is written or replaced."""
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return (stat.st_mtime_ns, stat.st_size, stat.st_ino)


@final
class _Writer:
    """Stores the reports of the service's checks off the event loop, on the service's own
    connection (not the one the event loop reads with), and as many as are waiting in one go:
    while one transaction commits (and syncs the disk), the reports of the checks that end
    meanwhile gather for the next."""

    def __init__(self, launcher: Launcher, state: State) -> None:
        self._launcher = launcher
        self._state = state
        self._waiting: list[tuple[Reports, asyncio.Future[None]]] = []
        self._writing: asyncio.Task[None] | None = None

    async def store(self, reports: Reports) -> None:
        """Store ``reports``; return once they are committed."""
        stored = asyncio.get_running_loop().create_future()
        self._waiting.append((reports, stored))
        if self._writing is None or self._writing.done():
            self._writing = asyncio.ensure_future(self._write())
        await stored

    async def _write(self) -> None:
        launcher = self._launcher
        while self._waiting:
            batch, self._waiting = self._waiting, []
            merged = [pair for reports, _ in batch for pair in reports]
            try:
                # As status stores: with the alerts the reports raise, delivered at once.
                raised = await asyncio.to_thread(
                    store, self._state, merged, launcher.kept(), launcher.alerting
                )
            except Exception as exc:
                for _, stored in batch:
                    stored.set_exception(exc)
                continue
            if raised:
                launcher.deliver()
            for _, stored in batch:
                stored.set_result(None)
