"""What ``status`` gives each check and tells of each app: a hook's last report where it takes
one, and the versions left unfinished where nothing live hides them."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

from waypoint_hooks.checking.checker import AppStatus, Checker
from waypoint_hooks.config.document import load_config
from waypoint_hooks.errors import WaypointHooksError
from waypoint_hooks.host import PluginManager
from waypoint_hooks.lifecycle.phases import Lifecycle
from waypoint_hooks.state.store import State

#: Counts the checks of each app in its messages, and keeps the last report each was given.
KEEPER = """
from waypoint_hooks import Health, StatusReport, hookimpl

given = {}

@hookimpl
def platform_deploy_func(job_info):
    if job_info.app == "down":
        raise RuntimeError("the deploy of down fails")
    return {"app": job_info.app}

@hookimpl
def platform_status_func(deployment, last_report):
    app = deployment["app"]
    given[app] = None if last_report is None else last_report.health_message
    checks = 1 if last_report is None else int(last_report.health_message.split()[-1]) + 1
    return StatusReport(health=Health.READY, health_message=f"{app} check {checks}")
"""

#: Takes no last report.
PLAIN = """
from waypoint_hooks import Health, StatusReport, hookimpl

@hookimpl
def platform_deploy_func(job_info):
    return {"app": job_info.app}

@hookimpl
def platform_status_func(deployment):
    return StatusReport(health=Health.READY, health_message=deployment["app"])
"""


def _statuses(
    tmp_path: Path, manager: PluginManager, apps: dict[str, str], times: int
) -> list[AppStatus]:
    """Deploy ``apps`` (name: plugin), then check them ``times`` times; the last rows."""
    config = tmp_path / "waypoint.hcl"
    blocks = "".join(
        f'app "{name}" {{\n  deploy {{\n    use "{plugin}" {{}}\n  }}\n}}\n'
        for name, plugin in apps.items()
    )
    config.write_text(f'project = "p"\n{blocks}', encoding="utf-8")
    project = load_config(config)
    with State.open(tmp_path / "state.db") as state:
        # An app whose deploy fails fails the phase, once the others are deployed.
        with contextlib.suppress(WaypointHooksError):
            asyncio.run(Lifecycle(project, state, manager).deploy(()))
        checker = Checker(project, state, manager)
        rows: list[AppStatus] = []
        for _ in range(times):
            rows = asyncio.run(checker.status(()))
    return rows


def _plugins(manager: PluginManager, plugin_module: Callable[[str, str], ModuleType]) -> ModuleType:
    keeper = plugin_module("keeper", KEEPER)
    manager.register(keeper)
    manager.register(plugin_module("plain", PLAIN))
    return keeper


def test_a_hook_that_takes_the_last_report_is_given_its_own_targets(
    tmp_path: Path, manager: PluginManager, plugin_module: Callable[[str, str], ModuleType]
) -> None:
    keeper = _plugins(manager, plugin_module)
    apps = {"a": "keeper", "b": "plain", "c": "keeper", "d": "plain"}
    rows = _statuses(tmp_path, manager, apps, times=3)
    assert keeper.given == {"a": "a check 2", "c": "c check 2"}
    messages = {row.app: row.deployment_report.health_message for row in rows}
    assert messages == {"a": "a check 3", "b": "b", "c": "c check 3", "d": "d"}


def test_a_failed_deploy_is_unfinished_where_nothing_live_hides_it(
    tmp_path: Path, manager: PluginManager, plugin_module: Callable[[str, str], ModuleType]
) -> None:
    _plugins(manager, plugin_module)
    rows = _statuses(tmp_path, manager, {"down": "keeper", "up": "plain"}, times=1)
    down, up = rows
    assert (down.app, down.deployment, up.app, up.unfinished) == ("down", None, "up", ())
    assert [(record.kind, record.status) for record in down.unfinished] == [
        ("deployment", "failed")
    ]
    assert up.deployment is not None
    assert up.deployment_report is not None
