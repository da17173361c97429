"""A trivial platform plugin, for B6 and B7: what is left to time is the framework's own work.

Loaded as plugin ``trivial`` with ``-p benchmarks.trivial``, through the same loader as any
installed plugin. Its hooks are ``async def``: the hand-written baselines call them with pluggy
on one event loop.
"""

from __future__ import annotations

from typing import Any

from waypoint_hooks import Health, JobInfo, StatusReport, hookimpl


@hookimpl
async def platform_deploy_func(job_info: JobInfo) -> dict[str, Any]:
    return {"app": job_info.app}


@hookimpl
async def platform_status_func(deployment: dict[str, Any]) -> StatusReport:
    return StatusReport(health=Health.READY, health_message=f"{deployment['app']} is up")
