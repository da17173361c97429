"""A platform and release manager that write what each hook did to a ledger, and can be held
at a gate, so that a test can order two commands without timing them.

Config: ``ledger`` (a file each hook appends ``HOOK ID PID`` to), ``fail`` (the deploy raises
after it checkpointed), ``gate`` (a directory: the hooks named in ``hold`` write
``DIR/HOOK.PID.waiting`` and wait until ``DIR/open`` exists).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from waypoint_hooks import Context, Health, JobInfo, StatusReport, hookimpl
from waypoint_hooks.terminal import UI

#: A guard against hanging the suite when a test never opens the gate, not a timing.
_GUARD = 120.0


def _note(config: dict[str, Any], hook: str, id: str) -> None:
    with open(config["ledger"], "a", encoding="utf-8") as file:
        file.write(f"{hook} {id} {os.getpid()}\n")
    if hook in config.get("hold", ()):
        gate = Path(config["gate"])
        (gate / f"{hook}.{os.getpid()}.waiting").touch()
        deadline = time.monotonic() + _GUARD
        while not (gate / "open").exists() and time.monotonic() < deadline:
            time.sleep(0.01)


@hookimpl
def platform_deploy_func(ctx: Context, job_info: JobInfo, config: dict[str, Any]) -> Any:
    ctx.checkpoint({"made": job_info.id, "partial": True})
    _note(config, "deploy", job_info.id)
    if config.get("fail"):
        raise RuntimeError("failed after it started something")
    return {"made": job_info.id}


@hookimpl
def platform_status_func(
    ui: UI, config: dict[str, Any], deployment: dict[str, Any]
) -> StatusReport:
    step = ui.step_group().add("Asking the slow thing...")
    _note(config, "status", deployment["made"])
    step.update("The slow thing answered")
    step.done()
    return StatusReport(health=Health.READY)


@hookimpl
def platform_destroy_func(config: dict[str, Any], deployment: dict[str, Any]) -> None:
    _note(config, "destroy", deployment["made"])


@hookimpl
def release_manager_release_func(
    job_info: JobInfo, config: dict[str, Any], deployment: dict[str, Any]
) -> Any:
    _note(config, "release", deployment["made"])
    return {"of": deployment["made"], "release": job_info.id}


@hookimpl
def release_manager_status_func(config: dict[str, Any], release: dict[str, Any]) -> StatusReport:
    _note(config, "release-status", release["release"])
    return StatusReport(health=Health.READY)


@hookimpl
def release_manager_destroy_func(config: dict[str, Any], release: dict[str, Any]) -> None:
    _note(config, "unrelease", release["release"])
