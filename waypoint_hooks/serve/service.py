"""The status service's work without HTTP (DESIGN §14): checking the served apps on schedule,
keeping their latest status for the API, the page and the metrics, and re-reading the config.

Checks go the one way every status check goes, :meth:`Checker.check`: their reports are
stored exactly as ``status`` stores them. The schedule is shared with the other instances on
the state (DESIGN §16): what the API and the page show is read from the state while others
check too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Final, final

import attrs

from ..checking import documents
from ..checking import located as locations
from ..checking.checker import AppStatus, Checker, Reports, check_locations
from ..checking.pushed import accept, decode, target_of
from ..config.project import App, Project
from ..errors import StateError, UnknownAppError
from ..model.report import StatusReport
from ..plugins.components import TargetKind
from ..plugins.runner import Checked, StatusCheck
from ..plugins.signals import STOP, Interrupted
from ..state.columns import CheckKey
from ..state.heartbeat import LEASE
from ..state.records import Record
from ..state.store import State
from .metrics import ALERTS_FRESHNESS, Metrics
from .page import Page, refresh_after
from .readings import Readings
from .reloading import ConfigFollower
from .scheduler import Scheduler
from .silences import Silences
from .threads import StateThread
from .watchdog import Watchdog
from .writer import Writer

__all__ = ["KINDS", "ConnectionLimits", "StatusService"]

logger = logging.getLogger("waypoint_hooks.serve")

KINDS: Final[tuple[TargetKind, ...]] = ("deployment", "release")
#: How often the config file and the stop signal are looked at, in seconds.
_POLL: Final = 0.1
#: While other instances check too, how old what the API and the page show may be (seconds)
#: before it is read from the state again.
_SHARED_FRESHNESS: Final = 1.0
#: The newest alerts of the workspace an app's page looks among for its own.
_ALERTS_READ: Final = 500
#: How long after a scrape of ``/metrics`` the alerts' counts are still kept fresh (seconds):
#: longer than the intervals Prometheus is given to scrape at.
_SCRAPED_LATELY: Final = 600.0


@final
@attrs.frozen
class ConnectionLimits:
    """What the HTTP clients of the service may hold (docs/serve.md, "Hostile clients")."""

    #: Seconds within which a request's headers must have arrived, from the connection or
    #: from the answer to the previous request: a slow or silent client is cut off then.
    header_timeout: float = 10.0
    #: Connections open at once; one more closes the one that waited longest for a request.
    max_connections: int = 256


@final
class StatusService:
    """Checks the apps ``names`` (every app when none is named) of the checker's project,
    each on its interval, until a stop signal, holding its checks under a lease of
    ``lease`` seconds; ``reread`` reads and checks the config file again (raising
    :class:`ConfigFileError` when it is bad). In a ``location``, it checks the apps of that
    location and those of none. Its HTTP clients are held to ``limits``.

    The web routes ask it only what :class:`~waypoint_hooks.serve.web.StatusView` names: the
    documents they answer with, the page, the health, the metrics and a check made now; its
    scheduler, checker and state are its own.
    """

    def __init__(
        self,
        checker: Checker,
        names: Sequence[str],
        reread: Callable[[Path], Project],
        *,
        lease: float = LEASE,
        location: str = "",
        limits: ConnectionLimits = ConnectionLimits(),
    ) -> None:
        check_locations(checker.project, checker.state, location)
        #: Where this instance checks from (DESIGN §21); empty: no location of its own.
        self.location = location
        self._checker = checker
        self.names = tuple(names)
        self._reread = reread
        self._lease = lease
        self.limits = limits
        self._metrics = Metrics(checker.workspace, checker.state.outbox.counts, location)
        #: When ``/metrics`` was last asked for (monotonic seconds).
        self._scraped = -math.inf
        self._runner = checker.status_runner()
        self._page = Page(checker.state, checker.workspace)
        # Two connections, each owned by a thread of its own, so that the event loop never
        # waits for the database: the checker's, for what is read and for the alerts' outbox
        # (the process's lease is kept by it); and one for the schedule and the reports.
        self._reads = StateThread(checker.state, "reader")
        self._on_state = checker.on_state = self._reads.run
        self._work = State.open(checker.state.location, leased=False)
        self._writes = StateThread(self._work, "writer")
        self._scheduler = Scheduler(
            self._check,
            self._work,
            checker.workspace,
            apps=self.names,
            location=location,
            on_state=self._writes.run,
        )
        #: The silences of the workspace, as the API makes, lists and lifts them.
        self.silences = Silences(checker, self.served)
        #: What else the API reads of the state: history, uptime, alerts, instances.
        self.readings = Readings(checker, self.served)
        self._writer = Writer(checker, self._work, location, self._writes.run)
        self._watchdog = Watchdog(checker, self.apps, self._store_outside)
        self._rows = {row.app: row for row in checker.cached(self.names)}
        self._rows_read = time.monotonic()
        # Each app's part of the status document, made again only when its row changes.
        self._documents: dict[str, dict[str, Any]] = {}
        # The file as it was read: an edit made before the service runs is an edit too.
        self._config = ConfigFollower(checker.project.path, self._read, self._use)
        self._plan()

    @property
    def project(self) -> Project:
        return self._checker.project

    @property
    def workspace(self) -> str:
        return self._checker.workspace

    def apps(self) -> list[App]:
        """The apps served, in the config's order."""
        return self.project.select(self.names)

    def served(self, name: str) -> App:
        """The app ``name``, if it is served; else :class:`UnknownAppError`."""
        (app,) = self.project.select([name])
        if self.names and name not in self.names:
            raise UnknownAppError(f"app {name!r} is not served (served: {', '.join(self.names)})")
        return app

    # --- what the web routes ask (web.StatusView) ---------------------------------------------

    @property
    def running(self) -> bool:
        """Whether checks are scheduled: false once the service is stopping."""
        return self._scheduler.running

    def health(self) -> dict[str, Any]:
        """``GET /healthz``: the scheduler, apps, checks running, lag and the config's error."""
        unreachable = self._unreachable()
        return {
            "scheduler": "running" if self.running else "stopped",
            "state": "reachable" if unreachable is None else f"unreachable: {unreachable}",
            "apps": len(self.apps()),
            "checking": self._scheduler.checking,
            "lag_seconds": self._scheduler.lag_seconds(),
            "config_error": self.config_error,
        }

    async def page(self, name: str | None = None, *, writer: bool = False) -> str:
        """The status page of the apps served, or the page of the app ``name``; with a
        check-now button for a ``writer``."""
        await self._refresh()
        refresh = refresh_after(float(app.status.interval) for app in self.apps())
        # Off the event loop: uptime is counted over weeks of stored reports.
        apps = self.apps() if name is None else [self.served(name)]
        rows = {app.name: self._rows[app.name] for app in apps}

        def render() -> str:
            located = locations.located(self._checker.state, apps, rows)
            if name is None:
                return self._page.render(
                    self.project.name,
                    [(rows[app.name], float(app.status.interval)) for app in apps],
                    refresh=refresh,
                    config_error=self.config_error,
                    located=located,
                )
            return self._page.render_app(
                self.project.name,
                rows[name],
                float(apps[0].status.interval),
                refresh=refresh,
                alerts=self._checker.alerts(_ALERTS_READ),
                maintenance=self.project.maintenance.values(),
                writer=writer,
                config_error=self.config_error,
                located=located.get(name),
            )

        return await self._on_state(render)

    async def badge(self, name: str, which: str) -> str:
        """The badge ``which`` of the app ``name`` (``GET /badges/APP/WHICH.svg``)."""
        app = self.served(name)
        await self._refresh()
        row = self._rows[name]
        interval = float(app.status.interval)
        return await self._on_state(lambda: self._page.badge(row, interval, which))

    async def status_document(self) -> dict[str, Any]:
        """The document of ``status --json``, of every app served."""
        await self._refresh()
        return await self._status_document(self.apps())

    async def check_now(self, name: str) -> dict[str, Any]:
        """Check the app ``name`` now (or wait for its checks that run); its status document."""
        app = self.served(name)
        unreachable = self._unreachable()
        if unreachable is not None:
            # At once: the check could neither be held nor stored.
            raise StateError(f"the state cannot be reached: {unreachable}")
        await self._scheduler.check_now([(name, kind) for kind in KINDS])
        return await self._status_document([app])

    def report_limit(self, name: str) -> int:
        """How many bytes a report pushed about the app ``name`` may take, if it is served."""
        return self.served(name).status.limits.max_report_bytes

    async def push_report(
        self, name: str, kind: TargetKind, data: bytes, protobuf: bool
    ) -> dict[str, Any]:
        """Store a report pushed from outside about the app ``name``'s latest live ``kind``
        (DESIGN §20): ``data`` in the wire format, JSON or with ``protobuf`` the SDK's
        message. The document of the report as stored."""
        served = self.served(name)

        # Off the event loop: a report may hold thousands of resources, and the state is read.
        def ready() -> tuple[Record, StatusReport]:
            report = decode(data, protobuf)
            app, record = target_of(self._checker, name, kind)
            return record, accept(app, record, report, datetime.now(timezone.utc))

        record, report = await self._on_state(ready)
        await self._store_outside([(record, report)])
        pushed = documents.pushed_json(self.project.name, self.workspace, record, report)
        # Of no location: an app checked from several says what they agree on (DESIGN §21).
        rows = {name: self._rows[name]}
        located = await self._on_state(
            lambda: locations.located(self._checker.state, [served], rows)
        )
        return {**pushed, **located.get(name, {})}

    async def _store_outside(self, reports: Reports) -> None:
        """Store reports that no check of the service's made: pushed, or the heartbeat's."""
        await self._writer.store(reports)
        for record, report in reports:
            if _is_newest(self._rows.get(record.app), record, report):
                self._update(record.app, record.kind, record, report)

    def _unreachable(self) -> str | None:
        """Why the state is unreachable (the latest turn or lease renewal), or ``None``."""
        return self._scheduler.unreachable or self._checker.state.cut_off

    async def metrics(self) -> bytes:
        """The metrics in Prometheus' text format, on the event loop (:meth:`_count_alerts`)."""
        self._scraped = time.monotonic()
        if not self._metrics.counted:
            await self._on_state(self._metrics.count_alerts)
        return self._metrics.text()

    # --- running ------------------------------------------------------------------------------

    async def run(self, until_stopped: Callable[[], bool] = lambda: STOP.requested) -> None:
        """Check on schedule and follow the config file until ``until_stopped()``; then let
        the checks that run end, and return once their reports are stored."""
        # Every instance holds its checks under its lease, on either database.
        self._checker.state.keep_alive(self._lease, serving=True, location=self.location)
        scheduling = asyncio.ensure_future(self._scheduler.run())
        following = asyncio.ensure_future(self._config.follow())
        beating = asyncio.ensure_future(self._watchdog.run())
        counting = asyncio.ensure_future(self._count_alerts())
        while not until_stopped() and not scheduling.done() and not beating.done():
            await asyncio.sleep(_POLL)
        for task in (following, counting, beating):
            task.cancel()  # no more for a task that ended: what it raised stays in it
        self._scheduler.stop()
        while not scheduling.done():
            if STOP.second is not None:  # stop at once, leaving the checks that run
                raise Interrupted(STOP.second)
            await asyncio.wait([scheduling], timeout=_POLL)
        # What the watchdog or a push gave the writer is stored before its connection closes.
        await asyncio.gather(beating, return_exceptions=True)
        await self._writer.idle()
        await self._checker.close()  # the alerts raised are delivered
        self._writes.close()
        self._work.close()
        scheduling.result()
        if beating.done() and not beating.cancelled():
            beating.result()  # what stopped the watchdog, the service raises

    async def _count_alerts(self) -> None:
        """While scraped, recount the alerts twice a freshness, so that a scrape need not wait."""
        while True:
            await asyncio.sleep(ALERTS_FRESHNESS / 2)
            if time.monotonic() - self._scraped < _SCRAPED_LATELY:
                with contextlib.suppress(StateError):  # the next scrape waits, and says so
                    await self._on_state(self._metrics.count_alerts)

    def close(self) -> None:
        """Once the routes are served no more: end the thread that reads for them."""
        self._reads.close()

    # --- checks -------------------------------------------------------------------------------

    def _plan(self) -> None:
        # An app of other locations is left to their instances.
        apps = [
            app
            for app in self.apps()
            if not app.status.locations or self.location in app.status.locations
        ]
        self._scheduler.plan(
            {
                (app.name, kind): float(app.status.interval)
                for app in apps
                for kind in _kinds(app, self._rows.get(app.name))
            },
            located=[app.name for app in apps if app.status.locations],
        )

    async def _check(self, keys: list[CheckKey]) -> AsyncIterator[tuple[CheckKey, datetime]]:
        """Check a batch of targets, yielding each key once its report is stored, with when
        its check started (it may have waited for a slot since the batch started)."""
        wanted = set(keys)
        # None: dropped from the config while due.
        apps = [
            app
            for name in dict.fromkeys(name for name, _ in keys)
            if (app := self.project.apps.get(name))
        ]
        targets = [
            (app, record)
            for app, record in await self._on_state(lambda: self._checker.targets(apps))
            if (app.name, record.kind) in wanted
        ]
        keyed: dict[str, CheckKey] = {record.id: (app.name, record.kind) for app, record in targets}
        for key in wanted - set(keyed.values()):  # not deployed (or released), or gone
            self._update(*key, None, None)
            yield key, datetime.now(timezone.utc)
        # The runner tells of each check as it ends, and the scheduler takes each key as its
        # report is stored: a slow check keeps only itself from its next. None: all ended.
        stored: asyncio.Queue[tuple[CheckKey, datetime] | None] = asyncio.Queue()
        storing: list[asyncio.Future[None]] = []

        def done(check: StatusCheck, checked: Checked, reports: Reports) -> None:
            key = keyed[check.target.id]
            self._metrics.observe(*key, check.target.plugin, checked)
            started = datetime.now(timezone.utc) - timedelta(seconds=checked.seconds)
            ((record, report),) = reports

            def committed(end: asyncio.Future[None]) -> None:
                if not end.cancelled() and end.exception() is None:  # else gather raises it
                    self._update(*key, record, report)
                    stored.put_nowait((key, started))

            # No task a check: a callback once the writer committed its report.
            end = self._writer.add(reports, checked.seconds)
            end.add_done_callback(committed)
            storing.append(end)

        async def check_and_store() -> None:
            try:
                await self._checker.check(targets, self._runner, on_done=done)
                await asyncio.gather(*storing)
            finally:
                stored.put_nowait(None)

        checking = asyncio.ensure_future(check_and_store())
        while (ended := await stored.get()) is not None:
            yield ended
        await checking  # what it raised, the batch raises

    def _update(
        self, name: str, kind: TargetKind, record: Record | None, report: StatusReport | None
    ) -> None:
        row = self._rows.get(name)
        if row is None:
            return  # no longer served
        if record is None:
            self._metrics.forget(name, kind)
        if kind == "deployment":
            row = attrs.evolve(row, deployment=record, deployment_report=report)
        else:
            row = attrs.evolve(row, release=record, release_report=report)
        self._rows[name] = row
        self._documents.pop(name, None)

    # --- what is shown ------------------------------------------------------------------------

    async def _refresh(self) -> None:
        """While other instances check too, read what they stored (off the event loop: the
        database may be slow to answer, or away)."""
        # An instance in a location shares its checks with that location's alone; the others
        # store reports of the apps it serves too.
        if self._scheduler.instances < 2 and not self.location:
            return
        if time.monotonic() - self._rows_read < _SHARED_FRESHNESS:
            return
        self._rows_read = time.monotonic()
        rows = await self._on_state(lambda: self._checker.cached(self.names))
        self._rows = {row.app: row for row in rows}
        self._documents.clear()

    async def _status_document(self, apps: Sequence[App]) -> dict[str, Any]:
        rows = {app.name: self._rows[app.name] for app in apps}
        located = await self._on_state(lambda: locations.located(self._checker.state, apps, rows))
        return documents.status_document(
            self.project.name,
            self.workspace,
            [{**self._document(app.name), **located.get(app.name, {})} for app in apps],
        )

    def _document(self, name: str) -> dict[str, Any]:
        document = self._documents.get(name)
        if document is None:
            document = self._documents[name] = documents.app_json(self._rows[name])
        return document

    # --- the config file ----------------------------------------------------------------------

    @property
    def config_error(self) -> str | None:
        """Why the config file, as it is now, is not the one that runs (``None``: it is)."""
        return self._config.error

    def _read(self, path: Path) -> Project:
        """The config file read again, as this service can serve it: every app it serves
        still there, each location on a state that has them."""
        project = self._reread(path)
        missing = [name for name in self.names if name not in project.apps]
        if missing:
            raise UnknownAppError(f"{path}: no app {missing[0]!r}, which is served")
        check_locations(project, self._checker.state, self.location)
        return project

    async def _use(self, project: Project) -> None:
        # The rows of the apps it adds are read first: once the project is swapped, every
        # app it serves has its row.
        served = project.select(self.names)
        added = [app for app in served if app.name not in self._rows]
        rows = await self._on_state(lambda: self._checker.cached_of(added)) if added else []
        self._checker.use(project)
        self._runner = self._checker.status_runner()
        self._rows.update((row.app, row) for row in rows)
        names = {app.name for app in served}
        for name in [name for name in self._rows if name not in names]:
            del self._rows[name]
            self._documents.pop(name, None)
            for kind in KINDS:
                self._metrics.forget(name, kind)
        self._plan()
        logger.info("%s read again: %d apps served", project.path, len(names))


def _kinds(app: App, row: AppStatus | None) -> tuple[TargetKind, ...]:
    """What of ``app`` is checked: its release too only if the config can release it or the
    state holds a live release of it (``row``: released before its release block was taken
    out). Nothing else makes a release: checking one that cannot be is a turn wasted."""
    if app.release is not None or (row is not None and row.release is not None):
        return KINDS
    return ("deployment",)


def _is_newest(row: AppStatus | None, record: Record, report: StatusReport) -> bool:
    """Whether ``report`` is the newest of its target, as the state orders them, beside the
    row shown (a pushed report may have been made before the latest check)."""
    if row is None:
        return True
    shown = row.deployment_report if record.kind == "deployment" else row.release_report
    if shown is None:
        return True
    # Both finalized: each has its time.
    assert shown.generated_time is not None
    assert report.generated_time is not None
    return shown.generated_time <= report.generated_time
