"""The report model: ``Resource`` and ``StatusReport``, field for field as Waypoint's proto,
and finalizing the reports plugins return."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime, timezone
from typing import Any, Final, TypeVar, final

import attrs
import msgspec

from .aggregate import DEFAULT_POLICY, Policy, aggregate
from .health import CategoryDisplayHint, Health
from .redaction import redact_urls, redact_value

__all__ = [
    "Resource",
    "StatusReport",
    "check_json_document",
    "finalize",
    "redact_report",
    "unchecked",
    "unknown_report",
    "validate_report",
]

_E = TypeVar("_E", Health, CategoryDisplayHint)
_A = TypeVar("_A", "Resource", "StatusReport")


# attrs hands converters and validators the field but not its class: this maps each field to
# its class's name, filled in below the classes, so that errors say "Resource.name".
_OWNERS: dict[int, str] = {}


def _owner(field: attrs.Attribute[Any]) -> str:
    return f"{_OWNERS.get(id(field), '')}{field.name}"


def _enum_converter(enum: type[_E], *, optional: bool = False) -> attrs.Converter[Any, Any]:
    def convert(value: object, field: attrs.Attribute[Any]) -> _E | None:
        if isinstance(value, enum) or (value is None and optional):
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            try:
                return enum(value)
            except ValueError:
                raise ValueError(
                    f"{_owner(field)}: {value} is not a {enum.__name__} value "
                    f"(0..{max(enum)}: {', '.join(enum.__members__)})"
                ) from None
        raise TypeError(
            f"{_owner(field)} must be a {enum.__name__}"
            f"{' or None' if optional else ''}, got {type(value).__name__} {value!r}"
        )

    return attrs.Converter(convert, takes_field=True)


def _to_utc(value: object, field: attrs.Attribute[Any]) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise TypeError(
            f"{_owner(field)} must be a datetime or None, got {type(value).__name__} {value!r}"
        )
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(
            f"{_owner(field)} must be timezone-aware, e.g. datetime.now(timezone.utc); "
            f"got naive {value.isoformat()}"
        )
    return value if value.tzinfo is timezone.utc else value.astimezone(timezone.utc)


def _check_type(expected: type) -> Any:
    def check(_: object, field: attrs.Attribute[Any], value: object) -> None:
        # bool is an int, but a health message of True is a bug, not a value.
        if type(value) is not expected and not (
            isinstance(value, expected) and not isinstance(value, bool)
        ):
            raise TypeError(
                f"{_owner(field)} must be {expected.__name__}, got {type(value).__name__} {value!r}"
            )

    return check


#: Checks that a text is one JSON document without building it: a ``Raw`` is only skipped over,
#: about 30 times faster than ``json.loads``. It accepts less than ``json.loads`` does (no NaN,
#: no lone surrogate escape): what it refuses, json.loads judges (a test holds it to that).
_JSON_DOCUMENT: Final = msgspec.json.Decoder(msgspec.Raw)


def check_json_document(text: str) -> None:
    """A ValueError unless ``text`` is a JSON document, as ``json.loads`` reads one."""
    try:
        _JSON_DOCUMENT.decode(text)
    except (msgspec.DecodeError, UnicodeEncodeError):  # a lone surrogate has no UTF-8
        json.loads(text)


def _check_json(_: object, field: attrs.Attribute[str], value: str) -> None:
    if not value:
        return
    try:
        check_json_document(value)
    except ValueError as exc:
        raise ValueError(f"{_owner(field)} is not a JSON document: {exc}") from None


def _to_resource_list(value: object, field: attrs.Attribute[Any]) -> list[Resource]:
    # A list is kept as it is, not copied: plugins build reports step by step and may append
    # to the list they passed in. The finalizer checks the items again.
    items = value if isinstance(value, list) else None
    if items is None:
        if isinstance(value, (str, bytes, dict)) or not isinstance(value, Iterable):
            raise TypeError(
                f"{_owner(field)} must be a list of Resource, got {type(value).__name__}"
            )
        items = list(value)
    for index, item in enumerate(items):
        if not isinstance(item, Resource):
            raise TypeError(
                f"{_owner(field)}[{index}] must be a Resource, got {type(item).__name__} {item!r}"
            )
    return items


@final
@attrs.define
class Resource:
    """One resource of a deployment or release, and its health (``StatusReport.Resource``)."""

    name: str = attrs.field(validator=_check_type(str))
    health: Health = attrs.field(
        default=Health.UNKNOWN,
        converter=_enum_converter(Health),  # type: ignore[misc]
    )
    health_message: str = attrs.field(default="", validator=_check_type(str))
    id: str = attrs.field(default="", validator=_check_type(str))
    parent_resource_id: str = attrs.field(default="", validator=_check_type(str))
    #: Filled in with the plugin's name when the plugin leaves it empty.
    platform: str = attrs.field(default="", validator=_check_type(str))
    type: str = attrs.field(default="", validator=_check_type(str))
    platform_url: str = attrs.field(default="", validator=_check_type(str))
    category_display_hint: CategoryDisplayHint = attrs.field(
        default=CategoryDisplayHint.UNKNOWN,
        converter=_enum_converter(CategoryDisplayHint),  # type: ignore[misc]
    )
    created_time: datetime | None = attrs.field(
        default=None,
        converter=attrs.Converter(_to_utc, takes_field=True),  # type: ignore[misc]
    )
    #: A JSON document with the platform's own view of the resource.
    state_json: str = attrs.field(default="", validator=[_check_type(str), _check_json])


@final
@attrs.define
class StatusReport:
    """The health of a deployment or release, and of its resources (``StatusReport``).

    ``health=None`` asks the framework to derive the health from the resources with the app's
    status policy when it finalizes the report.
    """

    resources: list[Resource] = attrs.field(
        factory=list,
        converter=attrs.Converter(_to_resource_list, takes_field=True),  # type: ignore[misc]
    )
    health: Health | None = attrs.field(
        default=None,
        converter=_enum_converter(Health, optional=True),  # type: ignore[misc]
    )
    health_message: str = attrs.field(default="", validator=_check_type(str))
    generated_time: datetime | None = attrs.field(
        default=None,
        converter=attrs.Converter(_to_utc, takes_field=True),  # type: ignore[misc]
    )
    #: True when the platform, not this framework, performed the health check.
    external: bool = attrs.field(default=False, validator=_check_type(bool))

    @classmethod
    def from_resources(
        cls, resources: Iterable[Resource], policy: str | Policy = "waypoint", **options: Any
    ) -> StatusReport:
        """A report whose health and message are aggregated from ``resources``."""
        resources = _to_resource_list(resources, _FIELDS_RESOURCES)
        health, message = aggregate(resources, policy, **options)
        return cls(resources=resources, health=health, health_message=message)


for _cls in (Resource, StatusReport):
    for _field in attrs.fields(_cls):
        _OWNERS[id(_field)] = f"{_cls.__name__}."
_FIELDS_RESOURCES = attrs.fields(StatusReport).resources


def unchecked(cls: type[_A], **values: Any) -> _A:
    """An instance built without converters and validators, from every field's value.

    Only for decoders that checked each field already: the wire decoder builds 100,000
    resources, and the validating ``__init__`` would take most of its time.
    """
    instance = object.__new__(cls)
    for name, value in values.items():
        # object.__setattr__ fills the slot directly, past attrs' on_setattr hooks.
        object.__setattr__(instance, name, value)
    return instance


def validate_report(report: StatusReport) -> None:
    """Raise :class:`TypeError` unless every field of ``report`` and of its resources holds
    what assignment would have accepted.

    Assignment is validated, but a list's ``append`` is not, and ``object.__setattr__`` gets
    past anything: a report is checked again before it is stored or shown.
    """
    if not _plainly_valid(report):
        # Something is not as the constructors make it: these checks say what (or find it
        # valid after all: a subclass of str, say).
        _validate_fully(report)


def _validate_fully(report: StatusReport) -> None:
    if not isinstance(report.resources, list):
        raise TypeError(f"StatusReport.resources must be a list, got {report.resources!r}")
    for index, resource in enumerate(report.resources):
        if not isinstance(resource, Resource):
            raise TypeError(f"resources[{index}] is a {type(resource).__name__}, not a Resource")
        try:
            _validate(resource)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"resources[{index}]: {exc}") from None
    try:
        _validate(report)
    except ValueError as exc:
        raise TypeError(str(exc)) from None


# The fields whose converter, not a validator, guards them: (name, type, may be None).
_CONVERTED: Final[dict[type, tuple[tuple[str, type, bool], ...]]] = {
    Resource: (
        ("health", Health, False),
        ("category_display_hint", CategoryDisplayHint, False),
        ("created_time", datetime, True),
    ),
    StatusReport: (("health", Health, True), ("generated_time", datetime, True)),
}


def _plainly_valid(report: StatusReport) -> bool:
    """Whether ``report`` holds exactly what its constructors make of valid values: exact
    types, times in UTC, each ``state_json`` a JSON document. Tests of identity, a tenth of
    what the validators cost: every check's report is validated, and all but a broken one
    are so. False says only that the validators must look."""
    resources = report.resources
    if not (
        type(resources) is list
        and type(report.health_message) is str
        and type(report.external) is bool
        and (report.health is None or type(report.health) is Health)
        and _utc_or_none(report.generated_time)
    ):
        return False
    for r in resources:
        if not (
            type(r) is Resource
            and type(r.name) is str
            and type(r.health_message) is str
            and type(r.id) is str
            and type(r.parent_resource_id) is str
            and type(r.platform) is str
            and type(r.type) is str
            and type(r.platform_url) is str
            and type(r.state_json) is str
            and type(r.health) is Health
            and type(r.category_display_hint) is CategoryDisplayHint
            and _utc_or_none(r.created_time)
        ):
            return False
        if r.state_json:
            try:
                _JSON_DOCUMENT.decode(r.state_json)
            except (msgspec.DecodeError, UnicodeEncodeError):
                return False
    return True


def _utc_or_none(value: datetime | None) -> bool:
    return value is None or (type(value) is datetime and value.tzinfo is timezone.utc)


def _validate(instance: Resource | StatusReport) -> None:
    attrs.validate(instance)  # the fields with validators: strings, state_json, external
    for name, kind, optional in _CONVERTED[type(instance)]:
        value = getattr(instance, name)
        if value is None and optional:
            continue
        if not isinstance(value, kind) or (isinstance(value, datetime) and value.tzinfo is None):
            owner = type(instance).__name__
            raise TypeError(
                f"{owner}.{name} must be a {'timezone-aware ' if kind is datetime else ''}"
                f"{kind.__name__}{' or None' if optional else ''}, got {value!r}"
            )


def finalize(
    report: StatusReport, plugin: str, policy: Policy = DEFAULT_POLICY, now: datetime | None = None
) -> StatusReport:
    """Complete a report a plugin returned, in place (§2 of the design).

    ``generated_time`` defaults to now (UTC), each resource's empty ``platform`` to the
    plugin's name, and a ``health`` of ``None`` to the policy's verdict, whose message is used
    when the plugin left ``health_message`` empty. Raises :class:`TypeError` for a report
    with a field that assignment would have refused (see ``validate_report``).
    """
    validate_report(report)
    # Set past the converters and validators that assignment runs: the report was validated
    # above, and each value set here is of its field's type (a status check's every report
    # comes through here).
    set_field = object.__setattr__
    for resource in report.resources:
        if not resource.platform:
            set_field(resource, "platform", plugin)
    if report.generated_time is None and now is None:
        set_field(report, "generated_time", datetime.now(timezone.utc))
    elif report.generated_time is None:
        report.generated_time = now  # a time given: in UTC, or refused if naive
    if report.health is None:
        health, message = policy.evaluate(report.resources)
        set_field(report, "health", health)
        if not report.health_message:
            set_field(report, "health_message", message)
    return report


def unknown_report(message: str) -> StatusReport:
    """The report that stands for a check that could not be made."""
    return StatusReport(health=Health.UNKNOWN, health_message=message)


# The fields that hold text which may quote a URL: every str field but state_json, a document.
_TEXT_FIELDS: Final = {
    cls: tuple(f.name for f in attrs.fields(cls) if f.type == "str" and f.name != "state_json")
    for cls in (Resource, StatusReport)
}


def redact_report(report: StatusReport) -> StatusReport:
    """``report``, in place, with the secrets of the URLs its text quotes redacted
    (``redact_urls``), its resources' ``state_json`` documents included (DESIGN §13)."""
    _redact_text(report)
    for resource in report.resources:
        _redact_text(resource)
        if "://" in resource.state_json:
            document = json.loads(resource.state_json)
            redacted = redact_value(document)
            if redacted != document:
                resource.state_json = json.dumps(redacted)
    return report


def _redact_text(instance: Resource | StatusReport) -> None:
    for name in _TEXT_FIELDS[type(instance)]:
        text = getattr(instance, name)
        if "://" in text:
            setattr(instance, name, redact_urls(text))
