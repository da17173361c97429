"""Running one builtin plugin's hooks as the launcher does, for the builtin plugins' tests."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from waypoint_hooks import (
    Context,
    JobInfo,
    PluginManager,
    Runner,
    StatusCheck,
    StatusReport,
    Target,
    terminal,
)
from waypoint_hooks._callers import invoke
from waypoint_hooks._codec import unstructure_value
from waypoint_hooks.terminal import RecordingUI

JOB = JobInfo("demo", "web", id="job1")


def run_hook(
    manager: PluginManager,
    plugin: str,
    hook: str,
    ui: terminal.UI | None = None,
    timeout: float = 30,
    **values: Any,
) -> Any:
    """Run a deploy, release or destroy hook; its value as the state would store it."""
    arguments = {"ctx": Context(), "job_info": JOB, "ui": ui or RecordingUI(), **values}
    value = asyncio.run(invoke(manager.call(hook, plugin), arguments, timeout))
    return None if value is None else unstructure_value(value)


def check_status(
    manager: PluginManager,
    plugin: str,
    kind: str,
    config: Mapping[str, Any],
    deployment: Mapping[str, Any],
    ui: terminal.UI | None = None,
    **values: Any,
) -> StatusReport:
    """One status check through the real runner, finalized."""
    check = StatusCheck(
        Target("web", kind, "1", plugin),  # type: ignore[arg-type]
        JOB,
        config,
        deployment,
        ui=ui or RecordingUI(),
        **values,
    )
    (report,) = Runner(manager).run([check])
    return report
