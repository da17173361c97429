"""The report model: Resource and StatusReport mirror Waypoint's proto and validate every field."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest

from waypoint_hooks import (
    CategoryDisplayHint,
    Health,
    Resource,
    StatusReport,
    aggregate,
)

AWARE = datetime(2024, 5, 1, 12, 30, 15, 123456, tzinfo=timezone.utc)
PLUS_TWO = timezone(timedelta(hours=2))
RESOURCE_STR_FIELDS = (
    "name",
    "health_message",
    "id",
    "parent_resource_id",
    "platform",
    "type",
    "platform_url",
    "state_json",
)


def field(owner: str, name: str) -> str:
    """A regex matching the field's qualified name in an error message."""
    return re.escape(f"{owner}.{name}")


# --- enums ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("member", "number"),
    [
        (Health.UNKNOWN, 0),
        (Health.ALIVE, 1),
        (Health.READY, 2),
        (Health.DOWN, 3),
        (Health.PARTIAL, 4),
        (Health.MISSING, 5),
    ],
)
def test_health_values_are_the_proto_numbers(member: Health, number: int) -> None:
    assert member == number


def test_health_has_exactly_the_proto_members() -> None:
    assert [h.name for h in Health] == ["UNKNOWN", "ALIVE", "READY", "DOWN", "PARTIAL", "MISSING"]


@pytest.mark.parametrize(
    ("name", "number"),
    [
        ("UNKNOWN", 0),
        ("OTHER", 1),
        ("INSTANCE", 2),
        ("INSTANCE_MANAGER", 3),
        ("ROUTER", 4),
        ("POLICY", 5),
        ("CONFIG", 6),
        ("FUNCTION", 7),
        ("STORAGE", 8),
    ],
)
def test_category_display_hint_values_are_the_proto_numbers(name: str, number: int) -> None:
    assert CategoryDisplayHint[name] == number


def test_category_display_hint_has_exactly_the_proto_members() -> None:
    assert len(CategoryDisplayHint) == 9


# --- defaults ------------------------------------------------------------------------------------


def test_resource_defaults_match_the_proto() -> None:
    resource = Resource(name="web")
    assert resource.health is Health.UNKNOWN
    assert resource.category_display_hint is CategoryDisplayHint.UNKNOWN
    assert resource.created_time is None
    for name in RESOURCE_STR_FIELDS[1:]:
        assert getattr(resource, name) == "", name


def test_resource_requires_a_name() -> None:
    with pytest.raises(TypeError):
        Resource()  # type: ignore[call-arg]


def test_status_report_defaults_match_the_design() -> None:
    report = StatusReport()
    assert report.resources == []
    assert report.health is None
    assert report.health_message == ""
    assert report.generated_time is None
    assert report.external is False


def test_status_reports_do_not_share_their_default_resource_list() -> None:
    first, second = StatusReport(), StatusReport()
    first.resources.append(Resource(name="web"))
    assert second.resources == []


# --- building step by step, as in the seed -------------------------------------------------------


def test_report_can_be_built_step_by_step() -> None:
    report = StatusReport()
    report.external = False
    report.health = Health.READY
    report.health_message = "File is ready"
    report.resources.append(Resource(name="file", health=Health.READY))
    assert report == StatusReport(
        resources=[Resource(name="file", health=Health.READY)],
        health=Health.READY,
        health_message="File is ready",
    )


def test_resource_can_be_built_step_by_step() -> None:
    resource = Resource(name="web")
    resource.health = Health.DOWN
    resource.category_display_hint = CategoryDisplayHint.ROUTER
    resource.created_time = AWARE
    assert resource == Resource(
        name="web",
        health=Health.DOWN,
        category_display_hint=CategoryDisplayHint.ROUTER,
        created_time=AWARE,
    )


def test_report_health_can_be_reset_to_none() -> None:
    report = StatusReport(health=Health.READY)
    report.health = None
    assert report.health is None


# --- wrong types: TypeError naming the field -----------------------------------------------------


@pytest.mark.parametrize("name", RESOURCE_STR_FIELDS)
@pytest.mark.parametrize("value", [3, None, b"bytes", 1.5])
def test_resource_str_field_rejects_a_non_str_at_construction(name: str, value: object) -> None:
    kwargs: dict[str, object] = {"name": "web", name: value}
    with pytest.raises(TypeError, match=field("Resource", name)):
        Resource(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", RESOURCE_STR_FIELDS)
def test_resource_str_field_rejects_a_non_str_at_assignment(name: str) -> None:
    resource = Resource(name="web")
    with pytest.raises(TypeError, match=field("Resource", name)):
        setattr(resource, name, 42)


@pytest.mark.parametrize("name", RESOURCE_STR_FIELDS)
@pytest.mark.parametrize("value", [True, False])
def test_resource_str_field_rejects_a_bool(name: str, value: bool) -> None:
    resource = Resource(name="web")
    with pytest.raises(TypeError, match=field("Resource", name)):
        setattr(resource, name, value)


def test_report_health_message_rejects_a_non_str() -> None:
    with pytest.raises(TypeError, match=field("StatusReport", "health_message")):
        StatusReport(health_message=7)  # type: ignore[arg-type]


def test_report_health_message_rejects_a_bool_at_assignment() -> None:
    report = StatusReport()
    with pytest.raises(TypeError, match=field("StatusReport", "health_message")):
        report.health_message = True  # type: ignore[assignment]


@pytest.mark.parametrize("value", [1, 0, "true", None])
def test_report_external_rejects_a_non_bool(value: object) -> None:
    with pytest.raises(TypeError, match=field("StatusReport", "external")):
        StatusReport(external=value)  # type: ignore[arg-type]


def test_report_external_rejects_a_non_bool_at_assignment() -> None:
    report = StatusReport()
    with pytest.raises(TypeError, match=field("StatusReport", "external")):
        report.external = 1  # type: ignore[assignment]


@pytest.mark.parametrize("value", ["READY", 2.0, None, True, False])
def test_resource_health_rejects_a_non_health(value: object) -> None:
    with pytest.raises(TypeError, match=field("Resource", "health")):
        Resource(name="web", health=value)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", ["READY", 2.0, True, False])
def test_report_health_rejects_a_non_health(value: object) -> None:
    with pytest.raises(TypeError, match=field("StatusReport", "health")):
        StatusReport(health=value)  # type: ignore[arg-type]


def test_report_health_rejects_a_non_health_at_assignment() -> None:
    report = StatusReport()
    with pytest.raises(TypeError, match=field("StatusReport", "health")):
        report.health = "READY"  # type: ignore[assignment]


@pytest.mark.parametrize("value", ["ROUTER", None, True, 4.0])
def test_resource_category_display_hint_rejects_a_non_hint(value: object) -> None:
    with pytest.raises(TypeError, match=field("Resource", "category_display_hint")):
        Resource(name="web", category_display_hint=value)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", ["2024-05-01T12:00:00Z", 1714564800, True])
def test_resource_created_time_rejects_a_non_datetime(value: object) -> None:
    with pytest.raises(TypeError, match=field("Resource", "created_time")):
        Resource(name="web", created_time=value)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", ["2024-05-01T12:00:00Z", 1714564800])
def test_report_generated_time_rejects_a_non_datetime(value: object) -> None:
    with pytest.raises(TypeError, match=field("StatusReport", "generated_time")):
        StatusReport(generated_time=value)  # type: ignore[arg-type]


# --- bad values: ValueError naming the field -----------------------------------------------------


@pytest.mark.parametrize("value", [-1, 6, 99])
def test_resource_health_rejects_an_int_outside_the_enum(value: int) -> None:
    with pytest.raises(ValueError, match=field("Resource", "health")):
        Resource(name="web", health=value)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [-1, 6])
def test_report_health_rejects_an_int_outside_the_enum(value: int) -> None:
    with pytest.raises(ValueError, match=field("StatusReport", "health")):
        StatusReport(health=value)  # type: ignore[arg-type]


def test_report_health_rejects_an_int_outside_the_enum_at_assignment() -> None:
    report = StatusReport()
    with pytest.raises(ValueError, match=field("StatusReport", "health")):
        report.health = 6  # type: ignore[assignment]


@pytest.mark.parametrize("value", [-1, 9])
def test_resource_category_display_hint_rejects_an_int_outside_the_enum(value: int) -> None:
    with pytest.raises(ValueError, match=field("Resource", "category_display_hint")):
        Resource(name="web", category_display_hint=value)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", ["{", "not json", "{'a': 1}", "[1,]", "{} {}"])
def test_resource_state_json_rejects_a_non_json_document(value: str) -> None:
    with pytest.raises(ValueError, match=field("Resource", "state_json")):
        Resource(name="web", state_json=value)


def test_resource_state_json_is_validated_at_assignment() -> None:
    resource = Resource(name="web")
    with pytest.raises(ValueError, match=field("Resource", "state_json")):
        resource.state_json = "{"


@pytest.mark.parametrize("value", ["", "{}", '{"pods": [1, 2]}', "[]", "3", '"text"', "null"])
def test_resource_state_json_accepts_a_json_document_or_empty(value: str) -> None:
    assert Resource(name="web", state_json=value).state_json == value


def test_resource_created_time_rejects_a_naive_datetime() -> None:
    with pytest.raises(ValueError, match=field("Resource", "created_time")):
        Resource(name="web", created_time=datetime(2024, 5, 1, 12, 0))


def test_report_generated_time_rejects_a_naive_datetime() -> None:
    with pytest.raises(ValueError, match=field("StatusReport", "generated_time")):
        StatusReport(generated_time=datetime(2024, 5, 1, 12, 0))


def test_report_generated_time_rejects_a_naive_datetime_at_assignment() -> None:
    report = StatusReport()
    with pytest.raises(ValueError, match=field("StatusReport", "generated_time")):
        report.generated_time = datetime(2024, 5, 1, 12, 0)


# --- conversions ---------------------------------------------------------------------------------


def test_resource_created_time_is_normalised_to_utc() -> None:
    created = Resource(name="web", created_time=datetime(2024, 5, 1, 14, 0, tzinfo=PLUS_TWO))
    assert created.created_time is not None
    assert created.created_time.utcoffset() == timedelta(0)
    assert created.created_time.replace(tzinfo=None) == datetime(2024, 5, 1, 12, 0)


def test_report_generated_time_is_normalised_to_utc_at_assignment() -> None:
    report = StatusReport()
    report.generated_time = datetime(2024, 5, 1, 2, 0, 0, 7, tzinfo=timezone(-timedelta(hours=5)))
    assert report.generated_time is not None
    assert report.generated_time.utcoffset() == timedelta(0)
    assert report.generated_time.replace(tzinfo=None) == datetime(2024, 5, 1, 7, 0, 0, 7)


def test_utc_time_is_kept_as_is() -> None:
    assert Resource(name="web", created_time=AWARE).created_time == AWARE


@pytest.mark.parametrize("health", list(Health))
def test_resource_health_converts_an_int(health: Health) -> None:
    resource = Resource(name="web", health=int(health))  # type: ignore[arg-type]
    assert resource.health is health


@pytest.mark.parametrize("health", list(Health))
def test_report_health_converts_an_int(health: Health) -> None:
    report = StatusReport()
    report.health = int(health)  # type: ignore[assignment]
    assert report.health is health


@pytest.mark.parametrize("hint", list(CategoryDisplayHint))
def test_resource_category_display_hint_converts_an_int(hint: CategoryDisplayHint) -> None:
    resource = Resource(name="web", category_display_hint=int(hint))  # type: ignore[arg-type]
    assert resource.category_display_hint is hint


# --- the resources list --------------------------------------------------------------------------


def test_report_keeps_the_resources_list_it_was_given() -> None:
    resources = [Resource(name="a")]
    report = StatusReport(resources=resources)
    assert report.resources is resources


def test_resource_appended_to_the_given_list_later_is_in_the_report() -> None:
    resources: list[Resource] = []
    report = StatusReport(resources=resources)
    resources.append(Resource(name="late"))
    assert report.resources == [Resource(name="late")]


def test_report_keeps_the_resources_list_assigned_to_it() -> None:
    report = StatusReport()
    resources = [Resource(name="a")]
    report.resources = resources
    assert report.resources is resources


def test_report_converts_a_tuple_of_resources_to_a_list() -> None:
    a, b = Resource(name="a"), Resource(name="b")
    report = StatusReport(resources=(a, b))  # type: ignore[arg-type]
    assert type(report.resources) is list
    assert report.resources == [a, b]


def test_report_converts_a_generator_of_resources_to_a_list() -> None:
    report = StatusReport(resources=(Resource(name=n) for n in "ab"))  # type: ignore[arg-type]
    assert report.resources == [Resource(name="a"), Resource(name="b")]


@pytest.mark.parametrize(
    ("resources", "index"),
    [
        (["web"], 0),
        ([Resource(name="a"), {"name": "b"}], 1),
        ([Resource(name="a"), Resource(name="b"), None], 2),
    ],
)
def test_report_rejects_a_non_resource_item_naming_its_index(
    resources: list[object], index: int
) -> None:
    with pytest.raises(TypeError, match=re.escape(f"StatusReport.resources[{index}]")):
        StatusReport(resources=resources)  # type: ignore[arg-type]


def test_report_rejects_a_non_resource_item_at_assignment() -> None:
    report = StatusReport()
    with pytest.raises(TypeError, match=re.escape("StatusReport.resources[1]")):
        report.resources = [Resource(name="a"), "b"]  # type: ignore[list-item]


@pytest.mark.parametrize("value", ["web", Resource(name="web"), {"name": "web"}, 3, None])
def test_report_rejects_resources_that_are_not_a_list(value: object) -> None:
    with pytest.raises(TypeError, match=field("StatusReport", "resources")):
        StatusReport(resources=value)  # type: ignore[arg-type]


# --- from_resources ------------------------------------------------------------------------------

MIXED = [
    Resource(name="a", type="pod", health=Health.READY),
    Resource(name="b", type="pod", health=Health.DOWN, health_message="crash loop"),
    Resource(name="c", type="service", health=Health.ALIVE),
]


def test_from_resources_aggregates_with_the_waypoint_policy_by_default() -> None:
    report = StatusReport.from_resources(MIXED)
    assert (report.health, report.health_message) == (
        Health.PARTIAL,
        "1 service ALIVE, 1 pod READY, 1 pod DOWN",
    )


def test_from_resources_uses_the_policy_given() -> None:
    report = StatusReport.from_resources(MIXED, policy="worst")
    assert (report.health, report.health_message) == (Health.DOWN, "DOWN: b (crash loop)")


def test_from_resources_passes_the_options_on() -> None:
    report = StatusReport.from_resources(MIXED, policy="worst", ignore=["b"])
    assert (report.health, report.health_message) == (Health.ALIVE, "ALIVE: c")


def test_from_resources_agrees_with_aggregate() -> None:
    report = StatusReport.from_resources(MIXED, policy="threshold", min_ready=1)
    assert (report.health, report.health_message) == aggregate(MIXED, "threshold", min_ready=1)


def test_from_resources_keeps_the_resources() -> None:
    report = StatusReport.from_resources(tuple(MIXED))
    assert report.resources == MIXED


def test_from_resources_leaves_the_rest_at_defaults() -> None:
    report = StatusReport.from_resources(MIXED)
    assert report.generated_time is None
    assert report.external is False


def test_from_resources_rejects_a_non_resource_item() -> None:
    with pytest.raises(TypeError, match=re.escape("[1]")):
        StatusReport.from_resources([Resource(name="a"), "b"])  # type: ignore[list-item]


def test_from_resources_of_nothing_is_unknown() -> None:
    report = StatusReport.from_resources([])
    assert (report.health, report.health_message) == (Health.UNKNOWN, "no resources reported")
