"""The report wire format: ``StatusReport`` to and from JSON, as §8 of the design pins it.

Keys are the proto's field names, enums their names, times RFC 3339 in UTC with ``Z``. The
decoder also reads enum numbers and protobuf-JSON camelCase keys, and takes ``null`` as the
field's default, as protobuf's JSON mapping does. Both directions are written out by hand (a
report can hold 100,000 resources); the one converter (``_codec``) registers them as its hooks
for the report model, its enums and times.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any, Final, TypeVar, cast

import attrs

from ._errors import StructureError, prefixed
from ._health import HEALTH_NAMES, CategoryDisplayHint, Health
from ._model import Resource, StatusReport, unchecked

__all__ = [
    "ReportDecodeError",
    "enum_from_wire",
    "format_time",
    "parse_time",
    "report_from_json",
    "report_from_wire",
    "report_to_json",
    "report_to_wire",
    "resource_from_wire",
    "resource_to_wire",
]


class ReportDecodeError(StructureError):
    """The text is not a wire-format ``StatusReport``; ``path`` names the bad field."""


# Indexing a tuple by an IntEnum is several times faster than its .name property.
_HINT_NAMES: Final = tuple(h.name for h in CategoryDisplayHint)

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


def resource_to_wire(r: Resource) -> dict[str, Any]:
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
        "health": HEALTH_NAMES[r.health],
        "health_message": r.health_message,
    }


def report_to_wire(report: StatusReport) -> dict[str, Any]:
    return {
        "resources": [resource_to_wire(r) for r in report.resources],
        "health": None if report.health is None else HEALTH_NAMES[report.health],
        "health_message": report.health_message,
        "generated_time": (
            None if report.generated_time is None else format_time(report.generated_time)
        ),
        "external": report.external,
    }


def report_to_json(report: StatusReport) -> str:
    """The wire form of ``report``: proto field names, enum names, RFC 3339 UTC times."""
    return json.dumps(report_to_wire(report), separators=(",", ":"))


_E = TypeVar("_E", Health, CategoryDisplayHint)


def _wire_names(enum: type[_E]) -> dict[object, _E]:
    table: dict[object, _E] = {member.name: member for member in enum}
    table.update({member.value: member for member in enum})
    return table


_HEALTHS: Final = _wire_names(Health)
_HINTS: Final = _wire_names(CategoryDisplayHint)


def _enum(value: object, table: Mapping[object, _E], enum: type[_E], field: str) -> _E:
    # bool is excluded by type: True == 1 would find ALIVE in the table.
    member = table.get(value) if type(value) in (str, int) else None
    if member is None:
        raise StructureError.at(
            field,
            f"{value!r} is not a {enum.__name__}; use one of "
            f"{', '.join(enum.__members__)} or their numbers",
        )
    return member


_TABLES: Final[Mapping[type, Mapping[object, Any]]] = {
    Health: _HEALTHS,
    CategoryDisplayHint: _HINTS,
}


def enum_from_wire(value: object, enum: type[_E]) -> _E:
    """A ``Health`` or ``CategoryDisplayHint`` from its name or its number."""
    return _enum(value, cast("Mapping[object, _E]", _TABLES[enum]), enum, "")


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _keys(cls: type[Resource] | type[StatusReport]) -> tuple[frozenset[str], dict[str, str]]:
    names = [a.name for a in attrs.fields(cls)]
    return frozenset(names), {_camel(n): n for n in names if _camel(n) != n}


_RESOURCE_KEYS, _RESOURCE_CAMEL = _keys(Resource)
_REPORT_KEYS, _REPORT_CAMEL = _keys(StatusReport)
#: Proto fields the model does not carry (DESIGN §2): the SDK's writers fill in a resource's
#: declared_resource, so it is accepted, and dropped.
_NOT_CARRIED: Final = frozenset({"declared_resource", "declaredResource"})


def _fields(
    value: object,
    keys: frozenset[str],
    camel: Mapping[str, str],
    dropped: frozenset[str] = frozenset(),
) -> Mapping[str, Any]:
    """``value``'s fields under their proto names, nulls dropped (they mean the default)."""
    if not isinstance(value, Mapping):
        raise StructureError.at("", f"expected a JSON object, got {type(value).__name__}")
    if keys.issuperset(value):
        return value  # the common case: this codec's own output needs no renaming
    fields: dict[str, Any] = {}
    for key, item in value.items():
        if key in dropped:
            continue
        name = camel.get(key, key)
        if name not in keys:
            known = ", ".join(sorted(keys))
            raise StructureError.at(str(key), f"unknown field (known fields: {known})")
        if name in fields:
            raise StructureError.at(name, f"given twice, as {name!r} and {_camel(name)!r}")
        fields[name] = item
    return fields


def _text(fields: Mapping[str, Any], name: str) -> str:
    value = fields.get(name)
    if value is None:
        return ""
    if type(value) is not str:
        raise StructureError.at(name, f"expected a string, got {_json_type(value)}")
    return value


def _time(fields: Mapping[str, Any], name: str) -> datetime | None:
    value = fields.get(name)
    if value is None:
        return None
    try:
        return parse_time(value)
    except (TypeError, ValueError) as exc:
        raise StructureError.at(name, str(exc)) from None


def _json_type(value: object) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}
    return names.get(type(value), f"the number {value!r}")


def resource_from_wire(value: object, _: object = None) -> Resource:
    fields = _fields(value, _RESOURCE_KEYS, _RESOURCE_CAMEL, _NOT_CARRIED)
    state_json = _text(fields, "state_json")
    if state_json:
        try:
            json.loads(state_json)
        except ValueError as exc:
            raise StructureError.at("state_json", f"not a JSON document: {exc}") from None
    health = fields.get("health")
    hint = fields.get("category_display_hint")
    # Every field is checked above or here, so the validating __init__ can be skipped.
    return unchecked(
        Resource,
        name=_text(fields, "name"),
        health=Health.UNKNOWN if health is None else _enum(health, _HEALTHS, Health, "health"),
        health_message=_text(fields, "health_message"),
        id=_text(fields, "id"),
        parent_resource_id=_text(fields, "parent_resource_id"),
        platform=_text(fields, "platform"),
        type=_text(fields, "type"),
        platform_url=_text(fields, "platform_url"),
        category_display_hint=(
            CategoryDisplayHint.UNKNOWN
            if hint is None
            else _enum(hint, _HINTS, CategoryDisplayHint, "category_display_hint")
        ),
        created_time=_time(fields, "created_time"),
        state_json=state_json,
    )


def report_from_wire(value: object, _: object = None) -> StatusReport:
    fields = _fields(value, _REPORT_KEYS, _REPORT_CAMEL)
    items = fields.get("resources")
    if items is None:
        items = []
    elif type(items) is not list:
        raise StructureError.at("resources", f"expected an array, got {_json_type(items)}")
    resources = []
    for index, item in enumerate(items):
        try:
            resources.append(resource_from_wire(item))
        except StructureError as exc:
            raise prefixed(exc, f"resources[{index}]") from None
    health = fields.get("health")
    external = fields.get("external")
    if external is not None and type(external) is not bool:
        raise StructureError.at("external", f"expected true or false, got {_json_type(external)}")
    return unchecked(
        StatusReport,
        resources=resources,
        # A wire report is finalized: no health is proto3's default, UNKNOWN, not "derive it".
        health=Health.UNKNOWN if health is None else _enum(health, _HEALTHS, Health, "health"),
        health_message=_text(fields, "health_message"),
        generated_time=_time(fields, "generated_time"),
        external=bool(external),
    )


def report_from_json(text: str | bytes) -> StatusReport:
    """Decode the wire form; bad input raises :class:`ReportDecodeError` naming the path to
    the bad field (``resources[3].health``)."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ReportDecodeError([("", f"not JSON: {exc}")]) from None
    except RecursionError:
        raise ReportDecodeError([("", "not a report: nested too deeply")]) from None
    try:
        return report_from_wire(data)
    except StructureError as exc:
        raise ReportDecodeError(exc.problems) from None
