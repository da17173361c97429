"""How the stores keep values in columns: times as integer microseconds since the Unix epoch
(sortable, exact, compact), hook values as JSON without the secrets URLs carry, and whether
the command that owns a row still runs."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any, Final, Literal

from ..model.redaction import redact_value
from .owners import alive

__all__ = [
    "BATCH",
    "CheckKey",
    "Kind",
    "micros",
    "now",
    "running",
    "time",
    "value_text",
]

Kind = Literal["deployment", "release"]
#: A check that the serve instances share: an app's deployment or release, ``(app, kind)``.
CheckKey = tuple[str, Kind]

#: SQLite's oldest limit on the number of ``?`` in one statement is 999; a batch of keys
#: takes at most two for each.
BATCH: Final = 400

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MICROSECOND: Final = timedelta(microseconds=1)


def micros(value: datetime) -> int:
    return (value - _EPOCH) // _MICROSECOND


def time(value: int) -> datetime:
    return _EPOCH + timedelta(microseconds=value)


def now() -> datetime:
    return datetime.now(timezone.utc)


def running(owner: str, lease_until: int | None, moment: int) -> bool:
    """Whether ``owner`` runs: by its pid on this machine, elsewhere by its lease."""
    return alive(owner, leased=lease_until is not None and lease_until > moment)


def value_text(value: Mapping[str, Any]) -> str:
    """A hook's value as stored: JSON, without the secrets URLs in it carry (DESIGN §13)."""
    return json.dumps(redact_value(dict(value)))
