"""A plugin's config is structured once for every check of it where no hook can change it,
and anew for each check where one could: what a check does to its config object never
reaches the next check."""

from __future__ import annotations

import dataclasses
import enum
import sys
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Literal

import attrs
import pytest

from waypoint_hooks import Health, JobInfo, StatusReport, Target
from waypoint_hooks.host import PluginManager, Runner, StatusCheck
from waypoint_hooks.model.durations import Duration
from waypoint_hooks.plugins.configs import content_key, unchangeable

Build = Callable[[str, str], ModuleType]


@pytest.fixture
def plugin_module(
    plugin_module: Build, monkeypatch: pytest.MonkeyPatch
) -> Callable[[str, str], ModuleType]:
    """Plugin modules in ``sys.modules``: their config classes' annotations name each other."""

    def build(name: str, source: str) -> ModuleType:
        module = plugin_module(name, source)
        monkeypatch.setitem(sys.modules, name, module)
        return module

    return build


# Each check records the config object it was given, then tries to change it.
PLUGIN = """
    import attrs
    from waypoint_hooks import Health, StatusReport, hookimpl

    @attrs.{decorator}
    class Inner:
        names: {names}

    @attrs.{decorator}
    class Config:
        port: int
        inner: Inner
        host: str = "127.0.0.1"

    SEEN = []

    @hookimpl
    def platform_status_func(config: Config):
        SEEN.append(config)
        message = f"{{config.host}}:{{config.port}} {{','.join(config.inner.names)}}"
        try:
            config.port = 1
        finally:
            if isinstance(config.inner.names, list):
                config.inner.names.append("changed")
        return StatusReport(health=Health.READY, health_message=message)
"""
CONFIG = {"port": 8080, "inner": {"names": ["a", "b"]}}


def _checks(plugin: str, configs: list[Mapping[str, object]]) -> list[StatusCheck]:
    return [
        StatusCheck(
            Target(f"app{index}", "deployment", f"d{index}", plugin),
            JobInfo("demo", f"app{index}"),
            config,
            {},
        )
        for index, config in enumerate(configs)
    ]


def _run_in_turn(manager: PluginManager, checks: list[StatusCheck]) -> list[StatusReport]:
    runner = Runner(manager, concurrency=1, timeout=5)
    return [report for check in checks for report in runner.run([check])]


@pytest.mark.parametrize("names", ["list[str]", "tuple[str, ...]"])
def test_a_plugin_that_changes_its_mutable_config_object_cannot_change_the_next_checks(
    manager: PluginManager, plugin_module: Build, names: str
) -> None:
    module = plugin_module("mutable", PLUGIN.format(decorator="define", names=names))
    manager.register(module)
    reports = _run_in_turn(manager, _checks("mutable", [CONFIG, CONFIG, CONFIG]))
    assert [r.health_message for r in reports] == ["127.0.0.1:8080 a,b"] * 3
    assert [r.health for r in reports] == [Health.READY] * 3
    assert len({id(config) for config in module.SEEN}) == 3
    assert CONFIG == {"port": 8080, "inner": {"names": ["a", "b"]}}


def test_a_list_in_a_frozen_config_makes_it_structured_for_each_check(
    manager: PluginManager, plugin_module: Build
) -> None:
    module = plugin_module("listed", PLUGIN.format(decorator="frozen", names="list[str]"))
    manager.register(module)
    reports = _run_in_turn(manager, _checks("listed", [CONFIG, CONFIG]))
    # Changing its port raised, after the list was changed: the next check has its own.
    assert [r.health for r in reports] == [Health.UNKNOWN] * 2
    assert [config.inner.names for config in module.SEEN] == [["a", "b", "changed"]] * 2
    assert module.SEEN[0] is not module.SEEN[1]


def test_an_unchangeable_config_is_structured_once_for_every_check_of_it(
    manager: PluginManager, plugin_module: Build
) -> None:
    module = plugin_module("frozen", PLUGIN.format(decorator="frozen", names="tuple[str, ...]"))
    manager.register(module)
    other = {"port": 9090, "inner": {"names": ["a", "b"]}}
    as_written = {"port": 8080, "inner": {"names": ["a", "b"]}}  # equal, not the same dict
    checks = _checks("frozen", [CONFIG, other, as_written, CONFIG])
    reports = _run_in_turn(manager, checks)
    # Each check tried to change it and raised: it is the same config for every check.
    assert {r.health for r in reports} == {Health.UNKNOWN}
    assert all("FrozenInstanceError" in r.health_message for r in reports)
    first, second, third, fourth = module.SEEN
    assert first is third is fourth
    assert second is not first
    assert (first.port, first.inner.names, second.port) == (8080, ("a", "b"), 9090)


def test_a_bad_config_is_told_alike_at_every_check(
    manager: PluginManager, plugin_module: Build
) -> None:
    manager.register(
        plugin_module("frozen", PLUGIN.format(decorator="frozen", names="tuple[str, ...]"))
    )
    bad = {"port": "eighty", "inner": {"names": ["a"]}}
    reports = _run_in_turn(manager, _checks("frozen", [bad, bad, CONFIG, bad]))
    messages = [reports[i].health_message for i in (0, 1, 3)]
    assert messages[0] == messages[1] == messages[2]
    assert "config.port: expected int" in messages[0], messages[0]


def test_settings_of_another_type_are_another_config(
    manager: PluginManager, plugin_module: Build
) -> None:
    """``port = true`` is not ``port = 1``: the one is refused, whichever came first."""
    manager.register(
        plugin_module("frozen", PLUGIN.format(decorator="frozen", names="tuple[str, ...]"))
    )
    one = {"port": 1, "inner": {"names": []}}
    true = {"port": True, "inner": {"names": []}}
    reports = _run_in_turn(manager, _checks("frozen", [one, true]))
    assert "FrozenInstanceError" in reports[0].health_message
    assert "config.port" in reports[1].health_message
    assert content_key(one) != content_key(true)


WRAPPED = """
    from collections.abc import Mapping
    import attrs
    from waypoint_hooks import Health, StatusReport, hookimpl

    @attrs.frozen
    class Config:
        port: int

    SEEN = []

    @hookimpl(wrapper=True)
    def platform_status_func(config: Mapping):
        SEEN.append(config)
        config["port"] += 1  # the mapping is the app's: changed, the next check reads it
        return (yield)
"""


def test_a_wrapper_gets_the_mapping_and_the_plugin_what_it_holds_now(
    manager: PluginManager, plugin_module: Build
) -> None:
    manager.register(plugin_module("wrapper", WRAPPED))
    module = plugin_module("frozen", PLUGIN.format(decorator="frozen", names="tuple[str, ...]"))
    manager.register(module)
    config = {"port": 8080, "inner": {"names": []}}
    _run_in_turn(manager, _checks("frozen", [config, config]))
    assert [c.port for c in module.SEEN] == [8081, 8082]


class _Color(enum.Enum):
    RED = 1


@attrs.frozen
class _Deep:
    name: str
    timeout: Duration
    color: _Color
    mode: Literal["a", "b"]
    names: tuple[str, ...]
    ports: frozenset[int]
    next: _Deep | None = None


@dataclasses.dataclass(frozen=True)
class _FrozenData:
    deep: _Deep


@attrs.frozen
class _Dict:
    headers: dict[str, str]


@attrs.frozen
class _Any:
    value: object


class _Text(str):
    pass


@pytest.mark.parametrize(
    ("annotation", "expected"),
    [
        (_Deep, True),
        (_FrozenData, True),
        (str | None, True),
        (_Dict, False),
        (_Any, False),
        (_Text, False),  # a str with a __dict__
        (list[str], False),
        (attrs.define(type("Mutable", (), {"__annotations__": {"a": int}})), False),
        (dataclasses.dataclass(type("Data", (), {"__annotations__": {"a": int}})), False),
        (None, False),
    ],
)
def test_which_config_classes_no_hook_can_change(annotation: object, expected: bool) -> None:
    assert unchangeable(annotation) is expected
