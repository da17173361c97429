"""The notifier component (DESIGN §4, §15): its hook, dispatched by name like any component
hook, seen by wrappers, run in-process or isolated, and by the pytest plugin."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

from waypoint_hooks import Alert, JobInfo
from waypoint_hooks.host import HookRequest, PluginManager, PluginSpecs, Runner
from waypoint_hooks.testing import PluginHarness, sample_alert

NOTIFIER = """
from waypoint_hooks import hookimpl

sent = []

@hookimpl
def notifier_send(config, alert):
    sent.append((dict(config), alert))
"""


def send(manager: PluginManager, plugin: str, alert: Alert, **request: object) -> object:
    job = JobInfo("demo", alert.app, alert.workspace)
    call = HookRequest("notifier_send", plugin, job, alert=alert, **request)  # type: ignore[arg-type]
    return asyncio.run(Runner(manager).call(call))


def test_a_plugin_that_implements_notifier_send_is_a_notifier(
    manager: PluginManager, plugin_module: Callable[[str, str], ModuleType]
) -> None:
    plugin = manager.register(plugin_module("pager", NOTIFIER))
    assert plugin.error is None
    assert plugin.kinds == ("notifier",)
    assert plugin.to_json()["kinds"] == ["notifier"]


def test_notifier_send_is_dispatched_by_name_inside_every_wrapper(
    manager: PluginManager, plugin_module: Callable[[str, str], ModuleType]
) -> None:
    pager = plugin_module("pager", NOTIFIER)
    other = plugin_module("other", NOTIFIER)
    timer = plugin_module(
        "timer",
        """
        from waypoint_hooks import hookimpl

        seen = []

        @hookimpl(wrapper=True)
        def notifier_send(alert):
            seen.append(alert.state)
            return (yield)
        """,
    )
    for module in (pager, other, timer):
        manager.register(module)
    alert = sample_alert("resolved")
    send(manager, "pager", alert, config={"channel": "#ops"})
    assert pager.sent == [({"channel": "#ops"}, alert)]
    assert other.sent == []
    assert timer.seen == ["resolved"]
    assert manager.plugin("timer").kinds == ()


def test_an_isolated_notifier_is_sent_the_same_alert(hostile_plugins: None, tmp_path: Path) -> None:
    manager = PluginManager.load(PluginSpecs(modules=("wh_notifier",)))
    alert = sample_alert()
    ledger = tmp_path / "ledger"
    send(manager, "wh_notifier", alert, config={"ledger": str(ledger)}, isolate=True, timeout=60)
    (line,) = ledger.read_text().splitlines()
    assert Alert.from_wire(json.loads(line)) == alert


def test_the_pytest_plugin_runs_a_notifier_with_typed_config(
    hostile_plugins: None, waypoint_plugins: Callable[..., PluginHarness], tmp_path: Path
) -> None:
    harness = waypoint_plugins("wh_notifier")
    ledger = tmp_path / "ledger"
    with pytest.raises(ConnectionError, match="the receiver is down"):
        harness.notifier_send(
            "wh_notifier", {"ledger": str(ledger), "fail": 1}, alert=sample_alert()
        )
    harness.notifier_send("wh_notifier", {"ledger": str(ledger), "fail": 1}, alert=sample_alert())
    assert len(ledger.read_text().splitlines()) == 1


def test_the_pytest_plugin_checks_a_notifier_s_config(
    hostile_plugins: None, waypoint_plugins: Callable[..., PluginHarness]
) -> None:
    from waypoint_hooks import ConfigError

    harness = waypoint_plugins("wh_notifier")
    with pytest.raises(ConfigError, match=r"ledger: required field missing"):
        harness.notifier_send("wh_notifier", {}, alert=sample_alert())


def test_an_alert_reads_back_from_its_json_form() -> None:
    alert = sample_alert("reminder")
    wire = json.loads(alert.to_json())
    assert wire["state"] == "reminder"
    assert (wire["health"], wire["previous_health"]) == ("DOWN", "READY")
    assert wire["report"]["health"] == "DOWN"
    assert Alert.from_wire(wire) == alert
