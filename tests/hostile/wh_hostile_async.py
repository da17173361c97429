"""A hostile platform plugin whose status hook is ``async def``.

Modes: ``raise:NAME`` (as ``wh_behaviours``, plus ``CancelledError``), ``hang`` (awaits
forever), ``swallow`` (awaits forever and ignores every cancellation), ``block`` (blocks the
event loop itself with ``time.sleep``: only a subprocess survives it), ``none``.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import wh_behaviours

from waypoint_hooks import hookimpl


@hookimpl
def platform_deploy_func(config: dict[str, Any]) -> dict[str, Any]:
    return {"mode": config.get("mode", "ready")}


@hookimpl
async def platform_status_func(config: dict[str, Any]) -> Any:
    if not wh_behaviours.armed(config):
        return wh_behaviours.ready("not armed")
    mode: str = config.get("mode", "ready")
    name, _, argument = mode.partition(":")
    if name == "raise":
        if argument == "CancelledError":
            raise asyncio.CancelledError()
        raise wh_behaviours.EXCEPTIONS[argument]()
    if name == "hang":
        await asyncio.sleep(3600)
    elif name == "swallow":
        while True:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                continue
    elif name == "block":
        time.sleep(3600)
    elif name == "none":
        return None
    return wh_behaviours.ready()


@hookimpl
def platform_destroy_func() -> None:
    return None
