"""Storing reports and raising the alerts they call for, in one transaction: what the alert
state machine changed and raised (the outbox) is written with the reports, or neither is.

An app checked from several locations (DESIGN §21) raises alerts on its combined health: a
report of one of its locations gives the machine the app's health as the latest report of
each of its locations make it, read in the same transaction. A report of such an app made
from none of its locations (``status``, ``up``, a report from outside, the heartbeat's) is one
place's view: it is stored and raises nothing (``checking/located.py`` says so to the user).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import attrs

from ..model.alert import Alert
from ..model.health import Health
from ..model.quorum import Quorum
from ..model.report import StatusReport
from ..state.database import Database
from ..state.records import Record
from ..state.reports import Keep, Reports
from ..state.store import State

if TYPE_CHECKING:
    # The state machine is imported by raise_alerts, which only a project with notify blocks
    # runs: storing the reports of one without imports none (issue 31, B4).
    from .machine import Alerting

__all__ = ["raise_alerts", "store_reports"]


def store_reports(
    state: State,
    reports: Sequence[tuple[Record, StatusReport]],
    keep: Keep | Mapping[str, Keep] | None = None,
    alerting: Alerting | None = None,
    durations: Sequence[float | None] | None = None,
    location: str = "",
) -> list[Alert]:
    """Store finalized reports, each about its record's target, made from ``location``
    (empty: none), in one transaction (with ``keep``, pruning each target's history to its
    newest ``keep``, the older rolled up); with ``alerting``, run them through the alert state
    machine in the same transaction; ``durations`` are the seconds each report's check took,
    where known. Returns the alerts raised to be sent (not those raised silenced). A report
    of a target destroyed meanwhile is not stored and raises nothing."""
    batch = state.reports.prepare(reports, durations, location)

    def write(tx: Database) -> list[Alert]:
        stored = state.reports.add(tx, batch, keep)
        if alerting is None:
            return []
        if alerting.quorums:
            stored = _combined(tx, state.reports, alerting.quorums, stored, location)
        return raise_alerts(tx, state, alerting, stored)

    return state.write(write)


def _combined(
    tx: Database,
    store: Reports,
    quorums: Mapping[str, Quorum],
    stored: Sequence[tuple[Record, StatusReport]],
    location: str,
) -> list[tuple[Record, StatusReport]]:
    """``stored`` as the alert machine takes them: a report of an app checked from several
    locations becomes the app's combined report; one made from elsewhere is left out."""
    located = [(record, quorums[record.app]) for record, _ in stored if record.app in quorums]
    latest = store.latest_healths(
        tx,
        [(record.kind, record.id) for record, _ in located],
        sorted({name for _, rule in located for name in rule.locations}),
    )
    fed: list[tuple[Record, StatusReport]] = []
    for record, report in stored:
        rule = quorums.get(record.app)
        if rule is None:
            fed.append((record, report))
        elif location in rule.locations:
            healths = {
                name: latest[record.kind, record.id, name]
                for name in rule.locations
                if (record.kind, record.id, name) in latest
            }
            fed.append((record, _combined_report(report, rule, healths)))
    return fed


def _combined_report(
    report: StatusReport, rule: Quorum, healths: Mapping[str, Health]
) -> StatusReport:
    """``report`` (of one location) with the health the latest of each location make, and a
    message that says what each says."""
    health = rule.combine(healths)
    said = ", ".join(f"{name} {healths[name].name}" for name in rule.locations if name in healths)
    agree = sum(1 for value in healths.values() if value is not Health.READY)
    message = (
        f"{health.name}: {agree} of {len(rule.locations)} locations not READY (quorum "
        f"{rule.needed}): {said}"
    )
    return attrs.evolve(report, health=health, health_message=message)


def raise_alerts(
    tx: Database,
    state: State,
    alerting: Alerting,
    stored: Sequence[tuple[Record, StatusReport]],
) -> list[Alert]:
    """Run reports just stored through the alert state machine, under the silences that may
    cover them; put what it changed and raised in the outbox, in the transaction ``tx`` that
    stored them. Returns the alerts to send: not those raised silenced."""
    from .machine import Checked, Watch

    if not stored:
        return []
    checked = [
        Checked(record.app, record.workspace, record.kind, record.id, report, record.created)
        for record, report in stored
    ]
    texts = state.outbox.watches(
        tx,
        [item.workspace for item in checked],
        [(item.app, item.kind, item.target_id) for item in checked],
    )
    watches = {key: Watch.from_json(text) for key, text in texts.items()}
    earliest = min(filter(None, (report.generated_time for _, report in stored)))
    silences = state.silences.since(tx, [item.workspace for item in checked], earliest)
    changed, raised = alerting.raise_alerts(watches, checked, silences)
    state.outbox.raise_alerts(
        tx,
        {key: watch.to_json() for key, watch in changed.items()},
        [(item.alert, None if item.silence is None else item.silence.id) for item in raised],
    )
    return [item.alert for item in raised if item.silence is None]
