"""The status service's work without HTTP (DESIGN §14): checking the served apps on schedule,
keeping their latest status for the API, the page and the metrics, and re-reading the config.

Checks go the one way every status check goes, :meth:`Launcher.check`: their reports are
stored exactly as ``status`` stores them.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Final, final

import attrs

from . import _render
from ._components import TargetKind
from ._config import App, ConfigFileError, Project
from ._launcher import AppStatus, Launcher, UnknownAppError
from ._metrics import Metrics
from ._model import StatusReport
from ._runner import Checked, StatusCheck
from ._scheduler import Scheduler
from ._signals import STOP
from ._state import Record

__all__ = ["KINDS", "StatusService", "TargetKey"]

logger = logging.getLogger("waypoint_hooks.serve")

KINDS: Final[tuple[TargetKind, ...]] = ("deployment", "release")
#: What the scheduler checks: an app's deployment or its release.
TargetKey = tuple[str, TargetKind]
#: How often the config file and the stop signal are looked at, in seconds.
_POLL: Final = 0.1
_CONFIG_POLL: Final = 1.0


@final
class StatusService:
    """Checks the apps ``names`` (every app when none is named) of the launcher's project,
    each on its interval, until a stop signal; ``reread`` reads and checks the config file
    again (raising :class:`ConfigFileError` when it is bad)."""

    def __init__(
        self, launcher: Launcher, names: Sequence[str], reread: Callable[[Path], Project]
    ) -> None:
        self.launcher = launcher
        self.names = tuple(names)
        self._reread = reread
        self.metrics = Metrics(launcher.workspace)
        self.runner = launcher.status_runner()
        self.scheduler: Scheduler[TargetKey] = Scheduler(self._check)
        #: Why the config file as it is now is not the one that runs, if it is not.
        self.config_error: str | None = None
        self._rows = {row.app: row for row in launcher.cached(self.names)}
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
        """Each served app's latest deployment and release and their latest reports."""
        return [self._rows[app.name] for app in self.apps()]

    def status_document(self, names: Sequence[str] = ()) -> dict[str, Any]:
        """The document of ``status --json``, of the apps ``names`` (all when none is)."""
        apps = self.launcher.select(names) if names else self.apps()
        return _render.status_document(
            self.project.name, self.workspace, [self._document(app.name) for app in apps]
        )

    def history_document(self, name: str, limit: int) -> dict[str, Any]:
        """The document of ``history APP --json``."""
        self.served(name)
        stored = self.launcher.history(name, limit)
        return _render.history_json(self.project.name, self.workspace, name, stored)

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
        scheduling = asyncio.ensure_future(self.scheduler.run())
        following = asyncio.ensure_future(self._follow_config())
        try:
            while not until_stopped() and not scheduling.done():
                await asyncio.sleep(_POLL)
        finally:
            following.cancel()
            self.scheduler.stop()
            await scheduling

    # --- checks ---------------------------------------------------------------------------

    def _plan(self) -> None:
        self.scheduler.plan(
            {(app.name, kind): float(app.status.interval) for app in self.apps() for kind in KINDS}
        )

    async def _check(self, key: TargetKey) -> None:
        name, kind = key
        app = self.project.apps.get(name)
        if app is None:
            return  # dropped from the config while it was due
        targets = self.launcher.targets([app], (kind,))
        if not targets:
            self._update(name, kind, None, None)
            return
        ((_, record),) = targets

        def observe(check: StatusCheck, checked: Checked) -> None:
            self.metrics.observe(name, kind, check.target.plugin, checked)

        reports = await self.launcher.check(targets, self.runner, on_done=observe)
        if record.id in reports:  # else a stop signal came before it started
            self._update(name, kind, record, reports[record.id])

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
        except (ConfigFileError, UnknownAppError) as exc:
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
