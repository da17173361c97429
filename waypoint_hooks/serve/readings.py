"""What the API reads of the state for a served app or the workspace, and nothing else keeps:
its history, its uptime, the alerts and the instances (``GET /api/apps/{app}/history``,
``/api/apps/{app}/uptime``, ``/api/alerts``, ``/api/cluster``), each read in the thread that
owns the checker's connection, off the event loop: the database may be slow to answer, or
away."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any, final

from ..checking import documents, uptime
from ..checking.checker import Checker
from ..config.project import App
from ..state.owners import this_command

__all__ = ["Readings"]


@final
class Readings:
    """The documents read for ``checker``'s workspace; ``served`` names an app the service
    serves (else :class:`~waypoint_hooks.errors.UnknownAppError`)."""

    def __init__(self, checker: Checker, served: Callable[[str], App]) -> None:
        self._checker = checker
        self._served = served

    async def history(self, name: str, limit: int) -> dict[str, Any]:
        """The document of ``history APP --json``, of the ``limit`` newest reports."""
        self._served(name)
        checker = self._checker

        def read() -> dict[str, Any]:
            stored = checker.history(name, limit)
            document = documents.history_json(checker.project.name, checker.workspace, name, stored)
            # Its reports are made as they are read; a response is one JSON document.
            return {**document, "reports": list(document["reports"])}

        return await checker.on_state(read)

    async def uptime(self, name: str, span: uptime.Span) -> dict[str, Any]:
        """The document of ``GET /api/apps/{app}/uptime``: its uptime in each step of ``span``."""
        app = self._served(name)
        checker, now = self._checker, datetime.now(timezone.utc)
        rows = await checker.on_state(
            lambda: uptime.uptime_rows(checker.state, app, checker.workspace, span, now)
        )
        return uptime.uptime_json(checker.project.name, checker.workspace, app, span, rows)

    async def alerts(self, limit: int) -> dict[str, Any]:
        """The document of ``alerts --json``, of the ``limit`` newest alerts."""
        checker = self._checker
        stored = await checker.on_state(lambda: checker.alerts(limit))
        return documents.alerts_json(checker.project.name, checker.workspace, stored)

    async def cluster(self) -> dict[str, Any]:
        """The document of ``GET /api/cluster``: the instances on the state."""
        checker, now = self._checker, datetime.now(timezone.utc)
        instances = await checker.on_state(
            lambda: checker.state.cluster.instances(now, checker.workspace)
        )
        return documents.cluster_json(
            checker.project.name, checker.workspace, instances, this_command()
        )
