"""What the locations of the apps checked from several (DESIGN §21) say, read from the state
for ``status`` and for ``serve`` alike: each location's latest reports, whether an instance
of it is alive, and the health they combine to — the health that the app's alerts follow.

A report made from none of an app's locations (``status``, ``up``, an instance of another
location) is stored and shown, but it is one more place's view, and one place cannot tell
"down" from "unreachable from here": it does not move the combined health, and raises no
alert. What these lines say is how a user sees that.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

from ..config.project import App
from ..state.store import State
from ..terminal import sanitize_line
from . import documents
from .checker import AppStatus

__all__ = ["located", "located_notes"]


def located(
    state: State, apps: Sequence[App], rows: Mapping[str, AppStatus]
) -> dict[str, dict[str, Any]]:
    """The members that each of ``apps`` checked from several locations adds to its part of
    ``status --json`` (see :func:`~waypoint_hooks.checking.documents.locations_json`), by
    app; ``rows`` are their latest versions. Two queries, and none without such apps."""
    rules = {app.name: rule for app in apps if (rule := app.status.quorum_rule)}
    if not rules:
        return {}
    latest = state.reports.latest_by_location(
        [
            (record.kind, record.id)
            for name in rules
            for record in (rows[name].deployment, rows[name].release)
            if record is not None
        ],
        sorted({name for rule in rules.values() for name in rule.locations}),
    )
    alive = state.cluster.locations_alive(datetime.now(timezone.utc))
    return {
        name: documents.locations_json(rows[name], rule, latest, alive)
        for name, rule in rules.items()
    }


def located_notes(apps: Mapping[str, Mapping[str, Any]]) -> Iterator[str]:
    """A line for each app of :func:`located`'s ``apps``: the combined health of each of its
    kinds that a location reported on, the locations without an instance alive, and that a
    report made from none of them (``status``'s, or one from outside) raises no alert."""
    for app, members in apps.items():
        names = [item["location"] for item in members["locations"]]
        combined = [
            f"{kind} {health}" for kind, health in members["combined"].items() if health is not None
        ]
        dead = [item["location"] for item in members["locations"] if not item["alive"]]
        line = (
            f"{sanitize_line(app)}: its health and alerts are those its locations agree on "
            f"({members['quorum']} of {', '.join(names)}): "
            f"{', '.join(combined) or 'no location has reported yet'}"
        )
        if dead:
            line += f"; no instance alive in {', '.join(dead)}"
        yield f"{line}; a report made from none of them (status's, or from outside) raises no alert"
