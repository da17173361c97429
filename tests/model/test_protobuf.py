"""The wire format against the protobuf runtime (issue 19).

The SDK's ``StatusReport`` (``proto/plugin.proto`` of waypoint-plugin-sdk: its names, nesting
and field numbers) is compiled with grpcio-tools' protoc at test time. What we write, protobuf
reads as the message that the report is; what protobuf writes, as JSON in its three styles or
as bytes, we read as that report.
"""

from __future__ import annotations

import importlib
import importlib.resources
import importlib.util
import json
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format
from grpc_tools import protoc
from hypothesis import given, settings
from report_strategies import reports

from waypoint_hooks import (
    CategoryDisplayHint,
    Health,
    ReportDecodeError,
    Resource,
    StatusReport,
    report_from_json,
    report_to_json,
)
from waypoint_hooks.proto import report_from_proto, report_to_proto

# The status messages of the SDK's proto/plugin.proto, as declared there (comments left out).
SDK_PROTO = """\
syntax = "proto3";

package hashicorp.waypoint.sdk;

import "google/protobuf/timestamp.proto";

message Ref {
  message DeclaredResource {
    string name = 1;
  }
}

message StatusReport {
  repeated Resource resources = 1;
  Health health = 2;
  string health_message = 3;
  google.protobuf.Timestamp generated_time = 4;
  bool external = 5;

  message Resource {
    string id = 4;
    Ref.DeclaredResource declared_resource = 5;
    string parent_resource_id = 6;
    string name = 1;
    string platform = 7;
    string type = 8;
    string platform_url = 9;
    ResourceCategoryDisplayHint category_display_hint = 10;
    google.protobuf.Timestamp created_time = 11;
    string state_json = 12;
    Health health = 2;
    string health_message = 3;
  }

  enum Health {
    UNKNOWN = 0;
    ALIVE = 1;
    READY = 2;
    DOWN = 3;
    MISSING = 5;
    PARTIAL = 4;
  }
}

enum ResourceCategoryDisplayHint {
  UNKNOWN = 0;
  OTHER = 1;
  INSTANCE = 2;
  INSTANCE_MANAGER = 3;
  ROUTER = 4;
  POLICY = 5;
  CONFIG = 6;
  FUNCTION = 7;
  STORAGE = 8;
}
"""

#: protobuf's JSON styles: MessageToJson's keyword arguments.
STYLES = {
    "camel-case": {},
    "proto-field-names": {"preserving_proto_field_name": True},
    "enum-numbers": {"use_integers_for_enums": True},
}
#: 6 properties of 500 reports each: 3,000 reports, as in the issue.
PROPERTY = settings(max_examples=500, deadline=None)
MICROS = datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def sdk(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The module protoc generates from ``SDK_PROTO``, imported."""
    directory = tmp_path_factory.mktemp("sdk")
    (directory / "plugin.proto").write_text(SDK_PROTO, encoding="utf-8")
    include = importlib.resources.files("grpc_tools") / "_proto"
    status = protoc.main(
        ["protoc", f"-I{directory}", f"-I{include}", f"--python_out={directory}", "plugin.proto"]
    )
    assert status == 0, "protoc could not compile the SDK's StatusReport"
    return _import(directory / "plugin_pb2.py")


def _import(path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def message_of(sdk: Any, report: StatusReport) -> Any:
    """``report`` as the SDK's message, built field by field, enums by their names."""
    message = sdk.StatusReport(
        health=sdk.StatusReport.Health.Value(report.health.name),
        health_message=report.health_message,
        external=report.external,
    )
    if report.generated_time is not None:
        message.generated_time.FromDatetime(report.generated_time)
    for resource in report.resources:
        added = message.resources.add(
            name=resource.name,
            health=sdk.StatusReport.Health.Value(resource.health.name),
            health_message=resource.health_message,
            id=resource.id,
            parent_resource_id=resource.parent_resource_id,
            platform=resource.platform,
            type=resource.type,
            platform_url=resource.platform_url,
            category_display_hint=sdk.ResourceCategoryDisplayHint.Value(
                resource.category_display_hint.name
            ),
            state_json=resource.state_json,
        )
        if resource.created_time is not None:
            added.created_time.FromDatetime(resource.created_time)
    return message


# --- JSON ----------------------------------------------------------------------------------


@PROPERTY
@given(report=reports())
def test_protobuf_parses_our_json_to_the_same_message(sdk: Any, report: StatusReport) -> None:
    parsed = json_format.Parse(report_to_json(report), sdk.StatusReport())
    assert parsed == message_of(sdk, report)


@pytest.mark.parametrize("style", STYLES.values(), ids=STYLES.keys())
@PROPERTY
@given(report=reports())
def test_protobufs_json_decodes_to_the_same_report(
    sdk: Any, style: dict[str, bool], report: StatusReport
) -> None:
    text = json_format.MessageToJson(message_of(sdk, report), **style)
    assert report_from_json(text) == report


def test_protobuf_leaves_out_an_unknown_health_which_decodes_as_unknown(sdk: Any) -> None:
    report = StatusReport(resources=[Resource("web")], health=Health.UNKNOWN)
    text = json_format.MessageToJson(message_of(sdk, report))
    assert json.loads(text) == {"resources": [{"name": "web"}]}
    assert report_from_json(text) == report


def test_times_keep_their_microseconds(sdk: Any) -> None:
    report = StatusReport(
        resources=[Resource("web", created_time=MICROS)], health=Health.READY, generated_time=MICROS
    )
    parsed = json_format.Parse(report_to_json(report), sdk.StatusReport())
    assert parsed.generated_time.nanos == parsed.resources[0].created_time.nanos == 123_456_000
    text = json_format.MessageToJson(message_of(sdk, report))
    assert json.loads(text)["generatedTime"] == "2024-05-01T12:00:00.123456Z"
    assert report_from_json(text) == report


# --- bytes ---------------------------------------------------------------------------------


@PROPERTY
@given(report=reports())
def test_protobuf_parses_our_bytes_to_the_same_message(sdk: Any, report: StatusReport) -> None:
    assert sdk.StatusReport.FromString(report_to_proto(report)) == message_of(sdk, report)


@PROPERTY
@given(report=reports())
def test_protobufs_bytes_decode_to_the_same_report(sdk: Any, report: StatusReport) -> None:
    assert report_from_proto(message_of(sdk, report).SerializeToString()) == report


def test_bytes_keep_times_to_the_microsecond(sdk: Any) -> None:
    report = StatusReport(resources=[Resource("web", created_time=MICROS)], generated_time=MICROS)
    parsed = sdk.StatusReport.FromString(report_to_proto(report))
    assert parsed.generated_time.nanos == parsed.resources[0].created_time.nanos == 123_456_000


def test_a_report_left_to_derive_is_written_without_health_and_read_as_unknown() -> None:
    data = report_to_proto(StatusReport())
    assert data == b""
    assert report_from_proto(data) == StatusReport(health=Health.UNKNOWN)


def test_the_declared_resource_is_not_carried(sdk: Any) -> None:
    message = sdk.StatusReport(health=sdk.StatusReport.READY)
    message.resources.add(name="web-1").declared_resource.name = "asg"
    assert report_from_proto(message.SerializeToString()) == StatusReport(
        resources=[Resource("web-1")], health=Health.READY
    )


@pytest.mark.parametrize(
    "data",
    [b"\xff\xff\xff", b"\x0a\x05\x0a\x01a", b"\x1a\x02\xc3\x28"],
    ids=["corrupt", "truncated", "bad-utf-8"],
)
def test_bytes_that_are_not_a_report_raise_a_decode_error(data: bytes) -> None:
    with pytest.raises(
        ReportDecodeError, match=r"^not a protobuf StatusReport message \(\d+ bytes\)"
    ):
        report_from_proto(data)


def test_a_health_number_that_the_model_lacks_names_its_path(sdk: Any) -> None:
    message = sdk.StatusReport()
    message.resources.add(name="web", health=9)
    with pytest.raises(ReportDecodeError) as info:
        report_from_proto(message.SerializeToString())
    assert info.value.path == "resources[0].health"
    assert "9 is not a Health" in str(info.value)


def test_a_category_display_hint_number_that_the_model_lacks_names_its_path(sdk: Any) -> None:
    message = sdk.StatusReport()
    message.resources.add(name="web", category_display_hint=len(CategoryDisplayHint))
    with pytest.raises(ReportDecodeError) as info:
        report_from_proto(message.SerializeToString())
    assert info.value.path == "resources[0].category_display_hint"


def test_a_time_after_year_9999_raises_a_decode_error(sdk: Any) -> None:
    message = sdk.StatusReport()
    message.generated_time.seconds = 10**12
    with pytest.raises(ReportDecodeError, match="out of range"):
        report_from_proto(message.SerializeToString())


def test_text_that_protobuf_cannot_carry_is_refused_when_encoding() -> None:
    # os.fsdecode turns an undecodable file name into lone surrogates; UTF-8 has no place for
    # them, so protobuf strings cannot hold them (JSON escapes them).
    with pytest.raises(ValueError, match="cannot be written as protobuf"):
        report_to_proto(StatusReport(health_message="/srv/\udcff"))


def test_without_protobuf_the_import_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "google.protobuf", None)
    monkeypatch.delitem(sys.modules, "waypoint_hooks.proto")
    with pytest.raises(ImportError, match=r"pip install 'waypoint-hooks\[proto\]'"):
        importlib.import_module("waypoint_hooks.proto")


@pytest.mark.parametrize("key", ["declaredResource", "declared_resource"])
def test_a_declared_resource_from_the_sdk_is_accepted_and_not_carried(key: str) -> None:
    # The SDK's own writers fill it in; the model does not carry it (DESIGN §2).
    resource = {"name": "web", "health": "READY", key: {"name": "web", "type": "container"}}
    report = report_from_json(json.dumps({"health": "READY", "resources": [resource]}))
    assert report.resources == [Resource(name="web", health=Health.READY)]
