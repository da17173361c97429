"""The resource manager (DESIGN §18): what the Waypoint SDK's ``framework/resource``
manager_test.go specifies, ported; then checkpoints, loading old states, concurrent status
within a deadline, declaration errors, and a command killed between two creates.

Nothing is timed: a status function that hangs waits for an event that is never set, and a
command is killed while a create waits at a gate it announced with a file.
"""

from __future__ import annotations

import asyncio
import contextvars
import itertools
import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest
from helpers_state import written
from hostile.harness import GUARD, App, Processes, Project, kill_group
from hypothesis import given
from hypothesis import strategies as st

from waypoint_hooks import (
    CategoryDisplayHint,
    Context,
    Health,
    Resource,
    StructureError,
    finalize,
    hookimpl,
)
from waypoint_hooks.resources import (
    DestroyError,
    ReportedResources,
    ResourceManager,
    resource,
)
from waypoint_hooks.state.store import State
from waypoint_hooks.testing import PluginHarness


@attrs.define
class Number:
    value: int = 0


@attrs.define
class Other:
    value: int = 0


def nothing() -> None:
    """A create function that makes nothing."""


def ready(resource: Resource) -> None:
    resource.health = Health.READY


async def ready_at_once(resource: Resource) -> None:
    """A status function that is done on the event loop's first pass, before any deadline."""
    resource.health = Health.READY


def blank(*names: str) -> dict[str, Any]:
    """The manager's state holding ``names`` with no state of their own."""
    return {"created": [{"name": name, "state": None} for name in names]}


# --- manager_test.go: TestManagerCreateAll ---------------------------------------------------


def test_a_manager_without_resources_creates_nothing_and_reports_nothing() -> None:
    manager = ResourceManager()
    state = manager.create_all(Context(), value=42)
    assert state == {"created": []}
    assert manager.status_report(Context(), state).resources == []
    manager.destroy_all(Context(), state)


def test_two_independent_resources_are_both_created_with_the_value_they_name() -> None:
    called: dict[str, int] = {}
    manager = ResourceManager(
        resource("A", create=lambda value: called.update(A=value)),
        resource("B", create=lambda value: called.update(B=value)),
    )
    manager.create_all(Context(), value=42)
    assert called == {"A": 42, "B": 42}


def test_a_dependent_resource_receives_the_state_its_dependency_made() -> None:
    def make_a(state: Number, value: int) -> None:
        state.value = value

    def make_b(A: Number, state: Other) -> None:
        state.value = A.value + 1

    manager = ResourceManager(
        resource("B", create=make_b, state=Other, after=["A"]),
        resource("A", create=make_a, state=Number),
    )
    state = manager.create_all(Context(), value=42)
    assert state == {
        "created": [{"name": "A", "state": {"value": 42}}, {"name": "B", "state": {"value": 43}}]
    }
    assert manager.load(state) == {"A": Number(42), "B": Other(43)}


def rollback_manager(destroyed: list[str], created: list[str]) -> ResourceManager:
    """A, then B whose create raises "whelp", then C: each destroy says so in ``destroyed``."""

    def fail() -> None:
        created.append("B")
        raise RuntimeError("whelp")

    def make(name: str) -> Callable[[], None]:
        return lambda: created.append(name)

    def destroy(name: str) -> Callable[[], None]:
        return lambda: destroyed.append(name)

    return ResourceManager(
        resource("A", create=make("A"), destroy=destroy("A")),
        resource("B", create=fail, destroy=destroy("B"), after=["A"]),
        resource("C", create=make("C"), destroy=destroy("C"), after=["B"]),
    )


def test_a_failed_create_destroys_what_was_created_in_reverse_and_raises_its_error() -> None:
    destroyed: list[str] = []
    created: list[str] = []
    with pytest.raises(RuntimeError, match=r"^whelp$") as raised:
        rollback_manager(destroyed, created).create_all(Context())
    assert created == ["A", "B"]
    # The SDK's rule: the resource whose create failed may have made part of itself.
    assert destroyed == ["B", "A"]
    assert not getattr(raised.value, "__notes__", [])


def test_after_a_rollback_the_checkpoint_holds_nothing_left_to_destroy() -> None:
    checkpoints: list[Any] = []
    with pytest.raises(RuntimeError):
        rollback_manager([], []).create_all(Context(checkpoint=checkpoints.append))
    assert checkpoints[-3:] == [blank("A", "B"), blank("A"), blank()]


def test_a_destroy_that_fails_in_a_rollback_is_noted_on_the_error_and_stays_in_the_checkpoint(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def stuck() -> None:
        raise OSError("device busy")

    def fail() -> None:
        raise RuntimeError("whelp")

    manager = ResourceManager(
        resource("A", create=nothing, destroy=stuck),
        resource("B", create=fail, after=["A"]),
    )
    checkpoints: list[Any] = []
    with pytest.raises(RuntimeError) as raised:
        manager.create_all(Context(checkpoint=checkpoints.append))
    assert str(raised.value) == "whelp"
    note = "while rolling back, destroying resource 'A': it raised OSError: device busy"
    assert raised.value.__notes__ == [note]
    assert checkpoints[-1] == blank("A")
    assert [record.getMessage() for record in caplog.records] == [note]


# --- manager_test.go: TestManagerDestroyAll ---------------------------------------------------


def destroy_manager(destroyed: list[tuple[str, int]]) -> ResourceManager:
    """A, whose state holds the value it was given; B after it, without a state."""

    def make_a(state: Number, value: int) -> None:
        state.value = value

    def destroy_a(state: Number) -> None:
        destroyed.append(("A", state.value))

    return ResourceManager(
        resource("A", create=make_a, destroy=destroy_a, state=Number),
        resource("B", create=nothing, destroy=lambda: destroyed.append(("B", 0)), after=["A"]),
    )


def test_the_state_survives_the_sqlite_state_and_a_new_manager_destroys_with_it(
    tmp_path: Path,
) -> None:
    state = destroy_manager([]).create_all(Context(), value=42)
    with State.open(tmp_path / "state.db") as db:
        record = written(db, db.records.begin, "deployment", "web", "default", "resources")
        written(db, db.records.complete, record, state)
    with State.open(tmp_path / "state.db") as db:
        stored = db.records.get("deployment", record.id)
    assert stored is not None
    destroyed: list[tuple[str, int]] = []
    again = destroy_manager(destroyed)
    assert again.load(stored.value) == {"A": Number(42), "B": None}
    again.destroy_all(Context(), stored.value)
    assert destroyed == [("B", 0), ("A", 42)]


def test_a_resource_without_a_destroy_function_is_skipped() -> None:
    destroyed: list[str] = []
    manager = ResourceManager(
        resource("A", create=nothing),
        resource("B", create=nothing, destroy=lambda: destroyed.append("B"), after=["A"]),
    )
    manager.destroy_all(Context(), manager.create_all(Context()))
    assert destroyed == ["B"]


def test_resources_never_created_are_not_destroyed() -> None:
    destroyed: list[str] = []
    manager = ResourceManager(
        resource("A", destroy=lambda: destroyed.append("A")),
        resource("B", destroy=lambda: destroyed.append("B"), after=["A"]),
    )
    manager.destroy_all(Context(), blank("A"))
    assert destroyed == ["A"]


def test_destroy_all_attempts_every_resource_and_raises_one_error_naming_each_failure() -> None:
    attempted: list[str] = []

    def failing(name: str) -> Callable[[], None]:
        def destroy() -> None:
            attempted.append(name)
            raise OSError(f"{name} is busy")

        return destroy

    manager = ResourceManager(
        resource("A", destroy=failing("A")),
        resource("B", destroy=failing("B")),
        resource("C", destroy=lambda: attempted.append("C")),
    )
    with pytest.raises(DestroyError) as raised:
        manager.destroy_all(Context(), blank("A", "B", "C"))
    assert attempted == ["C", "B", "A"]
    assert [(name, str(error)) for name, error in raised.value.errors] == [
        ("B", "B is busy"),
        ("A", "A is busy"),
    ]
    assert str(raised.value) == (
        "could not destroy resource 'B': it raised OSError: B is busy; "
        "resource 'A': it raised OSError: A is busy"
    )


# --- manager_test.go: TestStatus_Manager --------------------------------------------------------


def test_status_reports_each_resource_with_a_status_function_with_or_without_state() -> None:
    def make_a(state: Number, value: int) -> None:
        state.value = value

    def status_a(state: Number, resource: Resource) -> None:
        resource.health = Health.READY
        resource.health_message = f"value {state.value}"

    def status_b(state: None, resource: Resource) -> None:
        resource.health, resource.health_message = Health.DOWN, "no state here"

    manager = ResourceManager(
        resource("A", create=make_a, state=Number, status=status_a),
        resource("B", create=nothing, status=status_b),
        resource("D", create=nothing, state=Other),  # no status function: not reported
    )
    report = manager.status_report(Context(), manager.create_all(Context(), value=42))
    assert [(r.name, r.health, r.health_message) for r in report.resources] == [
        ("A", Health.READY, "value 42"),
        ("B", Health.DOWN, "no state here"),
    ]
    assert report.health is None  # the app's policy derives it when the report is finalized
    finalize(report, "plugin")
    assert (report.health, report.health_message) == (Health.PARTIAL, "1 A READY, 1 B DOWN")


def test_a_status_function_may_report_several_resources() -> None:
    # manager_test.go's resource C: "more than 1 StatusReport_Resource in a single Resource
    # Status method".
    def make(state: Number, value: int) -> None:
        state.value = value

    def status(state: Number, resources: ReportedResources) -> None:
        for value in (state.value, state.value + 1):
            resources.add(f"C {value}", health=Health.ALIVE)

    manager = ResourceManager(
        resource("A", create=make, state=Number, status=status, type="C"),
        resource("B", status=ready),
    )
    report = manager.status_report(Context(), manager.create_all(Context(), value=13))
    assert [(r.name, r.id, r.type, r.health) for r in report.resources] == [
        ("C 13", "C 13", "C", Health.ALIVE),
        ("C 14", "C 14", "C", Health.ALIVE),
        ("B", "B", "B", Health.READY),
    ]
    finalize(report, "plugin")
    assert (report.health, report.health_message) == (Health.PARTIAL, "2 C ALIVE, 1 B READY")


def test_a_status_function_may_report_no_resource() -> None:
    manager = ResourceManager(resource("pods", status=lambda resources: None))
    assert manager.status_report(Context(), blank("pods")).resources == []


def test_a_status_function_that_raises_after_adding_resources_is_one_unknown_resource() -> None:
    def broken(resources: ReportedResources) -> None:
        resources.add("first", health=Health.READY)
        raise ConnectionError("reset")

    manager = ResourceManager(resource("pods", status=broken))
    report = manager.status_report(Context(), blank("pods"))
    assert [(r.name, r.health, r.health_message) for r in report.resources] == [
        ("pods", Health.UNKNOWN, "its status function raised ConnectionError: reset")
    ]


def test_children_follow_the_first_resource_their_parent_reports() -> None:
    def nodes(resources: ReportedResources) -> None:
        for index in range(2):
            resources.add(f"node {index}", id=f"n{index}", health=Health.READY)

    manager = ResourceManager(
        resource("nodes", status=nodes), resource("pod", status=ready, parent="nodes")
    )
    report = manager.status_report(Context(), blank("nodes", "pod"))
    assert [(r.id, r.parent_resource_id) for r in report.resources] == [
        ("n0", ""),
        ("n1", ""),
        ("pod", "n0"),
    ]


def test_a_reported_resource_carries_its_declaration() -> None:
    router, instance = CategoryDisplayHint.ROUTER, CategoryDisplayHint.INSTANCE
    manager = ResourceManager(
        resource(
            "network", type="bridge", status=ready, platform="docker", category_display_hint=router
        ),
        resource("container", status=ready, parent="network", category_display_hint=instance),
    )
    report = finalize(manager.status_report(Context(), blank("network", "container")), "plugin")
    shown = [
        (r.name, r.id, r.type, r.platform, r.category_display_hint, r.parent_resource_id)
        for r in report.resources
    ]
    assert shown == [
        ("network", "network", "bridge", "docker", CategoryDisplayHint.ROUTER, ""),
        ("container", "container", "container", "plugin", CategoryDisplayHint.INSTANCE, "network"),
    ]


def test_a_child_follows_the_id_its_parent_s_status_function_gives_it() -> None:
    def network(resource: Resource) -> None:
        resource.id, resource.health = "net-5f3a", Health.READY

    manager = ResourceManager(
        resource("container", status=ready, parent="network"),
        resource("network", status=network),
    )
    report = manager.status_report(Context(), blank("network", "container"))
    assert [(r.id, r.parent_resource_id) for r in report.resources] == [
        ("container", "net-5f3a"),
        ("net-5f3a", ""),
    ]


def test_a_status_function_that_raises_leaves_its_resource_unknown_saying_what_it_raised() -> None:
    def broken(resource: Resource) -> None:
        resource.health = Health.READY
        raise ConnectionError("429 Too Many Requests")

    manager = ResourceManager(resource("A", status=broken), resource("B", status=ready))
    report = manager.status_report(Context(), blank("A", "B"))
    assert [(r.name, r.health, r.health_message) for r in report.resources] == [
        (
            "A",
            Health.UNKNOWN,
            "its status function raised ConnectionError: 429 Too Many Requests",
        ),
        ("B", Health.READY, ""),
    ]


@pytest.fixture
def never() -> Iterator[threading.Event]:
    """An event no test sets: set at the end, so that the threads waiting for it finish."""
    event = threading.Event()
    yield event
    event.set()


def hanging(never: threading.Event, kind: str) -> Callable[..., Any]:
    def sync_status(resource: Resource) -> None:
        never.wait()

    async def async_status(resource: Resource) -> None:
        await asyncio.Event().wait()

    return sync_status if kind == "sync" else async_status


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_a_status_function_that_hangs_is_cut_at_the_deadline_while_the_others_report(
    never: threading.Event, kind: str
) -> None:
    manager = ResourceManager(
        resource("hung", status=hanging(never, kind)),  # first: the others run at once
        resource("A", status=ready_at_once),
        resource("B", status=ready_at_once),
    )
    report = manager.status_report(Context(timeout=0.2), blank("hung", "A", "B"))
    assert [(r.name, r.health, r.health_message) for r in report.resources] == [
        ("hung", Health.UNKNOWN, "its status function did not return before the check's deadline"),
        ("A", Health.READY, ""),
        ("B", Health.READY, ""),
    ]


def test_the_report_of_a_hung_status_function_reaches_the_launcher_before_the_check_times_out(
    waypoint_plugins: Callable[..., PluginHarness], never: threading.Event
) -> None:
    manager = ResourceManager(
        resource("hung", status=hanging(never, "sync")), resource("A", status=ready_at_once)
    )

    class Platform:
        @hookimpl
        def platform_status_func(self, ctx: Context, deployment: dict[str, Any]) -> Any:
            return manager.status_report(ctx, deployment)

    plugins = waypoint_plugins(platform=Platform())
    # Cut a tenth before the timeout: time to return the report, the other resource in it.
    report = plugins.platform_status("platform", deployment=blank("hung", "A"), timeout=3)
    assert [(r.name, r.health) for r in report.resources] == [
        ("hung", Health.UNKNOWN),
        ("A", Health.READY),
    ]
    assert report.health is Health.PARTIAL


def test_declared_resources_never_created_are_missing() -> None:
    manager = ResourceManager(resource("A", status=ready), resource("B", status=ready))
    report = manager.status_report(Context(), blank("A"))
    assert [(r.name, r.health, r.health_message) for r in report.resources] == [
        ("A", Health.READY, ""),
        ("B", Health.MISSING, "it was never created"),
    ]


def test_a_policy_given_to_status_report_sets_the_report_s_health() -> None:
    manager = ResourceManager(resource("A", status=ready), resource("B", status=ready))
    report = manager.status_report(Context(), blank("A"), policy="worst")
    assert (report.health, report.health_message) == (
        Health.MISSING,
        "MISSING: B (it was never created)",
    )


# --- checkpoints ------------------------------------------------------------------------------


def test_a_create_function_checkpoints_its_state_as_filled_in_so_far_when_it_asks() -> None:
    checkpoints: list[Any] = []

    def make(state: Number, checkpoint: Callable[[], None]) -> None:
        state.value = 1
        checkpoint()
        state.value = 2

    manager = ResourceManager(
        resource("A", create=nothing), resource("B", create=make, state=Number)
    )
    manager.create_all(Context(checkpoint=checkpoints.append))
    assert [value["created"][-1] for value in checkpoints] == [
        {"name": "A", "state": None},
        {"name": "B", "state": {"value": 0}},
        {"name": "B", "state": {"value": 1}},
        {"name": "B", "state": {"value": 2}},
    ]


def test_each_resource_is_checkpointed_before_its_create_and_all_of_them_at_the_end() -> None:
    def make(state: Number) -> None:
        state.value = 7

    manager = ResourceManager(
        resource("A", create=make, state=Number), resource("B", create=nothing, after=["A"])
    )
    checkpoints: list[Any] = []
    state = manager.create_all(Context(checkpoint=checkpoints.append))
    made = {"name": "A", "state": {"value": 7}}
    assert checkpoints == [
        {"created": [{"name": "A", "state": {"value": 0}}]},
        {"created": [made, {"name": "B", "state": None}]},
        state,
    ]
    assert state == {"created": [made, {"name": "B", "state": None}]}


@pytest.mark.usefixtures("hostile_plugins")
def test_a_killed_deploy_leaves_a_checkpoint_from_which_destroy_removes_the_first_resource(
    tmp_path: Path, processes: Processes
) -> None:
    made = tmp_path / "made"
    made.mkdir()
    app = App("web", "wh_resources", {"directory": str(made), "hold": True})
    project = Project(tmp_path / "project", [app], plugins=("wh_resources",))
    deploying = processes.start(project.args("deploy"), cwd=project.root)
    deadline = time.monotonic() + GUARD
    while not (made / "second.waiting").exists():
        assert deploying.poll() is None, deploying.communicate()
        assert time.monotonic() < deadline, "second's create never reached its gate (hang guard)"
        time.sleep(0.01)
    kill_group(deploying)
    deploying.communicate(timeout=GUARD)
    assert (made / "first").exists()

    ((checkpoint,),) = project.query("SELECT checkpoint FROM targets")
    assert json.loads(checkpoint) == {
        "created": [
            {"name": "first", "state": {"path": str(made / "first")}},
            {"name": "second", "state": {"path": ""}},
        ]
    }
    destroyed = processes.run(project.args("destroy"), cwd=project.root)
    assert "Destroyed web deployment v1" in destroyed.stdout, destroyed.stdout + destroyed.stderr
    assert sorted(path.name for path in made.iterdir()) == ["second.waiting"]


# --- loading a state written by another version of the plugin -----------------------------------


@attrs.define
class Port:
    host: str = "localhost"
    port: int = 80


ports = ResourceManager(resource("web", state=Port))


def test_a_state_written_before_a_field_existed_loads_with_its_default() -> None:
    assert ports.load({"created": [{"name": "web", "state": {"port": 8080}}]}) == {
        "web": Port("localhost", 8080)
    }
    assert ports.load(blank("web")) == {"web": Port()}


@pytest.mark.parametrize(
    ("state", "path", "message"),
    [
        (
            {"created": [{"name": "web", "state": {"port": 80, "tls": True}}]},
            "created[0].state.tls",
            "unknown field (known fields: host, port)",
        ),
        (
            {"created": [{"name": "web", "state": {"port": "80"}}]},
            "created[0].state.port",
            "expected int, got str '80'",
        ),
        (blank("web", "cache"), "created[1].name", "unknown resource 'cache'; declared: web"),
        ({}, "created", "required field missing"),
    ],
    ids=["extra-key", "wrong-type", "unknown-resource", "not-a-manager-state"],
)
def test_a_state_that_does_not_fit_fails_with_the_path_to_what_is_wrong(
    state: dict[str, Any], path: str, message: str
) -> None:
    with pytest.raises(StructureError) as raised:
        ports.destroy_all(Context(), state)
    assert raised.value.problems == [(path, message)]


# --- declarations -------------------------------------------------------------------------------


def positional_only(state: Number, /) -> None:
    """A function whose argument cannot be given by name."""


@attrs.define
class Required:
    path: str


@pytest.mark.parametrize(
    ("declare", "error"),
    [
        (
            lambda: ResourceManager(resource("a", after=["b"])),
            r"resource 'a' comes after 'b', which is not declared \(declared: a\)",
        ),
        (
            lambda: ResourceManager(
                resource("a", after=["c"]), resource("b", after=["a"]), resource("c", after=["b"])
            ),
            "resources come after each other in a cycle: a → c → b → a",
        ),
        (
            lambda: ResourceManager(resource("a"), resource("a")),
            "two resources are named 'a'",
        ),
        (
            lambda: ResourceManager(resource("a", parent="b")),
            r"the parent of resource 'a', 'b', is not declared \(declared: a\)",
        ),
        (
            lambda: ResourceManager(resource("a", parent="b"), resource("b", parent="a")),
            "resources are each other's parents: a → b → a",
        ),
        (
            lambda: ResourceManager(resource("a"), resource("b", create=lambda a: None)),
            r"the create function of resource 'b' \(.*test_resources.py:\d+\) takes 'a', a "
            r"resource it does not come after: add after=\['a'\]",
        ),
        (
            lambda: resource("a", status=lambda state: None),
            r"the status function of resource 'a' \(.*\) must take `resource` and set its health, "
            "or `resources` and add each resource it reports",
        ),
        (
            lambda: resource("a", status=lambda resource, resources: None),
            r"the status function of resource 'a' \(.*\) must take `resource` and set",
        ),
        (
            lambda: resource("a", destroy=lambda resource: None),
            "the destroy function of resource 'a' .* takes `resource`, which only a status "
            "function is given",
        ),
        (
            lambda: resource("a", create=lambda resources: None),
            "the create function of resource 'a' .* takes `resources`, which only a status "
            "function is given",
        ),
        (
            lambda: resource("a", destroy=lambda checkpoint: None),
            "the destroy function of resource 'a' .* takes `checkpoint`, which only a create "
            "function is given",
        ),
        (
            lambda: resource("a", create=positional_only),
            "the create function of resource 'a' .* takes 'state' by position only",
        ),
        (
            lambda: resource("a", state=Required),
            r"the state class Required of resource 'a' must have a default for every field .*; "
            r"Required\(\) raised TypeError: .*'path'",
        ),
        (
            lambda: resource("a", state=dict),
            "the state of resource 'a' must be an attrs class, got <class 'dict'>",
        ),
        (
            lambda: resource("state"),
            "a resource cannot be named 'state': functions take that argument",
        ),
    ],
    ids=[
        "unknown-after",
        "cycle",
        "duplicate",
        "unknown-parent",
        "parent-cycle",
        "argument-not-after",
        "status-without-resource",
        "status-with-resource-and-resources",
        "destroy-with-resource",
        "create-with-resources",
        "destroy-with-checkpoint",
        "positional-only",
        "state-without-defaults",
        "state-not-attrs",
        "reserved-name",
    ],
)
def test_a_declaration_that_cannot_work_is_refused_naming_what_is_wrong(
    declare: Callable[[], object], error: str
) -> None:
    with pytest.raises((ValueError, TypeError), match=error):
        declare()


def test_after_may_name_one_resource_without_a_list() -> None:
    assert resource("b", after="a").after == ("a",)


def test_a_parameter_with_a_default_keeps_it() -> None:
    seen = []
    manager = ResourceManager(resource("a", create=lambda value, ui=None: seen.append(ui)))
    manager.create_all(Context(), value=1, ui="given")
    assert seen == [None]


# --- calls ----------------------------------------------------------------------------------


def test_a_value_a_function_takes_but_was_not_given_is_refused_before_anything_is_created() -> None:
    created: list[str] = []
    manager = ResourceManager(
        resource("a", create=lambda: created.append("a")),
        resource("b", create=nothing, destroy=lambda ui: None),
    )
    with pytest.raises(TypeError, match=r"the destroy function of resource 'b' \(.*\) takes ui, "):
        manager.create_all(Context())
    assert created == []


def test_a_value_named_as_the_manager_names_its_own_arguments_is_refused() -> None:
    manager = ResourceManager(resource("a"))
    with pytest.raises(TypeError, match=r"^create_all\(\) was given a, state: the manager gives"):
        manager.create_all(Context(), a=1, state=2)


def test_async_functions_are_awaited_by_the_async_methods_and_by_the_sync_ones() -> None:
    events: list[str] = []

    async def make(state: Number, value: int) -> None:
        state.value = value
        events.append("created")

    async def destroy(state: Number) -> None:
        events.append(f"destroyed {state.value}")

    async def status(state: Number, resource: Resource) -> None:
        resource.health = Health.READY if state.value == 42 else Health.DOWN

    manager = ResourceManager(
        resource("a", create=make, destroy=destroy, status=status, state=Number)
    )

    async def hook() -> list[Health]:
        state = await manager.acreate_all(Context(), value=42)
        report = await manager.astatus_report(Context(), state)
        await manager.adestroy_all(Context(), state)
        return [r.health for r in report.resources]

    assert asyncio.run(hook()) == [Health.READY]
    manager.destroy_all(Context(), manager.create_all(Context(), value=1))
    assert events == ["created", "destroyed 42", "created", "destroyed 1"]


def test_the_sync_methods_refuse_to_run_inside_an_event_loop() -> None:
    async def hook() -> None:
        ResourceManager().create_all(Context())

    with pytest.raises(RuntimeError, match=r"use `await manager.acreate_all\(...\)`"):
        asyncio.run(hook())


def test_a_sync_function_sees_the_context_variables_of_its_caller() -> None:
    tenant: contextvars.ContextVar[str] = contextvars.ContextVar("tenant", default="none")
    seen = []
    manager = ResourceManager(resource("a", create=lambda: seen.append(tenant.get())))
    tenant.set("acme")
    manager.create_all(Context())
    assert seen == ["acme"]


# --- general rules ----------------------------------------------------------------------------


@st.composite
def dags(draw: st.DrawFn) -> dict[str, list[str]]:
    """Resource names, in the order they are declared, each with the names it comes after."""
    size = draw(st.integers(min_value=1, max_value=8))
    names = [f"r{index}" for index in range(size)]
    # Edges only to lower numbers: acyclic; then declared in any order.
    after = {
        name: draw(st.lists(st.sampled_from(names[:index]), unique=True)) if index else []
        for index, name in enumerate(names)
    }
    return {name: after[name] for name in draw(st.permutations(names))}


def recording(graph: dict[str, list[str]], log: list[str], failing: str = "") -> ResourceManager:
    def create(name: str) -> Callable[[], None]:
        def make() -> None:
            log.append(f"create {name}")
            if name == failing:
                raise RuntimeError(name)

        return make

    def destroy(name: str) -> Callable[[], None]:
        return lambda: log.append(f"destroy {name}")

    return ResourceManager(
        *(
            resource(name, create=create(name), destroy=destroy(name), after=after)
            for name, after in graph.items()
        )
    )


@given(dags())
def test_each_resource_is_created_once_after_every_resource_it_comes_after(
    graph: dict[str, list[str]],
) -> None:
    log: list[str] = []
    recording(graph, log).create_all(Context())
    order = [entry.removeprefix("create ") for entry in log]
    assert sorted(order) == sorted(graph)
    for name, after in graph.items():
        assert all(order.index(earlier) < order.index(name) for earlier in after)


@given(dags(), st.data())
def test_a_rollback_destroys_in_the_reverse_of_the_creation_order(
    graph: dict[str, list[str]], data: st.DataObject
) -> None:
    failing = data.draw(st.sampled_from(list(graph)))
    log: list[str] = []
    with pytest.raises(RuntimeError):
        recording(graph, log, failing).create_all(Context())
    created = [entry.removeprefix("create ") for entry in log if entry.startswith("create ")]
    destroyed = [entry.removeprefix("destroy ") for entry in log if entry.startswith("destroy ")]
    assert created[-1] == failing
    assert destroyed == created[::-1]


@given(dags(), st.data())
def test_a_cycle_is_refused_naming_resources_that_come_after_each_other(
    graph: dict[str, list[str]], data: st.DataObject
) -> None:
    first, second = data.draw(st.sampled_from(list(graph))), data.draw(st.sampled_from(list(graph)))
    graph = {name: list(after) for name, after in graph.items()}
    graph[first].append(second)
    graph[second].append(first)
    with pytest.raises(ValueError, match="in a cycle: ") as raised:
        recording(graph, [])
    cycle = str(raised.value).split("in a cycle: ")[1].split(" → ")
    assert cycle[0] == cycle[-1]
    for name, following in itertools.pairwise(cycle):
        assert following in graph[name]
