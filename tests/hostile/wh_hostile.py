"""A hostile platform plugin (sync hooks): see ``wh_behaviours`` for its modes."""

from __future__ import annotations

from typing import Any

import wh_behaviours

from waypoint_hooks import hookimpl


@hookimpl
def platform_deploy_func(config: dict[str, Any]) -> dict[str, Any]:
    return {"mode": config.get("mode", "ready")}


@hookimpl
def platform_status_func(config: dict[str, Any]) -> Any:
    if not wh_behaviours.armed(config):
        return wh_behaviours.ready("not armed")
    return wh_behaviours.sync_mode(config)


@hookimpl
def platform_destroy_func() -> None:
    return None
