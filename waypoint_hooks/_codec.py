"""The one cattrs converter: the report wire format and the structuring of plugin values."""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any, Final, TypeVar

import attrs
import cattrs
from cattrs.errors import (
    ClassValidationError,
    ForbiddenExtraKeysError,
    IterableValidationError,
    IterableValidationNote,
)

__all__ = [
    "StructureError",
    "converter",
    "format_time",
    "parse_time",
    "prefixed",
    "structure",
    "unstructure_value",
]

_T = TypeVar("_T")


class StructureError(ValueError):
    """A value does not fit the type asked for; ``problems`` lists ``(path, message)`` pairs."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        super().__init__(
            "; ".join(f"{path}: {message}" if path else message for path, message in problems)
        )

    @property
    def path(self) -> str:
        """The path to the first bad field, e.g. ``resources[3].health``."""
        return self.problems[0][0]


def prefixed(error: StructureError, prefix: str) -> StructureError:
    """``error`` with ``prefix`` put before each of its paths (same error class)."""
    return type(error)([(_join(prefix, path), message) for path, message in error.problems])


converter: Final = cattrs.Converter(forbid_extra_keys=True, detailed_validation=True)


def _strict(expected: type[_T], *also: type) -> Any:
    accepted = (expected, *also)

    def structure(value: object, _: type) -> _T:
        # cattrs would call str(value)/bool(value): "false" would become True.
        if isinstance(value, bool) and expected is not bool:
            raise TypeError(f"expected {expected.__name__}, got a boolean")
        if not isinstance(value, accepted):
            raise TypeError(f"expected {expected.__name__}, got {type(value).__name__} {value!r}")
        return expected(value)  # type: ignore[call-arg]

    return structure


converter.register_structure_hook(str, _strict(str))
converter.register_structure_hook(int, _strict(int))
converter.register_structure_hook(float, _strict(float, int))
converter.register_structure_hook(bool, _strict(bool))

# RFC 3339 as protobuf's JSON mapping writes it; up to nanoseconds, which datetime truncates.
# What format_time writes: whole seconds or microseconds, UTC.
_OWN_FORMAT: Final = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{6})?Z\Z")
_RFC3339: Final = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)[Tt ](\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?"
    r"(?:([Zz])|([+-])(\d\d):(\d\d))\Z"
)


def format_time(value: datetime) -> str:
    """``value`` in UTC as RFC 3339 with ``Z``, microseconds only when there are any."""
    # isoformat() is C code and already omits zero microseconds; only the suffix differs.
    # The model stores times in UTC already, so astimezone (slow) is rarely needed.
    if value.tzinfo is not timezone.utc:
        value = value.astimezone(timezone.utc)
    return value.isoformat()[:-6] + "Z"


def parse_time(value: object, _: object = None) -> datetime:
    """An RFC 3339 timestamp (with a ``Z`` or an offset) as an aware UTC datetime."""
    if not isinstance(value, str):
        raise TypeError(f"expected an RFC 3339 timestamp string, got {type(value).__name__}")
    if _OWN_FORMAT.match(value):
        # The form this codec writes, parsed at C speed (Python 3.11+ reads the Z).
        with contextlib.suppress(ValueError):
            return datetime.fromisoformat(value)
    match = _RFC3339.match(value)
    if match is None:
        raise ValueError(f"{value!r} is not an RFC 3339 timestamp like 2024-05-01T12:00:00Z")
    year, month, day, hour, minute, second, frac, _z, sign, off_h, off_m = match.groups()
    offset = timezone.utc
    if sign:
        delta = timedelta(hours=int(off_h), minutes=int(off_m))
        offset = timezone(-delta if sign == "-" else delta)
    try:
        stamp = datetime(
            int(year),
            int(month),
            int(day),
            int(hour),
            int(minute),
            int(second),
            int((frac or "0").ljust(6, "0")[:6]),
            offset,
        )
        return stamp.astimezone(timezone.utc)
    except (ValueError, OverflowError) as exc:
        raise ValueError(f"{value!r} is not a valid time: {exc}") from None


converter.register_unstructure_hook(datetime, format_time)
converter.register_structure_hook(datetime, parse_time)


def _join(path: str, inner: str) -> str:
    """``resources[3]`` + ``health`` → ``resources[3].health``; indexes join without a dot."""
    if not inner:
        return path
    if not path or inner.startswith("["):
        return f"{path}{inner}"
    return f"{path}.{inner}"


def _problems(exc: BaseException, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(exc, (ClassValidationError, IterableValidationError)):
        with_notes, without_notes = exc.group_exceptions()
        for inner, note in with_notes:
            if isinstance(note, IterableValidationNote):
                step = f"[{note.index}]"
            else:
                step = f".{note.name}"
            yield from _problems(inner, f"{path}{step}")
        for inner in without_notes:
            yield from _problems(inner, path)
    elif isinstance(exc, ForbiddenExtraKeysError):
        known = ", ".join(a.name for a in attrs.fields(exc.cl)) if attrs.has(exc.cl) else ""
        for key in sorted(exc.extra_fields):
            yield f"{path}.{key}", f"unknown field (known fields: {known})"
    elif isinstance(exc, StructureError):
        for inner_path, message in exc.problems:
            yield _join(path, inner_path), message
    elif isinstance(exc, KeyError):
        yield path, "required field missing"
    else:
        yield path, str(exc)


def structure(value: object, cls: type[_T], error: type[StructureError] = StructureError) -> _T:
    """Structure ``value`` into ``cls`` with the converter; a misfit raises ``error``."""
    try:
        return converter.structure(value, cls)
    except (
        ClassValidationError,
        IterableValidationError,
        ValueError,
        TypeError,
        KeyError,
        ForbiddenExtraKeysError,
    ) as exc:
        problems = [(path.lstrip("."), message) for path, message in _problems(exc, "")]
        raise error(problems) from None


def unstructure_value(value: object) -> dict[str, Any]:
    """A deploy or release hook's return value (attrs instance, dataclass or mapping) as a
    JSON-ready mapping, to store and give back to later hooks."""
    plain = converter.unstructure(value)
    if not isinstance(plain, Mapping):
        raise TypeError(
            f"expected an attrs instance, a dataclass or a mapping, got {type(value).__name__}"
        )
    try:
        json.dumps(plain)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"the value cannot be stored as JSON: {exc}") from None
    return dict(plain)
