"""The report wire format: ``StatusReport`` to and from JSON, as §8 of the design pins it.

Keys are the proto's field names, enums their names, times RFC 3339 in UTC with ``Z``. The
decoder also reads enum numbers and protobuf-JSON camelCase keys, and takes ``null`` as the
field's default, as protobuf's JSON mapping does. Both directions are written out by hand
and registered on the one converter: a report can hold 100,000 resources.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final, TypeVar

import attrs

from ._codec import StructureError, converter, format_time, parse_time, prefixed, structure
from ._health import CategoryDisplayHint, Health
from ._model import Resource, StatusReport, unchecked

__all__ = ["ReportDecodeError", "report_from_json", "report_to_json", "report_to_wire"]


class ReportDecodeError(StructureError):
    """The text is not a wire-format ``StatusReport``; ``path`` names the bad field."""


# Indexing a tuple by an IntEnum is several times faster than its .name property.
_HEALTH_NAMES: Final = tuple(h.name for h in Health)
_HINT_NAMES: Final = tuple(h.name for h in CategoryDisplayHint)


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


def report_to_wire(report: StatusReport) -> dict[str, Any]:
    return {
        "resources": [_resource_to_wire(r) for r in report.resources],
        "health": None if report.health is None else _HEALTH_NAMES[report.health],
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
        raise StructureError(
            [
                (
                    field,
                    f"{value!r} is not a {enum.__name__}; use one of "
                    f"{', '.join(enum.__members__)} or their numbers",
                )
            ]
        )
    return member


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _keys(cls: type[Resource] | type[StatusReport]) -> tuple[frozenset[str], dict[str, str]]:
    names = [a.name for a in attrs.fields(cls)]
    return frozenset(names), {_camel(n): n for n in names if _camel(n) != n}


_RESOURCE_KEYS, _RESOURCE_CAMEL = _keys(Resource)
_REPORT_KEYS, _REPORT_CAMEL = _keys(StatusReport)


def _fields(value: object, keys: frozenset[str], camel: Mapping[str, str]) -> Mapping[str, Any]:
    """``value``'s fields under their proto names, nulls dropped (they mean the default)."""
    if not isinstance(value, Mapping):
        raise StructureError([("", f"expected a JSON object, got {type(value).__name__}")])
    if keys.issuperset(value):
        return value  # the common case: this codec's own output needs no renaming
    fields: dict[str, Any] = {}
    for key, item in value.items():
        name = camel.get(key, key)
        if name not in keys:
            known = ", ".join(sorted(keys))
            raise StructureError([(str(key), f"unknown field (known fields: {known})")])
        if name in fields:
            raise StructureError([(name, f"given twice, as {name!r} and {_camel(name)!r}")])
        fields[name] = item
    return fields


def _text(fields: Mapping[str, Any], name: str) -> str:
    value = fields.get(name)
    if value is None:
        return ""
    if type(value) is not str:
        raise StructureError([(name, f"expected a string, got {_json_type(value)}")])
    return value


def _time(fields: Mapping[str, Any], name: str) -> datetime | None:
    value = fields.get(name)
    if value is None:
        return None
    try:
        return parse_time(value)
    except (TypeError, ValueError) as exc:
        raise StructureError([(name, str(exc))]) from None


def _json_type(value: object) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}
    return names.get(type(value), f"the number {value!r}")


def _resource_from_wire(value: object, _: object = None) -> Resource:
    fields = _fields(value, _RESOURCE_KEYS, _RESOURCE_CAMEL)
    state_json = _text(fields, "state_json")
    if state_json:
        try:
            json.loads(state_json)
        except ValueError as exc:
            raise StructureError([("state_json", f"not a JSON document: {exc}")]) from None
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


def _report_from_wire(value: object, _: object = None) -> StatusReport:
    fields = _fields(value, _REPORT_KEYS, _REPORT_CAMEL)
    items = fields.get("resources")
    if items is None:
        items = []
    elif type(items) is not list:
        raise StructureError([("resources", f"expected an array, got {_json_type(items)}")])
    resources = []
    for index, item in enumerate(items):
        try:
            resources.append(_resource_from_wire(item))
        except StructureError as exc:
            raise prefixed(exc, f"resources[{index}]") from None
    health = fields.get("health")
    external = fields.get("external")
    if external is not None and type(external) is not bool:
        raise StructureError([("external", f"expected true or false, got {_json_type(external)}")])
    return unchecked(
        StatusReport,
        resources=resources,
        # A wire report is finalized: no health is proto3's default, UNKNOWN, not "derive it".
        health=Health.UNKNOWN if health is None else _enum(health, _HEALTHS, Health, "health"),
        health_message=_text(fields, "health_message"),
        generated_time=_time(fields, "generated_time"),
        external=bool(external),
    )


converter.register_unstructure_hook(Resource, _resource_to_wire)
converter.register_unstructure_hook(StatusReport, report_to_wire)
converter.register_structure_hook(Resource, _resource_from_wire)
converter.register_structure_hook(StatusReport, _report_from_wire)
converter.register_unstructure_hook(Health, lambda member: member.name)
converter.register_unstructure_hook(CategoryDisplayHint, lambda member: member.name)
converter.register_structure_hook(Health, lambda value, _: _enum(value, _HEALTHS, Health, ""))
converter.register_structure_hook(
    CategoryDisplayHint, lambda value, _: _enum(value, _HINTS, CategoryDisplayHint, "")
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
    return structure(data, StatusReport, ReportDecodeError)
