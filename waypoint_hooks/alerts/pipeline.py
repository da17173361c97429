"""Storing reports and raising the alerts they call for, in one transaction: what the alert
state machine changed and raised (the outbox) is written with the reports, or neither is."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..model.alert import Alert
from ..model.report import StatusReport
from ..state.database import Database
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
    raised to be sent (not those raised silenced). A report of a target destroyed meanwhile
    is not stored and raises nothing."""
    batch = state.reports.prepare(reports, durations)

    def write(tx: Database) -> list[Alert]:
        stored = state.reports.add(tx, batch, keep)
        if alerting is None:
            return []
        return raise_alerts(tx, state, alerting, stored)

    return state.write(write)


def raise_alerts(
    tx: Database,
    state: State,
    alerting: Alerting,
    stored: Sequence[tuple[Record, StatusReport]],
) -> list[Alert]:
    """Run reports just stored through the alert state machine, under the silences that may
    cover them; put what it changed and raised in the outbox, in the transaction ``tx`` that
    stored them. Returns the alerts to send: not those raised silenced."""
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
