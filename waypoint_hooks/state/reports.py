"""The reports store: every finalized status report, newest first per target and per app, and
retention (``keep``) by a per-target count kept in the same transaction, which rolls up what it
deletes (``rollups``).

**Runs.** A report's text is stored without its time, which its row keeps (``generated``). A
report whose text equals its target's previous one (all but ``generated_time``: resources,
health, messages, ``external``) stores no text: its row refers to a body that the reports of
the run share (table ``bodies``), which the first of them gives its text up to. The row keeps
what each check has of its own: time, health, duration, location. Readers join the body and
put the row's time in: each gets back the report that was given. Retention deletes a body with
the last report that refers to it.

**Keys.** A row names its target and its app by integer keys (the targets' ``key``, the table
``apps``), not by their kind, id, app and workspace, which its row and both its indexes would
each repeat: readers join the targets back, one index seek a row.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, Final, NamedTuple, final

import attrs

from ..errors import ReportDecodeError, StateError
from ..model.health import HEALTH_NAMES, Health
from ..model.report import StatusReport
from ..model.wire import report_from_json, report_to_json
from . import queries
from .columns import BATCH, Kind, micros, time
from .database import NO_LIMIT, Database
from .records import Record
from .rollups import GAP, Surplus, roll_up

__all__ = ["Batch", "Keep", "Reports", "Retention", "StoredReport"]

_SQL: Final = queries.load("reports")


@final
@attrs.frozen
class StoredReport:
    """A finalized status report and the target it is about, as ``history`` lists them."""

    kind: Kind
    target_id: str
    sequence: int
    plugin: str
    app: str
    workspace: str
    report: StatusReport
    #: The health of the target's report before this one (None for its first): what the
    #: health changed from, even when that report is not among those read.
    previous_health: Health | None = None
    #: Where the report was made from (DESIGN §21); empty: no location.
    location: str = ""


@final
@attrs.frozen
class Retention:
    """How an app's history is kept: the newest ``keep`` reports of each target, the older
    ones rolled up, in which a report's health holds for at most ``gap`` seconds without a
    next report (twice the app's interval, say)."""

    keep: int
    gap: float = GAP


#: An app's retention: a count of reports (and the default gap), or a :class:`Retention`.
Keep = int | Retention


#: The fields of a report that its text keeps: all but its time.
_TIMELESS_FIELDS: Final = tuple(
    field.name for field in attrs.fields(StatusReport) if field.name != "generated_time"
)


def _timeless(report: StatusReport) -> StatusReport:
    """``report`` without its time, which its row keeps: equal checks are equal texts."""
    # Each field is one that the finalized report holds already: checked once is enough. Set
    # one by one, as unchecked() does, without a mapping of them made for each report.
    copy = object.__new__(StatusReport)
    for name in _TIMELESS_FIELDS:
        object.__setattr__(copy, name, getattr(report, name))
    object.__setattr__(copy, "generated_time", None)
    return copy


def _row(
    record: Record, report: StatusReport, duration: float | None, location: str
) -> list[object]:
    if report.health is None or report.generated_time is None:
        raise ValueError(
            f"the report of {record.kind} {record.id} is not finalized "
            "(health and generated_time must be set): finalize() it before storing it"
        )
    return [
        record.kind,
        record.id,
        HEALTH_NAMES[report.health],
        micros(report.generated_time),
        report_to_json(_timeless(report)),
        None if duration is None else round(duration * 1e6),
        location,
        None,  # body: set when the report turns out to repeat the one before it
    ]


@final
@attrs.frozen
class Batch:
    """Reports made ready to store (:meth:`Reports.prepare`), encoded before the transaction
    that stores them opens: on SQLite that transaction holds the one write lock, so other
    commands wait less."""

    reports: Sequence[tuple[Record, StatusReport]]
    rows: Sequence[list[object]]


def _keeps(
    reports: Sequence[tuple[Record, StatusReport]], keep: Keep | Mapping[str, Keep] | None
) -> Mapping[str, Retention | None]:
    """The retention of each app that ``reports`` are of: only theirs, since serve gives the
    retention of every app of the project with each report it stores."""
    apps = {record.app for record, _ in reports}
    # Asked once, not once an app: an isinstance of an abstract class is slow.
    given: dict[str, Keep | None] = (
        {app: keep.get(app) for app in apps}
        if isinstance(keep, Mapping)
        else dict.fromkeys(apps, keep)
    )
    keeps: dict[str, Retention | None] = {}
    for app, value in given.items():
        retention = keeps[app] = Retention(value) if isinstance(value, int) else value
        if retention is not None and retention.keep < 1:
            raise ValueError(f"keep must be 1 or more, got {retention.keep}")
        if retention is not None and not retention.gap > 0:
            raise ValueError(f"gap must be more than 0 seconds, got {retention.gap}")
    return keeps


#: A row's text and body: in a row as prepared (its target's kind and id first) and as stored
#: (its target's key and its app's first).
_TEXT: Final = 4
_BODY: Final = 7


class _Target(NamedTuple):
    """A target that reports are stored of, as the transaction that stores them reads it (a
    tuple: one is made for each report of a batch)."""

    #: Destroyed, or being destroyed: its reports are not stored.
    away: bool
    #: How many reports it has stored; ``None``: not counted yet.
    counted: int | None
    #: Its key, and its app's, which its reports' rows name it by.
    key: int
    app: int


@final
@attrs.define
class _Last:
    """A target's newest report while a batch is stored: its text, the body it refers to
    (``None``: its own text), and its row, as an id (stored before) or as a row of the batch."""

    text: str
    body: int | None
    row: int | list[object]


@final
class Reports:
    """The status reports of a state; ``where`` names the state in messages."""

    def __init__(self, db: Database, where: str) -> None:
        self._db = db
        self._where = where

    @staticmethod
    def prepare(
        reports: Sequence[tuple[Record, StatusReport]],
        durations: Sequence[float | None] | None = None,
        location: str = "",
    ) -> Batch:
        """Encode finalized reports, each about its record's target, made from ``location``
        (empty: none), for :meth:`add`; with ``durations``, how many seconds each one's check
        took (``None``: not known)."""
        if durations is None:
            durations = [None] * len(reports)
        elif len(durations) != len(reports):
            raise ValueError(f"{len(durations)} durations given for {len(reports)} reports")
        return Batch(
            reports,
            [
                _row(record, report, duration, location)
                for (record, report), duration in zip(reports, durations, strict=True)
            ],
        )

    def add(
        self,
        tx: Database,
        batch: Batch,
        keep: Keep | Mapping[str, Keep] | None = None,
    ) -> list[tuple[Record, StatusReport]]:
        """Store a batch of reports.

        With ``keep`` (one, or one per app), only the newest ``keep`` reports of each of
        those targets remain afterwards (history retention); the older ones are rolled up
        first (:func:`~.rollups.roll_up`), in this transaction. A report of a target
        destroyed, or being destroyed, while it was checked is not stored. Returns those
        stored.
        """
        reports, rows = batch.reports, batch.rows
        keeps = _keeps(reports, keep)
        if not rows:
            return []
        targets = self._targets(tx, [record for record, _ in reports])
        stored, live = [], []
        for pair, row in zip(reports, rows, strict=True):
            target = targets[pair[0].kind, pair[0].id]
            if not target.away:
                stored.append(pair)
                # A keyed copy: the batch is stored as prepared if this transaction is run
                # again.
                live.append([target.key, target.app, *row[2:]])
        self._share(tx, live, {name: target for name, target in targets.items() if not target.away})
        tx.executemany(_SQL["insert"], live)
        self._retain(tx, stored, keeps, targets)
        return stored

    @staticmethod
    def _share(
        tx: Database, rows: Sequence[list[object]], targets: Mapping[tuple[str, str], _Target]
    ) -> None:
        """Make each row that repeats its target's previous report (stored before, or of
        these rows) refer to a body, which the first of the run gives its text up to;
        ``targets`` are the rows' targets, by kind and id."""
        keys = {id: target.key for (_, id), target in targets.items()}
        # By the key that a row's first column holds.
        last: dict[object, _Last] = {
            keys[id]: _Last(text, body, row)
            for id, (_, text, row, body) in _newest(tx, sorted(targets)).items()
        }
        # A run that begins in this batch refers to a body not made yet: -1 for the first,
        # -2 for the next…, made for all runs at once at the end.
        texts: list[str] = []
        given: list[tuple[int, int]] = []
        for row in rows:
            target, text = row[0], str(row[_TEXT])
            previous = last.get(target)
            body = None
            if previous is not None and previous.text == text:
                if previous.body is None:
                    texts.append(text)
                    previous.body = -len(texts)
                    if isinstance(previous.row, list):
                        previous.row[_TEXT], previous.row[_BODY] = "", previous.body
                    else:
                        given.append((previous.body, previous.row))
                body = row[_BODY] = previous.body
                row[_TEXT] = ""
            last[target] = _Last(text, body, row)
        if not texts:
            return
        made = _bodies(tx, texts)
        for row in rows:
            if isinstance(shared := row[_BODY], int) and shared < 0:
                row[_BODY] = made[-shared - 1]
        tx.executemany(_SQL["give_up"], [(made[-run - 1], id) for run, id in given])

    def _targets(self, tx: Database, records: Sequence[Record]) -> dict[tuple[str, str], _Target]:
        """The targets of ``records``, by kind and id, as they are until the transaction ends,
        so that their counts are still right when it writes them."""
        found: dict[tuple[str, str], _Target] = {}
        # Each target asked about once, however many of the reports are about it.
        keys = sorted({(record.kind, record.id) for record in records})
        for start in range(0, len(keys), BATCH):
            batch = keys[start : start + BATCH]
            query = _SQL["targets"].format(
                values=", ".join(["(?, ?)"] * len(batch)), for_update=tx.for_update
            )
            for kind, id, away, *rest in tx.execute(query, [item for key in batch for item in key]):
                found[kind, id] = _Target(bool(away), *rest)
        if len(found) < len(keys):
            raise ValueError(
                f"a report's target is not in {self._where}: store reports only of records "
                "this state returned"
            )
        return found

    @staticmethod
    def _retain(
        tx: Database,
        stored: Sequence[tuple[Record, StatusReport]],
        keeps: Mapping[str, Retention | None],
        targets: Mapping[tuple[str, str], _Target],
    ) -> None:
        """Keep each target's count of reports, and roll up and prune those over its
        ``keep``."""
        # By id alone, unique across the state (Record.id): no tuple made for each report.
        added = Counter([record.id for record, _ in stored])
        records = {record.id: record for record, _ in stored}
        surplus: list[Surplus] = []
        recounted: list[tuple[int, int]] = []
        gaps: dict[str, int] = {}
        for id, record in sorted(records.items()):
            target, retention = targets[record.kind, id], keeps.get(record.app)
            known = target.counted
            if retention is None and known is None:
                continue  # not counted until retention needs it
            if known is None:
                # Retention's first need of it: the target's index read once, the reports
                # just stored included.
                (count,) = tx.execute(_SQL["count"], (target.key,)).fetchone()
            else:
                count = known + added[id]
            if retention is not None and count > retention.keep:
                surplus.append((record, target.key, count - retention.keep))
                gaps[id] = round(retention.gap * 1e6)
                count = retention.keep
            # A target that keeps as many as it has stored (a --watch round once retention
            # began) has nothing to write.
            if count != known:
                recounted.append((count, target.key))
        roll_up(tx, surplus, gaps)
        doomed = [
            (body, key, body)
            for _, key, count in surplus
            for (body,) in tx.execute(_SQL["doomed_bodies"], (key, count)).fetchall()
        ]
        tx.executemany(_SQL["prune"], [(key, count) for _, key, count in surplus])
        tx.executemany(_SQL["forget"], doomed)
        tx.executemany(_SQL["recount"], recounted)

    # --- reading ---------------------------------------------------------------------------

    def last_report(self, kind: Kind, target_id: str) -> StatusReport | None:
        """The newest report stored for a target (the last stored when times are equal)."""
        with self._db.guarded() as db:
            newest = _newest(db, [(kind, target_id)])
        if target_id not in newest:
            return None
        generated, text, *_ = newest[target_id]
        return self._decode(text, generated, kind, target_id)

    def last_reports(self, targets: Sequence[Record]) -> dict[str, StatusReport]:
        """The newest report of each target that has one, by target id."""
        with self._db.guarded() as db:
            newest = _newest(db, [(record.kind, record.id) for record in targets])
        kinds = {record.id: record.kind for record in targets}
        return {
            id: self._decode(text, generated, kinds[id], id)
            for id, (generated, text, *_) in newest.items()
        }

    def latest_healths(
        self, tx: Database, targets: Sequence[tuple[str, str]], locations: Sequence[str]
    ) -> dict[tuple[str, str, str], Health]:
        """The health of the newest report of each target ``(kind, id)`` from each of
        ``locations`` that has one, by ``(kind, id, location)``; read in ``tx``."""
        rows = self._latest(tx, "health", targets, locations)
        return {key: Health[health] for key, (health,) in rows.items()}

    def latest_by_location(
        self, targets: Sequence[tuple[str, str]], locations: Sequence[str]
    ) -> dict[tuple[str, str, str], StatusReport]:
        """The newest report of each target ``(kind, id)`` from each of ``locations`` that
        has one, by ``(kind, id, location)``."""
        with self._db.guarded() as db:
            rows = self._latest(
                db, "generated, coalesce(bodies.report, reports.report)", targets, locations
            )
        return {
            key: self._decode(text, generated, key[0], key[1])
            for key, (generated, text) in rows.items()
        }

    @staticmethod
    def _latest(
        db: Database, columns: str, targets: Sequence[tuple[str, str]], locations: Sequence[str]
    ) -> dict[tuple[str, str, str], tuple[Any, ...]]:
        wanted = [(*target, location) for target in targets for location in locations]
        found: dict[tuple[str, str, str], tuple[Any, ...]] = {}
        # Three parameters a key where BATCH takes two.
        size = BATCH * 2 // 3
        for start in range(0, len(wanted), size):
            batch = wanted[start : start + size]
            query = _SQL["latest_by_location"].format(
                columns=columns, values=", ".join(["(?, ?, ?)"] * len(batch))
            )
            rows = db.execute(query, [item for key in batch for item in key]).fetchall()
            found.update(((kind, id, at), tuple(values)) for kind, id, at, *values in rows)
        return found

    def history(self, app: str, workspace: str, limit: int | None = None) -> Iterator[StoredReport]:
        """The reports of ``app``'s deployments and releases, destroyed ones included,
        newest first; at most ``limit`` of them. Read as they are iterated, one row at a
        time, so that a history of any length takes no more memory than one report."""
        if limit is not None and limit < 0:
            raise ValueError(f"limit must be 0 or more, got {limit}")
        return self._history(app, workspace, NO_LIMIT if limit is None else limit)

    def _history(self, app: str, workspace: str, limit: int) -> Iterator[StoredReport]:
        # Closed however the reading ends: a stream left open would keep the connection
        # (PostgreSQL) or hold a read transaction (SQLite).
        with (
            self._db.guarded() as db,
            contextlib.closing(db.stream(_SQL["history"], (app, workspace, limit))) as rows,
        ):
            for kind, target_id, sequence, plugin, generated, text, location, previous in rows:
                yield StoredReport(
                    kind,
                    target_id,
                    sequence,
                    plugin,
                    app,
                    workspace,
                    self._decode(text, generated, kind, target_id),
                    None if previous is None else Health[previous],
                    location,
                )

    def healths(
        self, app: str, workspace: str, kind: Kind, limit: int
    ) -> list[tuple[datetime, Health]]:
        """When each of the newest ``limit`` reports of ``app``'s deployments (or releases)
        was made, and its health, newest first; no report is decoded."""
        with self._db.guarded() as db:
            rows = db.execute(_SQL["healths"], (app, workspace, kind, limit)).fetchall()
        return [(time(generated), Health[health]) for generated, health in rows]

    def ready_counts(
        self, app: str, workspace: str, since: Sequence[datetime]
    ) -> list[tuple[int, int]]:
        """For each time in ``since``: how many of ``app``'s reports were made since then,
        and how many of those were READY, as ``(ready, all)``; one pass over its reports."""
        if not since:
            return []
        starts = [micros(moment) for moment in since]
        counts = ", ".join(
            "coalesce(sum(CASE WHEN generated >= ? AND health = 'READY' THEN 1 ELSE 0 END), 0),"
            " coalesce(sum(CASE WHEN generated >= ? THEN 1 ELSE 0 END), 0)"
            for _ in starts
        )
        parameters = (*[start for start in starts for _ in range(2)], app, workspace, min(starts))
        with self._db.guarded() as db:
            row = db.execute(_SQL["ready_counts"].format(counts=counts), parameters).fetchone()
        return [(row[index], row[index + 1]) for index in range(0, len(row), 2)]

    def _decode(self, text: str, generated: int, kind: str, target_id: str) -> StatusReport:
        try:
            report = report_from_json(text)
        except ReportDecodeError as exc:
            raise StateError(
                f"state {self._where}: a stored report of {kind} {target_id} cannot be read "
                f"({exc}); it was changed by something else than waypoint-hooks"
            ) from None
        # The row's time: the text has none (or, stored before runs, the same).
        report.generated_time = time(generated)
        return report


def _bodies(tx: Database, texts: Sequence[str]) -> list[int]:
    """Store ``texts`` as bodies; the id of each, in their order."""
    # Equal texts (the same check's report of many targets) may come back in any order: any
    # body of a text serves any run of that text.
    ids: dict[str, list[int]] = {}
    for start in range(0, len(texts), BATCH):
        batch = texts[start : start + BATCH]
        query = _SQL["share"].format(values=", ".join(["(?)"] * len(batch)))
        for id, text in tx.execute(query, batch).fetchall():
            ids.setdefault(text, []).append(id)
    return [ids[text].pop() for text in texts]


def _newest(
    db: Database, targets: Sequence[tuple[str, str]]
) -> dict[str, tuple[int, str, int, int | None]]:
    """The newest report of each target ``(kind, id)`` that has one, by target id: its time,
    its text, its row and the body it refers to."""
    found: dict[str, tuple[int, str, int, int | None]] = {}
    for start in range(0, len(targets), BATCH):
        batch = targets[start : start + BATCH]
        query = _SQL["last_reports"].format(values=", ".join(["(?, ?)"] * len(batch)))
        rows = db.execute(query, [item for key in batch for item in key]).fetchall()
        found.update((target_id, tuple(values)) for target_id, *values in rows)
    return found
