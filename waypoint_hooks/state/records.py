"""The records store: deployments and releases from intent to destroy (DESIGN §12).

A record is written ``pending`` before its hook runs, becomes ``live`` with the hook's value or
``failed`` with its error, and is claimed before its destroy hook runs, then marked destroyed.
Every write takes the caller's transaction: the lifecycle says which writes go together.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Final, Literal, final

import attrs

from ..model.redaction import redact_urls
from . import queries
from .columns import BATCH, Kind, micros, now, running, time, value_text
from .database import NO_LIMIT, Database
from .owners import this_command

__all__ = ["Record", "RecordStatus", "Records"]

#: ``interrupted`` is a ``pending`` record whose command is gone.
RecordStatus = Literal["pending", "live", "failed", "interrupted"]

_SQL: Final = queries.load("records")
#: A record's columns, and its owner's lease, as :func:`_record` reads them.
_COLUMNS: Final = (
    "kind, id, app, workspace, plugin, sequence, value, created, destroyed, deployment_id,"
    " status, owner, checkpoint, error,"
    " (SELECT lease_until FROM instances WHERE instances.owner = targets.owner)"
)


@final
@attrs.frozen
class Record:
    """A deployment or a release, as the state holds it."""

    kind: Kind
    #: Opaque and unique across the state.
    id: str
    app: str
    workspace: str
    plugin: str
    #: 1, 2, 3… per kind, app and workspace; never reused, even after a destroy.
    sequence: int
    #: What the plugin's deploy or release hook returned, as JSON.
    value: Mapping[str, Any]
    created: datetime
    destroyed: datetime | None
    #: For a release, the deployment it released.
    deployment_id: str | None
    status: RecordStatus = "live"
    #: The last value its hook checkpointed (``ctx.checkpoint``), if it did.
    checkpoint: Mapping[str, Any] | None = None
    #: Why its hook failed, for a ``failed`` record.
    error: str | None = None

    @property
    def cleanup_value(self) -> Mapping[str, Any] | None:
        """What its destroy hook is given: the value, or for a record whose hook did not
        finish, the last checkpoint (``None``: nothing was recorded to clean up)."""
        return self.value if self.status == "live" else self.checkpoint


def _record(row: Any) -> Record:
    kind, id, app, workspace, plugin, sequence, value, created, destroyed = row[:9]
    deployment_id, status, owner, checkpoint, error, lease_until = row[9:]
    if status == "pending" and not running(owner or "", lease_until, micros(now())):
        status = "interrupted"
    return Record(
        kind,
        id,
        app,
        workspace,
        plugin,
        sequence,
        json.loads(value),
        time(created),
        None if destroyed is None else time(destroyed),
        deployment_id,
        status,
        None if checkpoint is None else json.loads(checkpoint),
        error,
    )


@final
class Records:
    """Deployments and releases of a state; ``where`` names the state in messages."""

    def __init__(self, db: Database, where: str) -> None:
        self._db = db
        self._where = where

    def begin(
        self,
        tx: Database,
        kind: Kind,
        app: str,
        workspace: str,
        plugin: str,
        deployment_id: str | None = None,
    ) -> Record:
        """Record the intent to make a deployment or release, before its hook runs: a
        ``pending`` record with the next sequence number, owned by this command. Its id is
        the hook's ``job_info.id``; :meth:`complete` or :meth:`fail` it when the hook ends."""
        # As opaque and unique as uuid4().hex, without importing uuid at start-up.
        id = os.urandom(16).hex()
        created = now()
        if deployment_id is not None:
            found = tx.execute(_SQL["deployment_exists"], (deployment_id, app, workspace))
            if found.fetchone() is None:
                raise ValueError(
                    f"no deployment {deployment_id!r} of app {app!r} in workspace "
                    f"{workspace!r} in {self._where}"
                )
        # Until the transaction ends, no other can read the same max(sequence), nor the same
        # largest target key: one lock for both, as a record is made seldom.
        tx.lock("target keys")
        (sequence,) = tx.execute(_SQL["next_sequence"], (kind, app, workspace)).fetchone()
        tx.execute(_SQL["app"], (app, workspace))
        tx.execute(
            _SQL["insert"],
            (
                kind,
                id,
                app,
                workspace,
                plugin,
                sequence,
                "{}",
                micros(created),
                deployment_id,
                this_command(),
            ),
        )
        return Record(
            kind,
            id,
            app,
            workspace,
            plugin,
            int(sequence),
            {},
            created,
            None,
            deployment_id,
            "pending",
        )

    def checkpoint(self, tx: Database, record: Record, value: Mapping[str, Any]) -> None:
        """Keep ``value`` as what ``record``'s unfinished hook has made so far."""
        tx.execute(_SQL["checkpoint"], (value_text(value), record.kind, record.id))

    def complete(self, tx: Database, record: Record, value: Mapping[str, Any]) -> Record:
        """``record``'s hook returned ``value``: the record is live; returned as :meth:`live`
        makes it."""
        tx.execute(_SQL["complete"], (value_text(value), record.kind, record.id))
        return self.live(record, value)

    @staticmethod
    def live(record: Record, value: Mapping[str, Any]) -> Record:
        """``record`` once :meth:`complete` wrote ``value``, as :meth:`get` reads it back
        (tuples become lists, URLs redacted), not as the caller's object."""
        return attrs.evolve(record, value=json.loads(value_text(value)), status="live")

    def fail(self, tx: Database, record: Record, error: str) -> None:
        """``record``'s hook failed with ``error``; its checkpoint, if any, stays."""
        tx.execute(_SQL["fail"], (redact_urls(error), record.kind, record.id))

    def claim(self, tx: Database, record: Record) -> bool:
        """Claim ``record`` for this command to destroy: False when it is destroyed already
        or another running command claimed it. From now on no report of it is stored."""
        query = _SQL["claimed"].format(for_update=tx.for_update)
        row = tx.execute(query, (record.kind, record.id)).fetchone()
        if row is None:
            raise ValueError(f"no {record.kind} {record.id!r} in {self._where}")
        destroyed, claimed, lease_until = row
        if destroyed is not None or (
            claimed is not None and running(claimed, lease_until, micros(now()))
        ):
            return False
        tx.execute(_SQL["claim"], (this_command(), record.kind, record.id))
        return True

    def unclaim(self, tx: Database, record: Record) -> None:
        """Give up the claim of a destroy that failed: a later destroy may try again."""
        tx.execute(_SQL["unclaim"], (record.kind, record.id))

    def mark_destroyed(self, tx: Database, kind: Kind, id: str) -> None:
        """Mark a target destroyed: it is never ``latest`` again, so never checked again."""
        if not tx.execute(_SQL["mark_destroyed"], (micros(now()), kind, id)).rowcount:
            raise ValueError(f"no {kind} {id!r} in {self._where}")

    # --- reading ---------------------------------------------------------------------------

    def get(self, kind: Kind, id: str) -> Record | None:
        """The deployment or release ``id``, destroyed or not."""
        with self._db.guarded() as db:
            row = db.execute(_SQL["get"].format(columns=_COLUMNS), (kind, id)).fetchone()
        return None if row is None else _record(row)

    def latest(self, kind: Kind, app: str, workspace: str) -> Record | None:
        """The newest live deployment or release of ``app`` that is not destroyed."""
        found = self._not_destroyed(kind, app, workspace, " AND status = 'live'", 1)
        return found[0] if found else None

    def latest_of(self, apps: Sequence[str], workspace: str) -> dict[tuple[str, Kind], Record]:
        """:meth:`latest` of both kinds for each of ``apps``, by (app, kind), in one query per
        few hundred apps."""
        return self._newest_of(apps, workspace, " AND status = 'live'")

    def newest_of(self, apps: Sequence[str], workspace: str) -> dict[tuple[str, Kind], Record]:
        """The newest version not destroyed of both kinds for each of ``apps``, whatever its
        status, by (app, kind): whether the last deploy or release of each came through."""
        return self._newest_of(apps, workspace)

    def _newest_of(
        self, apps: Sequence[str], workspace: str, condition: str = ""
    ) -> dict[tuple[str, Kind], Record]:
        found: dict[tuple[str, Kind], Record] = {}
        for start in range(0, len(apps), BATCH):
            batch = apps[start : start + BATCH]
            query = _SQL["newest_of"].format(
                columns=_COLUMNS, values=", ".join(["(?)"] * len(batch)), condition=condition
            )
            with self._db.guarded() as db:
                rows = db.execute(query, [*batch, workspace]).fetchall()
            for row in rows:
                record = _record(row)
                found[record.app, record.kind] = record
        return found

    def apps(self, workspace: str) -> list[str]:
        """The apps of ``workspace`` with a version not destroyed, by name."""
        with self._db.guarded() as db:
            rows = db.execute(_SQL["apps"], (workspace,)).fetchall()
        return [app for (app,) in rows]

    def versions(self, kind: Kind, app: str, workspace: str) -> list[Record]:
        """Every deployment or release of ``app`` not destroyed, newest first: live ones,
        failed ones and pending ones (running, or interrupted)."""
        return self._not_destroyed(kind, app, workspace)

    def _not_destroyed(
        self, kind: Kind, app: str, workspace: str, condition: str = "", limit: int = NO_LIMIT
    ) -> list[Record]:
        query = _SQL["not_destroyed"].format(columns=_COLUMNS, condition=condition)
        with self._db.guarded() as db:
            rows = db.execute(query, (kind, app, workspace, limit)).fetchall()
        return [_record(row) for row in rows]
