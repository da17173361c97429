"""The report wire format: ``StatusReport`` to and from JSON, as §8 of the design pins it.

Keys are the proto's field names, enums their names, times RFC 3339 in UTC with ``Z``. The
decoder also reads enum numbers and protobuf-JSON camelCase keys, and takes ``null`` as the
field's default, as protobuf's JSON mapping does. The one converter (``_codec``) registers
these functions as its hooks for the report model, its enums and times.

A report can hold 100,000 resources, so the wire form is also declared as msgspec structs,
which encode and decode in C. Decoding takes that way only for the text this module writes
(the canonical encoding of what it decoded, checked byte for byte); anything else (camelCase,
enum numbers, nulls, other producers' times) and every error goes through the checking decoder
written out by hand, whose errors name the path to the bad field.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Annotated, Any, Final, TypeAlias, TypeVar, cast

import attrs
import msgspec

from ..errors import ReportDecodeError, StructureError, prefixed
from .collector import paused
from .health import HEALTH_NAMES, CategoryDisplayHint, Health
from .report import Resource, StatusReport, check_json_document, unchecked

__all__ = [
    "encode_report",
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


# Times are encoded by msgspec as format_time writes them: RFC 3339, Z, microseconds if any.
_UtcTime: TypeAlias = Annotated[datetime, msgspec.Meta(tz=True)]


class _WireResource(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    """A resource as the wire carries it; the fields in the order they are written."""

    id: str = ""
    name: str = ""
    parent_resource_id: str = ""
    platform: str = ""
    type: str = ""
    platform_url: str = ""
    category_display_hint: str = "UNKNOWN"
    created_time: _UtcTime | None = None
    state_json: str = ""
    health: str = "UNKNOWN"
    health_message: str = ""


class _WireReport(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    resources: list[_WireResource] = []
    health: str | None = None
    health_message: str = ""
    generated_time: _UtcTime | None = None
    external: bool = False


_ENCODER: Final = msgspec.json.Encoder()
_DECODER: Final = msgspec.json.Decoder(_WireReport)


def _in_utc(value: datetime | None) -> datetime | None:
    # The model keeps times in UTC already, so astimezone (slow) is rarely needed.
    if value is None or value.tzinfo is timezone.utc:
        return value
    return value.astimezone(timezone.utc)


def _wire_resource(r: Resource) -> _WireResource:
    return _WireResource(
        r.id,
        r.name,
        r.parent_resource_id,
        r.platform,
        r.type,
        r.platform_url,
        _HINT_NAMES[r.category_display_hint],
        _in_utc(r.created_time),
        r.state_json,
        HEALTH_NAMES[r.health],
        r.health_message,
    )


def _wire_report(report: StatusReport) -> _WireReport:
    return _WireReport(
        [_wire_resource(r) for r in report.resources],
        None if report.health is None else HEALTH_NAMES[report.health],
        report.health_message,
        _in_utc(report.generated_time),
        report.external,
    )


def resource_to_wire(r: Resource) -> dict[str, Any]:
    return cast("dict[str, Any]", msgspec.to_builtins(_wire_resource(r)))


def report_to_wire(report: StatusReport) -> dict[str, Any]:
    return cast("dict[str, Any]", msgspec.to_builtins(_wire_report(report)))


def encode_report(report: StatusReport) -> bytes:
    """The wire form of ``report`` as UTF-8: proto field names, enum names, RFC 3339 UTC
    times."""
    wire = _wire_report(report)
    try:
        return _ENCODER.encode(wire)
    except UnicodeEncodeError:
        # A lone surrogate (os.fsdecode makes them of undecodable file names) has no UTF-8
        # form; JSON's \u escapes carry it.
        return json.dumps(msgspec.to_builtins(wire), separators=(",", ":")).encode()


def report_to_json(report: StatusReport) -> str:
    """The wire form of ``report``: proto field names, enum names, RFC 3339 UTC times."""
    return encode_report(report).decode()


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


# Each field of a Resource set through its slot: object.__setattr__ would look the slot up by
# name, eleven times for each of 100,000 resources.
(
    _set_name,
    _set_health,
    _set_health_message,
    _set_id,
    _set_parent_resource_id,
    _set_platform,
    _set_type,
    _set_platform_url,
    _set_category_display_hint,
    _set_created_time,
    _set_state_json,
) = (getattr(Resource, field.name).__set__ for field in attrs.fields(Resource))


def _resource(wire: _WireResource) -> Resource:
    """``wire`` as a Resource, built as unchecked() builds one: msgspec checked the types."""
    if wire.state_json:
        check_json_document(wire.state_json)
    resource = object.__new__(Resource)
    _set_name(resource, wire.name)
    _set_health(resource, _HEALTHS[wire.health])
    _set_health_message(resource, wire.health_message)
    _set_id(resource, wire.id)
    _set_parent_resource_id(resource, wire.parent_resource_id)
    _set_platform(resource, wire.platform)
    _set_type(resource, wire.type)
    _set_platform_url(resource, wire.platform_url)
    _set_category_display_hint(resource, _HINTS[wire.category_display_hint])
    _set_created_time(resource, wire.created_time)
    _set_state_json(resource, wire.state_json)
    return resource


def _from_canonical(text: str | bytes) -> StatusReport | None:
    """The report ``text`` is the encoding of, when it is exactly the text this module writes
    for it; ``None`` for any other text, left to the checking decoder.

    The byte-for-byte check makes the two decoders agree by construction: this one decodes
    only what ``encode_report`` wrote, which the checking decoder reads back unchanged.
    """
    try:
        data = text.encode() if isinstance(text, str) else text
        wire = _DECODER.decode(data)
    except (UnicodeEncodeError, msgspec.DecodeError):
        return None
    if _ENCODER.encode(wire) != data:
        return None
    try:
        health = Health.UNKNOWN if wire.health is None else _HEALTHS[wire.health]
        # Nothing built here holds a cycle: the collector would walk every resource again
        # and again, in vain, while 100,000 of them are made.
        with paused():
            resources = [_resource(item) for item in wire.resources]
    except (KeyError, ValueError):  # not a Health or hint name; a state_json not JSON
        return None
    return unchecked(
        StatusReport,
        resources=resources,
        health=health,
        health_message=wire.health_message,
        generated_time=wire.generated_time,
        external=wire.external,
    )


def report_from_json(text: str | bytes) -> StatusReport:
    """Decode the wire form; bad input raises :class:`ReportDecodeError` naming the path to
    the bad field (``resources[3].health``)."""
    report = _from_canonical(text)
    if report is not None:
        return report
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
