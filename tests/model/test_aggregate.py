"""Aggregation: one overall health and message from many resources, under a status policy."""

from __future__ import annotations

import fnmatch
import itertools
from collections.abc import Sequence
from typing import Any

import attrs
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from waypoint_hooks import Health, Policy, Resource, aggregate

R, A, D, U, M, P = (
    Health.READY,
    Health.ALIVE,
    Health.DOWN,
    Health.UNKNOWN,
    Health.MISSING,
    Health.PARTIAL,
)
#: The ``worst`` policy's default order, best first (DESIGN.md §3).
WORST_ORDER = [R, A, P, U, M, D]


def res(
    name: str = "r",
    health: Health = Health.UNKNOWN,
    *,
    type: str = "",
    message: str = "",
    id: str = "",
    parent: str = "",
) -> Resource:
    return Resource(
        name=name,
        health=health,
        type=type,
        health_message=message,
        id=id,
        parent_resource_id=parent,
    )


def many(health: Health, count: int, *, prefix: str = "r", type: str = "") -> list[Resource]:
    return [res(f"{prefix}{i}", health, type=type) for i in range(count)]


# --- strategies ----------------------------------------------------------------------------------

NAMES = st.text(alphabet="abz-", max_size=3)
TYPES = st.sampled_from(["", "pod", "service", "db", "Pod"])
IDS = st.sampled_from(["", "1", "2", "3"])
GLOBS = st.sampled_from(["*", "pod", "p*", "a*", "?", "[ab]*", "service", "z", "nothing"])


@st.composite
def resources(draw: st.DrawFn) -> Resource:
    return Resource(
        name=draw(NAMES),
        type=draw(TYPES),
        health=draw(st.sampled_from(Health)),
        health_message=draw(st.sampled_from(["", "m", "oom"])),
        id=draw(IDS),
        parent_resource_id=draw(IDS),
    )


RESOURCE_LISTS = st.lists(resources(), max_size=8)
NONEMPTY_RESOURCE_LISTS = st.lists(resources(), min_size=1, max_size=8)
COMMON_OPTIONS = st.fixed_dictionaries(
    {},
    optional={"ignore": st.lists(GLOBS, max_size=2), "top_level_only": st.booleans()},
)
ORDERS = st.permutations(list(Health))


@st.composite
def policies(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    """A policy name and valid options for it."""
    policy = draw(st.sampled_from(["waypoint", "worst", "threshold"]))
    options = dict(draw(COMMON_OPTIONS))
    if policy == "worst" and draw(st.booleans()):
        options["order"] = draw(ORDERS)
    if policy == "threshold":
        choice = draw(st.sampled_from(["default", "fraction", "min"]))
        if choice == "fraction":
            options["ready_fraction"] = draw(st.sampled_from([0.0, 0.25, 0.5, 0.7, 1 / 3, 1.0]))
        elif choice == "min":
            options["min_ready"] = draw(st.integers(min_value=0, max_value=5))
    return policy, options


def counted_by_spec(
    resources: Sequence[Resource], ignore: Sequence[str] = (), top_level_only: bool = False
) -> list[Resource]:
    """The resources a policy counts, straight from DESIGN.md §3."""
    ids = {r.id for r in resources if r.id}
    return [
        r
        for r in resources
        if not any(fnmatch.fnmatchcase(r.type, g) or fnmatch.fnmatchcase(r.name, g) for g in ignore)
        and not (top_level_only and r.parent_resource_id and r.parent_resource_id in ids)
    ]


# --- waypoint (the SDK's healthSummary) ----------------------------------------------------------


def test_waypoint_is_the_default_policy() -> None:
    resources = [res("a", R, type="pod"), res("b", D, type="pod")]
    assert aggregate(resources) == aggregate(resources, "waypoint")


@pytest.mark.parametrize("health", list(Health))
def test_waypoint_single_distinct_health_is_that_health(health: Health) -> None:
    resources = many(health, 3, type="pod")
    assert aggregate(resources, "waypoint") == (
        health,
        f"All 3 resources are reporting {health.name}",
    )


def test_waypoint_single_health_counts_resources_of_every_type() -> None:
    resources = [res("a", R, type="pod"), res("b", R, type="service"), res("c", R)]
    assert aggregate(resources, "waypoint") == (R, "All 3 resources are reporting READY")


def test_waypoint_single_resource() -> None:
    assert aggregate([res("a", A)], "waypoint") == (A, "All 1 resources are reporting ALIVE")


def test_waypoint_mixed_healths_are_partial_with_counts_per_type_and_health() -> None:
    resources = [res("a", A, type="pod"), res("b", R, type="service"), res("c", A, type="pod")]
    assert aggregate(resources, "waypoint") == (P, "2 pod ALIVE, 1 service READY")


def test_waypoint_groups_are_ordered_by_health_number_then_type() -> None:
    resources = [
        res("a", M, type="x"),
        res("b", D, type="svc"),
        res("c", R, type="pod"),
        res("d", R, type="db"),
        res("e", U, type="zz"),
        res("f", P, type="aa"),
        res("g", A, type="b"),
    ]
    assert aggregate(resources, "waypoint") == (
        P,
        "1 zz UNKNOWN, 1 b ALIVE, 1 db READY, 1 pod READY, 1 svc DOWN, 1 aa PARTIAL, 1 x MISSING",
    )


def test_waypoint_types_sort_as_strings_uppercase_first() -> None:
    resources = [res("a", R, type="pod"), res("b", R, type="Pod"), res("c", D, type="pod")]
    assert aggregate(resources, "waypoint") == (P, "1 Pod READY, 1 pod READY, 1 pod DOWN")


def test_waypoint_empty_type_leaves_a_double_space() -> None:
    resources = [res("a", R), res("b", D, type="pod")]
    assert aggregate(resources, "waypoint") == (P, "1  READY, 1 pod DOWN")


def test_waypoint_counts_each_group() -> None:
    resources = [*many(R, 4, type="pod"), *many(D, 2, prefix="d", type="pod")]
    assert aggregate(resources, "waypoint") == (P, "4 pod READY, 2 pod DOWN")


def test_waypoint_partial_resources_make_a_partial_group() -> None:
    resources = [res("a", P, type="pod"), res("b", R, type="pod")]
    assert aggregate(resources, "waypoint") == (P, "1 pod READY, 1 pod PARTIAL")


def test_waypoint_ignores_health_messages_and_names() -> None:
    resources = [res("a", R, type="pod", message="fine"), res("b", D, type="pod", message="bad")]
    assert aggregate(resources, "waypoint") == (P, "1 pod READY, 1 pod DOWN")


@pytest.mark.parametrize("policy", ["waypoint", "worst", "threshold"])
def test_no_resources_is_unknown(policy: str) -> None:
    assert aggregate([], policy) == (U, "no resources reported")


@pytest.mark.parametrize("policy", ["waypoint", "worst", "threshold"])
def test_all_ignored_is_unknown_and_says_so(policy: str) -> None:
    health, message = aggregate([res("a", R), res("b", D)], policy, ignore=["*"])
    assert health is U
    assert "ignored" in message


# --- worst ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("better", "worse"), list(itertools.pairwise(WORST_ORDER)))
def test_worst_default_order_ranks_health(better: Health, worse: Health) -> None:
    health, _ = aggregate([res("a", better), res("b", worse)], "worst")
    assert health is worse


def test_worst_message_names_the_cause() -> None:
    resources = [res("a", R), res("b", D), res("c", A)]
    assert aggregate(resources, "worst") == (D, "DOWN: b")


def test_worst_message_adds_the_health_message_in_parentheses() -> None:
    resources = [res("a", R), res("b", M, message="not found")]
    assert aggregate(resources, "worst") == (M, "MISSING: b (not found)")


def test_worst_message_names_all_three_causes_sorted() -> None:
    resources = [res("c", D), res("a", D), res("ok", R), res("b", D)]
    assert aggregate(resources, "worst") == (D, "DOWN: a, b, c")


def test_worst_message_names_at_most_three_causes_then_counts_the_rest() -> None:
    resources = [
        res("e", D),
        res("d", D),
        res("c", D),
        res("ok", R),
        res("b", D),
        res("a", D, message="msg"),
    ]
    assert aggregate(resources, "worst") == (D, "DOWN: a (msg), b, c and 2 more")


def test_worst_message_names_only_resources_of_the_worst_health() -> None:
    resources = [res("a", A), res("b", U), res("c", A), res("d", R)]
    assert aggregate(resources, "worst") == (U, "UNKNOWN: b")


@pytest.mark.parametrize("count", [1, 4])
def test_worst_all_best_says_all_are_best(count: int) -> None:
    assert aggregate(many(R, count), "worst") == (R, f"All {count} resources are READY")


def test_worst_custom_order_decides_the_worst() -> None:
    order = [D, M, U, P, A, R]
    assert aggregate([res("a", R), res("b", D)], "worst", order=order) == (R, "READY: a")


def test_worst_custom_order_all_best_names_the_best() -> None:
    order = [D, M, U, P, A, R]
    assert aggregate(many(D, 2), "worst", order=order) == (D, "All 2 resources are DOWN")


def test_worst_order_accepts_health_names_as_written_in_config() -> None:
    order = ["DOWN", "MISSING", "UNKNOWN", "PARTIAL", "ALIVE", "READY"]
    assert aggregate([res("a", R), res("b", D)], "worst", order=order) == (R, "READY: a")


def test_worst_counts_only_counted_resources_in_all_best_message() -> None:
    resources = [res("a", R), res("b", R), res("skip", D)]
    assert aggregate(resources, "worst", ignore=["skip"]) == (R, "All 2 resources are READY")


# --- threshold -----------------------------------------------------------------------------------


def test_threshold_default_needs_every_resource_ready() -> None:
    assert aggregate(many(R, 5), "threshold") == (R, "5/5 resources are READY")


def test_threshold_default_one_not_ready_is_partial() -> None:
    resources = [*many(R, 4), res("x", A)]
    assert aggregate(resources, "threshold") == (P, "Only 4/5 resources are READY")


def test_threshold_only_three_of_five_ready_is_partial() -> None:
    resources = [*many(R, 3), res("x", D), res("y", D)]
    assert aggregate(resources, "threshold") == (P, "Only 3/5 resources are READY")


def test_threshold_ready_fraction_is_exact_at_the_boundary() -> None:
    resources = [*many(R, 7), *many(A, 3, prefix="a")]
    assert aggregate(resources, "threshold", ready_fraction=0.7) == (
        R,
        "7/10 resources are READY",
    )


def test_threshold_ready_fraction_below_the_boundary_is_partial() -> None:
    resources = [*many(R, 6), *many(A, 4, prefix="a")]
    assert aggregate(resources, "threshold", ready_fraction=0.7) == (
        P,
        "Only 6/10 resources are READY",
    )


@pytest.mark.parametrize(
    ("fraction", "ready", "total", "expected"),
    [
        (0.5, 1, 2, R),
        (0.5, 1, 3, P),
        (0.5, 2, 3, R),
        (0.3, 3, 10, R),
        (0.3, 2, 10, P),
        (0.1, 1, 10, R),
        (1.0, 9, 10, P),
        (1, 10, 10, R),
        (0.6, 3, 5, R),
        # In floats these products overshoot (0.28 * 25 == 7.000000000000001).
        (0.28, 7, 25, R),
        (0.28, 6, 25, P),
        (0.07, 7, 100, R),
        (0.55, 55, 100, R),
        (0.55, 54, 100, P),
    ],
)
def test_threshold_ready_fraction_compares_exactly(
    fraction: float, ready: int, total: int, expected: Health
) -> None:
    resources = [*many(R, ready), *many(A, total - ready, prefix="a")]
    health, _ = aggregate(resources, "threshold", ready_fraction=fraction)
    assert health is expected


def test_threshold_min_ready_met_is_ready() -> None:
    resources = [*many(R, 2), *many(D, 3, prefix="d")]
    assert aggregate(resources, "threshold", min_ready=2) == (R, "2/5 resources are READY")


def test_threshold_min_ready_not_met_is_partial() -> None:
    resources = [res("a", R), *many(D, 4, prefix="d")]
    assert aggregate(resources, "threshold", min_ready=2) == (P, "Only 1/5 resources are READY")


@pytest.mark.parametrize(
    "resources",
    [
        [res("a", D), res("b", D)],
        [res("a", D), res("b", M), res("c", U)],
        [res("a", M)],
        [res("a", P), res("b", D)],
    ],
)
def test_threshold_none_ready_or_alive_is_down(resources: list[Resource]) -> None:
    health, _ = aggregate(resources, "threshold")
    assert health is D


def test_threshold_none_ready_or_alive_is_down_even_with_min_ready() -> None:
    health, _ = aggregate([res("a", D), res("b", M)], "threshold", min_ready=1)
    assert health is D


def test_threshold_alive_but_none_ready_is_partial_not_down() -> None:
    resources = [res("a", A), res("b", D)]
    assert aggregate(resources, "threshold") == (P, "Only 0/2 resources are READY")


@pytest.mark.parametrize("count", [1, 3])
def test_threshold_all_unknown_is_unknown(count: int) -> None:
    health, _ = aggregate(many(U, count), "threshold")
    assert health is U


def test_threshold_counts_only_counted_resources() -> None:
    resources = [*many(R, 3), res("skip", D, type="job")]
    assert aggregate(resources, "threshold", ignore=["job"]) == (R, "3/3 resources are READY")


# --- ignore --------------------------------------------------------------------------------------


def test_ignore_matches_a_type() -> None:
    resources = [res("a", R, type="pod"), res("b", D, type="job")]
    assert aggregate(resources, ignore=["job"]) == (R, "All 1 resources are reporting READY")


def test_ignore_matches_a_name() -> None:
    resources = [res("web", R, type="pod"), res("migrate", D, type="pod")]
    assert aggregate(resources, ignore=["migrate"]) == (R, "All 1 resources are reporting READY")


@pytest.mark.parametrize("glob", ["db-*", "db-?", "db-[0-9]", "*-1", "*"])
def test_ignore_takes_globs(glob: str) -> None:
    resources = [res("db-1", D, type="pod"), res("web", R, type="x-pod")]
    health, _ = aggregate(resources, ignore=[glob, "x-*"])
    assert health is U  # both ignored: web by "x-*" (its type), db-1 by the glob (its name)


@pytest.mark.parametrize("glob", ["po", "od", "Pod", "pod?", "*x"])
def test_ignore_glob_must_match_the_whole_name_or_type(glob: str) -> None:
    resources = [res("web", R, type="pod"), res("db", D, type="pod")]
    assert aggregate(resources, ignore=[glob]) == (P, "1 pod READY, 1 pod DOWN")


def test_ignore_takes_several_globs() -> None:
    resources = [res("a", R, type="pod"), res("b", D, type="job"), res("c", M, type="cron")]
    assert aggregate(resources, ignore=["job", "c"]) == (R, "All 1 resources are reporting READY")


def test_ignore_empty_list_ignores_nothing() -> None:
    resources = [res("a", R, type="pod"), res("b", D, type="pod")]
    assert aggregate(resources, ignore=[]) == aggregate(resources)


def test_ignore_accepts_a_tuple() -> None:
    resources = [res("a", R, type="pod"), res("b", D, type="job")]
    assert aggregate(resources, ignore=("job",)) == (R, "All 1 resources are reporting READY")


# --- top_level_only ------------------------------------------------------------------------------


def test_every_resource_counts_by_default() -> None:
    resources = [res("lb", R, type="lb", id="1"), res("pod", D, type="pod", parent="1")]
    assert aggregate(resources) == (P, "1 lb READY, 1 pod DOWN")


def test_top_level_only_skips_children() -> None:
    resources = [res("lb", R, type="lb", id="1"), res("pod", D, type="pod", parent="1")]
    assert aggregate(resources, top_level_only=True) == (R, "All 1 resources are reporting READY")


def test_top_level_only_skips_grandchildren() -> None:
    resources = [
        res("lb", R, id="1"),
        res("svc", R, id="2", parent="1"),
        res("pod", D, id="3", parent="2"),
    ]
    assert aggregate(resources, "worst", top_level_only=True) == (R, "All 1 resources are READY")


def test_top_level_only_counts_a_resource_whose_parent_is_not_in_the_list() -> None:
    resources = [res("lb", R, id="1"), res("orphan", D, parent="gone")]
    assert aggregate(resources, "worst", top_level_only=True) == (D, "DOWN: orphan")


def test_top_level_only_does_not_treat_empty_ids_as_parents() -> None:
    resources = [res("a", R), res("b", D)]
    assert aggregate(resources, "worst", top_level_only=True) == (D, "DOWN: b")


def test_top_level_only_child_of_an_ignored_parent_is_still_a_child() -> None:
    resources = [
        res("lb", D, type="lb", id="1"),
        res("pod", D, type="pod", parent="1"),
        res("web", R, type="svc"),
    ]
    assert aggregate(resources, "worst", ignore=["lb"], top_level_only=True) == (
        R,
        "All 1 resources are READY",
    )


# --- Policy objects ------------------------------------------------------------------------------


def test_aggregate_accepts_a_policy_built_from_options() -> None:
    resources = [res("a", R), res("b", D), res("c", D, type="job")]
    policy = Policy.from_options("worst", ignore=["b"])
    assert aggregate(resources, policy) == aggregate(resources, "worst", ignore=["b"])


# --- option validation ---------------------------------------------------------------------------

ONE = [res("a", R)]


def test_unknown_policy_is_rejected_naming_it() -> None:
    with pytest.raises(ValueError, match="best"):
        aggregate(ONE, "best")


@pytest.mark.parametrize("policy", ["waypoint", "worst", "threshold"])
def test_unknown_option_is_rejected_naming_it(policy: str) -> None:
    with pytest.raises((TypeError, ValueError), match="colour"):
        aggregate(ONE, policy, colour="red")


@pytest.mark.parametrize(
    ("policy", "option", "value"),
    [
        ("waypoint", "order", WORST_ORDER),
        ("threshold", "order", WORST_ORDER),
        ("waypoint", "ready_fraction", 0.5),
        ("worst", "ready_fraction", 0.5),
        ("waypoint", "min_ready", 1),
        ("worst", "min_ready", 1),
    ],
)
def test_option_of_another_policy_is_rejected_naming_it(
    policy: str, option: str, value: object
) -> None:
    with pytest.raises((TypeError, ValueError), match=option):
        aggregate(ONE, policy, **{option: value})


@pytest.mark.parametrize("value", [-0.1, 1.01, 2, float("nan"), float("inf")])
def test_ready_fraction_out_of_range_is_rejected(value: float) -> None:
    with pytest.raises(ValueError, match="ready_fraction"):
        aggregate(ONE, "threshold", ready_fraction=value)


@pytest.mark.parametrize("value", [0, 0.0, 1, 1.0])
def test_ready_fraction_bounds_are_allowed(value: float) -> None:
    health, _ = aggregate(ONE, "threshold", ready_fraction=value)
    assert health is R


@pytest.mark.parametrize("value", [-1, -10])
def test_negative_min_ready_is_rejected(value: int) -> None:
    with pytest.raises(ValueError, match="min_ready"):
        aggregate(ONE, "threshold", min_ready=value)


def test_ready_fraction_and_min_ready_together_are_rejected() -> None:
    with pytest.raises(ValueError, match="ready_fraction") as info:
        aggregate(ONE, "threshold", ready_fraction=0.5, min_ready=1)
    assert "min_ready" in str(info.value)


@pytest.mark.parametrize(
    "order",
    [
        [R, A, P, U, M],
        [R, A, P, U, M, D, D],
        [R, R, P, U, M, D],
        [],
        ["READY", "ALIVE", "PARTIAL", "UNKNOWN", "MISSING", "GONE"],
        [2, 1, 4, 0, 5, 9],
    ],
)
def test_order_that_is_not_a_permutation_of_the_healths_is_rejected(order: list[object]) -> None:
    with pytest.raises(ValueError, match="order"):
        aggregate(ONE, "worst", order=order)


@pytest.mark.parametrize(
    ("option", "value", "policy"),
    [
        ("order", "READY", "worst"),
        ("order", 3, "worst"),
        ("order", [True, A, P, U, M, D], "worst"),
        ("ignore", "pod", "waypoint"),
        ("ignore", [1], "waypoint"),
        ("ignore", [None], "worst"),
        ("ignore", 5, "threshold"),
        ("top_level_only", "yes", "waypoint"),
        ("top_level_only", 1, "worst"),
        ("top_level_only", None, "threshold"),
        ("ready_fraction", "0.5", "threshold"),
        ("ready_fraction", True, "threshold"),
        ("min_ready", 1.5, "threshold"),
        ("min_ready", "2", "threshold"),
        ("min_ready", True, "threshold"),
    ],
)
def test_option_of_a_bad_type_is_rejected_naming_it(
    option: str, value: object, policy: str
) -> None:
    with pytest.raises((TypeError, ValueError), match=option):
        aggregate(ONE, policy, **{option: value})


@pytest.mark.parametrize("policy", ["waypoint", "worst", "threshold"])
def test_options_are_validated_even_without_resources(policy: str) -> None:
    with pytest.raises((TypeError, ValueError), match="top_level_only"):
        aggregate([], policy, top_level_only="yes")


# --- properties ----------------------------------------------------------------------------------


@given(RESOURCE_LISTS, policies(), st.data())
def test_result_does_not_depend_on_resource_order(
    resources: list[Resource], policy: tuple[str, dict[str, Any]], data: st.DataObject
) -> None:
    name, options = policy
    shuffled = data.draw(st.permutations(resources))
    assert aggregate(shuffled, name, **options) == aggregate(resources, name, **options)


@given(st.sampled_from(Health), NONEMPTY_RESOURCE_LISTS)
def test_waypoint_all_equal_health_is_that_health(health: Health, drawn: list[Resource]) -> None:
    same = [attrs.evolve(r, health=health) for r in drawn]
    assert aggregate(same, "waypoint") == (
        health,
        f"All {len(same)} resources are reporting {health.name}",
    )


@given(st.sampled_from(Health), NONEMPTY_RESOURCE_LISTS, ORDERS)
def test_worst_all_equal_health_is_that_health(
    health: Health, drawn: list[Resource], order: list[Health]
) -> None:
    same = [attrs.evolve(r, health=health) for r in drawn]
    result, _ = aggregate(same, "worst", order=order)
    assert result is health


@given(NONEMPTY_RESOURCE_LISTS, ORDERS, COMMON_OPTIONS, st.data())
def test_worst_is_monotone(
    resources: list[Resource],
    order: list[Health],
    options: dict[str, Any],
    data: st.DataObject,
) -> None:
    rank = {health: i for i, health in enumerate(order)}
    index = data.draw(st.integers(min_value=0, max_value=len(resources) - 1))
    old = resources[index].health
    worse = data.draw(st.sampled_from(order[rank[old] :]))
    changed = [
        *resources[:index],
        attrs.evolve(resources[index], health=worse),
        *resources[index + 1 :],
    ]
    before, _ = aggregate(resources, "worst", order=order, **options)
    after, _ = aggregate(changed, "worst", order=order, **options)
    assert rank[after] >= rank[before]


@given(
    RESOURCE_LISTS,
    st.lists(resources(), min_size=1, max_size=4),
    policies(),
)
def test_adding_ignored_resources_never_changes_the_result(
    resources: list[Resource], extra: list[Resource], policy: tuple[str, dict[str, Any]]
) -> None:
    name, options = policy
    ignore = [*options.pop("ignore", []), "ignored-*"]
    top_level_only = options.get("top_level_only", False)
    assume(counted_by_spec(resources, ignore, top_level_only))
    # Ignored and without an id, so they cannot become anyone's parent.
    ignored = [attrs.evolve(r, name=f"ignored-{r.name}", id="") for r in extra]
    assert aggregate([*resources, *ignored], name, ignore=ignore, **options) == aggregate(
        resources, name, ignore=ignore, **options
    )


ANY_RESOURCE_LISTS = st.lists(
    st.builds(
        Resource,
        name=st.text(),
        type=st.text(),
        health=st.sampled_from(Health),
        health_message=st.text(),
        id=st.text(max_size=2),
        parent_resource_id=st.text(max_size=2),
    ),
    max_size=10,
)


@given(ANY_RESOURCE_LISTS, policies(), st.lists(st.text(), max_size=3))
def test_aggregate_is_total_for_any_names_and_globs(
    resources: list[Resource], policy: tuple[str, dict[str, Any]], ignore: list[str]
) -> None:
    name, options = policy
    health, message = aggregate(resources, name, **{**options, "ignore": ignore})
    assert isinstance(health, Health)
    assert isinstance(message, str)


@given(RESOURCE_LISTS, policies())
def test_aggregate_is_total(resources: list[Resource], policy: tuple[str, dict[str, Any]]) -> None:
    name, options = policy
    health, message = aggregate(resources, name, **options)
    assert isinstance(health, Health)
    assert isinstance(message, str)
    assert message


@given(RESOURCE_LISTS, policies())
def test_result_depends_only_on_counted_resources(
    resources: list[Resource], policy: tuple[str, dict[str, Any]]
) -> None:
    name, options = policy
    counted = counted_by_spec(
        resources, options.get("ignore", ()), options.get("top_level_only", False)
    )
    assume(counted)
    plain = {k: v for k, v in options.items() if k not in ("ignore", "top_level_only")}
    assert aggregate(resources, name, **options) == aggregate(counted, name, **plain)


@given(NONEMPTY_RESOURCE_LISTS)
def test_waypoint_single_health_iff_one_distinct_health(resources: list[Resource]) -> None:
    health, _ = aggregate(resources, "waypoint")
    distinct = {r.health for r in resources}
    if len(distinct) == 1:
        assert health in distinct
    else:
        assert health is P


@given(NONEMPTY_RESOURCE_LISTS, ORDERS)
def test_worst_result_is_the_worst_counted_health(
    resources: list[Resource], order: list[Health]
) -> None:
    health, _ = aggregate(resources, "worst", order=order)
    assert health == max((r.health for r in resources), key=order.index)
