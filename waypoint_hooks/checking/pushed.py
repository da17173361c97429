"""Reports from outside (DESIGN §20): a platform that checks itself sends its report, which is
stored for the app's latest live version with ``external = true``, as Waypoint's server took
``UpsertStatusReport``; and the heartbeat, a dead-man's switch that stores a ``MISSING``
report for a target that no report (pushed or checked) reached within it.

Both are made here, against a :class:`Checker`'s project and state, and stored the one way
every report is (:func:`~waypoint_hooks.checking.checker.store`): by ``report`` and by
``serve`` alike.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Final

from ..config.project import App
from ..errors import NoLiveVersionError, ReportRefusedError, UsageError
from ..model.health import Health
from ..model.report import StatusReport, finalize, redact_report
from ..model.wire import report_from_json
from ..plugins.components import TargetKind
from ..state.records import Record
from .checker import Checker, Reports

__all__ = [
    "HEARTBEAT_MESSAGE",
    "accept",
    "decode",
    "overdue",
    "target_of",
]

#: What a heartbeat's MISSING report says, before how long it waited (``no report for 5m``).
HEARTBEAT_MESSAGE: Final = "no report for "


def decode(data: bytes, protobuf: bool) -> StatusReport:
    """A report in the wire format: JSON, or with ``protobuf`` the SDK's ``StatusReport``
    message. What does not decode raises :class:`ReportDecodeError` naming the field."""
    if not protobuf:
        return report_from_json(data)
    try:
        from ..proto import report_from_proto
    except ImportError as exc:
        raise UsageError(str(exc)) from None
    return report_from_proto(data)


def target_of(checker: Checker, name: str, kind: TargetKind) -> tuple[App, Record]:
    """The app ``name`` (else :class:`UnknownAppError`) and its latest live target of
    ``kind`` (else :class:`NoLiveVersionError`)."""
    (app,) = checker.project.select([name])
    found = checker.targets([app], [kind])
    if not found:
        hint = "release" if kind == "release" else "deploy"
        raise NoLiveVersionError(
            f"app {name!r} has no live {kind} in workspace {checker.workspace!r} for a report "
            f"to be about; {hint} it first"
        )
    return found[0]


def accept(app: App, record: Record, report: StatusReport, now: datetime) -> StatusReport:
    """``report``, pushed about ``record``, made ready to store, in place: ``external``,
    finalized as a plugin's (a resource's empty ``platform`` is the record's plugin, a
    ``health`` left out is the app's policy's verdict), its URLs' secrets redacted and its
    messages cut to the app's limits. A ``generated_time`` after ``now`` is ``now``: a clock
    ahead must not make a report the newest for longer than it is. A report still over a
    limit raises :class:`ReportRefusedError`: the sender is there to be told, and a report of
    its mistake must not stand for the app's health."""
    limits = app.status.limits
    over = limits.too_many(report)
    if over is None:
        report.external = True
        if report.generated_time is not None and report.generated_time > now:
            report.generated_time = now
        finalize(report, record.plugin, app.status.policy, now)
        over = limits.enforce(redact_report(report))
    if over is not None:
        raise ReportRefusedError(
            f"the report is refused, nothing stored: {over}; send less, or raise the limit in "
            f"the status block of app {app.name!r}"
        )
    return report


def overdue(checker: Checker, apps: Iterable[App], now: datetime) -> Reports:
    """For each live target of ``apps`` with a ``heartbeat`` that no report reached within it
    (or since it was made, for one without any), a ``MISSING`` report "no report for 5m" to
    store. Once: a target whose newest report is already the heartbeat's gets none more until
    another report comes."""
    beating = [app for app in apps if app.status.heartbeat is not None]
    targets = checker.targets(beating)
    last = checker.state.reports.last_reports([record for _, record in targets])
    missing: Reports = []
    for app, record in targets:
        heartbeat = app.status.heartbeat
        assert heartbeat is not None
        report = last.get(record.id)
        if report is not None and _is_heartbeat(report):
            continue
        since = record.created if report is None else report.generated_time
        assert since is not None  # stored reports are finalized
        if (now - since).total_seconds() >= float(heartbeat):
            message = f"{HEARTBEAT_MESSAGE}{heartbeat}"
            report = StatusReport(health=Health.MISSING, health_message=message, generated_time=now)
            missing.append((record, report))
    return missing


def _is_heartbeat(report: StatusReport) -> bool:
    return (
        report.health is Health.MISSING
        and not report.external
        and not report.resources
        and report.health_message.startswith(HEARTBEAT_MESSAGE)
    )
