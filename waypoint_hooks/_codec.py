"""The one cattrs converter: the report wire format and the structuring of plugin values."""

from __future__ import annotations

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

from ._health import CategoryDisplayHint, Health
from ._model import Resource, StatusReport

__all__ = [
    "ReportDecodeError",
    "StructureError",
    "converter",
    "report_from_json",
    "report_to_json",
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


class ReportDecodeError(StructureError):
    """The text is not a wire-format ``StatusReport``; ``path`` names the bad field."""


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
    except ValueError as exc:
        raise ValueError(f"{value!r} is not a valid time: {exc}") from None
    return stamp.astimezone(timezone.utc)


converter.register_unstructure_hook(datetime, format_time)
converter.register_structure_hook(datetime, parse_time)

_E = TypeVar("_E", Health, CategoryDisplayHint)


def _enum_from_wire(value: object, enum: type[_E]) -> _E:
    if isinstance(value, str) and value in enum.__members__:
        return enum[value]
    if isinstance(value, int) and not isinstance(value, bool) and value in enum._value2member_map_:
        return enum(value)
    raise ValueError(
        f"{value!r} is not a {enum.__name__}; use one of {', '.join(enum.__members__)} "
        "or their numbers"
    )


for _enum in (Health, CategoryDisplayHint):
    converter.register_unstructure_hook(_enum, lambda value: value.name)
    converter.register_structure_hook(_enum, _enum_from_wire)

# Indexing a tuple by an IntEnum is several times faster than its .name property; the
# wire encoder runs once per resource.
_HEALTH_NAMES: Final = tuple(h.name for h in Health)
_HINT_NAMES: Final = tuple(h.name for h in CategoryDisplayHint)


def _time_or_none(value: datetime | None) -> str | None:
    return None if value is None else format_time(value)


def _resource_to_wire(r: Resource) -> dict[str, Any]:
    return {
        "id": r.id,
        "name": r.name,
        "parent_resource_id": r.parent_resource_id,
        "platform": r.platform,
        "type": r.type,
        "platform_url": r.platform_url,
        "category_display_hint": _HINT_NAMES[r.category_display_hint],
        "created_time": None if r.created_time is None else format_time(r.created_time),
        "state_json": r.state_json,
        "health": _HEALTH_NAMES[r.health],
        "health_message": r.health_message,
    }


def _report_to_wire(report: StatusReport) -> dict[str, Any]:
    return {
        "resources": [_resource_to_wire(r) for r in report.resources],
        "health": None if report.health is None else _HEALTH_NAMES[report.health],
        "health_message": report.health_message,
        "generated_time": _time_or_none(report.generated_time),
        "external": report.external,
    }


converter.register_unstructure_hook(Resource, _resource_to_wire)
converter.register_unstructure_hook(StatusReport, _report_to_wire)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _wire_structure_hook(cls: type[Resource] | type[StatusReport]) -> Any:
    """Structure ``cls`` from proto field names or protobuf-JSON camelCase, null as default."""
    fields: set[str] = {a.name for a in attrs.fields(cls)}
    renames: dict[str, str] = {_camel(n): n for n in fields if _camel(n) != n}
    generated = cattrs.gen.make_dict_structure_fn(cls, converter, _cattrs_forbid_extra_keys=True)

    def structure(value: object, _: type) -> Resource | StatusReport:
        if not isinstance(value, Mapping):
            raise TypeError(f"expected a JSON object, got {type(value).__name__}")
        normal: dict[str, Any] = {}
        for key, item in value.items():
            name = renames.get(str(key), str(key))
            if name in normal:
                raise ValueError(f"field {name!r} is given twice ({key!r} and {name!r})")
            # protobuf's JSON mapping reads null as the field's default.
            if item is not None or name not in fields:
                normal[name] = item
        return generated(normal, cls)

    return structure


converter.register_structure_hook(Resource, _wire_structure_hook(Resource))
converter.register_structure_hook(StatusReport, _wire_structure_hook(StatusReport))


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


def report_to_json(report: StatusReport) -> str:
    """The wire form of ``report``: proto field names, enum names, RFC 3339 UTC times."""
    return json.dumps(_report_to_wire(report), separators=(",", ":"))


def report_from_json(text: str | bytes) -> StatusReport:
    """Decode the wire form (also enum numbers and camelCase keys); bad input raises
    :class:`ReportDecodeError` naming the path to the bad field."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ReportDecodeError([("", f"not JSON: {exc}")]) from None
    return structure(data, StatusReport, ReportDecodeError)


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
