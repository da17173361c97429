"""The silences of the service's workspace, as ``GET``/``POST /api/silences`` and ``DELETE
/api/silences/{id}`` make, list and lift them (DESIGN §15): as the ``silence`` commands do,
off the event loop."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any, final

from ..alerts import silencing
from ..checking import documents
from ..checking.checker import Checker
from ..config.project import App
from ..plugins.components import TargetKind

__all__ = ["Silences"]


@final
class Silences:
    """The silences of ``checker``'s workspace; ``served`` names an app the service serves
    (else :class:`~waypoint_hooks.errors.UnknownAppError`)."""

    def __init__(self, checker: Checker, served: Callable[[str], App]) -> None:
        self._checker = checker
        self._served = served

    async def document(self) -> dict[str, Any]:
        """The document of ``silences --json``: the silences in force."""
        checker = self._checker
        now = datetime.now(timezone.utc)
        found = await checker.on_state(
            lambda: checker.state.silences.in_force(checker.workspace, now)
        )
        return documents.silences_json(checker.project.name, checker.workspace, found)

    async def silence(
        self, app: str, kind: TargetKind | None, duration: float, comment: str, made_by: str
    ) -> dict[str, Any]:
        """Silence a served app's alerts, as ``silence`` does; the silence's document."""
        self._served(app)
        checker = self._checker
        made = await checker.on_state(
            lambda: silencing.silence(
                *(checker.state, checker.project, checker.workspace, app, kind),
                *(duration, comment, made_by),
            )
        )
        return documents.silence_json(made)

    async def unsilence(self, id: int) -> dict[str, Any] | None:
        """Lift a silence, as ``unsilence`` does; its document, ``None`` when there is none."""
        checker = self._checker
        lifted = await checker.on_state(
            lambda: silencing.lift(checker.state, checker.workspace, id)
        )
        return None if lifted is None else documents.silence_json(lifted)
