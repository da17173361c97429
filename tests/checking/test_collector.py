"""``status`` pauses the cyclic collector while it builds what no plugin code touches (the
targets' records, the checks, the stored reports, the rows): never while a hook runs, and
never past its end."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

from waypoint_hooks import Health
from waypoint_hooks.checking.checker import Checker
from waypoint_hooks.config.document import load_config
from waypoint_hooks.host import PluginManager
from waypoint_hooks.lifecycle.phases import Lifecycle
from waypoint_hooks.state.store import State

PLATFORM = """
import gc
from waypoint_hooks import Health, StatusReport, hookimpl

seen = []

@hookimpl
def platform_deploy_func(job_info):
    seen.append(("deploy", gc.isenabled()))
    return {"app": job_info.app}

@hookimpl
async def platform_status_func(deployment):
    seen.append(("status", gc.isenabled()))
    return StatusReport(health=Health.READY, health_message=deployment["app"])
"""


def _status(tmp_path: Path, manager: PluginManager) -> list[tuple[str, Health | None]]:
    config = tmp_path / "waypoint.hcl"
    apps = "".join(
        f'app "{name}" {{\n  deploy {{\n    use "collected" {{}}\n  }}\n}}\n' for name in "ab"
    )
    config.write_text(f'project = "p"\n{apps}', encoding="utf-8")
    project = load_config(config)
    with State.open(tmp_path / "state.db") as state:
        asyncio.run(Lifecycle(project, state, manager).deploy(()))
        rows = asyncio.run(Checker(project, state, manager).status(()))
    return [
        (row.app, row.deployment_report.health if row.deployment_report else None) for row in rows
    ]


def test_hooks_run_with_the_collector_on_and_status_leaves_it_on(
    tmp_path: Path, manager: PluginManager, plugin_module: Callable[[str, str], ModuleType]
) -> None:
    module = plugin_module("collected", PLATFORM)
    manager.register(module)
    assert gc.isenabled()
    assert _status(tmp_path, manager) == [("a", Health.READY), ("b", Health.READY)]
    assert module.seen == [("deploy", True)] * 2 + [("status", True)] * 2
    assert gc.isenabled()


def test_a_collector_the_program_paused_stays_paused(
    tmp_path: Path, manager: PluginManager, plugin_module: Callable[[str, str], ModuleType]
) -> None:
    module = plugin_module("collected", PLATFORM)
    manager.register(module)
    gc.disable()
    try:
        assert _status(tmp_path, manager) == [("a", Health.READY), ("b", Health.READY)]
        assert not gc.isenabled()
    finally:
        gc.enable()
    assert module.seen == [("deploy", False)] * 2 + [("status", False)] * 2
