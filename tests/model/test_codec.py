"""The wire codec: REPORT is a finalized StatusReport as JSON with the proto's field names."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
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

REPORT_KEYS = {"resources", "health", "health_message", "generated_time", "external"}
RESOURCE_KEYS = {
    "id",
    "name",
    "parent_resource_id",
    "platform",
    "type",
    "platform_url",
    "category_display_hint",
    "created_time",
    "state_json",
    "health",
    "health_message",
}
NOON = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)


def full_resource() -> Resource:
    return Resource(
        name="web",
        health=Health.READY,
        health_message="serving",
        id="r-1",
        parent_resource_id="r-0",
        platform="docker",
        type="container",
        platform_url="https://example.com/web",
        category_display_hint=CategoryDisplayHint.INSTANCE,
        created_time=datetime(2024, 5, 1, 11, 59, 30, tzinfo=timezone.utc),
        state_json='{"id": "abc"}',
    )


def full_report() -> StatusReport:
    return StatusReport(
        resources=[full_resource(), Resource(name="db")],
        health=Health.PARTIAL,
        health_message="1 container READY, 1  UNKNOWN",
        generated_time=NOON,
        external=True,
    )


def wire(report: StatusReport) -> dict[str, Any]:
    decoded = json.loads(report_to_json(report))
    assert isinstance(decoded, dict)
    return decoded


def decode(value: object) -> StatusReport:
    return report_from_json(json.dumps(value))


def decode_error(value: object) -> ReportDecodeError:
    with pytest.raises(ReportDecodeError) as info:
        decode(value)
    return info.value


# --- encoding ------------------------------------------------------------------------------------


def test_report_to_json_returns_a_json_str() -> None:
    assert isinstance(report_to_json(full_report()), str)


def test_report_keys_are_exactly_the_proto_field_names() -> None:
    assert set(wire(full_report())) == REPORT_KEYS


def test_resource_keys_are_exactly_the_proto_field_names() -> None:
    for resource in wire(full_report())["resources"]:
        assert set(resource) == RESOURCE_KEYS


def test_empty_report_still_has_every_key() -> None:
    assert set(wire(StatusReport())) == REPORT_KEYS


def test_resource_fields_are_encoded_by_value() -> None:
    assert wire(full_report())["resources"][0] == {
        "id": "r-1",
        "name": "web",
        "parent_resource_id": "r-0",
        "platform": "docker",
        "type": "container",
        "platform_url": "https://example.com/web",
        "category_display_hint": "INSTANCE",
        "created_time": "2024-05-01T11:59:30Z",
        "state_json": '{"id": "abc"}',
        "health": "READY",
        "health_message": "serving",
    }


def test_report_fields_are_encoded_by_value() -> None:
    encoded = wire(full_report())
    del encoded["resources"]
    assert encoded == {
        "health": "PARTIAL",
        "health_message": "1 container READY, 1  UNKNOWN",
        "generated_time": "2024-05-01T12:00:00Z",
        "external": True,
    }


def test_resources_keep_their_order() -> None:
    names = [r["name"] for r in wire(full_report())["resources"]]
    assert names == ["web", "db"]


@pytest.mark.parametrize("health", list(Health))
def test_health_is_encoded_by_name(health: Health) -> None:
    report = StatusReport(resources=[Resource(name="a", health=health)], health=health)
    encoded = wire(report)
    assert encoded["health"] == health.name
    assert encoded["resources"][0]["health"] == health.name


@pytest.mark.parametrize("hint", list(CategoryDisplayHint))
def test_category_display_hint_is_encoded_by_name(hint: CategoryDisplayHint) -> None:
    report = StatusReport(resources=[Resource(name="a", category_display_hint=hint)])
    assert wire(report)["resources"][0]["category_display_hint"] == hint.name


def test_unset_health_is_encoded_as_null() -> None:
    assert wire(StatusReport())["health"] is None


def test_unset_times_are_encoded_as_null() -> None:
    encoded = wire(StatusReport(resources=[Resource(name="a")]))
    assert encoded["generated_time"] is None
    assert encoded["resources"][0]["created_time"] is None


def test_utc_time_is_encoded_as_rfc3339_with_z() -> None:
    report = StatusReport(generated_time=datetime(2024, 5, 1, 12, 0, 5, tzinfo=timezone.utc))
    assert wire(report)["generated_time"] == "2024-05-01T12:00:05Z"


def test_time_with_microseconds_keeps_them() -> None:
    report = StatusReport(generated_time=datetime(2024, 5, 1, 12, 0, 5, 120, tzinfo=timezone.utc))
    assert wire(report)["generated_time"] == "2024-05-01T12:00:05.000120Z"


@pytest.mark.parametrize(
    ("local", "utc"),
    [
        (datetime(2024, 5, 1, 14, 0, tzinfo=timezone(timedelta(hours=2))), "2024-05-01T12:00:00Z"),
        (
            datetime(2024, 4, 30, 19, 30, tzinfo=timezone(-timedelta(hours=4, minutes=30))),
            "2024-05-01T00:00:00Z",
        ),
    ],
)
def test_aware_non_utc_time_is_encoded_in_utc(local: datetime, utc: str) -> None:
    report = StatusReport(resources=[Resource(name="a", created_time=local)], generated_time=local)
    encoded = wire(report)
    assert encoded["generated_time"] == utc
    assert encoded["resources"][0]["created_time"] == utc


def test_strings_are_encoded_verbatim() -> None:
    text = 'quote " backslash \\ newline \n nul \x00 unicode é ✔ 🚀'
    report = StatusReport(resources=[Resource(name=text)], health_message=text)
    encoded = wire(report)
    assert encoded["health_message"] == text
    assert encoded["resources"][0]["name"] == text


def test_external_false_is_encoded_as_false() -> None:
    assert wire(StatusReport())["external"] is False


# --- decoding ------------------------------------------------------------------------------------


def test_decoding_the_encoding_gives_the_report_back() -> None:
    report = full_report()
    assert report_from_json(report_to_json(report)) == report


def test_decoder_accepts_bytes() -> None:
    report = full_report()
    assert report_from_json(report_to_json(report).encode()) == report


def test_empty_object_decodes_to_the_proto_defaults() -> None:
    assert decode({}) == StatusReport(health=Health.UNKNOWN)


def test_resource_with_only_a_name_decodes_with_defaults() -> None:
    assert decode({"resources": [{"name": "web"}]}) == StatusReport(
        resources=[Resource(name="web")], health=Health.UNKNOWN
    )


@pytest.mark.parametrize("value", [{}, {"health": None}], ids=["missing", "null"])
def test_report_health_left_out_decodes_as_unknown(value: dict[str, Any]) -> None:
    # A wire report is finalized: like protobuf, which leaves out a field holding its zero
    # value, no health means UNKNOWN, never "derive it".
    assert decode(value).health is Health.UNKNOWN


@pytest.mark.parametrize("health", list(Health))
def test_health_decodes_from_its_number(health: Health) -> None:
    report = decode({"health": int(health), "resources": [{"name": "a", "health": int(health)}]})
    assert report.health is health
    assert report.resources[0].health is health


@pytest.mark.parametrize("hint", list(CategoryDisplayHint))
def test_category_display_hint_decodes_from_its_number(hint: CategoryDisplayHint) -> None:
    report = decode({"resources": [{"name": "a", "category_display_hint": int(hint)}]})
    assert report.resources[0].category_display_hint is hint


@pytest.mark.parametrize("hint", list(CategoryDisplayHint))
def test_category_display_hint_decodes_from_its_name(hint: CategoryDisplayHint) -> None:
    report = decode({"resources": [{"name": "a", "category_display_hint": hint.name}]})
    assert report.resources[0].category_display_hint is hint


def test_report_decodes_from_camel_case_keys() -> None:
    report = decode(
        {"healthMessage": "fine", "generatedTime": "2024-05-01T12:00:00Z", "health": "READY"}
    )
    assert report == StatusReport(health=Health.READY, health_message="fine", generated_time=NOON)


def test_resource_decodes_from_camel_case_keys() -> None:
    camel = {
        "id": "r-1",
        "name": "web",
        "parentResourceId": "r-0",
        "platform": "docker",
        "type": "container",
        "platformUrl": "https://example.com/web",
        "categoryDisplayHint": "INSTANCE",
        "createdTime": "2024-05-01T11:59:30Z",
        "stateJson": '{"id": "abc"}',
        "health": "READY",
        "healthMessage": "serving",
    }
    assert decode({"resources": [camel]}).resources == [full_resource()]


def test_snake_and_camel_keys_can_be_mixed_across_fields() -> None:
    report = decode({"health_message": "a", "generatedTime": "2024-05-01T12:00:00Z"})
    assert (report.health_message, report.generated_time) == ("a", NOON)


@pytest.mark.parametrize(
    ("key", "default"),
    [
        ("resources", []),
        ("health", Health.UNKNOWN),
        ("health_message", ""),
        ("healthMessage", ""),
        ("generated_time", None),
        ("external", False),
    ],
)
def test_null_report_field_decodes_as_its_default(key: str, default: object) -> None:
    report = decode({key: None})
    assert report == StatusReport(health=Health.UNKNOWN)
    assert getattr(report, key.replace("healthMessage", "health_message")) == default


@pytest.mark.parametrize(
    ("key", "field", "default"),
    [
        ("id", "id", ""),
        ("health", "health", Health.UNKNOWN),
        ("health_message", "health_message", ""),
        ("parent_resource_id", "parent_resource_id", ""),
        ("platform", "platform", ""),
        ("type", "type", ""),
        ("platform_url", "platform_url", ""),
        ("category_display_hint", "category_display_hint", CategoryDisplayHint.UNKNOWN),
        ("created_time", "created_time", None),
        ("state_json", "state_json", ""),
        ("createdTime", "created_time", None),
        ("stateJson", "state_json", ""),
    ],
)
def test_null_resource_field_decodes_as_its_default(key: str, field: str, default: object) -> None:
    resource = decode({"resources": [{"name": "a", key: None}]}).resources[0]
    assert getattr(resource, field) == default


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-05-01T12:00:00Z", NOON),
        ("2024-05-01T14:00:00+02:00", NOON),
        ("2024-05-01T07:30:00-04:30", NOON),
        ("2024-05-01T12:00:00+00:00", NOON),
        ("2024-05-01T12:00:00.5Z", NOON.replace(microsecond=500000)),
        ("2024-05-01T12:00:00.123Z", NOON.replace(microsecond=123000)),
        ("2024-05-01T12:00:00.000001Z", NOON.replace(microsecond=1)),
        ("2024-05-01T12:00:00.123456000Z", NOON.replace(microsecond=123456)),
        ("2024-05-01T13:00:00.250+01:00", NOON.replace(microsecond=250000)),
        ("2024-04-30T23:00:00-13:00", NOON),
    ],
)
def test_time_decodes_to_aware_utc(text: str, expected: datetime) -> None:
    report = decode({"generated_time": text, "resources": [{"name": "a", "created_time": text}]})
    for decoded in (report.generated_time, report.resources[0].created_time):
        assert decoded == expected
        assert decoded is not None
        assert decoded.utcoffset() == timedelta(0)


def test_time_with_nanoseconds_decodes_to_the_microsecond() -> None:
    decoded = decode({"generated_time": "2024-05-01T12:00:00.123456789Z"}).generated_time
    assert decoded is not None
    assert abs(decoded - NOON.replace(microsecond=123456)) <= timedelta(microseconds=1)


def test_decoded_time_is_reencoded_in_utc() -> None:
    report = decode({"generated_time": "2024-05-01T14:00:00+02:00"})
    assert wire(report)["generated_time"] == "2024-05-01T12:00:00Z"


# --- decode errors: ReportDecodeError with the path to the bad field -----------------------------


def test_decode_error_is_a_value_error() -> None:
    assert issubclass(ReportDecodeError, ValueError)


@pytest.mark.parametrize("text", ["", "{", "not json", "{'health': 'READY'}", "[1,]", b"\xff"])
def test_text_that_is_not_json_fails_at_the_root(text: str | bytes) -> None:
    with pytest.raises(ReportDecodeError) as info:
        report_from_json(text)
    assert info.value.path == ""


@pytest.mark.parametrize("value", [[], [{}], "report", 3, True, None])
def test_json_that_is_not_an_object_fails_at_the_root(value: object) -> None:
    assert decode_error(value).path == ""


@pytest.mark.parametrize("value", ["BROKEN", 6, -1, True, [], {}])
def test_bad_resource_health_names_its_path(value: object) -> None:
    resources: list[dict[str, Any]] = [{"name": str(i)} for i in range(3)]
    resources.append({"name": "3", "health": value})
    assert decode_error({"resources": resources}).path == "resources[3].health"


@pytest.mark.parametrize("value", ["BROKEN", 6, True, 1.5])
def test_bad_report_health_names_its_path(value: object) -> None:
    assert decode_error({"health": value}).path == "health"


@pytest.mark.parametrize("value", ["SERVER", 9, False])
def test_bad_category_display_hint_names_its_path(value: object) -> None:
    body = {"resources": [{"name": "a"}, {"name": "b", "category_display_hint": value}]}
    assert decode_error(body).path == "resources[1].category_display_hint"


@pytest.mark.parametrize(
    "value",
    [
        "yesterday",
        "2024-05-01",
        "2024-05-01T12:00:00",
        "2024-13-01T12:00:00Z",
        "2024-02-30T12:00:00Z",
        "2024-05-01T25:00:00Z",
        "2024-05-01T12:00:00+2:00",
        1714564800,
        True,
        [],
    ],
)
def test_bad_generated_time_names_its_path(value: object) -> None:
    assert decode_error({"generated_time": value}).path == "generated_time"


@pytest.mark.parametrize("value", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_time_outside_the_utc_range_names_its_path(value: str) -> None:
    assert decode_error({"generated_time": value}).path == "generated_time"


def test_bad_created_time_names_its_path() -> None:
    body = {"resources": [{"name": "a", "created_time": "noon"}]}
    assert decode_error(body).path == "resources[0].created_time"


@pytest.mark.parametrize("value", [{}, {"name": None}], ids=["missing", "null"])
def test_resource_name_left_out_decodes_as_empty(value: dict[str, Any]) -> None:
    # proto3 has no required field: protobuf leaves out an empty name.
    assert decode({"resources": [value]}).resources == [Resource(name="")]


@pytest.mark.parametrize(
    "key", ["name", "id", "type", "platform", "platform_url", "health_message", "state_json"]
)
@pytest.mark.parametrize("value", [1, True, [], {}])
def test_non_string_resource_field_names_its_path(key: str, value: object) -> None:
    body = {"resources": [{"name": "a", key: value}]}
    assert decode_error(body).path == f"resources[0].{key}"


@pytest.mark.parametrize("value", [1, True, ["a"]])
def test_non_string_health_message_names_its_path(value: object) -> None:
    assert decode_error({"health_message": value}).path == "health_message"


@pytest.mark.parametrize("value", [1, 0, "true", "false", []])
def test_non_bool_external_names_its_path(value: object) -> None:
    assert decode_error({"external": value}).path == "external"


@pytest.mark.parametrize("value", ["web", "", 3, True, {"name": "web"}, {}])
def test_resources_that_are_not_an_array_name_their_path(value: object) -> None:
    assert decode_error({"resources": value}).path == "resources"


@pytest.mark.parametrize("value", ["web", 3, True, []])
def test_resource_that_is_not_an_object_names_its_index(value: object) -> None:
    body = {"resources": [{"name": "a"}, value]}
    assert decode_error(body).path == "resources[1]"


def test_resource_state_json_that_is_not_json_names_its_path() -> None:
    body = {"resources": [{"name": "a"}, {"name": "b", "state_json": "{"}]}
    assert decode_error(body).path == "resources[1].state_json"


def test_unknown_report_key_names_its_path() -> None:
    assert decode_error({"health": "READY", "colour": "green"}).path == "colour"


def test_unknown_resource_key_names_its_path() -> None:
    body = {"resources": [{"name": "a"}, {"name": "b", "status": "up"}]}
    assert decode_error(body).path == "resources[1].status"


@pytest.mark.parametrize(
    ("body", "paths"),
    [
        ({"health_message": "a", "healthMessage": "b"}, {"health_message", "healthMessage"}),
        (
            {"generated_time": "2024-05-01T12:00:00Z", "generatedTime": "2024-05-01T12:00:00Z"},
            {"generated_time", "generatedTime"},
        ),
        (
            {"resources": [{"name": "a", "state_json": "{}", "stateJson": "{}"}]},
            {"resources[0].state_json", "resources[0].stateJson"},
        ),
        (
            {"resources": [{"name": "a", "parent_resource_id": "", "parentResourceId": "x"}]},
            {"resources[0].parent_resource_id", "resources[0].parentResourceId"},
        ),
    ],
)
def test_field_given_both_in_snake_and_camel_case_names_its_path(
    body: dict[str, Any], paths: set[str]
) -> None:
    assert decode_error(body).path in paths


def test_duplicate_key_is_rejected_even_when_one_is_null() -> None:
    with pytest.raises(ReportDecodeError):
        decode({"health_message": "a", "healthMessage": None})


def test_decode_error_message_mentions_the_path() -> None:
    error = decode_error({"resources": [{"name": "a", "health": "BROKEN"}]})
    assert "resources[0].health" in str(error)


# --- properties ----------------------------------------------------------------------------------


@given(reports())
def test_any_report_round_trips(report: StatusReport) -> None:
    assert report_from_json(report_to_json(report)) == report


@given(reports())
def test_encoding_is_valid_json_with_exactly_the_wire_keys(report: StatusReport) -> None:
    encoded = wire(report)
    assert set(encoded) == REPORT_KEYS
    assert all(set(r) == RESOURCE_KEYS for r in encoded["resources"])


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)
TIME_LIKE = st.from_regex(
    r"\A\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,10})?(Z|[+-]\d\d:\d\d)\Z", fullmatch=True
)
WIRE_ISH = (
    JSON_VALUES
    | TIME_LIKE
    | st.sampled_from([*Health.__members__, *CategoryDisplayHint.__members__])
    | st.integers(min_value=-2, max_value=10)
)
RESOURCE_KEYS_ANY_CASE = sorted(
    RESOURCE_KEYS
    | {"parentResourceId", "platformUrl", "categoryDisplayHint", "createdTime", "stateJson"}
    | {"healthMessage", "bogus"}
)
RESOURCE_ISH = st.dictionaries(st.sampled_from(RESOURCE_KEYS_ANY_CASE), WIRE_ISH, max_size=6)
REPORT_ISH = st.dictionaries(
    st.sampled_from(sorted(REPORT_KEYS | {"healthMessage", "generatedTime", "bogus"})),
    WIRE_ISH | st.lists(RESOURCE_ISH | JSON_VALUES, max_size=3),
    max_size=5,
)


def decodes_or_raises_decode_error(value: object) -> None:
    try:
        report = decode(value)
    except ReportDecodeError:
        return
    assert isinstance(report, StatusReport)


@given(JSON_VALUES)
def test_any_json_value_decodes_or_raises_decode_error(value: object) -> None:
    decodes_or_raises_decode_error(value)


@given(REPORT_ISH)
def test_any_report_shaped_object_decodes_or_raises_decode_error(value: dict[str, Any]) -> None:
    decodes_or_raises_decode_error(value)


@given(st.text() | st.binary())
def test_any_text_decodes_or_raises_decode_error(text: str | bytes) -> None:
    try:
        report = report_from_json(text)
    except ReportDecodeError:
        return
    assert isinstance(report, StatusReport)
