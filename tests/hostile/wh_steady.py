"""A well-behaved platform and release manager: always READY, with as many resources as
configured (``resources = N``). With ``pidfile = PATH`` each hook appends ``HOOK PID`` to that
file, so a test can tell which process ran it."""

from __future__ import annotations

import os
from typing import Any

from waypoint_hooks import Health, Resource, StatusReport, hookimpl


def _note(config: dict[str, Any], hook: str) -> None:
    pidfile = config.get("pidfile")
    if pidfile:
        with open(pidfile, "a", encoding="utf-8") as file:
            file.write(f"{hook} {os.getpid()}\n")


def _report(config: dict[str, Any], kind: str) -> StatusReport:
    count = int(config.get("resources", 0))
    resources = [
        Resource(name=f"{kind}-{index}", type="pod", health=Health.READY) for index in range(count)
    ]
    # With resources the policy derives READY; without, it is said outright.
    return StatusReport(
        resources=resources,
        health=None if count else Health.READY,
        health_message=f"pid {os.getpid()}",
    )


@hookimpl
def platform_deploy_func(config: dict[str, Any]) -> dict[str, Any]:
    _note(config, "platform_deploy_func")
    return {"deployed": True}


@hookimpl
def platform_status_func(config: dict[str, Any]) -> StatusReport:
    _note(config, "platform_status_func")
    return _report(config, "deployment")


@hookimpl
def platform_destroy_func(config: dict[str, Any]) -> None:
    _note(config, "platform_destroy_func")


@hookimpl
def release_manager_release_func(config: dict[str, Any]) -> dict[str, Any]:
    _note(config, "release_manager_release_func")
    return {"released": True}


@hookimpl
def release_manager_status_func(config: dict[str, Any]) -> StatusReport:
    _note(config, "release_manager_status_func")
    return _report(config, "release")


@hookimpl
def release_manager_destroy_func(config: dict[str, Any]) -> None:
    _note(config, "release_manager_destroy_func")
