"""Storing reports and raising the alerts they call for, in one transaction: what the alert
state machine changed and raised (the outbox) is written with the reports, or neither is."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..model.alert import Alert
from ..model.report import StatusReport
from ..state.database import Database
from ..state.outbox import Outbox
from ..state.records import Record
from ..state.reports import Keep
from ..state.store import State
from .machine import Alerting, Checked, Watch

__all__ = ["raise_alerts", "store_reports"]


def store_reports(
    state: State,
    reports: Sequence[tuple[Record, StatusReport]],
    keep: Keep | Mapping[str, Keep] | None = None,
    alerting: Alerting | None = None,
    durations: Sequence[float | None] | None = None,
) -> list[Alert]:
    """Store finalized reports, each about its record's target, in one transaction (with
    ``keep``, pruning each target's history to its newest ``keep``, the older rolled up);
    with ``alerting``, run them through the alert state machine in the same transaction;
    ``durations`` are the seconds each report's check took, where known. Returns the alerts
    raised. A report of a target destroyed meanwhile is not stored and raises nothing."""
    batch = state.reports.prepare(reports, durations)

    def write(tx: Database) -> list[Alert]:
        stored = state.reports.add(tx, batch, keep)
        if alerting is None:
            return []
        return raise_alerts(tx, state.outbox, alerting, stored)

    return state.write(write)


def raise_alerts(
    tx: Database,
    outbox: Outbox,
    alerting: Alerting,
    stored: Sequence[tuple[Record, StatusReport]],
) -> list[Alert]:
    """Run reports just stored through the alert state machine; put what it changed and
    raised in the outbox, in the transaction ``tx`` that stored them."""
    if not stored:
        return []
    checked = [
        Checked(record.app, record.workspace, record.kind, record.id, report, record.created)
        for record, report in stored
    ]
    texts = outbox.watches(
        tx,
        [item.workspace for item in checked],
        [(item.app, item.kind, item.target_id) for item in checked],
    )
    watches = {key: Watch.from_json(text) for key, text in texts.items()}
    changed, alerts = alerting.raise_alerts(watches, checked)
    outbox.raise_alerts(tx, {key: watch.to_json() for key, watch in changed.items()}, alerts)
    return alerts
