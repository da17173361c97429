"""Binary interchange: ``StatusReport`` as the Waypoint SDK's protobuf message.

The message is ``hashicorp.waypoint.sdk.StatusReport`` of the SDK's ``proto/plugin.proto``,
with its field numbers (§2 of the design). Its classes are built here from a descriptor made
in code, in a pool of their own, so neither ``protoc`` nor generated code is needed, and the
SDK's own generated code may be loaded beside it. Bytes go through protobuf's JSON mapping
and the wire codec, so both forms read and check a report the same way.

Needs the ``protobuf`` package: ``pip install 'waypoint-hooks[proto]'``.
"""

from __future__ import annotations

from typing import Final

try:
    from google.protobuf import (
        descriptor_pb2,
        descriptor_pool,
        json_format,
        message_factory,
        timestamp_pb2,
    )
    from google.protobuf.message import DecodeError, Message
except ImportError as exc:
    raise ImportError(
        f"waypoint_hooks.proto needs protobuf ({exc}): pip install 'waypoint-hooks[proto]' "
        "(in a checkout of waypoint-hooks, which no package index has yet: "
        "pip install '.[proto]')"
    ) from exc

from .errors import ReportDecodeError
from .model.codec import structure
from .model.health import CategoryDisplayHint, Health
from .model.report import StatusReport
from .model.wire import report_to_wire

__all__ = ["report_from_proto", "report_to_proto"]

_PACKAGE: Final = "hashicorp.waypoint.sdk"
_Field = descriptor_pb2.FieldDescriptorProto
_STRING, _BOOL, _ENUM, _MESSAGE = (
    _Field.TYPE_STRING,
    _Field.TYPE_BOOL,
    _Field.TYPE_ENUM,
    _Field.TYPE_MESSAGE,
)
_RESOURCE: Final = f".{_PACKAGE}.StatusReport.Resource"
_HEALTH: Final = f".{_PACKAGE}.StatusReport.Health"
_HINT: Final = f".{_PACKAGE}.ResourceCategoryDisplayHint"
_TIMESTAMP: Final = f".{timestamp_pb2.Timestamp.DESCRIPTOR.full_name}"


def _field(
    name: str,
    number: int,
    kind: _Field.Type.ValueType,
    type_name: str = "",
    *,
    repeated: bool = False,
) -> _Field:
    label = _Field.LABEL_REPEATED if repeated else _Field.LABEL_OPTIONAL
    field = _Field(name=name, number=number, type=kind, label=label)
    if type_name:  # set, even to "", it would be a scalar's type name: an error
        field.type_name = type_name
    return field


def _values(
    enum: type[Health] | type[CategoryDisplayHint],
) -> list[descriptor_pb2.EnumValueDescriptorProto]:
    return [descriptor_pb2.EnumValueDescriptorProto(name=m.name, number=m.value) for m in enum]


def _message_class() -> type[Message]:
    """``StatusReport`` with its nested ``Resource`` and ``Health``, and the package's
    ``ResourceCategoryDisplayHint``, with the SDK's names and numbers. Resource's field 5,
    ``declared_resource``, is not carried: bytes that hold it decode without it."""
    file = descriptor_pb2.FileDescriptorProto(
        name="waypoint_hooks/status_report.proto",
        package=_PACKAGE,
        syntax="proto3",
        dependency=[timestamp_pb2.DESCRIPTOR.name],
    )
    file.enum_type.add(name="ResourceCategoryDisplayHint").value.extend(
        _values(CategoryDisplayHint)
    )
    report = file.message_type.add(name="StatusReport")
    report.enum_type.add(name="Health").value.extend(_values(Health))
    report.nested_type.add(name="Resource").field.extend(
        [
            _field("name", 1, _STRING),
            _field("health", 2, _ENUM, _HEALTH),
            _field("health_message", 3, _STRING),
            _field("id", 4, _STRING),
            _field("parent_resource_id", 6, _STRING),
            _field("platform", 7, _STRING),
            _field("type", 8, _STRING),
            _field("platform_url", 9, _STRING),
            _field("category_display_hint", 10, _ENUM, _HINT),
            _field("created_time", 11, _MESSAGE, _TIMESTAMP),
            _field("state_json", 12, _STRING),
        ]
    )
    report.field.extend(
        [
            _field("resources", 1, _MESSAGE, _RESOURCE, repeated=True),
            _field("health", 2, _ENUM, _HEALTH),
            _field("health_message", 3, _STRING),
            _field("generated_time", 4, _MESSAGE, _TIMESTAMP),
            _field("external", 5, _BOOL),
        ]
    )
    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(timestamp_pb2.DESCRIPTOR.serialized_pb)
    pool.Add(file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{_PACKAGE}.StatusReport"))


_StatusReport: Final = _message_class()


def report_to_proto(report: StatusReport) -> bytes:
    """``report`` as the SDK's ``StatusReport`` message, serialized. A ``health`` of ``None``
    is left out, as proto3 leaves out every default: it reads back as ``UNKNOWN``. Raises
    :class:`ValueError` for text that protobuf cannot carry (a lone surrogate, as
    ``os.fsdecode`` makes of undecodable file names)."""
    try:
        message = json_format.ParseDict(report_to_wire(report), _StatusReport())
    except json_format.ParseError as exc:
        raise ValueError(f"the report cannot be written as protobuf: {exc}") from None
    return message.SerializeToString()


def report_from_proto(data: bytes) -> StatusReport:
    """Decode a serialized ``StatusReport`` message; bytes that are not one, or a field
    that does not fit the model, raise :class:`~waypoint_hooks.ReportDecodeError`."""
    message = _StatusReport()
    try:
        message.ParseFromString(data)
    except DecodeError as exc:
        raise ReportDecodeError(
            [("", f"not a protobuf StatusReport message ({len(data)} bytes): {exc}")]
        ) from None
    try:
        wire = json_format.MessageToDict(message, preserving_proto_field_name=True)
    except json_format.Error as exc:  # a time outside 0001..9999
        raise ReportDecodeError([("", f"a StatusReport out of range: {exc}")]) from None
    return structure(wire, StatusReport, ReportDecodeError)
